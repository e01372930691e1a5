"""Observed far-field spots as the indexer and the refinement read them.

:class:`ObservedSpots` holds one row per spot in the column set of upstream's ``InputAll.csv``
plus the ``InputAllExtraInfoFittingAll.csv`` columns the outputs need (upstream_facts.md §3.7):
ideal (tilt- and distortion-corrected) lab coordinates on the plane at Lsd, the wedge-corrected
ω, ring, η, 2θ, the grain radius estimated from the spot intensity, and the raw detector pixel.
Rows with ``ring_nr <= 0`` are rejected spots (upstream keeps them as rows of zeros so that row
i keeps SpotID i + 1).

Sources: the front half's spot table, upstream's ``InputAll.csv`` (``-provideInputAll``), the
``Spots.bin``/``ExtraInfo.bin`` pair written by ``SaveBinData`` (9/16 columns, and the 2015
9/14-column layout), and predicted spots of the forward model (synthetic lists).
Frames and signs: ``docs/conventions.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import FormatError, ParamError

__all__ = ["ObservedSpots", "read_input_all", "read_spots_bin"]

log = logging.getLogger(__name__)

_INT_FIELDS = {"spot_id": np.int64, "ring_nr": np.int32}


@dataclass(frozen=True, slots=True)
class ObservedSpots:
    """Observed spots (N rows).

    Attributes
    ----------
    spot_id : (N,) int64
        Spot identifier (upstream SpotID: 1-based row number of InputAll.csv).
    y_um, z_um : (N,) float64
        Ideal lab coordinates on the plane at Lsd (µm): tilt, distortion corrected
        (InputAll ``YLab``, ``ZLab``).
    omega_deg : (N,) float64
        ω after the timing and wedge corrections, degrees in (-180, 180] (``Omega``).
    grain_radius_um : (N,) float64
        Grain radius estimated from the spot intensity (``GrainRadius``; 0 when unknown).
    ring_nr : (N,) int32
        Ring number (``RingNumber``); <= 0 marks a rejected spot.
    eta_deg, tth_deg : (N,) float64
        Azimuth and 2θ of the spot position (degrees).
    y_px, z_px : (N,) float64
        Raw detector column/row of the spot (NaN when unknown).
    omega_raw_deg : (N,) float64
        ω before the wedge correction (``OmeRaw`` of SpotMatrix.csv); equals omega_deg when
        there is no wedge.
    """

    spot_id: NDArray[np.int64]
    y_um: NDArray[np.float64]
    z_um: NDArray[np.float64]
    omega_deg: NDArray[np.float64]
    grain_radius_um: NDArray[np.float64]
    ring_nr: NDArray[np.int32]
    eta_deg: NDArray[np.float64]
    tth_deg: NDArray[np.float64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    omega_raw_deg: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(np.asarray(self.spot_id))
        for f in fields(self):
            arr = np.ascontiguousarray(getattr(self, f.name), dtype=_INT_FIELDS.get(f.name, np.float64))
            if arr.shape != (n,):
                raise ParamError(f"ObservedSpots.{f.name} has shape {arr.shape}, expected ({n},)")
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)
        valid = self.ring_nr > 0
        for name in ("y_um", "z_um", "omega_deg", "eta_deg"):
            if not np.all(np.isfinite(getattr(self, name)[valid])):
                raise ParamError(f"ObservedSpots.{name} holds non-finite values on valid spots")

    def __len__(self) -> int:
        return int(self.spot_id.shape[0])

    @classmethod
    def from_arrays(cls, *, y_um: Any, z_um: Any, omega_deg: Any, ring_nr: Any, lsd_um: float,
                    spot_id: Any = None, grain_radius_um: Any = None, eta_deg: Any = None, tth_deg: Any = None,
                    y_px: Any = None, z_px: Any = None, omega_raw_deg: Any = None) -> ObservedSpots:
        """Build from the essential columns; η and 2θ default to those of (y, z) at ``lsd_um``.

        Parameters
        ----------
        y_um, z_um, omega_deg : (N,) float64
            Ideal lab coordinates (µm) and ω (degrees).
        ring_nr : (N,) int
            Ring numbers.
        lsd_um : float
            Sample-to-detector distance used for the default 2θ = atan(√(y² + z²)/Lsd).
        spot_id : (N,) int, optional
            Default 1..N.
        grain_radius_um, eta_deg, tth_deg, y_px, z_px, omega_raw_deg : (N,) float64, optional
            Defaults: 0, atan2(-y, z), the 2θ above, NaN, NaN, omega_deg.
        """
        y = np.asarray(y_um, dtype=np.float64)
        z = np.asarray(z_um, dtype=np.float64)
        n = y.shape[0]
        w = np.asarray(omega_deg, dtype=np.float64)
        return cls(
            spot_id=np.arange(1, n + 1) if spot_id is None else spot_id,
            y_um=y, z_um=z, omega_deg=w,
            grain_radius_um=np.zeros(n) if grain_radius_um is None else grain_radius_um,
            ring_nr=ring_nr,
            eta_deg=np.degrees(np.arctan2(-y, z)) if eta_deg is None else eta_deg,
            tth_deg=np.degrees(np.arctan(np.hypot(y, z) / lsd_um)) if tth_deg is None else tth_deg,
            y_px=np.full(n, np.nan) if y_px is None else y_px,
            z_px=np.full(n, np.nan) if z_px is None else z_px,
            omega_raw_deg=w if omega_raw_deg is None else omega_raw_deg,
        )

    @classmethod
    def from_spot_table(cls, table: Any, *, lsd_um: float) -> ObservedSpots:
        """Observed spots from predicted ones (:class:`midas.forward.SpotTable`), as FitSetup would
        report them without measurement error: ideal displaced (y, z), wedge-corrected ω
        (``omega_raw_deg``, the ω before the wedge), rows sorted by ring then ω, SpotID = row + 1.

        Parameters
        ----------
        table : midas.forward.SpotTable
        lsd_um : float
            Sample-to-detector distance (µm) for 2θ.
        """
        order = np.lexsort((np.asarray(table.omega_raw_deg), np.asarray(table.ring_nr)))
        y = np.asarray(table.y_um)[order]
        z = np.asarray(table.z_um)[order]
        return cls.from_arrays(y_um=y, z_um=z, omega_deg=np.asarray(table.omega_raw_deg)[order],
                               ring_nr=np.asarray(table.ring_nr)[order], lsd_um=lsd_um,
                               y_px=np.asarray(table.y_px)[order], z_px=np.asarray(table.z_px)[order],
                               omega_raw_deg=np.asarray(table.omega_deg)[order])

    @classmethod
    def from_setup(cls, setup: Any) -> ObservedSpots:
        """Build from any object with the attributes of this class (the front half's FitSetup
        table, or another ObservedSpots). Missing optional columns take the defaults of
        :meth:`from_arrays`.

        Raises
        ------
        ParamError
            A required attribute is missing.
        """
        if isinstance(setup, ObservedSpots):
            return setup
        need = ("y_um", "z_um", "omega_deg", "ring_nr")
        missing = [k for k in need if not hasattr(setup, k)]
        if missing:
            raise ParamError(f"{type(setup).__name__} lacks the spot columns {missing}")
        kw = {k: getattr(setup, k) for k in ("spot_id", "grain_radius_um", "eta_deg", "tth_deg", "y_px", "z_px",
                                              "omega_raw_deg") if getattr(setup, k, None) is not None}
        lsd = getattr(setup, "lsd_um", None)
        if lsd is None and "tth_deg" not in kw:
            raise ParamError(f"{type(setup).__name__} has no tth_deg and no lsd_um to compute it")
        return cls.from_arrays(y_um=setup.y_um, z_um=setup.z_um, omega_deg=setup.omega_deg, ring_nr=setup.ring_nr,
                               lsd_um=float(lsd) if lsd is not None else 1.0, **kw)

    def select(self, mask: Any) -> ObservedSpots:
        """The rows selected by a boolean mask or index array, in order."""
        return ObservedSpots(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Mapping of attribute name -> array (inverse of :meth:`from_dict`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObservedSpots:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    def index_of(self, spot_ids: Any) -> NDArray[np.int64]:
        """Row indices of the given SpotIDs.

        Raises
        ------
        ParamError
            An ID is not in the table.
        """
        ids = np.asarray(spot_ids, dtype=np.int64).ravel()
        order = np.argsort(self.spot_id, kind="stable")
        pos = np.searchsorted(self.spot_id[order], ids)
        pos = np.clip(pos, 0, max(len(self) - 1, 0))
        found = (len(self) > 0) & (self.spot_id[order][pos] == ids) if len(self) else np.zeros(ids.shape, bool)
        if not np.all(found):
            bad = ids[~found][:5]
            raise ParamError(f"spot IDs {bad.tolist()} are not in the spot table")
        return order[pos].astype(np.int64)


def _load_table(path: Path, n_cols: int) -> NDArray[np.float64]:
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        data = np.loadtxt(path, comments="%", ndmin=2)
    except ValueError as exc:
        raise FormatError(f"{path}: not a numeric table: {exc}") from exc
    if data.size == 0:
        return np.zeros((0, n_cols))
    if data.shape[1] < n_cols:
        raise FormatError(f"{path}: {data.shape[1]} columns, expected at least {n_cols}")
    return data


def _from_columns(main: NDArray[np.float64], extra: NDArray[np.float64] | None, where: str) -> ObservedSpots:
    n = main.shape[0]
    y_px = z_px = None
    w_raw = None
    if extra is not None:
        if extra.shape[0] != n:
            raise FormatError(f"{where}: the extra-info table has {extra.shape[0]} rows, the spot table {n}")
        w_raw = extra[:, 8]
        y_px, z_px = extra[:, 11], extra[:, 12]
    ring = np.rint(main[:, 5]).astype(np.int32)
    ids = np.rint(main[:, 4]).astype(np.int64)
    # rows of zeros (rejected spots) keep their ID but no ring
    rejected = (main[:, 0] == 0) & (main[:, 1] == 0) & (main[:, 2] == 0)
    ring[rejected] = 0
    return ObservedSpots(spot_id=ids, y_um=main[:, 0], z_um=main[:, 1], omega_deg=main[:, 2],
                         grain_radius_um=main[:, 3], ring_nr=ring, eta_deg=main[:, 6], tth_deg=main[:, 7],
                         y_px=np.full(n, np.nan) if y_px is None else y_px,
                         z_px=np.full(n, np.nan) if z_px is None else z_px,
                         omega_raw_deg=main[:, 2] if w_raw is None else w_raw)


def read_input_all(path: str | Path, extra_info: str | Path | None = None) -> ObservedSpots:
    """Read upstream's ``InputAll.csv`` (and optionally ``InputAllExtraInfoFittingAll.csv``).

    Parameters
    ----------
    path : path
        ``%YLab ZLab Omega GrainRadius SpotID RingNumber Eta Ttheta`` (8 columns, one ``%`` header).
    extra_info : path, optional
        The 18-column extra table; its columns 8 (ω before the wedge), 11 and 12 (raw detector
        Y, Z in px) fill ``omega_raw_deg``, ``y_px``, ``z_px``.

    Returns
    -------
    ObservedSpots

    Raises
    ------
    FormatError
        Missing file, non-numeric content, too few columns or mismatched row counts.
    """
    p = Path(path)
    main = _load_table(p, 8)
    extra = _load_table(Path(extra_info), 13) if extra_info is not None else None
    spots = _from_columns(main, extra, str(p))
    log.info("%s: %d spots (%d valid)", p, len(spots), int(np.count_nonzero(spots.ring_nr > 0)))
    return spots


def read_spots_bin(spots_bin: str | Path, extra_info_bin: str | Path | None = None) -> ObservedSpots:
    """Read ``Spots.bin`` (N × 9 float64) and optionally ``ExtraInfo.bin`` (N × 16, or the 2015
    layout N × 14) written by upstream's ``SaveBinData`` (upstream_facts.md §3.8).

    Only columns 0-7 of Spots.bin are used (the 9th differs between versions).

    Raises
    ------
    FormatError
        A size that is not a whole number of rows, or tables of different lengths.
    """
    p = Path(spots_bin)
    if not p.is_file():
        raise FormatError(f"{p}: no such file")
    raw = np.fromfile(p, dtype="<f8")
    if raw.size % 9:
        raise FormatError(f"{p}: {raw.size} float64 values is not a multiple of 9 (Spots.bin rows)")
    main = raw.reshape(-1, 9)
    extra = None
    if extra_info_bin is not None:
        q = Path(extra_info_bin)
        if not q.is_file():
            raise FormatError(f"{q}: no such file")
        ex = np.fromfile(q, dtype="<f8")
        for width in (16, 14):
            if ex.size == width * main.shape[0]:
                extra = ex.reshape(-1, width)
                break
        else:
            raise FormatError(f"{q}: {ex.size} float64 values; expected {main.shape[0]} rows of 16 (or 14, the "
                              "2015 layout) to match Spots.bin")
    return _from_columns(main, extra, str(p))
