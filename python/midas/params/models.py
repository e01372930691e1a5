"""Typed views of a parameter set for each workflow: FF, NF, calibration, integration.

Each view is a frozen, slotted dataclass with unit-suffixed fields (``docs/style.md`` §1
glossary) built by ``from_params(p)`` from a :class:`~midas.params.MidasParams`. A view holds
the values its workflow needs, not every key; the parameter set stays the complete record.
Missing required keys raise :class:`~midas.errors.ParamError` naming the key and the file.
Frames and signs of the geometry values are defined in ``docs/conventions.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from midas.errors import ParamError
from midas.params.midas_params import MidasParams, MissingKeyError

__all__ = ["CalibrationParams", "FFParams", "IntegrationParams", "NFParams"]

_T = TypeVar("_T", bound="_DictMixin")

Pair = tuple[float, float]
Box = tuple[float, float, float, float]
Lattice6 = tuple[float, float, float, float, float, float]


def _tuplify(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(_tuplify(x) for x in v)
    return v


class _DictMixin:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Field name → value (tuples kept), suitable for :meth:`from_dict` and JSON."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[_T], d: Mapping[str, Any]) -> _T:
        """Inverse of :meth:`to_dict` (lists are turned back into tuples).

        Raises
        ------
        TypeError
            A field is missing or unknown.
        """
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        extra = set(d) - names
        if extra:
            raise TypeError(f"{cls.__name__}.from_dict: unknown fields {sorted(extra)}")
        return cls(**{k: _tuplify(v) for k, v in d.items()})


# ---- helpers shared by the views ----------------------------------------------------------

def _lattice(p: MidasParams) -> Lattice6:
    v = p.require("LatticeConstant")
    if not isinstance(v, tuple) or len(v) != 6:
        raise ParamError(
            f"{p.where('LatticeConstant')}: LatticeConstant has {len(v) if isinstance(v, tuple) else 1} "
            "value(s); need a b c alpha beta gamma (Å, deg)"
        )
    return tuple(float(x) for x in v)  # type: ignore[return-value]


def _single(p: MidasParams, key: str) -> Any:
    v = p.require(key)
    if isinstance(v, list):
        raise ParamError(
            f"{p.where(key)}: {key} has {len(v)} per-distance values (nDistances "
            f"{p.get('nDistances')}); this workflow needs a single {key}"
        )
    return v


def _n_pixels(p: MidasParams) -> tuple[int, int]:
    y, z = p.get("NrPixelsY"), p.get("NrPixelsZ")
    if y is None or z is None:
        raise MissingKeyError(
            f"{p.where()}: detector size missing: give NrPixels, or NrPixelsY and NrPixelsZ"
        )
    return int(y), int(z)


def _distortion(p: MidasParams) -> tuple[float, ...]:
    return tuple(float(p.get(f"p{k}")) for k in range(15))


def _opt_float(p: MidasParams, key: str) -> float | None:
    v = p.get(key)
    return None if v is None else float(v)


def _opt_int(p: MidasParams, key: str) -> int | None:
    v = p.get(key)
    return None if v is None else int(v)


def _pairs(p: MidasParams, key: str) -> tuple[Any, ...]:
    return tuple(p.get(key))


def _crystal(p: MidasParams) -> dict[str, Any]:
    return {
        "lattice": _lattice(p),
        "space_group": int(p.get("SpaceGroup")),
        "wavelength_A": float(p.require("Wavelength")),
    }


def _tilts(p: MidasParams) -> dict[str, Any]:
    return {"tx_deg": float(p.get("tx")), "ty_deg": float(p.get("ty")), "tz_deg": float(p.get("tz"))}


def _scan(p: MidasParams) -> dict[str, Any]:
    return {
        "omega_start_deg": float(p.require("OmegaStart")),
        "omega_step_deg": float(p.require("OmegaStep")),
        "omega_ranges_deg": _pairs(p, "OmegaRange"),
        "box_sizes_um": _pairs(p, "BoxSize"),
    }


def _detector(p: MidasParams) -> dict[str, Any]:
    """Single-distance detector geometry shared by the FF, calibration and integration views."""
    return {
        "lsd_um": float(_single(p, "Lsd")),
        "bc_px": _single(p, "BC"),
        **_tilts(p),
        "pixel_size_um": float(p.require("px")),
        "n_pixels": _n_pixels(p),
        "distortion": _distortion(p),
        "im_trans_opt": tuple(p.get("ImTransOpt")),
    }


# ---- views --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FFParams(_DictMixin):
    """Far-field HEDM settings (``Parameters.txt`` of ``ff_MIDAS.py``).

    Attributes
    ----------
    lattice : (6,) tuple of float
        a, b, c (Å), alpha, beta, gamma (deg). ``LatticeConstant``.
    space_group : int
        ITA number 1..230. ``SpaceGroup`` (default 225).
    wavelength_A : float
        ``Wavelength``.
    lsd_um : float
        Sample-to-detector distance. ``Lsd``.
    bc_px : (2,) tuple of float
        Beam centre (y, z) in pixels after ImTransOpt. ``BC``.
    pixel_size_um : float
        ``px``.
    n_pixels : (2,) tuple of int
        (n_y, n_z). ``NrPixelsY``/``NrPixelsZ`` (or ``NrPixels``).
    tx_deg, ty_deg, tz_deg : float
        Detector tilts (default 0).
    distortion : (15,) tuple of float
        p0..p14 (default 0; p3, p6, p8, p10, p12, p14 are phases in deg).
    rho_d_um : float
        Distortion normalising radius and ring cut-off. ``RhoD``/``MaxRingRad``.
    wedge_deg : float
        ``Wedge`` (default 0).
    im_trans_opt : tuple of int
        Image transforms applied in order. ``ImTransOpt`` lines.
    omega_start_deg, omega_step_deg : float
        ω of frame 0 and step per frame. ``OmegaStart``, ``OmegaStep``.
    omega_end_deg : float or None
        ``OmegaEnd``.
    omega_ranges_deg : tuple of (lo, hi)
        ``OmegaRange`` lines; paired index-wise with ``box_sizes_um``.
    box_sizes_um : tuple of (y_min, y_max, z_min, z_max)
        ``BoxSize`` lines.
    ring_thresholds : tuple of (ring_nr, threshold)
        ``RingThresh`` lines (threshold in counts above dark).
    rings_to_exclude : tuple of int
        ``RingsToExclude`` lines.
    min_eta_deg : float
        η excluded around the poles. ``MinEta``/``ExcludePoleAngle`` (default 0).
    width_um : float
        Radial half-width of ring bands. ``Width`` (default 1500).
    overall_ring_to_index : int or None
        ``OverAllRingToIndex``.
    completeness : float or None
        ``Completeness``/``MinMatchesToAcceptFrac``.
    min_nr_spots : int
        ``MinNrSpots`` (default 1).
    use_friedel_pairs : bool
        ``UseFriedelPairs`` (default off).
    step_size_orient_deg, step_size_pos_um : float or None
        ``StepSizeOrient``, ``StepSizePos``.
    seed_omega_min_deg, seed_omega_max_deg : float or None
        ``MinOmeSpotIDsToIndex``, ``MaxOmeSpotIDsToIndex``.
    margin_radial_um, margin_eta_um, margin_ome_deg, margin_radius_um : float or None
        Matching tolerances. ``MarginRadial``, ``MarginEta`` (arc length), ``MarginOme``,
        ``MarginRadius``.
    ome_bin_size_deg, eta_bin_size_deg : float or None
        Look-up-table bins. ``OmeBinSize``, ``EtaBinSize``.
    rsample_um, hbeam_um : float or None
        Search box. ``Rsample``, ``Hbeam``.
    marg_abc_pct, marg_abg_pct : float
        Refinement bounds. ``MargABC``, ``MargABG`` (default 0.3 %).
    upper_bound_threshold : float or None
        Saturation level (counts). ``UpperBoundThreshold``.
    t_int_s, t_gap_s : float or None
        Exposure and dead time per frame. ``tInt``, ``tGap``.
    """

    lattice: Lattice6
    space_group: int
    wavelength_A: float
    lsd_um: float
    bc_px: Pair
    pixel_size_um: float
    n_pixels: tuple[int, int]
    tx_deg: float
    ty_deg: float
    tz_deg: float
    distortion: tuple[float, ...]
    rho_d_um: float
    wedge_deg: float
    im_trans_opt: tuple[int, ...]
    omega_start_deg: float
    omega_step_deg: float
    omega_end_deg: float | None
    omega_ranges_deg: tuple[Pair, ...]
    box_sizes_um: tuple[Box, ...]
    ring_thresholds: tuple[tuple[int, float], ...]
    rings_to_exclude: tuple[int, ...]
    min_eta_deg: float
    width_um: float
    overall_ring_to_index: int | None
    completeness: float | None
    min_nr_spots: int
    use_friedel_pairs: bool
    step_size_orient_deg: float | None
    step_size_pos_um: float | None
    seed_omega_min_deg: float | None
    seed_omega_max_deg: float | None
    margin_radial_um: float | None
    margin_eta_um: float | None
    margin_ome_deg: float | None
    margin_radius_um: float | None
    ome_bin_size_deg: float | None
    eta_bin_size_deg: float | None
    rsample_um: float | None
    hbeam_um: float | None
    marg_abc_pct: float
    marg_abg_pct: float
    upper_bound_threshold: float | None
    t_int_s: float | None
    t_gap_s: float | None

    @classmethod
    def from_params(cls, p: MidasParams) -> FFParams:
        """Build from a parameter set.

        Raises
        ------
        ParamError
            A required key (``LatticeConstant``, ``Wavelength``, ``Lsd``, ``BC``, ``px``,
            ``NrPixels*``, ``RhoD``, ``OmegaStart``, ``OmegaStep``) is missing, the lattice is the
            legacy one-value form, or ``Lsd``/``BC`` are per-distance (NF) values.

        Examples
        --------
        >>> from midas.params import parse_text
        >>> p = parse_text("LatticeConstant 4.08 4.08 4.08 90 90 90\\nWavelength 0.22291\\n"
        ...                "Lsd 1e6\\nBC 1022 1022\\npx 200\\nNrPixels 2048\\nRhoD 204800\\n"
        ...                "OmegaStart 180\\nOmegaStep -0.25\\nRingThresh 1 10\\n")
        >>> ff = FFParams.from_params(p)
        >>> ff.lsd_um, ff.n_pixels, ff.ring_thresholds
        (1000000.0, (2048, 2048), ((1, 10.0),))
        """
        return cls(
            **_crystal(p),
            **_detector(p),
            rho_d_um=float(p.require("RhoD")),
            wedge_deg=float(p.get("Wedge")),
            **_scan(p),
            omega_end_deg=_opt_float(p, "OmegaEnd"),
            ring_thresholds=_pairs(p, "RingThresh"),
            rings_to_exclude=tuple(p.get("RingsToExclude")),
            min_eta_deg=float(p.get("MinEta", 0.0)),
            width_um=float(p.get("Width")),
            overall_ring_to_index=_opt_int(p, "OverAllRingToIndex"),
            completeness=_opt_float(p, "Completeness"),
            min_nr_spots=int(p.get("MinNrSpots")),
            use_friedel_pairs=bool(p.get("UseFriedelPairs", 0)),
            step_size_orient_deg=_opt_float(p, "StepSizeOrient"),
            step_size_pos_um=_opt_float(p, "StepSizePos"),
            seed_omega_min_deg=_opt_float(p, "MinOmeSpotIDsToIndex"),
            seed_omega_max_deg=_opt_float(p, "MaxOmeSpotIDsToIndex"),
            margin_radial_um=_opt_float(p, "MarginRadial"),
            margin_eta_um=_opt_float(p, "MarginEta"),
            margin_ome_deg=_opt_float(p, "MarginOme"),
            margin_radius_um=_opt_float(p, "MarginRadius"),
            ome_bin_size_deg=_opt_float(p, "OmeBinSize"),
            eta_bin_size_deg=_opt_float(p, "EtaBinSize"),
            rsample_um=_opt_float(p, "Rsample"),
            hbeam_um=_opt_float(p, "Hbeam"),
            marg_abc_pct=float(p.get("MargABC")),
            marg_abg_pct=float(p.get("MargABG")),
            upper_bound_threshold=_opt_float(p, "UpperBoundThreshold"),
            t_int_s=_opt_float(p, "tInt"),
            t_gap_s=_opt_float(p, "tGap"),
        )


@dataclass(frozen=True, slots=True)
class NFParams(_DictMixin):
    """Near-field HEDM settings (``ps_*.txt`` of ``nf_MIDAS.py``).

    Attributes
    ----------
    lattice : (6,) tuple of float
        a, b, c (Å), alpha, beta, gamma (deg). ``LatticeParameter``/``LatticeConstant``.
    space_group : int
        ``SpaceGroup`` (default 225).
    wavelength_A : float
        ``Wavelength``.
    n_distances : int
        ``nDistances`` (1 when absent and the file has one ``Lsd``).
    lsd_um : tuple of float, length n_distances
        One ``Lsd`` line per distance, in file order.
    bc_px : tuple of (y, z), length n_distances
        One ``BC`` line per distance (px).
    tx_deg, ty_deg, tz_deg, wedge_deg : float
        Tilts shared by all distances, rotation-axis wedge (default 0).
    pixel_size_um : float
        ``px``.
    n_pixels : (2,) tuple of int
        (n_y, n_z).
    rho_d_um : float
        Largest ring radius simulated. ``MaxRingRad``/``RhoD``.
    omega_start_deg, omega_step_deg : float
        ``OmegaStart``, ``OmegaStep``.
    omega_ranges_deg : tuple of (lo, hi)
        ``OmegaRange`` lines.
    box_sizes_um : tuple of (y_min, y_max, z_min, z_max)
        ``BoxSize`` lines (relative to the beam centre).
    start_nr, end_nr : int or None
        Frame numbers. ``StartNr``, ``EndNr``.
    nr_files_per_distance : int
        ``NrFilesPerDistance`` (default 1).
    wf_images : int
        Wide-field images per layer. ``WFImages`` (default 0).
    rsample_um, grid_size_um, edge_length_um : float or None
        Hex grid: ``Rsample``, ``GridSize``, ``EdgeLength`` (default ``GridSize``).
    grid_mask_um : (4,) tuple of float or None
        ``GridMask`` y_min y_max z_min z_max.
    min_eta_deg : float or None
        ``ExcludePoleAngle``/``MinEta``.
    min_frac_accept : float
        ``MinFracAccept`` (default 0.5).
    orient_tol_deg, min_confidence : float or None
        ``OrientTol``, ``MinConfidence``.
    nr_orientations : int or None
        ``NrOrientations``.
    save_n_solutions : int
        ``SaveNSolutions`` (default 1).
    rings_to_use : tuple of int
        ``RingsToUse`` lines.
    """

    lattice: Lattice6
    space_group: int
    wavelength_A: float
    n_distances: int
    lsd_um: tuple[float, ...]
    bc_px: tuple[Pair, ...]
    tx_deg: float
    ty_deg: float
    tz_deg: float
    wedge_deg: float
    pixel_size_um: float
    n_pixels: tuple[int, int]
    rho_d_um: float
    omega_start_deg: float
    omega_step_deg: float
    omega_ranges_deg: tuple[Pair, ...]
    box_sizes_um: tuple[Box, ...]
    start_nr: int | None
    end_nr: int | None
    nr_files_per_distance: int
    wf_images: int
    rsample_um: float | None
    grid_size_um: float | None
    edge_length_um: float | None
    grid_mask_um: Box | None
    min_eta_deg: float | None
    min_frac_accept: float
    orient_tol_deg: float | None
    min_confidence: float | None
    nr_orientations: int | None
    save_n_solutions: int
    rings_to_use: tuple[int, ...]

    @classmethod
    def from_params(cls, p: MidasParams) -> NFParams:
        """Build from a parameter set.

        Raises
        ------
        ParamError
            A required key (``LatticeConstant``, ``Wavelength``, ``Lsd``, ``BC``, ``px``,
            ``NrPixels*``, ``RhoD``/``MaxRingRad``, ``OmegaStart``, ``OmegaStep``) is missing,
            or several ``Lsd`` lines are given without ``nDistances``.

        Examples
        --------
        >>> from midas.params import parse_text
        >>> p = parse_text("LatticeParameter 4.08 4.08 4.08 90 90 90\\nWavelength 0.172979\\n"
        ...                "nDistances 2\\nLsd 8289.15\\nLsd 10290.72\\nBC 985.4 17.5\\n"
        ...                "BC 985.2 24.5\\npx 1.48\\nNrPixels 2048\\nMaxRingRad 2800\\n"
        ...                "OmegaStart 180\\nOmegaStep -0.25\\n")
        >>> nf = NFParams.from_params(p)
        >>> nf.n_distances, nf.lsd_um
        (2, (8289.15, 10290.72))
        """
        lsd = [float(x) for x in p.get_all("Lsd")]
        bc = [tuple(float(c) for c in x) for x in p.get_all("BC")]
        if not lsd:
            p.require("Lsd")
        if not bc:
            p.require("BC")
        n = p.get("nDistances")
        if n is None:
            if len(lsd) != 1 or len(bc) != 1:
                raise ParamError(
                    f"{p.where()}: {len(lsd)} Lsd and {len(bc)} BC lines but no nDistances; "
                    "give nDistances and one Lsd and BC line per distance"
                )
            n = 1
        return cls(
            **_crystal(p),
            n_distances=int(n),
            lsd_um=tuple(lsd),
            bc_px=tuple(bc),  # type: ignore[arg-type]
            **_tilts(p),
            wedge_deg=float(p.get("Wedge")),
            pixel_size_um=float(p.require("px")),
            n_pixels=_n_pixels(p),
            rho_d_um=float(p.require("RhoD")),
            **_scan(p),
            start_nr=_opt_int(p, "StartNr"),
            end_nr=_opt_int(p, "EndNr"),
            nr_files_per_distance=int(p.get("NrFilesPerDistance")),
            wf_images=int(p.get("WFImages")),
            rsample_um=_opt_float(p, "Rsample"),
            grid_size_um=_opt_float(p, "GridSize"),
            edge_length_um=_opt_float(p, "EdgeLength"),
            grid_mask_um=p.get("GridMask"),
            min_eta_deg=_opt_float(p, "MinEta"),
            min_frac_accept=float(p.get("MinFracAccept")),
            orient_tol_deg=_opt_float(p, "OrientTol"),
            min_confidence=_opt_float(p, "MinConfidence"),
            nr_orientations=_opt_int(p, "NrOrientations"),
            save_n_solutions=int(p.get("SaveNSolutions")),
            rings_to_use=tuple(p.get("RingsToUse")),
        )


def _bins(p: MidasParams) -> dict[str, Any]:
    return {
        "r_min_px": float(p.get("RMin")),
        "r_max_px": float(p.require("RMax")),
        "r_bin_size_px": float(p.get("RBinSize")),
        "eta_min_deg": float(p.require("EtaMin")),
        "eta_max_deg": float(p.require("EtaMax")),
        "eta_bin_size_deg": float(p.require("EtaBinSize")),
    }


@dataclass(frozen=True, slots=True)
class CalibrationParams(_DictMixin):
    """Detector calibration settings (``CalibrantIntegratorOMP`` / ``AutoCalibrateZarr.py``).

    Attributes
    ----------
    lsd_um, bc_px, tx_deg, ty_deg, tz_deg, pixel_size_um, n_pixels, distortion, im_trans_opt
        Starting detector geometry, as in :class:`FFParams`.
    wavelength_A : float
        ``Wavelength``.
    rho_d_um : float
        Distortion normalising radius (the detector-corner distance). ``RhoD``.
    wedge_deg : float
        ``Wedge`` (default 0).
    space_group : int
        Calibrant space group. ``SpaceGroup``.
    lattice : (6,) tuple of float
        Calibrant lattice. ``LatticeConstant``.
    r_min_px, r_max_px, r_bin_size_px : float
        Radial range and bin (px). ``RMin`` (default 10), ``RMax``, ``RBinSize`` (default 0.25).
    eta_min_deg, eta_max_deg, eta_bin_size_deg : float
        ``EtaMin``, ``EtaMax``, ``EtaBinSize``.
    width_um : float
        Radial half-width of the ring windows. ``Width`` (µm: upstream divides it by px).
    rings_to_exclude : tuple of int
        ``RingsToExclude``/``RingsToReject`` lines (duplicates kept).
    d_spacings_A : tuple of float
        ``DSpacing`` lines (lamellar calibrants); empty to use the lattice.
    tol_tilts_deg, tol_bc_px, tol_lsd_um : float or None
        Search ranges. ``tolTilts``, ``tolBC``, ``tolLsd``.
    tol_distortion : (15,) tuple of float
        Search range of p0..p14 (``tolPk``, each falling back to ``tolP``).
    n_iterations, outlier_iterations : int
        ``nIterations`` (default 1), ``OutlierIterations`` (default 1).
    mult_factor : float or None
        Outlier factor. ``MultFactor``.
    fit_wavelength : bool
        ``FitWavelength``.
    tol_wavelength_A : float
        ``tolWavelength`` (default 1e-3).
    mask_file, dark_file : str or None
        ``MaskFile`` (1 = masked), ``Dark``.
    n_panels : (2,) tuple of int
        ``NPanelsY``, ``NPanelsZ`` (0 = single panel).
    panel_size_px : (2,) tuple of int
        ``PanelSizeY``, ``PanelSizeZ``.
    panel_gaps_y_px, panel_gaps_z_px : tuple of int
        ``PanelGapsY``, ``PanelGapsZ``.
    panel_shifts_file : str or None
        ``PanelShiftsFile`` (``id dY dZ [dTheta [dLsd dP2]]``; :mod:`midas.io.panel_shifts`).
    fix_panel_id : int or None
        ``FixPanelID`` (None when absent: the fit then uses the weighted-mean gauge).
    per_panel_lsd, per_panel_distortion : bool
        ``PerPanelLsd``, ``PerPanelDistortion``.
    tol_shifts_px, tol_rotation_deg, tol_lsd_panel_um, tol_p2_panel : float or None
        ``tolShifts``, ``tolRotation``, ``tolLsdPanel``, ``tolP2Panel``.
    """

    lsd_um: float
    bc_px: Pair
    tx_deg: float
    ty_deg: float
    tz_deg: float
    pixel_size_um: float
    n_pixels: tuple[int, int]
    distortion: tuple[float, ...]
    im_trans_opt: tuple[int, ...]
    wavelength_A: float
    rho_d_um: float
    wedge_deg: float
    space_group: int
    lattice: Lattice6
    r_min_px: float
    r_max_px: float
    r_bin_size_px: float
    eta_min_deg: float
    eta_max_deg: float
    eta_bin_size_deg: float
    width_um: float
    rings_to_exclude: tuple[int, ...]
    d_spacings_A: tuple[float, ...]
    tol_tilts_deg: float | None
    tol_bc_px: float | None
    tol_lsd_um: float | None
    tol_distortion: tuple[float, ...]
    n_iterations: int
    outlier_iterations: int
    mult_factor: float | None
    fit_wavelength: bool
    tol_wavelength_A: float
    mask_file: str | None
    dark_file: str | None
    n_panels: tuple[int, int]
    panel_size_px: tuple[int, int]
    panel_gaps_y_px: tuple[int, ...]
    panel_gaps_z_px: tuple[int, ...]
    panel_shifts_file: str | None = None
    fix_panel_id: int | None = None
    per_panel_lsd: bool = False
    per_panel_distortion: bool = False
    tol_shifts_px: float | None = None
    tol_rotation_deg: float | None = None
    tol_lsd_panel_um: float | None = None
    tol_p2_panel: float | None = None

    def panel_layout(self) -> Any:
        """The :class:`midas.geometry.panels.PanelLayout` of the panel keys, or None without them.

        Raises
        ------
        ParamError
            Panel counts without sizes or gap lists of the wrong length.
        """
        from midas.geometry.panels import PanelLayout

        return PanelLayout.from_params({"NPanelsY": self.n_panels[0], "NPanelsZ": self.n_panels[1],
                                        "PanelSizeY": self.panel_size_px[0], "PanelSizeZ": self.panel_size_px[1],
                                        "PanelGapsY": self.panel_gaps_y_px, "PanelGapsZ": self.panel_gaps_z_px})

    @classmethod
    def from_params(cls, p: MidasParams) -> CalibrationParams:
        """Build from a parameter set.

        Raises
        ------
        ParamError
            A required key (``Lsd``, ``BC``, ``px``, ``NrPixels*``, ``Wavelength``, ``RhoD``,
            ``LatticeConstant``, ``RMax``, ``EtaMin``, ``EtaMax``, ``EtaBinSize``) is missing.
        """
        return cls(
            **_detector(p),
            **_crystal(p),
            rho_d_um=float(p.require("RhoD")),
            wedge_deg=float(p.get("Wedge")),
            **_bins(p),
            width_um=float(p.get("Width")),
            rings_to_exclude=tuple(p.get("RingsToExclude")),
            d_spacings_A=tuple(p.get("DSpacing")),
            tol_tilts_deg=_opt_float(p, "tolTilts"),
            tol_bc_px=_opt_float(p, "tolBC"),
            tol_lsd_um=_opt_float(p, "tolLsd"),
            tol_distortion=tuple(float(p.get(f"tolP{k}")) for k in range(15)),
            n_iterations=int(p.get("nIterations")),
            outlier_iterations=int(p.get("OutlierIterations")),
            mult_factor=_opt_float(p, "MultFactor"),
            fit_wavelength=bool(p.get("FitWavelength")),
            tol_wavelength_A=float(p.get("tolWavelength")),
            mask_file=p.get("MaskFile"),
            dark_file=p.get("Dark"),
            n_panels=(int(p.get("NPanelsY")), int(p.get("NPanelsZ"))),
            panel_size_px=(int(p.get("PanelSizeY")), int(p.get("PanelSizeZ"))),
            panel_gaps_y_px=tuple(p.get("PanelGapsY") or ()),
            panel_gaps_z_px=tuple(p.get("PanelGapsZ") or ()),
            panel_shifts_file=p.get("PanelShiftsFile"),
            fix_panel_id=int(p.get("FixPanelID")) if "FixPanelID" in p else None,
            per_panel_lsd=bool(p.get("PerPanelLsd") or 0),
            per_panel_distortion=bool(p.get("PerPanelDistortion") or 0),
            tol_shifts_px=_opt_float(p, "tolShifts"),
            tol_rotation_deg=_opt_float(p, "tolRotation"),
            tol_lsd_panel_um=_opt_float(p, "tolLsdPanel"),
            tol_p2_panel=_opt_float(p, "tolP2Panel"),
        )


@dataclass(frozen=True, slots=True)
class IntegrationParams(_DictMixin):
    """Radial-integration settings (``DetectorMapper`` + ``IntegratorZarrOMP``).

    Attributes
    ----------
    lsd_um, bc_px, tx_deg, ty_deg, tz_deg, pixel_size_um, n_pixels, distortion, im_trans_opt
        Detector geometry, as in :class:`FFParams`.
    rho_d_um : float or None
        Distortion normalising radius. ``RhoD``.
    wavelength_A : float or None
        ``Wavelength`` (needed for Q bins and 2θ output).
    r_min_px, r_max_px, r_bin_size_px : float
        Radial range and bin (px). ``RMin`` (default 10), ``RMax``, ``RBinSize`` (default 0.25).
    eta_min_deg, eta_max_deg, eta_bin_size_deg : float
        ``EtaMin``, ``EtaMax``, ``EtaBinSize``.
    q_min_inv_A, q_max_inv_A, q_bin_size_inv_A : float or None
        Q-mode bins. ``QMin``, ``QMax``, ``QBinSize``.
    omega_start_deg, omega_step_deg : float or None
        ``OmegaStart``, ``OmegaStep``.
    omega_sum_frames : int or None
        ``OmegaSumFrames``.
    mask_file, gap_file, bad_px_file, distortion_file, dark_file : str or None
        ``MaskFile`` (1 = masked), ``GapFile``, ``BadPxFile``, ``DistortionFile``, ``Dark``.
    solid_angle_correction, polarization_correction : bool
        ``SolidAngleCorrection``, ``PolarizationCorrection`` (default off).
    polarization_fraction : float
        ``PolarizationFraction`` (default 0.99).
    normalize : bool
        ``Normalize`` (default on).
    sum_images : bool
        ``SumImages`` (default off).
    do_peak_fit : bool
        ``DoPeakFit``/``doPeakFit`` (default on).
    peak_locations_px : tuple of float
        ``PeakLocation`` lines.
    """

    lsd_um: float
    bc_px: Pair
    tx_deg: float
    ty_deg: float
    tz_deg: float
    pixel_size_um: float
    n_pixels: tuple[int, int]
    distortion: tuple[float, ...]
    im_trans_opt: tuple[int, ...]
    rho_d_um: float | None
    wavelength_A: float | None
    r_min_px: float
    r_max_px: float
    r_bin_size_px: float
    eta_min_deg: float
    eta_max_deg: float
    eta_bin_size_deg: float
    q_min_inv_A: float | None
    q_max_inv_A: float | None
    q_bin_size_inv_A: float | None
    omega_start_deg: float | None
    omega_step_deg: float | None
    omega_sum_frames: int | None
    mask_file: str | None
    gap_file: str | None
    bad_px_file: str | None
    distortion_file: str | None
    dark_file: str | None
    solid_angle_correction: bool
    polarization_correction: bool
    polarization_fraction: float
    normalize: bool
    sum_images: bool
    do_peak_fit: bool
    peak_locations_px: tuple[float, ...]

    @classmethod
    def from_params(cls, p: MidasParams) -> IntegrationParams:
        """Build from a parameter set.

        Raises
        ------
        ParamError
            A required key (``Lsd``, ``BC``, ``px``, ``NrPixels*``, ``RMax``, ``EtaMin``,
            ``EtaMax``, ``EtaBinSize``) is missing.
        """
        return cls(
            **_detector(p),
            rho_d_um=_opt_float(p, "RhoD"),
            wavelength_A=_opt_float(p, "Wavelength"),
            **_bins(p),
            q_min_inv_A=_opt_float(p, "QMin"),
            q_max_inv_A=_opt_float(p, "QMax"),
            q_bin_size_inv_A=_opt_float(p, "QBinSize"),
            omega_start_deg=_opt_float(p, "OmegaStart"),
            omega_step_deg=_opt_float(p, "OmegaStep"),
            omega_sum_frames=_opt_int(p, "OmegaSumFrames"),
            mask_file=p.get("MaskFile"),
            gap_file=p.get("GapFile"),
            bad_px_file=p.get("BadPxFile"),
            distortion_file=p.get("DistortionFile"),
            dark_file=p.get("Dark"),
            solid_angle_correction=bool(p.get("SolidAngleCorrection")),
            polarization_correction=bool(p.get("PolarizationCorrection")),
            polarization_fraction=float(p.get("PolarizationFraction")),
            normalize=bool(p.get("Normalize")),
            sum_images=bool(p.get("SumImages")),
            do_peak_fit=bool(p.get("doPeakFit")),
            peak_locations_px=tuple(p.get("PeakLocation")),
        )
