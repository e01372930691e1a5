#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/sparse/banded.hpp"
#include "midas/sparse/lane_sums.hpp"

namespace midas::sparse {
namespace {

constexpr std::int64_t frames_per_chunk = 8;  // frames sharing one scratch buffer of segment sums
constexpr int frames_per_read = 4;            // frames that share one read of a segment

}  // namespace

template <class Real>
BandedCsr<Real> make_banded(const CsrView<Real>& a, std::int64_t band_cols) {
    if (band_cols < 1 || (band_cols & (band_cols - 1)) != 0)
        throw ParamError("make_banded: band_cols = " + std::to_string(band_cols) + ", expected a power of two");
    int shift = 0;
    while ((std::int64_t{1} << shift) < band_cols) ++shift;
    validate(a);
    const std::int64_t n_rows = a.n_rows;
    const std::int64_t* indptr = a.indptr.data();
    const std::int32_t* indices = a.indices.data();
    // entry k opens a segment at the start of its row, on a change of band, or where the column
    // step from the previous entry does not fit int16
    auto opens = [&](std::int64_t k, std::int64_t k_row) {
        if (k == k_row) return true;
        const std::int64_t c = indices[k];
        const std::int64_t p = indices[k - 1];
        return (c >> shift) != (p >> shift) || c - p < std::numeric_limits<std::int16_t>::min() ||
               c - p > std::numeric_limits<std::int16_t>::max();
    };
    BandedCsr<Real> out;
    out.n_rows = n_rows;
    out.n_cols = a.n_cols;
    out.band_cols = band_cols;
    out.row_seg_ptr.assign(static_cast<std::size_t>(n_rows + 1), 0);
    std::int64_t* row_seg_ptr = out.row_seg_ptr.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r) {
        std::int64_t n = 0;
        for (std::int64_t k = indptr[r]; k < indptr[r + 1]; ++k) n += opens(k, indptr[r]) ? 1 : 0;
        row_seg_ptr[r + 1] = n;
    }
    for (std::int64_t r = 0; r < n_rows; ++r) row_seg_ptr[r + 1] += row_seg_ptr[r];
    const std::int64_t n_seg = row_seg_ptr[n_rows];
    if (n_seg > std::numeric_limits<std::int32_t>::max())
        throw CapacityError("make_banded: " + std::to_string(n_seg) + " segments exceed int32");

