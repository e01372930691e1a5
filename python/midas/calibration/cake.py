"""E-step of the calibration: ring positions per η bin from the exact pixel-splitting cake.

For the current geometry, the radial bins are narrow windows around each ring's ideal radius
(``R = Lsd·tan 2θ``, pixels of the corrected plane; the space between two windows is one wide
bin) and the η bins are ``EtaBinSize`` wide. The matrix is :mod:`midas.integration.mapper`'s exact
polygon ∩ annular-sector split and the cake comes from :class:`midas.integration.integrate.
Integrator` — the same code that integrates data, so the refined geometry is the geometry of the
integrated lineouts. To save time, only pixels whose footprint can reach a ring window are split:
the corners of the other pixels are set to NaN, which the mapper treats as pixels without an image
on the detector plane (they leave every bin).

Each (ring, η bin) profile is fitted with a pseudo-Voigt (:func:`midas.calibration.peaks.
fit_peak_batch`); the fitted radius at the bin's centre azimuth is mapped back to a detector
pixel with the exact inverse :func:`midas.geometry.ideal_to_pixel`. Those pixels are what the
M-step fits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.calibration.peaks import fit_peak_batch
from midas.errors import ConvergenceError, ParamError
from midas.geometry import FFDetector, ideal_to_pixel
from midas.integration.bins import IntegrationBins
from midas.integration.integrate import Integrator
from midas.integration.mapper import IntegrationMap, MapOptions, build_map_from_corners

__all__ = ["RingPoints", "build_ring_map", "ring_points", "ring_windows"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RingPoints:
    """Fitted ring positions, one per (ring, η bin) whose fit succeeded.

    Attributes
    ----------
    ring : (N,) int64
        Index into the ring list given to :func:`ring_points`.
    eta_deg : (N,) float64
        Centre azimuth of the η bin, degrees.
    r_fit_px : (N,) float64
        Fitted radius in the corrected plane of the E-step geometry, pixels.
    y_px, z_px : (N,) float64
        Detector pixel (column, row of the calibration frame) of the fitted peak.
    sigma_px : (N,) float64
        1σ uncertainty of the fitted radius, pixels.
    fwhm_px : (N,) float64
        Fitted FWHM, pixels.
    snr : (N,) float64
        Peak height over residual RMS.
    n_bins_total : int
        Number of (ring, η bin) profiles that were fitted (including failed ones).
    """

    ring: NDArray[np.int64]
    eta_deg: NDArray[np.float64]
    r_fit_px: NDArray[np.float64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    sigma_px: NDArray[np.float64]
    fwhm_px: NDArray[np.float64]
    snr: NDArray[np.float64]
    n_bins_total: int

    def __len__(self) -> int:
        return int(self.ring.size)

    def select(self, keep: NDArray[np.bool_]) -> RingPoints:
        """The points where ``keep`` is True."""
        k = np.asarray(keep, dtype=bool)
        return RingPoints(self.ring[k], self.eta_deg[k], self.r_fit_px[k], self.y_px[k], self.z_px[k],
                          self.sigma_px[k], self.fwhm_px[k], self.snr[k], self.n_bins_total)


def ring_windows(radius_px: ArrayLike, half_width_px: ArrayLike, *,
                 min_gap_px: float = 0.5) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Non-overlapping radial windows around ring radii.

    Parameters
    ----------
    radius_px : (K,) float
        Ring radii (pixels, increasing).
    half_width_px : (K,) float or float
        Wanted half-widths.
    min_gap_px : float
        Space left between neighbouring windows.

    Returns
    -------
    (lo, hi) : (K,) float64 each
        Window limits; a window is narrowed to stop halfway to its neighbour.

    Raises
    ------
    ParamError
        Radii that are not increasing.
    """
    r = np.asarray(radius_px, dtype=np.float64)
    hw = np.broadcast_to(np.asarray(half_width_px, dtype=np.float64), r.shape)
    if r.size > 1 and np.any(np.diff(r) <= 0):
        raise ParamError("ring radii must be increasing")
    lo = r - hw
    hi = r + hw
    if r.size > 1:
        mid = 0.5 * (r[1:] + r[:-1])
        hi[:-1] = np.minimum(hi[:-1], mid - 0.5 * min_gap_px)
        lo[1:] = np.maximum(lo[1:], mid + 0.5 * min_gap_px)
    lo = np.maximum(lo, 0.0)
    return lo, hi


