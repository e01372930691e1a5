"""Ring radii from the radial profile and the distance from their ratios."""

from __future__ import annotations

import numpy as np
import pytest
from midas.calibration.calibrants import get_calibrant
from midas.calibration.rings import (
    RingPeaks,
    detect_ring_peaks,
    estimate_distance,
    radial_profile,
)
from midas.errors import ConvergenceError

LAM = 0.172973
PX = 200.0


def peaks_at(radii, heights=None, r_range=None):
    r = np.asarray(radii, dtype=float)
    h = np.ones_like(r) * 100 if heights is None else np.asarray(heights, float)
    return RingPeaks(r, h, r_range or (float(r.min()) - 1, float(r.max()) + 1))


def test_radial_profile_and_peaks(rng):
    n = 300
    z, y = np.mgrid[0:n, 0:n]
    r = np.hypot(y - 140.2, z - 151.7)
    img = 30 + sum(500 * np.exp(-0.5 * ((r - r0) / 1.2) ** 2) for r0 in (40.0, 77.3, 120.6))
    bad = np.zeros(img.shape, bool)
    bad[:, 200:210] = True
    prof = radial_profile(rng.poisson(img).astype(float), bad, (140.2, 151.7))
    assert prof.coverage[int(60 / 0.5)] > 0.95
    pk = detect_ring_peaks(prof)
    np.testing.assert_allclose(pk.r_px, [40.0, 77.3, 120.6], atol=0.15)


@pytest.mark.parametrize("guess", [None, 500_000.0])
def test_distance_from_exact_ratios(guess):
    rings = get_calibrant("CeO2").rings(LAM, 60.0)
    lsd = 451_234.0
    r = lsd * rings.tan_tth[:14] / PX
    est = estimate_distance(peaks_at(r), rings.tan_tth, PX, lsd_guess_um=guess)
    assert est.lsd_um == pytest.approx(lsd, rel=1e-9)
    assert est.precision == 1.0 and est.recall == pytest.approx(1.0) and est.matched_peaks.size == 14


def test_half_distance_alias_is_rejected():
    """At Lsd/2 every CeO2 ring is explained by (2h 2k 2l); the predicted extra rings decide."""
    rings = get_calibrant("CeO2").rings(LAM, 60.0)
    lsd = 800_000.0
    r = lsd * rings.tan_tth[:10] / PX
    est = estimate_distance(peaks_at(r), rings.tan_tth, PX)
    assert est.lsd_um == pytest.approx(lsd, rel=1e-6)


def test_first_ring_hidden_and_spurious_peak():
    rings = get_calibrant("CeO2").rings(LAM, 60.0)
    lsd = 300_000.0
    r = list(lsd * rings.tan_tth[1:12] / PX) + [33.3]  # ring 1 behind the beamstop, one artefact
    heights = [100.0] * 11 + [5.0]
    est = estimate_distance(peaks_at(sorted(r), sorted(heights, key=lambda h: h)), rings.tan_tth, PX)
    assert est.lsd_um == pytest.approx(lsd, rel=1e-6)


def test_wrong_calibrant_and_too_few_rings():
    ceo2 = get_calibrant("CeO2").rings(LAM, 60.0)
    lab6 = get_calibrant("LaB6").rings(LAM, 60.0)
    r = 400_000.0 * lab6.tan_tth[:12] / PX
    with pytest.raises(ConvergenceError, match="do not fit the calibrant"):
        estimate_distance(peaks_at(r), ceo2.tan_tth, PX, multiplicity=ceo2.multiplicity)
    with pytest.raises(ConvergenceError, match="found 2 ring"):
        estimate_distance(peaks_at([100.0, 150.0]), ceo2.tan_tth, PX)
