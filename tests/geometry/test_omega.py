"""ω helpers: frame labels, wrapping, timing correction and wedge vs the NumPy twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas import parallel
from midas._reference import geometry as ref
from midas.errors import GeometryError, ParamError
from midas.geometry import omega


def test_frame_labels_centre_and_start():
    k = np.arange(1440)
    centre = omega.frame_to_omega(k, 180.0, -0.25)
    start = omega.frame_to_omega(k, 180.0, -0.25, label="start")
    np.testing.assert_array_equal(
        centre, ref.frame_to_omega_deg(k, 180.0, -0.25, centre=True)
    )
    np.testing.assert_array_equal(
        start, ref.frame_to_omega_deg(k, 180.0, -0.25, centre=False)
    )
    # upstream's start label is half a step (+0.125° here) above the frame centre
    np.testing.assert_allclose(start - centre, 0.125, atol=1e-12)
    # inverse (same label) and the label-free frame index
    np.testing.assert_allclose(omega.omega_to_frame(centre, 180.0, -0.25), k, atol=1e-9)
    np.testing.assert_allclose(
        omega.omega_to_frame(start, 180.0, -0.25, label="start"), k, atol=1e-9
    )
    np.testing.assert_array_equal(omega.omega_to_frame_index(centre, 180.0, -0.25), k)
    # frame boundaries are exact in degrees: ω = 179.75 starts frame 1
    assert omega.omega_to_frame_index(
        [179.75, 179.7500001, 179.7499999], 180.0, -0.25
    ).tolist() == [1, 0, 1]


def test_frame_index_of_upstream_simulated_spots():
    """Upstream's simulator puts ω into frame floor((ω − start)/step) (omeBin column)."""
    from conftest import shared_path

    spots = np.loadtxt(
        shared_path("upstream_sim", "ff_cu_tilted", "SpotMatrixGen.csv"), skiprows=1
    )
    got = omega.omega_to_frame_index(spots[:, 2], 180.0, -0.25)
    np.testing.assert_array_equal(got, spots[:, 14].astype(np.int64))


def test_wrap_matches_twin():
    a = np.concatenate(
        [
            np.random.default_rng(1).uniform(-1000, 1000, 10000),
            [-540, -180, 0, 180, 360, 540],
        ]
    )
    got = omega.wrap_deg(a)
    np.testing.assert_allclose(got, ref.wrap_deg(a), atol=1e-12)
    assert np.all((got > -180) & (got <= 180))
    assert omega.wrap_deg([-180.0, 180.0]).tolist() == [180.0, 180.0]


def test_timing_correction_matches_twin_and_formula():
    rng = np.random.default_rng(2)
    w = rng.uniform(-180, 180, 5000)
    z = rng.uniform(0, 2048, 5000)
    got = omega.timing_corrected_omega(
        w, z, n_z=2048, omega_step_deg=-0.25, t_int_s=0.3, t_gap_s=0.15
    )
    np.testing.assert_allclose(
        got, ref.timing_correct_deg(w, z, 2048, -0.25, 0.3, 0.15), atol=1e-12
    )
    # centre row: full correction (1/3 of a step); edge rows: none
    c = omega.timing_corrected_omega(
        [10.0, 10.0, 10.0],
        [1024.0, 0.0, 2048.0],
        n_z=2048,
        omega_step_deg=-0.25,
        t_int_s=0.3,
        t_gap_s=0.15,
    )
    np.testing.assert_allclose(c, [10.0 + 0.25 / 3, 10.0, 10.0], atol=1e-12)
    with pytest.raises(ParamError, match="tInt"):
        omega.timing_corrected_omega(
            [0.0], [0.0], n_z=2048, omega_step_deg=-0.25, t_int_s=0.0, t_gap_s=0.0
        )


def _random_events(rng, n):
    return rng.uniform(-180, 180, n), rng.uniform(3, 25, n), rng.uniform(-180, 180, n)


