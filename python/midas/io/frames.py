"""Lazy stacks of detector frames, and :func:`open_frames`, which picks the reader for a file.

Every reader in :mod:`midas.io` returns a :class:`FrameSeries`: a stack of ``n_frames`` frames of
shape ``(n_z, n_y)`` = ``(NrPixelsZ, NrPixelsY)`` (row = Z = slow axis, column = Y = fast axis,
as stored in the file, before any ImTransOpt). Frames are read one at a time when asked for, so a
reader holds a few frames in memory whatever the size of the file.

Formats and the reader used (by file name, then by the first bytes of the file):

=========================  ====================================================  ===================
extension                  format                                                reader
=========================  ====================================================  ===================
``.ge1`` … ``.ge5``, .ge   GE amorphous-Si raw frames (8192-byte header, uint16)  :class:`~midas.io.ge.GEFrames`
``.tif``, ``.tiff``        TIFF, single- or multi-page                           :class:`~midas.io.tiff.TiffFrames`
``.h5 .hdf5 .hdf .nxs``    HDF5 dataset (default ``exchange/data``)              :class:`~midas.io.hdf5.HDF5Frames`
``.cbf .edf .mar3450``…    CBF, EDF, mar345 and the other fabio formats          :class:`~midas.io.fabio_frames.FabioFrames`
``.npz``                   HEXRD frame-cache (sparse COO frames)                 :class:`~midas.io.hexrd_npz.HexrdFrameCache`
``.bin0`` … ``.bin9``      IceNine / MIDAS-NF reduced peak files                 :class:`~midas.io.nf_bin.NFBinFrames`
``.zip``                   ``.MIDAS.zip`` (zarr v2 in a ZIP)                     :class:`~midas.io.midas_zip.MidasZip`
=========================  ====================================================  ===================
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

if TYPE_CHECKING:
    from typing_extensions import Self

from midas.errors import FormatError, ParamError

__all__ = [
    "FORMATS",
    "ArrayFrames",
    "ConcatenatedFrames",
    "FrameSeries",
    "detect_format",
    "numbered_file_sequence",
    "open_frames",
]

log = logging.getLogger(__name__)

PathLike = str | Path

#: Format names understood by :func:`open_frames` (its ``format`` argument).
FORMATS = ("ge", "tiff", "hdf5", "fabio", "hexrd-npz", "nf-bin", "midas-zip")

_SUFFIX_FORMATS = {
    ".ge": "ge", ".ge1": "ge", ".ge2": "ge", ".ge3": "ge", ".ge4": "ge", ".ge5": "ge",
    ".tif": "tiff", ".tiff": "tiff",
    ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".nxs": "hdf5", ".nx5": "hdf5",
    ".cbf": "fabio", ".edf": "fabio", ".mar3450": "fabio", ".mar2300": "fabio", ".mar345": "fabio",
    ".mccd": "fabio", ".img": "fabio", ".sfrm": "fabio",
    ".npz": "hexrd-npz",
    ".zip": "midas-zip",
}
_NF_BIN = re.compile(r"\.bin\d$")

_MAGIC = (
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"PK\x03\x04", "midas-zip"),
    (b"###CBF", "fabio"),
    (b"{", "fabio"),  # EDF header
)


class FrameSeries(ABC):
    """A lazily read stack of detector frames, ``(n_frames, n_z, n_y)``.

    Subclasses read one file format; they implement :meth:`_read_frame` and may override
    :meth:`_read_block` when a whole block of frames is cheaper to read in one call.

    Attributes
    ----------
    path : Path or None
        The file read (the first one for a multi-file series); None for in-memory data.
    metadata : dict
        Format-specific facts (header size, dataset path, ω per frame, ...). Keys are documented
        by each reader.

    Notes
    -----
    Frames are returned exactly as stored: row = Z (slow axis), column = Y (fast axis), before
    ImTransOpt (apply :func:`midas.io.corrections.im_trans_opt`) and before dark subtraction.
    A reader keeps its file open: use it as a context manager or call :meth:`close`.
    """

    def __init__(self, path: PathLike | None, n_frames: int, frame_shape: tuple[int, int],
                 dtype: DTypeLike, metadata: Mapping[str, Any] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._n_frames = int(n_frames)
        self._frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self._dtype = np.dtype(dtype)
        self.metadata: dict[str, Any] = dict(metadata or {})

    # -- what every reader provides ------------------------------------------------------------
    @abstractmethod
    def _read_frame(self, k: int) -> NDArray[Any]:
        """Frame ``k`` (0 <= k < n_frames, already checked) as a new ``(n_z, n_y)`` array."""

    def _read_block(self, start: int, stop: int) -> NDArray[Any]:
        """Frames ``start`` to ``stop - 1`` (checked, non-empty) as a new array."""
        out = np.empty((stop - start, *self._frame_shape), dtype=self._dtype)
        for i, k in enumerate(range(start, stop)):
            out[i] = self._read_frame(k)
        return out

    def close(self) -> None:
        """Release the open file (idempotent)."""

    # -- public API -----------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return self._n_frames

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(n_z, n_y)`` = (rows, columns) of one frame, in pixels."""
        return self._frame_shape

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, n_z, n_y)``."""
        return (self._n_frames, *self._frame_shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Pixel dtype of the frames as returned (native byte order)."""
        return self._dtype

    def frame(self, k: int) -> NDArray[Any]:
        """Frame ``k`` as a new ``(n_z, n_y)`` array of :attr:`dtype`.

        Parameters
        ----------
        k : int
            Frame index; negative values count from the end as for Python sequences.

        Raises
        ------
        IndexError
            When ``k`` is outside ``[-n_frames, n_frames)``.
        FormatError
            When the file cannot be read at that frame (naming the path).
        """
        return self._read_frame(self._index(k))

    def read(self, start: int = 0, stop: int | None = None) -> NDArray[Any]:
        """Frames ``start`` to ``stop - 1`` as one new ``(n, n_z, n_y)`` array.

        ``stop=None`` means to the end. Use :meth:`iter_frames` to keep memory at one frame.

        Raises
        ------
        IndexError
            When the range is outside ``[0, n_frames]`` or empty.
        """
        start, stop = self._range(start, stop)
        if stop == start:
            raise IndexError(f"{self._name()}: empty frame range [{start}, {stop})")
        return self._read_block(start, stop)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[Any]]:
        """Yield frames ``start`` to ``stop - 1`` one at a time, each a new ``(n_z, n_y)`` array.

        Raises
        ------
        IndexError
            When the range is outside ``[0, n_frames]``.
        """
        start, stop = self._range(start, stop)
        for k in range(start, stop):
            yield self._read_frame(k)

    def iter_blocks(self, block: int, start: int = 0,
                    stop: int | None = None) -> Iterator[NDArray[Any]]:
        """Yield consecutive ``(<= block, n_z, n_y)`` arrays covering ``start`` to ``stop - 1``.

        Raises
        ------
        ParamError
            When ``block < 1``.
        """
        if block < 1:
            raise ParamError(f"block size must be >= 1 frame, got {block}")
        start, stop = self._range(start, stop)
        for k in range(start, stop, block):
            yield self._read_block(k, min(k + block, stop))

    def __len__(self) -> int:
        return self._n_frames

    def __getitem__(self, k: int) -> NDArray[Any]:
        return self.frame(k)

    def __iter__(self) -> Iterator[NDArray[Any]]:
        return self.iter_frames()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._name()!r}, n_frames={self._n_frames}, "
                f"frame_shape={self._frame_shape}, dtype={self._dtype})")

    # -- helpers ------------------------------------------------------------------------------
    def _name(self) -> str:
        return str(self.path) if self.path is not None else "<in-memory frames>"

    def _index(self, k: int) -> int:
        k = int(k)
        if k < 0:
            k += self._n_frames
        if not 0 <= k < self._n_frames:
            raise IndexError(f"{self._name()}: frame {k} is out of range; the file has "
                             f"{self._n_frames} frames (0..{self._n_frames - 1})")
        return k

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self._n_frames if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= self._n_frames:
            raise IndexError(f"{self._name()}: frame range [{start}, {stop}) is outside "
                             f"[0, {self._n_frames}]")
        return start, stop


