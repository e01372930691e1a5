"""Writer: parse → write → parse round trips, atomic writes, from_mapping, with_values."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
from _params_strategies import GeneratedFile, same_value, valid_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from midas.errors import ParamError, ParamWarning
from midas.params import MidasParams, parse_text, read_params


def _quiet_parse(text: str, **kw) -> MidasParams:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParamWarning)
        return parse_text(text, **kw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=valid_files(), crlf=st.booleans())
def test_generated_valid_files_parse_to_expected_values_and_round_trip(
    g: GeneratedFile, crlf: bool
) -> None:
    text = g.text("\r\n" if crlf else "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParamWarning)
        p = parse_text(text, source="gen.txt")
    for key, value in g.expected.items():
        assert same_value(p.get(key), value), (key, p.get(key), value)
    assert set(p.keys()) == set(g.expected)
    # parse -> write -> parse, in both spellings, and through the resolved values
    for names in ("as_read", "canonical"):
        q = parse_text(p.to_text(names=names))
        assert q == p
        assert q.to_text(names=names) == p.to_text(names=names)
    r = MidasParams.from_mapping(dict(p.items()))
    assert r == p
    assert parse_text(r.to_text()) == p


def test_writer_formats_values_from_mapping_exactly() -> None:
    values = {
        "LatticeConstant": (4.08, 4.08, 4.08, 90, 90, 90),
        "Lsd": 1e6,
        "BC": np.array([1022.25, 1021.0]),
        "px": np.float64(200.0),
        "Wavelength": 0.1 + 0.2,  # 0.30000000000000004 must survive
        "SpaceGroup": np.int64(225),
        "RingThresh": [(1, 10), (2, 20.5)],
        "OmegaRange": (-180, 180),
        "BoxSize": np.array([[-1e6, 1e6, -1e6, 1e6]]),
        "ImTransOpt": [1, 2],
        "RingsToExclude": 3,
        "PanelGapsY": [1, 7, 1],
        "FileStem": Path("Au_FF"),
        "NrPixels": 2048,
        "p0": 1.5e-5,
        "Ice9Input": "",
    }
    p = MidasParams.from_mapping(values)
    assert p.to_text() == (
        "LatticeConstant 4.08 4.08 4.08 90.0 90.0 90.0\n"
        "Lsd 1000000.0\n"
        "BC 1022.25 1021.0\n"
        "px 200.0\n"
        "Wavelength 0.30000000000000004\n"
        "SpaceGroup 225\n"
        "RingThresh 1 10.0\n"
        "RingThresh 2 20.5\n"
        "OmegaRange -180.0 180.0\n"
        "BoxSize -1000000.0 1000000.0 -1000000.0 1000000.0\n"
        "ImTransOpt 1\n"
        "ImTransOpt 2\n"
        "RingsToExclude 3\n"
        "PanelGapsY 1 7 1\n"
        "FileStem Au_FF\n"
        "NrPixels 2048\n"
        "p0 1.5e-05\n"
        "Ice9Input \n"
    )
    assert parse_text(p.to_text()) == p
    assert p["Wavelength"] == 0.1 + 0.2 and p["RingThresh"] == [(1, 10.0), (2, 20.5)]


@pytest.mark.parametrize(
    "values,fragment",
    [
        ({"Lsd": "abc"}, "key 'Lsd' expects 1 number (µm), got 'abc' (not a number)"),
        ({"Lsd": float("nan")}, "not a finite number"),
        ({"BC": (1.0,)}, "key 'BC' expects 2 numbers: y z (px), got 1 values"),
        ({"SpaceGroup": 22.5}, "not an integer"),
        ({"SpaceGroup": 300}, "1..230"),
        ({"UseFriedelPairs": True}, "a bool"),
        ({"FileStem": "a b"}, "contains whitespace"),
        ({"FileStem": "#x"}, "starts with '#'"),
        ({"px": -1}, "key 'px' must be > 0"),
        ({"Lsd": [1.0, 2.0]}, "2 values given for 'Lsd' but no nDistances"),
        ({"OmegaRange": [(0, 1), (1, 2)], "BoxSize": [(0, 1, 0, 1)]}, "2 OmegaRange line(s)"),
        ({"nDistances": 2, "Lsd": [1.0, 2.0], "BC": (1, 1)}, "nDistances is 2 but the file has 1 BC"),
    ],
)
def test_from_mapping_errors(values: dict, fragment: str) -> None:
    with pytest.raises(ParamError) as exc:
        MidasParams.from_mapping(values, source="built.txt")
    assert fragment in str(exc.value)
    assert str(exc.value).startswith("built.txt")


def test_from_mapping_nf_and_unknown_keys() -> None:
    p = MidasParams.from_mapping(
        {"nDistances": 2, "Distance": [8289.15, 10290.72], "BC": [(985.4, 17.5), (985.2, 24.5)],
         "MaxRingRad": 2800}
    )
    assert p["Lsd"] == [8289.15, 10290.72] and p["BC"] == [(985.4, 17.5), (985.2, 24.5)]
    assert "Distance 8289.15\nDistance 10290.72\n" in p.to_text()
    assert "MaxRingRad 2800.0\n" in p.to_text() and "RhoD 2800.0\n" in p.to_text(names="canonical")
    with pytest.warns(ParamWarning) as rec:
        q = MidasParams.from_mapping({"Lsdd": 5, "Custom": (1, "a")})
    assert "unknown key 'Lsdd' (did you mean 'Lsd'?)" in str(rec[0].message)
    assert "unknown key 'Custom'" in str(rec[1].message)
    assert q["Lsdd"] == "5" and q.to_text() == "Lsdd 5\nCustom 1 a\n"
    with pytest.raises(ParamError, match="unknown key 'Lsdd'"):
        MidasParams.from_mapping({"Lsdd": 5}, strict=True)


def test_with_values_replaces_in_place_and_keeps_comments() -> None:
    p = parse_text("# geometry\nLsd 1000  # um\npx 200\nRingThresh 1 10\nRingThresh 2 10\n"
                   "# end\n", source="P.txt")
    q = p.with_values({"Lsd": 950.5, "RingThresh": [(3, 5)]}, Wavelength=0.2)
    assert q.to_text() == ("# geometry\nLsd 950.5\npx 200\nRingThresh 3 5.0\nWavelength 0.2\n"
                           "# end\n")
    assert q.source == p.source and p["Lsd"] == 1000.0  # p unchanged
    r = q.without("RingThresh", "px")
    assert r.to_text() == "# geometry\nLsd 950.5\nWavelength 0.2\n# end\n"
    with pytest.raises(ParamError, match="P.txt: key 'px' must be > 0"):
        p.with_values(px=0)
    # alias spelling kept on the replaced line
    s = parse_text("Distance 5\n").with_values(Lsd=6)
    assert s.to_text() == "Lsd 6.0\n" and s["Lsd"] == 6.0


def test_write_is_atomic_and_keeps_permissions(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "Parameters.txt"
    target.write_text("Lsd 1\n")
    os.chmod(target, 0o640)
    p = _quiet_parse("Lsd 2\npx 3\n")
    assert p.write(target) == target
    assert target.read_text() == "Lsd 2\npx 3\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(x.name for x in tmp_path.iterdir()) == ["Parameters.txt"]

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _quiet_parse("Lsd 99\n").write(target)
    assert target.read_text() == "Lsd 2\npx 3\n"  # old contents intact
    assert sorted(x.name for x in tmp_path.iterdir()) == ["Parameters.txt"]  # no temp left


def test_write_new_file_and_missing_folder(tmp_path: Path) -> None:
    p = _quiet_parse("Lsd 2\n")
    out = p.write(tmp_path / "new.txt")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert read_params(out) == p
    with pytest.raises(OSError):
        p.write(tmp_path / "missing" / "new.txt")
    with pytest.raises(ValueError, match="names must be one of"):
        p.to_text(names="pretty")