    // segments in creation order (row by row, entry order): first entry and band
    uninit_vector<std::int64_t> first(static_cast<std::size_t>(n_seg));  // filled in parallel
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r) {
        std::int64_t c = row_seg_ptr[r];
        for (std::int64_t k = indptr[r]; k < indptr[r + 1]; ++k)
            if (opens(k, indptr[r])) first[static_cast<std::size_t>(c++)] = k;
    }
    // storage order: stable counting sort of the segments by band
    const std::int64_t n_bands = std::max<std::int64_t>(1, (a.n_cols + band_cols - 1) / band_cols);
    out.band_ptr.assign(static_cast<std::size_t>(n_bands + 1), 0);
    for (const auto k : first) ++out.band_ptr[static_cast<std::size_t>(indices[k] >> shift) + 1];
    for (std::int64_t b = 0; b < n_bands; ++b)
        out.band_ptr[static_cast<std::size_t>(b) + 1] += out.band_ptr[static_cast<std::size_t>(b)];
    std::vector<std::int32_t> slot_to_seg(static_cast<std::size_t>(n_seg));  // row-order slot -> storage index
    {
        std::vector<std::int64_t> cursor(out.band_ptr.begin(), out.band_ptr.end() - 1);
        for (std::int64_t c = 0; c < n_seg; ++c)
            slot_to_seg[static_cast<std::size_t>(c)] = static_cast<std::int32_t>(
                cursor[static_cast<std::size_t>(indices[first[static_cast<std::size_t>(c)]] >> shift)]++);
    }
    // inside a band, segments are stored by first column (ties: creation order), so a pass sweeps
    // through the band's pixels instead of jumping between rows of the band
    {
        uninit_vector<std::int32_t> inv(static_cast<std::size_t>(n_seg));
        for (std::int64_t c = 0; c < n_seg; ++c)
            inv[static_cast<std::size_t>(slot_to_seg[static_cast<std::size_t>(c)])] = static_cast<std::int32_t>(c);
        const std::int64_t* bp = out.band_ptr.data();
#pragma omp parallel for schedule(dynamic, 4)
        for (std::int64_t b = 0; b < n_bands; ++b) {
            auto* lo = inv.data() + bp[b];
            auto* hi = inv.data() + bp[b + 1];
            std::sort(lo, hi, [&](std::int32_t u, std::int32_t v) {
                const auto cu = indices[first[static_cast<std::size_t>(u)]];
                const auto cv = indices[first[static_cast<std::size_t>(v)]];
                return cu != cv ? cu < cv : u < v;
            });
        }
#pragma omp parallel for schedule(static)
        for (std::int64_t s = 0; s < n_seg; ++s)
            slot_to_seg[static_cast<std::size_t>(inv[static_cast<std::size_t>(s)])] = static_cast<std::int32_t>(s);
        out.seg_slot.assign(inv.begin(), inv.end());
    }
    // segment lengths, placed in storage order, then their prefix sum
    out.seg_ptr.assign(static_cast<std::size_t>(n_seg + 1), 0);
    std::int64_t* seg_ptr = out.seg_ptr.data();
    const std::int32_t* row_seg = slot_to_seg.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r)
        for (std::int64_t c = row_seg_ptr[r]; c < row_seg_ptr[r + 1]; ++c) {
            const std::int64_t end = c + 1 < row_seg_ptr[r + 1] ? first[static_cast<std::size_t>(c) + 1] : indptr[r + 1];
            seg_ptr[row_seg[c] + 1] = end - first[static_cast<std::size_t>(c)];
        }
    for (std::int64_t s = 0; s < n_seg; ++s) seg_ptr[s + 1] += seg_ptr[s];
    // copy the entries
    const auto nnz = a.indices.size();
    out.data.resize(nnz);
    out.step.resize(nnz);
    out.seg_base.resize(static_cast<std::size_t>(n_seg));
    Real* data = out.data.data();
    std::int16_t* step = out.step.data();
    std::int32_t* seg_base = out.seg_base.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r)
        for (std::int64_t c = row_seg_ptr[r]; c < row_seg_ptr[r + 1]; ++c) {
            const std::int64_t k0 = first[static_cast<std::size_t>(c)];
            const std::int64_t s = row_seg[c];
            seg_base[s] = indices[k0];
            std::int64_t dst = seg_ptr[s];
            for (std::int64_t k = k0; k < k0 + (seg_ptr[s + 1] - seg_ptr[s]); ++k, ++dst) {
                data[dst] = a.data[static_cast<std::size_t>(k)];
                step[dst] = static_cast<std::int16_t>(k == k0 ? 0 : indices[k] - indices[k - 1]);
            }
        }
    return out;
}

