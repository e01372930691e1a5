"""Compiled FF peak-search kernels vs their NumPy/SciPy twins (midas._reference.ff_peaks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas._native import core
from midas._reference import ff_peaks as ref
from midas.errors import ParamError
from midas.ff.peaksearch import LmSettings, analyse_region, fit_pseudo_voigt, pseudo_voigt


# -- connected components -------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 0.7), st.integers(0, 2**31 - 1))
def test_components_match_scipy_label(n_z: int, n_y: int, density: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lin = np.flatnonzero(rng.random(n_z * n_y) < density).astype(np.int64)
    region_of, start, members, neighbour = core().ff_label_components(lin, n_y, n_z)
    assert np.array_equal(region_of, ref.label_components(lin, n_y, n_z))
    # members grouped by region, increasing inside each region
    for r in range(start.size - 1):
        m = members[start[r]:start[r + 1]]
        assert np.all(region_of[m] == r) and np.all(np.diff(m) > 0)
    # neighbour lists: exactly the 8-neighbours present in the set
    pos = {int(v): k for k, v in enumerate(lin)}
    for k, v in enumerate(lin):
        z, y = divmod(int(v), n_y)
        want = {pos[(z + dz) * n_y + (y + dy)] for dz in (-1, 0, 1) for dy in (-1, 0, 1)
                if (dz or dy) and 0 <= z + dz < n_z and 0 <= y + dy < n_y and (z + dz) * n_y + (y + dy) in pos}
        got = {int(x) for x in neighbour[k] if x >= 0}
        assert got == want


def test_components_diagonal_and_row_wrap() -> None:
    n_y, n_z = 5, 4
    # (0,4) and (1,0) are consecutive indices but not neighbours (row wrap); (1,1)-(2,2) are diagonal.
    pts = [(0, 4), (1, 0), (1, 1), (2, 2), (3, 4)]
    lin = np.array([z * n_y + y for z, y in pts], dtype=np.int64)
    region_of, start, _m, _n = core().ff_label_components(lin, n_y, n_z)
    assert region_of.tolist() == [0, 1, 1, 1, 2]
    assert start.tolist() == [0, 1, 4, 5]


@pytest.mark.parametrize("lin", [[3, 2], [0, 0], [-1], [20]])
def test_components_reject_bad_input(lin: list[int]) -> None:
    with pytest.raises(ParamError, match="linear_index"):
        core().ff_label_components(np.array(lin, dtype=np.int64), 5, 4)


def test_regional_maxima_match_twin(rng: np.random.Generator) -> None:
    for _ in range(30):
        n_z, n_y = 12, 15
        img = np.round(rng.random((n_z, n_y)) * 5)  # many ties
        lin = np.flatnonzero(img > 0).astype(np.int64)
        region_of, start, members, neighbour = core().ff_label_components(lin, n_y, n_z)
        value = img.ravel()[lin].astype(np.float64)
        for r in range(start.size - 1):
            m = members[start[r]:start[r + 1]]
            got = core().ff_regional_maxima(m, value, neighbour)
            z, y = np.divmod(lin[m], n_y)
            want = m[ref.regional_maxima(y, z, value[m])]
            assert np.array_equal(got, want)
            assert got.size >= 1


# -- pseudo-Voigt model and fit -------------------------------------------------------------------
def _two_peaks() -> np.ndarray:
    return np.array([3.0,
                     1000.0, 500.2, 30.1, 0.4, 1.1, 0.8, 0.12, 0.2,
                     600.0, 502.0, 30.5, 0.7, 0.9, 1.3, 0.09, 0.15])


def test_jacobian_matches_finite_differences(rng: np.random.Generator) -> None:
    p = _two_peaks()
    r = rng.uniform(495, 507, 300)
    e = rng.uniform(29.5, 31.0, 300)
    model, jac = pseudo_voigt(p, r, e)
    np.testing.assert_allclose(model, ref.pv_model(p, r, e), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(jac, ref.pv_jacobian_fd(p, r, e), rtol=1e-5, atol=1e-6 * np.abs(jac).max())


def _grid(centre_y: float, centre_z: float, half: int = 7) -> tuple[np.ndarray, np.ndarray]:
    zz, yy = np.mgrid[-half:half + 1, -half:half + 1]
    return (yy + round(centre_y)).ravel().astype(float), (zz + round(centre_z)).ravel().astype(float)


@pytest.mark.parametrize("mu", [0.0, 0.35, 1.0])
def test_fit_recovers_exact_pseudo_voigt(mu: float) -> None:
    true = np.array([2.0, 1500.0, 400.3, 37.02, mu, 1.2, 0.9, 0.15, 0.11])
    y, z = _grid(400.3 * np.sin(np.radians(37.02)), 400.3 * np.cos(np.radians(37.02)))
    r, e = np.hypot(y, z), np.degrees(np.arctan2(y, z))
    v = ref.pv_model(true, r, e)
    start = true * np.array([1, 0.8, 1, 1, 1, 1.3, 0.7, 1.4, 0.7])
    start[2] += 0.5
    start[3] -= 0.08
    start[4] = 0.5
    lo = np.array([0, 100, 399, 36.8, 0, 0.01, 0.01, 0.005, 0.005])
    hi = np.array([10, 9000, 402, 37.2, 1, 5, 5, 1, 1])
    p, cost, iters, status = fit_pseudo_voigt(r, e, v, start, lo, hi)
    assert status in (1, 3, 4)
    assert cost < 1e-12 * np.sum(v**2)
    # centre and height are always identifiable; widths of an absent component are not
    np.testing.assert_allclose(p[[1, 2, 3]], true[[1, 2, 3]], rtol=0, atol=1e-7 * np.abs(true[[1, 2, 3]]).max())
    assert abs(p[4] - mu) < 1e-6
    if mu < 1:
        np.testing.assert_allclose(p[[5, 7]], true[[5, 7]], rtol=1e-6)
    if mu > 0:
        np.testing.assert_allclose(p[[6, 8]], true[[6, 8]], rtol=1e-6)
    # the SciPy twin reaches the same optimum
    p_ref, cost_ref = ref.fit_pseudo_voigt(r, e, v, start, lo, hi)
    assert cost <= cost_ref + 1e-9 * np.sum(v**2)
    np.testing.assert_allclose(p[[2, 3]], p_ref[[2, 3]], atol=1e-6)


def test_fit_respects_bounds_and_clips_start() -> None:
    true = np.array([0.0, 1000.0, 300.0, 10.0, 0.0, 1.0, 1.0, 0.2, 0.2])
    y, z = _grid(300 * np.sin(np.radians(10.0)), 300 * np.cos(np.radians(10.0)))
    r, e = np.hypot(y, z), np.degrees(np.arctan2(y, z))
    v = ref.pv_model(true, r, e)
    lo = np.array([0, 100, 300.2, 9.9, 0, 0.01, 0.01, 0.005, 0.005])  # true R below the box
    hi = np.array([5, 900, 301, 10.1, 1, 5, 5, 1, 1])  # true Imax above the box
    start = np.array([50, 2000, 0, 0, 0.5, 1, 1, 0.2, 0.2])  # outside the box
    p, _cost, _it, _st = fit_pseudo_voigt(r, e, v, start, lo, hi)
    assert np.all(p >= lo) and np.all(p <= hi)
    assert p[2] == pytest.approx(300.2) and p[1] == pytest.approx(900.0)


def test_fit_rejects_bad_vectors() -> None:
    with pytest.raises(ParamError, match="1 \\+ 8"):
        fit_pseudo_voigt([1.0], [1.0], [1.0], np.ones(5), np.zeros(5), np.ones(5))
    with pytest.raises(ParamError, match="empty bound"):
        fit_pseudo_voigt([1.0], [1.0], [1.0], np.ones(9), np.ones(9), np.zeros(9))


def test_analyse_region_two_overlapping_peaks_match_twin() -> None:
    bc = (-40.0, 25.0)
    peaks = np.array([[1200.0, 60.0, 70.0, 0.3, 1.0, 0.8, 0.9, 0.7],
                      [800.0, 61.5, 73.0, 0.6, 0.9, 1.1, 0.8, 1.0]])
    frame = ref.render_frame((60, 60), peaks, *bc)
    zz, yy = np.nonzero(frame >= 10)
    lbl = ref.label_components((zz * 60 + yy).astype(np.int64), 60, 60)
    sel = lbl == lbl[np.argmax(frame[zz, yy])]
    y, z, v = yy[sel].astype(float), zz[sel].astype(float), frame[zz[sel], yy[sel]]
    mx = ref.regional_maxima(y.astype(int), z.astype(int), v)
    assert mx.size == 2
    rows = analyse_region(y, z, v, mx, threshold=10.0, bc_px=bc)
    rows_ref = ref.analyse_region(y, z, v, mx, 10.0, False, *bc)
    assert rows.shape == rows_ref.shape == (2, 29)
    exact = [0, 10, 11, 12, 13, 14, 17, 27]  # ids, pixel counts, maxima
    np.testing.assert_array_equal(rows[:, exact], rows_ref[:, exact])
    truth = np.array([ref.peak_centre_px(q, *bc) for q in peaks])
    order = np.argsort(rows[:, 5])[::-1]  # brighter first, as `peaks`
    np.testing.assert_allclose(rows[order][:, [3, 4]], truth, atol=1e-5)
    np.testing.assert_allclose(rows[:, [3, 4]], rows_ref[:, [3, 4]], atol=1e-4)
    np.testing.assert_allclose(rows[:, 1], rows_ref[:, 1], rtol=1e-5)


def test_centroid_mode_matches_twin(rng: np.random.Generator) -> None:
    y = rng.integers(100, 110, 30).astype(float)
    z = rng.integers(50, 60, 30).astype(float)
    v = rng.uniform(10, 500, 30)
    rows = analyse_region(y, z, v, [int(np.argmax(v))], threshold=10, bc_px=(3.0, -7.0), do_peak_fit=False)
    rows_ref = ref.analyse_region(y, z, v, np.array([int(np.argmax(v))]), 10.0, False, 3.0, -7.0, do_peak_fit=False)
    np.testing.assert_allclose(rows, rows_ref, rtol=1e-12, atol=1e-9)


def test_lm_settings_are_used() -> None:
    true = np.array([0.0, 1000.0, 300.0, 10.0, 0.5, 1.0, 1.0, 0.2, 0.2])
    y, z = _grid(300 * np.sin(np.radians(10.0)), 300 * np.cos(np.radians(10.0)))
    r, e = np.hypot(y, z), np.degrees(np.arctan2(y, z))
    v = ref.pv_model(true, r, e)
    start = true * 1.2
    lo, hi = true * 0 + [0, 1, 299, 9.5, 0, .01, .01, .005, .005], true * 0 + [5, 5000, 301, 10.5, 1, 5, 5, 1, 1]
    _p, _c, iters, status = fit_pseudo_voigt(r, e, v, start, lo, hi, LmSettings(max_iterations=2))
    assert iters == 2 and status == 5


def test_centre_convergence_stop_keeps_centre_and_intensity() -> None:
    """Pixel-integrated Gaussian spots (μ → 0: the Lorentzian widths are hardly constrained): the
    centre-convergence stop saves most iterations and changes centres and integrated intensities
    by almost nothing."""
    rng = np.random.default_rng(1)
    sub = np.linspace(-0.45, 0.45, 10)
    its_on, its_off = [], []
    for _ in range(20):
        cy, cz = 300 * np.sin(0.3) + rng.uniform(-0.5, 0.5), 300 * np.cos(0.3) + rng.uniform(-0.5, 0.5)
        y, z = _grid(cy, cz, half=4)
        v = np.zeros(y.size)
        for a in sub:
            for b in sub:
                v += np.exp(-0.5 * ((y + a - cy) ** 2 + (z + b - cz) ** 2))
        v = np.round(50 * v)
        keep = v >= 10
        y, z, v = y[keep], z[keep], v[keep]
        r, e = np.hypot(y, z), np.degrees(np.arctan2(y, z))
        k = int(np.argmax(v))
        de = np.degrees(np.arctan(1 / r[k]))
        lo = [0, v[k] / 2, r[k] - 1, e[k] - de, 0, 0.01, 0.01, 0.005, 0.005]
        hi = [10, 5 * v[k], r[k] + 1, e[k] + de, 1, 8, 8, 2, 2]
        start = [5, v[k], r[k], e[k], 0.5, 1, 1, de, de]
        on = fit_pseudo_voigt(r, e, v, start, lo, hi)
        off = fit_pseudo_voigt(r, e, v, start, lo, hi, LmSettings(centre_tol_px=0.0))
        its_on.append(on[2])
        its_off.append(off[2])
        d_centre = np.hypot(on[0][2] - off[0][2], np.radians(on[0][3] - off[0][3]) * off[0][2])
        assert d_centre < 2e-4
        integrated = [(pseudo_voigt(p, r, e)[0] - p[0]).sum() for p in (on[0], off[0])]
        assert integrated[0] == pytest.approx(integrated[1], rel=1e-3)
        assert on[1] <= off[1] * 1.05
    assert np.mean(its_on) < 0.5 * np.mean(its_off)
