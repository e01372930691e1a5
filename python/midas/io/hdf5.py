"""Frames stored in an HDF5 dataset (``h5py``; compression filters from ``hdf5plugin``).

The dataset is ``(n_frames, n_z, n_y)`` (or one ``(n_z, n_y)`` frame). APS files keep frames in
``exchange/data`` and darks in ``exchange/dark`` (sometimes ``exchange/bright``); HEXRD keeps them in
``imageseries/images``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["HDF5Frames", "list_datasets"]

_MAX_LISTED = 40


def _open_h5(p: Path) -> Any:
    import h5py
    import hdf5plugin  # noqa: F401  (registers Blosc, LZ4, bitshuffle... filters with h5py)

    if not p.is_file():
        raise FormatError(f"{p}: no such HDF5 file")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise FormatError(f"{p}: not a readable HDF5 file: {exc}") from exc


def list_datasets(path: PathLike) -> list[tuple[str, tuple[int, ...], str]]:
    """Every dataset in an HDF5 file as ``(name, shape, dtype)``, in visiting order.

    Raises
    ------
    FormatError
        When the file is not readable HDF5.
    """
    with _open_h5(Path(path)) as f:
        return _datasets(f)


def _datasets(f: Any) -> list[tuple[str, tuple[int, ...], str]]:
    import h5py

    found: list[tuple[str, tuple[int, ...], str]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append((name, tuple(int(s) for s in obj.shape), str(obj.dtype)))

    f.visititems(visit)
    return found


class HDF5Frames(FrameSeries):
    """Frames of one HDF5 dataset, read one frame per call.

    Parameters
    ----------
    path : path
        The HDF5 file.
    dataset : str, default ``"exchange/data"``
        Path of the dataset inside the file (a leading ``/`` is optional).

    Raises
    ------
    FormatError
        When the file is not HDF5, the dataset does not exist (the message lists the datasets
        that do, with shapes), is not 2-D/3-D numeric, or a frame cannot be decoded (missing
        compression filter).

    Notes
    -----
    ``metadata`` holds ``dataset`` (the path used) and ``chunks``.
    """

    def __init__(self, path: PathLike, *, dataset: str = "exchange/data") -> None:
        import h5py

        p = Path(path)
        f = _open_h5(p)
        try:
            name = dataset.strip("/")
            obj = f.get(name)
            if not isinstance(obj, h5py.Dataset):
                present = _datasets(f)
                listing = "\n  ".join(f"{n}  shape={s} dtype={d}" for n, s, d in present[:_MAX_LISTED])
                more = f"\n  ... and {len(present) - _MAX_LISTED} more" if len(present) > _MAX_LISTED else ""
                what = "is a group, not a dataset" if obj is not None else "does not exist"
                raise FormatError(
                    f"{p}: HDF5 dataset {dataset!r} {what}. Datasets in the file:\n  "
                    f"{listing or '(none)'}{more}\nPass the right one (-dataLoc / dataset=...)")
            if obj.ndim not in (2, 3) or obj.dtype.kind not in "uif":
                raise FormatError(f"{p}: HDF5 dataset {name!r} has shape {obj.shape} dtype "
                                  f"{obj.dtype}; expected (n_frames, n_z, n_y) or (n_z, n_y) numbers")
        except BaseException:
            f.close()
            raise
        shape = obj.shape
        n = 1 if obj.ndim == 2 else shape[0]
        super().__init__(p, n, (shape[-2], shape[-1]), obj.dtype.newbyteorder("="),
                         {"dataset": name, "chunks": obj.chunks})
        self._f: Any = f
        self._ds = obj
        self._lock = threading.Lock()

    def _read(self, sel: Any, what: str) -> NDArray[Any]:
        with self._lock:
            if self._f is None:
                raise FormatError(f"{self.path}: reader is closed")
            try:
                arr = self._ds[sel]
            except OSError as exc:  # e.g. a compression filter that is not available
                raise FormatError(f"{self.path}: cannot read {what} of dataset "
                                  f"{self.metadata['dataset']!r}: {exc}") from exc
        return np.asarray(arr, dtype=self.dtype)

    def _read_frame(self, k: int) -> NDArray[Any]:
        if self._ds.ndim == 2:
            return self._read(Ellipsis, "the frame")
        return self._read(k, f"frame {k}")

    def _read_block(self, start: int, stop: int) -> NDArray[Any]:
        if self._ds.ndim == 2:
            return self._read(Ellipsis, "the frame")[np.newaxis]
        return self._read(slice(start, stop), f"frames {start}..{stop - 1}")

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None
