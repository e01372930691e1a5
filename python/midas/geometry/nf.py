"""Near-field detector geometry: several distances, its own tilt convention, no distortion.

NF is NOT the FF model with other numbers (``docs/conventions.md``, "NF detector";
``upstream_facts.md`` §2.8): the tilt matrix is ``T_NF = Rz(tz)·Ry(ty)·Rx(tx)`` (reverse order),
points are projected from ``P0 = T_NF·(−Lsd, 0, 0)`` onto the detector plane ``x = 0``, the
pixel column is ``Y = bc_y + y/px`` (no mirror of y), and raw NF images are read flipped in both
axes (``Y = NrPixelsY − 1 − column``, ``Z = NrPixelsZ − 1 − row``).

Kernels: ``cpp/include/midas/geometry/nf_projection.hpp``; NumPy twin:
:mod:`midas._reference.geometry`.
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
from midas.geometry._params import float_param, n_pixels_param

__all__ = [
    "NFDetector",
    "nf_detector_to_image",
    "nf_displace",
    "nf_image_to_detector",
    "nf_project",
    "nf_spot_pixels",
]


def _all_values(p: Any, key: str) -> list[Any]:
    """Every occurrence of a repeated key, in file order.

    MidasParams: ``get_all``. Plain dict: ``Lsd`` a number or a list of numbers; ``BC`` one
    ``(y, z)`` pair or a list of pairs.
    """
    if hasattr(p, "get_all"):
        return list(p.get_all(key))
    v = p.get(key, None)
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        return [v]
    if key == "BC" and v and not isinstance(v[0], (list, tuple)):
        return [v]
    return list(v)


@dataclass(frozen=True, slots=True)
class NFDetector:
    """A near-field detector used at one or more distances.

    Attributes
    ----------
    lsd_um : tuple of float
        Sample-to-detector distance of each distance (layer), µm, in parameter-file order.
    bc_px : tuple of (float, float)
        Beam centre ``(y, z)`` in pixels for each distance.
    tx_deg, ty_deg, tz_deg : float
        Detector tilts shared by all distances, degrees (``T_NF = Rz(tz)·Ry(ty)·Rx(tx)``).
    pixel_size_um : float
        Pixel pitch, µm.
    n_pixels : (int, int)
        ``(n_y, n_z)``.

    Raises
    ------
    GeometryError
        No distance, mismatched numbers of Lsd and BC entries, non-positive distance or pixel size,
        non-finite values.
    """

    lsd_um: tuple[float, ...]
    bc_px: tuple[tuple[float, float], ...]
    tx_deg: float = 0.0
    ty_deg: float = 0.0
    tz_deg: float = 0.0
    pixel_size_um: float = 1.0
    n_pixels: tuple[int, int] = (2048, 2048)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "lsd_um", tuple(float(v) for v in self.lsd_um))
        try:
            set_(self, "bc_px", tuple((float(b[0]), float(b[1])) for b in self.bc_px))
        except (TypeError, IndexError, ValueError):
            raise GeometryError(
                f"NFDetector: bc_px = {self.bc_px!r}, expected one (y, z) pair per distance"
            ) from None
        for name in ("tx_deg", "ty_deg", "tz_deg", "pixel_size_um"):
            set_(self, name, float(getattr(self, name)))
        set_(self, "n_pixels", tuple(int(v) for v in self.n_pixels))
        if not self.lsd_um:
            raise GeometryError(
                "NFDetector: no detector distance given (lsd_um is empty)"
            )
        if len(self.bc_px) != len(self.lsd_um):
            raise GeometryError(
                f"NFDetector: {len(self.lsd_um)} distances but {len(self.bc_px)} beam centres; "
                "expected one BC line per Lsd line"
            )
        if not all(math.isfinite(v) and v > 0 for v in self.lsd_um):
            raise GeometryError(
                f"NFDetector: lsd_um = {self.lsd_um}, expected finite distances > 0 µm"
            )
        if not all(math.isfinite(v) for b in self.bc_px for v in b):
            raise GeometryError(
                f"NFDetector: bc_px = {self.bc_px}, expected finite values"
            )
        if not all(
            math.isfinite(getattr(self, n)) for n in ("tx_deg", "ty_deg", "tz_deg")
        ):
            raise GeometryError("NFDetector: tilts must be finite")
        if not (math.isfinite(self.pixel_size_um) and self.pixel_size_um > 0):
            raise GeometryError(
                f"NFDetector: pixel_size_um = {self.pixel_size_um}, expected > 0 µm"
            )
        if len(self.n_pixels) != 2 or min(self.n_pixels) <= 0:
            raise GeometryError(
                f"NFDetector: n_pixels = {self.n_pixels}, expected two sizes > 0 (n_y, n_z)"
            )

    @property
    def n_distances(self) -> int:
        """Number of detector distances (layers)."""
        return len(self.lsd_um)

    @classmethod
    def from_params(cls, p: Any) -> NFDetector:
        """Build from a :class:`midas.params.MidasParams` (or a plain dict).

        Keys: every ``Lsd`` and ``BC`` line in file order (``get_all``; for a dict, a list of
        values), ``tx``/``ty``/``tz`` (default 0), ``px``, ``NrPixelsY``/``NrPixelsZ`` (or
        ``NrPixels``), and ``nDistances`` when present (checked against the number of Lsd lines).

        Raises
        ------
        ParamError
            Missing ``Lsd``/``BC``/``px``/pixel counts, non-numeric values, or ``nDistances``
            disagreeing with the number of Lsd or BC lines.
        """
        lsd_raw = _all_values(p, "Lsd")
        bc_raw = _all_values(p, "BC")
        if not lsd_raw:
            raise ParamError(
                "parameter 'Lsd' is required for the NF detector (one line per distance)"
            )
        if not bc_raw:
            raise ParamError(
                "parameter 'BC' is required for the NF detector (one line per distance)"
            )
        try:
            lsd = tuple(
                float(v[0] if isinstance(v, (list, tuple)) else v) for v in lsd_raw
            )
            bcs = tuple((float(b[0]), float(b[1])) for b in bc_raw)
        except (TypeError, ValueError, IndexError):
            raise ParamError(
                f"NF Lsd = {lsd_raw!r} / BC = {bc_raw!r}: expected numbers, BC as (y, z)"
            ) from None
        n_dist = p.get("nDistances", None)
        if n_dist is not None and (int(n_dist) != len(lsd) or int(n_dist) != len(bcs)):
            raise ParamError(
                f"nDistances = {n_dist} but the file has {len(lsd)} Lsd and {len(bcs)} BC lines"
            )
        px = float_param(p, "px", what="the NF detector")
        n_pixels = n_pixels_param(p, what="the NF detector")
        try:
            return cls(
                lsd_um=lsd,
                bc_px=bcs,
                tx_deg=float_param(p, "tx", 0.0),
                ty_deg=float_param(p, "ty", 0.0),
                tz_deg=float_param(p, "tz", 0.0),
                pixel_size_um=px,
                n_pixels=n_pixels,
            )
        except (TypeError, ValueError) as exc:
            raise ParamError(f"NF detector parameters: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NFDetector:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    def _projector(self, distance: int) -> Any:
        d = int(distance)
        if not 0 <= d < self.n_distances:
            raise ParamError(
                f"distance index {distance} out of range: the detector has {self.n_distances} distances"
            )
        return core().NFProjector(
            lsd_um=self.lsd_um[d],
            bc_y_px=self.bc_px[d][0],
            bc_z_px=self.bc_px[d][1],
            px_um=self.pixel_size_um,
            tx_rad=math.radians(self.tx_deg),
            ty_rad=math.radians(self.ty_deg),
            tz_rad=math.radians(self.tz_deg),
        )


def nf_project(
    det: NFDetector, distance: int, y_um: ArrayLike, z_um: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project points of the untilted plane at ``Lsd[distance]`` onto the tilted NF detector.

    Parameters
    ----------
    det : NFDetector
    distance : int
        Index of the detector distance (0-based, parameter-file order).
    y_um, z_um : array_like float, broadcastable
        Lab ``(y, z)`` of the points on the plane ``x = Lsd[distance]``, µm (relative to the beam).

    Returns
    -------
    (y_px, z_px) : float64 arrays
        Detector pixel coordinates in the NF frame (``Y = bc_y + y/px`` before tilt, no mirror);
        NaN where the line is parallel to the detector.

    Raises
    ------
    ParamError
        Bad distance index or shapes.
    """
    (y, z), shape = flat_points(y_um, z_um, names=("y_um", "z_um"))
    yp, zp = core().nf_project(det._projector(distance), y, z)
    return yp.reshape(shape), zp.reshape(shape)