class ArrayFrames(FrameSeries):
    """An in-memory ``(n_frames, n_z, n_y)`` array seen as a :class:`FrameSeries`.

    Parameters
    ----------
    frames : (n_frames, n_z, n_y) or (n_z, n_y) array
        The frames (a 2-D array is one frame). Not copied.
    path : path, optional
        Where the frames came from, for messages.

    Raises
    ------
    FormatError
        When ``frames`` is not 2-D or 3-D.
    """

    def __init__(self, frames: NDArray[Any], path: PathLike | None = None) -> None:
        arr = np.asarray(frames)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise FormatError(f"{path or '<array>'}: frames must be 2-D or 3-D "
                              f"(n_frames, n_z, n_y); got shape {arr.shape}")
        super().__init__(path, arr.shape[0], (arr.shape[1], arr.shape[2]), arr.dtype)
        self._arr = arr

    def _read_frame(self, k: int) -> NDArray[Any]:
        return np.array(self._arr[k])

    def _read_block(self, start: int, stop: int) -> NDArray[Any]:
        return np.array(self._arr[start:stop])


class ConcatenatedFrames(FrameSeries):
    """Several frame series one after the other (a scan split over several files).

    Parameters
    ----------
    parts : sequence of FrameSeries
        The files in order. All must have the same frame shape and dtype.
    skip_leading : int, default 0
        Leading frames to drop from every part except the first. Multi-file sweeps repeat their
        first ``SkipFrame`` frames at each file boundary (upstream ``ff_zip``: files 2+ lose
        ``SkipFrame`` frames, file 1 keeps all of them; the consumer skips those of file 1).

    Raises
    ------
    FormatError
        When the parts disagree in frame shape or dtype, or a part has no frame left.
    """

    def __init__(self, parts: Sequence[FrameSeries], *, skip_leading: int = 0) -> None:
        if not parts:
            raise FormatError("no files to read: the list of frame files is empty")
        if skip_leading < 0:
            raise ParamError(f"skip_leading must be >= 0, got {skip_leading}")
        first = parts[0]
        starts: list[tuple[FrameSeries, int, int]] = []  # (part, first frame used, n used)
        total = 0
        for i, p in enumerate(parts):
            if p.frame_shape != first.frame_shape or p.dtype != first.dtype:
                raise FormatError(
                    f"{p.path}: frames are {p.frame_shape} {p.dtype} but {first.path} has "
                    f"{first.frame_shape} {first.dtype}; all files of a scan must match")
            skip = skip_leading if i > 0 else 0
            if p.n_frames <= skip:
                raise FormatError(f"{p.path}: has {p.n_frames} frames, none left after skipping "
                                  f"the {skip} leading frames of files 2+ (SkipFrame)")
            starts.append((p, skip, p.n_frames - skip))
            total += p.n_frames - skip
        super().__init__(first.path, total, first.frame_shape, first.dtype,
                         {"files": [str(p.path) for p in parts], "skip_leading": skip_leading})
        self._parts = starts
        self._offsets = np.cumsum([0] + [n for _, _, n in starts])

    @property
    def parts(self) -> list[FrameSeries]:
        """The underlying series, in order."""
        return [p for p, _, _ in self._parts]

    def _locate(self, k: int) -> tuple[FrameSeries, int]:
        i = int(np.searchsorted(self._offsets, k, side="right") - 1)
        part, first, _ = self._parts[i]
        return part, first + (k - int(self._offsets[i]))

    def _read_frame(self, k: int) -> NDArray[Any]:
        part, j = self._locate(k)
        return part.frame(j)

    def close(self) -> None:
        for p, _, _ in self._parts:
            p.close()


