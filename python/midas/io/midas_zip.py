"""The ``.MIDAS.zip`` archive: zarr v2 inside a ZIP, as upstream MIDAS reads and writes it.

Layout (upstream_facts §3.2; checked node by node against upstream's own archives)::

    exchange/data       (n_frames, n_z, n_y)  uint16 | int32 | uint32 | float32 | float64
                        chunks (1, n_z, n_y) (one frame per chunk), Blosc(zstd, bitshuffle),
                        fill 0, attribute _ARRAY_DIMENSIONS; chunk members in frame order
    exchange/dark       (n_dark, n_z, n_y) data dtype, one frame per chunk (optional)
    exchange/bright     copy of exchange/dark (upstream's zipper writes both)
    exchange/mask       (1, n_z, n_y) data dtype, 1 = bad pixel (optional)
    measurement/process/scan_parameters/
        datatype        0-d bytes ('uint16', 'int32', ...), NOT compressed (read raw by C)
        start  (1,) f8  ω of archive frame 0 = OmegaStart - SkipFrame * OmegaStep
        step   (1,) f8  OmegaStep
    analysis/process/analysis_parameters/<Key>   one node per parameter, Blosc(lz4, 5, shuffle)
                        (see :mod:`midas.io.midas_zip_params`)

Facts that matter to upstream's C readers: they find ``exchange/data/0.0.0`` and read the
following ZIP members as frames 1, 2, ...; they Blosc-decompress every parameter chunk; they read
``datatype/0`` raw. Every frame, even an all-zero one, must therefore be stored. The writer here
uses the zarr library (zarr 3 writing format 2) through a store wrapper that refuses to write any
member twice and leaves out empty ``.zattrs``, so the members come out exactly once, in order.

Frame ω: archive frame ``k`` starts at ``start + k·step``; the consumer skips the first
``SkipFrame`` frames, so the first frame used is at ``OmegaStart`` (upstream ``test_skipframe``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:
    from typing_extensions import Self

from midas.errors import FormatError, ParamError
from midas.io._atomic import discard, temp_path_for
from midas.io.frames import FrameSeries, PathLike
from midas.io.midas_zip_params import (
    ANALYSIS_GROUP,
    SCAN_GROUP,
    analysis_parameters_from_params,
    params_from_archive_nodes,
)

__all__ = ["DATA_PATH", "SUPPORTED_DTYPES", "MidasZip", "MidasZipWriter", "open_midas_zip"]

log = logging.getLogger(__name__)

DATA_PATH = "exchange/data"
#: Pixel types upstream's C readers understand (``scan_parameters/datatype``).
SUPPORTED_DTYPES = ("uint16", "int32", "uint32", "float32", "float64")


@contextlib.contextmanager
def _blosc_threads() -> Iterator[None]:
    """Let Blosc use its worker threads while zarr (de)compresses chunks.

    zarr 3 runs codecs in a worker thread, where numcodecs' Blosc defaults to one thread ("use
    threads only from the main thread"). Frames are (de)compressed one at a time here, and
    numcodecs serialises threaded Blosc calls with a lock, so turning threads on is safe; it
    makes frame compression about 1.5x faster on 2 cores (more with more cores).
    """
    import numcodecs.blosc as nb

    before = nb.use_threads
    nb.use_threads = True
    try:
        yield
    finally:
        nb.use_threads = before


def _blosc(cname: str, clevel: int, shuffle: int) -> Any:
    from numcodecs import Blosc

    return Blosc(cname=cname, clevel=clevel, shuffle=shuffle)


def _frame_compressor(clevel: int) -> Any:
    from numcodecs import Blosc

    return _blosc("zstd", clevel, Blosc.BITSHUFFLE)


def _param_compressor() -> Any:
    from numcodecs import Blosc

    return _blosc("lz4", 5, Blosc.SHUFFLE)  # numcodecs' default, as in upstream's archives


# ---------------------------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------------------------
class MidasZip(FrameSeries):
    """A ``.MIDAS.zip`` archive opened for reading; frames are decoded one chunk at a time.

    Use :func:`open_midas_zip`. Besides the :class:`~midas.io.frames.FrameSeries` API
    (``n_frames``, ``frame_shape``, ``dtype``, ``frame(k)``, ``iter_frames()``), it gives the
    archive's darks, mask, ω scan and parameters.

    Raises
    ------
    FormatError
        (from the constructor) The file is missing, not a ZIP, not zarr v2, or has no 3-D
        ``exchange/data``; (from frame reads) a chunk cannot be decoded.
    """

    def __init__(self, path: PathLike) -> None:
        import zarr
        from zarr.storage import ZipStore

        p = Path(path)
        if not p.is_file():
            raise FormatError(f"{p}: no such .MIDAS.zip file")
        if not zipfile.is_zipfile(p):
            raise FormatError(f"{p}: not a ZIP archive (a .MIDAS.zip is zarr v2 inside a ZIP)")
        try:
            with zipfile.ZipFile(p) as zf:
                members = zf.namelist()
                bad = zf.testzip() if p.stat().st_size < 64 * 2**20 else None
        except (zipfile.BadZipFile, OSError) as exc:
            raise FormatError(f"{p}: corrupt ZIP archive: {exc}") from exc
        if bad is not None:
            raise FormatError(f"{p}: corrupt ZIP archive: member {bad!r} fails its CRC check")
        store = ZipStore(p, mode="r")
        try:
            root = zarr.open_group(store, mode="r", zarr_format=2)
            data: Any = root.get(DATA_PATH)
        except Exception as exc:  # zarr raises several kinds for missing/garbled metadata
            store.close()
            raise FormatError(f"{p}: not a zarr v2 archive readable as .MIDAS.zip (a .zgroup and "
                              f"{DATA_PATH}/.zarray are expected): {exc}") from exc
        if data is None or not hasattr(data, "chunks") or len(data.shape) != 3:
            store.close()
            arrays = sorted({m.rsplit("/", 1)[0] for m in members if m.endswith(".zarray")})
            raise FormatError(f"{p}: no 3-D array {DATA_PATH!r} (n_frames, n_z, n_y) in the archive; "
                              f"arrays present: {arrays[:20]}")
        n, nz, ny = (int(s) for s in data.shape)
        if tuple(data.chunks) != (1, nz, ny):
            log.warning("%s: exchange/data chunks are %s, not one frame (1, %d, %d) per chunk; "
                        "upstream's C tools cannot read it", p, data.chunks, nz, ny)
        super().__init__(p, n, (nz, ny), data.dtype, {"members": len(members)})
        self._store: Any = store
        self._root = root
        self._data = data
        self._members = members
        self._lock = threading.Lock()
        self._params: dict[str, Any] | None = None

    # -- frames -----------------------------------------------------------------------------
    def _read(self, sel: Any, what: str) -> NDArray[Any]:
        with self._lock:
            if self._store is None:
                raise FormatError(f"{self.path}: archive is closed")
            try:
                with _blosc_threads():
                    return np.asarray(self._data[sel])
            except Exception as exc:
                raise FormatError(f"{self.path}: cannot decode {what} of {DATA_PATH}: {exc}") from exc

    def _read_frame(self, k: int) -> NDArray[Any]:
        return self._read(k, f"frame {k}")

    def _read_block(self, start: int, stop: int) -> NDArray[Any]:
        return self._read(slice(start, stop), f"frames {start}..{stop - 1}")

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- nodes ------------------------------------------------------------------------------
    def _array(self, path: str) -> Any | None:
        with self._lock:
            if self._store is None:
                raise FormatError(f"{self.path}: archive is closed")
            try:
                node = self._root.get(path)
            except Exception as exc:
                raise FormatError(f"{self.path}: cannot read node {path!r}: {exc}") from exc
            return node if node is not None and hasattr(node, "chunks") else None

    def read_node(self, path: str) -> NDArray[Any] | None:
        """The whole array at ``path`` (relative to the archive root), or None if absent.

        Raises
        ------
        FormatError
            When the node exists but cannot be decoded.
        """
        node = self._array(path)
        if node is None:
            return None
        with self._lock:
            try:
                return np.asarray(node[...])
            except Exception as exc:
                raise FormatError(f"{self.path}: cannot decode node {path!r}: {exc}") from exc

    def node_paths(self) -> list[str]:
        """Paths of every array in the archive, in ZIP member order."""
        seen: list[str] = []
        for m in self._members:
            if m.endswith("/.zarray"):
                seen.append(m[: -len("/.zarray")])
        return seen

    @property
    def members(self) -> list[str]:
        """ZIP member names in archive order."""
        return list(self._members)

    @property
    def dark(self) -> NDArray[Any] | None:
        """``exchange/dark``: ``(n_dark, n_z, n_y)`` dark frames in the data dtype, or None.

        Use :func:`midas.io.corrections.dark_mean` with ``skip_frames=self.skip_frames`` for the
        mean dark. Upstream's zipper writes all-zero darks when it had none: check with
        ``np.any(z.dark)``.
        """
        return self.read_node("exchange/dark")

    @property
    def flood(self) -> NDArray[Any] | None:
        """``exchange/flood`` frames if present, else None."""
        return self.read_node("exchange/flood")

    @property
    def mask(self) -> NDArray[np.bool_] | None:
        """``(n_z, n_y)`` bool, True = bad pixel (stored value 1), or None without a mask."""
        from midas.io.corrections import bad_pixel_mask

        m = self.read_node("exchange/mask")
        return None if m is None else bad_pixel_mask(m)

    def _scan_scalar(self, name: str) -> float | None:
        arr = self.read_node(f"{SCAN_GROUP}/{name}")
        if arr is None or arr.size == 0:
            return None
        return float(np.asarray(arr).ravel()[0])

    @property
    def omega_start_deg(self) -> float | None:
        """``scan_parameters/start``: ω (deg) at the start of archive frame 0, or None."""
        return self._scan_scalar("start")

    @property
    def omega_step_deg(self) -> float | None:
        """``scan_parameters/step``: ω step per frame (deg, signed), or None."""
        return self._scan_scalar("step")

    @property
    def datatype(self) -> str | None:
        """``scan_parameters/datatype`` (e.g. ``'uint16'``), or None."""
        arr = self.read_node(f"{SCAN_GROUP}/datatype")
        if arr is None:
            return None
        v = np.asarray(arr).ravel()[0] if np.asarray(arr).ndim else np.asarray(arr).item()
        return v.decode() if isinstance(v, bytes) else str(v)

    @property
    def skip_frames(self) -> int:
        """``SkipFrame`` from the analysis parameters (0 when absent)."""
        return int(self.analysis_parameters.get("SkipFrame", 0))

    def omega_deg(self, k: int | NDArray[Any]) -> float | NDArray[np.float64]:
        """ω (deg) at the start of archive frame ``k`` (``start + k·step``).

        Raises
        ------
        FormatError
            When the archive has no ``start``/``step``.
        """
        start, step = self.omega_start_deg, self.omega_step_deg
        if start is None or step is None:
            raise FormatError(f"{self.path}: no measurement/process/scan_parameters/start and step")
        if np.ndim(k) == 0:
            return start + int(k) * step
        return start + np.asarray(k, dtype=np.float64) * step

    @property
    def analysis_parameters(self) -> dict[str, Any]:
        """The archive's parameters with canonical keys (see
        :func:`midas.io.midas_zip_params.params_from_archive_nodes`); read once, then cached."""
        if self._params is None:
            nodes: dict[str, NDArray[Any]] = {}
            for path in self.node_paths():
                group = path.rpartition("/")[0]
                if group == ANALYSIS_GROUP or path in (f"{SCAN_GROUP}/step", f"{SCAN_GROUP}/doPeakFit"):
                    arr = self.read_node(path)
                    if arr is not None:
                        nodes[path] = arr
            self._params = params_from_archive_nodes(nodes)
        return dict(self._params)


def open_midas_zip(path: PathLike) -> MidasZip:
    """Open a ``.MIDAS.zip`` lazily (frames are decoded only when asked for).

    Parameters
    ----------
    path : path
        The archive.

    Returns
    -------
    MidasZip
        Use as a context manager (or call ``close()``).

    Raises
    ------
    FormatError
        Missing file, not a ZIP, corrupt ZIP, or no ``exchange/data`` (message names the path).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.MIDAS.zip"
    >>> with MidasZipWriter(out, frame_shape=(4, 5), dtype="uint16", omega_start_deg=180.0,
    ...                     omega_step_deg=-0.25, n_frames=2) as w:
    ...     w.append(np.ones((4, 5), "uint16")); w.append(np.zeros((4, 5), "uint16"))
    >>> with open_midas_zip(out) as z:
    ...     z.n_frames, z.frame_shape, int(z.frame(0).sum()), z.omega_deg(1)
    (2, (4, 5), 20, 179.75)
    """
    return MidasZip(path)


# ---------------------------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------------------------
def _write_once_store(inner: Any) -> Any:
    """Wrap a zarr store: each key may be written once; empty ``.zattrs`` are not written."""
    from zarr.storage import WrapperStore

    class _WriteOnce(WrapperStore):  # type: ignore[type-arg]
        def __init__(self, store: Any) -> None:
            super().__init__(store)
            self._written: set[str] = set()

        async def set(self, key: str, value: Any) -> None:
            if key.rsplit("/", 1)[-1] == ".zattrs" and value.to_bytes().strip() in (b"{}", b""):
                return
            if key in self._written:
                raise RuntimeError(f"internal error: zarr rewrote {key!r}; a ZIP member can only "
                                   f"be written once (this would leave a duplicate member)")
            self._written.add(key)
            await self._store.set(key, value)

        async def set_if_not_exists(self, key: str, value: Any) -> None:
            if key not in self._written:
                await self.set(key, value)

    return _WriteOnce(inner)


def _as_frames(name: str, arr: ArrayLike, frame_shape: tuple[int, int], dtype: np.dtype[Any],
               path: Path) -> NDArray[Any]:
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3 or a.shape[1:] != frame_shape or a.shape[0] == 0:
        raise ParamError(f"{path}: {name} must be (n, {frame_shape[0]}, {frame_shape[1]}) "
                         f"frames, got shape {a.shape}")
    if a.dtype != dtype:
        if a.dtype == np.bool_:
            a = a.astype(dtype)
        else:
            cast = a.astype(dtype)
            if not np.array_equal(cast, a):
                raise ParamError(f"{path}: {name} ({a.dtype}) is not exactly representable in the "
                                 f"archive's pixel type {dtype}; upstream stores {name} in the "
                                 f"data dtype, pass raw frames")
            a = cast
    return a


class MidasZipWriter:
    """Write a ``.MIDAS.zip`` frame by frame (one frame per chunk, in frame order).

    The archive is written to a temporary file in the target folder and renamed onto ``path``
    when the writer closes without error; on any error (or :meth:`abort`) the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path
        Output file, conventionally ``<stem>.analysis.MIDAS.zip``.
    frame_shape : (n_z, n_y)
        Rows and columns of a frame.
    dtype : dtype
        Pixel type, one of :data:`SUPPORTED_DTYPES`.
    omega_start_deg : float
        ω at the start of archive frame 0 (``scan_parameters/start``); from a parameter file this
        is ``OmegaStart - SkipFrame·OmegaStep``.
    omega_step_deg : float
        ω step per frame, signed (``scan_parameters/step``).
    analysis_parameters : mapping, optional
        Canonical parameter key -> value (e.g. a :class:`midas.params.MidasParams`), stored with
        upstream's names and types (:func:`midas.io.midas_zip_params.analysis_parameters_from_params`).
        An ``OmegaStep`` in it must equal ``omega_step_deg``.
    dark : (n_dark, n_z, n_y) or (n_z, n_y) array, optional
        Dark frames, stored in the data dtype (and copied to ``exchange/bright``).
    mask : (n_z, n_y) array, optional
        1 (or True) = bad pixel; stored ``(1, n_z, n_y)`` in the data dtype.
    n_frames : int, optional
        Number of frames that will be appended. Give it when known: frames then go straight into
        the archive. Without it they are buffered compressed in a temporary folder next to
        ``path`` and copied at close (twice the compression work).
    clevel : int, default 3
        zstd level of the frame chunks (upstream's simulator uses 3, its zipper 1).

    Raises
    ------
    ParamError
        Unsupported dtype, bad shapes, inconsistent OmegaStep, bad parameter values.
    FormatError
        The output folder does not exist or is not writable.

    Examples
    --------
    See :func:`open_midas_zip`.
    """

    def __init__(self, path: PathLike, *, frame_shape: tuple[int, int], dtype: DTypeLike,
                 omega_start_deg: float, omega_step_deg: float,
                 analysis_parameters: Mapping[str, Any] | Any | None = None,
                 dark: ArrayLike | None = None, mask: ArrayLike | None = None,
                 n_frames: int | None = None, clevel: int = 3) -> None:
        self.path = Path(path)
        dt = np.dtype(dtype)
        if dt.name not in SUPPORTED_DTYPES:
            raise ParamError(f"{self.path}: pixel type {dt} cannot be stored; upstream's readers "
                             f"understand {', '.join(SUPPORTED_DTYPES)}")
        self._dtype = dt.newbyteorder("<")
        nz, ny = (int(s) for s in frame_shape)
        if nz < 1 or ny < 1:
            raise ParamError(f"{self.path}: frame_shape must be positive, got {frame_shape}")
        self._shape = (nz, ny)
        if n_frames is not None and int(n_frames) < 1:
            raise ParamError(f"{self.path}: n_frames must be >= 1, got {n_frames}")
        self._n_expected = None if n_frames is None else int(n_frames)
        if not 0 <= clevel <= 9:
            raise ParamError(f"{self.path}: clevel must be 0..9, got {clevel}")
        self._clevel = int(clevel)
        self._omega_start = float(omega_start_deg)
        self._omega_step = float(omega_step_deg)
        # Everything that can be wrong with the inputs is checked before a byte is written.
        nodes = analysis_parameters_from_params(analysis_parameters) if analysis_parameters else {}
        step_node = nodes.get(f"{SCAN_GROUP}/step")
        if step_node is not None and float(step_node[0]) != self._omega_step:
            raise ParamError(f"{self.path}: parameters say OmegaStep {float(step_node[0])} but "
                             f"omega_step_deg is {self._omega_step}")
        for reserved in ("start", "datatype"):
            if f"{SCAN_GROUP}/{reserved}" in nodes:
                raise ParamError(f"{self.path}: scan_parameters/{reserved} is written by the writer")
        self._nodes = nodes
        self._dark = None if dark is None else _as_frames("dark", dark, self._shape, self._dtype, self.path)
        if mask is None:
            self._mask = None
        else:
            m = np.asarray(mask)
            if m.ndim == 3 and m.shape[0] == 1:
                m = m[0]
            if m.shape != self._shape:
                raise ParamError(f"{self.path}: mask must be {self._shape}, got {m.shape}")
            if m.dtype != np.bool_ and not np.isin(m, (0, 1)).all():
                raise ParamError(f"{self.path}: mask values must be 0 (good) or 1 (bad)")
            self._mask = (m != 0).astype(self._dtype)[np.newaxis]
        self._count = 0
        self._closed = False
        self._tmp = temp_path_for(self.path)
        self._spill_dir: Path | None = None
        try:
            self._open()
        except BaseException:
            self._cleanup()
            raise

    # -- setup --------------------------------------------------------------------------------
    def _create_frames_array(self, group: Any, name: str, n: int, attributes: bool) -> Any:
        nz, ny = self._shape
        return group.create_array(
            name, shape=(n, nz, ny), chunks=(1, nz, ny), dtype=self._dtype,
            compressors=_frame_compressor(self._clevel), filters=None, fill_value=0, order="C",
            attributes={"_ARRAY_DIMENSIONS": [n, nz, ny]} if attributes else None,
            config={"write_empty_chunks": True})

    def _open(self) -> None:
        import zarr
        from zarr.storage import LocalStore, ZipStore

        self._zip = ZipStore(self._tmp, mode="w")
        self._root = zarr.open_group(_write_once_store(self._zip), mode="w", zarr_format=2)
        self._groups: dict[str, Any] = {}
        self._exchange = self._group("exchange")
        if self._n_expected is not None:
            self._data = self._create_frames_array(self._exchange, "data", self._n_expected, True)
        else:
            self._spill_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".spill",
                                                    dir=self._tmp.parent))
            spill_root = zarr.open_group(LocalStore(self._spill_dir), mode="w", zarr_format=2)
            self._data = self._create_frames_array(spill_root, "data", 2**31 - 1, False)

    def _group(self, path: str) -> Any:
        """The group at ``path``, creating missing levels parent first (member order)."""
        g = self._groups.get(path)
        if g is None:
            parent, _, name = path.rpartition("/")
            g = (self._group(parent) if parent else self._root).require_group(name)
            self._groups[path] = g
        return g

    # -- streaming ------------------------------------------------------------------------------
    @property
    def n_written(self) -> int:
        """Frames appended so far."""
        return self._count

    def append(self, frame: ArrayLike) -> None:
        """Append the next frame.

        Parameters
        ----------
        frame : (n_z, n_y) array
            Same shape as ``frame_shape``; its values must be exactly representable in the
            archive dtype (same dtype, or a lossless conversion).

        Raises
        ------
        FormatError
            Wrong shape or a lossy dtype conversion (message names the frame index), more frames
            than ``n_frames``, or the writer is closed.
        """
        if self._closed:
            raise FormatError(f"{self.path}: writer is closed")
        f = np.asarray(frame)
        if f.shape != self._shape:
            raise FormatError(f"{self.path}: frame {self._count} has shape {f.shape}, expected "
                              f"{self._shape}")
        if f.dtype != self._dtype:
            if not np.can_cast(f.dtype, self._dtype, "safe"):
                cast = f.astype(self._dtype)
                if not np.array_equal(cast, f):
                    raise FormatError(f"{self.path}: frame {self._count} ({f.dtype}) does not fit "
                                      f"the archive pixel type {self._dtype} without loss")
                f = cast
            else:
                f = f.astype(self._dtype)
        if self._n_expected is not None and self._count >= self._n_expected:
            raise FormatError(f"{self.path}: more frames appended than n_frames={self._n_expected}")
        with _blosc_threads():
            self._data[self._count] = f
        self._count += 1

    # -- finishing ------------------------------------------------------------------------------
    def _write_array(self, path: str, arr: NDArray[Any], compressor: Any, chunks: tuple[int, ...]) -> None:
        group_path, _, name = path.rpartition("/")
        group = self._group(group_path) if group_path else self._root
        if arr.ndim == 3 and arr.shape[0] > 1:
            a = group.create_array(name, shape=arr.shape, chunks=chunks, dtype=arr.dtype,
                                   compressors=compressor, filters=None, fill_value=_fill(arr.dtype),
                                   order="C", config={"write_empty_chunks": True})
            with _blosc_threads():
                for k in range(arr.shape[0]):  # one chunk per call keeps members in frame order
                    a[k] = arr[k]
        else:  # one chunk: create and write in one call
            group.create_array(name, data=arr, chunks=chunks, compressors=compressor, filters=None,
                               fill_value=_fill(arr.dtype), order="C",
                               config={"write_empty_chunks": True})

    def _finish(self) -> None:
        n = self._count
        if n == 0:
            raise FormatError(f"{self.path}: no frame was appended; an archive needs at least one")
        if self._n_expected is not None and n != self._n_expected:
            raise FormatError(f"{self.path}: {n} frames appended but n_frames={self._n_expected} "
                              f"was announced")
        if self._n_expected is None:
            spilled = self._data
            self._data = self._create_frames_array(self._exchange, "data", n, True)
            with _blosc_threads():
                for k in range(n):
                    self._data[k] = spilled[k]
        fc = _frame_compressor(self._clevel)
        nz, ny = self._shape
        if self._dark is not None:
            for name in ("dark", "bright"):
                self._write_array(f"exchange/{name}", self._dark, fc, (1, nz, ny))
        if self._mask is not None:
            self._write_array("exchange/mask", self._mask, fc, (1, nz, ny))
        scan = self._group(SCAN_GROUP)
        raw = self._dtype.name.encode()
        dt = scan.create_array("datatype", shape=(), dtype=f"S{len(raw)}", compressors=None,
                               filters=None, fill_value=b"", order="C")
        dt[...] = np.bytes_(raw)
        pc = _param_compressor()
        wrote_step = False
        for path, arr in self._nodes.items():
            self._write_array(path, arr, pc, arr.shape)
            wrote_step |= path == f"{SCAN_GROUP}/step"
        if not wrote_step:
            self._write_array(f"{SCAN_GROUP}/step", np.array([self._omega_step], "<f8"), pc, (1,))
        self._write_array(f"{SCAN_GROUP}/start", np.array([self._omega_start], "<f8"), pc, (1,))

    def close(self) -> None:
        """Finish the archive and move it onto ``path``.

        Raises
        ------
        FormatError
            No frame, or fewer frames than ``n_frames`` (the partial archive is removed).
        """
        if self._closed:
            return
        try:
            self._finish()
            self._zip.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self._cleanup()
            raise
        self._closed = True
        self._remove_spill()
        log.info("wrote %s: %d frames %s x %s %s", self.path, self._count, *self._shape, self._dtype)

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is left untouched."""
        self._cleanup()

    def _remove_spill(self) -> None:
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def _cleanup(self) -> None:
        self._closed = True
        zip_store = getattr(self, "_zip", None)
        if zip_store is not None:
            try:
                zip_store.close()
            except Exception:
                log.debug("closing the temporary archive failed", exc_info=True)
        discard(self._tmp)
        self._remove_spill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def _fill(dtype: np.dtype[Any]) -> Any:
    if dtype.kind == "S":
        return b""
    return 0
