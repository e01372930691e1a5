"""Orientation conversions: round trips (hypothesis), an independent reference (scipy), degeneracies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas.crystal import orientation as o
from midas.errors import ParamError
from scipy.spatial.transform import Rotation

angles = st.tuples(
    st.floats(0.0, 2 * np.pi, exclude_max=True),
    st.floats(0.0, np.pi),
    st.floats(0.0, 2 * np.pi, exclude_max=True),
)
unit_quats = st.tuples(*[st.floats(-1.0, 1.0)] * 4).filter(lambda q: 0.1 < np.linalg.norm(q))


def same_rotation(q1, q2, atol=1e-12):
    return min(np.abs(np.asarray(q1) - q2).max(), np.abs(np.asarray(q1) + q2).max()) < atol


@settings(max_examples=120, deadline=None)
@given(angles)
def test_euler_matrix_euler_round_trip(e):
    m = o.euler_to_matrix(np.array(e))
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-15)
    assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-14)
    back = o.matrix_to_euler(m)
    np.testing.assert_allclose(o.euler_to_matrix(back), m, atol=2e-12)
    if 1e-6 < e[1] < np.pi - 1e-6:  # non-degenerate: the angles themselves come back
        d = (back - np.array(e) + np.pi) % (2 * np.pi) - np.pi
        np.testing.assert_allclose(d, 0.0, atol=1e-9)
    assert 0 <= back[0] < 2 * np.pi and 0 <= back[1] <= np.pi and 0 <= back[2] < 2 * np.pi


@settings(max_examples=120, deadline=None)
@given(unit_quats)
def test_quaternion_matrix_rodrigues_axis_angle_round_trips(q):
    q = o.quat_canonical(np.array(q))
    assert q[0] >= 0
    m = o.quat_to_matrix(q)
    assert same_rotation(o.matrix_to_quat(m), q)
    np.testing.assert_allclose(o.quat_to_matrix(o.matrix_to_quat(m)), m, atol=1e-14)
    axis, ang = o.quat_to_axis_angle(q)
    assert 0.0 <= ang <= np.pi + 1e-15
    np.testing.assert_allclose(o.axis_angle_to_matrix(axis, ang), m, atol=1e-13)
    if q[0] > 1e-3:
        r = o.quat_to_rodrigues(q)
        np.testing.assert_allclose(r, np.tan(ang / 2) * axis, rtol=1e-9, atol=1e-12)
        assert same_rotation(o.rodrigues_to_quat(r), q, atol=1e-12)
        np.testing.assert_allclose(o.rodrigues_to_matrix(o.matrix_to_rodrigues(m)), m, atol=1e-12)
    np.testing.assert_allclose(o.euler_to_matrix(o.quat_to_euler(q)), m, atol=2e-12)


def test_batched_against_scipy(rng):
    e = rng.uniform([0, 0, 0], [2 * np.pi, np.pi, 2 * np.pi], (2000, 3))
    m = o.euler_to_matrix(e)
    # Bunge ZXZ = scipy's intrinsic 'ZXZ'
    np.testing.assert_allclose(m, Rotation.from_euler("ZXZ", e).as_matrix(), atol=1e-14)
    q = o.matrix_to_quat(m)
    sq = Rotation.from_matrix(m).as_quat()[:, [3, 0, 1, 2]]  # scipy: (x, y, z, w)
    sq *= np.where(sq[:, :1] < 0, -1.0, 1.0)
    np.testing.assert_allclose(q, sq, atol=1e-14)
    np.testing.assert_allclose(o.rotation_angle(m), Rotation.from_matrix(m).magnitude(), atol=1e-12)
    # shapes are kept
    assert o.euler_to_matrix(e.reshape(20, 100, 3)).shape == (20, 100, 3, 3)
    assert o.matrix_to_quat(m.reshape(40, 50, 3, 3)).shape == (40, 50, 4)


def test_matrix_maps_crystal_to_sample_like_upstream_euler2orientmat():
    # Rz(φ1)·Rx(Φ)·Rz(φ2), active rotations: the crystal x axis after (90°, 0, 0) points along +y
    m = o.euler_to_matrix([np.pi / 2, 0.0, 0.0])
    np.testing.assert_allclose(m @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)
    m = o.euler_to_matrix([0.0, np.pi / 2, 0.0])
    np.testing.assert_allclose(m @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-15)


@pytest.mark.parametrize("big_phi", [0.0, 1e-14, np.pi, np.pi - 1e-14])
def test_euler_degeneracies(big_phi, rng):
    for _ in range(20):
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        m = o.euler_to_matrix([p1, big_phi, p2])
        e = o.matrix_to_euler(m)
        assert e[0] == 0.0
        assert e[1] == (0.0 if big_phi < 1 else np.pi)
        np.testing.assert_allclose(o.euler_to_matrix(e), m, atol=1e-13)
        total = (p1 + p2) if big_phi < 1 else (p2 - p1)
        assert np.cos(e[2] - total) == pytest.approx(1.0, abs=1e-12)


def test_half_turn_quaternion_sign_is_unique():
    m = o.axis_angle_to_matrix([0.0, -1.0, 1.0], np.pi)
    q = o.matrix_to_quat(m)
    assert q[0] >= 0.0 and q[0] == pytest.approx(0.0, abs=1e-16)
    assert same_rotation(q, [0.0, 0.0, np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-15)
    exact = o.quat_canonical([0.0, 0.0, -1.0, 1.0])
    np.testing.assert_allclose(exact, [0.0, 0.0, np.sqrt(0.5), -np.sqrt(0.5)], rtol=1e-15)
    assert np.signbit(exact[0]) == False


def test_quat_multiply_matches_matrix_product(rng):
    qa = o.quat_canonical(rng.normal(size=(100, 4)))
    qb = o.quat_canonical(rng.normal(size=(100, 4)))
    np.testing.assert_allclose(
        o.quat_to_matrix(o.quat_multiply(qa, qb)), o.quat_to_matrix(qa) @ o.quat_to_matrix(qb), atol=1e-14
    )
    np.testing.assert_allclose(o.quat_to_matrix(o.quat_conjugate(qa)), o.quat_to_matrix(qa).transpose(0, 2, 1), atol=1e-14)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: o.euler_to_matrix([1.0, 2.0]), r"expected \(\.\.\., 3\)"),
        (lambda: o.matrix_to_quat(np.eye(2)), r"expected \(\.\.\., 3, 3\)"),
        (lambda: o.quat_to_matrix([0.0, 0.0, 0.0, 0.0]), "zero or non-finite norm"),
        (lambda: o.axis_angle_to_matrix([0.0, 0.0, 0.0], 1.0), "zero-length"),
    ],
)
def test_bad_shapes_raise_param_error(call, match):
    with pytest.raises(ParamError, match=match):
        call()
