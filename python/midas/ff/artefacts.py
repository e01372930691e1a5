"""Upstream-named files of the FF front half, written for users and for comparison with upstream.

The stages hand their results to each other in memory; these writers produce the files upstream's
programs would have left in the result folder, byte layouts and column orders as in
upstream_facts.md §3.4–§3.8. Every file is written to a temporary name and renamed when complete.

=====================================  ==========================================================
file                                   writer
=====================================  ==========================================================
``Temp/AllPeaks_PS.bin``, ``_PX.bin``  :func:`write_all_peaks_ps`, :func:`write_all_peaks_px`
``Result_StartNr_1_EndNr_<n>.csv``     :func:`write_result_csv`
``MergeMap.csv``                       :func:`write_merge_map`
``Radius_StartNr_1_EndNr_<n>.csv``     :func:`write_radius_csv`
``InputAll.csv`` and friends           :func:`write_fit_setup`
``Spots.bin``, ``ExtraInfo.bin``,      :func:`write_bin_data`
``Data.bin``, ``nData.bin``
=====================================  ==========================================================

Readers for the two binary peak files (:func:`read_all_peaks_ps`, :func:`read_all_peaks_px`) exist
so that upstream's own peak files can be compared with ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.ff.binning import BinnedSpots
from midas.ff.merge import MergedSpots
from midas.ff.peaksearch import PS_COLUMNS, PeakTable
from midas.ff.radius import RingSpots
from midas.ff.setup import FitSetupResult
from midas.io._atomic import atomic_output

__all__ = [
    "write_all_peaks_ps", "write_all_peaks_px", "read_all_peaks_ps", "read_all_peaks_px", "write_result_csv",
    "write_merge_map", "write_radius_csv", "write_fit_setup", "write_bin_data", "write_paramstest",
]

_RESULT_HEADER = ("SpotID IntegratedIntensity Omega(degrees) YCen(px) ZCen(px) IMax MinOme(degrees) "
                  "MaxOme(degress) SigmaR SigmaEta NrPx NrPxTot Radius(px) Eta(degrees) RawSumIntensity "
                  "maskTouched FitRMSE")
_RADIUS_HEADER = ("SpotID IntegratedIntensity Omega(degrees) YCen(px) ZCen(px) IMax MinOme(degrees) "
                  "MaxOme(degress) Radius(px) Theta(degrees) Eta(degrees) DeltaOmega NImgs RingNr GrainVolume "
                  "GrainRadius PowderIntensity SigmaR SigmaEta NrPx NrPxTot RawSumIntensity maskTouched FitRMSE")
_INPUT_ALL_HEADER = "%YLab ZLab Omega GrainRadius SpotID RingNumber Eta Ttheta"
_EXTRA_HEADER = ("%YLab ZLab Omega GrainRadius SpotID RingNumber Eta Ttheta OmegaIni(NoWedgeCorr) "
                 "YOrig(NoWedgeCorr) ZOrig(NoWedgeCorr) YOrig(DetCor) ZOrig(DetCor) OmegaOrig(DetCor) "
                 "IntegratedIntensity(count) RawSumIntensity maskTouched FitRMSE")


def _write_text(path: str | Path, lines: Iterable[str]) -> Path:
    p = Path(path)
    with atomic_output(p) as tmp, open(tmp, "w") as f:
        for line in lines:
            f.write(line)
    return p


def _write_bytes(path: str | Path, chunks: Iterable[bytes | NDArray[Any]]) -> Path:
    p = Path(path)
    with atomic_output(p) as tmp, open(tmp, "wb") as f:
        for c in chunks:
            f.write(c if isinstance(c, bytes) else np.ascontiguousarray(c).tobytes())
    return p


# -- peak search -----------------------------------------------------------------------------------
def write_all_peaks_ps(path: str | Path, peaks: PeakTable) -> Path:
    """``AllPeaks_PS.bin``: int32 nFrames, int32 nPeaks[nFrames], int64 byte offset[nFrames], then
    per frame nPeaks × 29 float64 rows (§3.4).

    Raises
    ------
    FormatError
        When the folder is missing or not writable.
    """
    counts = np.diff(peaks.frame_start).astype("<i4")
    n = peaks.n_frames
    header = 4 + 4 * n + 8 * n
    offsets = header + np.concatenate([[0], np.cumsum(counts.astype(np.int64) * 29 * 8)[:-1]]) if n else \
        np.zeros(0, np.int64)
    return _write_bytes(path, [np.array([n], "<i4"), counts, offsets.astype("<i8"),
                               peaks.rows.astype("<f8")])


def write_all_peaks_px(path: str | Path, peaks: PeakTable) -> Path:
    """``AllPeaks_PX.bin``: int32 nFrames, int32 NrPixels, int32 nPeaks[nFrames], int64 offset[nFrames],
    then per peak int32 nPx and nPx × (int16 y, int16 z): the pixels of the peak's region (§3.4).

    Raises
    ------
    FormatError
        When the folder is missing or not writable.
    """
    n = peaks.n_frames
    counts = np.diff(peaks.frame_start).astype("<i4")
    sizes = np.diff(peaks.region_px_start)[peaks.region]  # pixels per peak
    per_peak_bytes = 4 + 4 * sizes.astype(np.int64)
    frame_bytes = np.bincount(peaks.frame, weights=per_peak_bytes, minlength=n).astype(np.int64)
    header = 4 + 4 + 4 * n + 8 * n
    offsets = header + np.concatenate([[0], np.cumsum(frame_bytes)[:-1]]) if n else np.zeros(0, np.int64)
    nr_pixels = max(peaks.frame_shape) if peaks.frame_shape != (0, 0) else 0

    def body() -> Iterable[bytes]:
        for i in range(len(peaks)):
            px = peaks.pixels(i)
            yield np.array([px.shape[0]], "<i4").tobytes() + px.astype("<i2").tobytes()

    return _write_bytes(path, [np.array([n, nr_pixels], "<i4"), counts, offsets.astype("<i8"), *body()])


def read_all_peaks_ps(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Read ``AllPeaks_PS.bin``: ``(rows (N, 29) float64, frame (N,) int32 0-based)``.

    Raises
    ------
    FormatError
        Truncated or inconsistent file (names the path).
    """
    p = Path(path)
    raw = p.read_bytes()
    try:
        n = int(np.frombuffer(raw, "<i4", 1, 0)[0])
        counts = np.frombuffer(raw, "<i4", n, 4)
        offsets = np.frombuffer(raw, "<i8", n, 4 + 4 * n)
        rows = [np.frombuffer(raw, "<f8", int(c) * len(PS_COLUMNS), int(o)).reshape(-1, len(PS_COLUMNS))
                for c, o in zip(counts, offsets, strict=True)]
    except (ValueError, IndexError) as exc:
        raise FormatError(f"{p}: not a complete AllPeaks_PS.bin: {exc}") from exc
    frame = np.repeat(np.arange(n, dtype=np.int32), counts)
    return (np.concatenate(rows) if rows else np.zeros((0, len(PS_COLUMNS)))), frame


