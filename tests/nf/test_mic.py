"""NF outputs: MicFileBinary, text .mic, .map, nf_consolidated.h5, IPF colours and PNG plots."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import shared_path
from midas.crystal.symmetry import laue_rotations
from midas.errors import FormatError
from midas.nf.mic import (
    MIC_TEXT_HEADER,
    mic_map,
    read_all_matches,
    read_map,
    read_mic_binary,
    read_mic_text,
    write_all_matches,
    write_consolidated_h5,
    write_map,
    write_mic_binary,
    write_mic_text,
)
from midas.nf.plots import (
    ipf_colors_cubic,
    orientation_colors,
    plot_confidence_map,
    plot_orientation_map,
)
from nf_helpers import random_rotations


def _mic(rng, n=40):
    m = np.zeros((n, 11))
    m[:, 0] = rng.integers(0, 4, n)
    m[:, 1] = rng.integers(1, 4, n)
    m[:, 2] = rng.random(n)
    m[:, 3] = rng.uniform(-20, 20, n).round(3)
    m[:, 4] = rng.uniform(-20, 20, n).round(3)
    m[:, 5] = 1.0
    m[:, 6] = rng.choice([-1.0, 1.0], n)
    m[:, 7:10] = rng.uniform(0, 3, (n, 3))
    m[:, 10] = rng.random(n)
    m[::7] = 0.0  # points without a solution
    m[0, :] = 0.0
    m[0, 5] = 1.0
    return m


def test_binary_round_trips(tmp_path, rng):
    m = _mic(rng)
    assert np.array_equal(read_mic_binary(write_mic_binary(tmp_path / "b.mic", m)), m)
    am = rng.random((40, 19))
    assert np.array_equal(read_all_matches(write_all_matches(tmp_path / "b.mic.AllMatches", am), 3), am)
    (tmp_path / "bad.mic").write_bytes(b"\x00" * 80)
    with pytest.raises(FormatError, match="11-value"):
        read_mic_binary(tmp_path / "bad.mic")


def test_text_mic_format_matches_upstream(tmp_path):
    up = shared_path("upstream_sim", "nf_au", "upstream_Au_txt_Reconstructed.mic")
    rows = read_mic_text(up)
    ours = write_mic_text(tmp_path / "o.mic", rows[:, :11])
    # same header lines and the same row text, byte for byte
    assert ours.read_text() == up.read_text()
    assert up.read_text().splitlines()[3] == MIC_TEXT_HEADER


def test_text_mic_skips_empty_rows(tmp_path, rng):
    m = _mic(rng)
    p = write_mic_text(tmp_path / "t.mic", m, num_phases=2, phase_nr=2, global_position_um=5.0)
    lines = p.read_text().splitlines()
    assert lines[:3] == ["%TriEdgeSize 1.000000", "%NumPhases 2", "%GlobalPosition 5.000000"]
    back = read_mic_text(p)
    assert back.shape[0] == int((m[:, 10] != 0).sum())
    assert np.allclose(back[:, :11], m[m[:, 10] != 0], atol=5e-7) and np.all(back[:, 11] == 2)


def test_map_matches_a_loop_over_voxels(tmp_path, rng):
    """mic_map vs a direct transcription of upstream ParseMic's loops (first voxel wins ties)."""
    import math

    m = _mic(rng, 25)
    planes, (min_x, min_y) = mic_map(m)
    good = np.flatnonzero(m[:, 10] != 0)
    edge = m[0, 5]
    assert min_x == pytest.approx(m[good, 3].min() - (edge + 25)) and min_y == pytest.approx(m[good, 4].min() - (edge + 25))
    nx = int(math.ceil(m[good, 3].max() + edge + 25) - math.floor(min_x) + 1)
    best: dict[int, tuple[float, int]] = {}
    reach = int(-(edge + 5))
    for i in good:
        ix, iy = int(m[i, 3]), int(m[i, 4])
        for j in range(reach, -reach + 1):
            for k in range(reach, -reach + 1):
                cell = int(-min_y + (iy + k)) * nx + int(-min_x + (ix + j))
                dx, dy = m[i, 3] - (ix + j), m[i, 4] - (iy + k)
                d = math.sqrt(dx * dx + dy * dy)
                if cell not in best or d < best[cell][0]:
                    best[cell] = (d, i)
    flat = planes.reshape(7, -1)
    assert set(np.flatnonzero(flat[0] != -15).tolist()) == set(best)
    for cell, (d, i) in best.items():
        assert flat[6, cell] == d and flat[0, cell] == m[i, 10] and flat[4, cell] == m[i, 0]
    p = write_map(tmp_path / "m.map", m)
    back, origin = read_map(p)
    assert np.array_equal(back, planes) and origin == (min_x, min_y)


def test_map_header_of_upstream_reconstruction():
    rows = read_mic_text(shared_path("upstream_sim", "nf_au", "upstream_Au_txt_Reconstructed.mic"))[:, :11]
    planes, origin = mic_map(rows)
    # upstream ParseMic on this file: "Ranges for map: -84.75 86 -77.239836 77.239836, Size of map: 172 157"
    assert planes.shape == (7, 157, 172)
    assert origin == pytest.approx((-84.75, -77.239836))


def test_consolidated_h5(tmp_path, rng):
    m = _mic(rng)
    om = random_rotations(rng, m.shape[0])
    p = write_consolidated_h5(tmp_path / "nf_consolidated.h5", m, orient_mats=om, metadata={"a": 1, "b": [1, 2]})
    good = m[:, 10] != 0
    with h5py.File(p) as f:
        assert np.array_equal(f["voxels/position"][()], m[good, 3:5])
        assert np.array_equal(f["voxels/euler_angles"][()], m[good, 7:10])
        assert np.array_equal(f["voxels/confidence"][()], m[good, 10])
        assert np.array_equal(f["voxels/orientation_matrix"][()], om[good])
        assert f["maps/orientation"].shape[-1] == 7
        assert f["metadata"].attrs["a"] == 1 and f["metadata"].attrs["b"] == "[1, 2]"


def test_ipf_colours_cubic():
    assert np.allclose(ipf_colors_cubic(np.eye(3)[None]), [[1, 0, 0]])
    # a crystal with [101] along sample z: rotate 45° about y; [111] along z
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    r101 = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])  # Uᵀ·z = (s, 0, c)
    assert np.allclose(ipf_colors_cubic(r101[None]), [[0, 1, 0]], atol=1e-12)
    v = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    axis = np.cross(v, [0, 0, 1.0])
    ang = np.arccos(v[2])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / np.linalg.norm(axis)
    rot = np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k  # maps (1,1,1)/√3 to z
    assert np.allclose(ipf_colors_cubic(rot.T[None]), [[0, 0, 1]], atol=1e-12)


def test_ipf_colours_are_symmetry_invariant(rng):
    om = random_rotations(rng, 50)
    sym = laue_rotations(225)
    base = ipf_colors_cubic(om)
    for s in sym[rng.choice(len(sym), 5, replace=False)]:
        assert np.allclose(ipf_colors_cubic(om @ s), base, atol=1e-12)
    rgb, label = orientation_colors(om, np.zeros((50, 3)), 194)
    assert "Euler" in label and rgb.shape == (50, 3)


def test_plots_are_png(tmp_path, rng):
    m = _mic(rng)
    p1 = plot_confidence_map(tmp_path / "c.png", m)
    p2 = plot_orientation_map(tmp_path / "o.png", m, rng.random((m.shape[0], 3)), label="test")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
