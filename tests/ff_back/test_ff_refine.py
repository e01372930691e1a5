"""FF refinement kernel: exact recovery, twin least squares, bounds, robustness, threads."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _ffdata import scene
from midas._reference import ff_index as ref
from midas.crystal import Lattice
from midas.crystal.orientation import axis_angle_to_matrix
from midas.crystal.symmetry import misorientation
from midas.errors import ParamError
from midas.ff.refine import RefineConfig, refine_grains


def _perturbed(s, rng, rows, rot_deg=0.15, pos_um=40.0):
    axis = rng.normal(size=(len(rows), 3))
    r = axis_angle_to_matrix(axis / np.linalg.norm(axis, axis=1, keepdims=True), np.full(len(rows), np.radians(rot_deg)))
    om = r @ s.grains.orient_mat[rows]
    pos = s.grains.pos_um[rows] + rng.normal(scale=pos_um, size=(len(rows), 3))
    pos[:, 2] = np.clip(pos[:, 2], -199, 199)
    return om, pos


def test_noise_free_recovery_is_exact(rng):
    s = scene(30)
    rows = np.arange(12)
    om, pos = _perturbed(s, rng, rows)
    res = refine_grains(s.spot_index, s.settings.rings, s.settings.refine, om, pos)
    assert res.ok.all()
    assert np.all(res.completeness == 1.0)
    np.testing.assert_allclose(res.pos_um, s.grains.pos_um[rows], atol=1e-6)  # µm
    np.testing.assert_allclose(res.lattice, s.grains.lattice[rows], atol=1e-9)
    # the orientation is the truth's up to the labelling of the cubic axes (strained cell)
    assert np.degrees(misorientation(res.orient_mat, s.grains.orient_mat[rows], 225)).max() < 0.1
    ub = np.einsum("nij,njk->nik", res.orient_mat, res.b_matrix)
    ub_t = np.einsum("nij,njk->nik", s.grains.orient_mat[rows],
                     np.stack([Lattice.from_tuple(x).b_matrix() for x in s.grains.lattice[rows]]))
    # U·B is recovered exactly up to a relabelling S (integer hkl permutation)
    for a, b in zip(ub, ub_t):
        s_int = np.linalg.solve(b, a)
        np.testing.assert_allclose(s_int, np.rint(s_int), atol=1e-9)


def test_single_pass_matches_twin_least_squares(rng):
    """With fixed pairs and weights, LM with the analytic Jacobian = scipy least squares."""
    s = scene(30, 10.0, 0.02)
    rows = np.arange(3)
    om, pos = _perturbed(s, rng, rows, 0.05, 10.0)
    cfg = replace(s.settings.refine, max_iter=200, sigma_yz_um=10.0, sigma_ome_deg=0.02, adapt_weights=False,
                  huber_k=0.0)
    res_fixed = refine_grains(s.spot_index, s.settings.rings, cfg, om, pos)
    b0 = Lattice.from_tuple(s.settings.rings.lattice).b_matrix()
    from midas.forward.ff import orthonormalize_orientations

    om_n = orthonormalize_orientations(om, "polar")
    for i in range(len(rows)):
        sl = res_fixed.spots_of(i)
        u, p, b = ref.refine_lsq(s.spots, res_fixed.obs[sl], s.settings.rings.hkl[res_fixed.hkl_row[sl]], om_n[i],
                                 pos[i], b0, wavelength_A=0.22291, lsd_um=1e6, sigma_yz_um=10.0, sigma_ome_deg=0.02)
        np.testing.assert_allclose(res_fixed.pos_um[i], p, atol=2e-3)
        np.testing.assert_allclose(ref.lattice_from_b(b), res_fixed.lattice[i], atol=2e-6)
        assert float(np.degrees(misorientation(res_fixed.orient_mat[i], u, 1))) < 2e-5


def test_threads_do_not_change_results(rng):
    s = scene(30, 20.0, 0.05)
    rows = np.arange(16)
    om, pos = _perturbed(s, rng, rows)
    a = refine_grains(s.spot_index, s.settings.rings, s.settings.refine, om, pos, n_threads=1)
    b = refine_grains(s.spot_index, s.settings.rings, s.settings.refine, om, pos, n_threads=2)
    for k, v in a.to_dict().items():
        np.testing.assert_array_equal(v, b.to_dict()[k])


def test_wrong_spots_do_not_pull_the_grain(rng):
    """Four spots moved by ~1.5 px (as if merged with a neighbour) leave the position exact."""
    s = scene(5)
    t = s.table
    g = 0
    bad = np.nonzero(t.grain_index == g)[0][::25][:4]
    y = s.spots.y_um.copy()
    y[bad] += 300.0
    from midas.ff.index import SpotIndex
    from midas.ff.spots import ObservedSpots

    spots = ObservedSpots.from_dict({**s.spots.to_dict(), "y_um": y})
    si = SpotIndex(spots, s.settings.rings)
    om, pos = _perturbed(s, rng, np.array([g]))
    res = refine_grains(si, s.settings.rings, s.settings.refine, om, pos)
    np.testing.assert_allclose(res.pos_um[0], s.grains.pos_um[g], atol=1e-3)
    assert not set(bad.tolist()) & set(res.obs_of(0).tolist())


def test_position_bounds():
    s = scene(30)
    cfg = replace(s.settings.refine, hbeam_um=100.0)  # |z| <= 50 µm
    rows = np.nonzero(np.abs(s.grains.pos_um[:, 2]) > 120)[0][:3]
    res = refine_grains(s.spot_index, s.settings.rings, cfg, s.grains.orient_mat[rows], s.grains.pos_um[rows])
    assert np.all(np.abs(res.pos_um[:, 2]) <= 50.0 + 1e-9)


def test_config_errors():
    s = scene(1)
    with pytest.raises(ParamError):
        replace(s.settings.refine, displacement="curved")
    with pytest.raises(ParamError):
        RefineConfig.from_params(s.params, tol_factor=0.0)
    with pytest.raises(ParamError):
        refine_grains(s.spot_index, s.settings.rings, s.settings.refine, np.eye(3)[None], np.zeros((2, 3)))
