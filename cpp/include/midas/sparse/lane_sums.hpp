// midas/sparse/lane_sums.hpp — the inner sums of the CPU CSR product (csr.cpp; csr_banded.cpp
// keeps the same lane order over padded groups).
//
// One sum of entries [k0, k1) uses 4 interleaved partial sums (entry k0 + 4·m + l goes to
// partial l) combined as (s0 + s1) + (s2 + s3): a fixed order that hides the add latency and does
// not depend on the thread count or the number of frames read together. Internal to the kernels.
#pragma once

#include <cstdint>

namespace midas::sparse::detail {

constexpr int lanes = 4;  // interleaved partial sums per (sum, frame)

/// Column walk over a CSR row: entry k's pixel of frame 0 is x + indices[k].
template <class In>
struct IndexColumns {
    const std::int32_t* indices;
    const In* x;
    const In* at(std::int64_t k) const { return x + indices[k]; }
};

// Sums of entries [k0, k1) for a block of B frames (n_cols apart). Entry k0 + lanes·m + l goes to
// partial sum l of its frame, and the partial sums are combined as (s0 + s1) + (s2 + s3): a fixed
// order that does not depend on the thread count or on the number of frames in the block.
template <int B, class Real, class Columns>
inline void lane_sums(const Real* data, std::int64_t k0, std::int64_t k1, Columns cols, std::int64_t n_cols,
                      double* out) {
    double acc[B][lanes];
    for (int b = 0; b < B; ++b)
        for (int l = 0; l < lanes; ++l) acc[b][l] = 0.0;
    std::int64_t k = k0;
    for (; k + lanes <= k1; k += lanes) {
        for (int l = 0; l < lanes; ++l) {
            const double w = static_cast<double>(data[k + l]);
            const auto* p = cols.at(k + l);
            for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(p[b * n_cols]);
        }
    }
    for (int l = 0; k < k1; ++k, ++l) {
        const double w = static_cast<double>(data[k]);
        const auto* p = cols.at(k);
        for (int b = 0; b < B; ++b) acc[b][l] += w * static_cast<double>(p[b * n_cols]);
    }
    for (int b = 0; b < B; ++b) out[b] = (acc[b][0] + acc[b][1]) + (acc[b][2] + acc[b][3]);
}

}  // namespace midas::sparse::detail
