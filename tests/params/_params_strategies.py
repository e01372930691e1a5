"""Hypothesis strategies and small helpers shared by the params tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from midas.params.registry import REGISTRY, KeySpec, lookup

# ---- sample files (synthetic, upstream syntax) ----------------------------------------------

FF_TEXT = """\
LatticeConstant 3.6149 3.6149 3.6149 90 90 90
SpaceGroup 225
Wavelength 0.1839
NrPixels 1024
px 400
Lsd 1200000
BC 498.6 531.9
ty -0.42
tz 0.31
p0 -0.0003
p1 0.00015
p2 0.0002
RhoD 298774.29
OmegaStart 180
OmegaEnd -180
OmegaStep -0.25
OmegaRange -180 180
BoxSize -1000000 1000000 -1000000 1000000
RingThresh 1 10
RingThresh 2 10
ImTransOpt 0
ExcludePoleAngle 6
Completeness 0.8
MinNrSpots 3
UseFriedelPairs 1
StepsizeOrient 0.2
MarginOmega 0.5
"""

NF_TEXT = """\
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
"""

PARAMSTEST_TEXT = """\
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
"""

CAL_TEXT = """\
ImTransOpt 2
NrPixelsY 1475
NrPixelsZ 1679
px 172.0
Lsd 657436.9
BC 685.5 921.0
ty 0.2
tz 0.45
Wavelength 0.172973
RhoD 219964.4
LatticeConstant 5.4116 5.4116 5.4116 90.0 90.0 90.0
RMin 10
RMax 1200
RBinSize 0.25
EtaMin -180
EtaMax 180
EtaBinSize 1
Width 800
p0 0.00026
p3 26.1
tolTilts 3
tolBC 20
tolLsd 15000
tolP 2E-3
tolP4 0.0001
nIterations 30
OutlierIterations 3
MultFactor 2
NPanelsY 6
NPanelsZ 8
PanelSizeY 243
PanelSizeZ 195
PanelGapsY 1 7 1 7 1
PanelGapsZ 17 17 17 17 17 17 17
MaskFile mask_upd.tif
RingsToExclude 21
RingsToExclude 22
RingsToReject 22
DSpacing 58.38
Dark dark.tif
"""

# ---- strategies ---------------------------------------------------------------------------

# Keys whose lines interact (per-distance, derived, paired); generated separately.
SPECIAL = {"nDistances", "Lsd", "BC", "NrPixels", "NrPixelsY", "NrPixelsZ", "OmegaRange",
           "BoxSize", "LatticeConstant", "Ice9Input"}
SIMPLE_SPECS = [s for s in REGISTRY.values() if s.name not in SPECIAL]

TOKEN_ALPHABET = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="#;"
)


def sample_tokens(spec: KeySpec) -> list[str]:
    """One valid line's value tokens for ``spec`` (deterministic)."""
    if spec.name == "LatticeConstant":
        return ["4.08", "4.08", "4.08", "90", "90", "90"]
    out = []
    for k in range(spec.min_values):
        t = spec.type_at(k)
        out.append({"f": "1.5", "i": "1", "s": "tok"}[t])
    return out


_FLOAT_ANY = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
_FLOAT_POS = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False)
_ANGLE = st.floats(min_value=10, max_value=170)
_STYLE = st.sampled_from(["repr", "fixed", "g", "e", "int"])
_STR_TOKEN = st.text(TOKEN_ALPHABET, min_size=1, max_size=12)
_INTS = {
    "space_group": st.integers(1, 230),
    "im_trans": st.integers(0, 3),
    "ring": st.integers(1, 10**6),
    "positive": st.integers(1, 10**6),
    "non_negative": st.integers(0, 10**6),
    None: st.integers(-(10**9), 10**9),
}
_COUNTS = {(lo, hi): st.integers(lo, hi) for lo in range(0, 17) for hi in range(lo, 17)}
_SEP = st.sampled_from([" ", "  ", "\t", " \t ", "    "])
_BOOL = st.booleans()
_COMMENT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=20)
_NAMES = {spec.name: st.sampled_from([spec.name, *spec.aliases]) for spec in REGISTRY.values()}


def float_token(draw: st.DrawFn, positive: bool = False) -> tuple[str, float]:
    """A decimal token and the float upstream's strtod reads from it."""
    x = draw(_FLOAT_POS if positive else _FLOAT_ANY)
    style = draw(_STYLE)
    if style == "repr":
        tok = repr(x)
    elif style == "fixed":
        tok = f"{x:.6f}"
    elif style == "g":
        tok = f"{x:g}"
    elif style == "e":
        tok = f"{x:.10e}"
    else:
        tok = str(int(x))
    value = float(tok)
    if positive and value <= 0:
        tok, value = repr(x), x
    return tok, value


def value_tokens(draw: st.DrawFn, spec: KeySpec) -> tuple[list[str], Any]:
    """Valid value tokens for one line of ``spec`` and the value the parser must return."""
    if spec.name == "LatticeConstant":
        abc = [float_token(draw, positive=True) for _ in range(3)]
        ang = [draw(_ANGLE) for _ in range(3)]
        toks = [t for t, _ in abc] + [repr(a) for a in ang]
        return toks, tuple([v for _, v in abc] + ang)
    n = draw(_COUNTS[spec.min_values, min(spec.max_values, spec.min_values + 3)])
    toks: list[str] = []
    vals: list[Any] = []
    for k in range(n):
        t = spec.type_at(k)
        if t == "s":
            s = draw(_STR_TOKEN)
            toks.append(s)
            vals.append(s)
        elif t == "i":
            i = draw(_INTS[spec.check if spec.check in _INTS else None])
            toks.append(str(i))
            vals.append(i)
        else:
            tok, v = float_token(draw, positive=spec.check in ("positive", "all_positive"))
            toks.append(tok)
            vals.append(v)
    if spec.check is not None:
        value: Any = vals[0] if len(vals) == 1 and spec.max_values == 1 else tuple(vals)
        if spec.check_value(value) is not None:  # pragma: no cover - strategies respect checks
            raise AssertionError((spec.name, toks))
    if n == 0:
        return toks, ""
    return toks, (vals[0] if spec.max_values == 1 else tuple(vals))


