"""Powder calibrants: presets, lookup by name or file name, and their ring lists.

A calibrant is a space group plus a lattice (``SpaceGroup`` + ``LatticeConstant``), or an explicit
list of d-spacings (``DSpacing`` lines, for lamellar calibrants such as silver behenate). Its rings
come from :func:`midas.crystal.hkl_table`, so ring numbers are upstream's ``hkls.csv`` ring
numbers (reflections whose d differ by less than 1e-4 Å share a ring).

Presets use certified lattice constants where a NIST SRM exists (``reference_calibrants/`` of the
shared data holds the certificates' d-spacing lists).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from midas.crystal import Lattice, hkl_table
from midas.errors import ParamError

__all__ = ["CALIBRANTS", "Calibrant", "CalibrantRings", "calibrant_from_filename", "calibrant_from_params",
           "get_calibrant"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CalibrantRings:
    """The Debye–Scherrer rings of a calibrant at one wavelength, by increasing 2θ.

    Attributes
    ----------
    ring_nr : (K,) int64
        Ring number (1-based, upstream ``hkls.csv`` numbering; 1, 2, ... for a d-spacing list).
    d_A : (K,) float64
        d-spacing, Å.
    tth_deg : (K,) float64
        Scattering angle 2θ = 2·asin(λ / 2d), degrees.
    tan_tth : (K,) float64
        tan 2θ: the ideal ring radius is ``Lsd · tan 2θ`` (µm).
    hkl : (K, 3) int32
        Miller indices of the ring's first reflection (zeros for a d-spacing list).
    multiplicity : (K,) int64
        Reflections in the ring (Friedel mates counted; 1 for a d-spacing list).
    """

    ring_nr: NDArray[np.int64]
    d_A: NDArray[np.float64]
    tth_deg: NDArray[np.float64]
    tan_tth: NDArray[np.float64]
    hkl: NDArray[np.int32]
    multiplicity: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ring_nr.size)

    def select(self, keep: NDArray[np.bool_]) -> CalibrantRings:
        """The rings where ``keep`` is True."""
        k = np.asarray(keep, dtype=bool)
        return CalibrantRings(self.ring_nr[k], self.d_A[k], self.tth_deg[k], self.tan_tth[k], self.hkl[k],
                              self.multiplicity[k])


@dataclass(frozen=True, slots=True)
class Calibrant:
    """A powder calibrant.

    Attributes
    ----------
    name : str
        Display name (``"CeO2"``).
    space_group : int
        ITA space-group number (``SpaceGroup``); 0 when ``d_spacings_A`` is given instead.
    lattice : (6,) tuple of float
        ``a b c α β γ`` in Å and degrees (``LatticeConstant``).
    reference : str
        Where the lattice constant comes from.
    d_spacings_A : tuple of float
        Explicit d-spacings (``DSpacing``); when non-empty they replace the lattice.

    Raises
    ------
    ParamError
        Neither a valid space group and lattice nor any d-spacing, or a d-spacing ≤ 0.
    """

    name: str
    space_group: int
    lattice: tuple[float, float, float, float, float, float]
    reference: str = ""
    d_spacings_A: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "lattice", tuple(float(v) for v in self.lattice))
        object.__setattr__(self, "d_spacings_A", tuple(float(v) for v in self.d_spacings_A))
        if self.d_spacings_A:
            if any(not (math.isfinite(d) and d > 0) for d in self.d_spacings_A):
                raise ParamError(f"calibrant {self.name}: d-spacings {self.d_spacings_A} must all be > 0 Å")
            return
        if not (1 <= int(self.space_group) <= 230) or len(self.lattice) != 6:
            raise ParamError(f"calibrant {self.name}: SpaceGroup {self.space_group} and LatticeConstant "
                             f"{self.lattice}: expected a space group 1..230 and six lattice numbers")

    def rings(self, wavelength_A: float, tth_max_deg: float) -> CalibrantRings:
        """The rings with 0 < 2θ ≤ ``tth_max_deg`` at ``wavelength_A``.

        Raises
        ------
        ParamError
            A wavelength ≤ 0 or a 2θ limit outside (0, 90).
        GeometryError
            No ring below ``tth_max_deg``.
        """
        lam = float(wavelength_A)
        if not (math.isfinite(lam) and lam > 0):
            raise ParamError(f"Wavelength = {wavelength_A}: expected a wavelength > 0 Å")
        if not (0.0 < tth_max_deg < 90.0):
            raise ParamError(f"2θ limit {tth_max_deg} deg must lie in (0, 90)")
        if self.d_spacings_A:
            d = np.array(sorted(set(self.d_spacings_A), reverse=True), dtype=np.float64)
            d = d[lam / (2.0 * d) < 1.0]
            tth = 2.0 * np.rad2deg(np.arcsin(lam / (2.0 * d)))
            keep = tth <= tth_max_deg
            n = int(keep.sum())
            return CalibrantRings(np.arange(1, d.size + 1, dtype=np.int64)[keep], d[keep], tth[keep],
                                  np.tan(np.deg2rad(tth[keep])), np.zeros((n, 3), np.int32), np.ones(n, np.int64))
        # hkl_table cuts at the ring radius RhoD for a distance Lsd: use Lsd = 1, RhoD = tan 2θmax
        table = hkl_table(int(self.space_group), Lattice(*self.lattice), lam, 1.0,
                          math.tan(math.radians(tth_max_deg)))
        first = np.flatnonzero(np.r_[True, table.ring_nr[1:] != table.ring_nr[:-1]])
        mult = np.diff(np.r_[first, len(table)]).astype(np.int64)
        tth = table.tth_deg[first]
        # display hkl: the ring member that sorts highest (h, k, l) — (1, 1, 1) rather than (−1, −1, −1)
        hkl = np.array([max(map(tuple, table.hkl[a:a + m].tolist())) for a, m in zip(first, mult)],
                       dtype=np.int32).reshape(-1, 3)
        return CalibrantRings(table.ring_nr[first].astype(np.int64), table.d_A[first].copy(), tth.copy(),
                              np.tan(np.deg2rad(tth)), hkl, mult)

    def to_params(self) -> dict[str, Any]:
        """The parameter-file keys of the calibrant (``SpaceGroup``/``LatticeConstant`` or ``DSpacing``)."""
        if self.d_spacings_A:
            return {"DSpacing": list(self.d_spacings_A)}
        return {"SpaceGroup": int(self.space_group), "LatticeConstant": self.lattice}


def _cubic(name: str, sg: int, a: float, ref: str) -> Calibrant:
    return Calibrant(name, sg, (a, a, a, 90.0, 90.0, 90.0), ref)


#: Presets by lower-case name. Lattice constants: NIST SRM certificates where one exists.
CALIBRANTS: dict[str, Calibrant] = {
    "ceo2": _cubic("CeO2", 225, 5.411651, "NIST SRM 674b"),
    "lab6": _cubic("LaB6", 221, 4.1568, "NIST SRM 660c"),
    "si": _cubic("Si", 227, 5.431179, "NIST SRM 640e"),
    "al2o3": Calibrant("Al2O3", 167, (4.759355, 4.759355, 12.99231, 90.0, 90.0, 120.0), "NIST SRM 676a"),
    "au": _cubic("Au", 225, 4.0782, "Maeland & Flanagan 1964"),
    "ni": _cubic("Ni", 225, 3.5239, "Taylor 1950"),
}

_ALIASES = {"ceria": "ceo2", "lanthanumhexaboride": "lab6", "silicon": "si", "corundum": "al2o3",
            "alumina": "al2o3", "gold": "au", "nickel": "ni"}


def get_calibrant(name: str) -> Calibrant:
    """A preset by name (case-insensitive; ``CeO2``/``ceria``, ``LaB6``, ``Si``, ``Al2O3``/``corundum``,
    ``Au``, ``Ni``).

    Raises
    ------
    ParamError
        Unknown name (the message lists the presets).

    Examples
    --------
    >>> get_calibrant("ceria").space_group, get_calibrant("LaB6").lattice[0]
    (225, 4.1568)
    """
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = _ALIASES.get(key, key)
    if key not in CALIBRANTS:
        raise ParamError(f"unknown calibrant {name!r}; presets: {', '.join(c.name for c in CALIBRANTS.values())} "
                         "(or give SpaceGroup and LatticeConstant in the parameter file)")
    return CALIBRANTS[key]


def calibrant_from_filename(path: str | Path) -> Calibrant | None:
    """The preset named in a data file name (``ceria_..._740mm.h5`` → CeO2), or None.

    Upstream's AutoCalibrateZarr detects the calibrant from the file name the same way.
    """
    words = re.split(r"[^a-z0-9]+", Path(path).name.lower())
    for w in words:
        key = _ALIASES.get(w, w)
        if key in CALIBRANTS:
            return CALIBRANTS[key]
    return None


def calibrant_from_params(p: Any, *, name: str | None = None, data_path: str | Path | None = None) -> Calibrant:
    """The calibrant of a run: ``name`` if given, else the parameter file, else the data file name.

    Parameters
    ----------
    p : MidasParams or mapping or None
        Reads ``DSpacing`` (lamellar list) or ``SpaceGroup`` + ``LatticeConstant``.
    name : str, optional
        A preset name (wins over the parameters).
    data_path : path, optional
        Looked at for a preset name when the parameters give no calibrant.

    Raises
    ------
    ParamError
        No calibrant can be found, or an unknown preset name.
    """
    if name:
        return get_calibrant(name)
    if p is not None:
        d = p.get("DSpacing", None)
        if d:
            return Calibrant("DSpacing list", 0, (1, 1, 1, 90, 90, 90), "parameter file",
                             tuple(float(v) for v in (d if isinstance(d, (list, tuple)) else [d])))
        lat = p.get("LatticeConstant", None)
        sg = p.get("SpaceGroup", None) if "SpaceGroup" in p else None
        if lat is not None and sg is not None:
            if isinstance(lat, list) and lat and isinstance(lat[-1], (tuple, list)):
                lat = lat[-1]
            lat6 = cast(tuple[float, float, float, float, float, float], tuple(float(v) for v in lat))
            return Calibrant(f"SG {int(sg)}", int(sg), lat6, "parameter file")
    if data_path is not None:
        c = calibrant_from_filename(data_path)
        if c is not None:
            log.info("calibrant %s (%s) taken from the data file name %s", c.name, c.reference, Path(data_path).name)
            return c
    raise ParamError("no calibrant: give SpaceGroup and LatticeConstant (or DSpacing) in the parameter file, "
                     f"or a preset with -Calibrant ({', '.join(c.name for c in CALIBRANTS.values())})")
