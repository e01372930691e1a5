"""Shared fixtures of the radial-integration tests: small tilted, distorted detectors."""

from __future__ import annotations

import numpy as np
import pytest
from midas._reference import geometry as gref
from midas.geometry import FFDetector

DIST = (2e-4, -1.5e-4, 3e-4, 25.0, 1e-4, -2e-4, 40.0, 1.2e-4, 60.0, -8e-5, 10.0, 5e-5, 30.0, 4e-5, 75.0)


def small_detector(n_y=14, n_z=11, *, tilts=(0.4, -0.7, 0.9), im_trans_opt=(0,), bc=(6.3, 4.8)) -> FFDetector:
    """A tilted detector with every distortion term non-zero (pixels 100 µm, 20 mm away)."""
    return FFDetector(lsd_um=20_000.0, bc_px=bc, pixel_size_um=(100.0, 100.0), tx_deg=tilts[0], ty_deg=tilts[1],
                      tz_deg=tilts[2], distortion=DIST, rho_d_um=1500.0, n_pixels=(n_y, n_z),
                      im_trans_opt=im_trans_opt)


def twin_corners(det: FFDetector) -> tuple[np.ndarray, np.ndarray]:
    """Corner coordinates (pixels) from the NumPy geometry twin, independent of the C++ kernels."""
    n_y, n_z = det.n_pixels
    yy, zz = np.meshgrid(np.arange(n_y + 1) - 0.5, np.arange(n_z + 1) - 0.5)
    c = gref.ff_pixel_to_ideal(det.lsd_um, det.bc_px, det.pixel_size_um, (det.tx_deg, det.ty_deg, det.tz_deg),
                               np.asarray(det.distortion), det.rho_d_um, yy, zz)
    return c["y_um"] / det.pixel_size_um[0], c["z_um"] / det.pixel_size_um[0]


@pytest.fixture
def det():
    return small_detector()
