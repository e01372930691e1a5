"""Writer of upstream MIDAS parameter files.

Lines read from a file are written back verbatim (comments, alignment and ``paramstest.txt``
semicolons kept; only leading indentation is removed, because upstream ignores indented keys).
Lines made from values are written as ``Key v1 v2 ...`` with single spaces (the NF readers need
a space, not a tab, after the key) and floats in their shortest exact form (``repr``), which
upstream's ``sscanf("%lf")`` reads back to the same double.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from midas.params.registry import REGISTRY
from midas.params.values import format_value

if TYPE_CHECKING:
    from midas.params.midas_params import MidasParams, ParamEntry

__all__ = ["format_params", "write_text_atomic"]

_NAMES = ("as_read", "canonical")


def format_params(params: MidasParams, *, names: str = "as_read") -> str:
    """Text of a parameter file holding ``params`` (see :meth:`MidasParams.to_text`).

    Raises
    ------
    ValueError
        ``names`` is not ``"as_read"`` or ``"canonical"``.
    """
    if names not in _NAMES:
        raise ValueError(f"names must be one of {_NAMES}, got {names!r}")
    out: list[str] = []
    for e in params.entries:
        out.extend(e.comments_before)
        out.append(_line(e, names))
    out.extend(params.trailer)
    return "".join(line + "\n" for line in out)


def _line(e: ParamEntry, names: str) -> str:
    name = e.key if names == "canonical" and e.known else e.spelling
    if e.text is not None:
        body = e.text.lstrip(" \t\r\f\v")
        return name + body[len(e.spelling):] if name != e.spelling else body
    if not e.known:
        return f"{name} {e.value}" if e.value != "" else name
    text = format_value(e.value)
    if text == "":
        # Bare flags: the NF readers match "Key " with its space.
        spec = REGISTRY[e.key]
        return f"{name} " if spec.min_values == 0 else name
    return f"{name} {text}"


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and
    ``os.replace``, so readers never see a partial file.

    Parameters
    ----------
    path : Path
        Destination; an existing file keeps its permission bits, a new one gets the umask
        permissions.
    text : str
        Contents, encoded as UTF-8 (undecodable bytes read earlier are restored as they were).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FormatError
        The folder is missing or not writable (no temporary file is left behind).
    """
    from midas.io._atomic import write_bytes_atomic

    return write_bytes_atomic(Path(path), text.encode("utf-8", "surrogateescape"))
