// midas/geometry/omega.hpp — ω bookkeeping: frame <-> ω labels, wrapping, the rolling-readout
// timing correction, and the rotation-axis wedge.
//
// Conventions: docs/conventions.md ("ω labelling", "Timing correction", "Wedge").
//
// Units: the frame bookkeeping works in DEGREES (start/step come from the parameter file as
// decimal degrees; doing (ω − start)/step in degrees keeps frame boundaries exact), the wedge
// functions work in radians (trigonometry).
//
// Frame labels. Frame k (0-based, counted from the frame whose start edge is `start`) covers
// ω ∈ [start + k·step, start + (k+1)·step). Our label is the frame CENTRE (offset 0.5); upstream
// MIDAS labels a frame with its START edge (offset 0), which biases spot ω by step/2.
//
// Wedge. With a wedge W the sample-frame vector g is seen in the lab at stage angle ω as
//   G_lab = Ry(−W)·Rz(ω)·g          (rotation axis Ry(−W)·ẑ = (−sin W, 0, cos W))
// — the model whose exact inverse is upstream FitSetupParamsAllZarr.c CorrectWedge.
// wedge_apply: a diffraction event computed without wedge (η0, 2θ, ω0) -> (ω1, η1) where the same
// g diffracts with the wedge (ω1 nearest ω0). wedge_correct: the inverse. 2θ never changes.
#pragma once

#include <cmath>
#include <cstdint>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"
#include "midas/geometry/angles.hpp"
#include "midas/geometry/rotation.hpp"

