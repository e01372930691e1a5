// midas/crystal/misorientation.hpp — misorientation angle (and axis) with crystal symmetry.
//
// For orientations U_a, U_b (crystal → sample) and the proper rotations S of the Laue group, the
// misorientation is min over S of angle(U_aᵀ · U_b · S). With quaternions d = conj(q_a) ⊗ q_b, the
// best S maximises |(d ⊗ s).w|; the angle is 2·atan2(|v|, |w|) of d ⊗ s_best and the axis is its
// unit vector part (crystal frame of a; (1, 0, 0) for a zero angle). Ties keep the first symmetry
// operator in list order, so results are deterministic.
#pragma once

#include <cstddef>

#include "midas/core/span.hpp"
#include "midas/crystal/orientation.hpp"

namespace midas::crystallography {

/// Misorientation of one pair; writes the axis to `axis` (3 doubles) when it is not null.
MIDAS_HD inline double misorientation_one(const Quat& qa, const Quat& qb, const Quat* sym, int n_sym,
                                          double* axis) {
    const Quat d = quat_mul(quat_conj(qa), qb);
    int best = 0;
    double best_w = -1.0;
    for (int k = 0; k < n_sym; ++k) {
        const double w = std::fabs(quat_mul_w(d, sym[k]));
        if (w > best_w) {
            best_w = w;
            best = k;
        }
    }
    Quat r = quat_mul(d, sym[best]);
    if (r.w < 0.0) r = Quat{-r.w, -r.x, -r.y, -r.z};
    const double v = std::sqrt(r.x * r.x + r.y * r.y + r.z * r.z);
    if (axis != nullptr) {
        if (v > 0.0) {
            axis[0] = r.x / v;
            axis[1] = r.y / v;
            axis[2] = r.z / v;
        } else {
            axis[0] = 1.0;
            axis[1] = 0.0;
            axis[2] = 0.0;
        }
    }
    return 2.0 * std::atan2(v, r.w);
}

/// Element-wise misorientation of n pairs. `om_a` holds n_a orientation matrices (9 doubles each,
/// row-major) and `om_b` n_b; n_a and n_b are each either n or 1 (one-to-many broadcast).
/// `sym_quat` holds the symmetry rotations as (w, x, y, z). Writes angle_rad[n] and, when
/// `axis` is not empty, axis[3n]. Throws midas::ParamError on inconsistent sizes.
void misorientation_pairs(span<const double> om_a, std::size_t n_a, span<const double> om_b, std::size_t n_b,
                          span<const double> sym_quat, span<double> angle_rad, span<double> axis);

/// Misorientation of every orientation in `om_a` (n_a) with every one in `om_b` (n_b):
/// angle_rad[i * n_b + j]. Throws midas::ParamError on inconsistent sizes.
void misorientation_all_pairs(span<const double> om_a, std::size_t n_a, span<const double> om_b, std::size_t n_b,
                              span<const double> sym_quat, span<double> angle_rad);

}  // namespace midas::crystallography
