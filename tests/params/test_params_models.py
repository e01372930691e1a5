"""Typed views: FFParams, NFParams, CalibrationParams, IntegrationParams."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
from _params_strategies import CAL_TEXT, FF_TEXT
from midas.errors import ParamError, ParamWarning
from midas.params import (
    CalibrationParams,
    FFParams,
    IntegrationParams,
    MissingKeyError,
    NFParams,
    parse_text,
)


def parse(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParamWarning)
        return parse_text(text, source="Parameters.txt")


def test_ff_view_values() -> None:
    ff = FFParams.from_params(parse(FF_TEXT))
    assert ff.lattice == (3.6149, 3.6149, 3.6149, 90.0, 90.0, 90.0)
    assert ff.lsd_um == 1.2e6 and ff.bc_px == (498.6, 531.9) and ff.pixel_size_um == 400.0
    assert (ff.tx_deg, ff.ty_deg, ff.tz_deg) == (0.0, -0.42, 0.31)
    assert ff.distortion[:3] == (-0.0003, 0.00015, 0.0002) and ff.distortion[3:] == (0.0,) * 12
    assert len(ff.distortion) == 15
    assert ff.n_pixels == (1024, 1024) and ff.rho_d_um == 298774.29
    assert ff.omega_ranges_deg == ((-180.0, 180.0),)
    assert ff.box_sizes_um == ((-1e6, 1e6, -1e6, 1e6),)
    assert ff.ring_thresholds == ((1, 10.0), (2, 10.0))
    assert ff.min_eta_deg == 6.0 and ff.step_size_orient_deg == 0.2 and ff.margin_ome_deg == 0.5
    assert ff.use_friedel_pairs is True and ff.min_nr_spots == 3 and ff.completeness == 0.8
    assert ff.width_um == 1500.0 and ff.marg_abc_pct == 0.3  # registry defaults
    assert ff.omega_end_deg == -180.0 and ff.margin_eta_um is None


FF_REQUIRED = ["LatticeConstant", "Wavelength", "Lsd", "BC", "px", "NrPixels", "RhoD",
               "OmegaStart", "OmegaStep"]


@pytest.mark.parametrize("key", FF_REQUIRED)
def test_ff_view_missing_required_key(key: str) -> None:
    text = "".join(line + "\n" for line in FF_TEXT.splitlines() if line.split()[0] != key)
    with pytest.raises(ParamError) as exc:
        FFParams.from_params(parse(text))
    msg = str(exc.value)
    assert msg.startswith("Parameters.txt")
    assert key in msg
    assert isinstance(exc.value, MissingKeyError)


def test_views_are_frozen_slotted_and_round_trip_through_dicts() -> None:
    views = [
        FFParams.from_params(parse(FF_TEXT)),
        CalibrationParams.from_params(parse(CAL_TEXT)),
        IntegrationParams.from_params(parse(CAL_TEXT)),
        NFParams.from_params(parse(FF_TEXT.replace("Lsd 1200000", "nDistances 1\nLsd 5000"))),
    ]
    for v in views:
        assert not hasattr(v, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            v.lsd_um = 1.0  # type: ignore[misc]
        d = v.to_dict()
        assert type(v).from_dict(d) == v
        assert type(v).from_dict(json.loads(json.dumps(d))) == v
        with pytest.raises(TypeError, match="unknown fields"):
            type(v).from_dict({**d, "bogus": 1})


def test_nf_view() -> None:
    text = FF_TEXT.replace("Lsd 1200000\n", "nDistances 2\nLsd 8000\nDistance 9000.5\n").replace(
        "BC 498.6 531.9\n", "BC 1 2\nBC 3 4\n") + "GridSize 2.5\nRingsToUse 1\nRingsToUse 3\n"
    nf = NFParams.from_params(parse(text))
    assert nf.n_distances == 2 and nf.lsd_um == (8000.0, 9000.5)
    assert nf.bc_px == ((1.0, 2.0), (3.0, 4.0))
    assert nf.edge_length_um == 2.5  # EdgeLength defaults to GridSize
    assert nf.rings_to_use == (1, 3) and nf.min_eta_deg == 6.0 and nf.save_n_solutions == 1
    assert nf.min_frac_accept == 0.5
    # A single distance without nDistances is allowed.
    assert NFParams.from_params(parse(FF_TEXT)).n_distances == 1
    with pytest.raises(ParamError, match="needs a single Lsd"):
        FFParams.from_params(parse(text))


def test_nf_view_refuses_ambiguous_distances() -> None:
    text = FF_TEXT.replace("Lsd 1200000\n", "Lsd 8000\nLsd 9000\n")
    with pytest.warns(ParamWarning, match="'Lsd' is set 2 times"):
        p = parse_text(text, source="ps.txt")
    with pytest.raises(ParamError, match="ps.txt: 2 Lsd and 1 BC lines but no nDistances"):
        NFParams.from_params(p)


def test_calibration_view() -> None:
    cal = CalibrationParams.from_params(parse(CAL_TEXT))
    assert cal.n_pixels == (1475, 1679) and cal.im_trans_opt == (2,)
    assert cal.width_um == 800.0 and cal.r_max_px == 1200.0 and cal.eta_bin_size_deg == 1.0
    assert cal.rings_to_exclude == (21, 22, 22)
    assert cal.tol_distortion[4] == 1e-4
    assert cal.tol_distortion[:4] == (2e-3,) * 4 and cal.tol_distortion[5:] == (2e-3,) * 10
    assert cal.n_iterations == 30 and cal.outlier_iterations == 3 and cal.mult_factor == 2.0
    assert cal.n_panels == (6, 8) and cal.panel_size_px == (243, 195)
    assert cal.panel_gaps_y_px == (1, 7, 1, 7, 1) and cal.panel_gaps_z_px == (17,) * 7
    layout = cal.panel_layout()
    assert layout.n == 48 and layout.extent_px == (1475, 1679) and tuple(layout.bounds()[8]) == (244, 486, 0, 194)
    assert cal.fix_panel_id is None and cal.per_panel_lsd is False
    with_fit = CalibrationParams.from_params(parse(CAL_TEXT + "FixPanelID 12\nPerPanelLsd 1\ntolRotation 3\n"))
    assert with_fit.fix_panel_id == 12 and with_fit.per_panel_lsd and with_fit.tol_rotation_deg == 3.0
    assert cal.d_spacings_A == (58.38,) and cal.mask_file == "mask_upd.tif"
    assert cal.tol_wavelength_A == 1e-3 and cal.fit_wavelength is False
    assert cal.distortion[3] == 26.1


def test_integration_view() -> None:
    text = CAL_TEXT + ("DoPeakFit 0\nPeakLocation 100.5\nPeakLocation 220\nSolidAngleCorrection 1\n"
                       "QMin 0.5\nOmegaSumFrames 4\n")
    ip = IntegrationParams.from_params(parse(text))
    assert ip.do_peak_fit is False and ip.peak_locations_px == (100.5, 220.0)
    assert ip.solid_angle_correction is True and ip.polarization_correction is False
    assert ip.polarization_fraction == 0.99 and ip.normalize is True and ip.sum_images is False
    assert ip.q_min_inv_A == 0.5 and ip.q_max_inv_A is None and ip.omega_sum_frames == 4
    assert ip.r_min_px == 10.0 and ip.r_bin_size_px == 0.25 and ip.dark_file == "dark.tif"
    no_eta = "".join(x + "\n" for x in CAL_TEXT.splitlines() if not x.startswith("EtaMax"))
    with pytest.raises(MissingKeyError, match="'EtaMax' is missing"):
        IntegrationParams.from_params(parse(no_eta))


def test_detector_size_message() -> None:
    text = CAL_TEXT.replace("NrPixelsZ 1679\n", "")
    with pytest.raises(ParamError, match="give NrPixels, or NrPixelsY and NrPixelsZ"):
        CalibrationParams.from_params(parse(text))
