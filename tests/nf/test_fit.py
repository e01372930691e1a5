"""NF orientation fitting and geometry refinement on upstream's Au example (truth-scored)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from midas import parallel
from midas.crystal.symmetry import laue_rotations
from midas.errors import ParamError
from midas.nf.fit import FitSettings, fit_orientations, refine_geometry
from midas.nf.mic import read_mic_text, write_mic_text
from midas.nf.simulate import mic_triangles
from nf_helpers import nf_au

SYM = laue_rotations(225)


def _truth_rows(d, step):
    """Grid rows of every step-th truth voxel, and those truth rows."""
    truth = read_mic_text(d["dir"] / "Au_txt_truth_conf0.7.mic")[::step]
    grid = d["grid"]
    index = {(round(x, 4), round(y, 4)): i for i, (x, y) in enumerate(grid[:, 2:4].tolist())}
    rows = np.array([index[(round(t[3], 4), round(t[4], 4))] for t in truth])
    return rows, truth


def _score(d, tmp_path, truth_rows, mic):
    """hedm_score.py nf on the truth subset and our rows (the shared scoring tool)."""
    tool = d["score_tool"]
    if not tool.is_file():
        pytest.skip(f"{tool} is absent")
    truth_path = tmp_path / "truth.mic"
    full = np.zeros((truth_rows.shape[0], 11))
    full[:] = truth_rows[:, :11]
    write_mic_text(truth_path, full)
    ours = write_mic_text(tmp_path / "ours.mic", mic)
    out = subprocess.run([sys.executable, str(tool), "nf", str(truth_path), str(ours)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def _settings(d, **kw):
    return dataclasses.replace(FitSettings.from_params(d["params"]), **kw)


def test_fit_subset_against_truth(tmp_path):
    """Every 8th truth voxel (190 points): the acceptance thresholds hold on the subset too."""
    d = nf_au()
    rows, truth = _truth_rows(d, 8)
    res = fit_orientations(d["experiment"], d["reflections"], d["seed_spots"], d["grid"], d["spots_info"], SYM,
                           _settings(d), rows=rows, n_threads=2)
    assert res.done[rows].all() and res.done.sum() == rows.size
    s = _score(d, tmp_path, truth, res.mic[rows])
    assert s["covered_fraction"] == 1.0
    assert s["fraction_below"]["0.25"] >= 0.98, s
    assert s["misorientation_deg"]["median"] <= 0.02, s


def test_polish_improves_on_upstream_search(tmp_path):
    """Upstream's search alone (polish off) vs midas' polish on the same 76 truth voxels."""
    d = nf_au()
    rows, truth = _truth_rows(d, 20)
    meds = {}
    for polish in (False, True):
        res = fit_orientations(d["experiment"], d["reflections"], d["seed_spots"], d["grid"], d["spots_info"], SYM,
                               _settings(d, polish=polish), rows=rows, n_threads=2)
        meds[polish] = _score(d, tmp_path, truth, res.mic[rows])["misorientation_deg"]["median"]
        conf = res.mic[rows, 10]
        assert np.all(conf > 0)
    assert meds[True] < meds[False]


def test_fit_identical_for_1_and_2_threads_and_in_chunks():
    d = nf_au()
    rows, _ = _truth_rows(d, 40)
    rows = np.concatenate([rows, np.arange(0, 12)])  # with background points too
    results = []
    for n_threads, chunk in ((1, None), (2, None), (2, 3)):
        with parallel.threads(n_threads):
            res = fit_orientations(d["experiment"], d["reflections"], d["seed_spots"], d["grid"], d["spots_info"], SYM,
                                   _settings(d), rows=rows, chunk=chunk)
        results.append(res)
    cols = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10]  # all but the fitting time
    for r in results[1:]:
        assert np.array_equal(r.mic[:, cols], results[0].mic[:, cols])
        assert np.array_equal(r.all_matches, results[0].all_matches)
        assert np.array_equal(r.n_evals, results[0].n_evals)


def test_resume_continues_a_partial_result():
    d = nf_au()
    rows, _ = _truth_rows(d, 60)
    args = (d["experiment"], d["reflections"], d["seed_spots"], d["grid"], d["spots_info"], SYM, _settings(d))
    whole = fit_orientations(*args, rows=rows, n_threads=2)
    part = fit_orientations(*args, rows=rows[:10], n_threads=2)
    rest = fit_orientations(*args, rows=rows[10:], result=part, n_threads=2)
    assert rest is part
    assert np.array_equal(rest.mic[:, 3:], whole.mic[:, 3:]) and np.array_equal(rest.done, whole.done)


def test_save_n_solutions_are_distinct_and_sorted():
    d = nf_au()
    rows = np.arange(0, 3456, 97)
    res = fit_orientations(d["experiment"], d["reflections"], d["seed_spots"], d["grid"], d["spots_info"], SYM,
                           _settings(d, save_n=3, min_miso_deg=1.0), rows=rows, n_threads=2)
    from midas.crystal.orientation import euler_to_matrix
    from midas.crystal.symmetry import misorientation

    checked = 0
    for r in rows:
        a = res.all_matches[r]
        sols = [a[7 + 4 * k: 11 + 4 * k] for k in range(3) if a[10 + 4 * k] > 0]
        if not sols:
            continue
        assert np.allclose(sols[0][:3], res.mic[r, 7:10]) and sols[0][3] == res.mic[r, 10]
        fr = [s[3] for s in sols[1:]]
        assert fr == sorted(fr, reverse=True)
        om = euler_to_matrix(np.array([s[:3] for s in sols]))
        for i in range(len(sols)):
            for j in range(i):
                assert np.degrees(misorientation(om[i], om[j], 225)) >= 1.0
        checked += len(sols) > 1
    assert checked > 0


def test_fit_settings_validation():
    with pytest.raises(ParamError, match="SaveNSolutions"):
        FitSettings(save_n=0)
    with pytest.raises(ParamError, match="OrientTol"):
        FitSettings(orient_tol_deg=0)
    with pytest.raises(ParamError, match="MinFracAccept"):
        FitSettings(min_frac_accept=1.5)


def test_refine_geometry_recovers_a_perturbed_detector():
    """Start 25 µm / 0.7 px / 0.05° off on six truth voxels: the refinement finds the geometry."""
    d = nf_au()
    truth = read_mic_text(d["dir"] / "Au_txt_truth_conf0.7.mic")
    idx = np.random.default_rng(1).choice(len(truth), 6, replace=False)
    exp = d["experiment"]
    det = exp.detector
    bad = exp.with_geometry(
        lsd_um=(det.lsd_um[0] + 25, det.lsd_um[1] + 27),
        bc_px=((det.bc_px[0][0] + 0.7, det.bc_px[0][1] + 0.1), (det.bc_px[1][0] - 0.5, det.bc_px[1][1] - 0.1)),
        tilts_deg=(det.tx_deg + 0.05, det.ty_deg - 0.05, det.tz_deg + 0.03),
    )
    r = refine_geometry(bad, d["reflections"], mic_triangles(truth[idx]), truth[idx, 7:10], d["spots_info"],
                        lsd_tol_um=100, iterations=2, n_threads=2)
    got = r.experiment.detector
    assert r.mean_fraction_start < 0.5 and r.mean_fraction > 0.85
    assert abs(got.lsd_um[0] - det.lsd_um[0]) < 5.0
    assert abs(got.bc_px[0][0] - det.bc_px[0][0]) < 0.4
    assert r.euler_rad.shape == (6, 3) and r.fractions.shape == (6,)
