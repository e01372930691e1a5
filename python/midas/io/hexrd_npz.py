"""HEXRD "frame-cache" files: sparse frames in a NumPy ``.npz``.

Layout (as found in HEXRD's examples): scalars ``shape`` = ``[n_rows, n_cols]``, ``nframes``,
``dtype`` (bytes, e.g. ``b'uint16'``), optional ``omega`` ``(nframes, 2)`` = [start, stop] degrees
per frame and ``panel_id``; then, per frame ``i``, three 1-D arrays ``'{i}_row'``, ``'{i}_col'``,
``'{i}_data'`` (COO triplets of the pixels above the threshold the cache was made with; every
other pixel is 0).
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["HexrdFrameCache"]


class HexrdFrameCache(FrameSeries):
    """Frames of a HEXRD frame-cache ``.npz``, densified one frame at a time.

    Parameters
    ----------
    path : path
        The ``.npz`` file.

    Raises
    ------
    FormatError
        When the file is not an ``.npz`` of this layout (missing ``shape``/``nframes`` or a
        frame's triplet), or a frame's coordinates fall outside ``shape``.

    Notes
    -----
    ``metadata`` holds ``omega_deg`` ((nframes, 2) float64 [start, stop] per frame, when present)
    and ``panel_id``. :meth:`sparse_frame` gives the stored triplets without densifying.
    """

    def __init__(self, path: PathLike) -> None:
        p = Path(path)
        if not p.is_file():
            raise FormatError(f"{p}: no such file")
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise FormatError(f"{p}: not a readable .npz file: {exc}") from exc
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise FormatError(f"{p}: holds one array, not a HEXRD frame-cache .npz archive")
        files = set(z.files)
        missing = [k for k in ("shape", "nframes") if k not in files]
        if missing:
            z.close()
            raise FormatError(f"{p}: not a HEXRD frame-cache: keys {missing} are missing "
                              f"(found {sorted(files)[:10]}...)")
        shape = tuple(int(s) for s in np.asarray(z["shape"]).ravel())
        n = int(np.asarray(z["nframes"]))
        if len(shape) != 2 or n < 1:
            z.close()
            raise FormatError(f"{p}: frame-cache shape={shape}, nframes={n}; expected a 2-D "
                              f"shape and at least one frame")
        if "dtype" in files:
            raw = np.asarray(z["dtype"]).item()
            dtype = np.dtype(raw.decode() if isinstance(raw, bytes) else str(raw))
        else:
            dtype = np.dtype(z["0_data"].dtype) if "0_data" in files else np.dtype(np.float64)
        absent = [f"{i}_{c}" for i in (0, n - 1) for c in ("row", "col", "data")
                  if f"{i}_{c}" not in files]
        if absent:
            z.close()
            raise FormatError(f"{p}: frame-cache says nframes={n} but {absent} are missing")
        meta: dict[str, Any] = {}
        if "omega" in files:
            meta["omega_deg"] = np.asarray(z["omega"], dtype=np.float64)
        if "panel_id" in files:
            meta["panel_id"] = str(np.asarray(z["panel_id"]).item())
        super().__init__(p, n, (shape[0], shape[1]), dtype, meta)
        self._z: Any = z
        self._lock = threading.Lock()

    def sparse_frame(self, k: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[Any]]:
        """The stored pixels of frame ``k`` as ``(row, col, value)`` 1-D arrays.

        Raises
        ------
        IndexError
            When ``k`` is out of range.
        FormatError
            When the frame's arrays are missing, of unequal length, or outside the frame.
        """
        k = self._index(k)
        with self._lock:
            if self._z is None:
                raise FormatError(f"{self.path}: reader is closed")
            try:
                row = np.asarray(self._z[f"{k}_row"], dtype=np.intp)
                col = np.asarray(self._z[f"{k}_col"], dtype=np.intp)
                val = np.asarray(self._z[f"{k}_data"])
            except KeyError as exc:
                raise FormatError(f"{self.path}: frame {k} is missing from the cache: {exc}") from exc
        if not row.shape == col.shape == val.shape or row.ndim != 1:
            raise FormatError(f"{self.path}: frame {k}: row/col/data lengths differ "
                              f"({row.shape}, {col.shape}, {val.shape})")
        nz, ny = self.frame_shape
        if row.size and (row.min() < 0 or row.max() >= nz or col.min() < 0 or col.max() >= ny):
            raise FormatError(f"{self.path}: frame {k} has pixels outside the {nz} x {ny} frame")
        return row, col, val

    def _read_frame(self, k: int) -> NDArray[Any]:
        row, col, val = self.sparse_frame(k)
        out = np.zeros(self.frame_shape, dtype=self.dtype)
        out[row, col] = val
        return out

    def close(self) -> None:
        with self._lock:
            if self._z is not None:
                self._z.close()
                self._z = None
