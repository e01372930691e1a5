"""Compressed-sparse-row matrices applied to detector frames.

Integration writes one frame → cake as ``y = A · x``: ``A`` is ``(n_bins, n_pixels)`` and holds
every correction, ``x`` is a flattened frame. :func:`csr_apply` runs the product on the CPU
(C++/OpenMP, ``cpp/include/midas/sparse/csr.hpp``) or on a GPU (``cuda/csr_spmv.cu``) with the
matrix resident across frames (:class:`DeviceCsr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._native import core, cuda
from midas.errors import MidasError, ParamError

__all__ = [
    "BAND_COLS",
    "BandedCsr",
    "CsrMatrix",
    "DeviceCsr",
    "banded_apply",
    "csr_apply",
    "csr_apply_transposed",
    "csr_banded",
    "csr_transpose",
    "gpu_available",
]


@dataclass(frozen=True, slots=True)
class CsrMatrix:
    """A CSR matrix ``(n_rows, n_cols)``.

    Attributes
    ----------
    indptr : (n_rows + 1,) int64
        Row start offsets; ``indptr[0] == 0`` and ``indptr[-1] == nnz``.
    indices : (nnz,) int32
        Column index of each entry, in ``[0, n_cols)``.
    data : (nnz,) float32 or float64
        Entry values.
    n_cols : int
        Number of columns (pixels for an integration matrix).
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    data: NDArray[np.floating]
    n_cols: int

    @property
    def n_rows(self) -> int:
        """Number of rows (bins for an integration matrix)."""
        return int(self.indptr.shape[0] - 1)

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indices.shape[0])

    @classmethod
    def from_scipy(cls, m: object, dtype: type = np.float32) -> CsrMatrix:
        """Build from a ``scipy.sparse`` matrix (converted to CSR)."""
        import scipy.sparse as sp

        c = sp.csr_matrix(m)
        return cls(
            indptr=np.ascontiguousarray(c.indptr, dtype=np.int64),
            indices=np.ascontiguousarray(c.indices, dtype=np.int32),
            data=np.ascontiguousarray(c.data, dtype=dtype),
            n_cols=int(c.shape[1]),
        )


@dataclass(frozen=True, slots=True)
class BandedCsr:
    """Column-band-major copy of a :class:`CsrMatrix` for the CPU product (``midas/sparse/banded.hpp``).

    Every row is cut into segments whose columns lie in one band of ``band_cols`` consecutive
    columns (a few detector rows); the segments are stored band by band, so one pass works through
    a frame one band at a time with that band in the cache. Columns are uint16 offsets from the
    start of their band (6 bytes per entry with float32 weights), and every segment is padded to
    a multiple of :data:`BANDED_GROUP` entries with weight 0 at its last column, so the product's
    inner loop works in whole 4-entry groups (one AVX2 multiply-add each where the CPU has AVX2).
    Built by :func:`csr_banded`, applied by :func:`banded_apply`.

    Attributes
    ----------
    band_ptr : (n_bands + 1,) int64
        Segment range of each band.
    seg_ptr : (n_seg + 1,) int64
        Entry range of each segment, a multiple of :data:`BANDED_GROUP` (storage order: band, then
        first column, ties in row and entry order).
    row_seg_ptr : (n_rows + 1,) int64
        Segment slots of each row (row order: row by row, entry order).
    seg_slot : (n_seg,) int32
        Row-order slot of each storage segment: the product writes segment s's sum to slot
        ``seg_slot[s]`` and each row adds its slots ``row_seg_ptr[r]:row_seg_ptr[r + 1]`` in order.
    data : (n_entries,) float32 or float64
        Entry values in storage order; n_entries = nnz + padding, the padding entries are 0.
    offset : (n_entries,) uint16
        Column of each entry minus the first column of its band (``band · band_cols``).
    n_cols : int
        Columns of the matrix.
    band_cols : int
        Columns per band (a power of two).
    """

    band_ptr: NDArray[np.int64]
    seg_ptr: NDArray[np.int64]
    row_seg_ptr: NDArray[np.int64]
    seg_slot: NDArray[np.int32]
    data: NDArray[np.floating]
    offset: NDArray[np.uint16]
    n_cols: int
    band_cols: int

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.row_seg_ptr.shape[0] - 1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(sum(getattr(self, f).nbytes for f in ("band_ptr", "seg_ptr", "row_seg_ptr", "seg_slot", "data",
                                                          "offset")))


#: Default band: 2**14 columns (8 rows of a 2048-wide detector, 64 KB of float32 pixels).
BAND_COLS = 2**14

#: Entries per padded group of a banded segment (``banded_group`` in ``midas/sparse/banded.hpp``).
BANDED_GROUP = 4


