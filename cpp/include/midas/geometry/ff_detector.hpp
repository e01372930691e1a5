// midas/geometry/ff_detector.hpp — the far-field detector model: pixel <-> ideal (R, η) on the
// untilted plane at Lsd, with tilts, the p0..p14 radial distortion and optional parallax.
//
// Frames, signs and units are defined once in docs/conventions.md ("FF detector"); this header
// implements exactly that text (upstream MIDAS DetectorGeometry.c, restated in
// upstream_facts.md §2.3):
//
//   Yc = -(Y - bc_y)·px_y,  Zc = (Z - bc_z)·px_z            (Y = column, Z = row, centres at integers)
//   (X', Y', Z') = T·(0, Yc, Zc),  T = Rx(tx)·Ry(ty)·Rz(tz)
//   (u, v) = Lsd/(Lsd + X')·(Y', Z')                          (point projected on the plane at Lsd)
//   R = |(u, v)|,  η = atan2(-u, v) ∈ (-π, π]
//   R_corr = R·D(R/RhoD, η) + parallax·sin(atan(R/Lsd))
//   (y, z)_ideal = (-R_corr sin η, R_corr cos η) = g·(u, v),  g = R_corr/R,  2θ = atan(R_corr/Lsd)
//
// Multi-panel detectors (upstream §2.3 step 6, docs/conventions.md "Detector panels"): a pixel of
// panel k is first moved rigidly, (Y, Z) -> c_k + Rot(dθ_k)·((Y, Z) − c_k) + (dY_k, dZ_k), then goes
// through the model above with Lsd + dLsd_k in the projection (u, v) = Lsd/(Lsd + dLsd_k + X')·(Y', Z')
// and p2 + dP2_k in D. A pixel belongs to the panel whose inclusive pixel-index bounds contain
// (⌊Y + ½⌋, ⌊Z + ½⌋); pixels in gaps belong to no panel and are not moved.
//
// Per-point functions are MIDAS_HD (CUDA reuses them) and report failure through a bool; the
// host-only make_ff_model validates a detector and throws midas::GeometryError. Batched OpenMP
// versions over spans live in cpp/src/geometry_ff.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"
#include "midas/geometry/angles.hpp"

