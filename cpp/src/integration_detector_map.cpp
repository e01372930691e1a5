#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/integration/detector_map.hpp"

namespace midas::integration {
namespace {

constexpr std::int64_t rows_per_chunk = 8;  // fixed work unit: results never depend on threads
constexpr double eta_pad_deg = 1e-9;        // widen candidate ranges; extra bins get zero area

struct Entry {
    std::int32_t bin;
    std::int32_t pixel;  // transformed pixel index Z·n_y + Y
    double fraction;
};

struct ChunkOut {
    std::vector<Entry> entries;
    std::vector<std::int32_t> flagged;  // bins touched by masked pixels
    std::int64_t n_degenerate = 0;
};

double wrap180(double d) {
    while (d > 180.0) d -= 360.0;
    while (d <= -180.0) d += 360.0;
    return d;
}

double segment_distance(Point2 a, Point2 b) {
    const Point2 d{b.y - a.y, b.z - a.z};
    const double dd = dot(d, d);
    double t = dd > 0.0 ? -dot(a, d) / dd : 0.0;
    t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
    return std::hypot(a.y + t * d.y, a.z + t * d.z);
}

/// One pixel's overlaps with the bins, appended to `pieces` as (bin, area in px²).
class PixelSplitter {
   public:
    PixelSplitter(const BinGrid& bins) : bins_(bins), edges_(bins.r_edges_px.data()), n_r_(bins.n_r()) {
        eta_lo_ = bins.eta_min_deg;
        eta_hi_ = bins.eta_min_deg + bins.eta_bin_size_deg * static_cast<double>(bins.n_eta);
    }

