"""Reader of upstream MIDAS parameter files (FF, NF, calibration, integration, forward
simulation, ``paramstest.txt``).

Syntax accepted (the union of upstream's readers, ``shared/docs/upstream_facts.md`` §1):

* one ``Key value...`` per line; the key is the first token, case-sensitive, exactly as
  upstream spells it; tokens are separated by spaces or tabs;
* blank lines and lines whose first non-blank character is ``#`` are comments; a token that
  starts with ``#`` starts an inline comment (``GaussWidth 1  # pixels``);
* a trailing ``;`` on numeric values is ignored (``paramstest.txt`` writes
  ``MaxRingRad 204800.000000;``);
* lines may end in ``\\n`` or ``\\r\\n``; text is UTF-8 (other bytes are kept as they are).

Anything upstream would silently misread is reported instead: malformed values and wrong value
counts raise :class:`~midas.errors.ParamError`; unknown keys, indented key lines and keys set
twice with different values give a :class:`~midas.errors.ParamWarning` (``strict=True`` turns
the unknown-key and indentation warnings into errors).
"""

from __future__ import annotations

import logging
import re
import warnings
from os import PathLike
from pathlib import Path

from midas.errors import ParamError, ParamWarning
from midas.params.midas_params import MidasParams, ParamEntry
from midas.params.registry import REGISTRY, closest_key, lookup
from midas.params.values import ValueProblem, format_value, parse_tokens

__all__ = ["MAX_LINE_BYTES", "parse_bytes", "parse_text", "read_params"]

MAX_LINE_BYTES = 4094
"""Longest line upstream's shared parser reads whole (``fgets`` into 4096 bytes, newline and NUL
included); longer lines would be split and misread, so they are refused."""

_log = logging.getLogger(__name__)
_TOKEN_RE = re.compile(r"[^ \t\r\f\v]+")
_BLANK = " \t\r\f\v"
_BOM = "\ufeff"


