"""From refined seed solutions to grains: clustering, de-duplication, strains, output tables.

The role of upstream's ``ProcessGrains`` (upstream_facts.md §4.7), restated:

1. Candidates: refined solutions that converged and whose refined completeness (assigned /
   expected spots) reaches ``min_completeness``.
2. Clustering: solution j joins solution i's grain when j's seed spot is among i's assigned spots
   and their misorientation is below ``cluster_miso_deg`` (0.4°). Components of that graph are
   grains (connected components: deterministic, O(links)). The grain's support is the number of
   seed spots behind it: its members' seeds plus the seeds skipped because a member explained
   them (:func:`midas.ff.index.index_and_refine`). Grains with fewer than ``MinNrSpots`` are
   dropped. Representative: the member with the highest completeness, then the smallest
   DiffAngle; GrainID = SpotID of its seed.
3. De-duplication (grain order): a grain is dropped when an earlier one lies within
   ``dedup_miso_deg`` (0.1°) and ``dedup_dist_um`` (5 µm) — pairs from a KD-tree on positions,
   O(N log N).
4. Confidence (completeness) below ``min_confidence`` (0.05) is dropped.
5. Strains: Fable–Beaudoin and Kenesei (:mod:`midas.ff.strain`).

Results do not depend on the thread count.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError

__all__ = ["GrainConfig", "GrainSet", "process_grains", "read_grain_ids_key", "write_grain_ids_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GrainConfig:
    """ProcessGrains settings (upstream key in brackets).

    Attributes
    ----------
    min_nr_spots : int
        [MinNrSpots] seed spots a grain needs.
    min_completeness : float
        Completeness a solution needs after refinement (assigned / expected spots with the
        refinement's final tolerances). Default min(0.5, [Completeness]): upstream keeps any grain
        above 0.05; requiring half the expected spots rejects chance solutions while keeping
        grains that lost spots to overlaps or to the ring bands.
    min_confidence : float
        Grains below this completeness are dropped (upstream 0.05).
    cluster_miso_deg, dedup_miso_deg, dedup_dist_um : float
        0.4°, 0.1°, 5 µm as upstream.
    space_group : int
    lattice : (6,) tuple
        Reference lattice (Fable–Beaudoin reference, Grains.csv header).
    wavelength_A, lsd_um : float
        For the Kenesei strain.
    beam_thickness_um, global_position_um : float
        [BeamThickness], [GlobalPosition] (Grains.csv header).
    """

    space_group: int
    lattice: tuple[float, float, float, float, float, float]
    wavelength_A: float
    lsd_um: float
    min_nr_spots: int = 1
    min_completeness: float = 0.0
    min_confidence: float = 0.05
    cluster_miso_deg: float = 0.4
    dedup_miso_deg: float = 0.1
    dedup_dist_um: float = 5.0
    beam_thickness_um: float = 0.0
    global_position_um: float = 0.0

    def __post_init__(self) -> None:
        if self.min_nr_spots < 1:
            raise ParamError(f"GrainConfig.min_nr_spots = {self.min_nr_spots}, expected >= 1 (MinNrSpots)")
        for name in ("cluster_miso_deg", "dedup_miso_deg", "dedup_dist_um", "wavelength_A", "lsd_um"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"GrainConfig.{name} = {v}, expected a finite value > 0")
        if len(self.lattice) != 6:
            raise ParamError(f"GrainConfig.lattice has {len(self.lattice)} values, expected 6")

    @classmethod
    def from_params(cls, p: Any, **overrides: Any) -> GrainConfig:
        """Build from a parameter set (SpaceGroup, LatticeConstant, Wavelength, Lsd, MinNrSpots,
        Completeness, BeamThickness, GlobalPosition).

        Raises
        ------
        ParamError
            A required key is missing.
        """
        from midas.crystal import Lattice
        from midas.ff.index import _need

        source = getattr(p, "source", None)
        where = f" in {source}" if source else ""
        kw: dict[str, Any] = {
            "space_group": _need(p, "SpaceGroup", where, int),
            "lattice": Lattice.from_params(p).to_tuple(),
            "wavelength_A": _need(p, "Wavelength", where),
            "lsd_um": _need(p, "Lsd", where) if p.get("Lsd", None) is not None else _need(p, "LsdFit", where),
            "min_nr_spots": int(p.get("MinNrSpots", 1) or 1),
            "min_completeness": min(0.5, float(p.get("Completeness", 0.5) or 0.5)),
            "beam_thickness_um": float(p.get("BeamThickness", 0.0) or 0.0),
            "global_position_um": float(p.get("GlobalPosition", 0.0) or 0.0),
        }
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class GrainSet:
    """Grains and their spots.

    Attributes
    ----------
    table : midas.io.grains_csv.GrainsTable
        One row per grain (Grains.csv content).
    spot_matrix : midas.io.spot_matrix.SpotMatrix
        One row per (grain, assigned spot) (SpotMatrix.csv content).
    solution : (G,) int64
        Row of the representative solution in the search result.
    members : list of (K_g, 2) int64 arrays
        Per grain: (SpotID of a supporting seed, its position in the seed list); the
        representative first, then the other indexed members, then skipped (explained) seeds.
    """

    table: Any
    spot_matrix: Any
    solution: NDArray[np.int64]
    members: list[NDArray[np.int64]]

    def __len__(self) -> int:
        return len(self.table)


def _union_find_components(n: int, a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, np.int64)
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    # relabel by first appearance so labels follow solution order
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return np.asarray(order[labels], dtype=np.int64)


def process_grains(search: Any, spots: Any, rings: Any, config: GrainConfig) -> GrainSet:
    """Cluster refined solutions into grains and build the output tables.

    Parameters
    ----------
    search : midas.ff.index.SearchResult
        Seeds, index and refinement results.
    spots : midas.ff.spots.ObservedSpots
        The observed spots (row indices of ``search`` refer to it).
    rings : midas.ff.index.RingSet
        Reference reflections (ring d-spacings for Kenesei).
    config : GrainConfig

    Returns
    -------
    GrainSet
    """

    from midas.crystal import Lattice
    from midas.crystal.symmetry import misorientation

    ref = search.refined
    idx = search.index
    n_sol = len(ref)
    lat = Lattice.from_tuple(config.lattice)
    seed_pos_of_row = {int(s): k for k, s in enumerate(search.seeds)}
    compl = ref.completeness
    cand = ref.ok & (compl >= config.min_completeness) & (compl > 0)
    cand_rows = np.nonzero(cand)[0]
    # links: j's seed spot among i's assigned spots
    sol_of_seed_row: dict[int, list[int]] = {}
    for sol in cand_rows.tolist():
        sol_of_seed_row.setdefault(int(idx.seed[sol]), []).append(sol)
    la: list[int] = []
    lb: list[int] = []
    for i in cand_rows.tolist():
        for row in ref.obs_of(i).tolist():
            for other in sol_of_seed_row.get(row, ()):
                if other != i:
                    la.append(i)
                    lb.append(other)
    la_a = np.asarray(la, np.int64)
    lb_a = np.asarray(lb, np.int64)
    if len(la_a):
        mis = np.degrees(misorientation(ref.orient_mat[la_a], ref.orient_mat[lb_a], config.space_group, lattice=lat))
        keep = mis < config.cluster_miso_deg
        la_a, lb_a = la_a[keep], lb_a[keep]
    local = np.full(n_sol, -1, np.int64)
    local[cand_rows] = np.arange(len(cand_rows))
    labels = _union_find_components(len(cand_rows), local[la_a], local[lb_a])
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    # explained (skipped) seeds per solution
    explained: dict[int, list[int]] = {}
    for k, by in enumerate(search.claimed_by.tolist()):
        if by >= 0:
            explained.setdefault(int(by), []).append(k)

    reps: list[int] = []
    members: list[NDArray[np.int64]] = []
    for c in range(n_clusters):
        sols = cand_rows[labels == c]
        order = sorted(sols.tolist(), key=lambda s: (-compl[s], -ref.n_matched[s], ref.diff_angle_deg[s], s))
        rep = order[0]
        seen: set[int] = set()
        rows_m: list[tuple[int, int]] = []
        for s in order:
            k = seed_pos_of_row[int(idx.seed[s])]
            if k not in seen:
                seen.add(k)
                rows_m.append((int(spots.spot_id[idx.seed[s]]), k))
        for s in sorted(sols.tolist()):
            for k in explained.get(s, ()):
                if k not in seen:
                    seen.add(k)
                    rows_m.append((int(spots.spot_id[search.seeds[k]]), k))
        if len(rows_m) < config.min_nr_spots:
            continue
        reps.append(rep)
        members.append(np.asarray(rows_m, np.int64).reshape(-1, 2))
    reps_a = np.asarray(reps, np.int64)
    # de-duplication: later grain dropped when an earlier one is within 0.1° and 5 µm
    drop = ~_dedup_keep(ref, reps_a, config)
    conf = ref.completeness[reps_a] if len(reps_a) else np.zeros(0)
    drop |= conf < config.min_confidence
    keep_idx = np.nonzero(~drop)[0]
    reps_a = reps_a[keep_idx]
    members = [members[k] for k in keep_idx]
    n = len(reps_a)
    log.info("%d candidate solutions -> %d clusters -> %d grains", len(cand_rows), n_clusters, n)

    grain_ids = spots.spot_id[idx.seed[reps_a]] if n else np.zeros(0, np.int64)
    return _grain_set(ref, reps_a, members, grain_ids, conf[keep_idx], spots, rings, config)


def refined_grains(refined: Any, grain_id: Any, spots: Any, rings: Any, config: GrainConfig) -> GrainSet:
    """Grains from refined given grains (``-grainsFile``): no clustering; de-duplication and the
    completeness and confidence filters of :func:`process_grains`; GrainIDs kept from the input.

    Parameters
    ----------
    refined : midas.ff.refine.RefineResult
    grain_id : (G,) int
    spots, rings, config
        As :func:`process_grains`.
    """
    ids = np.asarray(grain_id, dtype=np.int64)
    ok = (refined.ok & (refined.completeness >= config.min_completeness)
          & (refined.completeness >= config.min_confidence))
    rows = np.nonzero(ok)[0]
    rows = rows[_dedup_keep(refined, rows, config)]
    members = [np.asarray([[ids[r], -1]], np.int64) for r in rows]
    return _grain_set(refined, rows, members, ids[rows], refined.completeness[rows], spots, rings, config)


def _dedup_keep(ref: Any, reps_a: NDArray[np.int64], config: GrainConfig) -> NDArray[np.bool_]:
    """Mask of the grains kept: a grain is dropped when an earlier one lies within
    ``dedup_miso_deg`` and ``dedup_dist_um`` (position pairs from a KD-tree, O(N log N))."""
    from scipy.spatial import cKDTree

    from midas.crystal import Lattice
    from midas.crystal.symmetry import misorientation

    drop = np.zeros(len(reps_a), bool)
    if len(reps_a) > 1:
        pairs = cKDTree(ref.pos_um[reps_a]).query_pairs(config.dedup_dist_um, output_type="ndarray")
        if len(pairs):
            pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
            mis = np.degrees(misorientation(ref.orient_mat[reps_a[pairs[:, 0]]], ref.orient_mat[reps_a[pairs[:, 1]]],
                                            config.space_group, lattice=Lattice.from_tuple(config.lattice)))
            for (a, b), m in zip(pairs.tolist(), mis.tolist()):
                if m < config.dedup_miso_deg and not drop[a]:
                    drop[b] = True
    return ~drop


def _grain_set(ref: Any, reps_a: NDArray[np.int64], members: list[NDArray[np.int64]], grain_ids: Any, conf: Any,
               spots: Any, rings: Any, config: GrainConfig) -> GrainSet:
    """Strains, the Grains.csv table and the SpotMatrix rows of grains ``reps_a`` of ``ref``."""
    from midas.crystal import matrix_to_euler
    from midas.ff.strain import (
        fable_beaudoin_strain,
        kenesei_strains,
        observed_g,
        segment_sums,
    )
    from midas.io.grains_csv import GrainsHeader, GrainsTable
    from midas.io.spot_matrix import SpotMatrix

    n = len(reps_a)
    grain_ids = np.asarray(grain_ids, dtype=np.int64)
    conf = np.asarray(conf, dtype=np.float64)
    om = ref.orient_mat[reps_a]
    lattice = ref.lattice[reps_a]
    eps_fab = fable_beaudoin_strain(lattice, np.asarray(config.lattice), om) if n else np.zeros((0, 3, 3))
    sel = ref.select(reps_a)
    counts = np.diff(sel.offsets)
    group = np.repeat(np.arange(n), counts)
    rows = sel.obs
    g_unit, tth = observed_g(spots.y_um[rows], spots.z_um[rows], spots.omega_deg[rows], sel.pos_um[group],
                             config.lsd_um)
    d0 = rings.ring_d_A[rings.ring_nr[sel.hkl_row]]
    eps_ken, rms, resid = kenesei_strains(g_unit, tth, d0, config.wavelength_A, sel.offsets)
    gr_sum = segment_sums(spots.grain_radius_um[rows], sel.offsets)
    radius = gr_sum / np.maximum(counts, 1)
    order = np.lexsort((spots.spot_id[rows], group))  # grain by grain, spots by SpotID
    ro = rows[order]
    spot_matrix = SpotMatrix(grain_id=grain_ids[group[order]], spot_id=spots.spot_id[ro],
                             omega_deg=spots.omega_deg[ro], y_px=spots.y_px[ro], z_px=spots.z_px[ro],
                             omega_raw_deg=spots.omega_raw_deg[ro], eta_deg=spots.eta_deg[ro],
                             ring_nr=spots.ring_nr[ro], y_lab_um=spots.y_um[ro], z_lab_um=spots.z_um[ro],
                             theta_deg=np.degrees(tth[order]) / 2, strain_error=resid[order])
    z_w = radius**3
    beam_center = float(np.sum(ref.pos_um[reps_a, 2] * z_w) / np.sum(z_w)) if n and np.sum(z_w) > 0 else (
        float(ref.pos_um[reps_a, 2].mean()) if n else 0.0)
    header = GrainsHeader(beam_center=beam_center, beam_thickness_um=config.beam_thickness_um,
                          global_position_um=config.global_position_um, num_phases=1,
                          space_group=config.space_group, lattice=tuple(config.lattice))  # type: ignore[arg-type]
    table = GrainsTable.from_arrays(
        om, ref.pos_um[reps_a], lattice, grain_id=grain_ids, header=header,
        diff_pos_um=ref.diff_pos_um[reps_a], diff_ome_deg=ref.diff_ome_deg[reps_a],
        diff_angle_deg=ref.diff_angle_deg[reps_a], grain_radius_um=radius, confidence=conf,
        strain_fab=eps_fab, strain_ken=eps_ken, rms_strain=rms, phase_nr=np.ones(n),
        euler_raw=matrix_to_euler(om) if n else np.zeros((0, 3)))
    return GrainSet(table=table, spot_matrix=spot_matrix, solution=reps_a, members=members)


def write_grain_ids_key(path: str | Path, grains: GrainSet) -> None:
    """Write upstream's ``GrainIDsKey.csv``: per grain ``bestID bestPos (otherID otherPos)*``
    (SpotIDs of the supporting seeds and their 0-based positions in the seed list), space
    separated with a trailing space, as upstream's ProcessGrains writes it.

    Raises
    ------
    FormatError
        The folder is missing or not writable.
    """
    from midas.io._atomic import atomic_output

    lines = ["".join(f"{int(a)} {int(b)} " for a, b in m) + "\n" for m in grains.members]
    with atomic_output(path) as tmp:
        tmp.write_text("".join(lines))


def read_grain_ids_key(path: str | Path) -> list[NDArray[np.int64]]:
    """Read a ``GrainIDsKey.csv`` into per-grain (K, 2) arrays of (SpotID, seed position).

    Raises
    ------
    FormatError
        Missing file, a non-integer value or an odd number of values on a line.
    """
    from midas.errors import FormatError

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read: {exc}") from exc
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        vals = line.split()
        if len(vals) % 2:
            raise FormatError(f"{p}:{lineno}: {len(vals)} values, expected (ID, position) pairs")
        try:
            out.append(np.asarray([int(v) for v in vals], np.int64).reshape(-1, 2))
        except ValueError as exc:
            raise FormatError(f"{p}:{lineno}: {exc}") from exc
    return out
