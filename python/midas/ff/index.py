"""FF indexing: the orientation and position of the grain behind each seed spot.

The role of upstream's ``IndexerOMP`` (upstream_facts.md §4.5; fact 15 for the tolerances),
computed by the C++ kernel ``cpp/include/midas/ff/index_search.hpp`` (OpenMP over seeds):

* seeds: spots of ``OverAllRingToIndex`` with ``MinOmeSpotIDsToIndex <= ω <= MaxOmeSpotIDsToIndex``;
* plane normals from Friedel pairs (``UseFriedelPairs``), falling back to the arc search for a seed
  without a Friedel mate (upstream abandons such seeds);
* orientations: rotations about the plane normal in ``StepSizeOrient`` steps, for each orbit of
  the ring's reflections under the Laue group's proper rotations, over 360° / (order of the
  reflection's stabiliser);
* the grain position along the seed's diffracted ray: the best point is found exactly over the
  ray (inside ``Rsample``/``Hbeam``) rather than in ``StepSizePos`` steps;
* matching with upstream's tolerance semantics (``MarginOme`` + ½·StepSizeOrient/|sin η|,
  ``MarginEta`` as arc length, ``MarginRadial``, ``MarginRadius``) and acceptance when
  nMatched ≥ ``Completeness`` × nExpected; the best solutions per seed are kept.

:func:`index_and_refine` runs indexing in deterministic batches, refines the accepted solutions
(:mod:`midas.ff.refine`) and skips later seeds already explained by a refined grain.
Frames and signs: ``docs/conventions.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._native import core
from midas.errors import ParamError
from midas.ff.spots import ObservedSpots
from midas.parallel import threads

__all__ = [
    "IndexConfig",
    "IndexResult",
    "RingSet",
    "SearchResult",
    "SpotIndex",
    "index_and_refine",
    "index_seeds",
    "ring_set",
    "select_seeds",
]

log = logging.getLogger(__name__)


def _need(p: Any, key: str, where: str, cast: Callable[[Any], Any] = float) -> Any:
    v = p.get(key, None)
    if v is None:
        raise ParamError(f"parameter {key} is missing{where}: needed for indexing")
    try:
        return cast(v)
    except (TypeError, ValueError):
        raise ParamError(f"parameter {key} = {v!r}{where}: expected a number") from None


def _lines(p: Any, key: str) -> list[Any]:
    v = p.get(key, None)
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _tuples(d: Any) -> dict[str, Any]:
    """A config mapping with its list values turned back into (nested) tuples."""
    return {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
            for k, v in dict(d).items()}


def concat_csr(parts: Sequence[Any], cls: Any, per_item: tuple[str, ...], offsets: str) -> Any:
    """Concatenate results whose fields are per-row arrays plus CSR lists (``per_item`` fields
    indexed by ``offsets``)."""
    offs = [np.zeros(1, np.int64)]
    base = 0
    for p in parts:
        offs.append(np.asarray(getattr(p, offsets))[1:] + base)
        base += int(getattr(p, offsets)[-1])
    kw: dict[str, Any] = {}
    for f in fields(cls):
        kw[f.name] = (np.concatenate(offs) if f.name == offsets
                      else np.concatenate([getattr(p, f.name) for p in parts]))
    return cls(**kw)


def param_rings(p: Any) -> tuple[int, ...]:
    """Rings used by the analysis: ``RingThresh`` rings, else ``RingNumbers`` lines, in file order,
    without ``RingsToExclude`` rings."""
    rings = [int(r[0]) for r in _lines(p, "RingThresh")]
    if not rings:
        rings = [int(r) for r in _lines(p, "RingNumbers")]
    excluded = {int(r) for r in _lines(p, "RingsToExclude")}
    out: list[int] = []
    for r in rings:
        if r not in excluded and r not in out:
            out.append(r)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Indexing settings (upstream key in brackets).

    Attributes
    ----------
    wavelength_A, lsd_um : float
        [Wavelength], [Lsd / Distance].
    rsample_um, hbeam_um : float
        Sample extent: in-plane radius ≤ Rsample, |z| ≤ Hbeam/2.
    position_slack_um : float
        Added to both limits when searching along the seed ray, whose position is only as
        accurate as the seed spot (upstream adds 20 µm to Rsample only). Default 100 µm.
    step_pos_um : float
        [StepSizePos] arc spacing of the fallback search (µm).
    step_orient_deg : float
        [StepSizeOrient].
    margin_eta_um, margin_ome_deg, margin_radial_um, margin_radius_um : float
        [MarginEta] (arc length), [MarginOme], [MarginRadial], [MarginRadius] (≤ 0 disables the
        grain-radius test).
    completeness : float
        [Completeness / MinMatchesToAcceptFrac], in (0, 1].
    min_eta_deg : float
        [MinEta / ExcludePoleAngle].
    use_friedel : bool
        [UseFriedelPairs].
    friedel_fallback : bool
        Arc search for seeds without a Friedel mate (upstream: no).
    max_solutions : int
        Mutually distinct solutions kept per seed.
    coarse_steps : int
        Orientation steps tested together first: a block of ``coarse_steps`` steps about the
        plane normal is tried at its centre with the η and ω tolerances widened by half the block,
        and scanned step by step only when it passes (1: every step). 0 (default): the largest
        of 5, 3, 1 for which a predicted spot meets fewer than 0.3 observed spots by chance in the
        widened window (:func:`chance_matches`): coarse blocks pay on sparse patterns, not on
        crowded ones.
    distinct_deg : float
        Kept solutions differ by more than this misorientation.
    omega_ranges_deg, box_sizes_um : tuple
        [OmegaRange] and [BoxSize] lines (paired; box on the ideal spot (y0, z0), µm).
    ring_to_index : int
        [OverAllRingToIndex].
    seed_omega_min_deg, seed_omega_max_deg : float
        [MinOmeSpotIDsToIndex], [MaxOmeSpotIDsToIndex].
    rings_not_counted : tuple of int
        [RingsToExcludeFraction] rings: matched but not counted in the completeness.
    """

    wavelength_A: float
    lsd_um: float
    rsample_um: float
    hbeam_um: float
    step_pos_um: float
    step_orient_deg: float
    margin_eta_um: float
    margin_ome_deg: float
    margin_radial_um: float
    margin_radius_um: float
    completeness: float
    min_eta_deg: float = 0.0
    use_friedel: bool = True
    friedel_fallback: bool = True
    position_slack_um: float = 100.0
    max_solutions: int = 1
    coarse_steps: int = 0
    distinct_deg: float = 1.0
    omega_ranges_deg: tuple[tuple[float, float], ...] = ()
    box_sizes_um: tuple[tuple[float, float, float, float], ...] = ()
    ring_to_index: int = 1
    seed_omega_min_deg: float = -180.0
    seed_omega_max_deg: float = 180.0
    rings_not_counted: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        positive = ("wavelength_A", "lsd_um", "step_pos_um", "step_orient_deg", "margin_eta_um", "margin_ome_deg",
                    "margin_radial_um")
        for name in positive:
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"IndexConfig.{name} = {v}, expected a finite value > 0")
        for name in ("rsample_um", "hbeam_um", "position_slack_um"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParamError(f"IndexConfig.{name} = {v}, expected a finite value >= 0")
        if not 0 < self.completeness <= 1:
            raise ParamError(f"IndexConfig.completeness = {self.completeness}, expected 0 < Completeness <= 1")
        if len(self.omega_ranges_deg) != len(self.box_sizes_um):
            raise ParamError(f"{len(self.omega_ranges_deg)} OmegaRange lines but {len(self.box_sizes_um)} BoxSize "
                             "lines; give one BoxSize per OmegaRange")
        if self.coarse_steps < 0:
            raise ParamError(f"IndexConfig.coarse_steps = {self.coarse_steps}, expected >= 0 (0: automatic)")
        if self.max_solutions < 1:
            raise ParamError(f"IndexConfig.max_solutions = {self.max_solutions}, expected >= 1")

    @classmethod
    def from_params(cls, p: Any, **overrides: Any) -> IndexConfig:
        """Build from a :class:`midas.params.MidasParams` (Parameters.txt or paramstest.txt).

        Required keys: Wavelength, Lsd (Distance), Rsample, Hbeam, StepSizePos, StepSizeOrient,
        MarginEta, MarginOme, MarginRadial, Completeness (MinMatchesToAcceptFrac),
        OverAllRingToIndex (default 1 when absent, as for paramstest files). Optional:
        MarginRadius (default 0 = off), MinEta (0), UseFriedelPairs (0), OmegaRange/BoxSize (none),
        MinOmeSpotIDsToIndex/MaxOmeSpotIDsToIndex (±180), RingsToExcludeFraction.
        ``overrides`` replace fields by name.

        Raises
        ------
        ParamError
            A required key is missing or a value is invalid (the message names key and file).
        """
        source = getattr(p, "source", None)
        where = f" in {source}" if source else ""
        kw: dict[str, Any] = {
            "wavelength_A": _need(p, "Wavelength", where),
            "lsd_um": _need(p, "Lsd", where) if p.get("Lsd", None) is not None else _need(p, "LsdFit", where),
            "rsample_um": _need(p, "Rsample", where),
            "hbeam_um": _need(p, "Hbeam", where),
            "step_pos_um": _need(p, "StepSizePos", where),
            "step_orient_deg": _need(p, "StepSizeOrient", where),
            "margin_eta_um": _need(p, "MarginEta", where),
            "margin_ome_deg": _need(p, "MarginOme", where),
            "margin_radial_um": _need(p, "MarginRadial", where),
            "margin_radius_um": float(p.get("MarginRadius", 0.0) or 0.0),
            "completeness": _need(p, "Completeness", where),
            "min_eta_deg": float(p.get("MinEta", 0.0) or 0.0),
            "use_friedel": bool(int(p.get("UseFriedelPairs", 0) or 0)),
            "omega_ranges_deg": tuple(tuple(float(x) for x in v) for v in _lines(p, "OmegaRange")),
            "box_sizes_um": tuple(tuple(float(x) for x in v) for v in _lines(p, "BoxSize")),
            "ring_to_index": int(p.get("OverAllRingToIndex", 1) or 1),
            "seed_omega_min_deg": float(p.get("MinOmeSpotIDsToIndex", -180.0)),
            "seed_omega_max_deg": float(p.get("MaxOmeSpotIDsToIndex", 180.0)),
            "rings_not_counted": tuple(round(float(v)) for v in _lines(p, "RingsToExcludeFraction")),
        }
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (inverse of :meth:`from_dict`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexConfig:
        """Build from :meth:`to_dict` output (lists become tuples)."""
        return cls(**_tuples(d))


@dataclass(frozen=True, slots=True)
class RingSet:
    """Reference reflections of the rings used, in hkls.csv row order.

    Attributes
    ----------
    hkl : (H, 3) int32
        Miller indices of every reflection on the used rings.
    ring_nr : (H,) int32
    g_crystal : (H, 3) float64
        B·hkl of the reference lattice (1/Å).
    ring_radius_um : (R + 1,) float64
        Ideal ring radius Lsd·tan 2θ by ring number (0 for unused rings).
    ring_d_A : (R + 1,) float64
        d-spacing of each ring (0 for unused rings).
    ring_counts : (R + 1,) uint8
        1 when the ring counts toward completeness.
    rep_ring : (Q,) int32, rep_g_unit : (Q, 3) float64, rep_max_angle_deg : (Q,) float64
        One representative reflection per orbit of each ring under the Laue group's proper
        rotations, and the rotation range about its plane normal (360° / stabiliser order).
    sym_quat : (M, 4) float64
        Laue proper rotations as quaternions.
    space_group : int
    lattice : (6,) tuple
        Reference lattice (Å, deg).
    """

    hkl: NDArray[np.int32]
    ring_nr: NDArray[np.int32]
    g_crystal: NDArray[np.float64]
    ring_radius_um: NDArray[np.float64]
    ring_d_A: NDArray[np.float64]
    ring_counts: NDArray[np.uint8]
    rep_ring: NDArray[np.int32]
    rep_g_unit: NDArray[np.float64]
    rep_max_angle_deg: NDArray[np.float64]
    sym_quat: NDArray[np.float64]
    space_group: int
    lattice: tuple[float, float, float, float, float, float]

    @property
    def rings(self) -> tuple[int, ...]:
        """Ring numbers in use, ascending."""
        return tuple(int(r) for r in np.nonzero(self.ring_radius_um > 0)[0])


def ring_set(hkls: Any, rings: Sequence[int], *, space_group: int, lattice: Any,
             rings_not_counted: Sequence[int] = ()) -> RingSet:
    """Reference reflections of ``rings`` and their orbit representatives.

    Parameters
    ----------
    hkls : midas.crystal.HklTable
        Reflection list of the reference lattice (hkls.csv order; its ``radius_um`` uses the
        experiment's Lsd).
    rings : sequence of int
        Ring numbers used (``RingThresh``/``RingNumbers``).
    space_group : int
        ITA number.
    lattice : midas.crystal.Lattice or 6 numbers
        Reference lattice.
    rings_not_counted : sequence of int
        Rings matched but left out of completeness.

    Raises
    ------
    ParamError
        No ring given, or a ring absent from the hkl list.
    """
    from midas.crystal import Lattice
    from midas.crystal.symmetry import laue_quaternions, laue_rotations

    lat = lattice if isinstance(lattice, Lattice) else Lattice.from_tuple(lattice)
    ring_all = np.asarray(hkls.ring_nr, dtype=np.int32)
    rings = [int(r) for r in rings]
    if not rings:
        raise ParamError("no rings given for indexing (RingThresh or RingNumbers lines)")
    missing = sorted(set(rings) - set(ring_all.tolist()))
    if missing:
        raise ParamError(f"rings {missing} are not in the hkl list (max ring {int(ring_all.max(initial=0))}); "
                         "check RingThresh against RhoD/MaxRingRad")
    rows = np.nonzero(np.isin(ring_all, rings))[0]
    max_ring = int(max(rings))
    radius = np.zeros(max_ring + 1)
    d_a = np.zeros(max_ring + 1)
    counts = np.zeros(max_ring + 1, np.uint8)
    for r in rings:
        first = int(np.nonzero(ring_all == r)[0][0])
        radius[r] = float(hkls.radius_um[first])
        d_a[r] = float(hkls.d_A[first])
        counts[r] = 0 if r in set(rings_not_counted) else 1
    try:
        sym = laue_rotations(int(space_group), lat)
        quats = laue_quaternions(int(space_group), lat)
    except Exception as exc:  # GeometryError: lattice inconsistent with the group
        raise ParamError(f"space group {space_group} and lattice {lat.to_tuple()}: {exc}") from exc
    g_c = np.asarray(hkls.g_crystal, dtype=np.float64)
    rep_ring, rep_g, rep_angle = [], [], []
    for r in sorted(rings):
        idx = np.nonzero(ring_all == r)[0]
        unit = g_c[idx] / np.linalg.norm(g_c[idx], axis=1, keepdims=True)
        free = np.ones(len(idx), bool)
        for k in range(len(idx)):
            if not free[k]:
                continue
            orbit = np.einsum("sij,j->si", sym, unit[k])
            close = np.abs(unit[:, None, :] - orbit[None, :, :]).max(axis=2).min(axis=1) < 1e-6
            free &= ~close
            order = int(np.count_nonzero(np.abs(orbit - unit[k]).max(axis=1) < 1e-6))
            rep_ring.append(r)
            rep_g.append(unit[k])
            rep_angle.append(360.0 / max(order, 1))
    return RingSet(hkl=np.asarray(hkls.hkl, dtype=np.int32)[rows], ring_nr=ring_all[rows],
                   g_crystal=np.ascontiguousarray(g_c[rows]), ring_radius_um=radius, ring_d_A=d_a,
                   ring_counts=counts, rep_ring=np.asarray(rep_ring, np.int32),
                   rep_g_unit=np.asarray(rep_g, np.float64).reshape(-1, 3),
                   rep_max_angle_deg=np.asarray(rep_angle, np.float64), sym_quat=np.ascontiguousarray(quats),
                   space_group=int(space_group), lattice=lat.to_tuple())


class SpotIndex:
    """Observed spots with their (ring, η, ω) look-up grid, shared by indexing and refinement.

    Parameters
    ----------
    spots : ObservedSpots
    rings : RingSet
        Only spots on these rings take part.
    eta_cell_deg, omega_cell_deg : float
        Grid cell size (degrees); about the matching tolerances.
    """

    def __init__(self, spots: ObservedSpots, rings: RingSet, *, eta_cell_deg: float = 1.0,
                 omega_cell_deg: float = 1.0) -> None:
        self.spots = spots
        ring = spots.ring_nr.copy()
        used = np.isin(ring, np.asarray(rings.rings, np.int32))
        ring[~used] = 0
        self.used = used
        self.ring_spot_counts = np.bincount(ring[used].astype(np.int64), minlength=len(rings.ring_radius_um))
        self._coarse: dict[Any, int] = {}
        self._core = core().FFSpotIndex(y_um=spots.y_um, z_um=spots.z_um, omega_deg=spots.omega_deg,
                                        eta_deg=spots.eta_deg, grain_radius_um=spots.grain_radius_um,
                                        ring_nr=ring, eta_cell_deg=float(eta_cell_deg),
                                        omega_cell_deg=float(omega_cell_deg))

    def __len__(self) -> int:
        return len(self.spots)


def chance_matches(spot_index: SpotIndex, rings: RingSet, config: IndexConfig, coarse_steps: int) -> float:
    """Expected number of observed spots that fall by chance in one predicted spot's matching
    window (spot-weighted mean over the rings).

    The window spans the η tolerance (atan(MarginEta/R) + ½StepSizeOrient, widened by half a
    coarse block) plus the η range swept as the grain moves along the seed ray (±(Rsample +
    slack)/R), times the ω tolerance (MarginOme + the same angular terms / 0.7, a typical
    |sin η|); observed spots of a ring are taken as uniform over 360° × 360° of (η, ω).
    """
    total, weight = 0.0, 0
    half = 0.5 * config.step_orient_deg * coarse_steps
    for r in rings.rings:
        n = int(spot_index.ring_spot_counts[r])
        radius = float(rings.ring_radius_um[r])
        eta = math.degrees(math.atan(config.margin_eta_um / radius)) + half
        path = math.degrees(2.0 * (config.rsample_um + config.position_slack_um) / radius)
        ome = config.margin_ome_deg + half / 0.7
        total += n * n / 129600.0 * (2 * eta + path) * 2 * ome
        weight += n
    return total / weight if weight else 0.0


def _coarse(spot_index: SpotIndex, rings: RingSet, config: IndexConfig) -> int:
    if config.coarse_steps:
        return config.coarse_steps
    key = (id(rings), config)
    if key not in spot_index._coarse:
        spot_index._coarse[key] = next((k for k in (5, 3) if chance_matches(spot_index, rings, config, k) < 0.3), 1)
    return spot_index._coarse[key]


def select_seeds(spots: ObservedSpots, config: IndexConfig) -> NDArray[np.int64]:
    """Seed spots (row indices, in table order): ring ``ring_to_index`` and
    ``seed_omega_min_deg <= ω <= seed_omega_max_deg`` (upstream SpotsToIndex.csv)."""
    sel = ((spots.ring_nr == config.ring_to_index) & (spots.omega_deg >= config.seed_omega_min_deg)
           & (spots.omega_deg <= config.seed_omega_max_deg))
    return np.nonzero(sel)[0].astype(np.int64)


@dataclass(frozen=True, slots=True)
class IndexResult:
    """Indexing solutions (S rows, best first within each seed).

    Attributes
    ----------
    seed : (S,) int64
        Row index (into ``ObservedSpots``) of the seed spot of each solution.
    orient_mat : (S, 3, 3) float64
        Orientation (crystal → sample).
    pos_um : (S, 3) float64
        Position (sample frame at ω = 0, µm).
    n_expected, n_matched : (S,) int64
        Predicted spots in the windows, and of them those matched.
    internal_angle_deg : (S,) float64
        Mean angle between matched observed and predicted g-vectors.
    matched, matched_offsets : int64 arrays
        Matched observed spot rows of solution i: ``matched[matched_offsets[i]:matched_offsets[i+1]]``.
    """

    seed: NDArray[np.int64]
    orient_mat: NDArray[np.float64]
    pos_um: NDArray[np.float64]
    n_expected: NDArray[np.int64]
    n_matched: NDArray[np.int64]
    internal_angle_deg: NDArray[np.float64]
    matched: NDArray[np.int64]
    matched_offsets: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.seed.shape[0])

    @property
    def completeness(self) -> NDArray[np.float64]:
        """n_matched / n_expected."""
        return self.n_matched / np.maximum(self.n_expected, 1)

    def matched_of(self, i: int) -> NDArray[np.int64]:
        """Matched observed spot rows of solution i."""
        return self.matched[self.matched_offsets[i]:self.matched_offsets[i + 1]]

    @classmethod
    def empty(cls) -> IndexResult:
        """No solution."""
        return cls(np.zeros(0, np.int64), np.zeros((0, 3, 3)), np.zeros((0, 3)), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(1, np.int64))

    @classmethod
    def concatenate(cls, parts: Sequence[IndexResult]) -> IndexResult:
        """Join results in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return concat_csr(parts, cls, ("matched",), "matched_offsets")  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Mapping of field -> array."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any) -> IndexResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: np.asarray(d[f.name]) for f in fields(cls)})


def _windows(config: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    w = np.asarray(config.omega_ranges_deg, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(config.box_sizes_um, dtype=np.float64).reshape(-1, 4)
    return w, b


def index_seeds(spot_index: SpotIndex, rings: RingSet, config: IndexConfig, seeds: Any, *,
                n_threads: int | None = None, stats: dict[str, Any] | None = None) -> IndexResult:
    """Index seed spots (C++, OpenMP over seeds; results independent of the thread count).

    Parameters
    ----------
    spot_index : SpotIndex
        Observed spots and their grid.
    rings : RingSet
        Reference reflections of the used rings.
    config : IndexConfig
    seeds : (K,) int
        Row indices of the seed spots in ``spot_index.spots``.
    n_threads : int, optional
        OpenMP threads.
    stats : dict, optional
        Filled with per-seed arrays (K,): ``n_normals`` (plane normals tried), ``n_friedel`` (of
        them from Friedel pairs), ``n_candidates`` (orientations evaluated), ``n_spots``
        (predicted spots computed), ``n_tests`` (observed spots tested).

    Returns
    -------
    IndexResult
        Up to ``config.max_solutions`` solutions per seed, best first (higher completeness, then
        smaller internal angle). ``seed`` holds the seed's row index.

    Raises
    ------
    ParamError
        A seed is not a spot row, or inconsistent settings.
    """
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    windows, boxes = _windows(config)
    with threads(n_threads):
        raw = core().ff_index_seeds(
            spots=spot_index._core, g_crystal=rings.g_crystal, ring_nr=rings.ring_nr,
            ring_radius_um=rings.ring_radius_um, ring_counts=rings.ring_counts, rep_ring=rings.rep_ring,
            rep_g_unit=rings.rep_g_unit, rep_max_angle_deg=rings.rep_max_angle_deg, sym_quat=rings.sym_quat,
            seeds=seeds.astype(np.int32), wavelength_A=config.wavelength_A, lsd_um=config.lsd_um,
            rsample_um=config.rsample_um, hbeam_um=config.hbeam_um,
            position_slack_um=config.position_slack_um, step_pos_um=config.step_pos_um,
            step_orient_deg=config.step_orient_deg, margin_eta_um=config.margin_eta_um,
            margin_ome_deg=config.margin_ome_deg, margin_radial_um=config.margin_radial_um,
            margin_radius_um=config.margin_radius_um, completeness=config.completeness,
            min_eta_deg=config.min_eta_deg, use_friedel=config.use_friedel,
            friedel_fallback=config.friedel_fallback, max_solutions=config.max_solutions,
            coarse_steps=_coarse(spot_index, rings, config),
            distinct_deg=config.distinct_deg, omega_windows_deg=windows, boxes_um=boxes)
    if stats is not None:
        for k in ("n_normals", "n_friedel", "n_candidates", "n_spots", "n_tests"):
            stats[k] = raw[k]
    return IndexResult(seed=seeds[raw["seed"]], orient_mat=raw["orient"], pos_um=raw["pos_um"],
                       n_expected=raw["n_expected"].astype(np.int64), n_matched=raw["n_matched"].astype(np.int64),
                       internal_angle_deg=raw["internal_angle_deg"], matched=raw["matched"].astype(np.int64),
                       matched_offsets=raw["matched_offsets"].astype(np.int64))


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What :func:`index_and_refine` found.

    Attributes
    ----------
    seeds : (K,) int64
        Seed spot rows, in processing order.
    claimed_by : (K,) int64
        For each seed: -1 when it was indexed, else the solution (row of ``index``/``refined``)
        whose refined grain already explained the seed spot, so it was skipped.
    index : IndexResult
        Indexing solutions of the seeds that were indexed.
    refined : RefineResult
        Refinement of every indexing solution (row i ↔ index row i).
    """

    seeds: NDArray[np.int64]
    claimed_by: NDArray[np.int64]
    index: IndexResult
    refined: Any


def index_and_refine(spot_index: SpotIndex, rings: RingSet, config: IndexConfig, refine_config: Any,
                     seeds: Any, *, batch_size: int = 16, claim: bool = True, n_threads: int | None = None,
                     progress: Callable[[int], None] | None = None) -> SearchResult:
    """Index seeds in batches, refine each batch's solutions, and skip seeds already explained.

    Seeds are processed in the given order, ``batch_size`` unexplained seeds at a time (a fixed
    number, so results do not depend on the thread count). After a batch, every accepted
    solution is refined (:func:`midas.ff.refine.refine_grains`); the observed spots assigned to a
    refined grain whose completeness reaches ``config.completeness`` are marked as explained,
    and later seeds on such spots are skipped (``claimed_by``) instead of indexed. With
    ``claim=False`` every seed is indexed (upstream's behaviour, slower).

    Parameters
    ----------
    spot_index, rings, config
        As :func:`index_seeds`.
    refine_config : midas.ff.refine.RefineConfig
    seeds : (K,) int
        Seed spot rows.
    batch_size : int
        Seeds indexed per batch (≥ 1).
    claim : bool
        Skip seeds explained by earlier refined grains.
    n_threads : int, optional
    progress : callable(int), optional
        Called with the number of seeds handled (indexed or skipped) after each batch.

    Returns
    -------
    SearchResult
    """
    from midas.ff.refine import RefineResult, refine_grains

    if batch_size < 1:
        raise ParamError(f"batch_size = {batch_size}, expected >= 1")
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    n_spots = len(spot_index)
    explained_by = np.full(n_spots, -1, np.int64)
    claimed_by = np.full(len(seeds), -1, np.int64)
    idx_parts: list[IndexResult] = []
    ref_parts: list[Any] = []
    n_sol = 0
    handled = 0
    no_mate = np.zeros(len(seeds), bool)
    solved = np.zeros(len(seeds), bool)

    def run_phase(positions: NDArray[np.int64], cfg: IndexConfig) -> None:
        nonlocal n_sol, handled
        k = 0
        while k < len(positions):
            batch: list[int] = []
            while k < len(positions) and len(batch) < batch_size:
                pos = int(positions[k])
                s = int(seeds[pos])
                if claim and explained_by[s] >= 0:
                    claimed_by[pos] = explained_by[s]
                    handled += 1
                else:
                    batch.append(pos)
                k += 1
            if not batch:
                continue
            st: dict[str, Any] = {}
            res = index_seeds(spot_index, rings, cfg, seeds[batch], n_threads=n_threads, stats=st)
            no_mate[batch] = st["n_friedel"] == 0
            if len(res):
                solved[np.asarray(batch)[np.isin(seeds[batch], res.seed)]] = True
                ref = refine_grains(spot_index, rings, refine_config, res.orient_mat, res.pos_um,
                                    n_threads=n_threads)
                idx_parts.append(res)
                ref_parts.append(ref)
                if claim:
                    good = ref.ok & (ref.completeness >= config.completeness)
                    for i in np.nonzero(good)[0]:
                        rows = ref.obs_of(int(i))
                        free = rows[explained_by[rows] < 0]
                        explained_by[free] = n_sol + int(i)
                n_sol += len(res)
            handled += len(batch)
            if progress is not None:
                progress(handled)

    everything = np.arange(len(seeds), dtype=np.int64)
    if config.use_friedel and config.friedel_fallback:
        # seeds with Friedel mates first (cheap, and they explain most other seeds), then the arc
        # search for the seeds that had no mate and are still unexplained
        run_phase(everything, replace(config, friedel_fallback=False))
        handled -= int(np.count_nonzero(no_mate & ~solved & (claimed_by < 0)))
        run_phase(everything[no_mate & ~solved & (claimed_by < 0)], config)
    else:
        run_phase(everything, config)
    index = IndexResult.concatenate(idx_parts)
    refined = RefineResult.concatenate(ref_parts)
    log.info("indexed %d of %d seeds (%d skipped as explained): %d solutions", int(np.count_nonzero(claimed_by < 0)),
             len(seeds), int(np.count_nonzero(claimed_by >= 0)), len(index))
    return SearchResult(seeds=seeds, claimed_by=claimed_by, index=index, refined=refined)


def replace_config(config: IndexConfig, **changes: Any) -> IndexConfig:
    """A copy of ``config`` with fields replaced (validated)."""
    return replace(config, **changes)
