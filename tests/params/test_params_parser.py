"""Parsing rules: aliases, repeats, comments, semicolons, NF distances, warnings, errors, checks."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from _params_strategies import sample_tokens
from midas.errors import ParamError, ParamWarning
from midas.params import (
    REGISTRY,
    FFParams,
    MidasParams,
    MissingKeyError,
    closest_key,
    parse_bytes,
    parse_text,
    read_params,
)


def parse(text: str, **kw):
    """Parse ``text`` as ``Parameters.txt``, failing on any ParamWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParamWarning)
        return parse_text(text, source="Parameters.txt", **kw)


# ---- aliases --------------------------------------------------------------------------------

ALIASES = [(alias, spec) for spec in REGISTRY.values() for alias in spec.aliases]


@pytest.mark.parametrize("alias,spec", ALIASES, ids=[a for a, _ in ALIASES])
def test_every_alias_reads_into_its_canonical_key(alias, spec) -> None:
    line = " ".join([alias, *sample_tokens(spec)])
    p = parse(line + "\n")
    q = parse(" ".join([spec.name, *sample_tokens(spec)]) + "\n")
    assert p == q
    assert spec.name in p and alias in p
    assert p[alias] == p[spec.name] == q[spec.name]
    assert p.entries[0].spelling == alias and p.entries[0].key == spec.name
    assert p.to_text() == line + "\n"
    assert p.to_text(names="canonical").startswith(spec.name + " ")


def test_named_aliases_from_upstream() -> None:
    with pytest.warns(ParamWarning, match="'Lsd' is set 2 times"):
        p = parse_text(
            "Distance 1000;\nLatticeParameter 4 4 4 90 90 90;\nMaxRingRad 2800\n"
            "ExcludePoleAngle 6\nStepsizeOrient 0.2\nRingsToReject 3\nPixelSize 200\nSGNr 194\n"
            "MarginOmega 0.5\nDoPeakFit 0\ndarkLoc exchange/dark2\ndataLoc exchange/data2\n"
            "RefinementFileName x.csv\n"
            "DetDist 1200\n"
        )
    assert p["Lsd"] == 1200.0  # DetDist overrides Distance (last wins)
    assert p["LatticeConstant"] == (4.0, 4.0, 4.0, 90.0, 90.0, 90.0)
    assert p["RhoD"] == 2800.0 and p["MinEta"] == 6.0 and p["StepSizeOrient"] == 0.2
    assert p["RingsToExclude"] == [3] and p["px"] == 200.0 and p["SpaceGroup"] == 194
    assert p["MarginOme"] == 0.5 and p["doPeakFit"] == 0
    assert p["darkDataset"] == "exchange/dark2" and p["dataDataset"] == "exchange/data2"
    assert p["InFileName"] == "x.csv"


def test_keys_are_case_sensitive_and_prefix_exact() -> None:
    with pytest.warns(ParamWarning, match=r"unknown key 'lsd' \(did you mean 'Lsd'\?\)"):
        p = parse_text("lsd 100\n")
    assert "Lsd" not in p and p.get("lsd") == "100"
    with pytest.warns(ParamWarning, match="'NrPixelsX'"):
        p = parse_text("NrPixelsX 100\n")
    assert "NrPixels" not in p


# ---- repeats ---------------------------------------------------------------------------------