def build_ring_map(det: FFDetector, lo_px: NDArray[np.float64], hi_px: NDArray[np.float64], *,
                   r_bin_px: float, eta_bin_size_deg: float, bad: ArrayLike | None
                   ) -> tuple[IntegrationMap, list[tuple[int, int]]]:
    """The exact integration map restricted to radial windows.

    Parameters
    ----------
    det : FFDetector
        Geometry; ``n_pixels`` is the calibration frame (``im_trans_opt`` is ignored: the frame is
        already transformed).
    lo_px, hi_px : (K,) float64
        Window limits (pixels of the corrected plane), increasing and disjoint.
    r_bin_px : float
        Radial bin width inside the windows, pixels.
    eta_bin_size_deg : float
        η bin width (must divide 360).
    bad : (n_z, n_y) bool, optional
        Pixels without data: left out of the bins (bins are normalised by their good area).

    Returns
    -------
    imap : IntegrationMap
    ranges : list of (int, int)
        Radial bin index range [i0, i1) of each window.

    Raises
    ------
    ParamError
        An η bin that does not divide 360°.
    """
    n_eta = round(360.0 / eta_bin_size_deg)
    if n_eta < 1 or abs(n_eta * eta_bin_size_deg - 360.0) > 1e-6:
        raise ParamError(f"EtaBinSize {eta_bin_size_deg} deg must divide 360")
    edges: list[NDArray[np.float64]] = []
    ranges: list[tuple[int, int]] = []
    n_edges = 0
    for a, b in zip(lo_px, hi_px):
        n = max(2, round((b - a) / r_bin_px))
        e = a + (b - a) * np.arange(n + 1) / n
        ranges.append((n_edges, n_edges + n))
        edges.append(e)
        n_edges += n + 1  # the bin from this window's last edge to the next window's first
    all_edges = np.concatenate(edges)
    bins = IntegrationBins(all_edges, -180.0, 360.0 / n_eta, n_eta)
    n_y, n_z = det.n_pixels
    px = det.pixel_size_um[0]
    # corner positions in the corrected plane (pixels): the mapper's own corner kernel, i.e.
    # pixel_to_ideal of the corners (Y ± ½, Z ± ½) divided by px
    cy, cz = core().ff_pixel_corners(det._kernel(), int(n_y), int(n_z))
    # keep corners within reach of a window: a pixel touching a window has all 4 corners within
    # one pixel diagonal of it
    reach = 1.5 * max(det.pixel_size_um) / px
    r = np.hypot(cy, cz)
    k = np.searchsorted(lo_px, r) - 1
    near = (k >= 0) & (r <= hi_px[np.clip(k, 0, None)] + reach)
    has_next = k + 1 < lo_px.size
    near |= has_next & (r >= lo_px[np.clip(k + 1, 0, lo_px.size - 1)] - reach)
    cy[~near] = np.nan
    cz[~near] = np.nan
    imap = build_map_from_corners(cy, cz, bins, lsd_px=det.lsd_um / px,
                                  options=MapOptions(mask_policy="exclude_pixels"), mask=bad)
    return imap, ranges


