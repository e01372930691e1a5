"""pyFAI ``.poni`` geometry files ↔ MIDAS detector parameters.

pyFAI describes a flat detector by the distance ``dist`` from the sample to the detector plane
along its normal, the point of normal incidence ``(poni1, poni2)`` measured from the detector's
first pixel CORNER (pixel centres at +½), and three rotations ``rot1..rot3``; MIDAS by the
distance ``Lsd`` to the intersection of the beam with the detector, the beam centre ``BC`` in
pixels (centres at integers) and the tilts ``tx, ty, tz``. For the same image array, indexed
``[row Z, column Y]``, the exact conversion is (``docs/conventions.md``)::

    rot1 = −tz,  rot2 = ty,  rot3 = tx
    dist  = Lsd·cos(ty)·cos(tz)
    poni1 = (BC_z + ½)·px − Lsd·sin(ty)
    poni2 = (BC_y + ½)·px − Lsd·cos(ty)·sin(tz)

with lengths in metres for pyFAI and micrometres for MIDAS. The shortcut ``poni = (BC + ½)·px``
is wrong for a tilted detector. A ``.poni`` made by Dioptas applies to the image flipped
vertically (Dioptas flips every image on load): pass ``flipped_vertically=True`` to obtain the
MIDAS parameters of the image as stored, which then carry ``ImTransOpt 2``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output

__all__ = ["PoniGeometry", "midas_to_poni", "poni_to_ff_detector", "poni_to_midas", "read_poni", "write_poni"]

log = logging.getLogger(__name__)

_LINE = re.compile(r"^\s*([A-Za-z_0-9]+)\s*[:=]\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class PoniGeometry:
    """The contents of a pyFAI ``.poni`` file (lengths in metres, angles in radians).

    Attributes
    ----------
    dist_m : float
        Sample to detector plane, along the plane's normal.
    poni1_m, poni2_m : float
        Point of normal incidence from the first pixel's corner, along rows (slow, dim 1) and
        columns (fast, dim 2).
    rot1_rad, rot2_rad, rot3_rad : float
        pyFAI rotations.
    pixel1_m, pixel2_m : float
        Pixel pitch along rows and columns.
    wavelength_m : float or None
    detector : str
        pyFAI detector name (``"Detector"`` when generic).
    shape : (int, int) or None
        ``(n_rows, n_columns)`` when the file records it (``max_shape``).
    """

    dist_m: float
    poni1_m: float
    poni2_m: float
    rot1_rad: float
    rot2_rad: float
    rot3_rad: float
    pixel1_m: float
    pixel2_m: float
    wavelength_m: float | None = None
    detector: str = "Detector"
    shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("dist_m", "pixel1_m", "pixel2_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"poni {name} = {v}: expected a finite value > 0 m")
        for name in ("poni1_m", "poni2_m", "rot1_rad", "rot2_rad", "rot3_rad"):
            if not math.isfinite(getattr(self, name)):
                raise ParamError(f"poni {name} = {getattr(self, name)}: expected a finite number")
        if self.wavelength_m is not None and not (self.wavelength_m > 0):
            raise ParamError(f"poni wavelength_m = {self.wavelength_m}: expected > 0 m")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoniGeometry:
        """Build from :meth:`to_dict` output."""
        shape = d.get("shape")
        return cls(**{**d, "shape": None if shape is None else (int(shape[0]), int(shape[1]))})


def read_poni(path: str | Path) -> PoniGeometry:
    """Read a pyFAI ``.poni`` file (version 1 or 2).

    Raises
    ------
    FormatError
        A missing key or a value that is not a number (names the file and line).
    """
    p = Path(path)
    values: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(p.read_text().splitlines(), start=1):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        m = _LINE.match(line)
        if m:
            values[m.group(1).lower()] = (m.group(2), n)

    def num(key: str, required: bool = True) -> float | None:
        if key not in values:
            if required:
                raise FormatError(f"{p}: key {key!r} is missing from the .poni file")
            return None
        text, n = values[key]
        if text.lower() == "none":
            return None
        try:
            return float(text)
        except ValueError:
            raise FormatError(f"{p}:{n}: {key} = {text!r} is not a number") from None

    pixel1 = num("pixelsize1", False)
    pixel2 = num("pixelsize2", False)
    shape = None
    detector = values.get("detector", ("Detector", 0))[0]
    if "detector_config" in values:
        text, n = values["detector_config"]
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{p}:{n}: Detector_config is not JSON ({exc})") from None
        pixel1 = pixel1 or cfg.get("pixel1")
        pixel2 = pixel2 or cfg.get("pixel2")
        if cfg.get("max_shape"):
            shape = (int(cfg["max_shape"][0]), int(cfg["max_shape"][1]))
    if pixel1 is None or pixel2 is None:
        raise FormatError(f"{p}: no pixel size (PixelSize1/2 or Detector_config pixel1/pixel2)")
    try:
        return PoniGeometry(dist_m=num("distance"), poni1_m=num("poni1"), poni2_m=num("poni2"),  # type: ignore[arg-type]
                            rot1_rad=num("rot1"), rot2_rad=num("rot2"), rot3_rad=num("rot3"),  # type: ignore[arg-type]
                            pixel1_m=float(pixel1), pixel2_m=float(pixel2), wavelength_m=num("wavelength", False),
                            detector=detector, shape=shape)
    except ParamError as exc:
        raise FormatError(f"{p}: {exc}") from None


def write_poni(path: str | Path, geom: PoniGeometry) -> Path:
    """Write a pyFAI ``.poni`` (version 2, generic detector with its pixel size and shape)."""
    cfg: dict[str, Any] = {"pixel1": geom.pixel1_m, "pixel2": geom.pixel2_m}
    if geom.shape is not None:
        cfg["max_shape"] = [int(geom.shape[0]), int(geom.shape[1])]
    lines = [
        "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis",
        "# Written by midas (midas.io.poni)",
        "poni_version: 2",
        "Detector: Detector",
        f"Detector_config: {json.dumps(cfg)}",
        f"Distance: {geom.dist_m!r}",
        f"Poni1: {geom.poni1_m!r}",
        f"Poni2: {geom.poni2_m!r}",
        f"Rot1: {geom.rot1_rad!r}",
        f"Rot2: {geom.rot2_rad!r}",
        f"Rot3: {geom.rot3_rad!r}",
    ]
    if geom.wavelength_m is not None:
        lines.append(f"Wavelength: {geom.wavelength_m!r}")
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return p


def poni_to_midas(geom: PoniGeometry, *, flipped_vertically: bool = False,
                  shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """MIDAS parameter values equivalent to a ``.poni`` geometry.

    Parameters
    ----------
    geom : PoniGeometry
    flipped_vertically : bool
        The ``.poni`` applies to the image flipped upside down (Dioptas): the result carries
        ``ImTransOpt 2`` so that MIDAS reads the stored image and flips it the same way.
    shape : (n_rows, n_columns), optional
        Image shape (default: the one recorded in the file, if any).

    Returns
    -------
    dict
        ``Lsd`` (µm), ``BC`` (y, z px), ``tx``, ``ty``, ``tz`` (deg), ``px`` (µm), and when known
        ``Wavelength`` (Å), ``NrPixelsY``, ``NrPixelsZ``; ``ImTransOpt`` ([2] or [0]).

    Raises
    ------
    ParamError
        Non-square pixels (MIDAS has one pixel pitch ``px``).

    Examples
    --------
    >>> g = PoniGeometry(0.2, 0.1, 0.09, 0.0, 0.0, 0.0, 1e-4, 1e-4, 1e-10)
    >>> d = poni_to_midas(g)
    >>> round(d["Lsd"], 6), [round(v, 6) for v in d["BC"]]
    (200000.0, [899.5, 999.5])
    """
    if not math.isclose(geom.pixel1_m, geom.pixel2_m, rel_tol=1e-9):
        raise ParamError(f"pixel sizes {geom.pixel1_m} m x {geom.pixel2_m} m differ; MIDAS needs square pixels (px)")
    px_um = geom.pixel2_m * 1e6
    ty = geom.rot2_rad
    tz = -geom.rot1_rad
    tx = geom.rot3_rad
    lsd_m = geom.dist_m / (math.cos(ty) * math.cos(tz))
    bc_z = (geom.poni1_m + lsd_m * math.sin(ty)) / geom.pixel1_m - 0.5
    bc_y = (geom.poni2_m + lsd_m * math.cos(ty) * math.sin(tz)) / geom.pixel2_m - 0.5
    out: dict[str, Any] = {"Lsd": lsd_m * 1e6, "BC": (bc_y, bc_z), "tx": math.degrees(tx), "ty": math.degrees(ty),
                           "tz": math.degrees(tz), "px": px_um, "ImTransOpt": [2] if flipped_vertically else [0]}
    if geom.wavelength_m is not None:
        out["Wavelength"] = geom.wavelength_m * 1e10
    shp = shape or geom.shape
    if shp is not None:
        out["NrPixelsZ"], out["NrPixelsY"] = int(shp[0]), int(shp[1])
    return out


def midas_to_poni(*, lsd_um: float, bc_px: tuple[float, float], px_um: float, tx_deg: float = 0.0,
                  ty_deg: float = 0.0, tz_deg: float = 0.0, wavelength_A: float | None = None,
                  shape: tuple[int, int] | None = None) -> PoniGeometry:
    """The pyFAI geometry of MIDAS detector parameters (same image array; no distortion).

    Parameters
    ----------
    lsd_um, bc_px, px_um, tx_deg, ty_deg, tz_deg
        MIDAS ``Lsd``, ``BC`` (y, z), ``px``, tilts. ``BC`` refers to the frame after ImTransOpt:
        the ``.poni`` describes that frame.
    wavelength_A : float, optional
    shape : (n_rows, n_columns), optional

    Returns
    -------
    PoniGeometry

    Raises
    ------
    ParamError
        Non-positive lengths.
    """
    if not (lsd_um > 0 and px_um > 0):
        raise ParamError(f"Lsd = {lsd_um} µm and px = {px_um} µm must be > 0")
    tx, ty, tz = (math.radians(v) for v in (tx_deg, ty_deg, tz_deg))
    lsd = lsd_um * 1e-6
    px = px_um * 1e-6
    return PoniGeometry(dist_m=lsd * math.cos(ty) * math.cos(tz),
                        poni1_m=(bc_px[1] + 0.5) * px - lsd * math.sin(ty),
                        poni2_m=(bc_px[0] + 0.5) * px - lsd * math.cos(ty) * math.sin(tz),
                        rot1_rad=-tz, rot2_rad=ty, rot3_rad=tx, pixel1_m=px, pixel2_m=px,
                        wavelength_m=None if wavelength_A is None else wavelength_A * 1e-10, shape=shape)


def poni_to_ff_detector(geom: PoniGeometry, *, flipped_vertically: bool = False,
                        shape: tuple[int, int] | None = None, rho_d_um: float | None = None) -> Any:
    """An undistorted :class:`midas.geometry.FFDetector` equivalent to a ``.poni`` geometry.

    Raises
    ------
    ParamError
        Unknown image shape (pass ``shape``), non-square pixels.
    """
    from midas.geometry import FFDetector

    d = poni_to_midas(geom, flipped_vertically=flipped_vertically, shape=shape)
    if "NrPixelsY" not in d:
        raise ParamError("the .poni file does not record the image shape; pass shape=(n_rows, n_columns)")
    n_y, n_z = d["NrPixelsY"], d["NrPixelsZ"]
    rho = rho_d_um or max(math.hypot((cy - d["BC"][0]) * d["px"], (cz - d["BC"][1]) * d["px"])
                          for cy in (0, n_y - 1) for cz in (0, n_z - 1))
    return FFDetector(lsd_um=d["Lsd"], bc_px=d["BC"], pixel_size_um=(d["px"], d["px"]), tx_deg=d["tx"],
                      ty_deg=d["ty"], tz_deg=d["tz"], rho_d_um=rho, n_pixels=(n_y, n_z),
                      im_trans_opt=tuple(d["ImTransOpt"]))
