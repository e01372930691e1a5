"""DetectorMapper: the exact pixel → (R, η) bin matrix of radial integration, and its disk cache.

Every pixel's four corners go through the full FF geometry (:func:`midas.geometry.pixel_to_ideal`
model: tilts, p0..p14, parallax; evaluated in C++) into the corrected plane
``(y, z) = (−R sin η, R cos η)``. The quadrilateral they span (straight edges there) is split over
the (R, η) bins by exact polygon ∩ annular-sector areas — no sub-pixel sampling
(``cpp/include/midas/integration/polygon_sector.hpp``). The matrix rows are bins (r-major), the
columns RAW pixels (ImTransOpt folded in, frames are read as stored), the entries
``fraction / C`` with ``C`` the solid-angle (cos³2θ) and polarization (1 − P sin²2θ cos²η)
corrections, and ``1 / bin area`` is applied per row in the same CSR pass. Upstream:
``MapperCore.c`` (``upstream_facts.md`` §4.12); conventions in ``docs/conventions.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import FormatError, ParamError
from midas.geometry import FFDetector
from midas.integration.bins import IntegrationBins
from midas.io import corrections
from midas.io._atomic import atomic_output
from midas.sparse import CsrMatrix

__all__ = [
    "MASK_POLICIES",
    "IntegrationMap",
    "MapOptions",
    "build_map",
    "build_map_from_corners",
    "load_or_build_map",
    "map_key",
    "raw_pixel_index",
    "read_map_cache",
]

log = logging.getLogger(__name__)

#: Bump when the matrix an input produces changes (part of every cache key).
MAP_FORMAT_VERSION = 1
#: Quantum of float32 fractions: multiples of 2**-24 are exact in float32 and sum exactly.
FRACTION_QUANTUM = 2.0**-24
MASK_POLICIES = ("flag_bins", "exclude_pixels")


@dataclass(frozen=True, slots=True)
class MapOptions:
    """Everything besides geometry, bins and mask that changes the matrix.

    Attributes
    ----------
    solid_angle : bool
        Divide by cos³2θ (``SolidAngleCorrection``).
    polarization : bool
        Divide by ``1 − P·sin²2θ·cos²η`` (``PolarizationCorrection``).
    polarization_fraction : float
        ``P`` (``PolarizationFraction``, default 0.99).
    mask_policy : str
        ``"flag_bins"`` (upstream: a bad pixel flags every bin it touches; such bins give NaN and
        area 0) or ``"exclude_pixels"`` (bad pixels drop out, bins are normalised by the area of
        their good pixels, as pyFAI does).
    precision : str
        ``"float32"`` (default: 8 bytes per entry, fractions quantised to 2**-24 so they are exact
        and a covered pixel's fractions sum to exactly 1) or ``"float64"``.
    normalize : bool
        Divide each bin by its area (``Normalize``, default on): the cake is then a mean per
        pixel. Off: the cake is the fraction-weighted sum.
    """

    solid_angle: bool = False
    polarization: bool = False
    polarization_fraction: float = 0.99
    mask_policy: str = "flag_bins"
    precision: str = "float32"
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.mask_policy not in MASK_POLICIES:
            raise ParamError(f"mask_policy {self.mask_policy!r}: expected one of {MASK_POLICIES}")
        if self.precision not in ("float32", "float64"):
            raise ParamError(f"precision {self.precision!r}: expected 'float32' or 'float64'")
        if not (math.isfinite(self.polarization_fraction) and 0.0 <= self.polarization_fraction <= 1.0):
            raise ParamError(f"PolarizationFraction = {self.polarization_fraction}: expected a value in [0, 1]")

    @classmethod
    def from_params(cls, p: Any, **overrides: Any) -> MapOptions:
        """Options from ``SolidAngleCorrection``, ``PolarizationCorrection``, ``PolarizationFraction``
        and ``Normalize`` (keyword overrides win).

        Raises
        ------
        ParamError
            Invalid values.
        """
        kw: dict[str, Any] = {
            "solid_angle": bool(int(p.get("SolidAngleCorrection", 0) or 0)),
            "polarization": bool(int(p.get("PolarizationCorrection", 0) or 0)),
            "polarization_fraction": float(p.get("PolarizationFraction", 0.99)),
            "normalize": bool(int(p.get("Normalize", 1))),
        }
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MapOptions:
        """Build from :meth:`to_dict` output."""
        return cls(**d)


@dataclass(frozen=True, slots=True)
class IntegrationMap:
    """The integration matrix of one detector geometry, bin grid, mask and option set.

    Attributes
    ----------
    matrix : CsrMatrix
        ``(n_r·n_eta, n_raw_pixels)``; rows r-major (``i_r·n_eta + i_eta``), columns raw-frame
        pixels (``row·n_columns + column`` of the frame as stored), entries ``fraction / C``
        (float32 or float64).
    fractions : (nnz,) float32 or float64
        Area fraction of the pixel inside the bin, aligned with ``matrix.data``.
    bin_area : (n_r, n_eta) float64
        Σ fractions of the bin's good pixels, in pixels (0 for empty and flagged bins).
    bin_flagged : (n_r, n_eta) bool
        Bins touched by a bad pixel (``flag_bins`` policy).
    row_scale : (n_r·n_eta,) float64
        Per-row factor of the CSR pass: 1/area (or 1 without ``normalize``), 0 for empty bins,
        NaN for flagged bins.
    pixel_mask : (n_z_raw, n_y_raw) bool
        The static bad-pixel mask the map was built with (raw layout), all False when none.
    bins : IntegrationBins
    detector : FFDetector or None
        None for a map built from explicit corner coordinates.
    options : MapOptions
    raw_frame_shape : (int, int)
        ``(n_rows, n_columns)`` of the frames as stored.
    lsd_px : float
        Sample-detector distance in pixels (2θ of the bins).
    key : str
        SHA-256 (hex) of every input of the matrix (see :func:`map_key`).
    n_degenerate : int
        Pixels skipped because their footprint has no area (e.g. behind the sample).
    build_seconds : float
        Wall time of the build (0 when loaded from the cache).
    """

    matrix: CsrMatrix
    fractions: NDArray[np.floating]
    bin_area: NDArray[np.float64]
    bin_flagged: NDArray[np.bool_]
    row_scale: NDArray[np.float64]
    pixel_mask: NDArray[np.bool_]
    bins: IntegrationBins
    detector: FFDetector | None
    options: MapOptions
    raw_frame_shape: tuple[int, int]
    lsd_px: float
    key: str
    n_degenerate: int = 0
    build_seconds: float = 0.0

    @property
    def n_r(self) -> int:
        """Number of radial bins."""
        return self.bins.n_r

    @property
    def n_eta(self) -> int:
        """Number of η bins."""
        return self.bins.n_eta

    def tth_centres_deg(self) -> NDArray[np.float64]:
        """(n_r,) 2θ of the radial bin mid-points, ``atan(RMean/Lsd)`` in degrees."""
        return np.rad2deg(np.arctan(self.bins.r_centres_px / self.lsd_px))

    def r_eta_map(self, wavelength_A: float | None) -> NDArray[np.float64]:
        """Upstream's ``REtaMap`` ``(5, n_r, n_eta)``: R (px), 2θ (deg), η (deg), bin area (px), Q (1/Å).

        Bin area is 0 for empty and flagged bins (GSAS-II then ignores them). Q is 0 without a
        wavelength.
        """
        n_r, n_eta = self.n_r, self.n_eta
        out = np.zeros((5, n_r, n_eta), dtype=np.float64)
        tth = self.tth_centres_deg()
        out[0] = self.bins.r_centres_px[:, None]
        out[1] = tth[:, None]
        out[2] = self.bins.eta_centres_deg[None, :]
        out[3] = self.bin_area
        if wavelength_A:
            out[4] = (4.0 * np.pi / float(wavelength_A) * np.sin(0.5 * np.deg2rad(tth)))[:, None]
        return out


# ------------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------------
def raw_pixel_index(raw_frame_shape: tuple[int, int], im_trans_opt: int | Sequence[int]) -> NDArray[np.int32]:
    """Raw-frame index of every pixel of the transformed frame (ImTransOpt undone).

    Parameters
    ----------
    raw_frame_shape : (n_rows, n_columns)
        Shape of the frames as stored.
    im_trans_opt : int or sequence of int
        Upstream ``ImTransOpt`` operations (see :func:`midas.io.corrections.im_trans_opt`).

    Returns
    -------
    (n_z * n_y,) int32
        Entry ``Z·n_y + Y`` is the flat raw index of transformed pixel (Y, Z).

    Raises
    ------
    ParamError
        Invalid operations (transpose of a non-square frame).
    """
    n_raw = int(raw_frame_shape[0]) * int(raw_frame_shape[1])
    idx = np.arange(n_raw, dtype=np.int32).reshape(raw_frame_shape)
    ops = corrections.check_im_trans_opt(im_trans_opt)
    return np.ascontiguousarray(corrections.im_trans_opt(idx, ops)).ravel()


def _raw_shape(det: FFDetector) -> tuple[int, int]:
    n_y, n_z = det.n_pixels
    transposed = sum(1 for op in det.im_trans_opt if op == 3) % 2 == 1
    return (n_y, n_z) if transposed else (n_z, n_y)


def _mask_array(mask: ArrayLike | None, raw_shape: tuple[int, int]) -> NDArray[np.bool_]:
    if mask is None:
        return np.zeros(raw_shape, dtype=bool)
    m = corrections.bad_pixel_mask(mask)
    if m.shape != tuple(raw_shape):
        raise ParamError(f"mask shape {m.shape} does not match the raw frame shape {tuple(raw_shape)} "
                         "(the mask is given in the layout of the stored frames, before ImTransOpt)")
    return m


def map_key(*, detector: dict[str, Any] | None, bins: IntegrationBins, options: MapOptions,
            raw_frame_shape: tuple[int, int], mask: NDArray[np.bool_], extra: dict[str, Any] | None = None) -> str:
    """SHA-256 (hex) over every input of the matrix.

    Covers the whole detector (all its fields: p0..p14, tilts, parallax, RhoD, ImTransOpt...),
    the exact bin edges, the options, the raw frame shape, the full mask and the map format
    version — unlike upstream's Map.bin hash, which leaves out p5, p7–p14 and the mask.
    """
    payload = {
        "format": MAP_FORMAT_VERSION,
        "detector": detector,
        "bins": bins.to_dict(),
        "options": options.to_dict(),
        "raw_frame_shape": [int(v) for v in raw_frame_shape],
        "mask_sha256": hashlib.sha256(np.packbits(np.asarray(mask, dtype=bool)).tobytes()).hexdigest(),
        "extra": extra,
    }
    text = json.dumps(payload, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    raise TypeError(f"cannot hash {type(v)}")


def _assemble(d: dict[str, Any], *, bins: IntegrationBins, detector: FFDetector | None, options: MapOptions,
              raw_shape: tuple[int, int], lsd_px: float, mask: NDArray[np.bool_], key: str,
              seconds: float) -> IntegrationMap:
    area = np.asarray(d["bin_area"], dtype=np.float64)
    flagged = np.asarray(d["bin_flagged"]).astype(bool)
    with np.errstate(divide="ignore"):
        scale = np.where(area > 0, (1.0 / area) if options.normalize else 1.0, 0.0)
    scale[flagged] = np.nan
    n_cols = int(raw_shape[0]) * int(raw_shape[1])
    matrix = CsrMatrix(indptr=np.asarray(d["indptr"], dtype=np.int64), indices=np.asarray(d["indices"], np.int32),
                       data=np.asarray(d["weights"]), n_cols=n_cols)
    n_degenerate = int(d.get("n_degenerate", 0))
    return IntegrationMap(
        matrix=matrix, fractions=np.asarray(d["fractions"]), bin_area=area.reshape(bins.n_r, bins.n_eta),
        bin_flagged=flagged.reshape(bins.n_r, bins.n_eta), row_scale=scale, pixel_mask=mask, bins=bins,
        detector=detector, options=options, raw_frame_shape=(int(raw_shape[0]), int(raw_shape[1])),
        lsd_px=float(lsd_px), key=key, n_degenerate=n_degenerate, build_seconds=seconds)


def _run_builder(corner_y_px: NDArray[np.float64], corner_z_px: NDArray[np.float64],
                 raw_index: NDArray[np.int32] | None, mask: NDArray[np.bool_], bins: IntegrationBins,
                 options: MapOptions, lsd_px: float) -> dict[str, Any]:
    fn = core().build_detector_map_f32 if options.precision == "float32" else core().build_detector_map_f64
    any_bad = bool(mask.any())
    return fn(
        np.ascontiguousarray(corner_y_px, dtype=np.float64), np.ascontiguousarray(corner_z_px, dtype=np.float64),
        raw_index, np.ascontiguousarray(mask.ravel(), dtype=np.uint8) if any_bad else None,
        bins.r_edges_px, bins.eta_min_deg, bins.eta_bin_size_deg, bins.n_eta, float(lsd_px),
        bool(options.solid_angle), bool(options.polarization), float(options.polarization_fraction),
        MASK_POLICIES.index(options.mask_policy),
        FRACTION_QUANTUM if options.precision == "float32" else 0.0,
    )


def build_map(det: FFDetector, bins: IntegrationBins, *, options: MapOptions | None = None,
              mask: ArrayLike | None = None) -> IntegrationMap:
    """Build the integration matrix of an FF detector.

    Parameters
    ----------
    det : FFDetector
        Geometry (tilts, p0..p14, parallax, ImTransOpt); ``n_pixels`` is the frame after ImTransOpt.
    bins : IntegrationBins
        Radial edges (pixels of the corrected plane, ``R_corr / px_y``) and η bins.
    options : MapOptions, optional
        Corrections, mask policy, precision, normalisation (defaults: none, flag_bins, float32, on).
    mask : (n_rows, n_columns) array, optional
        Static bad-pixel mask in the layout of the STORED frames (1 / True = bad).

    Returns
    -------
    IntegrationMap

    Raises
    ------
    ParamError
        Mask shape mismatch, invalid ImTransOpt, bins or options.
    GeometryError
        An invalid detector.
    CapacityError
        More than 2**31 − 1 pixels or bins.

    Notes
    -----
    A pixel footprint is the quadrilateral of its corners' corrected positions (straight edges in
    the corrected plane). Its overlap with bin ``[r0, r1] × [η0, η1]`` is
    ``D(r1) − D(r0)``, ``D(r)`` the area of the wedge-clipped footprint inside the circle of
    radius r (exact: segments plus circular sectors). See ``docs/conventions.md``.

    Examples
    --------
    >>> from midas.geometry import FFDetector
    >>> det = FFDetector(lsd_um=1e6, bc_px=(7.5, 7.5), pixel_size_um=(100.0, 100.0), n_pixels=(16, 16))
    >>> m = build_map(det, IntegrationBins.uniform_r(0, 12, 1.0, eta_bin_size_deg=90.0))
    >>> round(float(m.bin_area.sum()), 9)   # every pixel lies inside R < 12: 256 pixels
    256.0
    """
    options = options or MapOptions()
    t0 = time.perf_counter()
    raw_shape = _raw_shape(det)
    m = _mask_array(mask, raw_shape)
    key = map_key(detector=det.to_dict(), bins=bins, options=options, raw_frame_shape=raw_shape, mask=m)
    n_y, n_z = det.n_pixels
    cy, cz = core().ff_pixel_corners(det._kernel(), int(n_y), int(n_z))
    ops = corrections.check_im_trans_opt(det.im_trans_opt)
    raw_index = None if all(op in (0, -1) for op in ops) else raw_pixel_index(raw_shape, ops)
    px = det.pixel_size_um[0]
    lsd_px = det.lsd_um / px
    d = _run_builder(cy, cz, raw_index, m, bins, options, lsd_px)
    del cy, cz
    imap = _assemble(d, bins=bins, detector=det, options=options, raw_shape=raw_shape, lsd_px=lsd_px, mask=m,
                     key=key, seconds=time.perf_counter() - t0)
    if imap.n_degenerate:
        log.warning("detector map: %d pixels have a degenerate footprint (no image on the detector plane) "
                    "and are left out", imap.n_degenerate)
    log.info("detector map: %d bins x %d pixels, %d entries, %d flagged bins, %.2f s", bins.n_bins,
             imap.matrix.n_cols, imap.matrix.nnz, int(imap.bin_flagged.sum()), imap.build_seconds)
    return imap


def build_map_from_corners(corner_y_px: ArrayLike, corner_z_px: ArrayLike, bins: IntegrationBins, *,
                           lsd_px: float, options: MapOptions | None = None, mask: ArrayLike | None = None,
                           raw_index: ArrayLike | None = None) -> IntegrationMap:
    """Build the matrix from explicit corner coordinates (any geometry; used by tests and tools).

    Parameters
    ----------
    corner_y_px, corner_z_px : (n_z + 1, n_y + 1) float64
        Corrected-plane coordinates (pixels, beam at the origin) of the pixel corners; corner
        (k, l) belongs to transformed pixel coordinates (Y, Z) = (l − ½, k − ½).
    bins : IntegrationBins
    lsd_px : float
        Sample-detector distance in pixels (for the corrections and 2θ).
    options : MapOptions, optional
    mask : (n_z, n_y) array, optional
        Bad pixels (1 / True = bad) in the raw layout.
    raw_index : (n_z·n_y,) int, optional
        Raw index of each transformed pixel (:func:`raw_pixel_index`); identity when omitted.

    Returns
    -------
    IntegrationMap
        ``detector`` is None; ``key`` hashes the corner arrays.

    Raises
    ------
    ParamError
        Shapes that do not match.
    """
    options = options or MapOptions()
    t0 = time.perf_counter()
    cy = np.ascontiguousarray(corner_y_px, dtype=np.float64)
    cz = np.ascontiguousarray(corner_z_px, dtype=np.float64)
    if cy.ndim != 2 or cy.shape != cz.shape or min(cy.shape) < 2:
        raise ParamError(f"corner arrays must be equal (n_z + 1, n_y + 1) arrays, got {cy.shape} and {cz.shape}")
    raw_shape = (cy.shape[0] - 1, cy.shape[1] - 1)
    m = _mask_array(mask, raw_shape)
    ri = None if raw_index is None else np.ascontiguousarray(raw_index, dtype=np.int32)
    key = map_key(detector=None, bins=bins, options=options, raw_frame_shape=raw_shape, mask=m,
                  extra={"corners": hashlib.sha256(cy.tobytes() + cz.tobytes()).hexdigest(), "lsd_px": lsd_px,
                         "raw_index": None if ri is None else hashlib.sha256(ri.tobytes()).hexdigest()})
    d = _run_builder(cy, cz, ri, m, bins, options, float(lsd_px))
    return _assemble(d, bins=bins, detector=None, options=options, raw_shape=raw_shape, lsd_px=lsd_px, mask=m,
                     key=key, seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------
# disk cache
# ------------------------------------------------------------------------------------------------
def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"midas_integration_map_{key[:24]}.npz"


def _write_cache(path: Path, imap: IntegrationMap) -> None:
    meta = {
        "key": imap.key, "format": MAP_FORMAT_VERSION, "bins": imap.bins.to_dict(),
        "options": imap.options.to_dict(), "detector": None if imap.detector is None else imap.detector.to_dict(),
        "raw_frame_shape": list(imap.raw_frame_shape), "lsd_px": imap.lsd_px, "n_degenerate": imap.n_degenerate,
    }
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), indptr=imap.matrix.indptr,
                 indices=imap.matrix.indices, weights=imap.matrix.data, fractions=imap.fractions,
                 bin_area=imap.bin_area.ravel(), bin_flagged=imap.bin_flagged.ravel().astype(np.uint8),
                 pixel_mask=np.packbits(imap.pixel_mask.ravel()))


def read_map_cache(path: str | Path) -> IntegrationMap:
    """Load a map written by :func:`load_or_build_map`.

    Raises
    ------
    FormatError
        A file that is not a midas integration map, or of another format version.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in ("indptr", "indices", "weights", "fractions", "bin_area", "bin_flagged",
                                        "pixel_mask")}
    except (OSError, KeyError, ValueError) as exc:
        raise FormatError(f"{p}: not a midas integration map cache ({exc})") from exc
    if meta.get("format") != MAP_FORMAT_VERSION:
        raise FormatError(f"{p}: integration map format {meta.get('format')}, expected {MAP_FORMAT_VERSION}")
    shape = tuple(meta["raw_frame_shape"])
    n = shape[0] * shape[1]
    mask = np.unpackbits(arrays.pop("pixel_mask"))[:n].astype(bool).reshape(shape)
    det = None if meta["detector"] is None else FFDetector.from_dict(meta["detector"])
    arrays["n_degenerate"] = meta["n_degenerate"]
    return _assemble(arrays, bins=IntegrationBins.from_dict(meta["bins"]), detector=det,
                     options=MapOptions.from_dict(meta["options"]), raw_shape=shape, lsd_px=meta["lsd_px"], mask=mask,
                     key=meta["key"], seconds=0.0)


