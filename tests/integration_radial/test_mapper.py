"""DetectorMapper: the exact pixel-splitting matrix against the NumPy twin, masks, ImTransOpt,
threads, precision, and the cache key."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from midas import parallel
from midas._native import core
from midas._reference import integration as ref
from midas.errors import ParamError
from midas.integration.bins import IntegrationBins
from midas.integration.mapper import (
    FRACTION_QUANTUM,
    MapOptions,
    build_map,
    build_map_from_corners,
    load_or_build_map,
    map_key,
    read_map_cache,
)

from .conftest import small_detector, twin_corners

BINS = IntegrationBins.uniform_r(0.0, 9.1, 1.3, eta_min_deg=-170.0, eta_max_deg=190.0, eta_bin_size_deg=45.0)


def dense(imap, which="fractions"):
    m = imap.matrix
    vals = imap.fractions if which == "fractions" else m.data
    out = np.zeros((m.n_rows, m.n_cols))
    for r in range(m.n_rows):
        k0, k1 = m.indptr[r], m.indptr[r + 1]
        out[r, m.indices[k0:k1]] += vals[k0:k1]
    return out


def test_pixel_corners_follow_the_geometry_twin(det):
    cy, cz = core().ff_pixel_corners(det._kernel(), *det.n_pixels)
    ty, tz = twin_corners(det)
    np.testing.assert_allclose(cy, ty, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cz, tz, rtol=0, atol=1e-9)


def test_map_matches_the_twin_on_a_tilted_distorted_detector(det):
    imap = build_map(det, BINS, options=MapOptions(precision="float64"))
    ty, tz = twin_corners(det)
    want, _ = ref.detector_map_dense(ty, tz, BINS.r_edges_px, BINS.eta_min_deg, BINS.eta_bin_size_deg, BINS.n_eta)
    got = dense(imap)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # the beam sits on the detector, so pixels split across all η bins and several R bins
    assert (want > 0).sum(axis=0).max() >= 4
    np.testing.assert_allclose(imap.bin_area.ravel(), want.sum(axis=1), rtol=1e-12, atol=1e-12)


def test_float32_fractions_are_quantised_and_sum_to_one(det):
    f64 = build_map(det, BINS, options=MapOptions(precision="float64"))
    f32 = build_map(det, BINS)
    assert f32.matrix.data.dtype == np.float32
    q = f32.fractions.astype(np.float64) / FRACTION_QUANTUM
    assert np.all(q == np.round(q))
    np.testing.assert_allclose(dense(f32), dense(f64), rtol=0, atol=FRACTION_QUANTUM)
    # pixels inside the binned range: their fractions add up to exactly 1
    per_pixel = np.zeros(f32.matrix.n_cols)
    np.add.at(per_pixel, f32.matrix.indices, f32.fractions.astype(np.float64))
    inside = dense(f64).sum(axis=0) > 1 - 1e-9
    assert inside.sum() > 20
    assert np.all(per_pixel[inside] == 1.0)


def test_corrections_are_folded_into_the_weights(det):
    opts = MapOptions(solid_angle=True, polarization=True, polarization_fraction=0.9, precision="float64")
    imap = build_map(det, BINS, options=opts)
    plain = build_map(det, BINS, options=MapOptions(precision="float64"))
    np.testing.assert_array_equal(imap.fractions, plain.fractions)
    cy, cz = core().ff_pixel_corners(det._kernel(), *det.n_pixels)
    centre_y = 0.25 * (cy[:-1, :-1] + cy[:-1, 1:] + cy[1:, :-1] + cy[1:, 1:]).ravel()
    centre_z = 0.25 * (cz[:-1, :-1] + cz[:-1, 1:] + cz[1:, :-1] + cz[1:, 1:]).ravel()
    c = ref.intensity_correction(centre_y, centre_z, imap.lsd_px, True, True, 0.9)
    np.testing.assert_allclose(imap.matrix.data, imap.fractions / c[imap.matrix.indices], rtol=1e-13)
    assert c.min() < 0.998  # a real correction at these angles (2θ up to 2.6°)


def test_mask_flags_every_touched_bin(det):
    n_y, n_z = det.n_pixels
    mask = np.zeros((n_z, n_y), np.uint8)
    mask[2, 3] = 1
    mask[8, 11] = 1
    full = build_map(det, BINS, options=MapOptions(precision="float64"))
    flagged = build_map(det, BINS, options=MapOptions(precision="float64"), mask=mask)
    touched = np.zeros(BINS.n_bins, bool)
    fd = dense(full)
    for z, y in ((2, 3), (8, 11)):
        touched |= fd[:, z * n_y + y] > 0
    assert touched.sum() >= 2
    np.testing.assert_array_equal(flagged.bin_flagged.ravel(), touched)
    assert np.all(flagged.bin_area.ravel()[touched] == 0)
    assert np.all(np.isnan(flagged.row_scale[touched]))
    assert np.all(np.diff(flagged.matrix.indptr)[touched] == 0)
    np.testing.assert_array_equal(dense(flagged)[~touched], fd[~touched])
    # exclude policy: bins keep their other pixels and lose only the bad one's area
    excl = build_map(det, BINS, options=MapOptions(precision="float64", mask_policy="exclude_pixels"), mask=mask)
    assert not excl.bin_flagged.any()
    lost = fd[:, 2 * n_y + 3] + fd[:, 8 * n_y + 11]
    np.testing.assert_allclose(excl.bin_area.ravel(), full.bin_area.ravel() - lost, atol=1e-12)


def test_im_trans_opt_is_folded_into_the_columns():
    base = small_detector()
    flipped = dataclasses.replace(base, im_trans_opt=(2, 1))
    frame = np.random.default_rng(3).uniform(0, 100, (base.n_pixels[1], base.n_pixels[0]))
    a = build_map(base, BINS, options=MapOptions(precision="float64"))
    b = build_map(flipped, BINS, options=MapOptions(precision="float64"))
    # upstream applies ImTransOpt to the raw frame; the map of the transformed geometry reads raw frames
    raw = frame[::-1, ::-1]  # flip Z then flip Y undone
    ya = dense(a) @ frame.ravel()
    yb = dense(b) @ raw.ravel()
    np.testing.assert_allclose(ya, yb, rtol=1e-12)


def test_transpose_needs_a_square_frame():
    with pytest.raises(ParamError, match="square"):
        build_map(small_detector(im_trans_opt=(3,)), BINS)


def test_map_is_identical_for_1_and_2_threads():
    det = small_detector(n_y=120, n_z=90, bc=(60.2, 44.7))
    bins = IntegrationBins.uniform_r(0, 80, 0.7, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=7.5)
    mask = np.zeros((90, 120), bool)
    mask[10:12, 30:80] = True
    opts = MapOptions(solid_angle=True, polarization=True)
    with parallel.threads(1):
        a = build_map(det, bins, options=opts, mask=mask)
    with parallel.threads(2):
        b = build_map(det, bins, options=opts, mask=mask)
    for x, y in ((a.matrix.indptr, b.matrix.indptr), (a.matrix.indices, b.matrix.indices),
                 (a.matrix.data, b.matrix.data), (a.fractions, b.fractions), (a.bin_area, b.bin_area),
                 (a.bin_flagged, b.bin_flagged)):
        assert x.tobytes() == y.tobytes()


def test_eta_ranges_wrap_modulo_360(det):
    a = build_map(det, IntegrationBins.uniform_r(0, 9.1, 1.3, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=30),
                  options=MapOptions(precision="float64"))
    b = build_map(det, IntegrationBins.uniform_r(0, 9.1, 1.3, eta_min_deg=0, eta_max_deg=360, eta_bin_size_deg=30),
                  options=MapOptions(precision="float64"))
    # bins j of b are bins j + 6 of a (shifted by 180 deg)
    np.testing.assert_allclose(b.bin_area, np.roll(a.bin_area, -6, axis=1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ParamError, match="360"):
        IntegrationBins.uniform_r(0, 9, 1, eta_min_deg=-180, eta_max_deg=190, eta_bin_size_deg=10)


def test_whole_detector_area_is_covered(det):
    imap = build_map(det, IntegrationBins.uniform_r(0, 40, 2.0, eta_bin_size_deg=90.0),
                     options=MapOptions(precision="float64"))
    _, areas = ref.detector_map_dense(*twin_corners(det), np.array([0, 1e9]), -180, 360, 1)
    assert imap.bin_area.sum() == pytest.approx(det.n_pixels[0] * det.n_pixels[1], rel=1e-12)
    assert areas.min() > 0.5


def test_key_covers_every_distortion_coefficient_and_the_mask(det):
    opts = MapOptions()
    mask = np.zeros((det.n_pixels[1], det.n_pixels[0]), bool)
    base = map_key(detector=det.to_dict(), bins=BINS, options=opts, raw_frame_shape=mask.shape, mask=mask)
    assert base == map_key(detector=det.to_dict(), bins=BINS, options=opts, raw_frame_shape=mask.shape, mask=mask)
    keys = {base}
    for k in (5, 7, 8, 9, 10, 11, 12, 13, 14):
        dist = list(det.distortion)
        dist[k] += 1e-9
        d2 = dataclasses.replace(det, distortion=tuple(dist))
        keys.add(map_key(detector=d2.to_dict(), bins=BINS, options=opts, raw_frame_shape=mask.shape, mask=mask))
    m2 = mask.copy()
    m2[0, 0] = True
    keys.add(map_key(detector=det.to_dict(), bins=BINS, options=opts, raw_frame_shape=mask.shape, mask=m2))
    keys.add(map_key(detector=det.to_dict(), bins=BINS, options=MapOptions(solid_angle=True),
                     raw_frame_shape=mask.shape, mask=mask))
    assert len(keys) == 12


def test_cache_round_trip_and_rebuild_on_change(tmp_path, det):
    a = load_or_build_map(det, BINS, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    b = load_or_build_map(det, BINS, cache_dir=tmp_path)
    assert b.build_seconds == 0.0 and b.key == a.key
    for x, y in ((a.matrix.data, b.matrix.data), (a.matrix.indices, b.matrix.indices), (a.bin_area, b.bin_area)):
        assert x.tobytes() == y.tobytes()
    dist = list(det.distortion)
    dist[13] *= 2
    c = load_or_build_map(dataclasses.replace(det, distortion=tuple(dist)), BINS, cache_dir=tmp_path)
    assert c.key != a.key and c.build_seconds > 0
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert read_map_cache(files[0]).key == a.key


def test_map_from_corners_with_identity_geometry():
    """A flat, untilted detector: pixel (Y, Z) spans y ∈ −(Y ± ½ − bc), z ∈ (Z ± ½ − bc)."""
    n = 9
    bc = 4.0
    yy, zz = np.meshgrid(np.arange(n + 1) - 0.5, np.arange(n + 1) - 0.5)
    imap = build_map_from_corners(-(yy - bc), zz - bc, IntegrationBins.uniform_r(0, 0.5, 0.5, eta_bin_size_deg=90.0),
                                  lsd_px=1000.0, options=MapOptions(precision="float64"))
    # the circle of radius 0.5 lies inside the centre pixel: each quarter holds π/16
    np.testing.assert_allclose(imap.bin_area.ravel(), np.pi / 16, rtol=1e-13)
    assert set(imap.matrix.indices.tolist()) == {4 * n + 4}


def test_q_bins_follow_upstream_formula():
    from midas.params import parse_text

    p = parse_text("QMin 1.0\nQMax 3.0\nQBinSize 0.5\nWavelength 0.2\nEtaBinSize 90\n")
    bins = IntegrationBins.from_params(p, lsd_um=1e6, px_um=200.0)
    q = 1.0 + 0.5 * np.arange(5)
    want = (1e6 / 200.0) * np.tan(2 * np.arcsin(q * 0.2 / (4 * np.pi)))
    np.testing.assert_allclose(bins.r_edges_px, want, rtol=1e-14)
    assert bins.radial_unit == "q_inv_A" and bins.n_eta == 4
    # the Q of the mid-R of a bin is close to (not exactly) the mid-Q: upstream's REtaMap definition
    qc = bins.q_centres_inv_A(1e6, 200.0, 0.2)
    np.testing.assert_allclose(qc, 0.5 * (q[:-1] + q[1:]), rtol=1e-3)
    with pytest.raises(ParamError, match="RMax"):
        IntegrationBins.from_params(parse_text("RBinSize 1\n"), lsd_um=1e6, px_um=200.0)
