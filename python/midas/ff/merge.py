"""Merge the peaks of consecutive frames into spots (upstream ``MergeOverlappingPeaksAllZarr``).

A diffraction spot lights up several consecutive frames as the sample turns. Going through the
frames in order, every open spot is paired with at most one peak of the next frame: by distance
(the peak's centre within ``overlap_length_px`` of the spot's latest centre, and their radii
within the same distance) or, with ``use_pixel_overlap``, by the number of pixels their regions
share. Pairs are taken greedily, closest (or most overlapping) first, so each spot and each peak
is used once and the result does not depend on the order of the peaks. A spot with no partner in
the next frame is closed. Spots are numbered 1, 2, ... in the order they close (ties in the order
they opened). upstream_facts.md §4.2, §3.5.

Merged values: intensity summed; ω, Y, Z, radius and η intensity-weighted means; IMax, σR, ση,
FitRMSE and maskTouched the largest; MinOme/MaxOme the extremes; pixel counts and raw sums summed.
(Upstream takes Radius and Eta from the latest frame; a spot's radius does not change across
frames, so the weighted mean only removes noise.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError
from midas.ff.peaksearch import PeakTable

__all__ = ["RESULT_COLUMNS", "MergedSpots", "merge_peaks"]

log = logging.getLogger(__name__)

#: Columns of upstream's ``Result_StartNr_<s>_EndNr_<e>.csv`` (17).
RESULT_COLUMNS: tuple[str, ...] = (
    "SpotID", "IntegratedIntensity", "Omega", "YCen", "ZCen", "IMax", "MinOme", "MaxOme", "SigmaR", "SigmaEta",
    "NrPx", "NrPxTot", "Radius", "Eta", "RawSumIntensity", "maskTouched", "FitRMSE",
)
_R = {name: i for i, name in enumerate(RESULT_COLUMNS)}
_P = {name: i for i, name in enumerate((
    "SpotID", "IntegratedIntensity", "Omega", "YCen", "ZCen", "IMax", "Radius", "Eta", "SigmaR", "SigmaEta",
    "NrPixels", "NrPxTot", "nPeaks", "maxY", "maxZ", "diffY", "diffZ", "rawIMax", "returnCode", "retVal", "BG",
    "SigmaGR", "SigmaLR", "SigmaGEta", "SigmaLEta", "MU", "RawSumIntensity", "maskTouched", "FitRMSE"))}


@dataclass(frozen=True, slots=True)
class MergedSpots:
    """Spots merged over ω, with the peaks each one was made of.

    Attributes
    ----------
    rows : (M, 17) float64
        One row per spot, columns :data:`RESULT_COLUMNS` (SpotID = row + 1; ω in degrees with the
        label convention of the peaks; YCen/ZCen in px; Radius px, Eta deg uncorrected).
    member_start : (M + 1,) int64
        Peaks of spot ``s`` are ``member_peak[member_start[s]:member_start[s+1]]`` (frame order).
    member_peak : (K,) int64
        Row indices into ``peaks.rows``.
    peaks : PeakTable
        The peaks that were merged.
    """

    rows: NDArray[np.float64]
    member_start: NDArray[np.int64]
    member_peak: NDArray[np.int64]
    peaks: PeakTable

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def column(self, name: str) -> NDArray[np.float64]:
        """One column by its upstream name (see :data:`RESULT_COLUMNS`)."""
        try:
            return self.rows[:, _R[name]]
        except KeyError:
            raise ParamError(f"no merged-spot column {name!r}; columns are {RESULT_COLUMNS}") from None

    @property
    def omega_label(self) -> str:
        """ω label convention of the peaks (``"centre"`` or ``"start"``)."""
        return self.peaks.omega_label

    def merge_map(self) -> NDArray[np.int64]:
        """``(K, 3)`` rows of upstream's MergeMap.csv: merged SpotID, frame number (1-based), peak SpotID."""
        spot = np.repeat(np.arange(1, len(self) + 1), np.diff(self.member_start))
        frame = self.peaks.frame[self.member_peak].astype(np.int64) + 1
        peak_id = self.peaks.rows[self.member_peak, 0].astype(np.int64)
        return np.stack([spot, frame, peak_id], axis=1)


