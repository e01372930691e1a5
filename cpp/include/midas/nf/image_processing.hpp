// midas/nf/image_processing.hpp — NF image reduction (the role of upstream ProcessImagesCombined;
// upstream_facts.md §4.8): per distance, a per-pixel temporal median background; per frame,
// v = max(0, raw − median − BlanketSubtraction), a 3×3 or 5×5 spatial median filter (border
// pixels copied), optionally a Laplacian-of-Gaussian blob mask, and one bit per remaining spot
// pixel in the SpotsInfo bitmask at Y = n_y−1−column, Z = n_z−1−row.
//
// The temporal median is computed as a stream with memory independent of the number of frames
// (upstream keeps every frame of a distance in RAM): a multi-pass exact selection. Each pixel
// keeps an interval [a, b) known to hold its median and the median's rank inside it; a pass
// reads every frame once and histograms the pixel's values over 64 bins: "below the window",
// 62 window bins of width 2^s starting at lo, "above the window". The bin holding the rank
// becomes the new interval. The first window (bins of width 16 from 736 below to 256 above the
// first frame's value) catches a stable background in the first pass, and the second pass
// (width-1 bins) then gives the exact value. Pixels whose median fell outside the first window
// (a spot in the first frame, a jump of the background) keep, in the second pass, their values
// inside the new interval (at most 256 MB of them in all) and select the median directly; only
// beyond that budget do they take further histogram passes (at most six in all). Memory: 64
// counters of 2 bytes (4 bytes above 65535 frames) plus 18 bytes of state per pixel — 612 MB for
// 2048² whatever the number of frames — plus the 256 MB budget in the second pass. The result is the lower median (element
// (n−1)/2 of the sorted values), exactly upstream's quick-select value.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

/// Exact per-pixel lower temporal median of a stream of uint16 frames (see the file header).
/// Usage: while (!done()) { for each frame: add_frame(f); finish_pass(); } then median().
class StreamingMedian {
   public:
    /// n_pixels > 0, n_frames > 0 (midas::ParamError otherwise); collect_budget_bytes caps the values
    /// kept for direct selection in the second pass (0: histogram passes only).
    StreamingMedian(std::int64_t n_pixels, std::int64_t n_frames, std::uint64_t collect_budget_bytes = 256ull << 20);

    [[nodiscard]] bool done() const { return done_; }
    [[nodiscard]] int passes_done() const { return passes_; }
    [[nodiscard]] std::int64_t n_pixels() const { return n_pixels_; }
    [[nodiscard]] std::int64_t n_frames() const { return n_frames_; }
    /// Bytes held by the counters and per-pixel state.
    [[nodiscard]] std::size_t memory_bytes() const;

    /// Feed the next frame (n_pixels values) of the current pass. Throws midas::ParamError on a
    /// size mismatch, when more than n_frames frames are fed, or after done().
    void add_frame(span<const std::uint16_t> frame);
    /// Close the current pass (exactly n_frames frames must have been fed).
    void finish_pass();
    /// The median image (n_pixels). Throws midas::ParamError unless done().
    [[nodiscard]] std::vector<std::uint16_t> median() const;

   private:
    template <class C>
    void add_impl(std::vector<C>& counts, const std::uint16_t* f);
    template <class C>
    void finish_impl(std::vector<C>& counts);

    std::int64_t n_pixels_;
    std::int64_t n_frames_;
    std::uint64_t collect_budget_bytes_;
    std::int64_t seen_ = 0;
    int passes_ = 0;
    bool done_ = false;
    std::vector<std::uint16_t> counts16_;  ///< 64 per pixel, pixel-major (n_frames ≤ 65535)
    std::vector<std::uint32_t> counts32_;  ///< 64 per pixel otherwise
    std::vector<std::uint32_t> a_, b_;     ///< interval [a, b) holding the median
    std::vector<std::uint32_t> lo_;        ///< start of the window bins
    std::vector<std::uint32_t> rank_;      ///< rank of the median among values in [a, b)
    std::vector<std::uint8_t> shift_;      ///< window bin width 2^shift
    std::vector<std::uint8_t> mode_;       ///< histogram / resolved / collect
    std::vector<std::uint32_t> fill_;      ///< collect: values stored so far (scratch otherwise)
    std::vector<std::uint64_t> offset_;    ///< collect: start of the pixel's values in values_
    std::vector<std::uint16_t> values_;    ///< collect: the kept values
    static constexpr std::uint8_t mode_histogram = 0;
    static constexpr std::uint8_t mode_resolved = 1;
    static constexpr std::uint8_t mode_collect = 2;
};

/// Spatial median filter of an image (n_rows × n_cols, row-major): radius 0 copies, 1 is 3×3,
/// 2 is 5×5; pixels within `radius` of the border are copied unchanged (as upstream).
/// Throws midas::ParamError for other radii or size mismatches.
void median_filter(span<const std::uint16_t> in, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                   span<std::uint16_t> out);

/// Settings of the per-frame reduction.
struct ReduceSettings {
    std::int32_t blanket = 0;         ///< BlanketSubtraction
    std::int32_t median_radius = 1;   ///< MedFiltRadius (0, 1, 2)
    bool do_log = false;              ///< DoLoGFilter
    std::int32_t log_radius = 10;     ///< LoGMaskRadius (px)
    double log_sigma = 4.0;           ///< GaussFiltRadius (px)
};

/// Laplacian-of-Gaussian blob mask of a filtered image: a pixel with value > 0 is kept when the
/// LoG response (σ, square window of half-width radius, zero within radius of the border) is
/// negative at scale (radius, σ) or at the fine scale (4, 1) — the inside of bright blobs.
/// `mask` receives 1/0 per pixel. Midas' own definition of upstream's LoG peak labelling.
void log_blob_mask(span<const std::uint16_t> img, std::int32_t n_rows, std::int32_t n_cols, std::int32_t radius,
                   double sigma, span<std::uint8_t> mask);

/// Reduces the frames of one distance, reusing its work buffers from frame to frame.
class FrameReducer {
   public:
    /// Throws midas::ParamError for a non-positive size or invalid settings.
    FrameReducer(std::int32_t n_rows, std::int32_t n_cols, const ReduceSettings& settings);
    /// As reduce_frame below.
    std::int64_t reduce(span<const std::uint16_t> raw, span<const std::uint16_t> median, std::uint32_t* words,
                        const BitLayout& layout, std::int32_t layer, std::int32_t frame, span<std::uint16_t> reduced);

   private:
    std::int32_t n_rows_;
    std::int32_t n_cols_;
    ReduceSettings s_;
    std::vector<std::uint16_t> sub_, filt_;
    std::vector<std::uint8_t> nz_, mask_;
};

/// Reduce one raw frame (n_rows = n_z, n_cols = n_y) against its distance's median and set the
/// bits of its spot pixels at (layer, frame, n_y−1−col, n_z−1−row). `reduced` (optional, same
/// size or empty) receives the filtered image (zero where not a spot when do_log). Returns the
/// number of spot pixels. OpenMP over rows; bits are set atomically.
std::int64_t reduce_frame(span<const std::uint16_t> raw, span<const std::uint16_t> median, std::int32_t n_rows,
                          std::int32_t n_cols, const ReduceSettings& settings, std::uint32_t* words,
                          const BitLayout& layout, std::int32_t layer, std::int32_t frame, span<std::uint16_t> reduced);

}  // namespace midas::nf
