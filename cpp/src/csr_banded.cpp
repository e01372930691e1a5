#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/sparse/banded.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace midas::sparse {
namespace {

constexpr std::int64_t frames_per_chunk = 8;  // frames per pass over the bands (one band's entries stay in cache)

}  // namespace

template <class Real>
BandedCsr<Real> make_banded(const CsrView<Real>& a, std::int64_t band_cols) {
    if (band_cols < 1 || (band_cols & (band_cols - 1)) != 0 || band_cols > 65536)
        throw ParamError("make_banded: band_cols = " + std::to_string(band_cols) +
                         ", expected a power of two ≤ 65536 (offsets are uint16)");
    int shift = 0;
    while ((std::int64_t{1} << shift) < band_cols) ++shift;
    validate(a);
    const std::int64_t n_rows = a.n_rows;
    const std::int64_t* indptr = a.indptr.data();
    const std::int32_t* indices = a.indices.data();
    // entry k opens a segment at the start of its row or on a change of band
    auto opens = [&](std::int64_t k, std::int64_t k_row) {
        return k == k_row || (indices[k] >> shift) != (indices[k - 1] >> shift);
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
    // entries of each creation-order segment (its true length; storage pads it to a group)
    auto seg_end = [&](std::int64_t r, std::int64_t c) {
        return c + 1 < row_seg_ptr[r + 1] ? first[static_cast<std::size_t>(c) + 1] : indptr[r + 1];
    };
    // padded segment lengths, placed in storage order, then their prefix sum
    out.seg_ptr.assign(static_cast<std::size_t>(n_seg + 1), 0);
    std::int64_t* seg_ptr = out.seg_ptr.data();
    const std::int32_t* row_seg = slot_to_seg.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r)
        for (std::int64_t c = row_seg_ptr[r]; c < row_seg_ptr[r + 1]; ++c) {
            const std::int64_t n = seg_end(r, c) - first[static_cast<std::size_t>(c)];
            seg_ptr[row_seg[c] + 1] = (n + banded_group - 1) / banded_group * banded_group;
        }
    for (std::int64_t s = 0; s < n_seg; ++s) seg_ptr[s + 1] += seg_ptr[s];
    // copy the entries: weights and offsets from the band start, then the padding (weight 0 at
    // the segment's last column)
    const auto n_entries = static_cast<std::size_t>(seg_ptr[n_seg]);
    out.data.resize(n_entries);
    out.offset.resize(n_entries);
    Real* data = out.data.data();
    std::uint16_t* offset = out.offset.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n_rows; ++r)
        for (std::int64_t c = row_seg_ptr[r]; c < row_seg_ptr[r + 1]; ++c) {
            const std::int64_t k0 = first[static_cast<std::size_t>(c)];
            const std::int64_t k1 = seg_end(r, c);
            const std::int64_t s = row_seg[c];
            const std::int64_t band_start = (static_cast<std::int64_t>(indices[k0]) >> shift) << shift;
            std::int64_t dst = seg_ptr[s];
            for (std::int64_t k = k0; k < k1; ++k, ++dst) {
                data[dst] = a.data[static_cast<std::size_t>(k)];
                offset[dst] = static_cast<std::uint16_t>(indices[k] - band_start);
            }
            const std::uint16_t last = offset[dst - 1];
            for (; dst < seg_ptr[s + 1]; ++dst) {
                data[dst] = Real(0);
                offset[dst] = last;
            }
        }
    return out;
}

