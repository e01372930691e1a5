// midas/nf/experiment.hpp — the near-field experiment in kernel units and the orientation ->
// diffraction spot calculation of NF-HEDM (upstream CalcDiffractionSpots.c, restated in
// upstream_facts.md §2.7 steps 1–4 and §2.8; frames and signs in docs/conventions.md, "NF").
//
// For one orientation matrix U (crystal -> sample) and every reflection g (crystal Cartesian,
// 1/Å, B·hkl without 2π):
//
//   G = U·g;  ω solves −Gx cos ω + Gy sin ω = |g| sin θ  (sample rotated by Rz(+ω), beam +x)
//   G' = Rz(ω)·G;  η = atan2(−G'y, G'z);  reject |η| < MinEta or 180° − |η| < MinEta
//   (y0, z0) = Lsd0·tan 2θ · (G'y, G'z)/|(G'y, G'z)|          ("ideal" spot on the plane at Lsd0)
//   keep when some window k has lo_k < ω < hi_k and box_k: ymin < y0 < ymax, zmin < z0 < zmax
//
// The two ω solutions are produced in upstream's order (the root with the larger cos ω first when
// Gy > 0), so a spot list written to DiffractionSpots.bin matches upstream row for row. Like
// upstream, |Gy| < 1e-4 1/Å uses the short form cos ω = −|g| sin θ / Gx.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/core/hd.hpp"
#include "midas/geometry/nf_projection.hpp"