def load_or_build_map(det: FFDetector, bins: IntegrationBins, *, cache_dir: str | Path,
                      options: MapOptions | None = None, mask: ArrayLike | None = None,
                      rebuild: bool = False, require_cached: bool = False) -> IntegrationMap:
    """Return the cached map for these inputs, building (and caching) it when absent or stale.

    The cache file name carries the first 24 hex digits of :func:`map_key`; the full key stored
    inside must match as well, so any change of geometry (every p0..p14), bins, options or mask
    rebuilds the map.

    Parameters
    ----------
    det, bins, options, mask
        As :func:`build_map`.
    cache_dir : path
        Folder of the cache files (created when missing).
    rebuild : bool
        Build even when a valid cache exists (and overwrite it).
    require_cached : bool
        Never build: raise FormatError when no valid cached map exists (upstream's
        ``-mapDetector 0``, which reuses an existing map).

    Raises
    ------
    As :func:`build_map`; FormatError when the cache folder is not writable, or with
    ``require_cached`` when no valid cached map exists.
    """
    options = options or MapOptions()
    raw_shape = _raw_shape(det)
    m = _mask_array(mask, raw_shape)
    key = map_key(detector=det.to_dict(), bins=bins, options=options, raw_frame_shape=raw_shape, mask=m)
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = _cache_path(folder, key)
    if path.exists() and not rebuild:
        try:
            cached = read_map_cache(path)
        except FormatError as exc:
            log.warning("ignoring unreadable integration map cache %s: %s", path, exc)
        else:
            if cached.key == key:
                log.info("integration map loaded from %s", path)
                return cached
            log.warning("integration map cache %s has a different key; rebuilding", path)
    if require_cached:
        raise FormatError(f"no cached integration map for these inputs in {folder} (expected {path.name}); "
                          "build it first (midas integrate -mapDetector 1)")
    imap = build_map(det, bins, options=options, mask=m)
    _write_cache(path, imap)
    log.info("integration map cached in %s", path)
    return imap
