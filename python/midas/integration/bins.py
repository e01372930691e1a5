"""The (R, η) bin grid of radial integration.

Radial bins are given by their edges in pixels of the corrected detector plane (``R = R_corr /
px``, upstream's unit). They come from ``RMin/RMax/RBinSize`` (uniform in R), from
``QMin/QMax/QBinSize`` (uniform in Q, upstream's Q mode: ``R = (Lsd/px)·tan(2·asin(Qλ/4π))``) or
from 2θ edges (uniform in 2θ, used to compare with pyFAI's ``2th_deg`` unit). η bins are uniform:
``EtaMin + j·EtaBinSize``, at most 360° in total; η is taken modulo 360°, so a range such as
``EtaMin 90, EtaMax 450`` is allowed. See ``docs/conventions.md``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError
from midas.geometry._params import float_param

__all__ = ["IntegrationBins", "bin_count"]

log = logging.getLogger(__name__)

_COUNT_TOL = 1e-6


def bin_count(lo: float, hi: float, size: float, what: str) -> int:
    """Number of whole bins of ``size`` in ``[lo, hi]`` (upstream truncates; so do we).

    A range that is not a whole number of bins (beyond 1e-6 of a bin) is truncated to
    ``lo + n·size`` with a warning naming the keys.

    Raises
    ------
    ParamError
        When ``size <= 0`` or the range holds no bin.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(size)) or size <= 0:
        raise ParamError(f"{what}: bin size {size} must be a finite number > 0 (range {lo}..{hi})")
    ratio = (hi - lo) / size
    n = math.floor(ratio + _COUNT_TOL)
    if n < 1:
        raise ParamError(f"{what}: range {lo}..{hi} holds no bin of size {size}")
    if abs(ratio - n) > _COUNT_TOL:
        log.warning("%s: range %g..%g is not a whole number of %g bins; using %d bins up to %g",
                    what, lo, hi, size, n, lo + n * size)
    return n


