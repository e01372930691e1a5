// midas/ff/refine_model.hpp — one FF spot as a differentiable function of the grain parameters,
// shared by the indexer (values) and the refinement (values + analytic Jacobian).
//
// The values are those of the forward model (midas/forward/ff_spots.hpp: bragg_omegas,
// eta_rad, displace_spot; upstream_facts.md §2.7), without the wedge: the observed ω that
// indexing and refinement read is already wedge-corrected (FitSetup, §3.7), so the model ω is
// the Bragg angle itself. Frames: docs/conventions.md ("FF forward model").
//
// For a scattering vector G (sample frame, 1/Å), the selected Bragg solution ω, and a grain at
// pos (sample frame, µm):
//   G_lab = Rz(ω)·G, (y0, z0) = Lsd·tan2θ·(G_lab,y, G_lab,z)/|(G_lab,y, G_lab,z)|
//   (equivalently Lsd·(G_lab,y, G_lab,z)/(1/λ − λ|G|²/2) on the Bragg condition),
//   P = Rz(ω)·pos, (y, z) = displace_spot(P, y0, z0).
// The Jacobian follows from the implicit Bragg condition f(ω, G) = −Gx cos ω + Gy sin ω −
// λ|G|²/2 = 0: dω/dG = −∇_G f / (∂f/∂ω), ∂f/∂ω = G_lab,y.
#pragma once

#include <cmath>

#include "midas/core/hd.hpp"
#include "midas/crystal/orientation.hpp"
#include "midas/forward/ff_spots.hpp"
#include "midas/geometry/angles.hpp"

