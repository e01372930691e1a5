"""M-step of the calibration: least-squares geometry on the pseudo-strain.

For fitted ring pixels ``(Y_i, Z_i)`` of ring ``k(i)`` the pseudo-strain is

    ε_i = 1 − R_corr(Y_i, Z_i; geometry) / (Lsd · tan 2θ_k(i))

(upstream ``CalibrantIntegratorOMP``; ``upstream_facts.md`` §4.11, §8 fact 14). ``R_corr`` is the
corrected radius of :func:`midas.geometry.pixel_to_ideal` — the one tilt and distortion model of
the project, evaluated in C++. The fitted parameters are Lsd, the beam centre, ty, tz and the
distortion p0…p3 by default (tx is not constrained by a powder pattern and stays fixed; p4, p5
and the phase p6 can be added). The four-fold term ``p1·cos(4η′ + p3)`` is fitted as the pair
``(p1 cos p3, p1 sin p3)``, which is linear and stays well defined when p1 → 0; likewise
``(p0, p6)`` when p6 is fitted.

``scipy.optimize.least_squares`` (Levenberg–Marquardt) minimises Σ ε_i². The beam-centre columns
of the Jacobian come from the geometry's analytic pixel Jacobian
(:func:`midas.geometry.ideal_jacobian`: R depends on Y − y_bc, Z − z_bc only); the other columns
are central differences of the C++ model. Outliers (|ε| > MultFactor · mean |ε|) are removed and
the fit repeated, as upstream does.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ConvergenceError, ParamError
from midas.geometry import FFDetector, ideal_jacobian, pixel_to_ideal
from midas.parallel import threads

__all__ = ["DEFAULT_FIT", "FITTABLE", "PanelFit", "RefineResult", "pseudo_strain", "refine_geometry"]

log = logging.getLogger(__name__)

#: Parameters fitted by default (upstream AutoCalibrateZarr: Lsd, BC, ty, tz, p0..p3).
DEFAULT_FIT = ("lsd", "bc_y", "bc_z", "ty", "tz", "p0", "p1", "p2", "p3")
#: Every parameter name :func:`refine_geometry` accepts.
FITTABLE = ("lsd", "bc_y", "bc_z", "tx", "ty", "tz", "p0", "p1", "p2", "p3", "p4", "p5", "p6")

# central-difference steps and typical scales of the internal coordinates
_STEP = {"lsd": 1.0, "tx": 1e-4, "ty": 1e-4, "tz": 1e-4, "p0": 1e-6, "p2": 1e-6, "p4": 1e-6,
         "p5": 1e-6, "c0": 1e-6, "s0": 1e-6, "a1": 1e-6, "b1": 1e-6, "p1": 1e-6, "p3": 1e-3, "p6": 1e-3}
#: Below this many points the model is evaluated on one thread (starting threads costs more).
_SERIAL_BELOW = 50_000
_SCALE = {"lsd": 100.0, "bc_y": 0.1, "bc_z": 0.1, "tx": 0.01, "ty": 0.01, "tz": 0.01, "p3": 1.0, "p6": 1.0}


@dataclass(frozen=True, slots=True)
class PanelFit:
    """Per-panel refinement of a multi-panel detector (upstream ``CalibrantPanelShiftsOMP`` keys).

    Fitted per panel: shifts dY, dZ (px) and the rotation dθ (deg) about the panel centre, plus
    dLsd (µm) with ``fit_lsd`` and dP2 with ``fit_p2``, each within ``±tol`` of zero. The panel
    ``fixed_panel`` keeps its start values (it fixes the frame against BC, Lsd and p2); so does
    every panel with fewer than ``min_points`` ring points.

    Attributes
    ----------
    fixed_panel : int or None
        ``FixPanelID`` (upstream's gauge). None (default): every panel with enough points is
        fitted and the gauge is set by the panels' mean shift, mean dLsd and mean dP2 (weighted by
        ring points) being 0: the global BC, Lsd and p2 carry them.
    fit_lsd, fit_p2 : bool
        ``PerPanelLsd``, ``PerPanelDistortion``.
    tol_shift_px, tol_rotation_deg, tol_lsd_um, tol_p2 : float
        ``tolShifts`` (1 px), ``tolRotation`` (3°), ``tolLsdPanel`` (100 µm), ``tolP2Panel`` (1e-4).
    min_points : int
        Ring points a panel needs for its parameters to be fitted (default 12).
    """

    fixed_panel: int | None = None
    fit_lsd: bool = False
    fit_p2: bool = False
    tol_shift_px: float = 1.0
    tol_rotation_deg: float = 3.0
    tol_lsd_um: float = 100.0
    tol_p2: float = 1e-4
    min_points: int = 12

    def __post_init__(self) -> None:
        for name in ("tol_shift_px", "tol_rotation_deg", "tol_lsd_um", "tol_p2"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"PanelFit: {name} = {v}, expected a value > 0")
        if self.min_points < 1:
            raise ParamError(f"PanelFit: min_points = {self.min_points}, expected >= 1")

    def kinds(self) -> tuple[int, ...]:
        """Columns of the panel shifts that are fitted (0 dY, 1 dZ, 2 dθ, 3 dLsd, 4 dP2)."""
        return (0, 1, 2) + ((3,) if self.fit_lsd else ()) + ((4,) if self.fit_p2 else ())

    def tolerance(self, kind: int) -> float:
        """Largest |value| of a panel column (0 dY px, 1 dZ px, 2 dθ deg, 3 dLsd µm, 4 dP2)."""
        return (self.tol_shift_px, self.tol_shift_px, self.tol_rotation_deg, self.tol_lsd_um, self.tol_p2)[kind]


# central-difference steps and scales of the panel parameters (dY, dZ px, dθ deg, dLsd µm, dP2)
_PANEL_STEP = (1e-3, 1e-3, 1e-4, 1.0, 1e-7)
_PANEL_SCALE = (0.05, 0.05, 0.01, 10.0, 1e-5)
#: Prior widths of the panel parameters: a panel moved by one width costs as much as one ring
#: point off by _PRIOR_STRAIN. A shift along the rings hardly changes any radius; the prior keeps
#: such directions at zero instead of letting them wander to the bounds.
_PANEL_PRIOR = (0.25, 0.25, 0.05, 50.0, 5e-5)
_PRIOR_STRAIN = 3e-5
#: Weight (strain per px) of the gauge rows that pin the panel modes no ring pattern can see.
_GAUGE_WEIGHT = 0.1


def pseudo_strain(det: FFDetector, y_px: ArrayLike, z_px: ArrayLike, tan_tth: ArrayLike) -> NDArray[np.float64]:
    """Pseudo-strain ``1 − R_corr / (Lsd·tan 2θ)`` of detector points.

    Parameters
    ----------
    det : FFDetector
    y_px, z_px : (N,) float
        Pixel coordinates (column, row of the calibration frame).
    tan_tth : (N,) float
        tan 2θ of the ring each point belongs to.

    Returns
    -------
    (N,) float64
        Dimensionless (×1e6 for µε).

    Examples
    --------
    >>> det = FFDetector(lsd_um=1e6, bc_px=(1000.0, 1000.0), pixel_size_um=(100.0, 100.0), rho_d_um=2e5)
    >>> float(pseudo_strain(det, [1000.0], [1500.0], [0.05])[0])   # R = 50000 µm exactly
    0.0
    """
    r = pixel_to_ideal(det, y_px, z_px).r_um
    return np.asarray(1.0 - r / (det.lsd_um * np.asarray(tan_tth, dtype=np.float64)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RefineResult:
    """Result of :func:`refine_geometry`.

    Attributes
    ----------
    detector : FFDetector
        Refined geometry.
    strain : (N,) float64
        Pseudo-strain of every input point at the refined geometry.
    used : (N,) bool
        Points kept after outlier rejection.
    mean_strain : float
        Mean |ε| over the used points (upstream's MeanStrain).
    std_errors : dict of str to float
        1σ uncertainties of the fitted parameters (upstream names: lsd µm, bc px, tilts deg, p).
    n_function_evaluations : int
    """

    detector: FFDetector
    strain: NDArray[np.float64]
    used: NDArray[np.bool_]
    mean_strain: float
    std_errors: dict[str, float]
    n_function_evaluations: int


class _Packing:
    """Internal coordinates ↔ FFDetector."""

    def __init__(self, base: FFDetector, names: Sequence[str], panel_fit: PanelFit | None = None,
                 point_panel: NDArray[np.int64] | None = None) -> None:
        bad = [n for n in names if n not in FITTABLE]
        if bad:
            raise ParamError(f"cannot fit {bad}; fittable parameters are {FITTABLE}")
        self.base = base
        s = set(names)
        coords: list[str] = []
        for n in ("lsd", "bc_y", "bc_z", "tx", "ty", "tz"):
            if n in s:
                coords.append(n)
        if "p0" in s and "p6" in s:
            coords += ["c0", "s0"]
        elif "p0" in s:
            coords.append("p0")
        elif "p6" in s:
            coords.append("p6")
        if "p1" in s and "p3" in s:
            coords += ["a1", "b1"]
        elif "p1" in s:
            coords.append("p1")
        elif "p3" in s:
            coords.append("p3")
        coords += [n for n in ("p2", "p4", "p5") if n in s]
        self.coords = coords
        self.n_global = len(coords)
        # per-panel parameters: (panel id, shift column) per extra coordinate
        self.panel_params: list[tuple[int, int]] = []
        self.panel_fit = panel_fit
        self.fixed_panel = -1
        self.panel_counts = np.zeros(0, dtype=np.int64)
        if panel_fit is not None and base.panels is not None and point_panel is not None:
            n_pan = base.panels.n
            counts = np.bincount(point_panel[point_panel >= 0], minlength=n_pan)
            fixed = -1 if panel_fit.fixed_panel is None else int(panel_fit.fixed_panel)
            if panel_fit.fixed_panel is not None and not 0 <= fixed < n_pan:
                raise ParamError(f"FixPanelID {fixed} outside 0..{n_pan - 1}")
            self.fixed_panel = fixed
            self.panel_counts = counts
            for kind in panel_fit.kinds():
                for k in range(n_pan):
                    if k != fixed and counts[k] >= panel_fit.min_points:
                        self.panel_params.append((k, kind))
            self.coords = coords + [f"panel{k}_{kind}" for k, kind in self.panel_params]

    def start(self) -> NDArray[np.float64]:
        d = self.base
        p = d.distortion
        val = {"lsd": d.lsd_um, "bc_y": d.bc_px[0], "bc_z": d.bc_px[1], "tx": d.tx_deg, "ty": d.ty_deg,
               "tz": d.tz_deg, "p0": p[0], "p1": p[1], "p2": p[2], "p3": p[3], "p4": p[4], "p5": p[5], "p6": p[6],
               "c0": p[0] * math.cos(math.radians(p[6])), "s0": p[0] * math.sin(math.radians(p[6])),
               "a1": p[1] * math.cos(math.radians(p[3])), "b1": p[1] * math.sin(math.radians(p[3]))}
        sh = d.panel_shifts_array
        return np.array([val[c] for c in self.coords[: self.n_global]] + [sh[k, c] for k, c in self.panel_params],
                        dtype=np.float64)

    def detector(self, x: NDArray[np.float64]) -> FFDetector:
        v = dict(zip(self.coords[: self.n_global], x[: self.n_global].tolist()))
        d = self.base
        p = list(d.distortion)
        for k in (0, 1, 2, 3, 4, 5, 6):
            if f"p{k}" in v:
                p[k] = v[f"p{k}"]
        if "c0" in v:
            p[0] = math.hypot(v["c0"], v["s0"])
            p[6] = math.degrees(math.atan2(v["s0"], v["c0"])) if p[0] > 0 else d.distortion[6]
        if "a1" in v:
            p[1] = math.hypot(v["a1"], v["b1"])
            p[3] = math.degrees(math.atan2(v["b1"], v["a1"])) if p[1] > 0 else d.distortion[3]
        extra: dict[str, Any] = {}
        if self.panel_params:
            sh = d.panel_shifts_array.copy()
            for (k, c), val in zip(self.panel_params, x[self.n_global:].tolist()):
                sh[k, c] = val
            extra["panel_shifts"] = sh
        return dataclasses.replace(
            d, lsd_um=v.get("lsd", d.lsd_um), bc_px=(v.get("bc_y", d.bc_px[0]), v.get("bc_z", d.bc_px[1])),
            tx_deg=v.get("tx", d.tx_deg), ty_deg=v.get("ty", d.ty_deg), tz_deg=v.get("tz", d.tz_deg),
            distortion=tuple(p), **extra)

    def scale(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.array([_SCALE.get(c, 1e-4) for c in self.coords[: self.n_global]]
                        + [_PANEL_SCALE[c] for _, c in self.panel_params], dtype=np.float64)

    def extra_rows(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Linear rows ``A·x_panel`` appended to the residuals: the prior on every panel parameter
        and the gauge of the panel modes that the global parameters (or no data) already describe —
        the mean magnification of the panel centres about the beam (Lsd), each panel's rigid
        rotation about the beam (invisible to rings: zero component in the panel's displacement
        field), plus, without a fixed panel, the mean shift (BC),
        mean dLsd (Lsd) and mean dP2 (p2), each mean weighted by the panels' ring points (so BC,
        Lsd and p2 stay those of the single-plane fit of the same points).

        Returns
        -------
        (A, target) : (n_rows, n_panel_params) float64 and (n_rows,) float64 (zeros)
        """
        npp = len(self.panel_params)
        rows: list[NDArray[np.float64]] = []
        for j, (_, c) in enumerate(self.panel_params):
            r = np.zeros(npp)
            r[j] = _PRIOR_STRAIN / _PANEL_PRIOR[c]
            rows.append(r)
        if npp:
            assert self.base.panels is not None
            cen = self.base.panels.centres_px() - np.asarray(self.base.bc_px)
            norm = float(np.sum(cen * cen))
            r_typ = math.sqrt(norm / len(cen))
            breathe = np.zeros(npp)
            # per panel: its rigid rotation about the beam keeps every radius — the one motion of a
            # panel no ring pattern sees. Gauge: the panel's displacement field has no component
            # along it, (−c_z·dY + c_y·dZ) + I_k·dθ = 0 with I_k = (s_y² + s_z²)/12 (px²).
            size = np.asarray(self.base.panels.panel_size_px, dtype=np.float64)
            inertia = float(np.sum(size**2)) / 12.0
            spin = {k: np.zeros(npp) for k, _ in self.panel_params}
            means = {c: np.zeros(npp) for c in range(5)}
            counts = {c: sum(1 for _, cc in self.panel_params if cc == c) for c in range(5)}
            # means weighted by each panel's ring points: the gauge of the single-plane fit
            wsum = {c: float(sum(self.panel_counts[k] for k, cc in self.panel_params if cc == c)) for c in range(5)}
            for j, (k, c) in enumerate(self.panel_params):
                cy, cz = cen[k]
                ck = max(math.hypot(cy, cz), 1.0)
                if c == 0:
                    breathe[j], spin[k][j] = cy / norm, -cz / ck
                elif c == 1:
                    breathe[j], spin[k][j] = cz / norm, cy / ck
                elif c == 2:
                    spin[k][j] = math.radians(1.0) * inertia / ck
                means[c][j] = self.panel_counts[k] / wsum[c]
            rows += [_GAUGE_WEIGHT * r_typ * breathe] + [_GAUGE_WEIGHT * v for v in spin.values()]
            if self.fixed_panel < 0:
                scale = (1.0, 1.0, 0.0, 1.0 / 100.0, 1.0 / 1e-4)  # per px, -, per 100 µm, per 1e-4
                for c in (0, 1, 3, 4):
                    if counts[c]:
                        rows.append(_GAUGE_WEIGHT * scale[c] * means[c])
        a = np.array(rows, dtype=np.float64).reshape(len(rows), npp)
        return a, np.zeros(len(rows))

    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Box bounds: none on the global coordinates, ±tol around 0 on the panel parameters."""
        lo = np.full(len(self.coords), -np.inf)
        hi = np.full(len(self.coords), np.inf)
        assert self.panel_fit is not None or not self.panel_params
        for j, (_, c) in enumerate(self.panel_params):
            t = self.panel_fit.tolerance(c) if self.panel_fit is not None else np.inf
            lo[self.n_global + j], hi[self.n_global + j] = -t, t
        return lo, hi


def _jacobian(pack: _Packing, x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64],
              tan_tth: NDArray[np.float64]) -> NDArray[np.float64]:
    det = pack.detector(x)
    jac = np.empty((y.size, x.size))
    ideal = pixel_to_ideal(det, y, z)
    r_ideal = det.lsd_um * tan_tth
    for col, name in enumerate(pack.coords[: pack.n_global]):
        if name in ("bc_y", "bc_z"):
            jp = ideal_jacobian(det, y, z)
            k = 0 if name == "bc_y" else 1
            dr_dpix = (ideal.y_um * jp[:, 0, k] + ideal.z_um * jp[:, 1, k]) / ideal.r_um
            # R depends on (Y − y_bc, Z − z_bc): ∂R/∂bc = −∂R/∂pixel, ∂ε/∂bc = +∂R/∂pixel / R_ideal
            jac[:, col] = dr_dpix / r_ideal
            continue
        h = _STEP[name]
        xp, xm = x.copy(), x.copy()
        xp[col] += h
        xm[col] -= h
        ep = pseudo_strain(pack.detector(xp), y, z, tan_tth)
        em = pseudo_strain(pack.detector(xm), y, z, tan_tth)
        jac[:, col] = (ep - em) / (2.0 * h)
    if pack.panel_params:
        _panel_jacobian(pack, x, y, z, tan_tth, jac)
    return jac


def _panel_jacobian(pack: _Packing, x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64],
                    tan_tth: NDArray[np.float64], jac: NDArray[np.float64]) -> None:
    """Panel columns: a point moves only with its own panel, so one central difference per kind
    (all fitted panels stepped together) gives every point's derivative."""
    panel = pack.base.panel_index(y, z)
    col_of = {kc: pack.n_global + j for j, kc in enumerate(pack.panel_params)}
    jac[:, pack.n_global:] = 0.0
    for kind in sorted({c for _, c in pack.panel_params}):
        cols = [(k, col_of[(k, kind)]) for k, c in pack.panel_params if c == kind]
        h = _PANEL_STEP[kind]
        xp, xm = x.copy(), x.copy()
        for _, col in cols:
            xp[col] += h
            xm[col] -= h
        d = (pseudo_strain(pack.detector(xp), y, z, tan_tth) - pseudo_strain(pack.detector(xm), y, z, tan_tth)) / (2 * h)
        for k, col in cols:
            m = panel == k
            jac[m, col] = d[m]


def refine_geometry(det: FFDetector, y_px: ArrayLike, z_px: ArrayLike, tan_tth: ArrayLike, *,
                    fit: Sequence[str] = DEFAULT_FIT, mult_factor: float | None = 2.5,
                    outlier_iterations: int = 3, weights: ArrayLike | None = None,
                    groups: ArrayLike | None = None, panel_fit: PanelFit | None = None) -> RefineResult:
    """Fit the detector geometry to ring points by least squares on the pseudo-strain.

    Parameters
    ----------
    det : FFDetector
        Starting geometry (also supplies every parameter that is not fitted, RhoD included).
    y_px, z_px : (N,) float
        Ring points (column, row of the calibration frame), pixels.
    tan_tth : (N,) float
        tan 2θ of each point's ring.
    fit : sequence of str
        Parameters to fit, from :data:`FITTABLE` (default :data:`DEFAULT_FIT`).
    mult_factor : float or None
        Outlier factor (``MultFactor``): points with |ε| > mult_factor · mean |ε| are dropped and
        the fit is repeated; None disables the rejection. With ``groups`` the mean is taken over
        the point's own group (ring): the strain scatter of a ring scales as 1/R, and a global
        mean would throw away the inner rings.
    outlier_iterations : int
        Maximum number of rejection rounds (``OutlierIterations``).
    weights : (N,) float, optional
        Relative weight of each point (default 1).
    groups : (N,) int, optional
        Group (ring) of each point, for the outlier rule.
    panel_fit : PanelFit, optional
        Also fit per-panel corrections (``det`` must have a panel layout): the panel parameters
        join the same Levenberg–Marquardt least squares; values beyond their tolerances
        (tolShifts, tolRotation, ...) are clipped afterwards, with a warning (a bounded solver
        was 10–40× slower).

    Returns
    -------
    RefineResult

    Raises
    ------
    ParamError
        Unknown parameter names or arrays of different lengths.
    ConvergenceError
        Fewer points than parameters, or a geometry that leaves the points without a solution.
    """
    y = np.ascontiguousarray(y_px, dtype=np.float64)
    z = np.ascontiguousarray(z_px, dtype=np.float64)
    t = np.ascontiguousarray(tan_tth, dtype=np.float64)
    if not (y.shape == z.shape == t.shape) or y.ndim != 1:
        raise ParamError(f"y_px {y.shape}, z_px {z.shape} and tan_tth {t.shape} must be equal 1-D arrays")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    g = np.zeros(y.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    if w.shape != y.shape or g.shape != y.shape:
        raise ParamError(f"weights {w.shape} and groups {g.shape} must have the points' shape {y.shape}")
    if panel_fit is not None and det.panels is None:
        raise ParamError("refine_geometry: panel_fit needs a detector with a panel layout (FFDetector.panels)")
    pack = _Packing(det, fit, panel_fit, det.panel_index(y, z) if panel_fit is not None else None)
    n_par = len(pack.coords)
    if y.size < 2 * n_par:
        raise ConvergenceError(f"only {y.size} ring points for {n_par} parameters; need at least {2 * n_par}")
    with threads(1 if y.size < _SERIAL_BELOW else None):
        return _refine(pack, y, z, t, w, g, mult_factor, outlier_iterations)


def _refine(pack: _Packing, y: NDArray[np.float64], z: NDArray[np.float64], t: NDArray[np.float64],
            w: NDArray[np.float64], g: NDArray[np.int64], mult_factor: float | None,
            outlier_iterations: int) -> RefineResult:
    from scipy.optimize import least_squares

    n_par = len(pack.coords)
    used = np.ones(y.size, dtype=bool)
    x = pack.start()
    nfev = 0
    sol = None
    for _ in range(max(0, int(outlier_iterations)) + 1):
        yu, zu, tu, wu = y[used], z[used], t[used], w[used]

        a_extra, _ = pack.extra_rows()
        ng = pack.n_global

        def resid(xx: NDArray[np.float64], yu=yu, zu=zu, tu=tu, wu=wu, a_extra=a_extra, ng=ng) -> NDArray[np.float64]:
            e = pseudo_strain(pack.detector(xx), yu, zu, tu) * wu
            e = np.where(np.isfinite(e), e, 1.0)
            return np.concatenate([e, a_extra @ xx[ng:]]) if a_extra.size else e

        def jac(xx: NDArray[np.float64], yu=yu, zu=zu, tu=tu, wu=wu, a_extra=a_extra, ng=ng) -> NDArray[np.float64]:
            j = _jacobian(pack, xx, yu, zu, tu) * wu[:, None]
            if not a_extra.size:
                return j
            return np.vstack([j, np.hstack([np.zeros((a_extra.shape[0], ng)), a_extra])])

        try:
            sol = least_squares(resid, x, jac=jac, method="lm", x_scale=pack.scale(x), xtol=1e-12, ftol=1e-12,
                                gtol=1e-12, max_nfev=200)
        except ValueError as exc:
            raise ConvergenceError(f"geometry least squares failed: {exc}") from exc
        x = sol.x
        if pack.panel_params:
            lo, hi = pack.bounds()
            if np.any((x < lo) | (x > hi)):
                log.warning("%d panel parameter(s) reached their tolerance (tolShifts/tolRotation/...) and "
                            "were clipped", int(np.sum((x < lo) | (x > hi))))
                x = np.clip(x, lo, hi)
        nfev += int(sol.nfev)
        strain = pseudo_strain(pack.detector(x), y, z, t)
        if mult_factor is None:
            break
        new_used = used & (np.abs(strain) <= mult_factor * _group_mean_abs(strain, used, g))
        if new_used.sum() < 2 * n_par or np.array_equal(new_used, used):
            break
        used = new_used
    assert sol is not None
    final = pack.detector(x)
    strain = pseudo_strain(final, y, z, t)
    if not np.all(np.isfinite(strain[used])):
        raise ConvergenceError("the refined geometry maps some ring points off the detector plane")
    mean = float(np.mean(np.abs(strain[used])))
    std = _std_errors(pack, x, sol, used.sum())
    return RefineResult(detector=final, strain=strain, used=used, mean_strain=mean, std_errors=std,
                        n_function_evaluations=nfev)


def _group_mean_abs(strain: NDArray[np.float64], used: NDArray[np.bool_], groups: NDArray[np.int64]
                    ) -> NDArray[np.float64]:
    """Per point: mean |strain| of the used points of its group (of all used points if its group has none)."""
    _, inv = np.unique(groups, return_inverse=True)
    n = np.bincount(inv, weights=used.astype(np.float64))
    tot = np.bincount(inv, weights=np.where(used, np.abs(strain), 0.0))
    overall = float(np.mean(np.abs(strain[used]))) if used.any() else math.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, tot / n, overall)
    return np.asarray(mean[inv], dtype=np.float64)


def _std_errors(pack: _Packing, x: NDArray[np.float64], sol: Any, n_used: int) -> dict[str, float]:
    jac = np.asarray(sol.jac)
    fun = np.asarray(sol.fun)
    dof = max(int(n_used) - x.size, 1)
    var = float(fun @ fun) / dof
    try:
        cov = np.linalg.pinv(jac.T @ jac) * var
    except np.linalg.LinAlgError:
        return {}
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    out = dict(zip(pack.coords, sd.tolist()))
    # report the Cartesian pairs in upstream's amplitude / phase terms (linearised)
    for amp, ph, c, s in (("p1", "p3", "a1", "b1"), ("p0", "p6", "c0", "s0")):
        if c in out:
            va, vb = x[pack.coords.index(c)], x[pack.coords.index(s)]
            r = math.hypot(va, vb)
            out[amp] = math.hypot(out[c], out[s]) / math.sqrt(2.0)
            out[ph] = math.degrees(out[amp] / r) if r > 0 else math.inf
            del out[c], out[s]
    return out