def read_params(path: str | PathLike[str], *, strict: bool = False) -> MidasParams:
    """Read an upstream MIDAS parameter file.

    Parameters
    ----------
    path : path-like
        ``Parameters.txt``, ``ps_*.txt``, ``paramstest.txt``, a calibration or integration
        parameter file, ...
    strict : bool
        Raise :class:`ParamError` for unknown keys and indented key lines instead of warning.

    Returns
    -------
    MidasParams
        Immutable typed contents; ``.source`` is ``path``.

    Raises
    ------
    ParamError
        Names the file, the line, the key and the bad value and says what was expected: a
        malformed number, a wrong number of values, a constraint violation (``px``, ``Lsd``,
        ``Wavelength`` <= 0, ``SpaceGroup`` outside 1..230, ImTransOpt not 0..3, ...), a line
        longer than upstream reads (4094 bytes), a NUL byte (binary file), or a failed
        cross-check (``OmegaRange``/``BoxSize`` counts, ``nDistances`` vs ``Lsd``/``BC`` lines);
        also when the file does not exist or cannot be read.

    Warns
    -----
    ParamWarning
        Unknown key (with the closest known key), indented key line, a single-valued key set
        again with a different value, a legacy one-value ``LatticeConstant``.

    Notes
    -----
    Follows ``FF_HEDM/src/MIDAS_ParamParser.c`` and the NF readers (upstream_facts §1.1-1.2).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "Parameters.txt"
    >>> _ = f.write_text("Lsd 1000000  # um\\nBC 1022 1022\\nRingThresh 1 10\\nRingThresh 2 10\\n")
    >>> p = read_params(f)
    >>> p["Lsd"], p["BC"], p["RingThresh"]
    (1000000.0, (1022.0, 1022.0), [(1, 10.0), (2, 10.0)])
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParamError(f"parameter file {path} does not exist") from None
    except IsADirectoryError:
        raise ParamError(f"parameter file {path} is a directory, expected a MIDAS parameter file") from None
    except OSError as exc:
        raise ParamError(f"parameter file {path} cannot be read: {exc}") from exc
    params = parse_bytes(data, source=path, strict=strict)
    _log.debug("read %d keys from %s", len(params), path)
    return params


def parse_bytes(
    data: bytes, *, source: str | PathLike[str] | None = None, strict: bool = False
) -> MidasParams:
    """Parse the raw bytes of a MIDAS parameter file (UTF-8; other bytes kept as they are).

    Raises
    ------
    ParamError
        As in :func:`read_params`; also for a NUL byte (a binary file).
    """
    return parse_text(_decode(data, source), source=source, strict=strict)


def _decode(data: bytes, source: str | PathLike[str] | None) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ParamError(
            f"{source} line {line}: contains a NUL byte; this is not a text parameter file"
        )
    return data.decode("utf-8", "surrogateescape")


def parse_text(
    text: str, *, source: str | PathLike[str] | None = None, strict: bool = False
) -> MidasParams:
    """Parse the text of a MIDAS parameter file.

    Parameters
    ----------
    text : str
        File contents.
    source : path-like or None
        File name used in messages and stored as ``.source``.
    strict : bool
        As in :func:`read_params`.

    Returns
    -------
    MidasParams

    Raises
    ------
    ParamError
        As in :func:`read_params`.

    Examples
    --------
    >>> p = parse_text("nDistances 2\\nLsd 8289.15\\nLsd 10290.72\\nBC 985.4 17.5\\nBC 985.2 24.5\\n")
    >>> p.get_all("Lsd")
    [8289.15, 10290.72]
    """
    name = str(source) if source is not None else "<text>"
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        line_nr = text.count("\n", 0, exc.start) + 1
        raise ParamError(
            f"{name} line {line_nr}: contains {text[exc.start]!r}, which is not a character a "
            "file can hold (unpaired surrogate)"
        ) from None
    if b"\x00" in data:
        _decode(data, name)
    if text.startswith(_BOM):
        _warn_or_raise(
            f"{name} line 1: file starts with a UTF-8 byte-order mark; upstream MIDAS would not "
            "recognise the first key (the mark is dropped)",
            strict=False,
        )
        text = text[len(_BOM):]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    entries: list[ParamEntry] = []
    pending: list[str] = []
    for n, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        entry = _parse_line(line, n, name, strict, tuple(pending))
        if entry is None:
            pending.append(line)
        else:
            entries.append(entry)
            pending = []
    _warn_repeats(entries, name)
    params = MidasParams(entries, source=source, trailer=pending)
    params.validate()
    return params


def _warn_or_raise(msg: str, *, strict: bool) -> None:
    if strict:
        raise ParamError(msg)
    warnings.warn(msg, ParamWarning, stacklevel=4)


def _parse_line(
    line: str, n: int, name: str, strict: bool, comments: tuple[str, ...]
) -> ParamEntry | None:
    nbytes = len(line.encode("utf-8", "surrogateescape"))
    if nbytes > MAX_LINE_BYTES:
        raise ParamError(
            f"{name} line {n}: line is {nbytes} bytes long; upstream MIDAS reads at most "
            f"{MAX_LINE_BYTES} bytes per line and would split and misread it"
        )
    tokens: list[str] = []
    for m in _TOKEN_RE.finditer(line):
        tok = m.group()
        if tok.startswith("#"):
            break
        tokens.append(tok)
    if not tokens:
        return None
    key, vals = tokens[0], tokens[1:]
    where = f"{name} line {n}"
    if line[0] in _BLANK:
        _warn_or_raise(
            f"{where}: key {key!r} is indented; upstream MIDAS only recognises keys at the start "
            "of a line and would ignore it",
            strict=strict,
        )
    spec = lookup(key)
    if spec is None:
        hint = closest_key(key)
        _warn_or_raise(
            f"{where}: unknown key {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")
            + "; upstream MIDAS ignores it",
            strict=strict,
        )
        return ParamEntry(key, key, " ".join(vals), known=False, line=n, text=line,
                          comments_before=comments)
    if spec.numeric and vals and vals[-1].endswith(";"):
        last = vals[-1][:-1]
        vals = [*vals[:-1], last] if last else vals[:-1]
    try:
        value = parse_tokens(spec, vals)
    except ValueProblem as exc:
        raise ParamError(f"{where}: key {key!r} expects {spec.expects()}, {exc}") from None
    why = spec.check_value(value)
    if why is not None:
        raise ParamError(f"{where}: key {key!r} {why}, got {' '.join(vals)!r}")
    return ParamEntry(spec.name, key, value, known=True, line=n, text=line,
                      comments_before=comments)


def _value_text(e: ParamEntry) -> str:
    """The value as written on the entry's line (without key and comment)."""
    if e.text is None:
        return format_value(e.value)
    tokens = []
    for m in _TOKEN_RE.finditer(e.text):
        if m.group().startswith("#"):
            break
        tokens.append(m.group())
    return " ".join(tokens[1:])


def _warn_repeats(entries: list[ParamEntry], name: str) -> None:
    by_key: dict[str, list[ParamEntry]] = {}
    for e in entries:
        if e.known:
            by_key.setdefault(e.key, []).append(e)
    per_distance_ok = "nDistances" in by_key
    for key, es in by_key.items():
        spec = REGISTRY[key]
        last = es[-1]
        if spec.legacy_counts and isinstance(last.value, tuple) \
                and len(last.value) in spec.legacy_counts:
            warnings.warn(
                f"{name} line {last.line}: key {last.spelling!r} has the legacy "
                f"{len(last.value)}-value form; midas needs {spec.expects()}",
                ParamWarning,
                stacklevel=4,
            )
        if spec.repeat or len(es) < 2 or (spec.per_distance and per_distance_ok):
            continue
        earlier = [e for e in es[:-1] if e.value != last.value and not (
            spec.legacy_counts and isinstance(e.value, tuple)
            and len(e.value) in spec.legacy_counts)]
        if earlier:
            lines = ", ".join(str(e.line) for e in es)
            warnings.warn(
                f"{name} line {last.line}: key {key!r} is set {len(es)} times with different "
                f"values (lines {lines}); the last one, {_value_text(last)!r}, wins",
                ParamWarning,
                stacklevel=4,
            )
