"""How much of the final pseudo-strain is noise of the ring positions themselves.

Each ring point is the peak fitted in one (ring, η bin) of the cake. Its radius scatters around
the true ring even at the exact geometry: photon noise, and on a grainy powder (few crystallites
in the beam) the finite number of diffraction spots per bin, each recorded at the centre of the
pixel it hits. No geometry can fit that scatter away, so the mean pseudo-strain a calibration
reaches is bounded below by it.

The scatter is measured from the image (no model of the noise): every η bin is split into its two
halves, both halves are fitted on the cake of the final geometry, and the difference of their
strains ``d = ε_a − ε_b`` removes everything that varies slowly with η (geometry, module errors).
If the two halves are independent and each has √2 the noise of the whole bin, ``E|d|/2`` is the
mean |ε| that the whole-bin points have from noise alone (for Gaussian noise
``E|d|/2 = √(2/π)·σ_bin``). That is the figure reported (``RingNoise.mean_abs_strain``). The
fitted mean strain is usually somewhat below it: the outlier rule (MultFactor) trims the tails and
the fitted parameters absorb part of the scatter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.calibration.cake import ring_points
from midas.calibration.refine import _group_mean_abs
from midas.errors import ParamError
from midas.geometry import FFDetector

__all__ = ["RingNoise", "ring_position_noise"]


@dataclass(frozen=True, slots=True)
class RingNoise:
    """Noise of the (ring, η bin) positions of an image, from η-split pairs.

    Attributes
    ----------
    mean_abs_strain : float
        Mean over all pairs of ``|ε_a − ε_b| / 2``: the mean |pseudo-strain| the whole-bin points
        have from noise alone (dimensionless; NaN without pairs).
    sigma_px : (K,) float64
        Per ring: 1σ of one whole-bin point's radius, pixels (``rms(d)·R/2``; NaN without pairs).
    n_pairs : (K,) int64
        Per ring: η bins whose two halves were both fitted (and, with panels, lie on one panel),
        after the outlier rule.
    eta_bin_size_deg : float
        The whole bin the figures refer to.
    """

    mean_abs_strain: float
    sigma_px: NDArray[np.float64]
    n_pairs: NDArray[np.int64]
    eta_bin_size_deg: float


def ring_position_noise(image: ArrayLike, bad: ArrayLike | None, det: FFDetector, radius_px: ArrayLike, *,
                        half_width_px: ArrayLike, eta_bin_size_deg: float = 5.0,
                        r_bin_px: float = 0.25, mult_factor: float | None = 2.5,
                        outlier_iterations: int = 3) -> RingNoise:
    """Measure the scatter of the ring points of ``eta_bin_size_deg`` bins by splitting each bin in two.

    Parameters
    ----------
    image : (n_z, n_y) float
        Dark-subtracted frame in the calibration frame.
    bad : (n_z, n_y) bool, optional
        Pixels without data.
    det : FFDetector
        Geometry (normally the refined one; the estimate depends on it only through slow terms
        that the difference removes).
    radius_px : (K,) float
        Ideal ring radii ``Lsd·tan 2θ / px`` of ``det``, increasing.
    half_width_px : (K,) float or float
        Radial half-window of each ring (as for :func:`~midas.calibration.cake.ring_points`).
    eta_bin_size_deg : float
        The η bin of the points whose noise is wanted (default 5°); the halves are fitted on
        ``eta_bin_size_deg / 2`` bins, which must divide 360°.
    r_bin_px : float
        Radial bin of the cake, pixels.
    mult_factor : float or None
        The outlier rule of the fit (``MultFactor``), applied to the pair differences of each
        ring: pairs with ``|d| > mult_factor × mean |d|`` of their ring are dropped, up to
        ``outlier_iterations`` times, so that the figure compares with the fitted mean strain.
        None keeps every pair.
    outlier_iterations : int
        Rejection rounds (default 3, as the fit).

    Returns
    -------
    RingNoise

    Raises
    ------
    ParamError
        A bin whose half does not divide 360°, or a non-positive radial bin.
    ConvergenceError
        No ring window on the detector (from :func:`~midas.calibration.cake.ring_points`).

    Notes
    -----
    With a panel layout, a pair counts only when both half-bin peaks lie on the same panel (a
    panel's own offset would otherwise enter ``d``).
    """
    half = float(eta_bin_size_deg) / 2.0
    n_half = 360.0 / half if half > 0 else 0.0
    if not (half > 0 and abs(n_half - round(n_half)) < 1e-6 and round(n_half) % 2 == 0):
        raise ParamError(f"EtaBinSize {eta_bin_size_deg} deg: its half must divide 360 deg")
    if not r_bin_px > 0:
        raise ParamError(f"radial bin {r_bin_px} px must be > 0")
    radius = np.asarray(radius_px, dtype=np.float64)
    pts = ring_points(image, bad, det, radius, half_width_px=half_width_px, eta_bin_size_deg=half,
                      r_bin_px=r_bin_px)
    strain = 1.0 - pts.r_fit_px / radius[pts.ring]
    panel = det.panel_index(pts.y_px, pts.z_px) if det.panels is not None else np.zeros(len(pts), np.int64)
    n_eta = round(n_half)
    slot = np.rint((pts.eta_deg + 180.0) / half - 0.5).astype(np.int64)
    key = pts.ring * n_eta + slot
    # points of the first half (even slot) and their partner (next slot, same ring)
    order = np.argsort(key)
    ks, es, ps, rs = key[order], strain[order], panel[order], pts.ring[order]
    nxt = np.searchsorted(ks, ks + 1)
    has = nxt < ks.size
    nxt_c = np.minimum(nxt, ks.size - 1)
    pair = (has & (ks[nxt_c] == ks + 1) & (ks % n_eta % 2 == 0) & (ps == ps[nxt_c]) & (ps >= 0))
    d = es[pair] - es[nxt_c][pair]
    ring_of = rs[pair]
    k = radius.size
    if mult_factor is not None:
        keep = np.ones(d.size, dtype=bool)
        for _ in range(max(0, int(outlier_iterations))):
            # the fit's own rule (refine._group_mean_abs), on the pair differences
            new = keep & (np.abs(d) <= mult_factor * _group_mean_abs(d, keep, ring_of))
            if np.array_equal(new, keep):
                break
            keep = new
        d, ring_of = d[keep], ring_of[keep]
    n_pairs = np.bincount(ring_of, minlength=k).astype(np.int64)
    msq = np.bincount(ring_of, weights=d * d, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma_px = np.where(n_pairs > 0, np.sqrt(msq / np.maximum(n_pairs, 1)) / 2.0 * radius, np.nan)
    mean_abs = float(np.mean(np.abs(d)) / 2.0) if d.size else math.nan
    return RingNoise(mean_abs_strain=mean_abs, sigma_px=sigma_px, n_pairs=n_pairs,
                     eta_bin_size_deg=float(eta_bin_size_deg))
