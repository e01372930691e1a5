"""FF-HEDM peak search: detector frames → one row per diffraction peak per frame.

Stage 1 of the far-field pipeline (upstream ``PeaksFittingOMPZarrRefactor``, upstream_facts.md §4.1,
§3.4). For every frame: subtract the dark, keep the pixels at or above the threshold of the ring
band they lie in (or everywhere with ``DoFullImage``), group them into 8-connected regions, drop
regions that are too small, too large or saturated, find the regional maxima, and fit all maxima
of a region together with a 2-D pseudo-Voigt in polar detector coordinates (or take the region's
intensity-weighted centroid with ``doPeakFit 0``). The work runs in C++ (``midas::ff``), OpenMP
over the frames of a block; frames are decoded on several threads and never all held in memory.

Main entry points
-----------------
:class:`PeakSearchConfig`  settings (from a parameter file or a ``.MIDAS.zip``)
:func:`build_pixel_plan`   candidate pixels, thresholds, dark and mask of one detector
:func:`search_peaks`       run the search over a frame series → :class:`PeakTable`
:class:`PeakTable`         the peaks: upstream's 29 ``AllPeaks_PS`` columns + pixel lists

Conventions: pixel ``Y`` = column, ``Z`` = row of the frame after ImTransOpt; η = 0 up, +90° at
larger Y (``docs/conventions.md``). ω labels are frame centres by default
(``docs/conventions.md``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import ParamError
from midas.geometry.ff import FFDetector, pixel_grid_to_ideal

__all__ = [
    "PS_COLUMNS",
    "LmSettings",
    "PeakSearchConfig",
    "PixelPlan",
    "PeakTable",
    "build_pixel_plan",
    "search_peaks",
    "search_frames",
    "analyse_region",
    "fit_pseudo_voigt",
    "pseudo_voigt",
]

log = logging.getLogger(__name__)

#: Column names of upstream's ``AllPeaks_PS.bin`` rows (``PeaksFittingConsolidatedIO.h``), in order.
PS_COLUMNS: tuple[str, ...] = (
    "SpotID", "IntegratedIntensity", "Omega", "YCen", "ZCen", "IMax", "Radius", "Eta", "SigmaR",
    "SigmaEta", "NrPixels", "NrPxTot", "nPeaks", "maxY", "maxZ", "diffY", "diffZ", "rawIMax",
    "returnCode", "retVal", "BG", "SigmaGR", "SigmaLR", "SigmaGEta", "SigmaLEta", "MU",
    "RawSumIntensity", "maskTouched", "FitRMSE",
)
_COL = {name: i for i, name in enumerate(PS_COLUMNS)}


def _get(p: Any, key: str, default: Any = None) -> Any:
    """``p.get(key, default)`` for MidasParams and plain mappings alike."""
    try:
        v = p.get(key, default)
    except TypeError:
        v = p.get(key)
    return default if v is None else v


def _last(v: Any) -> Any:
    return v[-1] if isinstance(v, list) and v else v


@dataclass(frozen=True, slots=True)
class LmSettings:
    """Stopping rules of the Levenberg–Marquardt pseudo-Voigt fit.

    Attributes
    ----------
    max_iterations : int
        Accepted plus rejected steps per region (default 200).
    ftol_rel, xtol_rel, gtol : float
        Relative cost decrease, relative parameter step and scaled-gradient limits
        (defaults 1e-10, 1e-9, 1e-12).
    centre_tol_px : float
        Also stop once three accepted steps in a row each moved every peak centre by less than
        this (px; η counted as arc length) and lowered the cost by less than 0.1 % (default
        1e-5 px; 0 turns the rule off). The centre and the integrated intensity have then
        converged; only the Lorentzian widths of a nearly Gaussian peak (μ → 0), which the
        pixels hardly constrain, would still creep. On upstream's 1440-frame example this cuts
        the fit iterations about 4× and moves centres by < 3e-5 px and integrated intensities
        by < 2e-5 (relative); IMax, μ and the Lorentzian widths can differ more.
    """

    max_iterations: int = 200
    ftol_rel: float = 1e-10
    xtol_rel: float = 1e-9
    gtol: float = 1e-12
    centre_tol_px: float = 1e-5

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the compiled kernels."""
        return {"max_iterations": int(self.max_iterations), "ftol_rel": float(self.ftol_rel),
                "xtol_rel": float(self.xtol_rel), "gtol": float(self.gtol),
                "centre_tol_px": float(self.centre_tol_px)}


