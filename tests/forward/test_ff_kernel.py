"""The compiled FF spot predictor against its NumPy twin, physics invariants and thread counts."""

from __future__ import annotations

import numpy as np
import pytest
from midas._native import core
from midas._reference import forward as ref
from midas.parallel import threads


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def _triclinic_b(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random upper-triangular reciprocal bases (a valid B needs only a positive diagonal)."""
    b = np.zeros((n, 3, 3))
    b[:, [0, 1, 2], [0, 1, 2]] = rng.uniform(0.2, 0.35, size=(n, 3))
    b[:, 0, 1:] = rng.uniform(-0.05, 0.05, size=(n, 2))
    b[:, 1, 2] = rng.uniform(-0.05, 0.05, size=n)
    return b


def _case(rng: np.random.Generator, n_grains: int = 40, n_hkl: int = 30):
    hkl = rng.integers(-4, 5, size=(n_hkl, 3)).astype(np.float64)
    hkl = hkl[np.abs(hkl).sum(1) > 0]
    return {
        "orient": _random_rotations(rng, n_grains),
        "pos_um": rng.uniform(-2000, 2000, size=(n_grains, 3)),
        "b_matrix": _triclinic_b(rng, n_grains),
        "hkl": hkl,
        "ring_nr": rng.integers(1, 9, size=len(hkl)).astype(np.int32),
        "row_id": np.arange(len(hkl), dtype=np.int32) * 3 + 1,
    }


def _predict(case, **kw):
    kw = {"min_eta_deg": 0.0, "wedge_deg": 0.0, "wedge_model": "upstream", "displacement": "toward_point",
          "omega_windows_deg": np.zeros((0, 2)), "boxes_um": np.zeros((0, 4)), **kw}
    return core().ff_predict_spots(**case, wavelength_A=0.1839, lsd_um=1.2e6, **kw)


_INT = ("grain_index", "hkl_row", "omega_solution", "solution_nr", "ring_nr")


@pytest.mark.parametrize("kw", [
    {},
    {"displacement": "parallel"},
    {"min_eta_deg": 6.0, "omega_windows_deg": np.array([[-120.0, -10.0], [30.0, 150.0]]),
     "boxes_um": np.array([[-2e5, 2e5, -1e5, 3e5], [-1e9, 1e9, -1e9, 1e9]])},
    {"wedge_deg": 2.5},
    {"wedge_deg": -0.7, "displacement": "parallel", "min_eta_deg": 10.0},
    {"wedge_deg": 1.2, "wedge_model": "exact"},
    {"wedge_deg": -3.0, "wedge_model": "exact", "min_eta_deg": 5.0,
     "omega_windows_deg": np.array([[-170.0, 170.0]]), "boxes_um": np.array([[-2e5, 2e5, -2e5, 2e5]])},
])
def test_kernel_matches_numpy_twin(rng, kw):
    case = _case(rng)
    got = _predict(case, **kw)
    want = ref.predict_ff_spots(**case, wavelength_A=0.1839, lsd_um=1.2e6, **kw)
    assert len(got["omega_deg"]) > 500
    for key in _INT:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    for key in ("omega_deg", "omega_raw_deg", "eta_deg", "tth_deg"):
        d = np.abs((got[key] - want[key] + 180) % 360 - 180)
        assert d.max() < 1e-7, (key, d.max())
    for key in ("y0_um", "z0_um", "y_um", "z_um"):
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-5, err_msg=key)


def test_spots_satisfy_bragg_and_point_along_the_diffracted_beam(rng):
    """Independent physics: k_out = k_in + G_lab has |k_out| = |k_in| and points at (Lsd, y0, z0)."""
    case = _case(rng)
    s = _predict(case)
    lam, lsd = 0.1839, 1.2e6
    g = np.einsum("nij,njk,hk->nhi", case["orient"], case["b_matrix"], case["hkl"])
    row = (s["hkl_row"] - 1) // 3
    gs = g[s["grain_index"], row]
    w = np.radians(s["omega_raw_deg"])
    g_lab = np.stack([np.cos(w) * gs[:, 0] - np.sin(w) * gs[:, 1], np.sin(w) * gs[:, 0] + np.cos(w) * gs[:, 1],
                      gs[:, 2]], 1)
    k_out = g_lab + np.array([1 / lam, 0, 0])
    np.testing.assert_allclose(np.linalg.norm(k_out, axis=1), 1 / lam, rtol=1e-12)
    np.testing.assert_allclose(s["y0_um"], lsd * k_out[:, 1] / k_out[:, 0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(s["z0_um"], lsd * k_out[:, 2] / k_out[:, 0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(s["tth_deg"], np.degrees(np.arccos(k_out[:, 0] * lam)), atol=1e-9)
    # every (grain, row) has at most 2 solutions, numbered consecutively per grain
    for gi in range(3):
        nr = s["solution_nr"][s["grain_index"] == gi]
        assert np.all(np.diff(nr) >= 1)


def test_parallel_displacement_is_a_straight_ray_from_the_grain(rng):
    case = _case(rng)
    s = _predict(case, displacement="parallel")
    w = np.radians(s["omega_deg"])
    p = case["pos_um"][s["grain_index"]]
    pl = np.stack([np.cos(w) * p[:, 0] - np.sin(w) * p[:, 1], np.sin(w) * p[:, 0] + np.cos(w) * p[:, 1], p[:, 2]], 1)
    ray = np.stack([1.2e6 - pl[:, 0], s["y_um"] - pl[:, 1], s["z_um"] - pl[:, 2]], 1)
    ideal = np.stack([np.full(len(w), 1.2e6), s["y0_um"], s["z0_um"]], 1)
    cross = np.cross(ray, ideal) / (np.linalg.norm(ray, axis=1) * np.linalg.norm(ideal, axis=1))[:, None]
    assert np.abs(cross).max() < 1e-12
    # the two displacement forms agree to second order in |P|/Lsd
    t = _predict(case)
    d = np.hypot(t["y_um"] - s["y_um"], t["z_um"] - s["z_um"])
    assert 0 < d.max() < 3 * (2000 * np.sqrt(3)) ** 2 / 1.2e6 * 4


def test_zero_position_gives_ideal_spot(rng):
    case = _case(rng)
    case["pos_um"][:] = 0
    for form in ("toward_point", "parallel"):
        s = _predict(case, displacement=form)
        np.testing.assert_array_equal(s["y_um"], s["y0_um"])
        np.testing.assert_array_equal(s["z_um"], s["z0_um"])


def test_wedge_changes_only_omega(rng):
    case = _case(rng)
    a, b = _predict(case), _predict(case, wedge_deg=1.5)
    np.testing.assert_array_equal(a["omega_raw_deg"], b["omega_raw_deg"])
    np.testing.assert_array_equal(a["eta_deg"], b["eta_deg"])
    np.testing.assert_array_equal(a["omega_deg"], a["omega_raw_deg"])
    d = np.abs((b["omega_deg"] - b["omega_raw_deg"] + 180) % 360 - 180)
    away_from_poles = np.abs(np.sin(np.radians(b["eta_deg"]))) > 0.5
    assert 0 < d[away_from_poles].max() < 2 * 1.5  # Δω ~ wedge·cot-like factor, large only near the poles


def test_exact_wedge_is_undone_by_geometry_correct_wedge(rng):
    """The exact model's events, corrected by midas.geometry.omega.correct_wedge, are the no-wedge events."""
    from midas.geometry.omega import correct_wedge

    case = _case(rng)
    a = _predict(case)
    b = _predict(case, wedge_deg=2.0, wedge_model="exact")
    key_a = {(g, r, k): i for i, (g, r, k) in enumerate(zip(a["grain_index"], a["hkl_row"], a["omega_solution"]))}
    i = np.array([key_a[(g, r, k)] for g, r, k in zip(b["grain_index"], b["hkl_row"], b["omega_solution"])])
    w0, e0 = correct_wedge(b["eta_deg"], b["tth_deg"], b["omega_deg"], 2.0)
    assert np.abs((w0 - a["omega_deg"][i] + 180) % 360 - 180).max() < 1e-9
    assert np.abs((e0 - a["eta_deg"][i] + 180) % 360 - 180).max() < 1e-9
    # upstream's simulator model agrees with the exact one to first order in the wedge, away from the poles
    c = _predict(case, wedge_deg=2.0)
    away = np.abs(np.sin(np.radians(a["eta_deg"][i]))) > 0.5
    d = np.abs((c["omega_deg"][i] - b["omega_deg"] + 180) % 360 - 180)[away]
    assert d.max() < 0.2 * 2.0


def test_one_and_two_threads_identical(rng):
    case = _case(rng, n_grains=300)
    with threads(1):
        a = _predict(case, wedge_deg=0.3)
    with threads(2):
        b = _predict(case, wedge_deg=0.3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_bad_inputs_raise_param_error(rng):
    from midas.errors import ParamError

    case = _case(rng, n_grains=3)
    with pytest.raises(ParamError, match="pos_um"):
        _predict({**case, "pos_um": case["pos_um"][:2]})
    with pytest.raises(ParamError, match="displacement"):
        _predict(case, displacement="sideways")
    with pytest.raises(ParamError, match="wedge_model"):
        _predict(case, wedge_model="tilted")
    with pytest.raises(ParamError, match="wavelength_A"):
        core().ff_predict_spots(**case, wavelength_A=-1.0, lsd_um=1e6, min_eta_deg=0.0, wedge_deg=0.0,
                                wedge_model="exact", displacement="parallel", omega_windows_deg=np.zeros((0, 2)),
                                boxes_um=np.zeros((0, 4)))
