"""ImTransOpt: pixel coordinates of the transformed frame ↔ pixel coordinates of the raw file.

Upstream MIDAS (``ImageUtils.c``, ``upstream_facts.md`` §2.4) applies the ``ImTransOpt``
operations, in the listed order, to every frame stored as ``[row, column] = [Z, Y]``:

* ``0`` (and ``-1``): nothing;
* ``1``: flip Y (reverse the columns): ``Y' = n_y − 1 − Y``;
* ``2``: flip Z (reverse the rows): ``Z' = n_z − 1 − Z``;
* ``3``: transpose: ``(Y', Z') = (Z, Y)`` and the shape ``(n_y, n_z)`` becomes ``(n_z, n_y)``
  (upstream requires a square frame here; these coordinate maps do not).

All geometry (beam centre, ``FFDetector``) lives in the transformed frame; these maps take
fractional coordinates (pixel centres at integers) both ways. Applying the image operations
themselves is :mod:`midas.io.corrections`' job. See ``docs/conventions.md`` ("ImTransOpt").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError
from midas.geometry._arrays import flat_points

__all__ = ["frame_to_raw", "raw_to_frame", "transformed_n_pixels"]

_VALID = (-1, 0, 1, 2, 3)


def _ops(im_trans_opt: int | Iterable[int]) -> tuple[int, ...]:
    ops = (
        (int(im_trans_opt),)
        if isinstance(im_trans_opt, (int, np.integer))
        else tuple(int(v) for v in im_trans_opt)
    )
    bad = [v for v in ops if v not in _VALID]
    if bad:
        raise ParamError(
            f"ImTransOpt {ops} contains {bad}: expected 0 (none), 1 (flip Y), 2 (flip Z) or 3 (transpose)"
        )
    return ops


def _shape(n_pixels: tuple[int, int]) -> tuple[int, int]:
    n_y, n_z = (int(v) for v in n_pixels)
    if n_y <= 0 or n_z <= 0:
        raise ParamError(f"n_pixels = {n_pixels}: expected two sizes > 0 (n_y, n_z)")
    return n_y, n_z


def transformed_n_pixels(
    im_trans_opt: int | Iterable[int], raw_n_pixels: tuple[int, int]
) -> tuple[int, int]:
    """Frame size ``(n_y, n_z)`` after the ImTransOpt operations (a transpose swaps them).

    Raises
    ------
    ParamError
        Unknown operation or a non-positive size.
    """
    n_y, n_z = _shape(raw_n_pixels)
    for op in _ops(im_trans_opt):
        if op == 3:
            n_y, n_z = n_z, n_y
    return n_y, n_z


def _apply(
    op: int, y: NDArray[np.float64], z: NDArray[np.float64], n_y: int, n_z: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], int, int]:
    if op == 1:
        return (n_y - 1) - y, z, n_y, n_z
    if op == 2:
        return y, (n_z - 1) - z, n_y, n_z
    if op == 3:
        return z, y, n_z, n_y
    return y, z, n_y, n_z


def raw_to_frame(
    y_raw: ArrayLike,
    z_raw: ArrayLike,
    im_trans_opt: int | Iterable[int],
    raw_n_pixels: tuple[int, int],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Raw file pixel (column, row) → transformed-frame pixel (Y, Z).

    Parameters
    ----------
    y_raw, z_raw : array_like float, broadcastable
        Column and row in the file's own frame (fractional allowed, centres at integers).
    im_trans_opt : int or sequence of int
        The ``ImTransOpt`` operations, in order.
    raw_n_pixels : (int, int)
        Raw frame size ``(n_columns, n_rows)``.

    Returns
    -------
    (y_px, z_px) : float64 arrays in the frame after ImTransOpt (the geometry frame).

    Raises
    ------
    ParamError
        Unknown operation, bad size or shapes.

    Examples
    --------
    >>> y, z = raw_to_frame([0.0], [0.0], [1, 2], (1024, 512))
    >>> float(y[0]), float(z[0])
    (1023.0, 511.0)
    """
    (y, z), shape = flat_points(y_raw, z_raw, names=("y_raw", "z_raw"))
    n_y, n_z = _shape(raw_n_pixels)
    for op in _ops(im_trans_opt):
        y, z, n_y, n_z = _apply(op, y, z, n_y, n_z)
    return y.reshape(shape), z.reshape(shape)


def frame_to_raw(
    y_px: ArrayLike,
    z_px: ArrayLike,
    im_trans_opt: int | Iterable[int],
    raw_n_pixels: tuple[int, int],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Transformed-frame pixel (Y, Z) → raw file pixel (column, row); inverse of :func:`raw_to_frame`.

    ``raw_n_pixels`` is the RAW frame size, as for :func:`raw_to_frame`. Each operation is its
    own inverse, so they are undone in reverse order with the frame size each one saw.

    Raises
    ------
    ParamError
        Unknown operation, bad size or shapes.
    """
    (y, z), shape = flat_points(y_px, z_px, names=("y_px", "z_px"))
    ops = _ops(im_trans_opt)
    sizes = [_shape(raw_n_pixels)]
    for op in ops:
        n_y, n_z = sizes[-1]
        sizes.append((n_z, n_y) if op == 3 else (n_y, n_z))
    for op, (n_y, n_z) in zip(reversed(ops), reversed(sizes[:-1])):
        # undo `op`, which mapped a frame of size (n_y, n_z) to sizes[k + 1]
        if op == 1:
            y = (n_y - 1) - y
        elif op == 2:
            z = (n_z - 1) - z
        elif op == 3:
            y, z = z, y
    return y.reshape(shape), z.reshape(shape)
