"""Grain processing: clustering, de-duplication, strains, output tables, scoring."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from _ffdata import scene
from midas.ff.grains import (
    process_grains,
    read_grain_ids_key,
    write_grain_ids_key,
)
from midas.ff.index import index_and_refine, select_seeds
from midas.ff.score import score_grains
from midas.ff.strain import (
    fable_beaudoin_strain,
    kenesei_strain,
    kenesei_strains,
    segment_sums,
)
from midas.ff.synthetic import strained_lattices

REF = (4.08, 4.08, 4.08, 90.0, 90.0, 90.0)


def _search(s, **kw):
    seeds = select_seeds(s.spots, s.settings.index)
    return index_and_refine(s.spot_index, s.settings.rings, s.settings.index, s.settings.refine, seeds, **kw)


def test_fable_beaudoin_inverts_the_strained_lattice(rng):
    from midas.crystal import quat_to_matrix

    q = rng.normal(size=(20, 4))
    u = quat_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))
    e = rng.normal(scale=5e-4, size=(20, 3, 3))
    e = 0.5 * (e + np.swapaxes(e, 1, 2))
    lat = strained_lattices(REF, e, u)
    got = fable_beaudoin_strain(lat, REF, u)
    np.testing.assert_allclose(got, e, atol=2e-6)  # first order: error ~ |ε|²


def test_kenesei_recovers_a_known_strain(rng):
    e = rng.normal(scale=1e-3, size=(3, 3))
    e = 0.5 * (e + e.T)
    g = rng.normal(size=(40, 3))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    d0 = np.full(40, 2.04)
    strain_along = np.einsum("ni,ij,nj->n", g, e, g)
    lam = 0.22291
    tth = 2 * np.arcsin(lam / (2 * d0 * (1 + strain_along)))
    got, rms, resid = kenesei_strain(g, tth, d0, lam)
    np.testing.assert_allclose(got, e, atol=1e-9)
    assert rms < 1e-9 and np.abs(resid).max() < 1e-9


def test_segment_sums_match_a_loop_with_empty_segments(rng):
    for _ in range(50):
        counts = rng.integers(0, 4, size=rng.integers(0, 9))
        off = np.concatenate([[0], np.cumsum(counts)])
        x = rng.normal(size=(int(off[-1]), 2, 3))
        expected = np.zeros((len(counts), 2, 3))
        for i in range(len(counts)):
            expected[i] = x[off[i]:off[i + 1]].sum(axis=0)
        np.testing.assert_allclose(segment_sums(x, off), expected, rtol=0, atol=1e-12)


def test_kenesei_strains_of_several_grains_equal_one_at_a_time(rng):
    sizes = [12, 0, 5, 30]  # a grain without spots and one with too few for a strain
    lam = 0.22291
    g = rng.normal(size=(sum(sizes), 3))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    d0 = np.full(len(g), 2.04)
    tth = 2 * np.arcsin(lam / (2 * d0 * (1 + rng.normal(scale=1e-3, size=len(g)))))
    off = np.concatenate([[0], np.cumsum(sizes)])
    eps, rms, resid = kenesei_strains(g, tth, d0, lam, off)
    for i in (0, 3):
        s = slice(off[i], off[i + 1])
        e1, r1, res1 = kenesei_strain(g[s], tth[s], d0[s], lam)
        np.testing.assert_allclose(eps[i], e1, atol=1e-12)
        np.testing.assert_allclose(resid[s], res1, atol=1e-12)
        assert abs(rms[i] - r1) < 1e-12
    assert np.all(eps[1] == 0) and np.all(eps[2] == 0) and np.all(resid[off[2]:off[3]] == 0)


def test_process_grains_finds_every_grain_once():
    s = scene(30)
    gs = process_grains(_search(s), s.spots, s.settings.rings, s.settings.grains)
    score = score_grains(s.grains, gs.table, space_group=225, lattice=REF)
    assert (score["matched"], score["missed"], score["spurious"]) == (30, 0, 0)
    assert score["position_error_um"]["max"] < 1e-6
    assert score["misorientation_lattice_deg"]["max"] < 1e-8
    assert np.all(gs.table.confidence == 1.0)
    # every grain is supported by its seed spots (MinNrSpots 3)
    assert min(len(m) for m in gs.members) >= 3
    # SpotMatrix rows belong to the grains, StrainError is the Kenesei residual (tiny here)
    assert set(np.unique(gs.spot_matrix.grain_id)) == set(gs.table.grain_id.tolist())
    assert np.abs(gs.spot_matrix.strain_error).max() < 1e-6
    np.testing.assert_allclose(gs.table.strain_ken, gs.table.strain_fab, atol=2e-6)


def test_duplicates_and_claims_do_not_change_the_grains():
    """Indexing every seed (no skipping) gives the same grains as the fast path."""
    s = scene(12)
    fast = process_grains(_search(s), s.spots, s.settings.rings, s.settings.grains)
    full = process_grains(_search(s, claim=False), s.spots, s.settings.rings, s.settings.grains)
    assert len(fast) == len(full) == 12
    a = np.argsort(fast.table.pos_um[:, 0])
    b = np.argsort(full.table.pos_um[:, 0])
    np.testing.assert_allclose(fast.table.pos_um[a], full.table.pos_um[b], atol=1e-6)


def test_min_nr_spots_drops_weakly_supported_grains():
    s = scene(12)
    search = _search(s)
    from dataclasses import replace

    gs = process_grains(search, s.spots, s.settings.rings, replace(s.settings.grains, min_nr_spots=50))
    assert len(gs) == 0


def test_results_do_not_depend_on_threads():
    s = scene(30, 20.0, 0.05)
    a = process_grains(_search(s, n_threads=1), s.spots, s.settings.rings, s.settings.grains)
    b = process_grains(_search(s, n_threads=2), s.spots, s.settings.rings, s.settings.grains)
    np.testing.assert_array_equal(a.table.to_matrix(), b.table.to_matrix())


def test_grain_ids_key_round_trip(tmp_path):
    s = scene(12)
    gs = process_grains(_search(s), s.spots, s.settings.rings, s.settings.grains)
    write_grain_ids_key(tmp_path / "GrainIDsKey.csv", gs)
    back = read_grain_ids_key(tmp_path / "GrainIDsKey.csv")
    assert len(back) == len(gs)
    for m, k in zip(gs.members, back):
        np.testing.assert_array_equal(m, k)
    assert back[0][0, 0] == gs.table.grain_id[0]


def test_score_agrees_with_shared_scorer(tmp_path):
    from conftest import SHARED

    tool = SHARED / "tools" / "hedm_score.py"
    if not tool.is_file():
        import pytest

        pytest.skip(f"{tool} is absent")
    from dataclasses import replace

    from midas.io.grains_csv import GrainsHeader, write_grains_csv

    s = scene(30, 20.0, 0.05)
    gs = process_grains(_search(s), s.spots, s.settings.rings, s.settings.grains)
    truth = replace(s.grains, header=GrainsHeader(space_group=225, lattice=REF))
    write_grains_csv(tmp_path / "truth.csv", truth)
    write_grains_csv(tmp_path / "result.csv", gs.table)
    out = json.loads(subprocess.run([sys.executable, str(tool), "ff", str(tmp_path / "truth.csv"),
                                     str(tmp_path / "result.csv")], capture_output=True, text=True,
                                    check=True).stdout)
    ours = score_grains(truth, gs.table, space_group=225, lattice=REF)
    assert out["matched"] == ours["matched"] == 30
    assert abs(out["misorientation_deg"]["median"] - ours["misorientation_deg"]["median"]) < 1e-4
    assert abs(out["position_error_um"]["median"] - ours["position_error_um"]["median"]) < 1e-3
    assert abs(out["strain_error_rms_microstrain"] - ours["strain_error_rms_microstrain"]) < 0.5
