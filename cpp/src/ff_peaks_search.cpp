// FF peak search of whole frames (see midas/ff/peak_search.hpp).
#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>
#include <string>
#include <unordered_set>

#include "midas/core/error.hpp"
#include "midas/ff/components.hpp"
#include "midas/ff/peak_search.hpp"

namespace midas::ff {

namespace {

constexpr double rad2deg = 57.29577951308232;
constexpr double deg2rad = 0.017453292519943295;

/// Wrap an angle difference into (−180, 180].
double wrap180(double d) {
    d = std::remainder(d, 360.0);
    return d <= -180.0 ? d + 360.0 : d;
}

struct Polar {
    std::vector<double> r, eta;  // px, deg (unwrapped around the reference direction)
};

/// Polar coordinates of pixels around the beam centre; η = atan2(Y − ybc, Z − zbc) (η = 0 up,
/// +90° toward larger Y, upstream_facts §2.2), unwrapped to lie within ±180° of eta_ref_deg.
Polar to_polar(span<const double> y_px, span<const double> z_px, const PeakSearchSettings& s, double eta_ref_deg) {
    Polar p;
    p.r.resize(y_px.size());
    p.eta.resize(y_px.size());
    for (std::size_t i = 0; i < y_px.size(); ++i) {
        const double dy = y_px[i] - s.bc_y_px, dz = z_px[i] - s.bc_z_px;
        p.r[i] = std::hypot(dy, dz);
        p.eta[i] = eta_ref_deg + wrap180(std::atan2(dy, dz) * rad2deg - eta_ref_deg);
    }
    return p;
}

/// Runs ahead whose pixels are prefetched.
constexpr std::size_t prefetch_runs = 16;

/// Largest value of a run of raw pixels (as double).
template <class T>
double run_max(const T* src, std::int64_t len, std::int64_t stride) {
    T m = src[0];
    if (stride == 1) {
        for (std::int64_t i = 1; i < len; ++i) m = src[i] > m ? src[i] : m;
    } else {
        for (std::int64_t i = 1; i < len; ++i) m = src[i * stride] > m ? src[i * stride] : m;
    }
    return static_cast<double>(m);
}

/// Largest raw − dark of a run.
template <class T>
double run_max_above_dark(const T* src, std::int64_t len, std::int64_t stride, const float* dark) {
    double m = static_cast<double>(src[0]) - static_cast<double>(dark[0]);
    for (std::int64_t i = 1; i < len; ++i) {
        const double v = static_cast<double>(src[i * stride]) - static_cast<double>(dark[i]);
        m = v > m ? v : m;
    }
    return m;
}

void fill_row(double* row, double spot_id) {
    std::fill(row, row + ps_n_columns, 0.0);
    row[ps_spot_id] = spot_id;
}

}  // namespace

void analyse_region(span<const double> y_px, span<const double> z_px, span<const double> value,
                    span<const std::int32_t> maxima, double threshold, bool mask_touched,
                    const PeakSearchSettings& settings, std::vector<double>& out) {
    const std::size_t n = value.size();
    if (y_px.size() != n || z_px.size() != n) throw ParamError("analyse_region: y_px, z_px, value differ in length");
    if (n == 0 || maxima.empty()) throw ParamError("analyse_region: empty region or no maxima");
    for (auto k : maxima)
        if (k < 0 || static_cast<std::size_t>(k) >= n) throw ParamError("analyse_region: maximum index out of range");

    // Brightest maximum (first in order on ties) fixes the η reference.
    std::size_t brightest = static_cast<std::size_t>(maxima[0]);
    for (auto k : maxima)
        if (value[static_cast<std::size_t>(k)] > value[brightest]) brightest = static_cast<std::size_t>(k);
    const double eta_ref =
        std::atan2(y_px[brightest] - settings.bc_y_px, z_px[brightest] - settings.bc_z_px) * rad2deg;
    const Polar pol = to_polar(y_px, z_px, settings, eta_ref);
    const double raw_sum = std::accumulate(value.begin(), value.end(), 0.0);
    const double first_id = static_cast<double>(out.size() / ps_n_columns) + 1.0;

    if (!settings.do_peak_fit) {
        // One intensity-weighted centroid per region, in (R, η) as upstream.
        double sr = 0.0, se = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            sr += value[i] * pol.r[i];
            se += value[i] * pol.eta[i];
        }
        const double r = sr / raw_sum, eta = se / raw_sum;
        out.resize(out.size() + ps_n_columns);
        double* row = out.data() + out.size() - ps_n_columns;
        fill_row(row, first_id);
        row[ps_integrated_intensity] = raw_sum;
        row[ps_y_cen] = settings.bc_y_px + r * std::sin(eta * deg2rad);
        row[ps_z_cen] = settings.bc_z_px + r * std::cos(eta * deg2rad);
        row[ps_imax] = value[brightest];
        row[ps_radius] = r;
        row[ps_eta] = wrap180(eta);
        row[ps_nr_pixels] = static_cast<double>(n);
        row[ps_nr_px_tot] = static_cast<double>(n);
        row[ps_n_peaks] = 1.0;
        row[ps_max_y] = y_px[brightest];
        row[ps_max_z] = z_px[brightest];
        row[ps_diff_y] = y_px[brightest] - row[ps_y_cen];
        row[ps_diff_z] = z_px[brightest] - row[ps_z_cen];
        row[ps_raw_imax] = value[brightest];
        row[ps_raw_sum_intensity] = raw_sum;
        row[ps_mask_touched] = mask_touched ? 1.0 : 0.0;
        return;
    }

