"""Far-field frame simulation: predicted spots drawn as Gaussians into a ``.MIDAS.zip``.

What upstream's ``ForwardSimulationCompressed`` does, restated and made memory-bounded:

- spots from :func:`midas.forward.ff.predict_spots` with the simulator's windows (the whole scan,
  every η, on the detector) and upstream's orientation clean-up;
- each spot is a 2-D Gaussian (σ = ``GaussWidth`` px, peak ``PeakIntensity``) sampled at pixel
  centres over ±ceil(4σ) pixels, in frame floor((ω - OmegaStart)/OmegaStep) — or, with
  ``OmegaSigma`` > 0, spread over frames by the Gaussian ω-profile's integral over each frame;
- all frames are scaled by one factor so the brightest pixel becomes ``MaxOutputIntensity``
  (65000) and truncated to int32. The brightest pixel is found in a first pass over the spot
  footprints only (no frame is kept in memory); frames are then rendered in batches and
  streamed to the archive;
- optional Gaussian noise ``SimNoiseSigma`` (output counts, after scaling; negative values clip to
  0), reproducible from a seed independent of batching and threads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr  # type: ignore[import-untyped]

from midas._native import core
from midas.errors import ParamError
from midas.forward.ff import FFScan, SpotTable, predict_spots
from midas.parallel import threads

__all__ = [
    "FrameContributions",
    "SimulationResult",
    "SpotShape",
    "peak_pixel_value",
    "render_frames",
    "simulate_ff",
    "spot_contributions",
    "spot_matrix_from_spots",
]

log = logging.getLogger(__name__)

_BATCH_BYTES = 256 * 2**20  # frames rendered per batch: at most this many bytes of int32


@dataclass(frozen=True, slots=True)
class SpotShape:
    """How simulated spots look in the frames.

    Attributes
    ----------
    gauss_width_px : float
        σ of the 2-D Gaussian, pixels (``GaussWidth``, default 1).
    peak_intensity : float
        Peak value of one spot before the global scaling (``PeakIntensity``, default 2000).
    max_output_intensity : float
        Value of the brightest pixel of the whole scan (``MaxOutputIntensity``, default 65000).
    noise_sigma : float
        σ of Gaussian noise added to every pixel, output counts (``SimNoiseSigma``, default 0).
    noise_seed : int
        Seed of the noise (the noise of pixel p of frame f depends only on (seed, f, p)).
    omega_sigma_deg : float
        σ of the Gaussian ω-profile of a spot, degrees (``OmegaSigma``, default 0: one frame).

    Raises
    ------
    ParamError
        On non-positive width or intensities, or negative noise / ω-width.
    """

    gauss_width_px: float = 1.0
    peak_intensity: float = 2000.0
    max_output_intensity: float = 65000.0
    noise_sigma: float = 0.0
    noise_seed: int = 0
    omega_sigma_deg: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            object.__setattr__(self, f.name, int(v) if f.name == "noise_seed" else float(v))
        for name in ("gauss_width_px", "peak_intensity", "max_output_intensity"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParamError(f"SpotShape: {name} = {v}, expected a finite value > 0")
        for name in ("noise_sigma", "omega_sigma_deg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParamError(f"SpotShape: {name} = {v}, expected a finite value >= 0")
        if not 0 <= self.noise_seed < 2**64:
            raise ParamError(f"SpotShape: noise_seed = {self.noise_seed}, expected 0 <= seed < 2**64")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; inverse of :meth:`from_dict`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any) -> SpotShape:
        """Build from :meth:`to_dict` output."""
        return cls(**dict(d))

    @classmethod
    def from_params(cls, p: Any, *, noise_seed: int = 0) -> SpotShape:
        """Build from parameter keys ``GaussWidth``, ``PeakIntensity``, ``MaxOutputIntensity``,
        ``SimNoiseSigma``, ``OmegaSigma`` (missing keys take the defaults above)."""

        def val(key: str, default: float) -> float:
            v = p.get(key, None)
            return default if v is None else v

        return cls(gauss_width_px=val("GaussWidth", 1.0), peak_intensity=val("PeakIntensity", 2000.0),
                   max_output_intensity=val("MaxOutputIntensity", 65000.0), noise_sigma=val("SimNoiseSigma", 0.0),
                   noise_seed=noise_seed, omega_sigma_deg=val("OmegaSigma", 0.0))


@dataclass(frozen=True, slots=True)
class FrameContributions:
    """Spot contributions grouped by frame (C rows sorted by frame, spot order kept within a frame).

    Attributes
    ----------
    frame_offsets : (n_frames + 1,) int64
        Contributions ``frame_offsets[f]:frame_offsets[f+1]`` are drawn in frame f.
    y_px, z_px : (C,) float64
        Spot centre (column, row of the frame after ImTransOpt).
    amplitude : (C,) float64
        Gaussian peak value before scaling.
    spot : (C,) int64
        Row of the SpotTable each contribution comes from.
    """

    frame_offsets: NDArray[np.int64]
    y_px: NDArray[np.float64]
    z_px: NDArray[np.float64]
    amplitude: NDArray[np.float64]
    spot: NDArray[np.int64]

    @property
    def n_frames(self) -> int:
        """Number of frames of the scan."""
        return int(self.frame_offsets.shape[0] - 1)

    def _kernel_args(self) -> dict[str, Any]:
        return {"frame_offsets": self.frame_offsets, "y_px": self.y_px, "z_px": self.z_px,
                "amplitude": self.amplitude}


def spot_contributions(spots: SpotTable, scan: FFScan, shape: SpotShape) -> FrameContributions:
    """Assign the spots to frames (with the optional ω blur).

    Parameters
    ----------
    spots : SpotTable
        Predicted spots (their ``frame``, ``omega_deg``, ``y_px``, ``z_px`` are used).
    scan : FFScan
        The scan (frame k covers ω from start + k·step to start + (k+1)·step).
    shape : SpotShape
        ``peak_intensity`` and ``omega_sigma_deg``.

    Returns
    -------
    FrameContributions
        Without blur one contribution per spot (amplitude = peak_intensity) in its ``frame``;
        with blur one per spot and frame within ±4σ of ω, amplitude = peak_intensity times the
        Gaussian's integral over the frame's ω interval (weights < 1e-9 are dropped).
    """
    n = len(spots)
    if shape.omega_sigma_deg == 0.0 or n == 0:
        frame = spots.frame
        idx = np.arange(n, dtype=np.int64)
        amp = np.full(n, shape.peak_intensity)
    else:
        step = abs(scan.omega_step_deg)
        reach = math.ceil(4 * shape.omega_sigma_deg / step) + 1
        offs = np.arange(-reach, reach + 1)
        frame = (spots.frame[:, None] + offs[None, :]).ravel()
        idx = np.repeat(np.arange(n, dtype=np.int64), len(offs))
        w = spots.omega_deg[idx]
        a = scan.omega_start_deg + frame * scan.omega_step_deg
        b = a + scan.omega_step_deg
        weight = np.abs(ndtr((b - w) / shape.omega_sigma_deg) - ndtr((a - w) / shape.omega_sigma_deg))
        ok = (frame >= 0) & (frame < scan.n_frames) & (weight > 1e-9)
        frame, idx, amp = frame[ok], idx[ok], shape.peak_intensity * weight[ok]
    order = np.argsort(frame, kind="stable")
    frame, idx, amp = frame[order], idx[order], amp[order]
    offsets = np.searchsorted(frame, np.arange(scan.n_frames + 1)).astype(np.int64)
    return FrameContributions(frame_offsets=offsets, y_px=np.ascontiguousarray(spots.y_px[idx]),
                              z_px=np.ascontiguousarray(spots.z_px[idx]), amplitude=np.ascontiguousarray(amp),
                              spot=idx)


def peak_pixel_value(contribs: FrameContributions, n_pixels: tuple[int, int], shape: SpotShape, *,
                     n_threads: int | None = None) -> float:
    """Largest unscaled pixel value over all frames (the first, footprint-only pass).

    Parameters
    ----------
    contribs : FrameContributions
    n_pixels : (n_y, n_z)
        Frame size (columns, rows).
    shape : SpotShape
        ``gauss_width_px``.

    Returns
    -------
    float
        0 when no spot is drawn.
    """
    with threads(n_threads):
        return float(core().ff_max_pixel_value(**contribs._kernel_args(), n_y=int(n_pixels[0]),
                                               n_z=int(n_pixels[1]), sigma_px=shape.gauss_width_px))


def render_frames(contribs: FrameContributions, n_pixels: tuple[int, int], shape: SpotShape, first_frame: int,
                  n_out: int, peak_max: float, *, n_threads: int | None = None,
                  out: NDArray[np.int32] | None = None) -> NDArray[np.int32]:
    """Render frames ``first_frame .. first_frame + n_out - 1`` as scaled int32 (OpenMP over frames).

    Parameters
    ----------
    contribs : FrameContributions
    n_pixels : (n_y, n_z)
        Frame size (columns, rows).
    shape : SpotShape
        Spot width, output scaling and noise.
    first_frame, n_out : int
        Frame range.
    peak_max : float
        The unscaled value that maps to ``shape.max_output_intensity`` (:func:`peak_pixel_value`;
        0 or less: nothing is drawn and frames hold only noise).
    out : (n_out, n_z, n_y) int32 C-contiguous array, optional
        Buffer to render into (reuse it across batches: fresh memory costs page faults).

    Returns
    -------
    (n_out, n_z, n_y) int32
        Frames in detector (Y = column, Z = row) layout, i.e. after ImTransOpt. Each pixel is
        trunc(sum·max_output_intensity/peak_max + noise), clipped to [0, 2³¹-1]. Identical for
        any thread count and batch split.
    """
    n_y, n_z = int(n_pixels[0]), int(n_pixels[1])
    if out is None:
        out = np.empty((n_out, n_z, n_y), dtype=np.int32)
    elif out.shape != (n_out, n_z, n_y) or out.dtype != np.int32 or not out.flags.c_contiguous:
        raise ParamError(f"render_frames: out has shape {out.shape} and dtype {out.dtype}, expected a "
                         f"C-contiguous ({n_out}, {n_z}, {n_y}) int32 array")
    with threads(n_threads):
        core().ff_render_frames_i32(**contribs._kernel_args(), n_y=n_y, n_z=n_z, sigma_px=shape.gauss_width_px,
                                    first_frame=int(first_frame), out_max=shape.max_output_intensity,
                                    peak_max=peak_max if peak_max > 0 else 1.0, noise_sigma=shape.noise_sigma,
                                    seed=shape.noise_seed, out=out)
    return out


def spot_matrix_from_spots(spots: SpotTable, detector: Any) -> Any:
    """Upstream's ``SpotMatrixGen.csv`` table for predicted spots.

    GrainID = grain_index + 1 (the row in GrainsGen.csv, as upstream), SpotID = solution_nr,
    YLab = (BC_y - DetectorHor)·px, ZLab = (DetectorVert - BC_z)·px (the distorted position),
    RingRad = |(y_um, z_um)| (displaced, before tilt and distortion), omeBin = frame.

    Returns
    -------
    midas.io.spot_matrix.SpotMatrix
    """
    from midas.io.spot_matrix import SpotMatrix

    n = len(spots)
    return SpotMatrix(
        grain_id=spots.grain_index + 1, spot_id=spots.solution_nr, omega_deg=spots.omega_deg, y_px=spots.y_px,
        z_px=spots.z_px, omega_raw_deg=spots.omega_raw_deg, eta_deg=spots.eta_deg, ring_nr=spots.ring_nr,
        y_lab_um=(detector.bc_px[0] - spots.y_px) * detector.pixel_size_um[0],
        z_lab_um=(spots.z_px - detector.bc_px[1]) * detector.pixel_size_um[1], theta_deg=spots.theta_deg,
        strain_error=np.zeros(n), scan_nr=np.zeros(n, np.int64), ring_rad_um=np.hypot(spots.y_um, spots.z_um),
        frame=spots.frame)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What :func:`simulate_ff` wrote and computed.

    Attributes
    ----------
    zip_path : Path
        The ``.MIDAS.zip`` with frames and analysis parameters.
    spot_matrix_path, hkls_path, grains_path : Path or None
        ``SpotMatrixGen.csv`` (None with ``WriteSpots 0``), ``hkls.csv``, ``GrainsGen.csv``.
    spots : SpotTable
        The drawn spots.
    peak_max : float
        Unscaled value of the brightest pixel (mapped to MaxOutputIntensity).
    n_frames : int
    """

    zip_path: Path
    spot_matrix_path: Path | None
    hkls_path: Path
    grains_path: Path
    spots: SpotTable
    peak_max: float
    n_frames: int


