"""Fuzz: malformed parameter files either parse or raise ParamError, never anything else."""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from midas.errors import ParamError, ParamWarning
from midas.params import (
    REGISTRY,
    CalibrationParams,
    FFParams,
    IntegrationParams,
    MidasParams,
    NFParams,
    parse_bytes,
    parse_text,
)

# A complete FF file, so that mutations also reach the typed views' code paths.
FULL_FF = """\
LatticeConstant 4.08 4.08 4.08 90 90 90
SpaceGroup 225
Wavelength 0.22291
NrPixels 2048
px 200
Lsd 1000000.0000
BC 1022 1022
tx 0
ty 0   # tilt
tz 0
p0 0
p1 0
RhoD 204800
Wedge 0
OmegaStart 180
OmegaEnd -180
OmegaStep -0.25
OmegaRange -180 180
BoxSize -1000000 1000000 -1000000 1000000
RingThresh 1 10
RingThresh 2 10
ImTransOpt 0
RMax 1200
EtaMin -180
EtaMax 180
EtaBinSize 1
MinEta 6
Completeness 0.8
FileStem Au_FF
""".splitlines()

FULL_NF = """\
LatticeParameter 3.6149 3.6149 3.6149 90 90 90
Wavelength 0.17
SpaceGroup 225
nDistances 3
Lsd 5000.5
Lsd 7000.25
Lsd 9000
BC 1000.5 20.5
BC 1001 25
BC 1002 30.25
tx 0.1
ty 0.2
tz 0.3
px 1.48
NrPixelsY 2048
NrPixelsZ 2048
MaxRingRad 3000
OmegaStart 180
OmegaStep -0.25
OmegaRange -180 180
BoxSize -1200 1200 100 2500
ExcludePoleAngle 6
GridSize 2.5
GridMask -1000 1000 -1000 1000
RingsToUse 1
RingsToUse 2
BCTol 2 0.2
extOrig tif
""".splitlines()

PARAMSTEST = """\
LatticeParameter 4.080000 4.080000 4.080000 90.000000 90.000000 90.000000;
MaxRingRad 204800.000000;
SpaceGroup 225;
Distance 1000000.000000;
px 200.000000;
StepsizeOrient 0.200000;
ExcludePoleAngle 6.000000;
RingNumbers 1;
RingNumbers 2;
RingRadii 94949.402022;
RingRadii 109761.671955;
OmegaRange -180.000000 180.000000;
BoxSize -1000000.000000 1000000.000000 -1000000.000000 1000000.000000;
MinMatchesToAcceptFrac 0.800000;
SpotsFileName InputAll.csv
RefinementFileName InputAllExtraInfoFittingAll.csv
OutputFolder /tmp/out
LsdFit 1000000.000000
YBCFit 1022.000000
p0 0.000000
""".splitlines()

CALIBRATION = """\
Folder .
FileStem CeO2_Pil
Ext .tif
DataType 6
ImTransOpt 2
NrPixelsY 1475
NrPixelsZ 1679
px 172.0
Lsd        657000.5
BC         685.5 921.25
ty 0.2
tz 0.4
Wavelength 0.172973
RhoD 219964.4
LatticeConstant 5.4116 5.4116 5.4116 90.0 90.0 90.0
RMin 10
RMax 1200
RBinSize 0.25
EtaMin -180
EtaMax 180
EtaBinSize 1
tolP 2E-3
tolP4 0.0001
PanelGapsY 1 7 1 7 1
RingsToExclude 19
RingsToExclude 19
MaskFile mask.tif
""".splitlines()

BASES = [FULL_FF, FULL_NF, PARAMSTEST, CALIBRATION]

BAD_TOKENS = [
    "abc", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1_000", "0x1F", "1,5",
    "--1", "1e", ".", "+", "-", "\u0661\u0662", "\u00bd", "1.0.0", "\u221e", "1e-999", "0", "-0",
    "1;", ";", ";;", "#", "#x", "1#", "'1'", "\"2\"", "1.5e+", "e5", "\x7f", "\u200b1",
    "99999999999999999999999999", "-2147483649", "2.5", "225.0", "1e3", "4294967296",
]
WHITESPACE = [" ", "\t", "\x0b", "\x0c", "\xa0", "\u3000", "\r", "  \t "]
TEXT = st.characters(exclude_characters="\x00\n")  # NUL and newlines have their own cases
KEY_NAMES = sorted({n for s in REGISTRY.values() for n in (s.name, *s.aliases)})