    const std::size_t n_peaks = maxima.size();
    // Nearest maximum (in pixels) of every pixel: its share for width estimates and RawSum.
    std::vector<std::int32_t> owner(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        double best = 1e300;
        for (std::size_t j = 0; j < n_peaks; ++j) {
            const auto k = static_cast<std::size_t>(maxima[j]);
            const double d2 = (y_px[i] - y_px[k]) * (y_px[i] - y_px[k]) + (z_px[i] - z_px[k]) * (z_px[i] - z_px[k]);
            if (d2 < best) {
                best = d2;
                owner[i] = static_cast<std::int32_t>(j);
            }
        }
    }
    double r_min = 1e300, r_max = -1e300, e_min = 1e300, e_max = -1e300;
    for (std::size_t i = 0; i < n; ++i) {
        r_min = std::min(r_min, pol.r[i]);
        r_max = std::max(r_max, pol.r[i]);
        e_min = std::min(e_min, pol.eta[i]);
        e_max = std::max(e_max, pol.eta[i]);
    }
    const double max_r_width = std::max(0.1, (r_max - r_min) / 2.0 + 1.0);
    const double max_eta_width =
        std::max(0.1, (e_max - e_min) / 2.0 + std::atan(2.0 / std::max(r_max + r_min, 1e-9)) * rad2deg);

