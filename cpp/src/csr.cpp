#include "midas/sparse/csr.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/core/parallel.hpp"
#include "midas/sparse/lane_sums.hpp"

namespace midas::sparse {

template <class Real>
void validate(const CsrView<Real>& a) {
    if (a.n_rows < 0 || a.n_cols < 0)
        throw FormatError("CSR matrix: negative shape (" + std::to_string(a.n_rows) + ", " +
                          std::to_string(a.n_cols) + ")");
    if (a.indptr.size() != static_cast<std::size_t>(a.n_rows + 1))
        throw FormatError("CSR matrix: indptr has " + std::to_string(a.indptr.size()) +
                          " entries, expected n_rows + 1 = " + std::to_string(a.n_rows + 1));
    if (a.indptr[0] != 0)
        throw FormatError("CSR matrix: indptr[0] = " + std::to_string(a.indptr[0]) + ", expected 0");
    const auto nnz = static_cast<std::int64_t>(a.indices.size());
    if (a.data.size() != a.indices.size())
        throw FormatError("CSR matrix: data has " + std::to_string(a.data.size()) +
                          " entries but indices has " + std::to_string(nnz));
    if (a.indptr[static_cast<std::size_t>(a.n_rows)] != nnz)
        throw FormatError("CSR matrix: indptr[n_rows] = " +
                          std::to_string(a.indptr[static_cast<std::size_t>(a.n_rows)]) +
                          ", expected nnz = " + std::to_string(nnz));
    for (std::int64_t r = 0; r < a.n_rows; ++r) {
        if (a.indptr[static_cast<std::size_t>(r + 1)] < a.indptr[static_cast<std::size_t>(r)])
            throw FormatError("CSR matrix: indptr decreases at row " + std::to_string(r));
    }
    for (std::int64_t k = 0; k < nnz; ++k) {
        const auto c = a.indices[static_cast<std::size_t>(k)];
        if (c < 0 || c >= a.n_cols)
            throw FormatError("CSR matrix: column index " + std::to_string(c) + " at entry " +
                              std::to_string(k) + " outside [0, " + std::to_string(a.n_cols) + ")");
    }
}

namespace {

using detail::IndexColumns;
using detail::lane_sums;

// One row for frames [0, B) of xf (frames n_cols apart): its entries, read for B frames at once.
template <int B, class Real, class In>
inline void row_frames(const CsrView<Real>& a, std::int64_t r, const In* xf, double* acc) {
    lane_sums<B>(a.data.data(), a.indptr[static_cast<std::size_t>(r)], a.indptr[static_cast<std::size_t>(r) + 1],
                 IndexColumns<In>{a.indices.data(), xf}, a.n_cols, acc);
}

constexpr std::int64_t rows_blocks_per_thread = 16;  // dynamic hand-out of nnz-balanced row blocks

}  // namespace

template <class Real, class In>
void csr_spmv_affine(const CsrView<Real>& a, span<const In> x, std::int64_t n_frames, span<const double> row_scale,
                     span<const double> row_offset, span<double> y) {
    if (n_frames < 0) throw ParamError("csr_spmv: n_frames = " + std::to_string(n_frames) + " < 0");
    if (x.size() != static_cast<std::size_t>(n_frames * a.n_cols))
        throw ParamError("csr_spmv: x has " + std::to_string(x.size()) + " values, expected n_frames × n_cols = " +
                         std::to_string(n_frames * a.n_cols));
    if (y.size() != static_cast<std::size_t>(n_frames * a.n_rows))
        throw ParamError("csr_spmv: y has " + std::to_string(y.size()) + " values, expected n_frames × n_rows = " +
                         std::to_string(n_frames * a.n_rows));
    if (!row_scale.empty() && row_scale.size() != static_cast<std::size_t>(a.n_rows))
        throw ParamError("csr_spmv: row_scale has " + std::to_string(row_scale.size()) + " values, expected n_rows = " +
                         std::to_string(a.n_rows));
    if (!row_offset.empty() && row_offset.size() != static_cast<std::size_t>(a.n_rows))
        throw ParamError("csr_spmv: row_offset has " + std::to_string(row_offset.size()) +
                         " values, expected n_rows = " + std::to_string(a.n_rows));
    const std::int64_t n_rows = a.n_rows;
    const std::int64_t n_cols = a.n_cols;
    const std::int64_t* indptr = a.indptr.data();
    const In* xp = x.data();
    double* yp = y.data();
    const double* scale = row_scale.empty() ? nullptr : row_scale.data();
    const double* offset = row_offset.empty() ? nullptr : row_offset.data();
    // contiguous row blocks of about equal entry counts (plus one row each, for empty rows)
    const std::int64_t n_blocks =
        std::max<std::int64_t>(1, std::min<std::int64_t>(n_rows, rows_blocks_per_thread * parallel::max_threads()));
    std::vector<std::int64_t> block_start(static_cast<std::size_t>(n_blocks + 1), n_rows);
    const std::int64_t work = indptr[n_rows] + n_rows;
    block_start[0] = 0;
    for (std::int64_t b = 1; b < n_blocks; ++b) {
        // first row r with indptr[r] + r ≥ b·work / n_blocks (indptr[r] + r increases strictly)
        const std::int64_t target = b * (work / n_blocks) + b * (work % n_blocks) / n_blocks;
        std::int64_t lo = block_start[static_cast<std::size_t>(b - 1)], hi = n_rows;
        while (lo < hi) {
            const std::int64_t mid = lo + (hi - lo) / 2;
            if (indptr[mid] + mid < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        block_start[static_cast<std::size_t>(b)] = lo;
    }
    constexpr int block = 4;  // frames that share one read of a row
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t blk = 0; blk < n_blocks; ++blk) {
        for (std::int64_t r = block_start[static_cast<std::size_t>(blk)];
             r < block_start[static_cast<std::size_t>(blk) + 1]; ++r) {
            const double s = scale ? scale[r] : 1.0;
            const double o = offset ? offset[r] : 0.0;
            double acc[block];
            std::int64_t f = 0;
            for (; f + block <= n_frames; f += block) {
                row_frames<block>(a, r, xp + f * n_cols, acc);
                for (int b = 0; b < block; ++b) yp[(f + b) * n_rows + r] = s * (acc[b] - o);
            }
            for (; f < n_frames; ++f) {
                row_frames<1>(a, r, xp + f * n_cols, acc);
                yp[f * n_rows + r] = s * (acc[0] - o);
            }
        }
    }
}

template <class Real, class In>
void csr_spmv(const CsrView<Real>& a, span<const In> x, std::int64_t n_frames, span<double> y) {
    csr_spmv_affine<Real, In>(a, x, n_frames, span<const double>(), span<const double>(), y);
}

template <class Real>
void csr_transpose(const CsrView<Real>& a, std::vector<std::int64_t>& indptr_t, std::vector<std::int32_t>& indices_t,
                   std::vector<Real>& data_t) {
    const auto nnz = a.indices.size();
    indptr_t.assign(static_cast<std::size_t>(a.n_cols + 1), 0);
    for (std::size_t k = 0; k < nnz; ++k) {
        const auto c = a.indices[k];
        if (c < 0 || c >= a.n_cols)
            throw FormatError("csr_transpose: column index " + std::to_string(c) + " at entry " + std::to_string(k) +
                              " outside [0, " + std::to_string(a.n_cols) + ")");
        ++indptr_t[static_cast<std::size_t>(c) + 1];
    }
    for (std::int64_t c = 0; c < a.n_cols; ++c) indptr_t[c + 1] += indptr_t[c];
    indices_t.resize(nnz);
    data_t.resize(nnz);
    std::vector<std::int64_t> cursor(indptr_t.begin(), indptr_t.end() - 1);
    for (std::int64_t r = 0; r < a.n_rows; ++r) {
        for (std::int64_t k = a.indptr[static_cast<std::size_t>(r)]; k < a.indptr[static_cast<std::size_t>(r) + 1]; ++k) {
            const auto pos = static_cast<std::size_t>(cursor[static_cast<std::size_t>(a.indices[k])]++);
            indices_t[pos] = static_cast<std::int32_t>(r);
            data_t[pos] = a.data[static_cast<std::size_t>(k)];
        }
    }
}

template <class Real, class In>
void csr_scatter_spmv_affine(const CsrView<Real>& at, span<const In> x, std::int64_t n_frames,
                             span<const double> row_scale, span<const double> row_offset, std::int64_t n_chunks,
                             span<double> y) {
    if (n_chunks < 1) throw ParamError("csr_scatter_spmv: n_chunks = " + std::to_string(n_chunks) + " < 1");
    const std::int64_t n_pix = at.n_rows;  // columns of A
    const std::int64_t n_out = at.n_cols;  // rows of A
    if (n_frames < 0) throw ParamError("csr_scatter_spmv: n_frames = " + std::to_string(n_frames) + " < 0");
    if (x.size() != static_cast<std::size_t>(n_frames * n_pix) || y.size() != static_cast<std::size_t>(n_frames * n_out))
        throw ParamError("csr_scatter_spmv: x has " + std::to_string(x.size()) + " and y " + std::to_string(y.size()) +
                         " values, expected n_frames × " + std::to_string(n_pix) + " and n_frames × " +
                         std::to_string(n_out));
    if ((!row_scale.empty() && row_scale.size() != static_cast<std::size_t>(n_out)) ||
        (!row_offset.empty() && row_offset.size() != static_cast<std::size_t>(n_out)))
        throw ParamError("csr_scatter_spmv: row_scale/row_offset must have n_rows = " + std::to_string(n_out) +
                         " values");
    const std::int64_t* indptr = at.indptr.data();
    const std::int32_t* indices = at.indices.data();
    const Real* data = at.data.data();
    const In* xp = x.data();
    const std::int64_t per_chunk = (n_pix + n_chunks - 1) / n_chunks;
    std::vector<double> partial(static_cast<std::size_t>(n_chunks * n_frames * n_out), 0.0);
    double* part = partial.data();
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
        const std::int64_t p0 = std::min(n_pix, ch * per_chunk);
        const std::int64_t p1 = std::min(n_pix, p0 + per_chunk);
        for (std::int64_t f = 0; f < n_frames; ++f) {
            double* acc = part + (ch * n_frames + f) * n_out;
            const In* xf = xp + f * n_pix;
            for (std::int64_t p = p0; p < p1; ++p) {
                const double v = static_cast<double>(xf[p]);
                for (std::int64_t k = indptr[p]; k < indptr[p + 1]; ++k) acc[indices[k]] += static_cast<double>(data[k]) * v;
            }
        }
    }
    const double* scale = row_scale.empty() ? nullptr : row_scale.data();
    const double* offset = row_offset.empty() ? nullptr : row_offset.data();
    double* yp = y.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t fr = 0; fr < n_frames * n_out; ++fr) {
        const std::int64_t f = fr / n_out;
        const std::int64_t r = fr % n_out;
        double acc = 0.0;
        for (std::int64_t ch = 0; ch < n_chunks; ++ch) acc += part[(ch * n_frames + f) * n_out + r];
        yp[fr] = (scale ? scale[r] : 1.0) * (acc - (offset ? offset[r] : 0.0));
    }
}

