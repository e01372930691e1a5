"""The spot model (values + analytic Jacobian) against the forward model and its NumPy twin."""

from __future__ import annotations

import numpy as np
import pytest
from midas._native import core
from midas._reference import ff_index as ref

LAM = 0.22291
LSD = 1.0e6


def _random_cases(rng, n):
    from midas.crystal import quat_to_matrix

    q = rng.normal(size=(n, 4))
    u = quat_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))
    hkl = rng.choice(np.array([[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1], [2, 2, 2], [-1, 3, 1]]), size=n)
    g = np.einsum("nij,nj->ni", u, hkl / 4.08)
    pos = rng.uniform(-1500, 1500, size=(n, 3))
    omegas = []
    keep = []
    for i in range(n):
        w = ref.bragg_omegas(g[i], LAM)
        if len(w):
            omegas.append(w[rng.integers(2)])
            keep.append(i)
    return g[keep], pos[keep], np.asarray(omegas)


@pytest.mark.parametrize("displacement", ["parallel", "toward_point"])
def test_values_and_jacobian_match_twin(rng, displacement):
    g, pos, w = _random_cases(rng, 60)
    out = core().ff_spot_model(g=g, pos_um=pos, omega_rad=w, wavelength_A=LAM, lsd_um=LSD, displacement=displacement)
    for i in range(len(w)):
        expect = ref.spot_model(g[i], pos[i], w[i], LAM, LSD, displacement)
        if abs(np.sin(np.radians(expect[3]))) < 0.05:  # near the poles ω is ill-conditioned
            continue
        assert out["ok"][i]
        np.testing.assert_allclose(out["values"][i, :2], expect[:2], atol=1e-6)  # µm
        np.testing.assert_allclose(out["values"][i, 2:], expect[2:], atol=1e-9)  # deg
        dg, dp = ref.spot_jacobian(g[i], pos[i], w[i], LAM, LSD, displacement)
        np.testing.assert_allclose(out["d_dg"][i], dg, rtol=1e-5, atol=1e-3 * np.abs(dg).max())
        np.testing.assert_allclose(out["d_dpos"][i], dp, rtol=1e-5, atol=1e-7)


def test_model_reproduces_forward_prediction():
    """Spots of the forward model (midas.forward.predict_spots) are the model's values."""
    from _ffdata import scene
    from midas.crystal import Lattice

    s = scene(5)
    t = s.table
    b = np.stack([Lattice.from_tuple(x).b_matrix() for x in s.grains.lattice])
    u = s.grains.orient_mat
    g = np.einsum("nij,njk,nk->ni", u[t.grain_index], b[t.grain_index], t.hkl.astype(float))
    w = np.radians(t.omega_raw_deg)
    out = core().ff_spot_model(g=g, pos_um=s.grains.pos_um[t.grain_index], omega_rad=w, wavelength_A=LAM,
                               lsd_um=LSD, displacement="parallel")
    np.testing.assert_allclose(out["values"][:, 0], t.y_um, atol=1e-6)
    np.testing.assert_allclose(out["values"][:, 1], t.z_um, atol=1e-6)
    np.testing.assert_allclose(out["values"][:, 3], t.eta_deg, atol=1e-9)
