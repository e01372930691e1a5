"""Render ``docs/parameters.md`` from the key registry.

Run ``PYTHONPATH=python python3 -m midas.params._docgen > docs/parameters.md`` after changing
:mod:`midas.params.registry`; ``tests/params/test_registry.py`` fails while the two disagree.
"""

from __future__ import annotations

import sys

from midas.params.registry import KINDS, KeySpec, specs_for_kind

__all__ = ["render_markdown"]

_TITLES = {
    "ff": "Far-field HEDM (`ff`)",
    "nf": "Near-field HEDM (`nf`)",
    "calibration": "Detector calibration (`calibration`)",
    "integration": "Radial integration (`integration`)",
    "simulation": "Forward simulation (`simulation`)",
}


def _default_text(spec: KeySpec) -> str:
    d = spec.default
    if d is None:
        return ""
    if callable(d):
        return (d.__doc__ or "computed").strip().rstrip(".")
    return f"`{d}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(spec: KeySpec) -> str:
    name = f"`{spec.name}`"
    aliases = ", ".join(f"`{a}`" for a in spec.aliases)
    notes = []
    if spec.repeat:
        notes.append("repeats (one occurrence per line)")
    if spec.per_distance:
        notes.append("one line per distance with nDistances")
    note = f" *({'; '.join(notes)})*" if notes else ""
    return (f"| {name} | {_cell(spec.expects())} | {_cell(_default_text(spec))} | {aliases} | "
            f"{_cell(spec.doc)}{note} |")


def render_markdown() -> str:
    """Markdown text of ``docs/parameters.md``: every registered key, grouped by workflow."""
    out = [
        "# MIDAS parameter-file keys",
        "",
        "Generated from `python/midas/params/registry.py` by "
        "`python -m midas.params._docgen`; do not edit by hand.",
        "",
        "A parameter file has one `Key value ...` per line. The key is case-sensitive and must "
        "start the line. `#` starts a comment (a whole line, or from a token that starts with "
        "`#`); a trailing `;` after numbers is ignored (`paramstest.txt`). Single-valued keys: "
        "the last line wins (a warning says so when values differ). Repeating keys accumulate "
        "one occurrence per line, in file order. `NrPixels N` sets `NrPixelsY` and `NrPixelsZ`. "
        "Aliases read into the same slot as the canonical key; files are written back with the "
        "spelling they were read with (the NF executables only know `LatticeParameter`, "
        "`MaxRingRad` and `ExcludePoleAngle`).",
        "",
        "Checks: numbers must be finite decimals, integers plain decimal integers; `px`, `Lsd`, "
        "`Wavelength` > 0; `SpaceGroup` in 1..230; `ImTransOpt` in 0..3; ring numbers >= 1; the "
        "number of `OmegaRange` lines equals the number of `BoxSize` lines when both are "
        "present; with `nDistances`, the file has that many `Lsd` and `BC` lines.",
        "",
        "A key used by several workflows is listed under each of them.",
    ]
    for kind in KINDS:
        out += [
            "",
            f"## {_TITLES[kind]}",
            "",
            "| key | value | default | aliases | meaning |",
            "|---|---|---|---|---|",
        ]
        out += [_row(s) for s in specs_for_kind(kind)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render_markdown())
