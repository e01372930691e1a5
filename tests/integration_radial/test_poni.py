"""pyFAI .poni ↔ MIDAS parameters (peers.md conversion), checked against pyFAI itself when present."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from midas.geometry import FFDetector, pixel_to_ideal
from midas.io.poni import (
    PoniGeometry,
    midas_to_poni,
    poni_to_ff_detector,
    poni_to_midas,
    read_poni,
    write_poni,
)


@settings(max_examples=80, deadline=None)
@given(lsd=st.floats(5e4, 2e6), bcy=st.floats(-200, 2200), bcz=st.floats(-200, 2200), px=st.floats(20, 300),
       tx=st.floats(-3, 3), ty=st.floats(-5, 5), tz=st.floats(-5, 5))
def test_round_trip(lsd, bcy, bcz, px, tx, ty, tz):
    g = midas_to_poni(lsd_um=lsd, bc_px=(bcy, bcz), px_um=px, tx_deg=tx, ty_deg=ty, tz_deg=tz, wavelength_A=0.5)
    d = poni_to_midas(g)
    assert d["Lsd"] == pytest.approx(lsd, rel=1e-12)
    assert d["BC"][0] == pytest.approx(bcy, abs=1e-7) and d["BC"][1] == pytest.approx(bcz, abs=1e-7)
    for k, v in (("tx", tx), ("ty", ty), ("tz", tz)):
        assert d[k] == pytest.approx(v, abs=1e-12)
    assert d["px"] == pytest.approx(px, rel=1e-14) and d["Wavelength"] == pytest.approx(0.5, rel=1e-14)


def test_file_round_trip_and_dioptas_file(tmp_path):
    g = PoniGeometry(0.21, 0.08, 0.09, -0.01, 0.004, 1e-6, 1.72e-4, 1.72e-4, 4.066e-11, shape=(1043, 981))
    write_poni(tmp_path / "a.poni", g)
    back = read_poni(tmp_path / "a.poni")
    assert back == g
    real = read_poni(shared_path("real", "dioptas_ceo2_pilatus1m", "CeO2_Pilatus1M.poni"))
    assert real.dist_m == 0.208651380603 and real.pixel1_m == 0.000172 and real.wavelength_m == 4.066e-11
    d = poni_to_midas(real, flipped_vertically=True, shape=(1043, 981))
    assert d["ImTransOpt"] == [2] and (d["NrPixelsY"], d["NrPixelsZ"]) == (981, 1043)
    # the beam centre is not (poni + ½px): the tilt moves it by several pixels
    assert abs(d["BC"][0] - (real.poni2_m / real.pixel2_m - 0.5)) > 5


def test_matches_pyfai_two_theta():
    pyFAI = pytest.importorskip("pyFAI", reason="pyFAI is an optional reference (pip install pyFAI)")
    try:
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    except ImportError:  # pyFAI < 2024.1
        from pyFAI.azimuthalIntegrator import AzimuthalIntegrator

    det = FFDetector(lsd_um=350_000.0, bc_px=(512.3, 480.9), pixel_size_um=(150.0, 150.0), tx_deg=0.7, ty_deg=-1.3,
                     tz_deg=2.1, n_pixels=(1024, 1000), rho_d_um=2e5)
    g = midas_to_poni(lsd_um=det.lsd_um, bc_px=det.bc_px, px_um=150.0, tx_deg=0.7, ty_deg=-1.3, tz_deg=2.1,
                      wavelength_A=0.3)
    ai = AzimuthalIntegrator(dist=g.dist_m, poni1=g.poni1_m, poni2=g.poni2_m, rot1=g.rot1_rad, rot2=g.rot2_rad,
                             rot3=g.rot3_rad, pixel1=g.pixel1_m, pixel2=g.pixel2_m, wavelength=g.wavelength_m)
    rng = np.random.default_rng(3)
    rows = rng.uniform(0, 1000, 500)
    cols = rng.uniform(0, 1024, 500)
    # pyFAI pixel indices (d1, d2) = (row, column); MIDAS (Y, Z) = (column, row); both count pixel centres
    tth_pyfai = ai.tth(rows, cols)  # pyFAI adds the half pixel itself
    tth_midas = np.radians(pixel_to_ideal(det, cols, rows).tth_deg)
    np.testing.assert_allclose(tth_midas, tth_pyfai, rtol=0, atol=1e-12)
    del pyFAI


def test_non_square_pixels_are_refused():
    from midas.errors import ParamError

    with pytest.raises(ParamError, match="square"):
        poni_to_midas(PoniGeometry(0.2, 0.1, 0.1, 0, 0, 0, 1e-4, 2e-4))


def test_poni_to_detector_needs_a_shape():
    from midas.errors import ParamError

    g = PoniGeometry(0.2, 0.1, 0.1, 0.01, 0.0, 0.0, 1e-4, 1e-4)
    with pytest.raises(ParamError, match="shape"):
        poni_to_ff_detector(g)
    det = poni_to_ff_detector(g, shape=(900, 1000))
    assert det.n_pixels == (1000, 900) and det.tz_deg == pytest.approx(-math.degrees(0.01))
