// midas/integration/polygon_sector.hpp — exact area of a polygon inside an annular sector.
//
// The detector mapper splits every pixel over (R, η) bins by area. A pixel's footprint is the
// quadrilateral spanned by its four corners mapped through the full FF geometry into the
// corrected detector plane (y, z) = (−R sin η, R cos η), with straight edges there. A bin is the
// annular sector r0 ≤ R ≤ r1, η0 ≤ η ≤ η1 centred on the beam (origin). The overlap area is
//
//     A = D(r1) − D(r0),   D(r) = area(P ∩ W ∩ disk(0, r)),   W = wedge η0 ≤ η ≤ η1,
//
// where P ∩ W is an exact convex clip by two half-planes through the origin, and the area of a
// polygon inside a disk centred on the origin is the sum over its edges of the signed area of
// triangle(0, a, b) ∩ disk — straight pieces by the cross product, arc pieces as circular
// sectors r²·Δφ/2. No sub-pixel sampling is involved.
//
// Conventions (docs/conventions_integration.md): η = atan2(−y, z) (0 = +z up, +90° = −y);
// cross(a, b) = a.y·b.z − a.z·b.y, so increasing η is the positive orientation and a polygon
// listed in the direction of increasing η has positive area. All lengths in pixels.
#pragma once

#include <cmath>

#include "midas/core/hd.hpp"

namespace midas::integration {

/// A point of the corrected detector plane, beam at the origin (pixels).
struct Point2 {
    double y = 0.0;
    double z = 0.0;
};

/// Largest vertex count a clipped pixel quadrilateral can reach: 4 + one per half-plane (2).
constexpr int max_clip_vertices = 8;

constexpr double pi = 3.141592653589793238462643383279502884;
constexpr double deg_to_rad = pi / 180.0;

MIDAS_HD inline double cross(Point2 a, Point2 b) { return a.y * b.z - a.z * b.y; }
MIDAS_HD inline double dot(Point2 a, Point2 b) { return a.y * b.y + a.z * b.z; }

/// Unit vector of the ray at azimuth η (radians): (−sin η, cos η).
MIDAS_HD inline Point2 eta_direction(double eta_rad) { return Point2{-std::sin(eta_rad), std::cos(eta_rad)}; }

/// Signed shoelace area of a polygon of n vertices, evaluated relative to p[0] so that the
/// result keeps full precision far from the origin. Positive for increasing-η order.
MIDAS_HD inline double polygon_area(const Point2* p, int n) {
    if (n < 3) return 0.0;
    double acc = 0.0;
    const Point2 o = p[0];
    for (int i = 1; i + 1 < n; ++i) {
        const Point2 a{p[i].y - o.y, p[i].z - o.z};
        const Point2 b{p[i + 1].y - o.y, p[i + 1].z - o.z};
        acc += cross(a, b);
    }
    return 0.5 * acc;
}

/// Sutherland–Hodgman clip of a polygon by the half-plane side·cross(dir, p) ≥ 0 (a line
/// through the origin). Writes at most n + 1 vertices to `out` and returns their count.
/// Exact negation of `side` gives bit-identical intersection points, so two bins sharing an
/// edge ray split a pixel consistently.
MIDAS_HD inline int clip_half_plane(const Point2* in, int n, Point2 dir, double side, Point2* out) {
    int m = 0;
    for (int i = 0; i < n; ++i) {
        const Point2 a = in[i];
        const Point2 b = in[(i + 1) % n];
        const double ca = side * cross(dir, a);
        const double cb = side * cross(dir, b);
        if (ca >= 0.0) out[m++] = a;
        if ((ca >= 0.0) != (cb >= 0.0)) {
            const double t = ca / (ca - cb);
            out[m++] = Point2{a.y + t * (b.y - a.y), a.z + t * (b.z - a.z)};
        }
    }
    return m < 3 ? 0 : m;
}

/// Clip a polygon to the wedge between the rays dir0 (η0) and dir1 (η1), η1 − η0 ≤ 180°.
/// `out` and `scratch` need room for n + 2 vertices. Returns the vertex count (0 if empty).
MIDAS_HD inline int clip_wedge(const Point2* in, int n, Point2 dir0, Point2 dir1, Point2* out, Point2* scratch) {
    const int m = clip_half_plane(in, n, dir0, 1.0, scratch);
    if (m == 0) return 0;
    return clip_half_plane(scratch, m, dir1, -1.0, out);
}

/// Signed area of the circular sector between the rays through a and b, radius r.
MIDAS_HD inline double sector_area(Point2 a, Point2 b, double r) {
    return 0.5 * r * r * std::atan2(cross(a, b), dot(a, b));
}

/// Parameters t1 ≤ t2 where the line a + t·d meets the circle |x| = r, from ad = a·d, dd = d·d,
/// c = |a|² − r² and disc = ad² − dd·c (clamped at 0: a tangent gives t1 = t2), by the
/// numerically stable pair of roots q/dd and c/q.
MIDAS_HD inline void circle_crossings(double ad, double dd, double c, double disc, double& t1, double& t2) {
    const double sq = disc > 0.0 ? std::sqrt(disc) : 0.0;
    const double q = -(ad + std::copysign(sq, ad));
    t1 = q != 0.0 ? q / dd : 0.0;
    t2 = q != 0.0 ? c / q : 0.0;
    if (t1 > t2) {
        const double t = t1;
        t1 = t2;
        t2 = t;
    }
}

/// Signed area of triangle(0, a, b) ∩ disk(0, r). Summed over the edges of a closed polygon this
/// gives the area of the polygon inside the disk (Green's theorem split at the origin).
MIDAS_HD inline double triangle_disk_area(Point2 a, Point2 b, double r) {
    const double r2 = r * r;
    const double aa = dot(a, a);
    const double bb = dot(b, b);
    const bool a_in = aa <= r2;
    const bool b_in = bb <= r2;
    if (a_in && b_in) return 0.5 * cross(a, b);
    const Point2 d{b.y - a.y, b.z - a.z};
    const double dd = dot(d, d);
    if (dd == 0.0) return 0.0;
    // |a + t·d|² = r²  ⇔  dd·t² + 2·ad·t + c = 0
    const double ad = dot(a, d);
    const double c = aa - r2;
    const double disc = ad * ad - dd * c;
    if (!a_in && !b_in && disc <= 0.0) return sector_area(a, b, r);  // the line misses the circle
    double t1 = 0.0;
    double t2 = 0.0;
    circle_crossings(ad, dd, c, disc, t1, t2);
    auto at = [&](double t) { return Point2{a.y + t * d.y, a.z + t * d.z}; };
    auto clamp01 = [](double t) { return t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t); };
    if (a_in) {  // leaves the disk at t2
        const Point2 p2 = at(clamp01(t2));
        return 0.5 * cross(a, p2) + sector_area(p2, b, r);
    }
    if (b_in) {  // enters the disk at t1
        const Point2 p1 = at(clamp01(t1));
        return sector_area(a, p1, r) + 0.5 * cross(p1, b);
    }
    if (t1 >= 1.0 || t2 <= 0.0) return sector_area(a, b, r);  // chord outside the segment
    const Point2 p1 = at(clamp01(t1));
    const Point2 p2 = at(clamp01(t2));
    return sector_area(a, p1, r) + 0.5 * cross(p1, p2) + sector_area(p2, b, r);
}