    const std::size_t m = 1 + pv_params_per_peak * n_peaks;
    std::vector<double> x0(m), lo(m), hi(m);
    const double bg_start = threshold / 2.0;
    x0[0] = bg_start;
    lo[0] = 0.0;
    hi[0] = threshold;
    std::vector<double> sw(n_peaks, 0.0), swr(n_peaks, 0.0), swe(n_peaks, 0.0), share(n_peaks, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto j = static_cast<std::size_t>(owner[i]);
        share[j] += value[i];
        const double w = value[i] - bg_start;
        if (w <= 0.0) continue;
        const auto k = static_cast<std::size_t>(maxima[j]);
        sw[j] += w;
        swr[j] += w * (pol.r[i] - pol.r[k]) * (pol.r[i] - pol.r[k]);
        swe[j] += w * (pol.eta[i] - pol.eta[k]) * (pol.eta[i] - pol.eta[k]);
    }
    for (std::size_t j = 0; j < n_peaks; ++j) {
        const auto k = static_cast<std::size_t>(maxima[j]);
        const double r0 = pol.r[k], e0 = pol.eta[k], v0 = value[k];
        const double d_eta = std::atan(1.0 / std::max(r0, 1e-9)) * rad2deg;  // one pixel of arc
        double sig_r = sw[j] > 0.0 ? std::sqrt(swr[j] / sw[j]) : 1.0;
        double sig_e = sw[j] > 0.0 ? std::sqrt(swe[j] / sw[j]) : d_eta;
        sig_r = std::clamp(std::max(sig_r, 0.25), 0.01, 2.0 * max_r_width);
        sig_e = std::clamp(std::max(sig_e, 0.25 * d_eta), 0.005, 2.0 * max_eta_width);
        double* q = x0.data() + 1 + pv_params_per_peak * j;
        double* ql = lo.data() + 1 + pv_params_per_peak * j;
        double* qh = hi.data() + 1 + pv_params_per_peak * j;
        q[pv_imax] = v0;            ql[pv_imax] = v0 / 2.0;        qh[pv_imax] = 5.0 * v0;
        q[pv_r] = r0;               ql[pv_r] = r0 - 1.0;           qh[pv_r] = r0 + 1.0;
        q[pv_eta] = e0;             ql[pv_eta] = e0 - d_eta;       qh[pv_eta] = e0 + d_eta;
        q[pv_mu] = 0.5;             ql[pv_mu] = 0.0;               qh[pv_mu] = 1.0;
        q[pv_sgr] = sig_r;          ql[pv_sgr] = 0.01;             qh[pv_sgr] = 2.0 * max_r_width;
        q[pv_slr] = sig_r;          ql[pv_slr] = 0.01;             qh[pv_slr] = 2.0 * max_r_width;
        q[pv_sgeta] = sig_e;        ql[pv_sgeta] = 0.005;          qh[pv_sgeta] = 2.0 * max_eta_width;
        q[pv_sleta] = sig_e;        ql[pv_sleta] = 0.005;          qh[pv_sleta] = 2.0 * max_eta_width;
    }
    const LmResult fit = fit_pseudo_voigt(span<const double>(pol.r.data(), n), span<const double>(pol.eta.data(), n),
                                          value, span<const double>(x0.data(), m), span<const double>(lo.data(), m),
                                          span<const double>(hi.data(), m), settings.lm);
    const std::vector<double>& p = fit.params;
    const double bg = p[0];
    const double rms = std::sqrt(fit.cost);
    for (std::size_t j = 0; j < n_peaks; ++j) {
        const double* q = p.data() + 1 + pv_params_per_peak * j;
        double integrated = 0.0;
        int n_above = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double pk = q[pv_imax] * pv_shape(q, pol.r[i] - q[pv_r], pol.eta[i] - q[pv_eta], nullptr);
            if (pk > bg) {
                ++n_above;
                integrated += bg;
            }
            integrated += pk;
        }
        const auto k = static_cast<std::size_t>(maxima[j]);
        out.resize(out.size() + ps_n_columns);
        double* row = out.data() + out.size() - ps_n_columns;
        fill_row(row, first_id + static_cast<double>(j));
        row[ps_integrated_intensity] = integrated;
        row[ps_y_cen] = settings.bc_y_px + q[pv_r] * std::sin(q[pv_eta] * deg2rad);
        row[ps_z_cen] = settings.bc_z_px + q[pv_r] * std::cos(q[pv_eta] * deg2rad);
        row[ps_imax] = q[pv_imax];
        row[ps_radius] = q[pv_r];
        row[ps_eta] = wrap180(q[pv_eta]);
        row[ps_sigma_r] = std::max(q[pv_sgr], q[pv_slr]);
        row[ps_sigma_eta] = std::max(q[pv_sgeta], q[pv_sleta]);
        row[ps_nr_pixels] = n_above;
        row[ps_nr_px_tot] = static_cast<double>(n);
        row[ps_n_peaks] = static_cast<double>(n_peaks);
        row[ps_max_y] = y_px[k];
        row[ps_max_z] = z_px[k];
        row[ps_diff_y] = y_px[k] - row[ps_y_cen];
        row[ps_diff_z] = z_px[k] - row[ps_z_cen];
        row[ps_raw_imax] = value[k];
        row[ps_return_code] = fit.status;
        row[ps_ret_val] = rms;
        row[ps_bg] = bg;
        row[ps_sigma_gr] = q[pv_sgr];
        row[ps_sigma_lr] = q[pv_slr];
        row[ps_sigma_geta] = q[pv_sgeta];
        row[ps_sigma_leta] = q[pv_sleta];
        row[ps_mu] = q[pv_mu];
        row[ps_raw_sum_intensity] = n_peaks == 1 ? raw_sum : share[j];
        row[ps_mask_touched] = mask_touched ? 1.0 : 0.0;
        row[ps_fit_rmse] = rms;
    }
}

