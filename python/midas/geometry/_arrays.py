"""Input normalisation shared by the geometry wrappers (private)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError


def flat_points(
    *arrays: ArrayLike, names: tuple[str, ...]
) -> tuple[list[NDArray[np.float64]], tuple[int, ...]]:
    """Broadcast float arrays together; return them raveled (C-contiguous float64) and the shape.

    Raises
    ------
    ParamError
        When the shapes do not broadcast (names and shapes in the message).
    """
    try:
        parts = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    except ValueError:
        shapes = ", ".join(f"{n} {np.shape(a)}" for n, a in zip(names, arrays))
        raise ParamError(f"shapes do not broadcast together: {shapes}") from None
    shape = parts[0].shape
    return [np.ascontiguousarray(p.ravel()) for p in parts], shape
