"""Upstream MIDAS ``Grains.csv``: read and write, byte-compatible with upstream's writer.

Layout (upstream_facts.md §3.11): 9 header lines starting with ``%`` ::

    %NumGrains <N>
    %BeamCenter <%lf>
    %BeamThickness <%lf>
    %GlobalPosition <%lf>
    %NumPhases <N>
    %PhaseInfo
    %\\tSpaceGroup:<sg>
    %\\tLattice Parameter: <a> <b> <c> <alpha> <beta> <gamma>      (%lf each)
    %GrainID\\tO11\\t...\\tEul2                                      (the 47 column names)

then one row per grain: the GrainID as an integer and 46 ``%lf`` values, every value followed by
a tab. Columns: 0 GrainID, 1-9 orientation matrix (crystal -> sample, row-major), 10-12 X Y Z (µm,
sample frame at ω = 0), 13-18 a b c (Å) alpha beta gamma (deg), 19 DiffPos (µm), 20 DiffOme (deg),
21 DiffAngle (deg), 22 GrainRadius (µm), 23 Confidence, 24-32 Fable strain, 33-41 Kenesei strain
(both sample frame, stored ×1e6), 42 RMSErrorStrain (×1e6), 43 PhaseNr, 44-46 Eul0..2.

The reader also accepts rows with exactly 24 values (GrainID to Confidence: grain lists converted
from other programs, e.g. HEXRD's, without strains or Euler angles) or 19 values (upstream's
``GrainsGen.csv`` layout: GrainID, orientation, position, lattice), and rows that are whitespace-
instead of tab-separated. The Euler
columns are kept as stored: upstream's Grains.csv holds radians, but its example ``GrainsSim.csv``
holds degrees, so midas never derives an orientation from them (use ``orient_mat``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError
from midas.io._atomic import atomic_output

__all__ = ["GRAINS_COLUMNS", "GrainsHeader", "GrainsTable", "read_grains_csv", "write_grains_csv"]

log = logging.getLogger(__name__)

GRAINS_COLUMNS: tuple[str, ...] = (
    "GrainID",
    "O11", "O12", "O13", "O21", "O22", "O23", "O31", "O32", "O33",
    "X", "Y", "Z", "a", "b", "c", "alpha", "beta", "gamma",
    "DiffPos", "DiffOme", "DiffAngle", "GrainRadius", "Confidence",
    "eFab11", "eFab12", "eFab13", "eFab21", "eFab22", "eFab23", "eFab31", "eFab32", "eFab33",
    "eKen11", "eKen12", "eKen13", "eKen21", "eKen22", "eKen23", "eKen31", "eKen32", "eKen33",
    "RMSErrorStrain", "PhaseNr", "Eul0", "Eul1", "Eul2",
)  # fmt: skip
"""The 47 column names of Grains.csv, in file order."""

_N_FULL = len(GRAINS_COLUMNS)
_N_SHORT = 19  # GrainsGen.csv: GrainID + orientation + position + lattice
_N_NO_STRAIN = 24  # GrainID ... Confidence (no strains, phase or Euler angles)
_WIDTHS = (_N_FULL, _N_NO_STRAIN, _N_SHORT)
_STRAIN_SCALE = 1e6
_N_HEADER = 9


@dataclass(frozen=True, slots=True)
class GrainsHeader:
    """The 8 informative header lines of a Grains.csv.

    Attributes
    ----------
    beam_center : float
        ``%BeamCenter`` (upstream: volume-weighted mean grain Z, µm).
    beam_thickness_um, global_position_um : float
        ``%BeamThickness`` and ``%GlobalPosition`` (µm).
    num_phases : int
        ``%NumPhases``.
    space_group : int
        ITA number from ``%\\tSpaceGroup:``.
    lattice : tuple of 6 float
        ``%\\tLattice Parameter:`` (a, b, c in Å; alpha, beta, gamma in degrees).
    """

    beam_center: float = 0.0
    beam_thickness_um: float = 0.0
    global_position_um: float = 0.0
    num_phases: int = 1
    space_group: int = 0
    lattice: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 90.0, 90.0, 90.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lattice as a list)."""
        return {"beam_center": self.beam_center, "beam_thickness_um": self.beam_thickness_um,
                "global_position_um": self.global_position_um, "num_phases": self.num_phases,
                "space_group": self.space_group, "lattice": list(self.lattice)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GrainsHeader:
        """Inverse of :meth:`to_dict`."""
        lat = tuple(float(x) for x in d.get("lattice", (0.0, 0.0, 0.0, 90.0, 90.0, 90.0)))
        if len(lat) != 6:
            raise FormatError(f"GrainsHeader.from_dict: lattice has {len(lat)} values, expected 6")
        return cls(float(d.get("beam_center", 0.0)), float(d.get("beam_thickness_um", 0.0)),
                   float(d.get("global_position_um", 0.0)), int(d.get("num_phases", 1)),
                   int(d.get("space_group", 0)), (lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]))


