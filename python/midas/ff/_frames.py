"""Parallel block reading of detector frames for the peak search.

The peak search is limited by decoding: a 2048² int32 frame of a ``.MIDAS.zip`` is a 16 MB
Blosc/zstd chunk that takes about 10 ms to decode. :class:`BlockReader` decodes the frames of a
block on several threads at once (numcodecs releases the GIL while decoding) straight into one
``(n, n_z, n_y)`` buffer that the C++ search then takes as a whole. It reads the chunk bytes of a
``.MIDAS.zip`` itself when the archive has the upstream layout (zarr v2, one frame per chunk, a
numcodecs compressor, no filters); any other :class:`~midas.io.frames.FrameSeries` is read through
its own ``read`` (sequential).
"""

from __future__ import annotations

import json
import logging
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io.frames import FrameSeries

__all__ = ["BlockReader"]

log = logging.getLogger(__name__)

_DATA = "exchange/data"


class _ZipChunks:
    """Direct access to the frame chunks of a ``.MIDAS.zip`` (zarr v2, chunks (1, n_z, n_y))."""

    def __init__(self, path: str, n_frames: int, frame_shape: tuple[int, int]) -> None:
        import numcodecs

        self.path = path
        self._zf = zipfile.ZipFile(path)
        self._lock = threading.Lock()
        meta = json.loads(self._zf.read(f"{_DATA}/.zarray"))
        if meta.get("filters"):
            raise FormatError(f"{path}: {_DATA} has filters {meta['filters']}; not the upstream layout")
        if list(meta["chunks"]) != [1, *frame_shape] or meta.get("order", "C") != "C":
            raise FormatError(f"{path}: {_DATA} chunks {meta['chunks']} are not one C-order frame each")
        self.codec = None if meta.get("compressor") is None else numcodecs.get_codec(meta["compressor"])
        self.dtype = np.dtype(meta["dtype"])
        self.fill = meta.get("fill_value") or 0
        sep = meta.get("dimension_separator", ".")
        names = set(self._zf.namelist())
        self.keys = [f"{_DATA}/{k}{sep}0{sep}0" for k in range(n_frames)]
        self.present = [k in names for k in self.keys]
        self.frame_shape = frame_shape

    def raw(self, k: int) -> bytes | None:
        if not self.present[k]:
            return None
        with self._lock:  # one ZipFile handle: reads are short, decoding is outside the lock
            return self._zf.read(self.keys[k])

    def decode_into(self, k: int, out: NDArray[Any]) -> None:
        data = self.raw(k)
        if data is None:
            out[...] = self.fill
            return
        try:
            if self.codec is None:
                out.reshape(-1)[...] = np.frombuffer(data, dtype=self.dtype)
            elif self.dtype.isnative:
                self.codec.decode(data, out=out.reshape(-1).view(np.uint8))
            else:
                out.reshape(-1)[...] = np.frombuffer(self.codec.decode(data), dtype=self.dtype)
        except Exception as exc:
            raise FormatError(f"{self.path}: cannot decode frame {k} ({self.keys[k]}): {exc}") from exc

    def close(self) -> None:
        self._zf.close()


class BlockReader:
    """Read blocks of consecutive frames with ``n_threads`` decoding threads.

    Parameters
    ----------
    frames : FrameSeries
        The frames (a :class:`midas.io.midas_zip.MidasZip` gets the fast path).
    n_threads : int
        Decoding threads (>= 1).

    Notes
    -----
    Frames are returned as stored (before ImTransOpt and dark), in the dtype of the archive.
    """

    def __init__(self, frames: FrameSeries, n_threads: int) -> None:
        self.frames = frames
        self.n_threads = max(1, int(n_threads))
        self.dtype = np.dtype(frames.dtype).newbyteorder("=")
        self._chunks: _ZipChunks | None = None
        path = getattr(frames, "path", None)
        if type(frames).__name__ == "MidasZip" and path is not None:
            try:
                self._chunks = _ZipChunks(str(path), frames.n_frames, frames.frame_shape)
            except (FormatError, KeyError, ValueError) as exc:
                log.info("%s: frames read through zarr (%s)", path, exc)
        self._pool = ThreadPoolExecutor(self.n_threads) if self._chunks is not None and self.n_threads > 1 else None

    def read(self, start: int, stop: int, out: NDArray[Any] | None = None) -> NDArray[Any]:
        """Frames ``start .. stop-1`` as an ``(n, n_z, n_y)`` array (``out`` reused when given)."""
        n = stop - start
        shape = (n, *self.frames.frame_shape)
        if out is None or out.shape[1:] != shape[1:] or out.shape[0] < n or out.dtype != self.dtype:
            out = np.empty(shape, dtype=self.dtype)
        view = out[:n]
        if self._chunks is None:
            view[...] = self.frames.read(start, stop)
            return view
        chunks = self._chunks
        if self._pool is None:
            for i in range(n):
                chunks.decode_into(start + i, view[i])
        else:
            list(self._pool.map(lambda i: chunks.decode_into(start + i, view[i]), range(n)))
        return view

    def close(self) -> None:
        """Stop the threads and close the chunk reader (the FrameSeries stays open)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._chunks is not None:
            self._chunks.close()
            self._chunks = None

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
