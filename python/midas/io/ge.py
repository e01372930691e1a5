"""GE amorphous-silicon raw frame files (``.ge1`` … ``.ge5``), as written at APS 1-ID.

Layout (upstream_facts §3.1): a header of ``header_bytes`` (8192; its content is ignored), then
``n_frames`` frames of little-endian pixels, row-major ``[Z][Y]``, ``NrPixelsZ × NrPixelsY`` each
(2048 × 2048 by default), uint16 (``PixelValue 2``, DataType 1) or uint32 (``PixelValue 4``).
The number of frames is not stored: it follows from the file size.

``HeadSize`` larger than 8192 in a parameter file means "skip whole frames": upstream derives
``SkipFrame = (HeadSize - 8192) / frame_bytes`` and reads with an 8192-byte header, keeping every
frame in the archive (the consumer skips them). :func:`ge_layout_from_head_size` restates that.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from midas.errors import FormatError, ParamError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["GE_HEADER_BYTES", "GEFrames", "ge_layout_from_head_size", "write_ge"]

#: Size of the standard GE file header in bytes.
GE_HEADER_BYTES = 8192

_GE_DTYPES = {np.dtype(np.uint16), np.dtype(np.uint32)}


class GEFrames(FrameSeries):
    """Frames of one GE raw file, read one frame per call.

    Parameters
    ----------
    path : path
        The ``.geN`` file.
    n_pixels_y, n_pixels_z : int, default 2048
        Columns (Y) and rows (Z) of a frame (``NrPixelsY``, ``NrPixelsZ``).
    header_bytes : int, default 8192
        Bytes before the first frame.
    pixel_dtype : dtype, default uint16
        uint16 or uint32 (little-endian on disk).

    Raises
    ------
    FormatError
        When the file is missing, shorter than its header, holds no frame, or its size is not
        ``header_bytes + k·frame_bytes`` (truncated file, or wrong NrPixels/PixelValue): the
        message gives the expected and actual sizes.
    ParamError
        For a non-positive frame size, a negative header or a pixel type other than uint16/uint32.

    Notes
    -----
    ``metadata`` holds ``header_bytes`` and ``frame_bytes``.
    """

    def __init__(self, path: PathLike, *, n_pixels_y: int = 2048, n_pixels_z: int = 2048,
                 header_bytes: int = GE_HEADER_BYTES, pixel_dtype: DTypeLike = np.uint16) -> None:
        p = Path(path)
        dt = np.dtype(pixel_dtype)
        if dt not in _GE_DTYPES:
            raise ParamError(f"{p}: GE pixel type must be uint16 or uint32, got {dt}")
        if n_pixels_y < 1 or n_pixels_z < 1:
            raise ParamError(f"{p}: frame size must be positive, got NrPixelsY={n_pixels_y}, "
                             f"NrPixelsZ={n_pixels_z}")
        if header_bytes < 0:
            raise ParamError(f"{p}: header size must be >= 0 bytes, got {header_bytes}")
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            raise FormatError(f"{p}: no such GE file") from None
        frame_bytes = n_pixels_y * n_pixels_z * dt.itemsize
        payload = size - header_bytes
        geometry = (f"{n_pixels_z} x {n_pixels_y} {dt} frames = {frame_bytes} bytes each "
                    f"after a {header_bytes}-byte header")
        if payload < frame_bytes:
            raise FormatError(f"{p}: {size} bytes holds no complete frame ({geometry}); expected "
                              f"at least {header_bytes + frame_bytes} bytes")
        n, rem = divmod(payload, frame_bytes)
        if rem:
            raise FormatError(
                f"{p}: size {size} bytes is not header + a whole number of frames ({geometry}): "
                f"expected {header_bytes + (n + 1) * frame_bytes} bytes for {n + 1} frames or "
                f"{header_bytes + n * frame_bytes} for {n}; the file is truncated by "
                f"{frame_bytes - rem} bytes or NrPixelsY/NrPixelsZ/PixelValue/HeadSize are wrong")
        super().__init__(p, n, (n_pixels_z, n_pixels_y), dt,
                         {"header_bytes": header_bytes, "frame_bytes": frame_bytes})
        self._disk_dtype = dt.newbyteorder("<")
        self._header = header_bytes
        self._frame_bytes = frame_bytes
        self._lock = threading.Lock()
        self._f: Any = open(p, "rb")  # noqa: SIM115 - closed by close()

    def _read_into(self, out: NDArray[Any], first: int) -> None:
        view = memoryview(out).cast("B")  # type: ignore[arg-type]  # ndarray is a buffer
        with self._lock:
            if self._f is None:
                raise FormatError(f"{self.path}: reader is closed")
            self._f.seek(self._header + first * self._frame_bytes)
            got = self._f.readinto(view)
        if got != view.nbytes:
            raise FormatError(f"{self.path}: short read at frame {first}: got {got} of "
                              f"{view.nbytes} bytes (was the file truncated while open?)")

    def _read_frame(self, k: int) -> NDArray[Any]:
        out = np.empty(self.frame_shape, dtype=self._disk_dtype)
        self._read_into(out, k)
        return out.astype(self.dtype, copy=False)

    def _read_block(self, start: int, stop: int) -> NDArray[Any]:
        out = np.empty((stop - start, *self.frame_shape), dtype=self._disk_dtype)
        self._read_into(out, start)
        return out.astype(self.dtype, copy=False)

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None


def ge_layout_from_head_size(head_size: int, frame_bytes: int) -> tuple[int, int]:
    """Header size to read with, and frames to skip, for a parameter file's ``HeadSize``.

    Parameters
    ----------
    head_size : int
        ``HeadSize`` from the parameter file (bytes).
    frame_bytes : int
        Bytes per frame (``NrPixelsY · NrPixelsZ · bytes per pixel``).

    Returns
    -------
    header_bytes : int
        8192 when ``head_size`` is 8192 plus whole frames, else ``head_size`` itself.
    skip_frames : int
        ``(head_size - 8192) / frame_bytes`` whole frames hidden in the header (0 otherwise).
        Upstream records these as ``SkipFrame``; the frames stay in the archive.

    Raises
    ------
    ParamError
        When ``head_size`` is negative, or exceeds 8192 by at least one frame but not by a
        whole number of frames (upstream silently rounds down and misaligns every frame).

    Examples
    --------
    >>> ge_layout_from_head_size(8192 + 2 * 8388608, 8388608)
    (8192, 2)
    >>> ge_layout_from_head_size(8192, 8388608)
    (8192, 0)
    """
    if head_size < 0:
        raise ParamError(f"HeadSize must be >= 0 bytes, got {head_size}")
    extra = head_size - GE_HEADER_BYTES
    if extra < frame_bytes:
        return head_size, 0
    n, rem = divmod(extra, frame_bytes)
    if rem:
        raise ParamError(
            f"HeadSize {head_size} is 8192 + {extra} bytes, which is not a whole number of "
            f"{frame_bytes}-byte frames; fix HeadSize (or NrPixels/PixelValue)")
    return GE_HEADER_BYTES, int(n)


def write_ge(path: PathLike, frames: NDArray[Any], *, header: bytes | None = None) -> None:
    """Write frames as a GE raw file (8192-byte zero header unless ``header`` is given).

    Parameters
    ----------
    path : path
        Output file (written through a temporary file in the same folder, then renamed).
    frames : (n_frames, n_z, n_y) uint16 or uint32
        Frames to write, little-endian on disk.
    header : bytes, optional
        Header bytes (default 8192 zero bytes).

    Raises
    ------
    ParamError
        When ``frames`` is not 3-D uint16/uint32.
    """
    from midas.io._atomic import atomic_output

    arr = np.asarray(frames)
    if arr.ndim != 3 or arr.dtype not in _GE_DTYPES:
        raise ParamError(f"GE frames must be (n, n_z, n_y) uint16 or uint32, got {arr.shape} "
                         f"{arr.dtype}")
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(bytes(GE_HEADER_BYTES) if header is None else header)
        f.write(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
