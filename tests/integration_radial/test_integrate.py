"""Integrator: intensity conservation, the dense NumPy twin, dark, batches, threads, sentinel
pixels, lineouts, and the GPU against the CPU."""

from __future__ import annotations

import numpy as np
import pytest
from midas import parallel
from midas._reference import integration as ref
from midas.integration.bins import IntegrationBins
from midas.integration.integrate import Integrator, lineout_from_cake
from midas.integration.mapper import MapOptions, build_map

from .conftest import small_detector

COVER = IntegrationBins.uniform_r(0.0, 63.0, 0.9, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=20)


def frames_for(det, n=3, seed=5, dtype=np.float64):
    n_y, n_z = det.n_pixels
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 5000, (n, n_z, n_y)).astype(dtype)


@pytest.mark.parametrize("scatter", [False, True])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_intensity_is_conserved(precision, scatter):
    det = small_detector(n_y=60, n_z=50, bc=(29.3, 24.6))
    imap = build_map(det, COVER, options=MapOptions(precision=precision))
    x = frames_for(det, 2, dtype=np.uint16 if precision == "float32" else np.float64)
    res = Integrator(imap, scatter=scatter).integrate(x)
    total = np.nansum(res.cake * imap.bin_area[None], axis=(1, 2))
    want = x.reshape(2, -1).astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(total, want, rtol=1e-9, atol=0)
    assert np.max(np.abs(total / want - 1)) < 1e-12  # what the design gives: exact fractions


def test_intensity_is_conserved_with_a_mask():
    det = small_detector(n_y=60, n_z=50, bc=(29.3, 24.6))
    mask = np.zeros((50, 60), bool)
    mask[5:9, 10:40] = True
    x = frames_for(det, 1)[0]
    excl = build_map(det, COVER, options=MapOptions(mask_policy="exclude_pixels"), mask=mask)
    cake = Integrator(excl).integrate(x).cake[0]
    assert np.nansum(cake * excl.bin_area) == pytest.approx(x[~mask].sum(), rel=1e-12)
    # flag policy: what reaches the unflagged bins is every good pixel's share of them
    flag = build_map(det, COVER, options=MapOptions(precision="float64"), mask=mask)
    cake = Integrator(flag).integrate(x).cake[0]
    good_bins = ~flag.bin_flagged.ravel()
    full = build_map(det, COVER, options=MapOptions(precision="float64"))
    share = np.zeros(x.size)
    m = full.matrix
    rows = np.repeat(np.arange(m.n_rows), np.diff(m.indptr))
    keep = good_bins[rows]
    np.add.at(share, m.indices[keep], full.fractions[keep])
    assert np.isnan(cake.ravel()[~good_bins]).all()
    assert np.nansum(cake * flag.bin_area) == pytest.approx((x.ravel() * share).sum(), rel=1e-12)


@pytest.mark.parametrize("precision,rtol", [("float64", 1e-11), ("float32", 3e-7)])
def test_cake_matches_the_dense_twin(precision, rtol):
    det = small_detector()
    bins = IntegrationBins.uniform_r(0.0, 9.1, 1.3, eta_min_deg=-170.0, eta_max_deg=190.0, eta_bin_size_deg=45.0)
    opts = MapOptions(solid_angle=True, polarization=True, polarization_fraction=0.95, precision=precision)
    imap = build_map(det, bins, options=opts)
    from .conftest import twin_corners

    cy, cz = twin_corners(det)
    frac, _ = ref.detector_map_dense(cy, cz, bins.r_edges_px, bins.eta_min_deg, bins.eta_bin_size_deg, bins.n_eta)
    cyc = 0.25 * (cy[:-1, :-1] + cy[:-1, 1:] + cy[1:, :-1] + cy[1:, 1:]).ravel()
    czc = 0.25 * (cz[:-1, :-1] + cz[:-1, 1:] + cz[1:, :-1] + cz[1:, 1:]).ravel()
    corr = ref.intensity_correction(cyc, czc, det.lsd_um / det.pixel_size_um[0], True, True, 0.95)
    x = frames_for(det, 2)
    dark = np.random.default_rng(9).uniform(0, 50, x.shape[1:])
    area = frac.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = ((frac / corr[None]) @ (x - dark).reshape(2, -1).T).T / np.where(area > 0, area, np.nan)
    want = np.nan_to_num(want, nan=0.0).reshape(2, bins.n_r, bins.n_eta)
    got = Integrator(imap, dark=dark).integrate(x).cake
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9)


