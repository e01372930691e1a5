"""CBF, EDF, mar345 and the other image formats that ``fabio`` reads.

One file may hold several frames (multi-frame EDF); a scan of one file per frame is opened with
:func:`midas.io.frames.open_frames` on the list of files.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["FabioFrames"]


class FabioFrames(FrameSeries):
    """Frames of one image file read by ``fabio`` (CBF, EDF, mar345, MarCCD, Bruker, ...).

    Parameters
    ----------
    path : path
        The image file.

    Raises
    ------
    FormatError
        When fabio cannot read the file or the image is not 2-D.

    Notes
    -----
    ``metadata`` holds ``fabio_class`` and ``header`` (the first frame's header, a dict of str).
    """

    def __init__(self, path: PathLike) -> None:
        import fabio

        p = Path(path)
        if not p.is_file():
            raise FormatError(f"{p}: no such image file")
        try:
            img = fabio.open(str(p))
            data = img.data
        except Exception as exc:  # fabio raises IOError, ValueError, RuntimeError, ...
            raise FormatError(f"{p}: fabio cannot read this image: {exc}") from exc
        if data is None or np.ndim(data) != 2:
            raise FormatError(f"{p}: image data has shape {np.shape(data)}; expected a 2-D frame")
        n = int(getattr(img, "nframes", 1) or 1)
        super().__init__(p, n, data.shape, np.asarray(data).dtype.newbyteorder("="),
                         {"fabio_class": type(img).__name__, "header": dict(img.header)})
        self._img: Any = img
        self._lock = threading.Lock()

    def _read_frame(self, k: int) -> NDArray[Any]:
        with self._lock:
            if self._img is None:
                raise FormatError(f"{self.path}: reader is closed")
            try:
                data = self._img.data if (k == 0 or self.n_frames == 1) else self._img.getframe(k).data
            except Exception as exc:
                raise FormatError(f"{self.path}: cannot read frame {k}: {exc}") from exc
        arr = np.asarray(data)
        if arr.shape != self.frame_shape:
            raise FormatError(f"{self.path}: frame {k} has shape {arr.shape}, frame 0 has "
                              f"{self.frame_shape}")
        return np.array(arr, dtype=self.dtype, copy=True)

    def close(self) -> None:
        with self._lock:
            if self._img is not None:
                close = getattr(self._img, "close", None)
                if close is not None:
                    close()
                self._img = None
