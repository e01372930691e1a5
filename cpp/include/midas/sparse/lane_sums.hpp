// midas/sparse/lane_sums.hpp — the inner sums of the CPU sparse products (csr.cpp, banded.cpp).
//
// One sum of entries [k0, k1) uses 4 interleaved partial sums (entry k0 + 4·m + l goes to
// partial l) combined as (s0 + s1) + (s2 + s3): a fixed order that hides the add latency and does
// not depend on the thread count or the number of frames read together. Internal to the kernels.
#pragma once

#include <cstdint>

namespace midas::sparse::detail {

constexpr int lanes = 4;  // interleaved partial sums per (sum, frame)

// Sums of one row for a block of B frames. Entry k0 + lanes·m + l goes to partial sum l of its
// frame, and the partial sums are combined as (s0 + s1) + (s2 + s3): a fixed order that does not
// depend on the thread count or on the number of frames in the block.
template <int B, class Real, class In>
inline void row_sums(const Real* data, const std::int32_t* indices, std::int64_t k0, std::int64_t k1,
                     const In* x, std::int64_t n_cols, double* out) {
    double acc[B][lanes];
    for (int b = 0; b < B; ++b)
        for (int l = 0; l < lanes; ++l) acc[b][l] = 0.0;
    std::int64_t k = k0;
    for (; k + lanes <= k1; k += lanes) {
        for (int l = 0; l < lanes; ++l) {
            const double w = static_cast<double>(data[k + l]);
            const std::int64_t c = indices[k + l];
            for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(x[b * n_cols + c]);
        }
    }
    for (int l = 0; k < k1; ++k, ++l) {
        const double w = static_cast<double>(data[k]);
        const std::int64_t c = indices[k];
        for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(x[b * n_cols + c]);
    }
    for (int b = 0; b < B; ++b) out[b] = (acc[b][0] + acc[b][1]) + (acc[b][2] + acc[b][3]);
}

// The same sums with the columns from int16 steps: p walks along frame 0 from the row's base.
template <int B, class Real, class In>
inline void row_sums_steps(const Real* data, const std::int16_t* step, std::int64_t k0, std::int64_t k1,
                           const In* x_base, std::int64_t n_cols, double* out) {
    double acc[B][lanes];
    for (int b = 0; b < B; ++b)
        for (int l = 0; l < lanes; ++l) acc[b][l] = 0.0;
    const In* p = x_base;
    std::int64_t k = k0;
    for (; k + lanes <= k1; k += lanes) {
        for (int l = 0; l < lanes; ++l) {
            p += step[k + l];
            const double w = static_cast<double>(data[k + l]);
            for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(p[b * n_cols]);
        }
    }
    for (int l = 0; k < k1; ++k, ++l) {
        p += step[k];
        const double w = static_cast<double>(data[k]);
        for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(p[b * n_cols]);
    }
    for (int b = 0; b < B; ++b) out[b] = (acc[b][0] + acc[b][1]) + (acc[b][2] + acc[b][3]);
}

}  // namespace midas::sparse::detail
