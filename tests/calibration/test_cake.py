"""E-step: the exact cake restricted to ring windows, and ring points fitted on it."""

from __future__ import annotations

import numpy as np
from midas.calibration.cake import build_ring_map, ring_points, ring_windows
from midas.calibration.refine import pseudo_strain
from midas.geometry import FFDetector
from midas.integration.integrate import Integrator
from midas.integration.mapper import MapOptions, build_map

from .conftest import image_and_bad


def test_windows_never_overlap():
    lo, hi = ring_windows([100.0, 104.0, 150.0], 5.0)
    assert np.all(hi[:-1] < lo[1:]) and hi[0] <= 102.0 and lo[1] >= 102.0
    assert lo[2] == 145.0 and hi[2] == 155.0


def test_ring_map_equals_the_full_map_on_the_windows(rng):
    """Leaving far pixels out (NaN corners) must not change any window bin."""
    det = FFDetector(lsd_um=60_000.0, bc_px=(101.3, 88.8), pixel_size_um=(100.0, 100.0), ty_deg=1.0, tz_deg=-0.7,
                     distortion=(3e-4, -2e-4, 5e-4, 20.0) + (0.0,) * 11, rho_d_um=15_000.0, n_pixels=(190, 170))
    lo, hi = ring_windows([30.0, 55.5, 80.2], 4.0)
    bad = rng.random((170, 190)) < 0.01
    imap, ranges = build_ring_map(det, lo, hi, r_bin_px=0.25, eta_bin_size_deg=10.0, bad=bad)
    full = build_map(det, imap.bins, options=MapOptions(mask_policy="exclude_pixels"), mask=bad)
    img = rng.uniform(0, 100, (170, 190))
    a = Integrator(imap).integrate(img).cake[0]
    b = Integrator(full).integrate(img).cake[0]
    rows = np.concatenate([np.arange(i0, i1) for i0, i1 in ranges])
    np.testing.assert_array_equal(a[rows], b[rows])
    np.testing.assert_array_equal(imap.bin_area[rows], full.bin_area[rows])


def test_points_lie_on_the_true_rings(synthetic_ceo2):
    syn = synthetic_ceo2
    det = syn.detector
    img, bad = image_and_bad(syn)
    keep = (syn.ring_radius_px > 40) & (syn.ring_radius_px < 300)
    radius = syn.ring_radius_px[keep]
    pts = ring_points(img, bad, det, radius, half_width_px=5.0, eta_bin_size_deg=10.0)
    tan = radius[pts.ring] * det.pixel_size_um[0] / det.lsd_um
    strain = pseudo_strain(det, pts.y_px, pts.z_px, tan)
    assert len(pts) > 0.8 * radius.size * 36
    assert np.median(np.abs(strain)) < 2e-5
    assert np.all(pts.sigma_px < 0.1)