namespace midas::ff {

constexpr double refine_rad_to_deg = 180.0 / M_PI;

/// One predicted spot and, optionally, its derivatives.
struct SpotModel {
    double y_um = 0.0, z_um = 0.0;   ///< displaced spot on the ideal plane at Lsd
    double omega_deg = 0.0;          ///< Bragg ω (wedge-free), (-180, 180]
    double eta_deg = 0.0;            ///< azimuth of the ideal spot
    double tth_deg = 0.0;            ///< 2θ
    double y0_um = 0.0, z0_um = 0.0; ///< ideal spot (grain at the origin)
    double d_dg[3][3] = {};          ///< ∂(y, z, ω_deg)/∂G (rows y, z, ω)
    double d_dpos[3][3] = {};        ///< ∂(y, z, ω_deg)/∂pos
};

/// The spot of G at the Bragg solution with (cos ω, sin ω) = (c, s) (from bragg_cos_sin or
/// bragg_omegas). Returns false when the geometry is degenerate (G_lab,y = 0 with a Jacobian: the
/// spot sits on the pole, where ω is not a smooth function of G; or no diffraction). Angles η and
/// 2θ (degrees) are filled only with want_angles (they cost two trigonometric calls).
MIDAS_HD inline bool spot_model_cs(const double g[3], const double pos_um[3], double c, double s, double wavelength_A,
                                   double lsd_um, Displacement form, bool want_jacobian, bool want_angles,
                                   SpotModel* out) {
    const double g2 = g[0] * g[0] + g[1] * g[1] + g[2] * g[2];
    const double lam = wavelength_A;
    const double dn = 1.0 / lam - 0.5 * lam * g2;  // (1/λ + G_lab,x) on the Bragg condition
    if (!(dn > 0.0) || !(0.25 * lam * lam * g2 < 1.0)) return false;
    const double glx = g[0] * c - g[1] * s;
    const double gly = g[0] * s + g[1] * c;
    const double glz = g[2];
    if (!(gly * gly + glz * glz > 0.0)) return false;
    // ideal spot: the diffracted direction (1/λ + G_lab,x, G_lab,y, G_lab,z) met at x = Lsd; equal to
    // Lsd·tan 2θ·(−sin η, cos η) of the forward model (ff_spots.hpp) on the Bragg condition
    const double y0 = lsd_um * gly / dn, z0 = lsd_um * glz / dn;
    const double p_lab[3] = {pos_um[0] * c - pos_um[1] * s, pos_um[0] * s + pos_um[1] * c, pos_um[2]};
    double y = 0.0, z = 0.0;
    displace_spot(form, p_lab, lsd_um, y0, z0, &y, &z);
    out->y_um = y;
    out->z_um = z;
    out->y0_um = y0;
    out->z0_um = z0;
    if (want_angles) {
        out->omega_deg = std::atan2(s, c) * refine_rad_to_deg;
        // eta_from_yz works on lab (y, z): η = atan2(-y, z) of the ideal spot, whose direction is (gly, glz)
        out->eta_deg = geometry::eta_from_yz(gly, glz) * refine_rad_to_deg;
        out->tth_deg = 2.0 * std::asin(0.5 * lam * std::sqrt(g2)) * refine_rad_to_deg;
    }
    if (!want_jacobian) return true;
    if (std::fabs(gly) < 1e-300) return false;

    // dω/dG from the implicit Bragg condition
    const double grad_f[3] = {-c - lam * g[0], s - lam * g[1], -lam * g[2]};
    double dw[3];
    for (int k = 0; k < 3; ++k) dw[k] = -grad_f[k] / gly;
    // y0 = Lsd·gly/Dn, z0 = Lsd·glz/Dn, Dn = 1/λ − λ|G|²/2
    double dy0[3], dz0[3];
    for (int k = 0; k < 3; ++k) {
        const double dgly = (k == 0 ? s : (k == 1 ? c : 0.0)) + glx * dw[k];
        const double dglz = (k == 2 ? 1.0 : 0.0);
        const double ddn = -lam * g[k];
        dy0[k] = lsd_um * (dgly * dn - gly * ddn) / (dn * dn);
        dz0[k] = lsd_um * (dglz * dn - glz * ddn) / (dn * dn);
    }
    // partials of the displacement (y, z) = D(y0, z0, P)
    double dy_dy0, dz_dz0, dy_dp[3], dz_dp[3];
    if (form == Displacement::parallel) {
        dy_dy0 = 1.0 - p_lab[0] / lsd_um;
        dz_dz0 = dy_dy0;
        dy_dp[0] = -y0 / lsd_um;
        dy_dp[1] = 1.0;
        dy_dp[2] = 0.0;
        dz_dp[0] = -z0 / lsd_um;
        dz_dp[1] = 0.0;
        dz_dp[2] = 1.0;
    } else {
        const double q = lsd_um - p_lab[0];
        dy_dy0 = 1.0 - p_lab[0] / q;
        dz_dz0 = dy_dy0;
        dy_dp[0] = -(y0 - p_lab[1]) * lsd_um / (q * q);
        dy_dp[1] = 1.0 + p_lab[0] / q;
        dy_dp[2] = 0.0;
        dz_dp[0] = -(z0 - p_lab[2]) * lsd_um / (q * q);
        dz_dp[1] = 0.0;
        dz_dp[2] = 1.0 + p_lab[0] / q;
    }
    // dP/dω = (−Py, Px, 0); dP/dpos = Rz(ω)
    const double dpx_dw = -p_lab[1], dpy_dw = p_lab[0];
    const double dy_dw = dy_dp[0] * dpx_dw + dy_dp[1] * dpy_dw;
    const double dz_dw = dz_dp[0] * dpx_dw + dz_dp[1] * dpy_dw;
    for (int k = 0; k < 3; ++k) {
        out->d_dg[0][k] = dy_dy0 * dy0[k] + dy_dw * dw[k];
        out->d_dg[1][k] = dz_dz0 * dz0[k] + dz_dw * dw[k];
        out->d_dg[2][k] = refine_rad_to_deg * dw[k];
    }
    const double rz[3][3] = {{c, -s, 0.0}, {s, c, 0.0}, {0.0, 0.0, 1.0}};
    for (int k = 0; k < 3; ++k) {
        out->d_dpos[0][k] = dy_dp[0] * rz[0][k] + dy_dp[1] * rz[1][k] + dy_dp[2] * rz[2][k];
        out->d_dpos[1][k] = dz_dp[0] * rz[0][k] + dz_dp[1] * rz[1][k] + dz_dp[2] * rz[2][k];
        out->d_dpos[2][k] = 0.0;
    }
    return true;
}

/// spot_model_cs at ω = omega_rad, with η and 2θ.
MIDAS_HD inline bool spot_model(const double g[3], const double pos_um[3], double omega_rad, double wavelength_A,
                                double lsd_um, Displacement form, bool want_jacobian, SpotModel* out) {
    return spot_model_cs(g, pos_um, std::cos(omega_rad), std::sin(omega_rad), wavelength_A, lsd_um, form,
                         want_jacobian, true, out);
}

/// The two Bragg solutions of G as (cos ω, sin ω) pairs, without trigonometric calls: with
/// ρ² = Gx² + Gy², v = |G| sin θ and t = ±√(ρ² − v²), (cos ω, sin ω) = (−Gx·v + Gy·t, Gy·v + Gx·t)/ρ²
/// solves −Gx cos ω + Gy sin ω = v (the condition of bragg_omegas, forward/ff_spots.hpp).
/// Returns the number of solutions (0 or 2); the order is not upstream's.
MIDAS_HD inline int bragg_cos_sin(double gx, double gy, double v, double cs[2][2]) {
    const double rho2 = gx * gx + gy * gy;
    const double disc = rho2 - v * v;
    if (!(rho2 > 0.0) || disc < 0.0) return 0;
    const double t = std::sqrt(disc);
    for (int k = 0; k < 2; ++k) {
        const double tk = k == 0 ? t : -t;
        cs[k][0] = (-gx * v + gy * tk) / rho2;
        cs[k][1] = (gy * v + gx * tk) / rho2;
    }
    return 2;
}

/// The Bragg solution of G nearest an observed ω given as (cos, sin) = (c_obs, s_obs): the one
/// with the larger cos(ω − ω_obs). Writes its (cos ω, sin ω); false when G does not diffract.
MIDAS_HD inline bool closest_bragg_cs(const double g[3], double wavelength_A, double c_obs, double s_obs, double* c,
                                      double* s) {
    const double v = 0.5 * wavelength_A * (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
    double cs[2][2];
    if (bragg_cos_sin(g[0], g[1], v, cs) == 0) return false;
    const double d0 = cs[0][0] * c_obs + cs[0][1] * s_obs, d1 = cs[1][0] * c_obs + cs[1][1] * s_obs;
    const int k = d0 >= d1 ? 0 : 1;
    *c = cs[k][0];
    *s = cs[k][1];
    return true;
}

/// y = M·x for a row-major 3×3 matrix.
MIDAS_HD inline void mat3_vec(const double* m, const double* x, double* y) {
    for (int i = 0; i < 3; ++i) y[i] = m[3 * i] * x[0] + m[3 * i + 1] * x[1] + m[3 * i + 2] * x[2];
}

/// C = A·B for row-major 3×3 matrices (C may not alias A or B).
MIDAS_HD inline void mat3_mul(const double* a, const double* b, double* c) {
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            c[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
}

/// Rotation matrix (row-major) of angle_rad about the unit axis, through the crystal module's
/// quaternion conversion.
MIDAS_HD inline void axis_angle_matrix(const double axis[3], double angle_rad, double* m) {
    const double h = 0.5 * angle_rad, sh = std::sin(h);
    const crystallography::Quat q{std::cos(h), axis[0] * sh, axis[1] * sh, axis[2] * sh};
    crystallography::matrix_from_quat(q, m);
}

/// Small rotation from a rotation vector w (rad, sample frame): Rot(|w|, w/|w|); identity at 0.
MIDAS_HD inline void rotvec_matrix(const double w[3], double* m) {
    const double t = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    if (t == 0.0) {
        for (int i = 0; i < 9; ++i) m[i] = (i % 4 == 0) ? 1.0 : 0.0;
        return;
    }
    const double axis[3] = {w[0] / t, w[1] / t, w[2] / t};
    axis_angle_matrix(axis, t, m);
}

/// Lattice parameters (a, b, c Å; α, β, γ deg) of an upper-triangular reciprocal basis B
/// (columns a*, b*, c*; upstream_facts.md §2.6): the direct metric is (BᵀB)⁻¹.
MIDAS_HD inline bool lattice_from_b(const double* b, double lattice[6]) {
    double gs[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            gs[3 * i + j] = b[i] * b[j] + b[3 + i] * b[3 + j] + b[6 + i] * b[6 + j];
    const double det = gs[0] * (gs[4] * gs[8] - gs[5] * gs[7]) - gs[1] * (gs[3] * gs[8] - gs[5] * gs[6]) +
                       gs[2] * (gs[3] * gs[7] - gs[4] * gs[6]);
    if (!(std::fabs(det) > 0.0)) return false;
    const double g11 = (gs[4] * gs[8] - gs[5] * gs[7]) / det;
    const double g22 = (gs[0] * gs[8] - gs[2] * gs[6]) / det;
    const double g33 = (gs[0] * gs[4] - gs[1] * gs[3]) / det;
    const double g12 = -(gs[1] * gs[8] - gs[2] * gs[7]) / det;
    const double g13 = (gs[1] * gs[5] - gs[2] * gs[4]) / det;
    const double g23 = -(gs[0] * gs[5] - gs[2] * gs[3]) / det;
    if (!(g11 > 0.0 && g22 > 0.0 && g33 > 0.0)) return false;
    const double a = std::sqrt(g11), bb = std::sqrt(g22), cc = std::sqrt(g33);
    lattice[0] = a;
    lattice[1] = bb;
    lattice[2] = cc;
    lattice[3] = std::acos(g23 / (bb * cc)) * refine_rad_to_deg;
    lattice[4] = std::acos(g13 / (a * cc)) * refine_rad_to_deg;
    lattice[5] = std::acos(g12 / (a * bb)) * refine_rad_to_deg;
    return true;
}

/// Unit scattering vector (sample frame) and 2θ (rad) of an observed spot (y, z) µm on the plane
/// at Lsd, seen at omega_deg from a grain at pos_um (sample frame): the diffracted ray runs from
/// P = Rz(ω)·pos to (Lsd, y, z), so k̂ = unit(Lsd − Px, y − Py, z − Pz), ĝ_lab = unit(k̂ − x̂),
/// ĝ = Rz(−ω)·ĝ_lab.
MIDAS_HD inline void observed_g(double y_um, double z_um, double omega_deg, const double pos_um[3], double lsd_um,
                                double g_unit[3], double* tth_rad) {
    const double w = omega_deg / refine_rad_to_deg;
    const double c = std::cos(w), s = std::sin(w);
    const double px = pos_um[0] * c - pos_um[1] * s, py = pos_um[0] * s + pos_um[1] * c, pz = pos_um[2];
    double k[3] = {lsd_um - px, y_um - py, z_um - pz};
    const double kn = std::sqrt(k[0] * k[0] + k[1] * k[1] + k[2] * k[2]);
    for (double& v : k) v /= kn;
    *tth_rad = std::acos(k[0] > 1.0 ? 1.0 : k[0]);
    double gl[3] = {k[0] - 1.0, k[1], k[2]};
    const double gn = std::sqrt(gl[0] * gl[0] + gl[1] * gl[1] + gl[2] * gl[2]);
    if (gn > 0.0)
        for (double& v : gl) v /= gn;
    g_unit[0] = gl[0] * c + gl[1] * s;
    g_unit[1] = -gl[0] * s + gl[1] * c;
    g_unit[2] = gl[2];
}

}  // namespace midas::ff