def test_repeated_keys_accumulate_in_file_order() -> None:
    p = parse(
        "RingThresh 2 10\nImTransOpt 1\nRingThresh 1 20.5\nImTransOpt 2\nRingsToExclude 5\n"
        "RingsToReject 7\nRingsToExclude 5\nOmegaRange -180 0\nOmegaRange 0 180\n"
        "BoxSize -1 1 -2 2\nBoxSize -3 3 -4 4\nRingNumbers 1\nRingRadii 1000\nDSpacing 3.1\n"
        "DetParams 1 2 3 4 5 6 7 8 9 10\nPeakLocation 100.5\nPeakLocation 200\n"
        "GridPoints 1 2 3 4 5 6 7 8 9 10 11 12\nRingsToUse 3\n"
    )
    assert p["RingThresh"] == [(2, 10.0), (1, 20.5)]
    assert p["ImTransOpt"] == [1, 2]
    assert p["RingsToExclude"] == [5, 7, 5]  # duplicates kept, as upstream
    assert p["OmegaRange"] == [(-180.0, 0.0), (0.0, 180.0)]
    assert p["BoxSize"] == [(-1.0, 1.0, -2.0, 2.0), (-3.0, 3.0, -4.0, 4.0)]
    assert p["RingNumbers"] == [1] and p["RingRadii"] == [1000.0] and p["DSpacing"] == [3.1]
    assert p["DetParams"] == [tuple(float(x) for x in range(1, 11))]
    assert p["PeakLocation"] == [100.5, 200.0] and p["RingsToUse"] == [3]
    assert p["GridPoints"] == [tuple(float(x) for x in range(1, 13))]
    assert p.line_of("RingThresh") == 1 and p.lines_of("RingThresh") == [1, 3]
    got = p["BoxSize"]
    got.append((0.0, 0.0, 0.0, 0.0))  # callers get copies: p stays unchanged
    assert len(p["BoxSize"]) == 2 and len(dict(p.items())["BoxSize"]) == 2


def test_absent_repeated_key_reads_as_empty_list() -> None:
    p = parse("Lsd 1\n")
    assert p.get("RingThresh") == [] and "RingThresh" not in p
    with pytest.raises(MissingKeyError, match="'RingThresh' is missing"):
        p["RingThresh"]


def test_single_key_repeated_last_wins_with_warning() -> None:
    with pytest.warns(ParamWarning) as rec:
        p = parse_text("Lsd 1000\npx 200\nLsd 2000\n", source="P.txt")
    assert p["Lsd"] == 2000.0 and p.get_all("Lsd") == [1000.0, 2000.0] and p.line_of("Lsd") == 3
    msg = str(rec[0].message)
    assert "P.txt line 3" in msg and "'Lsd'" in msg and "lines 1, 3" in msg and "'2000'" in msg
    # The same value twice is not worth a warning.
    parse("Lsd 1000\nLsd 1000.0\n")


# ---- comments, semicolons, whitespace ---------------------------------------------------------

def test_comments_and_inline_comments() -> None:
    p = parse(
        "# whole line\n   # indented comment\n\n#Lsd 5\nLsd 100  # um, the distance\n"
        "BC 1 2 #no space\nWavelength 0.2\t# tab before\nFileStem a#b\n"
    )
    assert p["Lsd"] == 100.0 and p["BC"] == (1.0, 2.0) and p["Wavelength"] == 0.2
    assert p["FileStem"] == "a#b"  # '#' inside a token is not a comment
    assert p.entries[0].comments_before == ("# whole line", "   # indented comment", "", "#Lsd 5")
    with pytest.raises(ParamError, match=r"line 1: key 'Lsd' expects 1 number .*'100#c'"):
        parse("Lsd 100#c\n")


def test_trailing_semicolons_on_numbers() -> None:
    p = parse("MaxRingRad 204800.000000;\nBC 1 2;\nRingNumbers 3 ;\nSpaceGroup 225;\n"
              "OutputFolder out;\n")
    assert p["RhoD"] == 204800.0 and p["BC"] == (1.0, 2.0) and p["RingNumbers"] == [3]
    assert p["SpaceGroup"] == 225
    assert p["OutputFolder"] == "out;"  # strings keep it, as upstream's %s does
    with pytest.raises(ParamError, match="'1;'"):
        parse("Lsd 1;;\n")


def test_tabs_crlf_and_extra_blanks() -> None:
    p = parse("Lsd\t1000\r\nBC  1022\t 1022 \r\n\r\n")
    assert p["Lsd"] == 1000.0 and p["BC"] == (1022.0, 1022.0)
    assert p.to_text() == "Lsd\t1000\nBC  1022\t 1022 \n\n"


def test_indented_key_warns_and_strict_refuses() -> None:
    with pytest.warns(ParamWarning, match="line 2: key 'px' is indented"):
        p = parse_text("Lsd 1\n  px 200\n")
    assert p["px"] == 200.0
    assert p.to_text() == "Lsd 1\npx 200\n"  # written where upstream will see it
    with pytest.raises(ParamError, match="indented"):
        parse_text("  px 200\n", strict=True)


