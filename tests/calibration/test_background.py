"""Image preparation: frame averaging, bad pixels, median-filter background, ring threshold."""

from __future__ import annotations

import numpy as np
import pytest
from midas.calibration.background import (
    average_frames,
    bad_pixels,
    estimate_background,
    prepare_image,
    ring_threshold,
    robust_sigma,
)
from midas.errors import ParamError


def test_average_frames_subtracts_the_dark():
    frames = np.stack([np.full((4, 5), 10.0), np.full((4, 5), 20.0), np.full((4, 5), 33.0)])
    out = average_frames(frames, dark=np.full((4, 5), 1.0))
    np.testing.assert_allclose(out, 20.0)
    with pytest.raises(ParamError, match="dark shape"):
        average_frames(frames, dark=np.zeros((3, 3)))
    with pytest.raises(ParamError):
        average_frames(np.zeros((0, 4, 4)))


def test_bad_pixels_mask_sentinels_and_negative_values():
    img = np.array([[1, -1, 5], [65535, 3, -2]], dtype=np.int32)
    mask = np.array([[0, 0, 1], [0, 0, 0]], dtype=np.uint8)
    bad = bad_pixels(img, mask=mask, gap_values=[65535])
    assert bad.tolist() == [[False, True, True], [True, False, True]]
    assert not bad_pixels(img, negative_is_bad=False)[0, 1]


def test_background_follows_a_smooth_slope_under_narrow_rings(rng):
    nz, ny = 300, 260
    z, y = np.mgrid[0:nz, 0:ny]
    smooth = 100.0 + 0.2 * y + 0.1 * z
    r = np.hypot(y - 130.3, z - 150.7)
    rings = sum(400.0 * np.exp(-0.5 * ((r - r0) / 1.0) ** 2) for r0 in (40.0, 75.0, 110.0))
    img = rng.poisson(smooth + rings).astype(np.float64)
    bad = np.zeros(img.shape, bool)
    bad[100:110, :] = True  # a module gap
    bg = estimate_background(img, bad, size_px=61)
    inner = (slice(40, -40), slice(40, -40))
    # the rings do not lift the background: within 3 % (noise and slope curvature) of the truth
    assert np.max(np.abs(bg[inner] / smooth[inner] - 1)) < 0.03
    assert np.all(np.isfinite(bg))


def test_prepare_image_threshold_selects_ring_pixels(rng):
    n = 200
    z, y = np.mgrid[0:n, 0:n]
    r = np.hypot(y - 99.5, z - 100.2)
    ring = 500.0 * np.exp(-0.5 * ((r - 60.0) / 1.2) ** 2)
    img = rng.poisson(50 + ring).astype(np.float64)
    prep = prepare_image(img, np.zeros(img.shape, bool), background_size_px=41)
    on_ring = np.abs(r - 60.0) < 0.7
    far = np.abs(r - 60.0) > 6
    assert prep.ring_mask[on_ring].mean() > 0.95
    assert prep.ring_mask[far].mean() < 1e-3
    assert abs(prep.noise_sigma - np.sqrt(50)) < 1.5
    mask, thr = ring_threshold(prep.net, prep.bad, threshold=1e9)
    assert thr == 1e9 and not mask.any()


def test_robust_sigma_and_errors():
    assert robust_sigma([]) == 0.0
    assert abs(robust_sigma(np.random.default_rng(0).normal(0, 3, 100_000)) - 3) < 0.05
    with pytest.raises(ParamError):
        estimate_background(np.zeros((10, 10)), np.ones((10, 10), bool))
    with pytest.raises(ParamError):
        estimate_background(np.zeros((10, 10)), np.zeros((10, 10), bool), size_px=3)
