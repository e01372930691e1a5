"""The NF-HEDM workflow of upstream ``nf_MIDAS.py``: images -> orientation map, or parameter
refinement.

Stages, in order (each logs to ``<result>/midas_log/<stage>.log``; completion is recorded in
``midas_log/nf_state.json`` together with a hash of the parameter file):

``preprocessing``
    ``hkls.csv``; seed orientations (a ``SeedOrientations`` file, ``-ffSeedOrientations 1`` from
    ``GrainsFile``, or a fundamental-zone sampling); ``NrOrientations`` set from the seeds in the
    run's parameter copy ``<result>/<stem>_nf_run.txt``; ``grid.txt`` (hexagon, then ``GridMask``
    or ``TomoImage``/``TomoPixelSize``); ``DiffractionSpots.bin``, ``Key.bin``, ``OrientMat.bin``.
``image_processing`` (``-doImageProcessing 1``)
    ``SpotsInfo.bin`` from the TIFF series (median, filters, bits).
``spots_info``
    With ``-doImageProcessing 0``: reuse ``SpotsInfo.bin`` in the result folder (``PrecomputedSpotsInfo``),
    else build it from a given ``--spots-info`` file (``.bin`` or sparse ``.npz``), else from the
    reduced ``{ReducedFileName}_{frame:06d}.bin{L}`` files (upstream MMapImageInfo).
``fitting``
    ``MicFileBinary`` and ``<MicFileBinary>.AllMatches``, saved after every chunk of grid points
    together with ``<MicFileBinary>.done``, so an interrupted fit resumes where it stopped.
``outputs``
    Text ``.mic`` (``MicFileText``), ``<MicFileText>.map``, ``nf_consolidated.h5``,
    ``<MicFileText>_confidence.png`` and ``<MicFileText>_ipf.png``.

With ``-refineParameters 1`` the ``fitting``/``outputs`` stages are replaced by ``refinement``:
Lsd and BC per distance and the tilts are refined on one grid point (``-multiGridPoints 0``; the
point is given with ``--grid-point x,y`` or asked on stdin) or on the ``GridPoints`` lines of the
parameter file (``-multiGridPoints 1``).

Outputs go to ``OutputDirectory``, falling back to ``DataDirectory``. Every stage is
deterministic, so resuming (``-resume 1``) or restarting from a stage (``-restartFrom``) gives
the same results as a fresh run (the per-point fitting time column aside).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midas.errors import FormatError, MidasError, ParamError
from midas.io._atomic import atomic_output

__all__ = ["STAGES", "PipelineOptions", "result_folder", "run_nf"]

log = logging.getLogger(__name__)

#: Stages of a reconstruction run, in order.
STAGES = ("preprocessing", "image_processing", "spots_info", "fitting", "outputs")
_REFINE_STAGES = ("preprocessing", "image_processing", "spots_info", "refinement")


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """Options of one run (the flags of ``nf_MIDAS.py``).

    Attributes
    ----------
    n_cpus : int or None
        OpenMP threads (``-nCPUs``).
    ff_seed_orientations : bool
        Seeds from the FF ``GrainsFile`` (``-ffSeedOrientations 1``).
    do_image_processing : bool
        Run the image stage (``-doImageProcessing``).
    refine_parameters : bool
        Geometry refinement instead of reconstruction (``-refineParameters``).
    multi_grid_points : bool
        Refinement on the ``GridPoints`` lines (``-multiGridPoints``).
    grid_point_um : (x, y) or None
        Refinement point; asked on stdin when None and needed.
    resume : bool
        Skip the stages already completed for this parameter file (``-resume``).
    restart_from : str or None
        Run from this stage on (``-restartFrom``), reusing the outputs of the earlier ones.
    spots_info_file : path or None
        A SpotsInfo ``.bin`` or sparse ``.npz`` to use when ``do_image_processing`` is off.
    write_params : path or None
        Refinement: write the refined parameter file there.
    polish : bool
        Midas' polish of the best orientation (False: upstream's search only).
    progress : bool or None
        Progress bar for the fitting (None: when stderr is a terminal).
    """

    n_cpus: int | None = None
    ff_seed_orientations: bool = False
    do_image_processing: bool = True
    refine_parameters: bool = False
    multi_grid_points: bool = False
    grid_point_um: tuple[float, float] | None = None
    resume: bool = False
    restart_from: str | None = None
    spots_info_file: str | None = None
    write_params: str | None = None
    polish: bool = True
    progress: bool | None = None
    input_fn: Callable[[str], str] = field(default=input)


def result_folder(p: Any) -> Path:
    """``OutputDirectory``, else ``DataDirectory`` (ParamError when neither is given)."""
    out = p.get("OutputDirectory", None) or p.get("DataDirectory", None)
    if not out:
        raise ParamError(f"{p.where()}: neither OutputDirectory nor DataDirectory is given; "
                         "add 'OutputDirectory /path/for/results'")
    return Path(str(out)).expanduser()


def _data_dir(p: Any) -> Path:
    d = p.get("DataDirectory", None)
    return Path(str(d)).expanduser() if d else result_folder(p)


def _in(folder: Path, name: str) -> Path:
    q = Path(name)
    return q if q.is_absolute() else folder / q


@contextlib.contextmanager
def _stage_log(log_dir: Path, stage: str) -> Iterator[None]:
    """Copy the midas log records of a stage into ``midas_log/<stage>.log``."""
    handler = logging.FileHandler(log_dir / f"{stage}.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("midas")
    old_level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    t0 = time.perf_counter()
    log.info("stage %s started", stage)
    try:
        yield
        log.info("stage %s finished in %.2f s", stage, time.perf_counter() - t0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


class _Run:
    """State of one pipeline run (parameters, folders, stage bookkeeping)."""

    def __init__(self, param_file: str | os.PathLike[str], opts: PipelineOptions) -> None:
        from midas.params import read_params

        self.param_file = Path(param_file)
        self.opts = opts
        self.params = read_params(self.param_file)
        self.out = result_folder(self.params)
        self.out.mkdir(parents=True, exist_ok=True)
        self.data = _data_dir(self.params)
        self.log_dir = self.out / "midas_log"
        self.log_dir.mkdir(exist_ok=True)
        self.state_path = self.log_dir / "nf_state.json"
        self.param_hash = hashlib.sha256(self.param_file.read_bytes()).hexdigest()
        self.run_params_path = self.out / f"{self.param_file.stem}_nf_run.txt"
        self.summary: dict[str, Any] = {"result_folder": str(self.out)}

    # -- bookkeeping -------------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any]:
        if not self.state_path.is_file():
            return {}
        try:
            st = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return st if st.get("param_hash") == self.param_hash else {}

    def mark_done(self, stage: str, info: dict[str, Any]) -> None:
        st = self.load_state() or {"param_hash": self.param_hash, "stages": {}}
        st.setdefault("stages", {})[stage] = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"), **info}
        with atomic_output(self.state_path) as tmp:
            tmp.write_text(json.dumps(st, indent=1, default=str))

    # -- shared objects ----------------------------------------------------------------------------
    def run_params(self) -> Any:
        from midas.params import read_params

        if self.run_params_path.is_file():
            return read_params(self.run_params_path)
        return self.params

    def experiment(self) -> Any:
        from midas.nf.experiment import NFExperiment

        return NFExperiment.from_params(self.run_params())

    def reflections(self) -> Any:
        from midas.nf.experiment import Reflections

        return Reflections.from_params(self.run_params())

    def grid_path(self) -> Path:
        return _in(self.out, str(self.params.get("GridFileName")))

    def spots_info_path(self) -> Path:
        return self.out / "SpotsInfo.bin"

    def symmetry(self) -> Any:
        from midas.crystal import Lattice
        from midas.crystal.symmetry import laue_rotations

        p = self.run_params()
        return laue_rotations(int(p.get("SpaceGroup")), Lattice(*p.get("LatticeConstant")))

    def mic_binary_path(self) -> Path:
        name = self.params.get("MicFileBinary", None)
        if not name:
            raise ParamError(f"{self.params.where()}: MicFileBinary is missing (output of the orientation fit)")
        return _in(self.out, str(name))

    def mic_text_path(self) -> Path:
        name = self.params.get("MicFileText", None)
        if not name:
            raise ParamError(f"{self.params.where()}: MicFileText is missing (text .mic output)")
        return _in(self.out, str(name))


# ------------------------------------------------------------------------------------------------
# stages

def _stage_preprocessing(r: _Run) -> dict[str, Any]:
    from midas.crystal import hkl_table_from_params
    from midas.io.hkls_csv import write_hkls_csv
    from midas.nf.grid import (
        filter_grid_mask,
        filter_grid_tomo,
        make_hex_grid,
        write_grid,
    )
    from midas.nf.seeds import (
        SeedOrientations,
        fundamental_zone_orientations,
        fundamental_zone_spacing_deg,
        read_seed_orientations,
        seeds_from_grains,
        write_seed_orientations,
    )
    from midas.nf.spots import compute_seed_spots, write_seed_spots

    p = r.params
    write_hkls_csv(r.out / "hkls.csv", hkl_table_from_params(p))
    seed_file = p.get("SeedOrientations", None)
    if r.opts.ff_seed_orientations:
        grains = p.get("GrainsFile", None)
        if not grains:
            raise ParamError(f"{p.where()}: -ffSeedOrientations 1 needs GrainsFile (an FF Grains.csv)")
        seeds = seeds_from_grains(_in(r.data, str(grains)))
        # written into the result folder (upstream overwrites SeedOrientations, which may be input data)
        target = r.out / (Path(str(seed_file)).name if seed_file else "SeedOrientations_FF.txt")
        write_seed_orientations(target, seeds)
        source = f"FF grains {grains}"
    elif seed_file:
        seeds = read_seed_orientations(_in(r.data, str(seed_file)))
        target = _in(r.data, str(seed_file))
        source = f"seed file {seed_file}"
    else:
        tol = p.get("OrientTol", None)
        if tol is None:
            raise ParamError(f"{p.where()}: OrientTol is needed to sample seed orientations (no SeedOrientations)")
        spacing = fundamental_zone_spacing_deg(float(tol))
        om = fundamental_zone_orientations(r.symmetry(), spacing)
        lat = np.tile(np.asarray(p.get("LatticeConstant"), dtype=np.float64), (om.shape[0], 1))
        seeds = SeedOrientations(om, lat, np.arange(om.shape[0]))
        target = r.out / "SeedOrientations_FZ.txt"
        write_seed_orientations(target, seeds)
        source = f"fundamental-zone sampling at {spacing:.3f} deg"
    log.info("seeds: %d orientations from %s", len(seeds), source)
    run_p = p.with_values(NrOrientations=len(seeds), SeedOrientations=str(target))
    run_p.write(r.run_params_path)

    rs, gs = p.get("Rsample", None), p.get("GridSize", None)
    if rs is None or gs is None:
        raise ParamError(f"{p.where()}: Rsample and GridSize are needed for the hexagonal grid")
    grid = make_hex_grid(float(rs), float(gs), p.get("EdgeLength", None))
    n_full = grid.shape[0]
    tomo = p.get("TomoImage", None)
    mask = p.get("GridMask", None)
    if tomo:
        px = p.get("TomoPixelSize", None)
        if px is None:
            raise ParamError(f"{p.where()}: TomoImage needs TomoPixelSize (µm)")
        write_grid(r.out / "grid_unfilt.txt", grid)
        grid = filter_grid_tomo(grid, _in(r.data, str(tomo)), float(px))
    elif mask:
        write_grid(r.out / "grid_old.txt", grid)
        grid = filter_grid_mask(grid, mask)
    write_grid(r.grid_path(), grid)
    log.info("grid: %d points (%d before filtering)", grid.shape[0], n_full)

    exp = r.experiment()
    seed_spots = compute_seed_spots(exp, r.reflections(), seeds.orient_mats)
    write_seed_spots(r.out, seed_spots)
    log.info("seed spots: %d spots for %d seeds", seed_spots.spots.shape[0], len(seed_spots))
    return {"seeds": len(seeds), "seed_source": source, "grid_points": int(grid.shape[0]),
            "spots": int(seed_spots.spots.shape[0])}


def _stage_image_processing(r: _Run) -> dict[str, Any]:
    from midas.nf.images import (
        ReductionSettings,
        process_tiff_distance,
        tiff_series_paths,
    )

    p = r.run_params()
    exp = r.experiment()
    settings = ReductionSettings.from_params(p)
    orig = p.get("OrigFileName", None)
    if not orig:
        raise ParamError(f"{p.where()}: OrigFileName is missing (stem of the raw TIFF files)")
    start = p.get("StartNr", None)
    start = 0 if start is None else int(start)
    stats = []
    reduced = str(p.get("ReducedFileName", None) or orig)
    with _new_spots_info(r.spots_info_path(), exp.layout) as si:
        for layer in range(exp.n_layers):
            paths = tiff_series_paths(r.data, str(orig), str(p.get("extOrig")), layer, start, exp.n_frames,
                                      int(p.get("WFImages")))
            median_path = _in(r.out, f"{reduced}_Median_Background_Distance_{layer}.bin")
            median_path.parent.mkdir(parents=True, exist_ok=True)
            with _bar(r, total=None, desc=f"distance {layer}", unit="frame") as bar:
                stats.append(process_tiff_distance(paths, si, layer, settings, median_path=median_path,
                                                   progress=bar))
    return {"distances": stats}


@contextlib.contextmanager
def _bar(r: _Run, *, total: int | None, desc: str, unit: str) -> Iterator[Callable[[int], None]]:
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if r.opts.progress is None else not r.opts.progress
    with tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr) as t:
        yield t.update


@contextlib.contextmanager
def _new_spots_info(target: Path, layout: tuple[int, int, int, int]) -> Iterator[Any]:
    """A new SpotsInfo file built at a temporary name and renamed onto ``target`` on success."""
    from midas.nf.spots_info import SpotsInfo

    tmp = target.with_name(f".{target.name}.part")
    try:
        si = SpotsInfo.create(tmp, layout)
        yield si
        si.flush()
        del si
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stage_spots_info(r: _Run) -> dict[str, Any]:
    from midas.nf.images import spots_info_from_nf_bin
    from midas.nf.spots_info import SpotsInfo

    exp = r.experiment()
    target = r.spots_info_path()
    given = r.opts.spots_info_file
    if given:
        src = Path(given)
        if src.suffix == ".npz":
            with np.load(src) as z:
                coords = np.stack([z["dist"], z["frame"], z["y"], z["z"]], axis=1)
            with _new_spots_info(target, exp.layout) as si:
                si.set_bits(coords)
                n = si.count()
            return {"source": str(src), "bits": n}
        si = SpotsInfo.open(src, exp.layout)
        if src.resolve() != target.resolve():
            si.write(target)
        return {"source": str(src), "bits": si.count()}
    if target.is_file():
        si = SpotsInfo.open(target, exp.layout)
        return {"source": str(target), "bits": si.count()}
    p = r.run_params()
    reduced = p.get("ReducedFileName", None)
    if not reduced:
        raise FormatError(f"{target}: no SpotsInfo.bin in the result folder, no --spots-info file and no "
                          "ReducedFileName to build it from; run with -doImageProcessing 1")
    start = p.get("StartNr", None)
    with _new_spots_info(target, exp.layout) as si:
        n_px = sum(spots_info_from_nf_bin(_in(r.out, str(reduced)), 0 if start is None else int(start), si, layer,
                                          ext=str(p.get("extReduced")), ice9="Ice9Input" in p)
                   for layer in range(exp.n_layers))
    return {"source": f"{reduced}_*.{p.get('extReduced')}N", "pixels": n_px}


def _fit_inputs(r: _Run) -> tuple[Any, ...]:
    from midas.nf.grid import read_grid
    from midas.nf.spots import read_seed_spots
    from midas.nf.spots_info import SpotsInfo

    exp = r.experiment()
    return (exp, r.reflections(), read_seed_spots(r.out), read_grid(r.grid_path()),
            SpotsInfo.open(r.spots_info_path(), exp.layout), r.symmetry())


def _stage_fitting(r: _Run) -> dict[str, Any]:
    from midas.nf.fit import FitResult, FitSettings, fit_orientations
    from midas.nf.mic import write_all_matches, write_mic_binary

    exp, refl, seeds, grid, si, sym = _fit_inputs(r)
    settings = FitSettings.from_params(r.run_params(), polish=r.opts.polish)
    mic_path = r.mic_binary_path()
    am_path = Path(f"{mic_path}.AllMatches")
    done_path = Path(f"{mic_path}.done")
    n = grid.shape[0]
    res = FitResult.empty(n, settings.save_n)
    if done_path.is_file() and mic_path.is_file() and am_path.is_file():
        from midas.nf.mic import read_all_matches, read_mic_binary

        done = np.fromfile(done_path, dtype=np.uint8).astype(bool)
        mic0, am0 = read_mic_binary(mic_path), read_all_matches(am_path, settings.save_n)
        if done.size == n and mic0.shape[0] == n and am0.shape[0] == n:
            res.mic[:] = mic0
            res.all_matches[:] = am0
            res.done[:] = done
            log.info("fitting: resuming, %d of %d points already done", int(done.sum()), n)

    def save(result: FitResult) -> None:
        write_mic_binary(mic_path, result.mic)
        write_all_matches(am_path, result.all_matches)
        with atomic_output(done_path) as tmp:
            result.done.astype(np.uint8).tofile(tmp)

    last = [time.monotonic()]
    with _bar(r, total=n, desc="Fitting orientations", unit="pts") as bar:
        bar(int(res.done.sum()))

        def on_chunk(result: FitResult, rows: Any) -> None:
            bar(len(rows))
            if time.monotonic() - last[0] > 30.0:
                save(result)
                last[0] = time.monotonic()

        res = fit_orientations(exp, refl, seeds, grid, si, sym, settings, result=res, n_threads=r.opts.n_cpus,
                               on_chunk=on_chunk)
    save(res)
    good = res.mic[:, 10] > 0
    log.info("fitting: %d of %d points with a solution, median confidence %.3f, %d objective evaluations",
             int(good.sum()), n, float(np.median(res.mic[good, 10])) if good.any() else 0.0, int(res.n_evals.sum()))
    return {"points": n, "solved": int(good.sum()), "evaluations": int(res.n_evals.sum()),
            "settings": settings.to_dict()}


def _stage_outputs(r: _Run) -> dict[str, Any]:
    import midas
    from midas.crystal.orientation import euler_to_matrix
    from midas.nf.mic import (
        read_all_matches,
        read_mic_binary,
        write_consolidated_h5,
        write_map,
        write_mic_text,
    )
    from midas.nf.plots import (
        orientation_colors,
        plot_confidence_map,
        plot_orientation_map,
    )

    p = r.run_params()
    mic = read_mic_binary(r.mic_binary_path())
    save_n = int(p.get("SaveNSolutions"))
    am = read_all_matches(f"{r.mic_binary_path()}.AllMatches", save_n)
    phase = p.get("PhaseNr", None)
    phase = 1 if phase is None else int(phase)
    gpos = p.get("GlobalPosition", None)
    text = r.mic_text_path()
    write_mic_text(text, mic, num_phases=int(p.get("NumPhases")), phase_nr=phase,
                   global_position_um=0.0 if gpos is None else float(gpos))
    out: dict[str, Any] = {"mic_text": str(text)}
    if not (mic[:, 10] != 0).any():
        log.warning("no grid point has a solution: no map, h5 or plots written")
        return out
    write_map(f"{text}.map", mic, phase_nr=phase)
    om = euler_to_matrix(mic[:, 7:10])
    sg = int(p.get("SpaceGroup"))
    rgb, label = orientation_colors(om, mic[:, 7:10], sg)
    meta = {"midas_version": midas.__version__, "parameter_file": str(r.param_file),
            "parameters": r.param_file.read_text(), "space_group": sg, "ipf_key": label,
            "columns": "OrientationRowNr OrientationID(n_winners) RunTime X Y TriEdgeSize UpDown Eul1 Eul2 Eul3 "
                       "Confidence (Euler in rad)"}
    h5 = write_consolidated_h5(r.out / "nf_consolidated.h5", mic, all_matches=am, orient_mats=om, ipf_rgb=rgb,
                               metadata=meta, phase_nr=phase)
    stem = str(text)
    plot_confidence_map(f"{stem}_confidence.png", mic)
    min_conf = p.get("MinConfidence", None)
    plot_orientation_map(f"{stem}_ipf.png", mic, rgb, label=label, min_confidence=0.0 if min_conf is None else float(min_conf))
    out.update({"map": f"{text}.map", "h5": str(h5), "plots": [f"{stem}_confidence.png", f"{stem}_ipf.png"]})
    return out


def _stage_refinement(r: _Run) -> dict[str, Any]:
    from midas.nf.fit import FitSettings, fit_orientations, refine_geometry
    from midas.nf.grid import grid_triangles
    from midas.nf.simulate import mic_triangles

    exp, refl, seeds, grid, si, sym = _fit_inputs(r)
    p = r.run_params()
    settings = FitSettings.from_params(p, polish=r.opts.polish)
    if r.opts.multi_grid_points:
        rows = p.get_all("GridPoints")
        if not rows:
            raise ParamError(f"{p.where()}: -multiGridPoints 1 needs GridPoints lines (one .mic row each)")
        bad = [i for i, row in enumerate(rows) if len(row) < 10]
        if bad:
            raise ParamError(f"{p.where()}: GridPoints line {bad[0] + 1} has {len(rows[bad[0]])} values, "
                             "expected a .mic row (X, Y in columns 4-5, UpDown 7, Euler 8-10)")
        m = np.array([list(row[:11]) + [1.0] * (11 - min(len(row), 11)) for row in rows], dtype=np.float64)
        if m.shape[1] > 5:
            m[:, 5] = np.where(m[:, 5] > 0, m[:, 5], 2.0 * float(grid[0, 4]))
        tri = mic_triangles(m)
        euler = m[:, 7:10]
        where = f"{len(rows)} GridPoints"
    else:
        if r.opts.grid_point_um is not None:
            xy = r.opts.grid_point_um
        else:
            answer = r.opts.input_fn("Enter the x,y coordinates to optimize (e.g., 1.2,3.4): ")
            try:
                vals = [float(v) for v in answer.replace(" ", "").split(",")]
            except ValueError:
                raise ParamError(f"grid point {answer!r}: expected 'x,y' in µm") from None
            if len(vals) != 2:
                raise ParamError(f"grid point {answer!r}: expected two numbers 'x,y'")
            xy = (vals[0], vals[1])
        row = int(np.argmin((grid[:, 2] - xy[0]) ** 2 + (grid[:, 3] - xy[1]) ** 2))
        res = fit_orientations(exp, refl, seeds, grid, si, sym, settings, rows=[row], n_threads=r.opts.n_cpus)
        if res.mic[row, 10] <= 0:
            raise MidasError(f"grid point #{row + 1} at ({grid[row, 2]:.3f}, {grid[row, 3]:.3f}) µm has no seed "
                             f"orientation with fraction >= MinFracAccept; choose a point inside a grain")
        tri = grid_triangles(grid[row:row + 1])
        euler = res.mic[row:row + 1, 7:10]
        where = f"grid point #{row + 1} ({grid[row, 2]:.4f}, {grid[row, 3]:.4f}) µm, start fraction {res.mic[row, 10]:.4f}"
    bct = p.get("BCTol", None)

    def tol(key: str, default: float) -> float:
        v = p.get(key, None)
        return default if v is None else float(v)

    ref = refine_geometry(exp, refl, tri, euler, si, lsd_tol_um=tol("LsdTol", 500.0),
                          lsd_rel_tol_um=tol("LsdRelativeTol", 3.0),
                          bc_tol_px=(2.0, 0.2) if bct is None else (float(bct[0]), float(bct[1])),
                          tilt_tol_deg=tol("TiltsTol", 1.0), orient_tol_deg=settings.orient_tol_deg,
                          iterations=int(p.get("NumIterations")), n_threads=r.opts.n_cpus)
    det = ref.experiment.detector
    lines = [f"Refined on {where}",
             f"mean fraction: {ref.mean_fraction_start:.6f} -> {ref.mean_fraction:.6f} ({ref.n_evals} evaluations)"]
    for k, (lsd, bc) in enumerate(zip(det.lsd_um, det.bc_px)):
        lines.append(f"distance {k}: Lsd {lsd:.6f} um   BC {bc[0]:.6f} {bc[1]:.6f} px")
    lines.append(f"tilts: tx {det.tx_deg:.6f}  ty {det.ty_deg:.6f}  tz {det.tz_deg:.6f} deg")
    for i, (e, f) in enumerate(zip(ref.euler_rad, ref.fractions)):
        lines.append(f"voxel {i}: Euler {e[0]:.6f} {e[1]:.6f} {e[2]:.6f} rad, fraction {f:.6f}")
    text = "\n".join(lines)
    print("\n" + "=" * 25 + " REFINEMENT RESULTS " + "=" * 25 + "\n" + text + "\n" + "=" * 70)
    (r.log_dir / "refinement_results.txt").write_text(text + "\n")
    out: dict[str, Any] = {"lsd_um": list(det.lsd_um), "bc_px": [list(b) for b in det.bc_px],
                           "tilts_deg": [det.tx_deg, det.ty_deg, det.tz_deg],
                           "mean_fraction_start": ref.mean_fraction_start, "mean_fraction": ref.mean_fraction}
    if r.opts.write_params:
        new = r.params.with_values(Lsd=list(det.lsd_um), BC=[tuple(b) for b in det.bc_px], tx=det.tx_deg,
                                   ty=det.ty_deg, tz=det.tz_deg)
        new.write(r.opts.write_params)
        out["written"] = str(r.opts.write_params)
        print(f"refined parameters written to {r.opts.write_params}")
    return out


_STAGE_FUNCS: dict[str, Callable[[_Run], dict[str, Any]]] = {
    "preprocessing": _stage_preprocessing,
    "image_processing": _stage_image_processing,
    "spots_info": _stage_spots_info,
    "fitting": _stage_fitting,
    "outputs": _stage_outputs,
    "refinement": _stage_refinement,
}


def run_nf(param_file: str | os.PathLike[str], options: PipelineOptions | None = None) -> dict[str, Any]:
    """Run the NF workflow on a parameter file (see the module text for the stages).

    Parameters
    ----------
    param_file : path
        NF parameter file.
    options : PipelineOptions, optional
        Flags of the run.

    Returns
    -------
    dict
        ``result_folder``, and per stage run its summary (seconds, counts, output files).

    Raises
    ------
    ParamError
        Missing or inconsistent parameters, unknown ``restart_from`` stage.
    FormatError
        Missing or malformed input files.
    """
    opts = options or PipelineOptions()
    r = _Run(param_file, opts)
    stages = _REFINE_STAGES if opts.refine_parameters else STAGES
    if opts.restart_from is not None and opts.restart_from not in stages:
        raise ParamError(f"-restartFrom {opts.restart_from!r}: expected one of {', '.join(stages)}")
    state = r.load_state().get("stages", {}) if opts.resume else {}
    start = stages.index(opts.restart_from) if opts.restart_from else 0
    for i, stage in enumerate(stages):
        if stage == "image_processing" and not opts.do_image_processing:
            continue
        if stage == "spots_info" and opts.do_image_processing:
            continue
        if i < start or (opts.resume and stage in state and stage != "refinement"):
            log.info("stage %s: skipped (%s)", stage, "before -restartFrom" if i < start else "already done")
            continue
        if stage == "fitting" and not opts.resume:
            # a fresh fit: drop a previous run's partial progress
            for suffix in (".done",):
                Path(f"{r.mic_binary_path()}{suffix}").unlink(missing_ok=True)
        t0 = time.perf_counter()
        with _stage_log(r.log_dir, stage):
            info = _STAGE_FUNCS[stage](r)
        info["seconds"] = round(time.perf_counter() - t0, 3)
        r.summary[stage] = info
        r.mark_done(stage, info)
    return r.summary
