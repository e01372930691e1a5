// midas/nf/overlap.hpp — where a voxel's diffraction spots land on the NF detector, and how much
// of that footprint the observed bitmask confirms (upstream SharedFuncsFit.c CalcFracOverlap and
// SimulateDiffractionImage; upstream_facts.md §2.8, §3.13, §4.10; docs/conventions.md, "NF").
//
// A voxel is a triangle in the sample plane (z = 0). For each predicted spot (y0, z0, ω) at Lsd0:
//
//   vertex (X, Y) at ω:  xa = X cos ω − Y sin ω,  ya = X sin ω + Y cos ω,  t = 1 − xa/Lsd0
//                        (y, z) = (ya + y0·t, z0·t)
//   every point (y, z), and the undisplaced spot centre (y0, z0), is projected through the tilted
//   detector of layer 0 (geometry::nf_project, midas/geometry/nf_projection.hpp) to fractional
//   pixels (Y, Z);
//   offsets = vertices − centre, rasterised (triangle test plus pixels within 0.99 px of an edge
//   line) when the edge is longer than one pixel, else one pixel at the rounded centroid;
//   layer L pixel = floor((Yc − ybc0)·Lsd_L/Lsd0 + ybc_L) + offset (same for Z): the spot centre
//   is rescaled to the distance, the offsets are not (upstream's convention, kept for
//   interoperability with upstream SpotsInfo files).
//
// With a wedge W ≠ 0 each spot's (ω, η) is moved to where the same g diffracts with the wedge
// (geometry::wedge_apply; 2θ unchanged) and kept only when the new ω lies inside an OmegaRange.
//
// Fit mode (overlap) drops a spot whose displaced vertices leave [0, n] at layer 0 and counts a
// pixel only when it is inside the detector at every layer; it "overlaps" when its bit is set at
// every layer. Simulation mode keeps every spot and marks layers in order until one falls off
// the detector.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/core/hd.hpp"
#include "midas/nf/bit_table.hpp"
#include "midas/nf/experiment.hpp"
#include "midas/geometry/angles.hpp"
#include "midas/geometry/nf_projection.hpp"
#include "midas/geometry/omega.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

/// round(x) (halves away from zero) for |x| < 2^52, without a libm call.
MIDAS_HD inline std::int64_t round_half_away(double x) {
    auto t = static_cast<std::int64_t>(x);  // truncates towards zero
    const double r = x - static_cast<double>(t);
    if (r >= 0.5) ++t;
    else if (r <= -0.5) --t;
    return t;
}

/// floor(x) for |x| < 2^52, without a libm call.
MIDAS_HD inline std::int64_t floor_int(double x) {
    auto t = static_cast<std::int64_t>(x);
    if (x < static_cast<double>(t)) --t;
    return t;
}

/// A voxel: triangle vertices in the sample frame at ω = 0 (µm) and half its edge length.
struct Triangle {
    double x_um[3];
    double y_um[3];
    double half_edge_um;
};

/// Triangle of a grid.txt row (y1, y2, xs, ys, gs) (upstream_facts.md §3.13); `up_down` receives
/// UD = −1 when y1 > y2 (apex below the centre) else +1.
MIDAS_HD inline Triangle triangle_from_grid_row(const double row[5], int& up_down) {
    const double y1 = row[0], y2 = row[1], xs = row[2], ys = row[3], gs = row[4];
    Triangle t{};
    t.half_edge_um = gs;
    if (y1 > y2) {
        up_down = -1;
        t.x_um[0] = xs;      t.y_um[0] = ys - y1;
        t.x_um[1] = xs - gs; t.y_um[1] = ys + y2;
        t.x_um[2] = xs + gs; t.y_um[2] = ys + y2;
    } else {
        up_down = 1;
        t.x_um[0] = xs;      t.y_um[0] = ys + y2;
        t.x_um[1] = xs - gs; t.y_um[1] = ys - y1;
        t.x_um[2] = xs + gs; t.y_um[2] = ys - y1;
    }
    return t;
}

/// Triangle of a .mic voxel (centre xs, ys; edge; UD sign), as upstream simulateNF builds it.
MIDAS_HD inline Triangle triangle_from_mic(double xs, double ys, double edge_um, double up_down) {
    const double gs = edge_um / 2.0;
    double dy1 = edge_um / std::sqrt(3.0);
    double dy2 = -edge_um / (2.0 * std::sqrt(3.0));
    if (up_down < 0) {
        dy1 = -dy1;
        dy2 = -dy2;
    }
    Triangle t{};
    t.half_edge_um = gs;
    t.x_um[0] = xs;      t.y_um[0] = ys + dy1;
    t.x_um[1] = xs - gs; t.y_um[1] = ys + dy2;
    t.x_um[2] = xs + gs; t.y_um[2] = ys + dy2;
    return t;
}

