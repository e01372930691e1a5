"""Exact polygon ∩ annular-sector areas: compiled kernel vs analytic values and the Green's-theorem twin."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas._native import core
from midas._reference import integration as ref
from midas.errors import ParamError


def areas(polys, r0, r1, e0, e1):
    return core().polygon_sector_areas(np.asarray(polys, dtype=np.float64), r0, r1, e0, e1)


def square(half):
    # listed in increasing-η order (positive area)
    return np.array([[-half, -half], [half, -half], [half, half], [-half, half]], dtype=np.float64)


@pytest.mark.parametrize("r0,r1,e0,e1", [(10, 20, -30, 40), (0, 30, -180, 180), (5, 7, 100, 300),
                                         (3, 9, -170, 190), (0.5, 2.5, 170, 200), (1, 2, -200, -170)])
def test_sector_inside_a_large_square_is_exact(r0, r1, e0, e1):
    want = 0.5 * (r1 * r1 - r0 * r0) * math.radians(e1 - e0)
    got = areas([square(50.0)], r0, r1, e0, e1)[0]
    assert got == pytest.approx(want, rel=1e-13)
    # reversed orientation flips the sign
    assert areas([square(50.0)[::-1]], r0, r1, e0, e1)[0] == pytest.approx(-want, rel=1e-13)


def test_polygon_inside_the_sector_keeps_its_area():
    quad = np.array([[-1.0, 100.0], [-1.2, 101.1], [-2.3, 101.0], [-2.1, 99.8]])
    a = ref.polygon_sector_area(quad, 0, 1e9, -180, 180)
    assert areas([quad], 90, 110, -10, 10)[0] == pytest.approx(a, rel=1e-12)
    assert areas([quad], 200, 300, -10, 10)[0] == 0.0
    assert areas([quad], 90, 110, 20, 30)[0] == 0.0


def random_quads(rng, n, scale=40.0):
    """Convex quadrilaterals (jittered parallelograms) anywhere around the origin."""
    centre = rng.uniform(-scale, scale, (n, 1, 2))
    u = rng.uniform(0.6, 1.6, (n, 1, 2)) * rng.choice([-1, 1], (n, 1, 2))
    v = np.stack([-u[..., 1], u[..., 0]], axis=-1) * rng.uniform(0.7, 1.3, (n, 1, 1))
    base = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    quads = centre + base[None, :, :1] * u + base[None, :, 1:] * v
    return quads + rng.uniform(-0.05, 0.05, quads.shape)


def test_kernel_matches_greens_theorem_twin(rng):
    quads = random_quads(rng, 300, scale=6.0)
    for k, (r0, r1, e0, e1) in enumerate([(1.0, 3.5, -40.0, 35.0), (0.0, 2.0, 100.0, 290.0), (2.5, 9.0, 150.0, 210.0),
                                          (0.3, 5.0, -180.0, 180.0)]):
        got = areas(quads, r0, r1, e0, e1)
        want = np.array([ref.polygon_sector_area(q, r0, r1, e0, e1) for q in quads])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11, err_msg=f"sector {k}")
        assert np.count_nonzero(want) > 30  # the draw really exercises partial overlaps


@settings(max_examples=60, deadline=None)
@given(cy=st.floats(-30, 30), cz=st.floats(-30, 30), r0=st.floats(0, 25), dr=st.floats(0.05, 6),
       e0=st.floats(-300, 200), de=st.floats(0.5, 300))
def test_hypothesis_kernel_vs_twin(cy, cz, r0, dr, e0, de):
    quad = np.array([[cy, cz], [cy + 1.3, cz + 0.2], [cy + 1.1, cz + 1.5], [cy - 0.2, cz + 1.2]])
    got = areas([quad], r0, r0 + dr, e0, e0 + de)[0]
    want = ref.polygon_sector_area(quad, r0, r0 + dr, e0, e0 + de)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-10)


def test_bins_partition_the_polygon(rng):
    """Summed over a full grid of sectors, the pieces add up to the polygon area (exact split)."""
    quads = random_quads(rng, 50, scale=4.0)
    full = areas(quads, 0.0, 1e6, -180.0, 180.0)
    edges_r = np.concatenate([[0.0], np.linspace(0.7, 12.0, 13), [1e6]])
    edges_e = np.linspace(-180.0, 180.0, 9)
    total = np.zeros(len(quads))
    for r0, r1 in itertools.pairwise(edges_r):
        for e0, e1 in itertools.pairwise(edges_e):
            total += areas(quads, r0, r1, e0, e1)
    np.testing.assert_allclose(total, full, rtol=1e-12, atol=1e-12)


def test_fast_off_origin_disk_area_matches_general(rng):
    quads = random_quads(rng, 1500, scale=30.0)
    contains = np.array([ref._point_in_polygon(0.0, 0.0, q) for q in quads])
    quads = quads[~contains]
    for r in (5.0, 17.3, 29.9, 41.0):
        fast = core().polygon_disk_areas(quads, r, True)
        slow = core().polygon_disk_areas(quads, r, False)
        np.testing.assert_allclose(fast, slow, rtol=1e-11, atol=1e-11)
        full = core().polygon_disk_areas(quads, 1e9, False)
        partial = np.count_nonzero((slow > 1e-9) & (slow < full - 1e-9))
        assert partial >= 1, f"r = {r}: no polygon is cut by the circle"


def test_disk_area_of_a_polygon_containing_the_disk():
    got = core().polygon_disk_areas(square(5.0)[None], 2.0, False)[0]
    assert got == pytest.approx(math.pi * 4.0, rel=1e-14)


def test_bad_polygon_shape_raises():
    with pytest.raises(ParamError, match="vertices"):
        areas(np.zeros((1, 9, 2)), 0, 1, 0, 10)
