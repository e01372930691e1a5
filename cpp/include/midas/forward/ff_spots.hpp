// midas/forward/ff_spots.hpp — far-field spot prediction: which (hkl, ω) of a grain diffract,
// where the diffracted beam meets the ideal detector plane at Lsd, and the wedge correction.
//
// Frames and signs are those of docs/conventions.md ("FF forward model"): lab x along the beam,
// z up, sample rotated by Rz(+ω); η = atan2(-y, z); the ideal spot of a reflection is
// (y0, z0) = Lsd·tan 2θ·(-sin η, cos η). Upstream MIDAS restated in upstream_facts.md §2.5–§2.7.
//
// Per-spot math is header-inline and MIDAS_HD (no exceptions, no allocation) so a CUDA kernel
// can reuse it; the batched OpenMP kernel over many grains lives in cpp/src/forward_ff.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"
#include "midas/geometry/angles.hpp"
#include "midas/geometry/omega.hpp"

namespace midas::ff {

/// How a grain's position moves its spot away from the ideal (y0, z0).
enum class Displacement : int {
    /// Upstream's simulator (ForwardSimulationCompressed `DisplacementInTheSpot`): take the line
    /// from the rotated grain position P toward the ideal point (Lsd, y0, z0), and add its
    /// intercept with the plane x = 0 to (y0, z0):
    ///   y = y0 + Py - Px·(y0 - Py)/(Lsd - Px),  z = z0 + Pz - Px·(z0 - Pz)/(Lsd - Px).
    toward_point = 0,
    /// Upstream's indexer/refiner (CalcDiffractionSpots `DisplacementSpots`): the diffracted ray
    /// leaves P parallel to (Lsd, y0, z0) and meets the plane x = Lsd at
    ///   y = y0 + Py - Px·y0/Lsd,  z = z0 + Pz - Px·z0/Lsd.
    /// (This one is the exact straight-line geometry of a ray parallel to the ideal direction.)
    parallel = 1,
};

/// Up to two rotation angles ω (rad, in (-π, π]) that bring a scattering vector into diffraction.
struct OmegaSolutions {
    int n = 0;
    double omega_rad[2] = {0.0, 0.0};
};

/// Solve -gx·cos ω + gy·sin ω = |g|·sin θ for ω (sample rotated by Rz(ω), beam along +x).
///
/// Written as ρ·cos(ω - ψ) = v with ρ = √(gx²+gy²), ψ = atan2(gy, -gx), v = |g| sin θ, so
/// ω = ψ ± acos(v/ρ): exact for every gy (upstream switches to an approximate branch for
/// |gy| < 1e-4). The order of the two solutions is upstream's (it numbers the spots): the larger
/// cos ω first, and when |gy| < 1e-4 (upstream's special branch) the positive ω first.
/// n = 0 when v > ρ (the reflection never diffracts) or ρ = 0.
MIDAS_HD inline OmegaSolutions bragg_omegas(double gx, double gy, double gz, double sin_theta) {
    OmegaSolutions out;
    const double g_len = std::sqrt(gx * gx + gy * gy + gz * gz);
    const double v = g_len * sin_theta;
    const double rho = std::sqrt(gx * gx + gy * gy);
    if (!(rho > 0.0) || v > rho) return out;
    const double psi = std::atan2(gy, -gx);
    const double delta = std::acos(v / rho);
    const double a = geometry::wrap_rad(psi + delta);
    const double b = geometry::wrap_rad(psi - delta);
    bool a_first;
    if (std::fabs(gy) < 1e-4) {
        a_first = a >= b;  // upstream's |gy| < 1e-4 branch lists +ω then -ω
    } else {
        a_first = std::cos(a) >= std::cos(b);
    }
    out.n = 2;
    out.omega_rad[0] = a_first ? a : b;
    out.omega_rad[1] = a_first ? b : a;
    return out;
}

/// Move the ideal spot (y0, z0) (µm, plane at lsd_um) for a grain at p_lab (µm, lab frame at the
/// spot's ω: P = Rz(ω)·pos_sample). See Displacement for the two forms.
MIDAS_HD inline void displace_spot(Displacement form, const double p_lab[3], double lsd_um, double y0_um,
                                   double z0_um, double* y_um, double* z_um) {
    if (form == Displacement::parallel) {
        *y_um = y0_um + p_lab[1] - p_lab[0] * y0_um / lsd_um;
        *z_um = z0_um + p_lab[2] - p_lab[0] * z0_um / lsd_um;
    } else {
        const double dx = lsd_um - p_lab[0];
        *y_um = y0_um + p_lab[1] - p_lab[0] * (y0_um - p_lab[1]) / dx;
        *z_um = z0_um + p_lab[2] - p_lab[0] * (z0_um - p_lab[2]) / dx;
    }
}

/// How the rotation-axis wedge changes a spot (docs/conventions.md "Wedge").
enum class WedgeModel : int {
    /// Upstream's simulator (ForwardSimulationCompressed): ω_obs = ω - δ, where δ is what
    /// FitSetup's CorrectWedge (midas::geometry::wedge_correct) would add to an observation at the
    /// no-wedge (η, 2θ); η is kept. A first-order inverse of the correction.
    upstream_sim = 0,
    /// Exact: the diffraction event of the same g with the tilted axis
    /// (midas::geometry::wedge_apply), ω and η both change; wedge_correct undoes it exactly.
    exact = 1,
};

/// ω and η (rad) observed with a wedge for a no-wedge event (η0, 2θ, ω0). False when the
/// g-vector cannot diffract with the wedge (exact model only; the upstream model then keeps ω0).
MIDAS_HD inline bool observed_with_wedge(WedgeModel model, double eta0_rad, double tth_rad, double omega0_rad,
                                         double wedge_rad, double* omega_rad, double* eta_rad) {
    *omega_rad = omega0_rad;
    *eta_rad = eta0_rad;
    if (wedge_rad == 0.0) return true;
    if (model == WedgeModel::exact)
        return geometry::wedge_apply(eta0_rad, tth_rad, omega0_rad, wedge_rad, *omega_rad, *eta_rad);
    double delta = 0.0, eta_unused = 0.0;
    if (geometry::wedge_correct(eta0_rad, tth_rad, 0.0, wedge_rad, delta, eta_unused))
        *omega_rad = geometry::wrap_rad(omega0_rad - delta);
    return true;
}

/// One predicted spot (kernel units: degrees for angles in the output, µm for lengths).
struct FFSpot {
    std::int32_t grain = 0;         ///< position of the grain in the input (0-based)
    std::int32_t row = 0;           ///< row id of the reflection (as given in row_id)
    std::int32_t solution = 0;      ///< 0 or 1: which of the two ω solutions of this row
    std::int32_t solution_nr = 0;   ///< running index of this solution among all the grain's solutions
    std::int32_t ring_nr = 0;       ///< ring number of the reflection
    double omega_deg = 0.0;         ///< observed ω (after the wedge), (-180, 180]
    double omega_raw_deg = 0.0;     ///< ω before the wedge correction
    double eta_deg = 0.0;           ///< observed azimuth of the diffracted beam
    double tth_deg = 0.0;           ///< 2θ of the (strained) reflection
    double y0_um = 0.0, z0_um = 0.0;  ///< ideal spot on the plane at Lsd (grain at the origin)
    double y_um = 0.0, z_um = 0.0;    ///< spot displaced by the grain position (ideal plane)
};

/// Inputs of predict_ff_spots; every span is row-major and sized as stated.
struct FFSpotInputs {
    span<const double> orient;    ///< (G, 9) orientation matrices, crystal → sample
    span<const double> pos_um;    ///< (G, 3) grain positions, sample frame at ω = 0, µm
    span<const double> b_matrix;  ///< (G, 9) reciprocal-basis matrices B of each grain, 1/Å
    span<const double> hkl;       ///< (H, 3) Miller indices (as float64)
    span<const std::int32_t> ring_nr;  ///< (H,) ring number of each reflection
    span<const std::int32_t> row_id;   ///< (H,) identifier copied to FFSpot::row
};

/// Settings of predict_ff_spots.
struct FFSpotConfig {
    double wavelength_A = 0.0;
    double lsd_um = 0.0;
    double min_eta_deg = 0.0;  ///< reject |η| < min_eta or 180 - |η| < min_eta
    double wedge_deg = 0.0;
    WedgeModel wedge_model = WedgeModel::upstream_sim;
    Displacement displacement = Displacement::toward_point;
    /// (W, 2) ω windows (lo, hi) in degrees and (W, 4) boxes (y_min, y_max, z_min, z_max) in µm
    /// on the ideal (y0, z0); a spot is kept when some window k has lo < ω < hi and the box
    /// strictly contains (y0, z0). W = 0: no window test.
    span<const double> omega_windows_deg;
    span<const double> boxes_um;
};

/// Predict the spots of G grains over H reflections (upstream_facts.md §2.7).
///
/// For grain g and reflection h: g_c = B_g·hkl_h, sin θ = λ|g_c|/2 (rows with sin θ ≥ 1 give
/// nothing), G = U_g·g_c, ω from bragg_omegas, η from Rz(ω)·G, R = Lsd·tan 2θ,
/// (y0, z0) = R·(-sin η, cos η), then the wedge (observed_with_wedge; (y0, z0) follow the
/// observed η), the η/window filters on the observed ω and on (y0, z0), and the displacement by
/// P = Rz(ω_obs)·pos. Output order is
/// deterministic: grain, then reflection, then solution, whatever the thread count.
/// Throws midas::ParamError on inconsistent sizes or non-positive wavelength/Lsd.
[[nodiscard]] std::vector<FFSpot> predict_ff_spots(const FFSpotInputs& in, const FFSpotConfig& cfg);

}  // namespace midas::ff
