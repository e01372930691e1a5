"""Parallel block reading of detector frames for the peak search.

The peak search is limited by decoding: a 2048² int32 frame of a ``.MIDAS.zip`` is a 16 MB
Blosc/zstd chunk that takes about 10 ms to decode with numcodecs (2.6 ms block-wise, below). :class:`BlockReader` decodes the
frames of a block on several threads at once (the decoders release the GIL) straight into one
``(n, n_z, n_y)`` buffer that the C++ search then takes as a whole. It reads the chunk bytes of a
``.MIDAS.zip`` itself when the archive has the upstream layout (zarr v2, one frame per chunk, a
numcodecs compressor, no filters); any other :class:`~midas.io.frames.FrameSeries` is read through
its own ``read`` (sequential).

Upstream's frames are Blosc(zstd, bit shuffle) chunks of mostly-zero pixels. Those are decoded
block by block (:func:`_blosc_bitshuffle_zstd_layout`): a block whose compressed bytes are those
of a block already seen to be all zero is not decompressed at all (equal compressed bytes give
equal output), and the other blocks are unshuffled by a kernel that skips zero bit columns
(``midas/ff/bitshuffle.hpp``). Any other Blosc layout goes through numcodecs whole.
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

# Blosc 1 chunk header (c-blosc README_CHUNK_FORMAT): version, codec version, flags, type size,
# then int32 nbytes, blocksize, cbytes, then one int32 start offset per block.
_BLOSC_HEADER = 16
_FLAG_BYTE_SHUFFLE, _FLAG_MEMCPYED, _FLAG_BIT_SHUFFLE, _FLAG_DONT_SPLIT = 0x01, 0x02, 0x04, 0x10
_BLOSC_ZSTD = 4  # compressor code in the top three flag bits
_MAX_ZERO_SIGNATURES = 64


def _blosc_bitshuffle_zstd_layout(data: bytes) -> tuple[int, int, int, NDArray[np.int32]] | None:
    """``(typesize, nbytes, blocksize, block_starts)`` of a Blosc 1 chunk of bit-shuffled, unsplit
    zstd blocks; None for any other layout (decoded whole by numcodecs instead)."""
    if len(data) < _BLOSC_HEADER or data[0] != 2:
        return None
    flags, typesize = data[2], data[3]
    if (flags >> 5) != _BLOSC_ZSTD or flags & (_FLAG_BYTE_SHUFFLE | _FLAG_MEMCPYED) or \
            not flags & _FLAG_BIT_SHUFFLE or not flags & _FLAG_DONT_SPLIT:
        return None
    nbytes, blocksize, cbytes = np.frombuffer(data, "<i4", 3, 4).tolist()
    if blocksize <= 0 or nbytes <= 0 or cbytes != len(data) or blocksize < typesize:
        return None
    n_blocks = -(-nbytes // blocksize)
    if len(data) < _BLOSC_HEADER + 4 * n_blocks:
        return None
    starts = np.frombuffer(data, "<i4", n_blocks, _BLOSC_HEADER)
    return typesize, nbytes, blocksize, starts


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
        self.frame_bytes = int(np.prod(frame_shape)) * self.dtype.itemsize
        self._zstd: Any = None
        if self.codec is not None and self.codec.codec_id == "blosc" and self.dtype.isnative:
            from numcodecs.zstd import Zstd

            self._zstd = Zstd()
        self._zero_signatures: set[bytes] = set()  # compressed bytes of blocks known to be all zero

    def raw(self, k: int) -> bytes | None:
        if not self.present[k]:
            return None
        with self._lock:  # one ZipFile handle: reads are short, decoding is outside the lock
            return self._zf.read(self.keys[k])

    def decode_into(self, k: int, out: NDArray[Any], zero_blocks: NDArray[np.bool_] | None = None) -> None:
        """Decode frame ``k`` into ``out``.

        ``zero_blocks`` (one flag per 128 kB-ish Blosc block of ``out``, kept by the caller per
        buffer slot) says which blocks of ``out`` are known to hold zeros already; it is updated.
        """
        data = self.raw(k)
        if data is None:
            out[...] = self.fill
            if zero_blocks is not None:
                zero_blocks[...] = self.fill == 0
            return
        try:
            layout = _blosc_bitshuffle_zstd_layout(data) if self._zstd is not None else None
            if layout is not None and layout[1] == self.frame_bytes and zero_blocks is not None and \
                    zero_blocks.size == layout[3].size:
                self._decode_blocks(data, layout, out.reshape(-1).view(np.uint8), zero_blocks)
                return
            if zero_blocks is not None:
                zero_blocks[...] = False
            if self.codec is None:
                out.reshape(-1)[...] = np.frombuffer(data, dtype=self.dtype)
            elif self.dtype.isnative:
                self.codec.decode(data, out=out.reshape(-1).view(np.uint8))
            else:
                out.reshape(-1)[...] = np.frombuffer(self.codec.decode(data), dtype=self.dtype)
        except Exception as exc:
            raise FormatError(f"{self.path}: cannot decode frame {k} ({self.keys[k]}): {exc}") from exc

    def _decode_blocks(self, data: bytes, layout: tuple[int, int, int, NDArray[np.int32]], out: NDArray[np.uint8],
                       zero_blocks: NDArray[np.bool_]) -> None:
        from midas._native import core

        unshuffle = core().ff_bit_unshuffle
        typesize, nbytes, blocksize, starts = layout
        view = memoryview(data)
        zero_sigs = self._zero_signatures
        for b, s in enumerate(starts.tolist()):
            lo = b * blocksize
            hi = min(lo + blocksize, nbytes)
            n = int.from_bytes(view[s:s + 4], "little")
            if n <= 0 or s + 4 + n > len(data):
                raise FormatError(f"block {b} of {len(starts)}: compressed size {n} at offset {s} runs past the "
                                  f"{len(data)}-byte chunk")
            comp = view[s + 4:s + 4 + n]
            sig = comp.tobytes() if n <= 256 else None
            if sig is not None and sig in zero_sigs:
                if not zero_blocks[b]:
                    out[lo:hi] = 0
                    zero_blocks[b] = True
                continue
            shuffled = comp if n == hi - lo else self._zstd.decode(comp)  # a block stored raw has its own size
            if len(shuffled) != hi - lo:
                raise FormatError(f"block {b}: decoded to {len(shuffled)} bytes, expected {hi - lo}")
            nonzero = unshuffle(shuffled, typesize, out[lo:hi])
            zero_blocks[b] = nonzero == 0
            if nonzero == 0 and sig is not None and len(zero_sigs) < _MAX_ZERO_SIGNATURES:
                zero_sigs.add(sig)

    def n_blocks(self, k: int) -> int:
        """Blosc blocks of frame ``k``'s chunk (0 when it is not the bit-shuffled zstd layout)."""
        data = self.raw(k)
        layout = None if data is None or self._zstd is None else _blosc_bitshuffle_zstd_layout(data)
        return 0 if layout is None else int(layout[3].size)

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
    Frames are returned as stored (before ImTransOpt and dark), in the dtype of the archive. The
    reader owns its buffer: an array returned by :meth:`read` is overwritten by the next call.
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
        self._buf: NDArray[Any] | None = None
        self._zero_blocks: NDArray[np.bool_] | None = None  # per buffer slot and Blosc block: known zero

    def read(self, start: int, stop: int) -> NDArray[Any]:
        """Frames ``start .. stop-1`` as an ``(n, n_z, n_y)`` array, valid until the next call."""
        n = stop - start
        if self._buf is None or self._buf.shape[0] < n:
            self._buf = np.zeros((n, *self.frames.frame_shape), dtype=self.dtype)
            n_blocks = self._chunks.n_blocks(start) if self._chunks is not None and n > 0 else 0
            self._zero_blocks = np.ones((n, n_blocks), dtype=bool)
        view = self._buf[:n]
        if self._chunks is None:
            view[...] = self.frames.read(start, stop)
            return view
        chunks, zb = self._chunks, self._zero_blocks
        assert zb is not None

        def one(i: int) -> None:
            chunks.decode_into(start + i, view[i], zb[i] if zb.shape[1] else None)

        if self._pool is None:
            for i in range(n):
                one(i)
        else:
            list(self._pool.map(one, range(n)))
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
