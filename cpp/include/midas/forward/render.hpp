// midas/forward/render.hpp — draw simulated far-field frames: one 2-D Gaussian per spot
// contribution, sampled at pixel centres, summed in a fixed order.
//
// A contribution is (frame, y_px, z_px, amplitude): Y = column, Z = row of the frame, pixel
// centres at integers. Its pixels are the (2h+1)² block around (round(y), round(z)) with
// h = ceil(4σ), each weighted amplitude·exp(-(ΔY² + ΔZ²)/(2σ²)) as in upstream's
// ForwardSimulationCompressed (analytic per-pixel sampling, no sub-pixel integration).
// Per frame, values of a pixel are summed in contribution order, so frames do not depend on the
// thread count. The batched OpenMP kernels live in cpp/src/forward_render.cpp.
#pragma once

#include <cstdint>

#include "midas/core/span.hpp"

namespace midas::ff {

/// Spot contributions grouped by frame (CSR): contributions frame_offsets[f] .. frame_offsets[f+1]
/// belong to frame f (f = 0 .. n_frames-1 of the whole scan).
struct FrameContributions {
    span<const std::int64_t> frame_offsets;  ///< (n_frames + 1,) non-decreasing, first 0
    span<const double> y_px;                 ///< (C,) column coordinate of the spot centre
    span<const double> z_px;                 ///< (C,) row coordinate of the spot centre
    span<const double> amplitude;            ///< (C,) peak value of the Gaussian (counts)
};

/// Frame geometry and spot shape.
struct RenderShape {
    std::int64_t n_y = 0;   ///< pixels per row (columns)
    std::int64_t n_z = 0;   ///< rows
    double sigma_px = 1.0;  ///< Gaussian σ in pixels (> 0)
};

/// Largest summed (unscaled) pixel value over all frames (0 when nothing is drawn).
/// Throws midas::ParamError on inconsistent sizes or σ ≤ 0.
[[nodiscard]] double max_pixel_value(const FrameContributions& c, const RenderShape& shape);

/// Render frames first_frame .. first_frame + n_out - 1 as float64 sums (no scaling) into
/// out (n_out, n_z, n_y), which is overwritten.
void render_frames_f64(const FrameContributions& c, const RenderShape& shape, std::int64_t first_frame,
                       std::int64_t n_out, span<double> out);

/// Scaling and noise of the int32 output frames.
struct IntScaling {
    double out_max = 65000.0;  ///< value the brightest pixel (peak_max) maps to
    double peak_max = 1.0;     ///< the unscaled value that maps to out_max (> 0)
    double noise_sigma = 0.0;  ///< σ of Gaussian noise added to every pixel, output counts (≥ 0)
    std::uint64_t seed = 0;    ///< noise seed; the noise of pixel p of frame f depends only on (seed, f, p)
};

/// Render frames as int32: value = sum·out_max/peak_max (exactly out_max where sum ≥ peak_max)
/// (+ noise), clamped to [0, 2³¹-1] and truncated toward zero (upstream's conversion).
/// out (n_out, n_z, n_y) is overwritten.
void render_frames_i32(const FrameContributions& c, const RenderShape& shape, std::int64_t first_frame,
                       std::int64_t n_out, const IntScaling& scaling, span<std::int32_t> out);

/// The standard-normal noise value of pixel `pixel` of frame `frame` (counter-based, stateless).
[[nodiscard]] double noise_normal(std::uint64_t seed, std::int64_t frame, std::int64_t pixel);

}  // namespace midas::ff