/// Signed area of polygon ∩ disk(0, r) (sign of the polygon's orientation); 0 for r ≤ 0.
MIDAS_HD inline double polygon_disk_area(const Point2* p, int n, double r) {
    if (r <= 0.0 || n < 3) return 0.0;
    double acc = 0.0;
    for (int i = 0; i < n; ++i) acc += triangle_disk_area(p[i], p[(i + 1) % n], r);
    return acc;
}

/// Area of polygon ∩ disk(0, r) for a polygon that does NOT contain the origin (it then subtends
/// less than 180° as seen from the origin). Same value as polygon_disk_area, but each arc of the
/// circle outside the polygon costs one atan2 (exit → entry point) instead of one per edge.
/// Positive for a polygon listed in increasing-η order.
MIDAS_HD inline double polygon_disk_area_off_origin(const Point2* p, int n, double r) {
    if (r <= 0.0 || n < 3 || n > max_clip_vertices) return n > max_clip_vertices ? polygon_disk_area(p, n, r) : 0.0;
    const double r2 = r * r;
    double rr[max_clip_vertices];
    bool all_in = true;
    for (int i = 0; i < n; ++i) {
        rr[i] = dot(p[i], p[i]);
        all_in = all_in && rr[i] <= r2;
    }
    double tri = 0.0;  // Σ cross(a, b) over the pieces of edges inside the disk
    if (all_in) {
        for (int i = 0; i < n; ++i) tri += cross(p[i], p[i + 1 == n ? 0 : i + 1]);
        return 0.5 * tri;
    }
    double arc = 0.0;  // Σ swept angle of the circle's arcs outside the polygon
    bool open_arc = false, have_first_entry = false;
    Point2 exit_pt{}, first_entry{};
    for (int i = 0; i < n; ++i) {
        const int k = i + 1 == n ? 0 : i + 1;
        const Point2 a = p[i];
        const Point2 b = p[k];
        const bool a_in = rr[i] <= r2;
        const bool b_in = rr[k] <= r2;
        if (a_in && b_in) {
            tri += cross(a, b);
            continue;
        }
        const Point2 d{b.y - a.y, b.z - a.z};
        const double dd = dot(d, d);
        if (dd == 0.0) continue;
        const double ad = dot(a, d);
        const double c = rr[i] - r2;
        const double disc = ad * ad - dd * c;
        if (!a_in && !b_in && (disc <= 0.0 || ad >= 0.0 || ad + dd <= 0.0))
            continue;  // both ends outside and the closest point of the line is off the segment or outside
        double t1 = 0.0;
        double t2 = 0.0;
        circle_crossings(ad, dd, c, disc, t1, t2);
        t1 = t1 < 0.0 ? 0.0 : (t1 > 1.0 ? 1.0 : t1);
        t2 = t2 < 0.0 ? 0.0 : (t2 > 1.0 ? 1.0 : t2);
        const Point2 p1{a.y + t1 * d.y, a.z + t1 * d.z};
        const Point2 p2{a.y + t2 * d.y, a.z + t2 * d.z};
        if (!a_in) {  // enters the disk at t1: close the open arc (or remember the first entry)
            if (open_arc) {
                arc += std::atan2(cross(exit_pt, p1), dot(exit_pt, p1));
                open_arc = false;
            } else {
                first_entry = p1;
                have_first_entry = true;
            }
        }
        if (a_in) {
            tri += cross(a, p2);  // leaves at t2
        } else if (b_in) {
            tri += cross(p1, b);
        } else {
            tri += cross(p1, p2);  // a chord inside the segment
        }
        if (!b_in) {
            exit_pt = p2;
            open_arc = true;
        }
    }
    if (open_arc && have_first_entry) arc += std::atan2(cross(exit_pt, first_entry), dot(exit_pt, first_entry));
    return 0.5 * tri + 0.5 * r2 * arc;
}

