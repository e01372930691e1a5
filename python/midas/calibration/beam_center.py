"""Automatic beam-centre detection from the ring pattern.

Every ring pixel knows the direction of its ring's normal: the dominant eigenvector of the local
structure tensor of the background-subtracted image points across the ring, i.e. along the
radius. The line through the pixel in that direction passes (for an untilted detector exactly,
for a tilted one within a few pixels) through the beam centre. The centre is found in three steps:

1. **vote** — intersections of random pairs of such lines are histogrammed; the densest cell is
   the seed (no starting guess needed, partial rings and off-detector centres work; a
   ``-BCGuess`` restricts the vote to a window around the guess);
2. **robust least squares** — the point nearest to all lines in the Tukey-biweight sense
   (iteratively reweighted, closed-form 2 × 2 solve per step), which ignores lines from the
   beamstop arm, gaps and spots;
3. **radial sharpness** — a small grid search maximising the sharpness Σh²/(Σh)² of the radial
   histogram of the ring pixels around the centre.

Gaps and masked pixels are excluded (with a margin) before the structure tensor is evaluated,
so module edges never vote.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ConvergenceError

__all__ = ["BeamCentre", "detect_beam_center", "radial_sharpness"]

log = logging.getLogger(__name__)

_MAX_LINES = 40_000
_N_PAIRS = 200_000
_MIN_LINES = 50
_MAX_SHARPNESS_PIXELS = 60_000


@dataclass(frozen=True, slots=True)
class BeamCentre:
    """Result of :func:`detect_beam_center`.

    Attributes
    ----------
    bc_px : (float, float)
        Beam centre ``(y, z)`` = (column, row) of the calibration frame, pixels.
    n_lines : int
        Ring-normal lines used.
    inlier_fraction : float
        Fraction of lines passing within 3 robust σ of the centre.
    line_scatter_px : float
        Robust σ of the line-to-centre distances, pixels.
    seed_px : (float, float)
        The vote's (or guess's) starting point.
    """

    bc_px: tuple[float, float]
    n_lines: int
    inlier_fraction: float
    line_scatter_px: float
    seed_px: tuple[float, float]


def _ring_normals(net: NDArray[np.float64], usable: NDArray[np.bool_], ring_mask: NDArray[np.bool_],
                  rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Points (y, z), unit normals (ny, nz) and weights of ring pixels with a clear orientation."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(net.astype(np.float32), 1.0, truncate=3.0)
    gz = ndimage.sobel(smooth, axis=0)
    gy = ndimage.sobel(smooth, axis=1)
    jyy = ndimage.gaussian_filter(gy * gy, 2.0, truncate=2.5)
    jzz = ndimage.gaussian_filter(gz * gz, 2.0, truncate=2.5)
    jyz = ndimage.gaussian_filter(gy * gz, 2.0, truncate=2.5)
    trace = jyy + jzz
    diff = np.hypot(jyy - jzz, 2.0 * jyz)
    with np.errstate(invalid="ignore", divide="ignore"):
        coherence = np.where(trace > 0, diff / trace, 0.0)
    cand = ring_mask & usable & (coherence > 0.6)
    idx = np.flatnonzero(cand)
    if idx.size > _MAX_LINES:
        idx = np.sort(rng.choice(idx, _MAX_LINES, replace=False))
    z, y = np.divmod(idx, net.shape[1])
    theta = 0.5 * np.arctan2(2.0 * jyz.ravel()[idx], (jyy - jzz).ravel()[idx])
    normals = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (ny, nz) along the gradient
    weights = coherence.ravel()[idx]
    return np.stack([y, z], axis=1).astype(np.float64), normals, weights


def _vote(points: NDArray[np.float64], normals: NDArray[np.float64], window: tuple[float, float, float, float],
          rng: np.random.Generator) -> tuple[float, float] | None:
    """Densest cell of pairwise line intersections inside ``window`` = (y0, y1, z0, z1)."""
    from scipy import ndimage

    n = points.shape[0]
    i = rng.integers(0, n, _N_PAIRS)
    j = rng.integers(0, n, _N_PAIRS)
    ni, nj = normals[i], normals[j]
    cross = ni[:, 0] * nj[:, 1] - ni[:, 1] * nj[:, 0]
    ok = np.abs(cross) > math.sin(math.radians(20.0))
    dp = points[j] - points[i]
    t = np.where(ok, (dp[:, 0] * nj[:, 1] - dp[:, 1] * nj[:, 0]) / np.where(ok, cross, 1.0), np.nan)
    cy = points[i, 0] + t * ni[:, 0]
    cz = points[i, 1] + t * ni[:, 1]
    y0, y1, z0, z1 = window
    inside = ok & (cy >= y0) & (cy < y1) & (cz >= z0) & (cz < z1)
    if inside.sum() < 20:
        return None
    cell = max(1.0, max(y1 - y0, z1 - z0) / 400.0)
    ny_c = max(1, math.ceil((y1 - y0) / cell))
    nz_c = max(1, math.ceil((z1 - z0) / cell))
    hist, _, _ = np.histogram2d(cz[inside], cy[inside], bins=(nz_c, ny_c), range=((z0, z1), (y0, y1)))
    hist = ndimage.gaussian_filter(hist, 1.5)
    kz, ky = np.unravel_index(int(np.argmax(hist)), hist.shape)
    return y0 + (ky + 0.5) * cell, z0 + (kz + 0.5) * cell


def _robust_centre(points: NDArray[np.float64], normals: NDArray[np.float64], weights: NDArray[np.float64],
                   seed: tuple[float, float], start_scale_px: float) -> tuple[NDArray[np.float64], float, float]:
    """Tukey-biweight point nearest to the lines; returns (centre, robust σ, inlier fraction)."""
    perp = np.stack([-normals[:, 1], normals[:, 0]], axis=1)  # unit vectors across each line
    c = np.asarray(seed, dtype=np.float64)
    scale = float(start_scale_px)
    sigma = scale
    for _ in range(40):
        d = np.einsum("ij,ij->i", c[None, :] - points, perp)
        sigma = 1.4826 * float(np.median(np.abs(d)))
        scale = max(min(scale, 4.685 * max(sigma, 0.05)), 0.5)
        u = d / scale
        w = weights * np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if w.sum() <= 0:
            break
        a = np.einsum("i,ij,ik->jk", w, perp, perp)
        b = np.einsum("i,ij,ik,ik->j", w, perp, perp, points)
        try:
            c_new = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            break
        step = float(np.hypot(*(c_new - c)))
        c = c_new
        if step < 1e-4 and scale <= 4.685 * max(sigma, 0.05) * 1.0001:
            break
    d = np.einsum("ij,ij->i", c[None, :] - points, perp)
    sigma = 1.4826 * float(np.median(np.abs(d)))
    inliers = float(np.mean(np.abs(d) < 3.0 * max(sigma, 0.5)))
    return c, sigma, inliers


def radial_sharpness(points: NDArray[np.float64], weights: NDArray[np.float64], centre: ArrayLike,
                     bin_px: float = 0.5) -> float:
    """Σh² / (Σh)² of the weighted histogram of distances from ``centre`` (higher = sharper rings).

    Parameters
    ----------
    points : (N, 2) float64
        Pixel coordinates (y, z).
    weights : (N,) float64
        Intensities (≥ 0).
    centre : (2,) float
        Candidate centre (y, z), pixels.
    bin_px : float
        Histogram bin, pixels.
    """
    c = np.asarray(centre, dtype=np.float64)
    r = np.hypot(points[:, 0] - c[0], points[:, 1] - c[1])
    h = np.bincount((r / bin_px).astype(np.int64), weights=weights)
    s = float(h.sum())
    return float(np.dot(h, h) / (s * s)) if s > 0 else 0.0


def _sharpen(points: NDArray[np.float64], weights: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.float64]:
    best = c.copy()
    for step, half in ((1.0, 3), (0.25, 2)):
        offs = np.arange(-half, half + 1) * step
        scores = np.array([[radial_sharpness(points, weights, best + (dy, dz)) for dy in offs] for dz in offs])
        kz, ky = np.unravel_index(int(np.argmax(scores)), scores.shape)
        shift = [offs[ky], offs[kz]]
        if step < 1.0:  # parabola through the best cell and its neighbours, per axis
            for axis, k, line in ((0, ky, scores[kz, :]), (1, kz, scores[:, ky])):
                if 0 < k < len(offs) - 1:
                    a, b, cc = line[k - 1], line[k], line[k + 1]
                    den = a - 2 * b + cc
                    if den < 0:
                        shift[axis] += step * float(np.clip(0.5 * (a - cc) / den, -0.5, 0.5))
        best = best + shift
    return best


def detect_beam_center(net: ArrayLike, bad: ArrayLike, ring_mask: ArrayLike, *,
                       guess_px: tuple[float, float] | None = None, guess_radius_px: float = 200.0,
                       seed: int = 0) -> BeamCentre:
    """Find the beam centre of a powder ring pattern.

    Parameters
    ----------
    net : (n_z, n_y) float64
        Background-subtracted image (calibration frame: row z, column y).
    bad : (n_z, n_y) bool
        Pixels without data (gaps, mask).
    ring_mask : (n_z, n_y) bool
        Thresholded ring pixels (:func:`midas.calibration.background.ring_threshold`).
    guess_px : (y, z), optional
        Starting guess (``-BCGuess``); the vote is restricted to ``guess_radius_px`` around it.
    guess_radius_px : float
        Half-size of the vote window around a guess (default 200 px).
    seed : int
        Seed of the random subsampling (the result is deterministic for a given seed).

    Returns
    -------
    BeamCentre

    Raises
    ------
    ConvergenceError
        Too few ring pixels with a clear orientation (an image without rings), or no consistent
        centre (the lines do not meet).

    Notes
    -----
    Coordinates: ``y`` = column, ``z`` = row of the image array, pixel centres at integers
    (``docs/conventions.md``). The vote window without a guess is the detector
    enlarged by half its size on every side, so centres up to that far off the detector are found.
    """
    from scipy import ndimage

    v = np.asarray(net, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    rings = np.asarray(ring_mask, dtype=bool)
    rng = np.random.default_rng(seed)
    usable = ~ndimage.binary_dilation(badm, iterations=4)
    usable[:4, :] = usable[-4:, :] = False
    usable[:, :4] = usable[:, -4:] = False
    points, normals, weights = _ring_normals(np.where(badm, 0.0, v), usable, rings, rng)
    if points.shape[0] < _MIN_LINES:
        raise ConvergenceError(f"beam centre: only {points.shape[0]} ring pixels with a clear ring direction "
                               f"(need {_MIN_LINES}); the image shows no powder rings (check the threshold, "
                               "dark and mask)")
    nz, ny = v.shape
    if guess_px is not None:
        gy, gz = float(guess_px[0]), float(guess_px[1])
        window = (gy - guess_radius_px, gy + guess_radius_px, gz - guess_radius_px, gz + guess_radius_px)
    else:
        window = (-0.5 * ny, 1.5 * ny, -0.5 * nz, 1.5 * nz)
    voted = _vote(points, normals, window, rng)
    if voted is None:
        if guess_px is None:
            raise ConvergenceError("beam centre: the ring-normal lines do not meet anywhere near the detector; "
                                   "no ring pattern found")
        voted = (float(guess_px[0]), float(guess_px[1]))
    cell = max(1.0, max(window[1] - window[0], window[3] - window[2]) / 400.0)
    c, sigma, inliers = _robust_centre(points, normals, weights, voted, start_scale_px=max(20.0, 8 * cell))
    if not np.all(np.isfinite(c)) or inliers < 0.1:
        raise ConvergenceError(f"beam centre: no consistent centre (only {inliers:.0%} of {points.shape[0]} "
                               "ring-normal lines agree); no clear ring pattern")
    ring_idx = np.flatnonzero(rings.ravel())
    if ring_idx.size > _MAX_SHARPNESS_PIXELS:
        ring_idx = np.sort(rng.choice(ring_idx, _MAX_SHARPNESS_PIXELS, replace=False))
    rz, ry = np.divmod(ring_idx, ny)
    rp = np.stack([ry, rz], axis=1).astype(np.float64)
    rw = np.clip(v.ravel()[ring_idx], 0.0, None)
    c = _sharpen(rp, rw, c)
    log.info("beam centre (y, z) = (%.2f, %.2f) px from %d ring-normal lines (seed %.1f, %.1f; %.0f%% inliers, "
             "scatter %.2f px)", c[0], c[1], points.shape[0], voted[0], voted[1], 100 * inliers, sigma)
    return BeamCentre(bc_px=(float(c[0]), float(c[1])), n_lines=int(points.shape[0]), inlier_fraction=inliers,
                      line_scatter_px=sigma, seed_px=(float(voted[0]), float(voted[1])))
