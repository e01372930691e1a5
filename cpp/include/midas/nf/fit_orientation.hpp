// midas/nf/fit_orientation.hpp — per-voxel orientation search of NF-HEDM (the role of upstream
// FitOrientationOMP; upstream_facts.md §4.10, §3.13).
//
// For every grid point (OpenMP over points, each point computed independently, so results do not
// depend on the thread count):
//  1. screening: the fraction of every seed orientation's footprint confirmed by the bitmask,
//     from the seed's precomputed spots (DiffractionSpots/Key); seeds with fraction
//     ≥ min_frac_accept are winners;
//  2. refinement: each winner's Bunge Euler angles are refined by NLopt Nelder–Mead on
//     1 − fraction within ±orient_tol of the start (ftol_rel = xtol_rel = 1e-5, max_eval
//     evaluations, no wall-clock limit so that results never depend on machine speed; initial
//     simplex step search_step, by default NLopt's from the box as upstream);
//     the best is the highest fraction (ties: the later winner, as upstream);
//  3. polish of the best (midas extension, on by default, only when its fraction is at least
//     polish_min_frac): the fraction is piecewise constant and its peak is a few thousandths of
//     a degree wide, so Nelder–Mead often stops on a lower plateau beside it, or anywhere on it.
//     a. soft stage: Nelder–Mead on a graded agreement (soft_overlap: a pixel one pixel or one
//        frame off scores 0.5, two off 0.25), whose basin is several pixels wide, then
//        Nelder–Mead on the exact fraction from there with a small simplex (polish_step);
//        kept when not worse;
//     b. plateau centring: the orientation is moved to the centre of its plateau, axis by axis
//        along small rotations about the sample x, y, z axes (bracketing plus bisection to
//        plateau_tol), centre_sweeps times; a higher value met on the way restarts the centring
//        there;
//  4. the SaveNSolutions list: refined winners by decreasing fraction, skipping any within
//     min_miso of a better kept one (symmetry-aware misorientation).
//
// Output rows follow upstream's MicFileBinary (11 f8) and .AllMatches (7 + 4·save_n f8) layouts;
// points without winners stay all zero.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/crystal/orientation.hpp"
#include "midas/nf/bit_table.hpp"
#include "midas/nf/experiment.hpp"
#include "midas/nf/overlap.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

/// Fitting settings (kernel units: radians).
struct FitSettings {
    double min_frac_accept = 0.5;  ///< screening threshold (MinFracAccept)
    double orient_tol_rad = 0.0;   ///< Nelder–Mead box half-width per Euler angle (OrientTol)
    std::int32_t save_n = 1;       ///< SaveNSolutions (≥ 1)
    double min_miso_rad = 0.0;     ///< MinMisoNSaves
    std::int32_t max_eval = 5000;  ///< Nelder–Mead evaluation budget per run
    double ftol_rel = 1e-5;
    double xtol_rel = 1e-5;
    double search_step_rad = 0.0;  ///< initial simplex step of step 2 (0: NLopt's default from the box, upstream's)
    bool polish = true;                ///< step 3 (a and b)
    double polish_min_frac = 0.5;      ///< step 3 runs when the best fraction reaches this
    double soft_step_rad = 1.75e-3;    ///< initial simplex step of the soft stage (0.1°)
    double soft_xtol_rad = 3.5e-5;     ///< the soft stage stops when the simplex is this small (0.002°)
    double polish_step_rad = 3.5e-4;   ///< initial simplex step of the exact run after it (0.02°)
    std::int32_t centre_sweeps = 1;    ///< passes of the plateau centring over the three axes
    double plateau_tol_rad = 1e-5;     ///< bisection resolution of the plateau edges
    double plateau_max_rad = 0.0;      ///< search half-range of the plateau (0: orient_tol_rad)
};