def test_bom_is_dropped_with_warning() -> None:
    with pytest.warns(ParamWarning, match="byte-order mark"):
        p = parse_bytes("\ufeffLsd 5\n".encode())
    assert p["Lsd"] == 5.0


# ---- unknown keys ----------------------------------------------------------------------------

def test_unknown_key_warns_with_suggestion_and_is_kept() -> None:
    with pytest.warns(ParamWarning) as rec:
        p = parse_text("Lsd 1\nOmegaStpe -0.25\nMyOwnKey a b  # note\n", source="Parameters.txt")
    msgs = [str(r.message) for r in rec]
    assert msgs[0].startswith("Parameters.txt line 2: unknown key 'OmegaStpe' (did you mean "
                              "'OmegaStep'?)")
    assert "line 3: unknown key 'MyOwnKey'" in msgs[1]
    assert p.unknown_keys() == ("OmegaStpe", "MyOwnKey")
    assert p["MyOwnKey"] == "a b" and p.get("OmegaStep") is None
    assert "MyOwnKey a b  # note\n" in p.to_text()


def test_unknown_key_strict_raises() -> None:
    with pytest.raises(ParamError, match=r"P.txt line 1: unknown key 'Lsdd' \(did you mean 'Lsd'\?\)"):
        parse_text("Lsdd 100\n", source="P.txt", strict=True)


def test_closest_key() -> None:
    assert closest_key("omegastep") == "OmegaStep"
    assert closest_key("LatticeParamter") == "LatticeParameter"
    assert closest_key("zzzzzzzzzzzz") is None


# ---- malformed values ------------------------------------------------------------------------

def test_error_message_names_file_line_key_value_and_expectation() -> None:
    with pytest.raises(ParamError) as exc:
        parse("\n" * 11 + "Lsd abc\n")
    assert str(exc.value).startswith("Parameters.txt line 12: key 'Lsd' expects 1 number (µm), "
                                     "got 'abc'")


@pytest.mark.parametrize(
    "line,fragment",
    [
        ("BC 1022", "key 'BC' expects 2 numbers: y z (px), got 1 value: '1022'"),
        ("BC 1 2 3", "got 3 values: '1 2 3'"),
        ("Lsd", "key 'Lsd' expects 1 number (µm), got nothing"),
        ("Lsd 1 2", "got 2 values"),
        ("LatticeConstant 4 4 4 90 90", "expects 6 numbers"),
        ("SpaceGroup 225.0", "key 'SpaceGroup' expects 1 integer, got '225.0' (not an integer)"),
        ("NrPixels 1e3", "not an integer"),
        ("RingThresh 1.5 10", "RingThresh' expects 2 values: ring (integer) threshold (number)"),
        ("Lsd nan", "got 'nan' (not a number)"),
        ("Lsd inf", "got 'inf'"),
        ("Lsd 1e999", "out of the double-precision range"),
        ("Lsd 1_000", "got '1_000'"),
        ("Lsd 0x10", "got '0x10'"),
        ("Lsd \u0663", "not a number"),
        ("Lsd 1,5", "got '1,5'"),
        ("FileStem", "expects 1 token without spaces, got nothing"),
        ("FileStem a b", "got 2 values"),
        ("PanelGapsY " + " ".join(["1"] * 11), "expects 1 to 10 integers (px), got 11 values"),
    ],
)
def test_malformed_values(line: str, fragment: str) -> None:
    with pytest.raises(ParamError) as exc:
        parse(line + "\n")
    assert "Parameters.txt line 1: " in str(exc.value)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "line,fragment",
    [
        ("SpaceGroup 0", "key 'SpaceGroup' must be an ITA space-group number 1..230, got '0'"),
        ("SpaceGroup 231", "1..230"),
        ("px 0", "key 'px' must be > 0, got '0'"),
        ("PixelSize -200", "key 'PixelSize' must be > 0"),
        ("Lsd -1", "key 'Lsd' must be > 0"),
        ("Distance 0", "key 'Distance' must be > 0"),
        ("Wavelength -0.2", "key 'Wavelength' must be > 0"),
        ("ImTransOpt 4", "must be 0 (none), 1 (flip Y), 2 (flip Z) or 3 (transpose)"),
        ("RingThresh 0 10", "ring numbers start at 1"),
        ("NrPixels 0", "must be > 0"),
        ("LatticeConstant 4 4 4 90 90 190", "angles alpha beta gamma must be < 180"),
        ("LatticeConstant 4 -4 4 90 90 90", "must be > 0"),
    ],
)
def test_value_constraints(line: str, fragment: str) -> None:
    with pytest.raises(ParamError, match="Parameters.txt line 1: ") as exc:
        parse(line + "\n")
    assert fragment in str(exc.value)


