"""Far-field detector model: pixel ↔ ideal (corrected) lab coordinates.

The model (tilts ``T = Rx(tx)·Ry(ty)·Rz(tz)``, the p0..p14 radial distortion normalised by RhoD,
optional parallax) and every frame, sign and unit are defined in ``docs/conventions.md``
("FF detector"); it is upstream MIDAS's ``DetectorGeometry.c`` model (``upstream_facts.md``
§2.3). The compiled kernels live in ``cpp/include/midas/geometry/ff_detector.hpp``; the NumPy
twin used by the tests is :mod:`midas._reference.geometry`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import GeometryError, ParamError
from midas.geometry._arrays import flat_points
from midas.geometry._params import (
    ParamSource,
    float_param,
    n_pixels_param,
    pair_param,
    param,
)
from midas.geometry.panels import PANEL_SHIFT_COLUMNS, PanelLayout, shifts_array

__all__ = [
    "FFDetector",
    "IdealCoords",
    "ideal_jacobian",
    "ideal_to_pixel",
    "pixel_grid_to_ideal",
    "pixel_to_ideal",
]

_N_DISTORTION = 15
_IM_TRANS_VALUES = (-1, 0, 1, 2, 3)


def _corner_distance_um(
    bc_px: tuple[float, ...],
    pixel_size_um: tuple[float, ...],
    n_pixels: tuple[int, ...],
) -> float:
    """Distance from the beam centre to the farthest corner pixel centre, µm."""
    (n_y, n_z), (b_y, b_z), (p_y, p_z) = n_pixels, bc_px, pixel_size_um
    return max(
        math.hypot((cy - b_y) * p_y, (cz - b_z) * p_z)
        for cy in (0.0, n_y - 1.0)
        for cz in (0.0, n_z - 1.0)
    )


@dataclass(frozen=True, slots=True)
class FFDetector:
    """A far-field area detector (the ``Parameters.txt`` geometry keys).

    Attributes
    ----------
    lsd_um : float
        Sample-to-detector distance, µm (> 0). MIDAS key ``Lsd``.
    bc_px : (float, float)
        Beam centre ``(y, z)`` in pixels of the frame after ImTransOpt (``y`` = column,
        ``z`` = row, pixel centres at integers). MIDAS key ``BC``.
    pixel_size_um : (float, float)
        Pixel pitch ``(y, z)``, µm. MIDAS key ``px`` (both).
    tx_deg, ty_deg, tz_deg : float
        Detector tilts, degrees; ``T = Rx(tx)·Ry(ty)·Rz(tz)`` acts on ``(0, Yc, Zc)``.
    distortion : tuple of 15 float
        ``p0 … p14`` as in the parameter file; p3, p6, p8, p10, p12, p14 are phases in degrees.
    rho_d_um : float
        ``RhoD``: the radius normalising the distortion polynomial, µm (> 0). May be left out
        (None) only when every distortion coefficient is 0: it then has no effect and is set to
        the distance from the beam centre to the farthest corner pixel centre.
    n_pixels : (int, int)
        Detector size ``(n_y, n_z)`` after ImTransOpt. MIDAS keys ``NrPixelsY``, ``NrPixelsZ``.
    im_trans_opt : tuple of int
        ``ImTransOpt`` operations applied to raw frames, in order (0 none, 1 flip Y, 2 flip Z,
        3 transpose); see :mod:`midas.geometry.image_transform`.
    parallax_um : float
        Sensor parallax (``Parallax``): ``R_corr += parallax·sin(2θ_uncorrected)``; 0 = off.
    panels : PanelLayout or None
        Module grid of a multi-panel detector (``NPanelsY`` …), in the frame after ImTransOpt;
        None for a single plane.
    panel_shifts : tuple of n tuples of 5 float
        Per-panel rigid correction ``(dY px, dZ px, dθ deg, dLsd µm, dP2)`` in upstream panel id
        order (``PanelShiftsFile``); empty means all zero. See ``docs/conventions.md``
        ("Detector panels") and :mod:`midas.geometry.panels`.

    Raises
    ------
    GeometryError
        On construction, for a non-positive or non-finite distance, pixel size, RhoD or detector
        size, a distortion tuple not of length 15, an unknown ImTransOpt value, or panel shifts
        without a layout (all-zero shifts are dropped) or of the wrong shape.

    Notes
    -----
    See ``docs/conventions.md`` for the frames and the full model.
    """

    lsd_um: float
    bc_px: tuple[float, float]
    pixel_size_um: tuple[float, float]
    tx_deg: float = 0.0
    ty_deg: float = 0.0
    tz_deg: float = 0.0
    distortion: tuple[float, ...] = (0.0,) * _N_DISTORTION
    rho_d_um: float = None  # type: ignore[assignment]  # None → set in __post_init__
    n_pixels: tuple[int, int] = (2048, 2048)
    im_trans_opt: tuple[int, ...] = (0,)
    parallax_um: float = 0.0
    panels: PanelLayout | None = None
    panel_shifts: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.panels, Mapping):
            set_(self, "panels", PanelLayout.from_dict(self.panels))
        if self.panels is None:
            if np.any(np.asarray(self.panel_shifts, dtype=np.float64) != 0.0):
                raise GeometryError("FFDetector: non-zero panel_shifts given without a panel layout (panels)")
            set_(self, "panel_shifts", ())
        else:
            if not isinstance(self.panels, PanelLayout):
                raise GeometryError(f"FFDetector: panels = {self.panels!r}, expected a PanelLayout or None")
            a = shifts_array(self.panels, self.panel_shifts)
            set_(self, "panel_shifts", tuple(tuple(float(v) for v in row) for row in a))
        set_(self, "lsd_um", float(self.lsd_um))
        set_(self, "bc_px", tuple(float(v) for v in self.bc_px))
        set_(self, "pixel_size_um", tuple(float(v) for v in self.pixel_size_um))
        set_(self, "tx_deg", float(self.tx_deg))
        set_(self, "ty_deg", float(self.ty_deg))
        set_(self, "tz_deg", float(self.tz_deg))
        set_(self, "distortion", tuple(float(v) for v in self.distortion))
        set_(self, "n_pixels", tuple(int(v) for v in self.n_pixels))
        set_(self, "im_trans_opt", tuple(int(v) for v in self.im_trans_opt))
        set_(self, "parallax_um", float(self.parallax_um))
        if not (math.isfinite(self.lsd_um) and self.lsd_um > 0):
            raise GeometryError(
                f"FFDetector: lsd_um = {self.lsd_um}, expected a finite distance > 0 µm"
            )
        if len(self.bc_px) != 2 or not all(math.isfinite(v) for v in self.bc_px):
            raise GeometryError(
                f"FFDetector: bc_px = {self.bc_px}, expected two finite numbers (y, z)"
            )
        if len(self.pixel_size_um) != 2 or not all(
            math.isfinite(v) and v > 0 for v in self.pixel_size_um
        ):
            raise GeometryError(
                f"FFDetector: pixel_size_um = {self.pixel_size_um}, expected two values > 0 µm"
            )
        for name in ("tx_deg", "ty_deg", "tz_deg", "parallax_um"):
            if not math.isfinite(getattr(self, name)):
                raise GeometryError(
                    f"FFDetector: {name} = {getattr(self, name)}, expected a finite number"
                )
        if len(self.distortion) != _N_DISTORTION or not all(
            math.isfinite(v) for v in self.distortion
        ):
            raise GeometryError(
                f"FFDetector: distortion has {len(self.distortion)} values {self.distortion}, "
                f"expected 15 finite coefficients p0..p14"
            )
        if len(self.n_pixels) != 2 or min(self.n_pixels) <= 0:
            raise GeometryError(
                f"FFDetector: n_pixels = {self.n_pixels}, expected two sizes > 0 (n_y, n_z)"
            )
        if self.rho_d_um is None:
            if any(v != 0.0 for v in self.distortion):
                raise GeometryError(
                    "FFDetector: rho_d_um (RhoD) is required when any distortion coefficient "
                    "p0..p14 is non-zero"
                )
            set_(
                self,
                "rho_d_um",
                _corner_distance_um(self.bc_px, self.pixel_size_um, self.n_pixels),
            )
        set_(self, "rho_d_um", float(self.rho_d_um))
        if not (math.isfinite(self.rho_d_um) and self.rho_d_um > 0):
            raise GeometryError(
                f"FFDetector: rho_d_um = {self.rho_d_um}, expected a finite radius > 0 µm"
            )
        bad = [v for v in self.im_trans_opt if v not in _IM_TRANS_VALUES]
        if bad:
            raise GeometryError(
                f"FFDetector: im_trans_opt = {self.im_trans_opt} contains {bad}, expected values in "
                f"{_IM_TRANS_VALUES} (0 none, 1 flip Y, 2 flip Z, 3 transpose)"
            )

    @classmethod
    def from_params(cls, p: ParamSource) -> FFDetector:
        """Build from a :class:`midas.params.MidasParams` (or a plain dict of MIDAS keys).

        Keys read: ``Lsd``, ``BC`` (y z), ``px``, ``tx``/``ty``/``tz`` (default 0), ``p0``..``p14``
        (default 0), ``RhoD``, ``NrPixelsY``/``NrPixelsZ`` (or ``NrPixels``), ``ImTransOpt``
        (default 0), ``Parallax`` (default 0).

        Raises
        ------
        ParamError
            A required key is missing or not a number. ``RhoD`` may only be absent when every
            distortion coefficient is 0 (it then has no effect and is set to the distance from the
            beam centre to the farthest detector corner).
        GeometryError
            The values describe an impossible detector (see the class).
        """
        lsd = float_param(p, "Lsd", what="the FF detector")
        bc = pair_param(param(p, "BC", what="the FF detector"), "BC")
        px = float_param(p, "px", what="the FF detector")
        tilts = [float_param(p, k, 0.0) for k in ("tx", "ty", "tz")]
        dist = tuple(float_param(p, f"p{k}", 0.0) for k in range(_N_DISTORTION))
        n_pixels = n_pixels_param(p, what="the FF detector")
        ito = p.get("ImTransOpt", None)
        if ito is None:
            ito = (0,)
        elif isinstance(ito, (int, float, str)):
            ito = (ito,)
        try:
            im_trans = tuple(int(v) for v in ito)
        except (TypeError, ValueError):
            raise ParamError(f"ImTransOpt = {ito!r}: expected integers") from None
        rho = p.get("RhoD", None)
        if rho is None and any(v != 0.0 for v in dist):
            raise ParamError(
                "parameter 'RhoD' is required when any distortion coefficient p0..p14 is non-zero"
            )
        rho_d = (
            _corner_distance_um(bc, (px, px), n_pixels)
            if rho is None
            else float_param(p, "RhoD", what="the FF detector")
        )
        parallax = float_param(p, "Parallax", 0.0)
        panels = PanelLayout.from_params(p)
        shifts: Any = ()
        shifts_file = p.get("PanelShiftsFile", None)
        if shifts_file and panels is not None:
            from midas.io.panel_shifts import read_panel_shifts

            shifts = read_panel_shifts(shifts_file, n_panels=panels.n)
        return cls(
            lsd_um=lsd,
            bc_px=bc,
            pixel_size_um=(px, px),
            tx_deg=tilts[0],
            ty_deg=tilts[1],
            tz_deg=tilts[2],
            distortion=dist,
            rho_d_um=rho_d,
            n_pixels=n_pixels,
            im_trans_opt=im_trans,
            parallax_um=parallax,
            panels=panels,
            panel_shifts=shifts,
        )

    @property
    def panel_shifts_array(self) -> NDArray[np.float64]:
        """(n_panels, 5) float64 per-panel corrections (columns ``PANEL_SHIFT_COLUMNS``); (0, 5) without panels."""
        if self.panels is None:
            return np.zeros((0, len(PANEL_SHIFT_COLUMNS)))
        return np.array(self.panel_shifts, dtype=np.float64).reshape(self.panels.n, len(PANEL_SHIFT_COLUMNS))

    def panel_index(self, y_px: ArrayLike, z_px: ArrayLike) -> NDArray[np.int64]:
        """Panel of the pixel nearest to each point (−1 in gaps, outside, or without panels).

        See :meth:`midas.geometry.panels.PanelLayout.panel_index`.
        """
        if self.panels is None:
            shape = np.broadcast_shapes(np.shape(y_px), np.shape(z_px))
            return np.full(shape, -1, dtype=np.int64)
        return self.panels.panel_index(y_px, z_px)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (tuples kept); inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FFDetector:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    def _kernel(self) -> Any:
        return core().FFDetectorKernel(
            lsd_um=self.lsd_um,
            bc_y_px=self.bc_px[0],
            bc_z_px=self.bc_px[1],
            px_y_um=self.pixel_size_um[0],
            px_z_um=self.pixel_size_um[1],
            tx_rad=math.radians(self.tx_deg),
            ty_rad=math.radians(self.ty_deg),
            tz_rad=math.radians(self.tz_deg),
            p=list(self.distortion),
            rho_d_um=self.rho_d_um,
            parallax_um=self.parallax_um,
            **self._panel_kernel_args(),
        )

    def _panel_kernel_args(self) -> dict[str, Any]:
        if self.panels is None:
            return {}
        sh = self.panel_shifts_array
        rows = np.concatenate([self.panels.bounds().astype(np.float64), sh[:, :2], np.radians(sh[:, 2:3]), sh[:, 3:]],
                              axis=1)
        return {"n_panels_y": self.panels.n_panels[0], "n_panels_z": self.panels.n_panels[1],
                "panels": np.ascontiguousarray(rows)}


@dataclass(frozen=True, slots=True)
class IdealCoords:
    """Ideal (tilt- and distortion-corrected) coordinates on the untilted plane at Lsd.

    Every array has the shape of the input points; NaN marks points without a solution.

    Attributes
    ----------
    r_um : float64
        Corrected radius ``R_corr`` from the beam centre, µm.
    eta_deg : float64
        Azimuth η = atan2(−y, z) in (−180, 180] degrees (0 = up, +90 = −y lab).
    tth_deg : float64
        Scattering angle 2θ = atan(R_corr / Lsd), degrees.
    y_um, z_um : float64
        Corrected lab coordinates ``(−R_corr sin η, R_corr cos η)``, µm.
    q_inv_A : float64 or None
        ``Q = 4π sin θ / λ`` in 1/Å (with the 2π), when a wavelength was given.
    """

    r_um: NDArray[np.float64]
    eta_deg: NDArray[np.float64]
    tth_deg: NDArray[np.float64]
    y_um: NDArray[np.float64]
    z_um: NDArray[np.float64]
    q_inv_A: NDArray[np.float64] | None = None


def _as_points(
    a: ArrayLike, b: ArrayLike, names: tuple[str, str]
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[int, ...]]:
    (x, y), shape = flat_points(a, b, names=names)
    return x, y, shape


def pixel_to_ideal(
    det: FFDetector, y_px: ArrayLike, z_px: ArrayLike, wavelength_A: float | None = None
) -> IdealCoords:
    """Map detector pixels to ideal (corrected) lab coordinates.

    Parameters
    ----------
    det : FFDetector
    y_px, z_px : array_like float, broadcastable shapes
        Pixel coordinates in the frame after ImTransOpt: ``y_px`` = column, ``z_px`` = row,
        pixel centres at integers.
    wavelength_A : float, optional
        X-ray wavelength in Å; when given, ``q_inv_A`` is filled.

    Returns
    -------
    IdealCoords
        Arrays of the broadcast shape (NaN for a pixel behind the sample plane, which needs a
        tilt near 90°). At the beam centre itself η is 0.

    Raises
    ------
    ParamError
        Shapes that do not broadcast, or a non-positive wavelength.
    GeometryError
        Invalid detector.

    Notes
    -----
    ``R = Lsd·√(Y′²+Z′²)/(Lsd+X′)`` with ``(X′,Y′,Z′) = Rx(tx)Ry(ty)Rz(tz)·(0, Yc, Zc)``,
    ``R_corr = R·D(R/RhoD, η) [+ parallax·sin atan(R/Lsd)]``; see ``docs/conventions.md``.

    Examples
    --------
    >>> det = FFDetector(lsd_um=1e6, bc_px=(1024.0, 1024.0), pixel_size_um=(200.0, 200.0), rho_d_um=2e5)
    >>> c = pixel_to_ideal(det, 1024.0, 1124.0)
    >>> float(c.r_um), float(c.eta_deg)
    (20000.0, 0.0)
    """
    y, z, shape = _as_points(y_px, z_px, ("y_px", "z_px"))
    r, eta, tth, yy, zz = core().ff_pixel_to_ideal(det._kernel(), y, z)
    q = None
    if wavelength_A is not None:
        lam = float(wavelength_A)
        if not (math.isfinite(lam) and lam > 0):
            raise ParamError(
                f"wavelength_A = {wavelength_A}, expected a wavelength > 0 Å"
            )
        q = (4.0 * np.pi / lam) * np.sin(0.5 * tth)
        q = q.reshape(shape)
    return IdealCoords(
        r_um=r.reshape(shape),
        eta_deg=np.rad2deg(eta).reshape(shape),
        tth_deg=np.rad2deg(tth).reshape(shape),
        y_um=yy.reshape(shape),
        z_um=zz.reshape(shape),
        q_inv_A=q,
    )


def ideal_to_pixel(
    det: FFDetector,
    y_um: ArrayLike | None = None,
    z_um: ArrayLike | None = None,
    *,
    r_um: ArrayLike | None = None,
    eta_deg: ArrayLike | None = None,
    strict: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map ideal (corrected) lab coordinates back to detector pixels (exact inverse).

    Give either ``(y_um, z_um)`` or, by keyword, ``(r_um, eta_deg)``.

    Parameters
    ----------
    det : FFDetector
    y_um, z_um : array_like float, broadcastable shapes
        Ideal lab coordinates on the untilted plane at Lsd, µm (``y = −R sin η``, ``z = R cos η``).
    r_um, eta_deg : array_like float, keyword only
        The same point as corrected radius (µm) and azimuth (degrees).
    strict : bool
        Raise GeometryError when any point has no solution instead of returning NaN there.

    Returns
    -------
    (y_px, z_px) : float64 arrays of the broadcast shape
        Pixel coordinates (column, row) in the frame after ImTransOpt; NaN where no solution
        exists (only for grossly unphysical distortions or points at the horizon).

    Raises
    ------
    ParamError
        Neither or both coordinate pairs given, or shapes that do not broadcast.
    GeometryError
        Invalid detector, or (with ``strict``) points without a solution.

    Notes
    -----
    Damped Newton iteration on ``(y, z)_ideal(Y, Z) = target`` with the analytic Jacobian
    (:func:`ideal_jacobian`), started at the flat-detector guess ``Y = bc_y − y/px``,
    ``Z = bc_z + z/px``; it stops at steps below 1e-10 px, so round trips agree to ≤ 1e-9 px.
    See ``docs/conventions.md``.

    Examples
    --------
    >>> det = FFDetector(lsd_um=1e6, bc_px=(1024.0, 1024.0), pixel_size_um=(200.0, 200.0),
    ...                  ty_deg=0.5, rho_d_um=2e5)
    >>> c = pixel_to_ideal(det, 1500.0, 700.0)
    >>> y, z = ideal_to_pixel(det, c.y_um, c.z_um)
    >>> round(float(y), 9), round(float(z), 9)
    (1500.0, 700.0)
    """
    if (
        (y_um is None) != (z_um is None)
        or (r_um is None) != (eta_deg is None)
        or ((y_um is None) == (r_um is None))
    ):
        raise ParamError(
            "ideal_to_pixel: give either (y_um, z_um) or (r_um=..., eta_deg=...)"
        )
    if y_um is not None and z_um is not None:
        y, z, shape = _as_points(y_um, z_um, ("y_um", "z_um"))
    else:
        assert r_um is not None and eta_deg is not None
        r, eta, shape = _as_points(r_um, eta_deg, ("r_um", "eta_deg"))
        e = np.deg2rad(eta)
        y = np.ascontiguousarray(-r * np.sin(e))
        z = np.ascontiguousarray(r * np.cos(e))
    yp, zp, failed = core().ff_ideal_to_pixel(det._kernel(), y, z)
    if strict and failed:
        raise GeometryError(
            f"ideal_to_pixel: {failed} of {y.size} points have no pixel solution"
        )
    return yp.reshape(shape), zp.reshape(shape)


