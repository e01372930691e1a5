"""``hkls.csv``: upstream MIDAS's reflection list (docs/upstream_facts.md §3.3).

One header line ``h k l D-spacing RingNr g1 g2 g3 Theta 2Theta Radius``, then one space-separated
row per reflection: h, k, l and RingNr as ``%.0f``, every other column as ``%.17g`` (exact
round trip of float64). g1..g3 in 1/Å (no 2π), Theta/2Theta in degrees, Radius in µm.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from midas.crystal.hkl import HklTable
from midas.errors import FormatError

__all__ = ["HKLS_CSV_HEADER", "read_hkls_csv", "write_hkls_csv"]

HKLS_CSV_HEADER = "h k l D-spacing RingNr g1 g2 g3 Theta 2Theta Radius"


def _format_rows(table: HklTable) -> str:
    lines = [HKLS_CSV_HEADER]
    hkl = table.hkl.tolist()
    cols = zip(
        hkl,
        table.d_A.tolist(),
        table.ring_nr.tolist(),
        table.g_crystal.tolist(),
        table.theta_deg.tolist(),
        table.tth_deg.tolist(),
        table.radius_um.tolist(),
    )
    for (h, k, l), d, ring, (g1, g2, g3), th, tth, rad in cols:
        lines.append(
            "%.0f %.0f %.0f %.17g %.0f %.17g %.17g %.17g %.17g %.17g %.17g"  # noqa: UP031 (C printf)
            % (h, k, l, d, ring, g1, g2, g3, th, tth, rad)
        )
    return "\n".join(lines) + "\n"


def write_hkls_csv(path: str | os.PathLike[str], table: HklTable) -> Path:
    """Write ``table`` as an upstream-format ``hkls.csv``.

    The file is written to a temporary file in the same folder and renamed into place, so a
    reader never sees a partial file.

    Parameters
    ----------
    path : str or PathLike
        Destination file.
    table : HklTable
        Rows to write, in order.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    FormatError
        When the folder is not writable.
    """
    from midas.io._atomic import write_bytes_atomic

    return write_bytes_atomic(Path(path), _format_rows(table).encode("ascii"))


def read_hkls_csv(path: str | os.PathLike[str]) -> HklTable:
    """Read an upstream ``hkls.csv`` (any MIDAS version: ``%f`` or ``%.17g`` numbers).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    HklTable
        Rows in file order.

    Raises
    ------
    FormatError
        When the file is missing or empty, a row does not have 11 numbers, or h, k, l or RingNr
        is not an integer (the message names the file and line).
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="ascii", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read hkls.csv {p}: {exc}") from exc
    if not lines or not lines[0].split() or lines[0].split()[0] != "h":
        raise FormatError(f"{p}: line 1 should be the header '{HKLS_CSV_HEADER}'")
    values = []
    for lineno, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 11:
            raise FormatError(f"{p}, line {lineno}: {len(parts)} columns, expected 11 ({HKLS_CSV_HEADER})")
        try:
            values.append([float(x) for x in parts])
        except ValueError as exc:
            raise FormatError(f"{p}, line {lineno}: not a number in {line!r}") from exc
    arr = np.array(values, dtype=np.float64).reshape(-1, 11)
    ints = arr[:, [0, 1, 2, 4]]
    if not np.all(np.isfinite(arr)):
        bad = int(np.nonzero(~np.all(np.isfinite(arr), axis=1))[0][0]) + 2
        raise FormatError(f"{p}, line {bad}: non-finite value")
    if np.any(ints != np.rint(ints)):
        bad = int(np.nonzero(np.any(ints != np.rint(ints), axis=1))[0][0]) + 2
        raise FormatError(f"{p}, line {bad}: h, k, l and RingNr must be integers")
    return HklTable(
        hkl=arr[:, :3].astype(np.int32),
        d_A=arr[:, 3],
        ring_nr=arr[:, 4].astype(np.int32),
        g_crystal=arr[:, 5:8],
        theta_deg=arr[:, 8],
        tth_deg=arr[:, 9],
        radius_um=arr[:, 10],
    )
