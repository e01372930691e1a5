"""Compare spot lists: ours against a simulator's truth or against another program's spots.

Used by the tests and benchmarks on upstream's simulated datasets, and useful to anyone checking a
peak search against a known spot list (``SpotMatrixGen.csv`` of a forward simulation) or against
upstream's ``Radius_*.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["SpotMatch", "match_spots", "isolated"]


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
