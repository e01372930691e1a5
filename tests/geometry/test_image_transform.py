"""ImTransOpt coordinate maps against the image operations themselves (numpy flips/transpose)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from midas.errors import ParamError
from midas.geometry.image_transform import (
    frame_to_raw,
    raw_to_frame,
    transformed_n_pixels,
)


def apply_image_ops(img, ops):
    """The image operations of upstream ImageUtils.c on a [Z, Y] frame."""
    for op in ops:
        if op == 1:
            img = img[:, ::-1]
        elif op == 2:
            img = img[::-1, :]
        elif op == 3:
            img = img.T
    return img


@pytest.mark.parametrize(
    "ops", [(0,), (1,), (2,), (3,), (1, 2), (2, 3), (3, 1), (1, 3, 2), (-1,), (3, 3)]
)
def test_coordinates_follow_the_pixels(ops):
    n_y, n_z = 7, 5  # raw frame: 5 rows (Z) × 7 columns (Y); non-square on purpose
    raw = np.arange(n_z * n_y).reshape(n_z, n_y)
    out = apply_image_ops(raw, ops)
    assert (out.shape[1], out.shape[0]) == transformed_n_pixels(ops, (n_y, n_z))
    for zr, yr in itertools.product(range(n_z), range(n_y)):
        y, z = raw_to_frame(yr, zr, ops, (n_y, n_z))
        assert out[int(z), int(y)] == raw[zr, yr]
        yb, zb = frame_to_raw(y, z, ops, (n_y, n_z))
        assert (yb, zb) == (yr, zr)


def test_fractional_round_trip_and_errors():
    rng = np.random.default_rng(1)
    y, z = rng.uniform(-0.5, 2047.5, (2, 1000))
    for ops in ([1, 2], [3], [2, 3, 1]):
        fy, fz = raw_to_frame(y, z, ops, (2048, 2048))
        by, bz = frame_to_raw(fy, fz, ops, (2048, 2048))
        np.testing.assert_allclose(by, y, atol=1e-12)
        np.testing.assert_allclose(bz, z, atol=1e-12)
    # flips keep pixel centres on integers: BC lands at N − 1 − BC
    assert raw_to_frame(1022.0, 3.0, 1, (2048, 2048))[0] == 1025.0
    with pytest.raises(ParamError, match="ImTransOpt"):
        raw_to_frame(0.0, 0.0, [4], (10, 10))
    with pytest.raises(ParamError, match="n_pixels"):
        raw_to_frame(0.0, 0.0, [1], (0, 10))
