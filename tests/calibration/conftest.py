"""Shared synthetic calibrant images of the calibration tests (rendered once per session)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from midas.calibration.calibrants import get_calibrant
from midas.calibration.synthetic import SyntheticImage, render_calibrant
from midas.geometry import FFDetector

WAVELENGTH_A = 0.172973
#: p0 (2-fold ρ²), p1 (4-fold ρ⁴) with phase p3 = 25°, p2 (isotropic ρ²): all clearly non-zero.
DISTORTION = (5e-4, 3e-4, -4e-4, 25.0) + (0.0,) * 11


def true_detector(*, n: int = 768, tilts: tuple[float, float] = (0.8, -1.0),
                  distortion: tuple[float, ...] = DISTORTION) -> FFDetector:
    """A 768² detector, 200 µm pixels, 400 mm away, beam off-centre, ty/tz up to 1°."""
    return FFDetector(lsd_um=400_000.0, bc_px=(0.53 * n - 0.3, 0.47 * n + 0.6), pixel_size_um=(200.0, 200.0),
                      ty_deg=tilts[0], tz_deg=tilts[1], distortion=distortion, rho_d_um=110_000.0, n_pixels=(n, n))


@functools.lru_cache(maxsize=4)
def synthetic(n: int = 768, tilts: tuple[float, float] = (0.8, -1.0), distortion: tuple[float, ...] = DISTORTION,
              noise: bool = True) -> SyntheticImage:
    """CeO2 image at the true geometry, pixel-integrated (3×3 sub-pixels), Poisson noise, beamstop."""
    det = true_detector(n=n, tilts=tilts, distortion=distortion)
    return render_calibrant(det, get_calibrant("CeO2"), WAVELENGTH_A, fwhm_px=1.6, peak_counts=20000.0,
                            background=300.0, supersample=3, noise=noise, seed=11, beamstop_radius_px=20.0)


@pytest.fixture(scope="session")
def synthetic_ceo2() -> SyntheticImage:
    return synthetic()


def image_and_bad(syn: SyntheticImage) -> tuple[np.ndarray, np.ndarray]:
    bad = syn.image < 0
    return np.where(bad, 0.0, syn.image), bad
