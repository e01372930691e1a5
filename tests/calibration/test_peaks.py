"""Batched pseudo-Voigt fits against the single-window reference fit of midas.integration.peakfit."""

from __future__ import annotations

import numpy as np
from midas.calibration.peaks import fit_peak_batch
from midas.integration.peakfit import PeakFitSettings, fit_peaks, pseudo_voigt


def random_profiles(rng, n_prof=60, n=40):
    x = 200.0 + 0.25 * np.arange(n)
    centre = x[0] + rng.uniform(3.0, 7.0, n_prof)
    fwhm = rng.uniform(0.8, 2.5, n_prof)
    mix = rng.uniform(0.0, 1.0, n_prof)
    area = rng.uniform(100, 3000, n_prof)
    y = np.array([a * pseudo_voigt(x, c, f, m) for a, c, f, m in zip(area, centre, fwhm, mix)])
    y += 40.0 + 3.0 * (x - x.mean())[None, :] / 5.0
    y += rng.normal(0, 4.0, y.shape)
    return x, y, centre


def test_batch_matches_fit_peaks_reference(rng):
    x, y, centre = random_profiles(rng)
    batch = fit_peak_batch(x, y)
    assert batch.ok.all()
    settings = PeakFitSettings(roi_padding=60)
    ref = np.array([fit_peaks(x, row, peaks=[int(np.argmax(row))], settings=settings)[0].centre for row in y])
    # the same model and least-squares problem: the same optimum (to the optimisers' tolerances)
    np.testing.assert_allclose(batch.centre, ref, atol=2e-4)
    # and it is the truth within the noise
    pull = (batch.centre - centre) / batch.centre_err
    assert np.sqrt(np.mean(pull**2)) < 2.0


def test_nan_points_and_flat_profiles(rng):
    x, y, centre = random_profiles(rng, n_prof=10)
    y[:, 3:6] = np.nan
    y[4, :] = 40.0 + rng.normal(0, 1, y.shape[1])  # no peak at all
    y[7, 10:] = np.nan  # too few points
    y[7, :10] = 1.0
    fits = fit_peak_batch(x, y)
    good = np.array([i not in (4, 7) for i in range(10)])
    assert fits.ok[good].all() and not fits.ok[4] and not fits.ok[7]
    np.testing.assert_allclose(fits.centre[good], centre[good], atol=0.05)
    assert np.all(np.isfinite(fits.centre[good]))
