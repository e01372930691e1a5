// midas/geometry/rotation.hpp — the elementary lab rotations used by the detector models
// (row-major 3×3 arrays). Rx, Ry, Rz are active rotations by +t about lab x, y, z:
//   Rx(t) = [[1,0,0],[0,c,−s],[0,s,c]], Ry(t) = [[c,0,s],[0,1,0],[−s,0,c]], Rz(t) = [[c,−s,0],[s,c,0],[0,0,1]].
// Conventions: docs/conventions.md §5.2 (FF order Rx·Ry·Rz) and §7 (NF order Rz·Ry·Rx).
#pragma once

#include <cmath>

#include "midas/core/hd.hpp"

namespace midas::geometry {

MIDAS_HD inline void rot_x(double t_rad, double r[9]) {
    const double c = std::cos(t_rad), s = std::sin(t_rad);
    const double v[9] = {1, 0, 0, 0, c, -s, 0, s, c};
    for (int k = 0; k < 9; ++k) r[k] = v[k];
}

MIDAS_HD inline void rot_y(double t_rad, double r[9]) {
    const double c = std::cos(t_rad), s = std::sin(t_rad);
    const double v[9] = {c, 0, s, 0, 1, 0, -s, 0, c};
    for (int k = 0; k < 9; ++k) r[k] = v[k];
}

MIDAS_HD inline void rot_z(double t_rad, double r[9]) {
    const double c = std::cos(t_rad), s = std::sin(t_rad);
    const double v[9] = {c, -s, 0, s, c, 0, 0, 0, 1};
    for (int k = 0; k < 9; ++k) r[k] = v[k];
}

/// out = a·b·c for row-major 3×3 matrices (out may not alias the inputs).
MIDAS_HD inline void mat3_product(const double a[9], const double b[9], const double c[9], double out[9]) {
    double ab[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) ab[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            out[3 * i + j] = ab[3 * i] * c[j] + ab[3 * i + 1] * c[3 + j] + ab[3 * i + 2] * c[6 + j];
}

/// (Rz(δ)·v) for v = (vx, vy, ·): the rotated x and y components.
MIDAS_HD inline void rotate_about_z(double vx, double vy, double delta_rad, double& x_out, double& y_out) {
    const double c = std::cos(delta_rad), s = std::sin(delta_rad);
    x_out = vx * c - vy * s;
    y_out = vx * s + vy * c;
}

}  // namespace midas::geometry
