// ff_index_grid.cpp — building the (ring, η, ω) cell grid of observed spots.
#include <algorithm>
#include <cmath>
#include <string>

#include "midas/core/error.hpp"
#include "midas/ff/index_grid.hpp"

namespace midas::ff {

SpotGrid::SpotGrid(const ObsSpotsView& obs, double eta_cell_deg, double omega_cell_deg)
    : eta_cell_deg_(eta_cell_deg), omega_cell_deg_(omega_cell_deg) {
    if (!(eta_cell_deg > 0.0 && eta_cell_deg <= 360.0 && omega_cell_deg > 0.0 && omega_cell_deg <= 360.0))
        throw ParamError("SpotGrid: cell sizes eta " + std::to_string(eta_cell_deg) + ", omega " +
                         std::to_string(omega_cell_deg) + " deg; expected values in (0, 360]");
    const std::size_t n = obs.size();
    if (obs.z_um.size() != n || obs.omega_deg.size() != n || obs.eta_deg.size() != n || obs.ring_nr.size() != n ||
        obs.grain_radius_um.size() != n)
        throw ParamError("SpotGrid: the observed-spot columns have different lengths");
    n_eta_ = static_cast<int>(std::ceil(360.0 / eta_cell_deg - 1e-9));
    n_omega_ = static_cast<int>(std::ceil(360.0 / omega_cell_deg - 1e-9));
    int max_ring = 0;
    for (std::size_t i = 0; i < n; ++i) max_ring = std::max(max_ring, static_cast<int>(obs.ring_nr[i]));
    n_rings_ = max_ring + 1;
    ring_start_.assign(static_cast<std::size_t>(n_rings_), -1);
    std::vector<char> present(static_cast<std::size_t>(n_rings_), 0);
    for (std::size_t i = 0; i < n; ++i)
        if (obs.ring_nr[i] > 0) present[static_cast<std::size_t>(obs.ring_nr[i])] = 1;
    const std::int64_t cells_per_ring = static_cast<std::int64_t>(n_eta_) * n_omega_;
    std::int64_t n_cells = 0;
    for (int r = 0; r < n_rings_; ++r)
        if (present[static_cast<std::size_t>(r)]) {
            ring_start_[static_cast<std::size_t>(r)] = n_cells;
            n_cells += cells_per_ring;
        }
    if (n > static_cast<std::size_t>(INT32_MAX) - 1)
        throw CapacityError("SpotGrid: " + std::to_string(n) + " spots; at most 2^31 - 2 are supported");
    std::vector<std::int64_t> cell_of(n, -1);
    offset_.assign(static_cast<std::size_t>(n_cells) + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const int r = obs.ring_nr[i];
        if (r <= 0) continue;
        const double eta = obs.eta_deg[i], ome = obs.omega_deg[i];
        if (!std::isfinite(eta) || !std::isfinite(ome))
            throw ParamError("SpotGrid: spot " + std::to_string(i) + " has a non-finite eta or omega");
        int ie = static_cast<int>(std::floor((eta + 180.0) / eta_cell_deg));
        int iw = static_cast<int>(std::floor((ome + 180.0) / omega_cell_deg));
        ie = ((ie % n_eta_) + n_eta_) % n_eta_;
        iw = ((iw % n_omega_) + n_omega_) % n_omega_;
        const std::int64_t cell = ring_start_[static_cast<std::size_t>(r)] + static_cast<std::int64_t>(ie) * n_omega_ + iw;
        cell_of[i] = cell;
        ++offset_[static_cast<std::size_t>(cell) + 1];
    }
    for (std::size_t c = 0; c < static_cast<std::size_t>(n_cells); ++c) offset_[c + 1] += offset_[c];
    items_.assign(static_cast<std::size_t>(offset_.back()), 0);
    std::vector<std::int32_t> fill(offset_.begin(), offset_.end() - 1);
    for (std::size_t i = 0; i < n; ++i)
        if (cell_of[i] >= 0) items_[static_cast<std::size_t>(fill[static_cast<std::size_t>(cell_of[i])]++)] =
                                 static_cast<std::int32_t>(i);
}

}  // namespace midas::ff
