"""Seed orientations: upstream seed files, FF grains, fundamental-zone sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import shared_path
from midas.crystal.symmetry import laue_rotations, misorientation
from midas.errors import FormatError
from midas.nf.seeds import (
    SeedOrientations,
    fundamental_zone_orientations,
    fundamental_zone_spacing_deg,
    read_seed_orientations,
    seeds_from_grains,
    super_fibonacci_quaternions,
    write_seed_orientations,
)
from nf_helpers import random_rotations


def test_ff_grains_to_seed_file_matches_upstream(tmp_path):
    d = shared_path("upstream_sim", "nf_au")
    seeds = seeds_from_grains(d / "grs.csv")
    assert seeds.grain_id.tolist() == [1, 2, 3, 4]
    out = write_seed_orientations(tmp_path / "seeds.txt", seeds)
    assert out.read_text() == (d / "seedOrientations.txt").read_text()
    om_up = np.fromfile(d / "upstream_outputs" / "OrientMat.bin", dtype="<f8").reshape(-1, 3, 3)
    assert np.abs(seeds.orient_mats - om_up).max() < 1e-6
    back = read_seed_orientations(out)
    assert np.abs(back.orient_mats - seeds.orient_mats).max() < 1e-12


def test_seed_file_round_trip_and_errors(tmp_path, rng):
    om = random_rotations(rng, 5)
    s = SeedOrientations(om, np.full((5, 6), np.nan), np.arange(5))
    p = write_seed_orientations(tmp_path / "s.txt", s)
    assert all(len(line.split(",")) == 4 for line in p.read_text().splitlines())
    back = read_seed_orientations(p)
    assert misorientation(back.orient_mats, om, 1).max() < 1e-5
    (tmp_path / "bad.txt").write_text("1,0,0\n")
    with pytest.raises(FormatError, match="bad.txt:1"):
        read_seed_orientations(tmp_path / "bad.txt")
    (tmp_path / "norm.txt").write_text("0.9,0,0,0\n")
    with pytest.raises(FormatError, match="length"):
        read_seed_orientations(tmp_path / "norm.txt")


def test_super_fibonacci_is_uniform_on_s3():
    q = super_fibonacci_quaternions(20000)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0) and np.all(q[:, 0] >= 0)
    # uniform rotations: E[w²] = 1/4 ... on the half sphere E[|w|] = 8/(3π) for S³
    assert abs(np.mean(q[:, 0] ** 2) - 0.25) < 0.01
    assert abs(np.mean(np.abs(q[:, 1])) - 8 / (3 * math.pi) / 2 * 1.0) < 0.05


@pytest.mark.parametrize("sg", [225, 194])
def test_fundamental_zone_sampling_covers_orientation_space(tmp_path, rng, sg):
    sym = laue_rotations(sg)
    spacing = 8.0
    om = fundamental_zone_orientations(sym, spacing, cache_dir=tmp_path)
    n_expected = 8 * math.pi ** 2 / math.radians(spacing) ** 3 / sym.shape[0]
    assert abs(om.shape[0] - n_expected) < 0.1 * n_expected
    # every seed is its own fundamental-zone representative (no symmetric copy closer to identity)
    ang = np.degrees(misorientation(om, np.eye(3)[None], sg))
    own = np.degrees(np.arccos(np.clip((np.trace(om, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert np.allclose(ang, own, atol=1e-6)
    # coverage: random orientations have a seed within about the spacing
    r = random_rotations(rng, 60)
    nearest = np.array([np.degrees(misorientation(np.repeat(x[None], om.shape[0], 0), om, sg)).min() for x in r])
    assert nearest.max() < 1.0 * spacing and np.median(nearest) < 0.65 * spacing
    # cached: same orientations again, from the file
    assert len(list(tmp_path.glob("fz_*.npy"))) == 1
    assert np.array_equal(fundamental_zone_orientations(sym, spacing, cache_dir=tmp_path), om)


def test_spacing_tied_to_orient_tol():
    assert fundamental_zone_spacing_deg(2.0) == pytest.approx(2.0 / math.sqrt(2.0))