def detect_format(path: PathLike) -> str:
    """The format name of ``path`` (one of :data:`FORMATS`), from its name, else its first bytes.

    Raises
    ------
    FormatError
        When the file does not exist, or neither its extension nor its first bytes are known.
    """
    p = Path(path)
    name = p.name.lower()
    if _NF_BIN.search(name):
        return "nf-bin"
    fmt = _SUFFIX_FORMATS.get(p.suffix.lower())
    if fmt is not None:
        return fmt
    if not p.is_file():
        raise FormatError(f"{p}: no such file")
    with open(p, "rb") as f:
        head = f.read(16)
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    raise FormatError(
        f"{p}: unknown frame file type (extension {p.suffix or 'none'!r}, first bytes "
        f"{head[:8]!r}). Supported: GE .ge1-.ge5, TIFF, HDF5, CBF/EDF/mar345 (fabio), HEXRD "
        f"frame-cache .npz, NF .binN, .MIDAS.zip; pass format=... to force one of {FORMATS}")


def open_frames(source: PathLike | Sequence[PathLike], *, dataset: str | None = None,
                format: str | None = None, n_pixels_y: int | None = None,
                n_pixels_z: int | None = None, header_bytes: int | None = None,
                pixel_dtype: DTypeLike | None = None, skip_leading: int = 0) -> FrameSeries:
    """Open detector frames lazily, choosing the reader from the file name or content.

    Parameters
    ----------
    source : path or sequence of paths
        One file, or the files of one scan in order (read as one series; see
        :class:`ConcatenatedFrames`).
    dataset : str, optional
        HDF5 only: path of the frame dataset inside the file (default ``exchange/data``).
    format : str, optional
        Force a reader, one of :data:`FORMATS`, instead of detecting it.
    n_pixels_y, n_pixels_z : int, optional
        Frame size in pixels for formats that do not store it: GE (default 2048 × 2048) and NF
        ``.binN`` (default 2048 × 2048). Ignored by self-describing formats.
    header_bytes : int, optional
        GE only: bytes before the first frame (default 8192).
    pixel_dtype : dtype, optional
        GE only: pixel type (default uint16; upstream ``PixelValue 4`` means uint32).
    skip_leading : int, default 0
        For several files: leading frames dropped from files 2+ (see :class:`ConcatenatedFrames`).

    Returns
    -------
    FrameSeries
        Frames ``(n_frames, n_z, n_y)`` as stored in the file(s).

    Raises
    ------
    FormatError
        Unknown or malformed file, missing file, wrong HDF5 dataset (the message names the path
        and, for HDF5, lists the datasets present).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> raw = np.arange(2 * 4 * 3, dtype="<u2").reshape(2, 4, 3)
    >>> _ = (d / "x.ge3").write_bytes(bytes(8192) + raw.tobytes())
    >>> with open_frames(d / "x.ge3", n_pixels_y=3, n_pixels_z=4) as fr:
    ...     fr.shape, int(fr.frame(1)[0, 0])
    ((2, 4, 3), 12)
    """
    if not isinstance(source, (str, Path)):
        paths = list(source)
        if len(paths) == 1:
            source = paths[0]
        else:
            parts = [open_frames(p, dataset=dataset, format=format, n_pixels_y=n_pixels_y,
                                 n_pixels_z=n_pixels_z, header_bytes=header_bytes,
                                 pixel_dtype=pixel_dtype) for p in paths]
            return ConcatenatedFrames(parts, skip_leading=skip_leading)
    path = Path(source)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ParamError(f"unknown frame format {fmt!r}; expected one of {FORMATS}")
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    if dataset is not None and fmt != "hdf5":
        raise ParamError(f"{path}: dataset={dataset!r} only applies to HDF5 files, "
                         f"this is a {fmt} file")
    log.debug("opening %s as %s", path, fmt)
    if fmt == "ge":
        from midas.io.ge import GEFrames

        return GEFrames(path, n_pixels_y=n_pixels_y or 2048, n_pixels_z=n_pixels_z or 2048,
                        header_bytes=8192 if header_bytes is None else header_bytes,
                        pixel_dtype=np.uint16 if pixel_dtype is None else pixel_dtype)
    if fmt == "tiff":
        from midas.io.tiff import TiffFrames

        return TiffFrames(path)
    if fmt == "hdf5":
        from midas.io.hdf5 import HDF5Frames

        return HDF5Frames(path, dataset=dataset or "exchange/data")
    if fmt == "fabio":
        from midas.io.fabio_frames import FabioFrames

        return FabioFrames(path)
    if fmt == "hexrd-npz":
        from midas.io.hexrd_npz import HexrdFrameCache

        return HexrdFrameCache(path)
    if fmt == "nf-bin":
        from midas.io.nf_bin import NFBinFrames

        return NFBinFrames([path], n_pixels_y=n_pixels_y or 2048, n_pixels_z=n_pixels_z or 2048)
    from midas.io.midas_zip import open_midas_zip

    return open_midas_zip(path)


