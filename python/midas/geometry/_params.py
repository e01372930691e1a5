"""Reading geometry keys from a MidasParams-like mapping (private; shared by FF and NF)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from midas.errors import ParamError

__all__ = [
    "ParamSource",
    "ParamsLike",
    "float_param",
    "n_pixels_param",
    "pair_param",
    "param",
]


class ParamsLike(Protocol):
    """What the detectors need of :class:`midas.params.MidasParams` (a dict also fits)."""

    def get(self, key: str, default: Any = ...) -> Any: ...


#: A MidasParams or a plain dict of MIDAS keys.
ParamSource = ParamsLike | Mapping[str, Any]

_MISSING = object()


def param(
    p: ParamSource,
    key: str,
    default: Any = _MISSING,
    *,
    what: str = "the detector geometry",
) -> Any:
    """``p.get(key, default)``; a missing key without default raises ParamError naming it."""
    value = p.get(key, None if default is _MISSING else default)
    if value is None and default is _MISSING:
        raise ParamError(f"parameter {key!r} is required for {what} but is missing")
    return value


def float_param(
    p: ParamSource,
    key: str,
    default: Any = _MISSING,
    *,
    what: str = "the detector geometry",
) -> float:
    """A single number (a one-element list is accepted); ParamError otherwise."""
    value = param(p, key, default, what=what)
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ParamError(f"parameter {key!r} = {value!r}: expected one number")
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParamError(f"parameter {key!r} = {value!r}: expected a number") from None


def pair_param(value: Any, key: str) -> tuple[float, float]:
    """Two numbers ``(y, z)`` from a sequence or a whitespace-separated string."""
    if isinstance(value, str):
        value = value.split()
    try:
        seq = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ParamError(
            f"parameter {key!r} = {value!r}: expected two numbers (y, z)"
        ) from None
    if len(seq) != 2:
        raise ParamError(
            f"parameter {key!r} = {value!r}: expected two numbers (y, z), got {len(seq)}"
        )
    return seq[0], seq[1]


def n_pixels_param(
    p: ParamSource, *, what: str = "the detector geometry"
) -> tuple[int, int]:
    """``(NrPixelsY, NrPixelsZ)``, each falling back to ``NrPixels``; ParamError when absent."""
    n_all = p.get("NrPixels", None)
    n_y = p.get("NrPixelsY", None)
    n_z = p.get("NrPixelsZ", None)
    n_y = n_y if n_y is not None else n_all
    n_z = n_z if n_z is not None else n_all
    if n_y is None or n_z is None:
        raise ParamError(
            f"parameters NrPixelsY/NrPixelsZ (or NrPixels) are required for {what}"
        )
    try:
        return int(n_y), int(n_z)
    except (TypeError, ValueError):
        raise ParamError(
            f"NrPixelsY/NrPixelsZ = {n_y!r}/{n_z!r}: expected integers"
        ) from None
