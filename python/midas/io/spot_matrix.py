"""Upstream MIDAS spot tables: ``SpotMatrixGen.csv`` (simulator) and ``SpotMatrix.csv`` (refinement).

Both are tab-separated with one header line starting with ``%`` (upstream_facts.md §3.11)::

    %GrainID SpotID Omega DetectorHor DetectorVert OmeRaw Eta RingNr YLab ZLab Theta StrainError
    [ScanNr RingRad omeBin]                                          (the simulator's 3 extra columns)

GrainID, SpotID, RingNr, ScanNr and omeBin are integers (``%d``), the rest ``%lf``.
Meaning in SpotMatrixGen.csv (checked against upstream's simulator output):
Omega = observed ω (deg, after the wedge), OmeRaw = ω before the wedge; DetectorHor/DetectorVert =
detector column/row (px) after tilt and distortion; YLab = (BC_y - DetectorHor)·px and
ZLab = (DetectorVert - BC_z)·px (µm, the same distorted position); Eta, Theta = ideal azimuth and
Bragg angle (deg); RingRad = radius (µm) of the spot displaced by the grain position, before tilt
and distortion; omeBin = frame index; SpotID = running index of the grain's Bragg solutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io._atomic import atomic_output

__all__ = ["SPOT_MATRIX_COLUMNS", "SPOT_MATRIX_GEN_COLUMNS", "SpotMatrix", "read_spot_matrix",
           "write_spot_matrix"]

SPOT_MATRIX_COLUMNS: tuple[str, ...] = (
    "GrainID", "SpotID", "Omega", "DetectorHor", "DetectorVert", "OmeRaw", "Eta", "RingNr", "YLab", "ZLab",
    "Theta", "StrainError",
)
"""The 12 columns of upstream's SpotMatrix.csv."""

SPOT_MATRIX_GEN_COLUMNS: tuple[str, ...] = SPOT_MATRIX_COLUMNS + ("ScanNr", "RingRad", "omeBin")
"""The 15 columns of upstream's simulator output SpotMatrixGen.csv."""

_INT_COLUMNS = {"GrainID", "SpotID", "RingNr", "ScanNr", "omeBin"}

# (column, attribute) in file order
_ATTRS: tuple[tuple[str, str], ...] = (
    ("GrainID", "grain_id"), ("SpotID", "spot_id"), ("Omega", "omega_deg"), ("DetectorHor", "y_px"),
    ("DetectorVert", "z_px"), ("OmeRaw", "omega_raw_deg"), ("Eta", "eta_deg"), ("RingNr", "ring_nr"),
    ("YLab", "y_lab_um"), ("ZLab", "z_lab_um"), ("Theta", "theta_deg"), ("StrainError", "strain_error"),
    ("ScanNr", "scan_nr"), ("RingRad", "ring_rad_um"), ("omeBin", "frame"),
)


