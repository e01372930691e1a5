#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/core/parallel.hpp"
#include "midas/integration/detector_map.hpp"

namespace midas::integration {
namespace {

constexpr std::int64_t rows_per_chunk = 8;  // fixed work unit: results never depend on threads
constexpr double eta_pad_deg = 1e-9;        // widen candidate ranges; extra bins get zero area
constexpr double min_fraction = 1e-12;      // unquantised pieces below this are rounding noise

/// Entries of one chunk of pixel rows in pixel order: per pixel a count, then (bin, fraction).
template <class Real>
struct ChunkOut {
    std::vector<std::uint16_t> count;  // entries per pixel of the chunk
    std::vector<std::int32_t> bin;
    std::vector<Real> fraction;
    std::vector<std::int32_t> flagged;  // bins touched by masked pixels
    std::int64_t n_degenerate = 0;
};

/// Round to the nearest integer, ties to even (as std::nearbyint in the default rounding mode),
/// for |x| < 2^51, without a library call: adding and removing 2^52 leaves no fraction bits.
inline double round_half_even(double x) {
    constexpr double shift = 4503599627370496.0;  // 2^52
    if (!(std::abs(x) < 0.5 * shift)) return std::nearbyint(x);
    return x >= 0.0 ? (x + shift) - shift : (x - shift) + shift;
}

double wrap180(double d) {
    if (d > 180.0) d -= 360.0;
    if (d <= -180.0) d += 360.0;
    return d;
}

double segment_distance2(Point2 a, Point2 b) {
    const Point2 d{b.y - a.y, b.z - a.z};
    const double dd = dot(d, d);
    // the foot of the perpendicular, clamped to the segment (divide only when it lies inside)
    const double num = -dot(a, d);
    double t = 0.0;
    if (dd > 0.0 && num > 0.0) t = num >= dd ? 1.0 : num / dd;
    const Point2 c{a.y + t * d.y, a.z + t * d.z};
    return dot(c, c);
}

/// One pixel's overlaps with the bins, appended to `pieces` as (bin, area in px²).
class PixelSplitter {
   public:
    explicit PixelSplitter(const BinGrid& bins)
        : bins_(bins), edges_(bins.r_edges_px.data()), n_r_(bins.n_r()) {
        // guesses for the radial edge search: edges at or below the start of each of n_cells cells
        const std::int64_t n_cells = std::max<std::int64_t>(1, 4 * n_r_);
        cell_origin_ = edges_[0];
        const double span_px = edges_[n_r_] - edges_[0];
        inv_cell_ = span_px > 0.0 ? static_cast<double>(n_cells) / span_px : 0.0;
        cell_guess_.resize(static_cast<std::size_t>(n_cells));
        for (std::int64_t k = 0; k < n_cells; ++k)
            cell_guess_[static_cast<std::size_t>(k)] =
                std::upper_bound(edges_, edges_ + n_r_ + 1, cell_origin_ + static_cast<double>(k) / inv_cell_) -
                edges_;
        eta_lo_ = bins.eta_min_deg;
        eta_hi_ = bins.eta_min_deg + bins.eta_bin_size_deg * static_cast<double>(bins.n_eta);
        // ray directions of every η edge, and of the mid-edge of bins wider than 180°
        dirs_.resize(static_cast<std::size_t>(bins.n_eta + 1));
        mids_.resize(static_cast<std::size_t>(bins.n_eta));
        for (std::int64_t j = 0; j <= bins.n_eta; ++j)
            dirs_[static_cast<std::size_t>(j)] = eta_direction(edge(j) * deg_to_rad);
        for (std::int64_t j = 0; j < bins.n_eta; ++j)
            mids_[static_cast<std::size_t>(j)] = eta_direction((edge(j) + 0.5 * bins.eta_bin_size_deg) * deg_to_rad);
    }

