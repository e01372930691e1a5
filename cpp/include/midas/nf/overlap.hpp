// midas/nf/overlap.hpp — where a voxel's diffraction spots land on the NF detector, and how much
// of that footprint the observed bitmask confirms (upstream SharedFuncsFit.c CalcFracOverlap and
// SimulateDiffractionImage; upstream_facts.md §2.8, §3.13, §4.10; docs/conventions.md, "NF").
//
// A voxel is a triangle in the sample plane (z = 0). For each predicted spot (y0, z0, ω) at Lsd0:
//
//   vertex (X, Y) at ω:  xa = X cos ω − Y sin ω,  ya = X sin ω + Y cos ω,  t = 1 − xa/Lsd0
//                        (y, z) = (ya + y0·t, z0·t)
//   every point (y, z), and the undisplaced spot centre (y0, z0), is projected through the tilted
//   detector of layer 0 (midas/nf/projection.hpp) to fractional pixels (Y, Z);
//   offsets = vertices − centre, rasterised (triangle test plus pixels within 0.99 px of an edge
//   line) when the edge is longer than one pixel, else one pixel at the rounded centroid;
//   layer L pixel = floor((Yc − ybc0)·Lsd_L/Lsd0 + ybc_L) + offset (same for Z): the spot centre
//   is rescaled to the distance, the offsets are not (upstream's convention, kept for
//   interoperability with upstream SpotsInfo files).
//
// Fit mode (overlap) drops a spot whose displaced vertices leave [0, n] at layer 0 and counts a
// pixel only when it is inside the detector at every layer; it "overlaps" when its bit is set at
// every layer. Simulation mode keeps every spot and marks layers in order until one falls off
// the detector.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/nf/experiment.hpp"
#include "midas/nf/hd_compat.hpp"
#include "midas/nf/projection.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

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
        vx[i] = static_cast<std::int64_t>(std::round(off[i][0]));
        vy[i] = static_cast<std::int64_t>(std::round(off[i][1]));
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
    std::vector<double> spots;         ///< (y0, z0, ω) triplets
    std::vector<std::int32_t> offsets;   ///< (dy, dz) pairs of the current spot
    std::vector<std::int32_t> centre_y;  ///< per layer
    std::vector<std::int32_t> centre_z;
};