    // Returns the footprint area; pieces receives (bin, area) pairs in a fixed order.
    double split(Point2 (&quad)[4], double (&eta)[4], double (&rad)[4],
                 std::vector<std::pair<std::int32_t, double>>& pieces) {
        pieces.clear();
        double area = polygon_area(quad, 4);
        if (area < 0.0) {
            std::swap(quad[1], quad[3]);
            std::swap(eta[1], eta[3]);
            std::swap(rad[1], rad[3]);
            area = -area;
        }
        if (!(area > 0.0)) return 0.0;
        // angular extent by unwrapping along the boundary; a winding of ±360° means the
        // footprint contains the beam
        double u[4];
        u[0] = eta[0];
        for (int k = 1; k < 4; ++k) u[k] = u[k - 1] + wrap180(eta[k] - eta[k - 1]);
        const double winding = u[3] + wrap180(eta[0] - eta[3]) - u[0];
        double rmax = std::max(std::max(rad[0], rad[1]), std::max(rad[2], rad[3]));
        double rmin = std::numeric_limits<double>::infinity();
        for (int k = 0; k < 4; ++k) rmin = std::min(rmin, segment_distance(quad[k], quad[(k + 1) % 4]));
        const bool around_beam = std::abs(winding) > 180.0 || rmin <= 0.0;
        if (around_beam) rmin = 0.0;
        const double umin = std::min(std::min(u[0], u[1]), std::min(u[2], u[3]));
        const double umax = std::max(std::max(u[0], u[1]), std::max(u[2], u[3]));

        // radial candidates: bins i with edge[i] < rmax and edge[i+1] > rmin
        if (n_r_ <= 0 || rmax <= edges_[0] || rmin >= edges_[n_r_]) return area;
        const std::int64_t i_start =
            std::max<std::int64_t>(0, std::upper_bound(edges_, edges_ + n_r_ + 1, rmin) - edges_ - 1);
        const std::int64_t i_end =
            std::min<std::int64_t>(n_r_, std::lower_bound(edges_, edges_ + n_r_ + 1, rmax) - edges_);

        candidate_eta_bins(around_beam, umin, umax);
        for (const std::int64_t j : eta_bins_) {
            const double e0 = eta_lo_ + bins_.eta_bin_size_deg * static_cast<double>(j);
            const double e1 = e0 + bins_.eta_bin_size_deg;
            int n_parts = 0;
            if (!around_beam && inside_wedge(umin, umax, e0, e1)) {
                parts_[0][0] = quad[0], parts_[0][1] = quad[1], parts_[0][2] = quad[2], parts_[0][3] = quad[3];
                part_n_[0] = 4;
                part_area_[0] = area;
                n_parts = 1;
            } else {
                n_parts = clip_to_bin(quad, e0, e1);
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
    static bool inside_wedge(double umin, double umax, double e0, double e1) {
        for (double s : {-360.0, 0.0, 360.0})
            if (umin + s >= e0 && umax + s <= e1) return true;
        return false;
    }

    void candidate_eta_bins(bool around_beam, double umin, double umax) {
        eta_bins_.clear();
        const double size = bins_.eta_bin_size_deg;
        if (around_beam || umax - umin >= 360.0) {
            for (std::int64_t j = 0; j < bins_.n_eta; ++j) eta_bins_.push_back(j);
            return;
        }
        for (double s : {-360.0, 0.0, 360.0}) {
            const double lo = std::max(umin + s - eta_pad_deg, eta_lo_);
            const double hi = std::min(umax + s + eta_pad_deg, eta_hi_);
            if (lo > hi) continue;
            const auto j0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor((lo - eta_lo_) / size)));
            const auto j1 = std::min<std::int64_t>(bins_.n_eta - 1,
                                                   static_cast<std::int64_t>(std::floor((hi - eta_lo_) / size)));
            for (std::int64_t j = j0; j <= j1; ++j) eta_bins_.push_back(j);
        }
        std::sort(eta_bins_.begin(), eta_bins_.end());
        eta_bins_.erase(std::unique(eta_bins_.begin(), eta_bins_.end()), eta_bins_.end());
    }

    // Clip the quad to the wedge [e0, e1] (two convex halves when wider than 180°).
    int clip_to_bin(const Point2 (&quad)[4], double e0, double e1) {
        const double width = e1 - e0;
        if (width >= 360.0) {
            for (int k = 0; k < 4; ++k) parts_[0][k] = quad[k];
            part_n_[0] = 4;
            part_area_[0] = polygon_area(quad, 4);
            return 1;
        }
        const int halves = width > 180.0 ? 2 : 1;
        int n = 0;
        for (int h = 0; h < halves; ++h) {
            const double a0 = e0 + width * h / halves;
            const double a1 = h + 1 == halves ? e1 : e0 + width * (h + 1) / halves;
            Point2 scratch[max_clip_vertices];
            const int m = clip_wedge(quad, 4, eta_direction(a0 * deg_to_rad), eta_direction(a1 * deg_to_rad),
                                     parts_[n], scratch);
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
        double acc = 0.0;
        for (int p = 0; p < n_parts; ++p) {
            if (r <= rmin) continue;
            acc += r >= rmax ? part_area_[p] : polygon_disk_area(parts_[p], part_n_[p], r);
        }
        return acc;
    }

    const BinGrid& bins_;
    const double* edges_;
    std::int64_t n_r_;
    double eta_lo_ = 0.0, eta_hi_ = 0.0;
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

    // corner polar coordinates, shared by the 4 pixels around each corner
    std::vector<double> c_eta(static_cast<std::size_t>(n_corners));
    std::vector<double> c_rad(static_cast<std::size_t>(n_corners));
#pragma omp parallel for schedule(static)
    for (std::int64_t c = 0; c < n_corners; ++c) {
        c_rad[c] = std::hypot(cy[c], cz[c]);
        c_eta[c] = std::atan2(-cy[c], cz[c]) / deg_to_rad;
    }

    const bool corrected = settings.solid_angle || settings.polarization;
    std::vector<double> inv_correction(corrected ? static_cast<std::size_t>(n_pixels) : 0);
    const std::int64_t n_chunks = (n_z + rows_per_chunk - 1) / rows_per_chunk;
    std::vector<ChunkOut> chunks(static_cast<std::size_t>(n_chunks));
    const double quantum = settings.fraction_quantum;

#pragma omp parallel
    {
        PixelSplitter splitter(bins);
        std::vector<std::pair<std::int32_t, double>> pieces;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
            ChunkOut& out = chunks[static_cast<std::size_t>(ch)];
            const std::int64_t z_end = std::min(n_z, (ch + 1) * rows_per_chunk);
            for (std::int64_t z = ch * rows_per_chunk; z < z_end; ++z) {
                for (std::int64_t y = 0; y < n_y; ++y) {
                    const std::int64_t pix = z * n_y + y;
                    const std::int64_t col = raw_index.empty() ? pix : raw_index[pix];
                    const std::int64_t c[4] = {z * n_cy + y, z * n_cy + y + 1, (z + 1) * n_cy + y + 1,
                                               (z + 1) * n_cy + y};
                    Point2 quad[4];
                    double eta[4], rad[4];
                    for (int k = 0; k < 4; ++k) {
                        quad[k] = Point2{cy[c[k]], cz[c[k]]};
                        eta[k] = c_eta[c[k]];
                        rad[k] = c_rad[c[k]];
                    }
                    if (corrected) {
                        const Point2 centre{0.25 * (quad[0].y + quad[1].y + quad[2].y + quad[3].y),
                                            0.25 * (quad[0].z + quad[1].z + quad[2].z + quad[3].z)};
                        inv_correction[pix] = 1.0 / intensity_correction(centre, settings.lsd_px, settings.solid_angle,
                                                                         settings.polarization,
                                                                         settings.polarization_fraction);
                    }
                    const double area = splitter.split(quad, eta, rad, pieces);
                    if (!(area > 0.0)) {
                        ++out.n_degenerate;
                        continue;
                    }
                    const bool bad = !mask.empty() && mask[col] != 0;
                    // fractions, optionally quantised by cumulative rounding (exact sums)
                    double cum = 0.0;
                    double prev_q = 0.0;
                    for (const auto& [bin, a] : pieces) {
                        double f = a / area;
                        if (quantum > 0.0) {
                            cum += f;
                            const double q = std::nearbyint(cum / quantum);
                            f = (q - prev_q) * quantum;
                            prev_q = q;
                        }
                        if (!(f > 0.0)) continue;
                        if (bad) {
                            if (settings.mask_policy == MaskPolicy::flag_bins) out.flagged.push_back(bin);
                        } else {
                            out.entries.push_back(Entry{bin, static_cast<std::int32_t>(pix), f});
                        }
                    }
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
    // CSR by counting sort over bins; chunk and entry order keep each row in pixel order
    result.indptr.assign(static_cast<std::size_t>(n_bins + 1), 0);
    for (const auto& ch : chunks)
        for (const auto& e : ch.entries)
            if (!result.bin_flagged[static_cast<std::size_t>(e.bin)]) ++result.indptr[static_cast<std::size_t>(e.bin) + 1];
    for (std::int64_t b = 0; b < n_bins; ++b) result.indptr[b + 1] += result.indptr[b];
    const auto nnz = static_cast<std::size_t>(result.indptr[static_cast<std::size_t>(n_bins)]);
    result.indices.resize(nnz);
    result.weights.resize(nnz);
    result.fractions.resize(nnz);
    {
        std::vector<std::int64_t> cursor(result.indptr.begin(), result.indptr.end() - 1);
        for (auto& ch : chunks) {
            for (const auto& e : ch.entries) {
                if (result.bin_flagged[static_cast<std::size_t>(e.bin)]) continue;
                const auto k = static_cast<std::size_t>(cursor[static_cast<std::size_t>(e.bin)]++);
                result.indices[k] = raw_index.empty() ? e.pixel : raw_index[e.pixel];
                result.fractions[k] = static_cast<Real>(e.fraction);
                result.weights[k] = static_cast<Real>(corrected ? e.fraction * inv_correction[e.pixel] : e.fraction);
            }
            std::vector<Entry>().swap(ch.entries);
        }
    }
    result.bin_area.assign(static_cast<std::size_t>(n_bins), 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < n_bins; ++b) {
        double acc = 0.0;
        for (std::int64_t k = result.indptr[b]; k < result.indptr[b + 1]; ++k)
            acc += static_cast<double>(result.fractions[static_cast<std::size_t>(k)]);
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
