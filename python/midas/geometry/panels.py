"""Multi-panel (modular) detectors: the panel layout and per-panel rigid corrections.

A Pilatus or Eiger is a grid of modules separated by insensitive gaps; each module may sit a
fraction of a pixel off the common plane. Upstream MIDAS describes the grid with the keys
``NPanelsY``, ``NPanelsZ``, ``PanelSizeY``, ``PanelSizeZ``, ``PanelGapsY``, ``PanelGapsZ`` and the
corrections with a ``PanelShiftsFile`` (``id dY dZ dTheta dLsd dP2``; :mod:`midas.io.panel_shifts`).
The model (``upstream_facts.md`` §2.3 step 6) and its frame and sign conventions are in
``docs/conventions.md`` ("Detector panels"): a pixel of panel k is moved rigidly,

    (Y, Z) → c_k + Rot(dθ_k)·((Y, Z) − c_k) + (dY_k, dZ_k),

then goes through the single-plane model with ``Lsd + dLsd_k`` in the projection and
``p2 + dP2_k`` in the distortion. It is evaluated in C++ by
:func:`midas.geometry.pixel_to_ideal` for an :class:`~midas.geometry.FFDetector` that carries a
:class:`PanelLayout` and ``panel_shifts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import GeometryError, ParamError

__all__ = ["KNOWN_LAYOUTS", "PANEL_SHIFT_COLUMNS", "PanelLayout"]

#: Columns of one panel's correction, in the order of upstream's PanelShiftsFile:
#: dY (px, columns), dZ (px, rows), dθ (deg, about the panel centre), dLsd (µm), dP2.
PANEL_SHIFT_COLUMNS = ("d_y_px", "d_z_px", "d_theta_deg", "d_lsd_um", "d_p2")


@dataclass(frozen=True, slots=True)
class PanelLayout:
    """A regular grid of detector panels (upstream ``GeneratePanels``).

    Panel ``id = iy·n_z + iz`` covers columns ``y0(iy) … y0(iy) + size_y − 1`` and rows
    ``z0(iz) … z0(iz) + size_z − 1`` of the frame after ImTransOpt, with ``y0(0) = 0`` and
    ``y0(i+1) = y0(i) + size_y + gaps_y[i]`` (likewise along Z).

    Attributes
    ----------
    n_panels : (int, int)
        Panels along Y (columns) and Z (rows). ``NPanelsY``, ``NPanelsZ``.
    panel_size_px : (int, int)
        Pixels per panel along Y and Z. ``PanelSizeY``, ``PanelSizeZ``.
    gaps_y_px, gaps_z_px : tuple of int
        The n_y − 1 (n_z − 1) gaps between neighbouring panels, pixels. ``PanelGapsY``,
        ``PanelGapsZ``.

    Raises
    ------
    GeometryError
        Non-positive counts or sizes, negative gaps, or a gap list of the wrong length.
    """

    n_panels: tuple[int, int]
    panel_size_px: tuple[int, int]
    gaps_y_px: tuple[int, ...]
    gaps_z_px: tuple[int, ...]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "n_panels", tuple(int(v) for v in self.n_panels))
        set_(self, "panel_size_px", tuple(int(v) for v in self.panel_size_px))
        set_(self, "gaps_y_px", tuple(int(v) for v in self.gaps_y_px))
        set_(self, "gaps_z_px", tuple(int(v) for v in self.gaps_z_px))
        if len(self.n_panels) != 2 or min(self.n_panels) < 1:
            raise GeometryError(f"PanelLayout: n_panels = {self.n_panels}, expected two counts >= 1 (NPanelsY, NPanelsZ)")
        if len(self.panel_size_px) != 2 or min(self.panel_size_px) < 1:
            raise GeometryError(f"PanelLayout: panel_size_px = {self.panel_size_px}, expected two sizes >= 1 px")
        for name, gaps, n in (("gaps_y_px", self.gaps_y_px, self.n_panels[0]),
                              ("gaps_z_px", self.gaps_z_px, self.n_panels[1])):
            if len(gaps) != n - 1 or any(g < 0 for g in gaps):
                raise GeometryError(f"PanelLayout: {name} = {gaps}, expected {n - 1} gaps >= 0 px "
                                    f"(PanelGaps{name[5].upper()} between {n} panels)")

    @property
    def n(self) -> int:
        """Number of panels."""
        return self.n_panels[0] * self.n_panels[1]

    @property
    def extent_px(self) -> tuple[int, int]:
        """Pixels spanned by the grid, gaps included: (n_y, n_z)."""
        return (self.n_panels[0] * self.panel_size_px[0] + sum(self.gaps_y_px),
                self.n_panels[1] * self.panel_size_px[1] + sum(self.gaps_z_px))

    def _starts(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        sy, sz = self.panel_size_px
        y0 = np.concatenate([[0], np.cumsum(np.asarray(self.gaps_y_px, dtype=np.int64) + sy)])
        z0 = np.concatenate([[0], np.cumsum(np.asarray(self.gaps_z_px, dtype=np.int64) + sz)])
        return y0.astype(np.int64), z0.astype(np.int64)

    def bounds(self) -> NDArray[np.int64]:
        """Inclusive pixel bounds of every panel.

        Returns
        -------
        (n, 4) int64
            ``y_min, y_max, z_min, z_max`` per panel, in upstream id order ``iy·n_z + iz``.
        """
        y0, z0 = self._starts()
        sy, sz = self.panel_size_px
        gy, gz = np.meshgrid(np.arange(self.n_panels[0]), np.arange(self.n_panels[1]), indexing="ij")
        iy, iz = gy.ravel(), gz.ravel()
        return np.stack([y0[iy], y0[iy] + sy - 1, z0[iz], z0[iz] + sz - 1], axis=1)

    def centres_px(self) -> NDArray[np.float64]:
        """(n, 2) float64 panel centres ``((y_min + y_max)/2, (z_min + z_max)/2)``, pixels."""
        b = self.bounds().astype(np.float64)
        return np.stack([0.5 * (b[:, 0] + b[:, 1]), 0.5 * (b[:, 2] + b[:, 3])], axis=1)

    def panel_index(self, y_px: ArrayLike, z_px: ArrayLike) -> NDArray[np.int64]:
        """Panel of the pixel nearest to each point (``⌊y + ½⌋, ⌊z + ½⌋``), −1 in gaps and outside.

        Parameters
        ----------
        y_px, z_px : array_like float, broadcastable
            Pixel coordinates (column, row) of the frame after ImTransOpt.

        Returns
        -------
        int64 array of the broadcast shape
        """
        y, z = np.broadcast_arrays(np.asarray(y_px, dtype=np.float64), np.asarray(z_px, dtype=np.float64))
        yr, zr = np.floor(y + 0.5), np.floor(z + 0.5)
        y0, z0 = self._starts()
        sy, sz = self.panel_size_px
        with np.errstate(invalid="ignore"):
            iy = np.searchsorted(y0, yr, side="right") - 1
            iz = np.searchsorted(z0, zr, side="right") - 1
            ok = (iy >= 0) & (iz >= 0) & np.isfinite(yr) & np.isfinite(zr)
            iyc, izc = np.clip(iy, 0, None), np.clip(iz, 0, None)
            ok &= (yr <= y0[iyc] + sy - 1) & (zr <= z0[izc] + sz - 1)
        return np.where(ok, iyc * self.n_panels[1] + izc, -1).astype(np.int64)

    def pixel_panels(self, n_pixels: tuple[int, int]) -> NDArray[np.int64]:
        """(n_z, n_y) int64 map of the panel of every pixel (−1 in gaps)."""
        n_y, n_z = n_pixels
        return self.panel_index(np.arange(n_y)[None, :], np.arange(n_z)[:, None])

    def to_params(self) -> dict[str, Any]:
        """The upstream parameter keys of this layout (values as written to ``Parameters.txt``)."""
        return {"NPanelsY": self.n_panels[0], "NPanelsZ": self.n_panels[1], "PanelSizeY": self.panel_size_px[0],
                "PanelSizeZ": self.panel_size_px[1], "PanelGapsY": list(self.gaps_y_px),
                "PanelGapsZ": list(self.gaps_z_px)}

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PanelLayout:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    @classmethod
    def from_params(cls, p: Any) -> PanelLayout | None:
        """The layout from the upstream keys, or None when ``NPanelsY``/``NPanelsZ`` are absent or 0.

        Parameters
        ----------
        p : MidasParams or mapping of MIDAS keys

        Raises
        ------
        ParamError
            Panel counts without sizes, or gap lists of the wrong length (the message names the key).
        """
        ny, nz = p.get("NPanelsY", None), p.get("NPanelsZ", None)
        if not ny or not nz:
            return None
        sy, sz = p.get("PanelSizeY", None), p.get("PanelSizeZ", None)
        if not sy or not sz:
            raise ParamError(f"NPanelsY {ny} / NPanelsZ {nz} need PanelSizeY and PanelSizeZ > 0 (got {sy}, {sz})")
        gy = _int_list(p.get("PanelGapsY", None))
        gz = _int_list(p.get("PanelGapsZ", None))
        for key, g, n in (("PanelGapsY", gy, int(ny)), ("PanelGapsZ", gz, int(nz))):
            if len(g) != n - 1:
                raise ParamError(f"{key} = {list(g)}: expected {n - 1} gaps (one between each pair of the {n} panels)")
        try:
            return cls(n_panels=(int(ny), int(nz)), panel_size_px=(int(sy), int(sz)), gaps_y_px=gy, gaps_z_px=gz)
        except GeometryError as exc:
            raise ParamError(f"panel keys: {exc}") from None

    @classmethod
    def for_detector_shape(cls, n_pixels: tuple[int, int]) -> PanelLayout | None:
        """The module grid of a known Pilatus detector of this size (frame as stored), else None.

        See :data:`KNOWN_LAYOUTS`: Pilatus modules are 487 × 195 px with gaps of 7 px between
        module columns and 17 px between module rows, so the grid is the same for every ImTransOpt
        flip (a transposed frame is not recognised).
        """
        return KNOWN_LAYOUTS.get((int(n_pixels[0]), int(n_pixels[1])))


def _int_list(v: Any) -> tuple[int, ...]:
    if v is None:
        return ()
    if isinstance(v, (int, float, str)):
        v = [v]
    try:
        return tuple(int(x) for x in v)
    except (TypeError, ValueError):
        raise ParamError(f"panel gaps {v!r}: expected integers") from None


def _pilatus(n_y: int, n_z: int) -> PanelLayout:
    return PanelLayout(n_panels=(n_y, n_z), panel_size_px=(487, 195), gaps_y_px=(7,) * (n_y - 1),
                       gaps_z_px=(17,) * (n_z - 1))


#: Module grids recognised from the detector shape ``(n_y, n_z)`` (columns, rows): Pilatus
#: 300K, 1M, 2M and 6M — one panel per 487 × 195 px module.
KNOWN_LAYOUTS: dict[tuple[int, int], PanelLayout] = {
    (487, 619): _pilatus(1, 3),
    (981, 1043): _pilatus(2, 5),
    (1475, 1679): _pilatus(3, 8),
    (2463, 2527): _pilatus(5, 12),
}


def shifts_array(layout: PanelLayout, shifts: ArrayLike | None) -> NDArray[np.float64]:
    """(n, 5) float64 corrections (columns :data:`PANEL_SHIFT_COLUMNS`), zeros for None/empty.

    Raises
    ------
    GeometryError
        Wrong shape or non-finite values.
    """
    if shifts is None or np.size(shifts) == 0:
        return np.zeros((layout.n, 5))
    a = np.asarray(shifts, dtype=np.float64)
    if a.shape != (layout.n, 5) or not np.all(np.isfinite(a)):
        raise GeometryError(f"panel_shifts: shape {a.shape}, expected ({layout.n}, 5) finite values "
                            f"({', '.join(PANEL_SHIFT_COLUMNS)}) for {layout.n} panels")
    return a