void validate(const PixelPlan& plan) {
    const std::size_t n_runs = plan.dst_start.size();
    if (plan.src_start.size() != n_runs || plan.src_stride.size() != n_runs || plan.length.size() != n_runs ||
        plan.offset.size() != n_runs || plan.threshold.size() != n_runs)
        throw ParamError("PixelPlan: dst_start, src_start, src_stride, length, offset and threshold differ in length");
    if (plan.n_y <= 0 || plan.n_z <= 0 || plan.n_raw <= 0) throw ParamError("PixelPlan: empty detector");
    const auto n_px = static_cast<std::size_t>(plan.n_y * plan.n_z);
    if (!plan.pixel_class.empty() && plan.pixel_class.size() != n_px)
        throw ParamError("PixelPlan: pixel_class must have n_y·n_z entries");
    if (!plan.dark_map.empty() && plan.dark_map.size() != n_px)
        throw ParamError("PixelPlan: dark_map must have n_y·n_z entries");
    if (plan.grow) {
        if (plan.pixel_class.empty()) throw ParamError("PixelPlan: region growth needs pixel_class");
        const std::int64_t corners[4] = {
            plan.src_origin, plan.src_origin + (plan.n_y - 1) * plan.src_step_y,
            plan.src_origin + (plan.n_z - 1) * plan.src_step_z,
            plan.src_origin + (plan.n_y - 1) * plan.src_step_y + (plan.n_z - 1) * plan.src_step_z};
        for (const auto c : corners)
            if (c < 0 || c >= plan.n_raw)
                throw ParamError("PixelPlan: src_origin/src_step_y/src_step_z map a corner of the frame to raw index " +
                                 std::to_string(c) + ", outside [0, " + std::to_string(plan.n_raw) + ")");
    }
    std::int64_t expected_offset = 0, last_dst = -1;
    for (std::size_t r = 0; r < n_runs; ++r) {
        const std::int64_t len = plan.length[r], d0 = plan.dst_start[r], s0 = plan.src_start[r];
        const std::int64_t s1 = s0 + (len - 1) * plan.src_stride[r];
        const bool ok = len >= 1 && d0 > last_dst && d0 / plan.n_y == (d0 + len - 1) / plan.n_y &&
                        d0 + len <= plan.n_y * plan.n_z && s0 >= 0 && s0 < plan.n_raw && s1 >= 0 &&
                        s1 < plan.n_raw && plan.offset[r] == expected_offset && plan.threshold[r] > 0.0f;
        if (!ok)
            throw ParamError("PixelPlan: run " + std::to_string(r) + " (dst " + std::to_string(d0) + ", length " +
                             std::to_string(len) + ", src " + std::to_string(s0) + " step " +
                             std::to_string(plan.src_stride[r]) +
                             ") overlaps the previous run, leaves its row or the frame, or has a threshold <= 0");
        last_dst = d0 + len - 1;
        expected_offset += len;
    }
    if (!plan.dark.empty() && static_cast<std::int64_t>(plan.dark.size()) != expected_offset)
        throw ParamError("PixelPlan: dark has " + std::to_string(plan.dark.size()) + " values for " +
                         std::to_string(expected_offset) + " candidate pixels");
}

