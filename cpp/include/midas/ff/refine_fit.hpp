// midas/ff/refine_fit.hpp — per-grain refinement of position, orientation and lattice (the role
// of upstream's FitPosOrStrainsOMP, upstream_facts.md §4.6, with a different optimiser).
//
// Parameters per grain: position (3, µm, sample frame), a small rotation w (3, rad, sample
// frame; U ← Rot(w)·U after every accepted step) and the six entries of the upper-triangular
// reciprocal basis B (1/Å; lattice ↔ B is one-to-one, §2.6). The residuals of every assigned
// spot are ((y − y_obs)/σ_yz, (z − z_obs)/σ_yz, (ω − ω_obs)/σ_ω) with the spot model of
// refine_model.hpp and its analytic Jacobian; Levenberg–Marquardt (Marquardt diagonal scaling)
// minimises their sum of squares. Steps that leave the bounds (in-plane radius ≤ Rsample + 20 µm,
// |z| ≤ Hbeam/2, lattice within ±MargABC % / ±MargABG % of the reference) are refused.
//
// Passes: the first assignment uses the indexer's tolerances (MarginOme + ½StepSizeOrient/|sin η|,
// MarginRadial radially, atan(MarginEta/R) + ½StepSizeOrient in η); after each fit the spots
// are re-assigned with tolerances tol_factor × the grain's robust residual scale (bounded below
// by min_tol_yz_um / min_tol_ome_deg and above by the first-pass tolerances), and σ_yz, σ_ω
// become those scales (bounded below by the sigma floors). Each observed spot is assigned to
// at most one predicted spot of a grain (the closest). Grains are independent: OpenMP over
// grains gives results independent of the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/ff/index_grid.hpp"
#include "midas/forward/ff_spots.hpp"

namespace midas::ff {

/// Reflections the refinement predicts.
struct RefineHkls {
    span<const double> hkl;              ///< (H, 3) Miller indices (float64)
    span<const std::int32_t> ring_nr;    ///< (H,)
    span<const double> ring_radius_um;   ///< (max_ring + 1,) reference ring radius (0: unused ring)
    span<const std::uint8_t> ring_counts;  ///< (max_ring + 1,) 1 when the ring counts toward completeness
};

/// Settings (upstream parameter names in brackets).
struct RefineConfig {
    double wavelength_A = 0.0;
    double lsd_um = 0.0;
    Displacement displacement = Displacement::parallel;
    double min_eta_deg = 0.0;           ///< [MinEta]
    span<const double> omega_windows_deg;  ///< (W, 2) [OmegaRange]
    span<const double> boxes_um;           ///< (W, 4) [BoxSize] on (y0, z0)
    double margin_eta_um = 0.0;         ///< [MarginEta]   first-pass tolerances
    double margin_ome_deg = 0.0;        ///< [MarginOme]
    double margin_radial_um = 0.0;      ///< [MarginRadial]
    double step_orient_deg = 0.0;       ///< [StepSizeOrient]
    double tol_factor = 5.0;            ///< later passes: tolerance = tol_factor × residual scale
    double min_tol_yz_um = 0.0;         ///< lower bound of the later-pass (y, z) tolerance
    double min_tol_ome_deg = 0.0;       ///< lower bound of the later-pass ω tolerance
    double sigma_yz_um = 1.0;           ///< first-pass σ of y, z residuals
    double sigma_ome_deg = 0.1;         ///< first-pass σ of ω residuals
    double sigma_floor_yz_um = 1e-3;    ///< lower bounds of the re-estimated σ
    double sigma_floor_ome_deg = 1e-5;
    int n_passes = 10;                  ///< most assignment + fit rounds
    bool adapt_weights = true;          ///< σ_yz, σ_ω become the residual scales after each pass
    double huber_k = 3.0;               ///< Huber threshold on a spot's normalised residual (0: off)
    int max_iter = 60;                  ///< LM iterations per pass
    double rsample_um = 0.0;            ///< [Rsample]
    double hbeam_um = 0.0;              ///< [Hbeam]
    double marg_abc_pct = 0.0;          ///< [MargABC] percent
    double marg_abg_pct = 0.0;          ///< [MargABG] percent
    double lattice_ref[6] = {0, 0, 0, 90, 90, 90};  ///< reference lattice (bounds)
    bool fit_position = true;
    bool fit_orientation = true;
    bool fit_strain = true;
};

/// Refined grain. `ok` is false when fewer than `min_spots` spots could be assigned.
struct RefinedGrain {
    bool ok = false;
    double orient[9] = {};
    double pos_um[3] = {};
    double b_matrix[9] = {};
    double lattice[6] = {};
    std::int32_t n_expected = 0;      ///< predicted spots inside the windows (counting rings)
    std::int32_t n_matched = 0;       ///< of them with an assigned observed spot
    std::int32_t iterations = 0;      ///< LM iterations over all passes
    double diff_pos_um = 0.0;         ///< mean |Δ(y, z)|
    double diff_ome_deg = 0.0;        ///< mean |Δω|
    double diff_angle_deg = 0.0;      ///< mean angle between observed and predicted g
    double scale_yz_um = 0.0;         ///< robust residual scales of the last pass
    double scale_ome_deg = 0.0;
    std::vector<std::int32_t> obs;      ///< assigned observed spots
    std::vector<std::int32_t> hkl_row;  ///< their hkl rows
    std::vector<double> pred;           ///< (n, 3) predicted y, z (µm), ω (deg)
};

/// Refine G grains from their starting orientation (G, 9), position (G, 3) and reciprocal
/// basis (G, 9, upper triangular). Throws midas::ParamError for inconsistent inputs.
[[nodiscard]] std::vector<RefinedGrain> refine_grains(const ObsSpotsView& obs, const SpotGrid& grid,
                                                      const RefineHkls& hkls, const RefineConfig& cfg,
                                                      span<const double> orient, span<const double> pos_um,
                                                      span<const double> b_matrix, int min_spots);

/// Evaluate the spot model (refine_model.hpp) with its Jacobian for n (G, pos, ω) triples:
/// values (n, 5) = (y, z, ω_deg, η_deg, 2θ_deg), d_dg (n, 3, 3), d_dpos (n, 3, 3); ok = 0 where
/// the geometry is degenerate. Used to test the Jacobian against its NumPy twin.
void spot_models(span<const double> g, span<const double> pos_um, span<const double> omega_rad, double wavelength_A,
                 double lsd_um, Displacement form, span<std::uint8_t> ok, span<double> values, span<double> d_dg,
                 span<double> d_dpos);

}  // namespace midas::ff