    // Returns the footprint area; pieces receives (bin, area) pairs in a fixed order.
    double split(Point2 (&quad)[4], double (&eta)[4], std::vector<std::pair<std::int32_t, double>>& pieces) {
        pieces.clear();
        double area = polygon_area(quad, 4);
        if (area < 0.0) {
            std::swap(quad[1], quad[3]);
            std::swap(eta[1], eta[3]);
            area = -area;
        }
        if (!(area > 0.0)) return 0.0;
        // angular extent by unwrapping along the boundary; a winding of ±360° means the
        // footprint contains the beam
        double u[4];
        u[0] = eta[0];
        for (int k = 1; k < 4; ++k) u[k] = u[k - 1] + wrap180(eta[k] - eta[k - 1]);
        const double winding = u[3] + wrap180(eta[0] - eta[3]) - u[0];
        double rmax2 = 0.0;
        double rmin2 = std::numeric_limits<double>::infinity();
        for (int k = 0; k < 4; ++k) {
            rmax2 = std::max(rmax2, dot(quad[k], quad[k]));
            rmin2 = std::min(rmin2, segment_distance2(quad[k], quad[(k + 1) % 4]));
        }
        around_beam_ = std::abs(winding) > 180.0 || rmin2 <= 0.0;
        const double rmin = around_beam_ ? 0.0 : std::sqrt(rmin2);
        const double rmax = std::sqrt(rmax2);
        const double umin = std::min(std::min(u[0], u[1]), std::min(u[2], u[3]));
        const double umax = std::max(std::max(u[0], u[1]), std::max(u[2], u[3]));

        // radial candidates: bins i with edge[i] < rmax and edge[i+1] > rmin
        if (n_r_ <= 0 || rmax <= edges_[0] || rmin >= edges_[n_r_]) return area;
        const std::int64_t i_start = std::max<std::int64_t>(0, count_edges(rmin, false) - 1);
        const std::int64_t i_end = std::min<std::int64_t>(n_r_, count_edges(rmax, true));

        candidate_eta_bins(umin, umax);
        for (const std::int64_t j : eta_bins_) {
            int n_parts = 0;
            if (!around_beam_ && inside_wedge(umin, umax, edge(j), edge(j + 1))) {
                for (int k = 0; k < 4; ++k) parts_[0][k] = quad[k];
                part_n_[0] = 4;
                part_area_[0] = area;
                n_parts = 1;
            } else {
                n_parts = clip_to_bin(quad, j);
                if (n_parts == 0) continue;
            }
            // telescoping radial split: area in bin i = D(edge[i+1]) − D(edge[i])
            double d_low = disk_area(n_parts, edges_[i_start], rmin, rmax);
            for (std::int64_t i = i_start; i < i_end; ++i) {
                const double d_high = disk_area(n_parts, edges_[i + 1], rmin, rmax);
                const double a = d_high - d_low;
                d_low = d_high;
                if (a > 0.0) pieces.emplace_back(static_cast<std::int32_t>(i * bins_.n_eta + j), a);
            }
        }
        return area;
    }

   private:
    /// Number of radial edges ≤ r (strict: < r), as upper_bound (lower_bound) would return:
    /// a walk from the cell's guess, exact whatever the guess, one or two steps for smooth edges.
    [[nodiscard]] std::int64_t count_edges(double r, bool strict) const {
        const double t = (r - cell_origin_) * inv_cell_;
        const auto n_cells = static_cast<std::int64_t>(cell_guess_.size());
        const std::int64_t k = t > 0.0 ? std::min<std::int64_t>(n_cells - 1, static_cast<std::int64_t>(t)) : 0;
        std::int64_t i = cell_guess_[static_cast<std::size_t>(k)];
        auto below = [&](double e) { return strict ? e < r : e <= r; };
        for (int step = 0; step < 8; ++step) {
            if (i > 0 && !below(edges_[i - 1]))
                --i;
            else if (i <= n_r_ && below(edges_[i]))
                ++i;
            else
                return i;
        }
        return strict ? std::lower_bound(edges_, edges_ + n_r_ + 1, r) - edges_
                      : std::upper_bound(edges_, edges_ + n_r_ + 1, r) - edges_;
    }

    [[nodiscard]] double edge(std::int64_t j) const { return eta_lo_ + bins_.eta_bin_size_deg * static_cast<double>(j); }

    static bool inside_wedge(double umin, double umax, double e0, double e1) {
        for (double s : {-360.0, 0.0, 360.0})
            if (umin + s >= e0 && umax + s <= e1) return true;
        return false;
    }