@dataclass
class GeneratedFile:
    """A generated parameter file and the values the parser must return for it."""

    lines: list[str] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)

    def text(self, newline: str = "\n") -> str:
        return "".join(line + newline for line in self.lines)


def key_line(draw: st.DrawFn, name: str, toks: list[str], numeric: bool) -> str:
    """A key line with random blanks, an optional trailing ';' and an optional comment."""
    line = name
    for t in toks:
        line += draw(_SEP) + t
    if numeric and toks and draw(_BOOL):
        line += ";"
    if draw(_BOOL):
        line += draw(_SEP) + "# " + draw(_COMMENT)
    return line


_SPEC_LIST = st.lists(st.sampled_from(SIMPLE_SPECS), max_size=14, unique_by=lambda s: s.name)
_INT = {(lo, hi): st.integers(lo, hi) for lo, hi in ((0, 3), (0, 4), (1, 3), (1, 5000))}
_FILLER = st.sampled_from(["", "# comment", "   ", "#", "  # indented"])
_LSD_NAME = st.sampled_from(["Lsd", "Distance"])
_PIX = st.sampled_from(["none", "square", "yz"])


@st.composite
def valid_files(draw: st.DrawFn) -> GeneratedFile:
    """Random valid parameter files covering every key type, repeats, aliases, NF distances."""
    g = GeneratedFile()
    specs = draw(_SPEC_LIST)
    if draw(_BOOL):
        specs.append(REGISTRY["LatticeConstant"])
    for spec in specs:
        n_lines = draw(_INT[1, 3]) if spec.repeat else 1
        occurrences = []
        for _ in range(n_lines):
            toks, value = value_tokens(draw, spec)
            g.lines.append(key_line(draw, draw(_NAMES[spec.name]), toks, spec.numeric))
            occurrences.append(value)
        if not spec.repeat and draw(_INT[0, 4]) == 0:
            g.lines.append(g.lines[-1])  # the same value again: harmless
        g.expected[spec.name] = occurrences if spec.repeat else occurrences[-1]
        if draw(_INT[0, 3]) == 0:
            g.lines.append(draw(_FILLER))
    n_pairs = draw(_INT[0, 3])
    omegas, boxes = [], []
    for _ in range(n_pairs):
        toks, v = value_tokens(draw, REGISTRY["OmegaRange"])
        g.lines.append(key_line(draw, "OmegaRange", toks, True))
        omegas.append(v)
        toks, v = value_tokens(draw, REGISTRY["BoxSize"])
        g.lines.append(key_line(draw, "BoxSize", toks, True))
        boxes.append(v)
    if n_pairs:
        g.expected["OmegaRange"], g.expected["BoxSize"] = omegas, boxes
    n_dist = draw(_INT[0, 3])
    if n_dist:
        g.lines.append(f"nDistances {n_dist}")
        g.expected["nDistances"] = n_dist
        lsds, bcs = [], []
        for _ in range(n_dist):
            toks, v = value_tokens(draw, REGISTRY["Lsd"])
            g.lines.append(key_line(draw, draw(_LSD_NAME), toks, True))
            lsds.append(v)
            toks, v = value_tokens(draw, REGISTRY["BC"])
            g.lines.append(key_line(draw, "BC", toks, True))
            bcs.append(v)
        g.expected["Lsd"] = lsds if n_dist >= 2 else lsds[0]
        g.expected["BC"] = bcs if n_dist >= 2 else bcs[0]
    pix = draw(_PIX)
    if pix == "square":
        n = draw(_INT[1, 5000])
        g.lines.append(f"NrPixels {n}")
        g.expected.update(NrPixels=n, NrPixelsY=n, NrPixelsZ=n)
    elif pix == "yz":
        ny, nz = draw(_INT[1, 5000]), draw(_INT[1, 5000])
        g.lines += [f"NrPixelsY {ny}", f"NrPixelsZ {nz}"]
        g.expected.update(NrPixelsY=ny, NrPixelsZ=nz)
    if not n_dist and not n_pairs and draw(_BOOL):
        # Reordering keeps values only when no per-distance or paired keys depend on order.
        g.lines = _reorder_keeping_repeats(g.lines, draw(st.permutations(range(len(g.lines)))))
    return g


def _reorder_keeping_repeats(lines: list[str], order: list[int]) -> list[str]:
    """Permute lines but keep each key's own lines in their relative order."""
    by_key: dict[str, list[str]] = {}
    keys_in_order = []
    for line in lines:
        first = line.split()[0] if line.split() and not line.lstrip().startswith("#") else "#"
        spec = lookup(first)
        k = spec.name if spec is not None else first
        by_key.setdefault(k, []).append(line)
        keys_in_order.append(k)
    permuted_keys = [keys_in_order[i] for i in order]
    cursors = {k: 0 for k in by_key}
    out = []
    for k in permuted_keys:
        out.append(by_key[k][cursors[k]])
        cursors[k] += 1
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equality that treats floats exactly but tolerates -0.0 vs 0.0."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b) and type(a) is type(b)