/// Integer pixel offsets covered by a triangle whose vertex offsets (px) are `off` (upstream
/// CalcPixels2): vertices are rounded; a pixel of the bounding box is kept when it passes the
/// edge-function test (counter-clockwise orientation) or lies within 0.99 px of one of the three
/// edge lines. Appends (dy, dz) pairs to `out` (cleared first).
inline void raster_triangle(const double off[3][2], std::vector<std::int32_t>& out) {
    out.clear();
    std::int64_t vx[3];
    std::int64_t vy[3];
    for (int i = 0; i < 3; ++i) {
        vx[i] = round_half_away(off[i][0]);
        vy[i] = round_half_away(off[i][1]);
    }
    std::int64_t min_x = vx[0], max_x = vx[0], min_y = vy[0], max_y = vy[0];
    for (int i = 1; i < 3; ++i) {
        min_x = vx[i] < min_x ? vx[i] : min_x;
        max_x = vx[i] > max_x ? vx[i] : max_x;
        min_y = vy[i] < min_y ? vy[i] : min_y;
        max_y = vy[i] > max_y ? vy[i] : max_y;
    }
    auto orient = [](std::int64_t ax, std::int64_t ay, std::int64_t bx, std::int64_t by, std::int64_t cx,
                     std::int64_t cy) { return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax); };
    // squared distance of c from the line through a, b; "far" when a == b
    auto near_line = [&](int a, int b, std::int64_t cx, std::int64_t cy) {
        const double num = static_cast<double>(orient(vx[a], vy[a], vx[b], vy[b], cx, cy));
        const double dx = static_cast<double>(vx[b] - vx[a]);
        const double dy = static_cast<double>(vy[a] - vy[b]);
        const double den = dy * dy + dx * dx;
        return den > 0.0 && (num * num) / den < 0.9801;
    };
    for (std::int64_t py = min_y; py <= max_y; ++py) {
        for (std::int64_t px = min_x; px <= max_x; ++px) {
            const std::int64_t w0 = orient(vx[1], vy[1], vx[2], vy[2], px, py);
            const std::int64_t w1 = orient(vx[2], vy[2], vx[0], vy[0], px, py);
            const std::int64_t w2 = orient(vx[0], vy[0], vx[1], vy[1], px, py);
            if ((w0 >= 0 && w1 >= 0 && w2 >= 0) || near_line(1, 2, px, py) || near_line(2, 0, px, py) ||
                near_line(0, 1, px, py)) {
                out.push_back(static_cast<std::int32_t>(px));
                out.push_back(static_cast<std::int32_t>(py));
            }
        }
    }
}

/// Scratch buffers reused across calls by one thread.
struct Workspace {
    std::vector<double> spots;         ///< compute_spots rows (spot_stride values each; scratch past the count)
    std::vector<std::int32_t> offsets;   ///< (dy, dz) pairs of the current spot
    std::vector<std::int32_t> centre_y;  ///< per layer
    std::vector<std::int32_t> centre_z;
};

/// Apply the rotation-axis wedge to a spot (see the file header). False when the spot does not
/// diffract with the wedge or its new ω is outside every OmegaRange.
inline bool apply_wedge(const Experiment& e, Spot& s) {
    const double lsd0 = e.spec.lsd_um[0];
    const double r = std::sqrt(s.y_um * s.y_um + s.z_um * s.z_um);
    const double eta0 = geometry::eta_from_yz(s.y_um, s.z_um);
    const double tth = std::atan(r / lsd0);
    double w1 = 0.0, eta1 = 0.0;
    if (!geometry::wedge_apply(eta0, tth, s.omega_deg * deg, e.wedge_rad, w1, eta1)) return false;
    const double ome = geometry::wrap_deg(w1 / deg);
    const std::size_t n_win = e.spec.omega_ranges_deg.size() / 2;
    bool inside = false;
    for (std::size_t k = 0; k < n_win && !inside; ++k)
        inside = ome > e.spec.omega_ranges_deg[2 * k] && ome < e.spec.omega_ranges_deg[2 * k + 1];
    if (!inside) return false;
    s.y_um = -r * std::sin(eta1);
    s.z_um = r * std::cos(eta1);
    s.omega_deg = ome;
    s.cos_w = std::cos(ome * deg);
    s.sin_w = std::sin(ome * deg);
    return true;
}