template <class Real, class In>
void banded_spmv_affine(const BandedView<Real>& a, span<const In> x, std::int64_t n_frames,
                        span<const double> row_scale, span<const double> row_offset, span<double> y) {
    const std::int64_t n_rows = a.n_rows;
    const std::int64_t n_cols = a.n_cols;
    const auto n_seg = static_cast<std::int64_t>(a.seg_base.size());
    if (n_frames < 0) throw ParamError("banded_spmv: n_frames = " + std::to_string(n_frames) + " < 0");
    if (x.size() != static_cast<std::size_t>(n_frames * n_cols) || y.size() != static_cast<std::size_t>(n_frames * n_rows))
        throw ParamError("banded_spmv: x has " + std::to_string(x.size()) + " and y " + std::to_string(y.size()) +
                         " values, expected n_frames × " + std::to_string(n_cols) + " and n_frames × " +
                         std::to_string(n_rows));
    if ((!row_scale.empty() && row_scale.size() != static_cast<std::size_t>(n_rows)) ||
        (!row_offset.empty() && row_offset.size() != static_cast<std::size_t>(n_rows)))
        throw ParamError("banded_spmv: row_scale/row_offset must have n_rows = " + std::to_string(n_rows) + " values");
    if (a.seg_ptr.size() != static_cast<std::size_t>(n_seg + 1) || a.seg_slot.size() != static_cast<std::size_t>(n_seg) ||
        a.row_seg_ptr.size() != static_cast<std::size_t>(n_rows + 1) || a.band_ptr.empty() ||
        a.data.size() != a.step.size() || a.seg_ptr[static_cast<std::size_t>(n_seg)] != static_cast<std::int64_t>(a.data.size()))
        throw ParamError("banded_spmv: inconsistent banded matrix arrays");
    if (a.row_seg_ptr[static_cast<std::size_t>(n_rows)] != n_seg)
        throw ParamError("banded_spmv: row_seg_ptr[n_rows] differs from the number of segments");
    std::int64_t bad_slots = 0;  // the product writes through seg_slot: every slot must be in range
#pragma omp parallel for schedule(static) reduction(+ : bad_slots)
    for (std::int64_t s = 0; s < n_seg; ++s) bad_slots += (a.seg_slot[static_cast<std::size_t>(s)] < 0 ||
                                                           a.seg_slot[static_cast<std::size_t>(s)] >= n_seg) ? 1 : 0;
    if (bad_slots) throw ParamError("banded_spmv: " + std::to_string(bad_slots) + " segment slots outside [0, n_seg)");
    const auto n_bands = static_cast<std::int64_t>(a.band_ptr.size()) - 1;
    const std::int64_t* band_ptr = a.band_ptr.data();
    const std::int64_t* seg_ptr = a.seg_ptr.data();
    const std::int32_t* seg_base = a.seg_base.data();
    const std::int64_t* row_seg_ptr = a.row_seg_ptr.data();
    const std::int32_t* seg_slot = a.seg_slot.data();
    const Real* data = a.data.data();
    const std::int16_t* step = a.step.data();
    const double* scale = row_scale.empty() ? nullptr : row_scale.data();
    const double* offset = row_offset.empty() ? nullptr : row_offset.data();
    const std::int64_t chunk = std::min(frames_per_chunk, std::max<std::int64_t>(1, n_frames));
    uninit_vector<double> partial(static_cast<std::size_t>(n_seg * chunk));  // every entry is written below
    double* part = partial.data();
    for (std::int64_t f0 = 0; f0 < n_frames; f0 += chunk) {
        const std::int64_t nf = std::min(chunk, n_frames - f0);
        const In* xf = x.data() + f0 * n_cols;
#pragma omp parallel for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < n_bands; ++b) {
            for (std::int64_t s = band_ptr[b]; s < band_ptr[b + 1]; ++s) {
                double acc[frames_per_read];
                double* out = part + static_cast<std::int64_t>(seg_slot[s]) * chunk;
                std::int64_t f = 0;
                for (; f + frames_per_read <= nf; f += frames_per_read) {
                    detail::lane_sums<frames_per_read>(data, seg_ptr[s], seg_ptr[s + 1],
                                                       detail::StepColumns<In>{step, xf + f * n_cols + seg_base[s]},
                                                       n_cols, acc);
                    for (int i = 0; i < frames_per_read; ++i) out[f + i] = acc[i];
                }
                for (; f < nf; ++f) {
                    detail::lane_sums<1>(data, seg_ptr[s], seg_ptr[s + 1],
                                         detail::StepColumns<In>{step, xf + f * n_cols + seg_base[s]}, n_cols, acc);
                    out[f] = acc[0];
                }
            }
        }
        double* yf = y.data() + f0 * n_rows;
#pragma omp parallel for schedule(static)
        for (std::int64_t r = 0; r < n_rows; ++r) {
            const double sc = scale ? scale[r] : 1.0;
            const double o = offset ? offset[r] : 0.0;
            for (std::int64_t f = 0; f < nf; ++f) {
                double acc = 0.0;
                for (std::int64_t c = row_seg_ptr[r]; c < row_seg_ptr[r + 1]; ++c) acc += part[c * chunk + f];
                yf[f * n_rows + r] = sc * (acc - o);
            }
        }
    }
}

template BandedCsr<float> make_banded<float>(const CsrView<float>&, std::int64_t);
template BandedCsr<double> make_banded<double>(const CsrView<double>&, std::int64_t);
#define MIDAS_BANDED_SPMV(REAL, IN)                                                                             \
    template void banded_spmv_affine<REAL, IN>(const BandedView<REAL>&, span<const IN>, std::int64_t,           \
                                               span<const double>, span<const double>, span<double>);
MIDAS_BANDED_SPMV(float, float)
MIDAS_BANDED_SPMV(float, double)
MIDAS_BANDED_SPMV(float, std::uint16_t)
MIDAS_BANDED_SPMV(float, std::int32_t)
MIDAS_BANDED_SPMV(float, std::uint32_t)
MIDAS_BANDED_SPMV(double, float)
MIDAS_BANDED_SPMV(double, double)
MIDAS_BANDED_SPMV(double, std::uint16_t)
MIDAS_BANDED_SPMV(double, std::int32_t)
MIDAS_BANDED_SPMV(double, std::uint32_t)
#undef MIDAS_BANDED_SPMV

}  // namespace midas::sparse
