// midas/geometry/angles.hpp — the azimuth η and angle wrapping shared by every geometry header.
// Conventions: docs/conventions.md ("Azimuth η", "ω labelling").
#pragma once

#include <cmath>

#include "midas/core/hd.hpp"

namespace midas::geometry {

inline constexpr double pi = 3.14159265358979323846;
inline constexpr double half_pi = 1.57079632679489661923;

/// η = atan2(-y, z) in (-π, π]: 0 towards +z (up), +π/2 towards −y. 0 when y = z = 0
/// (upstream's CalcEtaAngle gives NaN there).
MIDAS_HD inline double eta_from_yz(double y, double z) {
    if (y == 0.0 && z == 0.0) return 0.0;
    const double eta = std::atan2(-y, z);
    return eta <= -pi ? pi : eta + 0.0;  // + 0.0 turns -0 into +0
}

/// Angle in degrees wrapped into (-180, 180] (exact: fmod does not round).
MIDAS_HD inline double wrap_deg(double a) {
    double r = std::fmod(a, 360.0);
    if (r > 180.0) r -= 360.0;
    else if (r <= -180.0) r += 360.0;
    return r;
}

/// Angle in radians wrapped into (-π, π].
MIDAS_HD inline double wrap_rad(double a) {
    double r = std::fmod(a, 2.0 * pi);
    if (r > pi) r -= 2.0 * pi;
    else if (r <= -pi) r += 2.0 * pi;
    return r;
}

}  // namespace midas::geometry
