// midas/ff/index_search.hpp — FF indexing: orientation and position of the grain behind each
// seed spot (the role of upstream's IndexerOMP, upstream_facts.md §4.5, restated and extended).
//
// For a seed spot s (ring r, observed (y_s, z_s, ω_s)):
// 1. Plane-normal candidates: the ideal ring point (y0, z0) of the seed. With Friedel pairs,
//    every observed spot of ring r near ω_s ± 180 whose combination m = ((y_s + y_m)/2,
//    (z_s − z_m)/2) lies on the ring circle (|‖m‖ − R_r| < MarginRadial) and whose half
//    differences fit the sample (|z_s + z_m|/2 ≤ Hbeam/2, |y_s − y_m|/2 ≤ Rsample(1 + R_r/Lsd),
//    plus MarginRadial) gives m scaled onto the circle: for the "parallel" displacement the
//    grain offset cancels exactly in y and to first order in z. A seed without a Friedel mate
//    falls back to the arc search (upstream abandons it): ring points around the seed within the
//    sample box, StepSizePos apart along the arc.
// 2. The plane normal ĝ (sample frame) of (y0, z0) at ω_s; for each orbit representative hkl of
//    the ring (under the proper rotations of the Laue group), the rotation R0 that takes its
//    unit g_crystal onto ĝ, then rotations about ĝ by k·StepSizeOrient below the representative's
//    symmetry angle (360°/order of its stabiliser).
// 3. Positions: the grain sits on the seed's diffracted ray P(μ) = Rz(−ω_s)·[(0, y_s − y0,
//    z_s − z0) + μ·unit(Lsd, y0, z0)], inside the sample (in-plane radius ≤ Rsample + slack,
//    |z| ≤ Hbeam/2 + slack). Every predicted spot then moves linearly with μ on the detector, so instead
//    of upstream's steps of StepSizePos the best μ is found exactly: each (predicted, observed)
//    pair that passes the ring, ω (MarginOme + ½StepSizeOrient/|sin η|) and grain-radius
//    (MarginRadius) tests is a μ interval where its radial offset < MarginRadial and its arc
//    offset < R·tan(atan(MarginEta/R) + ½StepSizeOrient); the μ covered by the most distinct
//    predicted spots wins.
// 4. nExpected counts predicted spots inside OmegaRange/BoxSize (on (y0, z0)) and outside MinEta
//    of the poles, without RingsToExcludeFraction rings; a candidate is accepted when
//    nMatched ≥ Completeness·nExpected. Candidates rank by completeness, then by the smallest
//    mean internal angle between observed (position-corrected) and predicted g-vectors.
//    Up to max_solutions mutually distinct (misorientation > distinct_deg) solutions are kept.
//
// Results are independent of the thread count (OpenMP over seeds, fixed per-seed work).
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/ff/index_grid.hpp"
#include "midas/forward/ff_spots.hpp"

namespace midas::ff {

/// Reflections and ring data the indexer predicts from (reference lattice).
struct IndexHkls {
    span<const double> g_crystal;       ///< (H, 3) B·hkl of the reference lattice, 1/Å
    span<const std::int32_t> ring_nr;   ///< (H,) ring number of each row
    span<const double> ring_radius_um;  ///< (max_ring + 1,) ideal radius Lsd·tan2θ per ring (0: unused)
    span<const std::uint8_t> ring_counts;  ///< (max_ring + 1,) 1 when the ring counts toward completeness
    span<const std::int32_t> rep_ring;  ///< (Q,) ring of each orbit representative
    span<const double> rep_g_unit;      ///< (Q, 3) unit g_crystal of each representative
    span<const double> rep_max_angle_deg;  ///< (Q,) rotation range about the plane normal
    span<const double> sym_quat;        ///< (M, 4) Laue proper rotations (w, x, y, z), distinctness test
};

/// Settings (upstream parameter names in brackets).
struct IndexConfig {
    double wavelength_A = 0.0;
    double lsd_um = 0.0;
    double rsample_um = 0.0;          ///< [Rsample] in-plane radius of the sample
    double hbeam_um = 0.0;            ///< [Hbeam] vertical extent (|z| ≤ Hbeam/2)
    double position_slack_um = 20.0;  ///< added to Rsample and Hbeam/2 (the seed ray is only as
                                      ///< accurate as the seed spot; upstream adds 20 µm to Rsample)
    double step_pos_um = 0.0;         ///< [StepSizePos] arc spacing of the no-Friedel fallback
    double step_orient_deg = 0.0;     ///< [StepSizeOrient]
    double margin_eta_um = 0.0;       ///< [MarginEta] arc length
    double margin_ome_deg = 0.0;      ///< [MarginOme]
    double margin_radial_um = 0.0;    ///< [MarginRadial]
    double margin_radius_um = 0.0;    ///< [MarginRadius] on grain radius; ≤ 0 disables
    double completeness = 0.0;        ///< [MinMatchesToAcceptFrac / Completeness]
    double min_eta_deg = 0.0;         ///< [MinEta / ExcludePoleAngle]
    bool use_friedel = true;          ///< [UseFriedelPairs]
    bool friedel_fallback = true;     ///< arc search for seeds without a Friedel mate
    int max_solutions = 1;            ///< solutions kept per seed
    int coarse_steps = 1;             ///< orientation steps per coarse block (1: no coarse pass)
    double distinct_deg = 1.0;        ///< kept solutions differ by more than this
    span<const double> omega_windows_deg;  ///< (W, 2) [OmegaRange]
    span<const double> boxes_um;           ///< (W, 4) [BoxSize] on the ideal (y0, z0)
};

/// One indexing solution.
struct IndexSolution {
    double orient[9] = {};         ///< crystal → sample, row-major
    double pos_um[3] = {};         ///< sample frame
    std::int32_t n_expected = 0;
    std::int32_t n_matched = 0;
    double internal_angle_deg = 0.0;  ///< mean angle between matched observed and predicted g
    std::vector<std::int32_t> matched;  ///< observed spot indices (one per matched predicted spot)
};

/// Statistics of one seed's search.
struct SeedStats {
    std::int32_t n_normals = 0;       ///< plane-normal candidates tried
    std::int32_t n_friedel = 0;       ///< of them from Friedel pairs
    std::int64_t n_candidates = 0;    ///< (normal, orientation) candidates evaluated
    std::int64_t n_spots = 0;         ///< predicted spots computed over all candidates
    std::int64_t n_tests = 0;         ///< (predicted, observed) pairs tested
};

/// Index every seed (indices into the observed spots). Returns per seed its solutions (best
/// first; empty when none passes), and fills `stats` (same length as seeds).
/// Throws midas::ParamError for inconsistent inputs.
[[nodiscard]] std::vector<std::vector<IndexSolution>> index_seeds(const ObsSpotsView& obs, const SpotGrid& grid,
                                                                  const IndexHkls& hkls, const IndexConfig& cfg,
                                                                  span<const std::int32_t> seeds,
                                                                  std::vector<SeedStats>* stats);

}  // namespace midas::ff