@dataclass(frozen=True, slots=True)
class SpotMatrix:
    """A spot table (S rows) in upstream's SpotMatrix / SpotMatrixGen column set.

    Attributes
    ----------
    grain_id, spot_id, ring_nr : (S,) int64
        GrainID, SpotID, RingNr.
    omega_deg, omega_raw_deg, eta_deg, theta_deg : (S,) float64
        Omega (after wedge), OmeRaw, Eta, Theta; degrees.
    y_px, z_px : (S,) float64
        DetectorHor (column) and DetectorVert (row), pixels.
    y_lab_um, z_lab_um : (S,) float64
        YLab, ZLab, µm.
    strain_error : (S,) float64
        StrainError (0 in simulations).
    scan_nr, frame : (S,) int64 or None
        ScanNr and omeBin; None for the 12-column SpotMatrix.csv.
    ring_rad_um : (S,) float64 or None
        RingRad (µm); None for the 12-column SpotMatrix.csv.
    """

    grain_id: NDArray[np.int64]
    spot_id: NDArray[np.int64]
    omega_deg: NDArray[np.float64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    omega_raw_deg: NDArray[np.float64]
    eta_deg: NDArray[np.float64]
    ring_nr: NDArray[np.int64]
    y_lab_um: NDArray[np.float64]
    z_lab_um: NDArray[np.float64]
    theta_deg: NDArray[np.float64]
    strain_error: NDArray[np.float64]
    scan_nr: NDArray[np.int64] | None = None
    ring_rad_um: NDArray[np.float64] | None = None
    frame: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(np.asarray(self.grain_id))
        extras = [self.scan_nr is None, self.ring_rad_um is None, self.frame is None]
        if any(extras) and not all(extras):
            raise FormatError("SpotMatrix: scan_nr, ring_rad_um and frame must be all given or all None")
        for col, attr in _ATTRS:
            v = getattr(self, attr)
            if v is None:
                continue
            arr = np.ascontiguousarray(v, dtype=np.int64 if col in _INT_COLUMNS else np.float64)
            if arr.shape != (n,):
                raise FormatError(f"SpotMatrix.{attr} has shape {arr.shape}, expected ({n},)")
            object.__setattr__(self, attr, arr)

    def __len__(self) -> int:
        return int(self.grain_id.shape[0])

    @property
    def columns(self) -> tuple[str, ...]:
        """The file columns this table holds (12 or 15)."""
        return SPOT_MATRIX_COLUMNS if self.frame is None else SPOT_MATRIX_GEN_COLUMNS

    def to_dict(self) -> dict[str, Any]:
        """Mapping of upstream column name -> array."""
        return {col: getattr(self, attr) for col, attr in _ATTRS[: len(self.columns)]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpotMatrix:
        """Inverse of :meth:`to_dict` (upstream column names as keys)."""
        missing = [c for c in SPOT_MATRIX_COLUMNS if c not in d]
        if missing:
            raise FormatError(f"SpotMatrix.from_dict: missing columns {missing}")
        kwargs: dict[str, Any] = {attr: d.get(col) for col, attr in _ATTRS}
        return cls(**kwargs)


def read_spot_matrix(path: str | Path) -> SpotMatrix:
    """Read upstream's ``SpotMatrixGen.csv`` (15 columns) or ``SpotMatrix.csv`` (12 columns).

    Raises
    ------
    FormatError
        When the header is not upstream's, a row has the wrong number of values or a value is not
        a number; the message names the file and line.
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read spot matrix: {exc}") from exc
    if not lines or not lines[0].startswith("%"):
        raise FormatError(f"{p}:1: expected a header line starting with '%GrainID'")
    names = tuple(lines[0].lstrip("%").split())
    if names not in (SPOT_MATRIX_COLUMNS, SPOT_MATRIX_GEN_COLUMNS):
        raise FormatError(f"{p}:1: header columns {names} are neither SpotMatrix.csv's {SPOT_MATRIX_COLUMNS} "
                          f"nor SpotMatrixGen.csv's {SPOT_MATRIX_GEN_COLUMNS}")
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names):
            raise FormatError(f"{p}:{lineno}: {len(fields)} values, expected {len(names)}")
        try:
            rows.append([float(x) for x in fields])
        except ValueError as exc:
            raise FormatError(f"{p}:{lineno}: {exc}") from exc
    m = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))
    d: dict[str, Any] = {}
    for j, col in enumerate(names):
        v = m[:, j]
        if col in _INT_COLUMNS:
            if not np.all(v == np.round(v)):
                raise FormatError(f"{p}: column {col} holds non-integer values")
            v = v.astype(np.int64)
        d[col] = v
    return SpotMatrix.from_dict(d)


def write_spot_matrix(path: str | Path, spots: SpotMatrix) -> None:
    """Write ``spots`` in upstream's format (15 columns when the simulator columns are set, else 12).

    Values use C ``%lf`` (6 decimals) and ``%d`` like upstream; rows end with a newline (the
    12-column SpotMatrix.csv rows end with a tab, as upstream's refiner writes them). Written to a
    temporary file, then renamed.

    Raises
    ------
    FormatError
        When the folder is missing or not writable.
    """
    cols = spots.columns
    arrays = [getattr(spots, attr) for _, attr in _ATTRS[: len(cols)]]
    fmts = ["{:d}" if c in _INT_COLUMNS else "{:f}" for c in cols]
    line_fmt = "\t".join(fmts) + ("\t\n" if len(cols) == len(SPOT_MATRIX_COLUMNS) else "\n")
    out = ["%" + "\t".join(cols) + "\n"]
    for vals in zip(*(a.tolist() for a in arrays)):
        out.append(line_fmt.format(*vals))
    with atomic_output(path) as tmp:
        tmp.write_text("".join(out))
