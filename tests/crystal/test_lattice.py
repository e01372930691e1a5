"""Lattice: B matrix, direct basis, d-spacings, construction from parameters."""

from __future__ import annotations

import dataclasses

import gemmi
import numpy as np
import pytest
from midas._reference import crystal as ref
from midas.crystal import Lattice
from midas.errors import GeometryError, ParamError


def random_triclinic(rng):
    while True:
        a, b, c = rng.uniform(2.0, 15.0, 3)
        al, be, ga = rng.uniform(60.0, 120.0, 3)
        try:
            return Lattice(a, b, c, al, be, ga)
        except GeometryError:
            continue


def test_b_matrix_matches_cholesky_twin_for_triclinic_cells(rng):
    for _ in range(50):
        lat = random_triclinic(rng)
        np.testing.assert_allclose(lat.b_matrix(), ref.b_matrix(*lat.to_tuple()), rtol=0, atol=1e-14)


def test_b_matrix_reciprocal_metric_matches_gemmi(rng):
    for _ in range(50):
        lat = random_triclinic(rng)
        cell = gemmi.UnitCell(*lat.to_tuple())
        f = np.array(cell.frac.mat.tolist())  # rows: a*, b*, c* in gemmi's Cartesian frame
        b = lat.b_matrix()
        np.testing.assert_allclose(b.T @ b, f @ f.T, rtol=1e-12, atol=1e-16)
        hkl = rng.integers(-6, 7, (20, 3))
        hkl = hkl[np.any(hkl != 0, axis=1)]
        want = np.array([cell.calculate_d(list(map(int, h))) for h in hkl])
        np.testing.assert_allclose(lat.d_spacing(hkl), want, rtol=1e-12)
        assert lat.volume_A3 == pytest.approx(cell.volume, rel=1e-12)


def test_b_matrix_frame_and_direct_basis(rng):
    lat = random_triclinic(rng)
    b = lat.b_matrix()
    # a* along +x, b* in the x-y plane, positive diagonal
    assert b[1, 0] == 0.0 and b[2, 0] == 0.0 and b[2, 1] == 0.0
    assert np.all(np.diag(b) > 0)
    a = lat.direct_matrix()
    np.testing.assert_allclose(a.T @ b, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(a, axis=0), [lat.a_A, lat.b_A, lat.c_A], rtol=1e-13)
    np.testing.assert_allclose(a.T @ a, lat.metric_tensor(), rtol=1e-12, atol=1e-12)
    assert abs(np.linalg.det(a)) == pytest.approx(lat.volume_A3, rel=1e-12)


def test_gold_111_worked_example():
    lat = Lattice(4.08, 4.08, 4.08, 90, 90, 90)
    assert lat.d_spacing([1, 1, 1]) == pytest.approx(4.08 / np.sqrt(3), rel=1e-15)
    assert lat.d_spacing([1, 1, 1]) == pytest.approx(2.355589, abs=5e-7)
    # no 2π: |g| = 1/d
    assert np.linalg.norm(lat.g_crystal([2, 0, 0])) == pytest.approx(2 / 4.08, rel=1e-15)


class _FakeParams:
    """Stands in for midas.params.MidasParams (get with default, a source path)."""

    def __init__(self, d, source="Parameters.txt"):
        self._d = d
        self.source = source

    def get(self, key, default=None):
        return self._d.get(key, default)


def test_from_params_accepts_mapping_alias_and_params_object():
    want = Lattice(4.7608, 4.7608, 12.99568, 90, 90, 120)
    assert Lattice.from_params({"LatticeConstant": (4.7608, 4.7608, 12.99568, 90, 90, 120)}) == want
    assert Lattice.from_params({"LatticeParameter": [4.7608, 4.7608, 12.99568, 90, 90, 120]}) == want
    assert Lattice.from_params(_FakeParams({"LatticeConstant": (4.7608, 4.7608, 12.99568, 90, 90, 120)})) == want


def test_from_params_errors_name_the_key_and_file():
    with pytest.raises(ParamError, match="LatticeConstant is missing in Parameters.txt"):
        Lattice.from_params(_FakeParams({}))
    with pytest.raises(ParamError, match="six numbers"):
        Lattice.from_params({"LatticeConstant": (4.08, 4.08, 4.08)})


@pytest.mark.parametrize(
    "cell, match",
    [
        ((0, 1, 1, 90, 90, 90), "a_A"),
        ((1, 1, -2, 90, 90, 90), "c_A"),
        ((1, 1, 1, 90, 180, 90), "beta_deg"),
        ((1, 1, 1, 10, 10, 100), "do not form a cell"),
        ((1, 1, float("nan"), 90, 90, 90), "c_A"),
    ],
)
def test_invalid_cells_raise(cell, match):
    with pytest.raises(GeometryError, match=match):
        Lattice(*cell)


def test_lattice_is_frozen_and_round_trips_dict():
    lat = Lattice(3, 4, 5, 90, 95, 90)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lat.a_A = 2.0  # type: ignore[misc]
    assert Lattice.from_dict(lat.to_dict()) == lat