def test_long_lines_and_nul_bytes() -> None:
    ok = "# " + "x" * 4092
    assert len(ok) == 4094
    parse(ok + "\nLsd 1\n")
    with pytest.raises(ParamError, match="line 2: line is 4095 bytes long"):
        parse("Lsd 1\n" + ok + "x\n")
    with pytest.raises(ParamError, match="line 2: contains a NUL byte"):
        parse_bytes(b"Lsd 1\npx 2\x00\n")
    with pytest.raises(ParamError, match="NUL"):
        parse_text("Lsd 1\x00\n")
    with pytest.raises(ParamError, match="line 2: contains '\\\\ud800'"):
        parse_text("Lsd 1\nFileStem a\ud800\n")


def test_undecodable_bytes_are_kept(tmp_path: Path) -> None:
    raw = b"# Dichte \xb5m (latin-1)\nLsd 5\nFileStem caf\xe9\n"
    p = parse_bytes(raw)
    assert p["Lsd"] == 5.0
    out = p.write(tmp_path / "p.txt")
    assert out.read_bytes() == raw
    assert read_params(out) == p


# ---- NF distances ----------------------------------------------------------------------------

NF = (
    "nDistances 2\nLsd 8289.154576\nLsd 10290.724494\nBC 985.415831 17.510494\n"
    "BC 985.161497 24.511210\n"
)


def test_nf_per_distance_lsd_and_bc() -> None:
    p = parse(NF)
    assert p.get_all("Lsd") == [8289.154576, 10290.724494]
    assert p["Lsd"] == [8289.154576, 10290.724494]
    assert p["BC"] == [(985.415831, 17.510494), (985.161497, 24.51121)]
    assert p.lines_of("BC") == [4, 5]
    # nDistances may come after the lines (the NF readers rewind to find it first)
    assert parse("Lsd 1\nLsd 2\nBC 1 1\nBC 2 2\nnDistances 2\n")["Lsd"] == [1.0, 2.0]


def test_single_distance_reads_as_scalar() -> None:
    p = parse("nDistances 1\nLsd 5000\nBC 1 2\n")
    assert p["Lsd"] == 5000.0 and p["BC"] == (1.0, 2.0) and p.get_all("Lsd") == [5000.0]
    assert parse("Lsd 5000\n")["Lsd"] == 5000.0


@pytest.mark.parametrize(
    "text,fragment",
    [
        (NF.replace("Lsd 10290.724494\n", ""), "nDistances is 2 but the file has 1 Lsd line(s) (lines 2)"),
        (NF + "BC 1 1\n", "nDistances is 2 but the file has 3 BC line(s) (lines 4, 5, 6)"),
        ("nDistances 3\nLsd 1\nBC 1 1\n", "nDistances is 3"),
    ],
)
def test_nf_distance_count_cross_check(text: str, fragment: str) -> None:
    with pytest.raises(ParamError, match="Parameters.txt line ") as exc:
        parse(text)
    assert fragment in str(exc.value)


def test_omega_range_box_size_count_cross_check() -> None:
    text = "OmegaRange -180 0\nOmegaRange 0 180\nBoxSize -1 1 -1 1\n"
    with pytest.raises(ParamError) as exc:
        parse(text)
    msg = str(exc.value)
    assert "2 OmegaRange line(s) (lines 1, 2) but 1 BoxSize line(s) (lines 3)" in msg
    assert msg.startswith("Parameters.txt: ")
    # Either key alone is fine (NF files give one OmegaRange per scan, BoxSize per range).
    parse("OmegaRange -180 0\nOmegaRange 0 180\n")
    parse("BoxSize -1 1 -1 1\n")