def numbered_file_sequence(first: PathLike, count: int, *, step: int = 1) -> list[Path]:
    """The ``count`` file names that follow ``first`` by incrementing its last group of digits.

    The zero padding of the number is kept: ``scan_000294.edf.ge5`` → ``scan_000295.edf.ge5``.
    A trailing ``.bz2`` does not count as part of the number's neighbourhood.

    Parameters
    ----------
    first : path
        The first file of the sequence.
    count : int
        Number of files (>= 1).
    step : int, default 1
        Increment between file numbers.

    Returns
    -------
    list of Path
        ``count`` paths, ``first`` included. Existence is not checked.

    Raises
    ------
    ParamError
        When ``count < 1`` or the file name has no digits.

    Examples
    --------
    >>> [p.name for p in numbered_file_sequence("a/scan_00098.tif", 3)]
    ['scan_00098.tif', 'scan_00099.tif', 'scan_00100.tif']
    """
    if count < 1:
        raise ParamError(f"the number of files must be >= 1, got {count}")
    p = Path(first)
    name = p.name
    tail = ".bz2" if name.lower().endswith(".bz2") else ""
    stem = name[: len(name) - len(tail)]
    suffix = Path(stem).suffix  # the number sits before the last extension (.ge5, .tif, .bin0)
    stem = stem[: len(stem) - len(suffix)]
    matches = list(re.finditer(r"\d+", stem))
    if not matches:
        raise ParamError(f"{p}: file name has no number to increment for a multi-file scan")
    m = matches[-1]
    width = len(m.group())
    start = int(m.group())
    return [p.with_name(f"{stem[:m.start()]}{start + i * step:0{width}d}{stem[m.end():]}"
                        f"{suffix}{tail}")
            for i in range(count)]
