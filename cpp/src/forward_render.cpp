// forward_render.cpp — Gaussian spot rendering of simulated FF frames (OpenMP over frames).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/forward/render.hpp"

namespace midas::ff {

namespace {

void check(const FrameContributions& c, const RenderShape& shape) {
    if (!(shape.sigma_px > 0.0) || !std::isfinite(shape.sigma_px))
        throw ParamError("render: sigma_px = " + std::to_string(shape.sigma_px) + ", expected a finite value > 0");
    if (shape.n_y <= 0 || shape.n_z <= 0)
        throw ParamError("render: frame shape (n_z, n_y) = (" + std::to_string(shape.n_z) + ", " +
                         std::to_string(shape.n_y) + "), expected positive sizes");
    if (c.frame_offsets.empty()) throw ParamError("render: frame_offsets is empty, expected n_frames + 1 entries");
    const std::size_t n = c.y_px.size();
    if (c.z_px.size() != n || c.amplitude.size() != n)
        throw ParamError("render: y_px/z_px/amplitude have " + std::to_string(c.y_px.size()) + "/" +
                         std::to_string(c.z_px.size()) + "/" + std::to_string(c.amplitude.size()) +
                         " entries, expected equal lengths");
    if (c.frame_offsets[0] != 0 || c.frame_offsets[c.frame_offsets.size() - 1] != static_cast<std::int64_t>(n))
        throw ParamError("render: frame_offsets must start at 0 and end at the number of contributions (" +
                         std::to_string(n) + ")");
    for (std::size_t f = 1; f < c.frame_offsets.size(); ++f)
        if (c.frame_offsets[f] < c.frame_offsets[f - 1])
            throw ParamError("render: frame_offsets decreases at frame " + std::to_string(f - 1));
}

void check_range(const FrameContributions& c, std::int64_t first_frame, std::int64_t n_out, std::size_t out_size,
                 const RenderShape& shape) {
    const auto n_frames = static_cast<std::int64_t>(c.frame_offsets.size()) - 1;
    if (first_frame < 0 || n_out < 0 || first_frame + n_out > n_frames)
        throw ParamError("render: frames [" + std::to_string(first_frame) + ", " + std::to_string(first_frame + n_out) +
                         ") outside the scan's " + std::to_string(n_frames) + " frames");
    if (out_size != static_cast<std::size_t>(n_out * shape.n_y * shape.n_z))
        throw ParamError("render: output has " + std::to_string(out_size) + " values, expected n_out × n_z × n_y = " +
                         std::to_string(n_out * shape.n_y * shape.n_z));
}

/// Summed pixel values of one frame: (pixel index z·n_y + y, value), sorted by pixel, each
/// pixel once, every pixel's terms added in contribution order. `scratch` is reused storage.
void frame_sums(const FrameContributions& c, const RenderShape& shape, std::int64_t frame,
                std::vector<std::pair<std::int64_t, double>>& scratch, std::vector<double>& wy,
                std::vector<double>& wz) {
    scratch.clear();
    const std::int64_t k0 = c.frame_offsets[static_cast<std::size_t>(frame)];
    const std::int64_t k1 = c.frame_offsets[static_cast<std::size_t>(frame) + 1];
    const auto half = static_cast<std::int64_t>(std::ceil(4.0 * shape.sigma_px));
    const double two_sigma_sq = 2.0 * shape.sigma_px * shape.sigma_px;
    wy.resize(static_cast<std::size_t>(2 * half + 1));
    wz.resize(static_cast<std::size_t>(2 * half + 1));
    for (std::int64_t k = k0; k < k1; ++k) {
        const double yc = c.y_px[static_cast<std::size_t>(k)];
        const double zc = c.z_px[static_cast<std::size_t>(k)];
        const double amp = c.amplitude[static_cast<std::size_t>(k)];
        if (!std::isfinite(yc) || !std::isfinite(zc) || !std::isfinite(amp)) continue;
        if (yc < -static_cast<double>(half) - 1.0 || yc > static_cast<double>(shape.n_y + half) ||
            zc < -static_cast<double>(half) - 1.0 || zc > static_cast<double>(shape.n_z + half))
            continue;
        const auto y_base = static_cast<std::int64_t>(std::round(yc));
        const auto z_base = static_cast<std::int64_t>(std::round(zc));
        for (std::int64_t d = -half; d <= half; ++d) {
            const std::int64_t y = y_base + d, z = z_base + d;
            const double dy = static_cast<double>(y) - yc, dz = static_cast<double>(z) - zc;
            wy[static_cast<std::size_t>(d + half)] = (y < 0 || y >= shape.n_y) ? 0.0 : std::exp(-(dy * dy) / two_sigma_sq);
            wz[static_cast<std::size_t>(d + half)] = (z < 0 || z >= shape.n_z) ? 0.0 : std::exp(-(dz * dz) / two_sigma_sq);
        }
        for (std::int64_t a = -half; a <= half; ++a) {
            const double w1 = wy[static_cast<std::size_t>(a + half)];
            if (w1 == 0.0) continue;
            for (std::int64_t b = -half; b <= half; ++b) {
                const double w2 = wz[static_cast<std::size_t>(b + half)];
                if (w2 == 0.0) continue;
                const std::int64_t pixel = (z_base + b) * shape.n_y + (y_base + a);
                scratch.emplace_back(pixel, (w1 * w2) * amp);
            }
        }
    }
    std::stable_sort(scratch.begin(), scratch.end(),
                     [](const auto& l, const auto& r) { return l.first < r.first; });
    std::size_t w = 0;
    for (std::size_t r = 0; r < scratch.size();) {
        const std::int64_t pixel = scratch[r].first;
        double acc = 0.0;
        for (; r < scratch.size() && scratch[r].first == pixel; ++r) acc += scratch[r].second;
        scratch[w++] = {pixel, acc};
    }
    scratch.resize(w);
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

std::int32_t to_i32(double v) {
    if (!(v > 0.0)) return 0;
    if (v >= 2147483647.0) return std::numeric_limits<std::int32_t>::max();
    return static_cast<std::int32_t>(v);
}

}  // namespace

namespace {

/// Two independent standard normals for pixels 2·pair and 2·pair + 1 of a frame (Box–Muller on a
/// counter-based hash of (seed, frame, pair)). Single-precision math (24-bit uniforms, so |n| ≤ 5.8):
/// plenty for detector noise and 1.5× faster than double.
void noise_pair(std::uint64_t seed, std::int64_t frame, std::int64_t pair, double out[2]) {
    const std::uint64_t key = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(frame) * 0x100000001B3ULL)) ^
                              static_cast<std::uint64_t>(pair);
    const std::uint64_t a = splitmix64(key), b = splitmix64(a);
    const float u1 = (static_cast<float>(a >> 40) + 1.0f) * 0x1.0p-24f;  // (0, 1]
    const float u2 = static_cast<float>(b >> 40) * 0x1.0p-24f;           // [0, 1)
    const float r = std::sqrt(-2.0f * std::log(u1));
    const float phase = 6.28318530717958647692f * u2;
    out[0] = static_cast<double>(r * std::cos(phase));
    out[1] = static_cast<double>(r * std::sin(phase));
}

}  // namespace

