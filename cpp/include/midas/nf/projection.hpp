// midas/nf/projection.hpp — NF detector projection of a point on the plane at Lsd0 to fractional
// pixel coordinates of distance layer 0 (upstream SharedFuncsFit.c, upstream_facts.md §2.8 and
// fact 3; docs/conventions.md "NF detector"):
//
//   T_NF = Rz(tz)·Ry(ty)·Rx(tx)   (note: the reverse of the FF order)
//   P0 = T_NF·(−Lsd0, 0, 0),  P1 = T_NF·(0, y, z)
//   out = P0 − (P1 − P0)·P0x/(P1x − P0x)          (intersection with the plane x = 0)
//   Y = out_y/px + ybc0,  Z = out_z/px + zbc0     (no sign flip on y, unlike FF)
//
// NOTE: this is the NF projection of the geometry core (midas/geometry/nf_projection.hpp once
// that lands); the NF kernels call it only through project_point below.
#pragma once

#include <cmath>

#include "midas/nf/hd_compat.hpp"

namespace midas::nf {

/// Everything the projection needs (POD).
struct ProjectionModel {
    double t[9];    ///< T_NF, row-major
    double p0[3];   ///< T_NF·(−Lsd0, 0, 0)
    double px_um;
    double ybc_px;  ///< layer-0 beam centre
    double zbc_px;
};

/// T_NF = Rz(tz)·Ry(ty)·Rx(tx) (angles in rad), row-major.
MIDAS_HD inline void nf_tilt_matrix(double tx_rad, double ty_rad, double tz_rad, double t[9]) {
    const double cx = std::cos(tx_rad), sx = std::sin(tx_rad);
    const double cy = std::cos(ty_rad), sy = std::sin(ty_rad);
    const double cz = std::cos(tz_rad), sz = std::sin(tz_rad);
    // Rz·Ry
    const double a[9] = {cz * cy, -sz, cz * sy, sz * cy, cz, sz * sy, -sy, 0.0, cy};
    // (Rz·Ry)·Rx, Rx = [[1,0,0],[0,cx,-sx],[0,sx,cx]]
    for (int r = 0; r < 3; ++r) {
        t[3 * r + 0] = a[3 * r + 0];
        t[3 * r + 1] = a[3 * r + 1] * cx + a[3 * r + 2] * sx;
        t[3 * r + 2] = -a[3 * r + 1] * sx + a[3 * r + 2] * cx;
    }
}

/// Model for a tilt (rad), layer-0 distance (µm), pixel pitch (µm) and layer-0 beam centre (px).
MIDAS_HD inline ProjectionModel make_projection(double tx_rad, double ty_rad, double tz_rad, double lsd0_um,
                                                double px_um, double ybc_px, double zbc_px) {
    ProjectionModel m{};
    nf_tilt_matrix(tx_rad, ty_rad, tz_rad, m.t);
    m.p0[0] = -lsd0_um * m.t[0];
    m.p0[1] = -lsd0_um * m.t[3];
    m.p0[2] = -lsd0_um * m.t[6];
    m.px_um = px_um;
    m.ybc_px = ybc_px;
    m.zbc_px = zbc_px;
    return m;
}

/// Project (y, z) µm on the plane at Lsd0 to layer-0 pixel coordinates (Y, Z).
MIDAS_HD inline void project_point(const ProjectionModel& m, double y_um, double z_um, double& y_px, double& z_px) {
    const double p1x = m.t[1] * y_um + m.t[2] * z_um;
    const double p1y = m.t[4] * y_um + m.t[5] * z_um;
    const double p1z = m.t[7] * y_um + m.t[8] * z_um;
    const double ax = p1x - m.p0[0];
    const double ay = p1y - m.p0[1];
    const double az = p1z - m.p0[2];
    const double oy = m.p0[1] - (ay * m.p0[0]) / ax;
    const double oz = m.p0[2] - (az * m.p0[0]) / ax;
    y_px = oy / m.px_um + m.ybc_px;
    z_px = oz / m.px_um + m.zbc_px;
}

}  // namespace midas::nf
