"""Upstream MIDAS ``PanelShiftsFile``: per-panel corrections of a multi-panel detector.

Text, one panel per line: ``id dY dZ [dTheta [dLsd dP2]]`` — panel id (upstream order
``iy·NPanelsZ + iz``), shifts dY, dZ in pixels (columns, rows of the frame after ImTransOpt),
rotation dTheta in degrees about the panel centre, distance offset dLsd in µm and p2 offset dP2.
Lines starting with ``#`` and blank lines are skipped; missing trailing columns are 0 (the 3- and
4-column files of older upstream versions). Upstream writes the header ``# ID dY dZ dTheta dLsd
dP2`` and ``%.10f`` values, which :func:`write_panel_shifts` reproduces. The model is in
``docs/conventions.md`` ("Detector panels").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import FormatError
from midas.io._atomic import atomic_output

__all__ = ["read_panel_shifts", "write_panel_shifts"]

HEADER = "# ID dY dZ dTheta dLsd dP2"


def read_panel_shifts(path: str | Path, *, n_panels: int) -> NDArray[np.float64]:
    """Read a panel shifts file.

    Parameters
    ----------
    path : str or Path
    n_panels : int
        Number of panels of the layout (``NPanelsY·NPanelsZ``).

    Returns
    -------
    (n_panels, 5) float64
        ``dY px, dZ px, dθ deg, dLsd µm, dP2`` per panel; panels not listed are 0.

    Raises
    ------
    FormatError
        Unreadable file, a line with fewer than 3 or more than 6 values or non-numbers, a panel
        id outside ``0 … n_panels − 1``, a panel listed twice, or a non-finite value (the message
        names the file and line).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the panel shifts file: {exc}") from exc
    out = np.zeros((int(n_panels), 5))
    seen: set[int] = set()
    for no, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tok = s.split()
        if not 3 <= len(tok) <= 6:
            raise FormatError(f"{p}:{no}: {len(tok)} values in {s!r}, expected 'id dY dZ [dTheta [dLsd dP2]]'")
        try:
            pid = int(tok[0])
            vals = [float(t) for t in tok[1:]]
        except ValueError:
            raise FormatError(f"{p}:{no}: {s!r} is not 'id dY dZ [dTheta [dLsd dP2]]' numbers") from None
        if not 0 <= pid < n_panels:
            raise FormatError(f"{p}:{no}: panel id {pid} outside 0..{n_panels - 1}")
        if pid in seen:
            raise FormatError(f"{p}:{no}: panel {pid} is listed twice")
        if not all(math.isfinite(v) for v in vals):
            raise FormatError(f"{p}:{no}: non-finite value in {s!r}")
        seen.add(pid)
        out[pid, : len(vals)] = vals
    return out


def write_panel_shifts(path: str | Path, shifts: ArrayLike) -> Path:
    """Write a panel shifts file in upstream's 6-column layout (atomically).

    Parameters
    ----------
    path : str or Path
    shifts : (n_panels, 5) float
        ``dY px, dZ px, dθ deg, dLsd µm, dP2`` per panel id.

    Returns
    -------
    Path

    Raises
    ------
    FormatError
        Wrong shape, non-finite values, or an unwritable folder.
    """
    a = np.asarray(shifts, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 5 or not np.all(np.isfinite(a)):
        raise FormatError(f"{path}: panel shifts of shape {a.shape}, expected (n_panels, 5) finite values")
    lines = [HEADER] + [f"{k} " + " ".join(f"{v:.10f}" for v in row) for k, row in enumerate(a)]
    target = Path(path)
    with atomic_output(target) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return target
