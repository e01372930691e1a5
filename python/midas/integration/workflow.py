"""The batch integrator: parameter file + data files → caked HDF5, GSAS-II zarr.zip, lineouts, fits.

This is upstream's CPU workflow (``FF_HEDM/workflows/integrator.py`` driving ``DetectorMapper``
and ``IntegratorZarrOMP``), in one process: the integration matrix is built once (or loaded from
its cache), every data file of the series is read directly (TIFF, GE, HDF5, CBF/EDF, .MIDAS.zip)
a few frames at a time, and each file gets its own outputs. Memory stays bounded by the batch of
frames, one ω-sum accumulator and the lineouts (n_frames × n_r).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas import parallel
from midas.errors import FormatError, ParamError
from midas.geometry import FFDetector
from midas.integration.bins import IntegrationBins
from midas.integration.integrate import Integrator
from midas.integration.mapper import IntegrationMap, MapOptions, load_or_build_map
from midas.integration.outputs import (
    CakeHdf5Writer,
    GsasZarrZipWriter,
    UpstreamMapHash,
    gsas_instrument_parameters,
    write_lineouts_csv,
    write_mat,
    write_upstream_map,
    write_xy,
)
from midas.integration.peakfit import PeakFit, PeakFitSettings, fit_peaks
from midas.io import corrections
from midas.io.frames import FrameSeries, detect_format, open_frames

__all__ = ["FileOutputs", "IntegrationJob", "data_file_series", "prepare_map", "run_integration"]

log = logging.getLogger(__name__)

PEAK_CSV_COLUMNS = ("frame", "peak", "centre_px", "centre_err_px", "tth_deg", "d_A", "fwhm_px", "area", "height",
                    "mixing", "sig_px2", "gam_px", "background", "chi2_red", "converged")


@dataclass(frozen=True, slots=True)
class IntegrationJob:
    """Everything the batch integrator needs besides the data files.

    Attributes
    ----------
    params : MidasParams
        The parameter file (geometry, bins, corrections, ω, peak fitting, GSAS-II profile keys).
    result_folder : Path
        Outputs and the map cache go here (created when missing).
    dark_file : Path or None
        Dark frames (any frame format; averaged). Default: the parameter ``Dark``, else the
        ``dark_loc`` dataset of an HDF5 data file, else the dark of a ``.MIDAS.zip``.
    data_loc, dark_loc : str or None
        HDF5 dataset paths of the frames and of the darks (default ``exchange/data`` and
        ``exchange/dark``).
    n_threads : int or None
        OpenMP threads of the kernels.
    write_mat : bool
        Also write a MATLAB ``.mat`` per file.
    write_upstream_map : bool
        Write ``Map.bin``/``nMap.bin``/``maskMap.bin`` into the result folder.
    convert_files : bool
        Also store each data file as ``<name>.analysis.MIDAS.zip`` while integrating.
    use_gpu : bool
        CSR product on the GPU.
    batch_frames : int
        Frames integrated per pass over the matrix.
    peak_fit : str or None
        ``"each"`` (every frame's lineout), ``"sum"`` (the file's mean lineout) or None. Default
        from the parameters: on when ``PeakLocation`` is given or ``DoPeakFit 1`` is set.
    peak_settings : PeakFitSettings
    map_options : MapOptions or None
        Default from the parameters (:meth:`MapOptions.from_params`).
    plots : bool
        Write PNGs of the summed cake and of the mean lineout with its fits.
    progress : bool or None
        Progress bar on stderr (None: when stderr is a terminal).
    rebuild_map : bool
        Ignore a cached map.
    require_cached_map : bool
        Never build the map; fail when no valid cached one exists (upstream ``-mapDetector 0``).
    """

    params: Any
    result_folder: Path
    dark_file: Path | None = None
    data_loc: str | None = None
    dark_loc: str | None = None
    n_threads: int | None = None
    write_mat: bool = False
    write_upstream_map: bool = False
    convert_files: bool = False
    use_gpu: bool = False
    batch_frames: int = 8
    peak_fit: str | None = None
    peak_settings: PeakFitSettings = field(default_factory=PeakFitSettings)
    map_options: MapOptions | None = None
    plots: bool = False
    progress: bool | None = None
    rebuild_map: bool = False
    require_cached_map: bool = False

    def __post_init__(self) -> None:
        if self.peak_fit not in (None, "each", "sum"):
            raise ParamError(f"peak_fit {self.peak_fit!r}: expected 'each', 'sum' or None")
        if self.batch_frames < 1:
            raise ParamError(f"batch_frames must be >= 1, got {self.batch_frames}")


@dataclass(frozen=True, slots=True)
class FileOutputs:
    """What integrating one data file produced.

    Attributes
    ----------
    data_file : Path
    n_frames : int
    files : dict of str to Path
        ``hdf5``, ``zarr_zip``, ``xy``, ``csv`` and, when requested, ``mat``, ``peaks_csv``,
        ``cake_png``, ``lineout_png``, ``midas_zip``.
    lineouts : (n_frames, n_r) float64
    peaks : list of (frame label, list of PeakFit)
    n_sentinel_pixels : int
        Pixels that carried a gap/bad value outside the static mask, summed over frames.
    seconds : float
    """

    data_file: Path
    n_frames: int
    files: dict[str, Path]
    lineouts: NDArray[np.float64]
    peaks: list[tuple[str, list[PeakFit]]]
    n_sentinel_pixels: int
    seconds: float


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def data_file_series(data_fn: str | Path, start_nr: int | None = None, end_nr: int | None = None) -> list[Path]:
    """The data files of ``-startFileNr``..``-endFileNr`` (upstream's rule).

    Upstream replaces the 6-digit zero-padded start number in ``-dataFN`` by each file number.
    Without numbers, the single file is returned.

    Raises
    ------
    ParamError
        ``end < start``, or a file name that does not contain the padded start number.
    """
    p = Path(data_fn)
    if start_nr is None and end_nr is None:
        return [p]
    start = int(start_nr if start_nr is not None else end_nr)  # type: ignore[arg-type]
    end = int(end_nr if end_nr is not None else start)
    if end < start:
        raise ParamError(f"-endFileNr {end} is smaller than -startFileNr {start}")
    token = str(start).zfill(6)
    if token not in p.name:
        raise ParamError(f"-dataFN {p.name!r} does not contain the file number {start} written with 6 digits "
                         f"({token!r}); upstream replaces that text by each file number")
    return [p.with_name(p.name.replace(token, str(n).zfill(6))) for n in range(start, end + 1)]


def _num(p: Any, key: str, default: Any = None) -> Any:
    v = p.get(key, default)
    if isinstance(v, (list, tuple)) and len(v) == 1:
        v = v[0]
    return v


def _open(path: Path, dataset: str | None, p: Any) -> FrameSeries:
    n_y = _num(p, "NrPixelsY", None) or _num(p, "NrPixels", None)
    n_z = _num(p, "NrPixelsZ", None) or _num(p, "NrPixels", None)
    kw: dict[str, Any] = {}
    if n_y is not None and n_z is not None:  # GE and other raw formats do not store the size
        kw.update(n_pixels_y=int(n_y), n_pixels_z=int(n_z))
    header = _num(p, "HeadSize", None)
    if header is not None:
        kw["header_bytes"] = int(header)
    if dataset is not None and detect_format(path) == "hdf5":  # -dataLoc only applies to HDF5
        kw["dataset"] = dataset
    return open_frames(path, **kw)


def _read_image(path: str | Path, p: Any) -> NDArray[Any]:
    with _open(Path(path), None, p) as fr:
        return fr.frame(0)


def static_mask(p: Any, raw_shape: tuple[int, int], first_frame: NDArray[Any] | None,
                sentinels: Sequence[float]) -> NDArray[np.bool_] | None:
    """Bad pixels of the stored frames: ``MaskFile``/``GapFile``/``BadPxFile`` (1 = bad) and the
    pixels of the first frame equal to a sentinel value (``GapIntensity``/``BadPxIntensity``).

    Raises
    ------
    ParamError
        A mask image of the wrong shape.
    """
    mask = np.zeros(raw_shape, dtype=bool)
    any_set = False
    for key in ("MaskFile", "GapFile", "BadPxFile"):
        fn = _num(p, key, None)
        if fn:
            m = corrections.bad_pixel_mask(_read_image(fn, p))
            if m.shape != tuple(raw_shape):
                raise ParamError(f"{key} {fn}: mask shape {m.shape} differs from the frame shape {raw_shape}")
            mask |= m
            any_set = True
            log.info("%s %s: %d bad pixels", key, fn, int(m.sum()))
    if first_frame is not None and len(sentinels):
        s = np.isin(first_frame, np.asarray(sentinels, dtype=first_frame.dtype))
        mask |= s
        any_set = any_set or bool(s.any())
        log.info("sentinel values %s: %d pixels of the first frame masked", list(sentinels), int(s.sum()))
    return mask if any_set else None


def sentinel_values(p: Any) -> list[float]:
    """``GapIntensity`` and ``BadPxIntensity`` when set in the parameter file."""
    return [float(_num(p, k)) for k in ("GapIntensity", "BadPxIntensity") if k in p]


def detector_from_params(p: Any, raw_shape: tuple[int, int] | None = None) -> FFDetector:
    """The FF detector of a parameter set; ``NrPixels*`` default to the data's shape.

    Raises
    ------
    ParamError
        Missing geometry keys, or NrPixels that contradict the data.
    """
    if raw_shape is not None and _num(p, "NrPixelsY", None) is None and _num(p, "NrPixels", None) is None:
        ops = corrections.check_im_trans_opt(p.get("ImTransOpt", [0]) or [0])
        n_z, n_y = corrections.transformed_shape(raw_shape, ops)
        p = p.with_values(NrPixelsY=n_y, NrPixelsZ=n_z)
    det = FFDetector.from_params(p)
    if raw_shape is not None:
        expect = corrections.transformed_shape(raw_shape, det.im_trans_opt)
        if (det.n_pixels[1], det.n_pixels[0]) != tuple(expect):
            raise ParamError(f"NrPixelsY/NrPixelsZ = {det.n_pixels} but the frames are {raw_shape[1]} x "
                             f"{raw_shape[0]} (columns x rows) before ImTransOpt {det.im_trans_opt}")
    return det


def prepare_map(job: IntegrationJob, first_file: Path) -> tuple[IntegrationMap, FFDetector]:
    """Build (or load from the cache) the integration matrix for the job's geometry.

    Raises
    ------
    ParamError, FormatError, GeometryError
        Bad parameters or unreadable mask/data files.
    """
    p = job.params
    with _open(first_file, job.data_loc, p) as fr:
        raw_shape = fr.frame_shape
        sent = sentinel_values(p)
        first = fr.frame(0) if sent else None
    det = detector_from_params(p, raw_shape)
    bins = IntegrationBins.from_params(p, lsd_um=det.lsd_um, px_um=det.pixel_size_um[0])
    options = job.map_options or MapOptions.from_params(p)
    mask = static_mask(p, raw_shape, first, sent)
    with parallel.threads(job.n_threads):
        imap = load_or_build_map(det, bins, cache_dir=job.result_folder, options=options, mask=mask,
                                 rebuild=job.rebuild_map, require_cached=job.require_cached_map)
    if job.write_upstream_map:
        write_upstream_map(job.result_folder, imap, UpstreamMapHash.from_params(p, det))
    return imap, det


def _dark_for(job: IntegrationJob, series: FrameSeries, path: Path) -> NDArray[np.float64] | None:
    p = job.params
    skip = int(_num(p, "SkipFrame", 0) or 0)
    dark_fn = job.dark_file or _num(p, "Dark", None)
    if dark_fn:
        with _open(Path(dark_fn), job.dark_loc or "exchange/dark", p) as d:
            return corrections.dark_mean(d, skip_frames=skip)
    zip_dark = getattr(series, "dark", None)
    if zip_dark is not None:
        return corrections.dark_mean(np.asarray(zip_dark), skip_frames=0)
    if series.metadata.get("dataset") is not None:  # HDF5: a dark dataset in the same file
        try:
            with open_frames(path, dataset=job.dark_loc or "exchange/dark") as d:
                return corrections.dark_mean(d, skip_frames=skip)
        except FormatError:
            if job.dark_loc:
                raise
    return None


def _omegas(p: Any, series: FrameSeries) -> NDArray[np.float64]:
    n = series.n_frames
    start = _num(p, "OmegaStart", None)
    if start is None:
        start = _num(p, "OmegaFirstFile", None)
    step = _num(p, "OmegaStep", None)
    if start is None or step is None:
        start, step = getattr(series, "omega_start_deg", None), getattr(series, "omega_step_deg", None)
    if start is None or step is None:
        return np.arange(n, dtype=np.float64)  # no ω information: the frame index, as upstream's writers
    return np.asarray(float(start) + float(step) * np.arange(n), dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# one file
# ------------------------------------------------------------------------------------------------
def _blocks(series: FrameSeries, size: int) -> Iterator[tuple[int, NDArray[Any]]]:
    """Frame blocks, the next one read in a background thread while the current is integrated."""
    starts = list(range(0, series.n_frames, size))
    if not starts:
        return
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(series.read, starts[0], min(series.n_frames, starts[0] + size))
        for k, s in enumerate(starts):
            block = fut.result()
            if k + 1 < len(starts):
                nxt = starts[k + 1]
                fut = pool.submit(series.read, nxt, min(series.n_frames, nxt + size))
            yield s, block


def _peak_rows(label: str, fits: list[PeakFit], lsd_px: float, wavelength_A: float | None) -> list[list[Any]]:
    rows = []
    for k, f in enumerate(fits):
        tth = math.degrees(math.atan(f.centre / lsd_px))
        d = wavelength_A / (2.0 * math.sin(math.radians(tth) / 2.0)) if wavelength_A and tth > 0 else math.nan
        rows.append([label, k, f.centre, f.centre_err, tth, d, f.fwhm, f.area, f.height, f.mixing, f.sig, f.gam,
                     f.background, f.chi2_red, int(f.converged)])
    return rows


def _write_peaks_csv(path: Path, rows: list[list[Any]]) -> Path:
    import csv
    import io

    from midas.io._atomic import atomic_output

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PEAK_CSV_COLUMNS)
    for r in rows:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in r])
    with atomic_output(path) as tmp:
        tmp.write_text(buf.getvalue())
    return path


def _peak_positions(p: Any) -> list[float] | None:
    locs = p.get("PeakLocation", None)
    if locs is None:
        return None
    return [float(v) for v in (locs if isinstance(locs, (list, tuple)) else [locs])]


def default_peak_fit(p: Any) -> str | None:
    """``"each"`` when ``PeakLocation`` lines or an explicit ``DoPeakFit 1`` are present, else None."""
    if _peak_positions(p):
        return "each"
    if "doPeakFit" in p and int(_num(p, "doPeakFit", 0)):
        return "each"
    return None


def integrate_file(job: IntegrationJob, imap: IntegrationMap, path: Path, *,
                   progress: Any = None) -> FileOutputs:
    """Integrate every frame of one data file and write its outputs.

    Raises
    ------
    FormatError, ParamError
        Unreadable data or dark, frames of the wrong shape.
    """
    t0 = time.perf_counter()
    p = job.params
    folder = job.result_folder
    series = _open(path, job.data_loc, p)
    files: dict[str, Path] = {}
    try:
        if tuple(series.frame_shape) != tuple(imap.raw_frame_shape):
            raise FormatError(f"{path}: frames are {series.frame_shape}, the map expects {imap.raw_frame_shape}")
        dark = _dark_for(job, series, path)
        omegas = _omegas(p, series)
        lsd_um = imap.detector.lsd_um if imap.detector is not None else imap.lsd_px
        wavelength = _num(p, "Wavelength", None)
        wavelength = float(wavelength) if wavelength else None
        instrument = gsas_instrument_parameters(p, lsd_um=lsd_um, wavelength_A=wavelength)
        integ = Integrator(imap, dark=dark, sentinel_values=sentinel_values(p), use_gpu=job.use_gpu)
        chunk = int(_num(p, "OmegaSumFrames", 1) or 0)
        chunk = series.n_frames if chunk < 0 else chunk
        save_frames = bool(int(_num(p, "SaveIndividualFrames", 1) or 0))
        stem = path.name
        files["hdf5"] = folder / f"{stem}.caked.hdf"
        files["zarr_zip"] = folder / f"{stem}.caked.hdf.zarr.zip"
        n = series.n_frames
        lineouts = np.empty((n, imap.n_r))
        total = np.zeros((imap.n_r, imap.n_eta))
        acc: NDArray[np.float64] | None = None
        acc_first = 0
        n_sent = 0
        zip_writer = None
        if job.convert_files:
            from midas.io.midas_zip import MidasZipWriter

            files["midas_zip"] = folder / f"{stem}.analysis.MIDAS.zip"
            step = float(omegas[1] - omegas[0]) if n > 1 else 0.0
            zip_writer = MidasZipWriter(files["midas_zip"], frame_shape=series.frame_shape, dtype=series.dtype,
                                        omega_start_deg=float(omegas[0]) if n else 0.0, omega_step_deg=step,
                                        dark=dark, mask=imap.pixel_mask if imap.pixel_mask.any() else None,
                                        n_frames=n)
        with CakeHdf5Writer(files["hdf5"], imap, wavelength_A=wavelength, instrument=instrument) as h5, \
                GsasZarrZipWriter(files["zarr_zip"], imap, wavelength_A=wavelength, instrument=instrument) as zz, \
                parallel.threads(job.n_threads):

            def flush(last: int) -> None:
                nonlocal acc
                if acc is None:
                    return
                count = last - acc_first + 1
                attrs = {"LastFrameNumber": int(last), "Number Of Frames Summed": int(count),
                         "FirstOme": float(omegas[acc_first]), "LastOme": float(omegas[last])}
                h5.add_omega_sum(last, acc, attrs)
                zz.add_omega_sum(last, np.nan_to_num(acc, nan=0.0), attrs)
                acc = None

            for start, block in _blocks(series, job.batch_frames):
                if zip_writer is not None:
                    for fr in block:
                        zip_writer.append(fr)
                res = integ.integrate(block)
                n_sent += int(res.n_sentinel_pixels.sum())
                for k in range(block.shape[0]):
                    i = start + k
                    cake = res.cake[k]
                    lineouts[i] = res.lineout[k]
                    total += np.nan_to_num(cake, nan=0.0)
                    if save_frames:
                        h5.add_frame(i, omegas[i], cake)
                    if chunk > 0:
                        if acc is None:
                            acc = cake.copy()
                            acc_first = i
                        else:
                            acc += cake
                        if i - acc_first + 1 == chunk:
                            flush(i)
                if progress is not None:
                    progress.update(block.shape[0])
            if chunk > 0:
                flush(n - 1)
            total_map = np.where(imap.bin_flagged, np.nan, total)
            h5.add_extra("Lineouts", lineouts, {"Units": "intensity per pixel", "Axis0": "frame",
                                                "Axis1": "radial bin (REtaMap row 0/1)"})
            peaks, peak_rows = _fit_lineouts(job, imap, lineouts, wavelength)
            if peak_rows:
                h5.add_extra("PeakFits", np.array([tuple(r) for r in peak_rows], dtype=_peak_dtype()),
                             {"Units": "centre/fwhm in pixels of R; tth in degrees; d in Angstrom"})
            h5.finish(omegas, total_map, n)
            zz.finish(omegas, total, n)
        if zip_writer is not None:
            zip_writer.close()
    except BaseException:
        series.close()
        raise
    series.close()
    tth = imap.tth_centres_deg()
    with warnings.catch_warnings():  # R bins with no pixel in any frame stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(lineouts, axis=0) if n else np.full(imap.n_r, np.nan)
    files["xy"] = write_xy(folder / f"{stem}_lineout.xy", tth, mean,
                           header=[f"midas {path.name}: mean lineout of {n} frames",
                                   f"Lsd {lsd_um} um, bins {imap.n_r} x {imap.n_eta}"])
    q = imap.r_eta_map(wavelength)[4, :, 0] if wavelength else None
    files["csv"] = write_lineouts_csv(folder / f"{stem}_lineouts.csv", r_px=imap.bins.r_centres_px, tth_deg=tth,
                                      q_inv_A=q, lineouts=lineouts, labels=[f"frame_{i}" for i in range(n)])
    if peak_rows:
        files["peaks_csv"] = _write_peaks_csv(folder / f"{stem}_peaks.csv", peak_rows)
    if job.write_mat:
        files["mat"] = write_mat(folder / f"{stem}.caked.hdf.zarr.zip.mat", {
            "REtaMap": imap.r_eta_map(wavelength), "Omegas": omegas, "Lineouts": lineouts,
            "SumFrames": np.nan_to_num(total), "R_px": imap.bins.r_centres_px, "TwoTheta_deg": tth,
            "Eta_deg": imap.bins.eta_centres_deg, "nFrames": n})
    if job.plots:
        from midas.integration.plots import plot_cake, plot_lineout

        with np.errstate(invalid="ignore", divide="ignore"):
            files["cake_png"] = plot_cake(folder / f"{stem}_cake.png", np.where(imap.bin_flagged, np.nan, total / max(n, 1)),
                                          tth_deg=tth, eta_edges_deg=imap.bins.eta_edges_deg,
                                          title=f"{path.name}: mean cake of {n} frames")
        sum_fits = next((f for lab, f in peaks if lab == "sum"), peaks[0][1] if peaks else [])
        files["lineout_png"] = plot_lineout(folder / f"{stem}_lineout.png", imap.bins.r_centres_px, mean,
                                            fits=sum_fits, title=f"{path.name}: mean lineout")
    if n_sent:
        log.warning("%s: %d pixel values equal to GapIntensity/BadPxIntensity outside the static mask "
                    "(their bins were %s in those frames)", path, n_sent,
                    "set to NaN" if imap.options.mask_policy == "flag_bins" else "renormalised")
    return FileOutputs(data_file=path, n_frames=n, files=files, lineouts=lineouts, peaks=peaks,
                       n_sentinel_pixels=n_sent, seconds=time.perf_counter() - t0)


def _peak_dtype() -> np.dtype[Any]:
    return np.dtype([("frame", "S16"), ("peak", "<i4")] + [(c, "<f8") for c in PEAK_CSV_COLUMNS[2:-1]]
                    + [("converged", "<i4")])


def _fit_lineouts(job: IntegrationJob, imap: IntegrationMap, lineouts: NDArray[np.float64],
                  wavelength: float | None) -> tuple[list[tuple[str, list[PeakFit]]], list[list[Any]]]:
    mode = job.peak_fit if job.peak_fit is not None else default_peak_fit(job.params)
    if mode is None or lineouts.shape[0] == 0:
        return [], []
    x = imap.bins.r_centres_px
    positions = _peak_positions(job.params)
    targets: list[tuple[str, NDArray[np.float64]]]
    if mode == "sum":
        targets = [("sum", np.nanmean(lineouts, axis=0))]
    else:
        targets = [(str(i), lineouts[i]) for i in range(lineouts.shape[0])]
    peaks = []
    rows: list[list[Any]] = []
    for label, y in targets:
        fits = fit_peaks(x, y, positions=positions, settings=job.peak_settings)
        peaks.append((label, fits))
        rows += _peak_rows(label, fits, imap.lsd_px, wavelength)
    return peaks, rows


# ------------------------------------------------------------------------------------------------
# the series
# ------------------------------------------------------------------------------------------------
def run_integration(job: IntegrationJob, data_files: Sequence[Path], *,
                    report: Callable[[str], None] | None = None) -> list[FileOutputs]:
    """Integrate a series of data files with one integration matrix.

    Parameters
    ----------
    job : IntegrationJob
    data_files : sequence of Path
        Read in order; every file must have the same frame shape.
    report : callable, optional
        Receives one line about the map and one per finished file (the CLI prints them).

    Returns
    -------
    list of FileOutputs
        One per data file, in order.

    Raises
    ------
    FormatError
        A missing or unreadable data file (checked before any work starts), or no cached map
        with ``require_cached_map``.
    ParamError, GeometryError
        Bad parameters.
    """
    import sys

    from tqdm.auto import tqdm

    files = [Path(f) for f in data_files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FormatError(f"data file(s) not found: {', '.join(missing[:5])}"
                          + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    job.result_folder.mkdir(parents=True, exist_ok=True)
    imap, _ = prepare_map(job, files[0])
    if report is not None:
        report(f"integration map: {imap.n_r} x {imap.n_eta} bins, {imap.matrix.nnz} entries, "
               f"{int(imap.bin_flagged.sum())} flagged bins"
               + (f", built in {imap.build_seconds:.2f} s" if imap.build_seconds else " (cached)"))
    n_total = 0
    for f in files:
        with _open(f, job.data_loc, job.params) as s:
            n_total += s.n_frames
    disable = (not sys.stderr.isatty()) if job.progress is None else not job.progress
    out = []
    with tqdm(total=n_total, desc="integrate", unit="frame", disable=disable, file=sys.stderr) as bar:
        for f in files:
            res = integrate_file(job, imap, f, progress=bar)
            out.append(res)
            if report is not None:
                report(f"{f.name}: {res.n_frames} frames in {res.seconds:.2f} s -> "
                       + ", ".join(p.name for p in res.files.values()))
    return out
