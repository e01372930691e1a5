"""Lineout peak fitting: profile formulas (gsas2.md §4.2), analytic Jacobians, recovery of known
peaks, SNIP background and peak finding."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from midas.integration.peakfit import (
    PeakFitSettings,
    _WindowModel,
    find_peaks,
    fit_peaks,
    pseudo_voigt,
    snip_background,
    tch_fwhm_mixing,
)


@pytest.mark.parametrize("fwhm,eta", [(0.5, 0.0), (1.3, 0.4), (2.0, 1.0)])
def test_pseudo_voigt_has_unit_area_and_its_fwhm(fwhm, eta):
    x = np.linspace(-4000, 4000, 4_000_001)
    prof = pseudo_voigt(x, 0.0, fwhm, eta)
    # the Lorentzian tails beyond ±4000 hold Γ/(π·4000)·η of the area
    assert np.trapezoid(prof, x) == pytest.approx(1.0 - eta * fwhm / (math.pi * 4000), abs=2e-7)
    peak = pseudo_voigt(np.array([0.0]), 0.0, fwhm, eta)[0]
    half = pseudo_voigt(np.array([fwhm / 2]), 0.0, fwhm, eta)[0]
    assert half == pytest.approx(peak / 2, rel=1e-7)  # 2.35482 ≈ 2·sqrt(2 ln 2) to 2e-8


def test_tch_limits_and_gsas_numbers():
    # pure Gaussian: Γ = 2.35482·√sig, η = 0
    fw, eta = tch_fwhm_mixing(0.25, 0.0)[:2]
    assert fw == pytest.approx(2.35482 * 0.5, rel=1e-12) and eta == 0.0
    # pure Lorentzian: Γ = γ and η = 1.36603 − 0.47719 + 0.11116 = 1
    fw, eta = tch_fwhm_mixing(1e-30, 0.7)[:2]
    assert fw == pytest.approx(0.7, rel=1e-9) and eta == pytest.approx(1.0, abs=1e-9)
    # a mixed case by the formulas of gsas2.md §4.2 written out
    sig, gam = 0.04, 0.3
    gg = 2.35482 * math.sqrt(sig)
    g5 = gg**5 + 2.69269 * gg**4 * gam + 2.42843 * gg**3 * gam**2 + 4.47163 * gg**2 * gam**3 \
        + 0.07842 * gg * gam**4 + gam**5
    q = gam / g5**0.2
    fw, eta = tch_fwhm_mixing(sig, gam)[:2]
    assert fw == pytest.approx(g5**0.2, rel=1e-14)
    assert eta == pytest.approx(1.36603 * q - 0.47719 * q * q + 0.11116 * q**3, rel=1e-14)


@pytest.mark.parametrize("model", ["pv", "tch"])
def test_analytic_jacobian_matches_finite_differences(model):
    x = np.linspace(30, 60, 151)
    wm = _WindowModel(x, model, 2, 3)
    p = np.array([1000, 40.3, 1.7 if model == "pv" else 0.5, 0.3 if model == "pv" else 0.8,
                  600, 44.1, 1.9 if model == "pv" else 0.4, 0.6, 5, 1.0, -0.3])
    _, j = wm.evaluate(p, True)
    jn = np.zeros_like(j)
    for k in range(p.size):
        h = 1e-6 * max(1.0, abs(p[k]))
        pp, pm = p.copy(), p.copy()
        pp[k] += h
        pm[k] -= h
        jn[:, k] = (wm.evaluate(pp, False)[0] - wm.evaluate(pm, False)[0]) / (2 * h)
    np.testing.assert_allclose(j, jn, rtol=1e-6, atol=1e-6 * np.abs(jn).max())


@pytest.mark.parametrize("model", ["pv", "tch"])
def test_overlapping_peaks_are_recovered(model, rng):
    x = np.linspace(0, 100, 801)
    truth = [(1500.0, 40.3, 1.7, 0.3), (700.0, 43.9, 1.9, 0.6)]
    y = sum(a * pseudo_voigt(x, c, w, e) for a, c, w, e in truth) + 20 + 0.05 * x
    y = y + rng.normal(0, 1.0, x.size)
    fits = fit_peaks(x, y, positions=[40.0, 44.0], settings=PeakFitSettings(model=model, roi_padding=60))
    assert len(fits) == 2
    for f, (a, c, w, e) in zip(fits, truth):
        assert f.converged
        assert abs(f.centre - c) < 4 * f.centre_err + 1e-9 and f.centre_err < 0.01
        assert f.area == pytest.approx(a, rel=0.02)
        assert f.fwhm == pytest.approx(w, rel=0.02)
        assert f.mixing == pytest.approx(e, abs=0.08)
        assert f.chi2_red == pytest.approx(1.0, rel=0.3)  # unit noise: χ²_red = 1 ± 0.1
        assert f.background == pytest.approx(20 + 0.05 * c, abs=1.0)


def test_tch_recovers_sig_and_gam(rng):
    x = np.linspace(0, 20, 401)
    sig, gam = 0.09, 0.35
    fw, eta = tch_fwhm_mixing(sig, gam)[:2]
    y = 800 * pseudo_voigt(x, 9.7, fw, eta) + 3 + rng.normal(0, 0.3, x.size)
    (f,) = fit_peaks(x, y, peaks=[int(np.argmin(abs(x - 9.7)))], settings=PeakFitSettings(model="tch"))
    assert f.sig == pytest.approx(sig, rel=0.05) and f.gam == pytest.approx(gam, rel=0.05)
    assert f.fwhm == pytest.approx(fw, rel=0.01)


def test_snip_background_and_peak_finding(rng):
    x = np.arange(2000.0)
    base = 200 + 100 * np.exp(-x / 700)
    centres = [300, 310, 800, 1500]
    y = base + sum(400 * pseudo_voigt(x, c, 4.0, 0.5) for c in centres) + rng.normal(0, 0.5, x.size)
    bg = snip_background(y, 30)
    far = np.all(np.abs(x[:, None] - np.array(centres)[None]) > 20, axis=1)
    np.testing.assert_allclose(bg[far], base[far], rtol=0.01)
    found = find_peaks(y, snip_iterations=30)
    assert sorted(found.tolist()) == centres
    fits = fit_peaks(x, y, settings=PeakFitSettings(snip_iterations=30))
    np.testing.assert_allclose([f.centre for f in fits], centres, atol=0.05)


def test_far_peak_location_is_skipped_with_a_warning(caplog):
    x = np.linspace(0, 10, 101)
    y = 100 * pseudo_voigt(x, 5.0, 0.5, 0.5) + 1
    with caplog.at_level(logging.WARNING):
        fits = fit_peaks(x, y, positions=[5.0, 55.0])
    assert len(fits) == 1 and "skipped" in caplog.text