namespace {

// The sums of the segments [s0, s1) of one band of one frame (the band's first pixel at xb):
// entry k0 + 4·m + l of a segment goes to lane l, lanes combine as (l0 + l1) + (l2 + l3), and the
// sum goes to out[seg_slot[s]·stride]. Portable form.
template <class Real, class In>
void band_sums_portable(const Real* data, const std::uint16_t* off, const std::int64_t* seg_ptr,
                        const std::int32_t* seg_slot, std::int64_t s0, std::int64_t s1, const In* xb, double* out,
                        std::int64_t stride) {
    for (std::int64_t s = s0; s < s1; ++s) {
        double acc[banded_group] = {};
        for (std::int64_t k = seg_ptr[s]; k < seg_ptr[s + 1]; k += banded_group)
            for (int l = 0; l < banded_group; ++l) {
                const double prod = static_cast<double>(data[k + l]) * static_cast<double>(xb[off[k + l]]);
                acc[l] += prod;
            }
        out[seg_slot[s] * stride] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MIDAS_BANDED_AVX2 1

template <class Real>
__attribute__((target("avx2"))) inline __m256d load_weights4(const Real* p) {
    if constexpr (std::is_same_v<Real, float>)
        return _mm256_cvtps_pd(_mm_loadu_ps(p));
    else
        return _mm256_loadu_pd(p);
}

template <class In>
__attribute__((target("avx2"))) inline __m256d load_pixels4(const In* p, const std::uint16_t* o) {
    if constexpr (std::is_same_v<In, float>)
        return _mm256_cvtps_pd(_mm_setr_ps(p[o[0]], p[o[1]], p[o[2]], p[o[3]]));
    else
        return _mm256_setr_pd(static_cast<double>(p[o[0]]), static_cast<double>(p[o[1]]),
                              static_cast<double>(p[o[2]]), static_cast<double>(p[o[3]]));
}

// band_sums_portable with one group per 4-wide multiply and add (not fused: same roundings).
template <class Real, class In>
__attribute__((target("avx2"))) void band_sums_avx2(const Real* data, const std::uint16_t* off,
                                                    const std::int64_t* seg_ptr, const std::int32_t* seg_slot,
                                                    std::int64_t s0, std::int64_t s1, const In* xb, double* out,
                                                    std::int64_t stride) {
    for (std::int64_t s = s0; s < s1; ++s) {
        __m256d acc = _mm256_setzero_pd();
        for (std::int64_t k = seg_ptr[s]; k < seg_ptr[s + 1]; k += banded_group)
            acc = _mm256_add_pd(acc, _mm256_mul_pd(load_weights4(data + k), load_pixels4(xb, off + k)));
        alignas(32) double lane[banded_group];
        _mm256_store_pd(lane, acc);
        out[seg_slot[s] * stride] = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    }
}
#endif

template <class Real, class In>
void band_sums(bool avx2, const Real* data, const std::uint16_t* off, const std::int64_t* seg_ptr,
               const std::int32_t* seg_slot, std::int64_t s0, std::int64_t s1, const In* xb, double* out,
               std::int64_t stride) {
#ifdef MIDAS_BANDED_AVX2
    if (avx2) return band_sums_avx2(data, off, seg_ptr, seg_slot, s0, s1, xb, out, stride);
#endif
    (void)avx2;
    band_sums_portable(data, off, seg_ptr, seg_slot, s0, s1, xb, out, stride);
}

bool cpu_has_avx2() {
#ifdef MIDAS_BANDED_AVX2
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

}  // namespace

template <class Real, class In>
void banded_spmv_affine(const BandedView<Real>& a, span<const In> x, std::int64_t n_frames,
                        span<const double> row_scale, span<const double> row_offset, span<double> y, bool simd) {
    const std::int64_t n_rows = a.n_rows;
    const std::int64_t n_cols = a.n_cols;
    const std::int64_t band_cols = a.band_cols;
    const auto n_seg = static_cast<std::int64_t>(a.seg_slot.size());
    if (n_frames < 0) throw ParamError("banded_spmv: n_frames = " + std::to_string(n_frames) + " < 0");
    if (x.size() != static_cast<std::size_t>(n_frames * n_cols) || y.size() != static_cast<std::size_t>(n_frames * n_rows))
        throw ParamError("banded_spmv: x has " + std::to_string(x.size()) + " and y " + std::to_string(y.size()) +
                         " values, expected n_frames × " + std::to_string(n_cols) + " and n_frames × " +
                         std::to_string(n_rows));
    if ((!row_scale.empty() && row_scale.size() != static_cast<std::size_t>(n_rows)) ||
        (!row_offset.empty() && row_offset.size() != static_cast<std::size_t>(n_rows)))
        throw ParamError("banded_spmv: row_scale/row_offset must have n_rows = " + std::to_string(n_rows) + " values");
    if (band_cols < 1 || band_cols > 65536 || (band_cols & (band_cols - 1)) != 0)
        throw ParamError("banded_spmv: band_cols = " + std::to_string(band_cols) + ", expected a power of two ≤ 65536");
    const auto n_bands = static_cast<std::int64_t>(a.band_ptr.size()) - 1;
    if (a.seg_ptr.size() != static_cast<std::size_t>(n_seg + 1) || a.row_seg_ptr.size() != static_cast<std::size_t>(n_rows + 1) ||
        n_bands < 1 || n_bands < (n_cols + band_cols - 1) / band_cols || a.data.size() != a.offset.size() ||
        a.seg_ptr[0] != 0 || a.seg_ptr[static_cast<std::size_t>(n_seg)] != static_cast<std::int64_t>(a.data.size()) ||
        a.band_ptr[0] != 0 || a.band_ptr[static_cast<std::size_t>(n_bands)] != n_seg)
        throw ParamError("banded_spmv: inconsistent banded matrix arrays");
    if (a.row_seg_ptr[static_cast<std::size_t>(n_rows)] != n_seg)
        throw ParamError("banded_spmv: row_seg_ptr[n_rows] differs from the number of segments");
    const std::int64_t* band_ptr = a.band_ptr.data();
    const std::int64_t* seg_ptr = a.seg_ptr.data();
    const std::int32_t* seg_slot = a.seg_slot.data();
    const std::uint16_t* off = a.offset.data();
    // the product writes through seg_slot and reads whole groups: every slot in range, every
    // segment a whole number of groups
    std::int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (std::int64_t s = 0; s < n_seg; ++s)
        bad += (seg_slot[s] < 0 || seg_slot[s] >= n_seg || seg_ptr[s + 1] < seg_ptr[s] ||
                (seg_ptr[s + 1] - seg_ptr[s]) % banded_group != 0) ? 1 : 0;
    if (bad) throw ParamError("banded_spmv: " + std::to_string(bad) + " segments with a slot outside [0, n_seg) or "
                              "a length that is not a multiple of " + std::to_string(banded_group));
    // offsets are below 65536: only the bands within 65536 columns of the end can reach past it
    for (std::int64_t b = std::max<std::int64_t>(0, (n_cols - 65536) / band_cols); b < n_bands; ++b) {
        const std::int64_t room = n_cols - b * band_cols;
        for (std::int64_t k = seg_ptr[band_ptr[b]]; k < seg_ptr[band_ptr[b + 1]]; ++k)
            if (static_cast<std::int64_t>(off[k]) >= room)
                throw ParamError("banded_spmv: entry " + std::to_string(k) + " of band " + std::to_string(b) +
                                 " points past the last column");
    }
    const Real* data = a.data.data();
    const std::int64_t* row_seg_ptr = a.row_seg_ptr.data();
    const double* scale = row_scale.empty() ? nullptr : row_scale.data();
    const double* offset = row_offset.empty() ? nullptr : row_offset.data();
    const bool avx2 = simd && cpu_has_avx2();
    const std::int64_t chunk = std::min(frames_per_chunk, std::max<std::int64_t>(1, n_frames));
    uninit_vector<double> partial(static_cast<std::size_t>(n_seg * chunk));  // every entry is written below
    double* part = partial.data();
    for (std::int64_t f0 = 0; f0 < n_frames; f0 += chunk) {
        const std::int64_t nf = std::min(chunk, n_frames - f0);
        const In* xf = x.data() + f0 * n_cols;
#pragma omp parallel for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < n_bands; ++b) {
            // frame after frame over the band: its entries are read from memory once per chunk,
            // and the chunk's sums of one segment share a cache line (slot-major scratch)
            for (std::int64_t f = 0; f < nf; ++f)
                band_sums(avx2, data, off, seg_ptr, seg_slot, band_ptr[b], band_ptr[b + 1],
                          xf + f * n_cols + b * band_cols, part + f, chunk);
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
                                               span<const double>, span<const double>, span<double>, bool);
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