def pixel_grid_to_ideal(
    det: FFDetector,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Corrected radius and azimuth of every pixel centre of the detector.

    Returns
    -------
    (r_um, eta_deg) : two (n_z, n_y) float64 arrays
        Row ``z``, column ``y`` is pixel ``(y_px, z_px) = (y, z)`` of the frame after ImTransOpt.

    Raises
    ------
    GeometryError
        Invalid detector.

    Notes
    -----
    Same model as :func:`pixel_to_ideal`; see ``docs/conventions.md``.
    """
    n_y, n_z = det.n_pixels
    r, eta = core().ff_pixel_grid(det._kernel(), int(n_y), int(n_z))
    return r, np.rad2deg(eta, out=eta)


def ideal_jacobian(
    det: FFDetector, y_px: ArrayLike, z_px: ArrayLike
) -> NDArray[np.float64]:
    """Analytic Jacobian of the ideal lab coordinates with respect to the pixel coordinates.

    Parameters
    ----------
    det : FFDetector
    y_px, z_px : array_like float, broadcastable shapes
        Pixel coordinates (column, row).

    Returns
    -------
    (..., 2, 2) float64
        ``[[∂y_um/∂y_px, ∂y_um/∂z_px], [∂z_um/∂y_px, ∂z_um/∂z_px]]`` in µm/px per point.

    Raises
    ------
    ParamError, GeometryError
        As :func:`pixel_to_ideal`.
    """
    y, z, shape = _as_points(y_px, z_px, ("y_px", "z_px"))
    jac: NDArray[np.float64] = core().ff_ideal_jacobian(det._kernel(), y, z)
    return jac.reshape(shape + (2, 2))
