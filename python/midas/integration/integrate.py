"""Integrating frames with an :class:`~midas.integration.mapper.IntegrationMap`.

One frame (or a batch of frames sharing one pass over the matrix) becomes an area-normalised
cake ``(n_r, n_eta)`` by a single affine CSR product,

    cake[b] = row_scale[b] · (Σ_p w[b, p]·x[p] − Σ_p w[b, p]·dark[p]),

where ``w`` holds fraction / (solid-angle · polarization) corrections, ``row_scale`` is 1/bin area
(NaN for bins flagged by a bad pixel) and the dark term is computed once. The 1-D lineout is the
area-weighted mean over η of the finite, unmasked bins. Frames are read in their stored layout
and dtype (uint16, int32, uint32, float32, float64 directly): ImTransOpt lives in the matrix.
On the CPU the pass reads a column-band-major copy of the matrix (:class:`midas.sparse.BandedCsr`,
built once per :class:`Integrator`) that walks the frame a few detector rows at a time; 1-D maps
use the transpose (scatter form); the GPU reads the CSR matrix itself.

Pixels that carry a sentinel value (``GapIntensity``/``BadPxIntensity``) but are not in the static
mask are handled per frame: with the ``flag_bins`` policy every bin they touch becomes NaN in that
frame, with ``exclude_pixels`` their contribution and area are taken out of those bins.
Upstream: ``IntegratorZarrOMP.c`` (``upstream_facts.md`` §4.12).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import MidasError, ParamError
from midas.integration.mapper import IntegrationMap
from midas.sparse import (
    BAND_COLS,
    BandedCsr,
    DeviceCsr,
    banded_apply,
    csr_apply,
    csr_apply_transposed,
    csr_banded,
    csr_transpose,
    gpu_available,
)

__all__ = ["IntegratedFrames", "Integrator", "lineout_from_cake"]

log = logging.getLogger(__name__)

_NATIVE = (np.float32, np.float64, np.uint16, np.int32, np.uint32)


@dataclass(frozen=True, slots=True)
class IntegratedFrames:
    """Result of integrating a batch of frames.

    Attributes
    ----------
    cake : (n_frames, n_r, n_eta) float64
        Area-normalised intensity per (R, η) bin (counts per pixel, after dark subtraction and
        corrections); NaN for bins flagged by a bad pixel, 0 for bins no pixel reaches.
    lineout : (n_frames, n_r) float64
        Area-weighted mean over η of the finite bins with area > 0; NaN where none.
    n_sentinel_pixels : (n_frames,) int64
        Pixels per frame that carried a sentinel value outside the static mask.
    """

    cake: NDArray[np.float64]
    lineout: NDArray[np.float64]
    n_sentinel_pixels: NDArray[np.int64]


def lineout_from_cake(cake: ArrayLike, bin_area: ArrayLike) -> NDArray[np.float64]:
    """1-D lineouts from cakes: area-weighted mean over η of finite bins with area > 0.

    Parameters
    ----------
    cake : (n_frames, n_r, n_eta) or (n_r, n_eta) float64
    bin_area : (n_r, n_eta) float64
        Bin areas in pixels (0 for masked or empty bins).

    Returns
    -------
    (n_frames, n_r) or (n_r,) float64
        NaN where a radial bin has no usable η bin.

    Raises
    ------
    ParamError
        Shapes that do not match.
    """
    c = np.asarray(cake, dtype=np.float64)
    single = c.ndim == 2
    c3 = np.ascontiguousarray(c[None] if single else c)
    area = np.ascontiguousarray(bin_area, dtype=np.float64)
    if c3.ndim != 3 or area.shape != c3.shape[1:]:
        raise ParamError(f"cake shape {c.shape} and bin area shape {area.shape} do not match")
    out = core().lineout_from_cake(c3, area)
    return out[0] if single else out


class Integrator:
    """Integrates frames with a resident integration matrix (CPU or GPU).

    Parameters
    ----------
    imap : IntegrationMap
    dark : (n_rows, n_columns) array, optional
        Dark frame in the stored layout; subtracted through a precomputed per-bin term.
    sentinel_values : sequence of float
        Pixel values that mark gaps/bad pixels (``GapIntensity``, ``BadPxIntensity``). Pixels of
        the static mask are already excluded by the matrix; others are detected per frame.
    use_gpu : bool
        Run the CSR product on the GPU with the matrix resident (``midas._cuda``); float32
        entries on the device, results within float32 rounding of the CPU ones.
    scatter : bool
        Apply the matrix from its transpose (pixel-major scatter: the frame is read sequentially
        into 64 fixed pixel chunks; about 16 bytes per entry with the per-pixel pointers). By
        default the CPU applies its column-band-major copy (:class:`~midas.sparse.BandedCsr`,
        built here, about 6.6 bytes per entry with the padding), which works through a frame a
        few detector rows at a time; measured on a 2048² frame it is as fast or faster for 1-D
        and 2-D maps and holds half the memory of the transpose. Either form differs from the
        plain CSR product only in the last bits.

    Raises
    ------
    ParamError
        A dark of the wrong shape.
    MidasError
        ``use_gpu`` without a usable GPU.
    """

    def __init__(self, imap: IntegrationMap, *, dark: ArrayLike | None = None,
                 sentinel_values: ArrayLike = (), use_gpu: bool = False, scatter: bool = False) -> None:
        self.map = imap
        scatter = bool(scatter) and not use_gpu
        self._transposed = csr_transpose(imap.matrix) if scatter else None
        # the row form on the CPU works through the frame band by band (see BandedCsr)
        self._banded: BandedCsr | None = None
        if not (scatter or use_gpu):
            # a 1-D lineout's rows are whole rings, so a segment spans its band from side to side:
            # 2**13-pixel bands keep that in L1 (measured on 2048²: 3.4 vs 4.8 ms per frame);
            # caked maps read short arcs and do best with 2**14 (72 η: 4.9 vs 5.0 at 2**13)
            self._banded = csr_banded(imap.matrix, band_cols=2**13 if imap.n_eta == 1 else BAND_COLS)
        shape = imap.raw_frame_shape
        self._offset: NDArray[np.float64] | None = None
        self._dark_flat: NDArray[np.float64] | None = None
        if dark is not None:
            d = np.asarray(dark, dtype=np.float64)
            if d.shape != tuple(shape):
                raise ParamError(f"dark frame shape {d.shape} differs from the frame shape {tuple(shape)}")
            self._dark_flat = np.ascontiguousarray(d).ravel()
            self._offset = self._product(self._dark_flat[None], None, None)[0]
        self._sentinels = np.unique(np.asarray(sentinel_values, dtype=np.float64).ravel())
        self._skip = np.ascontiguousarray(imap.pixel_mask.ravel(), dtype=np.uint8)
        self._entries_by_pixel: Any = None
        self._device: DeviceCsr | None = None
        if use_gpu:
            ok, why = gpu_available()
            if not ok:
                raise MidasError(f"-gpu 1 requested but no GPU can be used: {why}")
            self._device = DeviceCsr(imap.matrix)
            log.info("integrating on the GPU (%s), matrix resident", why)

    def _product(self, x: NDArray[Any], scale: NDArray[np.float64] | None,
                 offset: NDArray[np.float64] | None) -> NDArray[np.float64]:
        if self._transposed is not None:
            return csr_apply_transposed(self._transposed, x, row_scale=scale, row_offset=offset)
        if self._banded is not None:
            return banded_apply(self._banded, x, row_scale=scale, row_offset=offset)
        return csr_apply(self.map.matrix, x, validate=False, row_scale=scale, row_offset=offset)

    def cpu_pass_bytes(self) -> int:
        """Bytes of matrix one CPU pass reads (the banded copy, the transpose, or the CSR matrix)."""
        if self._banded is not None:
            return self._banded.nbytes
        if self._transposed is not None:
            t = self._transposed
            return int(t.indptr.nbytes + t.indices.nbytes + t.data.nbytes)
        m = self.map.matrix
        return int(m.indptr.nbytes + m.indices.nbytes + m.data.nbytes)

    def extra_bytes(self) -> int:
        """Bytes the integrator holds on top of its map (the banded copy or the transpose)."""
        return 0 if self._banded is None and self._transposed is None else self.cpu_pass_bytes()

    @property
    def uses_gpu(self) -> bool:
        """True when the CSR product runs on the GPU."""
        return self._device is not None

    def integrate(self, frames: ArrayLike) -> IntegratedFrames:
        """Integrate one frame ``(n_rows, n_columns)`` or a batch ``(n_frames, n_rows, n_columns)``.

        Returns
        -------
        IntegratedFrames
            Always with a leading frame axis.

        Raises
        ------
        ParamError
            Frames whose shape is not the map's raw frame shape.
        """
        x = np.asarray(frames)
        shape = tuple(self.map.raw_frame_shape)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != shape:
            raise ParamError(f"frames of shape {np.shape(frames)} do not match the map's frame shape {shape}")
        if x.dtype.type not in _NATIVE:
            x = x.astype(np.float64)
        x = np.ascontiguousarray(x.reshape(x.shape[0], -1))
        m = self.map
        if self._device is not None:
            y = self._device.apply(x)
            if self._offset is not None:
                y -= self._offset[None]
            y *= m.row_scale[None]
        else:
            y = self._product(x, m.row_scale, self._offset)
        n_bad = np.zeros(x.shape[0], dtype=np.int64)
        if self._sentinels.size:
            for f in range(x.shape[0]):
                idx = core().find_sentinel_pixels(x[f], self._sentinels, self._skip)
                if idx.size:
                    n_bad[f] = idx.size
                    self._fix_sentinel_pixels(y[f], x[f], idx)
        cake = y.reshape(x.shape[0], m.n_r, m.n_eta)
        lineout = core().lineout_from_cake(cake, m.bin_area)
        return IntegratedFrames(cake=cake, lineout=lineout, n_sentinel_pixels=n_bad)

    # ---- per-frame sentinel pixels --------------------------------------------------------------
    def _entries_of(self, pixels: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(pixel, row, entry index) of every matrix entry of the given raw pixels."""
        if self._entries_by_pixel is None:
            import scipy.sparse as sp

            m = self.map.matrix
            ids = np.arange(m.nnz, dtype=np.int64)
            self._entries_by_pixel = sp.csr_matrix((ids, m.indices, m.indptr), shape=(m.n_rows, m.n_cols)).tocsc()
        csc = self._entries_by_pixel
        starts, ends = csc.indptr[pixels], csc.indptr[pixels + 1]
        counts = ends - starts
        pix = np.repeat(pixels, counts)
        pos = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if counts.sum() else np.zeros(0, int)
        return pix, csc.indices[pos].astype(np.int64), csc.data[pos].astype(np.int64)

    def _fix_sentinel_pixels(self, y: NDArray[np.float64], x: NDArray[Any], pixels: NDArray[np.int64]) -> None:
        pix, rows, ent = self._entries_of(pixels)
        if rows.size == 0:
            return
        m = self.map
        if m.options.mask_policy == "flag_bins":
            y[rows] = np.nan
            return
        value = x[pix].astype(np.float64)
        if self._dark_flat is not None:
            value = value - self._dark_flat[pix]
        contrib = np.zeros(m.matrix.n_rows)
        lost = np.zeros(m.matrix.n_rows)
        np.add.at(contrib, rows, m.matrix.data[ent].astype(np.float64) * value)
        np.add.at(lost, rows, m.fractions[ent].astype(np.float64))
        touched = np.unique(rows)
        area = m.bin_area.ravel()[touched]
        if m.options.normalize:
            numerator = y[touched] * area - contrib[touched]
            left = area - lost[touched]
            with np.errstate(invalid="ignore", divide="ignore"):
                y[touched] = np.where(left > 1e-12, numerator / left, np.nan)
        else:
            y[touched] = y[touched] - contrib[touched]