namespace midas::geometry {

/// Offset of the ω label inside a frame: 0.5 = frame centre (midas default), 0 = frame start (upstream).
inline constexpr double frame_centre_offset = 0.5;
inline constexpr double frame_start_offset = 0.0;

/// ω label (deg) of (possibly fractional) frame coordinate k: start + (k + offset)·step.
MIDAS_HD inline double frame_to_omega_deg(double frame, double start_deg, double step_deg, double offset) {
    return start_deg + (frame + offset) * step_deg;
}

/// Inverse of frame_to_omega_deg: the continuous frame coordinate of ω (the label of frame k maps to k).
MIDAS_HD inline double omega_to_frame_coord(double omega_deg, double start_deg, double step_deg, double offset) {
    return (omega_deg - start_deg) / step_deg - offset;
}

/// Index of the frame whose exposure contains ω: floor((ω − start)/step), independent of the label.
MIDAS_HD inline std::int64_t omega_to_frame_index(double omega_deg, double start_deg, double step_deg) {
    return static_cast<std::int64_t>(std::floor((omega_deg - start_deg) / step_deg));
}

/// Rolling-readout timing correction (upstream FitSetup):
/// ω' = wrap(ω − tGap/(tGap + tInt)·step·(1 − |2·z_px − n_z|/n_z)), z_px the spot row.
MIDAS_HD inline double timing_corrected_omega_deg(double omega_deg, double z_px, double n_z, double step_deg,
                                                  double t_int_s, double t_gap_s) {
    const double frac = t_gap_s / (t_gap_s + t_int_s);
    return wrap_deg(omega_deg - frac * step_deg * (1.0 - std::fabs(2.0 * z_px - n_z) / n_z));
}

namespace detail {

/// Unit scattering vector for diffraction to (2θ, η) of a beam along +x:
/// ĝ = (−sin θ, −cos θ sin η, cos θ cos η).
MIDAS_HD inline void g_hat_lab(double eta_rad, double tth_rad, double g[3]) {
    const double st = std::sin(0.5 * tth_rad);
    const double ct = std::cos(0.5 * tth_rad);
    g[0] = -st;
    g[1] = -ct * std::sin(eta_rad);
    g[2] = ct * std::cos(eta_rad);
}

/// The rotation δ about z nearest 0 (in (−π, π]) with (Rz(δ)·v)_x = target. False if none.
MIDAS_HD inline bool nearest_z_rotation(const double v[3], double target, double& delta) {
    const double rho = std::sqrt(v[0] * v[0] + v[1] * v[1]);
    if (!(rho > 0.0)) return false;
    const double c = target / rho;
    if (!(c >= -1.0 && c <= 1.0)) return false;
    // (Rz(δ)v)_x = vx cos δ − vy sin δ = ρ cos(δ + φ), φ = atan2(vy, vx)
    const double phi = std::atan2(v[1], v[0]);
    const double alpha = std::acos(c);
    const double d1 = wrap_rad(-phi + alpha);
    const double d2 = wrap_rad(-phi - alpha);
    delta = std::fabs(d1) <= std::fabs(d2) ? d1 : d2;
    return true;
}

}  // namespace detail

/// Wedge forward: (η0, 2θ, ω0) of a no-wedge diffraction event -> (ω1, η1) with wedge W (rad).
/// False when the g-vector cannot diffract with this wedge (|W| larger than its distance from
/// the rotation axis allows).
MIDAS_HD inline bool wedge_apply(double eta0_rad, double tth_rad, double omega0_rad, double wedge_rad,
                                 double& omega1_rad, double& eta1_rad) {
    double g0[3];
    detail::g_hat_lab(eta0_rad, tth_rad, g0);
    const double cw = std::cos(wedge_rad);
    const double sw = std::sin(wedge_rad);
    // (Ry(−W)·u)_x = cos W·u_x − sin W·u_z = −sin θ, and u_z = g0_z is unchanged by Rz(δ).
    const double target = (g0[0] + sw * g0[2]) / cw;
    double delta = 0.0;
    if (!detail::nearest_z_rotation(g0, target, delta)) return false;
    double ux = 0.0;
    double uy = 0.0;
    rotate_about_z(g0[0], g0[1], delta, ux, uy);
    // L = Ry(−W)·u: L_y = u_y, L_z = sin W·u_x + cos W·u_z
    omega1_rad = wrap_rad(omega0_rad + delta);
    eta1_rad = eta_from_yz(uy, sw * ux + cw * g0[2]);
    return true;
}

/// Wedge inverse (upstream CorrectWedge of FitSetup, which keeps η; we return the exact η0):
/// observed (η1, 2θ, ω1) with wedge W -> (ω0, η0) where the same g diffracts without wedge.
MIDAS_HD inline bool wedge_correct(double eta1_rad, double tth_rad, double omega1_rad, double wedge_rad,
                                   double& omega0_rad, double& eta0_rad) {
    double l[3];
    detail::g_hat_lab(eta1_rad, tth_rad, l);
    const double cw = std::cos(wedge_rad);
    const double sw = std::sin(wedge_rad);
    // v = Ry(W)·L = Rz(ω1)·g
    const double v[3] = {cw * l[0] + sw * l[2], l[1], -sw * l[0] + cw * l[2]};
    double delta = 0.0;
    if (!detail::nearest_z_rotation(v, l[0], delta)) return false;  // l[0] = −sin θ
    double ux = 0.0;
    double uy = 0.0;
    rotate_about_z(v[0], v[1], delta, ux, uy);
    omega0_rad = wrap_rad(omega1_rad + delta);
    eta0_rad = eta_from_yz(uy, v[2]);
    return true;
}

// ---- batched OpenMP kernels (cpp/src/geometry_omega.cpp); equal-length spans (ParamError otherwise).

/// ω labels of N frame coordinates.
void frame_to_omega_deg(span<const double> frame, double start_deg, double step_deg, double offset,
                        span<double> omega_deg);
/// Continuous frame coordinates of N ω values.
void omega_to_frame_coord(span<const double> omega_deg, double start_deg, double step_deg, double offset,
                          span<double> frame);
/// Frame indices containing N ω values.
void omega_to_frame_index(span<const double> omega_deg, double start_deg, double step_deg,
                          span<std::int64_t> frame);
/// Wrap N angles (deg) into (−180, 180].
void wrap_deg(span<const double> a_deg, span<double> out_deg);
/// Timing correction of N spots (z_px per spot). Throws ParamError for n_z ≤ 0 or t_int + t_gap ≤ 0.
void timing_corrected_omega_deg(span<const double> omega_deg, span<const double> z_px, double n_z,
                                double step_deg, double t_int_s, double t_gap_s, span<double> out_deg);
/// wedge_apply / wedge_correct for N events; NaN where no solution; returns the number of failures.
std::int64_t wedge_apply(span<const double> eta_rad, span<const double> tth_rad, span<const double> omega_rad,
                         double wedge_rad, span<double> omega_out_rad, span<double> eta_out_rad);
std::int64_t wedge_correct(span<const double> eta_rad, span<const double> tth_rad, span<const double> omega_rad,
                           double wedge_rad, span<double> omega_out_rad, span<double> eta_out_rad);

}  // namespace midas::geometry