@st.composite
def mutated_lines(draw: st.DrawFn) -> list[str]:
    lines = list(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 15))
        i = draw(st.integers(0, len(lines)))  # insertion point
        j = min(i, len(lines) - 1) if lines else 0  # existing line
        toks = lines[j].split() if lines else []
        if kind == 0:  # garbage token somewhere in a line
            pos = draw(st.integers(0, len(toks)))
            toks.insert(pos, draw(st.text(TEXT, min_size=1, max_size=10)))
            lines[j] = " ".join(toks)
        elif kind == 1 and len(toks) > 1:  # wrong arity: drop or add values
            toks = toks[:-1] if draw(st.booleans()) else [*toks, draw(st.sampled_from(["1", "2.5"]))]
            lines[j] = " ".join(toks)
        elif kind == 2 and len(toks) > 1:  # non-numeric / non-finite / odd number syntax
            toks[draw(st.integers(1, len(toks) - 1))] = draw(st.sampled_from(BAD_TOKENS))
            lines[j] = " ".join(toks)
        elif kind == 3:  # huge line
            n = draw(st.integers(3000, 9000))
            head = draw(st.sampled_from(["# ", "Lsd ", "FileStem ", "PanelGapsY "]))
            lines.insert(i, head + "1 " * (n // 2))
        elif kind == 4:  # unicode junk line
            lines.insert(i, draw(st.text(TEXT, max_size=60)))
        elif kind == 5 and toks:  # missing values
            lines[j] = toks[0]
        elif kind == 6 and toks:  # duplicate key with other values
            extra = draw(st.lists(st.sampled_from(["1", "-3", "2.5", "x", "7"]), max_size=4))
            lines.insert(i, " ".join([toks[0], *extra]))
        elif kind == 7:  # odd whitespace between tokens
            ws = draw(st.sampled_from(WHITESPACE))
            lines[j] = ws.join(toks) if toks else ws
        elif kind == 8:  # a random known key with random tokens
            key = draw(st.sampled_from(KEY_NAMES))
            vals = draw(st.lists(st.one_of(st.sampled_from(BAD_TOKENS),
                                           st.sampled_from(["1", "2", "0.5", "-180", "180", "a"])),
                                 max_size=12))
            lines.insert(i, " ".join([key, *vals]))
        elif kind == 9:  # break a cross-check
            lines.insert(i, draw(st.sampled_from(
                ["OmegaRange 0 90", "BoxSize -1 1 -1 1", "nDistances 3", "nDistances 1",
                 "Lsd 5000", "BC 1 2", "NrPixelsY 0", "SpaceGroup 0", "px -1"])))
        elif kind == 10 and lines:  # delete a line
            del lines[j]
        elif kind == 11 and lines:  # indent a line
            lines[j] = draw(st.sampled_from([" ", "\t", "   "])) + lines[j]
        elif kind == 12 and toks:  # semicolons in odd places
            pos = draw(st.integers(0, len(toks) - 1))
            toks[pos] = toks[pos] + draw(st.sampled_from([";", ";;", "; ", ";x"]))
            lines[j] = " ".join(toks)
        elif kind == 13 and toks:  # a comment glued to a value
            lines[j] = lines[j] + draw(st.sampled_from(["#c", " #", "# c", "##", " ;# c"]))
        elif kind == 14:  # random mixed case of a key
            if toks:
                toks[0] = draw(st.sampled_from([toks[0].lower(), toks[0].upper(), toks[0] + "s"]))
                lines[j] = " ".join(toks)
        elif kind == 15:  # keys with control characters
            lines.insert(i, draw(st.sampled_from(["Lsd\x011", "\x1bLsd 1", "L\u0301sd 1", "Lsd\x85 1"])))
    return lines


@st.composite
def malformed_bytes(draw: st.DrawFn) -> bytes:
    lines = draw(mutated_lines())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r\r\n"]))
    data = newline.join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # binary junk spliced in
        junk = draw(st.binary(min_size=1, max_size=40))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + junk + data[at:]
    if draw(st.integers(0, 15)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


def _outcome(data: bytes, strict: bool) -> MidasParams | None:
    try:
        return parse_bytes(data, source="fuzz.txt", strict=strict)
    except ParamError as exc:
        assert "fuzz.txt" in str(exc)  # every error names the file
        return None


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=malformed_bytes())
def test_malformed_files_parse_or_raise_param_error(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParamWarning)
        p = _outcome(data, strict=False)
        strict = _outcome(data, strict=True)
        if strict is not None:
            assert p is not None and strict == p
        if p is None:
            return
        # Whatever parses writes back to a file that parses to the same values.
        text = p.to_text()
        assert parse_text(text) == p
        assert parse_bytes(text.encode("utf-8", "surrogateescape")) == p
        # The typed views either build or say which key is wrong.
        for view in (FFParams, NFParams, CalibrationParams, IntegrationParams):
            try:
                view.from_params(p)
            except ParamError:
                pass
