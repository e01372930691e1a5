// midas/sparse/banded.hpp — a column-band-major copy of a CSR matrix for the CPU product.
//
// In an integration matrix a row (bin) gathers pixels from all over the detector (a ring crosses
// every detector row), so a row-by-row pass re-reads each frame line from memory several times.
// The banded copy cuts every row into segments whose columns lie in one band of `band_cols`
// consecutive columns (a few detector rows) and stores the segments band by band: a pass then
// works through the frame one band at a time, with that band's pixels in the cache. Columns are
// stored as uint16 offsets from the start of their band (6 bytes per entry with float32 weights),
// so the entries of a segment are independent loads. Every segment is padded to a multiple of
// `group` (4) entries with weight 0 at the segment's last column: the inner loop then has no
// remainder, and on x86-64 CPUs with AVX2 one group is one 4-wide multiply-add. Sums: entry
// k0 + 4·m + l of a segment goes to lane l, lanes are combined as (l0 + l1) + (l2 + l3), then each
// row is the sequential sum of its segments in entry order — a fixed order, so results do not
// depend on the thread count, the batch size or the instruction set (they differ from
// csr_spmv_affine in the last bits). The padding adds 0·x: a frame pixel of ±inf turns the bins
// it touches into NaN rather than ±inf.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/span.hpp"
#include "midas/core/uninit_vector.hpp"
#include "midas/sparse/csr.hpp"

namespace midas::sparse {

/// Entries per padded group of a segment (the lanes of the sums).
inline constexpr std::int64_t banded_group = 4;

/// Owning banded copy of a CSR matrix (see the file comment). Segment s (storage order: by band,
/// then by first column, ties in row and entry order) holds entries [seg_ptr[s], seg_ptr[s+1]) of
/// data/offset, a multiple of banded_group; entry k of a segment of band b has column
/// b·band_cols + offset[k]; padding entries have weight 0 and the segment's last column.
/// Row r owns the segment slots row_seg_ptr[r] .. row_seg_ptr[r+1] (row by row, entry order);
/// storage segment s fills slot seg_slot[s], so a row reads its segment sums contiguously.
template <class Real>
struct BandedCsr {
    std::int64_t n_rows = 0;
    std::int64_t n_cols = 0;
    std::int64_t band_cols = 0;
    std::vector<std::int64_t> band_ptr;     ///< n_bands + 1, into the segments
    std::vector<std::int64_t> seg_ptr;      ///< n_seg + 1, into data/offset (multiples of banded_group)
    std::vector<std::int64_t> row_seg_ptr;  ///< n_rows + 1
    std::vector<std::int32_t> seg_slot;     ///< n_seg: row-order slot of each storage segment
    uninit_vector<Real> data;               ///< nnz
    uninit_vector<std::uint16_t> offset;    ///< n_entries (nnz + padding): column − band start
};

/// Non-owning view of a BandedCsr (same fields as spans).
template <class Real>
struct BandedView {
    std::int64_t n_rows = 0;
    std::int64_t n_cols = 0;
    std::int64_t band_cols = 0;
    span<const std::int64_t> band_ptr;
    span<const std::int64_t> seg_ptr;
    span<const std::int64_t> row_seg_ptr;
    span<const std::int32_t> seg_slot;
    span<const Real> data;
    span<const std::uint16_t> offset;
};

/// The banded copy of `a` with bands of `band_cols` columns: a row's entries form one segment per
/// band they fall in. Throws ParamError unless band_cols is a power of two ≤ 65536, CapacityError
/// when the segments would exceed int32, FormatError for an invalid matrix.
template <class Real>
[[nodiscard]] BandedCsr<Real> make_banded(const CsrView<Real>& a, std::int64_t band_cols);

/// y[f, r] = row_scale[r] · (Σ_c A[r, c]·x[f, c] − row_offset[r]) from the banded copy (the
/// conventions of csr_spmv_affine: empty scale/offset = 1/0, NaN scales give NaN rows). x is
/// (n_frames, n_cols) row-major, y (n_frames, n_rows). Bands are handed out dynamically; every
/// sum has a fixed order, so y does not depend on the thread count or the batch size. Scratch:
/// n_seg·min(n_frames, 8) doubles. `simd` allows the AVX2 path where the CPU has it (same
/// results bit for bit; false forces the portable loop). Throws ParamError on size mismatches or
/// an inconsistent copy (segment lengths, slots).
template <class Real, class In>
void banded_spmv_affine(const BandedView<Real>& a, span<const In> x, std::int64_t n_frames,
                        span<const double> row_scale, span<const double> row_offset, span<double> y,
                        bool simd = true);

}  // namespace midas::sparse