/// Area of polygon ∩ annular sector {r0 ≤ R ≤ r1, η0 ≤ η ≤ η1} (η in degrees, any width
/// 0 < η1 − η0 ≤ 360; the wedge is taken modulo 360°). Sign follows the polygon orientation.
/// Preconditions (checked by callers): 3 ≤ n ≤ max_clip_vertices − 2 and a convex polygon
/// (a pixel footprint is), for which the wedge clip is exact. Empty ranges give 0.
MIDAS_HD inline double polygon_sector_area(const Point2* p, int n, double r0, double r1, double eta0_deg,
                                           double eta1_deg) {
    if (n < 3 || r1 <= r0 || eta1_deg <= eta0_deg) return 0.0;
    const double width = eta1_deg - eta0_deg;
    if (width >= 360.0) return polygon_disk_area(p, n, r1) - polygon_disk_area(p, n, r0);
    // a wedge wider than 180° is split in two halves, each a convex cone
    const int n_parts = width > 180.0 ? 2 : 1;
    double total = 0.0;
    for (int k = 0; k < n_parts; ++k) {
        const double e0 = eta0_deg + width * k / n_parts;
        const double e1 = k + 1 == n_parts ? eta1_deg : eta0_deg + width * (k + 1) / n_parts;
        Point2 scratch[max_clip_vertices];
        Point2 q[max_clip_vertices];
        const int m = clip_wedge(p, n, eta_direction(e0 * deg_to_rad), eta_direction(e1 * deg_to_rad), q, scratch);
        if (m == 0) continue;
        total += polygon_disk_area(q, m, r1) - polygon_disk_area(q, m, r0);
    }
    return total;
}

/// Intensity correction a pixel's value is divided by (upstream MapperCore.c): cos³2θ for the
/// solid angle and 1 − P·sin²2θ·cos²η for polarization, evaluated at (y, z) (pixels) with the
/// sample-detector distance lsd_px. Uses sin²2θ = R²/(L² + R²), cos²η = z²/R².
MIDAS_HD inline double intensity_correction(Point2 at, double lsd_px, bool solid_angle, bool polarization,
                                            double polarization_fraction) {
    const double rr = dot(at, at);
    const double ll = lsd_px * lsd_px;
    double c = 1.0;
    if (solid_angle) {
        const double cos2t = lsd_px / std::sqrt(ll + rr);
        c *= cos2t * cos2t * cos2t;
    }
    if (polarization) c *= 1.0 - polarization_fraction * at.z * at.z / (ll + rr);
    return c;
}

}  // namespace midas::integration
