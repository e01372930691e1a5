"""Thread control for the OpenMP kernels.

Results of every midas kernel are independent of the thread count; threads only change speed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from midas._native import core


def max_threads() -> int:
    """Number of OpenMP threads the next kernel will use (1 when built without OpenMP)."""
    return int(core().max_threads())


def set_num_threads(n_threads: int) -> None:
    """Set the number of OpenMP threads used by later kernels.

    Raises
    ------
    ValueError
        When ``n_threads`` < 1.
    """
    if int(n_threads) < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    core().set_num_threads(int(n_threads))


@contextlib.contextmanager
def threads(n_threads: int | None) -> Iterator[None]:
    """Context manager that runs its body with ``n_threads`` threads (None: unchanged)."""
    if n_threads is None:
        yield
        return
    previous = max_threads()
    set_num_threads(n_threads)
    try:
        yield
    finally:
        set_num_threads(previous)
