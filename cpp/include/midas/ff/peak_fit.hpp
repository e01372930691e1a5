// midas/ff/peak_fit.hpp — joint multi-peak 2-D pseudo-Voigt in polar detector coordinates, and
// its bounded Levenberg–Marquardt least-squares fit with an analytic Jacobian.
//
// Model (upstream_facts.md §4.1, PeaksFittingOMPZarrRefactor.c), for a pixel at polar position
// (R px, η deg) around the beam centre, NOT distortion corrected:
//
//   I(R, η) = bg + Σ_j Imax_j · [μ_j·L_j + (1 − μ_j)·G_j]
//   L_j = 1 / ((1 + ΔR²/σLR²)(1 + Δη²/σLη²)),   G_j = exp(−½(ΔR²/σGR² + Δη²/σGη²))
//   ΔR = R − R_j, Δη = η − η_j.
//
// Parameter vector (upstream order): p[0] = bg, then per peak j at 1 + 8j:
//   Imax, R, η, μ, σGR, σLR, σGη, σLη.
// Upstream minimises Σ(model − data)² with derivative-free Nelder–Mead (5000·nPeaks evaluations);
// we minimise the same sum with Levenberg–Marquardt on the analytic Jacobian, with the same box
// bounds enforced by projection (an active set for parameters held at a bound).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"

namespace midas::ff {

/// Parameters per peak in the pseudo-Voigt vector.
inline constexpr int pv_params_per_peak = 8;

/// Offsets of each parameter inside one peak's block of 8.
enum PvParam : int { pv_imax = 0, pv_r = 1, pv_eta = 2, pv_mu = 3, pv_sgr = 4, pv_slr = 5, pv_sgeta = 6, pv_sleta = 7 };

/// Value of one peak's shape V = μL + (1−μ)G at offset (dr_px, deta_deg) from its centre, and
/// (when `grad` is not null) dV/d(R_j, η_j, μ, σGR, σLR, σGη, σLη) in grad[0..6].
/// `q` points at the peak's 8 parameters (Imax is not used).
MIDAS_HD inline double pv_shape(const double* q, double dr_px, double deta_deg, double* grad) {
    const double mu = q[pv_mu];
    const double sgr = q[pv_sgr], slr = q[pv_slr], sge = q[pv_sgeta], sle = q[pv_sleta];
    const double dr2 = dr_px * dr_px, de2 = deta_deg * deta_deg;
    const double a = 1.0 + dr2 / (slr * slr);
    const double b = 1.0 + de2 / (sle * sle);
    const double lor = 1.0 / (a * b);
    const double gau = std::exp(-0.5 * (dr2 / (sgr * sgr) + de2 / (sge * sge)));
    if (grad != nullptr) {
        // dL/dR_j = L·2ΔR/(σLR² a), dG/dR_j = G·ΔR/σGR² (ΔR = R − R_j, so d/dR_j flips the sign twice).
        const double dl_dr = lor * 2.0 * dr_px / (slr * slr * a);
        const double dg_dr = gau * dr_px / (sgr * sgr);
        const double dl_de = lor * 2.0 * deta_deg / (sle * sle * b);
        const double dg_de = gau * deta_deg / (sge * sge);
        grad[0] = mu * dl_dr + (1.0 - mu) * dg_dr;                  // d/dR_j
        grad[1] = mu * dl_de + (1.0 - mu) * dg_de;                  // d/dη_j
        grad[2] = lor - gau;                                        // d/dμ
        grad[3] = (1.0 - mu) * gau * dr2 / (sgr * sgr * sgr);       // d/dσGR
        grad[4] = mu * lor * 2.0 * dr2 / (a * slr * slr * slr);     // d/dσLR
        grad[5] = (1.0 - mu) * gau * de2 / (sge * sge * sge);       // d/dσGη
        grad[6] = mu * lor * 2.0 * de2 / (b * sle * sle * sle);     // d/dσLη
    }
    return mu * lor + (1.0 - mu) * gau;
}

/// Model intensity at one pixel (bg + Σ peaks) for parameter vector p with n_peaks peaks.
MIDAS_HD inline double pv_model(const double* p, int n_peaks, double r_px, double eta_deg) {
    double v = p[0];
    for (int j = 0; j < n_peaks; ++j) {
        const double* q = p + 1 + pv_params_per_peak * j;
        v += q[pv_imax] * pv_shape(q, r_px - q[pv_r], eta_deg - q[pv_eta], nullptr);
    }
    return v;
}

/// Stopping rules of the Levenberg–Marquardt fit.
struct LmOptions {
    int max_iterations = 200;     ///< accepted + rejected steps
    double ftol_rel = 1e-10;      ///< stop when a step lowers the cost by less than ftol_rel·cost
    double xtol_rel = 1e-9;       ///< stop when every |Δp_i| ≤ xtol_rel·(|p_i| + xtol_rel)
    double gtol = 1e-12;          ///< stop when the scaled projected gradient is below gtol
    /// Stop (status 4) after `centre_patience` accepted steps in a row that each moved every peak
    /// centre (R, and η as arc length R·Δη) by less than centre_tol_px and lowered the cost by less
    /// than centre_ftol_rel·cost; 0 turns the rule off. A peak's centre and integrated intensity
    /// converge long before the Lorentzian widths of a nearly Gaussian peak (μ → 0), which the data
    /// hardly constrain and which a strict ftol/xtol would otherwise crawl after.
    double centre_tol_px = 0.0;
    double centre_ftol_rel = 1e-3;
    int centre_patience = 3;
};

/// Outcome of a fit. `status` follows NLopt's return codes so upstream's returnCode column
/// keeps its meaning: 3 ftol reached, 4 xtol reached, 1 gradient ~ 0, 5 iteration limit,
/// -1 no step could be taken (singular system).
struct LmResult {
    std::vector<double> params;
    double cost = 0.0;  ///< Σ (model − data)² at `params`
    int iterations = 0;
    int status = 0;
};

/// Fit the pseudo-Voigt sum to pixel values.
///
/// r_px, eta_deg, value: (N,) per pixel. start, lower, upper: (1 + 8·n_peaks,) with
/// lower ≤ upper; the start is clipped into the box. σ lower bounds must be > 0.
/// Throws midas::ParamError on size mismatches or an empty box, never on non-convergence
/// (status says how it stopped). Deterministic and single-threaded.
[[nodiscard]] LmResult fit_pseudo_voigt(span<const double> r_px, span<const double> eta_deg,
                                        span<const double> value, span<const double> start,
                                        span<const double> lower, span<const double> upper,
                                        const LmOptions& options);

}  // namespace midas::ff
