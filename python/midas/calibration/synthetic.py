"""Synthetic calibrant images rendered through the project's forward geometry.

Every detector pixel is split into ``s × s`` sub-pixels; each sub-pixel centre goes through
:func:`midas.geometry.pixel_to_ideal` (tilts and p0..p14 exactly as the calibration model) to its
corrected radius ``R``, and the ring intensity there is a pseudo-Voigt in R around each ring's
ideal radius ``Lsd·tan 2θ``. The pixel value is the sub-pixel mean — a pixel-integrated image, as a
real detector records it — on a smooth background, with optional Poisson noise. Used by the tests
and the benchmark to recover known geometries.

:func:`render_grainy_calibrant` renders a coarse powder instead: each ring is a finite number of
point-like diffraction spots (one per crystallite in the diffraction condition), each recorded
where it lands (mostly in one pixel), as with a small beam on a real calibrant. Its ring points
scatter by the spot statistics, which sets the noise floor of the mean strain
(:mod:`midas.calibration.noise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from midas.calibration.calibrants import Calibrant
from midas.errors import ParamError
from midas.geometry import FFDetector, ideal_to_pixel, pixel_to_ideal
from midas.integration.peakfit import pseudo_voigt

__all__ = ["SyntheticImage", "render_calibrant", "render_grainy_calibrant"]


@dataclass(frozen=True, slots=True)
class SyntheticImage:
    """A rendered calibrant image.

    Attributes
    ----------
    image : (n_z, n_y) float64
        Counts (row z, column y), noise included.
    detector : FFDetector
        The true geometry.
    ring_radius_px : (K,) float64
        Ideal radius of each rendered ring, pixels.
    """

    image: NDArray[np.float64]
    detector: FFDetector
    ring_radius_px: NDArray[np.float64]


def _ring_radii_px(det: FFDetector, calibrant: Calibrant, wavelength_A: float) -> NDArray[np.float64]:
    """Ideal radii (pixels) of the rings up to 1.2 × the farthest corner."""
    n_y, n_z = det.n_pixels
    px = det.pixel_size_um[0]
    corner = max(math.hypot((cy - det.bc_px[0]) * px, (cz - det.bc_px[1]) * px)
                 for cy in (0, n_y) for cz in (0, n_z))
    rings = calibrant.rings(wavelength_A, min(math.degrees(math.atan(1.2 * corner / det.lsd_um)), 89.0))
    return np.asarray(rings.tan_tth * det.lsd_um / px, dtype=np.float64)


def _background(det: FFDetector, level: float, image: NDArray[np.float64]) -> NDArray[np.float64]:
    """Add the smooth background (``level`` at the beam, half at the farthest pixel) to ``image``
    in place; returns each pixel's distance from the beam centre (pixels)."""
    n_y, n_z = det.n_pixels
    zc, yc = np.mgrid[0:n_z, 0:n_y]
    dist = np.hypot(yc - det.bc_px[0], zc - det.bc_px[1])
    image += level * (1.0 - 0.5 * dist / max(dist.max(), 1.0))
    return dist


