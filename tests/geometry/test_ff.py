"""FF detector model: compiled kernels vs the NumPy twin, exact inverse, analytic Jacobian,
thread independence, errors, and upstream's tilted/distorted simulation (ff_cu_tilted)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from geometry_helpers import random_detector, twin_args
from hypothesis import given, settings
from hypothesis import strategies as st
from midas import parallel
from midas._reference import geometry as ref
from midas.errors import GeometryError, ParamError
from midas.geometry import (
    FFDetector,
    ideal_jacobian,
    ideal_to_pixel,
    pixel_grid_to_ideal,
    pixel_to_ideal,
)


def random_pixels(rng, n=4000, size=2048):
    return rng.uniform(-0.5, size - 0.5, n), rng.uniform(-0.5, size - 0.5, n)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("parallax", [False, True])
def test_pixel_to_ideal_matches_numpy_twin(seed, parallax):
    rng = np.random.default_rng(seed)
    det = random_detector(rng, parallax=parallax)
    y, z = random_pixels(rng)
    got = pixel_to_ideal(det, y, z, wavelength_A=0.2)
    want = ref.ff_pixel_to_ideal(**twin_args(det), y_px=y, z_px=z)
    # Same formulas through different arithmetic (degrees vs radians, matrix products):
    # agreement to a few ulps of the 3e5 µm radii.
    np.testing.assert_allclose(got.r_um, want["r_um"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.y_um, want["y_um"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got.z_um, want["z_um"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got.eta_deg, want["eta_deg"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.tth_deg, want["tth_deg"], rtol=1e-12, atol=0)
    q = 4 * np.pi / 0.2 * np.sin(np.radians(want["tth_deg"]) / 2)
    np.testing.assert_allclose(got.q_inv_A, q, rtol=1e-12)
    assert np.all((got.eta_deg > -180) & (got.eta_deg <= 180))


def test_untilted_undistorted_detector_is_the_plain_mapping():
    det = FFDetector(
        lsd_um=1e6, bc_px=(1022.0, 1022.0), pixel_size_um=(200.0, 200.0), rho_d_um=2e5
    )
    y = np.array([1022.0, 1022.0, 1122.0, 922.0, 1122.0])
    z = np.array([1122.0, 922.0, 1022.0, 1022.0, 1122.0])
    c = pixel_to_ideal(det, y, z)
    # Y → −y_lab, Z → +z_lab; η = 0 up, +90 at −y (larger column index)
    np.testing.assert_allclose(c.y_um, [0, 0, -20000, 20000, -20000], atol=1e-9)
    np.testing.assert_allclose(c.z_um, [20000, -20000, 0, 0, 20000], atol=1e-9)
    np.testing.assert_allclose(c.eta_deg, [0, 180, 90, -90, 45], atol=1e-12)
    np.testing.assert_allclose(
        c.tth_deg, np.degrees(np.arctan(np.hypot(c.y_um, c.z_um) / 1e6)), rtol=1e-14
    )
    at_bc = pixel_to_ideal(det, 1022.0, 1022.0)
    assert at_bc.r_um == 0.0 and at_bc.eta_deg == 0.0


@pytest.mark.parametrize("seed", [5, 6])
def test_ideal_to_pixel_matches_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    det = random_detector(rng)
    y_um = rng.uniform(-2.0e5, 2.0e5, 500)
    z_um = rng.uniform(-2.0e5, 2.0e5, 500)
    gy, gz = ideal_to_pixel(det, y_um, z_um)
    wy, wz = ref.ff_ideal_to_pixel(**twin_args(det), y_um=y_um, z_um=z_um)
    np.testing.assert_allclose(gy, wy, rtol=0, atol=1e-8)
    np.testing.assert_allclose(gz, wz, rtol=0, atol=1e-8)


_seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=_seeds, parallax=st.booleans())
def test_round_trip_pixel_ideal_pixel_anywhere(seed, parallax):
    """pixel → (R, η) → pixel within 1e-6 px over the whole detector (and a margin beyond it)."""
    rng = np.random.default_rng(seed)
    det = random_detector(rng, parallax=parallax)
    y, z = random_pixels(rng, n=2000, size=2048)
    y = np.concatenate(
        [y, [-40.0, 2100.0, det.bc_px[0], -40.0], np.full(4, det.bc_px[0])]
    )
    z = np.concatenate(
        [
            z,
            [-40.0, 2100.0, det.bc_px[1], 2100.0],
            det.bc_px[1] + np.array([0.0, 1e-7, -3.0, 5.0]),
        ]
    )
    c = pixel_to_ideal(det, y, z)
    yy, zz = ideal_to_pixel(det, r_um=c.r_um, eta_deg=c.eta_deg, strict=True)
    assert np.max(np.abs(yy - y)) <= 1e-6
    assert np.max(np.abs(zz - z)) <= 1e-6
    yy2, zz2 = ideal_to_pixel(det, c.y_um, c.z_um, strict=True)
    assert np.max(np.hypot(yy2 - y, zz2 - z)) <= 1e-6


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_analytic_jacobian_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    det = random_detector(rng, parallax=True)
    y, z = random_pixels(rng, n=300)
    jac = ideal_jacobian(det, y, z)
    h = 1e-3
    fd = np.empty_like(jac)
    for col, (dy, dz) in enumerate([(h, 0.0), (0.0, h)]):
        plus = pixel_to_ideal(det, y + dy, z + dz)
        minus = pixel_to_ideal(det, y - dy, z - dz)
        fd[:, 0, col] = (plus.y_um - minus.y_um) / (2 * h)
        fd[:, 1, col] = (plus.z_um - minus.z_um) / (2 * h)
    # Central differences: truncation O(h²·f''') and rounding ~eps·3e5 µm / h ≈ 1e-7 µm/px,
    # against entries of ~200 µm/px.
    np.testing.assert_allclose(jac, fd, rtol=0, atol=2e-6)
    # and the Jacobian is not trivially the flat one (tilt + distortion couple y and z)
    assert np.max(np.abs(jac[:, 0, 1])) > 1e-3


def test_jacobian_at_the_beam_centre_is_finite():
    det = random_detector(np.random.default_rng(11))
    jac = ideal_jacobian(det, det.bc_px[0], det.bc_px[1])
    assert np.all(np.isfinite(jac))
    assert jac.shape == (2, 2)


def test_pixel_grid_matches_pointwise_and_twin():
    rng = np.random.default_rng(12)
    det = dataclasses.replace(random_detector(rng), n_pixels=(300, 200))
    r, eta = pixel_grid_to_ideal(det)
    assert r.shape == (200, 300) and eta.shape == (200, 300)
    zz, yy = np.mgrid[0:200, 0:300].astype(np.float64)
    c = pixel_to_ideal(det, yy, zz)
    np.testing.assert_array_equal(r, c.r_um)
    np.testing.assert_array_equal(eta, c.eta_deg)
    want = ref.ff_pixel_to_ideal(**twin_args(det), y_px=yy, z_px=zz)
    np.testing.assert_allclose(r, want["r_um"], rtol=1e-12)


def test_results_identical_for_1_and_2_threads():
    rng = np.random.default_rng(13)
    det = random_detector(rng, parallax=True)
    y, z = random_pixels(rng, n=50_000)
    out = {}
    for n in (1, 2):
        with parallel.threads(n):
            c = pixel_to_ideal(det, y, z)
            inv = ideal_to_pixel(det, c.y_um, c.z_um)
            r, eta = pixel_grid_to_ideal(dataclasses.replace(det, n_pixels=(256, 256)))
            jac = ideal_jacobian(det, y[:1000], z[:1000])
        out[n] = [c.r_um, c.eta_deg, c.y_um, c.z_um, inv[0], inv[1], r, eta, jac]
    for a, b in zip(out[1], out[2]):
        assert a.tobytes() == b.tobytes()


def test_no_solution_gives_nan_or_raises():
    det = FFDetector(
        lsd_um=1e6,
        bc_px=(1024.0, 1024.0),
        pixel_size_um=(200.0, 200.0),
        ty_deg=60.0,
        rho_d_um=2e5,
    )
    # a pixel whose tilted position lies behind the sample plane (Lsd + X' <= 0)
    c = pixel_to_ideal(det, 1024.0, 1024.0 - 1e4)
    assert np.isnan(c.r_um) and np.isnan(c.y_um)
    y, z = ideal_to_pixel(det, [0.0, np.inf], [1e4, 0.0])
    assert np.isfinite(y[0]) and np.isnan(y[1]) and np.isnan(z[1])
    with pytest.raises(GeometryError, match="1 of 2 points"):
        ideal_to_pixel(det, [0.0, np.inf], [1e4, 0.0], strict=True)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"lsd_um": 0.0}, "lsd_um = 0"),
        ({"lsd_um": -5.0}, "lsd_um = -5"),
        ({"pixel_size_um": (200.0, 0.0)}, "pixel_size_um"),
        ({"rho_d_um": float("nan")}, "rho_d_um"),
        ({"distortion": (0.0,) * 14}, "expected 15"),
        ({"tx_deg": float("inf")}, "tx_deg"),
        ({"im_trans_opt": (0, 4)}, "im_trans_opt"),
        ({"n_pixels": (0, 2048)}, "n_pixels"),
    ],
)
def test_invalid_detector_raises_geometry_error(change, match):
    good = {
        "lsd_um": 1e6,
        "bc_px": (1024.0, 1024.0),
        "pixel_size_um": (200.0, 200.0),
        "rho_d_um": 2e5,
    }
    with pytest.raises(GeometryError, match=match):
        FFDetector(**{**good, **change})


def test_rho_d_may_be_omitted_only_without_distortion():
    base = {
        "lsd_um": 1e6,
        "bc_px": (1000.0, 1020.0),
        "pixel_size_um": (200.0, 200.0),
        "n_pixels": (2048, 2048),
    }
    det = FFDetector(**base)
    assert det.rho_d_um == pytest.approx(np.hypot(1047.0, 1027.0) * 200.0)
    with pytest.raises(GeometryError, match="RhoD"):
        FFDetector(**base, distortion=(1e-4,) + (0.0,) * 14)


def test_kernel_rejects_invalid_detector_without_the_dataclass():
    from midas._native import core

    with pytest.raises(GeometryError, match="lsd_um = -1"):
        core().FFDetectorKernel(
            lsd_um=-1.0,
            bc_y_px=0,
            bc_z_px=0,
            px_y_um=1,
            px_z_um=1,
            tx_rad=0,
            ty_rad=0,
            tz_rad=0,
            p=[0.0] * 15,
            rho_d_um=1.0,
            parallax_um=0.0,
        )


def test_shape_handling_and_argument_errors():
    det = FFDetector(
        lsd_um=1e6, bc_px=(1024.0, 1024.0), pixel_size_um=(200.0, 200.0), rho_d_um=2e5
    )
    c = pixel_to_ideal(det, np.zeros((3, 4)), 5.0)
    assert c.r_um.shape == (3, 4) and c.q_inv_A is None
    assert ideal_jacobian(det, np.zeros((2, 3)), 0.0).shape == (2, 3, 2, 2)
    with pytest.raises(ParamError, match="do not broadcast"):
        pixel_to_ideal(det, np.zeros(3), np.zeros(4))
    with pytest.raises(ParamError, match="either"):
        ideal_to_pixel(det, [1.0], [1.0], r_um=[1.0], eta_deg=[0.0])
    with pytest.raises(ParamError, match="either"):
        ideal_to_pixel(det, [1.0])
    with pytest.raises(ParamError, match="wavelength"):
        pixel_to_ideal(det, 0.0, 0.0, wavelength_A=-1.0)


def test_from_params_plain_dict_and_errors():
    p = {
        "Lsd": 1200000.0,
        "BC": (498.6, 531.9),
        "px": 400.0,
        "tx": 0.0,
        "ty": -0.42,
        "tz": 0.31,
        "p0": -3e-4,
        "p1": 1.5e-4,
        "p2": 2e-4,
        "RhoD": 298774.29,
        "NrPixels": 1024,
        "ImTransOpt": [0],
    }
    det = FFDetector.from_params(p)
    assert (
        det.lsd_um == 1.2e6
        and det.bc_px == (498.6, 531.9)
        and det.pixel_size_um == (400.0, 400.0)
    )
    assert (
        det.ty_deg == -0.42
        and det.distortion[:3] == (-3e-4, 1.5e-4, 2e-4)
        and det.distortion[3:] == (0.0,) * 12
    )
    assert det.n_pixels == (1024, 1024) and det.im_trans_opt == (0,)
    assert FFDetector.from_dict(det.to_dict()) == det
    with pytest.raises(ParamError, match="'Lsd' is required"):
        FFDetector.from_params({k: v for k, v in p.items() if k != "Lsd"})
    with pytest.raises(ParamError, match="'RhoD' is required"):
        FFDetector.from_params({k: v for k, v in p.items() if k != "RhoD"})
    with pytest.raises(ParamError, match="'BC'"):
        FFDetector.from_params({**p, "BC": (1.0, 2.0, 3.0)})
    with pytest.raises(ParamError, match="'px'"):
        FFDetector.from_params({**p, "px": "abc"})
    # no distortion: RhoD may be omitted (no effect), set to the farthest corner pixel distance
    nod = {k: v for k, v in p.items() if k not in ("RhoD", "p0", "p1", "p2")}
    d2 = FFDetector.from_params(nod)
    assert d2.rho_d_um == pytest.approx(np.hypot(1023 - 498.6, 531.9) * 400.0)
    with pytest.raises(GeometryError, match="lsd_um"):
        FFDetector.from_params({**p, "Lsd": -1.0})


# ---------------------------------------------------------------------------------------------
# upstream's tilted + distorted forward simulation (see ff_cu_tilted/README.md)


def _cu_tilted_ideal_points():
    from conftest import shared_path

    d = shared_path("upstream_sim", "ff_cu_tilted")
    spots = np.loadtxt(d / "SpotMatrixGen.csv", skiprows=1)
    grains = np.loadtxt(d / "GrainsSim.csv", skiprows=9)
    lsd = 1_200_000.0
    gid = spots[:, 0].astype(int)
    omega = np.radians(spots[:, 2])
    eta = np.radians(spots[:, 6])
    theta = np.radians(spots[:, 10])
    r = lsd * np.tan(2 * theta)
    yi, zi = -r * np.sin(eta), r * np.cos(eta)
    # grain position rotated by ω, then upstream's DisplacementInTheSpot: the line from it through
    # the ideal point (Lsd, yi, zi), taken at x = 0, is added to the ideal point
    a, b, c = grains[gid - 1, 10], grains[gid - 1, 11], grains[gid - 1, 12]
    xc = a * np.cos(omega) - b * np.sin(omega)
    yc = a * np.sin(omega) + b * np.cos(omega)
    ik = np.stack([lsd - xc, yi - yc, zi - c])
    y = yi + yc - xc * ik[1] / ik[0]
    z = zi + c - xc * ik[2] / ik[0]
    return d, spots, y, z


@pytest.mark.shared
def test_cu_tilted_displaced_radius_matches_ringrad():
    _, spots, y, z = _cu_tilted_ideal_points()
    assert len(spots) == 864
    # 0.03 µm: Theta is printed with 6 decimals (5e-7°), i.e. ±0.021 µm in R at 2θ ≈ 10°
    assert np.max(np.abs(np.hypot(y, z) - spots[:, 13])) < 0.03


@pytest.mark.shared
def test_cu_tilted_spots_reproduced_to_0_01_px():
    d, spots, y, z = _cu_tilted_ideal_points()
    params = {}
    for line in (d / "Parameters.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            params.setdefault(parts[0], []).append(parts[1:])
    flat = {k: (v[-1] if len(v[-1]) > 1 else v[-1][0]) for k, v in params.items()}
    det = FFDetector.from_params(flat)
    assert det.ty_deg == -0.42 and det.tz_deg == 0.31 and det.distortion[1] == 1.5e-4

    def err(detector):
        py, pz = ideal_to_pixel(detector, y, z, strict=True)
        return np.hypot(py - spots[:, 3], pz - spots[:, 4])

    e = err(det)
    # upstream's simulator uses a per-pixel lookup inverse: 0.0035 px max against the exact model
    assert e.max() < 0.01, f"max {e.max():.4f} px"
    assert np.median(e) < 0.002
    wrong = {
        "ty sign flipped": dataclasses.replace(det, ty_deg=0.42),
        "tz sign flipped": dataclasses.replace(det, tz_deg=-0.31),
        "ty and tz swapped": dataclasses.replace(det, ty_deg=0.31, tz_deg=-0.42),
        "no distortion": dataclasses.replace(det, distortion=(0.0,) * 15),
        "p1 sign flipped": dataclasses.replace(
            det, distortion=(-3e-4, -1.5e-4, 2e-4) + (0.0,) * 12
        ),
    }
    for name, variant in wrong.items():
        assert err(variant).max() > 0.01, f"{name} should not reproduce the spots"
