"""The ring-position noise (η-split estimate) against the true scatter of synthetic ring points."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from midas.calibration.autocal import CalibrationSettings, calibrate_image
from midas.calibration.cake import ring_points
from midas.calibration.calibrants import get_calibrant
from midas.calibration.noise import ring_position_noise
from midas.calibration.synthetic import SyntheticImage, render_grainy_calibrant
from midas.errors import ParamError

from .conftest import WAVELENGTH_A, image_and_bad, true_detector

DET = true_detector(n=512)


@functools.lru_cache(maxsize=2)
def grainy(spots_per_deg: float) -> SyntheticImage:
    """A coarse powder in a 50 × 30 µm beam on the 512² test detector."""
    return render_grainy_calibrant(DET, get_calibrant("CeO2"), WAVELENGTH_A, spots_per_deg=spots_per_deg,
                                   beam_um=(50.0, 30.0), seed=5)


def rings_on(syn: SyntheticImage) -> np.ndarray:
    r = syn.ring_radius_px
    return r[(r > 30) & (r < 240)]


def true_scatter(syn: SyntheticImage, radius: np.ndarray) -> float:
    """Mean |ε| of the 5° ring points at the true geometry: pure noise, nothing fitted."""
    pts = ring_points(syn.image, None, syn.detector, radius, half_width_px=4.0)
    return float(np.mean(np.abs(1.0 - pts.r_fit_px / radius[pts.ring])))


def test_estimate_matches_the_true_scatter_of_a_grainy_powder():
    syn = grainy(40.0)
    radius = rings_on(syn)
    noise = ring_position_noise(syn.image, None, DET, radius, half_width_px=4.0, mult_factor=None)
    truth = true_scatter(syn, radius)
    assert truth > 1e-4  # a coarse powder: the spots make the points scatter
    assert noise.mean_abs_strain == pytest.approx(truth, rel=0.25)
    assert noise.n_pairs.sum() > 300 and np.all(np.isfinite(noise.sigma_px[noise.n_pairs > 0]))


def test_more_crystallites_give_less_noise():
    a, b = grainy(40.0), grainy(160.0)
    na = ring_position_noise(a.image, None, DET, rings_on(a), half_width_px=4.0)
    nb = ring_position_noise(b.image, None, DET, rings_on(b), half_width_px=4.0)
    # 4 × the spots: the spot part of the scatter halves (the pixel sampling part stays)
    assert 1.3 < na.mean_abs_strain / nb.mean_abs_strain < 2.6


def test_a_smooth_powder_has_a_much_lower_floor(synthetic_ceo2):
    img, bad = image_and_bad(synthetic_ceo2)
    r = synthetic_ceo2.ring_radius_px
    smooth = ring_position_noise(img, bad, synthetic_ceo2.detector, r[(r > 30) & (r < 380)], half_width_px=4.0)
    coarse = grainy(160.0)
    rough = ring_position_noise(coarse.image, None, DET, rings_on(coarse), half_width_px=4.0)
    assert smooth.mean_abs_strain < 0.2 * rough.mean_abs_strain


def test_calibrating_a_grainy_powder_stops_at_its_noise_floor():
    """An exact single-plane geometry, so everything left after the fit is the spot noise: the
    fitted mean strain is the measured floor (within the effect of the outlier rule and the fit)."""
    syn = grainy(160.0)
    res = calibrate_image(syn.image, syn.image < 0, calibrant=get_calibrant("CeO2"), wavelength_A=WAVELENGTH_A,
                          pixel_size_um=200.0, settings=CalibrationSettings(estimate_noise=True))
    assert np.isfinite(res.noise_strain) and res.noise_strain > 3e-5
    assert 0.7 < res.mean_strain / res.noise_strain < 1.3, (res.mean_strain, res.noise_strain)
    assert "noise" in res.timings


def test_bin_and_radial_step_are_checked():
    syn = grainy(40.0)
    with pytest.raises(ParamError, match="EtaBinSize"):
        ring_position_noise(syn.image, None, DET, rings_on(syn), half_width_px=4.0, eta_bin_size_deg=0.0)
    with pytest.raises(ParamError, match="radial bin"):
        ring_position_noise(syn.image, None, DET, rings_on(syn), half_width_px=4.0, r_bin_px=0.0)


def test_grainy_renderer_checks_its_inputs():
    with pytest.raises(ParamError, match="spots_per_deg"):
        render_grainy_calibrant(DET, get_calibrant("CeO2"), WAVELENGTH_A, spots_per_deg=0.0)
