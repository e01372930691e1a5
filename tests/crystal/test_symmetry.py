"""Laue rotations from gemmi and the C++ misorientation kernel (against the NumPy twin)."""

from __future__ import annotations

import numpy as np
import pytest
from midas import parallel
from midas._reference import crystal as ref
from midas.crystal import Lattice, hkl_table
from midas.crystal.orientation import (
    axis_angle_to_matrix,
    euler_to_matrix,
    quat_canonical,
    quat_to_matrix,
)
from midas.crystal.symmetry import (
    laue_group_order,
    laue_quaternions,
    laue_rotations,
    misorientation,
    misorientation_matrix,
)
from midas.errors import GeometryError, ParamError
from test_hkl import REPRESENTATIVE_GROUPS, scaled_lattice

EXPECTED_ORDER = {1: 1, 2: 1, 3: 2, 15: 2, 16: 4, 74: 4, 75: 4, 88: 4, 89: 8, 142: 8, 143: 3, 148: 3, 149: 6,
                  167: 6, 168: 6, 176: 6, 177: 12, 194: 12, 195: 12, 206: 12, 207: 24, 230: 24}

LATTICES = {
    2: Lattice(5.1, 6.2, 7.3, 82.0, 95.0, 101.0),
    14: Lattice(5.1, 7.3, 9.2, 90.0, 103.7, 90.0),
    167: Lattice(4.7608, 4.7608, 12.99568, 90.0, 90.0, 120.0),
    194: Lattice(2.95, 2.95, 4.68, 90.0, 90.0, 120.0),
    225: Lattice(4.08, 4.08, 4.08, 90.0, 90.0, 90.0),
}


def random_orientations(rng, n):
    return quat_to_matrix(quat_canonical(rng.normal(size=(n, 4))))


def test_laue_rotations_for_every_space_group():
    for sg in range(1, 231):
        _check_group(sg)


def _check_group(sg):
    rots = laue_rotations(sg)
    m = len(rots)
    assert m == laue_group_order(sg)
    lo = max(k for k in EXPECTED_ORDER if k <= sg)
    assert m == EXPECTED_ORDER[lo] or m == EXPECTED_ORDER[min(k for k in EXPECTED_ORDER if k >= sg)]
    np.testing.assert_allclose(rots[0], np.eye(3), atol=0)
    np.testing.assert_allclose(rots @ rots.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rots.shape), atol=1e-14)
    np.testing.assert_allclose(np.linalg.det(rots), 1.0, atol=1e-14)
    # a group: closed under products, no duplicates
    prod = np.einsum("aij,bjk->abik", rots, rots).reshape(-1, 9)
    flat = rots.reshape(m, 9)
    dist = np.abs(prod[:, None, :] - flat[None, :, :]).max(-1)
    assert np.all(dist.min(1) < 1e-12)
    assert len({tuple(np.round(r, 9).ravel()) for r in rots}) == m


def _permutes_g_vectors(sg):
    lat = scaled_lattice(sg)
    t = hkl_table(sg, lat, 0.25, 1e6, 2e5)
    b = lat.b_matrix()
    rows = {tuple(h) for h in t.hkl.tolist()}
    for s in laue_rotations(sg, lat):
        h_new = np.linalg.solve(b, s @ t.g_crystal.T).T  # hkl of the rotated g vectors
        h_int = np.rint(h_new)
        assert np.abs(h_new - h_int).max() < 1e-9
        assert {tuple(h) for h in h_int.astype(int).tolist()} == rows


@pytest.mark.parametrize("sg", REPRESENTATIVE_GROUPS)
def test_rotations_permute_the_scattering_vectors(sg):
    _permutes_g_vectors(sg)


@pytest.mark.slow
def test_rotations_permute_the_scattering_vectors_for_every_space_group():
    for sg in range(1, 231):
        _permutes_g_vectors(sg)


def test_frames_of_specific_groups():
    # monoclinic, unique axis b: the 2-fold is about y of the B frame
    np.testing.assert_allclose(laue_rotations(14, LATTICES[14])[1], np.diag([-1.0, 1.0, -1.0]), atol=1e-15)
    # unique axis c chosen from the lattice (gamma != 90)
    c_unique = Lattice(5.1, 7.3, 9.2, 90.0, 90.0, 103.7)
    np.testing.assert_allclose(laue_rotations(14, c_unique)[1], np.diag([-1.0, -1.0, 1.0]), atol=1e-15)
    # hexagonal: a 6-fold about z
    six = axis_angle_to_matrix([0.0, 0.0, 1.0], np.pi / 3)
    assert np.min(np.abs(laue_rotations(194) - six).max(axis=(1, 2))) < 1e-15
    # P321 has a 2-fold along the direct axis a, P312 does not (the second trigonal setting)
    a_dir = LATTICES[194].direct_matrix()[:, 0]
    fixes_a = lambda rots: any(np.allclose(s @ a_dir, a_dir) and not np.allclose(s, np.eye(3)) for s in rots)
    assert fixes_a(laue_rotations(150, LATTICES[194])) and not fixes_a(laue_rotations(149, LATTICES[194]))
    # rhombohedral axes are picked up from the lattice
    rh = laue_rotations(166, Lattice(5.0, 5.0, 5.0, 70.0, 70.0, 70.0))
    assert len(rh) == 6
    np.testing.assert_allclose(rh @ rh.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rh.shape), atol=1e-14)
    np.testing.assert_allclose(laue_quaternions(225)[0], [1.0, 0.0, 0.0, 0.0])