    void candidate_eta_bins(double umin, double umax) {
        eta_bins_.clear();
        const double size = bins_.eta_bin_size_deg;
        if (around_beam_ || umax - umin >= 360.0) {
            for (std::int64_t j = 0; j < bins_.n_eta; ++j) eta_bins_.push_back(j);
            return;
        }
        // the shifted ranges come in increasing order; skipping bins already listed keeps the
        // list sorted and unique. lo ≥ eta_lo_ and hi ≥ lo, so truncation is the floor.
        std::int64_t next = 0;
        for (double s : {-360.0, 0.0, 360.0}) {
            const double lo = std::max(umin + s - eta_pad_deg, eta_lo_);
            const double hi = std::min(umax + s + eta_pad_deg, eta_hi_);
            if (lo > hi) continue;
            const auto j0 = std::max<std::int64_t>(next, static_cast<std::int64_t>((lo - eta_lo_) / size));
            const auto j1 = std::min<std::int64_t>(bins_.n_eta - 1, static_cast<std::int64_t>((hi - eta_lo_) / size));
            for (std::int64_t j = j0; j <= j1; ++j) eta_bins_.push_back(j);
            next = std::max(next, j1 + 1);
        }
    }

    // Clip the quad to η bin j (two convex halves when the bin is wider than 180°).
    int clip_to_bin(const Point2 (&quad)[4], std::int64_t j) {
        const double width = bins_.eta_bin_size_deg;
        const auto ju = static_cast<std::size_t>(j);
        if (width >= 360.0) {
            for (int k = 0; k < 4; ++k) parts_[0][k] = quad[k];
            part_n_[0] = 4;
            part_area_[0] = polygon_area(quad, 4);
            return 1;
        }
        const Point2 rays[3] = {dirs_[ju], mids_[ju], dirs_[ju + 1]};
        const int halves = width > 180.0 ? 2 : 1;
        int n = 0;
        for (int h = 0; h < halves; ++h) {
            const Point2 d0 = rays[halves == 2 ? h : 0];
            const Point2 d1 = rays[halves == 2 ? h + 1 : 2];
            Point2 scratch[max_clip_vertices];
            const int m = clip_wedge(quad, 4, d0, d1, parts_[n], scratch);
            if (m == 0) continue;
            const double pa = polygon_area(parts_[n], m);
            if (!(pa > 0.0)) continue;
            part_n_[n] = m;
            part_area_[n] = pa;
            ++n;
        }
        return n;
    }

    double disk_area(int n_parts, double r, double rmin, double rmax) const {
        if (r <= rmin) return 0.0;
        double acc = 0.0;
        for (int p = 0; p < n_parts; ++p) {
            if (r >= rmax)
                acc += part_area_[p];
            else if (around_beam_)
                acc += polygon_disk_area(parts_[p], part_n_[p], r);
            else
                acc += polygon_disk_area_off_origin(parts_[p], part_n_[p], r);
        }
        return acc;
    }