template <class T>
FramePeaks find_peaks_frame(span<const T> frame, const PixelPlan& plan, const PeakSearchSettings& s) {
    if (static_cast<std::int64_t>(frame.size()) != plan.n_raw)
        throw ParamError("find_peaks_frame: frame has " + std::to_string(frame.size()) + " values, expected " +
                         std::to_string(plan.n_raw));
    FramePeaks result;
    std::vector<std::int64_t> kept_index;
    std::vector<double> kept_value, kept_raw, kept_thr;
    std::vector<std::int64_t> bad_here;  // value-masked pixels of this frame (sorted)
    const bool has_dark = !plan.dark.empty();
    const T* px = frame.data();
    const std::size_t n_runs = plan.dst_start.size();
    const int n_bad = s.n_bad_values;
    const double bad0 = s.bad_values[0], bad1 = n_bad > 1 ? s.bad_values[1] : s.bad_values[0];
    for (std::size_t r = 0; r < n_runs; ++r) {
#if defined(__GNUC__)
        if (r + prefetch_runs < n_runs) {  // runs jump between rows: fetch their pixels early
            const T* next = px + plan.src_start[r + prefetch_runs];
            __builtin_prefetch(next);
            __builtin_prefetch(next + (plan.length[r + prefetch_runs] - 1) * plan.src_stride[r + prefetch_runs]);
        }
#endif
        const std::int64_t len = plan.length[r], stride = plan.src_stride[r];
        const T* src = px + plan.src_start[r];
        const float* dk = has_dark ? plan.dark.data() + plan.offset[r] : nullptr;
        const double thr = static_cast<double>(plan.threshold[r]);
        // Fast reject: most runs hold nothing above threshold and no bad pixel.
        const double top = has_dark ? run_max_above_dark(src, len, stride, dk) : run_max(src, len, stride);
        if (n_bad == 0 && !(top >= thr && top > 0.0)) continue;
        const std::int64_t d0 = plan.dst_start[r];
        for (std::int64_t i = 0; i < len; ++i) {
            const double raw = static_cast<double>(src[i * stride]);
            if (n_bad > 0 && (raw == bad0 || raw == bad1)) {
                bad_here.push_back(d0 + i);
                continue;
            }
            const double v = has_dark ? raw - static_cast<double>(dk[i]) : raw;
            if (v >= thr && v > 0.0) {
                kept_index.push_back(d0 + i);
                kept_value.push_back(v);
                kept_raw.push_back(raw);
                kept_thr.push_back(thr);
            }
        }
    }
    if (plan.grow && !kept_index.empty()) {
        // Region growth: breadth-first from every kept pixel into class-0 neighbours.
        std::unordered_set<std::int64_t> tested;
        for (std::size_t q = 0; q < kept_index.size(); ++q) {
            const std::int64_t z = kept_index[q] / plan.n_y, y = kept_index[q] % plan.n_y;
            const double thr = kept_thr[q];
            for (int dz = -1; dz <= 1; ++dz) {
                for (int dy = -1; dy <= 1; ++dy) {
                    const std::int64_t zz = z + dz, yy = y + dy;
                    if ((dz == 0 && dy == 0) || zz < 0 || yy < 0 || zz >= plan.n_z || yy >= plan.n_y) continue;
                    const std::int64_t lin = zz * plan.n_y + yy;
                    if (plan.pixel_class[static_cast<std::size_t>(lin)] != pixel_outside) continue;
                    if (!tested.insert(lin).second) continue;
                    const double raw = static_cast<double>(
                        px[static_cast<std::size_t>(plan.src_origin + yy * plan.src_step_y + zz * plan.src_step_z)]);
                    if (n_bad > 0 && (raw == bad0 || raw == bad1)) {
                        bad_here.push_back(lin);
                        continue;
                    }
                    const double v =
                        plan.dark_map.empty() ? raw : raw - static_cast<double>(plan.dark_map[static_cast<std::size_t>(lin)]);
                    if (v >= thr && v > 0.0) {
                        kept_index.push_back(lin);
                        kept_value.push_back(v);
                        kept_raw.push_back(raw);
                        kept_thr.push_back(thr);
                        ++result.counts.grown_pixels;
                    }
                }
            }
        }
        if (result.counts.grown_pixels > 0) {
            std::vector<std::size_t> order(kept_index.size());
            std::iota(order.begin(), order.end(), std::size_t{0});
            std::sort(order.begin(), order.end(),
                      [&](std::size_t a, std::size_t b) { return kept_index[a] < kept_index[b]; });
            auto permute = [&](auto& v) {
                auto copy = v;
                for (std::size_t i = 0; i < order.size(); ++i) v[i] = copy[order[i]];
            };
            permute(kept_index);
            permute(kept_value);
            permute(kept_raw);
            permute(kept_thr);
        }
        std::sort(bad_here.begin(), bad_here.end());
    }
    result.counts.kept_pixels = static_cast<std::int64_t>(kept_index.size());
    Components comp;
    label_components(span<const std::int64_t>(kept_index.data(), kept_index.size()), plan.n_y, plan.n_z, comp);
    const std::int32_t n_regions = comp.n_regions();
    result.counts.regions = n_regions;

    auto is_masked = [&](std::int64_t z, std::int64_t y) {
        if (z < 0 || y < 0 || z >= plan.n_z || y >= plan.n_y) return false;
        const std::int64_t lin = z * plan.n_y + y;
        if (!plan.pixel_class.empty() && plan.pixel_class[static_cast<std::size_t>(lin)] == pixel_masked) return true;
        return !bad_here.empty() && std::binary_search(bad_here.begin(), bad_here.end(), lin);
    };
    const bool any_mask = !plan.pixel_class.empty() || !bad_here.empty();

    std::vector<double> ry, rz, rv;
    std::vector<std::int32_t> local_max;
    const span<const double> values(kept_value.data(), kept_value.size());
    const span<const std::int32_t> nbrs(comp.neighbour.data(), comp.neighbour.size());
    std::int32_t analysed = 0;
    for (std::int32_t r = 0; r < n_regions; ++r) {
        const std::int32_t b = comp.region_start[static_cast<std::size_t>(r)];
        const std::int32_t e = comp.region_start[static_cast<std::size_t>(r) + 1];
        const std::int32_t size = e - b;
        if (size <= s.min_nr_px) {
            ++result.counts.too_small;
            continue;
        }
        if (size >= s.max_nr_px) {
            ++result.counts.too_large;
            continue;
        }
        const span<const std::int32_t> members(comp.members.data() + b, static_cast<std::size_t>(size));
        bool saturated = false;
        double thr = 1e300;
        for (auto k : members) {
            saturated = saturated || kept_raw[static_cast<std::size_t>(k)] > s.saturation;
            thr = std::min(thr, kept_thr[static_cast<std::size_t>(k)]);
        }
        if (saturated) {
            ++result.counts.saturated;
            continue;
        }
        std::vector<std::int32_t> maxima = regional_maxima(members, values, nbrs);
        if (static_cast<int>(maxima.size()) > s.max_n_peaks) {
            ++result.counts.truncated;
            std::stable_sort(maxima.begin(), maxima.end(), [&](std::int32_t a, std::int32_t c) {
                return kept_value[static_cast<std::size_t>(a)] > kept_value[static_cast<std::size_t>(c)];
            });
            maxima.resize(static_cast<std::size_t>(std::max(s.max_n_peaks, 1)));
            std::sort(maxima.begin(), maxima.end());
        }
        ry.resize(static_cast<std::size_t>(size));
        rz.resize(static_cast<std::size_t>(size));
        rv.resize(static_cast<std::size_t>(size));
        bool touched = false;
        for (std::int32_t i = 0; i < size; ++i) {
            const auto k = static_cast<std::size_t>(members[static_cast<std::size_t>(i)]);
            const std::int64_t z = kept_index[k] / plan.n_y, y = kept_index[k] % plan.n_y;
            ry[static_cast<std::size_t>(i)] = static_cast<double>(y);
            rz[static_cast<std::size_t>(i)] = static_cast<double>(z);
            rv[static_cast<std::size_t>(i)] = kept_value[k];
            if (any_mask && !touched)
                for (int dz = -1; dz <= 1 && !touched; ++dz)
                    for (int dy = -1; dy <= 1 && !touched; ++dy) touched = is_masked(z + dz, y + dy);
        }
        // Members are in increasing pixel order, so a maximum's local position is a binary search.
        local_max.clear();
        for (auto k : maxima)
            local_max.push_back(static_cast<std::int32_t>(std::lower_bound(members.begin(), members.end(), k) - members.begin()));
        const std::size_t before = result.rows.size();
        analyse_region(span<const double>(ry.data(), ry.size()), span<const double>(rz.data(), rz.size()),
                       span<const double>(rv.data(), rv.size()),
                       span<const std::int32_t>(local_max.data(), local_max.size()), thr, touched, s, result.rows);
        const std::size_t added = (result.rows.size() - before) / ps_n_columns;
        for (std::size_t i = 0; i < added; ++i) result.region_of_peak.push_back(analysed);
        for (std::int32_t i = 0; i < size; ++i) {
            result.region_px_yz.push_back(static_cast<std::int16_t>(ry[static_cast<std::size_t>(i)]));
            result.region_px_yz.push_back(static_cast<std::int16_t>(rz[static_cast<std::size_t>(i)]));
        }
        result.region_px_start.push_back(static_cast<std::int64_t>(result.region_px_yz.size() / 2));
        ++analysed;
    }
    return result;
}

