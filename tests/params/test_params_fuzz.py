"""Fuzz: malformed parameter files either parse or raise ParamError, never anything else."""

from __future__ import annotations

import warnings

from _params_strategies import CAL_TEXT, FF_TEXT, NF_TEXT, PARAMSTEST_TEXT
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

BASES = [t.splitlines() for t in (FF_TEXT, NF_TEXT, PARAMSTEST_TEXT, CAL_TEXT)]

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


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_param_error(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParamWarning)
        try:
            p = parse_text(text, source="t.txt")
        except ParamError as exc:
            assert str(exc).startswith("t.txt")
            return
        assert parse_text(p.to_text()) == p
