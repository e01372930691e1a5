"""Ring radii from the radial profile, and the distance from their ratios.

With the beam centre known to a pixel or so, the azimuthal mean of the background-subtracted
image against the distance from the centre shows one peak per visible ring. Peak positions come
from :func:`midas.integration.peakfit.find_peaks` (SNIP background) and a parabola through the
three highest bins.

The sample-to-detector distance follows from matching the measured radii ``r_i`` (pixels) to the
calibrant's ``tan 2θ_k``: every pair (i, k) proposes a scale ``s = r_i / tan 2θ_k`` (= Lsd / px);
each proposal is scored by how well the whole predicted ring set ``s·tan 2θ`` matches the whole
measured set — the F1 score of "measured peaks explained" (recall) and "predicted rings inside
the measured range that are seen" (precision). Ratios alone are ambiguous for a cubic calibrant
(at half the distance every measured ring is explained too, by the rings with 4·(h²+k²+l²));
the precision term rejects such scales because they predict rings that are not there.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ConvergenceError, ParamError

__all__ = ["DistanceEstimate", "RadialProfile", "RingPeaks", "detect_ring_peaks", "estimate_distance",
           "radial_profile"]

log = logging.getLogger(__name__)

_N_PROPOSERS = 8


@dataclass(frozen=True, slots=True)
class RadialProfile:
    """Azimuthal mean of an image against the distance from a centre.

    Attributes
    ----------
    r_px : (n,) float64
        Bin centres, pixels from the centre.
    mean : (n,) float64
        Mean value of the good pixels in each bin (NaN where there is none).
    coverage : (n,) float64
        Fraction of the full circle covered by good pixels in each bin (0..1).
    count : (n,) float64
        Good pixels in each bin.
    """

    r_px: NDArray[np.float64]
    mean: NDArray[np.float64]
    coverage: NDArray[np.float64]
    count: NDArray[np.float64]


def radial_profile(values: ArrayLike, bad: ArrayLike, centre_px: tuple[float, float], *,
                   bin_px: float = 0.5) -> RadialProfile:
    """Azimuthal mean of ``values`` around ``centre_px`` = (y, z), on a flat detector.

    Parameters
    ----------
    values : (n_z, n_y) float
        Image (row z, column y).
    bad : (n_z, n_y) bool
        Pixels left out.
    centre_px : (y, z)
        Centre, pixels.
    bin_px : float
        Radial bin width, pixels.

    Returns
    -------
    RadialProfile

    Raises
    ------
    ParamError
        Shapes that differ or a bin width ≤ 0.
    """
    v = np.asarray(values, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    if v.shape != badm.shape or v.ndim != 2:
        raise ParamError(f"values {v.shape} and bad {badm.shape} must be equal 2-D arrays")
    if not bin_px > 0:
        raise ParamError(f"radial bin {bin_px} px must be > 0")
    zz, yy = np.nonzero(~badm)
    r = np.hypot(yy - centre_px[0], zz - centre_px[1])
    k = (r / bin_px).astype(np.int64)
    n_bins = int(k.max()) + 1 if k.size else 1
    count = np.bincount(k, minlength=n_bins).astype(np.float64)
    total = np.bincount(k, weights=v[zz, yy], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    r_mid = np.asarray((np.arange(n_bins) + 0.5) * bin_px, dtype=np.float64)
    circle = 2.0 * math.pi * r_mid * bin_px
    return RadialProfile(r_px=r_mid, mean=mean, coverage=np.clip(count / circle, 0.0, 1.0), count=count)


@dataclass(frozen=True, slots=True)
class RingPeaks:
    """Peaks of a radial profile.

    Attributes
    ----------
    r_px : (m,) float64
        Peak positions, pixels from the centre, increasing.
    height : (m,) float64
        Peak height above the SNIP background, counts.
    r_range_px : (float, float)
        Radial range where the profile covers at least 10 % of the circle (where rings can be
        seen).
    """

    r_px: NDArray[np.float64]
    height: NDArray[np.float64]
    r_range_px: tuple[float, float]


def detect_ring_peaks(profile: RadialProfile, *, min_coverage: float = 0.1, min_snr: float = 6.0,
                      r_min_px: float = 5.0) -> RingPeaks:
    """Ring peaks of a radial profile.

    Parameters
    ----------
    profile : RadialProfile
    min_coverage : float
        Bins covering less of the circle are ignored.
    min_snr : float
        Minimum prominence in units of the profile noise (see
        :func:`midas.integration.peakfit.find_peaks`).
    r_min_px : float
        Ignore the centre region (beam, beamstop).

    Returns
    -------
    RingPeaks
        Possibly empty.
    """
    from midas.integration.peakfit import find_peaks, snip_background

    ok = (profile.coverage >= min_coverage) & np.isfinite(profile.mean) & (profile.r_px >= r_min_px)
    if ok.sum() < 10:
        return RingPeaks(np.zeros(0), np.zeros(0), (0.0, 0.0))
    first, last = int(np.flatnonzero(ok)[0]), int(np.flatnonzero(ok)[-1])
    y = profile.mean[first:last + 1].copy()
    y[~ok[first:last + 1]] = np.nan
    idx = find_peaks(y, snip_iterations=20, min_snr=min_snr, min_fraction=0.002)
    filled = np.where(np.isfinite(y), y, np.interp(np.arange(y.size), np.flatnonzero(np.isfinite(y)),
                                                   y[np.isfinite(y)]))
    net = filled - snip_background(filled, 20)
    # per-pixel noise from the bin-to-bin scatter scaled by √count; a peak must stand out of its own
    # bin's standard error (the few pixels near the centre make a noisy profile there)
    count = profile.count[first:last + 1]
    rough = np.diff(filled, 2) * np.sqrt(np.maximum(count[1:-1], 1.0)) / math.sqrt(6.0)
    sigma_pixel = 1.4826 * float(np.median(np.abs(rough - np.median(rough)))) if rough.size else 0.0
    r_out, h_out = [], []
    step = float(profile.r_px[1] - profile.r_px[0])
    for i in idx:
        if i <= 0 or i >= y.size - 1:
            continue
        if net[i] < min_snr * sigma_pixel / math.sqrt(max(count[i], 1.0)):
            continue
        a, b, c = net[i - 1], net[i], net[i + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den < 0 else 0.0
        r_out.append(float(profile.r_px[first + i] + np.clip(off, -1, 1) * step))
        h_out.append(float(b))
    r_arr, h_arr = np.asarray(r_out), np.asarray(h_out)
    order = np.argsort(r_arr)
    return RingPeaks(r_arr[order], h_arr[order], (float(profile.r_px[first]), float(profile.r_px[last])))


@dataclass(frozen=True, slots=True)
class DistanceEstimate:
    """Distance from ring-radius ratios.

    Attributes
    ----------
    lsd_um : float
        Sample-to-detector distance, µm.
    matched_peaks : (p,) int64
        Indices into the measured peaks that were explained.
    matched_rings : (p,) int64
        Indices into the calibrant ring list they were assigned to.
    precision : float
        Fraction of predicted rings inside the measured range that were seen (weighted by
        multiplicity when given).
    recall : float
        Fraction of measured peaks explained, each weighted by the square root of its height.
    rms_rel : float
        RMS relative deviation r_i / (s·tan 2θ_k) − 1 of the matched pairs.
    """

    lsd_um: float
    matched_peaks: NDArray[np.int64]
    matched_rings: NDArray[np.int64]
    precision: float
    recall: float
    rms_rel: float

    @property
    def score(self) -> float:
        """F1 score of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _match(r: NDArray[np.float64], pred: NDArray[np.float64], tol_rel: float) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest predicted ring of every measured radius and the relative deviation."""
    j = np.clip(np.searchsorted(pred, r), 1, pred.size - 1) if pred.size > 1 else np.zeros(r.size, np.int64)
    if pred.size > 1:
        left_closer = np.abs(r - pred[j - 1]) < np.abs(r - pred[j])
        j = np.where(left_closer, j - 1, j)
    dev = r / pred[j] - 1.0
    return j.astype(np.int64), dev


def estimate_distance(peaks: RingPeaks, tan_tth: ArrayLike, pixel_size_um: float, *,
                      multiplicity: ArrayLike | None = None, lsd_guess_um: float | None = None, lsd_range_um: tuple[float, float] = (2e4, 2e7),
                      tol_rel: float = 0.006, tol_px: float = 2.0, min_rings: int = 3,
                      min_precision: float = 0.7, min_recall: float = 0.75) -> DistanceEstimate:
    """Sample-to-detector distance from measured ring radii and the calibrant's 2θ values.

    Parameters
    ----------
    peaks : RingPeaks
        Measured radii (pixels, flat detector around the beam centre).
    tan_tth : (K,) float
        tan 2θ of the calibrant rings that can be visible (increasing).
    pixel_size_um : float
        Pixel pitch, µm.
    multiplicity : (K,) float, optional
        Weight of each ring in the precision (reflections per ring: a missing strong, multiple ring
        counts more than a missing weak one); default 1.
    lsd_guess_um : float, optional
        ``-LsdGuess``: the search is restricted to 0.6–1.6 × the guess, and among equally good
        scales the one nearest the guess wins.
    lsd_range_um : (float, float)
        Search range without a guess (default 20 mm – 20 m).
    tol_rel, tol_px : float
        A measured radius is explained by a predicted ring within max(tol_rel·r, tol_px).
    min_rings : int
        Matched rings needed.
    min_precision, min_recall : float
        Acceptance thresholds of the best match.

    Returns
    -------
    DistanceEstimate

    Raises
    ------
    ConvergenceError
        Fewer than ``min_rings`` measured peaks, or no scale explains the peaks well enough (a
        wrong calibrant, wavelength or pixel size; the message gives the best attempt).
    """
    r = np.asarray(peaks.r_px, dtype=np.float64)
    w = np.sqrt(np.clip(np.asarray(peaks.height, dtype=np.float64), 0.0, None))
    w = w / w.sum() if w.sum() > 0 else np.full(r.size, 1.0 / max(r.size, 1))
    t = np.asarray(tan_tth, dtype=np.float64)
    order = np.argsort(t)
    t = t[order]
    mult = np.ones(t.size) if multiplicity is None else np.asarray(multiplicity, dtype=np.float64)[order]
    if r.size < min_rings:
        raise ConvergenceError(f"found {r.size} ring(s) in the radial profile, need at least {min_rings}: "
                               "the image shows no clear powder rings (or the beam centre is wrong)")
    if t.size < min_rings:
        raise ConvergenceError(f"the calibrant has only {t.size} ring(s) in reach; need at least {min_rings}")
    lo_um, hi_um = lsd_range_um
    if lsd_guess_um is not None:
        lo_um, hi_um = 0.6 * lsd_guess_um, 1.6 * lsd_guess_um
    s_lo, s_hi = lo_um / pixel_size_um, hi_um / pixel_size_um
    r_lo, r_hi = peaks.r_range_px
    # the true scale is proposed by every correctly identified peak: the strongest few suffice
    strongest = np.argsort(-w)[:_N_PROPOSERS]
    cand = (r[strongest, None] / t[None, :]).ravel()
    cand = np.unique(cand[(cand >= s_lo) & (cand <= s_hi)])
    if cand.size == 0:
        raise ConvergenceError(f"no calibrant ring can appear at the measured radii for Lsd in "
                               f"{lo_um:.0f}..{hi_um:.0f} µm")
    best: tuple[float, float, float, float, float] | None = None  # (score, n, -dist, s, ...)
    best_est: DistanceEstimate | None = None
    for s in cand:
        pred = s * t
        in_range = (pred >= r_lo) & (pred <= r_hi)
        if in_range.sum() < 1:
            continue
        j, dev = _match(r, pred, tol_rel)
        tol = np.maximum(tol_rel, tol_px / r)
        hit = np.abs(dev) <= tol
        if hit.sum() < 2:
            continue
        # refine the scale on the matched pairs, then re-match once
        s_fit = float(np.sum(r[hit] * t[j[hit]]) / np.sum(t[j[hit]] ** 2))
        pred = s_fit * t
        in_range = (pred >= r_lo) & (pred <= r_hi)
        j, dev = _match(r, pred, tol_rel)
        hit = np.abs(dev) <= tol
        seen = np.unique(j[hit])
        n_pred = int(in_range.sum())
        m_in = mult[in_range]
        precision = float(m_in[np.isin(np.flatnonzero(in_range), seen)].sum() / m_in.sum()) if n_pred else 0.0
        recall = float(w[hit].sum())
        score = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        closeness = -abs(math.log(s_fit * pixel_size_um / lsd_guess_um)) if lsd_guess_um else 0.0
        key = (round(score, 3), int(seen.size), closeness, s_fit, 0.0)
        if best is None or key > best:
            best = key
            rms = float(np.sqrt(np.mean(dev[hit] ** 2))) if hit.any() else math.inf
            best_est = DistanceEstimate(lsd_um=s_fit * pixel_size_um, matched_peaks=np.flatnonzero(hit),
                                        matched_rings=order[j[hit]], precision=precision, recall=recall, rms_rel=rms)
    if best_est is None:
        raise ConvergenceError("the measured ring radii do not match the calibrant at any distance")
    e = best_est
    log.info("distance from ring ratios: Lsd = %.0f µm (%d of %d peaks explained, %.0f%% of predicted rings seen, "
             "rms %.2g)", e.lsd_um, e.matched_peaks.size, r.size, 100 * e.precision, e.rms_rel)
    if e.matched_peaks.size < min_rings or e.precision < min_precision or e.recall < min_recall:
        raise ConvergenceError(
            f"the measured ring radii do not fit the calibrant: the best distance ({e.lsd_um:.0f} µm) explains "
            f"{e.matched_peaks.size} of {r.size} measured rings ({100 * e.recall:.0f}% of the peak signal, need "
            f"{100 * min_recall:.0f}%) "
            f"and {100 * e.precision:.0f}% of the rings it predicts are seen (need {100 * min_precision:.0f}%). "
            "Check the calibrant (SpaceGroup, LatticeConstant), Wavelength and px")
    return e
