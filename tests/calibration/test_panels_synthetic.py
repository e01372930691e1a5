"""Per-panel calibration on a synthetic Pilatus 1M image rendered with known module shifts.

The image comes from :func:`midas.calibration.synthetic.render_calibrant` — the project's forward
model, panels included — with gaps marked −1 like a real Pilatus frame. The recovered shifts are
compared with the truth after removing the panel motions that no ring pattern can see — each
panel's rigid rotation about the beam — and the modes the fit hands to the global geometry (common
translation ↔ BC, common magnification ↔ Lsd); see ``PanelFit`` and ``docs/conventions.md``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from midas.calibration.autocal import CalibrationSettings, calibrate_image
from midas.calibration.calibrants import get_calibrant
from midas.calibration.refine import PanelFit
from midas.calibration.synthetic import render_calibrant
from midas.geometry import FFDetector
from midas.geometry.panels import KNOWN_LAYOUTS

pytestmark = pytest.mark.slow  # ~20 s: renders and calibrates a 981 × 1043 image

LAYOUT = KNOWN_LAYOUTS[(981, 1043)]
WAVELENGTH_A = 0.3


def _truth() -> FFDetector:
    rng = np.random.default_rng(5)
    shifts = np.zeros((LAYOUT.n, 5))
    shifts[:, :2] = rng.uniform(-0.4, 0.4, (LAYOUT.n, 2))
    shifts[:, 2] = rng.uniform(-0.03, 0.03, LAYOUT.n)
    return FFDetector(lsd_um=250_000.0, bc_px=(470.3, 540.6), pixel_size_um=(172.0, 172.0), ty_deg=0.3,
                      tz_deg=-0.2, distortion=(2e-4, 0.0, -3e-4) + (0.0,) * 12, rho_d_um=130_000.0,
                      n_pixels=(981, 1043), panels=LAYOUT, panel_shifts=shifts)


def _modes(cen: np.ndarray) -> np.ndarray:
    """(2n, 3) centre displacements of the global modes handed to BC and Lsd: translation y, z, magnification."""
    n = len(cen)
    m = np.zeros((2 * n, 3))
    m[:n, 0] = 1.0
    m[n:, 1] = 1.0
    m[:n, 2], m[n:, 2] = cen[:, 0], cen[:, 1]
    return m


def _without_spin(shifts: np.ndarray, cen: np.ndarray) -> np.ndarray:
    """Remove from each panel its rigid rotation about the beam (invisible to rings), in the metric
    of the panel's displacement field: φ = (t_tan·|c| + I·dθ)/(|c|² + I)."""
    out = shifts.copy()
    inertia = float(np.sum(np.asarray(LAYOUT.panel_size_px, float) ** 2)) / 12.0
    dth = np.radians(shifts[:, 2])
    t_tan_c = -cen[:, 1] * shifts[:, 0] + cen[:, 0] * shifts[:, 1]
    phi = (t_tan_c + inertia * dth) / (np.sum(cen**2, axis=1) + inertia)
    out[:, 0] += phi * cen[:, 1]
    out[:, 1] -= phi * cen[:, 0]
    out[:, 2] = np.degrees(dth - phi)
    return out


@pytest.fixture(scope="module")
def recovered():
    true = _truth()
    syn = render_calibrant(true, get_calibrant("CeO2"), WAVELENGTH_A, fwhm_px=1.6, peak_counts=20000.0,
                           background=300.0, supersample=3, noise=True, seed=3, beamstop_radius_px=20.0)
    gaps = LAYOUT.pixel_panels(true.n_pixels) < 0
    img = np.where(gaps | (syn.image < 0), 0.0, syn.image)
    res = calibrate_image(img, gaps | (syn.image < 0), calibrant=get_calibrant("CeO2"), wavelength_A=WAVELENGTH_A,
                          pixel_size_um=172.0, rho_d_um=true.rho_d_um, panels=LAYOUT,
                          settings=CalibrationSettings(stopping_strain=2e-5, panel_fit=PanelFit()))
    return true, res


def test_panel_shifts_are_recovered(recovered):
    true, res = recovered
    cen = LAYOUT.centres_px() - np.asarray(true.bc_px)
    fit = _without_spin(res.detector.panel_shifts_array, cen)
    ref = _without_spin(true.panel_shifts_array, cen)
    diff = np.concatenate([fit[:, 0] - ref[:, 0], fit[:, 1] - ref[:, 1]])
    modes = _modes(cen)
    coef, *_ = np.linalg.lstsq(modes, diff, rcond=None)
    resid = diff - modes @ coef
    # measured: max 0.046 px, rms 0.028 px (shifts drawn within ±0.4 px)
    assert np.max(np.abs(resid)) < 0.08, np.round(resid, 3)
    d_theta = fit[:, 2] - ref[:, 2]  # measured: max 0.014° (drawn within ±0.03°)
    assert np.max(np.abs(d_theta)) < 0.025, np.round(d_theta, 4)


def test_global_geometry_and_strain_with_panels(recovered):
    true, res = recovered
    d = res.detector
    # the shifts' common magnification (90 ppm here) goes to Lsd by the gauge: measured 1.5e-4
    assert abs(d.lsd_um / true.lsd_um - 1) < 3e-4, d.lsd_um
    assert abs(d.ty_deg - true.ty_deg) < 0.01 and abs(d.tz_deg - true.tz_deg) < 0.01, (d.ty_deg, d.tz_deg)
    assert res.mean_strain < 2e-5, res.mean_strain


def test_the_shifts_matter(recovered):
    """Ignoring the panel shifts at the true geometry leaves ~900 µε; the panel fit reaches < 20 µε."""
    true, res = recovered
    assert _single_plane_strain(true) > 20 * res.mean_strain


def _single_plane_strain(true: FFDetector) -> float:
    from midas.calibration.refine import pseudo_strain

    # ring points of the true geometry, evaluated with the panel shifts ignored
    from midas.geometry import ideal_to_pixel

    eta = np.linspace(-180, 180, 721)[:-1]
    rings = get_calibrant("CeO2").rings(WAVELENGTH_A, 20.0)
    r = true.lsd_um * rings.tan_tth[:12]
    y, z = ideal_to_pixel(true, r_um=np.repeat(r, eta.size), eta_deg=np.tile(eta, r.size))
    t = np.repeat(rings.tan_tth[:12], eta.size)
    ok = np.isfinite(y) & (true.panel_index(y, z) >= 0)
    flat = dataclasses.replace(true, panels=None, panel_shifts=())
    return float(np.mean(np.abs(pseudo_strain(flat, y[ok], z[ok], t[ok]))))
