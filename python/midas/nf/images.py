"""NF image processing: raw frames -> SpotsInfo bitmask (the role of upstream ProcessImagesCombined).

Per detector distance:

1. per-pixel temporal median of all its frames, computed as a stream whose memory does not depend
   on the number of frames (``midas/nf/image_processing.hpp``: an exact multi-pass selection,
   usually two passes over the frames, about 610 MB for 2048² frames; upstream keeps every frame
   in RAM, 12 GB for 1440 frames) — the lower median, element (n−1)/2 of the sorted values;
2. per frame: v = max(0, raw − median − BlanketSubtraction), spatial median filter (MedFiltRadius 1:
   3×3, 2: 5×5, border copied), optionally a Laplacian-of-Gaussian blob mask (DoLoGFilter,
   LoGMaskRadius, GaussFiltRadius), and one bit per remaining pixel at Y = n_y−1−column,
   Z = n_z−1−row (upstream_facts.md §4.8).

Inputs: a TIFF series ``{DataDirectory}/{OrigFileName}_{nr:06d}.{extOrig}`` with file numbers
``L·(NrFilesPerDistance + WFImages) + StartNr + WFImages(L>0) + j`` as upstream, or already reduced
IceNine/MIDAS ``.binN`` files ``{ReducedFileName}_{frame:06d}.bin{L}`` whose pixels are set directly
(``Ice9Input``: Z = n_z − Z, upstream's flag for IceNine files).

Differences from upstream: a frame with no spot pixel gets no bit (upstream sets pixel 2045 of
such frames); the LoG mask is midas' own (pixels inside the negative lobe of the LoG response),
not upstream's edge tracing and flood fill.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._native import core
from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output
from midas.nf.spots_info import SpotsInfo

__all__ = [
    "ReductionSettings",
    "process_tiff_distance",
    "reduce_frames",
    "spots_info_from_nf_bin",
    "temporal_median",
    "tiff_series_paths",
]

log = logging.getLogger(__name__)

FrameSource = Callable[[], Iterable[NDArray[Any]]]


@dataclass(frozen=True, slots=True)
class ReductionSettings:
    """Per-frame reduction settings.

    Attributes
    ----------
    blanket : int
        Counts subtracted after the median (``BlanketSubtraction``).
    median_radius : int
        0: none, 1: 3×3, 2: 5×5 spatial median (``MedFiltRadius``).
    do_log : bool
        Keep only LoG blobs (``DoLoGFilter``).
    log_radius : int
        LoG window half-width, px (``LoGMaskRadius``).
    log_sigma : float
        LoG σ, px (``GaussFiltRadius``).
    """

    blanket: int = 0
    median_radius: int = 1
    do_log: bool = False
    log_radius: int = 10
    log_sigma: float = 4.0

    def __post_init__(self) -> None:
        if self.median_radius not in (0, 1, 2):
            raise ParamError(f"MedFiltRadius = {self.median_radius}, expected 0, 1 (3x3) or 2 (5x5)")
        if self.blanket < 0:
            raise ParamError(f"BlanketSubtraction = {self.blanket}, expected >= 0")
        if self.do_log and (self.log_radius < 1 or not self.log_sigma > 0):
            raise ParamError(f"LoGMaskRadius = {self.log_radius} / GaussFiltRadius = {self.log_sigma}: expected >= 1 and > 0")

    @classmethod
    def from_params(cls, p: Any) -> ReductionSettings:
        """From ``BlanketSubtraction``, ``MedFiltRadius``, ``DoLoGFilter``, ``LoGMaskRadius``,
        ``GaussFiltRadius`` (absent keys take the defaults above)."""
        def val(key: str, default: Any) -> Any:
            v = p.get(key, None)
            return default if v is None else v

        return cls(blanket=int(val("BlanketSubtraction", 0)), median_radius=int(val("MedFiltRadius", 1)),
                   do_log=bool(int(val("DoLoGFilter", 0))), log_radius=int(val("LoGMaskRadius", 10)),
                   log_sigma=float(val("GaussFiltRadius", 4.0)))


def _as_u16(frame: NDArray[Any], shape: tuple[int, int], where: str) -> NDArray[np.uint16]:
    f = np.asarray(frame)
    if f.shape != shape:
        raise FormatError(f"{where}: frame of shape {f.shape}, expected {shape} (NrPixelsZ, NrPixelsY)")
    if f.dtype == np.uint16:
        return np.ascontiguousarray(f)
    if f.dtype.kind in "iu":
        if f.size and (int(f.min()) < 0 or int(f.max()) > 65535):
            raise FormatError(f"{where}: pixel values outside 0..65535 ({f.dtype}); NF processing needs 16-bit data")
        return np.ascontiguousarray(f, dtype=np.uint16)
    raise FormatError(f"{where}: frames of dtype {f.dtype}; NF processing needs unsigned 16-bit integer frames")


def temporal_median(frames: FrameSource, n_frames: int, frame_shape: tuple[int, int], *,
                    progress: Callable[[int], None] | None = None) -> tuple[NDArray[np.uint16], int]:
    """Exact per-pixel lower temporal median of a stream of frames, memory independent of n_frames.

    Parameters
    ----------
    frames : callable
        ``frames()`` returns a fresh iterable over the n_frames frames ((n_z, n_y) 16-bit integer
        arrays); it is called once per pass.
    n_frames : int
        Number of frames the iterable yields.
    frame_shape : (n_z, n_y)
        Frame shape.
    progress : callable, optional
        Called with 1 after each frame read.

    Returns
    -------
    median : (n_z, n_y) uint16
        Element (n−1)/2 of each pixel's sorted values.
    passes : int
        Passes over the frames (2 for a stable background, at most 6).

    Raises
    ------
    FormatError
        When a frame has the wrong shape or dtype, or the source yields a different number of frames.
    """
    shape = (int(frame_shape[0]), int(frame_shape[1]))
    med = core().NfStreamingMedian(shape[0] * shape[1], int(n_frames))
    log.info("temporal median: %d frames of %s, %.0f MB of counters", n_frames, shape, med.memory_bytes / 2**20)
    while not med.done:
        n = 0
        for f in frames():
            med.add_frame(_as_u16(f, shape, f"frame {n}").reshape(-1))
            n += 1
            if progress is not None:
                progress(1)
        if n != n_frames:
            raise FormatError(f"the frame source gave {n} frames in pass {med.passes_done + 1}, expected {n_frames}")
        med.finish_pass()
    return med.median().reshape(shape), int(med.passes_done)


def reduce_frames(frames: Iterable[NDArray[Any]], median: NDArray[np.uint16], spots_info: SpotsInfo, layer: int,
                  settings: ReductionSettings, *, progress: Callable[[int], None] | None = None) -> NDArray[np.int64]:
    """Reduce frames against a median and set their spot bits in ``spots_info`` at ``layer``.

    Returns
    -------
    (n_frames,) int64
        Spot pixels per frame.
    """
    med = np.ascontiguousarray(median, dtype=np.uint16)
    counts = []
    reducer = core().NfFrameReducer(med.shape[0], med.shape[1], settings.blanket, settings.median_radius,
                                    settings.do_log, settings.log_radius, settings.log_sigma)
    for k, f in enumerate(frames):
        n, _ = reducer.reduce(_as_u16(f, med.shape, f"frame {k}"), med, spots_info.words, spots_info.layout,
                              int(layer), k)
        counts.append(n)
        if progress is not None:
            progress(1)
    if len(counts) != spots_info.layout[1]:
        raise FormatError(f"distance {layer}: {len(counts)} frames reduced, the SpotsInfo layout has {spots_info.layout[1]}")
    return np.array(counts, dtype=np.int64)


def tiff_series_paths(data_dir: str | os.PathLike[str], orig_file_name: str, ext: str, layer: int, start_nr: int,
                      n_frames: int, wf_images: int = 0) -> list[Path]:
    """File names of one distance's TIFF series (upstream ProcessImagesCombined numbering).

    File number of frame j of distance L (0-based): ``L·n_frames + start_nr + L·wf_images + j``.
    """
    first = int(layer) * int(n_frames) + int(start_nr) + int(layer) * int(wf_images)
    base = Path(data_dir)
    return [base / f"{orig_file_name}_{first + j:06d}.{ext}" for j in range(int(n_frames))]


def _tiff_source(paths: list[Path]) -> FrameSource:
    def source() -> Iterator[NDArray[Any]]:
        import tifffile

        for p in paths:
            try:
                yield tifffile.imread(p)
            except (OSError, ValueError) as exc:
                raise FormatError(f"{p}: cannot read the TIFF frame: {exc}") from exc
    return source


def process_tiff_distance(paths: list[Path], spots_info: SpotsInfo, layer: int, settings: ReductionSettings, *,
                          median_path: str | os.PathLike[str] | None = None,
                          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Median, reduction and SpotsInfo bits of one distance from its TIFF files.

    Parameters
    ----------
    paths : list of Path
        One TIFF per frame, in frame order (:func:`tiff_series_paths`).
    spots_info : SpotsInfo
        Bitmask to fill (writable); its frame count must equal ``len(paths)``.
    layer : int
        Distance index (0-based).
    settings : ReductionSettings
    median_path : path, optional
        Also write the median image there (raw uint16, upstream's
        ``*_Median_Background_Distance_<L>.bin``).

    Returns
    -------
    dict
        ``passes``, ``median_s``, ``reduce_s``, ``spot_pixels`` (total), ``frames``.

    Raises
    ------
    FormatError
        Missing or unreadable files, wrong frame shape or dtype.
    """
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FormatError(f"NF distance {layer}: {len(missing)} TIFF file(s) missing, first {missing[0]}")
    n_y, n_z = spots_info.layout[2], spots_info.layout[3]
    if len(paths) != spots_info.layout[1]:
        raise ParamError(f"NF distance {layer}: {len(paths)} files for {spots_info.layout[1]} frames")
    source = _tiff_source(paths)
    t0 = time.perf_counter()
    median, passes = temporal_median(source, len(paths), (n_z, n_y), progress=progress)
    t1 = time.perf_counter()
    if median_path is not None:
        with atomic_output(Path(median_path)) as tmp:
            median.tofile(tmp)
    counts = reduce_frames(source(), median, spots_info, layer, settings, progress=progress)
    t2 = time.perf_counter()
    log.info("distance %d: median in %d passes (%.1f s), %d spot pixels in %d frames (%.1f s)",
             layer, passes, t1 - t0, int(counts.sum()), len(paths), t2 - t1)
    return {"passes": passes, "median_s": t1 - t0, "reduce_s": t2 - t1, "spot_pixels": int(counts.sum()),
            "frames": len(paths)}