/// Seed orientations with their precomputed spots (upstream OrientMat/Key/DiffractionSpots).
struct SeedTable {
    span<const double> orient_mats;  ///< (S, 9) row-major
    span<const std::int32_t> key;    ///< (S, 2): (n_spots, offset into spots)
    span<const double> spots;        ///< (T, 3): (y0_um, z0_um, omega_deg)
};

/// Number of f8 values per MicFileBinary row.
inline constexpr int mic_row_size = 11;

/// Number of f8 values per .AllMatches row.
[[nodiscard]] inline int all_matches_row_size(int save_n) { return 7 + 4 * save_n; }

/// Fit grid rows [row_begin, row_end) of `grid` (N, 5 upstream grid.txt rows) against the
/// bitmask `bits` (make_bit_table of the SpotsInfo words; build it once per fit). Writes row r of
/// `mic` (N, 11) and `all_matches` (N, 7 + 4·save_n) for rows with winners (others untouched) and
/// `n_evals[r]` (objective evaluations used). `sym` holds the Laue group's proper rotations in
/// the crystal frame (M, 9) for the misorientation of the SaveNSolutions dedup. Throws
/// midas::ParamError on inconsistent inputs.
void fit_grid(const Experiment& e, const HklSet& h, const SeedTable& seeds, span<const double> grid,
              std::int64_t row_begin, std::int64_t row_end, const BitTable& bits, span<const double> sym,
              const FitSettings& settings, span<double> mic, span<double> all_matches, span<std::int32_t> n_evals);

/// Screening only: fraction of each seed's footprint for one voxel (S,).
[[nodiscard]] std::vector<double> screen_voxel(const Experiment& e, const SeedTable& seeds, const Triangle& tri,
                                               const BitTable& bits);

/// Misorientation angle (rad) between orientation matrices a and b under the rotations `sym`
/// (M·9): min over S of the rotation angle of aᵀ·b·S.
[[nodiscard]] double misorientation_rad(const double a[9], const double b[9], const std::vector<crystallography::Quat>& sym);

/// The rotation matrices `sym` (M·9) as quaternions (identity alone when M = 0).
[[nodiscard]] std::vector<crystallography::Quat> symmetry_quats(span<const double> sym);

/// Geometry refinement (the role of upstream FitOrientationParameters[MultiPoint]).
struct GeometryFit {
    ExperimentSpec spec;               ///< refined Lsd, BC, tilts
    std::vector<double> euler_rad;     ///< (K, 3) refined voxel orientations
    std::vector<double> fractions;     ///< (K,) final fraction per voxel
    double mean_fraction_start = 0.0;
    double mean_fraction = 0.0;
    std::int32_t n_evals = 0;
};

/// Tolerances of the geometry refinement (half-widths of the search box).
struct GeometryTolerances {
    double lsd_um = 500.0;       ///< LsdTol: Lsd of layer 0
    double lsd_rel_um = 3.0;     ///< LsdRelativeTol: each Lsd_i − Lsd_{i−1}, i ≥ 1
    double bc_y_px = 2.0;        ///< BCTol (first value)
    double bc_z_px = 0.2;        ///< BCTol (second value)
    double tilt_deg = 1.0;       ///< TiltsTol
    double orient_deg = 2.0;     ///< OrientTol on every voxel's Euler angles
    std::int32_t iterations = 3; ///< NumIterations: Nelder–Mead restarts from the best point
    std::int32_t max_eval = 5000;
};

/// Refine tilts, Lsd per layer (Lsd0 and the layer-to-layer differences) and BC per layer jointly
/// with the Euler angles of K voxels (`voxels` K triangles, `euler_rad` K·3 starts) by
/// maximising the mean footprint fraction with Nelder–Mead inside the tolerance box.
[[nodiscard]] GeometryFit refine_geometry(const ExperimentSpec& start, span<const double> g_crystal,
                                          span<const double> theta_deg, span<const Triangle> voxels,
                                          span<const double> euler_rad, const std::uint32_t* words,
                                          const BitLayout& layout, const GeometryTolerances& tol);

}  // namespace midas::nf
