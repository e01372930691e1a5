// midas/ff/peak_search.hpp — FF-HEDM peak search on detector frames (upstream_facts.md §4.1,
// §3.4): threshold inside ring bands, 8-connected regions, regional maxima, joint pseudo-Voigt
// fit (or centroid), one row of upstream's 29 AllPeaks_PS columns per peak.
//
// The caller precomputes a PixelPlan once per detector: the candidate pixels (inside a ring band
// or the whole image, not masked) in the frame AFTER ImTransOpt, with where each one sits in the
// raw frame, its threshold and its dark value. A frame then costs one gather over the candidates,
// the labelling of the few pixels above threshold, and the fits.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/ff/peak_fit.hpp"

namespace midas::ff {

/// Columns of upstream's AllPeaks_PS.bin rows (PeaksFittingConsolidatedIO.h).
enum PsColumn : int {
    ps_spot_id = 0, ps_integrated_intensity, ps_omega, ps_y_cen, ps_z_cen, ps_imax, ps_radius,
    ps_eta, ps_sigma_r, ps_sigma_eta, ps_nr_pixels, ps_nr_px_tot, ps_n_peaks, ps_max_y, ps_max_z,
    ps_diff_y, ps_diff_z, ps_raw_imax, ps_return_code, ps_ret_val, ps_bg, ps_sigma_gr, ps_sigma_lr,
    ps_sigma_geta, ps_sigma_leta, ps_mu, ps_raw_sum_intensity, ps_mask_touched, ps_fit_rmse,
    ps_n_columns
};

/// Classes of the pixels of the transformed frame in PixelPlan::pixel_class.
enum PixelClass : std::uint8_t { pixel_outside = 0, pixel_candidate = 1, pixel_masked = 2 };

/// Candidate pixels of one detector, in the transformed frame of shape (n_z, n_y), as runs.
///
/// Run r covers the transformed pixels dst_start[r] + i (i < length[r], all in one row, i.e.
/// z·n_y + y), which sit at raw-frame indices src_start[r] + i·src_stride[r] (ImTransOpt makes
/// the stride ±1 or ±n_y_raw); every pixel of the run needs `threshold[r]` counts above dark
/// (> 0). Runs are in increasing dst order and do not overlap. dark: one float32 per candidate
/// pixel in run order (pixel i of run r at offset[r] + i), or empty (no dark).
///
/// pixel_class: (n_z·n_y,) PixelClass of every transformed pixel, or empty (then nothing is
/// masked and regions are not grown). With `grow`, a region found in the bands is extended into
/// 8-connected pixels outside every band (class 0) that reach the threshold of the pixel they
/// grow from, so a spot cut by a band edge keeps its whole footprint; those pixels sit at raw
/// index src_origin + y·src_step_y + z·src_step_z and have dark dark_map[z·n_y + y] (dark_map
/// empty: no dark).
struct PixelPlan {
    std::int64_t n_y = 0;
    std::int64_t n_z = 0;
    std::int64_t n_raw = 0;  ///< pixels in one raw frame
    span<const std::int64_t> dst_start;
    span<const std::int64_t> src_start;
    span<const std::int64_t> src_stride;
    span<const std::int32_t> length;
    span<const std::int64_t> offset;
    span<const float> threshold;
    span<const float> dark;
    span<const std::uint8_t> pixel_class;
    span<const float> dark_map;
    std::int64_t src_origin = 0;
    std::int64_t src_step_y = 1;
    std::int64_t src_step_z = 0;
    bool grow = false;
};

/// Check a PixelPlan against a raw frame size; throws midas::ParamError naming the first bad run.
void validate(const PixelPlan& plan);

/// Settings of the per-region analysis.
struct PeakSearchSettings {
    double bc_y_px = 0.0;  ///< beam centre, transformed-frame column (Y)
    double bc_z_px = 0.0;  ///< beam centre, transformed-frame row (Z)
    /// A region holding any raw value above this is dropped (UpperBoundThreshold).
    double saturation = std::numeric_limits<double>::infinity();
    /// Raw values equal to one of these are treated as masked in that frame (GapIntensity,
    /// BadPxIntensity); `n_bad_values` of the two are used.
    std::array<double, 2> bad_values{0.0, 0.0};
    int n_bad_values = 0;
    int min_nr_px = 1;      ///< regions need more than this many pixels (upstream: strict)
    int max_nr_px = 10000;  ///< ... and fewer than this many
    int max_n_peaks = 400;  ///< keep the brightest this many maxima of a region
    bool do_peak_fit = true;
    LmOptions lm;
};

/// Why regions of a frame were left out or cut.
struct RegionCounts {
    std::int64_t regions = 0;      ///< all 8-connected regions
    std::int64_t too_small = 0;    ///< ≤ min_nr_px pixels
    std::int64_t too_large = 0;    ///< ≥ max_nr_px pixels
    std::int64_t saturated = 0;    ///< held a value above `saturation`
    std::int64_t truncated = 0;    ///< had more than max_n_peaks maxima (the brightest kept)
    std::int64_t kept_pixels = 0;  ///< pixels above threshold (grown pixels included)
    std::int64_t grown_pixels = 0; ///< of which outside the bands (region growth)
};

/// Peaks of one frame. rows: n_peaks × ps_n_columns (omega column left 0 for the caller).
/// region_of_peak (n_peaks,): index into this frame's analysed regions; region pixels are
/// region_px_yz[2·region_px_start[r] ..] as (y, z) int16 pairs.
struct FramePeaks {
    std::vector<double> rows;
    std::vector<std::int32_t> region_of_peak;
    std::vector<std::int64_t> region_px_start{0};
    std::vector<std::int16_t> region_px_yz;
    RegionCounts counts;

    [[nodiscard]] std::int64_t n_peaks() const noexcept {
        return static_cast<std::int64_t>(rows.size() / ps_n_columns);
    }
};

/// Analyse one region: fit (or centroid) its maxima and append one row per peak to `out`.
///
/// y_px, z_px, value: (N,) the region's pixels (transformed-frame column, row, counts above dark);
/// maxima: positions into those arrays of the peaks to fit (brightest-first order is not needed);
/// threshold: the band threshold (upper bound of bg); mask_touched is copied to each row.
void analyse_region(span<const double> y_px, span<const double> z_px, span<const double> value,
                    span<const std::int32_t> maxima, double threshold, bool mask_touched,
                    const PeakSearchSettings& settings, std::vector<double>& out);

/// Peak search of one frame. `frame` holds n_raw raw values of type T.
template <class T>
[[nodiscard]] FramePeaks find_peaks_frame(span<const T> frame, const PixelPlan& plan,
                                          const PeakSearchSettings& settings);

/// Peak search of n_frames consecutive frames (n_frames·n_raw values), OpenMP over frames.
/// Element k of the result belongs to frame k whatever the thread count.
template <class T>
[[nodiscard]] std::vector<FramePeaks> find_peaks_frames(span<const T> frames, std::int64_t n_frames,
                                                        const PixelPlan& plan,
                                                        const PeakSearchSettings& settings);

}  // namespace midas::ff