double noise_normal(std::uint64_t seed, std::int64_t frame, std::int64_t pixel) {
    double n[2];
    noise_pair(seed, frame, pixel >> 1, n);
    return n[pixel & 1];
}

double max_pixel_value(const FrameContributions& c, const RenderShape& shape) {
    check(c, shape);
    const auto n_frames = static_cast<std::int64_t>(c.frame_offsets.size()) - 1;
    double best = 0.0;
#pragma omp parallel reduction(max : best)
    {
        std::vector<std::pair<std::int64_t, double>> scratch;
        std::vector<double> wy, wz;
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t f = 0; f < n_frames; ++f) {
            if (c.frame_offsets[static_cast<std::size_t>(f)] == c.frame_offsets[static_cast<std::size_t>(f) + 1]) continue;
            frame_sums(c, shape, f, scratch, wy, wz);
            for (const auto& e : scratch) best = std::max(best, e.second);
        }
    }
    return best;
}

void render_frames_f64(const FrameContributions& c, const RenderShape& shape, std::int64_t first_frame,
                       std::int64_t n_out, span<double> out) {
    check(c, shape);
    check_range(c, first_frame, n_out, out.size(), shape);
    const std::int64_t frame_px = shape.n_y * shape.n_z;
#pragma omp parallel
    {
        std::vector<std::pair<std::int64_t, double>> scratch;
        std::vector<double> wy, wz;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t i = 0; i < n_out; ++i) {
            double* frame = out.data() + i * frame_px;
            std::fill(frame, frame + frame_px, 0.0);
            frame_sums(c, shape, first_frame + i, scratch, wy, wz);
            for (const auto& e : scratch) frame[e.first] = e.second;
        }
    }
}

void render_frames_i32(const FrameContributions& c, const RenderShape& shape, std::int64_t first_frame,
                       std::int64_t n_out, const IntScaling& scaling, span<std::int32_t> out) {
    check(c, shape);
    check_range(c, first_frame, n_out, out.size(), shape);
    if (!(scaling.peak_max > 0.0) || !std::isfinite(scaling.peak_max) || !std::isfinite(scaling.out_max))
        throw ParamError("render: peak_max = " + std::to_string(scaling.peak_max) + ", out_max = " +
                         std::to_string(scaling.out_max) + ", expected finite values with peak_max > 0");
    if (!(scaling.noise_sigma >= 0.0) || !std::isfinite(scaling.noise_sigma))
        throw ParamError("render: noise_sigma = " + std::to_string(scaling.noise_sigma) + ", expected a finite value >= 0");
    const std::int64_t frame_px = shape.n_y * shape.n_z;
    const bool noisy = scaling.noise_sigma > 0.0;
#pragma omp parallel
    {
        std::vector<std::pair<std::int64_t, double>> scratch;
        std::vector<double> wy, wz;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t i = 0; i < n_out; ++i) {
            const std::int64_t f = first_frame + i;
            std::int32_t* frame = out.data() + i * frame_px;
            if (noisy) {
                double n[2];
                for (std::int64_t p = 0; p < frame_px; p += 2) {
                    noise_pair(scaling.seed, f, p >> 1, n);
                    frame[p] = to_i32(scaling.noise_sigma * n[0]);
                    if (p + 1 < frame_px) frame[p + 1] = to_i32(scaling.noise_sigma * n[1]);
                }
            } else {
                std::memset(frame, 0, static_cast<std::size_t>(frame_px) * sizeof(std::int32_t));
            }
            frame_sums(c, shape, f, scratch, wy, wz);
            for (const auto& e : scratch) {
                // the brightest pixel maps to exactly out_max (x·out/x can round below it)
                double v = e.second >= scaling.peak_max ? scaling.out_max : e.second * scaling.out_max / scaling.peak_max;
                if (noisy) v += scaling.noise_sigma * noise_normal(scaling.seed, f, e.first);
                frame[e.first] = to_i32(v);
            }
        }
    }
}

}  // namespace midas::ff
