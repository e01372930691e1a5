// midas/crystal/orientation.hpp — unit quaternions and rotation matrices (per-element math).
//
// Conventions (docs/conventions.md, "Orientations"): an orientation matrix U maps crystal
// vectors to the sample frame, stored row-major as 9 doubles; quaternions are (w, x, y, z) with
// the Hamilton product, q ⊗ r ↔ U(q)·U(r). Everything here is MIDAS_HD-ready: no exceptions,
// no allocation, no I/O.
#pragma once

#include <cmath>

#if __has_include("midas/core/hd.hpp")
#include "midas/core/hd.hpp"
#endif
#ifndef MIDAS_HD
#if defined(__CUDACC__)
#define MIDAS_HD __host__ __device__
#else
#define MIDAS_HD
#endif
#endif

namespace midas::crystallography {

/// Unit quaternion (w, x, y, z).
struct Quat {
    double w, x, y, z;
};

/// Hamilton product a ⊗ b (apply b, then a).
MIDAS_HD inline Quat quat_mul(const Quat& a, const Quat& b) {
    return Quat{a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
                a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
                a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
                a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w};
}

/// Conjugate = inverse rotation of a unit quaternion.
MIDAS_HD inline Quat quat_conj(const Quat& q) { return Quat{q.w, -q.x, -q.y, -q.z}; }

/// Scalar part of a ⊗ b without forming the vector part.
MIDAS_HD inline double quat_mul_w(const Quat& a, const Quat& b) {
    return a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z;
}

/// Rotation matrix (row-major, 9 doubles) → unit quaternion with w >= 0 (Shepperd's method:
/// the largest component comes from the diagonal, so every angle keeps full precision).
MIDAS_HD inline Quat quat_from_matrix(const double* m) {
    const double m00 = m[0], m01 = m[1], m02 = m[2];
    const double m10 = m[3], m11 = m[4], m12 = m[5];
    const double m20 = m[6], m21 = m[7], m22 = m[8];
    const double tw = 1.0 + m00 + m11 + m22;
    const double tx = 1.0 + m00 - m11 - m22;
    const double ty = 1.0 - m00 + m11 - m22;
    const double tz = 1.0 - m00 - m11 + m22;
    Quat q{};
    if (tw >= tx && tw >= ty && tw >= tz) {
        const double s = 0.5 * std::sqrt(tw > 0.0 ? tw : 0.0);
        const double f = 0.25 / s;
        q = Quat{s, (m21 - m12) * f, (m02 - m20) * f, (m10 - m01) * f};
    } else if (tx >= ty && tx >= tz) {
        const double s = 0.5 * std::sqrt(tx);
        const double f = 0.25 / s;
        q = Quat{(m21 - m12) * f, s, (m01 + m10) * f, (m02 + m20) * f};
    } else if (ty >= tz) {
        const double s = 0.5 * std::sqrt(ty);
        const double f = 0.25 / s;
        q = Quat{(m02 - m20) * f, (m01 + m10) * f, s, (m12 + m21) * f};
    } else {
        const double s = 0.5 * std::sqrt(tz);
        const double f = 0.25 / s;
        q = Quat{(m10 - m01) * f, (m02 + m20) * f, (m12 + m21) * f, s};
    }
    const double n = std::sqrt(q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z);
    const double sgn = q.w < 0.0 ? -1.0 / n : 1.0 / n;
    return Quat{q.w * sgn, q.x * sgn, q.y * sgn, q.z * sgn};
}

/// Unit quaternion → rotation matrix (row-major, 9 doubles).
MIDAS_HD inline void matrix_from_quat(const Quat& q, double* m) {
    const double w = q.w, x = q.x, y = q.y, z = q.z;
    m[0] = 1.0 - 2.0 * (y * y + z * z);
    m[1] = 2.0 * (x * y - w * z);
    m[2] = 2.0 * (x * z + w * y);
    m[3] = 2.0 * (x * y + w * z);
    m[4] = 1.0 - 2.0 * (x * x + z * z);
    m[5] = 2.0 * (y * z - w * x);
    m[6] = 2.0 * (x * z - w * y);
    m[7] = 2.0 * (y * z + w * x);
    m[8] = 1.0 - 2.0 * (x * x + y * y);
}

/// Rotation angle in [0, π] (radians) of a unit quaternion: 2·atan2(|v|, |w|).
MIDAS_HD inline double quat_angle_rad(const Quat& q) {
    const double v = std::sqrt(q.x * q.x + q.y * q.y + q.z * q.z);
    return 2.0 * std::atan2(v, std::fabs(q.w));
}

}  // namespace midas::crystallography