def read_all_peaks_px(path: str | Path) -> tuple[list[NDArray[np.int16]], NDArray[np.int32], int]:
    """Read ``AllPeaks_PX.bin``: (per-peak (n, 2) int16 (y, z) pixel arrays, frame per peak, NrPixels).

    Raises
    ------
    FormatError
        Truncated or inconsistent file (names the path).
    """
    p = Path(path)
    raw = p.read_bytes()
    try:
        n, nr_pixels = (int(v) for v in np.frombuffer(raw, "<i4", 2, 0))
        counts = np.frombuffer(raw, "<i4", n, 8)
        offsets = np.frombuffer(raw, "<i8", n, 8 + 4 * n)
        out: list[NDArray[np.int16]] = []
        for c, o in zip(counts, offsets, strict=True):
            pos = int(o)
            for _ in range(int(c)):
                npx = int(np.frombuffer(raw, "<i4", 1, pos)[0])
                out.append(np.frombuffer(raw, "<i2", 2 * npx, pos + 4).reshape(npx, 2))
                pos += 4 + 4 * npx
    except (ValueError, IndexError) as exc:
        raise FormatError(f"{p}: not a complete AllPeaks_PX.bin: {exc}") from exc
    return out, np.repeat(np.arange(n, dtype=np.int32), counts), nr_pixels


# -- merge, radius -------------------------------------------------------------------------------
def _fmt_rows(rows: NDArray[np.float64], int_cols: Iterable[int] = ()) -> Iterable[str]:
    ints = set(int_cols)
    for r in rows:
        yield " ".join(str(int(v)) if i in ints else f"{v:f}" for i, v in enumerate(r)) + "\n"


def write_result_csv(path: str | Path, merged: MergedSpots) -> Path:
    """``Result_StartNr_<s>_EndNr_<e>.csv`` (17 columns, header as upstream incl. its "degress")."""
    return _write_text(path, [_RESULT_HEADER + "\n", *_fmt_rows(merged.rows, [0])])


def write_merge_map(path: str | Path, merged: MergedSpots) -> Path:
    """``MergeMap.csv``: ``%MergedSpotID\\tFrameNr\\tPeakID``, one row per merged peak (FrameNr 1-based)."""
    mm = merged.merge_map()
    return _write_text(path, ["%MergedSpotID\tFrameNr\tPeakID\n", *(f"{a}\t{b}\t{c}\n" for a, b, c in mm)])


def write_radius_csv(path: str | Path, ring_spots: RingSpots) -> Path:
    """``Radius_StartNr_<s>_EndNr_<e>.csv`` (24 space-separated ``%f`` columns, §3.6)."""
    return _write_text(path, [_RADIUS_HEADER + "\n", *_fmt_rows(ring_spots.rows)])


