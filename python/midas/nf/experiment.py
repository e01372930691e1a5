"""The NF-HEDM experiment (detector distances, ω scan, spot filters) and its reflections.

:class:`NFExperiment` gathers what the NF forward model needs besides an orientation and a voxel:
the multi-distance detector (:class:`midas.geometry.nf.NFDetector`), the ω scan (start, step,
frames per distance), the ω windows with their detector boxes and the pole exclusion.
:class:`Reflections` holds the reflections the model uses (``hkls.csv`` rows). Conventions:
``docs/conventions.md`` ("NF detector"), upstream_facts.md §2.8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._native import core
from midas.errors import ParamError
from midas.geometry.nf import NFDetector

__all__ = ["NFExperiment", "Reflections", "SpotsInfoLayout"]

#: Shape of a SpotsInfo bitmask: (n_layers, n_frames, n_y, n_z).
SpotsInfoLayout = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class NFExperiment:
    """Everything of an NF measurement the forward model uses, in API units.

    Attributes
    ----------
    detector : NFDetector
        Distances (µm), beam centres (px), tilts (deg), pixel size (µm), pixel counts.
    omega_start_deg, omega_step_deg : float
        ω at the start of frame 0 and the step per frame (deg; the step may be negative).
    n_frames : int
        Frames per distance (``EndNr − StartNr + 1``, else ``NrFilesPerDistance``).
    omega_ranges_deg : tuple of (lo, hi)
        ω windows (``OmegaRange`` lines); a spot is kept when lo < ω < hi for some window ...
    box_um : tuple of (y_min, y_max, z_min, z_max)
        ... and its ideal position (y0, z0) at ``Lsd[0]`` lies strictly inside that window's box
        (``BoxSize``, µm relative to the beam centre).
    min_eta_deg : float
        Pole exclusion: spots with |η| or 180° − |η| below it are dropped (``ExcludePoleAngle``).
    wedge_deg : float
        Rotation-axis wedge (``Wedge``).

    Raises
    ------
    ParamError
        Non-positive frame count, zero ω step, missing or mismatched windows, non-finite values.
    """

    detector: NFDetector
    omega_start_deg: float
    omega_step_deg: float
    n_frames: int
    omega_ranges_deg: tuple[tuple[float, float], ...]
    box_um: tuple[tuple[float, float, float, float], ...]
    min_eta_deg: float
    wedge_deg: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "omega_ranges_deg", tuple((float(a), float(b)) for a, b in self.omega_ranges_deg))
        set_(self, "box_um", tuple(tuple(float(v) for v in b) for b in self.box_um))
        for name in ("omega_start_deg", "omega_step_deg", "min_eta_deg", "wedge_deg"):
            v = float(getattr(self, name))
            if not math.isfinite(v):
                raise ParamError(f"NFExperiment: {name} = {v}, expected a finite number")
            set_(self, name, v)
        set_(self, "n_frames", int(self.n_frames))
        if self.n_frames <= 0:
            raise ParamError(f"NFExperiment: n_frames = {self.n_frames}, expected > 0")
        if self.omega_step_deg == 0.0:
            raise ParamError("NFExperiment: OmegaStep is 0")
        if not self.omega_ranges_deg:
            raise ParamError("NFExperiment: no OmegaRange given (one 'OmegaRange lo hi' line per ω window)")
        if len(self.box_um) != len(self.omega_ranges_deg) or any(len(b) != 4 for b in self.box_um):
            raise ParamError(
                f"NFExperiment: {len(self.omega_ranges_deg)} OmegaRange lines but {len(self.box_um)} BoxSize "
                "lines; give one 'BoxSize ymin ymax zmin zmax' per OmegaRange"
            )

    @property
    def n_layers(self) -> int:
        """Number of detector distances."""
        return self.detector.n_distances

    @property
    def layout(self) -> SpotsInfoLayout:
        """SpotsInfo shape (n_layers, n_frames, n_y, n_z)."""
        n_y, n_z = self.detector.n_pixels
        return (self.n_layers, self.n_frames, n_y, n_z)

    @classmethod
    def from_params(cls, p: Any) -> NFExperiment:
        """Build from a :class:`midas.params.MidasParams` of an NF parameter file.

        Keys: ``Lsd``/``BC`` per distance, ``tx``, ``ty``, ``tz``, ``px``, ``NrPixels*``,
        ``OmegaStart``, ``OmegaStep``, ``StartNr``/``EndNr`` (else ``NrFilesPerDistance``),
        ``OmegaRange``, ``BoxSize``, ``ExcludePoleAngle``, ``Wedge``.

        Raises
        ------
        ParamError
            A required key is missing or inconsistent (the message names it and the file).
        """
        from midas.params import NFParams

        nfp = NFParams.from_params(p)
        where = getattr(p, "where", lambda *a: "parameter file")()
        if nfp.start_nr is not None and nfp.end_nr is not None:
            n_frames = nfp.end_nr - nfp.start_nr + 1
        else:
            n_frames = nfp.nr_files_per_distance
        if nfp.min_eta_deg is None:
            raise ParamError(f"{where}: ExcludePoleAngle is missing (pole exclusion of NF spots, deg)")
        if not nfp.omega_ranges_deg:
            raise ParamError(f"{where}: OmegaRange is missing (ω window(s) of the NF scan)")
        return cls(
            detector=NFDetector.from_params(p),
            omega_start_deg=nfp.omega_start_deg,
            omega_step_deg=nfp.omega_step_deg,
            n_frames=n_frames,
            omega_ranges_deg=nfp.omega_ranges_deg,
            box_um=nfp.box_sizes_um,
            min_eta_deg=nfp.min_eta_deg,
            wedge_deg=nfp.wedge_deg,
        )

    def with_geometry(
        self,
        *,
        lsd_um: tuple[float, ...] | None = None,
        bc_px: tuple[tuple[float, float], ...] | None = None,
        tilts_deg: tuple[float, float, float] | None = None,
    ) -> NFExperiment:
        """A copy with some detector values replaced (distances, beam centres, tilts)."""
        d = self.detector
        det = replace(
            d,
            lsd_um=d.lsd_um if lsd_um is None else tuple(lsd_um),
            bc_px=d.bc_px if bc_px is None else tuple(bc_px),
            tx_deg=d.tx_deg if tilts_deg is None else tilts_deg[0],
            ty_deg=d.ty_deg if tilts_deg is None else tilts_deg[1],
            tz_deg=d.tz_deg if tilts_deg is None else tilts_deg[2],
        )
        return replace(self, detector=det)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NFExperiment:
        """Build from :meth:`to_dict` output."""
        kw = dict(d)
        det = kw.pop("detector")
        return cls(detector=det if isinstance(det, NFDetector) else NFDetector(**det), **kw)

    def _core(self) -> Any:
        """The compiled experiment (``midas._core.NfExperiment``)."""
        det = self.detector
        return core().NfExperiment(
            lsd_um=np.asarray(det.lsd_um, dtype=np.float64),
            bc_px=np.asarray(det.bc_px, dtype=np.float64).reshape(-1, 2),
            tx_deg=det.tx_deg,
            ty_deg=det.ty_deg,
            tz_deg=det.tz_deg,
            px_um=det.pixel_size_um,
            n_y=det.n_pixels[0],
            n_z=det.n_pixels[1],
            omega_start_deg=self.omega_start_deg,
            omega_step_deg=self.omega_step_deg,
            n_frames=self.n_frames,
            omega_ranges_deg=np.asarray(self.omega_ranges_deg, dtype=np.float64).reshape(-1, 2),
            box_um=np.asarray(self.box_um, dtype=np.float64).reshape(-1, 4),
            min_eta_deg=self.min_eta_deg,
            wedge_deg=self.wedge_deg,
        )


@dataclass(frozen=True, slots=True)
class Reflections:
    """Reflections of the NF forward model (rows of ``hkls.csv``).

    Attributes
    ----------
    hkl : (N, 3) int32
        Miller indices.
    ring_nr : (N,) int32
        Ring number (1-based).
    g_crystal : (N, 3) float64
        ``B·hkl`` in the crystal Cartesian frame, 1/Å (no 2π).
    theta_deg : (N,) float64
        Bragg angle θ.
    """

    hkl: NDArray[np.int32]
    ring_nr: NDArray[np.int32]
    g_crystal: NDArray[np.float64]
    theta_deg: NDArray[np.float64]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "hkl", np.ascontiguousarray(self.hkl, dtype=np.int32).reshape(-1, 3))
        set_(self, "ring_nr", np.ascontiguousarray(self.ring_nr, dtype=np.int32).reshape(-1))
        set_(self, "g_crystal", np.ascontiguousarray(self.g_crystal, dtype=np.float64).reshape(-1, 3))
        set_(self, "theta_deg", np.ascontiguousarray(self.theta_deg, dtype=np.float64).reshape(-1))
        n = self.theta_deg.shape[0]
        if not (self.hkl.shape[0] == self.ring_nr.shape[0] == self.g_crystal.shape[0] == n):
            raise ParamError("Reflections: hkl, ring_nr, g_crystal and theta_deg must have one row per reflection")

    def __len__(self) -> int:
        return int(self.theta_deg.shape[0])

    @classmethod
    def from_params(cls, p: Any) -> Reflections:
        """The reflection list of an NF parameter file, as upstream GetHKLListNF makes it.

        Uses :func:`midas.crystal.hkl_table_from_params` (``SpaceGroup``, ``LatticeConstant``,
        ``Wavelength``, the LAST ``Lsd`` line and ``MaxRingRad``, exactly as upstream) and keeps
        the rings listed in ``RingsToUse`` when that key is present.

        Raises
        ------
        ParamError
            A key is missing, or a ``RingsToUse`` ring does not exist.
        """
        from midas.crystal import hkl_table_from_params

        t = hkl_table_from_params(p)
        refl = cls(hkl=t.hkl, ring_nr=t.ring_nr, g_crystal=t.g_crystal, theta_deg=t.theta_deg)
        rings = tuple(int(r) for r in (p.get("RingsToUse", []) or []))
        return refl.select_rings(rings) if rings else refl

    @classmethod
    def from_hkls_csv(cls, path: str | Path) -> Reflections:
        """Read an upstream ``hkls.csv`` (via :func:`midas.io.hkls_csv.read_hkls_csv`)."""
        from midas.io.hkls_csv import read_hkls_csv

        t = read_hkls_csv(path)
        return cls(hkl=t.hkl, ring_nr=t.ring_nr, g_crystal=t.g_crystal, theta_deg=t.theta_deg)

    def select_rings(self, rings: tuple[int, ...]) -> Reflections:
        """Rows of the given rings, in the order of ``rings`` (as upstream RingsToUse).

        Raises
        ------
        ParamError
            When a ring number has no reflection.
        """
        parts = []
        for r in rings:
            rows = np.flatnonzero(self.ring_nr == r)
            if rows.size == 0:
                raise ParamError(
                    f"RingsToUse {r}: no such ring (rings 1..{int(self.ring_nr.max())} reach the detector)"
                )
            parts.append(rows)
        idx = np.concatenate(parts)
        return Reflections(self.hkl[idx], self.ring_nr[idx], self.g_crystal[idx], self.theta_deg[idx])

    def _core(self) -> Any:
        return core().NfHkls(self.g_crystal, self.theta_deg)