def csr_banded(matrix: CsrMatrix, band_cols: int = BAND_COLS) -> BandedCsr:
    """The column-band-major copy of a CSR matrix (see :class:`BandedCsr`).

    A row's entries form one segment per band they fall in (a new one wherever consecutive entries
    change band), so any matrix is accepted; an integration matrix (entries in pixel order) gives
    about 1.5–4 segments per row, and the padding adds about 10 % to the entries.

    Parameters
    ----------
    matrix : CsrMatrix
    band_cols : int
        Columns per band: a power of two ≤ 65536.

    Raises
    ------
    ParamError
        ``band_cols`` not a power of two ≤ 65536.
    FormatError
        A structurally invalid matrix.
    """
    d = core().csr_banded(matrix.indptr, matrix.indices, matrix.data, int(matrix.n_cols), int(band_cols))
    return BandedCsr(n_cols=int(matrix.n_cols), band_cols=int(band_cols), **d)


def _frames_2d(n_cols: int, frames: NDArray[np.generic]) -> tuple[NDArray[np.generic], bool]:
    x = np.asarray(frames)
    if x.ndim >= 2 and int(np.prod(x.shape[1:])) == n_cols:
        return x.reshape(x.shape[0], n_cols), False
    if x.ndim in (1, 2) and x.size == n_cols:
        return x.reshape(1, n_cols), True
    raise ParamError(
        f"frames of shape {x.shape} do not match the matrix: expected ({n_cols},), "
        f"(n_frames, {n_cols}) or (n_frames, NrPixelsZ, NrPixelsY) with "
        f"NrPixelsZ·NrPixelsY = {n_cols}"
    )


def _product_inputs(n_cols: int, frames: NDArray[np.generic], row_scale: NDArray[np.float64] | None,
                    row_offset: NDArray[np.float64] | None) -> tuple[NDArray[np.generic], bool, Any, Any]:
    """(frames as contiguous (n_frames, n_cols) in a native dtype, single-frame flag, scale, offset)."""
    x, single = _frames_2d(n_cols, frames)
    if x.dtype.type not in _NATIVE_FRAME_DTYPES:
        x = x.astype(np.float32)
    scale = None if row_scale is None else np.ascontiguousarray(row_scale, dtype=np.float64)
    offset = None if row_offset is None else np.ascontiguousarray(row_offset, dtype=np.float64)
    return np.ascontiguousarray(x), single, scale, offset


_NATIVE_FRAME_DTYPES = (np.float32, np.float64, np.uint16, np.int32, np.uint32)