template <class T>
std::vector<FramePeaks> find_peaks_frames(span<const T> frames, std::int64_t n_frames, const PixelPlan& plan,
                                          const PeakSearchSettings& settings) {
    if (n_frames < 0 || static_cast<std::int64_t>(frames.size()) != n_frames * plan.n_raw)
        throw ParamError("find_peaks_frames: frames has " + std::to_string(frames.size()) + " values, expected " +
                         std::to_string(n_frames) + " × " + std::to_string(plan.n_raw));
    validate(plan);
    if (plan.n_y > 32767 || plan.n_z > 32767)
        throw CapacityError("find_peaks_frames: detector larger than 32767 px cannot be stored as int16 pixel lists");
    std::vector<FramePeaks> out(static_cast<std::size_t>(n_frames));
    std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t f = 0; f < n_frames; ++f) {
        try {
            out[static_cast<std::size_t>(f)] = find_peaks_frame<T>(
                frames.subspan(static_cast<std::size_t>(f * plan.n_raw), static_cast<std::size_t>(plan.n_raw)), plan,
                settings);
        } catch (...) {
#pragma omp critical(midas_ff_peaks_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
    return out;
}

// Pixel types of .MIDAS.zip frames (uint16, int32 from ForwardSim, uint32, float) and a few more.
template FramePeaks find_peaks_frame<std::uint16_t>(span<const std::uint16_t>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<std::uint16_t>(span<const std::uint16_t>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);
template FramePeaks find_peaks_frame<std::int16_t>(span<const std::int16_t>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<std::int16_t>(span<const std::int16_t>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);
template FramePeaks find_peaks_frame<std::uint32_t>(span<const std::uint32_t>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<std::uint32_t>(span<const std::uint32_t>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);
template FramePeaks find_peaks_frame<std::int32_t>(span<const std::int32_t>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<std::int32_t>(span<const std::int32_t>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);
template FramePeaks find_peaks_frame<float>(span<const float>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<float>(span<const float>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);
template FramePeaks find_peaks_frame<double>(span<const double>, const PixelPlan&, const PeakSearchSettings&);
template std::vector<FramePeaks> find_peaks_frames<double>(span<const double>, std::int64_t, const PixelPlan&,
                                                             const PeakSearchSettings&);

}  // namespace midas::ff
