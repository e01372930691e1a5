"""Spot set-up for indexing (upstream ``FitSetupZarr`` / ``FitSetupParamsAllZarr.c``).

From the ring-assigned spots: drop spots spanning more than ``MaxNFrames`` frames, correct ω for
the rolling read-out (``tInt``/``tGap``), renumber the spots ring by ring (rings in increasing
number) and by ω within a ring, map every spot centre through the detector model (tilts,
distortion) to ideal lab coordinates, remove the rotation-axis wedge, and keep the spots with
``MinEta < |η| < 180 − MinEta`` that fall inside one of the (``OmegaRange``, ``BoxSize``) windows
(ω inclusive, y/z strict). Seeds for indexing (``SpotsToIndex``) are the kept spots of
``OverAllRingToIndex`` with ``MinOmeSpotIDsToIndex ≤ ω ≤ MaxOmeSpotIDsToIndex``.
upstream_facts.md §4.4, §3.7, §2.5.

Every geometric step uses :mod:`midas.geometry` (``pixel_to_ideal``, ``timing_corrected_omega``,
``correct_wedge``); nothing is re-derived here. The optional ``DoFit`` refinement of Lsd, beam
centre, ty and tz against the ring radii is not implemented (see ``docs/conventions_ff_front.md``).

The result, :class:`FitSetupResult`, is what indexing and refinement read (issue #7): the
``InputAll`` table (one row per spot, row i ↔ SpotID i+1, rejected spots as zero rows), the
18-column refinement table, the seed IDs, the ring ranges of the IDs and the parameters of
``paramstest.txt``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError
from midas.ff.radius import RADIUS_COLUMNS, RingSpots

__all__ = ["INPUT_ALL_COLUMNS", "EXTRA_INFO_COLUMNS", "FitSetupSettings", "FitSetupResult", "fit_setup"]

log = logging.getLogger(__name__)

#: Columns of ``InputAll.csv`` (8): corrected lab y/z (µm), ω (deg), grain radius (µm), SpotID,
#: ring, η (deg), 2θ (deg).
INPUT_ALL_COLUMNS: tuple[str, ...] = ("YLab", "ZLab", "Omega", "GrainRadius", "SpotID", "RingNumber", "Eta",
                                      "Ttheta")
#: What the 18 columns of ``InputAllExtraInfoFittingAll.csv`` really hold (upstream's header
#: mislabels 8-13): 8 ω after the timing correction, before the wedge; 9-10 ideal y/z (µm) before
#: the wedge; 11-12 detector pixel Y/Z; 13 ω after the timing correction (again); 14-17 intensity,
#: raw sum, maskTouched, fit RMSE.
EXTRA_INFO_COLUMNS: tuple[str, ...] = INPUT_ALL_COLUMNS + (
    "OmegaIni", "YOrigDetCor", "ZOrigDetCor", "YRawPx", "ZRawPx", "OmegaDetCor", "IntegratedIntensity",
    "RawSumIntensity", "maskTouched", "FitRMSE")
_RC = {name: i for i, name in enumerate(RADIUS_COLUMNS)}
_PARAMSTEST_KEYS = ("LatticeParameter", "MaxRingRad", "SpaceGroup", "Wavelength", "Distance", "Rsample", "Hbeam",
                    "px", "BeamSize", "StepsizePos", "StepsizeOrient", "MarginRadius", "OmeBinSize", "EtaBinSize",
                    "ExcludePoleAngle", "UseFriedelPairs", "MarginEta", "MarginOme", "MargABC", "MargABG",
                    "MarginRadial", "MinMatchesToAcceptFrac")


@dataclass(frozen=True, slots=True)
class FitSetupSettings:
    """FitSetup parameters (MIDAS keys in brackets).

    Attributes
    ----------
    detector : FFDetector
        Geometry (Lsd, BC, px, tilts, distortion, RhoD, detector size).
    wavelength_A : float
        [Wavelength].
    wedge_deg : float
        [Wedge].
    omega_step_deg : float
        [OmegaStep], signed.
    t_int_s, t_gap_s : float
        [tInt], [tGap] (defaults 1 and 0: no timing correction).
    max_n_frames : int
        [MaxNFrames]: spots spanning more frames are dropped (default 100000).
    min_eta_deg : float
        [MinEta].
    omega_ranges_deg : tuple of (lo, hi)
        [OmegaRange], paired with ``box_sizes_um``.
    box_sizes_um : tuple of (y_min, y_max, z_min, z_max)
        [BoxSize].
    ring_to_index : int or None
        [OverAllRingToIndex].
    seed_omega_min_deg, seed_omega_max_deg : float
        [MinOmeSpotIDsToIndex], [MaxOmeSpotIDsToIndex] (defaults −180, 180).
    ring_d_A : mapping ring → d-spacing (Å)
    ring_radius_um : mapping ring → ideal radius (µm)
    indexer_keys : dict
        Values copied into ``paramstest.txt`` (lattice, space group, margins, bin sizes, ...).
    """

    detector: Any
    wavelength_A: float
    wedge_deg: float
    omega_step_deg: float
    t_int_s: float = 1.0
    t_gap_s: float = 0.0
    max_n_frames: int = 100000
    min_eta_deg: float = 0.0
    omega_ranges_deg: tuple[tuple[float, float], ...] = ((-180.0, 180.0),)
    box_sizes_um: tuple[tuple[float, float, float, float], ...] = ((-1e9, 1e9, -1e9, 1e9),)
    ring_to_index: int | None = None
    seed_omega_min_deg: float = -180.0
    seed_omega_max_deg: float = 180.0
    ring_d_A: Mapping[int, float] = field(default_factory=dict)
    ring_radius_um: Mapping[int, float] = field(default_factory=dict)
    indexer_keys: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.omega_ranges_deg) != len(self.box_sizes_um):
            raise ParamError(f"{len(self.omega_ranges_deg)} OmegaRange lines but {len(self.box_sizes_um)} BoxSize "
                             f"lines: upstream pairs them one to one")
        if self.t_int_s < 0 or self.t_gap_s < 0 or self.t_int_s + self.t_gap_s <= 0:
            raise ParamError(f"tInt = {self.t_int_s}, tGap = {self.t_gap_s}: expected times >= 0 with a positive sum")

    @classmethod
    def from_params(cls, p: Any, *, hkl_table: Any | None = None) -> FitSetupSettings:
        """Build from a :class:`midas.params.MidasParams` (a plain mapping is converted).

        Raises
        ------
        ParamError
            Missing or inconsistent keys.
        """
        from midas.crystal.hkl import hkl_table_from_params
        from midas.geometry.ff import FFDetector
        from midas.params import FFParams, MidasParams

        if not isinstance(p, MidasParams):
            p = MidasParams.from_mapping(dict(p))
        ff = FFParams.from_params(p)
        table = hkl_table if hkl_table is not None else hkl_table_from_params(p)
        rings = np.asarray(table.ring_numbers)
        ring_d = {int(r): float(d) for r, d in zip(rings, table.ring_d_A, strict=True)}
        ring_r = {int(r): float(x) for r, x in zip(rings, table.ring_radius_um, strict=True)}
        ranges = ff.omega_ranges_deg or ((-180.0, 180.0),)
        boxes = ff.box_sizes_um or ((-1e9, 1e9, -1e9, 1e9),) * len(ranges)

        def opt(key: str, default: Any) -> Any:
            v = p.get(key, None)
            return default if v is None else v

        keys = {
            "LatticeParameter": tuple(ff.lattice), "MaxRingRad": ff.rho_d_um, "SpaceGroup": ff.space_group,
            "Wavelength": ff.wavelength_A, "Distance": ff.lsd_um, "Rsample": ff.rsample_um or 0.0,
            "Hbeam": ff.hbeam_um or 0.0, "px": ff.pixel_size_um,
            "BeamSize": float(opt("BeamSize", opt("BeamThickness", 0.0))),
            "StepsizePos": ff.step_size_pos_um if ff.step_size_pos_um is not None else 5.0,
            "StepsizeOrient": ff.step_size_orient_deg if ff.step_size_orient_deg is not None else 0.2,
            "MarginRadius": ff.margin_radius_um if ff.margin_radius_um is not None else 500.0,
            "OmeBinSize": ff.ome_bin_size_deg if ff.ome_bin_size_deg is not None else 0.1,
            "EtaBinSize": ff.eta_bin_size_deg if ff.eta_bin_size_deg is not None else 0.1,
            "ExcludePoleAngle": ff.min_eta_deg, "UseFriedelPairs": int(ff.use_friedel_pairs),
            "MarginEta": ff.margin_eta_um if ff.margin_eta_um is not None else 500.0,
            "MarginOme": ff.margin_ome_deg if ff.margin_ome_deg is not None else 0.5,
            "MargABC": ff.marg_abc_pct, "MargABG": ff.marg_abg_pct,
            "MarginRadial": ff.margin_radial_um if ff.margin_radial_um is not None else 500.0,
            "MinMatchesToAcceptFrac": ff.completeness if ff.completeness is not None else 0.0,
            "p": ff.distortion, "tx": ff.tx_deg,
        }
        return cls(
            detector=FFDetector.from_params(p),
            wavelength_A=ff.wavelength_A,
            wedge_deg=ff.wedge_deg,
            omega_step_deg=ff.omega_step_deg,
            t_int_s=ff.t_int_s if ff.t_int_s is not None else 1.0,
            t_gap_s=ff.t_gap_s if ff.t_gap_s is not None else 0.0,
            max_n_frames=int(opt("MaxNFrames", 100000)),
            min_eta_deg=ff.min_eta_deg,
            omega_ranges_deg=tuple((float(a), float(b)) for a, b in ranges),
            box_sizes_um=tuple(tuple(float(v) for v in b) for b in boxes),  # type: ignore[misc]
            ring_to_index=ff.overall_ring_to_index,
            seed_omega_min_deg=ff.seed_omega_min_deg if ff.seed_omega_min_deg is not None else -180.0,
            seed_omega_max_deg=ff.seed_omega_max_deg if ff.seed_omega_max_deg is not None else 180.0,
            ring_d_A=ring_d,
            ring_radius_um=ring_r,
            indexer_keys=keys,
        )


@dataclass(frozen=True, slots=True)
class FitSetupResult:
    """Spots ready for indexing: the in-memory form of FitSetup's files.

    Attributes
    ----------
    input_all : (N, 8) float64
        ``InputAll.csv``: columns :data:`INPUT_ALL_COLUMNS`; row i is SpotID i + 1; rejected
        spots are zero rows except the SpotID.
    extra_info : (N, 18) float64
        ``InputAllExtraInfoFittingAll.csv``: columns :data:`EXTRA_INFO_COLUMNS`.
    kept : (N,) bool
        False for the rejected (zero) rows.
    spots_to_index : (K,) int64
        SpotIDs (1-based) of the indexing seeds (``SpotsToIndex.csv``).
    id_rings : (N, 3) int64
        ``IDRings.csv``: ring, SpotID in the ring-spot table (:class:`RingSpots`), new SpotID.
    ids_hash : (R, 4) float64
        ``IDsHash.csv``: ring, first SpotID, one past the last SpotID, d-spacing (Å).
    ring_numbers : tuple of int
        Rings present among the kept spots (first-appearance order, as ``paramstest.txt``).
    ring_radius_um : tuple of float
        Ideal radius of each of ``ring_numbers``.
    settings : FitSetupSettings
    source_index : (N,) int64
        Row of each spot in ``ring_spots.rows``.
    ring_spots : RingSpots
    """

    input_all: NDArray[np.float64]
    extra_info: NDArray[np.float64]
    kept: NDArray[np.bool_]
    spots_to_index: NDArray[np.int64]
    id_rings: NDArray[np.int64]
    ids_hash: NDArray[np.float64]
    ring_numbers: tuple[int, ...]
    ring_radius_um: tuple[float, ...]
    settings: FitSetupSettings
    source_index: NDArray[np.int64]
    ring_spots: RingSpots

    def __len__(self) -> int:
        return int(self.input_all.shape[0])

    def paramstest(self) -> dict[str, Any]:
        """The parameters upstream writes to ``paramstest.txt`` (indexer and refiner input).

        Keys in upstream's order; repeated keys (RingNumbers, RingRadii, OmegaRange, BoxSize) map
        to lists. Geometry is the one used here (no DoFit): ``LsdFit``, ``YBCFit``, ... equal the input.

        Raises
        ------
        ParamError
            When the settings were built without the indexer keys (not through ``from_params``).
        """
        s = self.settings
        k = dict(s.indexer_keys)
        det = s.detector
        missing = [key for key in _PARAMSTEST_KEYS if key not in k]
        if missing:
            raise ParamError(f"paramstest: the FitSetup settings lack {missing} (build them with "
                             f"FitSetupSettings.from_params)")
        out: dict[str, Any] = {key: k[key] for key in (
            "LatticeParameter", "MaxRingRad", "SpaceGroup", "Wavelength", "Distance", "Rsample", "Hbeam", "px",
            "BeamSize", "StepsizePos", "StepsizeOrient", "MarginRadius", "OmeBinSize", "EtaBinSize",
            "ExcludePoleAngle")}
        out["RingNumbers"] = list(self.ring_numbers)
        out["RingRadii"] = list(self.ring_radius_um)
        out["UseFriedelPairs"] = k["UseFriedelPairs"]
        out["Wedge"] = s.wedge_deg
        out["OmegaRange"] = [tuple(r) for r in s.omega_ranges_deg]
        out["BoxSize"] = [tuple(b) for b in s.box_sizes_um]
        for key in ("MarginEta", "MarginOme", "MargABC", "MargABG", "MarginRadial", "MinMatchesToAcceptFrac"):
            out[key] = k[key]
        out.update({"SpotsFileName": "InputAll.csv", "RefinementFileName": "InputAllExtraInfoFittingAll.csv",
                    "OutputFolder": "Output", "ResultFolder": "Results", "IDsFileName": "SpotsToIndex.csv",
                    "LsdFit": det.lsd_um, "YBCFit": det.bc_px[0], "ZBCFit": det.bc_px[1], "txFit": det.tx_deg,
                    "tyFit": det.ty_deg, "tzFit": det.tz_deg})
        for i, v in enumerate(det.distortion):
            out[f"p{i}"] = v
        out["RhoD"] = det.rho_d_um
        return out


def fit_setup(ring_spots: RingSpots, settings: FitSetupSettings) -> FitSetupResult:
    """Prepare ring-assigned spots for indexing (see the module docstring).

    Parameters
    ----------
    ring_spots : RingSpots
        Output of :func:`midas.ff.radius.calc_radius`.
    settings : FitSetupSettings

    Returns
    -------
    FitSetupResult

    Raises
    ------
    ParamError
        A spot's ring has no d-spacing/radius in ``settings``.

    Notes
    -----
    ω after the timing correction is wrapped into (−180, 180]. Upstream keeps the observed η when
    it removes the wedge; here η is the wedge-free azimuth from :func:`midas.geometry.omega.correct_wedge`
    (they differ by about W·sin θ; identical for ``Wedge 0``). ``docs/conventions_ff_front.md``.
    """
    from midas.geometry.ff import pixel_to_ideal
    from midas.geometry.omega import correct_wedge, timing_corrected_omega

    s = settings
    r = ring_spots.rows
    keep_frames = r[:, _RC["NImgs"]] <= s.max_n_frames
    if not keep_frames.all():
        log.info("fit_setup: %d spots span more than MaxNFrames = %d frames and are dropped",
                 int((~keep_frames).sum()), s.max_n_frames)
    src = np.flatnonzero(keep_frames)
    n_z = s.detector.n_pixels[1]
    omega = timing_corrected_omega(r[src, _RC["Omega"]], r[src, _RC["ZCen"]], n_z=n_z,
                                   omega_step_deg=s.omega_step_deg, t_int_s=s.t_int_s, t_gap_s=s.t_gap_s)
    ring = r[src, _RC["RingNr"]].astype(np.int64)
    # Renumber: rings in increasing number, ω ascending within a ring (stable on the old order).
    order = np.lexsort((np.arange(src.size), omega, ring))
    src, omega, ring = src[order], omega[order], ring[order]
    n = src.size
    new_id = np.arange(1, n + 1, dtype=np.int64)
    missing = sorted(set(ring.tolist()) - set(s.ring_d_A))
    if missing:
        raise ParamError(f"fit_setup: rings {missing} have no d-spacing in the hkl list")

    y_px, z_px = r[src, _RC["YCen"]], r[src, _RC["ZCen"]]
    ideal = pixel_to_ideal(s.detector, y_px, z_px)
    if s.wedge_deg != 0.0:
        omega_w, eta_w = correct_wedge(ideal.eta_deg, ideal.tth_deg, omega, s.wedge_deg)
    else:
        omega_w, eta_w = omega.copy(), ideal.eta_deg.copy()
    e = np.radians(eta_w)
    y_w, z_w = -ideal.r_um * np.sin(e), ideal.r_um * np.cos(e)
    tth = ideal.tth_deg

    abs_eta = np.abs(eta_w)
    ok_eta = (abs_eta > s.min_eta_deg) & (abs_eta < 180.0 - s.min_eta_deg)
    in_window = np.zeros(n, dtype=bool)
    for (lo, hi), (y0, y1, z0, z1) in zip(s.omega_ranges_deg, s.box_sizes_um, strict=True):
        in_window |= (omega_w >= lo) & (omega_w <= hi) & (y_w > y0) & (y_w < y1) & (z_w > z0) & (z_w < z1)
    kept = ok_eta & in_window & np.isfinite(y_w) & np.isfinite(omega_w)

    grain_r = r[src, _RC["GrainRadius"]]
    input_all = np.zeros((n, len(INPUT_ALL_COLUMNS)))
    input_all[:, 4] = new_id
    cols = np.stack([y_w, z_w, omega_w, grain_r, new_id.astype(np.float64), ring.astype(np.float64), eta_w, tth],
                    axis=1)
    input_all[kept] = cols[kept]
    extra = np.zeros((n, len(EXTRA_INFO_COLUMNS)))
    extra[:, 4] = new_id
    ext = np.concatenate([cols, np.stack([omega, ideal.y_um, ideal.z_um, y_px, z_px, omega,
                                          r[src, _RC["IntegratedIntensity"]], r[src, _RC["RawSumIntensity"]],
                                          r[src, _RC["maskTouched"]], r[src, _RC["FitRMSE"]]], axis=1)], axis=1)
    extra[kept] = ext[kept]

    seeds = np.zeros(0, dtype=np.int64)
    if s.ring_to_index is not None:
        sel = kept & (ring == s.ring_to_index) & (omega_w >= s.seed_omega_min_deg) & (omega_w <= s.seed_omega_max_deg)
        seeds = new_id[sel]
    present: list[int] = []
    for rr in ring[kept].tolist():
        if rr not in present:
            present.append(rr)
    hash_rows = []
    for rr in sorted(set(ring.tolist())):
        idx = np.flatnonzero(ring == rr)
        hash_rows.append((rr, idx[0] + 1, idx[-1] + 2, s.ring_d_A[rr]))
    id_rings = np.stack([ring, r[src, _RC["SpotID"]].astype(np.int64), new_id], axis=1) if n else \
        np.zeros((0, 3), np.int64)
    log.info("fit_setup: %d spots, %d kept, %d rejected (η or ω/box windows), %d indexing seeds", n,
             int(kept.sum()), int((~kept).sum()), seeds.size)
    return FitSetupResult(
        input_all=input_all, extra_info=extra, kept=kept, spots_to_index=seeds, id_rings=id_rings,
        ids_hash=np.asarray(hash_rows, dtype=np.float64).reshape(-1, 4), ring_numbers=tuple(present),
        ring_radius_um=tuple(s.ring_radius_um[rr] for rr in present), settings=s,
        source_index=src.astype(np.int64), ring_spots=ring_spots)

