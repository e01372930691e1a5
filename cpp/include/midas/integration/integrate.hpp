// midas/integration/integrate.hpp — per-frame helpers around the CSR product of integration.
//
// The cake itself is one affine sparse pass (midas/sparse/banded.hpp on the CPU, the CSR form of
// midas/sparse/csr.hpp on the GPU): the matrix holds fraction / correction, the row scale
// 1 / bin area, the row offset the dark frame's contribution. These kernels cover the rest of a frame: finding pixels that carry a sentinel
// value (detector gaps, bad pixels) and reducing the cake to a 1-D lineout.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"

namespace midas::integration {

/// Indices (ascending) of the pixels of `frame` equal to any of `values` whose `skip` entry is 0
/// (skip may be empty). Used to catch sentinel values outside the static mask in each frame.
template <class In>
[[nodiscard]] std::vector<std::int64_t> find_sentinel_pixels(span<const In> frame, span<const double> values,
                                                             span<const std::uint8_t> skip);

/// lineout[f, i] = Σ_j area[i, j]·cake[f, i, j] / Σ_j area[i, j] over the η bins j whose area
/// is > 0 and whose cake value is finite; NaN where no such bin exists. cake is
/// (n_frames, n_r, n_eta), area (n_r, n_eta), lineout (n_frames, n_r); sums run in j order.
void lineout_from_cake(span<const double> cake, span<const double> area, std::int64_t n_frames, std::int64_t n_r,
                       std::int64_t n_eta, span<double> lineout);

}  // namespace midas::integration