    const BinGrid& bins_;
    const double* edges_;
    std::int64_t n_r_;
    double cell_origin_ = 0.0, inv_cell_ = 0.0;
    std::vector<std::int64_t> cell_guess_;
    double eta_lo_ = 0.0, eta_hi_ = 0.0;
    bool around_beam_ = false;
    std::vector<Point2> dirs_, mids_;
    std::vector<std::int64_t> eta_bins_;
    Point2 parts_[2][max_clip_vertices];
    int part_n_[2] = {0, 0};
    double part_area_[2] = {0.0, 0.0};
};

void check_inputs(span<const double> cy, span<const double> cz, std::int64_t n_y, std::int64_t n_z,
                  span<const std::int32_t> raw_index, span<const std::uint8_t> mask, const BinGrid& bins,
                  const MapSettings& settings) {
    if (n_y <= 0 || n_z <= 0)
        throw ParamError("detector map: detector shape (n_y, n_z) = (" + std::to_string(n_y) + ", " +
                         std::to_string(n_z) + ") must be positive");
    const auto n_corners = static_cast<std::size_t>((n_y + 1) * (n_z + 1));
    if (cy.size() != n_corners || cz.size() != n_corners)
        throw ParamError("detector map: corner arrays have " + std::to_string(cy.size()) + " and " +
                         std::to_string(cz.size()) + " values, expected (n_z + 1)·(n_y + 1) = " +
                         std::to_string(n_corners));
    const std::int64_t n_pixels = n_y * n_z;
    if (n_pixels > std::numeric_limits<std::int32_t>::max())
        throw CapacityError("detector map: " + std::to_string(n_pixels) + " pixels exceed the int32 column index");
    if (!raw_index.empty() && raw_index.size() != static_cast<std::size_t>(n_pixels))
        throw ParamError("detector map: raw_index has " + std::to_string(raw_index.size()) +
                         " entries, expected n_y·n_z = " + std::to_string(n_pixels));
    if (!mask.empty() && mask.size() != static_cast<std::size_t>(n_pixels))
        throw ParamError("detector map: mask has " + std::to_string(mask.size()) + " pixels, expected n_y·n_z = " +
                         std::to_string(n_pixels));
    if (bins.r_edges_px.size() < 2) throw ParamError("detector map: need at least 2 radial bin edges");
    for (std::size_t i = 0; i + 1 < bins.r_edges_px.size(); ++i)
        if (!(bins.r_edges_px[i + 1] > bins.r_edges_px[i]) || !(bins.r_edges_px[i] >= 0.0))
            throw ParamError("detector map: radial edges must be non-negative and strictly increasing; edge " +
                             std::to_string(i) + " = " + std::to_string(bins.r_edges_px[i]) + ", next " +
                             std::to_string(bins.r_edges_px[i + 1]));
    if (bins.n_eta < 1 || !(bins.eta_bin_size_deg > 0.0) ||
        bins.eta_bin_size_deg * static_cast<double>(bins.n_eta) > 360.0 + 1e-9)
        throw ParamError("detector map: eta bins (" + std::to_string(bins.n_eta) + " × " +
                         std::to_string(bins.eta_bin_size_deg) + "°) must be positive and span at most 360°");
    if (bins.n_bins() > std::numeric_limits<std::int32_t>::max())
        throw CapacityError("detector map: " + std::to_string(bins.n_bins()) + " bins exceed int32");
    if (!(settings.lsd_px > 0.0)) throw ParamError("detector map: lsd_px must be positive");
    if (settings.fraction_quantum < 0.0 || settings.fraction_quantum > 0.5)
        throw ParamError("detector map: fraction_quantum must be in [0, 0.5]");
}

}  // namespace

void ff_pixel_corners(const geometry::FFDetector& det, std::int64_t n_y, std::int64_t n_z, span<double> cy_px,
                      span<double> cz_px) {
    if (n_y <= 0 || n_z <= 0)
        throw ParamError("ff_pixel_corners: detector shape (n_y, n_z) = (" + std::to_string(n_y) + ", " +
                         std::to_string(n_z) + ") must be positive");
    const auto n_corners = static_cast<std::size_t>((n_y + 1) * (n_z + 1));
    if (cy_px.size() != n_corners || cz_px.size() != n_corners)
        throw ParamError("ff_pixel_corners: output arrays need (n_z + 1)·(n_y + 1) = " + std::to_string(n_corners) +
                         " values");
    const geometry::FFModel m = geometry::make_ff_model(det);
    const double inv_px = 1.0 / det.px_y_um;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    // Multi-panel: a corner takes the correction of the panel its pixels belong to. The corner
    // grid is shared by the (up to) 4 pixels around a corner, so two panels must never meet at
    // one corner, i.e. adjacent panels need a gap of at least one pixel.
    for (int i = 0; i + 1 < m.n_panels_y; ++i) {
        const geometry::FFPanel& a = m.panels[i * m.n_panels_z];
        const geometry::FFPanel& b = m.panels[(i + 1) * m.n_panels_z];
        if (b.y_min_px - a.y_max_px < 2.0)
            throw GeometryError("ff_pixel_corners: panel columns " + std::to_string(i) + " and " +
                                std::to_string(i + 1) + " touch (Y " + std::to_string(a.y_max_px) + " | " +
                                std::to_string(b.y_min_px) + "); the integration map needs a gap of >= 1 px "
                                "between panels so that no pixel corner is shared by two panels");
    }
    for (int j = 0; j + 1 < m.n_panels_z; ++j) {
        const geometry::FFPanel& a = m.panels[j];
        const geometry::FFPanel& b = m.panels[j + 1];
        if (b.z_min_px - a.z_max_px < 2.0)
            throw GeometryError("ff_pixel_corners: panel rows " + std::to_string(j) + " and " + std::to_string(j + 1) +
                                " touch (Z " + std::to_string(a.z_max_px) + " | " + std::to_string(b.z_min_px) +
                                "); the integration map needs a gap of >= 1 px between panels so that no pixel "
                                "corner is shared by two panels");
    }
#pragma omp parallel for schedule(static)
    for (std::int64_t k = 0; k <= n_z; ++k) {
        for (std::int64_t l = 0; l <= n_y; ++l) {
            const auto c = static_cast<std::size_t>(k * (n_y + 1) + l);
            const double yc = static_cast<double>(l) - 0.5;
            const double zc = static_cast<double>(k) - 0.5;
            int panel = -1;  // the one panel among the 4 pixels around the corner (gaps: none)
            for (int q = 0; q < 4 && m.panels != nullptr && panel < 0; ++q)
                panel = geometry::panel_index(m, yc + ((q & 1) ? 0.5 : -0.5), zc + ((q & 2) ? 0.5 : -0.5));
            // the corrected position only: no azimuth or 2θ here (the map builder takes the
            // corners' azimuths from these positions)
            double u = 0.0;
            double v = 0.0;
            double r = 0.0;
            double g = 1.0;
            if (geometry::pixel_to_corrected_plane(m, geometry::panel_at(m, panel), yc, zc, u, v, r, g)) {
                cy_px[c] = g * u * inv_px;
                cz_px[c] = g * v * inv_px;
            } else {
                cy_px[c] = nan;
                cz_px[c] = nan;
            }
        }
    }
}

template <class Real>
DetectorMap<Real> build_detector_map(span<const double> corner_y_px, span<const double> corner_z_px,
                                     std::int64_t n_y, std::int64_t n_z, span<const std::int32_t> raw_index,
                                     span<const std::uint8_t> mask, const BinGrid& bins,
                                     const MapSettings& settings) {
    check_inputs(corner_y_px, corner_z_px, n_y, n_z, raw_index, mask, bins, settings);
    const std::int64_t n_cy = n_y + 1;
    const std::int64_t n_corners = (n_y + 1) * (n_z + 1);
    const std::int64_t n_pixels = n_y * n_z;
    const std::int64_t n_bins = bins.n_bins();
    const double* cy = corner_y_px.data();
    const double* cz = corner_z_px.data();

    // corner azimuths, shared by the 4 pixels around each corner
    uninit_vector<double> c_eta(static_cast<std::size_t>(n_corners));  // filled in parallel
#pragma omp parallel for schedule(static)
    for (std::int64_t c = 0; c < n_corners; ++c) c_eta[c] = std::atan2(-cy[c], cz[c]) / deg_to_rad;

    const bool corrected = settings.solid_angle || settings.polarization;
    uninit_vector<double> inv_correction(corrected ? static_cast<std::size_t>(n_pixels) : 0);  // every pixel
    const std::int64_t n_chunks = (n_z + rows_per_chunk - 1) / rows_per_chunk;
    std::vector<ChunkOut<Real>> chunks(static_cast<std::size_t>(n_chunks));
    const double quantum = settings.fraction_quantum;
    // a power-of-two quantum has an exact inverse: multiplying by it is the same as dividing
    int quantum_exp = 0;
    const bool quantum_pow2 = quantum > 0.0 && std::frexp(quantum, &quantum_exp) == 0.5;
    const double inv_quantum = quantum_pow2 ? 1.0 / quantum : 0.0;

#pragma omp parallel
    {
        PixelSplitter splitter(bins);
        std::vector<std::pair<std::int32_t, double>> pieces;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
            ChunkOut<Real>& out = chunks[static_cast<std::size_t>(ch)];
            const std::int64_t z_end = std::min(n_z, (ch + 1) * rows_per_chunk);
            const std::int64_t n_here = (z_end - ch * rows_per_chunk) * n_y;
            out.count.assign(static_cast<std::size_t>(n_here), 0);
            out.bin.reserve(static_cast<std::size_t>(3 * n_here));
            out.fraction.reserve(static_cast<std::size_t>(3 * n_here));
            std::int64_t local = 0;
            for (std::int64_t z = ch * rows_per_chunk; z < z_end; ++z) {
                for (std::int64_t y = 0; y < n_y; ++y, ++local) {
                    const std::int64_t pix = z * n_y + y;
                    const std::int64_t col = raw_index.empty() ? pix : raw_index[pix];
                    const std::int64_t c[4] = {z * n_cy + y, z * n_cy + y + 1, (z + 1) * n_cy + y + 1,
                                               (z + 1) * n_cy + y};
                    Point2 quad[4];
                    double eta[4];
                    for (int k = 0; k < 4; ++k) {
                        quad[k] = Point2{cy[c[k]], cz[c[k]]};
                        eta[k] = c_eta[c[k]];
                    }
                    if (corrected) {
                        const Point2 centre{0.25 * (quad[0].y + quad[1].y + quad[2].y + quad[3].y),
                                            0.25 * (quad[0].z + quad[1].z + quad[2].z + quad[3].z)};
                        inv_correction[pix] = 1.0 / intensity_correction(centre, settings.lsd_px, settings.solid_angle,
                                                                         settings.polarization,
                                                                         settings.polarization_fraction);
                    }
                    const double area = splitter.split(quad, eta, pieces);
                    if (!(area > 0.0)) {
                        ++out.n_degenerate;
                        continue;
                    }
                    const bool bad = !mask.empty() && mask[col] != 0;
                    // fractions, optionally quantised by cumulative rounding (exact sums)
                    double cum = 0.0;
                    double prev_q = 0.0;
                    std::size_t n_kept = 0;
                    for (const auto& [bin, a] : pieces) {
                        double f = a / area;
                        if (quantum > 0.0) {
                            cum += f;
                            const double q = round_half_even(quantum_pow2 ? cum * inv_quantum : cum / quantum);
                            f = (q - prev_q) * quantum;
                            prev_q = q;
                        }
                        if (!(f > min_fraction)) continue;
                        if (bad) {
                            if (settings.mask_policy == MaskPolicy::flag_bins) out.flagged.push_back(bin);
                        } else {
                            out.bin.push_back(bin);
                            out.fraction.push_back(static_cast<Real>(f));
                            ++n_kept;
                        }
                    }
                    if (n_kept > std::numeric_limits<std::uint16_t>::max())
                        throw CapacityError("detector map: pixel (" + std::to_string(y) + ", " + std::to_string(z) +
                                            ") overlaps " + std::to_string(n_kept) + " bins (max 65535)");
                    out.count[static_cast<std::size_t>(local)] = static_cast<std::uint16_t>(n_kept);
                }
            }
        }
    }