def _f64(a: Any, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise FormatError(f"GrainsTable.{name} has shape {arr.shape}, expected {shape}")
    return arr


@dataclass(frozen=True, slots=True)
class GrainsTable:
    """A set of grains as in upstream's Grains.csv (N grains).

    Attributes
    ----------
    grain_id : (N,) int64
        Column 0 (upstream: SpotID of the grain's representative seed; 1..N for simulations).
    orient_mat : (N, 3, 3) float64
        Orientation matrices U, crystal -> sample frame (columns 1-9, row-major), as stored (not
        re-orthonormalised).
    pos_um : (N, 3) float64
        Grain centre (X, Y, Z) in the sample frame at ω = 0, µm.
    lattice : (N, 6) float64
        Strained lattice parameters a, b, c (Å), alpha, beta, gamma (deg).
    diff_pos_um, diff_ome_deg, diff_angle_deg, grain_radius_um, confidence : (N,) float64
        Columns 19-23 (refinement residuals, grain size, completeness).
    strain_fab, strain_ken : (N, 3, 3) float64
        Fable-Beaudoin and Kenesei strain tensors, sample frame, DIMENSIONLESS (the file holds ×1e6).
    rms_strain : (N,) float64
        RMSErrorStrain, dimensionless (file ×1e6).
    phase_nr : (N,) float64
        PhaseNr (kept as float: upstream writes it with %lf).
    euler_raw : (N, 3) float64
        Eul0..Eul2 exactly as stored (radians in upstream Grains.csv, degrees in its GrainsSim.csv).
    header : GrainsHeader
        The header lines.
    """

    grain_id: NDArray[np.int64]
    orient_mat: NDArray[np.float64]
    pos_um: NDArray[np.float64]
    lattice: NDArray[np.float64]
    diff_pos_um: NDArray[np.float64]
    diff_ome_deg: NDArray[np.float64]
    diff_angle_deg: NDArray[np.float64]
    grain_radius_um: NDArray[np.float64]
    confidence: NDArray[np.float64]
    strain_fab: NDArray[np.float64]
    strain_ken: NDArray[np.float64]
    rms_strain: NDArray[np.float64]
    phase_nr: NDArray[np.float64]
    euler_raw: NDArray[np.float64]
    header: GrainsHeader = field(default_factory=GrainsHeader)

    def __post_init__(self) -> None:
        n = len(np.asarray(self.grain_id))
        object.__setattr__(self, "grain_id", np.ascontiguousarray(self.grain_id, dtype=np.int64).reshape(n))
        for name, shape in (("orient_mat", (n, 3, 3)), ("pos_um", (n, 3)), ("lattice", (n, 6)),
                            ("diff_pos_um", (n,)), ("diff_ome_deg", (n,)), ("diff_angle_deg", (n,)),
                            ("grain_radius_um", (n,)), ("confidence", (n,)), ("strain_fab", (n, 3, 3)),
                            ("strain_ken", (n, 3, 3)), ("rms_strain", (n,)), ("phase_nr", (n,)),
                            ("euler_raw", (n, 3))):
            object.__setattr__(self, name, _f64(getattr(self, name), shape, name))

    def __len__(self) -> int:
        return int(self.grain_id.shape[0])

    @classmethod
    def from_arrays(cls, orient_mat: Any, pos_um: Any, lattice: Any, *, grain_id: Any = None,
                    header: GrainsHeader | None = None, **columns: Any) -> GrainsTable:
        """Build a table from the essential arrays; every other column defaults to 0
        (grain_radius_um and confidence too), grain_id to 1..N.

        Parameters
        ----------
        orient_mat : (N, 3, 3) float64
            Crystal -> sample orientation matrices.
        pos_um : (N, 3) float64
            Positions, sample frame, µm.
        lattice : (N, 6) or (6,) float64
            Lattice parameters per grain (or one set for all), Å and degrees.
        **columns
            Any other attribute of :class:`GrainsTable` by name.
        """
        om = np.asarray(orient_mat, dtype=np.float64)
        n = om.shape[0] if om.ndim == 3 else -1
        if om.shape != (n, 3, 3):
            raise FormatError(f"orient_mat has shape {om.shape}, expected (N, 3, 3)")
        lat = np.asarray(lattice, dtype=np.float64)
        if lat.shape == (6,):
            lat = np.broadcast_to(lat, (n, 6))
        zeros = np.zeros(n)
        base: dict[str, Any] = {
            "grain_id": np.arange(1, n + 1) if grain_id is None else grain_id,
            "orient_mat": om, "pos_um": pos_um, "lattice": lat,
            "diff_pos_um": zeros, "diff_ome_deg": zeros, "diff_angle_deg": zeros, "grain_radius_um": zeros,
            "confidence": zeros, "strain_fab": np.zeros((n, 3, 3)), "strain_ken": np.zeros((n, 3, 3)),
            "rms_strain": zeros, "phase_nr": zeros, "euler_raw": np.zeros((n, 3)),
            "header": header if header is not None else GrainsHeader(),
        }
        unknown = set(columns) - set(base)
        if unknown:
            raise FormatError(f"GrainsTable.from_arrays: unknown columns {sorted(unknown)}")
        base.update(columns)
        return cls(**base)

    def to_matrix(self) -> NDArray[np.float64]:
        """The (N, 47) float64 matrix of the file's columns (strains ×1e6, as written)."""
        n = len(self)
        m = np.empty((n, _N_FULL))
        m[:, 0] = self.grain_id
        m[:, 1:10] = self.orient_mat.reshape(n, 9)
        m[:, 10:13] = self.pos_um
        m[:, 13:19] = self.lattice
        m[:, 19] = self.diff_pos_um
        m[:, 20] = self.diff_ome_deg
        m[:, 21] = self.diff_angle_deg
        m[:, 22] = self.grain_radius_um
        m[:, 23] = self.confidence
        m[:, 24:33] = self.strain_fab.reshape(n, 9) * _STRAIN_SCALE
        m[:, 33:42] = self.strain_ken.reshape(n, 9) * _STRAIN_SCALE
        m[:, 42] = self.rms_strain * _STRAIN_SCALE
        m[:, 43] = self.phase_nr
        m[:, 44:47] = self.euler_raw
        return m

    @classmethod
    def from_matrix(cls, m: Any, header: GrainsHeader | None = None) -> GrainsTable:
        """Inverse of :meth:`to_matrix`: (N, 47) columns in file order (strains ×1e6)."""
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.shape[1] != _N_FULL:
            raise FormatError(f"Grains matrix has shape {m.shape}, expected (N, {_N_FULL})")
        n = m.shape[0]
        ids = m[:, 0]
        if not np.all(ids == np.round(ids)):
            raise FormatError("GrainID column holds non-integer values")
        return cls(
            grain_id=ids.astype(np.int64), orient_mat=m[:, 1:10].reshape(n, 3, 3), pos_um=m[:, 10:13],
            lattice=m[:, 13:19], diff_pos_um=m[:, 19], diff_ome_deg=m[:, 20], diff_angle_deg=m[:, 21],
            grain_radius_um=m[:, 22], confidence=m[:, 23],
            strain_fab=m[:, 24:33].reshape(n, 3, 3) / _STRAIN_SCALE,
            strain_ken=m[:, 33:42].reshape(n, 3, 3) / _STRAIN_SCALE,
            rms_strain=m[:, 42] / _STRAIN_SCALE, phase_nr=m[:, 43], euler_raw=m[:, 44:47],
            header=header if header is not None else GrainsHeader(),
        )


_HEADER_NUMBER = re.compile(r"^%\s*(NumGrains|BeamCenter|BeamThickness|GlobalPosition|NumPhases)\s+(\S+)")


def _parse_header(lines: list[str], path: Path) -> tuple[GrainsHeader, int | None]:
    values: dict[str, str] = {}
    space_group = 0
    lattice: tuple[float, ...] = (0.0, 0.0, 0.0, 90.0, 90.0, 90.0)
    for i, line in enumerate(lines, start=1):
        m = _HEADER_NUMBER.match(line)
        try:
            if m:
                values[m.group(1)] = m.group(2)
            elif "SpaceGroup:" in line:
                space_group = int(line.split("SpaceGroup:", 1)[1].split()[0])
            elif "Lattice Parameter:" in line:
                lattice = tuple(float(x) for x in line.split("Lattice Parameter:", 1)[1].split())
                if len(lattice) != 6:
                    raise ValueError(f"{len(lattice)} values, expected 6")
        except (ValueError, IndexError) as exc:
            raise FormatError(f"{path}:{i}: cannot parse header line {line.rstrip()!r}: {exc}") from exc
    try:
        header = GrainsHeader(
            beam_center=float(values.get("BeamCenter", 0.0)),
            beam_thickness_um=float(values.get("BeamThickness", 0.0)),
            global_position_um=float(values.get("GlobalPosition", 0.0)),
            num_phases=int(float(values.get("NumPhases", 1))),
            space_group=space_group,
            lattice=lattice,  # type: ignore[arg-type]
        )
        num = int(values["NumGrains"]) if "NumGrains" in values else None
    except ValueError as exc:
        raise FormatError(f"{path}: bad number in the header: {exc}") from exc
    return header, num


def _check_column_names(header_lines: list[str], width: int, path: Path) -> None:
    """A narrower file's column-name line (``%GrainID ...``), when present, must name the first
    ``width`` Grains.csv columns (or all 47, as upstream's writers do)."""
    for i, line in enumerate(header_lines, start=1):
        names = line.lstrip("%").split()
        if not names or names[0] != GRAINS_COLUMNS[0]:
            continue
        if tuple(names) not in (GRAINS_COLUMNS[:width], GRAINS_COLUMNS):
            raise FormatError(f"{path}:{i}: rows have {width} values but the column names are {names}; expected "
                              f"{list(GRAINS_COLUMNS[:width])}")


def read_grains_csv(path: str | Path) -> GrainsTable:
    """Read an upstream ``Grains.csv`` (or ``GrainsSim.csv`` / ``GrainsGen.csv``).

    Parameters
    ----------
    path : str or Path
        The file. Header lines are those starting with ``%`` before the first data row; blank
        lines are ignored.

    Returns
    -------
    GrainsTable
        One entry per data row, in file order. For 24-column rows the columns after Confidence
        are zero (PhaseNr too), for 19-column rows (GrainsGen.csv) those after gamma.

    Raises
    ------
    FormatError
        When the file is missing, a row does not hold 47, 24 or 19 numbers, the rows mix
        layouts, a narrower file's column-name line names other columns than the first ones of
        Grains.csv, or a value is not a number; the message names the file and line.

    Notes
    -----
    A ``%NumGrains`` that differs from the number of rows is logged as a warning (upstream's own
    files are consistent; edited files often are not).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read grains file: {exc}") from exc
    header_lines: list[str] = []
    rows: list[list[float]] = []
    width: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("%"):
            if rows:
                raise FormatError(f"{p}:{lineno}: header line {line!r} after the first grain row")
            header_lines.append(line)
            continue
        fields = line.split()
        if len(fields) not in _WIDTHS:
            raise FormatError(f"{p}:{lineno}: grain row has {len(fields)} values, expected {_N_FULL} "
                              f"(Grains.csv), {_N_NO_STRAIN} (its columns GrainID to Confidence) or {_N_SHORT} "
                              f"(GrainsGen.csv)")
        if width is not None and len(fields) != width:
            raise FormatError(f"{p}:{lineno}: grain row has {len(fields)} values, previous rows {width}")
        width = len(fields)
        try:
            rows.append([float(x) for x in fields])
        except ValueError as exc:
            raise FormatError(f"{p}:{lineno}: {exc}") from exc
    header, num = _parse_header(header_lines, p)
    if width == _N_NO_STRAIN:
        _check_column_names(header_lines, width, p)
    m = np.zeros((len(rows), _N_FULL))
    if rows:
        m[:, : width or _N_FULL] = np.asarray(rows)
    if num is not None and num != len(rows):
        log.warning("%s: %%NumGrains %d but %d grain rows; using the rows", p, num, len(rows))
    return GrainsTable.from_matrix(m, header)


def write_grains_csv(path: str | Path, table: GrainsTable, *, short: bool = False) -> None:
    """Write ``table`` as an upstream ``Grains.csv`` (9 header lines, 47 tab-terminated columns).

    Parameters
    ----------
    path : str or Path
        Output file; written to a temporary file in the same folder, then renamed.
    table : GrainsTable
        The grains; ``%NumGrains`` is ``len(table)``.
    short : bool
        Write only the first 19 columns (GrainID, orientation, position, lattice): the layout of
        upstream's simulator output ``GrainsGen.csv``. The header keeps all 47 column names, as
        upstream's does.

    Raises
    ------
    FormatError
        When the folder is missing or not writable.

    Notes
    -----
    Values are written like upstream's C ``printf("%lf\\t")`` (6 decimals); GrainID as ``%d``.
    Reading back reproduces the file byte for byte.
    """
    h = table.header
    out = [
        f"%NumGrains {len(table)}\n",
        f"%BeamCenter {h.beam_center:f}\n",
        f"%BeamThickness {h.beam_thickness_um:f}\n",
        f"%GlobalPosition {h.global_position_um:f}\n",
        f"%NumPhases {h.num_phases}\n",
        "%PhaseInfo\n",
        f"%\tSpaceGroup:{h.space_group}\n",
        "%\tLattice Parameter: " + " ".join(f"{x:f}" for x in h.lattice) + "\n",
        "%" + "\t".join(GRAINS_COLUMNS) + "\n",
    ]
    m = table.to_matrix()
    if short:
        m = m[:, :_N_SHORT]
    for row in m:
        out.append(f"{int(row[0])}\t" + "".join(f"{x:f}\t" for x in row[1:]) + "\n")
    with atomic_output(path) as tmp:
        tmp.write_text("".join(out))
