"""IceNine / MIDAS-NF reduced peak files (``{stem}_{frame:06d}.bin{distance}``).

One file holds the pixels kept by NF image reduction for one frame at one detector distance.
Layout (all little-endian; the IceNine "UFF" peak file, read by upstream
``NF_HEDM/src/MMapImageInfo.c: ReadBinFiles`` and HEXOMAP ``IntBin.py``):

1. float32 version (1.0);
2. a block header named ``PeakFile`` (see below), then 5 uint32: the byte offsets of the four
   child blocks (relative to the end of this header) and the number of distinct peak IDs;
3. four child blocks, each a block header followed by ``n`` values:
   ``PixelCoord0`` uint16, ``PixelCoord1`` uint16, ``Intensity`` float32, ``PeakID`` uint16.

A block header is uint32 magic ``0xFEEDBEEF``, uint16 BlockType, uint16 DataFormat, uint16
NumChildren, uint16 NameSize, uint32 DataSize, uint16 ChunkNumber, uint16 TotalChunks, then
``NameSize`` bytes of NUL-terminated name. ``DataSize - NameSize`` is the byte length of the data.

Coordinates: upstream uses ``PixelCoord0`` as the NF detector Y and ``PixelCoord1`` as Z, and
sets bit ``((layer·nFrames + frame)·NrPixelsY + Y)·NrPixelsZ + Z`` of ``SpotsInfo.bin``
(upstream_facts §3.13). Reduction programs write Y = NrPixelsY - 1 - column of the raw camera
image, so these are already the flipped NF detector coordinates, not raw image indices.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError, ParamError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["NFBinFrames", "NFBinPeaks", "nf_bin_paths", "read_nf_bin", "write_nf_bin"]

_MAGIC = 0xFEEDBEEF
_HEADER = struct.Struct("<IHHHHIHH")  # 20 bytes, then the name
_CHILDREN = (("PixelCoord0", "<u2"), ("PixelCoord1", "<u2"), ("Intensity", "<f4"), ("PeakID", "<u2"))


@dataclass(frozen=True, slots=True)
class NFBinPeaks:
    """The pixels of one reduced NF frame.

    Attributes
    ----------
    y_px : (N,) uint16
        ``PixelCoord0``: NF detector Y (column after the reduction's flip), pixels.
    z_px : (N,) uint16
        ``PixelCoord1``: NF detector Z (row), pixels.
    intensity : (N,) float32
        Background-subtracted intensity (counts).
    peak_id : (N,) uint16
        Label of the connected peak each pixel belongs to.
    n_peaks : int
        Number of distinct peaks the file header declares.
    version : float
        File format version from the first 4 bytes (1.0).
    """

    y_px: NDArray[np.uint16]
    z_px: NDArray[np.uint16]
    intensity: NDArray[np.float32]
    peak_id: NDArray[np.uint16]
    n_peaks: int
    version: float = 1.0

    @property
    def n_pixels(self) -> int:
        """Number of stored pixels N."""
        return int(self.y_px.shape[0])


def _read_header(buf: bytes, off: int, path: Path) -> tuple[int, int, str, int]:
    if off + _HEADER.size > len(buf):
        raise FormatError(f"{path}: truncated at byte {off}: expected a 20-byte block header")
    magic, _btype, _fmt, _nchild, name_size, data_size, _chunk, _total = _HEADER.unpack_from(buf, off)
    if magic != _MAGIC:
        raise FormatError(f"{path}: bad block header at byte {off}: magic {magic:#010x}, "
                          f"expected 0xFEEDBEEF (not an IceNine/NF .bin file, or corrupt)")
    name_end = off + _HEADER.size + name_size
    if name_end > len(buf):
        raise FormatError(f"{path}: truncated block name at byte {off + _HEADER.size}")
    name = buf[off + _HEADER.size:name_end].split(b"\0", 1)[0].decode("ascii", "replace")
    return name_end, data_size - name_size, name, data_size


def read_nf_bin(path: PathLike) -> NFBinPeaks:
    """Read one reduced NF ``.binN`` peak file.

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    NFBinPeaks
        Its pixels.

    Raises
    ------
    FormatError
        Missing or truncated file, bad magic, unexpected block names, or child blocks with
        different numbers of elements.
    """
    p = Path(path)
    try:
        buf = p.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{p}: no such NF .bin file") from None
    if len(buf) < 4 + _HEADER.size + 20:
        raise FormatError(f"{p}: {len(buf)} bytes is too short for an NF .bin peak file")
    (version,) = struct.unpack_from("<f", buf, 0)
    off, _, name, _ = _read_header(buf, 4, p)
    if name != "PeakFile":
        raise FormatError(f"{p}: first block is {name!r}, expected 'PeakFile'")
    if off + 20 > len(buf):
        raise FormatError(f"{p}: truncated after the PeakFile header")
    n_peaks = struct.unpack_from("<5I", buf, off)[4]
    off += 20
    arrays: list[NDArray[Any]] = []
    n_expected: int | None = None
    for want, dtype in _CHILDREN:
        off, nbytes, name, _ = _read_header(buf, off, p)
        if name != want:
            raise FormatError(f"{p}: block {name!r} where {want!r} was expected")
        itemsize = np.dtype(dtype).itemsize
        if nbytes < 0 or nbytes % itemsize:
            raise FormatError(f"{p}: block {name!r} holds {nbytes} bytes, not a whole number of "
                              f"{itemsize}-byte values")
        n = nbytes // itemsize
        if n_expected is None:
            n_expected = n
        elif n != n_expected:
            raise FormatError(f"{p}: block {name!r} has {n} values but PixelCoord0 has "
                              f"{n_expected}; the file is corrupt")
        if off + nbytes > len(buf):
            raise FormatError(f"{p}: truncated in block {name!r}: needs {off + nbytes} bytes, "
                              f"file has {len(buf)}")
        arrays.append(np.frombuffer(buf, dtype=dtype, count=n, offset=off).astype(dtype[1:]))
        off += nbytes
    return NFBinPeaks(y_px=arrays[0], z_px=arrays[1], intensity=arrays[2], peak_id=arrays[3],
                      n_peaks=int(n_peaks), version=float(version))


def _header_bytes(name: str, n_children: int, data_bytes: int) -> bytes:
    raw = name.encode("ascii") + b"\0"
    return _HEADER.pack(_MAGIC, 1, 1, n_children, len(raw), data_bytes + len(raw), 0, 0) + raw


def write_nf_bin(path: PathLike, peaks: NFBinPeaks) -> None:
    """Write one reduced NF ``.binN`` peak file (inverse of :func:`read_nf_bin`).

    Parameters
    ----------
    path : path
        Output file (written through a temporary file, then renamed).
    peaks : NFBinPeaks
        The pixels; the header's peak count is ``peaks.n_peaks``.

    Raises
    ------
    ParamError
        When the arrays differ in length or coordinates do not fit uint16.
    """
    from midas.io._atomic import atomic_output

    cols: list[NDArray[Any]] = [np.asarray(peaks.y_px), np.asarray(peaks.z_px),
                                np.asarray(peaks.intensity), np.asarray(peaks.peak_id)]
    n = cols[0].shape[0]
    if any(c.ndim != 1 or c.shape[0] != n for c in cols):
        raise ParamError(f"{path}: y_px, z_px, intensity, peak_id must be 1-D of equal length; "
                         f"got {[c.shape for c in cols]}")
    for c, (name, _) in zip((cols[0], cols[1], cols[3]), (_CHILDREN[0], _CHILDREN[1], _CHILDREN[3])):
        if n and (c.min() < 0 or c.max() > 65535):
            raise ParamError(f"{path}: {name} values must fit uint16 (0..65535)")
    blocks = []
    for c, (name, dtype) in zip(cols, _CHILDREN):
        data = c.astype(dtype).tobytes()
        blocks.append(_header_bytes(name, 0, len(data)) + data)
    # The IceNine writers store the first child offset as 4 and each next one after the previous
    # child block (header + data); readers skip these offsets and read the blocks in sequence.
    offsets = [4]
    for b in blocks[:-1]:
        offsets.append(offsets[-1] + len(b))
    body = struct.pack("<5I", *offsets, int(peaks.n_peaks)) + b"".join(blocks)
    main_size = offsets[-1] + len(blocks[-1]) + 16 + 4  # the IceNine writers' DataSize
    raw_name = b"PeakFile\0"
    header = _HEADER.pack(_MAGIC, 1, 1, 4, len(raw_name), main_size, 0, 0) + raw_name
    with atomic_output(path) as tmp:
        tmp.write_bytes(struct.pack("<f", peaks.version) + header + body)


def nf_bin_paths(stem: PathLike, first_frame: int, last_frame: int, distance: int) -> list[Path]:
    """File names ``{stem}_{k:06d}.bin{distance}`` for frames ``first_frame..last_frame``.

    Raises
    ------
    ParamError
        When the range is empty or ``distance`` is not 0..9.

    Examples
    --------
    >>> [p.name for p in nf_bin_paths("d/Au_z0", 12, 13, 1)]
    ['Au_z0_000012.bin1', 'Au_z0_000013.bin1']
    """
    if last_frame < first_frame:
        raise ParamError(f"empty NF frame range {first_frame}..{last_frame}")
    if not 0 <= distance <= 9:
        raise ParamError(f"NF distance index must be 0..9, got {distance}")
    s = Path(stem)
    return [s.with_name(f"{s.name}_{k:06d}.bin{distance}") for k in range(first_frame, last_frame + 1)]


class NFBinFrames(FrameSeries):
    """Reduced NF ``.binN`` files seen as dense frames, one file per frame.

    Parameters
    ----------
    paths : sequence of path
        One file per frame, in frame order (see :func:`nf_bin_paths`).
    n_pixels_y, n_pixels_z : int, default 2048
        Frame size (not stored in the files).

    Raises
    ------
    FormatError
        When a file is unreadable or has a pixel outside the frame.

    Notes
    -----
    The dense frame is float32 ``(n_z, n_y)`` with ``frame[z_px, y_px] = intensity``, in the NF
    detector (Y, Z) of the file (see the module notes on the flip); pixels listed twice (files
    made by summing frames) are added. :meth:`peaks` gives the stored pixels themselves.
    """

    def __init__(self, paths: Sequence[PathLike], *, n_pixels_y: int = 2048,
                 n_pixels_z: int = 2048) -> None:
        ps = [Path(p) for p in paths]
        if not ps:
            raise FormatError("no NF .bin files given")
        missing = [str(p) for p in ps if not p.is_file()]
        if missing:
            raise FormatError(f"NF .bin files missing: {missing[:5]}"
                              f"{' ...' if len(missing) > 5 else ''}")
        super().__init__(ps[0], len(ps), (n_pixels_z, n_pixels_y), np.float32,
                         {"files": [str(p) for p in ps]})
        self._paths = ps

    def peaks(self, k: int) -> NFBinPeaks:
        """The stored pixels of frame ``k`` (see :func:`read_nf_bin`)."""
        return read_nf_bin(self._paths[self._index(k)])

    def _read_frame(self, k: int) -> NDArray[Any]:
        pk = read_nf_bin(self._paths[k])
        nz, ny = self.frame_shape
        if pk.n_pixels and (int(pk.y_px.max()) >= ny or int(pk.z_px.max()) >= nz):
            raise FormatError(f"{self._paths[k]}: pixel (y={int(pk.y_px.max())}, "
                              f"z={int(pk.z_px.max())}) is outside the {ny} x {nz} frame; "
                              f"set n_pixels_y/n_pixels_z")
        out = np.zeros(self.frame_shape, dtype=np.float32)
        np.add.at(out, (pk.z_px.astype(np.intp), pk.y_px.astype(np.intp)), pk.intensity)
        return out