def _ring_list(p: Any) -> list[int] | None:
    rings = p.get("RingThresh", None)
    if rings:
        return [int(r[0]) for r in rings]
    use = p.get("RingsToUse", None)
    if use:
        return [int(r) for r in (use if isinstance(use, list) else [use])]
    return None


def simulate_ff(p: Any, *, result_folder: str | Path | None = None, n_threads: int | None = None,
                noise_seed: int = 0, batch_frames: int | None = None, wedge: str = "upstream",
                progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Simulate a far-field scan from a parameter set, like upstream's ``ForwardSimulationCompressed``.

    Parameters
    ----------
    p : midas.params.MidasParams
        The parameter file. Used keys: ``InFileName`` (grains, Grains.csv layout; relative to the
        parameter file's folder), ``OutFileName`` (output stem), the FF detector keys, ``Wavelength``,
        ``SpaceGroup``, ``LatticeConstant``, ``RhoD``, ``OmegaStart/OmegaStep/OmegaEnd``, ``Wedge``,
        ``RingThresh`` (or ``RingsToUse``; rings simulated, in that order; default all),
        ``GaussWidth``, ``PeakIntensity``, ``MaxOutputIntensity``, ``SimNoiseSigma``, ``OmegaSigma``,
        ``WriteSpots`` (default 1).
    result_folder : path, optional
        Where the outputs go (default: the parameter file's folder; created when missing); a
        relative ``OutFileName`` is taken relative to it (its folder is created too).
    n_threads : int, optional
        OpenMP threads; results do not depend on it.
    noise_seed : int
        Seed of the ``SimNoiseSigma`` noise.
    batch_frames : int, optional
        Frames rendered per batch (default: as many as fit in 256 MB of int32).
    wedge : {"upstream", "exact"}
        Wedge model (see :func:`midas.forward.ff.predict_spots`); upstream's simulator by default.
    progress : callable(int), optional
        Called with the number of frames written after each batch.

    Returns
    -------
    SimulationResult
        Files written: ``<OutFileName>.analysis.MIDAS.zip`` (int32 frames (n_frames, NrPixelsZ,
        NrPixelsY), raw layout: ImTransOpt undone, one frame per chunk, ``start`` = OmegaStart,
        ``step`` = OmegaStep, the parameters under ``analysis/process/analysis_parameters``),
        ``SpotMatrixGen.csv``, ``hkls.csv``, ``GrainsGen.csv`` in the result folder.

    Raises
    ------
    ParamError
        A needed key is missing or invalid; ``nScans`` > 1 (point-focus scans) or an
        ``IntensitiesFile`` are asked for (not supported).
    FormatError
        The grains file cannot be read or an output cannot be written.

    Notes
    -----
    Upstream's simulator ignores MinEta, OmegaRange and BoxSize (analysis windows); so does this.
    Its output is upstream's: every spot of its ff_au250 and ff_cu_tilted examples is reproduced
    (ω to 5e-7°, pixel to 0.004 px) and rendered frames agree to ±1 count.
    """
    from midas.crystal import hkl_table_from_params
    from midas.geometry import FFDetector
    from midas.io.corrections import im_trans_opt
    from midas.io.grains_csv import read_grains_csv, write_grains_csv
    from midas.io.hkls_csv import write_hkls_csv
    from midas.io.midas_zip import MidasZipWriter
    from midas.io.spot_matrix import write_spot_matrix

    source = getattr(p, "source", None)
    base = Path(source).resolve().parent if source else Path.cwd()
    where = f" in {source}" if source else ""
    for key in ("InFileName", "OutFileName", "Wavelength"):
        if p.get(key, None) is None:
            raise ParamError(f"parameter {key} is missing{where}: needed by the FF simulation")
    if int(p.get("nScans", 1) or 1) > 1:
        raise ParamError(f"nScans = {p.get('nScans')}{where}: point-focus (multi-scan) simulation is not supported")
    if p.get("IntensitiesFile", None):
        raise ParamError(f"IntensitiesFile{where}: per-reflection intensities are not supported; remove the key")
    out_dir = Path(result_folder).resolve() if result_folder is not None else base
    grains_file = Path(str(p.get("InFileName")))
    grains_file = grains_file if grains_file.is_absolute() else base / grains_file
    stem = Path(str(p.get("OutFileName")))
    stem = stem if stem.is_absolute() else out_dir / stem

    grains = read_grains_csv(grains_file)
    for folder in (out_dir, stem.parent):
        if not folder.is_dir():
            log.info("creating output folder %s", folder)
            folder.mkdir(parents=True)
    detector = FFDetector.from_params(p)
    scan = FFScan.from_params(p)
    shape = SpotShape.from_params(p, noise_seed=noise_seed)
    hkls = hkl_table_from_params(p)
    wavelength = float(p.get("Wavelength"))
    log.info("simulating %d grains, %d reflections, %d frames of %d x %d px", len(grains), len(hkls), scan.n_frames,
             detector.n_pixels[0], detector.n_pixels[1])
    spots = predict_spots(grains, hkls, detector, scan.for_simulation(), wavelength_A=wavelength,
                          rings=_ring_list(p), displacement="toward_point", wedge=wedge, orthonormalize="upstream",
                          n_threads=n_threads)
    contribs = spot_contributions(spots, scan, shape)
    peak = peak_pixel_value(contribs, detector.n_pixels, shape, n_threads=n_threads)
    log.info("%d spots; brightest unscaled pixel %.6g -> %g", len(spots), peak, shape.max_output_intensity)

    hkls_path = write_hkls_csv(out_dir / "hkls.csv", hkls)
    grains_path = out_dir / "GrainsGen.csv"
    write_grains_csv(grains_path, grains, short=True)
    spot_path: Path | None = None
    if int(p.get("WriteSpots", 1) or 0) == 1:
        spot_path = out_dir / "SpotMatrixGen.csv"
        write_spot_matrix(spot_path, spot_matrix_from_spots(spots, detector))

    n_y, n_z = detector.n_pixels
    undo = tuple(reversed([op for op in detector.im_trans_opt if op > 0]))
    raw_shape = (n_y, n_z) if undo.count(3) % 2 else (n_z, n_y)
    if batch_frames is None:
        batch_frames = max(1, _BATCH_BYTES // (4 * n_y * n_z))
    zip_path = Path(f"{stem}.analysis.MIDAS.zip")
    buffer = np.empty((min(batch_frames, scan.n_frames), n_z, n_y), dtype=np.int32)
    with MidasZipWriter(zip_path, frame_shape=raw_shape, dtype=np.int32, omega_start_deg=scan.omega_start_deg,
                        omega_step_deg=scan.omega_step_deg, analysis_parameters=p, n_frames=scan.n_frames) as writer:
        for first in range(0, scan.n_frames, batch_frames):
            n_out = min(batch_frames, scan.n_frames - first)
            frames = render_frames(contribs, detector.n_pixels, shape, first, n_out, peak, n_threads=n_threads,
                                   out=buffer[:n_out])
            for f in frames:
                writer.append(np.ascontiguousarray(im_trans_opt(f, undo)) if undo else f)
            if progress is not None:
                progress(n_out)
    log.info("wrote %s", zip_path)
    return SimulationResult(zip_path=zip_path, spot_matrix_path=spot_path, hkls_path=Path(hkls_path),
                            grains_path=grains_path, spots=spots, peak_max=peak, n_frames=scan.n_frames)
