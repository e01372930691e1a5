"""Calibrant presets and ring lists (against NIST SRM 674b from pyFAI's calibrant file)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from midas.calibration.calibrants import (
    CALIBRANTS,
    Calibrant,
    calibrant_from_filename,
    calibrant_from_params,
    get_calibrant,
)
from midas.errors import ParamError
from midas.params import parse_text


def test_presets_and_names():
    assert get_calibrant("ceria") is CALIBRANTS["ceo2"]
    assert get_calibrant("LaB6").space_group == 221
    assert get_calibrant("corundum").lattice[2] == pytest.approx(12.99231)
    with pytest.raises(ParamError, match="presets"):
        get_calibrant("unobtainium")
    assert calibrant_from_filename("ceria_50x30_740mm_000005.hdf5").name == "CeO2"
    assert calibrant_from_filename("LaB6_40keV.tif").name == "LaB6"
    assert calibrant_from_filename("sample_0001.tif") is None


def test_calibrant_from_params_order():
    p = parse_text("SpaceGroup 227\nLatticeConstant 5.431 5.431 5.431 90 90 90\n")
    assert calibrant_from_params(p).space_group == 227
    assert calibrant_from_params(p, name="LaB6").name == "LaB6"  # the flag wins
    assert calibrant_from_params(None, data_path="x/CeO2_1.tif").name == "CeO2"
    with pytest.raises(ParamError, match="no calibrant"):
        calibrant_from_params(None, data_path="x/sample.tif")
    d = calibrant_from_params(parse_text("DSpacing 58.38\nDSpacing 29.19\n"))
    r = d.rings(1.0, 10.0)
    assert r.d_A.tolist() == [58.38, 29.19] and r.ring_nr.tolist() == [1, 2]


def test_ceo2_rings_match_srm674b():
    path = shared_path("real", "reference_calibrants", "pyfai_d_spacings", "CeO2.D")
    ref = np.array([float(line.split()[0]) for line in path.read_text().splitlines()
                    if line.strip() and not line.startswith("#")])
    rings = get_calibrant("CeO2").rings(0.2, 30.0)
    n = len(rings)
    np.testing.assert_allclose(rings.d_A, ref[:n], rtol=0, atol=6e-9)  # the file has 8 decimals
    assert rings.hkl[:3].tolist() == [[1, 1, 1], [2, 0, 0], [2, 2, 0]]
    np.testing.assert_allclose(rings.tan_tth, np.tan(2 * np.arcsin(0.2 / (2 * rings.d_A))), rtol=1e-12)


def test_invalid_calibrants():
    with pytest.raises(ParamError):
        Calibrant("x", 0, (1, 1, 1, 90, 90, 90))
    with pytest.raises(ParamError):
        Calibrant("x", 0, (1, 1, 1, 90, 90, 90), d_spacings_A=(1.0, -2.0))
    with pytest.raises(ParamError):
        get_calibrant("Si").rings(-1.0, 10.0)