def render_calibrant(det: FFDetector, calibrant: Calibrant, wavelength_A: float, *, fwhm_px: float = 1.5,
                     mixing: float = 0.3, peak_counts: float = 2000.0, background: float = 100.0,
                     supersample: int = 4, noise: bool = True, seed: int = 0,
                     beamstop_radius_px: float = 0.0) -> SyntheticImage:
    """Render a powder calibrant image at a known geometry.

    Parameters
    ----------
    det : FFDetector
        True geometry (``n_pixels`` sets the image size; ImTransOpt is not applied).
    calibrant : Calibrant
    wavelength_A : float
    fwhm_px : float
        Intrinsic ring FWHM in R, pixels (before pixel integration).
    mixing : float
        Lorentzian fraction of the ring profile.
    peak_counts : float
        Peak height of the strongest ring, counts (ring k gets peak_counts · (0.3 + 0.7·u_k),
        u_k uniform, fixed by ``seed``).
    background : float
        Background level at the centre, counts; it falls to half at the detector edge.
    supersample : int
        Sub-pixels per pixel side.
    noise : bool
        Add Poisson noise.
    seed : int
    beamstop_radius_px : float
        Pixels within this distance of the beam centre are set to −1 (a masked beamstop).

    Returns
    -------
    SyntheticImage

    Raises
    ------
    ParamError
        ``supersample < 1`` or a non-positive FWHM.
    """
    if supersample < 1 or not fwhm_px > 0:
        raise ParamError(f"supersample {supersample} must be >= 1 and fwhm_px {fwhm_px} > 0")
    rng = np.random.default_rng(seed)
    n_y, n_z = det.n_pixels
    px = det.pixel_size_um[0]
    radius = _ring_radii_px(det, calibrant, wavelength_A)
    heights = peak_counts * (0.3 + 0.7 * rng.random(radius.size))
    area_scale = heights / pseudo_voigt(np.zeros(1), 0.0, fwhm_px, mixing)[0]
    s = int(supersample)
    offs = (np.arange(s) + 0.5) / s - 0.5
    image = np.empty((n_z, n_y), dtype=np.float64)
    rows_per_chunk = max(1, 2_000_000 // (n_y * s * s))
    for z0 in range(0, n_z, rows_per_chunk):
        z1 = min(n_z, z0 + rows_per_chunk)
        zz = (np.arange(z0, z1)[:, None] + offs[None, :]).ravel()
        yy = (np.arange(n_y)[:, None] + offs[None, :]).ravel()
        r = pixel_to_ideal(det, yy[None, :], zz[:, None]).r_um / px  # (nz_sub, ny_sub)
        k = np.clip(np.searchsorted(radius, r), 1, max(radius.size - 1, 1))
        val = np.zeros_like(r)
        for kk in (k - 1, k):
            kk = np.clip(kk, 0, radius.size - 1)
            val += area_scale[kk] * pseudo_voigt(r - radius[kk], 0.0, fwhm_px, mixing)
        val = val.reshape(z1 - z0, s, n_y, s).mean(axis=(1, 3))
        image[z0:z1] = val
    dist = _background(det, background, image)
    if noise:
        image = rng.poisson(np.clip(image, 0, None)).astype(np.float64)
    if beamstop_radius_px > 0:
        image[dist < beamstop_radius_px] = -1.0
    return SyntheticImage(image=image, detector=det, ring_radius_px=radius)


def render_grainy_calibrant(det: FFDetector, calibrant: Calibrant, wavelength_A: float, *, spots_per_deg: float,
                            ring_sigma_px: float = 0.35, beam_um: tuple[float, float] = (0.0, 0.0),
                            spot_sigma_px: float = 0.12, counts_per_px: float = 15000.0,
                            background: float = 400.0, seed: int = 0) -> SyntheticImage:
    """Render a coarse-powder calibrant image: every ring is a finite set of diffraction spots.

    Ring k gets a Poisson number of spots (mean ``spots_per_deg × 360``) at uniform η, each at the
    ring's ideal radius plus a Gaussian radial offset (``ring_sigma_px``: bandwidth, divergence),
    moved on the detector by its crystallite's position in the beam (uniform over ``beam_um``,
    (y, z) µm), with an exponentially distributed intensity. A spot is a Gaussian of
    ``spot_sigma_px`` integrated over the pixels (5 × 5 around it), so most of it lands in one
    pixel. Then a smooth background and Poisson noise.

    Parameters
    ----------
    det : FFDetector
        True geometry (``n_pixels`` sets the size).
    calibrant : Calibrant
    wavelength_A : float
    spots_per_deg : float
        Mean number of spots per degree of η on each ring (> 0).
    ring_sigma_px : float
        Radial spread of the spots about the ideal ring, pixels.
    beam_um : (float, float)
        Beam size (y, z), µm: the spread of the crystallite positions.
    spot_sigma_px : float
        Size of one spot, pixels (> 0).
    counts_per_px : float
        Counts a ring deposits per pixel of circumference, on average (ring k: times
        ``0.3 + 0.7·u_k``, u_k uniform, fixed by ``seed``).
    background : float
        Background at the centre, counts (half of it at the farthest pixel).
    seed : int

    Returns
    -------
    SyntheticImage

    Raises
    ------
    ParamError
        Non-positive ``spots_per_deg`` or ``spot_sigma_px``, or a negative spread.
    """
    from scipy.special import erf

    if not (spots_per_deg > 0 and spot_sigma_px > 0 and ring_sigma_px >= 0 and min(beam_um) >= 0):
        raise ParamError(f"spots_per_deg {spots_per_deg} and spot_sigma_px {spot_sigma_px} must be > 0, "
                         f"ring_sigma_px {ring_sigma_px} and beam_um {beam_um} >= 0")
    rng = np.random.default_rng(seed)
    n_y, n_z = det.n_pixels
    px = det.pixel_size_um[0]
    radius = _ring_radii_px(det, calibrant, wavelength_A)
    image = np.zeros((n_z, n_y), dtype=np.float64)
    offsets = np.arange(-2, 3)

    def weights(centre: NDArray[np.float64], first: NDArray[np.int64]) -> NDArray[np.float64]:
        edge = (first[:, None] + offsets[None, :] - 0.5 - centre[:, None]) / (math.sqrt(2.0) * spot_sigma_px)
        step = 1.0 / (math.sqrt(2.0) * spot_sigma_px)
        return 0.5 * (erf(edge + step) - erf(edge))

    for k in range(radius.size):
        n = int(rng.poisson(spots_per_deg * 360.0))
        eta = rng.uniform(-180.0, 180.0, n)
        r = radius[k] + rng.normal(0.0, ring_sigma_px, n)
        y, z = ideal_to_pixel(det, r_um=r * px, eta_deg=eta)
        y = y + rng.uniform(-0.5, 0.5, n) * beam_um[0] / px
        z = z + rng.uniform(-0.5, 0.5, n) * beam_um[1] / px
        scale = counts_per_px * (0.3 + 0.7 * rng.random()) * 2.0 * math.pi * radius[k] / max(n, 1)
        inten = rng.exponential(scale, n)
        on = np.isfinite(y) & np.isfinite(z) & (y > 2) & (y < n_y - 3) & (z > 2) & (z < n_z - 3)
        y, z, inten = y[on], z[on], inten[on]
        iy, iz = np.rint(y).astype(np.int64), np.rint(z).astype(np.int64)
        wy, wz = weights(y, iy), weights(z, iz)
        for a in range(offsets.size):
            for b in range(offsets.size):
                np.add.at(image, (iz + offsets[b], iy + offsets[a]), inten * wy[:, a] * wz[:, b])
    _background(det, background, image)
    image = rng.poisson(image).astype(np.float64)
    return SyntheticImage(image=image, detector=det, ring_radius_px=radius)