/// geometry::nf_project of the layer-0 detector with the divisions by the pixel pitch replaced by
/// a multiplication with its inverse (one division per point instead of three).
MIDAS_HD inline bool project_layer0(const Experiment& e, double y_um, double z_um, double& y_px, double& z_px) {
    const geometry::NFProjector& p = e.proj;
    const double p1x = p.t[1] * y_um + p.t[2] * z_um;
    const double dx = p1x - p.p0[0];
    if (dx == 0.0) return false;
    const double f = p.p0[0] / dx;
    const double p1y = p.t[4] * y_um + p.t[5] * z_um;
    const double p1z = p.t[7] * y_um + p.t[8] * z_um;
    y_px = (p.p0[1] - (p1y - p.p0[1]) * f) * e.inv_px + p.bc_y_px;
    z_px = (p.p0[2] - (p1z - p.p0[2]) * f) * e.inv_px + p.bc_z_px;
    return true;
}

/// Footprint of one spot of one voxel: the frame and, in `ws`, the pixel offsets and the per-layer
/// centre pixels. Returns false when the spot is dropped (wedge, frame outside [0, n_frames), or,
/// with `check_vertices`, a displaced vertex outside the layer-0 detector).
inline bool spot_footprint(const Experiment& e, const Triangle& tri, Spot s, bool check_vertices,
                           std::int32_t& frame, Workspace& ws) {
    if (e.wedge_rad != 0.0 && !apply_wedge(e, s)) return false;
    const std::int64_t f = floor_int((s.omega_deg - e.spec.omega_start_deg) / e.spec.omega_step_deg);
    if (f < 0 || f >= e.spec.n_frames) return false;
    frame = static_cast<std::int32_t>(f);
    const double lsd0 = e.spec.lsd_um[0];
    const double ny = e.spec.n_y, nz = e.spec.n_z;
    double vert[3][2];
    for (int k = 0; k < 3; ++k) {
        // geometry::nf_displace at z = 0 on the plane at Lsd0
        const double xa = tri.x_um[k] * s.cos_w - tri.y_um[k] * s.sin_w;
        const double ya = tri.x_um[k] * s.sin_w + tri.y_um[k] * s.cos_w;
        const double t = (lsd0 - xa) * e.inv_lsd0;
        if (!project_layer0(e, ya + s.y_um * t, s.z_um * t, vert[k][0], vert[k][1])) return false;
        if (check_vertices && (vert[k][0] > ny || vert[k][0] < 0.0 || vert[k][1] > nz || vert[k][1] < 0.0)) return false;
    }
    double cy = 0.0, cz = 0.0;
    if (!project_layer0(e, s.y_um, s.z_um, cy, cz)) return false;
    constexpr double far_px = 1e9;  // keeps the integer conversions below defined
    if (!(std::fabs(cy) < far_px && std::fabs(cz) < far_px)) return false;
    double off[3][2];
    for (int k = 0; k < 3; ++k) {
        off[k][0] = vert[k][0] - cy;
        off[k][1] = vert[k][1] - cz;
        if (!(std::fabs(off[k][0]) < far_px && std::fabs(off[k][1]) < far_px)) return false;
    }
    if (tri.half_edge_um * 2.0 > e.spec.px_um) {
        raster_triangle(off, ws.offsets);
    } else {
        ws.offsets.resize(2);
        ws.offsets[0] = static_cast<std::int32_t>(round_half_away((off[0][0] + off[1][0] + off[2][0]) / 3.0));
        ws.offsets[1] = static_cast<std::int32_t>(round_half_away((off[0][1] + off[1][1] + off[2][1]) / 3.0));
    }
    const auto nl = static_cast<std::size_t>(e.n_layers);
    ws.centre_y.resize(nl);
    ws.centre_z.resize(nl);
    const double ybc0 = e.spec.ybc_px[0], zbc0 = e.spec.zbc_px[0];
    for (std::size_t l = 0; l < nl; ++l) {
        ws.centre_y[l] = static_cast<std::int32_t>(floor_int((cy - ybc0) * e.lsd_ratio[l] + e.spec.ybc_px[l]));
        ws.centre_z[l] = static_cast<std::int32_t>(floor_int((cz - zbc0) * e.lsd_ratio[l] + e.spec.zbc_px[l]));
    }
    return true;
}