@pytest.mark.parametrize("scatter", [False, True])
def test_batches_threads_and_single_frames_agree_bytewise(scatter):
    det = small_detector(n_y=90, n_z=70, bc=(44.1, 33.9))
    bins = IntegrationBins.uniform_r(2.0, 50.0, 0.5, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=5)
    imap = build_map(det, bins, options=MapOptions(solid_angle=True))
    x = frames_for(det, 7, dtype=np.int32)
    dark = np.full(x.shape[1:], 3.0)
    integ = Integrator(imap, dark=dark, scatter=scatter)
    with parallel.threads(1):
        one = integ.integrate(x)
    with parallel.threads(2):
        two = integ.integrate(x)
        singles = np.stack([integ.integrate(f).cake[0] for f in x])
    assert one.cake.tobytes() == two.cake.tobytes()
    assert one.lineout.tobytes() == two.lineout.tobytes()
    assert singles.tobytes() == two.cake.tobytes()


def test_dark_is_subtracted():
    det = small_detector()
    imap = build_map(det, COVER, options=MapOptions(precision="float64"))
    x = frames_for(det, 2)
    dark = np.random.default_rng(1).uniform(0, 100, x.shape[1:])
    a = Integrator(imap, dark=dark).integrate(x).cake
    b = Integrator(imap).integrate(x - dark).cake
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)


def test_sentinel_pixels_outside_the_static_mask():
    det = small_detector(n_y=40, n_z=30, bc=(19.5, 14.2))
    bins = IntegrationBins.uniform_r(0.0, 30.0, 1.0, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=30)
    x = frames_for(det, 2)
    x[1, 7, 9] = -2.0  # a bad pixel in frame 1 only
    flag = build_map(det, bins, options=MapOptions(precision="float64"))
    res = Integrator(flag, sentinel_values=[-1, -2]).integrate(x)
    assert res.n_sentinel_pixels.tolist() == [0, 1]
    clean = Integrator(flag).integrate(x[:1]).cake[0]
    assert np.array_equal(res.cake[0], clean)
    nan_bins = np.isnan(res.cake[1])
    mask = np.zeros(x.shape[1:], bool)
    mask[7, 9] = True
    flagged_map = build_map(det, bins, options=MapOptions(precision="float64"), mask=mask)
    np.testing.assert_array_equal(nan_bins, flagged_map.bin_flagged)
    # exclude policy: the same as a map built with that pixel masked
    excl = build_map(det, bins, options=MapOptions(precision="float64", mask_policy="exclude_pixels"))
    got = Integrator(excl, sentinel_values=[-2], dark=np.full(x.shape[1:], 1.5)).integrate(x).cake[1]
    excl_masked = build_map(det, bins, options=MapOptions(precision="float64", mask_policy="exclude_pixels"),
                            mask=mask)
    want = Integrator(excl_masked, dark=np.full(x.shape[1:], 1.5)).integrate(x[1]).cake[0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


def test_lineout_is_the_area_weighted_eta_mean(rng):
    cake = rng.uniform(0, 10, (3, 20, 12))
    cake[0, 3, 4] = np.nan
    area = rng.uniform(0, 2, (20, 12))
    area[5] = 0.0
    area[6, :6] = 0.0
    got = lineout_from_cake(cake, area)
    want = ref.lineout_from_cake(cake, area)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert np.isnan(got[:, 5]).all()
    np.testing.assert_array_equal(lineout_from_cake(cake[1], area), got[1])


@pytest.mark.gpu
def test_gpu_matches_cpu():
    det = small_detector(n_y=300, n_z=260, bc=(150.2, 120.7))
    bins = IntegrationBins.uniform_r(1.0, 180.0, 0.8, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=5)
    imap = build_map(det, bins, options=MapOptions(solid_angle=True, polarization=True))
    x = frames_for(det, 6, dtype=np.float32)
    dark = np.full(x.shape[1:], 2.0)
    cpu = Integrator(imap, dark=dark).integrate(x)
    gpu = Integrator(imap, dark=dark, use_gpu=True)
    assert gpu.uses_gpu
    got = gpu.integrate(x)
    np.testing.assert_allclose(got.cake, cpu.cake, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.lineout, cpu.lineout, rtol=1e-6, atol=1e-6)


def test_golden_fixture():
    """A frozen cake of the tilted, distorted test detector (tests/data/integration_radial/README.md)."""
    from pathlib import Path

    golden = np.load(Path(__file__).parents[1] / "data" / "integration_radial" / "small_map_golden.npz")
    det = small_detector()
    bins = IntegrationBins.uniform_r(0.0, 9.1, 1.3, eta_min_deg=-170.0, eta_max_deg=190.0, eta_bin_size_deg=45.0)
    for precision, rtol in (("float64", 1e-12), ("float32", 3e-7)):
        imap = build_map(det, bins, options=MapOptions(solid_angle=True, polarization=True, polarization_fraction=0.95,
                                                       precision=precision))
        cake = Integrator(imap, dark=np.full(golden["frame"].shape, 25.0)).integrate(golden["frame"]).cake[0]
        np.testing.assert_allclose(imap.bin_area, golden["bin_area"], rtol=rtol, atol=1e-9)
        np.testing.assert_allclose(cake, golden["cake"], rtol=rtol, atol=1e-9)