    DetectorMap<Real> result;
    result.bin_flagged.assign(static_cast<std::size_t>(n_bins), 0);
    for (const auto& ch : chunks) {
        result.n_degenerate += ch.n_degenerate;
        for (const auto b : ch.flagged) result.bin_flagged[static_cast<std::size_t>(b)] = 1;
    }
    const std::uint8_t* flagged = result.bin_flagged.data();

    // CSR by a counting sort over bins, in parallel: the chunks are cut into n_groups contiguous
    // groups; each group counts its entries per bin, the counts are turned into per-(group, bin)
    // write cursors (bin-major, groups in order), and each group scatters its own entries. Within
    // a bin the entries follow group, chunk and pixel order, i.e. pixel order: the matrix does not
    // depend on the number of groups (hence not on the thread count).
    const std::int64_t n_groups =
        std::clamp<std::int64_t>(midas::parallel::max_threads(), 1, std::max<std::int64_t>(1, std::min<std::int64_t>(n_chunks, 8)));
    // per-(group, bin) counts, then write cursors relative to the bin start (a bin holds at most
    // one entry per pixel, so they fit int32)
    std::vector<std::int32_t> cursor(static_cast<std::size_t>(n_groups * n_bins), 0);
    auto group_chunks = [&](std::int64_t g) {
        return std::pair<std::int64_t, std::int64_t>{g * n_chunks / n_groups, (g + 1) * n_chunks / n_groups};
    };
#pragma omp parallel for schedule(static, 1)
    for (std::int64_t g = 0; g < n_groups; ++g) {
        std::int32_t* cnt = cursor.data() + g * n_bins;
        const auto [ch0, ch1] = group_chunks(g);
        for (std::int64_t ch = ch0; ch < ch1; ++ch)
            for (const auto b : chunks[static_cast<std::size_t>(ch)].bin)
                if (!flagged[b]) ++cnt[b];
    }
    result.indptr.resize(static_cast<std::size_t>(n_bins + 1));
    std::int64_t* indptr = result.indptr.data();
    indptr[0] = 0;
    for (std::int64_t b = 0; b < n_bins; ++b) {
        std::int64_t n = 0;
        for (std::int64_t g = 0; g < n_groups; ++g) n += cursor[static_cast<std::size_t>(g * n_bins + b)];
        indptr[b + 1] = indptr[b] + n;
    }
    const auto nnz = static_cast<std::size_t>(indptr[n_bins]);
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < n_bins; ++b) {
        std::int32_t at = 0;
        for (std::int64_t g = 0; g < n_groups; ++g) {
            std::int32_t& c = cursor[static_cast<std::size_t>(g * n_bins + b)];
            const std::int32_t n = c;
            c = at;
            at += n;
        }
    }
    result.indices.resize(nnz);
    result.weights.resize(nnz);
    if (corrected) result.fractions.resize(nnz);  // else fractions == weights (left empty)
    std::int32_t* out_index = result.indices.data();
    Real* out_weight = result.weights.data();
    Real* out_fraction = corrected ? result.fractions.data() : nullptr;
