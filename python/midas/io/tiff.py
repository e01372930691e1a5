"""TIFF frames (single image, multi-page stacks, ImageJ/OME stacks) through ``tifffile``.

A 2-D image is one frame; a 3-D series is ``(n_frames, n_z, n_y)``. A scan stored as one TIFF per
frame is opened with :func:`midas.io.frames.open_frames` on the list of files (see
:func:`midas.io.frames.numbered_file_sequence`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io.frames import FrameSeries, PathLike

__all__ = ["TiffFrames"]


class TiffFrames(FrameSeries):
    """Frames of one TIFF file, read page by page.

    Parameters
    ----------
    path : path
        The TIFF file. Its first image series is read.

    Raises
    ------
    FormatError
        When the file is not a readable TIFF, or its first series is not 2-D or 3-D grey-scale
        (e.g. an RGB image).

    Notes
    -----
    ``metadata`` holds ``series_shape`` and ``n_pages``.
    """

    def __init__(self, path: PathLike) -> None:
        import tifffile

        p = Path(path)
        try:
            tif = tifffile.TiffFile(p)
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise FormatError(f"{p}: not a readable TIFF file: {exc}") from exc
        try:
            if not tif.series:
                raise FormatError(f"{p}: TIFF file holds no image")
            series = tif.series[0]
            shape = tuple(int(s) for s in series.shape)
            squeezed = tuple(s for s in shape[:-2] if s != 1) + shape[-2:]
            if len(squeezed) == 2:
                n = 1
            elif len(squeezed) == 3:
                n = squeezed[0]
            else:
                raise FormatError(f"{p}: first TIFF series has shape {shape} (axes "
                                  f"{series.axes!r}); expected a grey-scale 2-D image or a 3-D "
                                  f"stack of frames")
            if series.axes[-1:] == "S":
                raise FormatError(f"{p}: TIFF holds interleaved colour samples (axes "
                                  f"{series.axes!r}); detector frames must be grey-scale")
        except BaseException:
            tif.close()
            raise
        super().__init__(p, n, (squeezed[-2], squeezed[-1]), series.dtype,
                         {"series_shape": shape, "n_pages": len(tif.pages)})
        self._tif: Any = tif
        self._lock = threading.Lock()
        # One page per frame (multi-page and ImageJ stacks) is read page by page; a stack packed
        # into one page (planar samples, 'SYX') has to be decoded whole, once.
        self._paged = n == 1 or len(series.pages) == n
        self._whole: NDArray[Any] | None = None

    def _read_frame(self, k: int) -> NDArray[Any]:
        with self._lock:
            if self._tif is None:
                raise FormatError(f"{self.path}: reader is closed")
            try:
                if self.n_frames == 1:
                    arr = self._tif.series[0].asarray()
                elif self._paged:
                    arr = self._tif.series[0].asarray(key=k)
                else:
                    if self._whole is None:
                        self._whole = np.asarray(self._tif.series[0].asarray()).reshape(
                            self.shape)
                    arr = self._whole[k]
            except Exception as exc:  # tifffile raises many kinds on corrupt pages
                raise FormatError(f"{self.path}: cannot read frame {k}: {exc}") from exc
        arr = np.asarray(arr).reshape(self.frame_shape)
        return np.array(arr, dtype=self.dtype, copy=True)

    def close(self) -> None:
        with self._lock:
            if self._tif is not None:
                self._tif.close()
                self._tif = None
                self._whole = None
