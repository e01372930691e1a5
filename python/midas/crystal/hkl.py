"""Reflection lists: the content of upstream's ``hkls.csv``.

:func:`hkl_table` lists every reflection (h, k, l) of a space group that is not systematically
absent and whose Bragg ring fits on the detector, one row per reflection including both Friedel
mates, sorted by d-spacing, with ring numbers. Rows come in exactly upstream MIDAS's order
(``GetHKLList``, MIDAS v11), because downstream stages identify theoretical spots by hkl row index.
See ``docs/conventions.md`` ("hkl ordering") for the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.crystal._generation import generation_order
from midas.crystal.lattice import Lattice
from midas.errors import GeometryError, ParamError

__all__ = ["RING_EPSILON_A", "HklTable", "d_spacing_cut_A", "hkl_table", "hkl_table_from_params"]

#: Two consecutive rows (sorted by d) belong to the same ring while their d differs from the
#: ring's first d by less than this (Å), as upstream.
RING_EPSILON_A = 1e-4


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class HklTable:
    """One row per reflection, in ``hkls.csv`` row order.

    Attributes
    ----------
    hkl : (N, 3) int32
        Miller indices.
    d_A : (N,) float64
        d-spacing ``1/|g_crystal|`` (Å).
    ring_nr : (N,) int32
        Ring number, 1-based, increasing with decreasing d.
    g_crystal : (N, 3) float64
        ``B @ hkl`` (1/Å, no 2π), crystal frame (see :meth:`Lattice.b_matrix`).
    theta_deg, tth_deg : (N,) float64
        Bragg angle θ and scattering angle 2θ (degrees).
    radius_um : (N,) float64
        Ring radius ``Lsd · tan 2θ`` on a detector normal to the beam (µm).

    Raises
    ------
    ParamError
        When the arrays do not have matching shapes.
    """

    hkl: NDArray[np.int32]
    d_A: NDArray[np.float64]
    ring_nr: NDArray[np.int32]
    g_crystal: NDArray[np.float64]
    theta_deg: NDArray[np.float64]
    tth_deg: NDArray[np.float64]
    radius_um: NDArray[np.float64]

    def __post_init__(self) -> None:
        hkl = np.asarray(self.hkl)
        if hkl.ndim != 2 or hkl.shape[1] != 3:
            raise ParamError(f"HklTable.hkl has shape {hkl.shape}, expected (N, 3)")
        n = hkl.shape[0]
        object.__setattr__(self, "hkl", _readonly(hkl.astype(np.int32, copy=False)))
        object.__setattr__(self, "ring_nr", _readonly(np.asarray(self.ring_nr).astype(np.int32, copy=False)))
        for name in ("d_A", "theta_deg", "tth_deg", "radius_um"):
            object.__setattr__(self, name, _readonly(np.asarray(getattr(self, name), dtype=np.float64)))
        object.__setattr__(self, "g_crystal", _readonly(np.asarray(self.g_crystal, dtype=np.float64)))
        for name in ("d_A", "ring_nr", "theta_deg", "tth_deg", "radius_um"):
            if getattr(self, name).shape != (n,):
                raise ParamError(f"HklTable.{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.g_crystal.shape != (n, 3):
            raise ParamError(f"HklTable.g_crystal has shape {self.g_crystal.shape}, expected ({n}, 3)")

    def __len__(self) -> int:
        return int(self.hkl.shape[0])

    # ---------------------------------------------------------------- ring summaries
    def _ring_first_rows(self) -> NDArray[np.intp]:
        if len(self) == 0:
            return np.zeros(0, dtype=np.intp)
        change = np.ones(len(self), dtype=bool)
        change[1:] = self.ring_nr[1:] != self.ring_nr[:-1]
        return np.nonzero(change)[0]

    @property
    def ring_numbers(self) -> NDArray[np.int32]:
        """(R,) int32: the distinct ring numbers in row order."""
        return self.ring_nr[self._ring_first_rows()]

    @property
    def ring_d_A(self) -> NDArray[np.float64]:
        """(R,) float64: d-spacing of each ring (its first row), Å."""
        return self.d_A[self._ring_first_rows()]

    @property
    def ring_tth_deg(self) -> NDArray[np.float64]:
        """(R,) float64: 2θ of each ring (its first row), degrees."""
        return self.tth_deg[self._ring_first_rows()]

    @property
    def ring_radius_um(self) -> NDArray[np.float64]:
        """(R,) float64: radius of each ring (its first row), µm."""
        return self.radius_um[self._ring_first_rows()]

    @property
    def ring_multiplicity(self) -> NDArray[np.int64]:
        """(R,) int64: number of rows (reflections, Friedel mates counted) in each ring."""
        first = self._ring_first_rows()
        return np.diff(np.append(first, len(self))).astype(np.int64)

    def rows_of_ring(self, ring_nr: int) -> NDArray[np.intp]:
        """Row indices of ring ``ring_nr`` (empty when there is no such ring)."""
        return np.nonzero(self.ring_nr == int(ring_nr))[0]

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Field name → array."""
        return {
            "hkl": self.hkl,
            "d_A": self.d_A,
            "ring_nr": self.ring_nr,
            "g_crystal": self.g_crystal,
            "theta_deg": self.theta_deg,
            "tth_deg": self.tth_deg,
            "radius_um": self.radius_um,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HklTable:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: d[k] for k in ("hkl", "d_A", "ring_nr", "g_crystal", "theta_deg", "tth_deg", "radius_um")})