template void validate<float>(const CsrView<float>&);
template void validate<double>(const CsrView<double>&);
template void csr_spmv<float, float>(const CsrView<float>&, span<const float>, std::int64_t, span<double>);
template void csr_spmv_affine<float, float>(const CsrView<float>&, span<const float>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<float, double>(const CsrView<float>&, span<const double>, std::int64_t, span<double>);
template void csr_spmv_affine<float, double>(const CsrView<float>&, span<const double>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<float, std::uint16_t>(const CsrView<float>&, span<const std::uint16_t>, std::int64_t, span<double>);
template void csr_spmv_affine<float, std::uint16_t>(const CsrView<float>&, span<const std::uint16_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<float, std::int32_t>(const CsrView<float>&, span<const std::int32_t>, std::int64_t, span<double>);
template void csr_spmv_affine<float, std::int32_t>(const CsrView<float>&, span<const std::int32_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<float, std::uint32_t>(const CsrView<float>&, span<const std::uint32_t>, std::int64_t, span<double>);
template void csr_spmv_affine<float, std::uint32_t>(const CsrView<float>&, span<const std::uint32_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<double, float>(const CsrView<double>&, span<const float>, std::int64_t, span<double>);
template void csr_spmv_affine<double, float>(const CsrView<double>&, span<const float>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<double, double>(const CsrView<double>&, span<const double>, std::int64_t, span<double>);
template void csr_spmv_affine<double, double>(const CsrView<double>&, span<const double>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<double, std::uint16_t>(const CsrView<double>&, span<const std::uint16_t>, std::int64_t, span<double>);
template void csr_spmv_affine<double, std::uint16_t>(const CsrView<double>&, span<const std::uint16_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<double, std::int32_t>(const CsrView<double>&, span<const std::int32_t>, std::int64_t, span<double>);
template void csr_spmv_affine<double, std::int32_t>(const CsrView<double>&, span<const std::int32_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);
template void csr_spmv<double, std::uint32_t>(const CsrView<double>&, span<const std::uint32_t>, std::int64_t, span<double>);
template void csr_spmv_affine<double, std::uint32_t>(const CsrView<double>&, span<const std::uint32_t>, std::int64_t,
                                              span<const double>, span<const double>, span<double>);

template void csr_transpose<float>(const CsrView<float>&, std::vector<std::int64_t>&, std::vector<std::int32_t>&,
                                 std::vector<float>&);
template void csr_scatter_spmv_affine<float, float>(const CsrView<float>&, span<const float>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<float, double>(const CsrView<float>&, span<const double>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<float, std::uint16_t>(const CsrView<float>&, span<const std::uint16_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<float, std::int32_t>(const CsrView<float>&, span<const std::int32_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<float, std::uint32_t>(const CsrView<float>&, span<const std::uint32_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_transpose<double>(const CsrView<double>&, std::vector<std::int64_t>&, std::vector<std::int32_t>&,
                                 std::vector<double>&);
template void csr_scatter_spmv_affine<double, float>(const CsrView<double>&, span<const float>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<double, double>(const CsrView<double>&, span<const double>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<double, std::uint16_t>(const CsrView<double>&, span<const std::uint16_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<double, std::int32_t>(const CsrView<double>&, span<const std::int32_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);
template void csr_scatter_spmv_affine<double, std::uint32_t>(const CsrView<double>&, span<const std::uint32_t>, std::int64_t,
                                                     span<const double>, span<const double>, std::int64_t, span<double>);

}  // namespace midas::sparse