@dataclass(frozen=True, slots=True)
class IntegrationBins:
    """Radial edges (pixels) and uniform η bins.

    Attributes
    ----------
    r_edges_px : (n_r + 1,) float64
        Increasing radial bin edges, pixels of the corrected plane (R_corr / px), ≥ 0.
    eta_min_deg : float
        Lower edge of the first η bin, degrees.
    eta_bin_size_deg : float
        η bin width, degrees (> 0); ``n_eta · eta_bin_size_deg ≤ 360``.
    n_eta : int
        Number of η bins.
    radial_unit : str
        How the edges were made: ``"r_px"``, ``"q_inv_A"`` or ``"tth_deg"`` (provenance only).

    Raises
    ------
    ParamError
        Edges not increasing or negative, or η bins spanning more than 360°.
    """

    r_edges_px: NDArray[np.float64]
    eta_min_deg: float = -180.0
    eta_bin_size_deg: float = 360.0
    n_eta: int = 1
    radial_unit: str = "r_px"

    def __post_init__(self) -> None:
        edges = np.ascontiguousarray(self.r_edges_px, dtype=np.float64)
        edges.setflags(write=False)
        object.__setattr__(self, "r_edges_px", edges)
        object.__setattr__(self, "eta_min_deg", float(self.eta_min_deg))
        object.__setattr__(self, "eta_bin_size_deg", float(self.eta_bin_size_deg))
        object.__setattr__(self, "n_eta", int(self.n_eta))
        if edges.ndim != 1 or edges.size < 2:
            raise ParamError(f"radial bins need at least 2 edges, got shape {edges.shape}")
        if not np.all(np.isfinite(edges)) or edges[0] < 0 or np.any(np.diff(edges) <= 0):
            raise ParamError(f"radial edges must be finite, >= 0 and increasing; got {edges[:3]}..{edges[-3:]} px")
        if self.n_eta < 1 or not (self.eta_bin_size_deg > 0):
            raise ParamError(f"eta bins: n_eta = {self.n_eta}, size = {self.eta_bin_size_deg} deg must be positive")
        if self.n_eta * self.eta_bin_size_deg > 360.0 + 1e-9:
            raise ParamError(f"eta bins span {self.n_eta * self.eta_bin_size_deg} deg "
                             f"({self.n_eta} x {self.eta_bin_size_deg}); at most 360 deg is allowed")
        if self.radial_unit not in ("r_px", "q_inv_A", "tth_deg"):
            raise ParamError(f"radial_unit {self.radial_unit!r}: expected 'r_px', 'q_inv_A' or 'tth_deg'")

    # ---- constructors ---------------------------------------------------------------------------
    @classmethod
    def uniform_r(cls, r_min_px: float, r_max_px: float, r_bin_size_px: float, *, eta_min_deg: float = -180.0,
                  eta_max_deg: float = 180.0, eta_bin_size_deg: float = 360.0) -> IntegrationBins:
        """Bins uniform in R (pixels): upstream's ``RMin/RMax/RBinSize`` and ``EtaMin/EtaMax/EtaBinSize``.

        Raises
        ------
        ParamError
            Empty ranges or non-positive bin sizes.

        Examples
        --------
        >>> b = IntegrationBins.uniform_r(10, 20, 2.5, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=90)
        >>> b.n_r, b.n_eta, b.r_edges_px.tolist()
        (4, 4, [10.0, 12.5, 15.0, 17.5, 20.0])
        """
        n_r = bin_count(r_min_px, r_max_px, r_bin_size_px, "RMin/RMax/RBinSize")
        n_eta = bin_count(eta_min_deg, eta_max_deg, eta_bin_size_deg, "EtaMin/EtaMax/EtaBinSize")
        edges = float(r_min_px) + float(r_bin_size_px) * np.arange(n_r + 1, dtype=np.float64)
        return cls(edges, float(eta_min_deg), float(eta_bin_size_deg), n_eta, "r_px")

    @classmethod
    def uniform_q(cls, q_min_inv_A: float, q_max_inv_A: float, q_bin_size_inv_A: float, *, wavelength_A: float,
                  lsd_um: float, px_um: float, eta_min_deg: float = -180.0, eta_max_deg: float = 180.0,
                  eta_bin_size_deg: float = 360.0) -> IntegrationBins:
        """Bins uniform in Q = 4π sin θ / λ (1/Å): upstream's Q mode.

        Edges ``R = (Lsd/px)·tan(2·asin(Q·λ/4π))`` pixels.

        Raises
        ------
        ParamError
            Empty ranges, or a Q beyond 4π/λ (no scattering angle).
        """
        n_q = bin_count(q_min_inv_A, q_max_inv_A, q_bin_size_inv_A, "QMin/QMax/QBinSize")
        n_eta = bin_count(eta_min_deg, eta_max_deg, eta_bin_size_deg, "EtaMin/EtaMax/EtaBinSize")
        q = float(q_min_inv_A) + float(q_bin_size_inv_A) * np.arange(n_q + 1, dtype=np.float64)
        s = q * float(wavelength_A) / (4.0 * math.pi)
        if np.any(s < 0) or np.any(s >= math.sqrt(0.5)):
            raise ParamError(f"Q bins {q[0]}..{q[-1]} 1/Å at λ = {wavelength_A} Å need 2θ < 90°")
        edges = (float(lsd_um) / float(px_um)) * np.tan(2.0 * np.arcsin(s))
        return cls(edges, float(eta_min_deg), float(eta_bin_size_deg), n_eta, "q_inv_A")

    @classmethod
    def uniform_tth(cls, tth_min_deg: float, tth_max_deg: float, n_tth: int, *, lsd_um: float, px_um: float,
                    eta_min_deg: float = -180.0, eta_max_deg: float = 180.0,
                    eta_bin_size_deg: float = 360.0) -> IntegrationBins:
        """``n_tth`` bins uniform in 2θ between the given limits (pyFAI's ``2th_deg`` bins).

        Edges ``R = (Lsd/px)·tan 2θ`` pixels.

        Raises
        ------
        ParamError
            Empty ranges or 2θ outside [0, 90).
        """
        if n_tth < 1 or not (0 <= tth_min_deg < tth_max_deg < 90):
            raise ParamError(f"2θ bins: need n >= 1 and 0 <= {tth_min_deg} < {tth_max_deg} < 90 deg")
        n_eta = bin_count(eta_min_deg, eta_max_deg, eta_bin_size_deg, "EtaMin/EtaMax/EtaBinSize")
        tth = np.linspace(float(tth_min_deg), float(tth_max_deg), int(n_tth) + 1)
        edges = (float(lsd_um) / float(px_um)) * np.tan(np.deg2rad(tth))
        return cls(edges, float(eta_min_deg), float(eta_bin_size_deg), n_eta, "tth_deg")

    @classmethod
    def from_params(cls, p: Any, *, lsd_um: float, px_um: float) -> IntegrationBins:
        """Bins from a parameter set: Q mode when ``QBinSize`` is given, else R mode.

        Keys: ``RMin`` (default 10), ``RMax``, ``RBinSize`` (default 0.25); ``QMin``, ``QMax``,
        ``QBinSize``, ``Wavelength``; ``EtaMin``/``EtaMax`` (default −180/180), ``EtaBinSize``
        (default: one bin over the η range).

        Raises
        ------
        ParamError
            A missing ``RMax`` (or ``QMax``/``Wavelength`` in Q mode), or invalid bins.
        """
        eta_min = _num(p, "EtaMin", -180.0)
        eta_max = _num(p, "EtaMax", 180.0)
        eta_size = _num(p, "EtaBinSize", eta_max - eta_min)
        eta = {"eta_min_deg": eta_min, "eta_max_deg": eta_max, "eta_bin_size_deg": eta_size}
        if p.get("QBinSize", None) is not None:
            lam = _num(p, "Wavelength", None)
            return cls.uniform_q(_num(p, "QMin", 0.0), _num(p, "QMax", None), _num(p, "QBinSize", None),
                                 wavelength_A=lam, lsd_um=lsd_um, px_um=px_um, **eta)
        return cls.uniform_r(_num(p, "RMin", 10.0), _num(p, "RMax", None), _num(p, "RBinSize", 0.25), **eta)

    # ---- derived quantities -----------------------------------------------------------------------
    @property
    def n_r(self) -> int:
        """Number of radial bins."""
        return int(self.r_edges_px.size - 1)

    @property
    def n_bins(self) -> int:
        """Number of (R, η) bins, ``n_r · n_eta``."""
        return self.n_r * self.n_eta

    @property
    def eta_edges_deg(self) -> NDArray[np.float64]:
        """(n_eta + 1,) η bin edges, degrees."""
        return self.eta_min_deg + self.eta_bin_size_deg * np.arange(self.n_eta + 1, dtype=np.float64)

    @property
    def r_centres_px(self) -> NDArray[np.float64]:
        """(n_r,) mid-points of the radial edges (upstream's RMean), pixels."""
        return 0.5 * (self.r_edges_px[:-1] + self.r_edges_px[1:])

    @property
    def eta_centres_deg(self) -> NDArray[np.float64]:
        """(n_eta,) mid-points of the η edges, degrees."""
        e = self.eta_edges_deg
        return 0.5 * (e[:-1] + e[1:])

    def tth_centres_deg(self, lsd_um: float, px_um: float) -> NDArray[np.float64]:
        """(n_r,) 2θ of the radial mid-points, ``atan(RMean·px/Lsd)`` in degrees (upstream REtaMap)."""
        return np.rad2deg(np.arctan(self.r_centres_px * float(px_um) / float(lsd_um)))

    def q_centres_inv_A(self, lsd_um: float, px_um: float, wavelength_A: float) -> NDArray[np.float64]:
        """(n_r,) Q = 4π sin(2θ/2)/λ of the radial mid-points, 1/Å."""
        tth = np.deg2rad(self.tth_centres_deg(lsd_um, px_um))
        return 4.0 * np.pi / float(wavelength_A) * np.sin(0.5 * tth)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return {"r_edges_px": self.r_edges_px.tolist(), "eta_min_deg": self.eta_min_deg,
                "eta_bin_size_deg": self.eta_bin_size_deg, "n_eta": self.n_eta, "radial_unit": self.radial_unit}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntegrationBins:
        """Build from :meth:`to_dict` output."""
        return cls(np.asarray(d["r_edges_px"], dtype=np.float64), d["eta_min_deg"], d["eta_bin_size_deg"],
                   d["n_eta"], d.get("radial_unit", "r_px"))



def _num(p: Any, key: str, default: float | None) -> float:
    kw = {} if default is None else {"default": default}
    return float_param(p, key, what="the integration bins", **kw)