/// Footprint of one spot of one voxel: the frame and, in `ws`, the pixel offsets and the per-layer
/// centre pixels. Returns false when the spot is dropped (frame outside [0, n_frames), or, with
/// `check_vertices`, a displaced vertex outside the layer-0 detector).
inline bool spot_footprint(const Experiment& e, const Triangle& tri, const Spot& s,
                           bool check_vertices, std::int32_t& frame, Workspace& ws) {
    const std::int64_t f = frame_of_omega(e.spec.omega_start_deg, e.spec.omega_step_deg, s.omega_deg);
    if (f < 0 || f >= e.spec.n_frames) return false;
    frame = static_cast<std::int32_t>(f);
    const double lsd0 = e.spec.lsd_um[0];
    const double w = s.omega_deg * deg;
    const double sw = std::sin(w), cw = std::cos(w);
    double vert[3][2];
    for (int k = 0; k < 3; ++k) {
        const double xa = tri.x_um[k] * cw - tri.y_um[k] * sw;
        const double ya = tri.x_um[k] * sw + tri.y_um[k] * cw;
        const double t = 1.0 - xa / lsd0;
        project_point(e.proj, ya + s.y_um * t, s.z_um * t, vert[k][0], vert[k][1]);
        if (check_vertices && (vert[k][0] > e.spec.n_y || vert[k][0] < 0.0 || vert[k][1] > e.spec.n_z ||
                               vert[k][1] < 0.0))
            return false;
    }
    double cy = 0.0, cz = 0.0;
    project_point(e.proj, s.y_um, s.z_um, cy, cz);
    double off[3][2];
    for (int k = 0; k < 3; ++k) {
        off[k][0] = vert[k][0] - cy;
        off[k][1] = vert[k][1] - cz;
    }
    if (tri.half_edge_um * 2.0 > e.spec.px_um) {
        raster_triangle(off, ws.offsets);
    } else {
        ws.offsets.resize(2);
        ws.offsets[0] = static_cast<std::int32_t>(std::round((off[0][0] + off[1][0] + off[2][0]) / 3.0));
        ws.offsets[1] = static_cast<std::int32_t>(std::round((off[0][1] + off[1][1] + off[2][1]) / 3.0));
    }
    const std::int32_t nl = e.n_layers;
    ws.centre_y.resize(static_cast<std::size_t>(nl));
    ws.centre_z.resize(static_cast<std::size_t>(nl));
    const double px = e.spec.px_um;
    const double ybc0 = e.spec.ybc_px[0], zbc0 = e.spec.zbc_px[0];
    for (std::int32_t l = 0; l < nl; ++l) {
        const double scale = e.spec.lsd_um[static_cast<std::size_t>(l)] / lsd0;
        ws.centre_y[static_cast<std::size_t>(l)] = static_cast<std::int32_t>(
            std::floor(((cy - ybc0) * px) * scale / px + e.spec.ybc_px[static_cast<std::size_t>(l)]));
        ws.centre_z[static_cast<std::size_t>(l)] = static_cast<std::int32_t>(
            std::floor(((cz - zbc0) * px) * scale / px + e.spec.zbc_px[static_cast<std::size_t>(l)]));
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

/// Count footprint pixels (fit mode) and those whose bit is set at every layer.
inline OverlapCount count_overlap(const Experiment& e, const Triangle& tri,
                                  span<const double> spots, const std::uint32_t* words, const BitLayout& layout,
                                  Workspace& ws) {
    OverlapCount c;
    const std::int32_t nl = e.n_layers;
    const std::int32_t ny = e.spec.n_y, nz = e.spec.n_z;
    for (std::size_t j = 0; j < spots.size() / 3; ++j) {
        std::int32_t frame = 0;
        if (!spot_footprint(e, tri, spot_at(spots, j), true, frame, ws)) continue;
        const std::size_t np = ws.offsets.size() / 2;
        for (std::size_t p = 0; p < np; ++p) {
            bool inside = true;
            bool all_set = true;
            for (std::int32_t l = 0; l < nl; ++l) {
                const std::int32_t my = ws.centre_y[static_cast<std::size_t>(l)] + ws.offsets[2 * p];
                const std::int32_t mz = ws.centre_z[static_cast<std::size_t>(l)] + ws.offsets[2 * p + 1];
                if (my >= ny || my < 0 || mz >= nz || mz < 0) {
                    inside = false;
                    break;
                }
                if (all_set && !test_bit(words, bit_index(layout, l, frame, my, mz))) all_set = false;
            }
            if (!inside) continue;
            ++c.total;
            if (all_set) ++c.overlap;
        }
    }
    return c;
}

/// Call f(layer, frame, y, z) for every detector hit of a voxel (simulation mode).
template <class F>
inline void for_each_hit(const Experiment& e, const Triangle& tri,
                         span<const double> spots, Workspace& ws, F&& f) {
    const std::int32_t nl = e.n_layers;
    const std::int32_t ny = e.spec.n_y, nz = e.spec.n_z;
    for (std::size_t j = 0; j < spots.size() / 3; ++j) {
        std::int32_t frame = 0;
        if (!spot_footprint(e, tri, spot_at(spots, j), false, frame, ws)) continue;
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

/// Fraction of the footprint of orientation `u` confirmed by the bitmask (0 when no pixel).
inline OverlapCount orientation_overlap(const Experiment& e, const HklSet& h,
                                        const Triangle& tri, const double u[9], const std::uint32_t* words,
                                        const BitLayout& layout, Workspace& ws) {
    compute_spots(e, h, u, ws.spots);
    return count_overlap(e, tri, span<const double>(ws.spots.data(), ws.spots.size()), words, layout, ws);
}

/// Throws midas::ParamError when the bit layout does not match the experiment.
void check_layout_matches(const Experiment& e, const BitLayout& layout);

/// Simulate every voxel (rows of triangles and orientations) into the bitmask `words`: OpenMP
/// over voxels, atomic bit sets (the result is independent of thread count). Returns the number
/// of detector hits (with repeats).
std::int64_t simulate_bits(const Experiment& e, const HklSet& h, span<const Triangle> voxels,
                           span<const double> orient_mats, span<std::uint32_t> words, const BitLayout& layout);

}  // namespace midas::nf
