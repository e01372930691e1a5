"""FF grain refinement: position, orientation and lattice (strain) of each grain.

The role of upstream's ``FitPosOrStrainsOMP`` (upstream_facts.md §4.6), with a different
optimiser: Levenberg–Marquardt on the spot residuals in (y, z, ω) with the analytic Jacobian of
the forward model (``cpp/include/midas/ff/refine_model.hpp``), spot re-assignment between
passes, OpenMP over grains, bounds from ``MargABC``/``MargABG``, ``Rsample`` and ``Hbeam``.
Upstream's six Nelder–Mead stages with wall-clock caps are replaced by one deterministic
least-squares problem per pass (12 parameters: 3 position, 3 rotation, 6 reciprocal-basis
entries, which map one-to-one to a, b, c, α, β, γ).

Residual weights (with a Huber loss beyond 3 σ per spot): ``sigma_yz_um`` and ``sigma_ome_deg`` in the first pass, then the grain's own
robust residual scales (1.4826 × median absolute residual), so that y, z and ω count by their
actual noise. The observed ω must be frame-centre and wedge-corrected (the front half's default).
Frames and signs: ``docs/conventions.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._native import core
from midas.errors import ParamError
from midas.ff.index import RingSet, SpotIndex, _lines, _need, _tuples, concat_csr
from midas.parallel import threads

__all__ = ["DISPLACEMENTS", "RefineConfig", "RefineResult", "refine_grains"]

DISPLACEMENTS = ("parallel", "toward_point")
"""Grain-position displacement models (see :func:`midas.forward.predict_spots`)."""


@dataclass(frozen=True, slots=True)
class RefineConfig:
    """Refinement settings (upstream key in brackets).

    Attributes
    ----------
    wavelength_A, lsd_um : float
        [Wavelength], [Lsd].
    displacement : {"parallel", "toward_point"}
        Grain-position displacement of the spots. ``parallel`` is the exact straight ray (upstream's
        indexer and refiner); ``toward_point`` reproduces upstream's simulator.
    min_eta_deg : float
        [MinEta].
    omega_ranges_deg, box_sizes_um : tuple
        [OmegaRange], [BoxSize] (expected spots).
    margin_eta_um, margin_ome_deg, margin_radial_um, step_orient_deg : float
        First-pass assignment tolerances (as the indexer's).
    tol_factor : float
        Later passes accept spots within tol_factor × the grain's residual scale.
    min_tol_yz_um, min_tol_ome_deg : float
        Lower bounds of those tolerances (µm, deg).
    sigma_yz_um, sigma_ome_deg : float
        First-pass residual weights.
    sigma_floor_yz_um, sigma_floor_ome_deg : float
        Lower bounds of the re-estimated weights.
    adapt_weights : bool
        After each pass, σ_yz and σ_ω become the grain's robust residual scales.
    huber_k : float
        A spot whose normalised residual exceeds huber_k counts linearly (Huber loss); 0 = off.
    n_passes, max_iter : int
        Most assignment + fit rounds (they stop when the assignment and the weights no longer
        change); LM iterations per round.
    rsample_um, hbeam_um : float
        [Rsample], [Hbeam]: position bounds (in-plane radius ≤ Rsample + 20 µm, |z| ≤ Hbeam/2).
    marg_abc_pct, marg_abg_pct : float
        [MargABC], [MargABG]: lattice bounds in percent of the reference.
    fit_position, fit_orientation, fit_strain : bool
        Which parameter groups are free.
    min_spots : int
        A grain needs at least this many assigned spots.
    """

    wavelength_A: float
    lsd_um: float
    margin_eta_um: float
    margin_ome_deg: float
    margin_radial_um: float
    step_orient_deg: float
    rsample_um: float
    hbeam_um: float
    min_tol_yz_um: float
    min_tol_ome_deg: float
    sigma_yz_um: float
    sigma_ome_deg: float
    displacement: str = "parallel"
    min_eta_deg: float = 0.0
    omega_ranges_deg: tuple[tuple[float, float], ...] = ()
    box_sizes_um: tuple[tuple[float, float, float, float], ...] = ()
    tol_factor: float = 5.0
    sigma_floor_yz_um: float = 1e-3
    sigma_floor_ome_deg: float = 1e-5
    n_passes: int = 10
    adapt_weights: bool = True
    huber_k: float = 3.0
    max_iter: int = 60
    marg_abc_pct: float = 0.3
    marg_abg_pct: float = 0.3
    fit_position: bool = True
    fit_orientation: bool = True
    fit_strain: bool = True
    min_spots: int = 6

    def __post_init__(self) -> None:
        if self.displacement not in DISPLACEMENTS:
            raise ParamError(f"RefineConfig.displacement = {self.displacement!r}, expected one of {DISPLACEMENTS}")
        for name in ("wavelength_A", "lsd_um", "margin_eta_um", "margin_ome_deg", "margin_radial_um", "min_tol_yz_um",
                     "min_tol_ome_deg", "sigma_yz_um", "sigma_ome_deg", "sigma_floor_yz_um", "sigma_floor_ome_deg",
                     "tol_factor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"RefineConfig.{name} = {v}, expected a finite value > 0")
        for name in ("step_orient_deg", "rsample_um", "hbeam_um", "marg_abc_pct", "marg_abg_pct"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParamError(f"RefineConfig.{name} = {v}, expected a finite value >= 0")
        if not (math.isfinite(self.huber_k) and self.huber_k >= 0):
            raise ParamError(f"RefineConfig.huber_k = {self.huber_k}, expected a finite value >= 0")
        if self.n_passes < 1 or self.max_iter < 1 or self.min_spots < 1:
            raise ParamError("RefineConfig: n_passes, max_iter and min_spots must be >= 1")
        if len(self.omega_ranges_deg) != len(self.box_sizes_um):
            raise ParamError("RefineConfig: OmegaRange and BoxSize lines must pair up")

    @classmethod
    def from_params(cls, p: Any, **overrides: Any) -> RefineConfig:
        """Build from a :class:`midas.params.MidasParams`.

        Tolerance floors and first-pass weights default from the detector pixel (``px``) and the
        frame step (``OmegaStep``): min_tol_yz = px/4, min_tol_ome = |OmegaStep|, sigma_yz = px/2,
        sigma_ome = |OmegaStep|/2; without those keys (paramstest files) from the margins:
        MarginRadial/10, MarginOme/2, MarginRadial/10, MarginOme/5.

        Raises
        ------
        ParamError
            A required key is missing or invalid.
        """
        source = getattr(p, "source", None)
        where = f" in {source}" if source else ""
        m_rad = _need(p, "MarginRadial", where)
        m_ome = _need(p, "MarginOme", where)
        px = p.get("px", None)
        step = p.get("OmegaStep", None)
        kw: dict[str, Any] = {
            "wavelength_A": _need(p, "Wavelength", where),
            "lsd_um": _need(p, "Lsd", where) if p.get("Lsd", None) is not None else _need(p, "LsdFit", where),
            "margin_eta_um": _need(p, "MarginEta", where),
            "margin_ome_deg": m_ome,
            "margin_radial_um": m_rad,
            "step_orient_deg": _need(p, "StepSizeOrient", where),
            "rsample_um": _need(p, "Rsample", where),
            "hbeam_um": _need(p, "Hbeam", where),
            "min_tol_yz_um": float(px) / 4 if px else m_rad / 10,
            "min_tol_ome_deg": abs(float(step)) if step else m_ome / 2,
            "sigma_yz_um": float(px) / 2 if px else m_rad / 10,
            "sigma_ome_deg": abs(float(step)) / 2 if step else m_ome / 5,
            "min_eta_deg": float(p.get("MinEta", 0.0) or 0.0),
            "omega_ranges_deg": tuple(tuple(float(x) for x in v) for v in _lines(p, "OmegaRange")),
            "box_sizes_um": tuple(tuple(float(x) for x in v) for v in _lines(p, "BoxSize")),
            "marg_abc_pct": float(p.get("MargABC", 0.3)),
            "marg_abg_pct": float(p.get("MargABG", 0.3)),
        }
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (inverse of :meth:`from_dict`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefineConfig:
        """Build from :meth:`to_dict` output."""
        return cls(**_tuples(d))


@dataclass(frozen=True, slots=True)
class RefineResult:
    """Refined grains (G rows, in input order).

    Attributes
    ----------
    ok : (G,) bool
        False where too few spots could be assigned (the other fields are then 0).
    orient_mat : (G, 3, 3) float64
    pos_um : (G, 3) float64
        Sample frame at ω = 0, µm.
    lattice : (G, 6) float64
        a, b, c (Å), α, β, γ (deg).
    b_matrix : (G, 3, 3) float64
        Refined reciprocal basis (1/Å).
    n_expected, n_matched : (G,) int64
        Predicted spots in the windows (counting rings) and of them those assigned.
    iterations : (G,) int64
    diff_pos_um, diff_ome_deg, diff_angle_deg : (G,) float64
        Mean |Δ(y, z)|, mean |Δω|, mean angle between observed and predicted g (upstream's
        DiffPos, DiffOme, DiffAngle).
    scale_yz_um, scale_ome_deg : (G,) float64
        Robust residual scales of the last pass.
    obs, hkl_row : (M,) int64
        Assigned observed spot rows and their hkl rows (in :class:`RingSet` row order).
    pred : (M, 3) float64
        Predicted (y µm, z µm, ω deg) of each assigned spot.
    offsets : (G + 1,) int64
        Spots of grain i are ``offsets[i]:offsets[i+1]``.
    """

    ok: NDArray[np.bool_]
    orient_mat: NDArray[np.float64]
    pos_um: NDArray[np.float64]
    lattice: NDArray[np.float64]
    b_matrix: NDArray[np.float64]
    n_expected: NDArray[np.int64]
    n_matched: NDArray[np.int64]
    iterations: NDArray[np.int64]
    diff_pos_um: NDArray[np.float64]
    diff_ome_deg: NDArray[np.float64]
    diff_angle_deg: NDArray[np.float64]
    scale_yz_um: NDArray[np.float64]
    scale_ome_deg: NDArray[np.float64]
    obs: NDArray[np.int64]
    hkl_row: NDArray[np.int64]
    pred: NDArray[np.float64]
    offsets: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ok.shape[0])

    @property
    def completeness(self) -> NDArray[np.float64]:
        """n_matched / n_expected (0 where nothing is expected)."""
        return np.where(self.n_expected > 0, self.n_matched / np.maximum(self.n_expected, 1), 0.0)

    def obs_of(self, i: int) -> NDArray[np.int64]:
        """Assigned observed spot rows of grain i."""
        return self.obs[self.offsets[i]:self.offsets[i + 1]]

    def spots_of(self, i: int) -> slice:
        """Slice of grain i in ``obs``/``hkl_row``/``pred``."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def select(self, rows: Any) -> RefineResult:
        """The grains at ``rows`` (indices, in the given order)."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        per = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in rows]
        take = np.concatenate(per) if per else np.zeros(0, np.int64)
        counts = np.array([len(x) for x in per], np.int64)
        kw: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("obs", "hkl_row", "pred"):
                kw[f.name] = v[take]
            elif f.name == "offsets":
                kw[f.name] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            else:
                kw[f.name] = v[rows]
        return RefineResult(**kw)

    @classmethod
    def concatenate(cls, parts: Sequence[RefineResult]) -> RefineResult:
        """Join results in order."""
        if not parts:
            return cls.empty()
        return concat_csr(parts, cls, ("obs", "hkl_row", "pred"), "offsets")  # type: ignore[no-any-return]

    @classmethod
    def empty(cls) -> RefineResult:
        """No grain."""
        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        return cls(np.zeros(0, bool), np.zeros((0, 3, 3)), np.zeros((0, 3)), np.zeros((0, 6)), np.zeros((0, 3, 3)),
                   zi, zi, zi, z, z, z, z, z, zi, zi, np.zeros((0, 3)), np.zeros(1, np.int64))

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Mapping of field -> array."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any) -> RefineResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: np.asarray(d[f.name]) for f in fields(cls)})


def refine_grains(spot_index: SpotIndex, rings: RingSet, config: RefineConfig, orient_mat: Any, pos_um: Any,
                  lattice: Any = None, *, n_threads: int | None = None) -> RefineResult:
    """Refine grains against the observed spots (C++, OpenMP over grains).

    Parameters
    ----------
    spot_index : SpotIndex
        Observed spots and their grid.
    rings : RingSet
        Reflections of the used rings and the reference lattice.
    config : RefineConfig
    orient_mat : (G, 3, 3) float64
        Starting orientations (crystal → sample); re-orthonormalised (nearest rotation).
    pos_um : (G, 3) float64
        Starting positions, sample frame, µm.
    lattice : (G, 6) or (6,) float64, optional
        Starting lattices (default: the reference lattice of ``rings``).
    n_threads : int, optional

    Returns
    -------
    RefineResult

    Raises
    ------
    ParamError
        Inconsistent shapes or settings.
    """
    from midas.crystal import Lattice
    from midas.forward.ff import orthonormalize_orientations

    om = np.asarray(orient_mat, dtype=np.float64)
    if om.ndim != 3 or om.shape[1:] != (3, 3):
        raise ParamError(f"orient_mat has shape {om.shape}, expected (G, 3, 3)")
    g = om.shape[0]
    pos = np.ascontiguousarray(pos_um, dtype=np.float64)
    if pos.shape != (g, 3):
        raise ParamError(f"pos_um has shape {pos.shape}, expected ({g}, 3)")
    lat = np.asarray(rings.lattice if lattice is None else lattice, dtype=np.float64)
    if lat.shape == (6,):
        lat = np.broadcast_to(lat, (g, 6))
    if lat.shape != (g, 6):
        raise ParamError(f"lattice has shape {lat.shape}, expected ({g}, 6) or (6,)")
    om = np.ascontiguousarray(orthonormalize_orientations(om, "polar")) if g else np.zeros((0, 3, 3))
    b = np.stack([Lattice.from_tuple(row).b_matrix() for row in lat]) if g else np.zeros((0, 3, 3))
    windows = np.asarray(config.omega_ranges_deg, dtype=np.float64).reshape(-1, 2)
    boxes = np.asarray(config.box_sizes_um, dtype=np.float64).reshape(-1, 4)
    with threads(n_threads):
        raw = core().ff_refine_grains(
            spots=spot_index._core, hkl=rings.hkl.astype(np.float64), ring_nr=rings.ring_nr,
            ring_radius_um=rings.ring_radius_um, ring_counts=rings.ring_counts, orient=om, pos_um=pos,
            b_matrix=np.ascontiguousarray(b), wavelength_A=config.wavelength_A, lsd_um=config.lsd_um,
            displacement=config.displacement, min_eta_deg=config.min_eta_deg, omega_windows_deg=windows,
            boxes_um=boxes, margin_eta_um=config.margin_eta_um, margin_ome_deg=config.margin_ome_deg,
            margin_radial_um=config.margin_radial_um, step_orient_deg=config.step_orient_deg,
            tol_factor=config.tol_factor, min_tol_yz_um=config.min_tol_yz_um, min_tol_ome_deg=config.min_tol_ome_deg,
            sigma_yz_um=config.sigma_yz_um, sigma_ome_deg=config.sigma_ome_deg,
            sigma_floor_yz_um=config.sigma_floor_yz_um, sigma_floor_ome_deg=config.sigma_floor_ome_deg,
            n_passes=config.n_passes, adapt_weights=config.adapt_weights, huber_k=config.huber_k,
            max_iter=config.max_iter, rsample_um=config.rsample_um,
            hbeam_um=config.hbeam_um, marg_abc_pct=config.marg_abc_pct, marg_abg_pct=config.marg_abg_pct,
            lattice_ref=np.asarray(rings.lattice, dtype=np.float64), fit_position=config.fit_position,
            fit_orientation=config.fit_orientation, fit_strain=config.fit_strain, min_spots=config.min_spots)
    return RefineResult(ok=raw["ok"].astype(bool), orient_mat=raw["orient"], pos_um=raw["pos_um"],
                        lattice=raw["lattice"], b_matrix=raw["b_matrix"],
                        n_expected=raw["n_expected"].astype(np.int64), n_matched=raw["n_matched"].astype(np.int64),
                        iterations=raw["iterations"].astype(np.int64), diff_pos_um=raw["diff_pos_um"],
                        diff_ome_deg=raw["diff_ome_deg"], diff_angle_deg=raw["diff_angle_deg"],
                        scale_yz_um=raw["scale_yz_um"], scale_ome_deg=raw["scale_ome_deg"],
                        obs=raw["obs"].astype(np.int64), hkl_row=raw["hkl_row"].astype(np.int64),
                        pred=raw["pred"], offsets=raw["offsets"].astype(np.int64))
