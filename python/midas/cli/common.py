"""Helpers shared by the CLI verbs: upstream-style flags, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool | None = None) -> Iterator[T]:
    """A tqdm progress bar on stderr, hidden when stderr is not a terminal (unless disable=False)."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not sys.stderr.isatty()
    yield from tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr)
