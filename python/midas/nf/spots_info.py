"""The NF observation bitmask ``SpotsInfo.bin``: one bit per (distance, frame, Y, Z).

Layout (upstream_facts.md §3.13, fact 12): little-endian uint32 words, bit
``k = ((layer·n_frames + frame)·n_y + y)·n_z + z`` is ``(word[k >> 5] >> (k & 31)) & 1``; the file
is ``ceil(n_bits/32)`` words long (1.5 GB for 2 distances × 1440 frames of 2048²). Y and Z are the
NF detector coordinates (Y = n_y − 1 − column, Z = n_z − 1 − row of the raw frame).

Files are memory-mapped. A new file is created sparse (``truncate``), so a mostly empty mask uses
disk blocks only where bits are set. The sparse ``.npz`` form (arrays ``dist``, ``frame``, ``y``,
``z``, ``shape``) stores the set bits only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output

__all__ = ["SpotsInfo", "n_words_of"]


def n_words_of(layout: tuple[int, int, int, int]) -> int:
    """Number of uint32 words of a layout: ceil(n_layers·n_frames·n_y·n_z / 32)."""
    n = 1
    for v in layout:
        if int(v) <= 0:
            raise ParamError(f"SpotsInfo layout {tuple(layout)}: counts must be > 0")
        n *= int(v)
    return (n + 31) // 32


class SpotsInfo:
    """A SpotsInfo bitmask held in memory or memory-mapped from a file.

    Parameters
    ----------
    words : (n_words,) uint32 array
        The words (a ``numpy.memmap`` for files).
    layout : (n_layers, n_frames, n_y, n_z)
        Shape of the bit array.
    path : Path, optional
        The backing file.

    Use the constructors :meth:`zeros`, :meth:`create`, :meth:`open`, :meth:`from_sparse_npz`.
    """

    def __init__(self, words: NDArray[np.uint32], layout: tuple[int, int, int, int], path: Path | None = None) -> None:
        self.layout: tuple[int, int, int, int] = (int(layout[0]), int(layout[1]), int(layout[2]), int(layout[3]))
        if words.dtype != np.uint32 or words.ndim != 1 or words.size < n_words_of(self.layout):
            raise ParamError(f"SpotsInfo: need a 1-D uint32 array of {n_words_of(self.layout)} words")
        self.words = words
        self.path = path

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def zeros(cls, layout: tuple[int, int, int, int]) -> SpotsInfo:
        """An empty in-memory mask (pages are allocated lazily by the OS)."""
        return cls(np.zeros(n_words_of(layout), dtype=np.uint32), layout)

    @classmethod
    def create(cls, path: str | os.PathLike[str], layout: tuple[int, int, int, int]) -> SpotsInfo:
        """A new, empty, sparse file of the right size, memory-mapped for writing.

        An existing file is replaced only by :meth:`finalise`-style callers; this creates the
        file directly (the mask is built in place, as upstream does with its mmap).
        """
        p = Path(path)
        n = n_words_of(layout)
        with open(p, "wb") as f:
            f.truncate(4 * n)
        return cls(np.memmap(p, dtype=np.uint32, mode="r+", shape=(n,)), layout, p)

    @classmethod
    def open(cls, path: str | os.PathLike[str], layout: tuple[int, int, int, int], *, writable: bool = False) -> SpotsInfo:
        """Memory-map an existing ``SpotsInfo.bin``.

        Raises
        ------
        FormatError
            When the file is missing or its size is not 4·ceil(n_bits/32) bytes for the layout.
        """
        p = Path(path)
        n = n_words_of(layout)
        if not p.is_file():
            raise FormatError(f"{p}: SpotsInfo file not found")
        size = p.stat().st_size
        if size != 4 * n:
            raise FormatError(
                f"{p}: {size} bytes, but a SpotsInfo of {layout[0]} distances x {layout[1]} frames x "
                f"{layout[2]} x {layout[3]} pixels has {4 * n} bytes (check nDistances, StartNr/EndNr, NrPixels)"
            )
        return cls(np.memmap(p, dtype=np.uint32, mode="r+" if writable else "r", shape=(n,)), layout, p)

    @classmethod
    def from_coords(cls, coords: ArrayLike, layout: tuple[int, int, int, int]) -> SpotsInfo:
        """An in-memory mask with the bits at rows (layer, frame, y, z) set."""
        s = cls.zeros(layout)
        s.set_bits(coords)
        return s

    @classmethod
    def from_sparse_npz(cls, path: str | os.PathLike[str], layout: tuple[int, int, int, int] | None = None,
                        *, target: str | os.PathLike[str] | None = None) -> SpotsInfo:
        """Build a mask from a sparse ``.npz`` (``dist``, ``frame``, ``y``, ``z``, ``shape``).

        Parameters
        ----------
        path : path
            The ``.npz``.
        layout : tuple, optional
            Expected layout; checked against the file's ``shape``.
        target : path, optional
            Write the mask to this file (sparse, memory-mapped) instead of memory.

        Raises
        ------
        FormatError
            When arrays are missing or the shape disagrees with ``layout``.
        """
        p = Path(path)
        try:
            with np.load(p) as d:
                sh = [int(v) for v in d["shape"]]
                coords = np.stack([d["dist"], d["frame"], d["y"], d["z"]], axis=1).astype(np.int32)
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(f"{p}: not a sparse SpotsInfo .npz (arrays dist, frame, y, z, shape): {exc}") from exc
        if len(sh) != 4:
            raise FormatError(f"{p}: shape {sh} is not (distances, frames, n_y, n_z)")
        shape = (sh[0], sh[1], sh[2], sh[3])
        if layout is not None and tuple(int(v) for v in layout) != shape:
            raise FormatError(f"{p}: shape {shape} does not match the experiment's {tuple(layout)}")
        s = cls.zeros(shape) if target is None else cls.create(target, shape)
        s.set_bits(coords)
        return s

    # -- bits --------------------------------------------------------------------------------------
    def set_bits(self, coords: ArrayLike) -> None:
        """Set the bits at rows (layer, frame, y, z) of an (N, 4) integer array.

        Raises
        ------
        ParamError
            When a row is outside the layout (the message gives the row).
        """
        c = np.ascontiguousarray(coords, dtype=np.int32).reshape(-1, 4)
        core().nf_set_bits(self.words, self.layout, c)

    def coords(self) -> NDArray[np.int32]:
        """(N, 4) int32 rows (layer, frame, y, z) of the set bits, in bit order."""
        return core().nf_list_bits(self.words, self.layout)

    def count(self) -> int:
        """Number of set bits."""
        return int(core().nf_count_bits(self.words, self.layout))

    def to_sparse_npz(self, path: str | os.PathLike[str]) -> Path:
        """Write the set bits as a sparse ``.npz`` (uint16 coordinates, int64 ``shape``)."""
        c = self.coords()
        out = Path(path)
        with atomic_output(out) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, dist=c[:, 0].astype(np.uint16), frame=c[:, 1].astype(np.uint16),
                                y=c[:, 2].astype(np.uint16), z=c[:, 3].astype(np.uint16),
                                shape=np.array(self.layout, dtype=np.int64))
        return out

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the words to ``path`` as a (sparse where possible) ``SpotsInfo.bin``."""
        out = Path(path)
        with atomic_output(out) as tmp, open(tmp, "r+b") as f:
            f.truncate(4 * self.words.size)
            full = self.words.size // 1024
            blocks = np.flatnonzero(self.words[:1024 * full].reshape(-1, 1024).any(axis=1)).tolist()
            if self.words.size > 1024 * full:
                blocks.append(full)  # the last, partial block
            for blk in blocks:
                f.seek(4096 * blk)
                f.write(np.ascontiguousarray(self.words[1024 * blk:1024 * (blk + 1)]).tobytes())
        return out

    def flush(self) -> None:
        """Flush a memory-mapped file to disk."""
        if isinstance(self.words, np.memmap):
            self.words.flush()

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else " in memory"
        return f"SpotsInfo(layout={self.layout}{where})"

    def __getstate__(self) -> Any:  # pragma: no cover - not meant to be pickled
        raise TypeError("SpotsInfo wraps a memory map and cannot be pickled")