namespace midas::nf {

inline constexpr double pi = 3.14159265358979323846;
inline constexpr double deg = pi / 180.0;

/// The NF experiment as the user describes it (API units: µm, px, degrees).
struct ExperimentSpec {
    std::vector<double> lsd_um;   ///< one per detector distance (layer), file order
    std::vector<double> ybc_px;   ///< beam centre Y per layer
    std::vector<double> zbc_px;   ///< beam centre Z per layer
    double tx_deg = 0.0;          ///< detector tilts, shared by all layers
    double ty_deg = 0.0;
    double tz_deg = 0.0;
    double px_um = 0.0;           ///< pixel pitch
    std::int32_t n_y = 0;         ///< detector pixels along Y
    std::int32_t n_z = 0;         ///< detector pixels along Z
    double omega_start_deg = 0.0; ///< ω of the start of frame 0
    double omega_step_deg = 0.0;  ///< ω step per frame (may be negative)
    std::int32_t n_frames = 0;    ///< frames per layer
    std::vector<double> omega_ranges_deg;  ///< (lo, hi) per window, flattened
    std::vector<double> box_um;            ///< (ymin, ymax, zmin, zmax) per window, flattened
    double min_eta_deg = 0.0;     ///< ExcludePoleAngle
    double wedge_deg = 0.0;       ///< rotation-axis wedge (Wedge)
};

/// Validated experiment with derived quantities (host-side; copy the PODs it holds to a GPU).
struct Experiment {
    ExperimentSpec spec;
    geometry::NFProjector proj;  ///< layer-0 detector projection (tilts, Lsd0, px, BC0)
    double cos_min_eta;
    double wedge_rad;
    std::int32_t n_layers;
    double inv_px;                  ///< 1 / px_um
    double inv_lsd0;                ///< 1 / Lsd of layer 0
    std::vector<double> lsd_ratio;  ///< Lsd_L / Lsd_0 per layer
};

/// Check a spec and derive the tilt matrix. Throws midas::ParamError naming the field and value
/// (counts ≤ 0, Lsd/BC lists of different lengths or empty, px ≤ 0, ω step 0, window arrays
/// not multiples of 2 / 4 or of different window counts, non-finite numbers).
[[nodiscard]] Experiment make_experiment(const ExperimentSpec& spec);

/// The reflections used by the forward model.
struct HklSet {
    std::vector<double> g_crystal;   ///< (N, 3) crystal Cartesian, 1/Å
    std::vector<double> v;           ///< (N,) |g|·sin θ  (1/Å)
    std::vector<double> tan_2theta;  ///< (N,) tan 2θ
    std::vector<double> rho;         ///< (N,) |g|·cos θ = |(G'y, G'z)| after diffraction
    std::vector<double> tan_2theta_over_rho;  ///< (N,) tan 2θ / ρ: (y0, z0) = Lsd0·this·(G'y, G'z)
    [[nodiscard]] std::size_t size() const { return v.size(); }
};

/// Build an HklSet from g (N·3, 1/Å) and θ (N, degrees). Throws midas::ParamError when sizes
/// disagree or θ is outside (0, 45°).
[[nodiscard]] HklSet make_hkls(span<const double> g_crystal, span<const double> theta_deg);

/// One predicted spot: ideal position on the plane at Lsd0, its ω and cos ω, sin ω.
struct Spot {
    double y_um;
    double z_um;
    double omega_deg;
    double cos_w;
    double sin_w;
};

/// Spot lists are flat rows of `Stride` doubles: 3 = (y0_um, z0_um, omega_deg), the
/// DiffractionSpots.bin layout (cos/sin computed on use), or 5 = (…, cos ω, sin ω) as produced by
/// compute_spots.
template <int Stride>
inline Spot spot_at(span<const double> spots, std::size_t j) {
    const double* p = &spots[Stride * j];
    if constexpr (Stride == 5) {
        return Spot{p[0], p[1], p[2], p[3], p[4]};
    } else {
        static_assert(Stride == 3, "spot rows have 3 or 5 values");
        const double w = p[2] * (3.14159265358979323846 / 180.0);
        return Spot{p[0], p[1], p[2], std::cos(w), std::sin(w)};
    }
}

/// Values per spot row produced by compute_spots.
inline constexpr int spot_stride = 5;

/// atan2(s, c) in degrees to within 1e-8° (odd polynomial on [0, tan(π/8)] after octant
/// reduction; |error| ≤ 1.3e-10 rad); the sign of a zero s is ignored.
MIDAS_HD inline double approx_atan2_deg(double s, double c) {
    const double as = std::fabs(s), ac = std::fabs(c);
    const bool swap = as > ac;
    double t = swap ? ac / as : as / ac;  // [0, 1]
    double base = 0.0;
    constexpr double tan_pi_8 = 0.41421356237309503;
    if (t > tan_pi_8) {
        t = (t - 1.0) / (t + 1.0);
        base = pi / 4.0;
    }
    const double t2 = t * t;
    const double p = ((((-0.058310861027471926 * t2 + 0.1047743232806617) * t2 - 0.1422361792943608) * t2 +
                       0.19996982390198845) * t2 - 0.33333269857468234) * t2 + 0.9999999961634444;
    double a = base + t * p;
    if (swap) a = pi / 2.0 - a;
    if (c < 0.0) a = pi - a;
    if (s < 0.0) a = -a;
    return a / deg;
}

/// Write the spots of orientation `u` (row-major crystal -> sample matrix) into `out` as
/// (y0, z0, ω, cos ω, sin ω) rows and return their number. `out` is grown when needed and never
/// shrunk (rows past the count are scratch), so repeated calls do not allocate.
///
/// Because G'x = −|g| sin θ for both ω solutions, |(G'y, G'z)| = |g| cos θ and G'z = Gz do not
/// depend on ω: the pole and z-box tests run before ω is solved, which rejects most reflections
/// with three multiplications.
///
/// FrameOmega = true (the overlap kernels): ω comes from approx_atan2_deg, and from std::atan2
/// only within 1e-6° of an OmegaRange edge or of a frame edge, or with a wedge. The spots kept and
/// their frames are then exactly those of FrameOmega = false, where ω is std::atan2's.
template <bool FrameOmega = false>
inline std::size_t compute_spots(const Experiment& e, const HklSet& h, const double u[9], std::vector<double>& out) {
    const std::size_t n = h.size();
    if (out.size() < 2 * spot_stride * n) out.resize(2 * spot_stride * n);
    double* o = out.data();
    std::size_t count = 0;
    const double lsd0 = e.spec.lsd_um[0];
    const std::size_t n_win = e.spec.omega_ranges_deg.size() / 2;
    const double* rng = e.spec.omega_ranges_deg.data();
    const double* box = e.spec.box_um.data();
    // union of the windows: necessary conditions, and the exact test when there is one window
    double ylo = box[0], yhi = box[1], zlo = box[2], zhi = box[3];
    for (std::size_t w = 1; w < n_win; ++w) {
        ylo = std::fmin(ylo, box[4 * w]);
        yhi = std::fmax(yhi, box[4 * w + 1]);
        zlo = std::fmin(zlo, box[4 * w + 2]);
        zhi = std::fmax(zhi, box[4 * w + 3]);
    }
    const double cos_eta = e.cos_min_eta;
    const double inv_step = 1.0 / e.spec.omega_step_deg;
    constexpr double guard_deg = 1e-6;  // FrameOmega: std::atan2 this close to a frame or window edge
    const double guard_frames = guard_deg * std::fabs(inv_step);
    for (std::size_t i = 0; i < n; ++i) {
        const double* g = &h.g_crystal[3 * i];
        const double gy = u[3] * g[0] + u[4] * g[1] + u[5] * g[2];
        const double gz = u[6] * g[0] + u[7] * g[1] + u[8] * g[2];
        const double scale = lsd0 * h.tan_2theta_over_rho[i];
        const bool short_form = std::fabs(gy) < 1e-4;  // upstream's |Gy| ≈ 0 branch
        if (!short_form) {
            if (std::fabs(gz) > cos_eta * h.rho[i]) continue;  // within MinEta of a pole
            const double z0 = scale * gz;
            if (!(z0 > zlo && z0 < zhi)) continue;
        }
        const double gx = u[0] * g[0] + u[1] * g[1] + u[2] * g[2];
        const double v = h.v[i];
        double cw[2];
        double sw[2];
        int nsol = 0;
        if (short_form) {
            if (gx == 0.0) continue;
            const double c = -v / gx;
            if (!(std::fabs(c) <= 1.0)) continue;
            const double s = std::sqrt(1.0 - c * c);
            cw[0] = c;
            sw[0] = s;
            cw[1] = c;
            sw[1] = -s;
            nsol = 2;
        } else {
            const double r2 = gx * gx + gy * gy;
            const double d = r2 - v * v;
            if (d < 0.0) continue;
            const double s = std::sqrt(d);
            const double inv = 1.0 / r2;
            // upstream's first root is cos ω = (−v·Gx + s·|Gy|)/r²
            const double sg = gy > 0.0 ? 1.0 : -1.0;
            for (int k = 0; k < 2; ++k) {
                const double sig = k == 0 ? sg : -sg;
                const double c = (-gx * v + sig * gy * s) * inv;
                if (!(std::fabs(c) <= 1.0)) continue;
                cw[nsol] = c;
                sw[nsol] = (gy * v + sig * gx * s) * inv;
                ++nsol;
            }
        }
        for (int k = 0; k < nsol; ++k) {
            const double gly = gx * sw[k] + gy * cw[k];
            double f = scale;
            if (short_form) {
                const double rho = std::sqrt(gly * gly + gz * gz);
                if (!(rho > 0.0) || std::fabs(gz) > cos_eta * rho) continue;
                f = lsd0 * h.tan_2theta[i] / rho;
            }
            const double y0 = f * gly;
            const double z0 = f * gz;
            if (!(y0 > ylo && y0 < yhi && z0 > zlo && z0 < zhi)) continue;
            double ome = 0.0;
            if constexpr (FrameOmega) {
                ome = approx_atan2_deg(sw[k], cw[k]);
                const double x = (ome - e.spec.omega_start_deg) * inv_step;
                const double r = x - static_cast<double>(static_cast<std::int64_t>(x) - (x < 0.0 ? 1 : 0));
                bool exact = e.wedge_rad != 0.0 || r < guard_frames || r > 1.0 - guard_frames || !(std::fabs(x) < 1e15);
                for (std::size_t w = 0; w < n_win && !exact; ++w)
                    exact = std::fabs(ome - rng[2 * w]) < guard_deg || std::fabs(ome - rng[2 * w + 1]) < guard_deg;
                if (exact) ome = std::atan2(sw[k], cw[k]) / deg;
            } else {
                ome = std::atan2(sw[k], cw[k]) / deg;
            }
            bool keep = n_win == 1 && ome > rng[0] && ome < rng[1];  // one window: the box test above was exact
            for (std::size_t w = 0; w < n_win && n_win > 1; ++w) {
                if (ome > rng[2 * w] && ome < rng[2 * w + 1] && y0 > box[4 * w] && y0 < box[4 * w + 1] &&
                    z0 > box[4 * w + 2] && z0 < box[4 * w + 3]) {
                    keep = true;
                    break;
                }
            }
            if (!keep) continue;
            double* row = o + spot_stride * count++;
            row[0] = y0;
            row[1] = z0;
            row[2] = ome;
            row[3] = cw[k];
            row[4] = sw[k];
        }
    }
    return count;
}

/// Bunge ZXZ Euler angles (rad) -> orientation matrix U = Rz(φ1)·Rx(Φ)·Rz(φ2), row-major.
MIDAS_HD inline void euler_to_matrix(const double e[3], double m[9]) {
    const double c1 = std::cos(e[0]), s1 = std::sin(e[0]);
    const double c = std::cos(e[1]), s = std::sin(e[1]);
    const double c2 = std::cos(e[2]), s2 = std::sin(e[2]);
    m[0] = c2 * c1 - s2 * c * s1;
    m[1] = -c2 * c * s1 - s2 * c1;
    m[2] = s * s1;
    m[3] = c2 * s1 + s2 * c * c1;
    m[4] = c2 * c * c1 - s2 * s1;
    m[5] = -s * c1;
    m[6] = s2 * s;
    m[7] = c2 * s;
    m[8] = c;
}

/// Orientation matrix -> Bunge ZXZ Euler angles (rad), upstream's branch choices
/// (φ1, φ2 in [0, 2π), Φ in [0, π]; Φ ≈ 0 puts all of the rotation into φ2).
MIDAS_HD inline void matrix_to_euler(const double m[9], double e[3]) {
    auto angle = [](double s, double c) {
        const double a = std::acos(std::fmax(-1.0, std::fmin(1.0, c)));
        return s >= 0.0 ? a : 2.0 * pi - a;
    };
    constexpr double eps = 1e-5;
    const double phi = std::fabs(m[8] - 1.0) < eps ? 0.0 : std::acos(std::fmax(-1.0, std::fmin(1.0, m[8])));
    const double sph = std::sin(phi);
    if (std::fabs(sph) < eps) {
        e[0] = 0.0;
        e[2] = std::fabs(m[8] - 1.0) < eps ? angle(m[3], m[0]) : angle(-m[3], m[0]);
    } else {
        const double cps = -m[5] / sph;
        const double cth = m[7] / sph;
        e[0] = std::fabs(cps) <= 1.0 ? angle(m[2] / sph, cps) : angle(m[2] / sph, 1.0);
        e[2] = std::fabs(cth) <= 1.0 ? angle(m[6] / sph, cth) : angle(m[6] / sph, 1.0);
    }
    e[1] = phi;
}

}  // namespace midas::nf