# -- FitSetup --------------------------------------------------------------------------------------
def _input_all_lines(setup: FitSetupResult, extra: bool) -> Iterable[str]:
    table = setup.extra_info if extra else setup.input_all
    for row, ok in zip(table, setup.kept, strict=True):
        if ok:
            yield " ".join(f"{v:12.5f}" for v in row) + "\n"
        elif extra:
            yield (f"0.000 0.000 0.000 0.0000 {row[4]:12.5f} 0.0000 0.0000 0.0000 0.000 0.000 0.000 0.0000 "
                   f"0.000 0.000 0.0000 0.0000 0.0000 0.0000\n")
        else:
            yield f"0.000 0.000 0.000 0.0000 {row[4]:12.5f} 0.0000 0.0000 0.0000\n"


def _param_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return " ".join(_param_value(x) for x in v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):f}"
    return str(v)


def write_paramstest(path: str | Path, setup: FitSetupResult, *, folder: str | Path | None = None) -> Path:
    """``paramstest.txt``: the indexer/refiner parameters (numeric lines end with ``;``, §3.7).

    ``folder`` makes ``OutputFolder``/``ResultFolder`` absolute (``<folder>/Output``, ``<folder>/Results``).
    """
    values = setup.paramstest()
    if folder is not None:
        values["OutputFolder"] = str(Path(folder) / "Output")
        values["ResultFolder"] = str(Path(folder) / "Results")
    lines = []
    for key, v in values.items():
        if key in ("RingNumbers", "RingRadii", "OmegaRange", "BoxSize"):
            lines += [f"{key} {_param_value(x)};\n" for x in v]
        elif isinstance(v, str):
            lines.append(f"{key} {v}\n")
        else:
            lines.append(f"{key} {_param_value(v)};\n")
    return _write_text(path, lines)


def write_fit_setup(folder: str | Path, setup: FitSetupResult) -> list[Path]:
    """Write FitSetup's files into ``folder``: InputAll.csv, InputAllNoHeader.csv,
    InputAllExtraInfoFittingAll.csv, IDRings.csv, IDsHash.csv, SpotsToIndex.csv, paramstest.txt.

    Raises
    ------
    FormatError
        When the folder is missing or not writable.
    """
    d = Path(folder)
    if not d.is_dir():
        raise FormatError(f"{d}: output folder does not exist")
    out = [
        _write_text(d / "InputAll.csv", [_INPUT_ALL_HEADER + "\n", *_input_all_lines(setup, False)]),
        _write_text(d / "InputAllNoHeader.csv", _input_all_lines(setup, False)),
        _write_text(d / "InputAllExtraInfoFittingAll.csv", [_EXTRA_HEADER + "\n", *_input_all_lines(setup, True)]),
        _write_text(d / "IDRings.csv", ["RingNumber OriginalID NewID(RingsMerge)\n",
                                        *(f"{a} {b} {c}\n" for a, b, c in setup.id_rings)]),
        _write_text(d / "IDsHash.csv", (f"{int(a)} {int(b)} {int(c)} {e:f}\n" for a, b, c, e in setup.ids_hash)),
        _write_text(d / "SpotsToIndex.csv", (f"{i}\n" for i in setup.spots_to_index)),
        write_paramstest(d / "paramstest.txt", setup, folder=d),
    ]
    return out


# -- binning ---------------------------------------------------------------------------------------
def write_bin_data(folder: str | Path, binned: BinnedSpots) -> list[Path]:
    """Write ``Spots.bin``, ``ExtraInfo.bin``, ``Data.bin`` and ``nData.bin`` into ``folder`` (§3.8).

    ``nData.bin`` is upstream's dense (count, offset) int32 table over every (ring, η, ω) cell of
    rings 1..n_ring_bins (e.g. 5 × 3600 × 3600 × 8 B = 518 MB); it is written one ring at a time.

    Raises
    ------
    FormatError
        When the folder is missing or not writable.
    """
    d = Path(folder)
    if not d.is_dir():
        raise FormatError(f"{d}: output folder does not exist")

    def ndata() -> Iterable[NDArray[Any]]:
        for ring in range(1, binned.n_ring_bins + 1):
            counts, offsets = binned.dense_counts(ring)
            pair = np.empty(counts.shape + (2,), dtype="<i4")
            pair[..., 0] = counts
            pair[..., 1] = offsets
            yield pair

    return [
        _write_bytes(d / "Spots.bin", [binned.spots.astype("<f8")]),
        _write_bytes(d / "ExtraInfo.bin", [binned.extra_info.astype("<f8")]),
        _write_bytes(d / "Data.bin", [binned.rows.astype("<i4")]),
        _write_bytes(d / "nData.bin", ndata()),
    ]

