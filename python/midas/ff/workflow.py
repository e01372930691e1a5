"""The FF front half in one call: frames → peaks → merged spots → rings → FitSetup → binned spots.

:func:`run_ff_front` chains :func:`~midas.ff.peaksearch.search_peaks`,
:func:`~midas.ff.merge.merge_peaks`, :func:`~midas.ff.radius.calc_radius`,
:func:`~midas.ff.setup.fit_setup` and :func:`~midas.ff.binning.bin_spots`, passing the typed results
in memory, and writes upstream's files into ``out_dir`` only when one is given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midas.errors import ParamError
from midas.ff.binning import BinnedSpots, bin_spots
from midas.ff.merge import MergedSpots, merge_peaks
from midas.ff.peaksearch import PeakSearchConfig, PeakTable, _get, _last, search_peaks
from midas.ff.radius import RadiusSettings, RingSpots, calc_radius
from midas.ff.setup import FitSetupResult, FitSetupSettings, fit_setup

__all__ = ["FFFrontResult", "run_ff_front"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FFFrontResult:
    """Everything the front half produced, stage by stage.

    Attributes
    ----------
    peaks : PeakTable
    merged : MergedSpots
    ring_spots : RingSpots
    setup : FitSetupResult
        What indexing reads (InputAll table, seeds, IDsHash, paramstest values).
    binned : BinnedSpots
        The (ring, η, ω) look-up of the spots.
    timings_s : dict
        Wall time of each stage, seconds.
    files : list of Path
        Files written (empty without ``out_dir``).
    """

    peaks: PeakTable
    merged: MergedSpots
    ring_spots: RingSpots
    setup: FitSetupResult
    binned: BinnedSpots
    timings_s: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def run_ff_front(data: Any, params: Any = None, *, out_dir: str | Path | None = None, omega_label: str = "centre",
                 n_threads: int | None = None, write_bin_files: bool = True, progress: bool = False,
                 **search_kwargs: Any) -> FFFrontResult:
    """Run peak search, merge, CalcRadius, FitSetup and binning on one scan.

    Parameters
    ----------
    data : path or FrameSeries
        The frames (a ``.MIDAS.zip`` carries its own parameters).
    params : MidasParams, mapping or path, optional
        Parameters; default: the archive's analysis parameters.
    out_dir : path, optional
        When given, upstream's files are written there (``Temp/AllPeaks_PS.bin``, ``_PX.bin``,
        ``Result_*.csv``, ``MergeMap.csv``, ``Radius_*.csv``, ``InputAll*.csv``, ``IDRings.csv``,
        ``IDsHash.csv``, ``SpotsToIndex.csv``, ``paramstest.txt`` and, with ``write_bin_files``,
        ``Spots.bin``, ``ExtraInfo.bin``, ``Data.bin``, ``nData.bin``).
    omega_label : {"centre", "start"}
        Frame ω label (``docs/conventions_ff_front.md``).
    n_threads : int, optional
    write_bin_files : bool
        Also write the binning files (nData.bin is large: 8 bytes per (ring, η, ω) cell).
    progress : bool
    **search_kwargs
        Passed to :func:`midas.ff.peaksearch.search_peaks` (dark, mask, frame_range, ...).

    Returns
    -------
    FFFrontResult

    Raises
    ------
    ParamError, FormatError
        From the stages (bad parameters, unreadable frames, missing output folder).
    """
    from midas.crystal.hkl import hkl_table_from_params
    from midas.io.frames import FrameSeries
    from midas.io.midas_zip import open_midas_zip
    from midas.params import MidasParams, read_params

    t: dict[str, float] = {}
    owned = None
    if not isinstance(data, FrameSeries):
        owned = data = open_midas_zip(data)
    try:
        if params is None:
            if type(data).__name__ != "MidasZip":
                raise ParamError("run_ff_front: give params for frames other than a .MIDAS.zip")
            params = MidasParams.from_mapping(data.analysis_parameters, source=data.path)
        elif isinstance(params, (str, Path)):
            params = read_params(params)
        elif not isinstance(params, MidasParams):
            params = MidasParams.from_mapping(dict(params))
        hkls = hkl_table_from_params(params)
        radii = {int(r): float(x) for r, x in zip(hkls.ring_numbers, hkls.ring_radius_um, strict=True)}
        config = PeakSearchConfig.from_params(params, ring_radius_um=radii)
        t0 = time.perf_counter()
        peaks = search_peaks(data, config, params, omega_label=omega_label, n_threads=n_threads, progress=progress,
                             **search_kwargs)
        t["peak_search"] = time.perf_counter() - t0
    finally:
        if owned is not None:
            owned.close()
    t0 = time.perf_counter()
    merged = merge_peaks(peaks, overlap_length_px=float(_last(_get(params, "OverlapLength", 2.0))),
                         use_pixel_overlap=bool(int(_last(_get(params, "UsePixelOverlap", 0)))),
                         use_maxima_positions=bool(int(_last(_get(params, "UseMaximaPositions", 0)))))
    t["merge"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ring_spots = calc_radius(merged, RadiusSettings.from_params(params, n_frames=peaks.n_frames, hkl_table=hkls))
    t["calc_radius"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    setup = fit_setup(ring_spots, FitSetupSettings.from_params(params, hkl_table=hkls))
    t["fit_setup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    binned = bin_spots(setup)
    t["binning"] = time.perf_counter() - t0
    files: list[Path] = []
    if out_dir is not None:
        files = _write_all(Path(out_dir), peaks, merged, ring_spots, setup, binned, write_bin_files)
    log.info("FF front half: %s", ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    return FFFrontResult(peaks=peaks, merged=merged, ring_spots=ring_spots, setup=setup, binned=binned,
                         timings_s=t, files=files)


def _write_all(out: Path, peaks: PeakTable, merged: MergedSpots, ring_spots: RingSpots, setup: FitSetupResult,
               binned: BinnedSpots, write_bin_files: bool) -> list[Path]:
    from midas.ff import artefacts as a

    (out / "Temp").mkdir(parents=True, exist_ok=True)
    n = peaks.n_frames
    files = [a.write_all_peaks_ps(out / "Temp" / "AllPeaks_PS.bin", peaks),
             a.write_all_peaks_px(out / "Temp" / "AllPeaks_PX.bin", peaks),
             a.write_result_csv(out / f"Result_StartNr_1_EndNr_{n}.csv", merged),
             a.write_merge_map(out / "MergeMap.csv", merged),
             a.write_radius_csv(out / f"Radius_StartNr_1_EndNr_{n}.csv", ring_spots)]
    files += a.write_fit_setup(out, setup)
    if write_bin_files:
        files += a.write_bin_data(out, binned)
    return files