def nf_displace(
    x_um: ArrayLike,
    y_um: ArrayLike,
    omega_deg: ArrayLike,
    y0_um: ArrayLike,
    z0_um: ArrayLike,
    *,
    lsd_ref_um: float,
    lsd_out_um: float | None = None,
    z_um: ArrayLike = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move an ideal spot by the position of the scattering point (per grid-triangle vertex).

    ``(xa, ya, za) = Rz(ω)·(x, y, z)``, ``t = (Lsd_out − xa)/Lsd_ref``,
    ``y' = ya + y0·t``, ``z' = za + z0·t``: the ray parallel to ``(Lsd_ref, y0, z0)`` from the
    rotated point, cut with the plane ``x = Lsd_out``. With ``Lsd_out = Lsd_ref`` and ``z = 0``
    this is upstream's ``t = 1 − xa/Lsd0, y = ya + y0·t, z = z0·t``.

    Parameters
    ----------
    x_um, y_um : array_like float
        Sample-frame position at ω = 0, µm.
    omega_deg : array_like float
        Rotation angle, degrees.
    y0_um, z0_um : array_like float
        Ideal spot on the plane ``x = lsd_ref_um``, µm.
    lsd_ref_um : float
        Distance at which ``(y0, z0)`` is given (upstream: ``Lsd[0]``).
    lsd_out_um : float, optional
        Plane of the result (default ``lsd_ref_um``).
    z_um : array_like float
        Sample-frame height of the point (0 for NF grid triangles).

    Returns
    -------
    (y_um, z_um) on the plane ``x = lsd_out_um``.

    Raises
    ------
    ParamError, GeometryError
        Shapes that do not broadcast; non-positive ``lsd_ref_um``.
    """
    (x, y, z, w, y0, z0), shape = flat_points(
        x_um,
        y_um,
        z_um,
        omega_deg,
        y0_um,
        z0_um,
        names=("x_um", "y_um", "z_um", "omega_deg", "y0_um", "z0_um"),
    )
    ref = float(lsd_ref_um)
    out = ref if lsd_out_um is None else float(lsd_out_um)
    yo, zo = core().nf_displace(x, y, z, np.deg2rad(w), y0, z0, ref, out)
    return yo.reshape(shape), zo.reshape(shape)


def nf_spot_pixels(
    det: NFDetector,
    distance: int,
    x_um: ArrayLike,
    y_um: ArrayLike,
    omega_deg: ArrayLike,
    y0_um: ArrayLike,
    z0_um: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Detector pixel of an ideal spot ``(y0, z0)`` given at ``Lsd[0]`` (as ``DiffractionSpots.bin``)
    scattered from sample point ``(x, y, 0)`` at ω, on distance ``distance``.

    The ray is followed exactly to ``Lsd[distance]`` (:func:`nf_displace`) and projected
    (:func:`nf_project`). Upstream instead projects on distance 0 and rescales only the spot centre
    for the other distances; the two agree exactly for distance 0.

    Returns
    -------
    (y_px, z_px) : float64 arrays in the NF detector frame.
    """
    d = int(distance)
    det._projector(d)  # validates the index
    y, z = nf_displace(
        x_um,
        y_um,
        omega_deg,
        y0_um,
        z0_um,
        lsd_ref_um=det.lsd_um[0],
        lsd_out_um=det.lsd_um[d],
    )
    return nf_project(det, d, y, z)


def nf_image_to_detector(
    column: ArrayLike, row: ArrayLike, n_pixels: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Raw NF image (column, row) → NF detector (Y, Z): ``Y = n_y − 1 − column``, ``Z = n_z − 1 − row``.

    The map is its own inverse (:func:`nf_detector_to_image` is the same formula).
    """
    (c, r), shape = flat_points(column, row, names=("column", "row"))
    n_y, n_z = (int(v) for v in n_pixels)
    return ((n_y - 1) - c).reshape(shape), ((n_z - 1) - r).reshape(shape)


def nf_detector_to_image(
    y_px: ArrayLike, z_px: ArrayLike, n_pixels: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """NF detector (Y, Z) → raw image (column, row); inverse of :func:`nf_image_to_detector`."""
    return nf_image_to_detector(y_px, z_px, n_pixels)
