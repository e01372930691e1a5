"""The (ring, η, ω) look-up of spots for indexing (upstream ``SaveBinData``, upstream_facts.md §3.8).

Indexing asks, for a predicted spot of ring r at (η, ω): which observed spots could it be? Every
kept spot is entered into each (ring, η-bin, ω-bin) cell its tolerance window overlaps:

    η ± (atan(MarginEta / R_ring) + ½·StepSizeOrient)      (MarginEta is an arc length, µm)
    ω ± (MarginOme + ½·StepSizeOrient / |sin η|)

with bin index ``floor((180 + angle)/bin_size)`` wrapped modulo the number of bins. Upstream
stores a dense ``nData.bin`` of (count, offset) for every cell (518 MB for 5 rings at 0.1°); here
only the occupied cells are kept, sorted, and :meth:`BinnedSpots.lookup` finds a cell by binary
search. :func:`midas.ff.artefacts.write_bin_data` writes the upstream files when asked for.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError
from midas.ff.setup import FitSetupResult

__all__ = ["BinnedSpots", "bin_spots", "spots_matrix", "extra_info_matrix"]

log = logging.getLogger(__name__)


def spots_matrix(setup: FitSetupResult) -> NDArray[np.float64]:
    """``Spots.bin`` rows: ``(N, 9)`` = InputAll columns + radial deviation ``√(y²+z²) − R_ring`` (µm, 0 for
    rejected rows)."""
    ia = setup.input_all
    out = np.zeros((ia.shape[0], 9))
    out[:, :8] = ia
    radius = {r: x for r, x in zip(setup.ring_numbers, setup.ring_radius_um, strict=True)}
    ring = ia[:, 5].astype(np.int64)
    ideal = np.array([radius.get(int(r), 0.0) for r in ring]) if ring.size else np.zeros(0)
    out[:, 8] = np.where(ideal > 0, np.hypot(ia[:, 0], ia[:, 1]) - ideal, 0.0)
    return out


def extra_info_matrix(setup: FitSetupResult) -> NDArray[np.float64]:
    """``ExtraInfo.bin`` rows: ``(N, 16)`` = extra-info columns 0–13, 16, 17."""
    return np.ascontiguousarray(setup.extra_info[:, list(range(14)) + [16, 17]])


@dataclass(frozen=True, slots=True)
class BinnedSpots:
    """Spots with their (ring, η, ω) look-up table: what the indexer reads.

    Attributes
    ----------
    spots : (N, 9) float64
        ``Spots.bin``: y, z (µm), ω (deg), grain radius (µm), SpotID, ring, η (deg), 2θ (deg),
        radial deviation (µm). Row i is SpotID i + 1.
    extra_info : (N, 16) float64
        ``ExtraInfo.bin``.
    ring_numbers : tuple of int
        Rings with spots in the table.
    ring_radius_um : tuple of float
        Their ideal radii.
    eta_bin_size_deg, ome_bin_size_deg : float
        Bin widths.
    n_eta_bins, n_ome_bins : int
        ``ceil(360 / bin_size)``.
    n_ring_bins : int
        Highest ring number (upstream's ring axis runs 1..n_ring_bins).
    cell_key : (C,) int64
        Occupied cells, increasing: ``(ring − 1)·n_eta·n_ome + iη·n_ome + iω``.
    cell_start : (C + 1,) int64
        Rows of cell c are ``rows[cell_start[c]:cell_start[c+1]]``.
    rows : (K,) int32
        0-based rows into ``spots``, increasing within a cell.
    setup : FitSetupResult
        Where the spots come from (SpotsToIndex, IDsHash, paramstest values).
    """

    spots: NDArray[np.float64]
    extra_info: NDArray[np.float64]
    ring_numbers: tuple[int, ...]
    ring_radius_um: tuple[float, ...]
    eta_bin_size_deg: float
    ome_bin_size_deg: float
    n_eta_bins: int
    n_ome_bins: int
    n_ring_bins: int
    cell_key: NDArray[np.int64]
    cell_start: NDArray[np.int64]
    rows: NDArray[np.int32]
    setup: FitSetupResult

    def cell_index(self, ring: ArrayLike, eta_deg: ArrayLike, omega_deg: ArrayLike) -> NDArray[np.int64]:
        """Linear cell index of (ring, η, ω) points (η, ω in degrees, any branch)."""
        r = np.asarray(ring, dtype=np.int64)
        ie = np.floor((180.0 + np.asarray(eta_deg, dtype=np.float64)) / self.eta_bin_size_deg).astype(np.int64)
        io = np.floor((180.0 + np.asarray(omega_deg, dtype=np.float64)) / self.ome_bin_size_deg).astype(np.int64)
        key = (r - 1) * self.n_eta_bins * self.n_ome_bins + np.mod(ie, self.n_eta_bins) * self.n_ome_bins \
            + np.mod(io, self.n_ome_bins)
        return np.asarray(key, dtype=np.int64)

    def lookup(self, ring: int, eta_deg: float, omega_deg: float) -> NDArray[np.int32]:
        """0-based rows of ``spots`` whose tolerance window covers (ring, η, ω); empty if none.

        Raises
        ------
        ParamError
            For a ring outside 1..n_ring_bins.
        """
        if not 1 <= int(ring) <= self.n_ring_bins:
            raise ParamError(f"ring {ring} is outside 1..{self.n_ring_bins}")
        key = int(self.cell_index(ring, eta_deg, omega_deg))
        c = int(np.searchsorted(self.cell_key, key))
        if c == self.cell_key.size or self.cell_key[c] != key:
            return self.rows[:0]
        return self.rows[self.cell_start[c]:self.cell_start[c + 1]]

    def dense_counts(self, ring: int) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """``(n_eta, n_ome)`` counts and offsets (into ``rows``) of one ring, upstream's nData layout."""
        n_cells = self.n_eta_bins * self.n_ome_bins
        lo, hi = (ring - 1) * n_cells, ring * n_cells
        a, b = np.searchsorted(self.cell_key, [lo, hi])
        counts = np.zeros(n_cells, dtype=np.int32)
        local = self.cell_key[a:b] - lo
        counts[local] = np.diff(self.cell_start[a:b + 1])
        # Offsets of empty cells: the position the next occupied cell starts at (as upstream).
        first = np.searchsorted(local, np.arange(n_cells))
        offsets = self.cell_start[a + first]
        return counts.reshape(self.n_eta_bins, self.n_ome_bins), \
            offsets.astype(np.int64).reshape(self.n_eta_bins, self.n_ome_bins)


def bin_spots(setup: FitSetupResult, *, eta_bin_size_deg: float | None = None, ome_bin_size_deg: float | None = None,
              margin_eta_um: float | None = None, margin_ome_deg: float | None = None,
              step_size_orient_deg: float | None = None) -> BinnedSpots:
    """Build the (ring, η, ω) look-up of the kept spots.

    Parameters
    ----------
    setup : FitSetupResult
    eta_bin_size_deg, ome_bin_size_deg, margin_eta_um, margin_ome_deg, step_size_orient_deg : float, optional
        ``EtaBinSize``, ``OmeBinSize``, ``MarginEta`` (arc length, µm), ``MarginOme``,
        ``StepSizeOrient``; default: the values FitSetup carries for ``paramstest.txt``.

    Returns
    -------
    BinnedSpots

    Raises
    ------
    ParamError
        For non-positive bin sizes or negative margins.
    """
    k = setup.settings.indexer_keys
    eb = float(k["EtaBinSize"] if eta_bin_size_deg is None else eta_bin_size_deg)
    ob = float(k["OmeBinSize"] if ome_bin_size_deg is None else ome_bin_size_deg)
    me = float(k["MarginEta"] if margin_eta_um is None else margin_eta_um)
    mo = float(k["MarginOme"] if margin_ome_deg is None else margin_ome_deg)
    so = float(k["StepsizeOrient"] if step_size_orient_deg is None else step_size_orient_deg)
    if not (eb > 0 and ob > 0) or me < 0 or mo < 0 or so < 0:
        raise ParamError(f"bin sizes must be > 0 and margins >= 0 (EtaBinSize {eb}, OmeBinSize {ob}, MarginEta {me}, "
                         f"MarginOme {mo}, StepSizeOrient {so})")
    spots = spots_matrix(setup)
    n_eta, n_ome = math.ceil(360.0 / eb), math.ceil(360.0 / ob)
    radius = dict(zip(setup.ring_numbers, setup.ring_radius_um, strict=True))
    n_ring_bins = max(setup.ring_numbers) if setup.ring_numbers else 0
    ring = spots[:, 5].astype(np.int64)
    use = np.flatnonzero((ring >= 1) & np.isin(ring, list(radius)))
    eta, ome, rr = spots[use, 6], spots[use, 2], ring[use]
    ring_r = np.array([radius[int(x)] for x in rr]) if rr.size else np.zeros(0)
    with np.errstate(divide="ignore"):
        ome_margin = mo + 0.5 * so / np.abs(np.sin(np.radians(eta)))
    eta_margin = np.degrees(np.arctan(me / ring_r)) + 0.5 * so
    ie0 = np.floor((180.0 + eta - eta_margin) / eb).astype(np.int64)
    ie1 = np.floor((180.0 + eta + eta_margin) / eb).astype(np.int64)
    finite = np.isfinite(ome_margin)
    io0 = np.where(finite, np.floor((180.0 + ome - np.where(finite, ome_margin, 0)) / ob), 0).astype(np.int64)
    io1 = np.where(finite, np.floor((180.0 + ome + np.where(finite, ome_margin, 0)) / ob), n_ome - 1).astype(np.int64)
    ne = ie1 - ie0 + 1
    no = np.minimum(io1 - io0 + 1, n_ome)
    per = ne * no
    # Expand every spot into its cells: spot s covers ne[s] × no[s] (iη, iω) pairs.
    spot_rep = np.repeat(np.arange(use.size), per)
    local = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    de, do = local // no[spot_rep], local % no[spot_rep]
    ie = np.mod(ie0[spot_rep] + de, n_eta)
    io = np.mod(io0[spot_rep] + do, n_ome)
    key = (rr[spot_rep] - 1) * n_eta * n_ome + ie * n_ome + io
    order = np.lexsort((use[spot_rep], key))
    key, row = key[order], use[spot_rep][order]
    cells, start = np.unique(key, return_index=True)
    cell_start = np.append(start, key.size).astype(np.int64)
    log.info("bin_spots: %d spots in %d cells (%d entries); dense upstream table would have %d cells",
             use.size, cells.size, key.size, n_ring_bins * n_eta * n_ome)
    return BinnedSpots(spots=spots, extra_info=extra_info_matrix(setup), ring_numbers=setup.ring_numbers,
                       ring_radius_um=setup.ring_radius_um, eta_bin_size_deg=eb, ome_bin_size_deg=ob,
                       n_eta_bins=n_eta, n_ome_bins=n_ome, n_ring_bins=n_ring_bins, cell_key=cells.astype(np.int64),
                       cell_start=cell_start, rows=row.astype(np.int32), setup=setup)