def _pairs_by_distance(pos_open: NDArray[np.float64], r_open: NDArray[np.float64], pos_new: NDArray[np.float64],
                       r_new: NDArray[np.float64], length: float) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                                                            NDArray[np.float64]]:
    if pos_open.shape[0] * pos_new.shape[0] <= 250_000:  # small frames: a dense distance table is fastest
        d_all = np.hypot(pos_open[:, 0, None] - pos_new[None, :, 0], pos_open[:, 1, None] - pos_new[None, :, 1])
        i, j = np.nonzero(d_all < length)
        d = d_all[i, j]
    else:
        from scipy.spatial import cKDTree

        sdm = cKDTree(pos_open).sparse_distance_matrix(cKDTree(pos_new), length, output_type="coo_matrix")
        i, j, d = sdm.row, sdm.col, sdm.data
    i, j = i.astype(np.int64), j.astype(np.int64)
    keep = (d < length) & (np.abs(r_open[i] - r_new[j]) < length)
    return i[keep], j[keep], d[keep]


def _pairs_by_overlap(px_open: list[NDArray[np.int64]], px_new: list[NDArray[np.int64]]
                      ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Pairs (open i, new j) sharing pixels, with −(shared pixel count) as the sort key."""
    if not px_open or not px_new:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    ko = np.concatenate(px_open)
    io = np.repeat(np.arange(len(px_open)), [p.size for p in px_open])
    kn = np.concatenate(px_new)
    jn = np.repeat(np.arange(len(px_new)), [p.size for p in px_new])
    order = np.argsort(ko, kind="stable")
    ko, io = ko[order], io[order]
    lo = np.searchsorted(ko, kn, side="left")
    hi = np.searchsorted(ko, kn, side="right")
    counts = hi - lo
    if counts.sum() == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    jj = np.repeat(jn, counts)
    idx = np.concatenate([np.arange(a, b) for a, b in zip(lo[counts > 0], hi[counts > 0], strict=True)])
    ii = io[idx]
    key = ii * (len(px_new) + 1) + jj
    uniq, n_shared = np.unique(key, return_counts=True)
    return (uniq // (len(px_new) + 1)).astype(np.int64), (uniq % (len(px_new) + 1)).astype(np.int64), \
        -n_shared.astype(np.float64)


def _greedy(i: NDArray[np.int64], j: NDArray[np.int64], cost: NDArray[np.float64], n_i: int,
            n_j: int) -> NDArray[np.int64]:
    """Partner (index into new) of each open spot, −1 if none: cheapest pairs first, ties by (i, j)."""
    partner = np.full(n_i, -1, dtype=np.int64)
    if i.size == 0:
        return partner
    taken = np.zeros(n_j, dtype=bool)
    for k in np.lexsort((j, i, cost)):
        a, b = int(i[k]), int(j[k])
        if partner[a] < 0 and not taken[b]:
            partner[a] = b
            taken[b] = True
    return partner


def merge_peaks(peaks: PeakTable, *, overlap_length_px: float = 2.0, use_pixel_overlap: bool = False,
                use_maxima_positions: bool = False, min_intensity: float = 1.0) -> MergedSpots:
    """Merge peaks of consecutive frames into spots.

    Parameters
    ----------
    peaks : PeakTable
        Output of :func:`midas.ff.peaksearch.search_peaks`.
    overlap_length_px : float
        ``OverlapLength``: largest centre distance (and radius difference) of a peak continuing a
        spot in the next frame, px (default 2).
    use_pixel_overlap : bool
        ``UsePixelOverlap``: pair by shared region pixels instead of distance.
    use_maxima_positions : bool
        ``UseMaximaPositions``: use the brightest pixel of each peak (maxY, maxZ) instead of the
        fitted centre, for matching and for the merged centre.
    min_intensity : float
        Peaks with a smaller integrated intensity are left out (upstream: 1).

    Returns
    -------
    MergedSpots

    Raises
    ------
    ParamError
        For a non-positive ``overlap_length_px``.

    Examples
    --------
    See ``tests/ff_front/test_merge.py``.
    """
    if not (overlap_length_px > 0):
        raise ParamError(f"OverlapLength = {overlap_length_px}: expected a distance > 0 px")
    rows = peaks.rows
    ycol, zcol = (_P["maxY"], _P["maxZ"]) if use_maxima_positions else (_P["YCen"], _P["ZCen"])
    usable = rows[:, _P["IntegratedIntensity"]] >= min_intensity
    n_y = max(int(peaks.frame_shape[1]), int(peaks.region_px_yz[:, 0].max()) + 1 if len(peaks.region_px_yz) else 1)
    starts = peaks.frame_start
    spot_of = np.full(len(peaks), -1, dtype=np.int64)
    close_rank: list[int] = []  # spot ids in closing order
    open_spots: list[int] = []  # spot id per open spot (opening order)
    open_last: list[int] = []  # latest peak row per open spot
    n_spots = 0

    def region_keys(k: int) -> NDArray[np.int64]:
        px = peaks.pixels(k).astype(np.int64)
        return px[:, 1] * n_y + px[:, 0]

    for f in range(peaks.n_frames):
        new = np.arange(starts[f], starts[f + 1])
        new = new[usable[new]]
        partner = np.full(len(open_spots), -1, dtype=np.int64)
        if open_spots and new.size:
            last = np.asarray(open_last)
            if use_pixel_overlap:
                i, j, cost = _pairs_by_overlap([region_keys(k) for k in last], [region_keys(k) for k in new])
            else:
                i, j, cost = _pairs_by_distance(rows[last][:, [ycol, zcol]], rows[last, _P["Radius"]],
                                                rows[new][:, [ycol, zcol]], rows[new, _P["Radius"]],
                                                overlap_length_px)
            partner = _greedy(i, j, cost, len(open_spots), new.size)
        taken = np.zeros(new.size, dtype=bool)
        still_open, still_last = [], []
        for s, p in zip(open_spots, partner, strict=True):
            if p >= 0:
                spot_of[new[p]] = s
                taken[p] = True
                still_open.append(s)
                still_last.append(int(new[p]))
            else:
                close_rank.append(s)
        for k in new[~taken]:
            spot_of[k] = n_spots
            still_open.append(n_spots)
            still_last.append(int(k))
            n_spots += 1
        open_spots, open_last = still_open, still_last
    close_rank.extend(open_spots)

    # Renumber spots by closing order, then aggregate their peaks.
    new_id = np.empty(n_spots, dtype=np.int64)
    new_id[np.asarray(close_rank, dtype=np.int64)] = np.arange(n_spots)
    members = np.flatnonzero(spot_of >= 0)
    sid = new_id[spot_of[members]]
    order = np.lexsort((members, sid))
    member_peak = members[order]
    sid = sid[order]
    member_start = np.searchsorted(sid, np.arange(n_spots + 1)).astype(np.int64)
    return MergedSpots(rows=_aggregate(rows, member_peak, member_start, ycol, zcol), member_start=member_start,
                       member_peak=member_peak.astype(np.int64), peaks=peaks)


def _aggregate(rows: NDArray[np.float64], member_peak: NDArray[np.int64], member_start: NDArray[np.int64],
               ycol: int, zcol: int) -> NDArray[np.float64]:
    m = member_start.size - 1
    out = np.zeros((m, len(RESULT_COLUMNS)))
    if m == 0:
        return out
    p = rows[member_peak]
    seg = member_start[:-1]
    w = p[:, _P["IntegratedIntensity"]]
    total = np.add.reduceat(w, seg)

    def wmean(col: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.add.reduceat(w * col, seg) / total

    # η of the members of a spot, unwrapped around its first member before averaging.
    first_eta = np.repeat(p[seg, _P["Eta"]], np.diff(member_start))
    eta = first_eta + np.remainder(p[:, _P["Eta"]] - first_eta + 180.0, 360.0) - 180.0
    eta_mean = np.remainder(wmean(eta) + 180.0, 360.0) - 180.0
    eta_mean[eta_mean == -180.0] = 180.0
    out[:, _R["SpotID"]] = np.arange(1, m + 1)
    out[:, _R["IntegratedIntensity"]] = total
    out[:, _R["Omega"]] = wmean(p[:, _P["Omega"]])
    out[:, _R["YCen"]] = wmean(p[:, ycol])
    out[:, _R["ZCen"]] = wmean(p[:, zcol])
    out[:, _R["IMax"]] = np.maximum.reduceat(p[:, _P["IMax"]], seg)
    out[:, _R["MinOme"]] = np.minimum.reduceat(p[:, _P["Omega"]], seg)
    out[:, _R["MaxOme"]] = np.maximum.reduceat(p[:, _P["Omega"]], seg)
    out[:, _R["SigmaR"]] = np.maximum.reduceat(p[:, _P["SigmaR"]], seg)
    out[:, _R["SigmaEta"]] = np.maximum.reduceat(p[:, _P["SigmaEta"]], seg)
    out[:, _R["NrPx"]] = np.add.reduceat(p[:, _P["NrPixels"]], seg)
    out[:, _R["NrPxTot"]] = np.add.reduceat(p[:, _P["NrPxTot"]], seg)
    out[:, _R["Radius"]] = wmean(p[:, _P["Radius"]])
    out[:, _R["Eta"]] = eta_mean
    out[:, _R["RawSumIntensity"]] = np.add.reduceat(p[:, _P["RawSumIntensity"]], seg)
    out[:, _R["maskTouched"]] = np.maximum.reduceat(p[:, _P["maskTouched"]], seg)
    out[:, _R["FitRMSE"]] = np.maximum.reduceat(p[:, _P["FitRMSE"]], seg)
    return out