def ring_points(image: ArrayLike, bad: ArrayLike | None, det: FFDetector, radius_px: ArrayLike, *,
                half_width_px: ArrayLike, eta_bin_size_deg: float = 5.0, r_bin_px: float = 0.25,
                min_snr: float = 4.0) -> RingPoints:
    """Fit every ring in every η bin on the exact cake of the current geometry.

    Parameters
    ----------
    image : (n_z, n_y) float
        Dark-subtracted mean frame (calibration frame).
    bad : (n_z, n_y) bool, optional
        Pixels without data.
    det : FFDetector
        Current geometry.
    radius_px : (K,) float
        Ideal ring radii ``Lsd·tan 2θ / px`` for ``det``, increasing.
    half_width_px : (K,) float or float
        Half-width of each ring's radial window, pixels (narrowed to avoid neighbours).
    eta_bin_size_deg : float
        η bin width (``-EtaBinSize``, default 5°).
    r_bin_px : float
        Radial bin inside the windows (default 0.25 px, upstream's RBinDivisions 4).
    min_snr : float
        Fits with peak height below this many residual RMS are dropped.

    Returns
    -------
    RingPoints

    Raises
    ------
    ConvergenceError
        No ring window lies on the detector.
    """
    radius = np.asarray(radius_px, dtype=np.float64)
    lo, hi = ring_windows(radius, half_width_px)
    usable = hi - lo > 4 * r_bin_px
    if not usable.any():
        raise ConvergenceError("no ring window is wide enough: rings overlap at this geometry")
    idx = np.flatnonzero(usable)
    imap, ranges = build_ring_map(det, lo[idx], hi[idx], r_bin_px=r_bin_px, eta_bin_size_deg=eta_bin_size_deg,
                                  bad=bad)
    cake = Integrator(imap).integrate(np.asarray(image, dtype=np.float64)).cake[0]
    area = imap.bin_area
    centres = imap.bins.r_centres_px
    eta_c = imap.bins.eta_centres_deg
    n_eta = eta_c.size
    width = max(i1 - i0 for i0, i1 in ranges)
    n_prof = len(ranges) * n_eta
    x = np.full((n_prof, width), np.nan)
    y = np.full((n_prof, width), np.nan)
    for k, (i0, i1) in enumerate(ranges):
        n = i1 - i0
        block = cake[i0:i1, :].T  # (n_eta, n)
        a = area[i0:i1, :].T
        # bins with less than a quarter of a pixel of good area are too noisy
        block = np.where(a >= 0.25, block, np.nan)
        x[k * n_eta:(k + 1) * n_eta, :n] = centres[i0:i1]
        y[k * n_eta:(k + 1) * n_eta, :n] = block
        if n < width:  # pad x with increasing values so every row stays increasing
            x[k * n_eta:(k + 1) * n_eta, n:] = centres[i1 - 1] + r_bin_px * np.arange(1, width - n + 1)
    n_row = np.repeat([i1 - i0 for i0, i1 in ranges], n_eta)
    valid = np.isfinite(y).sum(axis=1) >= np.maximum(8, (0.7 * n_row).astype(int))
    ring_of = np.repeat(idx, n_eta)
    eta_of = np.tile(eta_c, len(ranges))
    fits = fit_peak_batch(x[valid], y[valid])
    keep = fits.ok & (fits.snr >= min_snr)
    # the peak region itself must have data
    sel = np.flatnonzero(valid)[keep]
    r_fit = fits.centre[keep]
    etas = eta_of[sel]
    rings = ring_of[sel]
    px = det.pixel_size_um[0]
    yp, zp = ideal_to_pixel(det, r_um=r_fit * px, eta_deg=etas)
    on = np.isfinite(yp) & np.isfinite(zp)
    log.debug("E-step: %d of %d (ring, eta) profiles fitted (%d valid)", int(on.sum()), n_prof, int(valid.sum()))
    return RingPoints(ring=rings[on].astype(np.int64), eta_deg=etas[on], r_fit_px=r_fit[on], y_px=yp[on],
                      z_px=zp[on], sigma_px=fits.centre_err[keep][on], fwhm_px=fits.fwhm[keep][on],
                      snr=fits.snr[keep][on], n_bins_total=int(n_prof))


def default_half_width_px(fwhm_px: float, *, minimum: float = 3.0) -> float:
    """Window half-width for a peak of the given FWHM: 3 FWHM, at least ``minimum`` pixels."""
    return max(minimum, 3.0 * float(fwhm_px)) if math.isfinite(fwhm_px) else 10.0