namespace midas::geometry {

/// Number of distortion coefficients p0..p14.
inline constexpr int n_distortion_coefficients = 15;
/// Number of terms of the distortion polynomial (1 + 9 terms, see distortion_poly).
inline constexpr int n_distortion_terms = 9;

/// One panel (module) of a multi-panel detector and its rigid correction, kernel units.
///
/// Bounds are inclusive pixel indices of the frame after ImTransOpt; the rotation dθ about the
/// panel centre is given by its cosine and sine (dθ > 0 turns +Y toward +Z).
struct FFPanel {
    double y_min_px = 0.0;
    double y_max_px = -1.0;
    double z_min_px = 0.0;
    double z_max_px = -1.0;
    double centre_y_px = 0.0;   ///< (y_min + y_max)/2
    double centre_z_px = 0.0;   ///< (z_min + z_max)/2
    double d_y_px = 0.0;        ///< shift along Y (columns)
    double d_z_px = 0.0;        ///< shift along Z (rows)
    double cos_theta = 1.0;     ///< cos dθ
    double sin_theta = 0.0;     ///< sin dθ
    double d_lsd_um = 0.0;      ///< panel distance offset dLsd
    double d_p2 = 0.0;          ///< panel offset of the isotropic ρ² coefficient p2
};

/// Far-field detector in kernel units (µm, px, rad).
///
/// `p` holds p0..p14 exactly as in a MIDAS parameter file: the phases p3, p6, p8, p10, p12, p14
/// are in DEGREES (the coefficients multiply powers of ρ = R/rho_d_um and are dimensionless).
struct FFDetector {
    double lsd_um = 0.0;       ///< sample-to-detector distance (> 0)
    double bc_y_px = 0.0;      ///< beam centre, column coordinate
    double bc_z_px = 0.0;      ///< beam centre, row coordinate
    double px_y_um = 0.0;      ///< pixel pitch along Y (> 0)
    double px_z_um = 0.0;      ///< pixel pitch along Z (> 0)
    double tx_rad = 0.0;       ///< tilt about lab x (beam)
    double ty_rad = 0.0;       ///< tilt about lab y
    double tz_rad = 0.0;       ///< tilt about lab z
    double p[n_distortion_coefficients] = {};  ///< p0..p14 (phases in degrees)
    double rho_d_um = 0.0;     ///< distortion normalising radius RhoD (> 0)
    double parallax_um = 0.0;  ///< sensor parallax: R_corr += parallax·sin 2θ_uncorrected
    /// Panels, n_panels_y·n_panels_z of them in upstream order id = iy·n_panels_z + iz (panel
    /// columns iy along Y, rows iz along Z); empty for a single-plane detector.
    std::vector<FFPanel> panels;
    int n_panels_y = 0;
    int n_panels_z = 0;
};

/// A validated detector with everything precomputed for the per-point functions (POD; copy it
/// to the GPU as is). Build it with make_ff_model.
struct FFModel {
    double t[9];  ///< tilt matrix T = Rx(tx)·Ry(ty)·Rz(tz), row-major
    double lsd_um;
    double bc_y_px, bc_z_px;
    double px_y_um, px_z_um;
    double inv_rho_d;  ///< 1/RhoD (1/µm)
    double parallax_um;
    /// Distortion terms D = 1 + Σ_k coef[k]·ρ^power[k]·cos(fold[k]·η' + φ_k), η' = π/2 − η,
    /// with cos φ_k, sin φ_k stored (φ_k = 0 for the isotropic terms, fold 0).
    double coef[n_distortion_terms];
    double cos_phase[n_distortion_terms];
    double sin_phase[n_distortion_terms];
    int power[n_distortion_terms];
    int fold[n_distortion_terms];
    /// Panel table (not owned: it points into the FFDetector the model was made from, which
    /// must outlive it; on a GPU, a device copy). Null for a single-plane detector.
    const FFPanel* panels;
    int n_panels_y;
    int n_panels_z;
};

/// Check a detector and precompute its model. Throws midas::GeometryError naming the field and
/// value when lsd_um, the pixel pitches or rho_d_um are not finite and > 0, any other field is
/// not finite, or the panels are not a grid of disjoint, ordered rectangles (n_panels_y·n_panels_z
/// of them). The model keeps a pointer to det.panels: det must outlive it.
[[nodiscard]] FFModel make_ff_model(const FFDetector& det);

/// Pixel position (fractional pixel coordinates, centres at integers).
struct PixelPoint {
    double y_px;
    double z_px;
};

/// Ideal (corrected) coordinates of one point on the untilted plane at Lsd.
struct IdealPoint {
    double r_um;     ///< corrected radius R_corr
    double eta_rad;  ///< azimuth η = atan2(-y, z) ∈ (-π, π]; 0 at the beam centre itself
    double tth_rad;  ///< 2θ = atan(R_corr/Lsd)
    double y_um;     ///< -R_corr sin η
    double z_um;     ///< R_corr cos η
};

/// Index of the panel holding the pixel nearest to (y, z) — the panel with
/// y_min ≤ ⌊y + ½⌋ ≤ y_max and z_min ≤ ⌊z + ½⌋ ≤ z_max — or −1 (gap, outside, single plane).
MIDAS_HD inline int panel_index(const FFModel& m, double y_px, double z_px) {
    if (m.panels == nullptr) return -1;
    const double yr = std::floor(y_px + 0.5);
    const double zr = std::floor(z_px + 0.5);
    int iy = -1;
    for (int i = 0; i < m.n_panels_y; ++i) {
        const FFPanel& p = m.panels[i * m.n_panels_z];
        if (yr >= p.y_min_px && yr <= p.y_max_px) {
            iy = i;
            break;
        }
    }
    if (iy < 0) return -1;
    for (int j = 0; j < m.n_panels_z; ++j) {
        const FFPanel& p = m.panels[iy * m.n_panels_z + j];
        if (zr >= p.z_min_px && zr <= p.z_max_px) return iy * m.n_panels_z + j;
    }
    return -1;
}

/// The panel with index `k`, or null for k < 0 (no panel: the point is not moved).
MIDAS_HD inline const FFPanel* panel_at(const FFModel& m, int k) {
    return (k >= 0 && m.panels != nullptr) ? m.panels + k : nullptr;
}

/// Rigid panel correction of a pixel position: c + Rot(dθ)·((y, z) − c) + (dY, dZ); identity for null.
MIDAS_HD inline void panel_move(const FFPanel* p, double& y_px, double& z_px) {
    if (p == nullptr) return;
    if (p->sin_theta == 0.0 && p->cos_theta == 1.0) {  // no rotation: a pure shift (exactly the single plane when 0)
        y_px += p->d_y_px;
        z_px += p->d_z_px;
        return;
    }
    const double dy = y_px - p->centre_y_px;
    const double dz = z_px - p->centre_z_px;
    y_px = p->centre_y_px + p->cos_theta * dy - p->sin_theta * dz + p->d_y_px;
    z_px = p->centre_z_px + p->sin_theta * dy + p->cos_theta * dz + p->d_z_px;
}

/// Distortion polynomial D(ρ, η) and its partial derivatives ∂D/∂ρ, ∂D/∂η (η in rad).
///
/// η enters only through cos η and sin η (`cos_eta`, `sin_eta`); the multiple angles
/// cos(f·η'), sin(f·η') of η' = π/2 − η (cos η' = sin η, sin η' = cos η) come from the recurrence
/// of (cos η' + i sin η')^f, so no trigonometric function is evaluated here. With
/// `Derivs = false` the derivative outputs are left untouched.
template <bool Derivs>
MIDAS_HD inline double distortion_poly(const FFModel& m, double rho, double cos_eta, double sin_eta,
                                       double& d_drho, double& d_deta) {
    double rp[7];
    rp[0] = 1.0;
    for (int k = 1; k < 7; ++k) rp[k] = rp[k - 1] * rho;
    // cf[f] = cos(f·η'), sf[f] = sin(f·η'), f = 0..6
    double cf[7];
    double sf[7];
    cf[0] = 1.0;
    sf[0] = 0.0;
    cf[1] = sin_eta;
    sf[1] = cos_eta;
    for (int f = 2; f < 7; ++f) {
        cf[f] = cf[f - 1] * cf[1] - sf[f - 1] * sf[1];
        sf[f] = sf[f - 1] * cf[1] + cf[f - 1] * sf[1];
    }
    double d = 1.0;
    double dr = 0.0;
    double de = 0.0;
    for (int k = 0; k < n_distortion_terms; ++k) {
        const double a = m.coef[k];
        if (a == 0.0) continue;
        const int n = m.power[k];
        const int f = m.fold[k];
        const double c = cf[f] * m.cos_phase[k] - sf[f] * m.sin_phase[k];  // cos(f·η' + φ)
        d += a * rp[n] * c;
        if (Derivs) {
            const double s = sf[f] * m.cos_phase[k] + cf[f] * m.sin_phase[k];  // sin(f·η' + φ)
            dr += a * n * rp[n - 1] * c;
            de += a * f * rp[n] * s;  // d/dη cos(f(π/2 − η) + φ) = f·sin(f(π/2 − η) + φ)
        }
    }
    if (Derivs) {
        d_drho = dr;
        d_deta = de;
    }
    return d;
}

/// Radial factor g(R, η) = R_corr/R = D(R/RhoD, η) + parallax/√(Lsd² + R²), with ∂g/∂R, ∂g/∂η
/// when `Derivs` (η given by cos η, sin η).
/// `d_p2` is a panel's offset of p2 (adds d_p2·ρ²).
template <bool Derivs>
MIDAS_HD inline double radial_factor(const FFModel& m, double r_um, double cos_eta, double sin_eta, double& g_r,
                                     double& g_eta, double d_p2 = 0.0) {
    double d_drho = 0.0;
    double d_deta = 0.0;
    const double rho = r_um * m.inv_rho_d;
    double g = distortion_poly<Derivs>(m, rho, cos_eta, sin_eta, d_drho, d_deta);
    if (d_p2 != 0.0) {
        g += d_p2 * rho * rho;
        if (Derivs) d_drho += 2.0 * d_p2 * rho;
    }
    if (Derivs) {
        g_r = d_drho * m.inv_rho_d;
        g_eta = d_deta;
    }
    if (m.parallax_um != 0.0) {
        const double q = m.lsd_um * m.lsd_um + r_um * r_um;
        const double sq = std::sqrt(q);
        g += m.parallax_um / sq;
        if (Derivs) g_r -= m.parallax_um * r_um / (q * sq);
    }
    return g;
}

/// cos η and sin η of the point (u, v) (η = atan2(−u, v)); (1, 0) at the origin, like eta_from_yz.
MIDAS_HD inline void cos_sin_eta(double u, double v, double r, double& cos_eta, double& sin_eta) {
    if (r > 0.0) {
        cos_eta = v / r;
        sin_eta = -u / r;
    } else {
        cos_eta = 1.0;
        sin_eta = 0.0;
    }
}

/// The tilted pixel relative to (Lsd, 0, 0) in the lab: (X', Y', Z') = T·(0, Yc, Zc) (no panel move).
struct TiltedPixel {
    double xp_um;
    double yp_um;
    double zp_um;
};

MIDAS_HD inline TiltedPixel tilted_pixel(const FFModel& m, double y_px, double z_px) {
    const double yc = -(y_px - m.bc_y_px) * m.px_y_um;
    const double zc = (z_px - m.bc_z_px) * m.px_z_um;
    return TiltedPixel{m.t[1] * yc + m.t[2] * zc, m.t[4] * yc + m.t[5] * zc, m.t[7] * yc + m.t[8] * zc};
}

/// Pixel of panel `p` (null: none) -> (u, v): the moved, tilted pixel projected from the sample
/// onto the untilted plane at Lsd (lab y, z in µm, no distortion):
/// (u, v) = Lsd/(Lsd + dLsd + X')·(Y', Z'). False when the pixel lies behind the sample.
MIDAS_HD inline bool pixel_to_plane(const FFModel& m, const FFPanel* p, double y_px, double z_px, double& u_um,
                                    double& v_um) {
    panel_move(p, y_px, z_px);
    const TiltedPixel tp = tilted_pixel(m, y_px, z_px);
    const double w = m.lsd_um + (p != nullptr ? p->d_lsd_um : 0.0) + tp.xp_um;
    if (!(w > 0.0)) return false;
    const double s = m.lsd_um / w;
    u_um = s * tp.yp_um;
    v_um = s * tp.zp_um;
    return true;
}

/// Single-plane / automatic-panel form: the panel is looked up with panel_index.
MIDAS_HD inline bool pixel_to_plane(const FFModel& m, double y_px, double z_px, double& u_um, double& v_um) {
    return pixel_to_plane(m, panel_at(m, panel_index(m, y_px, z_px)), y_px, z_px, u_um, v_um);
}

/// Corrected polar coordinates of a pixel: (u, v) on the plane, g = R_corr/R, R_corr and η.
struct CorrectedPolar {
    double u_um;
    double v_um;
    double g;
    double r_um;  ///< R_corr
    double eta_rad;
};

/// Pixel of panel `p` (null: none) -> its tilted-plane position (u, v) in µm, its radius r and
/// the radial correction factor g (R_corr = g·r; the corrected position is (g·u, g·v)), without
/// the azimuth. False for a pixel behind the sample.
MIDAS_HD inline bool pixel_to_corrected_plane(const FFModel& m, const FFPanel* p, double y_px, double z_px, double& u,
                                              double& v, double& r, double& g) {
    if (!pixel_to_plane(m, p, y_px, z_px, u, v)) return false;
    r = std::sqrt(u * u + v * v);
    double ce = 1.0;
    double se = 0.0;
    cos_sin_eta(u, v, r, ce, se);
    double unused_r = 0.0;
    double unused_e = 0.0;
    g = radial_factor<false>(m, r, ce, se, unused_r, unused_e, p != nullptr ? p->d_p2 : 0.0);
    return true;
}

/// Pixel of panel `p` (null: none) -> (R_corr, η) (§5 of docs/conventions.md). False for a pixel
/// behind the sample.
MIDAS_HD inline bool pixel_to_corrected_polar(const FFModel& m, const FFPanel* p, double y_px, double z_px,
                                              CorrectedPolar& out) {
    double u = 0.0;
    double v = 0.0;
    double r = 0.0;
    double g = 1.0;
    if (!pixel_to_corrected_plane(m, p, y_px, z_px, u, v, r, g)) return false;
    out.u_um = u;
    out.v_um = v;
    out.g = g;
    out.r_um = r * g;
    out.eta_rad = eta_from_yz(u, v);
    return true;
}

/// Automatic-panel form of pixel_to_corrected_polar.
MIDAS_HD inline bool pixel_to_corrected_polar(const FFModel& m, double y_px, double z_px, CorrectedPolar& out) {
    return pixel_to_corrected_polar(m, panel_at(m, panel_index(m, y_px, z_px)), y_px, z_px, out);
}

/// Pixel -> ideal coordinates with the correction of panel index `panel` (−1: none; used for
/// pixel corners, which take their pixel's panel). False (and `out` untouched) when the pixel
/// lies behind the sample.
MIDAS_HD inline bool pixel_to_ideal_in_panel(const FFModel& m, int panel, double y_px, double z_px,
                                             IdealPoint& out) {
    CorrectedPolar cp{};
    if (!pixel_to_corrected_polar(m, panel_at(m, panel), y_px, z_px, cp)) return false;
    out.r_um = cp.r_um;
    out.eta_rad = cp.eta_rad;
    out.tth_rad = std::atan(cp.r_um / m.lsd_um);
    out.y_um = cp.g * cp.u_um;
    out.z_um = cp.g * cp.v_um;
    return true;
}

/// Pixel -> ideal coordinates (the full model of the file header; the panel is the one holding
/// the nearest pixel, panel_index). False (and `out` untouched) when the pixel lies behind the
/// sample.
MIDAS_HD inline bool pixel_to_ideal(const FFModel& m, double y_px, double z_px, IdealPoint& out) {
    return pixel_to_ideal_in_panel(m, panel_index(m, y_px, z_px), y_px, z_px, out);
}

/// Ideal (y, z) of a pixel of panel `p` (null: none) and the analytic Jacobian
/// J = ∂(y, z)/∂(Y, Z) (µm/px, row-major [[∂y/∂Y, ∂y/∂Z], [∂z/∂Y, ∂z/∂Z]]) within that panel.
/// False when the pixel lies behind the sample.
///
/// Chain: (Y, Z) -> panel move -> (Yc, Zc) -> (X', Y', Z') -> (u, v) -> (y, z) = g(R, η)·(u, v), with
/// ∂u/∂q = s·∂Y'/∂q − u·∂X'/∂q/(Lsd + dLsd + X'), ∂R/∂u = u/R, ∂η/∂u = −v/R², ∂η/∂v = u/R².
MIDAS_HD inline bool ideal_yz_jacobian(const FFModel& m, const FFPanel* p, double y_px, double z_px, double f[2],
                                       double jac[4]) {
    panel_move(p, y_px, z_px);
    const TiltedPixel tp = tilted_pixel(m, y_px, z_px);
    const double w = m.lsd_um + (p != nullptr ? p->d_lsd_um : 0.0) + tp.xp_um;
    if (!(w > 0.0)) return false;
    const double s = m.lsd_um / w;
    const double u = s * tp.yp_um;
    const double v = s * tp.zp_um;
    // d(X', Y', Z')/dY' = -px_y·T[:,1], d/dZ' = px_z·T[:,2]; (Y', Z') = moved pixel,
    // d(Y', Z')/d(Y, Z) = Rot(dθ) = [[c, −s], [s, c]]
    const double ct = p != nullptr ? p->cos_theta : 1.0;
    const double st = p != nullptr ? p->sin_theta : 0.0;
    const double ay = -m.px_y_um;
    const double az = m.px_z_um;
    const double xq[2] = {ay * m.t[1] * ct + az * m.t[2] * st, -ay * m.t[1] * st + az * m.t[2] * ct};
    const double yq[2] = {ay * m.t[4] * ct + az * m.t[5] * st, -ay * m.t[4] * st + az * m.t[5] * ct};
    const double zq[2] = {ay * m.t[7] * ct + az * m.t[8] * st, -ay * m.t[7] * st + az * m.t[8] * ct};
    double du[2];
    double dv[2];
    for (int q = 0; q < 2; ++q) {
        du[q] = s * yq[q] - u * xq[q] / w;
        dv[q] = s * zq[q] - v * xq[q] / w;
    }
    const double r2 = u * u + v * v;
    const double r = std::sqrt(r2);
    double ce = 1.0;
    double se = 0.0;
    cos_sin_eta(u, v, r, ce, se);
    double g_r = 0.0;
    double g_eta = 0.0;
    const double g = radial_factor<true>(m, r, ce, se, g_r, g_eta, p != nullptr ? p->d_p2 : 0.0);
    double gu = 0.0;
    double gv = 0.0;
    if (r > 0.0) {
        gu = g_r * u / r - g_eta * v / r2;
        gv = g_r * v / r + g_eta * u / r2;
    }
    const double a00 = g + u * gu;  // ∂y/∂u
    const double a01 = u * gv;      // ∂y/∂v
    const double a10 = v * gu;      // ∂z/∂u
    const double a11 = g + v * gv;  // ∂z/∂v
    f[0] = g * u;
    f[1] = g * v;
    jac[0] = a00 * du[0] + a01 * dv[0];
    jac[1] = a00 * du[1] + a01 * dv[1];
    jac[2] = a10 * du[0] + a11 * dv[0];
    jac[3] = a10 * du[1] + a11 * dv[1];
    return true;
}

/// Automatic-panel form of ideal_yz_jacobian (the panel of the nearest pixel).
MIDAS_HD inline bool ideal_yz_jacobian(const FFModel& m, double y_px, double z_px, double f[2], double jac[4]) {
    return ideal_yz_jacobian(m, panel_at(m, panel_index(m, y_px, z_px)), y_px, z_px, f, jac);
}

/// Newton settings of the inverse; the defaults give ≤ 1e-9 px on any realistic detector.
struct InverseOptions {
    int max_iterations = 50;
    double step_tol_px = 1e-10;  ///< converged when the last accepted step is below this (both axes)
};

/// Ideal (y, z) µm -> pixel (Y, Z) of the model of panel `p` (null: none) by damped Newton with
/// the analytic Jacobian, starting from (y0_px, z0_px). False when no solution is found (singular
/// Jacobian, the iterate leaves the half-space in front of the sample, or no convergence);
/// outputs are untouched then.
MIDAS_HD inline bool ideal_to_pixel_in_panel(const FFModel& m, const FFPanel* p, double y_um, double z_um,
                                             double y0_px, double z0_px, double& y_px, double& z_px,
                                             const InverseOptions& opt) {
    double yy = y0_px;
    double zz = z0_px;
    double f[2];
    double jac[4];
    if (!ideal_yz_jacobian(m, p, yy, zz, f, jac)) return false;
    double ry = y_um - f[0];
    double rz = z_um - f[1];
    double norm = std::fabs(ry) + std::fabs(rz);
    // residual floor: 100× the rounding noise of (y, z) ~ 1e-16·|y|, far below 1e-10 px
    const double floor_um = 1e-14 * (std::fabs(y_um) + std::fabs(z_um) + m.px_y_um);
    for (int it = 0; it < opt.max_iterations; ++it) {
        if (norm <= floor_um) {
            y_px = yy;
            z_px = zz;
            return true;
        }
        const double det = jac[0] * jac[3] - jac[1] * jac[2];
        if (!(std::fabs(det) > 0.0) || !std::isfinite(det)) return false;
        const double sy = (jac[3] * ry - jac[1] * rz) / det;
        const double sz = (-jac[2] * ry + jac[0] * rz) / det;
        // Backtrack when a full step makes the residual worse (only at extreme distortions).
        double lam = 1.0;
        double ny = yy;
        double nz = zz;
        double nf[2];
        double nj[4];
        double nry = 0.0;
        double nrz = 0.0;
        double nnorm = 0.0;
        bool ok = false;
        for (int bt = 0; bt < 30; ++bt) {
            ny = yy + lam * sy;
            nz = zz + lam * sz;
            if (ideal_yz_jacobian(m, p, ny, nz, nf, nj)) {
                nry = y_um - nf[0];
                nrz = z_um - nf[1];
                nnorm = std::fabs(nry) + std::fabs(nrz);
                if (nnorm <= norm || nnorm <= floor_um) {
                    ok = true;
                    break;
                }
            }
            lam *= 0.5;
        }
        if (!ok) {
            // No decrease along the Newton direction: accept only if we are at rounding level.
            if (std::fabs(sy) < opt.step_tol_px && std::fabs(sz) < opt.step_tol_px) {
                y_px = yy;
                z_px = zz;
                return true;
            }
            return false;
        }
        yy = ny;
        zz = nz;
        ry = nry;
        rz = nrz;
        norm = nnorm;
        for (int k = 0; k < 4; ++k) jac[k] = nj[k];
        if (std::fabs(lam * sy) < opt.step_tol_px && std::fabs(lam * sz) < opt.step_tol_px) {
            y_px = yy;
            z_px = zz;
            return true;
        }
    }
    return false;
}

/// Ideal (y, z) µm -> pixel (Y, Z), the exact inverse of pixel_to_ideal. Single plane: damped
/// Newton from the flat-detector guess Y = bc_y − y/px_y, Z = bc_z + z/px_z. With panels, that
/// single-plane solution (Y0, Z0) proposes candidate panels — the panel of (Y0, Z0), then those of
/// the points (Y0 ± δ, Z0 ± δ), δ = panel_search_px — and the first candidate whose own model has
/// a solution inside that panel wins; with none, (Y0, Z0) is the answer when it lies in a gap
/// (pixels outside every panel are not moved). False when no consistent solution exists (the point
/// falls where panels were moved apart); outputs are untouched then.
MIDAS_HD inline bool ideal_to_pixel(const FFModel& m, double y_um, double z_um, double& y_px, double& z_px,
                                    const InverseOptions& opt = InverseOptions{}) {
    double yy = 0.0;
    double zz = 0.0;
    if (!ideal_to_pixel_in_panel(m, nullptr, y_um, z_um, m.bc_y_px - y_um / m.px_y_um,
                                 m.bc_z_px + z_um / m.px_z_um, yy, zz, opt))
        return false;
    if (m.panels == nullptr) {
        y_px = yy;
        z_px = zz;
        return true;
    }
    constexpr double panel_search_px = 3.0;
    const double off[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, -1}, {-1, 1}, {1, 1}};
    int tried[9];
    int n_tried = 0;
    for (int c = 0; c < 9; ++c) {
        const int k = panel_index(m, yy + panel_search_px * off[c][0], zz + panel_search_px * off[c][1]);
        bool seen = k < 0;
        for (int t = 0; t < n_tried && !seen; ++t) seen = tried[t] == k;
        if (seen) continue;
        tried[n_tried++] = k;
        double py = 0.0;
        double pz = 0.0;
        if (ideal_to_pixel_in_panel(m, panel_at(m, k), y_um, z_um, yy, zz, py, pz, opt) &&
            panel_index(m, py, pz) == k) {
            y_px = py;
            z_px = pz;
            return true;
        }
    }
    if (panel_index(m, yy, zz) < 0) {
        y_px = yy;
        z_px = zz;
        return true;
    }
    return false;
}

