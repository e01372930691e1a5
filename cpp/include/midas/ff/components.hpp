// midas/ff/components.hpp — 8-connected components and regional maxima on a sparse pixel set.
//
// FF peak search keeps only the few pixels above threshold (a few 1e3–1e5 of 4e6 per frame), so
// labelling works on that sparse list instead of a dense label image: one sweep finds every
// pixel's 8-neighbours that are also kept, a union–find joins them, and regions are numbered in
// the order of their first pixel in row-major (Z slow, Y fast) order. The result does not depend
// on thread count or on anything but the pixel list.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"

namespace midas::ff {

/// Number of neighbour slots per pixel in an Adjacency (8-connectivity).
inline constexpr int n_neighbours = 8;

/// 8-connected regions of a sparse pixel set.
///
/// Pixels are referred to by their position k in the input list. `neighbour[8k + j]` is the
/// position of the j-th kept 8-neighbour of pixel k, or -1 (slots are filled in no particular
/// geometric order). `region_start` has n_regions + 1 entries; `members[region_start[r] ..
/// region_start[r+1])` are the pixels of region r in increasing list (= row-major) order, and
/// `region_of[k]` is the region of pixel k. Regions are numbered by their first pixel.
struct Components {
    std::vector<std::int32_t> neighbour;
    std::vector<std::int32_t> region_of;
    std::vector<std::int32_t> region_start;
    std::vector<std::int32_t> members;

    [[nodiscard]] std::int32_t n_regions() const noexcept {
        return region_start.empty() ? 0 : static_cast<std::int32_t>(region_start.size() - 1);
    }
};

/// Label the 8-connected components of a set of pixels of an (n_z, n_y) image.
///
/// `linear_index[k] = z·n_y + y` must be strictly increasing (row-major order) and inside the
/// image; throws midas::ParamError naming the first offending position otherwise. `out` is
/// overwritten (its capacity is reused across calls).
void label_components(span<const std::int64_t> linear_index, std::int64_t n_y, std::int64_t n_z,
                      Components& out);

/// Positions (into the pixel list) of the regional maxima of one region: pixels none of whose
/// 8-neighbours in the set is strictly larger (ties give several maxima), in increasing order.
///
/// `members` are the region's pixel positions, `value` is indexed by pixel position and
/// `neighbour` is Components::neighbour. Every non-empty region has at least one maximum.
[[nodiscard]] std::vector<std::int32_t> regional_maxima(span<const std::int32_t> members,
                                                        span<const double> value,
                                                        span<const std::int32_t> neighbour);

}  // namespace midas::ff