def spots_info_from_nf_bin(stem: str | os.PathLike[str], first_frame: int, spots_info: SpotsInfo, layer: int, *,
                           ext: str = "bin", ice9: bool = False) -> int:
    """Set the bits of reduced ``.binN`` files ``{stem}_{frame:06d}.{ext}{layer}`` (upstream ReadBinFiles).

    Frames ``first_frame`` .. ``first_frame + n_frames − 1`` map to SpotsInfo frames 0 .. n_frames − 1.
    ``ice9`` applies upstream's IceNine flag Z = n_z − Z.

    Returns
    -------
    int
        Pixels read.

    Raises
    ------
    FormatError
        Missing or malformed files, or pixels outside the detector.
    """
    from midas.io.nf_bin import read_nf_bin

    _, n_frames, n_y, n_z = spots_info.layout
    total = 0
    for j in range(n_frames):
        p = Path(f"{os.fspath(stem)}_{first_frame + j:06d}.{ext}{layer}")
        pk = read_nf_bin(p)
        y = pk.y_px.astype(np.int64)
        z = pk.z_px.astype(np.int64)
        if ice9:
            z = n_z - z
        bad = (y < 0) | (y >= n_y) | (z < 0) | (z >= n_z)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise FormatError(f"{p}: pixel (y={int(y[k])}, z={int(z[k])}) outside the {n_y} x {n_z} detector")
        coords = np.stack([np.full_like(y, layer), np.full_like(y, j), y, z], axis=1)
        spots_info.set_bits(coords)
        total += int(y.size)
    return total