#pragma omp parallel for schedule(static, 1)
    for (std::int64_t g = 0; g < n_groups; ++g) {
        std::int32_t* cur = cursor.data() + g * n_bins;
        const auto [ch0, ch1] = group_chunks(g);
        for (std::int64_t ch = ch0; ch < ch1; ++ch) {
            const ChunkOut<Real>& c = chunks[static_cast<std::size_t>(ch)];
            std::int64_t pix = ch * rows_per_chunk * n_y;
            std::size_t e = 0;
            for (const auto cnt : c.count) {
                const auto col = static_cast<std::int32_t>(raw_index.empty() ? pix : raw_index[pix]);
                const double inv_c = corrected ? inv_correction[static_cast<std::size_t>(pix)] : 1.0;
                for (std::size_t k = 0; k < cnt; ++k, ++e) {
                    const std::int32_t b = c.bin[e];
                    if (flagged[b]) continue;
                    const auto pos = static_cast<std::size_t>(indptr[b] + cur[b]++);
                    const Real f = c.fraction[e];
                    out_index[pos] = col;
                    if (corrected) {
                        out_fraction[pos] = f;
                        out_weight[pos] = static_cast<Real>(static_cast<double>(f) * inv_c);
                    } else {
                        out_weight[pos] = f;
                    }
                }
                ++pix;
            }
        }
    }
    chunks.clear();
    const Real* frac = corrected ? result.fractions.data() : result.weights.data();
    result.bin_area.assign(static_cast<std::size_t>(n_bins), 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < n_bins; ++b) {
        double acc = 0.0;
        for (std::int64_t k = indptr[b]; k < indptr[b + 1]; ++k) acc += static_cast<double>(frac[k]);
        result.bin_area[b] = acc;
    }
    return result;
}

template DetectorMap<float> build_detector_map<float>(span<const double>, span<const double>, std::int64_t,
                                                      std::int64_t, span<const std::int32_t>,
                                                      span<const std::uint8_t>, const BinGrid&, const MapSettings&);
template DetectorMap<double> build_detector_map<double>(span<const double>, span<const double>, std::int64_t,
                                                        std::int64_t, span<const std::int32_t>,
                                                        span<const std::uint8_t>, const BinGrid&,
                                                        const MapSettings&);

}  // namespace midas::integration
