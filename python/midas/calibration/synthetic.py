"""Synthetic calibrant images rendered through the project's forward geometry.

Every detector pixel is split into ``s × s`` sub-pixels; each sub-pixel centre goes through
:func:`midas.geometry.pixel_to_ideal` (tilts and p0..p14 exactly as the calibration model) to its
corrected radius ``R``, and the ring intensity there is a pseudo-Voigt in R around each ring's
ideal radius ``Lsd·tan 2θ``. The pixel value is the sub-pixel mean — a pixel-integrated image, as a
real detector records it — on a smooth background, with optional Poisson noise. Used by the tests
and the benchmark to recover known geometries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from midas.calibration.calibrants import Calibrant
from midas.errors import ParamError
from midas.geometry import FFDetector, pixel_to_ideal
from midas.integration.peakfit import pseudo_voigt

__all__ = ["SyntheticImage", "render_calibrant"]


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
    corner = max(math.hypot((cy - det.bc_px[0]) * px, (cz - det.bc_px[1]) * px)
                 for cy in (0, n_y) for cz in (0, n_z))
    tth_max = math.degrees(math.atan(1.2 * corner / det.lsd_um))
    rings = calibrant.rings(wavelength_A, min(tth_max, 89.0))
    radius = rings.tan_tth * det.lsd_um / px
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
    zc, yc = np.mgrid[0:n_z, 0:n_y]
    dist = np.hypot(yc - det.bc_px[0], zc - det.bc_px[1])
    image += background * (1.0 - 0.5 * dist / max(dist.max(), 1.0))
    if noise:
        image = rng.poisson(np.clip(image, 0, None)).astype(np.float64)
    if beamstop_radius_px > 0:
        image[dist < beamstop_radius_px] = -1.0
    return SyntheticImage(image=image, detector=det, ring_radius_px=radius)
