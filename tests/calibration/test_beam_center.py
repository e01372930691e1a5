"""Automatic beam-centre detection: ring normals, vote, robust least squares, radial sharpness."""

from __future__ import annotations

import time

import numpy as np
import pytest
from midas.calibration.background import prepare_image
from midas.calibration.beam_center import detect_beam_center, radial_sharpness
from midas.errors import ConvergenceError


def ring_image(shape, centre, radii, *, rng, width=1.3, peak=800.0, background=60.0, ellipticity=0.0):
    nz, ny = shape
    z, y = np.mgrid[0:nz, 0:ny]
    dy, dz = y - centre[0], z - centre[1]
    r = np.hypot(dy * (1 + ellipticity), dz)
    img = background + sum(peak * np.exp(-0.5 * ((r - r0) / width) ** 2) for r0 in radii)
    return rng.poisson(img).astype(np.float64)


def gaps(shape):
    bad = np.zeros(shape, bool)
    bad[:, 150:157] = True
    bad[120:137, :] = True
    bad[260:277, :] = True
    return bad


@pytest.mark.parametrize("centre", [(171.37, 199.81), (20.4, 330.2), (-60.0, 150.0)])
def test_centre_found_without_guess_despite_gaps(centre, rng):
    """On-detector, near the edge, and off the detector (only arcs visible).

    This is the starting point of the EM loop, which refines it; half a pixel is plenty.
    """
    shape = (400, 360)
    img = ring_image(shape, centre, (70.0, 115.0, 160.0, 190.0, 240.0, 300.0), rng=rng)
    bad = gaps(shape)
    prep = prepare_image(np.where(bad, 0, img), bad, background_size_px=41)
    bc = detect_beam_center(prep.net, prep.bad, prep.ring_mask)
    err = np.hypot(bc.bc_px[0] - centre[0], bc.bc_px[1] - centre[1])
    assert err < 0.5, f"beam centre {bc.bc_px} vs {centre}: {err:.3f} px"
    assert bc.inlier_fraction > 0.5


def test_guess_restricts_the_vote(rng):
    shape = (400, 360)
    centre = (181.2, 207.9)
    img = ring_image(shape, centre, (60.0, 100.0, 150.0), rng=rng)
    prep = prepare_image(img, np.zeros(shape, bool), background_size_px=41)
    bc = detect_beam_center(prep.net, prep.bad, prep.ring_mask, guess_px=(centre[0] + 40, centre[1] - 30))
    assert np.hypot(bc.bc_px[0] - centre[0], bc.bc_px[1] - centre[1]) < 0.3


def test_no_rings_is_a_clear_error_in_bounded_time(rng):
    img = rng.poisson(100.0, size=(300, 300)).astype(np.float64)
    prep = prepare_image(img, np.zeros(img.shape, bool))
    t0 = time.perf_counter()
    with pytest.raises(ConvergenceError, match="no powder rings|no ring pattern|no clear ring"):
        detect_beam_center(prep.net, prep.bad, prep.ring_mask)
    assert time.perf_counter() - t0 < 30


def test_radial_sharpness_peaks_at_the_centre():
    rng = np.random.default_rng(5)
    ang = rng.uniform(0, 2 * np.pi, 5000)
    r = rng.choice([30.0, 50.0, 80.0], 5000)
    pts = np.stack([100 + r * np.cos(ang), 90 + r * np.sin(ang)], axis=1)
    w = np.ones(5000)
    s0 = radial_sharpness(pts, w, (100, 90))
    assert s0 > radial_sharpness(pts, w, (101, 90)) and s0 > radial_sharpness(pts, w, (100, 91.5))
