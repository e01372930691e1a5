// midas/sparse/banded.hpp — a column-band-major copy of a CSR matrix for the CPU product.
//
// In an integration matrix a row (bin) gathers pixels from all over the detector (a ring crosses
// every detector row), so a row-by-row pass re-reads each frame line from memory several times.
// The banded copy cuts every row into segments whose columns lie in one band of `band_cols`
// consecutive columns (a few detector rows) and stores the segments band by band: a pass then
// works through the frame one band at a time, with that band's pixels in the cache. Columns are
// stored as int16 steps from the previous entry of the segment (6 bytes per entry with float32
// weights). Sums: each segment by the 4-lane scheme of lane_sums.hpp, then each row as the
// sequential sum of its segments in entry order — fixed, so results do not depend on the thread
// count or the batch size (they differ from csr_spmv_affine in the last bits).
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/core/uninit_vector.hpp"
#include "midas/sparse/csr.hpp"

namespace midas::sparse {

/// Owning banded copy of a CSR matrix (see the file comment). Segment s (storage order: by band,
/// then by first column, ties in row and entry order) holds entries [seg_ptr[s], seg_ptr[s+1]) of data/step, its
/// first column is seg_base[s] and later columns add step[k] (step of a segment's first entry 0).
/// Row r owns the segment slots row_seg_ptr[r] .. row_seg_ptr[r+1] (row by row, entry order);
/// storage segment s fills slot seg_slot[s], so a row reads its segment sums contiguously.
template <class Real>
struct BandedCsr {
    std::int64_t n_rows = 0;
    std::int64_t n_cols = 0;
    std::int64_t band_cols = 0;
    std::vector<std::int64_t> band_ptr;     ///< n_bands + 1, into the segments
    std::vector<std::int64_t> seg_ptr;      ///< n_seg + 1, into data/step
    std::vector<std::int32_t> seg_base;     ///< n_seg
    std::vector<std::int64_t> row_seg_ptr;  ///< n_rows + 1
    std::vector<std::int32_t> seg_slot;     ///< n_seg: row-order slot of each storage segment
    uninit_vector<Real> data;               ///< nnz
    uninit_vector<std::int16_t> step;       ///< nnz
};

/// Non-owning view of a BandedCsr (same fields as spans).
template <class Real>
struct BandedView {
    std::int64_t n_rows = 0;
    std::int64_t n_cols = 0;
    span<const std::int64_t> band_ptr;
    span<const std::int64_t> seg_ptr;
    span<const std::int32_t> seg_base;
    span<const std::int64_t> row_seg_ptr;
    span<const std::int32_t> seg_slot;
    span<const Real> data;
    span<const std::int16_t> step;
};

/// The banded copy of `a` with bands of `band_cols` columns. A segment ends where the band
/// changes or a column step leaves int16. Throws ParamError unless band_cols is a power of two, CapacityError
/// when the segments would exceed int32, FormatError for an invalid matrix.
template <class Real>
[[nodiscard]] BandedCsr<Real> make_banded(const CsrView<Real>& a, std::int64_t band_cols);

/// y[f, r] = row_scale[r] · (Σ_c A[r, c]·x[f, c] − row_offset[r]) from the banded copy (the
/// conventions of csr_spmv_affine: empty scale/offset = 1/0, NaN scales give NaN rows). x is
/// (n_frames, n_cols) row-major, y (n_frames, n_rows). Bands are handed out dynamically; every
/// sum has a fixed order, so y does not depend on the thread count or the batch size. Scratch:
/// n_seg·n_frames doubles. Throws ParamError on size mismatches.
template <class Real, class In>
void banded_spmv_affine(const BandedView<Real>& a, span<const In> x, std::int64_t n_frames,
                        span<const double> row_scale, span<const double> row_offset, span<double> y);

}  // namespace midas::sparse
