// midas/ff/index_grid.hpp — observed FF spots and their (ring, η, ω) look-up grid.
//
// The role of upstream's SaveBinData Data.bin/nData.bin (upstream_facts.md §3.8), restated:
// spots of each ring are put in cells of η × ω (degrees, both wrapped at ±180); a query over an
// η and an ω interval visits the cells that overlap it and yields every spot of that ring
// inside. Each spot is stored once (upstream copies it into every cell its tolerance window
// overlaps), so the table stays small whatever the tolerances. Cells list spots in increasing
// index order, so queries are deterministic.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"

namespace midas::ff {

/// Observed spots (N rows), wedge-corrected ideal coordinates (InputAll.csv semantics, §3.7).
struct ObsSpotsView {
    span<const double> y_um;             ///< (N,) lab y on the ideal plane at Lsd, µm
    span<const double> z_um;             ///< (N,) lab z, µm
    span<const double> omega_deg;        ///< (N,) ω, degrees in (-180, 180]
    span<const double> eta_deg;          ///< (N,) azimuth, degrees
    span<const double> grain_radius_um;  ///< (N,) grain radius from the spot intensity (0: unknown)
    span<const std::int32_t> ring_nr;    ///< (N,) ring number; ≤ 0 marks a rejected spot
    [[nodiscard]] std::size_t size() const { return y_um.size(); }
};

/// Cell grid over (ring, η, ω). Build once, query from many threads (read-only).
class SpotGrid {
   public:
    SpotGrid() = default;
    /// Throws midas::ParamError for non-positive cell sizes or inconsistent spans.
    SpotGrid(const ObsSpotsView& obs, double eta_cell_deg, double omega_cell_deg);

    /// Call f(index) for every spot of `ring` with η in [eta_lo, eta_hi] and ω in
    /// [omega_lo, omega_hi] (degrees; intervals may extend past ±180 and are wrapped; an
    /// interval of 360° or more covers everything). Spots may be visited in cell order; the
    /// caller applies its own exact tests.
    template <class F>
    void query(int ring, double eta_lo, double eta_hi, double omega_lo, double omega_hi, F&& f) const {
        if (ring < 0 || ring >= n_rings_ || ring_start_[static_cast<std::size_t>(ring)] < 0) return;
        int e0, e1, w0, w1;
        cell_range(eta_lo, eta_hi, eta_cell_deg_, n_eta_, &e0, &e1);
        cell_range(omega_lo, omega_hi, omega_cell_deg_, n_omega_, &w0, &w1);
        const std::size_t base = static_cast<std::size_t>(ring_start_[static_cast<std::size_t>(ring)]);
        // the ω cells split into at most two contiguous runs (wrapped at ±180°)
        const int cw0 = wrap_cell(w0, n_omega_);
        const int run0 = std::min(w1 - w0 + 1, n_omega_ - cw0);
        const int run1 = w1 - w0 + 1 - run0;  // cells continuing from 0 (cell_range: w1 - w0 < n_omega_)
        for (int ie = e0; ie <= e1; ++ie) {
            const std::size_t row = base + static_cast<std::size_t>(wrap_cell(ie, n_eta_)) * static_cast<std::size_t>(n_omega_);
            // spots of consecutive cells are consecutive in items_: one range per run
            const std::size_t a = row + static_cast<std::size_t>(cw0);
            for (std::int32_t k = offset_[a]; k < offset_[a + static_cast<std::size_t>(run0)]; ++k)
                f(items_[static_cast<std::size_t>(k)]);
            if (run1 > 0)
                for (std::int32_t k = offset_[row]; k < offset_[row + static_cast<std::size_t>(run1)]; ++k)
                    f(items_[static_cast<std::size_t>(k)]);
        }
    }

    [[nodiscard]] int n_rings() const { return n_rings_; }

    /// Number of spots of `ring` in the grid (0 for an absent ring).
    [[nodiscard]] std::int64_t ring_count(int ring) const {
        if (ring < 0 || ring >= n_rings_ || ring_start_[static_cast<std::size_t>(ring)] < 0) return 0;
        const auto first = static_cast<std::size_t>(ring_start_[static_cast<std::size_t>(ring)]);
        const auto cells = static_cast<std::size_t>(n_eta_) * static_cast<std::size_t>(n_omega_);
        return offset_[first + cells] - offset_[first];
    }

   private:
    /// Cell index i wrapped into [0, n).
    static int wrap_cell(int i, int n) {
        if (i >= 0 && i < n) return i;
        if (i < 0 && i >= -n) return i + n;
        if (i >= n && i < 2 * n) return i - n;
        return ((i % n) + n) % n;
    }

    static void cell_range(double lo, double hi, double cell, int n, int* i0, int* i1) {
        if (!(hi - lo < 360.0)) {
            *i0 = 0;
            *i1 = n - 1;
            return;
        }
        *i0 = static_cast<int>(std::floor((lo + 180.0) / cell));
        *i1 = static_cast<int>(std::floor((hi + 180.0) / cell));
        if (*i1 - *i0 >= n) *i1 = *i0 + n - 1;
    }

    double eta_cell_deg_ = 1.0, omega_cell_deg_ = 1.0;
    int n_eta_ = 0, n_omega_ = 0, n_rings_ = 0;
    std::vector<std::int64_t> ring_start_;  // first cell of each ring (-1: ring absent)
    std::vector<std::int32_t> offset_;      // CSR offsets per cell (size n_cells + 1)
    std::vector<std::int32_t> items_;       // spot indices
};

}  // namespace midas::ff
