"""Multi-panel FF detector: compiled model vs the NumPy twin (upstream §2.3 step 6), exact inverse
on the panels, thread independence, the panel layout, panel-aware pixel corners and the map key."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from midas import parallel
from midas._native import core
from midas._reference import geometry as ref
from midas.errors import GeometryError, ParamError
from midas.geometry import FFDetector, ideal_jacobian, ideal_to_pixel, pixel_to_ideal
from midas.geometry.panels import KNOWN_LAYOUTS, PanelLayout

PIL2M = KNOWN_LAYOUTS[(1475, 1679)]


def panel_detector(seed: int, *, lsd_and_p2: bool = True, layout: PanelLayout = PIL2M) -> FFDetector:
    rng = np.random.default_rng(seed)
    n = layout.n
    sh = np.zeros((n, 5))
    sh[:, :2] = rng.normal(0.0, 0.4, (n, 2))
    sh[:, 2] = rng.normal(0.0, 0.2, n)
    if lsd_and_p2:
        sh[:, 3] = rng.normal(0.0, 80.0, n)
        sh[:, 4] = rng.normal(0.0, 1e-4, n)
    dist = np.zeros(15)
    dist[[0, 1, 2, 3, 6]] = rng.normal(0, 3e-4, 5) * [1, 1, 1, 0, 0] + [0, 0, 0, 25.0, 10.0]
    return FFDetector(lsd_um=rng.uniform(3e5, 1e6), bc_px=tuple(rng.uniform(500, 900, 2)), pixel_size_um=(172.0, 172.0),
                      ty_deg=rng.uniform(-1, 1), tz_deg=rng.uniform(-1, 1), tx_deg=rng.uniform(-1, 1),
                      distortion=tuple(dist), rho_d_um=2.5e5, n_pixels=layout.extent_px, panels=layout,
                      panel_shifts=sh)


def twin(det: FFDetector, y, z, panel=None):
    return ref.ff_pixel_to_ideal_panels(det.lsd_um, det.bc_px, det.pixel_size_um, (det.tx_deg, det.ty_deg, det.tz_deg),
                                        np.array(det.distortion), det.rho_d_um, det.panels.bounds(),
                                        det.panel_shifts_array, y, z, panel)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pixel_to_ideal_matches_the_twin(seed):
    det = panel_detector(seed)
    rng = np.random.default_rng(seed + 10)
    y, z = rng.uniform(-0.5, 1474.5, 600), rng.uniform(-0.5, 1678.5, 600)
    got = pixel_to_ideal(det, y, z)
    want = twin(det, y, z)
    assert np.mean(det.panel_index(y, z) >= 0) > 0.8  # most points on panels, some in gaps
    np.testing.assert_allclose(got.r_um, want["r_um"], rtol=1e-12, atol=1e-7)
    np.testing.assert_allclose(got.y_um, want["y_um"], rtol=1e-12, atol=1e-7)
    np.testing.assert_allclose(got.z_um, want["z_um"], rtol=1e-12, atol=1e-7)
    d = np.abs((got.eta_deg - want["eta_deg"] + 180.0) % 360.0 - 180.0)
    assert d.max() < 1e-9


def test_zero_shifts_are_the_single_plane_model():
    det = dataclasses.replace(panel_detector(4), panel_shifts=())
    flat = dataclasses.replace(det, panels=None)
    rng = np.random.default_rng(0)
    y, z = rng.uniform(0, 1474, 5000), rng.uniform(0, 1678, 5000)
    np.testing.assert_array_equal(pixel_to_ideal(det, y, z).r_um, pixel_to_ideal(flat, y, z).r_um)


def test_panel_index_matches_the_plain_search():
    rng = np.random.default_rng(1)
    y, z = rng.uniform(-3, 1480, 20000), rng.uniform(-3, 1685, 20000)
    np.testing.assert_array_equal(PIL2M.panel_index(y, z), ref.ff_panel_of(PIL2M.bounds(), y, z))
    b = PIL2M.bounds()
    assert b.shape == (24, 4) and tuple(b[1]) == (0, 486, 212, 406) and tuple(b[8]) == (494, 980, 0, 194)
    assert PIL2M.extent_px == (1475, 1679)


@pytest.mark.parametrize("seed", [5, 6])
def test_inverse_is_exact_on_the_panels(seed):
    det = panel_detector(seed)
    rng = np.random.default_rng(seed)
    y, z = rng.uniform(0, 1474, 20000), rng.uniform(0, 1678, 20000)
    c = pixel_to_ideal(det, y, z)
    yb, zb = ideal_to_pixel(det, c.y_um, c.z_um)
    on = det.panel_index(y, z) >= 0
    assert np.nanmax(np.hypot(yb - y, zb - z)[on]) < 1e-8
    # a gap pixel may be covered by a moved panel: the inverse then gives that panel's pixel,
    # which maps to the same ideal point
    ok = np.isfinite(yb)
    assert ok.mean() > 0.99
    c2 = pixel_to_ideal(det, yb[ok], zb[ok])
    assert np.max(np.hypot(c2.y_um - c.y_um[ok], c2.z_um - c.z_um[ok])) < 1e-5


def test_jacobian_matches_finite_differences_within_a_panel():
    det = panel_detector(7)
    rng = np.random.default_rng(7)
    y, z = rng.uniform(0, 1474, 400), rng.uniform(0, 1678, 400)
    inner = (det.panel_index(y - 0.01, z - 0.01) == det.panel_index(y + 0.01, z + 0.01)) & (det.panel_index(y, z) >= 0)
    y, z = y[inner], z[inner]
    jac = ideal_jacobian(det, y, z)
    h = 1e-4
    for col, (dy, dz) in enumerate(((h, 0.0), (0.0, h))):
        p, m = pixel_to_ideal(det, y + dy, z + dz), pixel_to_ideal(det, y - dy, z - dz)
        np.testing.assert_allclose(jac[:, 0, col], (p.y_um - m.y_um) / (2 * h), rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(jac[:, 1, col], (p.z_um - m.z_um) / (2 * h), rtol=1e-6, atol=1e-5)


def test_results_do_not_depend_on_the_thread_count():
    det = panel_detector(8)
    rng = np.random.default_rng(8)
    y, z = rng.uniform(0, 1474, 50000), rng.uniform(0, 1678, 50000)
    with parallel.threads(1):
        a = pixel_to_ideal(det, y, z).r_um
        ya, _ = ideal_to_pixel(det, r_um=np.full(2000, 1e5), eta_deg=np.linspace(-180, 180, 2000))
    with parallel.threads(2):
        b = pixel_to_ideal(det, y, z).r_um
        yb, _ = ideal_to_pixel(det, r_um=np.full(2000, 1e5), eta_deg=np.linspace(-180, 180, 2000))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)


def test_round_trips_and_validation():
    det = panel_detector(9)
    assert FFDetector.from_dict(det.to_dict()) == det
    assert PanelLayout.from_dict(PIL2M.to_dict()) == PIL2M
    with pytest.raises(GeometryError, match="without a panel layout"):
        dataclasses.replace(det, panels=None)
    with pytest.raises(GeometryError, match="panel_shifts"):
        dataclasses.replace(det, panel_shifts=np.zeros((3, 5)))
    with pytest.raises(GeometryError, match="gaps_y_px"):
        PanelLayout((3, 8), (487, 195), (7,), (17,) * 7)


def test_layout_from_parameter_keys_and_shifts_file(tmp_path):
    from midas.io.panel_shifts import write_panel_shifts

    sh = panel_detector(10).panel_shifts_array
    f = write_panel_shifts(tmp_path / "ps.txt", sh)
    keys = {"Lsd": 7e5, "BC": (700.0, 800.0), "px": 172.0, "NrPixelsY": 1475, "NrPixelsZ": 1679,
            "NPanelsY": 3, "NPanelsZ": 8, "PanelSizeY": 487, "PanelSizeZ": 195, "PanelGapsY": [7, 7],
            "PanelGapsZ": [17] * 7, "PanelShiftsFile": str(f)}
    det = FFDetector.from_params(keys)
    assert det.panels == PIL2M
    np.testing.assert_allclose(det.panel_shifts_array, sh, atol=1e-10)
    with pytest.raises(ParamError, match="PanelGapsZ"):
        FFDetector.from_params({**keys, "PanelGapsZ": [17] * 6})


def test_pixel_corners_take_their_pixels_panel():
    layout = PanelLayout((2, 2), (20, 15), (3,), (2,))
    det = panel_detector(11, layout=layout)
    n_y, n_z = layout.extent_px
    cy, cz = core().ff_pixel_corners(det._kernel(), n_y, n_z)
    ly, lz = np.meshgrid(np.arange(n_y + 1) - 0.5, np.arange(n_z + 1) - 0.5)
    # panel of a corner: the one panel among its 4 pixels (the gaps keep panels apart)
    k = np.full(ly.shape, -1)
    for oy in (-0.5, 0.5):
        for oz in (-0.5, 0.5):
            kk = layout.panel_index(ly + oy, lz + oz)
            assert np.all((k < 0) | (kk < 0) | (k == kk))
            k = np.where(k < 0, kk, k)
    want = twin(det, ly.ravel(), lz.ravel(), k.ravel())
    np.testing.assert_allclose(cy.ravel(), want["y_um"] / 172.0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cz.ravel(), want["z_um"] / 172.0, rtol=1e-12, atol=1e-9)
    touching = dataclasses.replace(det, panels=PanelLayout((2, 2), (20, 15), (0,), (2,)), panel_shifts=())
    with pytest.raises(GeometryError, match="touch"):
        core().ff_pixel_corners(touching._kernel(), 40, 32)


def test_integration_map_key_covers_the_panel_shifts():
    from midas.integration.bins import IntegrationBins
    from midas.integration.mapper import MapOptions, map_key

    det = panel_detector(12)
    moved = det.panel_shifts_array.copy()
    moved[3, 0] += 1e-6
    other = dataclasses.replace(det, panel_shifts=moved)
    bins = IntegrationBins.from_params({"RMin": 10, "RMax": 100, "RBinSize": 1, "EtaMin": -180, "EtaMax": 180,
                                        "EtaBinSize": 5}, lsd_um=det.lsd_um, px_um=172.0)
    kw = {"bins": bins, "options": MapOptions(), "raw_frame_shape": (1679, 1475),
          "mask": np.zeros((1679, 1475), bool)}
    assert map_key(detector=det.to_dict(), **kw) != map_key(detector=other.to_dict(), **kw)
