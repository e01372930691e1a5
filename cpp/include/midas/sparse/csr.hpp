// midas/sparse/csr.hpp — compressed-sparse-row matrices and their product with frames.
//
// Integration expresses one detector frame -> cake as y = A·x, with A (n_bins × n_pixels)
// holding every correction (area fraction, solid angle, polarisation). This header is the
// CPU kernel; cuda/csr_spmv.cu mirrors it with the same arguments.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"

namespace midas::sparse {

/// Non-owning view of a CSR matrix. indptr has n_rows + 1 entries (int64, non-decreasing,
/// indptr[0] == 0, indptr[n_rows] == nnz); indices (int32, in [0, n_cols)) and data have nnz entries.
template <class Real>
struct CsrView {
    span<const std::int64_t> indptr;
    span<const std::int32_t> indices;
    span<const Real> data;
    std::int64_t n_rows = 0;
    std::int64_t n_cols = 0;
};

/// Check the structural invariants of a CSR matrix; throws midas::FormatError naming the
/// first violation (row, entry and value).
template <class Real>
void validate(const CsrView<Real>& a);

/// y[f, r] = Σ_k a.data[k] · x[f, a.indices[k]] for k in row r, for every frame f.
///
/// x is (n_frames, n_cols) row-major, y is (n_frames, n_rows) row-major and overwritten.
/// Each row is summed by one thread in entry order with a double accumulator, so the result
/// does not depend on the thread count. Several frames share one pass over the matrix (a row's
/// entries are read once for a block of frames); each (frame, row) sum keeps the same order, so
/// the result is also independent of the batch size. Throws midas::ParamError on size mismatches.
template <class Real, class In>
void csr_spmv(const CsrView<Real>& a, span<const In> x, std::int64_t n_frames, span<double> y);

/// Affine variant: y[f, r] = row_scale[r] · (Σ_k a.data[k] · x[f, a.indices[k]] − row_offset[r]).
///
/// Either span may be empty (scale 1, offset 0). Integration uses it to apply the per-bin
/// 1/area normalisation and to subtract a dark frame's (pre-multiplied) contribution within the
/// same pass. A scale of NaN marks a row whose output is undefined (a masked bin). Rows are cut
/// into blocks of about equal entry counts, handed out dynamically; a row is always summed by one
/// thread in entry order, so the result does not depend on the thread count or the batch size.
/// (Integration on the CPU uses the banded copy of midas/sparse/banded.hpp instead.)
template <class Real, class In>
void csr_spmv_affine(const CsrView<Real>& a, span<const In> x, std::int64_t n_frames, span<const double> row_scale,
                     span<const double> row_offset, span<double> y);

/// The transpose of a CSR matrix, as CSR (rows of the result = columns of `a`). Entries of each
/// result row keep the row order of `a`. Throws midas::FormatError on invalid column indices.
template <class Real>
void csr_transpose(const CsrView<Real>& a, std::vector<std::int64_t>& indptr_t, std::vector<std::int32_t>& indices_t,
                   std::vector<Real>& data_t);

/// The same product as csr_spmv_affine, y[f, r] = row_scale[r]·(Σ_c A[r, c]·x[f, c] − row_offset[r]),
/// computed from the TRANSPOSE `at` (n_cols × n_rows, e.g. from csr_transpose) by reading the frames
/// sequentially and scattering into y. Fast when A has few rows (a 1-D lineout): no gathers, and
/// the partial sums of y stay in cache. The pixels are split into `n_chunks` fixed, contiguous
/// chunks whose partial sums are added in chunk order, so the result does not depend on the thread
/// count or the batch size (it differs from csr_spmv_affine in the last bits: another summation
/// order). Scratch memory: n_chunks·n_frames·n_rows doubles. Throws ParamError for n_chunks < 1.
template <class Real, class In>
void csr_scatter_spmv_affine(const CsrView<Real>& at, span<const In> x, std::int64_t n_frames,
                             span<const double> row_scale, span<const double> row_offset, std::int64_t n_chunks,
                             span<double> y);

}  // namespace midas::sparse
