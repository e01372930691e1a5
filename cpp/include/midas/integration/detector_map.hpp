// midas/integration/detector_map.hpp — the pixel → (R, η) bin matrix of radial integration.
//
// For every pixel the footprint quadrilateral (its 4 corners mapped through the full FF geometry
// into the corrected plane, see polygon_sector.hpp) is split exactly over the annular-sector
// bins. The result is a CSR matrix with one row per bin (r-major: row = i_r·n_eta + i_eta) and
// one column per RAW pixel (the frame as stored on disk, before ImTransOpt), holding
//
//     weight = fraction / C,   fraction = area(footprint ∩ bin) / area(footprint),
//
// C the per-pixel solid-angle/polarization correction. Per-bin areas Σ fraction (in pixels) are
// returned separately; the caller folds 1/area into a per-row scale so that one CSR pass gives
// the area-normalised cake. Upstream: MapperCore.c / DetectorMapper (upstream_facts.md §4.12).
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/core/uninit_vector.hpp"
#include "midas/geometry/ff_detector.hpp"
#include "midas/integration/polygon_sector.hpp"

namespace midas::integration {

/// The (R, η) bin grid: arbitrary increasing radial edges (pixels; from R, Q or 2θ bins) and
/// uniform η bins [eta_min_deg + j·eta_bin_size_deg, +eta_bin_size_deg), j < n_eta, spanning at
/// most 360° (η is taken modulo 360°, so bins may extend past ±180).
struct BinGrid {
    span<const double> r_edges_px;
    double eta_min_deg = -180.0;
    double eta_bin_size_deg = 360.0;
    std::int64_t n_eta = 1;

    [[nodiscard]] std::int64_t n_r() const { return static_cast<std::int64_t>(r_edges_px.size()) - 1; }
    [[nodiscard]] std::int64_t n_bins() const { return n_r() * n_eta; }
};

/// What a masked pixel does: flag every bin it touches (upstream; the bin's output becomes NaN
/// and its area 0), or simply drop out of the bins it touches (pyFAI-like).
enum class MaskPolicy : std::int32_t { flag_bins = 0, exclude_pixels = 1 };

/// Everything besides the geometry and bins that changes the matrix.
struct MapSettings {
    double lsd_px = 1.0;               ///< sample-detector distance in pixels (for 2θ)
    bool solid_angle = false;          ///< divide by cos³2θ
    bool polarization = false;         ///< divide by 1 − P·sin²2θ·cos²η
    double polarization_fraction = 0;  ///< P
    MaskPolicy mask_policy = MaskPolicy::flag_bins;
    /// > 0: round each pixel's fractions to multiples of this quantum by cumulative rounding, so
    /// they stay exact in float32 and a fully covered pixel's fractions sum to exactly 1
    /// (use 2^-24). 0: keep the exact double fractions (pieces below 1e-12 of a pixel, rounding
    /// noise of the split, are dropped).
    double fraction_quantum = 0.0;
};

/// The matrix and its per-bin companions; Real is the stored type of weights and fractions.
template <class Real>
struct DetectorMap {
    uninit_vector<std::int64_t> indptr;   ///< n_bins + 1
    uninit_vector<std::int32_t> indices;  ///< raw pixel index (row·n_y_raw + column of the stored frame)
    uninit_vector<Real> weights;          ///< fraction / C
    uninit_vector<Real> fractions;        ///< area fraction of the pixel inside the bin; EMPTY when
                                         ///< no correction is applied (then fractions == weights)
    std::vector<double> bin_area;        ///< Σ fractions of the bin's unmasked pixels (0 when flagged)
    std::vector<std::uint8_t> bin_flagged;  ///< 1 where a masked pixel touches the bin (flag_bins)
    std::int64_t n_degenerate = 0;       ///< pixels whose footprint has zero area (skipped)
};

/// Corrected-plane coordinates of every pixel corner of an FF detector, in pixels of the Y pitch
/// (y_um / px_y_um, z_um / px_y_um): corner (k, l) is the point (Y, Z) = (l − ½, k − ½) of the
/// frame after ImTransOpt mapped by midas::geometry::pixel_to_ideal (tilts, p0..p14, parallax,
/// panels: a corner takes the panel of its pixels; GeometryError when two panels touch).
/// cy_px / cz_px are (n_z + 1, n_y + 1) row-major; NaN where a corner has no image (behind the
/// sample). Throws GeometryError for an invalid detector, ParamError for wrong sizes.
void ff_pixel_corners(const geometry::FFDetector& det, std::int64_t n_y, std::int64_t n_z, span<double> cy_px,
                      span<double> cz_px);

/// Build the integration matrix.
///
/// corner_y_px / corner_z_px: (n_z + 1, n_y + 1) row-major corrected coordinates (pixels, beam
/// at the origin) of the pixel corners, corner (k, l) at transformed pixel coordinates
/// (Z, Y) = (k − ½, l − ½); pixel (Z, Y) is the quadrilateral of corners (Z, Y), (Z, Y+1),
/// (Z+1, Y+1), (Z+1, Y). raw_index: n_z·n_y column index of each transformed pixel in the raw
/// frame (ImTransOpt undone), empty for the identity. mask: raw-frame layout, nonzero = bad,
/// empty for none. Throws ParamError on inconsistent sizes or bins, CapacityError when the
/// indices would not fit int32.
template <class Real>
[[nodiscard]] DetectorMap<Real> build_detector_map(span<const double> corner_y_px, span<const double> corner_z_px,
                                                   std::int64_t n_y, std::int64_t n_z,
                                                   span<const std::int32_t> raw_index,
                                                   span<const std::uint8_t> mask, const BinGrid& bins,
                                                   const MapSettings& settings);

}  // namespace midas::integration
