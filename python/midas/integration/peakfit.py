"""Peak fitting of 1-D lineouts: pseudo-Voigt and GSAS-II's TCH pseudo-Voigt over a background.

Profiles (``gsas2.md`` §4.2, area-normalised, Δ = x − x0):

- ``L(Δ; Γ) = (2/(πΓ)) / (1 + 4Δ²/Γ²)``, ``G(Δ; Γ) = exp(−Δ²/(2s²)) / (√(2π) s)``, ``s = Γ/2.35482``
  (both of FWHM Γ and unit area), ``PV = η·L + (1 − η)·G``.
- ``"pv"``: each peak has its own (area, x0, Γ, η), η ∈ [0, 1].
- ``"tch"``: Thompson–Cox–Hastings as GSAS-II's ``PSVOIGT``: the peak has a Gaussian variance
  ``sig`` (x-units²) and a Lorentzian FWHM ``gam``; ``Γ_G = 2.35482·√sig``,
  ``Γ⁵ = Γ_G⁵ + 2.69269 Γ_G⁴γ + 2.42843 Γ_G³γ² + 4.47163 Γ_G²γ³ + 0.07842 Γ_Gγ⁴ + γ⁵``,
  ``η = 1.36603 q − 0.47719 q² + 0.11116 q³`` with ``q = γ/Γ``. (GSAS-II works in centidegrees of
  2θ; here x is whatever the lineout's axis is — pixels of R or degrees.)

The background is a Chebyshev series in x mapped to [−1, 1] over the fit window (upstream
``PeakFit.c`` uses 2 terms). Peaks come from given positions (``PeakLocation``, snapped to the
nearest bin) or are found over a SNIP background (``SNIPIterations``). Overlapping windows
(``FitROIPadding`` bins each side) are merged and their peaks fitted together by
``scipy.optimize.least_squares`` (trust-region reflective) with analytic Jacobians.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError

__all__ = [
    "PeakFit",
    "PeakFitSettings",
    "find_peaks",
    "fit_peaks",
    "pseudo_voigt",
    "snip_background",
    "tch_fwhm_mixing",
]

log = logging.getLogger(__name__)

_FWHM_TO_SIGMA = 2.35482  # 2·sqrt(2 ln 2) as GSAS-II writes it
_TCH = (2.69269, 2.42843, 4.47163, 0.07842)
_ETA = (1.36603, -0.47719, 0.11116)
MODELS = ("pv", "tch")


# ------------------------------------------------------------------------------------------------
# profile functions
# ------------------------------------------------------------------------------------------------
def _lorentz(d: NDArray[np.float64], g: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                          NDArray[np.float64]]:
    """L, ∂L/∂Δ, ∂L/∂Γ."""
    u = 1.0 + 4.0 * d * d / (g * g)
    lv = 2.0 / (math.pi * g) / u
    dl_dd = -lv * (8.0 * d / (g * g)) / u
    dl_dg = -lv / g + lv * (8.0 * d * d / g**3) / u
    return lv, dl_dd, dl_dg


def _gauss(d: NDArray[np.float64], g: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                        NDArray[np.float64]]:
    """G, ∂G/∂Δ, ∂G/∂Γ (FWHM Γ)."""
    s = g / _FWHM_TO_SIGMA
    e = np.exp(np.maximum(-0.5 * d * d / (s * s), -700.0))
    gv = e / (math.sqrt(2.0 * math.pi) * s)
    dg_dd = -gv * d / (s * s)
    dg_ds = gv * (d * d / s**3 - 1.0 / s)
    return gv, dg_dd, dg_ds / _FWHM_TO_SIGMA


def pseudo_voigt(x: ArrayLike, centre: float, fwhm: float, mixing: float) -> NDArray[np.float64]:
    """Area-normalised pseudo-Voigt ``η·L + (1 − η)·G`` of FWHM ``fwhm`` at ``centre``.

    Examples
    --------
    >>> x = np.linspace(-50, 50, 200001)
    >>> round(float(np.trapezoid(pseudo_voigt(x, 0.3, 0.8, 0.4), x)), 3)
    0.998
    """
    d = np.asarray(x, dtype=np.float64) - centre
    return mixing * _lorentz(d, fwhm)[0] + (1.0 - mixing) * _gauss(d, fwhm)[0]


def tch_fwhm_mixing(sig: float, gam: float) -> tuple[float, float, float, float, float, float]:
    """TCH total FWHM Γ and mixing η from (sig = Gaussian variance, gam = Lorentzian FWHM).

    Returns
    -------
    (Γ, η, ∂Γ/∂sig, ∂Γ/∂gam, ∂η/∂sig, ∂η/∂gam)
    """
    gg = _FWHM_TO_SIGMA * math.sqrt(max(sig, 1e-300))
    dgg_dsig = _FWHM_TO_SIGMA / (2.0 * math.sqrt(max(sig, 1e-300)))
    a, b, c, d = _TCH
    g = gam
    s5 = gg**5 + a * gg**4 * g + b * gg**3 * g**2 + c * gg**2 * g**3 + d * gg * g**4 + g**5
    fw = s5 ** 0.2
    pre = 0.2 * fw / s5
    dfw_dgg = pre * (5 * gg**4 + 4 * a * gg**3 * g + 3 * b * gg**2 * g**2 + 2 * c * gg * g**3 + d * g**4)
    dfw_dg = pre * (a * gg**4 + 2 * b * gg**3 * g + 3 * c * gg**2 * g**2 + 4 * d * gg * g**3 + 5 * g**4)
    q = g / fw
    dq_dg = 1.0 / fw - g / fw**2 * dfw_dg
    dq_dgg = -g / fw**2 * dfw_dgg
    e1, e2, e3 = _ETA
    eta = e1 * q + e2 * q * q + e3 * q**3
    deta_dq = e1 + 2 * e2 * q + 3 * e3 * q * q
    return (fw, eta, dfw_dgg * dgg_dsig, dfw_dg, deta_dq * dq_dgg * dgg_dsig, deta_dq * dq_dg)


# ------------------------------------------------------------------------------------------------
# background and peak finding
# ------------------------------------------------------------------------------------------------
def snip_background(y: ArrayLike, iterations: int = 50) -> NDArray[np.float64]:
    """SNIP background (Ryan et al. 1988; Morháč 2009) with the LLS transform.

    Decreasing clipping windows from ``iterations`` down to 1 bins. NaN entries are filled by
    linear interpolation before and set back to NaN after.
    """
    v = np.asarray(y, dtype=np.float64).copy()
    bad = ~np.isfinite(v)
    if bad.all():
        return v
    idx = np.arange(v.size)
    if bad.any():
        v[bad] = np.interp(idx[bad], idx[~bad], v[~bad])
    offset = min(0.0, float(v.min()))
    w = np.log(np.log(np.sqrt(v - offset + 1.0) + 1.0) + 1.0)
    n = v.size
    for p in range(int(iterations), 0, -1):
        if 2 * p >= n:
            continue
        mid = 0.5 * (w[: n - 2 * p] + w[2 * p:])
        w[p: n - p] = np.minimum(w[p: n - p], mid)
    out = (np.exp(np.exp(w) - 1.0) - 1.0) ** 2 - 1.0 + offset
    out[bad] = np.nan
    return out


def find_peaks(y: ArrayLike, *, snip_iterations: int = 50, smooth: bool = False, min_snr: float = 8.0,
               min_fraction: float = 0.01) -> NDArray[np.int64]:
    """Indices of peaks above a SNIP background.

    A peak is a local maximum of ``y − background`` whose prominence exceeds ``min_snr`` times
    the noise (median absolute difference of neighbouring points) and ``min_fraction`` of the
    largest net intensity. ``smooth`` applies a 7-point Savitzky–Golay filter first.
    """
    from scipy.signal import find_peaks as sp_find_peaks
    from scipy.signal import savgol_filter

    v = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.sum() < 7:
        return np.zeros(0, dtype=np.int64)
    v = np.where(ok, v, np.interp(np.arange(v.size), np.flatnonzero(ok), v[ok]))
    if smooth:
        v = savgol_filter(v, 7, 2)
    net = v - snip_background(v, snip_iterations)
    noise = 1.4826 * np.median(np.abs(np.diff(v))) / math.sqrt(2.0) + 1e-300
    height = max(min_snr * noise, min_fraction * float(np.nanmax(net)))
    peaks, _ = sp_find_peaks(net, prominence=height)
    return peaks.astype(np.int64)


# ------------------------------------------------------------------------------------------------
# fitting
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeakFitSettings:
    """How lineout peaks are fitted.

    Attributes
    ----------
    model : str
        ``"pv"`` or ``"tch"``.
    roi_padding : int
        Half-width of the fit window in bins (``FitROIPadding``, default 20).
    background_terms : int
        Chebyshev background terms (default 2: constant + slope).
    snip_iterations : int
        SNIP window for automatic peak finding (``SNIPIterations``, default 50).
    smooth : bool
        Savitzky–Golay smoothing before automatic peak finding (``DoSmoothing``).
    snap_bins : float
        A given peak position is used when a bin lies within this many bins (default 2).
    """

    model: str = "pv"
    roi_padding: int = 20
    background_terms: int = 2
    snip_iterations: int = 50
    smooth: bool = False
    snap_bins: float = 2.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ParamError(f"peak model {self.model!r}: expected one of {MODELS}")
        if self.roi_padding < 2 or self.background_terms < 0 or self.snip_iterations < 1:
            raise ParamError(f"invalid peak-fit settings: {self}")


@dataclass(frozen=True, slots=True)
class PeakFit:
    """One fitted peak. Positions and widths are in the units of the lineout's x axis.

    Attributes
    ----------
    centre, centre_err : float
        Peak position and its 1σ uncertainty from the fit covariance (scaled by χ²_red).
    fwhm : float
        Total FWHM Γ.
    area : float
        Integrated intensity (x-units × intensity).
    height : float
        Peak maximum above the background.
    mixing : float
        Lorentzian fraction η.
    sig, gam : float
        TCH Gaussian variance and Lorentzian FWHM (NaN for the ``pv`` model).
    background : float
        Background at the centre.
    chi2_red : float
        Reduced χ² of the window's fit (unit weights: the residual variance).
    converged : bool
        The optimiser reported convergence, the centre stayed inside the window and its
        uncertainty is below the FWHM.
    window : (int, int)
        Bin range [lo, hi) of the fit window.
    """

    centre: float
    centre_err: float
    fwhm: float
    area: float
    height: float
    mixing: float
    sig: float
    gam: float
    background: float
    chi2_red: float
    converged: bool
    window: tuple[int, int] = field(default=(0, 0))


def _windows(peaks: Sequence[int], n: int, pad: int) -> list[tuple[int, int, list[int]]]:
    out: list[tuple[int, int, list[int]]] = []
    for p in sorted({int(v) for v in peaks}):
        lo, hi = max(0, p - pad), min(n, p + pad + 1)
        if out and lo <= out[-1][1]:
            plo, _, members = out[-1]
            out[-1] = (plo, hi, members + [p])
        else:
            out.append((lo, hi, [p]))
    return out


class _WindowModel:
    """Peaks + Chebyshev background on one window; parameters are packed per peak then background."""

    def __init__(self, x: NDArray[np.float64], model: str, n_peaks: int, n_bg: int) -> None:
        self.x = x
        self.model = model
        self.n_peaks = n_peaks
        self.n_bg = n_bg
        lo, hi = float(x[0]), float(x[-1])
        t = (2.0 * (x - lo) / (hi - lo) - 1.0) if hi > lo else np.zeros_like(x)
        self.cheb = np.polynomial.chebyshev.chebvander(t, max(n_bg - 1, 0))[:, :n_bg]

    def evaluate(self, params: NDArray[np.float64], jac: bool) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        x = self.x
        f = np.zeros_like(x)
        j = np.zeros((x.size, params.size)) if jac else None
        for k in range(self.n_peaks):
            area, x0, p2, p3 = params[4 * k: 4 * k + 4]
            if self.model == "pv":
                fw, eta = p2, p3
            else:
                fw, eta, dfw_ds, dfw_dg, deta_ds, deta_dg = tch_fwhm_mixing(p2, p3)
            d = x - x0
            lv, dl_dd, dl_dg = _lorentz(d, fw)
            gv, dg_dd, dg_dg = _gauss(d, fw)
            prof = eta * lv + (1.0 - eta) * gv
            f += area * prof
            if j is not None:
                d_prof_dfw = eta * dl_dg + (1.0 - eta) * dg_dg
                d_prof_deta = lv - gv
                j[:, 4 * k] = prof
                j[:, 4 * k + 1] = -area * (eta * dl_dd + (1.0 - eta) * dg_dd)
                if self.model == "pv":
                    j[:, 4 * k + 2] = area * d_prof_dfw
                    j[:, 4 * k + 3] = area * d_prof_deta
                else:
                    j[:, 4 * k + 2] = area * (d_prof_dfw * dfw_ds + d_prof_deta * deta_ds)
                    j[:, 4 * k + 3] = area * (d_prof_dfw * dfw_dg + d_prof_deta * deta_dg)
        bg = params[4 * self.n_peaks:]
        f += self.cheb @ bg
        if j is not None:
            j[:, 4 * self.n_peaks:] = self.cheb
        return f, j


def _residual(p: NDArray[np.float64], model: _WindowModel, ys: NDArray[np.float64]) -> NDArray[np.float64]:
    return model.evaluate(p, False)[0] - ys


def _jacobian(p: NDArray[np.float64], model: _WindowModel, ys: NDArray[np.float64]) -> NDArray[np.float64]:
    jac = model.evaluate(p, True)[1]
    assert jac is not None
    return jac


def _half_width(x: NDArray[np.float64], net: NDArray[np.float64], i: int) -> float:
    half = 0.5 * net[i]
    lo = i
    while lo > 0 and net[lo] > half:
        lo -= 1
    hi = i
    while hi < net.size - 1 and net[hi] > half:
        hi += 1
    return max(float(x[hi] - x[lo]), 2.0 * float(np.median(np.diff(x))))


def fit_peaks(x: ArrayLike, y: ArrayLike, *, peaks: Sequence[int] | None = None,
              positions: Sequence[float] | None = None,
              settings: PeakFitSettings | None = None) -> list[PeakFit]:
    """Fit the peaks of one lineout.

    Parameters
    ----------
    x : (n,) float64
        Bin centres, increasing (pixels of R, or degrees of 2θ).
    y : (n,) float64
        Lineout; NaN bins are left out of the fits.
    peaks : sequence of int, optional
        Bin indices of the peaks.
    positions : sequence of float, optional
        Peak positions in x units (``PeakLocation``); each is snapped to the nearest bin and
        skipped (with a warning) when no bin lies within ``snap_bins`` bins.
    settings : PeakFitSettings, optional

    Returns
    -------
    list of PeakFit
        In increasing x; empty when no peak is given or found. With neither ``peaks`` nor
        ``positions``, peaks are found with :func:`find_peaks`.

    Raises
    ------
    ParamError
        x and y of different lengths, or x not increasing.
    """
    from scipy.optimize import least_squares

    st = settings or PeakFitSettings()
    xv = np.asarray(x, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    if xv.shape != yv.shape or xv.ndim != 1:
        raise ParamError(f"x {xv.shape} and y {yv.shape} must be equal 1-D arrays")
    if xv.size > 1 and np.any(np.diff(xv) <= 0):
        raise ParamError("x must be increasing")
    idx: list[int] = []
    if positions is not None:
        step = float(np.median(np.diff(xv))) if xv.size > 1 else 1.0
        for pos in positions:
            i = int(np.argmin(np.abs(xv - pos)))
            if abs(xv[i] - pos) > st.snap_bins * step:
                log.warning("peak position %g is more than %g bins from any bin; skipped", pos, st.snap_bins)
                continue
            idx.append(i)
    if peaks is not None:
        idx += [int(p) for p in peaks]
    if positions is None and peaks is None:
        idx = find_peaks(yv, snip_iterations=st.snip_iterations, smooth=st.smooth).tolist()
    results: list[PeakFit] = []
    for lo, hi, members in _windows(idx, xv.size, st.roi_padding):
        xs, ys = xv[lo:hi], yv[lo:hi]
        ok = np.isfinite(ys)
        n_par = 4 * len(members) + st.background_terms
        if ok.sum() <= n_par:
            log.warning("fit window [%d, %d) has %d usable points for %d parameters; skipped", lo, hi,
                        int(ok.sum()), n_par)
            continue
        xs, ys = xs[ok], ys[ok]
        model = _WindowModel(xs, st.model, len(members), st.background_terms)
        edge = max(2, min(5, xs.size // 6))
        b0 = float(np.mean(ys[:edge]))
        b1 = float(np.mean(ys[-edge:]))
        base = b0 + (b1 - b0) * (xs - xs[0]) / (xs[-1] - xs[0])
        net = ys - base
        p0: list[float] = []
        lower: list[float] = []
        upper: list[float] = []
        span = float(xs[-1] - xs[0])
        for m in members:
            i = int(np.argmin(np.abs(xs - xv[m])))
            fw = _half_width(xs, net, i)
            height = max(float(net[i]), 1e-12)
            area = height * fw * 1.2
            if st.model == "pv":
                p0 += [area, float(xs[i]), fw, 0.5]
                lower += [0.0, float(xs[0]), 1e-6 * span, 0.0]
                upper += [np.inf, float(xs[-1]), span, 1.0]
            else:
                sig = (0.7 * fw / _FWHM_TO_SIGMA) ** 2
                p0 += [area, float(xs[i]), sig, 0.4 * fw]
                lower += [0.0, float(xs[0]), 1e-12 * span**2, 0.0]
                upper += [np.inf, float(xs[-1]), span**2, span]
        bg0 = np.zeros(st.background_terms)
        if st.background_terms:
            bg0[0] = 0.5 * (b0 + b1)
            if st.background_terms > 1:
                bg0[1] = 0.5 * (b1 - b0)
        p0 += bg0.tolist()
        lower += [-np.inf] * st.background_terms
        upper += [np.inf] * st.background_terms
        start = np.clip(np.asarray(p0), np.asarray(lower) + 1e-15, np.asarray(upper) - 1e-15)
        sol = least_squares(_residual, start, jac=_jacobian, args=(model, ys), bounds=(lower, upper),
                            method="trf", x_scale="jac", max_nfev=200 * n_par)
        resid = sol.fun
        dof = max(1, xs.size - n_par)
        chi2 = float(resid @ resid / dof)
        try:
            cov = np.linalg.pinv(sol.jac.T @ sol.jac) * chi2
        except np.linalg.LinAlgError:
            cov = np.full((n_par, n_par), np.nan)
        p = sol.x
        bg_coef = p[4 * len(members):]
        for k in range(len(members)):
            area, x0, p2, p3 = p[4 * k: 4 * k + 4]
            if st.model == "pv":
                fw, eta, sig, gam = p2, p3, math.nan, math.nan
            else:
                fw, eta = tch_fwhm_mixing(p2, p3)[:2]
                sig, gam = p2, p3
            t = np.array([2.0 * (x0 - xs[0]) / (xs[-1] - xs[0]) - 1.0]) if xs[-1] > xs[0] else np.zeros(1)
            bg_here = float(np.polynomial.chebyshev.chebval(t, bg_coef)[0]) if bg_coef.size else 0.0
            height = float(area * pseudo_voigt(np.array([x0]), x0, fw, eta)[0])
            centre_err = float(math.sqrt(max(cov[4 * k + 1, 4 * k + 1], 0.0)))
            inside = xs[0] < x0 < xs[-1] and centre_err < fw
            results.append(PeakFit(centre=float(x0), centre_err=centre_err,
                                   fwhm=float(fw), area=float(area), height=height, mixing=float(eta),
                                   sig=float(sig), gam=float(gam), background=bg_here, chi2_red=chi2,
                                   converged=bool(sol.success and inside), window=(lo, hi)))
    results.sort(key=lambda r: r.centre)
    return results
