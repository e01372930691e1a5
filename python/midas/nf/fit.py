"""NF orientation fitting (the role of upstream FitOrientationOMP) and geometry refinement
(FitOrientationParameters / FitOrientationParametersMultiPoint).

Per grid point: screen every seed by the fraction of its footprint confirmed by the bitmask
(a pixel counts only when set at every distance), refine the winners with NLopt Nelder–Mead on the
Euler angles within ±OrientTol, then polish the best (midas extension, see
``cpp/include/midas/nf/fit_orientation.hpp``) and keep up to SaveNSolutions distinct solutions.
The C++ kernel runs OpenMP over grid points; each point is computed independently, so results do
not depend on the number of threads. Rows are processed in chunks so that progress can be shown
and partial results saved.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import ParamError
from midas.nf.experiment import NFExperiment, Reflections
from midas.nf.spots import SeedSpots
from midas.nf.spots_info import SpotsInfo
from midas.parallel import threads

__all__ = [
    "MIC_COLUMNS",
    "FitResult",
    "FitSettings",
    "GeometryRefinement",
    "all_matches_width",
    "fit_orientations",
    "refine_geometry",
]

log = logging.getLogger(__name__)

#: Columns of a MicFileBinary row (upstream_facts.md §3.13). Column 1 is the number of screening
#: winners (upstream calls it OrientationID); Euler angles are Bunge ZXZ in radians.
MIC_COLUMNS = ("OrientationRowNr", "OrientationID", "RunTime", "X", "Y", "TriEdgeSize", "UpDown",
               "Eul1", "Eul2", "Eul3", "Confidence")


def all_matches_width(save_n: int) -> int:
    """Values per ``.AllMatches`` row: 7 + 4·SaveNSolutions."""
    return 7 + 4 * int(save_n)


@dataclass(frozen=True, slots=True)
class FitSettings:
    """Settings of the orientation fit.

    Attributes
    ----------
    min_frac_accept : float
        Screening threshold (``MinFracAccept``).
    orient_tol_deg : float
        Nelder–Mead box half-width on each Euler angle (``OrientTol``).
    save_n : int
        Solutions kept per point (``SaveNSolutions``).
    min_miso_deg : float
        Solutions closer than this to a better kept one are dropped (``MinMisoNSaves``, default 1).
    max_eval : int
        Nelder–Mead evaluation budget per run (upstream's 5000).
    search_step_deg : float or None
        Initial simplex step of the search's Nelder–Mead on each winner. 0: NLopt's default from
        the ±OrientTol box (upstream's: a quarter of the box width, 1° for OrientTol 2). None (default):
        0.25° when ``polish`` is on (the search only has to reach the right basin, the polish does
        the fine work: about 20 % fewer evaluations on upstream's Au example at equal accuracy),
        NLopt's default when it is off.
    polish : bool
        Run the polish stages (soft stage and plateau centring) on each point's best solution;
        False (with the default ``search_step_deg``) reproduces upstream's search exactly
        (``midas nf -polish 0``).
    polish_min_frac : float
        Polish only points whose best fraction reaches this (default 0.5).
    soft_step_deg, polish_step_deg : float
        Initial simplex steps of the soft stage and of the exact run after it.
    centre_sweeps : int
        Passes of the plateau centring over the three axes.
    plateau_tol_deg : float
        Resolution of the plateau edges.
    """

    min_frac_accept: float = 0.5
    orient_tol_deg: float = 2.0
    save_n: int = 1
    min_miso_deg: float = 1.0
    max_eval: int = 5000
    search_step_deg: float | None = None
    polish: bool = True
    polish_min_frac: float = 0.5
    soft_step_deg: float = 0.1
    polish_step_deg: float = 0.02
    centre_sweeps: int = 1
    plateau_tol_deg: float = 5.7e-4

    def __post_init__(self) -> None:
        if not (0.0 <= self.min_frac_accept <= 1.0):
            raise ParamError(f"MinFracAccept = {self.min_frac_accept}, expected in [0, 1]")
        if not (self.orient_tol_deg > 0 and math.isfinite(self.orient_tol_deg)):
            raise ParamError(f"OrientTol = {self.orient_tol_deg}, expected > 0 deg")
        if int(self.save_n) < 1:
            raise ParamError(f"SaveNSolutions = {self.save_n}, expected >= 1")
        if int(self.max_eval) < 10:
            raise ParamError(f"max_eval = {self.max_eval}, expected >= 10")
        if self.search_step_deg is not None and not (0.0 <= self.search_step_deg <= 2.0 * self.orient_tol_deg):
            raise ParamError(f"search_step_deg = {self.search_step_deg}, expected None or in [0, 2·OrientTol]")
        if int(self.centre_sweeps) < 0 or not (self.plateau_tol_deg > 0):
            raise ParamError("centre_sweeps must be >= 0 and plateau_tol_deg > 0")

    @classmethod
    def from_params(cls, p: Any, *, polish: bool = True) -> FitSettings:
        """Settings of an NF parameter file (``MinFracAccept``, ``OrientTol``, ``SaveNSolutions``,
        ``MinMisoNSaves``); ``polish`` switches the midas polish stages.

        Raises
        ------
        ParamError
            When ``OrientTol`` is missing or a value is out of range.
        """
        tol = p.get("OrientTol", None)
        if tol is None:
            raise ParamError(f"{p.where() if hasattr(p, 'where') else 'parameters'}: OrientTol is missing "
                             "(Nelder–Mead search half-width on the Euler angles, deg)")
        miso = p.get("MinMisoNSaves", None)
        return cls(
            min_frac_accept=float(p.get("MinFracAccept")),
            orient_tol_deg=float(tol),
            save_n=int(p.get("SaveNSolutions")),
            min_miso_deg=1.0 if miso is None else float(miso),
            polish=bool(polish),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)

    @property
    def resolved_search_step_deg(self) -> float:
        """The search's initial simplex step in degrees (0 = NLopt's default), ``None`` resolved."""
        if self.search_step_deg is not None:
            return float(self.search_step_deg)
        return 0.25 if self.polish else 0.0


@dataclass(frozen=True, slots=True)
class FitResult:
    """Result of fitting grid points.

    Attributes
    ----------
    mic : (N, 11) float64
        MicFileBinary rows (see :data:`MIC_COLUMNS`); all zero for points not fitted or without a
        screening winner.
    all_matches : (N, 7 + 4·save_n) float64
        ``.AllMatches`` rows: [block, n_winners, 0, X, Y, edge, UD, (Eul1, Eul2, Eul3, fraction)...].
    n_evals : (N,) int32
        Objective evaluations per point.
    done : (N,) bool
        Points processed.
    """

    mic: NDArray[np.float64]
    all_matches: NDArray[np.float64]
    n_evals: NDArray[np.int32]
    done: NDArray[np.bool_]

    @classmethod
    def empty(cls, n_points: int, save_n: int) -> FitResult:
        """Zero-filled result for n_points grid points."""
        return cls(np.zeros((n_points, 11)), np.zeros((n_points, all_matches_width(save_n))),
                   np.zeros(n_points, dtype=np.int32), np.zeros(n_points, dtype=bool))


def fit_orientations(
    experiment: NFExperiment,
    reflections: Reflections,
    seeds: SeedSpots,
    grid: ArrayLike,
    spots_info: SpotsInfo,
    symmetry: ArrayLike,
    settings: FitSettings,
    *,
    rows: Iterable[int] | None = None,
    result: FitResult | None = None,
    n_threads: int | None = None,
    chunk: int | None = None,
    on_chunk: Callable[[FitResult, NDArray[np.int64]], None] | None = None,
) -> FitResult:
    """Fit the orientation of grid points.

    Parameters
    ----------
    experiment : NFExperiment
        Detector, scan, spot filters.
    reflections : Reflections
        Reflections of the forward model.
    seeds : SeedSpots
        Seed orientations and their spots.
    grid : (N, 5) float64
        Grid rows (y1, y2, xs, ys, gs).
    spots_info : SpotsInfo
        The observation bitmask; its layout must be ``experiment.layout``.
    symmetry : (M, 3, 3) float64
        Laue-group rotations (crystal frame) for the SaveNSolutions misorientation.
    settings : FitSettings
        Search settings.
    rows : iterable of int, optional
        Grid rows to fit (default all not yet ``done`` in ``result``).
    result : FitResult, optional
        Result to continue (resume); a new one is made otherwise.
    n_threads : int, optional
        OpenMP threads (default: current setting).
    chunk : int, optional
        Rows per kernel call (default 64 per thread: fewer end-of-call waits for the slowest point);
        ``on_chunk`` is called after each.
    on_chunk : callable, optional
        ``on_chunk(result, rows_done)`` after every chunk (progress bars, checkpoints).

    Returns
    -------
    FitResult

    Raises
    ------
    ParamError
        When the bitmask layout does not match the experiment, or inputs are inconsistent.
    """
    g = np.ascontiguousarray(grid, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 5:
        raise ParamError(f"grid of shape {g.shape}: expected (N, 5)")
    if tuple(spots_info.layout) != tuple(experiment.layout):
        raise ParamError(f"SpotsInfo layout {spots_info.layout} does not match the experiment {experiment.layout}")
    n = g.shape[0]
    res = result if result is not None else FitResult.empty(n, settings.save_n)
    if res.mic.shape[0] != n or res.all_matches.shape[1] != all_matches_width(settings.save_n):
        raise ParamError("fit result to continue does not match the grid size or SaveNSolutions")
    todo = np.flatnonzero(~res.done) if rows is None else np.unique(np.asarray(list(rows), dtype=np.int64))
    if todo.size and (todo.min() < 0 or todo.max() >= n):
        raise ParamError(f"rows outside the grid of {n} points")
    sym = np.ascontiguousarray(symmetry, dtype=np.float64).reshape(-1, 3, 3)
    exp_c, hkl_c = experiment._core(), reflections._core()
    s = settings
    c = core()
    with threads(n_threads):
        bits = c.NfBitTable(spots_info.words, spots_info.layout)  # cache-friendly copy of the set words
        step = chunk or max(1, 64 * c.max_threads())
        # contiguous runs of rows go to the kernel together
        for start in range(0, todo.size, step):
            part = todo[start:start + step]
            for run in np.split(part, np.flatnonzero(np.diff(part) != 1) + 1):
                if run.size == 0:
                    continue
                c.nf_fit_grid(
                    exp_c, hkl_c, seeds.orient_mats, seeds.key, seeds.spots, g, int(run[0]), int(run[-1]) + 1,
                    bits, sym, s.min_frac_accept, s.orient_tol_deg, s.save_n,
                    s.min_miso_deg, s.max_eval, s.resolved_search_step_deg, s.polish, s.polish_min_frac, s.soft_step_deg, s.polish_step_deg,
                    s.centre_sweeps, s.plateau_tol_deg, res.mic, res.all_matches, res.n_evals,
                )
            res.done[part] = True
            if on_chunk is not None:
                on_chunk(res, part)
    return res


@dataclass(frozen=True, slots=True)
class GeometryRefinement:
    """Result of the NF geometry refinement.

    Attributes
    ----------
    experiment : NFExperiment
        The experiment with refined Lsd, BC per distance and tilts.
    euler_rad : (K, 3) float64
        Refined orientation of each voxel used.
    fractions : (K,) float64
        Final footprint fraction of each voxel.
    mean_fraction_start, mean_fraction : float
        Mean fraction before and after.
    n_evals : int
        Objective evaluations.
    """

    experiment: NFExperiment
    euler_rad: NDArray[np.float64]
    fractions: NDArray[np.float64]
    mean_fraction_start: float
    mean_fraction: float
    n_evals: int


def refine_geometry(
    experiment: NFExperiment,
    reflections: Reflections,
    triangles: ArrayLike,
    euler_rad: ArrayLike,
    spots_info: SpotsInfo,
    *,
    lsd_tol_um: float = 500.0,
    lsd_rel_tol_um: float = 3.0,
    bc_tol_px: tuple[float, float] = (2.0, 0.2),
    tilt_tol_deg: float = 1.0,
    orient_tol_deg: float = 2.0,
    iterations: int = 3,
    max_eval: int = 5000,
    n_threads: int | None = None,
) -> GeometryRefinement:
    """Refine Lsd and BC per distance and the tilts on voxels of known approximate orientation.

    Maximises the mean footprint fraction of the voxels jointly over the tilts (±tilt_tol),
    Lsd[0] (±lsd_tol), every Lsd[i] − Lsd[i−1] (±lsd_rel_tol), BC per distance (±bc_tol) and each
    voxel's Euler angles (±orient_tol), with Nelder–Mead restarted ``iterations`` times from the
    best point (upstream FitOrientationParameters, ``LsdTol``, ``LsdRelativeTol``, ``BCTol``,
    ``TiltsTol``, ``OrientTol``, ``NumIterations``; upstream also runs global CRS2/ISRES stages,
    which midas leaves out to stay deterministic).

    Parameters
    ----------
    experiment : NFExperiment
        Starting geometry.
    reflections : Reflections
        Reflections of the forward model.
    triangles : (K, 7) float64
        Voxel triangles (:func:`midas.nf.grid.grid_triangles`).
    euler_rad : (K, 3) float64
        Starting Bunge Euler angles of the voxels.
    spots_info : SpotsInfo
        Observation bitmask.

    Returns
    -------
    GeometryRefinement
    """
    tri = np.ascontiguousarray(triangles, dtype=np.float64).reshape(-1, 7)
    eul = np.ascontiguousarray(euler_rad, dtype=np.float64).reshape(-1, 3)
    if tri.shape[0] == 0 or eul.shape[0] != tri.shape[0]:
        raise ParamError(f"refine_geometry: {tri.shape[0]} voxels and {eul.shape[0]} Euler triplets; "
                         "expected the same non-zero number")
    with threads(n_threads):
        r = core().nf_refine_geometry(
            experiment._core(), reflections.g_crystal, reflections.theta_deg, tri, eul, spots_info.words,
            spots_info.layout, float(lsd_tol_um), float(lsd_rel_tol_um), float(bc_tol_px[0]), float(bc_tol_px[1]),
            float(tilt_tol_deg), float(orient_tol_deg), int(iterations), int(max_eval),
        )
    refined = experiment.with_geometry(
        lsd_um=tuple(r["lsd_um"]), bc_px=tuple(zip(r["ybc_px"], r["zbc_px"])), tilts_deg=tuple(r["tilts_deg"]),
    )
    return GeometryRefinement(refined, np.asarray(r["euler_rad"]), np.asarray(r["fractions"]),
                              float(r["mean_fraction_start"]), float(r["mean_fraction"]), int(r["n_evals"]))
