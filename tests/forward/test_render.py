"""The compiled frame renderer against its NumPy twin, thread counts and simple invariants."""

from __future__ import annotations

import numpy as np
import pytest
from midas._native import core
from midas._reference import forward as ref
from midas.errors import ParamError
from midas.parallel import threads

NY, NZ = 96, 80


def _contribs(rng: np.random.Generator, n_frames: int = 7, n: int = 60):
    frame = np.sort(rng.integers(0, n_frames, size=n))
    y = rng.uniform(-3, NY + 2, size=n)  # some footprints cross the edges
    z = rng.uniform(-3, NZ + 2, size=n)
    y[:10] = 40.3 + rng.normal(0, 1.0, 10)  # overlapping spots
    z[:10] = 30.8 + rng.normal(0, 1.0, 10)
    amp = rng.uniform(100, 5000, size=n)
    offsets = np.searchsorted(frame, np.arange(n_frames + 1)).astype(np.int64)
    return {"frame_offsets": offsets, "y_px": y, "z_px": z, "amplitude": amp}


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.3])
def test_float_frames_match_twin(rng, sigma):
    c = _contribs(rng)
    got = core().ff_render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=sigma, first_frame=2, n_out=4)
    want = ref.render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=sigma, first_frame=2, n_out=4)
    assert got.shape == (4, NZ, NY)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    assert got.sum() > 0


def test_int_frames_match_twin_and_scale(rng):
    c = _contribs(rng)
    peak = core().ff_max_pixel_value(**c, n_y=NY, n_z=NZ, sigma_px=1.0)
    full = core().ff_render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=1.0, first_frame=0, n_out=7)
    assert peak == full.max()
    out = np.empty((7, NZ, NY), np.int32)
    core().ff_render_frames_i32(**c, n_y=NY, n_z=NZ, sigma_px=1.0, first_frame=0, out_max=65000.0, peak_max=peak,
                                noise_sigma=0.0, seed=0, out=out)
    want = ref.render_frames_i32(**c, n_y=NY, n_z=NZ, sigma_px=1.0, first_frame=0, n_out=7, out_max=65000.0,
                                 peak_max=peak)
    assert out.max() == 65000
    assert np.abs(out.astype(np.int64) - want).max() <= 1  # last-ulp differences of exp may flip a truncation
    assert (out != want).mean() < 1e-3


def test_centroid_of_isolated_spot_is_its_position():
    y, z = 40.37, 33.81
    c = {"frame_offsets": np.array([0, 1], np.int64), "y_px": np.array([y]), "z_px": np.array([z]),
             "amplitude": np.array([1000.0])}
    f = core().ff_render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=1.5, first_frame=0, n_out=1)[0]
    zz, yy = np.mgrid[:NZ, :NY]
    assert abs((f * yy).sum() / f.sum() - y) < 1e-3
    assert abs((f * zz).sum() / f.sum() - z) < 1e-3
    # the footprint is ±ceil(4σ) around the rounded centre
    nz_rows, nz_cols = np.nonzero(f)
    assert nz_cols.min() == round(y) - 6 and nz_cols.max() == round(y) + 6
    assert nz_rows.min() == round(z) - 6 and nz_rows.max() == round(z) + 6


def test_one_and_two_threads_identical(rng):
    c = _contribs(rng, n_frames=12, n=400)
    res = []
    for n in (1, 2):
        with threads(n):
            out = np.empty((12, NZ, NY), np.int32)
            peak = core().ff_max_pixel_value(**c, n_y=NY, n_z=NZ, sigma_px=1.2)
            core().ff_render_frames_i32(**c, n_y=NY, n_z=NZ, sigma_px=1.2, first_frame=0, out_max=65000.0,
                                        peak_max=peak, noise_sigma=3.0, seed=7, out=out)
            f = core().ff_render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=1.2, first_frame=0, n_out=12)
            res.append((peak, out, f))
    assert res[0][0] == res[1][0]
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_array_equal(res[0][2], res[1][2])


def test_noise_is_deterministic_per_frame_and_gaussian(rng):
    c = {"frame_offsets": np.zeros(5, np.int64), "y_px": np.zeros(0), "z_px": np.zeros(0), "amplitude": np.zeros(0)}
    kw = {"n_y": NY, "n_z": NZ, "sigma_px": 1.0, "out_max": 65000.0, "peak_max": 1.0, "noise_sigma": 50.0}
    a = np.empty((4, NZ, NY), np.int32)
    core().ff_render_frames_i32(**c, **kw, first_frame=0, seed=11, out=a)
    b = np.empty((2, NZ, NY), np.int32)
    core().ff_render_frames_i32(**c, **kw, first_frame=2, seed=11, out=b)
    np.testing.assert_array_equal(a[2:], b)  # batching does not change the noise
    c2 = np.empty((4, NZ, NY), np.int32)
    core().ff_render_frames_i32(**c, **kw, first_frame=0, seed=12, out=c2)
    assert (a != c2).mean() > 0.4
    # clipped at 0 and truncated: half the pixels are 0; the positive half follows |N(0, 50)|
    assert abs((a == 0).mean() - 0.5) < 0.03
    pos = a[a > 0].astype(float) + 0.5
    assert abs(pos.mean() - 50 * np.sqrt(2 / np.pi)) < 2.0


def test_bad_inputs():
    c = {"frame_offsets": np.array([0, 2], np.int64), "y_px": np.zeros(1), "z_px": np.zeros(1), "amplitude": np.ones(1)}
    with pytest.raises(ParamError, match="frame_offsets"):
        core().ff_max_pixel_value(**c, n_y=NY, n_z=NZ, sigma_px=1.0)
    c["frame_offsets"] = np.array([0, 1], np.int64)
    with pytest.raises(ParamError, match="sigma_px"):
        core().ff_max_pixel_value(**c, n_y=NY, n_z=NZ, sigma_px=0.0)
    with pytest.raises(ParamError, match="outside"):
        core().ff_render_frames_f64(**c, n_y=NY, n_z=NZ, sigma_px=1.0, first_frame=1, n_out=1)