@pytest.mark.parametrize("wedge", [0.05, -0.3, 2.0])
def test_wedge_matches_twin(wedge):
    rng = np.random.default_rng(3)
    eta, tth, w = _random_events(rng, 60)
    w1, e1 = omega.apply_wedge(eta, tth, w, wedge)
    w0, e0 = omega.correct_wedge(eta, tth, w, wedge)
    n_solved = 0
    for i in range(len(eta)):
        for (wo, eo), want in (
            ((w1[i], e1[i]), ref.wedge_apply_deg(eta[i], tth[i], w[i], wedge)),
            ((w0[i], e0[i]), ref.wedge_correct_deg(eta[i], tth[i], w[i], wedge)),
        ):
            if (
                want is None
            ):  # g too close to the rotation axis: no solution in either implementation
                assert np.isnan(wo) and np.isnan(eo)
                continue
            n_solved += 1
            assert (
                abs(ref.wrap_deg(wo - want[0])) < 1e-9
                and abs(ref.wrap_deg(eo - want[1])) < 1e-9
            )
    assert n_solved >= 110


@settings(max_examples=60, deadline=None)
@given(
    # |η| in [10°, 170°]: away from the rotation axis, where a solution always exists for |W| ≤ 3°
    eta=st.floats(10.0, 170.0),
    eta_sign=st.sampled_from([-1.0, 1.0]),
    tth=st.floats(1.0, 40.0),
    w=st.floats(-180.0, 180.0),
    wedge=st.floats(-3.0, 3.0),
)
def test_wedge_round_trip_and_bragg_condition(eta, eta_sign, tth, w, wedge):
    eta *= eta_sign
    w1, e1 = omega.apply_wedge(eta, tth, w, wedge, strict=True)
    # the wedged event satisfies Bragg in the model G_lab = Ry(−W)·Rz(ω)·g
    g = ref.rot_z(np.radians(-w)) @ ref.g_lab_unit(eta, tth)
    lab = ref.rot_y(np.radians(-wedge)) @ ref.rot_z(np.radians(float(w1))) @ g
    assert abs(lab[0] + np.sin(np.radians(tth / 2))) < 1e-12
    assert abs(ref.wrap_deg(ref.calc_eta_deg(lab[1], lab[2]) - float(e1))) < 1e-8
    # and correct_wedge undoes it
    w0, e0 = omega.correct_wedge(float(e1), tth, float(w1), wedge, strict=True)
    assert abs(ref.wrap_deg(float(w0) - w)) < 1e-8
    assert abs(ref.wrap_deg(float(e0) - eta)) < 1e-8


def test_zero_wedge_is_identity_and_sign_convention():
    eta, tth, w = _random_events(np.random.default_rng(4), 500)
    w1, e1 = omega.apply_wedge(eta, tth, w, 0.0)
    np.testing.assert_allclose(ref.wrap_deg(w1 - w), 0, atol=1e-9)
    np.testing.assert_allclose(ref.wrap_deg(e1 - eta), 0, atol=1e-9)
    # first order: ω1 − ω0 ≈ −W·ĝz/ĝy with ĝ = (−sinθ, −cosθ sin η, cosθ cos η) the no-wedge lab
    # vector, i.e. +W·cot η: at η = 45° a positive wedge increases ω by W
    w1, _ = omega.apply_wedge(45.0, 10.0, 0.0, 0.01)
    assert float(w1) == pytest.approx(0.01, rel=2e-3)


def test_wedge_no_solution_and_errors():
    # a g-vector nearly along the rotation axis cannot reach the Bragg condition once tilted
    w1, e1 = omega.apply_wedge(0.0, 2.0, 0.0, 5.0)
    assert np.isnan(w1) and np.isnan(e1)
    with pytest.raises(GeometryError, match="no solution"):
        omega.apply_wedge([0.0], [2.0], [0.0], 5.0, strict=True)
    with pytest.raises(GeometryError, match="wedge_deg"):
        omega.apply_wedge([0.0], [2.0], [0.0], 95.0)
    with pytest.raises(ParamError, match="OmegaStep"):
        omega.frame_to_omega([0], 180.0, 0.0)
    with pytest.raises(ParamError, match="label"):
        omega.frame_to_omega([0], 180.0, 0.25, label="middle")


def test_omega_kernels_identical_for_1_and_2_threads():
    rng = np.random.default_rng(5)
    eta, tth, w = _random_events(rng, 30_000)
    res = {}
    for n in (1, 2):
        with parallel.threads(n):
            res[n] = (
                omega.apply_wedge(eta, tth, w, 0.7)
                + omega.correct_wedge(eta, tth, w, 0.7)
                + (omega.wrap_deg(w * 7), omega.frame_to_omega(w, 3.0, 0.1))
            )
    for a, b in zip(res[1], res[2]):
        assert a.tobytes() == b.tobytes()