@dataclass(frozen=True, slots=True)
class PeakSearchConfig:
    """Everything the peak search needs besides the frames.

    Attributes
    ----------
    detector : FFDetector
        Geometry (beam centre, tilts, distortion, ImTransOpt, detector size).
    ring_thresholds : tuple of (int, float)
        ``RingThresh``: ring number and threshold in counts above dark. With ``do_full_image`` the
        first threshold applies everywhere.
    ring_radius_um : tuple of float
        Ideal radius ``Lsd·tan 2θ`` of each ring of ``ring_thresholds`` (same order), µm.
    width_um : float
        ``Width``: half-width of the ring bands in corrected radius, µm.
    do_full_image : bool
        ``DoFullImage``: search the whole detector instead of the ring bands.
    saturation : float
        ``UpperBoundThreshold`` in raw counts: a region with any raw value above it is dropped.
        ``inf`` (no limit) when the key is absent (upstream silently uses 14000).
    min_nr_px, max_nr_px : int
        ``MinNrPx``/``MaxNrPx``: a region is kept when ``min_nr_px < size < max_nr_px``
        (strict, as upstream; defaults 1 and 10000).
    max_n_peaks : int
        ``MaxNPeaks``: the brightest this many maxima of a region are fitted (default 400).
    do_peak_fit : bool
        ``doPeakFit``: joint pseudo-Voigt fit (True) or one centroid per region (False).
    gap_intensity, bad_px_intensity : float or None
        ``GapIntensity``/``BadPxIntensity``: raw values that mark masked pixels, when set.
    grow_outside_bands : bool
        Extend a region found inside a ring band into connected pixels outside the bands that
        reach the same threshold (default True), so that a spot lying partly outside its band
        (a grain far from the rotation axis, a strained grain) is fitted whole. False reproduces
        upstream, which cuts such spots at the band edge and biases their centres.
    lm : LmSettings
        Fit stopping rules.

    Notes
    -----
    Build with :meth:`from_params`; change with :func:`dataclasses.replace`.
    """

    detector: FFDetector
    ring_thresholds: tuple[tuple[int, float], ...]
    ring_radius_um: tuple[float, ...]
    width_um: float = 1500.0
    do_full_image: bool = False
    saturation: float = math.inf
    min_nr_px: int = 1
    max_nr_px: int = 10000
    max_n_peaks: int = 400
    do_peak_fit: bool = True
    gap_intensity: float | None = None
    bad_px_intensity: float | None = None
    grow_outside_bands: bool = True
    lm: LmSettings = field(default_factory=LmSettings)

    def __post_init__(self) -> None:
        if not self.ring_thresholds:
            raise ParamError("PeakSearchConfig: no RingThresh given; at least one (ring, threshold) is needed")
        if len(self.ring_radius_um) != len(self.ring_thresholds):
            raise ParamError(f"PeakSearchConfig: {len(self.ring_radius_um)} ring radii for "
                             f"{len(self.ring_thresholds)} RingThresh entries")
        for ring, thr in self.ring_thresholds:
            if not (math.isfinite(thr) and thr > 0):
                raise ParamError(f"RingThresh {ring} {thr}: the threshold must be a number > 0 (counts above dark)")
        if not (self.width_um > 0):
            raise ParamError(f"Width = {self.width_um}: expected a band half-width > 0 µm")
        if self.min_nr_px < 0 or self.max_nr_px <= self.min_nr_px + 1:
            raise ParamError(f"MinNrPx = {self.min_nr_px}, MaxNrPx = {self.max_nr_px}: no region size can pass "
                             f"min < size < max")
        if self.max_n_peaks < 1:
            raise ParamError(f"MaxNPeaks = {self.max_n_peaks}: expected >= 1")

    @classmethod
    def from_params(cls, p: Any, *, ring_radius_um: Mapping[int, float] | None = None) -> PeakSearchConfig:
        """Build from a :class:`midas.params.MidasParams` or a plain mapping of MIDAS keys.

        Parameters
        ----------
        p : MidasParams or mapping
            Geometry keys (see :meth:`FFDetector.from_params`), ``RingThresh``, ``Width``,
            ``DoFullImage``, ``UpperBoundThreshold``, ``MinNrPx``, ``MaxNrPx``, ``MaxNPeaks``,
            ``doPeakFit``, ``GapIntensity``, ``BadPxIntensity``, and for the ring radii
            ``SpaceGroup``, ``LatticeConstant``, ``Wavelength``, ``RhoD``.
        ring_radius_um : mapping ring → radius (µm), optional
            Ring radii to use instead of computing the hkl list (e.g. read from ``hkls.csv``).

        Raises
        ------
        ParamError
            A key is missing or out of range, or a RingThresh ring is not in the hkl list.
        """
        det = FFDetector.from_params(p)
        rt = _get(p, "RingThresh", [])
        if isinstance(rt, tuple) and rt and not isinstance(rt[0], (tuple, list)):
            rt = [rt]
        rings = tuple((int(r), float(t)) for r, t in rt)
        if not rings:
            raise ParamError(f"no RingThresh lines{_where(p)}: the peak search needs at least one (ring, threshold)")
        if ring_radius_um is None:
            from midas.crystal.hkl import hkl_table_from_params

            table = hkl_table_from_params(p)
            ring_radius_um = {int(r): float(x) for r, x in zip(table.ring_numbers, table.ring_radius_um, strict=True)}
        do_full = bool(int(_last(_get(p, "DoFullImage", 0))))
        radii = []
        for ring, _thr in rings:
            if ring not in ring_radius_um:
                if do_full:
                    radii.append(math.nan)
                    continue
                raise ParamError(f"RingThresh ring {ring}{_where(p)} is not among the rings of the hkl list "
                                 f"(rings 1..{max(ring_radius_um) if ring_radius_um else 0})")
            radii.append(float(ring_radius_um[ring]))
        sat = _last(_get(p, "UpperBoundThreshold", None))

        def _opt(key: str) -> float | None:
            return float(_last(p[key])) if key in p and _last(p[key]) is not None else None

        return cls(
            detector=det,
            ring_thresholds=rings,
            ring_radius_um=tuple(radii),
            width_um=float(_last(_get(p, "Width", 1500.0))),
            do_full_image=do_full,
            saturation=math.inf if sat is None else float(sat),
            min_nr_px=int(_last(_get(p, "MinNrPx", 1))),
            max_nr_px=int(_last(_get(p, "MaxNrPx", 10000))),
            max_n_peaks=int(_last(_get(p, "MaxNPeaks", 400))),
            do_peak_fit=bool(int(_last(_get(p, "doPeakFit", 1)))),
            gap_intensity=_opt("GapIntensity"),
            bad_px_intensity=_opt("BadPxIntensity"),
        )