/// Host convenience: the inverse as std::optional (nullopt where no solution exists).
[[nodiscard]] inline std::optional<PixelPoint> try_ideal_to_pixel(const FFModel& m, double y_um, double z_um) {
    PixelPoint p{0.0, 0.0};
    if (!ideal_to_pixel(m, y_um, z_um, p.y_px, p.z_px)) return std::nullopt;
    return p;
}

/// Host convenience: pixel -> ideal as std::optional (nullopt for a pixel behind the sample).
[[nodiscard]] inline std::optional<IdealPoint> try_pixel_to_ideal(const FFModel& m, double y_px, double z_px) {
    IdealPoint p{};
    if (!pixel_to_ideal(m, y_px, z_px, p)) return std::nullopt;
    return p;
}

// ---- batched OpenMP kernels (cpp/src/geometry_ff.cpp) -------------------------------------------
// All spans of one call have the same length N (midas::ParamError otherwise). Each element is
// computed independently, so results do not depend on the thread count. Points without a
// solution get NaN in every output.

/// Pixel -> ideal for N points.
void pixel_to_ideal(const FFDetector& det, span<const double> y_px, span<const double> z_px, span<double> r_um,
                    span<double> eta_rad, span<double> tth_rad, span<double> y_um, span<double> z_um);

/// (R_corr, η) of every pixel centre of an n_y × n_z detector; outputs are row-major (n_z, n_y):
/// element [z·n_y + y] belongs to pixel (Y = y, Z = z).
void pixel_grid_to_ideal(const FFDetector& det, std::int64_t n_y, std::int64_t n_z, span<double> r_um,
                         span<double> eta_rad);

/// Ideal (y, z) -> pixel for N points; returns how many had no solution (NaN there).
std::int64_t ideal_to_pixel(const FFDetector& det, span<const double> y_um, span<const double> z_um,
                            span<double> y_px, span<double> z_px);

/// Analytic Jacobian ∂(y, z)/∂(Y, Z) at N pixels; `jac` has 4·N entries (row-major 2×2 each).
void ideal_jacobian(const FFDetector& det, span<const double> y_px, span<const double> z_px, span<double> jac);

}  // namespace midas::geometry
