"""Conversion of one parameter line's values: text tokens or Python objects → typed values.

Numbers follow C ``strtod`` decimal syntax restricted to finite values (``1``, ``-0.25``,
``1e6``, ``.5``); Python-only spellings (``1_000``, ``0x10``, ``nan``, ``inf``, non-ASCII
digits) are rejected, so every value midas accepts reads the same in upstream's ``sscanf``.
Integers are plain decimal integers (``2048``, not ``2048.0``: upstream's ``%d`` would stop at
the dot).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from midas.params.registry import KeySpec, Scalar, Value

__all__ = ["ValueProblem", "coerce_value", "format_value", "parse_tokens"]

_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INT_RE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_WS_RE = re.compile(r"[ \t\r\n\f\v]")


class ValueProblem(Exception):
    """Internal: a value does not fit its key; ``str()`` says what was received."""


def _parse_one(letter: str, tok: str) -> Scalar:
    if letter == "s":
        return tok
    if letter == "i":
        if not _INT_RE.fullmatch(tok):
            raise ValueProblem(f"got {tok!r} (not an integer)")
        return int(tok)
    if not _FLOAT_RE.fullmatch(tok):
        raise ValueProblem(f"got {tok!r} (not a number)")
    x = float(tok)
    if not math.isfinite(x):
        raise ValueProblem(f"got {tok!r} (out of the double-precision range)")
    return x


def _count_ok(spec: KeySpec, n: int) -> bool:
    return spec.min_values <= n <= spec.max_values or n in spec.legacy_counts


def _shape(spec: KeySpec, vals: list[Scalar]) -> Value:
    if spec.scalar or (len(vals) == 1 and spec.max_values == 1):
        return vals[0]
    return tuple(vals)


def parse_tokens(spec: KeySpec, tokens: Sequence[str]) -> Value:
    """Typed value of one line of key ``spec`` from its value tokens.

    Parameters
    ----------
    spec : KeySpec
        The key's spec.
    tokens : sequence of str
        Whitespace-separated value tokens (key and comment removed, trailing ``;`` stripped).

    Returns
    -------
    float, int, str or tuple
        Scalar for one-value keys, tuple otherwise; ``""`` for a bare flag key.

    Raises
    ------
    ValueProblem
        Wrong count or a token that is not of the expected type.
    """
    n = len(tokens)
    if not _count_ok(spec, n):
        if n == 0:
            raise ValueProblem("got nothing")
        shown = " ".join(tokens)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueProblem(f"got {n} value{'s' if n != 1 else ''}: {shown!r}")
    if n == 0:
        return ""
    vals = [_parse_one(spec.type_at(k), tok) for k, tok in enumerate(tokens)]
    return _shape(spec, vals)


def _coerce_one(letter: str, obj: object) -> Scalar:
    if letter == "s":
        if not isinstance(obj, str | bytes) and hasattr(obj, "__fspath__"):
            obj = str(obj)
        if not isinstance(obj, str):
            raise ValueProblem(f"got {obj!r} (not a string)")
        if not obj or _WS_RE.search(obj) or obj.startswith("#"):
            raise ValueProblem(f"got {obj!r} (empty, contains whitespace, or starts with '#')")
        try:
            obj.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise ValueProblem(f"got {obj!r} (not writable as UTF-8)") from None
        return obj
    if isinstance(obj, bool):
        raise ValueProblem(f"got {obj!r} (a bool; write 0 or 1)")
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalars
        obj = obj.item()
    if letter == "i":
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float) and obj.is_integer():
            return int(obj)
        raise ValueProblem(f"got {obj!r} (not an integer)")
    if isinstance(obj, int | float):
        x = float(obj)
        if not math.isfinite(x):
            raise ValueProblem(f"got {obj!r} (not a finite number)")
        return x
    raise ValueProblem(f"got {obj!r} (not a number)")


def coerce_value(spec: KeySpec, obj: object) -> Value:
    """Typed value of one occurrence of key ``spec`` from a Python object.

    Scalars are accepted for one-value keys, sequences (tuple, list, 1-D array) for the others.
    Integral floats are accepted for integer fields; bools are refused.

    Raises
    ------
    ValueProblem
        Wrong count or an element of the wrong type.
    """
    if isinstance(obj, str | bytes) or not hasattr(obj, "__iter__"):
        items: list[object] = [obj]
    else:
        items = list(obj)  # type: ignore[call-overload,unused-ignore]
    if spec.min_values == 0 and items in ([""], []):
        return ""
    if not _count_ok(spec, len(items)):
        raise ValueProblem(f"got {len(items)} values: {obj!r}")
    vals = [_coerce_one(spec.type_at(k), x) for k, x in enumerate(items)]
    return _shape(spec, vals)


def format_scalar(x: Scalar) -> str:
    """Text of one value as the writer prints it (``repr`` round-trips floats exactly)."""
    if isinstance(x, float):
        return repr(x)
    return str(x)


def format_value(value: Value) -> str:
    """Text of one line's values, space-separated."""
    if isinstance(value, tuple):
        return " ".join(format_scalar(x) for x in value)
    return format_scalar(value)