def _where(p: Any) -> str:
    src = getattr(p, "source", None)
    return f" in {src}" if src else ""


@dataclass(frozen=True, slots=True)
class PixelPlan:
    """Candidate pixels of one detector for the compiled search (see ``midas/ff/peak_search.hpp``).

    Candidates are the pixels inside a ring band (or all with ``DoFullImage``) that are not
    masked. They are grouped in runs of consecutive pixels of one row with one threshold.

    Attributes
    ----------
    raw_shape : (int, int)
        ``(n_z, n_y)`` of the frames as stored.
    shape : (int, int)
        ``(n_z, n_y)`` after ImTransOpt.
    dst_index : (M,) int64
        ``z·n_y + y`` of each candidate in the transformed frame, increasing.
    src_index : (M,) int64
        Index of the same pixel in the raw frame (flattened).
    threshold : (M,) float32
        Counts above dark the pixel needs.
    dark : (M,) float32 or None
        Dark value of each candidate (None: no dark).
    pixel_class : (n_z·n_y,) uint8
        0 outside every band, 1 candidate, 2 masked, for every transformed pixel.
    dark_map : (n_z·n_y,) float32 or None
        Dark of every transformed pixel (for region growth; None: no dark).
    src_affine : (int, int, int)
        Raw index of transformed pixel (y, z) = ``origin + y·step_y + z·step_z``.
    grow : bool
        Grow regions outside the bands (see :class:`PeakSearchConfig`).
    runs : dict of (R,) arrays
        ``dst_start, src_start, src_stride, offset`` (int64), ``length`` (int32), ``threshold``
        (float32): the candidates as runs, the layout the kernel reads.
    """

    raw_shape: tuple[int, int]
    shape: tuple[int, int]
    dst_index: NDArray[np.int64]
    src_index: NDArray[np.int64]
    threshold: NDArray[np.float32]
    dark: NDArray[np.float32] | None
    pixel_class: NDArray[np.uint8]
    dark_map: NDArray[np.float32] | None = None
    src_affine: tuple[int, int, int] = (0, 1, 0)
    grow: bool = False
    runs: Mapping[str, NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.runs:
            object.__setattr__(self, "runs", _runs(self.dst_index, self.src_index, self.threshold, self.shape[1]))

    @property
    def n_candidates(self) -> int:
        """Number of candidate pixels."""
        return int(self.dst_index.size)


def _runs(dst: NDArray[np.int64], src: NDArray[np.int64], thr: NDArray[np.float32],
          n_y: int) -> dict[str, NDArray[Any]]:
    """Split sorted candidates into runs: consecutive pixels of one row, one threshold, constant raw stride."""
    n = dst.size
    if n == 0:
        z64 = np.zeros(0, np.int64)
        return {"dst_start": z64, "src_start": z64, "src_stride": z64, "offset": z64,
                "length": np.zeros(0, np.int32), "threshold": np.zeros(0, np.float32)}
    d_src = np.diff(src)
    brk = np.ones(n, dtype=bool)
    brk[1:] = (np.diff(dst) != 1) | (dst[1:] // n_y != dst[:-1] // n_y) | (thr[1:] != thr[:-1])
    # A run's stride is its first step; split where a later step differs (ImTransOpt gives one
    # stride per row, so this only guards against surprises).
    while True:
        start = np.flatnonzero(brk)
        run_of = np.cumsum(brk) - 1
        stride_run = np.ones(start.size, dtype=np.int64)
        two = np.flatnonzero(np.diff(np.append(start, n)) > 1)
        stride_run[two] = d_src[start[two]]
        bad = np.flatnonzero(~brk[1:] & (d_src != stride_run[run_of[1:]])) + 1
        if bad.size == 0:
            break
        brk[bad] = True
    length = np.diff(np.append(start, n)).astype(np.int32)
    return {"dst_start": dst[start].astype(np.int64), "src_start": src[start].astype(np.int64),
            "src_stride": stride_run, "offset": start.astype(np.int64), "length": length,
            "threshold": thr[start].astype(np.float32)}


def ring_band_thresholds(config: PeakSearchConfig) -> NDArray[np.float32]:
    """Threshold map of the transformed frame: ``(n_z, n_y)`` float32, +inf outside every band.

    A pixel whose corrected radius (tilts, distortion: :func:`midas.geometry.pixel_grid_to_ideal`)
    lies within ``width_um`` of a ring gets that ring's threshold (the last matching ring of
    ``ring_thresholds`` wins, as upstream). With ``do_full_image`` every pixel gets the first one.
    """
    n_y, n_z = config.detector.n_pixels
    thr = np.full((n_z, n_y), np.inf, dtype=np.float32)
    if config.do_full_image:
        thr[...] = config.ring_thresholds[0][1]
        return thr
    r_um, eta = pixel_grid_to_ideal(config.detector)
    del eta
    dist = np.empty_like(r_um)
    for (_ring, t), rad in zip(config.ring_thresholds, config.ring_radius_um, strict=True):
        np.subtract(r_um, rad, out=dist)
        np.abs(dist, out=dist)
        thr[dist < config.width_um] = t
    return thr


def build_pixel_plan(config: PeakSearchConfig, raw_shape: tuple[int, int], *, dark: ArrayLike | None = None,
                     mask: ArrayLike | None = None) -> PixelPlan:
    """Candidate pixels, thresholds, dark and mask of one detector, once per scan.

    Parameters
    ----------
    config : PeakSearchConfig
    raw_shape : (int, int)
        ``(n_z, n_y)`` of the frames as stored (before ImTransOpt).
    dark : (n_z, n_y) array, optional
        Mean dark in the RAW frame layout (counts); see :func:`midas.io.corrections.dark_mean`.
    mask : (n_z, n_y) array, optional
        Bad-pixel mask in the RAW layout, MIDAS convention (1 or True = masked).

    Returns
    -------
    PixelPlan

    Raises
    ------
    ParamError
        When the transformed frame shape differs from the detector's ``n_pixels`` or the dark/mask
        shape differs from ``raw_shape``.
    """
    from midas.io.corrections import bad_pixel_mask, im_trans_opt

    raw_shape = (int(raw_shape[0]), int(raw_shape[1]))
    opts = config.detector.im_trans_opt
    index = im_trans_opt(np.arange(raw_shape[0] * raw_shape[1], dtype=np.int64).reshape(raw_shape), opts)
    n_y, n_z = config.detector.n_pixels
    if index.shape != (n_z, n_y):
        raise ParamError(f"frames of {raw_shape[0]} rows x {raw_shape[1]} columns become {index.shape[0]} x "
                         f"{index.shape[1]} after ImTransOpt {list(opts)}, but the parameters say NrPixelsZ = {n_z}, "
                         f"NrPixelsY = {n_y}")
    thr = ring_band_thresholds(config)
    pixel_class = np.where(np.isfinite(thr), 1, 0).astype(np.uint8)
    if mask is not None:
        m = bad_pixel_mask(mask)
        if m.shape != raw_shape:
            raise ParamError(f"mask has shape {m.shape}, expected the raw frame shape {raw_shape}")
        masked_t = np.ascontiguousarray(im_trans_opt(m, opts))
        thr[masked_t] = np.inf
        pixel_class[masked_t] = 2
    dst = np.flatnonzero(np.isfinite(thr)).astype(np.int64)
    src = np.ascontiguousarray(index.reshape(-1)[dst])
    dark_c = dark_map = None
    grow = config.grow_outside_bands and not config.do_full_image
    if dark is not None:
        d = np.asarray(dark, dtype=np.float64)
        if d.shape != raw_shape:
            raise ParamError(f"dark has shape {d.shape}, expected the raw frame shape {raw_shape}")
        dark_c = d.reshape(-1)[src].astype(np.float32)
        if grow:
            dark_map = np.ascontiguousarray(im_trans_opt(d, opts), dtype=np.float32).reshape(-1)
    # ImTransOpt is a composition of flips and a transpose: the raw index is affine in (y, z).
    origin = int(index[0, 0])
    step_y = int(index[0, 1] - index[0, 0]) if n_y > 1 else 1
    step_z = int(index[1, 0] - index[0, 0]) if n_z > 1 else 0
    zz, yy = np.ogrid[0:n_z, 0:n_y]
    if not np.array_equal(index, origin + yy * step_y + zz * step_z):  # pragma: no cover - flips are affine
        raise ParamError(f"ImTransOpt {list(opts)} does not map pixels affinely")
    log.info("peak search: %d candidate pixels of %d (%.1f %%) in %d ring band(s)%s", dst.size, n_y * n_z,
             100.0 * dst.size / max(n_y * n_z, 1), len(config.ring_thresholds),
             " (full image)" if config.do_full_image else "")
    return PixelPlan(
        raw_shape=raw_shape,
        shape=(int(n_z), int(n_y)),
        dst_index=dst,
        src_index=src,
        threshold=np.ascontiguousarray(thr.reshape(-1)[dst]),
        dark=dark_c,
        pixel_class=pixel_class.reshape(-1),
        dark_map=dark_map,
        src_affine=(origin, step_y, step_z),
        grow=grow,
    )


@dataclass(frozen=True, slots=True)
class PeakTable:
    """Peaks of a scan: upstream's ``AllPeaks_PS`` rows plus the pixels of every fitted region.

    Attributes
    ----------
    rows : (N, 29) float64
        One row per peak, columns :data:`PS_COLUMNS` (SpotID 1-based within its frame, ω in
        degrees with the label convention ``omega_label``, YCen/ZCen in px of the frame after
        ImTransOpt, Radius px and Eta deg around the beam centre, uncorrected).
    frame : (N,) int32
        0-based frame number (frames counted after SkipFrame), non-decreasing.
    n_frames : int
        Frames searched (frames without peaks included).
    region : (N,) int64
        Index of the peak's region into ``region_px_start``.
    region_px_start : (n_regions + 1,) int64
        Offsets into ``region_px_yz``.
    region_px_yz : (n_px, 2) int16
        ``(y, z)`` pixels of every region (shared by all peaks of a region).
    omega_label : str
        ``"centre"`` (frame-centre ω, midas default) or ``"start"`` (upstream's frame start).
    omega_start_deg, omega_step_deg : float
        ω at the start edge of frame 0 and the signed step, degrees.
    counts : dict
        Totals over all frames: regions, too_small, too_large, saturated, truncated, kept_pixels,
        grown_pixels.
    """

    rows: NDArray[np.float64]
    frame: NDArray[np.int32]
    n_frames: int
    region: NDArray[np.int64]
    region_px_start: NDArray[np.int64]
    region_px_yz: NDArray[np.int16]
    omega_label: str = "centre"
    omega_start_deg: float = 0.0
    omega_step_deg: float = 1.0
    frame_shape: tuple[int, int] = (0, 0)
    counts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.rows.shape[0]
        if self.rows.ndim != 2 or self.rows.shape[1] != len(PS_COLUMNS):
            raise ParamError(f"PeakTable.rows has shape {self.rows.shape}, expected (N, {len(PS_COLUMNS)})")
        if self.frame.shape != (n,) or self.region.shape != (n,):
            raise ParamError("PeakTable: frame and region must have one entry per row")

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def column(self, name: str) -> NDArray[np.float64]:
        """One column by its upstream name (see :data:`PS_COLUMNS`)."""
        try:
            return self.rows[:, _COL[name]]
        except KeyError:
            raise ParamError(f"no peak column {name!r}; columns are {PS_COLUMNS}") from None

    @property
    def y_px(self) -> NDArray[np.float64]:
        """Fitted centre column Y (px)."""
        return self.rows[:, _COL["YCen"]]

    @property
    def z_px(self) -> NDArray[np.float64]:
        """Fitted centre row Z (px)."""
        return self.rows[:, _COL["ZCen"]]

    @property
    def omega_deg(self) -> NDArray[np.float64]:
        """Frame ω label of every peak (degrees)."""
        return self.rows[:, _COL["Omega"]]

    @property
    def intensity(self) -> NDArray[np.float64]:
        """Integrated intensity (counts)."""
        return self.rows[:, _COL["IntegratedIntensity"]]

    @property
    def frame_start(self) -> NDArray[np.int64]:
        """``(n_frames + 1,)`` offsets: peaks of frame k are rows ``frame_start[k]:frame_start[k+1]``."""
        return np.searchsorted(self.frame, np.arange(self.n_frames + 1)).astype(np.int64)

    def pixels(self, i: int) -> NDArray[np.int16]:
        """``(n, 2)`` (y, z) pixels of the region of peak ``i``."""
        r = int(self.region[i])
        return self.region_px_yz[self.region_px_start[r]:self.region_px_start[r + 1]]

    def relabel_omega(self, label: str) -> PeakTable:
        """The same table with ω labels of the other convention (``"centre"`` or ``"start"``)."""
        from midas.geometry.omega import frame_to_omega

        if label == self.omega_label:
            return self
        rows = self.rows.copy()
        rows[:, _COL["Omega"]] = frame_to_omega(self.frame, self.omega_start_deg, self.omega_step_deg, label=label)
        return dataclasses.replace(self, rows=rows, omega_label=label)


_CORE_KW = ("min_nr_px", "max_nr_px", "max_n_peaks", "do_peak_fit")


def search_frames(frames: NDArray[Any], plan: PixelPlan, config: PeakSearchConfig) -> list[tuple[Any, ...]]:
    """Run the compiled search on a block of frames already in memory.

    Parameters
    ----------
    frames : (n, n_z, n_y) array of uint16, int16, uint32, int32, float32 or float64
        Raw frames as stored (before ImTransOpt and dark).
    plan : PixelPlan
    config : PeakSearchConfig

    Returns
    -------
    list of per-frame tuples ``(rows (n,29) float64 [ω column 0], region_of_peak (n,) int32,
    region_px_start (r+1,) int64, region_px_yz (p,2) int16, counts dict)``.

    Raises
    ------
    ParamError
        Shape or dtype mismatch.
    """
    f = np.asarray(frames)
    if f.ndim == 2:
        f = f[np.newaxis]
    if f.ndim != 3 or f.shape[1:] != plan.raw_shape:
        raise ParamError(f"frames have shape {f.shape}, expected (n, {plan.raw_shape[0]}, {plan.raw_shape[1]})")
    bad = [v for v in (config.gap_intensity, config.bad_px_intensity) if v is not None]
    det = config.detector
    empty_f = np.zeros(0, dtype=np.float32)
    out: list[tuple[Any, ...]] = core().ff_find_peaks(
        np.ascontiguousarray(f), plan.shape[1], plan.shape[0], plan.runs["dst_start"], plan.runs["src_start"],
        plan.runs["src_stride"], plan.runs["length"], plan.runs["offset"], plan.runs["threshold"],
        empty_f if plan.dark is None else plan.dark, plan.pixel_class,
        empty_f if plan.dark_map is None else plan.dark_map, *plan.src_affine, plan.grow,
        bc_y_px=det.bc_px[0], bc_z_px=det.bc_px[1], saturation=float(config.saturation), bad_values=bad,
        **{k: getattr(config, k) for k in _CORE_KW}, **config.lm.kwargs())
    return out


def search_peaks(
    frames: Any,
    config: PeakSearchConfig | None = None,
    params: Any = None,
    *,
    dark: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    omega_start_deg: float | None = None,
    omega_step_deg: float | None = None,
    omega_label: str = "centre",
    skip_frames: int | None = None,
    frame_range: tuple[int, int] | None = None,
    n_threads: int | None = None,
    block_frames: int | None = None,
    progress: bool = False,
) -> PeakTable:
    """Peak search over a scan, streaming the frames block by block.

    Parameters
    ----------
    frames : FrameSeries or path
        A ``.MIDAS.zip`` (path or :class:`~midas.io.midas_zip.MidasZip`) or any
        :class:`~midas.io.frames.FrameSeries`; frames as stored, ``(n_z, n_y)``.
    config : PeakSearchConfig, optional
        Settings; built with :meth:`PeakSearchConfig.from_params` from ``params`` when None.
    params : MidasParams or mapping, optional
        Parameters; when both ``config`` and ``params`` are None and ``frames`` is a
        ``.MIDAS.zip``, the archive's own analysis parameters are used.
    dark : (n_z, n_y) array, optional
        Mean dark (raw layout). Default: the archive's ``exchange/dark`` mean (after SkipFrame)
        when it is not all zero, else none.
    mask : (n_z, n_y) array, optional
        Bad-pixel mask (raw layout, 1 = bad). Default: ``MaskFile`` from the parameters, else the
        archive's ``exchange/mask``, else none.
    omega_start_deg, omega_step_deg : float, optional
        ω at the start edge of archive frame 0 and the step. Default: the archive's scan
        parameters, else ``OmegaStart``/``OmegaStep`` of the parameters.
    omega_label : {"centre", "start"}
        ω label of a frame: its centre ``start + (k + ½)·step`` (default) or upstream's start
        edge ``start + k·step``.
    skip_frames : int, optional
        Leading archive frames to leave out (``SkipFrame``; default from the archive/parameters).
    frame_range : (int, int), optional
        ``[first, stop)`` of the frames (counted after SkipFrame) to search; default all.
    n_threads : int, optional
        Threads for decoding and searching (default: :func:`midas.parallel.max_threads`).
    block_frames : int, optional
        Frames decoded and searched together (default ``2·n_threads``, at least 2); memory is
        about ``block_frames`` raw frames plus the candidate-pixel plan plus the peak table.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    PeakTable

    Raises
    ------
    ParamError
        Bad settings, or frames whose size does not match the detector.
    FormatError
        Unreadable frames.

    Notes
    -----
    Regions dropped because they reach ``MaxNrPx`` and regions with more than ``MaxNPeaks``
    maxima are counted and reported with a warning; results do not depend on ``n_threads``.
    """
    from midas.ff._frames import BlockReader
    from midas.geometry.omega import LABELS, frame_to_omega
    from midas.io.corrections import bad_pixel_mask, dark_mean
    from midas.io.frames import FrameSeries
    from midas.parallel import max_threads, threads

    if omega_label not in LABELS:
        raise ParamError(f"omega_label {omega_label!r}: expected one of {sorted(LABELS)}")
    owned = None
    if not isinstance(frames, FrameSeries):
        from midas.io.midas_zip import open_midas_zip

        owned = frames = open_midas_zip(frames)
    try:
        is_zip = type(frames).__name__ == "MidasZip"
        archive_params = frames.analysis_parameters if is_zip else {}
        if params is None and config is None:
            if not is_zip:
                raise ParamError("search_peaks: give config or params (frames other than .MIDAS.zip carry none)")
            from midas.params import MidasParams

            params = MidasParams.from_mapping(archive_params, source=getattr(frames, "path", None))
        if config is None:
            config = PeakSearchConfig.from_params(params)
        src = params if params is not None else archive_params
        if skip_frames is None:
            skip_frames = int(_last(_get(src, "SkipFrame", 0)) or 0)
        if omega_start_deg is None or omega_step_deg is None:
            start = frames.omega_start_deg if is_zip else None
            step = frames.omega_step_deg if is_zip else None
            if start is None or step is None:
                start = _last(_get(src, "OmegaStart", None))
                step = _last(_get(src, "OmegaStep", None))
                if start is not None and step is not None:
                    start = float(start) - skip_frames * float(step)  # ω of archive frame 0
            if start is None or step is None:
                raise ParamError("search_peaks: no ω scan (OmegaStart/OmegaStep) in the archive or the parameters")
            omega_start_deg = float(start) if omega_start_deg is None else omega_start_deg
            omega_step_deg = float(step) if omega_step_deg is None else omega_step_deg
        if is_zip:
            flood = frames.flood
            if flood is not None and not np.allclose(flood, 1.0):
                log.warning("%s: exchange/flood is not applied by the peak search (pixel values are raw − dark); "
                            "flat-field the frames first if the flood matters", frames.path)
        if dark is None and is_zip:
            d = frames.dark
            if d is not None and np.any(d):
                dark = dark_mean(d, skip_frames=skip_frames)
            elif d is not None:
                log.info("%s: exchange/dark is all zero; no dark subtracted", frames.path)
        if mask is None:
            mask_file = None
            for key in ("MaskFile", "MaskFN"):
                if params is not None and key in params:
                    mask_file = _last(params[key])
            if mask_file:
                from midas.io.frames import open_frames

                with open_frames(mask_file) as mf:
                    mask = bad_pixel_mask(mf.frame(0))
            elif is_zip:
                mask = frames.mask
        plan = build_pixel_plan(config, frames.frame_shape, dark=dark, mask=mask)

        n_used = frames.n_frames - skip_frames
        if n_used <= 0:
            raise ParamError(f"SkipFrame = {skip_frames} leaves no frame of {frames.n_frames}")
        first, stop = (0, n_used) if frame_range is None else (int(frame_range[0]), int(frame_range[1]))
        if not 0 <= first < stop <= n_used:
            raise ParamError(f"frame_range {frame_range} is outside [0, {n_used}] (frames after SkipFrame)")
        nt = max_threads() if n_threads is None else int(n_threads)
        if nt < 1:
            raise ParamError(f"n_threads must be >= 1, got {n_threads}")
        block = max(2, 2 * nt) if block_frames is None else int(block_frames)
        if block < 1:
            raise ParamError(f"block_frames must be >= 1, got {block_frames}")

        parts: list[tuple[int, tuple[Any, ...]]] = []
        totals = {"regions": 0, "too_small": 0, "too_large": 0, "saturated": 0, "truncated": 0, "kept_pixels": 0,
                  "grown_pixels": 0}
        starts: Iterable[int] = range(first, stop, block)
        if progress:
            from midas.cli.common import progress as bar

            starts = bar(starts, total=len(range(first, stop, block)), desc="peak search", unit="block",
                         disable=False)
        with BlockReader(frames, nt) as reader, threads(nt):
            for b0 in starts:
                b1 = min(b0 + block, stop)
                buf = reader.read(skip_frames + b0, skip_frames + b1)
                for k, res in enumerate(search_frames(buf[: b1 - b0], plan, config)):
                    parts.append((b0 + k - first, res))
                    for key in totals:
                        totals[key] += int(res[4][key])
        table = _assemble(parts, n_frames=stop - first, frame_offset=first, omega_start_deg=omega_start_deg
                          + skip_frames * omega_step_deg, omega_step_deg=omega_step_deg, omega_label=omega_label,
                          totals=totals, frame_to_omega=frame_to_omega, frame_shape=plan.shape)
    finally:
        if owned is not None:
            owned.close()
    _report(totals, config, len(table))
    return table


def _assemble(parts: Sequence[tuple[int, tuple[Any, ...]]], *, n_frames: int, frame_offset: int,
              omega_start_deg: float, omega_step_deg: float, omega_label: str, totals: dict[str, int],
              frame_to_omega: Any, frame_shape: tuple[int, int]) -> PeakTable:
    rows_l, frame_l, region_l, starts_l, yz_l = [], [], [], [np.zeros(1, np.int64)], []
    n_regions = n_px = 0
    for k, (rows, reg, px_start, yz, _counts) in parts:
        n = rows.shape[0]
        if n:
            rows_l.append(rows)
            frame_l.append(np.full(n, k, dtype=np.int32))
            region_l.append(reg.astype(np.int64) + n_regions)
        if px_start.size > 1:
            starts_l.append(px_start[1:] + n_px)
            yz_l.append(yz)
        n_regions += px_start.size - 1
        n_px += yz.shape[0]
    rows = np.concatenate(rows_l) if rows_l else np.zeros((0, len(PS_COLUMNS)))
    frame = np.concatenate(frame_l) if frame_l else np.zeros(0, np.int32)
    # Frame numbers of the table start at 0 for the first searched frame; ω uses the true index.
    rows[:, _COL["Omega"]] = frame_to_omega(frame + frame_offset, omega_start_deg, omega_step_deg, label=omega_label)
    return PeakTable(
        rows=rows,
        frame=frame,
        n_frames=n_frames,
        region=np.concatenate(region_l) if region_l else np.zeros(0, np.int64),
        region_px_start=np.concatenate(starts_l),
        region_px_yz=np.concatenate(yz_l) if yz_l else np.zeros((0, 2), np.int16),
        omega_label=omega_label,
        omega_start_deg=omega_start_deg + frame_offset * omega_step_deg,
        omega_step_deg=omega_step_deg,
        frame_shape=frame_shape,
        counts=dict(totals),
    )


def _report(totals: Mapping[str, int], config: PeakSearchConfig, n_peaks: int) -> None:
    log.info("peak search: %d peaks from %d regions (%d pixels above threshold, %d of them grown outside the "
             "bands); %d regions of <= %d px and %d saturated left out", n_peaks, totals["regions"],
             totals["kept_pixels"], totals["grown_pixels"], totals["too_small"], config.min_nr_px, totals["saturated"])
    if totals["too_large"]:
        log.warning("peak search: %d regions of >= MaxNrPx = %d pixels were dropped; raise MaxNrPx to keep them",
                    totals["too_large"], config.max_nr_px)
    if totals["truncated"]:
        log.warning("peak search: %d regions had more than MaxNPeaks = %d maxima; only the brightest %d of each "
                    "were fitted", totals["truncated"], config.max_n_peaks, config.max_n_peaks)


# ---------------------------------------------------------------------------------------------
# small kernels, for tests and for users who fit their own regions
# ---------------------------------------------------------------------------------------------
def pseudo_voigt(params: ArrayLike, r_px: ArrayLike, eta_deg: ArrayLike) -> tuple[NDArray[np.float64],
                                                                                 NDArray[np.float64]]:
    """The pseudo-Voigt sum and its analytic Jacobian at pixel positions.

    Parameters
    ----------
    params : (1 + 8·n_peaks,) float64
        ``bg``, then per peak ``Imax, R (px), η (deg), μ, σGR (px), σLR (px), σGη (deg), σLη (deg)``.
    r_px, eta_deg : (N,) float64
        Polar pixel coordinates around the beam centre.

    Returns
    -------
    model : (N,) float64
    jacobian : (N, 1 + 8·n_peaks) float64

    Raises
    ------
    ParamError
        Wrong parameter count or lengths.

    Notes
    -----
    ``I = bg + Σ Imax·[μ/((1+ΔR²/σLR²)(1+Δη²/σLη²)) + (1−μ)·exp(−½(ΔR²/σGR² + Δη²/σGη²))]``
    (upstream_facts.md §4.1).
    """
    model, jac = core().ff_pv_model_jacobian(np.ascontiguousarray(params, dtype=np.float64),
                                             np.ascontiguousarray(r_px, dtype=np.float64),
                                             np.ascontiguousarray(eta_deg, dtype=np.float64))
    return np.asarray(model, dtype=np.float64), np.asarray(jac, dtype=np.float64)


def fit_pseudo_voigt(r_px: ArrayLike, eta_deg: ArrayLike, value: ArrayLike, start: ArrayLike, lower: ArrayLike,
                     upper: ArrayLike, lm: LmSettings | None = None) -> tuple[NDArray[np.float64], float, int, int]:
    """Bounded Levenberg–Marquardt fit of :func:`pseudo_voigt` to pixel values.

    Parameters
    ----------
    r_px, eta_deg, value : (N,) float64
        Pixel positions and values (counts).
    start, lower, upper : (1 + 8·n_peaks,) float64
        Start point (clipped into the box) and bounds (width lower bounds > 0).
    lm : LmSettings, optional

    Returns
    -------
    (params, cost, iterations, status)
        ``cost`` = Σ(model − value)²; ``status`` uses NLopt's codes: 1 gradient ~ 0, 3 cost
        converged, 4 step converged, 5 iteration limit, −1 singular.

    Raises
    ------
    ParamError
        Inconsistent lengths or an empty bound interval.
    """
    lm = lm or LmSettings()
    f = np.ascontiguousarray
    params, cost, iterations, status = core().ff_fit_pseudo_voigt(
        f(r_px, dtype=np.float64), f(eta_deg, dtype=np.float64), f(value, dtype=np.float64),
        f(start, dtype=np.float64), f(lower, dtype=np.float64), f(upper, dtype=np.float64), **lm.kwargs())
    return np.asarray(params, dtype=np.float64), float(cost), int(iterations), int(status)


def analyse_region(y_px: ArrayLike, z_px: ArrayLike, value: ArrayLike, maxima: ArrayLike, *, threshold: float,
                   bc_px: tuple[float, float], do_peak_fit: bool = True, mask_touched: bool = False,
                   lm: LmSettings | None = None) -> NDArray[np.float64]:
    """Fit (or centroid) one region the way the search does.

    Parameters
    ----------
    y_px, z_px, value : (N,) float64
        Region pixels (column, row of the transformed frame) and counts above dark.
    maxima : (P,) int
        Positions into those arrays of the peaks to fit.
    threshold : float
        Band threshold; the fitted background is bounded to ``[0, threshold]``.
    bc_px : (float, float)
        Beam centre (y, z), px.
    do_peak_fit, mask_touched : bool

    Returns
    -------
    (P, 29) float64 (one row for ``do_peak_fit=False``), columns :data:`PS_COLUMNS`, ω = 0.

    Raises
    ------
    ParamError
        Inconsistent lengths, no maxima, a maximum outside the region.
    """
    lm = lm or LmSettings()
    f = np.ascontiguousarray
    rows = core().ff_analyse_region(f(y_px, dtype=np.float64), f(z_px, dtype=np.float64), f(value, dtype=np.float64),
                                    f(maxima, dtype=np.int32), float(threshold), bool(mask_touched), float(bc_px[0]),
                                    float(bc_px[1]), do_peak_fit=bool(do_peak_fit), **lm.kwargs())
    return np.asarray(rows, dtype=np.float64)

