"""Automatic detector calibration from one calibrant image (upstream ``AutoCalibrateZarr.py``).

Steps (each in its own module):

1. :mod:`~midas.calibration.background` — median-filter background, ring threshold;
2. :mod:`~midas.calibration.beam_center` — beam centre from ring normals (no guess needed);
3. :mod:`~midas.calibration.rings` — ring radii from the radial profile, Lsd from their ratios;
4. the EM loop: :mod:`~midas.calibration.cake` fits every ring in every η bin on the exact
   pixel-splitting cake of the current geometry (E-step), :mod:`~midas.calibration.refine` fits
   Lsd, BC, ty, tz, p0..p3 by least squares on the pseudo-strain and rejects outlier points
   (M-step); rings whose mean |strain| exceeds MultFactor × the median ring are dropped; the loop
   stops when the geometry moves less than 0.01 px between iterations (and the mean strain is
   below StoppingStrain), after at most ``max_iterations``;
5. for a multi-module detector (``panels`` and ``CalibrationSettings.panel_fit``), the loop then
   goes on with the per-panel corrections in the same least squares (``PanelFit``), using only ring
   points whose η bin lies on one panel, for at most another ``max_iterations``;
6. :mod:`~midas.calibration.noise` measures the scatter of the ring points themselves at the
   final geometry (each η bin split in two): the mean strain that noise alone gives, which no
   geometry can go below.

Every failure mode ends with a :class:`~midas.errors.ConvergenceError` whose message says what was
not found: no rings (beam centre or radial peaks), rings that match no distance for this
calibrant, or a final strain that no geometry of this calibrant can give.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.calibration.background import PreparedImage, prepare_image
from midas.calibration.beam_center import BeamCentre, detect_beam_center
from midas.calibration.cake import RingPoints, ring_points
from midas.calibration.calibrants import Calibrant, CalibrantRings
from midas.calibration.noise import ring_position_noise
from midas.calibration.refine import (
    DEFAULT_FIT,
    FITTABLE,
    PanelFit,
    pseudo_strain,
    refine_geometry,
)
from midas.calibration.rings import (
    DistanceEstimate,
    RingPeaks,
    detect_ring_peaks,
    estimate_distance,
    radial_profile,
)
from midas.errors import ConvergenceError, ParamError
from midas.geometry import FFDetector
from midas.geometry.panels import PanelLayout
from midas.parallel import threads

__all__ = ["CalibrationResult", "CalibrationSettings", "IterationRecord", "RingStats", "calibrate_image"]

log = logging.getLogger(__name__)

#: Geometry change (pixels) below which the EM loop has converged (the E-step depends on the
#: geometry only to second order: after this the change of the result is ~1e-4 of it).
SHIFT_TOL_PX = 0.02
#: Rings used by the first, coarse E-step (on a 0.5 px radial grid).
COARSE_RINGS = 12


@dataclass(frozen=True, slots=True)
class CalibrationSettings:
    """Options of :func:`calibrate_image` (the seed's flags and upstream calibration keys).

    Attributes
    ----------
    stopping_strain : float
        ``-StoppingStrain``: the mean pseudo-strain to reach (default 4e-5).
    mult_factor : float
        ``-MultFactor``: points with |ε| > MultFactor × their ring's mean |ε|, and rings whose mean
        ε is off by more than MultFactor × the median ring offset (and significantly), are
        rejected (default 2.5).
    first_ring_nr : int
        ``-FirstRingNr``: rings before this one are treated as invisible (default 1).
    lsd_guess_um : float or None
        ``-LsdGuess`` (µm); None searches 20 mm – 20 m.
    bc_guess_px : (float, float) or None
        ``-BCGuess`` (y, z) pixels of the calibration frame; None detects it.
    eta_bin_size_deg : float
        ``-EtaBinSize`` (default 5°; must divide 360).
    threshold : float or None
        ``-Threshold`` counts above background; None or ≤ 0 is automatic.
    max_iterations : int
        EM iterations at most (default 10).
    outlier_iterations : int
        Point-rejection rounds per M-step (``OutlierIterations``, default 3).
    fit : tuple of str
        Fitted parameters (default Lsd, BC, ty, tz, p0..p3; see
        :data:`midas.calibration.refine.FITTABLE`).
    r_bin_px : float
        Radial bin of the cake (default 0.25 px: upstream's RBinDivisions 4).
    rings_to_exclude : tuple of int
        Ring numbers never used (``RingsToExclude``).
    max_rings : int or None
        Use at most this many rings (the innermost visible ones); None = all.
    background_size_px : float
        Median-filter width of the background (default 101 px).
    max_mean_strain : float
        A final mean strain above this is a failure (wrong calibrant, wavelength or pixel size);
        default 1e-3.
    panel_fit : PanelFit or None
        Per-panel refinement, for a detector with a panel layout (``panels`` of
        :func:`calibrate_image`): once the single-plane geometry has converged, the EM loop goes
        on with the panel corrections in the M-step (and in the E-step's cake). None: off.
    panel_eta_bin_size_deg : float
        η bin of the ring fits in the panel stage (default 5°, whatever ``eta_bin_size_deg``
        is: only bins that lie on one panel are used there, and on the Pilatus 2M 5° gives
        42 µε where 2.5° gives 56 µε — the noise of a point grows as 1/√(bin), see
        :mod:`~midas.calibration.noise` — and 10° 103 µε: only 195 bins of 10° lie on one
        module, too few to fit every module).
    estimate_noise : bool or None
        Measure the ring-position noise at the final geometry
        (:func:`~midas.calibration.noise.ring_position_noise`, about one more E-step of time,
        0.5–2 s): ``CalibrationResult.noise_strain``. None (the default) measures it only when
        the fit ends above ``stopping_strain``, where it tells whether the image itself (spotty
        rings) or the model stops the fit; True always, False never.
    """

    stopping_strain: float = 4e-5
    mult_factor: float = 2.5
    first_ring_nr: int = 1
    lsd_guess_um: float | None = None
    bc_guess_px: tuple[float, float] | None = None
    eta_bin_size_deg: float = 5.0
    threshold: float | None = None
    max_iterations: int = 10
    outlier_iterations: int = 3
    fit: tuple[str, ...] = DEFAULT_FIT
    r_bin_px: float = 0.25
    rings_to_exclude: tuple[int, ...] = ()
    max_rings: int | None = None
    background_size_px: float = 101.0
    max_mean_strain: float = 1e-3
    panel_fit: PanelFit | None = None
    panel_eta_bin_size_deg: float = 5.0
    estimate_noise: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fit", tuple(self.fit))
        object.__setattr__(self, "rings_to_exclude", tuple(int(r) for r in self.rings_to_exclude))
        bad = [f for f in self.fit if f not in FITTABLE]
        if bad:
            raise ParamError(f"cannot fit {bad}; fittable: {FITTABLE}")
        if not (self.stopping_strain > 0 and self.mult_factor > 1.0):
            raise ParamError(f"StoppingStrain {self.stopping_strain} must be > 0 and MultFactor "
                             f"{self.mult_factor} > 1")
        if self.first_ring_nr < 1 or self.max_iterations < 1 or self.outlier_iterations < 0:
            raise ParamError("FirstRingNr and max_iterations must be >= 1, outlier_iterations >= 0")
        n = 360.0 / self.eta_bin_size_deg if self.eta_bin_size_deg > 0 else 0.0
        if not (self.eta_bin_size_deg > 0 and abs(n - round(n)) < 1e-6):
            raise ParamError(f"EtaBinSize {self.eta_bin_size_deg} deg must be > 0 and divide 360")
        if self.lsd_guess_um is not None and not self.lsd_guess_um > 0:
            raise ParamError(f"LsdGuess {self.lsd_guess_um} µm must be > 0")
        if not self.r_bin_px > 0:
            raise ParamError(f"radial bin {self.r_bin_px} px must be > 0")


@dataclass(frozen=True, slots=True)
class RingStats:
    """Per-ring summary of the final iteration.

    Attributes
    ----------
    ring_nr : int
    hkl : (int, int, int)
    d_A, tth_deg : float
        d-spacing and ideal 2θ.
    radius_um : float
        Ideal radius ``Lsd·tan 2θ`` at the refined distance, µm.
    n_points, n_used : int
        Fitted (ring, η) points and those kept by the outlier rejection.
    mean_strain, mean_abs_strain, rms_strain : float
        Of the used points (NaN when none).
    excluded : bool
        The ring was rejected (outlier ring or too few points) or excluded by the user.
    """

    ring_nr: int
    hkl: tuple[int, int, int]
    d_A: float
    tth_deg: float
    radius_um: float
    n_points: int
    n_used: int
    mean_strain: float
    mean_abs_strain: float
    rms_strain: float
    excluded: bool


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """One EM iteration.

    Attributes
    ----------
    detector : FFDetector
        Geometry after the M-step.
    mean_strain : float
        Mean |ε| of the used points.
    ring_nr, tth_deg, eta_deg, strain : (N,) arrays
        Every fitted point: its ring, ideal 2θ, η and pseudo-strain after the M-step.
    y_px, z_px : (N,) float64
        The points on the detector.
    used : (N,) bool
        Kept by the outlier rejection.
    shift_px : float
        Largest change of a point's corrected radius between the E-step and M-step geometries.
    seconds : float
        Wall time of the iteration.
    """

    detector: FFDetector
    mean_strain: float
    ring_nr: NDArray[np.int64]
    tth_deg: NDArray[np.float64]
    eta_deg: NDArray[np.float64]
    strain: NDArray[np.float64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    used: NDArray[np.bool_]
    shift_px: float
    seconds: float


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """Everything :func:`calibrate_image` found.

    Attributes
    ----------
    detector : FFDetector
        Refined geometry (calibration frame).
    mean_strain : float
        Final mean pseudo-strain |ε| (dimensionless; ×1e6 for µε).
    converged : bool
        The geometry stopped moving and the mean strain is below ``stopping_strain``.
    rings : tuple of RingStats
    iterations : tuple of IterationRecord
    beam_centre : BeamCentre
        The automatic detection (its guess, if any).
    distance : DistanceEstimate
        Lsd from the ring ratios.
    ring_peaks : RingPeaks
        Radial-profile peaks used for the distance.
    prepared : PreparedImage
        Image, background, net image and ring pixels.
    std_errors : dict of str to float
        1σ uncertainties of the fitted parameters (last M-step).
    timings : dict of str to float
        Seconds per stage.
    calibrant : Calibrant
    wavelength_A : float
    noise_strain : float
        Mean |ε| that the scatter of the ring points alone gives at the final geometry (η-split
        estimate, same η bin and outlier rule as the fit; NaN when not estimated). A mean strain
        close to it is the floor of this image: more parameters cannot lower it honestly.
    """

    detector: FFDetector
    mean_strain: float
    converged: bool
    rings: tuple[RingStats, ...]
    iterations: tuple[IterationRecord, ...]
    beam_centre: BeamCentre
    distance: DistanceEstimate
    ring_peaks: RingPeaks
    prepared: PreparedImage
    std_errors: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    calibrant: Calibrant | None = None
    wavelength_A: float = math.nan
    noise_strain: float = math.nan


def _within_one_panel(det: FFDetector, pts: RingPoints, px: float, eta_bin_deg: float) -> NDArray[np.bool_]:
    """Ring points whose whole η bin (at the fitted radius) lies on one panel.

    A bin that straddles a gap or two panels mixes pixels with different corrections, and its
    centre may even fall in a gap, where the model moves nothing: such points would bias the
    panel fit (and feed back into the next E-step).
    """
    from midas.geometry import ideal_to_pixel

    r_um = pts.r_fit_px * px
    k = det.panel_index(pts.y_px, pts.z_px)
    ok = k >= 0
    for sign in (-0.5, 0.5):
        y, z = ideal_to_pixel(det, r_um=r_um, eta_deg=pts.eta_deg + sign * eta_bin_deg)
        ok &= det.panel_index(y, z) == k
    return np.asarray(ok, dtype=bool)


def _corner_distance_px(bc: tuple[float, float], n_pixels: tuple[int, int]) -> float:
    n_y, n_z = n_pixels
    return max(math.hypot(cy - bc[0], cz - bc[1]) for cy in (0.0, n_y - 1.0) for cz in (0.0, n_z - 1.0))


def _ring_offsets(strain: NDArray[np.float64], used: NDArray[np.bool_], ring: NDArray[np.int64],
                  n_rings: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean strain of each ring's used points and its standard error (NaN / inf without points)."""
    n = np.bincount(ring, weights=used.astype(np.float64), minlength=n_rings)
    s1 = np.bincount(ring, weights=np.where(used, strain, 0.0), minlength=n_rings)
    s2 = np.bincount(ring, weights=np.where(used, strain * strain, 0.0), minlength=n_rings)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / n, np.nan)
        var = np.where(n > 1, (s2 - n * mean * mean) / (n - 1), np.inf)
        se = np.sqrt(np.maximum(var, 0.0) / np.maximum(n, 1.0))
    return mean, se


def _first_rings(calibrant: Calibrant, wavelength_A: float, tth_max_deg: float, n_rings: int) -> CalibrantRings:
    """The first ``n_rings`` rings below ``tth_max_deg`` (the 2θ limit grows until there are enough)."""
    tth = min(20.0, tth_max_deg)
    while True:
        rings = calibrant.rings(wavelength_A, tth)
        if len(rings) >= n_rings or tth >= tth_max_deg:
            return rings.select(np.arange(len(rings)) < n_rings)
        tth = min(tth_max_deg, 1.6 * tth)


def _visible_rings(rings: CalibrantRings, settings: CalibrationSettings) -> CalibrantRings:
    keep = (rings.ring_nr >= settings.first_ring_nr) & ~np.isin(rings.ring_nr, settings.rings_to_exclude)
    return rings.select(keep)


def _ring_stats(rings: CalibrantRings, det: FFDetector, pts: RingPoints, strain: NDArray[np.float64],
                used: NDArray[np.bool_], excluded: set[int]) -> tuple[RingStats, ...]:
    out = []
    for k in range(len(rings)):
        m = pts.ring == k
        u = m & used
        s = strain[u]
        nan = math.nan
        out.append(RingStats(
            ring_nr=int(rings.ring_nr[k]), hkl=tuple(int(v) for v in rings.hkl[k]),  # type: ignore[arg-type]
            d_A=float(rings.d_A[k]), tth_deg=float(rings.tth_deg[k]),
            radius_um=float(det.lsd_um * rings.tan_tth[k]), n_points=int(m.sum()), n_used=int(u.sum()),
            mean_strain=float(s.mean()) if s.size else nan, mean_abs_strain=float(np.abs(s).mean()) if s.size else nan,
            rms_strain=float(np.sqrt(np.mean(s * s))) if s.size else nan, excluded=k in excluded))
    return tuple(out)


def calibrate_image(image: ArrayLike, bad: ArrayLike, *, calibrant: Calibrant, wavelength_A: float,
                    pixel_size_um: float, settings: CalibrationSettings | None = None, tx_deg: float = 0.0,
                    rho_d_um: float | None = None, start: FFDetector | None = None,
                    panels: PanelLayout | None = None) -> CalibrationResult:
    """Calibrate a detector from one powder calibrant image.

    Parameters
    ----------
    image : (n_z, n_y) float
        Dark-subtracted mean frame in the calibration frame (after ImTransOpt): row z, column y.
    bad : (n_z, n_y) bool
        Pixels without data (gaps, mask, sentinels).
    calibrant : Calibrant
        Space group + lattice (or d-spacings) of the calibrant.
    wavelength_A : float
        X-ray wavelength, Å (fixed).
    pixel_size_um : float
        Pixel pitch, µm (square pixels).
    settings : CalibrationSettings, optional
    tx_deg : float
        Tilt about the beam (not fitted unless ``"tx"`` is in ``settings.fit``).
    rho_d_um : float, optional
        Distortion normalising radius (``RhoD``); default: distance from the detected beam centre
        to the farthest detector corner. It stays fixed during the fit.
    start : FFDetector, optional
        Start the EM loop from this geometry instead of detecting the beam centre and distance
        (its ``n_pixels`` must match the image).
    panels : PanelLayout, optional
        Module grid of the detector in the calibration frame; with ``settings.panel_fit`` the
        per-panel corrections are refined (a ``start`` with panels keeps its own).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ParamError
        Invalid inputs (shapes, wavelength, pixel size, settings).
    ConvergenceError
        No rings, rings that do not fit the calibrant, or a final mean strain above
        ``settings.max_mean_strain`` (the message says which).

    Notes
    -----
    Beam centre ``(y, z)`` = (column, row) of the calibration frame and the pseudo-strain
    ``1 − R_corr/(Lsd·tan 2θ)`` are defined in ``docs/conventions.md``.
    """
    st = settings or CalibrationSettings()
    img = np.asarray(image, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    if img.ndim != 2 or badm.shape != img.shape:
        raise ParamError(f"image {img.shape} and bad-pixel mask {badm.shape} must be equal 2-D arrays")
    if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
        raise ParamError(f"pixel size {pixel_size_um} µm must be > 0")
    if not (wavelength_A > 0 and math.isfinite(wavelength_A)):
        raise ParamError(f"Wavelength {wavelength_A} Å must be > 0")
    n_z, n_y = img.shape
    px = float(pixel_size_um)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    prep = prepare_image(img, badm, threshold=st.threshold, background_size_px=st.background_size_px)
    timings["background"] = time.perf_counter() - t0

    # ---- beam centre, ring radii, distance
    t0 = time.perf_counter()
    guess = st.bc_guess_px if start is None else start.bc_px
    bc = detect_beam_center(prep.net, prep.bad, prep.ring_mask, guess_px=guess)
    timings["beam_centre"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bc_px = bc.bc_px if start is None else start.bc_px
    corner_px = _corner_distance_px(bc_px, (n_y, n_z))
    profile = radial_profile(prep.net, prep.bad, bc.bc_px)
    peaks = detect_ring_peaks(profile)
    if start is None:
        lsd_lo = 2e4 if st.lsd_guess_um is None else 0.6 * st.lsd_guess_um
        tth_max = min(89.0, math.degrees(math.atan(corner_px * px / lsd_lo)))
        candidates = _visible_rings(_first_rings(calibrant, wavelength_A, tth_max, max(30, 3 * peaks.r_px.size)), st)
        dist = estimate_distance(peaks, candidates.tan_tth, px, multiplicity=candidates.multiplicity,
                                lsd_guess_um=st.lsd_guess_um)
        lsd0 = dist.lsd_um
    else:
        lsd0 = start.lsd_um
        dist = DistanceEstimate(lsd0, np.zeros(0, np.int64), np.zeros(0, np.int64), math.nan, math.nan, math.nan)
    timings["rings_and_distance"] = time.perf_counter() - t0
    tth_det = min(89.0, math.degrees(math.atan(1.05 * corner_px * px / lsd0)))
    visible = _visible_rings(calibrant.rings(wavelength_A, tth_det), st)

    rho_d = float(rho_d_um) if rho_d_um else corner_px * px
    if start is None:
        det = FFDetector(lsd_um=lsd0, bc_px=bc_px, pixel_size_um=(px, px), tx_deg=tx_deg, rho_d_um=rho_d,
                         n_pixels=(n_y, n_z))
    else:
        det = dataclasses.replace(start, rho_d_um=start.rho_d_um if rho_d_um is None else rho_d,
                                  n_pixels=(n_y, n_z), im_trans_opt=(0,))
    if panels is not None and det.panels is None:
        det = dataclasses.replace(det, panels=panels)
    panel_stage = st.panel_fit is not None and det.panels is not None and start is not None and any(
        v != 0.0 for v in det.panel_shifts_array.ravel())
    # rings that can lie on the detector, at most max_rings
    r_min_px = max(5.0, float(peaks.r_range_px[0]) if peaks.r_px.size else 5.0)
    r_ring = visible.tan_tth * det.lsd_um / px
    use = (r_ring > r_min_px) & (r_ring < corner_px)
    rings = visible.select(use)
    if st.max_rings is not None:
        rings = rings.select(np.arange(len(rings)) < st.max_rings)
    if len(rings) < 3:
        raise ConvergenceError(f"only {len(rings)} ring(s) of {calibrant.name} fall on the detector at "
                               f"Lsd = {det.lsd_um:.0f} µm; need 3")
    log.info("refining on %d rings (ring numbers %s) with Lsd %.0f µm, BC (%.2f, %.2f) px to start",
             len(rings), rings.ring_nr.tolist(), det.lsd_um, *det.bc_px)

    # ---- EM loop
    excluded: set[int] = set()
    records: list[IterationRecord] = []
    half_width = 10.0
    prev_shift = math.inf
    converged = False
    result_fit = None
    pts: RingPoints | None = None
    active = np.ones(len(rings), dtype=bool)
    t_loop = time.perf_counter()
    # the panel stage (if any) gets its own max_iterations after the single plane has converged
    for it in range(st.max_iterations * (2 if st.panel_fit is not None and det.panels is not None else 1)):
        t_it = time.perf_counter()
        radius = rings.tan_tth * det.lsd_um / px
        active = np.array([k not in excluded for k in range(len(rings))])
        # the first pass only has to get close: the innermost rings on a coarser radial grid
        coarse = it == 0 and start is None
        if coarse:
            active &= np.arange(len(rings)) < COARSE_RINGS
        eta_bin = st.panel_eta_bin_size_deg if panel_stage else st.eta_bin_size_deg
        pts_all = ring_points(img, badm, det, radius[active], half_width_px=half_width,
                              eta_bin_size_deg=eta_bin,
                              r_bin_px=max(st.r_bin_px, 0.5) if coarse else st.r_bin_px)
        pts_all = dataclasses.replace(pts_all, ring=np.flatnonzero(active)[pts_all.ring])
        counts = np.bincount(pts_all.ring, minlength=len(rings))
        # a ring needs a few points to be trusted (in this iteration; it may come back later)
        active &= counts >= 4
        keep = active[pts_all.ring]
        if panel_stage:
            keep &= _within_one_panel(det, pts_all, px, eta_bin)
        pts = pts_all.select(keep)
        if len(pts) < 20:
            raise ConvergenceError(f"iteration {it + 1}: only {len(pts)} ring points could be fitted; the rings "
                                   f"of {calibrant.name} are not where this geometry puts them")
        tan_pts = rings.tan_tth[pts.ring]
        fitres = refine_geometry(det, pts.y_px, pts.z_px, tan_pts, fit=st.fit, mult_factor=st.mult_factor,
                                 outlier_iterations=st.outlier_iterations, groups=pts.ring,
                                 panel_fit=st.panel_fit if panel_stage else None)
        with threads(1):  # a few thousand points: thread start-up would cost more than it gains
            old_strain = pseudo_strain(det, pts.y_px, pts.z_px, tan_pts)
        new_det = fitres.detector
        shift_px = float(np.max(np.abs((fitres.strain - old_strain) * tan_pts * det.lsd_um / px)))
        shift_px = max(shift_px, abs(new_det.lsd_um - det.lsd_um) * float(rings.tan_tth.max()) / px)
        # ring-level outliers: a ring whose points sit systematically off (another phase, an
        # unresolved neighbour) — its mean strain is MultFactor × the typical ring offset, and
        # significant (3 standard errors) and larger than half StoppingStrain
        offset, se = _ring_offsets(fitres.strain, fitres.used, pts.ring, len(rings))
        med = float(np.nanmedian(np.abs(offset[active]))) if np.any(active) else math.nan
        bad_ring = (active & (np.abs(offset) > st.mult_factor * med) & (np.abs(offset) > 3.0 * se)
                    & (np.abs(offset) > 0.5 * st.stopping_strain))
        new_bad = {int(k) for k in np.flatnonzero(bad_ring)}
        if len(new_bad) and int(active.sum()) - len(new_bad) >= 3 and not coarse:
            log.info("iteration %d: rejecting ring(s) %s (mean strain %s µε; typical ring offset %.1f µε)", it + 1,
                     [int(rings.ring_nr[k]) for k in sorted(new_bad)],
                     [round(1e6 * float(offset[k]), 1) for k in sorted(new_bad)], 1e6 * med)
            excluded |= new_bad
        else:
            new_bad = set()
        fw = float(np.median(pts.fwhm_px)) if len(pts) else 3.0
        half_width = float(np.clip(3.0 * fw + 2.0 * shift_px, 3.0, 15.0))
        rec = IterationRecord(detector=new_det, mean_strain=fitres.mean_strain, ring_nr=rings.ring_nr[pts.ring],
                              tth_deg=rings.tth_deg[pts.ring], eta_deg=pts.eta_deg, strain=fitres.strain,
                              y_px=pts.y_px, z_px=pts.z_px, used=fitres.used, shift_px=shift_px,
                              seconds=time.perf_counter() - t_it)
        records.append(rec)
        result_fit = fitres
        log.info("iteration %d: %d points (%d used) on %d rings, mean strain %.1f µε, Lsd %.1f µm, BC (%.3f, %.3f) px, "
                 "ty %.4f tz %.4f deg, shift %.4f px, %.2f s", it + 1, len(pts), int(fitres.used.sum()),
                 int(active.sum()), 1e6 * fitres.mean_strain, new_det.lsd_um, *new_det.bc_px, new_det.ty_deg,
                 new_det.tz_deg, shift_px, rec.seconds)
        det = new_det
        # the E-step error contracts by ρ = shift/previous shift per iteration: what is left to move
        # is about shift·ρ/(1 − ρ)
        # (measured between full iterations only: the coarse pass uses other rings and bins)
        rho = shift_px / prev_shift if 0 < prev_shift < math.inf else 1.0
        left = shift_px * rho / (1.0 - rho) if rho < 0.5 else math.inf
        prev_shift = math.inf if coarse else shift_px
        if not coarse and not new_bad and (shift_px < SHIFT_TOL_PX or left < 0.25 * SHIFT_TOL_PX):
            if st.panel_fit is not None and det.panels is not None and not panel_stage:
                # the single plane has settled: go on with the per-panel corrections
                log.info("iteration %d: single-plane geometry converged at %.1f µε; refining %d panels",
                         it + 1, 1e6 * fitres.mean_strain, det.panels.n)
                panel_stage = True
                prev_shift = math.inf
                continue
            converged = fitres.mean_strain <= st.stopping_strain
            if not converged:
                log.warning("the geometry has converged with a mean strain of %.1f µε, above StoppingStrain %.1f µε; "
                            "this is the best this image allows with the fitted parameters",
                            1e6 * fitres.mean_strain, 1e6 * st.stopping_strain)
            break
    else:
        log.warning("stopped after %d iterations without the geometry settling (last shift %.3f px)",
                    st.max_iterations, records[-1].shift_px)
    timings["refinement"] = time.perf_counter() - t_loop
    assert result_fit is not None and pts is not None
    if result_fit.mean_strain > st.max_mean_strain:
        raise ConvergenceError(
            f"calibration failed: the mean pseudo-strain is {1e6 * result_fit.mean_strain:.0f} µε after "
            f"{len(records)} iterations (limit {1e6 * st.max_mean_strain:.0f} µε); the rings do not fit "
            f"{calibrant.name} at λ = {wavelength_A} Å and px = {px} µm")
    noise_strain = math.nan
    if st.estimate_noise or (st.estimate_noise is None and result_fit.mean_strain > st.stopping_strain):
        t0 = time.perf_counter()
        noise = ring_position_noise(img, badm, det, rings.tan_tth[active] * det.lsd_um / px,
                                    half_width_px=half_width, eta_bin_size_deg=eta_bin, r_bin_px=st.r_bin_px,
                                    mult_factor=st.mult_factor, outlier_iterations=st.outlier_iterations)
        noise_strain = noise.mean_abs_strain
        timings["noise"] = time.perf_counter() - t0
        log.info("ring-position noise at the final geometry (halves of the %g° η bins, %d pairs): %.1f µε of mean "
                 "strain from noise alone; the fit reached %.1f µε", eta_bin, int(noise.n_pairs.sum()),
                 1e6 * noise_strain, 1e6 * result_fit.mean_strain)
    not_used = excluded | {int(k) for k in np.flatnonzero(~active)}
    stats = _ring_stats(rings, det, pts, result_fit.strain, result_fit.used, not_used)
    return CalibrationResult(detector=det, mean_strain=result_fit.mean_strain, converged=converged, rings=stats,
                             iterations=tuple(records), beam_centre=bc, distance=dist, ring_peaks=peaks,
                             prepared=prep, std_errors=result_fit.std_errors, timings=timings, calibrant=calibrant,
                             wavelength_A=float(wavelength_A), noise_strain=noise_strain)


def ideal_ring_pixels(det: FFDetector, tan_tth: Sequence[float], *, n_eta: int = 720
                      ) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Detector pixels (y, z) of ideal rings, for overlays: one (y, z) pair of (n_eta,) arrays per ring.

    Points outside the detector are NaN.
    """
    from midas.geometry import ideal_to_pixel

    eta = np.linspace(-180.0, 180.0, n_eta)
    out = []
    n_y, n_z = det.n_pixels
    for t in tan_tth:
        y, z = ideal_to_pixel(det, r_um=np.full(n_eta, det.lsd_um * float(t)), eta_deg=eta)
        off = (y < -0.5) | (y > n_y - 0.5) | (z < -0.5) | (z > n_z - 0.5)
        out.append((np.where(off, np.nan, y), np.where(off, np.nan, z)))
    return out
