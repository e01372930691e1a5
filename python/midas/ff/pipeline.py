"""The FF-HEDM workflow (upstream's ``ff_MIDAS.py``), one layer after the other.

Stages, in order (names for ``restart_from``)::

    peaksearch  merge  radius  setup  |  spots  index  grains  |  output
    (front half: midas.ff.peaksearch/merge/radius/setup)  (back half: midas.ff.index/refine/grains)

``spots`` is the spot table the back half reads (from FitSetup, or from the files of
``provide_input_all``) with its seed IDs; ``index`` indexes the seeds and refines the solutions (:func:`midas.ff.index.index_and_refine`);
``grains`` clusters them into grains with strains (:func:`midas.ff.grains.process_grains`);
``output`` writes ``Grains.csv``, ``SpotMatrix.csv``, ``GrainIDsKey.csv``, the consolidated HDF5
and the plots. Stages hand their results to each other in memory; after each one the result is
stored in the layer's checkpoint (``pipeline.h5``), so that a run can resume where it stopped
(``resume``) or recompute from a chosen stage (``restart_from``) and write identical files.
Entry points instead of frames: ``provide_input_all`` (upstream's ``InputAll.csv`` +
``InputAllExtraInfoFittingAll.csv``, or ``Spots.bin`` + ``ExtraInfo.bin``) and ``grains_file``
(refine the grains of a Grains.csv instead of indexing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from midas.errors import FormatError, ParamError

__all__ = ["FRONT_STAGES", "STAGES", "BackHalf", "FFOptions", "LayerResult", "run_ff", "run_layer"]

log = logging.getLogger(__name__)

FRONT_STAGES = ("peaksearch", "merge", "radius", "setup")
BACK_STAGES = ("spots", "index", "grains")
STAGES = FRONT_STAGES + BACK_STAGES + ("output",)


@dataclass(frozen=True, slots=True)
class FFOptions:
    """What ``midas ff`` / ``ff_MIDAS`` was asked to do (upstream flag in brackets).

    Attributes
    ----------
    param_file : Path
        [-paramFN] parameter file.
    result_folder : Path
        [-resultFolder] output folder; layer N goes to ``LayerNr_N/``.
    data_file : Path or None
        [-dataFN] / [-fileName] the ``.MIDAS.zip`` (or raw file with ``convert_files``) of the
        first layer; default: built from RawFolder/FileStem/StartFileNrFirstLayer.
    n_cpus : int or None
        [-nCPUs] threads.
    start_layer, end_layer : int
        [-startLayerNr], [-endLayerNr].
    convert_files : bool
        [-convertFiles] convert raw frames to ``.MIDAS.zip`` first.
    do_peak_search : bool
        [-doPeakSearch] run the front half (0: reuse the layer's checkpoint).
    peak_search_only : bool
        [-peakSearchOnly] stop after the front half.
    num_frame_chunks : int
        [-numFrameChunks] frames read per I/O call in conversion.
    pre_proc_thresh : float
        [-preProcThresh] threshold applied in conversion (-1: off).
    provide_input_all : bool
        [-provideInputAll] start from InputAll.csv (or Spots.bin) in the layer folder.
    raw_dir : Path or None
        [-rawDir] folder of the raw files (overrides RawFolder).
    grains_file : Path or None
        [-grainsFile] refine these grains instead of indexing.
    reprocess : bool
        [-reprocess] recompute the back half from the stored front half.
    resume : Path or None
        [-resume] checkpoint to continue from (default: each layer's ``pipeline.h5``).
    restart_from : str or None
        [-restartFrom] recompute from this stage.
    omega_label : {"centre", "start"}
        Frame ω label of the peak search (frame centre is right; upstream uses the start).
    write_bin_files : bool
        Also write upstream's Spots.bin/ExtraInfo.bin/Data.bin/nData.bin.
    progress : bool
        Progress bars on stderr.
    """

    param_file: Path
    result_folder: Path
    data_file: Path | None = None
    n_cpus: int | None = None
    start_layer: int = 1
    end_layer: int = 1
    convert_files: bool = False
    do_peak_search: bool = True
    peak_search_only: bool = False
    num_frame_chunks: int = 1
    pre_proc_thresh: float = -1.0
    provide_input_all: bool = False
    raw_dir: Path | None = None
    grains_file: Path | None = None
    reprocess: bool = False
    resume: Path | None = None
    restart_from: str | None = None
    omega_label: str = "centre"
    write_bin_files: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        if self.restart_from is not None and self.restart_from not in STAGES:
            raise ParamError(f"-restartFrom {self.restart_from!r}: expected one of {', '.join(STAGES)}")
        if self.start_layer < 1 or self.end_layer < self.start_layer:
            raise ParamError(f"-startLayerNr {self.start_layer} -endLayerNr {self.end_layer}: expected "
                             "1 <= start <= end")
        if self.n_cpus is not None and self.n_cpus < 1:
            raise ParamError(f"-nCPUs {self.n_cpus}: expected >= 1")
        if self.omega_label not in ("centre", "start"):
            raise ParamError(f"omega_label {self.omega_label!r}: expected 'centre' or 'start'")


@dataclass(frozen=True, slots=True)
class LayerResult:
    """What one layer produced.

    Attributes
    ----------
    layer : int
    folder : Path
    grains : GrainSet or None
        None when the run stopped after the front half.
    files : list of Path
        Files written.
    timings_s : dict
        Wall time per stage run in this call (stages loaded from a checkpoint are absent).
    """

    layer: int
    folder: Path
    grains: Any
    files: list[Path] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BackHalf:
    """The back-half settings of one parameter set."""

    index: Any
    refine: Any
    grains: Any
    rings: Any


def back_half_settings(p: Any) -> BackHalf:
    """Indexing, refinement and grain settings and the reference rings of a parameter set.

    Raises
    ------
    ParamError
        A needed key is missing or invalid.
    """
    from midas.crystal import Lattice, hkl_table_from_params
    from midas.ff.grains import GrainConfig
    from midas.ff.index import IndexConfig, param_rings, ring_set
    from midas.ff.refine import RefineConfig

    ic = IndexConfig.from_params(p)
    rc = RefineConfig.from_params(p)
    gc = GrainConfig.from_params(p)
    hk = hkl_table_from_params(p)
    rings = param_rings(p)
    if not rings:
        raise ParamError(f"{getattr(p, 'source', 'parameters')}: no RingThresh (or RingNumbers) lines: "
                         "which rings should be indexed?")
    rs = ring_set(hk, rings, space_group=gc.space_group, lattice=Lattice.from_params(p),
                  rings_not_counted=ic.rings_not_counted)
    return BackHalf(index=ic, refine=rc, grains=gc, rings=rs)


def _spots_from_setup(setup: Any) -> Any:
    from midas.ff.spots import _from_columns

    return _from_columns(np.asarray(setup.input_all), np.asarray(setup.extra_info), "FitSetup")


class _Stage:
    """Wall-clock timer and progress line for one stage."""

    def __init__(self, name: str, timings: dict[str, float]) -> None:
        self.name = name
        self.timings = timings

    def __enter__(self) -> _Stage:  # noqa: PYI034 (a plain helper class)
        self.t0 = time.perf_counter()
        log.info("stage %s ...", self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        dt = time.perf_counter() - self.t0
        self.timings[self.name] = dt
        if exc[0] is None:
            log.info("stage %s done in %.2f s", self.name, dt)


def _layer_data_file(p: Any, opts: FFOptions, layer: int) -> Path:
    """The .MIDAS.zip of a layer (after conversion when asked)."""
    if opts.data_file is not None and layer == opts.start_layer:
        data = Path(opts.data_file)
        if opts.raw_dir is not None and not data.is_absolute():
            data = Path(opts.raw_dir) / data
    else:
        missing = [k for k in ("FileStem", "Ext") if p.get(k, None) is None]
        if missing:
            raise ParamError(f"{getattr(p, 'source', 'parameters')}: no -dataFN for layer {layer} and no "
                             f"{missing} to build its file name")
        nr = int(p.get("StartFileNrFirstLayer", 1) or 1) + (layer - 1) * int(p.get("NrFilesPerSweep", 1) or 1)
        pad = int(p.get("Padding", 6) or 6)
        raw = Path(opts.raw_dir) if opts.raw_dir is not None else Path(str(p.get("RawFolder", ".")))
        data = raw / f"{p.get('FileStem')}_{nr:0{pad}d}{p.get('Ext')}"
    if opts.convert_files:
        return _convert(data, opts, layer)
    if not str(data).endswith(".MIDAS.zip"):
        zipped = Path(opts.result_folder) / f"{data.name}.analysis.MIDAS.zip"
        if zipped.is_file():
            return zipped
    if not data.is_file():
        raise FormatError(f"layer {layer}: data file {data} not found (convert raw files with -convertFiles 1)")
    return data


def _convert(raw: Path, opts: FFOptions, layer: int) -> Path:
    import argparse

    from midas.cli import convert

    out = Path(opts.result_folder) / f"{raw.name}.analysis.MIDAS.zip"
    args = argparse.Namespace(paramFN=str(opts.param_file), dataFN=str(raw), darkFN=None, dataLoc=None,
                              darkLoc=None, maskFN=None, resultFolder=str(opts.result_folder), output=str(out),
                              numFrameChunks=opts.num_frame_chunks, preProcThresh=opts.pre_proc_thresh,
                              numFilesPerScan=1, LayerNr=layer, clevel=3)
    log.info("converting %s -> %s", raw, out)
    convert.run(args)
    return out


def _input_all_spots(folder: Path, result_folder: Path) -> tuple[Any, Any]:
    """Spots (and the seed SpotIDs of SpotsToIndex.csv, or None) of a -provideInputAll run."""
    from midas.ff.spots import read_input_all, read_spots_bin

    for base in (folder, result_folder):
        ia = base / "InputAll.csv"
        sb = base / "Spots.bin"
        if ia.is_file():
            extra = base / "InputAllExtraInfoFittingAll.csv"
            spots = read_input_all(ia, extra if extra.is_file() else None)
        elif sb.is_file():
            ex = base / "ExtraInfo.bin"
            spots = read_spots_bin(sb, ex if ex.is_file() else None)
        else:
            continue
        sti = base / "SpotsToIndex.csv"
        seeds = None
        if sti.is_file():
            try:
                seeds = np.atleast_1d(np.loadtxt(sti, dtype=np.int64))
            except ValueError as exc:
                raise FormatError(f"{sti}: expected one SpotID per line: {exc}") from exc
            log.info("%s: %d seed spots", sti, len(seeds))
        return spots, seeds
    raise FormatError(f"-provideInputAll: no InputAll.csv or Spots.bin in {folder} or {result_folder}")


def run_layer(p: Any, params_text: str, opts: FFOptions, layer: int,
              on_progress: Callable[[str, int, int], None] | None = None) -> LayerResult:
    """Run (or resume) the pipeline on one layer.

    Parameters
    ----------
    p : MidasParams
        Parameters.
    params_text : str
        Their text (stored in the checkpoint; a checkpoint made with other parameters is refused
        unless a restart stage is given).
    opts : FFOptions
    layer : int
    on_progress : callable(stage, done, total), optional
        Progress reports of the long stages.

    Returns
    -------
    LayerResult

    Raises
    ------
    ParamError, FormatError
        Bad parameters, missing inputs, unreadable files.
    """
    from midas.ff.checkpoint import Checkpoint
    from midas.ff.grains import process_grains, refined_grains
    from midas.ff.index import SpotIndex, index_and_refine, select_seeds
    from midas.ff.refine import refine_grains
    from midas.parallel import threads

    folder = Path(opts.result_folder) / f"LayerNr_{layer}"
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(_log_path(folder), mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    mlog = logging.getLogger("midas")
    mlog.addHandler(handler)
    try:
        ck_path = Path(opts.resume) if opts.resume is not None else folder / "pipeline.h5"
        restart = opts.restart_from
        if opts.reprocess and restart is None:
            restart = "index"
        if opts.provide_input_all and restart is None:
            restart = "spots"
        ck = Checkpoint(ck_path, params_text, allow_changed_params=restart is not None)
        if opts.resume is not None and opts.resume != folder / "pipeline.h5":
            ck.path = folder / "pipeline.h5"  # continue into this layer's own checkpoint
        if restart is not None:
            ck.drop_from(STAGES[:-1], restart) if restart != "output" else None
        timings: dict[str, float] = {}
        files: list[Path] = []
        settings = back_half_settings(p)
        if opts.provide_input_all and restart is not None and STAGES.index(restart) <= STAGES.index("spots"):
            ck.drop_from(STAGES[:-1], "spots")
        need_front = "spots" not in ck and not opts.provide_input_all and not all(s in ck for s in FRONT_STAGES)
        if need_front and not opts.do_peak_search:
            raise ParamError(f"-doPeakSearch 0 but {ck.path} holds no front-half results for layer {layer}")
        if need_front:
            files += _front_half(p, opts, layer, ck, folder, timings)
        if opts.peak_search_only:
            return LayerResult(layer, folder, None, files, timings)
        if "spots" not in ck:
            with _Stage("spots", timings):
                if opts.provide_input_all:
                    spots, seed_ids = _input_all_spots(folder, Path(opts.result_folder))
                else:
                    setup = ck.get("setup")
                    spots, seed_ids = _spots_from_setup(setup), np.asarray(setup.spots_to_index)
            ck.save("spots", SpotStage(spots=spots, seed_ids=seed_ids))
        spots = ck.get("spots").spots
        seed_ids = ck.get("spots").seed_ids
        with threads(opts.n_cpus):
            if "index" not in ck:
                with _Stage("index", timings):
                    si = SpotIndex(spots, settings.rings)
                    if opts.grains_file is not None:
                        from midas.io.grains_csv import read_grains_csv

                        start = read_grains_csv(opts.grains_file)
                        ref = refine_grains(si, settings.rings, settings.refine, start.orient_mat, start.pos_um,
                                            start.lattice)
                        search: Any = _FromGrains(grain_id=start.grain_id, refined=ref)
                    else:
                        seeds = (spots.index_of(seed_ids) if seed_ids is not None
                                 else select_seeds(spots, settings.index))
                        total = len(seeds)

                        def prog(done: int) -> None:
                            if on_progress is not None:
                                on_progress("index", done, total)

                        search = index_and_refine(si, settings.rings, settings.index, settings.refine, seeds,
                                                  progress=prog)
                ck.save("index", search)
            search = ck.get("index")
            if "grains" not in ck:
                with _Stage("grains", timings):
                    if isinstance(search, _FromGrains):
                        grains = refined_grains(search.refined, search.grain_id, spots, settings.rings,
                                                settings.grains)
                    else:
                        grains = process_grains(search, spots, settings.rings, settings.grains)
                ck.save("grains", grains)
            grains = ck.get("grains")
        with _Stage("output", timings):
            files += write_outputs(folder, grains, p, ck, spots=spots, settings=settings)
        log.info("layer %d: %d grains; stage times %s", layer, len(grains),
                 ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
        return LayerResult(layer, folder, grains, files, timings)
    finally:
        mlog.removeHandler(handler)
        handler.close()


def _log_path(folder: Path) -> Path:
    d = folder / "midas_log"
    d.mkdir(exist_ok=True)
    return d / "ff_MIDAS.log"


@dataclass(frozen=True, slots=True)
class DataSource:
    """The frames a layer's front half read (kept in the checkpoint for the consolidated file)."""

    path: str


@dataclass(frozen=True, slots=True)
class SpotStage:
    """The ``spots`` stage: the observed spots and the seed SpotIDs (None: select by parameters)."""

    spots: Any
    seed_ids: Any = None


@dataclass(frozen=True, slots=True)
class _FromGrains:
    """Back-half result of ``-grainsFile``: the given grains, refined."""

    grain_id: Any
    refined: Any


def _front_half(p: Any, opts: FFOptions, layer: int, ck: Any, folder: Path, timings: dict[str, float]) -> list[Path]:
    """Run the missing front-half stages, checkpointing each."""
    from midas.crystal import hkl_table_from_params
    from midas.ff import artefacts as a
    from midas.ff.merge import merge_peaks
    from midas.ff.peaksearch import PeakSearchConfig, _get, _last, search_peaks
    from midas.ff.radius import RadiusSettings, calc_radius
    from midas.ff.setup import FitSetupSettings, fit_setup

    files: list[Path] = []
    hkls = hkl_table_from_params(p)
    if "peaksearch" not in ck:
        data = _layer_data_file(p, opts, layer)
        ck.save("source", DataSource(path=str(Path(data).resolve())))
        radii = {int(r): float(x) for r, x in zip(hkls.ring_numbers, hkls.ring_radius_um)}
        config = PeakSearchConfig.from_params(p, ring_radius_um=radii)
        with _Stage("peaksearch", timings):
            peaks = search_peaks(data, config, p, omega_label=opts.omega_label, n_threads=opts.n_cpus,
                                 progress=opts.progress)
        ck.save("peaksearch", peaks)
        (folder / "Temp").mkdir(exist_ok=True)
        files += [a.write_all_peaks_ps(folder / "Temp" / "AllPeaks_PS.bin", peaks),
                  a.write_all_peaks_px(folder / "Temp" / "AllPeaks_PX.bin", peaks)]
    peaks = ck.get("peaksearch")
    if "merge" not in ck:
        with _Stage("merge", timings):
            merged = merge_peaks(peaks, overlap_length_px=float(_last(_get(p, "OverlapLength", 2.0))),
                                 use_pixel_overlap=bool(int(_last(_get(p, "UsePixelOverlap", 0)))),
                                 use_maxima_positions=bool(int(_last(_get(p, "UseMaximaPositions", 0)))))
        ck.save("merge", merged)
        files += [a.write_result_csv(folder / f"Result_StartNr_1_EndNr_{peaks.n_frames}.csv", merged),
                  a.write_merge_map(folder / "MergeMap.csv", merged)]
    merged = ck.get("merge")
    if "radius" not in ck:
        with _Stage("radius", timings):
            ring_spots = calc_radius(merged, RadiusSettings.from_params(p, n_frames=peaks.n_frames, hkl_table=hkls))
        ck.save("radius", ring_spots)
        files.append(a.write_radius_csv(folder / f"Radius_StartNr_1_EndNr_{peaks.n_frames}.csv", ring_spots))
    ring_spots = ck.get("radius")
    if "setup" not in ck:
        with _Stage("setup", timings):
            setup = fit_setup(ring_spots, FitSetupSettings.from_params(p, hkl_table=hkls))
        ck.save("setup", setup)
        files += a.write_fit_setup(folder, setup)
        if opts.write_bin_files:
            from midas.ff.binning import bin_spots

            files += a.write_bin_data(folder, bin_spots(setup))
    return files


def write_outputs(folder: Path, grains: Any, p: Any, ck: Any = None, *, spots: Any = None,
                  settings: BackHalf | None = None) -> list[Path]:
    """Write Grains.csv, SpotMatrix.csv, GrainIDsKey.csv, the consolidated HDF5 and the plots.

    Raises
    ------
    FormatError
        The folder is not writable.
    """
    from midas.ff.consolidated import write_consolidated
    from midas.ff.grains import write_grain_ids_key
    from midas.ff.plots import write_plots
    from midas.io.grains_csv import write_grains_csv
    from midas.io.spot_matrix import write_spot_matrix

    out = [folder / "Grains.csv", folder / "SpotMatrix.csv", folder / "GrainIDsKey.csv"]
    write_grains_csv(out[0], grains.table)
    write_spot_matrix(out[1], grains.spot_matrix)
    write_grain_ids_key(out[2], grains)
    stem = Path(str(p.get("FileStem", "ff") or "ff")).name
    out.append(write_consolidated(folder / f"{stem}_consolidated.h5", p, grains, ck, settings=settings))
    out += write_plots(folder, grains, settings.grains if settings is not None else None)
    return out


def run_ff(opts: FFOptions, on_progress: Callable[[str, int, int], None] | None = None) -> list[LayerResult]:
    """Run the FF workflow on layers ``opts.start_layer..opts.end_layer``.

    Returns
    -------
    list of LayerResult

    Raises
    ------
    ParamError, FormatError
    """
    from midas.params import read_params

    pf = Path(opts.param_file)
    if not pf.is_file():
        raise ParamError(f"-paramFN {pf}: no such file")
    text = pf.read_text()
    p = read_params(pf)
    Path(opts.result_folder).mkdir(parents=True, exist_ok=True)
    results = []
    for layer in range(opts.start_layer, opts.end_layer + 1):
        layer_opts = opts if layer == opts.start_layer else replace(opts, resume=None)
        results.append(run_layer(p, text, layer_opts, layer, on_progress))
    return results