/// Overlapping and total footprint pixels of a voxel for a spot list.
struct OverlapCount {
    std::int64_t overlap = 0;
    std::int64_t total = 0;
    [[nodiscard]] double fraction() const {
        return total > 0 ? static_cast<double>(overlap) / static_cast<double>(total) : 0.0;
    }
};

/// Sum over the footprint pixels (fit mode) of min over layers of score(layer, frame, y, z) in
/// [0, 1], and the number of pixels; pixels off the detector at any layer are not counted.
template <int Stride, class Score>
inline void footprint_agreement(const Experiment& e, const Triangle& tri, span<const double> spots, Workspace& ws,
                                Score&& score, double& sum, std::int64_t& total) {
    const std::int32_t nl = e.n_layers;
    const std::int32_t ny = e.spec.n_y, nz = e.spec.n_z;
    sum = 0.0;
    total = 0;
    for (std::size_t j = 0; j < spots.size() / Stride; ++j) {
        std::int32_t frame = 0;
        if (!spot_footprint(e, tri, spot_at<Stride>(spots, j), true, frame, ws)) continue;
        const std::size_t np = ws.offsets.size() / 2;
        for (std::size_t p = 0; p < np; ++p) {
            bool inside = true;
            double s = 1.0;
            for (std::int32_t l = 0; l < nl; ++l) {
                const std::int32_t my = ws.centre_y[static_cast<std::size_t>(l)] + ws.offsets[2 * p];
                const std::int32_t mz = ws.centre_z[static_cast<std::size_t>(l)] + ws.offsets[2 * p + 1];
                if (my >= ny || my < 0 || mz >= nz || mz < 0) {
                    inside = false;
                    break;
                }
                if (s > 0.0) s = std::min(s, score(l, frame, my, mz));
            }
            if (!inside) continue;
            ++total;
            sum += s;
        }
    }
}

/// Count footprint pixels (fit mode) and those whose bit is set at every layer; `spots` holds
/// rows of Stride values (see spot_at); `bits` is a bitmask view (DenseBits or BitTable).
template <int Stride, class Bits>
inline OverlapCount count_overlap(const Experiment& e, const Triangle& tri, span<const double> spots, const Bits& bits,
                                  const BitLayout& layout, Workspace& ws) {
    double sum = 0.0;
    OverlapCount c;
    footprint_agreement<Stride>(
        e, tri, spots, ws,
        [&](std::int32_t l, std::int32_t f, std::int32_t y, std::int32_t z) {
            return bits.test(bit_index(layout, l, f, y, z)) ? 1.0 : 0.0;
        },
        sum, c.total);
    c.overlap = static_cast<std::int64_t>(sum);
    return c;
}

/// True when a bit is set in frame `frame` of `layer` within rows [y − r, y + r] and columns
/// [z − r, z + r] (clipped to the detector; false for a frame outside the layout).
template <class Bits>
inline bool any_in_box(const Bits& bits, const BitLayout& l, std::int32_t layer, std::int32_t frame, std::int32_t y,
                       std::int32_t z, std::int32_t r) {
    if (frame < 0 || frame >= l.n_frames) return false;
    const std::int32_t z_lo = z - r < 0 ? 0 : z - r;
    const std::int32_t z_hi = z + r >= l.n_z ? l.n_z - 1 : z + r;
    if (z_lo > z_hi) return false;
    for (std::int32_t yy = y - r; yy <= y + r; ++yy) {
        if (yy < 0 || yy >= l.n_y) continue;
        const std::uint64_t k0 = bit_index(l, layer, frame, yy, z_lo);
        const std::uint64_t k1 = k0 + static_cast<std::uint64_t>(z_hi - z_lo);
        for (std::uint64_t wi = k0 >> 5; wi <= k1 >> 5; ++wi) {
            const std::uint32_t w = bits.word(wi);
            if (w == 0u) continue;
            const std::uint32_t lo = wi == (k0 >> 5) ? static_cast<std::uint32_t>(k0 & 31u) : 0u;
            const std::uint32_t hi = wi == (k1 >> 5) ? static_cast<std::uint32_t>(k1 & 31u) : 31u;
            const std::uint32_t upto = hi == 31u ? 0xFFFFFFFFu : (1u << (hi + 1u)) - 1u;
            if ((w & upto & ~((1u << lo) - 1u)) != 0u) return true;
        }
    }
    return false;
}