def test_lattice_without_the_symmetry_raises():
    with pytest.raises(GeometryError, match="does not have the symmetry of space group 225"):
        laue_rotations(225, Lattice(4.0, 4.0, 4.2, 90, 90, 90))
    with pytest.raises(ParamError, match="1..230"):
        laue_rotations(0)


@pytest.mark.parametrize("sg", sorted(LATTICES))
def test_misorientation_is_symmetry_invariant(rng, sg):
    lat = LATTICES[sg]
    rots = laue_rotations(sg, lat)
    a = random_orientations(rng, 200)
    b = random_orientations(rng, 200)
    base = misorientation(a, b, sg, lattice=lat)
    assert np.all(base >= 0) and np.all(base <= np.pi)
    for s in rots:
        # a symmetry-equivalent description of the same crystal is 0 away ...
        np.testing.assert_allclose(misorientation(a, a @ s, sg, lattice=lat), 0.0, atol=1e-7)
        # ... and at the same angle from any other orientation, on either side
        np.testing.assert_allclose(misorientation(a @ s, b, sg, lattice=lat), base, atol=1e-12)
        np.testing.assert_allclose(misorientation(a, b @ s, sg, lattice=lat), base, atol=1e-12)
    np.testing.assert_allclose(misorientation(b, a, sg, lattice=lat), base, atol=1e-12)
    # sample rotations applied to both leave it unchanged
    g = random_orientations(rng, 1)[0]
    np.testing.assert_allclose(misorientation(g @ a, g @ b, sg, lattice=lat), base, atol=1e-12)


@pytest.mark.parametrize("sg", [1, 2, 14, 167, 194, 225])
def test_kernel_matches_numpy_twin(rng, sg):
    lat = LATTICES.get(sg)
    a = random_orientations(rng, 500)
    b = random_orientations(rng, 500)
    rots = laue_rotations(sg, lat)
    angle, axis = misorientation(a, b, sg, lattice=lat, return_axis=True)
    want_angle, want_axis = ref.misorientation(a, b, rots)
    np.testing.assert_allclose(angle, want_angle, rtol=0, atol=1e-12)
    ok = (want_angle > 1e-6) & (want_angle < np.pi - 1e-6)
    np.testing.assert_allclose(axis[ok], want_axis[ok], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0, atol=1e-14)
    # all pairs and one-to-many
    m = misorientation_matrix(a[:40], b[:30], sg, lattice=lat)
    np.testing.assert_allclose(m, ref.misorientation_all_pairs(a[:40], b[:30], rots), atol=1e-12)
    np.testing.assert_array_equal(misorientation(a[3], b[:30], sg, lattice=lat), m[3])
    # the symmetry may be given as matrices or quaternions
    np.testing.assert_array_equal(misorientation(a, b, rots), angle)
    np.testing.assert_array_equal(misorientation(a, b, laue_quaternions(sg, lat)), angle)


def test_known_extremes_and_small_angles(rng):
    # largest cubic disorientation is 62.80 deg, hexagonal 93.84 deg
    a = random_orientations(rng, 20000)
    b = random_orientations(rng, 20000)
    assert np.degrees(misorientation(a, b, 225).max()) <= 62.81
    assert np.degrees(misorientation(a, b, 194).max()) <= 93.85
    assert np.degrees(misorientation(a, b, 225).max()) > 55.0
    # tiny rotations keep full relative precision (2·atan2 form, not 2·acos)
    for eps in (1e-10, 1e-7, 1e-4):
        r = axis_angle_to_matrix([1.0, 2.0, 3.0], eps)
        got = misorientation(a[:50], a[:50] @ r, 225)
        np.testing.assert_allclose(got, eps, rtol=1e-6, atol=2e-15)  # 2·acos would be off by ~1e-8
    # a 60 deg rotation about a cubic 3-fold axis is one of 0 after symmetry
    r = axis_angle_to_matrix([1.0, 1.0, 1.0], 2 * np.pi / 3)
    np.testing.assert_allclose(misorientation(a[:10], a[:10] @ r, 225), 0.0, atol=1e-7)


def test_identical_for_1_and_2_threads(rng):
    a = random_orientations(rng, 20000)
    b = random_orientations(rng, 20000)
    with parallel.threads(1):
        r1 = misorientation(a, b, 225, return_axis=True)
        m1 = misorientation_matrix(a[:300], b[:200], 194)
    with parallel.threads(2):
        r2 = misorientation(a, b, 225, return_axis=True)
        m2 = misorientation_matrix(a[:300], b[:200], 194)
    assert r1[0].tobytes() == r2[0].tobytes() and r1[1].tobytes() == r2[1].tobytes()
    assert m1.tobytes() == m2.tobytes()


def test_bad_arguments(rng):
    a = random_orientations(rng, 5)
    with pytest.raises(ParamError, match="om_a has 5 orientations and om_b 4"):
        misorientation(a, a[:4], 225)
    with pytest.raises(ParamError, match=r"expected \(3, 3\) or \(N, 3, 3\)"):
        misorientation(a[:, :2], a, 225)
    with pytest.raises(ParamError, match="proper orthogonal"):
        misorientation(a, a, -np.eye(3)[None])
    with pytest.raises(ParamError, match="space-group number"):
        misorientation(a, a, np.zeros((3, 5)))
    one = misorientation(euler_to_matrix([0.0, 0.0, 0.0]), euler_to_matrix([0.0, 0.0, np.radians(50.0)]), 225)
    assert isinstance(one, float) and np.degrees(one) == pytest.approx(40.0, abs=1e-12)
    assert misorientation(a[:1], a[:1], 225).shape == (1,)
