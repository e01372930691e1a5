"""NF forward model: spots, footprints, overlap and simulation vs the NumPy twin and upstream."""

from __future__ import annotations

import numpy as np
import pytest
from midas import parallel
from midas._native import core
from midas._reference import nf as ref
from midas.nf.simulate import mic_triangles, simulate_spots_info
from midas.nf.spots import compute_seed_spots, read_seed_spots, write_seed_spots
from midas.nf.spots_info import SpotsInfo
from nf_helpers import (
    au_reflections,
    nf_au,
    random_rotations,
    small_experiment,
    twin_experiment,
)


def _triangles(rng, n, edges):
    """Random voxel triangles (K, 7) inside ±40 µm with the given edge lengths."""
    xs, ys = rng.uniform(-40, 40, n), rng.uniform(-40, 40, n)
    edge = rng.choice(edges, n)
    ud = rng.choice([-1.0, 1.0], n)
    rows = np.zeros((n, 11))
    rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6] = xs, ys, edge, ud
    return mic_triangles(rows)


def test_spots_match_twin(rng):
    exp, refl = small_experiment(), au_reflections()
    om = random_rotations(rng, 25)
    s = compute_seed_spots(exp, refl, om)
    tw = twin_experiment(exp)
    total = 0
    for i in range(25):
        ours = s.spots_of(i)
        theirs = ref.compute_spots(tw, refl.g_crystal, refl.theta_deg, om[i])
        assert ours.shape == theirs.shape
        total += ours.shape[0]
        key = lambda a: a[np.lexsort((a[:, 1], a[:, 0], a[:, 2]))]
        assert np.allclose(key(ours), key(theirs), atol=1e-7)
    assert total > 100


def test_seed_spots_match_upstream_and_round_trip(tmp_path):
    d = nf_au()
    up = read_seed_spots(d["dir"] / "upstream_outputs")
    assert np.array_equal(d["seed_spots"].key, up.key)
    s = compute_seed_spots(d["experiment"], d["reflections"], up.orient_mats)
    assert np.array_equal(s.key, up.key)
    assert np.abs(s.spots[:, :2] - up.spots[:, :2]).max() < 2e-3  # µm
    assert np.abs(s.spots[:, 2] - up.spots[:, 2]).max() < 5e-5  # deg (upstream solves via acos)
    write_seed_spots(tmp_path, s)
    back = read_seed_spots(tmp_path)
    assert np.array_equal(back.spots, s.spots) and np.array_equal(back.key, s.key)


def test_raster_triangle_matches_twin(rng):
    for _ in range(300):
        off = rng.uniform(-4, 4, size=(3, 2))
        ours = core().nf_raster_triangle(off)
        theirs = ref.raster_triangle(off)
        assert np.array_equal(ours, theirs)


def test_overlap_counts_match_twin(rng):
    exp, refl = small_experiment(), au_reflections()
    tw = twin_experiment(exp)
    n = 24
    tri = _triangles(rng, n, [3.0, 12.0, 27.0])  # below and above the 5 µm pixel
    om = random_rotations(rng, n)
    words = (rng.random(SpotsInfo.zeros(exp.layout).words.size * 32) < 0.35)
    si = SpotsInfo(np.packbits(words, bitorder="little").view("<u4").copy(), exp.layout)
    ov, tot = core().nf_overlap_counts(exp._core(), refl._core(), tri, om, si.words, si.layout)
    for i in range(n):
        assert (ov[i], tot[i]) == ref.overlap_counts(tw, refl.g_crystal, refl.theta_deg, tri[i], om[i], si.words, si.layout)
    assert tot.sum() > 200 and 0 < ov.sum() < tot.sum()


def test_simulation_hits_match_twin_and_threads(rng):
    exp, refl = small_experiment(), au_reflections()
    tw = twin_experiment(exp)
    tri = _triangles(rng, 12, [2.0, 20.0])
    om = random_rotations(rng, 12)
    hits = core().nf_simulate_hits(exp._core(), refl._core(), tri, om)
    expected = [h for i in range(12) for h in ref.simulate_hits(tw, refl.g_crystal, refl.theta_deg, tri[i], om[i])]
    assert [tuple(h) for h in hits.tolist()] == expected and len(expected) > 100
    masks = []
    for n_threads in (1, 2):
        with parallel.threads(n_threads):
            si = SpotsInfo.zeros(exp.layout)
            core().nf_simulate_bits(exp._core(), refl._core(), tri, om, si.words, si.layout)
        masks.append(si.words.copy())
    assert np.array_equal(masks[0], masks[1])
    assert np.array_equal(SpotsInfo(masks[0], exp.layout).coords(), np.unique(hits, axis=0))


def test_simulate_nf_reproduces_upstream_spotsinfo():
    """midas simulate nf on upstream's Au example: the same set bits as upstream simulateNF."""
    from midas.nf.mic import read_mic_text

    d = nf_au()
    mic = read_mic_text(d["dir"] / "Au_txt.mic")
    si, stats = simulate_spots_info(d["experiment"], d["reflections"], mic, min_confidence=0.7)
    assert stats["voxels"] == 1514 and stats["hits"] == 288173  # upstream: 1514 voxels, 288173 hits
    ours = si.coords()
    up = d["spots_info"].coords()
    common = np.intersect1d(ours.view("i4,i4,i4,i4").ravel(), up.view("i4,i4,i4,i4").ravel()).size
    agree = common / max(len(up), len(ours))
    assert agree >= 0.99, f"only {agree:.4%} of set bits agree with upstream"
    assert len(ours) == len(up) == common  # in fact identical: 87,646 bits


def test_wedge_moves_omega_only_slightly(rng):
    """A small wedge changes each spot's ω by a small amount and keeps the spot count close."""
    import dataclasses

    exp, refl = small_experiment(), au_reflections()
    om = random_rotations(rng, 6)
    tri = _triangles(rng, 6, [20.0])
    h0 = core().nf_simulate_hits(exp._core(), refl._core(), tri, om)
    h1 = core().nf_simulate_hits(dataclasses.replace(exp, wedge_deg=0.05)._core(), refl._core(), tri, om)
    assert abs(len(h1) - len(h0)) < 0.1 * len(h0)
    frames0 = np.unique(h0[:, 1])
    frames1 = np.unique(h1[:, 1])
    assert np.abs(np.subtract.outer(frames1, frames0)).min(axis=1).max() <= 1


@pytest.mark.slow
def test_simulate_nf_cli_functions(tmp_path, capsys):
    """configure_parser/run_cli of midas.nf.simulate (the coordinator hooks them into `midas simulate nf`)."""
    import argparse

    from midas.nf import simulate

    d = nf_au()
    parser = argparse.ArgumentParser(prog="midas simulate")
    simulate.configure_parser(parser.add_subparsers(dest="target"))
    out = tmp_path / "SpotsInfo.bin"
    args = parser.parse_args(["nf", "-paramFN", str(d["dir"] / "ps_au.txt"), "-micFN", str(d["dir"] / "Au_txt.mic"),
                              "-o", str(out), "-nCPUs", "2", "--sparse-npz", str(tmp_path / "s.npz")])
    assert args.func(args) == 0
    assert "1514 voxels" in capsys.readouterr().out
    assert out.stat().st_size == 1509949440 and not list(tmp_path.glob(".*.part"))
    si = SpotsInfo.from_sparse_npz(tmp_path / "s.npz", d["experiment"].layout)
    assert np.array_equal(si.coords(), d["spots_info"].coords())
