"""Far-field spot prediction: which reflections of which grains light up, at which ω, where.

The model is upstream MIDAS's (upstream_facts.md §2.7; docs/conventions.md "FF forward model"):
for grain g with orientation U (crystal -> sample), reciprocal basis B (its own, strained lattice)
and position P (sample frame at ω = 0), and reflection hkl,

1. g_c = B·hkl, sin θ = λ|g_c|/2, G = U·g_c;
2. ω solves -Gx cos ω + Gy sin ω = |G| sin θ (beam along +x, sample rotated by Rz(+ω)), ≤ 2
   solutions per reflection;
3. η = atan2(-y, z) of Rz(ω)·G, R = Lsd·tan 2θ, ideal spot (y0, z0) = R·(-sin η, cos η);
4. wedge (upstream's first-order form or the exact tilted axis); analysis windows (MinEta, OmegaRange + BoxSize on (y0, z0));
5. grain-position displacement of (y0, z0) with P_lab = Rz(ω_obs)·P (see ``displacement``);
6. detector pixel by the exact inverse of the tilt + distortion model
   (:func:`midas.geometry.ideal_to_pixel`) and frame = floor((ω_obs - OmegaStart)/OmegaStep).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from midas._native import core
from midas.errors import GeometryError, ParamError
from midas.parallel import threads

__all__ = [
    "DISPLACEMENTS",
    "ORTHONORMALIZE",
    "WEDGE_MODELS",
    "FFScan",
    "SpotTable",
    "orthonormalize_orientations",
    "predict_spots",
]

DISPLACEMENTS = ("toward_point", "parallel")
"""Names of the grain-position displacement forms (see :func:`predict_spots`)."""

WEDGE_MODELS = ("upstream", "exact")
"""Names of the wedge models (see :func:`predict_spots`)."""

ORTHONORMALIZE = ("none", "upstream", "polar")
"""Names of the orientation clean-up methods (see :func:`orthonormalize_orientations`)."""


class _Grains(Protocol):
    @property
    def orient_mat(self) -> NDArray[np.float64]: ...
    @property
    def pos_um(self) -> NDArray[np.float64]: ...
    @property
    def lattice(self) -> NDArray[np.float64]: ...


class _Hkls(Protocol):
    @property
    def hkl(self) -> NDArray[Any]: ...
    @property
    def ring_nr(self) -> NDArray[Any]: ...


def _windows(values: Any, width: int, key: str) -> tuple[tuple[float, ...], ...]:
    out = []
    for v in values or ():
        t = tuple(float(x) for x in (v if isinstance(v, (tuple, list, np.ndarray)) else (v,)))
        if len(t) != width:
            raise ParamError(f"{key} entry {v!r} has {len(t)} values, expected {width}")
        out.append(t)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class FFScan:
    """The rotation scan and the analysis windows that select spots.

    Attributes
    ----------
    omega_start_deg : float
        ω of the START edge of frame 0 (``OmegaStart``), degrees.
    omega_step_deg : float
        ω step per frame (``OmegaStep``, may be negative), degrees, non-zero.
    n_frames : int
        Number of frames (> 0).
    omega_ranges_deg : tuple of (lo, hi)
        ``OmegaRange`` windows (degrees); a spot is kept if some window k holds lo < ω < hi and
        ``box_sizes_um[k]`` holds its ideal (y0, z0). Empty: no window test.
    box_sizes_um : tuple of (y_min, y_max, z_min, z_max)
        ``BoxSize`` per window, µm on the ideal detector plane; same length as omega_ranges_deg.
    min_eta_deg : float
        ``MinEta``: spots with |η| < MinEta or 180 - |η| < MinEta are dropped (0: none).
    wedge_deg : float
        ``Wedge``: tilt of the rotation axis about lab y (degrees); changes ω only.

    Raises
    ------
    ParamError
        On a zero or non-finite step, n_frames < 1, or window/box lists of different lengths.
    """

    omega_start_deg: float
    omega_step_deg: float
    n_frames: int
    omega_ranges_deg: tuple[tuple[float, float], ...] = ()
    box_sizes_um: tuple[tuple[float, float, float, float], ...] = ()
    min_eta_deg: float = 0.0
    wedge_deg: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "omega_start_deg", float(self.omega_start_deg))
        set_(self, "omega_step_deg", float(self.omega_step_deg))
        set_(self, "n_frames", int(self.n_frames))
        set_(self, "omega_ranges_deg", _windows(self.omega_ranges_deg, 2, "omega_ranges_deg"))
        set_(self, "box_sizes_um", _windows(self.box_sizes_um, 4, "box_sizes_um"))
        set_(self, "min_eta_deg", float(self.min_eta_deg))
        set_(self, "wedge_deg", float(self.wedge_deg))
        if not math.isfinite(self.omega_start_deg):
            raise ParamError(f"FFScan: omega_start_deg = {self.omega_start_deg}, expected a finite angle")
        if not (math.isfinite(self.omega_step_deg) and self.omega_step_deg != 0):
            raise ParamError(f"FFScan: omega_step_deg = {self.omega_step_deg}, expected a finite non-zero step")
        if self.n_frames < 1:
            raise ParamError(f"FFScan: n_frames = {self.n_frames}, expected >= 1")
        if len(self.omega_ranges_deg) != len(self.box_sizes_um):
            raise ParamError(f"FFScan: {len(self.omega_ranges_deg)} OmegaRange windows but {len(self.box_sizes_um)} "
                             "BoxSize boxes; upstream pairs them line by line, give one BoxSize per OmegaRange")
        if not (math.isfinite(self.min_eta_deg) and 0 <= self.min_eta_deg < 90):
            raise ParamError(f"FFScan: min_eta_deg = {self.min_eta_deg}, expected 0 <= MinEta < 90")
        if not math.isfinite(self.wedge_deg):
            raise ParamError(f"FFScan: wedge_deg = {self.wedge_deg}, expected a finite angle")

    @property
    def omega_end_deg(self) -> float:
        """ω of the END edge of the last frame: start + n_frames·step."""
        return self.omega_start_deg + self.n_frames * self.omega_step_deg

    def frame_of(self, omega_deg: Any) -> NDArray[np.int64]:
        """Frame index holding ω: floor((ω - OmegaStart)/OmegaStep) (upstream's simulator).

        Parameters
        ----------
        omega_deg : array_like float
            Angles, degrees (not wrapped; pass ω within the scan).

        Returns
        -------
        int64 array of the input shape; values outside [0, n_frames) mean "not in this scan".
        """
        w = np.asarray(omega_deg, dtype=np.float64)
        return np.floor((w - self.omega_start_deg) / self.omega_step_deg).astype(np.int64)

    def for_simulation(self) -> FFScan:
        """The windows upstream's simulator applies: the whole scan range, every η, any position.

        ``ForwardSimulationCompressed`` ignores MinEta, OmegaRange and BoxSize; it keeps a spot
        when min(start, end) < ω < max(start, end) and it lands on the detector.
        """
        lo, hi = sorted((self.omega_start_deg, self.omega_end_deg))
        inf = math.inf
        return replace(self, omega_ranges_deg=((lo, hi),), box_sizes_um=((-inf, inf, -inf, inf),), min_eta_deg=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FFScan:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    @classmethod
    def from_params(cls, p: Any, *, n_frames: int | None = None) -> FFScan:
        """Build from a :class:`midas.params.MidasParams` (or a plain dict of MIDAS keys).

        Keys: ``OmegaStart``, ``OmegaStep``, ``OmegaEnd`` (n_frames = ceil(|End - Start|/|Step|),
        as upstream's simulator; not needed when ``n_frames`` is given), ``OmegaRange`` and
        ``BoxSize`` lines (default: no window), ``MinEta`` (0), ``Wedge`` (0).

        Raises
        ------
        ParamError
            A required key is missing, or a value is invalid (the message names the key).
        """
        source = getattr(p, "source", None)
        where = f" in {source}" if source else ""

        def need(key: str) -> float:
            v = p.get(key, None)
            if v is None:
                raise ParamError(f"parameter {key} is missing{where}: needed for the rotation scan")
            try:
                return float(v)
            except (TypeError, ValueError):
                raise ParamError(f"parameter {key} = {v!r}{where}: expected a number") from None

        start, step = need("OmegaStart"), need("OmegaStep")
        if step == 0:
            raise ParamError(f"parameter OmegaStep = 0{where}: expected a non-zero step")
        if n_frames is None:
            end = need("OmegaEnd")
            n_frames = math.ceil(abs(end - start) / abs(step) - 1e-9)
            if n_frames < 1:
                raise ParamError(f"OmegaStart {start}, OmegaEnd {end}, OmegaStep {step}{where}: no frame in the scan")

        def lines(key: str) -> list[Any]:
            v = p.get(key, None)
            if v is None:
                return []
            return list(v) if isinstance(v, list) else [v]

        ranges, boxes = lines("OmegaRange"), lines("BoxSize")
        return cls(omega_start_deg=start, omega_step_deg=step, n_frames=n_frames, omega_ranges_deg=tuple(ranges),
                   box_sizes_um=tuple(boxes), min_eta_deg=float(p.get("MinEta", 0.0) or 0.0),
                   wedge_deg=float(p.get("Wedge", 0.0) or 0.0))


_SPOT_INT = ("grain_index", "grain_id", "hkl_row", "ring_nr", "omega_solution", "solution_nr", "frame")


@dataclass(frozen=True, slots=True)
class SpotTable:
    """Predicted spots (S rows), ordered by grain, then hkl row, then ω solution.

    Attributes
    ----------
    grain_index : (S,) int64
        Position of the grain in the input (0-based).
    grain_id : (S,) int64
        The grain's identifier (``GrainsTable.grain_id`` when given, else grain_index + 1).
    hkl_row : (S,) int64
        Row of the reflection in the hkl table passed in (0-based; hkls.csv data row order).
    hkl : (S, 3) int32
        Miller indices.
    ring_nr : (S,) int64
        Ring number.
    omega_solution : (S,) int64
        0 or 1: which of the reflection's two ω solutions (upstream's order).
    solution_nr : (S,) int64
        Running index of this Bragg solution among all solutions of the grain, counted before any
        filter (upstream's SpotMatrixGen ``SpotID``).
    omega_deg : (S,) float64
        Observed ω (after the wedge), degrees in (-180, 180].
    omega_raw_deg : (S,) float64
        ω before the wedge correction (``OmeRaw``).
    eta_deg, tth_deg : (S,) float64
        Observed azimuth η (0 = up, +90 = -y) and scattering angle 2θ of the reflection, degrees.
    y0_um, z0_um : (S,) float64
        Ideal spot on the untilted plane at Lsd for a grain at the origin, µm (lab y, z).
    y_um, z_um : (S,) float64
        The spot displaced by the grain position, same plane (before tilt and distortion), µm.
    y_px, z_px : (S,) float64
        Detector pixel (column, row of the frame after ImTransOpt; centres at integers) after the
        exact inverse of tilt and distortion.
    frame : (S,) int64
        Frame index floor((ω - OmegaStart)/OmegaStep), in [0, n_frames).
    """

    grain_index: NDArray[np.int64]
    grain_id: NDArray[np.int64]
    hkl_row: NDArray[np.int64]
    hkl: NDArray[np.int32]
    ring_nr: NDArray[np.int64]
    omega_solution: NDArray[np.int64]
    solution_nr: NDArray[np.int64]
    omega_deg: NDArray[np.float64]
    omega_raw_deg: NDArray[np.float64]
    eta_deg: NDArray[np.float64]
    tth_deg: NDArray[np.float64]
    y0_um: NDArray[np.float64]
    z0_um: NDArray[np.float64]
    y_um: NDArray[np.float64]
    z_um: NDArray[np.float64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    frame: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(np.asarray(self.grain_index))
        for f in fields(self):
            dtype = np.int32 if f.name == "hkl" else np.int64 if f.name in _SPOT_INT else np.float64
            arr: NDArray[Any] = np.ascontiguousarray(getattr(self, f.name), dtype=dtype)
            want: tuple[int, ...] = (n, 3) if f.name == "hkl" else (n,)
            if f.name == "hkl" and arr.size == 0:
                arr = arr.reshape(want)
            if arr.shape != want:
                raise ParamError(f"SpotTable.{f.name} has shape {arr.shape}, expected {want}")
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)

    def __len__(self) -> int:
        return int(self.grain_index.shape[0])

    @property
    def spot_nr(self) -> NDArray[np.int64]:
        """Upstream's theoretical spot identifier of indexing/refinement: 2·hkl_row + 1 + omega_solution."""
        return 2 * self.hkl_row + 1 + self.omega_solution

    @property
    def theta_deg(self) -> NDArray[np.float64]:
        """Bragg angle θ = 2θ/2, degrees."""
        return self.tth_deg / 2

    def select(self, mask: Any) -> SpotTable:
        """The rows where ``mask`` (boolean or index array) selects, in order."""
        return SpotTable(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Mapping of attribute name -> array; inverse of :meth:`from_dict`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpotTable:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))


def _upstream_euler_round_trip(u: NDArray[np.float64]) -> NDArray[np.float64]:
    """Matrix -> Bunge Euler angles -> matrix exactly as upstream's simulator does for each grain.

    Restated from ``OrientMat2Euler``/``Euler2OrientMat`` (upstream_facts.md §2.6): Φ = acos(U33)
    (0 when |U33 - 1| < 1e-5); φ1 from (U13, -U23)/sin Φ and φ2 from (U31, U32)/sin Φ through
    "acos of the cosine, mirrored when the sine is negative"; for sin Φ < 1e-5, φ1 = 0 and φ2 from
    (±U21, U11). The result is a proper rotation built from 5 of the 9 entries, so a slightly
    non-orthonormal input (6-decimal files) is cleaned up in upstream's particular way.
    """
    eps = 1e-5
    out = np.empty_like(u)

    def angle(s: float, c: float) -> float:
        return math.acos(c) if s >= 0 else 2 * math.pi - math.acos(c)

    for i, m in enumerate(u):
        phi = 0.0 if abs(m[2, 2] - 1.0) < eps else math.acos(m[2, 2])
        sph = math.sin(phi)
        if abs(sph) < eps:
            psi = 0.0
            theta = angle(m[1, 0], m[0, 0]) if abs(m[2, 2] - 1.0) < eps else angle(-m[1, 0], m[0, 0])
        else:
            psi = angle(m[0, 2] / sph, -m[1, 2] / sph) if abs(-m[1, 2] / sph) <= 1 else angle(m[0, 2] / sph, 1.0)
            theta = angle(m[2, 0] / sph, m[2, 1] / sph) if abs(m[2, 1] / sph) <= 1 else angle(m[2, 0] / sph, 1.0)
        cps, cph, cth = math.cos(psi), math.cos(phi), math.cos(theta)
        sps, sph, sth = math.sin(psi), math.sin(phi), math.sin(theta)
        out[i] = ((cth * cps - sth * cph * sps, -cth * cph * sps - sth * cps, sph * sps),
                  (cth * sps + sth * cph * cps, cth * cph * cps - sth * sps, -sph * cps),
                  (sth * sph, cth * sph, cph))
    return out


def orthonormalize_orientations(orient_mat: Any, method: str = "polar") -> NDArray[np.float64]:
    """Turn nearly orthonormal matrices (e.g. read from 6-decimal files) into rotations.

    Parameters
    ----------
    orient_mat : (N, 3, 3) float64
        Orientation matrices, crystal -> sample.
    method : {"polar", "upstream", "none"}
        ``polar``: the nearest rotation (polar decomposition via SVD). ``upstream``: the Euler
        round trip of upstream's ``ForwardSimulationCompressed`` (needed to reproduce its spots:
        for the 6-decimal matrices of its example it rotates grains by up to 0.014° relative to
        the nearest rotation). ``none``: unchanged.

    Returns
    -------
    (N, 3, 3) float64

    Raises
    ------
    ParamError
        Unknown method or wrong shape.
    """
    u = np.asarray(orient_mat, dtype=np.float64)
    if u.ndim != 3 or u.shape[1:] != (3, 3):
        raise ParamError(f"orient_mat has shape {u.shape}, expected (N, 3, 3)")
    if method == "none":
        return u.copy()
    if method == "upstream":
        return _upstream_euler_round_trip(u)
    if method == "polar":
        a, _, bt = np.linalg.svd(u)
        r = a @ bt
        flip = np.linalg.det(r) < 0
        if flip.any():
            a[flip, :, 2] *= -1
            r = a @ bt
        return np.asarray(r, dtype=np.float64)
    raise ParamError(f"orthonormalize = {method!r}, expected one of {ORTHONORMALIZE}")


def _b_matrices(lattice: NDArray[np.float64]) -> NDArray[np.float64]:
    from midas.crystal import Lattice

    return np.stack([Lattice.from_tuple(row).b_matrix() for row in lattice]) if len(lattice) else np.zeros((0, 3, 3))


def predict_spots(grains: _Grains, hkls: _Hkls, detector: Any, scan: FFScan, *, wavelength_A: float,
                  rings: Sequence[int] | None = None, displacement: str = "toward_point",
                  wedge: str = "upstream", orthonormalize: str = "none", on_detector: bool = True,
                  n_threads: int | None = None) -> SpotTable:
    """Predict the far-field spots of many grains (OpenMP over grains).

    Parameters
    ----------
    grains : GrainsTable or any object with ``orient_mat`` (G, 3, 3), ``pos_um`` (G, 3), ``lattice`` (G, 6)
        Orientation (crystal -> sample), position (sample frame at ω = 0, µm) and strained lattice
        (a, b, c Å; α, β, γ deg) of each grain; each grain gets its own B matrix
        (:meth:`midas.crystal.Lattice.b_matrix`). ``grain_id`` (G,) is used when present.
    hkls : HklTable or any object with ``hkl`` (H, 3) and ``ring_nr`` (H,)
        Reflections in hkls.csv row order (:func:`midas.crystal.hkl_table`); only the Miller
        indices and ring numbers are used (θ comes from each grain's own lattice).
    detector : midas.geometry.FFDetector
        Lsd, beam centre, pixel size, tilts, distortion, detector size.
    scan : FFScan
        ω scan and analysis windows (use ``scan.for_simulation()`` for upstream's simulator).
    wavelength_A : float
        X-ray wavelength, Å.
    rings : sequence of int, optional
        Ring numbers to predict, in this order (upstream's ``RingThresh`` line order); the rows
        of each ring keep their table order. Default: every row, in table order.
    displacement : {"toward_point", "parallel"}
        How the grain position moves the spot. ``toward_point`` (upstream's simulator): the ideal
        point plus the x = 0 intercept of the line from P toward (Lsd, y0, z0). ``parallel``
        (upstream's indexer and refiner): the ray from P parallel to (Lsd, y0, z0), met at x = Lsd.
        They differ at second order in |P|/Lsd (≤ 0.015 px on upstream's 250-grain example).
    wedge : {"upstream", "exact"}
        Wedge model (only matters when ``scan.wedge_deg`` ≠ 0). ``upstream`` (upstream's simulator):
        ω_obs = ω - δ with δ the correction upstream's FitSetup (``CorrectWedge``,
        :func:`midas.geometry.omega.correct_wedge`) would apply at the no-wedge η; η unchanged.
        ``exact``: :func:`midas.geometry.omega.apply_wedge` (ω and η of the event with the tilted
        axis; ``correct_wedge`` undoes it exactly; spots that cannot diffract are dropped).
    orthonormalize : {"none", "upstream", "polar"}
        Clean-up of the orientation matrices first (:func:`orthonormalize_orientations`); use
        ``upstream`` to reproduce upstream's simulator exactly.
    on_detector : bool
        Drop spots whose pixel is outside [0, n_y) × [0, n_z) (as upstream's simulator). Spots
        whose frame is outside [0, n_frames) are always dropped.
    n_threads : int, optional
        OpenMP threads (default: the current setting). Results do not depend on it.

    Returns
    -------
    SpotTable
        Ordered by grain, hkl row (in ``rings`` order), ω solution; empty when nothing diffracts.

    Raises
    ------
    ParamError
        Inconsistent shapes, unknown option names, non-positive wavelength.
    GeometryError
        Orientation matrices that are not rotations (|UᵀU - I| > 1e-3) with ``orthonormalize="none"``,
        or an invalid lattice.

    Notes
    -----
    Equations and a worked example: ``docs/conventions.md`` ("FF forward model"); upstream
    ``ForwardSimulationCompressed.c`` / ``CalcDiffractionSpots.c`` as restated in
    upstream_facts.md §2.5–2.7.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from midas.geometry import FFDetector
    >>> det = FFDetector(lsd_um=1e6, bc_px=(1022.0, 1022.0), pixel_size_um=(200.0, 200.0), rho_d_um=2e5)
    >>> grains = SimpleNamespace(orient_mat=np.eye(3)[None], pos_um=np.zeros((1, 3)),
    ...                          lattice=np.array([[4.08, 4.08, 4.08, 90, 90, 90]]))
    >>> hkls = SimpleNamespace(hkl=np.array([[1, 1, 1], [-1, -1, -1]]), ring_nr=np.array([1, 1]))
    >>> scan = FFScan(omega_start_deg=180, omega_step_deg=-0.25, n_frames=1440)
    >>> s = predict_spots(grains, hkls, det, scan, wavelength_A=0.22291)
    >>> len(s), sorted(np.round(s.tth_deg, 4).tolist())[0]
    (4, 5.4239)
    """
    if displacement not in DISPLACEMENTS:
        raise ParamError(f"displacement = {displacement!r}, expected one of {DISPLACEMENTS}")
    if wedge not in WEDGE_MODELS:
        raise ParamError(f"wedge = {wedge!r}, expected one of {WEDGE_MODELS}")
    if not (math.isfinite(wavelength_A) and wavelength_A > 0):
        raise ParamError(f"wavelength_A = {wavelength_A}, expected a finite value > 0")
    orient = np.asarray(grains.orient_mat, dtype=np.float64)
    pos = np.ascontiguousarray(grains.pos_um, dtype=np.float64)
    lattice = np.asarray(grains.lattice, dtype=np.float64)
    n_grains = orient.shape[0] if orient.ndim == 3 else -1
    if orient.shape != (n_grains, 3, 3) or pos.shape != (n_grains, 3) or lattice.shape != (n_grains, 6):
        raise ParamError(f"grains: orient_mat {orient.shape}, pos_um {pos.shape}, lattice {lattice.shape}; "
                         "expected (G, 3, 3), (G, 3), (G, 6)")
    orient = np.ascontiguousarray(orthonormalize_orientations(orient, orthonormalize))
    if orthonormalize == "none" and n_grains:
        err = np.abs(np.einsum("gji,gjk->gik", orient, orient) - np.eye(3)).max(axis=(1, 2))
        if err.max() > 1e-3:
            bad = int(np.argmax(err))
            raise GeometryError(f"grain {bad}: orientation matrix is not a rotation (|UᵀU - I| = {err[bad]:.2g}); "
                                "pass orthonormalize='polar' or 'upstream'")
    grain_id = np.asarray(getattr(grains, "grain_id", np.arange(1, n_grains + 1)), dtype=np.int64)
    hkl_all = np.asarray(hkls.hkl)
    ring_all = np.asarray(hkls.ring_nr).astype(np.int32)
    if hkl_all.ndim != 2 or hkl_all.shape[1] != 3 or ring_all.shape != (hkl_all.shape[0],):
        raise ParamError(f"hkls: hkl {hkl_all.shape}, ring_nr {ring_all.shape}; expected (H, 3) and (H,)")
    if rings is None:
        rows = np.arange(hkl_all.shape[0])
    else:
        rows = np.concatenate([np.nonzero(ring_all == int(r))[0] for r in rings] or [np.zeros(0, np.int64)])
    rows = rows.astype(np.int32)

    windows = np.asarray(scan.omega_ranges_deg, dtype=np.float64).reshape(-1, 2)
    boxes = np.asarray(scan.box_sizes_um, dtype=np.float64).reshape(-1, 4)
    with threads(n_threads):
        raw = core().ff_predict_spots(
            orient=orient, pos_um=pos, b_matrix=_b_matrices(lattice), hkl=hkl_all[rows].astype(np.float64),
            ring_nr=ring_all[rows], row_id=rows, wavelength_A=float(wavelength_A), lsd_um=float(detector.lsd_um),
            min_eta_deg=scan.min_eta_deg, wedge_deg=scan.wedge_deg, wedge_model=wedge, displacement=displacement,
            omega_windows_deg=windows, boxes_um=boxes)
    from midas.geometry import ideal_to_pixel

    y_px, z_px = ideal_to_pixel(detector, raw["y_um"], raw["z_um"])
    frame = scan.frame_of(raw["omega_deg"])
    keep = (frame >= 0) & (frame < scan.n_frames)
    if on_detector:
        n_y, n_z = detector.n_pixels
        keep &= (y_px >= 0) & (y_px < n_y) & (z_px >= 0) & (z_px < n_z)
    gi = raw["grain_index"].astype(np.int64)
    table = SpotTable(grain_index=gi, grain_id=grain_id[gi], hkl_row=raw["hkl_row"],
                      hkl=hkl_all[raw["hkl_row"]].astype(np.int32), ring_nr=raw["ring_nr"],
                      omega_solution=raw["omega_solution"], solution_nr=raw["solution_nr"],
                      omega_deg=raw["omega_deg"], omega_raw_deg=raw["omega_raw_deg"], eta_deg=raw["eta_deg"],
                      tth_deg=raw["tth_deg"], y0_um=raw["y0_um"], z0_um=raw["z0_um"], y_um=raw["y_um"],
                      z_um=raw["z_um"], y_px=y_px, z_px=z_px, frame=frame)
    return table.select(keep)
