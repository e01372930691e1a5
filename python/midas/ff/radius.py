"""Ring assignment, grain volume and grain radius of merged spots (upstream ``CalcRadiusAllZarr``).

Each merged spot is given to every ring of ``RingThresh`` whose ideal radius ``Lsd·tan 2θ`` lies
within ``Width`` of the spot's (uncorrected) radius; a spot near two rings appears once per ring.
When the peak search grew regions past the ring bands (our default, see
:class:`midas.ff.peaksearch.PeakSearchConfig`), a spot's centre is unbiased and may lie beyond
``Width`` while its flank still crossed the band; upstream would have found it there, cut at the
band edge, with its centre pulled inside. Such a spot, within ``Width`` of no ring,
is given to its nearest ring when ``|R − R_ring| < Width + σ_R·√(2·ln(IMax / RingThresh))`` (σ_R in
µm): the distance at which its profile falls to the ring's threshold. Spots that pass upstream's
test are assigned exactly as upstream assigns them.
The spot's grain volume follows from its intensity relative to the ring's powder intensity:

    PowderIntensity_ring = Σ IntegratedIntensity of the ring's spots / n_frames
    Δω = |step| + MaxOme − MinOme,   NImgs = Δω / |step|,   θ = ½·atan(R·px / Lsd)
    Δθ = asin(sin θ·cos Δω + cos θ·|sin η|·sin Δω) − θ
    V = ½·m_hkl·Δθ·cos θ·V_gauge·I / (NImgs·PowderIntensity),   r = (3V/4π)^{1/3}

with ``m_hkl`` the number of reflections of the ring and ``V_gauge`` = ``Vsample`` (or
``Hbeam·π·Rsample²``; ``DiscArea`` with ``DiscModel 1``, where r = √(V/π)). upstream_facts.md §4.3,
§3.6.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError
from midas.ff.merge import MergedSpots

__all__ = ["RADIUS_COLUMNS", "RingSpots", "RadiusSettings", "calc_radius"]

log = logging.getLogger(__name__)

#: Columns of upstream's ``Radius_StartNr_<s>_EndNr_<e>.csv`` (24).
RADIUS_COLUMNS: tuple[str, ...] = (
    "SpotID", "IntegratedIntensity", "Omega", "YCen", "ZCen", "IMax", "MinOme", "MaxOme", "Radius", "Theta",
    "Eta", "DeltaOmega", "NImgs", "RingNr", "GrainVolume", "GrainRadius", "PowderIntensity", "SigmaR", "SigmaEta",
    "NrPx", "NrPxTot", "RawSumIntensity", "maskTouched", "FitRMSE",
)
_C = {name: i for i, name in enumerate(RADIUS_COLUMNS)}


@dataclass(frozen=True, slots=True)
class RadiusSettings:
    """What CalcRadius needs.

    Attributes
    ----------
    ring_numbers : tuple of int
        Rings considered (``RingThresh`` order).
    ring_radius_um : tuple of float
        Ideal ring radius ``Lsd·tan 2θ`` of each, µm.
    ring_multiplicity : tuple of int
        Reflections (hkls.csv rows) of each ring.
    width_um : float
        ``Width``: largest |spot radius − ring radius|, µm.
    pixel_size_um : float
        ``px``.
    lsd_um : float
        ``Lsd``.
    omega_step_deg : float
        ``OmegaStep`` (its magnitude is one frame of ω).
    n_frames : int
        Frames of the scan (the powder intensity is per frame).
    gauge_volume_um3 : float
        ``Vsample``, or ``Hbeam·π·Rsample²`` when Vsample is 0/absent, or ``DiscArea`` with
        ``DiscModel 1``.
    disc_model : bool
        ``DiscModel 1``: grain radius √(V/π) instead of (3V/4π)^{1/3}.
    ring_threshold : tuple of float
        ``RingThresh`` threshold (counts above dark) of each ring; empty = unknown.
    grown_regions : bool
        The peak search grew regions past the ring bands and fitted whole spots (the default
        of :class:`midas.ff.peaksearch.PeakSearchConfig`, not with ``DoFullImage``). A spot is
        then kept for a ring when the part of it above the ring's threshold reached the band,
        not only when its centre lies within ``Width`` (see :func:`calc_radius`).
    """

    ring_numbers: tuple[int, ...]
    ring_radius_um: tuple[float, ...]
    ring_multiplicity: tuple[int, ...]
    width_um: float
    pixel_size_um: float
    lsd_um: float
    omega_step_deg: float
    n_frames: int
    gauge_volume_um3: float
    disc_model: bool = False
    ring_threshold: tuple[float, ...] = ()
    grown_regions: bool = False

    @classmethod
    def from_params(cls, p: Mapping[str, object] | object, *, n_frames: int,
                    hkl_table: object | None = None) -> RadiusSettings:
        """Build from MIDAS parameters (``RingThresh``, ``Width``, ``px``, ``Lsd``, ``OmegaStep``,
        ``Vsample``/``Hbeam``/``Rsample``/``DiscModel``/``DiscArea`` and the hkl keys).

        Raises
        ------
        ParamError
            A key is missing, or a RingThresh ring is not in the hkl list.
        """
        from midas.crystal.hkl import hkl_table_from_params
        from midas.ff.peaksearch import _get, _last

        table = hkl_table if hkl_table is not None else hkl_table_from_params(p)
        ring_thresh = [(int(r), float(t)) for r, t in _get(p, "RingThresh", [])]
        rings = [r for r, _t in ring_thresh]
        if not rings:
            raise ParamError("CalcRadius needs RingThresh lines (the rings spots are assigned to)")
        nr = np.asarray(table.ring_nr)  # type: ignore[attr-defined]
        rad = np.asarray(table.radius_um)  # type: ignore[attr-defined]
        radii, mult = [], []
        for r in rings:
            rows = np.flatnonzero(nr == r)
            if rows.size == 0:
                raise ParamError(f"RingThresh ring {r} is not among the rings of the hkl list (1..{int(nr.max())})")
            radii.append(float(rad[rows[0]]))
            mult.append(int(rows.size))
        vsample = float(_last(_get(p, "Vsample", 0.0)) or 0.0)
        disc = bool(int(_last(_get(p, "DiscModel", 0)) or 0))
        if disc:
            gauge = float(_last(_get(p, "DiscArea", 0.0)))
        elif vsample != 0.0:
            gauge = vsample
        else:
            gauge = float(_last(_get(p, "Hbeam", 0.0))) * math.pi * float(_last(_get(p, "Rsample", 0.0))) ** 2
        step = _last(_get(p, "OmegaStep", None))
        if step is None:
            raise ParamError("CalcRadius needs OmegaStep")
        return cls(ring_numbers=tuple(rings), ring_radius_um=tuple(radii), ring_multiplicity=tuple(mult),
                   width_um=float(_last(_get(p, "Width", 1500.0))), pixel_size_um=float(_last(_get(p, "px", 0.0))),
                   lsd_um=float(_last(_get(p, "Lsd", 0.0))), omega_step_deg=float(step), n_frames=int(n_frames),
                   gauge_volume_um3=gauge, disc_model=disc, ring_threshold=tuple(t for _r, t in ring_thresh),
                   grown_regions=not bool(int(_last(_get(p, "DoFullImage", 0)) or 0)))


@dataclass(frozen=True, slots=True)
class RingSpots:
    """Merged spots with their ring, θ, ω width and grain size (one row per spot and ring).

    Attributes
    ----------
    rows : (S, 24) float64
        Columns :data:`RADIUS_COLUMNS`; SpotID = row + 1.
    merged_index : (S,) int64
        Row of each spot in ``merged.rows``.
    merged : MergedSpots
        The spots these rows come from.
    settings : RadiusSettings
    """

    rows: NDArray[np.float64]
    merged_index: NDArray[np.int64]
    merged: MergedSpots
    settings: RadiusSettings

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def column(self, name: str) -> NDArray[np.float64]:
        """One column by its upstream name (see :data:`RADIUS_COLUMNS`)."""
        try:
            return self.rows[:, _C[name]]
        except KeyError:
            raise ParamError(f"no Radius column {name!r}; columns are {RADIUS_COLUMNS}") from None


def _band_reach_um(m: NDArray[np.float64], rc: Mapping[str, int], s: RadiusSettings) -> NDArray[np.float64]:
    """How far (µm) beyond its centre each spot stays above each ring's threshold: (M, n_rings).

    Zero unless the peak search grew regions past the bands. For a spot of radial width σ_R
    (px) and peak height IMax, the Gaussian profile falls to the threshold t at
    σ_R·√(2·ln(IMax/t)) from the centre; a spot whose centre lies that much beyond ``Width``
    still had pixels inside the band, which is where upstream's band-limited search would have
    found (and cut) it.
    """
    n_rings = len(s.ring_radius_um)
    if not s.grown_regions or len(s.ring_threshold) != n_rings:
        return np.zeros((m.shape[0], n_rings))
    thr = np.maximum(np.asarray(s.ring_threshold, dtype=np.float64), 1e-12)
    imax = np.maximum(m[:, rc["IMax"]], 0.0)
    with np.errstate(divide="ignore"):
        ratio = np.log(np.maximum(imax[:, None] / thr[None, :], 1.0))
    sigma_um = np.abs(m[:, rc["SigmaR"]]) * s.pixel_size_um
    return sigma_um[:, None] * np.sqrt(2.0 * ratio)


def calc_radius(merged: MergedSpots, settings: RadiusSettings) -> RingSpots:
    """Assign merged spots to rings and compute their grain volume and radius.

    Parameters
    ----------
    merged : MergedSpots
    settings : RadiusSettings

    Returns
    -------
    RingSpots
        Spots in merged order; a spot within ``Width`` of several rings appears once per ring, in
        ``ring_numbers`` order. Spots near no ring are left out.

    Raises
    ------
    ParamError
        For a non-positive pixel size, distance, step or frame count.

    Notes
    -----
    See the module docstring for the equations (upstream ``CalcRadiusAllZarr.c``).
    """
    s = settings
    for name in ("pixel_size_um", "lsd_um"):
        if not getattr(s, name) > 0:
            raise ParamError(f"calc_radius: {name} = {getattr(s, name)}, expected > 0")
    if s.omega_step_deg == 0 or s.n_frames <= 0:
        raise ParamError(f"calc_radius: OmegaStep = {s.omega_step_deg}, n_frames = {s.n_frames}; expected a "
                         f"non-zero step and at least one frame")
    m = merged.rows
    from midas.ff.merge import RESULT_COLUMNS

    rc = {name: i for i, name in enumerate(RESULT_COLUMNS)}
    r_um = m[:, rc["Radius"]] * s.pixel_size_um
    ring_r = np.asarray(s.ring_radius_um)
    dist = np.abs(r_um[:, None] - ring_r[None, :])  # (M, n_rings)
    hit = dist < s.width_um
    # a whole (grown) spot near no ring by its centre: its nearest ring, if its flank reached that band
    lone = np.flatnonzero(~hit.any(axis=1))
    if lone.size and ring_r.size:
        nearest = np.argmin(dist[lone], axis=1)
        reach = _band_reach_um(m[lone], rc, s)[np.arange(lone.size), nearest]
        ok = dist[lone, nearest] < s.width_um + reach
        hit[lone[ok], nearest[ok]] = True
    spot_idx, ring_idx = np.nonzero(hit)  # row-major: spot order, then ring order
    n = spot_idx.size
    out = np.zeros((n, len(RADIUS_COLUMNS)))
    src = m[spot_idx]
    step = abs(s.omega_step_deg)
    theta = 0.5 * np.degrees(np.arctan(src[:, rc["Radius"]] * s.pixel_size_um / s.lsd_um))
    d_ome = step + src[:, rc["MaxOme"]] - src[:, rc["MinOme"]]
    n_img = d_ome / step
    intensity = src[:, rc["IntegratedIntensity"]]
    powder = np.bincount(ring_idx, weights=intensity, minlength=ring_r.size) / s.n_frames
    eta = src[:, rc["Eta"]]
    th, dw = np.radians(theta), np.radians(d_ome)
    arg = np.sin(th) * np.cos(dw) + np.cos(th) * np.abs(np.sin(np.radians(eta))) * np.sin(dw)
    d_theta = np.arcsin(np.clip(arg, -1.0, 1.0)) - th
    mult = np.asarray(s.ring_multiplicity, dtype=np.float64)[ring_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        vol = 0.5 * mult * d_theta * np.cos(th) * s.gauge_volume_um3 * intensity / (n_img * powder[ring_idx])
    rad = np.sqrt(vol / np.pi) if s.disc_model else np.cbrt(3.0 * vol / (4.0 * np.pi))
    out[:, _C["SpotID"]] = np.arange(1, n + 1)
    for name in ("IntegratedIntensity", "Omega", "YCen", "ZCen", "IMax", "MinOme", "MaxOme", "Radius", "Eta",
                 "SigmaR", "SigmaEta", "NrPx", "NrPxTot", "RawSumIntensity", "maskTouched", "FitRMSE"):
        out[:, _C[name]] = src[:, rc[name]]
    out[:, _C["Theta"]] = theta
    out[:, _C["DeltaOmega"]] = d_ome
    out[:, _C["NImgs"]] = n_img
    out[:, _C["RingNr"]] = np.asarray(s.ring_numbers, dtype=np.float64)[ring_idx]
    out[:, _C["GrainVolume"]] = vol
    out[:, _C["GrainRadius"]] = rad
    out[:, _C["PowderIntensity"]] = powder[ring_idx]
    n_none = int((~hit.any(axis=1)).sum())
    if n_none:
        log.info("calc_radius: %d of %d merged spots lie farther than Width = %g µm from every ring and are left out",
                 n_none, m.shape[0], s.width_um)
    return RingSpots(rows=out, merged_index=spot_idx.astype(np.int64), merged=merged, settings=s)