# ---- defaults, NrPixels, legacy lattice --------------------------------------------------------

def test_registry_defaults_apply_in_get() -> None:
    p = parse("tolP 0.002\nGridSize 2.5\n")
    assert p.get("Padding") == 6 and p["Padding"] == 6
    assert p.get("Padding", 3) == 3  # an explicit default wins
    assert p.get("SpaceGroup") == 225 and p.get("MargABC") == 0.3 and p.get("Width") == 1500.0
    assert p.get("darkDataset") == "exchange/dark" and p.get("dataLoc") == "exchange/data"
    assert p.get("HeadSize") == 8192  # DataType defaults to 1 (GE)
    assert parse("DataType 6\n").get("HeadSize") == 0
    assert p.get("tolP4") == 0.002 and parse("tolP 1\ntolP4 2\n").get("tolP4") == 2.0
    assert p.get("EdgeLength") == 2.5
    assert p.get("tx") == 0.0 and p.get("p14") == 0.0
    assert p.get("Lsd") is None and p.get("NotAKey") is None
    assert "Padding" not in p
    with pytest.raises(MissingKeyError) as exc:
        p["Lsd"]
    assert isinstance(exc.value, ParamError) and isinstance(exc.value, KeyError)
    assert str(exc.value) == ("Parameters.txt: required key 'Lsd' is missing "
                              "(sample-to-detector distance; 1 number (µm))")


def test_nr_pixels_sets_both_and_reads_as_max() -> None:
    p = parse("NrPixels 2048\n")
    assert (p["NrPixels"], p["NrPixelsY"], p["NrPixelsZ"]) == (2048, 2048, 2048)
    assert "NrPixelsY" in p
    p = parse("NrPixels 2048\nNrPixelsY 3072\n")
    assert (p["NrPixels"], p["NrPixelsY"], p["NrPixelsZ"]) == (3072, 3072, 2048)
    p = parse("NrPixelsY 1475\nNrPixelsZ 1679\n")
    assert p.get("NrPixels") == 1679 and "NrPixels" not in p
    # NrPixels after NrPixelsY overrides it, in file order.
    assert parse("NrPixelsY 3072\nNrPixels 100\n")["NrPixelsY"] == 100
    # Same detector, written two ways: equal.
    assert parse("NrPixels 2048\n") == parse("NrPixelsY 2048\nNrPixelsZ 2048\n")


def test_legacy_single_value_lattice_constant() -> None:
    with pytest.warns(ParamWarning, match="legacy 1-value form"):
        p = parse_text("LatticeConstant 4.08;\nWavelength 0.2\nLsd 1e6\nBC 1 1\npx 200\n"
                       "NrPixels 10\nRhoD 1e5\nOmegaStart 0\nOmegaStep 1\n", source="P.txt")
    assert p["LatticeConstant"] == (4.08,)
    with pytest.raises(ParamError, match="P.txt line 1: LatticeConstant has 1 value"):
        FFParams.from_params(p)


# ---- equality, hashing, read errors ------------------------------------------------------------

def test_equality_ignores_comments_spelling_and_unrelated_order() -> None:
    a = parse("# a\nLsd 1000\nBC 1 2\nLatticeParameter 4 4 4 90 90 90\n")
    b = parse("BC 1.0 2.0  # centre\nLatticeConstant 4 4 4 90 90 90;\nDistance 1e3\n")
    assert a == b and hash(a) == hash(b)
    assert a != parse("Lsd 1000\nBC 1 3\nLatticeParameter 4 4 4 90 90 90\n")
    assert parse("RingThresh 1 1\nRingThresh 2 1\n") != parse("RingThresh 2 1\nRingThresh 1 1\n")
    assert a != "Lsd 1000"


def test_read_params_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamError, match=r"nope\.txt does not exist"):
        read_params(tmp_path / "nope.txt")
    with pytest.raises(ParamError, match="is a directory"):
        read_params(tmp_path)


def test_empty_file() -> None:
    p = parse("")
    assert len(p) == 0 and p.to_text() == "" and p == MidasParams([])