def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ParamError(f"{name} = {value!r}: expected a number > 0") from exc
    if not (math.isfinite(v) and v > 0.0):
        raise ParamError(f"{name} = {value!r}: expected a finite number > 0")
    return v


def d_spacing_cut_A(wavelength_A: float, lsd_um: float, rho_d_um: float) -> float:
    """Smallest d-spacing whose ring radius is within ``rho_d_um`` (Å).

    ``d_min = λ / (2 sin(atan(RhoD/Lsd)/2))``, upstream's cut; rows with d < d_min are dropped.

    Raises
    ------
    ParamError
        When an argument is not a finite number > 0.
    """
    wl = _positive("wavelength_A", wavelength_A)
    lsd = _positive("lsd_um", lsd_um)
    rho = _positive("rho_d_um", rho_d_um)
    return wl / (2.0 * math.sin(math.radians(math.degrees(math.atan(rho / lsd)) / 2.0)))


def hkl_table(
    space_group: int,
    lattice: Lattice,
    wavelength_A: float,
    lsd_um: float,
    rho_d_um: float,
    *,
    complete: bool = True,
) -> HklTable:
    """Reflections of a crystal that reach the detector, in upstream ``hkls.csv`` row order.

    Parameters
    ----------
    space_group : int
        ITA space-group number 1..230 (standard setting; monoclinic unique axis b, origin
        choice 1, hexagonal axes for R groups) — as upstream reads ``SpaceGroup``.
    lattice : Lattice
        Unit cell (Å, degrees); ``LatticeConstant``.
    wavelength_A : float
        X-ray wavelength (Å); ``Wavelength``.
    lsd_um : float
        Sample-to-detector distance (µm); ``Lsd`` (the last one for multi-distance NF files).
    rho_d_um : float
        Largest ring radius kept (µm); ``RhoD`` / ``MaxRingRad``.
    complete : bool, optional
        Keep every allowed reflection (default). Upstream misses about half the reflections of the
        Laue classes -3 and -31m (space groups 143-149, 151, 153, 157, 159, 162, 163) and every
        family whose asymmetric-unit representative has an index above 10; ``complete=False``
        reproduces those omissions for byte-level comparisons. For all other groups and cuts the
        two agree.

    Returns
    -------
    HklTable
        Rows sorted by d descending (stable on upstream's generation order, so rows with equal d
        keep upstream's order), ring numbers incremented whenever d differs from the ring's first
        d by ≥ 1e-4 Å, truncated at ``d < d_spacing_cut_A(...)``.

    Raises
    ------
    ParamError
        For a space group outside 1..230 or a non-positive wavelength, distance or radius.
    GeometryError
        When no reflection reaches ``rho_d_um``.

    Notes
    -----
    Systematic absences come from gemmi (``GroupOps.systematic_absences``); the generation order
    is derived in :mod:`midas.crystal._generation`. θ = asin(λ/2d), radius = Lsd·tan 2θ
    (docs/upstream_facts.md §2.6, §3.3). Numbers equal upstream's to the last bit.

    Examples
    --------
    >>> t = hkl_table(225, Lattice(4.08, 4.08, 4.08, 90, 90, 90), 0.22291, 1e6, 204800)
    >>> len(t), t.hkl[1].tolist(), round(float(t.ring_radius_um[0]), 1)
    (58, [1, 1, 1], 94949.4)
    """
    if not isinstance(lattice, Lattice):
        raise ParamError(f"lattice must be a midas.crystal.Lattice, got {type(lattice).__name__}")
    wl = _positive("wavelength_A", wavelength_A)
    lsd = _positive("lsd_um", lsd_um)
    d_min = d_spacing_cut_A(wl, lsd, rho_d_um)
    max_index = tuple(math.floor(x / d_min * (1.0 + 1e-9)) + 1 for x in (lattice.a_A, lattice.b_A, lattice.c_A))
    rows = generation_order(int(space_group), max_index, complete=complete)
    g = lattice.g_crystal(rows)
    d = 1.0 / np.sqrt((g[:, 0] * g[:, 0] + g[:, 1] * g[:, 1]) + g[:, 2] * g[:, 2])
    keep = d >= d_min
    rows, g, d = rows[keep], g[keep], d[keep]
    if rows.shape[0] == 0:
        raise GeometryError(
            f"no reflection of space group {space_group} with {lattice} reaches RhoD = {rho_d_um} µm at "
            f"Lsd = {lsd_um} µm and λ = {wavelength_A} Å (d_min = {d_min:.6g} Å): increase RhoD"
        )
    order = np.argsort(-d, kind="stable")
    rows, g, d = rows[order], g[order], d[order]
    ring = np.empty(d.shape[0], dtype=np.int32)
    ring_nr, d_first = 1, float(d[0])
    for i, di in enumerate(d.tolist()):
        if abs(di - d_first) >= RING_EPSILON_A:
            ring_nr += 1
            d_first = di
        ring[i] = ring_nr
    # Scalar libm calls keep the last bit identical to upstream's C code.
    theta = np.array([math.degrees(math.asin(wl / (2.0 * di))) for di in d.tolist()], dtype=np.float64)
    tth = theta * 2.0
    radius = np.array([lsd * math.tan(math.radians(t)) for t in tth.tolist()], dtype=np.float64)
    return HklTable(hkl=rows, d_A=d, ring_nr=ring, g_crystal=g, theta_deg=theta, tth_deg=tth, radius_um=radius)


