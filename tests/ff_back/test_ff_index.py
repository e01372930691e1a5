"""FF indexing kernel: recovery on synthetic spots, twin counts, thread independence, inputs."""

from __future__ import annotations

import numpy as np
import pytest
from _ffdata import scene
from midas._reference import ff_index as ref
from midas.crystal import Lattice
from midas.crystal.symmetry import misorientation
from midas.errors import ParamError
from midas.ff.index import IndexConfig, index_seeds, ring_set, select_seeds


def _truth_of_seed(s, seeds):
    return s.table.grain_index[seeds]


def test_seeds_index_to_their_grain():
    s = scene(30)
    seeds = select_seeds(s.spots, s.settings.index)[:40]
    res = index_seeds(s.spot_index, s.settings.rings, s.settings.index, seeds)
    assert len(res) == len(seeds)  # every seed of a clean scene gets a solution
    truth = _truth_of_seed(s, res.seed)
    mis = np.degrees(misorientation(res.orient_mat, s.grains.orient_mat[truth], 225))
    dist = np.linalg.norm(res.pos_um - s.grains.pos_um[truth], axis=1)
    # orientation within a step of StepSizeOrient (plus the strain of the grain), position near
    assert np.all(mis < 0.2)
    assert np.all(dist < 150) and np.median(dist) < 60
    assert np.all(res.completeness >= 0.99)
    assert np.all(np.diff(res.matched_offsets) == res.n_matched)  # one observed spot per matched prediction


def test_counts_agree_with_twin():
    s = scene(30)
    seeds = select_seeds(s.spots, s.settings.index)[:6]
    res = index_seeds(s.spot_index, s.settings.rings, s.settings.index, seeds)
    rs = s.settings.rings
    ic = s.settings.index
    for i in range(len(res)):
        n_exp, n_mat = ref.count_matches(
            s.spots, res.orient_mat[i], res.pos_um[i], rs.hkl, rs.ring_nr, rs.ring_radius_um,
            Lattice.from_tuple(rs.lattice).b_matrix(), wavelength_A=ic.wavelength_A, lsd_um=ic.lsd_um,
            margin_eta_um=ic.margin_eta_um, margin_ome_deg=ic.margin_ome_deg, margin_radial_um=ic.margin_radial_um,
            step_orient_deg=ic.step_orient_deg, min_eta_deg=ic.min_eta_deg)
        assert n_exp == res.n_expected[i]
        assert abs(n_mat - res.n_matched[i]) <= 1  # borderline spots: linearised vs exact tests


def test_thread_count_does_not_change_results():
    s = scene(30, 20.0, 0.05)
    seeds = select_seeds(s.spots, s.settings.index)[:24]
    a = index_seeds(s.spot_index, s.settings.rings, s.settings.index, seeds, n_threads=1)
    b = index_seeds(s.spot_index, s.settings.rings, s.settings.index, seeds, n_threads=2)
    for k in a.to_dict():
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_friedel_fallback_finds_seed_without_mate():
    """A seed whose Friedel mate is missing: upstream abandons it; the arc search indexes it."""
    s = scene(10)
    seeds = select_seeds(s.spots, s.settings.index)[:3]
    t = s.table
    keep = np.ones(len(s.spots), bool)
    for sd in seeds:  # remove each seed's Friedel mate (-hkl of the same grain)
        mate = ((t.grain_index == t.grain_index[sd]) & np.all(t.hkl == -t.hkl[sd], axis=1))
        keep &= ~mate
    spots = s.spots.select(keep)
    from midas.ff.index import SpotIndex

    si = SpotIndex(spots, s.settings.rings)
    new_seeds = spots.index_of(s.spots.spot_id[seeds])
    ic = s.settings.index
    with_fallback = index_seeds(si, s.settings.rings, ic, new_seeds)
    from dataclasses import replace

    without = index_seeds(si, s.settings.rings, replace(ic, friedel_fallback=False), new_seeds)
    assert len(with_fallback) == 3
    assert len(without) == 0


def test_ring_set_representatives():
    """Cubic {200} rotates through 90°, {111} 120°, {220} 180°, {311} 360° about the normal."""
    s = scene(1)
    rs = s.settings.rings
    angle = dict(zip(rs.rep_ring.tolist(), rs.rep_max_angle_deg.tolist()))
    assert angle == {1: 120.0, 2: 90.0, 3: 180.0, 4: 360.0, 5: 120.0}


def test_ruby_ring_has_several_orbits():
    """R-3c (proper rotations 32): {110} and {113} split into two orbits, {006} turns through 120°."""
    from midas.crystal import hkl_table

    lat = Lattice(4.7608, 4.7608, 12.99568, 90, 90, 120)
    hk = hkl_table(167, lat, 0.202146, 756947.9, 200000)
    rs = ring_set(hk, [1, 2, 3], space_group=167, lattice=lat)
    rs4 = ring_set(hk, [4], space_group=167, lattice=lat)
    assert rs4.rep_max_angle_deg.tolist() == [120.0]
    counts = np.bincount(rs.rep_ring)
    assert counts.tolist() == [0, 1, 1, 2]  # rings 1 {012}, 2 {104}: one orbit; 3 {110}: two


def test_bad_inputs():
    s = scene(1)
    with pytest.raises(ParamError):
        index_seeds(s.spot_index, s.settings.rings, s.settings.index, [len(s.spots) + 5])
    with pytest.raises(ParamError):
        IndexConfig.from_params(s.params, completeness=1.5)
    from midas.params import parse_text

    with pytest.raises(ParamError, match="MarginEta"):
        IndexConfig.from_params(parse_text("Wavelength 0.2\nLsd 1e6\nRsample 10\nHbeam 10\nStepSizePos 5\n"
                                           "StepSizeOrient 0.2\nMarginOme 0.5\nMarginRadial 5\nCompleteness 0.8\n"))
