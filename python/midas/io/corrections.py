"""Per-pixel corrections of detector frames: dark, flood, mask, pre-threshold and ImTransOpt.

Defined once here and used by every reader, writer and algorithm of midas.

Conventions (upstream_facts §1.7, §2.4, §4.1 step 1):

- A frame is ``(n_z, n_y)``: row = Z, column = Y.
- Dark = mean of the dark frames after the first ``SkipFrame`` ones; flood defaults to 1;
  corrected value ``v = (raw - dark) / flood``.
- Mask: value **1 = bad** (masked), 0 = good, as upstream's C code reads it.
- ImTransOpt: a list of operations applied in order to the frame: ``1`` flip Y (reverse the
  columns), ``2`` flip Z (reverse the rows), ``3`` transpose (square frames only), ``0`` and
  ``-1`` do nothing. Geometry (pixel Y = column, Z = row) is defined on the frame AFTER these
  operations; :func:`inverse_transform_pixel_coords` maps such coordinates back to raw pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError

__all__ = [
    "PreThreshold",
    "apply_dark_flood",
    "apply_mask",
    "bad_pixel_mask",
    "check_im_trans_opt",
    "dark_mean",
    "im_trans_opt",
    "inverse_transform_pixel_coords",
    "pre_threshold",
    "transform_pixel_coords",
    "transformed_shape",
]

log = logging.getLogger(__name__)

_TRANS_OPS = (-1, 0, 1, 2, 3)


# --------------------------------------------------------------------------------------------
# dark, flood, mask
# --------------------------------------------------------------------------------------------
def dark_mean(dark: Any, *, skip_frames: int = 0) -> NDArray[np.float64]:
    """Mean dark frame, leaving out the first ``skip_frames`` frames (upstream's rule).

    Parameters
    ----------
    dark : FrameSeries or (n, n_z, n_y) or (n_z, n_y) array
        Dark frames (a 2-D array is one frame). Read one frame at a time for a FrameSeries.
    skip_frames : int, default 0
        ``SkipFrame``: settling frames at the start of every acquisition. When the stack has
        more frames than that, they are left out; otherwise frame 0 alone is the dark (as upstream).

    Returns
    -------
    (n_z, n_y) float64
        The mean dark, counts.

    Raises
    ------
    ParamError
        When ``skip_frames < 0`` or ``dark`` has no frame or is not 2-D/3-D.

    Examples
    --------
    >>> dark_mean(np.array([[[100]], [[10]], [[20]]]), skip_frames=1)
    array([[15.]])
    """
    if skip_frames < 0:
        raise ParamError(f"SkipFrame must be >= 0, got {skip_frames}")
    if hasattr(dark, "iter_frames"):
        n = dark.n_frames
        first = skip_frames if n > skip_frames else 0
        last = n if n > skip_frames else 1
        acc = np.zeros(dark.frame_shape, dtype=np.float64)
        for fr in dark.iter_frames(first, last):
            acc += fr
        return acc / (last - first)
    arr = np.asarray(dark)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ParamError(f"dark frames must be (n, n_z, n_y) with n >= 1, got shape {arr.shape}")
    used = arr[skip_frames:] if arr.shape[0] > skip_frames else arr[:1]
    return np.asarray(used.mean(axis=0, dtype=np.float64), dtype=np.float64)


def bad_pixel_mask(mask: ArrayLike) -> NDArray[np.bool_]:
    """Boolean "bad pixel" array from a MIDAS mask (1 = bad, 0 = good).

    Parameters
    ----------
    mask : (n_z, n_y) or (1, n_z, n_y) array of bool or numbers
        Booleans are taken as they are (True = bad); numbers mark bad pixels with exactly 1, as
        upstream's C code tests ``mask == 1``.

    Returns
    -------
    (n_z, n_y) bool
        True where the pixel is bad.

    Raises
    ------
    ParamError
        When the mask is not 2-D (or 3-D with one frame).
    """
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ParamError(f"mask must be (n_z, n_y), got shape {m.shape}")
    if m.dtype == np.bool_:
        return m.copy()
    odd = np.unique(m[(m != 0) & (m != 1)])
    if odd.size:
        log.warning("mask has values other than 0 and 1 (%s...); only 1 marks a bad pixel "
                    "(upstream convention), the others count as good", odd[:5].tolist())
    return np.asarray(m == 1)


def apply_mask(frame: ArrayLike, mask: ArrayLike, *, fill: float = 0) -> NDArray[Any]:
    """A copy of ``frame`` with the bad pixels (mask value 1) set to ``fill``.

    Parameters
    ----------
    frame : (n_z, n_y) array
    mask : (n_z, n_y) array, 1 (or True) = bad
    fill : number, default 0

    Raises
    ------
    ParamError
        When the shapes differ.
    """
    f = np.array(frame, copy=True)
    bad = bad_pixel_mask(mask)
    if bad.shape != f.shape:
        raise ParamError(f"mask shape {bad.shape} differs from frame shape {f.shape}")
    f[bad] = fill
    return f


def apply_dark_flood(frame: ArrayLike, dark: ArrayLike | None = None,
                     flood: ArrayLike | None = None, *,
                     mask: ArrayLike | None = None) -> NDArray[np.float64]:
    """Corrected intensity ``(raw - dark) / flood`` as float64 (upstream §4.1 step 1).

    Parameters
    ----------
    frame : (n_z, n_y) array
        Raw counts.
    dark : (n_z, n_y) array, optional
        Mean dark (see :func:`dark_mean`); 0 when omitted.
    flood : (n_z, n_y) array, optional
        Flat-field gain; 1 when omitted. Must be > 0 on every good pixel.
    mask : (n_z, n_y) array, optional
        1 = bad; bad pixels are set to 0 in the result (and their flood is not checked).

    Returns
    -------
    (n_z, n_y) float64

    Raises
    ------
    ParamError
        When shapes differ or the flood is <= 0 (or not finite) on a good pixel.
    """
    out = np.array(frame, dtype=np.float64, copy=True)
    if dark is not None:
        d = np.asarray(dark, dtype=np.float64)
        if d.shape != out.shape:
            raise ParamError(f"dark shape {d.shape} differs from frame shape {out.shape}")
        out -= d
    bad = None if mask is None else bad_pixel_mask(mask)
    if bad is not None and bad.shape != out.shape:
        raise ParamError(f"mask shape {bad.shape} differs from frame shape {out.shape}")
    if flood is not None:
        fl = np.asarray(flood, dtype=np.float64)
        if fl.shape != out.shape:
            raise ParamError(f"flood shape {fl.shape} differs from frame shape {out.shape}")
        invalid = ~(np.isfinite(fl) & (fl > 0))
        if bad is not None:
            invalid &= ~bad
        if invalid.any():
            z, y = np.argwhere(invalid)[0]
            raise ParamError(f"flood is <= 0 or not finite on {int(invalid.sum())} good pixels "
                             f"(first at row z={z}, column y={y}: {fl[z, y]}); mask them (1 = bad)")
        with np.errstate(divide="ignore", invalid="ignore"):
            out /= fl
    if bad is not None:
        out[bad] = 0.0
    return out


class PreThreshold:
    """Upstream's ``-preProcThresh`` for one scan, with the per-dark work done once.

    A pixel becomes 0 when ``raw < dark + threshold``; otherwise
    ``max(0, trunc(raw) - trunc(dark))``, where ``trunc`` rounds toward zero as upstream's integer
    conversion does. The result has the frame's dtype.

    Parameters
    ----------
    dark : (n_z, n_y) array
        Mean dark (:func:`dark_mean`), counts.
    threshold : float
        Counts above the dark a pixel needs to be kept (>= 0).

    Raises
    ------
    ParamError
        When ``threshold < 0`` or the dark is not 2-D (or, when called, the frame's shape differs).

    Notes
    -----
    Integer frames are processed in integer arithmetic: for an integer ``raw``,
    ``raw < dark + threshold`` exactly when ``raw < ceil(dark + threshold)``.
    """

    def __init__(self, dark: ArrayLike, threshold: float) -> None:
        d = np.asarray(dark, dtype=np.float64)
        if d.ndim != 2:
            raise ParamError(f"dark must be one (n_z, n_y) frame, got shape {d.shape}")
        if not threshold >= 0:
            raise ParamError(f"preProcThresh must be >= 0 counts, got {threshold}")
        self._dark = d
        self._threshold = float(threshold)
        cut = np.ceil(d + self._threshold)
        small = bool(np.all(np.abs(cut) < 2**31) and np.all(np.abs(d) < 2**31))
        itype = np.int32 if small else np.int64  # keeps a 2048² scan's tables at 2 x 16 MB
        self._dark_trunc = np.trunc(d).astype(itype)
        self._cut_int = cut.astype(itype)

    def __call__(self, frame: ArrayLike) -> NDArray[Any]:
        f = np.asarray(frame)
        if f.shape != self._dark.shape:
            raise ParamError(f"dark shape {self._dark.shape} differs from frame shape {f.shape}")
        if f.dtype.kind in "ui" and f.dtype.itemsize <= 4:
            small = f.dtype.itemsize <= 2 and self._dark_trunc.dtype == np.int32
            work: NDArray[np.signedinteger[Any]] = f.astype(np.int32 if small else np.int64)
            np.subtract(work, self._dark_trunc, out=work, casting="unsafe")
            np.maximum(work, 0, out=work)
            work[f < self._cut_int] = 0
            return work.astype(f.dtype)
        raw = f.astype(np.float64)  # upstream converts float pixels with int() too
        kept: NDArray[np.float64] = np.maximum(np.trunc(raw) - np.trunc(self._dark), 0.0)
        kept[raw < self._dark + self._threshold] = 0.0
        return kept.astype(f.dtype)


def pre_threshold(frame: ArrayLike, dark: ArrayLike, threshold: float) -> NDArray[Any]:
    """Dark-subtract and zero weak pixels before archiving (upstream ``-preProcThresh``).

    One-frame form of :class:`PreThreshold` (use that class for a whole scan).

    Parameters
    ----------
    frame : (n_z, n_y) integer or float array
        Raw counts.
    dark : (n_z, n_y) array
        Mean dark (:func:`dark_mean`).
    threshold : float
        Counts above the dark a pixel needs to be kept (>= 0).

    Returns
    -------
    (n_z, n_y) array of the frame's dtype.

    Raises
    ------
    ParamError
        When shapes differ or ``threshold < 0``.

    Examples
    --------
    >>> pre_threshold(np.array([[100, 130, 90]], np.uint16), np.array([[100.7, 100.7, 100.7]]), 20)
    array([[ 0, 30,  0]], dtype=uint16)
    """
    return PreThreshold(dark, threshold)(frame)


# --------------------------------------------------------------------------------------------
# ImTransOpt
# --------------------------------------------------------------------------------------------
def check_im_trans_opt(opts: int | Iterable[int]) -> tuple[int, ...]:
    """Validate an ImTransOpt list and return it as a tuple of ints.

    Raises
    ------
    ParamError
        When a value is not one of -1, 0, 1, 2, 3.
    """
    seq = (opts,) if isinstance(opts, (int, np.integer)) else tuple(opts)
    out = []
    for v in seq:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        if not isinstance(v, (int, np.integer)) or int(v) not in _TRANS_OPS:
            raise ParamError(f"ImTransOpt value {v!r} is not one of -1/0 (none), 1 (flip Y), "
                             f"2 (flip Z), 3 (transpose)")
        out.append(int(v))
    return tuple(out)


def transformed_shape(frame_shape: tuple[int, int], opts: int | Iterable[int]) -> tuple[int, int]:
    """Frame shape ``(n_z, n_y)`` after ImTransOpt.

    Raises
    ------
    ParamError
        Invalid option, or a transpose of a non-square frame.
    """
    nz, ny = int(frame_shape[0]), int(frame_shape[1])
    for op in check_im_trans_opt(opts):
        if op == 3:
            if nz != ny:
                raise ParamError(f"ImTransOpt 3 (transpose) needs a square frame; this one is "
                                 f"{nz} rows x {ny} columns")
            nz, ny = ny, nz
    return nz, ny


def im_trans_opt(frame: NDArray[Any], opts: int | Iterable[int]) -> NDArray[Any]:
    """Apply ImTransOpt operations, in order, to a frame or a stack of frames.

    Parameters
    ----------
    frame : (..., n_z, n_y) array
        Frame(s); the last two axes are row (Z) and column (Y).
    opts : int or sequence of int
        1 flip Y (columns), 2 flip Z (rows), 3 transpose (square only), 0/-1 nothing.

    Returns
    -------
    (..., n_z', n_y') array
        A view of ``frame`` where possible (use ``np.ascontiguousarray`` when a C-contiguous
        array is needed).

    Raises
    ------
    ParamError
        Invalid option, or transpose of a non-square frame.

    Examples
    --------
    >>> f = np.array([[1, 2], [3, 4]])
    >>> im_trans_opt(f, [1]).tolist(), im_trans_opt(f, [2]).tolist(), im_trans_opt(f, [3]).tolist()
    ([[2, 1], [4, 3]], [[3, 4], [1, 2]], [[1, 3], [2, 4]])
    """
    out = np.asarray(frame)
    if out.ndim < 2:
        raise ParamError(f"a frame must have at least 2 dimensions, got shape {out.shape}")
    transformed_shape(out.shape[-2:], opts)  # validates
    for op in check_im_trans_opt(opts):
        if op == 1:
            out = out[..., :, ::-1]
        elif op == 2:
            out = out[..., ::-1, :]
        elif op == 3:
            out = np.swapaxes(out, -1, -2)
    return out


def _shapes_before(ops: tuple[int, ...], frame_shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Frame shape ``(n_z, n_y)`` just before each operation (validates them)."""
    shapes = [(int(frame_shape[0]), int(frame_shape[1]))]
    for op in ops:
        shapes.append(transformed_shape(shapes[-1], [op]))
    return shapes[:-1]


def _coord_op(op: int, y: NDArray[np.float64], z: NDArray[np.float64],
              shape: tuple[int, int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One ImTransOpt operation on pixel coordinates of a frame of ``shape`` = (n_z, n_y)."""
    nz, ny = shape
    if op == 1:
        return (ny - 1) - y, z
    if op == 2:
        return y, (nz - 1) - z
    if op == 3:
        return z, y
    return y, z


def _coords(y_px: ArrayLike, z_px: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.array(y_px, dtype=np.float64, copy=True)
    z = np.array(z_px, dtype=np.float64, copy=True)
    if y.shape != z.shape:
        raise ParamError(f"y_px and z_px must have the same shape, got {y.shape} and {z.shape}")
    return y, z


def transform_pixel_coords(y_px: ArrayLike, z_px: ArrayLike, opts: int | Sequence[int],
                           frame_shape: tuple[int, int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map raw-frame pixel coordinates to those of the frame after ImTransOpt.

    Pixel centres are at integer coordinates, so a flip maps ``y`` to ``n_y - 1 - y``.

    Parameters
    ----------
    y_px, z_px : array_like, same shape
        Column (Y) and row (Z) in the raw frame, pixels (may be fractional).
    opts : int or sequence of int
        ImTransOpt.
    frame_shape : (n_z, n_y)
        Shape of the raw frame.

    Returns
    -------
    (y_px, z_px) : float64 arrays
        Coordinates in the transformed frame: ``im_trans_opt(f, opts)[z', y'] == f[z, y]``.

    Raises
    ------
    ParamError
        Invalid option, transpose of a non-square frame, or shapes of y and z differ.
    """
    y, z = _coords(y_px, z_px)
    ops = check_im_trans_opt(opts)
    for op, shape in zip(ops, _shapes_before(ops, frame_shape)):
        y, z = _coord_op(op, y, z, shape)
    return y, z


def inverse_transform_pixel_coords(y_px: ArrayLike, z_px: ArrayLike, opts: int | Sequence[int],
                                   frame_shape: tuple[int, int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map pixel coordinates of the frame after ImTransOpt back to the raw frame.

    The inverse of :func:`transform_pixel_coords` (each operation undone in reverse order);
    upstream's DetectorMapper stores raw coordinates this way so integrators read raw frames.

    Parameters
    ----------
    y_px, z_px : array_like, same shape
        Column (Y) and row (Z) in the transformed frame, pixels.
    opts : int or sequence of int
        ImTransOpt.
    frame_shape : (n_z, n_y)
        Shape of the RAW frame.

    Returns
    -------
    (y_px, z_px) : float64 arrays
        Raw-frame coordinates.

    Raises
    ------
    ParamError
        Invalid option, transpose of a non-square frame, or shapes of y and z differ.
    """
    y, z = _coords(y_px, z_px)
    ops = check_im_trans_opt(opts)
    for op, shape in zip(reversed(ops), reversed(_shapes_before(ops, frame_shape))):
        y, z = _coord_op(op, y, z, shape)  # each operation is its own inverse
    return y, z
