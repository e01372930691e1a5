"""Compare spot lists: ours against a simulator's truth or against another program's spots.

Used by the tests and benchmarks on upstream's simulated datasets, and useful to anyone checking a
peak search against a known spot list (``SpotMatrixGen.csv`` of a forward simulation) or against
upstream's ``Radius_*.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MISS_CATEGORIES", "MissReport", "SpotMatch", "classify_unmatched", "isolated", "match_spots"]


@dataclass(frozen=True, slots=True)
class SpotMatch:
    """Result of :func:`match_spots` (reference spots looked up among candidate spots).

    Attributes
    ----------
    partner : (N,) int64
        Index of the matched candidate for every reference spot, −1 when none.
    distance_px : (N,) float64
        Centre distance to the partner (px), NaN when unmatched.
    d_omega_deg : (N,) float64
        Candidate ω − reference ω (deg, wrapped to (−180, 180]), NaN when unmatched.
    """

    partner: NDArray[np.int64]
    distance_px: NDArray[np.float64]
    d_omega_deg: NDArray[np.float64]

    @property
    def found(self) -> NDArray[np.bool_]:
        """(N,) bool: reference spots with a partner."""
        return self.partner >= 0

    def recall(self, subset: ArrayLike | None = None) -> float:
        """Fraction of (a subset of) reference spots with a partner."""
        f = self.found if subset is None else self.found[np.asarray(subset)]
        return float(f.mean()) if f.size else float("nan")


def _wrap(d: NDArray[np.float64]) -> NDArray[np.float64]:
    w = np.remainder(d + 180.0, 360.0) - 180.0
    w[w == -180.0] = 180.0
    return w


def match_spots(ref_yz_px: ArrayLike, ref_omega_deg: ArrayLike, cand_yz_px: ArrayLike, cand_omega_deg: ArrayLike, *,
                max_distance_px: float, max_d_omega_deg: float) -> SpotMatch:
    """For every reference spot, the nearest candidate within the distance and ω tolerances.

    Parameters
    ----------
    ref_yz_px, cand_yz_px : (N, 2), (M, 2) float
        Spot centres (detector Y, Z in px).
    ref_omega_deg, cand_omega_deg : (N,), (M,) float
        Spot ω (deg); differences are wrapped.
    max_distance_px : float
        Largest centre distance (strictly less than).
    max_d_omega_deg : float
        Largest |Δω| (strictly less than).

    Returns
    -------
    SpotMatch
        Several reference spots may share one candidate (no one-to-one assignment).
    """
    from scipy.spatial import cKDTree

    ref = np.asarray(ref_yz_px, dtype=np.float64).reshape(-1, 2)
    cand = np.asarray(cand_yz_px, dtype=np.float64).reshape(-1, 2)
    rw = np.asarray(ref_omega_deg, dtype=np.float64)
    cw = np.asarray(cand_omega_deg, dtype=np.float64)
    n = ref.shape[0]
    partner = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    dw = np.full(n, np.nan)
    if n == 0 or cand.shape[0] == 0:
        return SpotMatch(partner, dist, dw)
    pairs = cKDTree(ref).sparse_distance_matrix(cKDTree(cand), max_distance_px, output_type="coo_matrix")
    i, j, d = pairs.row, pairs.col, pairs.data
    w = _wrap(cw[j] - rw[i])
    ok = (d < max_distance_px) & (np.abs(w) < max_d_omega_deg)
    i, j, d, w = i[ok], j[ok], d[ok], w[ok]
    order = np.lexsort((j, d, i))  # per reference spot, nearest first
    i, j, d, w = i[order], j[order], d[order], w[order]
    first = np.ones(i.size, dtype=bool)
    first[1:] = i[1:] != i[:-1]
    partner[i[first]] = j[first]
    dist[i[first]] = d[first]
    dw[i[first]] = w[first]
    return SpotMatch(partner, dist, dw)


def isolated(yz_px: ArrayLike, frame: ArrayLike, *, radius_px: float = 5.0, frames: int = 1) -> NDArray[np.bool_]:
    """(N,) bool: spots with no other spot within ``radius_px`` in the same or ±``frames`` frames."""
    from scipy.spatial import cKDTree

    p = np.asarray(yz_px, dtype=np.float64).reshape(-1, 2)
    f = np.asarray(frame, dtype=np.int64)
    out = np.ones(p.shape[0], dtype=bool)
    pairs = cKDTree(p).query_pairs(radius_px, output_type="ndarray")
    if pairs.size:
        close = np.abs(f[pairs[:, 0]] - f[pairs[:, 1]]) <= frames
        out[pairs[close].ravel()] = False
    return out


#: Categories of :func:`classify_unmatched`, in the order they are tested.
MISS_CATEGORIES: tuple[str, ...] = ("matched", "omega", "band_edge", "split", "overlap", "other")


@dataclass(frozen=True, slots=True)
class MissReport:
    """Why reference spots (e.g. upstream's) have no candidate (e.g. ours): see :func:`classify_unmatched`.

    Attributes
    ----------
    category : (N,) object
        One of :data:`MISS_CATEGORIES` per reference spot.
    truth_partner : (N,) int64
        Truth spot nearest each reference spot (within 3 px and ``truth_d_omega_deg``), −1 if none.
    ref_error_px, cand_error_px : (N,) float64
        Distance of the reference spot and of the truth partner's nearest candidate (within 3 px)
        to the truth partner, px; NaN without a truth partner (``cand_error_px``: or candidate).
    """

    category: NDArray[np.object_]
    truth_partner: NDArray[np.int64]
    ref_error_px: NDArray[np.float64]
    cand_error_px: NDArray[np.float64]

    def counts(self) -> dict[str, int]:
        """Number of reference spots per category."""
        return {c: int(np.count_nonzero(self.category == c)) for c in MISS_CATEGORIES}

    def candidate_closer(self, category: str) -> tuple[int, int]:
        """(candidate closer to truth than the reference, both have a truth distance) in a category."""
        sel = (self.category == category) & np.isfinite(self.ref_error_px)
        ok = sel & np.isfinite(self.cand_error_px)
        closer = ok & (self.cand_error_px < self.ref_error_px)
        unresolved = sel & ~np.isfinite(self.cand_error_px)
        return int(closer.sum()), int(ok.sum() + unresolved.sum())


def classify_unmatched(ref_yz_px: ArrayLike, ref_omega_deg: ArrayLike, cand_yz_px: ArrayLike,
                       cand_omega_deg: ArrayLike, truth_yz_px: ArrayLike, truth_omega_deg: ArrayLike, *,
                       bc_px: tuple[float, float], ring_radius_px: ArrayLike, band_half_width_px: float,
                       max_distance_px: float = 0.2, max_d_omega_deg: float = 0.1, truth_d_omega_deg: float = 0.26,
                       edge_margin_px: float = 3.0) -> MissReport:
    """Match reference spots to candidates and say why the unmatched ones are unmatched.

    Made to explain the difference between upstream's merged spots (reference) and ours
    (candidates) on a simulated scan with a known truth spot list.

    Parameters
    ----------
    ref_yz_px, cand_yz_px, truth_yz_px : (N, 2), (M, 2), (T, 2) float
        Spot centres (detector Y, Z in px), uncorrected (no tilt or distortion in the scan).
    ref_omega_deg, cand_omega_deg, truth_omega_deg : (N,), (M,), (T,) float
        Spot ω (deg), all with the same label convention.
    bc_px : (float, float)
        Beam centre (y, z), px.
    ring_radius_px : (R,) float
        Radii of the searched rings, px.
    band_half_width_px : float
        Half-width of the ring bands of the peak search (``Width / px``).
    max_distance_px, max_d_omega_deg : float
        Match tolerances (as :func:`match_spots`).
    truth_d_omega_deg : float
        ω tolerance for the truth partner of a reference spot (about one frame).
    edge_margin_px : float
        A spot whose centre (reference or truth) lies within this distance of a band edge, or
        outside the band, is a ``band_edge`` miss: the band cuts it (3 px = 3σ of a 1-px spot).

    Returns
    -------
    MissReport
        Categories, tested in order: ``matched``; ``omega`` (a candidate at the same y/z within
        3°, but not within ``max_d_omega_deg``); ``band_edge``; ``split`` (two or more candidates
        within 1 px and ``max_d_omega_deg``: the region's maxima were fitted as different peaks);
        ``overlap`` (another truth spot within 6 px and 0.5°); ``other``.
    """
    from scipy.spatial import cKDTree

    ref = np.asarray(ref_yz_px, dtype=np.float64).reshape(-1, 2)
    cand = np.asarray(cand_yz_px, dtype=np.float64).reshape(-1, 2)
    truth = np.asarray(truth_yz_px, dtype=np.float64).reshape(-1, 2)
    rw, cw, tw = (np.asarray(x, dtype=np.float64) for x in (ref_omega_deg, cand_omega_deg, truth_omega_deg))
    radii = np.asarray(ring_radius_px, dtype=np.float64).reshape(-1)
    bc = np.asarray(bc_px, dtype=np.float64)

    def edge_distance(yz: NDArray[np.float64]) -> NDArray[np.float64]:
        r = np.hypot(yz[:, 0] - bc[0], yz[:, 1] - bc[1])
        out: NDArray[np.float64] = band_half_width_px - np.min(np.abs(r[:, None] - radii[None, :]), axis=1)
        return out

    found = match_spots(ref, rw, cand, cw, max_distance_px=max_distance_px, max_d_omega_deg=max_d_omega_deg).found
    same_yz = match_spots(ref, rw, cand, cw, max_distance_px=max_distance_px, max_d_omega_deg=3.0).found
    to_truth = match_spots(ref, rw, truth, tw, max_distance_px=3.0, max_d_omega_deg=truth_d_omega_deg)
    truth_to_cand = match_spots(truth, tw, cand, cw, max_distance_px=3.0, max_d_omega_deg=truth_d_omega_deg)
    j = to_truth.partner
    has = j >= 0
    cand_err = np.full(ref.shape[0], np.nan)
    cand_err[has] = truth_to_cand.distance_px[j[has]]
    near_edge = edge_distance(ref) < edge_margin_px
    near_edge[has] |= edge_distance(truth[j[has]]) < edge_margin_px
    crowded = np.zeros(ref.shape[0], dtype=bool)
    if has.any():
        tree = cKDTree(truth)
        for i in np.flatnonzero(has & ~found):
            crowded[i] = any(q != j[i] and abs(tw[q] - tw[j[i]]) <= 0.5 for q in tree.query_ball_point(truth[j[i]], 6.0))
    split = np.zeros(ref.shape[0], dtype=bool)
    cand_tree = cKDTree(cand) if cand.shape[0] else None
    for i in np.flatnonzero(~found):
        if cand_tree is not None:
            near = [q for q in cand_tree.query_ball_point(ref[i], 1.0) if abs(_wrap(cw[q:q + 1] - rw[i])[0])
                    < max_d_omega_deg]
            split[i] = len(near) >= 2
    cat = np.full(ref.shape[0], "other", dtype=object)
    cat[~found & crowded] = "overlap"
    cat[~found & split] = "split"
    cat[~found & near_edge] = "band_edge"
    cat[~found & same_yz] = "omega"
    cat[found] = "matched"
    return MissReport(category=cat, truth_partner=j, ref_error_px=to_truth.distance_px, cand_error_px=cand_err)