def csr_apply(matrix: CsrMatrix, frames: NDArray[np.generic], *, validate: bool = True,
              row_scale: NDArray[np.float64] | None = None,
              row_offset: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Multiply a CSR matrix with one or many frames on the CPU.

    Computes ``y[f, r] = row_scale[r] · (Σ_k A[r, k] · x[f, k] − row_offset[r])`` in one pass over
    the matrix for a whole batch of frames (several frames share each read of a row).

    Parameters
    ----------
    matrix : CsrMatrix
        ``(n_rows, n_cols)`` with float32 or float64 entries.
    frames : (n_cols,), (n_frames, n_cols) or (n_frames, NrPixelsZ, NrPixelsY) array
        float32, float64, uint16, int32 and uint32 frames are read as they are; other real
        dtypes are converted to float32 (exact for integers up to 2**24).
    validate : bool
        Check the CSR invariants first (cheap next to the product).
    row_scale, row_offset : (n_rows,) float64, optional
        Per-row affine post-operation (default scale 1, offset 0); a NaN scale yields NaN rows.

    Returns
    -------
    (n_rows,) or (n_frames, n_rows) float64
        Row sums accumulated in double precision; identical for every thread count and batch size.

    Raises
    ------
    ParamError
        Frames whose size does not match ``n_cols``, or scale/offset of the wrong length.
    FormatError
        A structurally invalid matrix (with ``validate``).
    """
    x, single, scale, offset = _product_inputs(matrix.n_cols, frames, row_scale, row_offset)
    y = core().csr_spmv(matrix.indptr, matrix.indices, matrix.data, int(matrix.n_cols), x, bool(validate),
                        scale, offset)
    return y[0] if single else y


def csr_transpose(matrix: CsrMatrix) -> CsrMatrix:
    """The transpose ``Aᵀ`` as a CSR matrix (entries of each row keep ``A``'s row order).

    Raises
    ------
    FormatError
        A structurally invalid matrix.
    """
    ip, ix, dt = core().csr_transpose(matrix.indptr, matrix.indices, matrix.data, int(matrix.n_cols))
    return CsrMatrix(indptr=ip, indices=ix, data=dt, n_cols=matrix.n_rows)


def csr_apply_transposed(matrix_t: CsrMatrix, frames: NDArray[np.generic], *,
                         row_scale: NDArray[np.float64] | None = None,
                         row_offset: NDArray[np.float64] | None = None, n_chunks: int = 64) -> NDArray[np.float64]:
    """``A · x`` (as :func:`csr_apply`) computed from the TRANSPOSE ``matrix_t = Aᵀ`` by scattering.

    Reads the frames sequentially and keeps the partial sums of ``y`` in cache: much faster than
    :func:`csr_apply` when ``A`` has few rows (a 1-D lineout of a large detector). The pixels are
    split into ``n_chunks`` fixed contiguous chunks summed in order, so results are identical for
    every thread count and batch size (they differ from :func:`csr_apply` in the last bits: another
    summation order). Uses n_chunks·n_frames·n_rows doubles of scratch memory.

    Parameters
    ----------
    matrix_t : CsrMatrix
        ``(n_cols, n_rows)``: the transpose of the matrix to apply (:func:`csr_transpose`).
    frames, row_scale, row_offset
        As :func:`csr_apply`.
    n_chunks : int
        Pixel chunks (the parallelism; fixed so that results do not depend on the threads).

    Returns
    -------
    (n_rows,) or (n_frames, n_rows) float64

    Raises
    ------
    ParamError
        Frames whose size does not match.
    """
    x, single, scale, offset = _product_inputs(matrix_t.n_rows, frames, row_scale, row_offset)
    y = core().csr_scatter_spmv(matrix_t.indptr, matrix_t.indices, matrix_t.data, int(matrix_t.n_cols), x,
                                scale, offset, int(n_chunks))
    return y[0] if single else y


def banded_apply(banded: BandedCsr, frames: NDArray[np.generic], *, row_scale: NDArray[np.float64] | None = None,
                 row_offset: NDArray[np.float64] | None = None, simd: bool = True) -> NDArray[np.float64]:
    """``A · x`` (as :func:`csr_apply`) from the banded copy of ``A`` (:func:`csr_banded`).

    Each segment is summed with the 4-lane scheme of :func:`csr_apply` and each row as the
    sequential sum of its segments in entry order: results are identical for every thread count,
    batch size and instruction set, and differ from :func:`csr_apply` in the last bits only
    (another summation order). A frame pixel of ±inf makes the bins it touches NaN (the padding
    adds 0 · x). Scratch memory: n_seg · min(n_frames, 8) doubles.

    Parameters
    ----------
    banded : BandedCsr
    frames, row_scale, row_offset
        As :func:`csr_apply`.
    simd : bool
        Use the AVX2 loop where the CPU has it (the default); False forces the portable loop,
        which gives the same bits.

    Returns
    -------
    (n_rows,) or (n_frames, n_rows) float64

    Raises
    ------
    ParamError
        Frames whose size does not match, or an inconsistent banded copy (segment slots out of
        range, segment lengths not whole groups, offsets past the last column).
    """
    x, single, scale, offset = _product_inputs(banded.n_cols, frames, row_scale, row_offset)
    b = banded
    y = core().banded_spmv(b.band_ptr, b.seg_ptr, b.row_seg_ptr, b.seg_slot, b.data, b.offset, int(b.n_cols),
                           int(b.band_cols), x, scale, offset, bool(simd))
    return y[0] if single else y


def gpu_available() -> tuple[bool, str]:
    """Whether the CUDA kernels were built and a GPU is visible.

    Returns
    -------
    (bool, str)
        The answer and a one-line reason (device name, or why not).
    """
    mod = cuda()
    if mod is None:
        return False, "midas._cuda was not built (no nvcc at build time)"
    n, msg = mod.device_count()
    if n <= 0:
        return False, f"no CUDA device visible ({msg})"
    return True, str(mod.device_name(0))


class DeviceCsr:
    """A float32 CSR matrix kept resident on the GPU across frames.

    Parameters
    ----------
    matrix : CsrMatrix
        Its entries are uploaded as float32.

    Raises
    ------
    MidasError
        When ``midas._cuda`` was not built or no GPU is visible.
    """

    def __init__(self, matrix: CsrMatrix) -> None:
        ok, why = gpu_available()
        if not ok:
            raise MidasError(f"GPU integration requested but unavailable: {why}")
        mod = cuda()
        assert mod is not None
        self._matrix = matrix
        self._dev = mod.CsrDeviceMatrix(
            np.ascontiguousarray(matrix.indptr, dtype=np.int64),
            np.ascontiguousarray(matrix.indices, dtype=np.int32),
            np.ascontiguousarray(matrix.data, dtype=np.float32),
            int(matrix.n_cols),
        )

    def apply(self, frames: NDArray[np.generic]) -> NDArray[np.float64]:
        """``A · x`` on the device; same shapes and semantics as :func:`csr_apply`."""
        x, single = _frames_2d(self._matrix.n_cols, frames)
        y = self._dev.apply(np.ascontiguousarray(x, dtype=np.float32))
        return y[0] if single else y
