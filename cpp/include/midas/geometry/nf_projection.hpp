// midas/geometry/nf_projection.hpp — near-field projection of a point on the ideal plane onto a
// tilted NF detector, and the grain-position displacement of a diffracted ray.
//
// NF has its OWN convention (docs/conventions.md "NF detector"; upstream NF_HEDM
// CalcDiffractionSpots.c / SharedFuncsFit.c, upstream_facts.md §2.8), not interchangeable with
// the FF one:
//
//   T_NF = Rz(tz)·Ry(ty)·Rx(tx)                 (reverse order of FF's Rx·Ry·Rz)
//   P0 = T_NF·(−Lsd, 0, 0),  P1 = T_NF·(0, y, z),  out = P0 − (P1 − P0)·P0x/(P1x − P0x)
//   Y = bc_y + out_y/px,  Z = bc_z + out_z/px    (NO mirror of y, unlike FF)
//
// No distortion. Every distance has its own Lsd and beam centre; the tilts are shared.
//
// Displacement of a diffracted ray by the position of the scattering point (per triangle vertex):
//   (xa, ya, za) = Rz(ω)·(x, y, z),  t = (Lsd_out − xa)/Lsd_ref,
//   y_out = ya + y0·t,  z_out = za + z0·t
// where (y0, z0) is the ideal spot at distance Lsd_ref (the ray is parallel to (Lsd_ref, y0, z0)).
// With Lsd_out = Lsd_ref and z = 0 this is upstream's t = 1 − xa/Lsd0, y = ya + y0·t, z = z0·t.
#pragma once

#include <cmath>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"

namespace midas::geometry {

/// One NF detector distance, validated, with its tilt matrix and P0 precomputed (POD).
struct NFProjector {
    double t[9];  ///< T_NF = Rz(tz)·Ry(ty)·Rx(tx), row-major
    double p0[3];  ///< T_NF·(−Lsd, 0, 0)
    double lsd_um;
    double bc_y_px;
    double bc_z_px;
    double px_um;
};

/// Build the projector of one distance. Throws midas::GeometryError when lsd_um or px_um is not
/// finite and > 0, or any other value is not finite.
[[nodiscard]] NFProjector make_nf_projector(double lsd_um, double bc_y_px, double bc_z_px, double px_um,
                                            double tx_rad, double ty_rad, double tz_rad);

/// Project the point (y, z) µm of the untilted plane at Lsd to detector pixels (Y, Z). False when
/// the line is parallel to the detector (no intersection).
MIDAS_HD inline bool nf_project(const NFProjector& p, double y_um, double z_um, double& y_px, double& z_px) {
    const double p1x = p.t[1] * y_um + p.t[2] * z_um;
    const double p1y = p.t[4] * y_um + p.t[5] * z_um;
    const double p1z = p.t[7] * y_um + p.t[8] * z_um;
    const double dx = p1x - p.p0[0];
    if (dx == 0.0) return false;
    const double f = p.p0[0] / dx;
    const double oy = p.p0[1] - (p1y - p.p0[1]) * f;
    const double oz = p.p0[2] - (p1z - p.p0[2]) * f;
    y_px = oy / p.px_um + p.bc_y_px;
    z_px = oz / p.px_um + p.bc_z_px;
    return true;
}

/// Displace the ideal spot (y0, z0) (given at distance lsd_ref_um) for a scattering point at
/// sample position (x, y, z) µm (ω = 0 frame), rotated by ω; result on the plane at lsd_out_um.
MIDAS_HD inline void nf_displace(double x_um, double y_um, double z_um, double cos_w, double sin_w, double y0_um,
                                 double z0_um, double lsd_ref_um, double lsd_out_um, double& y_out_um,
                                 double& z_out_um) {
    const double xa = x_um * cos_w - y_um * sin_w;
    const double ya = x_um * sin_w + y_um * cos_w;
    const double t = (lsd_out_um - xa) / lsd_ref_um;
    y_out_um = ya + y0_um * t;
    z_out_um = z_um + z0_um * t;
}

// ---- batched OpenMP kernels (cpp/src/geometry_nf.cpp); equal-length spans (ParamError otherwise).

/// nf_project for N points; NaN where no intersection.
void nf_project(const NFProjector& p, span<const double> y_um, span<const double> z_um, span<double> y_px,
                span<double> z_px);

/// nf_displace for N points (omega in rad).
void nf_displace(span<const double> x_um, span<const double> y_um, span<const double> z_um,
                 span<const double> omega_rad, span<const double> y0_um, span<const double> z0_um,
                 double lsd_ref_um, double lsd_out_um, span<double> y_out_um, span<double> z_out_um);

}  // namespace midas::geometry
