"""Dark, flood, mask, pre-threshold and ImTransOpt."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas.errors import ParamError
from midas.io.corrections import (
    PreThreshold,
    apply_dark_flood,
    apply_mask,
    bad_pixel_mask,
    check_im_trans_opt,
    dark_mean,
    im_trans_opt,
    inverse_transform_pixel_coords,
    pre_threshold,
    transform_pixel_coords,
    transformed_shape,
)
from midas.io.frames import ArrayFrames


def test_dark_mean_skips_settling_frames(rng):
    darks = rng.integers(0, 1000, (4, 5, 6)).astype(np.uint16)
    np.testing.assert_allclose(dark_mean(darks, skip_frames=1), darks[1:].mean(axis=0))
    np.testing.assert_allclose(dark_mean(ArrayFrames(darks), skip_frames=1), darks[1:].mean(axis=0))
    np.testing.assert_allclose(dark_mean(darks), darks.mean(axis=0))
    # as many skipped frames as there are darks: upstream falls back to frame 0
    np.testing.assert_allclose(dark_mean(darks, skip_frames=4), darks[0])
    np.testing.assert_allclose(dark_mean(ArrayFrames(darks), skip_frames=9), darks[0])
    np.testing.assert_allclose(dark_mean(darks[0]), darks[0])
    with pytest.raises(ParamError):
        dark_mean(darks, skip_frames=-1)
    with pytest.raises(ParamError):
        dark_mean(np.zeros((0, 5, 6)))


def test_dark_flood_mask(rng):
    raw = rng.integers(100, 5000, (5, 6)).astype(np.uint16)
    dark = rng.uniform(50, 99, (5, 6))
    flood = rng.uniform(0.5, 1.5, (5, 6))
    np.testing.assert_allclose(apply_dark_flood(raw, dark, flood), (raw - dark) / flood)
    np.testing.assert_allclose(apply_dark_flood(raw), raw.astype(float))
    flood[2, 3] = 0.0
    with pytest.raises(ParamError, match="z=2, column y=3"):
        apply_dark_flood(raw, dark, flood)
    mask = np.zeros((5, 6), np.uint8)
    mask[2, 3] = 1
    out = apply_dark_flood(raw, dark, flood, mask=mask)
    assert out[2, 3] == 0 and np.isfinite(out).all()
    before = raw.copy()
    m = apply_mask(raw, mask, fill=7)
    assert m[2, 3] == 7 and int(m.sum()) - 7 == int(raw.sum()) - int(raw[2, 3])
    np.testing.assert_array_equal(raw, before)  # the input is not modified


def test_mask_convention_one_is_bad(caplog):
    m = np.array([[0, 1], [2, 1]])
    with caplog.at_level(logging.WARNING):
        bad = bad_pixel_mask(m)
    assert bad.tolist() == [[False, True], [False, True]]
    assert "other than 0 and 1" in caplog.text
    assert bad_pixel_mask(np.array([[[True, False]]])).tolist() == [[True, False]]


def _pre_threshold_loop(frame, dark, thr):
    """Pixel-by-pixel restatement of upstream's preProcThresh rule (the twin)."""
    out = np.empty_like(frame)
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            if frame[i, j] < dark[i, j] + thr:
                out[i, j] = 0
            else:
                out[i, j] = max(0, int(frame[i, j]) - int(dark[i, j]))
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1),
       st.sampled_from([np.uint16, np.uint32, np.int32, np.float32, np.float64]),
       st.floats(0, 200))
def test_pre_threshold_matches_loop_twin(seed, dtype, thr):
    rng = np.random.default_rng(seed)
    low = -3 if np.dtype(dtype).kind in "if" else 0  # Pilatus gaps are -1/-2
    frame = (rng.integers(low, 400, (7, 9)) + (rng.random((7, 9)) if np.dtype(dtype).kind == "f" else 0))
    frame = frame.astype(dtype)
    dark = rng.uniform(0, 300, (7, 9))
    got = pre_threshold(frame, dark, thr)
    assert got.dtype == frame.dtype
    np.testing.assert_array_equal(got, _pre_threshold_loop(frame, dark, thr))
    scan = PreThreshold(dark, thr)  # the per-scan form gives the same frames
    np.testing.assert_array_equal(scan(frame), got)


def test_pre_threshold_rejects_bad_input():
    with pytest.raises(ParamError):
        pre_threshold(np.zeros((2, 2)), np.zeros((2, 3)), 1)
    with pytest.raises(ParamError):
        pre_threshold(np.zeros((2, 2)), np.zeros((2, 2)), -1)


def test_im_trans_opt_elementary_operations():
    f = np.arange(12).reshape(3, 4)  # 3 rows (Z) x 4 columns (Y)
    np.testing.assert_array_equal(im_trans_opt(f, [1]), f[:, ::-1])
    np.testing.assert_array_equal(im_trans_opt(f, [2]), f[::-1, :])
    np.testing.assert_array_equal(im_trans_opt(f, [0, -1]), f)
    np.testing.assert_array_equal(im_trans_opt(f, [1, 2]), f[::-1, ::-1])
    sq = np.arange(9).reshape(3, 3)
    np.testing.assert_array_equal(im_trans_opt(sq, 3), sq.T)
    np.testing.assert_array_equal(im_trans_opt(np.stack([sq, sq + 9]), [3])[1], (sq + 9).T)
    with pytest.raises(ParamError, match="square"):
        im_trans_opt(f, [3])
    with pytest.raises(ParamError, match="not one of"):
        check_im_trans_opt([4])
    assert transformed_shape((3, 4), [1, 2]) == (3, 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1, 2, 3]), max_size=5), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_pixel_coordinate_maps_follow_the_frame(ops, square, seed):
    rng = np.random.default_rng(seed)
    shape = (5, 5) if square else (4, 6)
    if not square and 3 in ops:
        ops = [o for o in ops if o != 3]
    raw = rng.integers(0, 10**6, shape)
    out = im_trans_opt(raw, ops)
    z, y = np.indices(shape)
    y2, z2 = transform_pixel_coords(y, z, ops, shape)
    np.testing.assert_array_equal(out[z2.astype(int), y2.astype(int)], raw[z, y])
    yb, zb = inverse_transform_pixel_coords(y2, z2, ops, shape)
    np.testing.assert_array_equal(yb, y)
    np.testing.assert_array_equal(zb, z)
    # sub-pixel positions map the same way (pixel centres at integers)
    fy, fz = rng.uniform(-0.5, shape[1] - 0.5, 8), rng.uniform(-0.5, shape[0] - 0.5, 8)
    ty, tz = transform_pixel_coords(fy, fz, ops, shape)
    by, bz = inverse_transform_pixel_coords(ty, tz, ops, shape)
    np.testing.assert_allclose(by, fy, atol=1e-12)
    np.testing.assert_allclose(bz, fz, atol=1e-12)


def test_flip_maps_beam_centre_to_mirror():
    # a wrong flip puts the beam centre at N-1-BC (upstream_facts §2.4)
    y, z = transform_pixel_coords(1022.0, 1000.0, [1], (2048, 2048))
    assert (float(y), float(z)) == (2047 - 1022.0, 1000.0)
