// NF image reduction: streaming temporal median, spatial median filter, LoG mask, SpotsInfo bits.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "midas/core/error.hpp"
#include "midas/nf/image_processing.hpp"

namespace midas::nf {

namespace {

constexpr int n_bins = 64;          // below, 62 window bins, above
constexpr std::int64_t parallel_min = 1 << 18;  // smaller images run on one thread (no fork/join cost)
constexpr int n_window = 62;
constexpr std::uint32_t value_end = 65536u;
constexpr int first_shift = 4;      // first window: 62 bins of width 16 ...
constexpr std::uint32_t first_below = 46;  // ... 46 of them below the first frame's value

std::uint8_t shift_for_width(std::uint32_t width) {
    std::uint8_t s = 0;
    while (static_cast<std::uint64_t>(n_window) << s < width) ++s;
    return s;
}

}  // namespace

StreamingMedian::StreamingMedian(std::int64_t n_pixels, std::int64_t n_frames, std::uint64_t collect_budget_bytes)
    : n_pixels_(n_pixels), n_frames_(n_frames), collect_budget_bytes_(collect_budget_bytes) {
    if (n_pixels <= 0 || n_frames <= 0)
        throw ParamError("StreamingMedian: need n_pixels > 0 and n_frames > 0, got " + std::to_string(n_pixels) + " and " +
                         std::to_string(n_frames));
    const auto np = static_cast<std::size_t>(n_pixels);
    if (n_frames <= 65535)
        counts16_.assign(np * n_bins, 0);
    else
        counts32_.assign(np * n_bins, 0);
    a_.assign(np, 0u);
    b_.assign(np, value_end);
    lo_.assign(np, 0u);
    rank_.assign(np, static_cast<std::uint32_t>((n_frames - 1) / 2));
    shift_.assign(np, static_cast<std::uint8_t>(first_shift));
    mode_.assign(np, mode_histogram);
}

std::size_t StreamingMedian::memory_bytes() const {
    return counts16_.size() * sizeof(std::uint16_t) + counts32_.size() * sizeof(std::uint32_t) +
           (a_.size() + b_.size() + lo_.size() + rank_.size() + fill_.size()) * sizeof(std::uint32_t) +
           shift_.size() + mode_.size() + offset_.size() * sizeof(std::uint64_t) + values_.size() * sizeof(std::uint16_t);
}

template <class C>
void StreamingMedian::add_impl(std::vector<C>& counts, const std::uint16_t* f) {
    const std::int64_t np = n_pixels_;
    C* cnt = counts.data();
#pragma omp parallel for schedule(static) if (np >= parallel_min)
    for (std::int64_t p = 0; p < np; ++p) {
        const auto i = static_cast<std::size_t>(p);
        if (mode_[i] == mode_resolved) continue;
        const std::uint32_t v = f[i];
        if (v < a_[i] || v >= b_[i]) continue;
        if (mode_[i] == mode_collect) {
            values_[offset_[i] + fill_[i]++] = static_cast<std::uint16_t>(v);
            continue;
        }
        int bin;
        if (v < lo_[i]) {
            bin = 0;
        } else {
            const std::uint32_t d = (v - lo_[i]) >> shift_[i];
            bin = d < static_cast<std::uint32_t>(n_window) ? 1 + static_cast<int>(d) : n_bins - 1;
        }
        ++cnt[static_cast<std::size_t>(bin) * static_cast<std::size_t>(np) + i];
    }
}

void StreamingMedian::add_frame(span<const std::uint16_t> frame) {
    if (done_) throw ParamError("StreamingMedian: the median is complete; no more frames are needed");
    if (static_cast<std::int64_t>(frame.size()) != n_pixels_)
        throw ParamError("StreamingMedian: frame of " + std::to_string(frame.size()) + " pixels, expected " +
                         std::to_string(n_pixels_));
    if (seen_ >= n_frames_)
        throw ParamError("StreamingMedian: more than the declared " + std::to_string(n_frames_) + " frames in pass " +
                         std::to_string(passes_ + 1));
    if (passes_ == 0 && seen_ == 0) {
        // place the first window around the first frame's value, mostly below it: spots are positive
        // outliers, so a median below the first value is the common case
        const std::int64_t np = n_pixels_;
        constexpr std::uint32_t half = first_below << first_shift;
        constexpr std::uint32_t max_lo = value_end - (static_cast<std::uint32_t>(n_window) << first_shift);
#pragma omp parallel for schedule(static) if (np >= parallel_min)
        for (std::int64_t p = 0; p < np; ++p) {
            const std::uint32_t v = frame[static_cast<std::size_t>(p)];
            lo_[static_cast<std::size_t>(p)] = std::min(v > half ? v - half : 0u, max_lo);
        }
    }
    if (!counts16_.empty())
        add_impl(counts16_, frame.data());
    else
        add_impl(counts32_, frame.data());
    ++seen_;
}

template <class C>
void StreamingMedian::finish_impl(std::vector<C>& counts) {
    const std::int64_t np = n_pixels_;
    C* cnt = counts.data();
    std::int64_t unresolved = 0;
    std::int64_t inconsistent = 0;
    const bool collecting = !values_.empty();
    if (fill_.size() != static_cast<std::size_t>(np)) fill_.assign(static_cast<std::size_t>(np), 0u);
#pragma omp parallel for schedule(static) reduction(+ : unresolved, inconsistent) if (np >= parallel_min)
    for (std::int64_t p = 0; p < np; ++p) {
        const auto i = static_cast<std::size_t>(p);
        if (mode_[i] == mode_resolved) continue;
        if (mode_[i] == mode_collect) {  // the values in [a, b) of this pixel were kept: select directly
            if (fill_[i] <= rank_[i]) {  // cannot happen: the previous pass counted these values
                ++inconsistent;
                continue;
            }
            std::uint16_t* v = &values_[offset_[i]];
            std::nth_element(v, v + rank_[i], v + fill_[i]);
            a_[i] = v[rank_[i]];
            b_[i] = a_[i] + 1u;
            mode_[i] = mode_resolved;
            continue;
        }
        std::uint32_t cum = 0;
        int bin = 0;
        for (; bin < n_bins; ++bin) {
            const std::uint32_t c = cnt[static_cast<std::size_t>(bin) * static_cast<std::size_t>(np) + i];
            if (cum + c > rank_[i]) break;
            cum += c;
        }
        fill_[i] = cnt[static_cast<std::size_t>(bin) * static_cast<std::size_t>(np) + i];  // values in the new interval
        for (int k = 0; k < n_bins; ++k) cnt[static_cast<std::size_t>(k) * static_cast<std::size_t>(np) + i] = 0;
        const std::uint32_t w = 1u << shift_[i];
        if (bin == 0) {
            b_[i] = lo_[i];
        } else if (bin < n_bins - 1) {
            a_[i] = lo_[i] + static_cast<std::uint32_t>(bin - 1) * w;
            b_[i] = std::min(b_[i], a_[i] + w);
        } else {
            a_[i] = lo_[i] + static_cast<std::uint32_t>(n_window) * w;
        }
        rank_[i] -= cum;
        if (b_[i] - a_[i] <= 1u) {
            mode_[i] = mode_resolved;
        } else {
            lo_[i] = a_[i];
            shift_[i] = shift_for_width(b_[i] - a_[i]);
            ++unresolved;
        }
    }
    if (collecting) std::vector<std::uint16_t>().swap(values_);
    if (inconsistent != 0)
        throw Error("StreamingMedian: " + std::to_string(inconsistent) +
                    " pixels saw different values in two passes; the frames must be identical in every pass");
    done_ = unresolved == 0;
    if (done_) return;
    // Pixels whose interval is still wider than one window would need more histogram passes: when
    // their values fit the collect budget, the next pass keeps those values and selects directly.
    std::uint64_t total = 0;
    for (std::int64_t p = 0; p < np; ++p) {
        const auto i = static_cast<std::size_t>(p);
        if (mode_[i] == mode_histogram && shift_[i] > 0) total += fill_[i];
    }
    if (total == 0 || total * sizeof(std::uint16_t) > collect_budget_bytes_) return;
    offset_.assign(static_cast<std::size_t>(np), 0u);
    std::uint64_t off = 0;
    for (std::int64_t p = 0; p < np; ++p) {
        const auto i = static_cast<std::size_t>(p);
        if (mode_[i] == mode_histogram && shift_[i] > 0) {
            mode_[i] = mode_collect;
            offset_[i] = off;
            off += fill_[i];
        }
        fill_[i] = 0;
    }
    values_.assign(static_cast<std::size_t>(off), 0);
}

void StreamingMedian::finish_pass() {
    if (done_) throw ParamError("StreamingMedian: the median is already complete");
    if (seen_ != n_frames_)
        throw ParamError("StreamingMedian: pass " + std::to_string(passes_ + 1) + " saw " + std::to_string(seen_) +
                         " frames, expected " + std::to_string(n_frames_));
    if (!counts16_.empty())
        finish_impl(counts16_);
    else
        finish_impl(counts32_);
    ++passes_;
    seen_ = 0;
    if (done_) {  // free the counters early
        std::vector<std::uint16_t>().swap(counts16_);
        std::vector<std::uint32_t>().swap(counts32_);
    }
}

std::vector<std::uint16_t> StreamingMedian::median() const {
    if (!done_) throw ParamError("StreamingMedian: median requested before the last pass finished");
    std::vector<std::uint16_t> out(static_cast<std::size_t>(n_pixels_));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint16_t>(a_[i]);
    return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

inline std::uint16_t med3(std::uint16_t a, std::uint16_t b, std::uint16_t c) {
    return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

/// Median of a 3×3 neighbourhood: median of (max of row minima, median of row medians, min of
/// row maxima) after sorting each row.
inline std::uint16_t median9(const std::uint16_t* r0, const std::uint16_t* r1, const std::uint16_t* r2) {
    std::uint16_t lo[3], md[3], hi[3];
    const std::uint16_t* rows[3] = {r0, r1, r2};
    for (int k = 0; k < 3; ++k) {
        const std::uint16_t a = rows[k][-1], b = rows[k][0], c = rows[k][1];
        lo[k] = std::min(a, std::min(b, c));
        hi[k] = std::max(a, std::max(b, c));
        md[k] = med3(a, b, c);
    }
    return med3(std::max(lo[0], std::max(lo[1], lo[2])), med3(md[0], md[1], md[2]),
                std::min(hi[0], std::min(hi[1], hi[2])));
}

}  // namespace

namespace {

/// Median filter with border copy; `nz` (n values) is scratch for the per-row counts of non-zero
/// values in the horizontal window, which give the fast path: the median of non-negative values
/// is 0 when more than half of them are 0 (almost every pixel of a background-subtracted frame).
void median_filter_impl(const std::uint16_t* in, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                        std::uint16_t* out, std::uint8_t* nz) {
    const auto cols = static_cast<std::size_t>(n_cols);
    const std::size_t n = static_cast<std::size_t>(n_rows) * cols;
    if (radius == 0 || n_rows <= 2 * radius || n_cols <= 2 * radius) {
        std::copy(in, in + n, out);
        return;
    }
    const std::int32_t side = 2 * radius + 1;
    const int half = side * side / 2;  // kth element (0-based) of side² values
    const auto nn = static_cast<std::int64_t>(n);
#pragma omp parallel if (nn >= parallel_min)
    {
#pragma omp for schedule(static)
        for (std::int32_t r = 0; r < n_rows; ++r) {
            const std::uint16_t* row = in + static_cast<std::size_t>(r) * cols;
            std::uint8_t* z = nz + static_cast<std::size_t>(r) * cols;
            for (std::int32_t c = radius; c < n_cols - radius; ++c) {
                int k = 0;
                for (std::int32_t d = -radius; d <= radius; ++d) k += row[c + d] != 0;
                z[c] = static_cast<std::uint8_t>(k);
            }
        }
#pragma omp for schedule(static)
        for (std::int32_t r = 0; r < n_rows; ++r) {
            const std::size_t base = static_cast<std::size_t>(r) * cols;
            if (r < radius || r >= n_rows - radius) {  // border rows copied
                std::copy(in + base, in + base + cols, out + base);
                continue;
            }
            for (std::int32_t c = 0; c < radius; ++c) {
                out[base + static_cast<std::size_t>(c)] = in[base + static_cast<std::size_t>(c)];
                out[base + cols - 1 - static_cast<std::size_t>(c)] = in[base + cols - 1 - static_cast<std::size_t>(c)];
            }
            std::array<std::uint16_t, 25> buf{};
            for (std::int32_t c = radius; c < n_cols - radius; ++c) {
                const std::size_t i = base + static_cast<std::size_t>(c);
                int nonzero = 0;
                for (std::int32_t d = -radius; d <= radius; ++d)
                    nonzero += nz[static_cast<std::size_t>(static_cast<std::int64_t>(i) + static_cast<std::int64_t>(d) * n_cols)];
                if (nonzero <= half) {
                    out[i] = 0;
                    continue;
                }
                if (radius == 1) {
                    out[i] = median9(in + i - cols, in + i, in + i + cols);
                } else {
                    int k = 0;
                    for (std::int32_t dr = -radius; dr <= radius; ++dr)
                        for (std::int32_t dc = -radius; dc <= radius; ++dc)
                            buf[static_cast<std::size_t>(k++)] =
                                in[static_cast<std::size_t>(static_cast<std::int64_t>(i) + static_cast<std::int64_t>(dr) * n_cols + dc)];
                    std::nth_element(buf.begin(), buf.begin() + half, buf.begin() + side * side);
                    out[i] = buf[static_cast<std::size_t>(half)];
                }
            }
        }
    }
}

void check_image(std::size_t size, std::int32_t n_rows, std::int32_t n_cols, const char* what) {
    if (n_rows <= 0 || n_cols <= 0 || size != static_cast<std::size_t>(n_rows) * static_cast<std::size_t>(n_cols))
        throw ParamError(std::string(what) + ": image of " + std::to_string(size) + " pixels does not match " +
                         std::to_string(n_rows) + " x " + std::to_string(n_cols));
}

}  // namespace

void median_filter(span<const std::uint16_t> in, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                   span<std::uint16_t> out) {
    check_image(in.size(), n_rows, n_cols, "median_filter");
    check_image(out.size(), n_rows, n_cols, "median_filter");
    if (radius < 0 || radius > 2)
        throw ParamError("median_filter: MedFiltRadius = " + std::to_string(radius) + ", expected 0, 1 (3x3) or 2 (5x5)");
    std::vector<std::uint8_t> nz(in.size());
    median_filter_impl(in.data(), n_rows, n_cols, radius, out.data(), nz.data());
}

namespace {

void log_mask_scale(span<const std::uint16_t> img, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                    double sigma, span<std::uint8_t> mask) {
    const std::int32_t side = 2 * radius + 1;
    std::vector<double> kern(static_cast<std::size_t>(side * side));
    const double s2 = sigma * sigma;
    for (std::int32_t dy = -radius; dy <= radius; ++dy)
        for (std::int32_t dx = -radius; dx <= radius; ++dx) {
            const double r2 = static_cast<double>(dx * dx + dy * dy);
            kern[static_cast<std::size_t>((dy + radius) * side + dx + radius)] =
                -(1.0 / (3.14159265358979323846 * s2 * s2)) * (1.0 - r2 / (2.0 * s2)) * std::exp(-r2 / (2.0 * s2));
        }
#pragma omp parallel for schedule(static) if (static_cast<std::int64_t>(img.size()) >= parallel_min)
    for (std::int32_t r = radius; r < n_rows - radius; ++r) {
        for (std::int32_t c = radius; c < n_cols - radius; ++c) {
            const std::size_t i = static_cast<std::size_t>(r) * static_cast<std::size_t>(n_cols) + static_cast<std::size_t>(c);
            if (img[i] == 0 || mask[i]) continue;
            double acc = 0.0;
            for (std::int32_t dy = -radius; dy <= radius; ++dy) {
                const std::size_t row = i + static_cast<std::size_t>(static_cast<std::int64_t>(dy) * n_cols);
                const double* kr = &kern[static_cast<std::size_t>((dy + radius) * side + radius)];
                for (std::int32_t dx = -radius; dx <= radius; ++dx)
                    acc += kr[dx] * static_cast<double>(img[static_cast<std::size_t>(static_cast<std::int64_t>(row) + dx)]);
            }
            if (acc < 0.0) mask[i] = 1;
        }
    }
}

}  // namespace

void log_blob_mask(span<const std::uint16_t> img, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                   double sigma, span<std::uint8_t> mask) {
    const std::size_t n = static_cast<std::size_t>(n_rows) * static_cast<std::size_t>(n_cols);
    if (n_rows <= 0 || n_cols <= 0 || img.size() != n || mask.size() != n)
        throw ParamError("log_blob_mask: image size does not match " + std::to_string(n_rows) + " x " + std::to_string(n_cols));
    if (radius < 1 || !(sigma > 0.0))
        throw ParamError("log_blob_mask: LoGMaskRadius = " + std::to_string(radius) + " and GaussFiltRadius = " +
                         std::to_string(sigma) + ", expected >= 1 and > 0");
    std::fill(mask.begin(), mask.end(), std::uint8_t{0});
    log_mask_scale(img, n_rows, n_cols, radius, sigma, mask);
    log_mask_scale(img, n_rows, n_cols, 4, 1.0, mask);
}

FrameReducer::FrameReducer(std::int32_t n_rows, std::int32_t n_cols, const ReduceSettings& settings)
    : n_rows_(n_rows), n_cols_(n_cols), s_(settings) {
    if (n_rows <= 0 || n_cols <= 0)
        throw ParamError("FrameReducer: frame of " + std::to_string(n_rows) + " x " + std::to_string(n_cols) + " pixels");
    if (s_.median_radius < 0 || s_.median_radius > 2)
        throw ParamError("FrameReducer: MedFiltRadius = " + std::to_string(s_.median_radius) + ", expected 0, 1 or 2");
    if (s_.do_log && (s_.log_radius < 1 || !(s_.log_sigma > 0.0)))
        throw ParamError("FrameReducer: LoGMaskRadius must be >= 1 and GaussFiltRadius > 0");
    const std::size_t n = static_cast<std::size_t>(n_rows) * static_cast<std::size_t>(n_cols);
    sub_.resize(n);
    filt_.resize(n);
    nz_.resize(n);
    if (s_.do_log) mask_.resize(n);
}

std::int64_t FrameReducer::reduce(span<const std::uint16_t> raw, span<const std::uint16_t> median,
                                  std::uint32_t* words, const BitLayout& layout, std::int32_t layer, std::int32_t frame,
                                  span<std::uint16_t> reduced) {
    const std::int32_t n_rows = n_rows_, n_cols = n_cols_;
    check_image(raw.size(), n_rows, n_cols, "reduce_frame (frame)");
    check_image(median.size(), n_rows, n_cols, "reduce_frame (median)");
    if (!reduced.empty()) check_image(reduced.size(), n_rows, n_cols, "reduce_frame (output)");
    if (layout.n_y != n_cols || layout.n_z != n_rows)
        throw ParamError("reduce_frame: frame of " + std::to_string(n_rows) + " rows x " + std::to_string(n_cols) +
                         " columns but the SpotsInfo layout has NrPixelsZ = " + std::to_string(layout.n_z) +
                         ", NrPixelsY = " + std::to_string(layout.n_y));
    if (layer < 0 || layer >= layout.n_layers || frame < 0 || frame >= layout.n_frames)
        throw ParamError("reduce_frame: layer " + std::to_string(layer) + ", frame " + std::to_string(frame) +
                         " outside the SpotsInfo layout");
    const auto nn = static_cast<std::int64_t>(sub_.size());
    const std::int32_t blanket = s_.blanket;
    std::uint16_t* sub = sub_.data();
#pragma omp parallel for schedule(static) if (nn >= parallel_min)
    for (std::int64_t i = 0; i < nn; ++i) {
        const std::int32_t v = static_cast<std::int32_t>(raw[static_cast<std::size_t>(i)]) -
                               static_cast<std::int32_t>(median[static_cast<std::size_t>(i)]) - blanket;
        sub[i] = static_cast<std::uint16_t>(v > 0 ? v : 0);
    }
    median_filter_impl(sub, n_rows, n_cols, s_.median_radius, filt_.data(), nz_.data());
    if (s_.do_log) log_blob_mask(filt_, n_rows, n_cols, s_.log_radius, s_.log_sigma, mask_);
    const std::uint16_t* filt = filt_.data();
    const std::uint8_t* mask = s_.do_log ? mask_.data() : nullptr;
    std::int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (nn >= parallel_min)
    for (std::int32_t r = 0; r < n_rows; ++r) {
        for (std::int32_t c = 0; c < n_cols; ++c) {
            const std::size_t i = static_cast<std::size_t>(r) * static_cast<std::size_t>(n_cols) + static_cast<std::size_t>(c);
            const bool spot = mask != nullptr ? mask[i] != 0 : filt[i] != 0;
            if (!reduced.empty()) reduced[i] = spot ? filt[i] : 0;
            if (!spot) continue;
            ++count;
            set_bit_atomic(words, bit_index(layout, layer, frame, n_cols - 1 - c, n_rows - 1 - r));
        }
    }
    return count;
}

std::int64_t reduce_frame(span<const std::uint16_t> raw, span<const std::uint16_t> median, std::int32_t n_rows,
                          std::int32_t n_cols, const ReduceSettings& s, std::uint32_t* words, const BitLayout& layout,
                          std::int32_t layer, std::int32_t frame, span<std::uint16_t> reduced) {
    FrameReducer r(n_rows, n_cols, s);
    return r.reduce(raw, median, words, layout, layer, frame, reduced);
}

}  // namespace midas::nf