/// Graded agreement of one footprint pixel with the bitmask at one layer: 1 when its bit is set;
/// 0.5 when a bit is set among its 8 neighbours in the same frame or at the same (y, z) one frame
/// away; 0.25 within the 5×5 neighbourhood of the same frame or the 3×3 one frame away; else 0.
/// (Each stage runs only when the previous found nothing, so the inner pixels it would skip are
/// known to be clear and whole boxes are tested.)
template <class Bits>
inline double soft_pixel_score(const Bits& bits, const BitLayout& l, std::int32_t layer, std::int32_t frame,
                               std::int32_t y, std::int32_t z) {
    if (bits.test(bit_index(l, layer, frame, y, z))) return 1.0;
    if (any_in_box(bits, l, layer, frame, y, z, 1) || any_in_box(bits, l, layer, frame - 1, y, z, 0) ||
        any_in_box(bits, l, layer, frame + 1, y, z, 0))
        return 0.5;
    if (any_in_box(bits, l, layer, frame, y, z, 2) || any_in_box(bits, l, layer, frame - 1, y, z, 1) ||
        any_in_box(bits, l, layer, frame + 1, y, z, 1))
        return 0.25;
    return 0.0;
}

/// Mean graded agreement (soft_pixel_score, the minimum over layers) of a footprint: a smooth
/// version of the overlap fraction whose basin around the best orientation is a few pixels
/// wide. Used to steer Nelder–Mead before the exact fraction.
template <int Stride, class Bits>
inline double soft_overlap(const Experiment& e, const Triangle& tri, span<const double> spots, const Bits& bits,
                           const BitLayout& layout, Workspace& ws) {
    double sum = 0.0;
    std::int64_t total = 0;
    footprint_agreement<Stride>(
        e, tri, spots, ws,
        [&](std::int32_t l, std::int32_t f, std::int32_t y, std::int32_t z) {
            return soft_pixel_score(bits, layout, l, f, y, z);
        },
        sum, total);
    return total > 0 ? sum / static_cast<double>(total) : 0.0;
}

/// Call f(layer, frame, y, z) for every detector hit of a voxel (simulation mode); `spots` holds
/// rows of Stride values.
template <int Stride, class F>
inline void for_each_hit(const Experiment& e, const Triangle& tri,
                         span<const double> spots, Workspace& ws, F&& f) {
    const std::int32_t nl = e.n_layers;
    const std::int32_t ny = e.spec.n_y, nz = e.spec.n_z;
    for (std::size_t j = 0; j < spots.size() / Stride; ++j) {
        std::int32_t frame = 0;
        if (!spot_footprint(e, tri, spot_at<Stride>(spots, j), false, frame, ws)) continue;
        const std::size_t np = ws.offsets.size() / 2;
        for (std::size_t p = 0; p < np; ++p) {
            for (std::int32_t l = 0; l < nl; ++l) {
                const std::int32_t my = ws.centre_y[static_cast<std::size_t>(l)] + ws.offsets[2 * p];
                const std::int32_t mz = ws.centre_z[static_cast<std::size_t>(l)] + ws.offsets[2 * p + 1];
                if (my >= ny || my < 0 || mz >= nz || mz < 0) break;
                f(l, frame, my, mz);
            }
        }
    }
}

/// Fraction of the footprint of orientation `u` confirmed by the bitmask view `bits` (0 when no pixel).
template <class Bits>
inline OverlapCount orientation_overlap(const Experiment& e, const HklSet& h, const Triangle& tri, const double u[9],
                                        const Bits& bits, const BitLayout& layout, Workspace& ws) {
    const std::size_t ns = compute_spots<true>(e, h, u, ws.spots);
    return count_overlap<spot_stride>(e, tri, span<const double>(ws.spots.data(), spot_stride * ns), bits, layout, ws);
}

/// Throws midas::ParamError when the bit layout does not match the experiment.
void check_layout_matches(const Experiment& e, const BitLayout& layout);

/// Simulate every voxel (rows of triangles and orientations) into the bitmask `words`: OpenMP
/// over voxels, atomic bit sets (the result is independent of thread count). Returns the number
/// of detector hits (with repeats).
std::int64_t simulate_bits(const Experiment& e, const HklSet& h, span<const Triangle> voxels,
                           span<const double> orient_mats, span<std::uint32_t> words, const BitLayout& layout);

}  // namespace midas::nf