def _param(p: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        try:
            v = p.get(key, None)
        except TypeError:
            v = p.get(key)
        if v is not None:
            if isinstance(v, list) and v:
                v = v[-1]  # repeated key: upstream keeps the last occurrence
            return v
    return None


def hkl_table_from_params(p: Any, *, complete: bool = True) -> HklTable:
    """:func:`hkl_table` from a parameter set (``MidasParams`` or a plain mapping).

    Uses ``SpaceGroup``, ``LatticeConstant`` (``LatticeParameter``), ``Wavelength``, ``Lsd``
    (``Distance``; the last occurrence, as upstream) and ``RhoD`` (``MaxRingRad``).

    Raises
    ------
    ParamError
        When a key is missing or invalid (the message names it and the source file).
    GeometryError
        As :func:`hkl_table`.
    """
    source = getattr(p, "source", None)
    where = f" in {source}" if source else ""
    values = {}
    for name, keys in (
        ("SpaceGroup", ("SpaceGroup",)),
        ("Wavelength", ("Wavelength",)),
        ("Lsd", ("Lsd", "Distance")),
        ("RhoD", ("RhoD", "MaxRingRad")),
    ):
        v = _param(p, keys)
        if v is None:
            raise ParamError(f"{name} is missing{where}: needed to build the hkl list")
        values[name] = v
    try:
        sg = int(values["SpaceGroup"])
    except (TypeError, ValueError) as exc:
        raise ParamError(f"SpaceGroup{where} = {values['SpaceGroup']!r}: expected an integer 1..230") from exc
    return hkl_table(
        sg,
        Lattice.from_params(p),
        values["Wavelength"],
        values["Lsd"],
        values["RhoD"],
        complete=complete,
    )
