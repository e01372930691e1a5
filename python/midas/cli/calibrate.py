"""``midas calibrate`` (and the ``AutoCalibrateZarr`` console script): detector calibration from one
image of a powder calibrant.

The replacement for upstream's ``AutoCalibrateZarr.py``, with the same flags. It reads zarr
(``.MIDAS.zip``), HDF5, GE, TIFF and CBF directly (no conversion step), averages the frames,
subtracts the dark, finds the beam centre and the distance by itself, and refines Lsd, BC, ty, tz and
p0..p3 on the exact pixel-splitting cake until the mean pseudo-strain is below -StoppingStrain.

Multi-module detectors (``-PanelFit auto``, the default): with the panel keys ``NPanelsY`` … in
-paramFN, or — the AutoCalibrateZarr flow without them — for a Pilatus 300K/1M/2M/6M recognised
from the image shape (one panel per 487 × 195 px module, gaps 7 and 17 px), the per-module shifts
dY, dZ and rotation dθ (plus dLsd/dP2 with ``PerPanelLsd``/``PerPanelDistortion``) are refined
after the single-plane geometry has converged (``docs/conventions.md`` §5.7).

Outputs in -resultFolder (default: the current folder): ``refined_MIDAS_params.txt`` (usable by
``midas integrate`` and ``midas ff``; with panels it carries the layout keys and
``PanelShiftsFile``), ``panel_shifts.txt`` (with panels), ``autocal.log``, ``calibration_rings.csv`` (per-ring
strain), and on request the -SavePlotsHDF file and the -MakePlots PNGs.

Where the values come from: flags, then the -paramFN file, then the parameters stored in a
``.MIDAS.zip``, then the data file name (calibrant ``ceria``/``CeO2``/``LaB6``/...; energy
``61p332keV``). The beam centre BC is (y, z) = (column, row) of the frame after ImTransOpt.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from midas.errors import FormatError, ParamError

log = logging.getLogger(__name__)

_HELP = "detector calibration from one calibrant image (AutoCalibrateZarr)"
_CONVERT_FORMATS = {0: None, 1: "hdf5", 2: "ge", 3: "tiff"}
_KEV_A = 12.398419843320026


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-dataFN", required=True, help="calibrant image: .MIDAS.zip (zarr), HDF5, GE, TIFF or CBF")
    p.add_argument("-ConvertFile", type=int, choices=(0, 1, 2, 3), default=0,
                   help="input type: 0 zarr/auto-detect (default), 1 HDF5, 2 GE, 3 TIFF (read directly, "
                        "no conversion)")
    p.add_argument("-paramFN", default=None,
                   help="parameter file: Wavelength, px, SpaceGroup, LatticeConstant, ImTransOpt, MaskFile, ...")
    p.add_argument("-darkFN", default=None, help="dark file (frames averaged)")
    p.add_argument("-dataLoc", default=None, help="HDF5 dataset of the frames (default exchange/data, or the "
                                                  "file's only image dataset)")
    p.add_argument("-StoppingStrain", type=float, default=4e-5, help="mean pseudo-strain to reach (default 4e-5)")
    p.add_argument("-MultFactor", type=float, default=2.5,
                   help="outlier factor for points and rings (default 2.5)")
    p.add_argument("-FirstRingNr", type=int, default=1, help="first visible ring (1-based, default 1)")
    p.add_argument("-LsdGuess", type=float, default=None,
                   help="distance guess, µm (default: none, searched 20 mm - 20 m)")
    p.add_argument("-BCGuess", type=float, nargs=2, default=None, metavar=("Y", "Z"),
                   help="beam-centre guess (y z) in pixels (default: detected); 0 0 means none")
    p.add_argument("-EtaBinSize", type=float, default=5.0, help="azimuthal bin of the ring fits, deg (default 5)")
    p.add_argument("-Threshold", type=float, default=0.0,
                   help="ring threshold above background, counts (0 = automatic)")
    p.add_argument("-MakePlots", type=int, choices=(0, 1), default=0,
                   help="write ring_overlay.png and strain_vs_2theta.png")
    p.add_argument("-SavePlotsHDF", default="", help="HDF5 file for the intermediate images and strains")
    # beyond upstream's flags
    p.add_argument("-Calibrant", default=None,
                   help="calibrant preset (CeO2, LaB6, Si, Al2O3, Au, Ni) instead of SpaceGroup/LatticeConstant")
    p.add_argument("-Wavelength", type=float, default=None, help="wavelength, Å (overrides the parameter file)")
    p.add_argument("-px", type=float, default=None, help="pixel size, µm (overrides the parameter file)")
    p.add_argument("-ImTransOpt", type=int, nargs="+", default=None, help="image transformations (0 1 2 3)")
    p.add_argument("-MaskFN", default=None, help="mask image, 1 = bad pixel")
    p.add_argument("-GapIntensity", type=float, default=None, help="pixel value marking module gaps")
    p.add_argument("-BadPxIntensity", type=float, default=None, help="pixel value marking bad pixels")
    p.add_argument("-MaxIterations", type=int, default=10, help="EM iterations at most (default 10)")
    p.add_argument("-FitParameters", nargs="+", default=None,
                   help="parameters to fit (default lsd bc_y bc_z ty tz p0 p1 p2 p3; also tx p4 p5 p6)")
    p.add_argument("-PanelFit", choices=("auto", "on", "off"), default="auto",
                   help="per-panel refinement: auto (default) = with the panel keys NPanelsY... of -paramFN, or "
                        "for a Pilatus 300K/1M/2M/6M recognised from the image shape; on = require a layout; off")
    p.add_argument("-resultFolder", default=".", help="output folder (default: current folder)")
    p.add_argument("-nCPUs", type=int, default=None, help="threads of the compiled kernels")


def configure_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``midas calibrate``."""
    p = subparsers.add_parser("calibrate", help=_HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------
def _num(p: Any, key: str) -> Any:
    if p is None or key not in p:
        return None
    v = p.get(key)
    if isinstance(v, list) and len(v) == 1:
        v = v[0]
    return v


def _open_series(path: Path, fmt: str | None, data_loc: str | None, p: Any) -> Any:
    from midas.io.frames import detect_format, open_frames

    kw: dict[str, Any] = {}
    n_y, n_z = _num(p, "NrPixelsY"), _num(p, "NrPixelsZ")
    if n_y is not None and n_z is not None:
        kw.update(n_pixels_y=int(n_y), n_pixels_z=int(n_z))
    kind = fmt or detect_format(path)
    if kind == "hdf5":
        if data_loc:
            return open_frames(path, format=kind, dataset=data_loc)
        try:
            return open_frames(path, format=kind)
        except FormatError:
            from midas.io.hdf5 import list_datasets

            images = [(name, shape) for name, shape, _ in list_datasets(path) if len(shape) in (2, 3)
                      and min(shape[-2:]) >= 16]
            if len(images) != 1:
                raise
            log.info("%s: reading the only image dataset %s", path, images[0][0])
            return open_frames(path, format=kind, dataset=images[0][0])
    return open_frames(path, format=kind, **kw)


def _mean_image(path: str | Path, fmt: str | None, data_loc: str | None, p: Any) -> tuple[np.ndarray, Any]:
    from midas.calibration.background import average_frames

    with _open_series(Path(path), fmt, data_loc, p) as series:
        first = np.asarray(series.frame(0))
        mean = average_frames(series)
        meta = getattr(series, "analysis_parameters", None)
        zip_dark = getattr(series, "dark", None)
        zip_mask = getattr(series, "mask", None)
    return mean, {"first": first, "params": meta, "dark": zip_dark, "mask": zip_mask}


def _wavelength_from_name(name: str) -> float | None:
    m = re.search(r"(\d+(?:[p.]\d+)?)\s*kev", name.lower())
    if not m:
        return None
    kev = float(m.group(1).replace("p", "."))
    return _KEV_A / kev if kev > 0 else None


def result_panel_shifts_path(out_dir: Path) -> Path:
    """The PanelShiftsFile written next to refined_MIDAS_params.txt."""
    return out_dir / "panel_shifts.txt"


def panel_settings(params: Any, n_pixels: tuple[int, int], mode: str) -> tuple[Any, Any]:
    """Panel layout and :class:`~midas.calibration.refine.PanelFit` of a run, or (None, None).

    The layout comes from the parameter file's ``NPanelsY`` … keys; without them (the
    AutoCalibrateZarr flow), from the image shape ``(n_y, n_z)`` of the calibration frame when it
    is a known Pilatus (:data:`midas.geometry.panels.KNOWN_LAYOUTS`). Fit options come from
    ``FixPanelID``, ``PerPanelLsd``, ``PerPanelDistortion``, ``tolShifts``, ``tolRotation``,
    ``tolLsdPanel`` and ``tolP2Panel``.

    Raises
    ------
    ParamError
        ``mode == "on"`` without any layout, or invalid panel keys.
    """
    from midas.calibration.refine import PanelFit
    from midas.geometry.panels import PanelLayout

    if mode == "off":
        return None, None
    layout = PanelLayout.from_params(params) if params is not None else None
    source = "the parameter file"
    if layout is None:
        layout = PanelLayout.for_detector_shape(n_pixels)
        source = f"the image shape {n_pixels[0]} × {n_pixels[1]} (known Pilatus module grid)"
    if layout is None:
        if mode == "on":
            raise ParamError(f"-PanelFit on: no NPanelsY/NPanelsZ keys and no known module grid for a "
                             f"{n_pixels[0]} × {n_pixels[1]} detector")
        return None, None
    has = (lambda k: params is not None and k in params)
    kw: dict[str, Any] = {}
    if has("FixPanelID"):
        kw["fixed_panel"] = int(params.get("FixPanelID"))
    for key, name in (("tolShifts", "tol_shift_px"), ("tolRotation", "tol_rotation_deg"),
                      ("tolLsdPanel", "tol_lsd_um"), ("tolP2Panel", "tol_p2")):
        if has(key):
            kw[name] = float(params.get(key))
    fit = PanelFit(fit_lsd=bool(has("PerPanelLsd") and int(params.get("PerPanelLsd"))),
                   fit_p2=bool(has("PerPanelDistortion") and int(params.get("PerPanelDistortion"))), **kw)
    log.info("panel layout %d × %d panels of %d × %d px from %s", *layout.n_panels, *layout.panel_size_px, source)
    return layout, fit


def run(args: argparse.Namespace) -> int:
    """Run the calibration described by the parsed arguments; returns the exit status."""
    from midas.calibration.autocal import CalibrationSettings, calibrate_image
    from midas.calibration.background import bad_pixels
    from midas.calibration.calibrants import calibrant_from_params
    from midas.calibration.outputs import (
        write_hdf5,
        write_plots,
        write_refined_params,
        write_ring_table,
    )
    from midas.calibration.refine import DEFAULT_FIT
    from midas.io import corrections
    from midas.parallel import threads
    from midas.params import MidasParams, read_params

    out_dir = Path(args.resultFolder)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "autocal.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("midas")
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(previous_level or logging.INFO, logging.INFO))
    t_start = time.perf_counter()
    try:
        log.info("command line: %s", " ".join(sys.argv))
        params = read_params(args.paramFN) if args.paramFN else None
        data = Path(args.dataFN)
        fmt = _CONVERT_FORMATS[args.ConvertFile]
        with threads(args.nCPUs):
            image, meta = _mean_image(data, fmt, args.dataLoc, params)
        if params is None and meta["params"]:
            params = MidasParams.from_mapping(meta["params"], source=f"{data} (analysis parameters)")
        wavelength = args.Wavelength or _num(params, "Wavelength") or _wavelength_from_name(data.name)
        if not wavelength:
            raise ParamError("no wavelength: give Wavelength in -paramFN, -Wavelength, or the energy in the file "
                             "name (e.g. 61p332keV)")
        if not (args.Wavelength or _num(params, "Wavelength")):
            log.info("wavelength %.6f Å from the energy in the file name %s", wavelength, data.name)
        px = args.px or _num(params, "px")
        if not px:
            raise ParamError("no pixel size: give px in -paramFN or -px (µm)")
        ito = args.ImTransOpt if args.ImTransOpt is not None else (params.get("ImTransOpt", [0]) if params else [0])
        ops = corrections.check_im_trans_opt(ito or [0])
        calibrant = calibrant_from_params(params, name=args.Calibrant, data_path=data)
        # dark, mask, sentinels (in the stored layout)
        dark = None
        dark_fn = args.darkFN or _num(params, "Dark")
        if dark_fn:
            dark, _ = _mean_image(Path(dark_fn), None, args.dataLoc if fmt == "hdf5" else None, params)
        elif meta["dark"] is not None and np.any(meta["dark"]):
            dark = np.asarray(meta["dark"], dtype=np.float64)
            dark = dark.mean(axis=0) if dark.ndim == 3 else dark
        sentinels = [v for v in (args.GapIntensity, args.BadPxIntensity, _num(params, "GapIntensity"),
                                 _num(params, "BadPxIntensity")) if v is not None]
        mask = None
        mask_fn = args.MaskFN or _num(params, "MaskFile")
        if mask_fn:
            mask, _ = _mean_image(Path(mask_fn), None, None, params)
        elif meta["mask"] is not None:
            mask = np.asarray(meta["mask"])
        bad = bad_pixels(meta["first"], mask=mask, gap_values=sentinels) | bad_pixels(image, gap_values=())
        if dark is not None:
            if dark.shape != image.shape:
                raise ParamError(f"dark {dark_fn} has shape {dark.shape}, the data {image.shape}")
            image = image - dark
        image = np.ascontiguousarray(corrections.im_trans_opt(np.where(bad, 0.0, image), ops), dtype=np.float64)
        bad = np.ascontiguousarray(corrections.im_trans_opt(bad, ops))
        bc_guess = tuple(args.BCGuess) if args.BCGuess and any(args.BCGuess) else None
        tx = float(_num(params, "tx") or 0.0)
        rings_ex = tuple(int(v) for v in (params.get("RingsToExclude", []) if params else []))
        settings = CalibrationSettings(
            stopping_strain=args.StoppingStrain, mult_factor=args.MultFactor, first_ring_nr=args.FirstRingNr,
            lsd_guess_um=args.LsdGuess, bc_guess_px=bc_guess, eta_bin_size_deg=args.EtaBinSize,
            threshold=args.Threshold if args.Threshold > 0 else None, max_iterations=args.MaxIterations,
            fit=tuple(args.FitParameters) if args.FitParameters else DEFAULT_FIT, rings_to_exclude=rings_ex)
        rho_d = _num(params, "RhoD")
        layout, panel_fit = panel_settings(params, (image.shape[1], image.shape[0]), args.PanelFit)
        if panel_fit is not None:
            settings = dataclasses.replace(settings, panel_fit=panel_fit)
        with threads(args.nCPUs):
            result = calibrate_image(image, bad, calibrant=calibrant, wavelength_A=float(wavelength),
                                     pixel_size_um=float(px), settings=settings, tx_deg=tx,
                                     rho_d_um=float(rho_d) if rho_d else None, panels=layout)
        written = [write_refined_params(out_dir / "refined_MIDAS_params.txt", result, params, im_trans_opt=ops),
                   write_ring_table(out_dir / "calibration_rings.csv", result)]
        if result.detector.panels is not None:
            written.append(result_panel_shifts_path(out_dir))
        if args.SavePlotsHDF:
            h5 = Path(args.SavePlotsHDF)
            written.append(write_hdf5(h5 if h5.is_absolute() else out_dir / h5, result))
        if args.MakePlots:
            written += write_plots(out_dir, result)
        det = result.detector
        seconds = time.perf_counter() - t_start
        status = ("converged" if result.converged
                  else f"above StoppingStrain {1e6 * args.StoppingStrain:.1f} µε")
        lines = [
            (f"calibrant {calibrant.name}, λ = {wavelength:.6f} Å, px = {px} µm, "
             f"{len(result.iterations)} iterations, {seconds:.1f} s"),
            (f"Lsd {det.lsd_um:.2f} µm  BC {det.bc_px[0]:.3f} {det.bc_px[1]:.3f} px  tx {det.tx_deg:.4f}  "
             f"ty {det.ty_deg:.5f}  tz {det.tz_deg:.5f} deg"),
            "p0..p3 " + " ".join(f"{v:.6g}" for v in det.distortion[:4]) + f"  RhoD {det.rho_d_um:.1f} µm",
            f"mean pseudo-strain {1e6 * result.mean_strain:.1f} µε ({status})",
            *([f"ring-position noise of this image alone: {1e6 * result.noise_strain:.1f} µε"]
              if math.isfinite(result.noise_strain) else []),
            *[f"wrote {w}" for w in written],
        ]
        # the summary goes to stdout once, and to autocal.log (not again to the console log)
        summary = logging.getLogger(f"{__name__}.summary")
        summary.propagate = False
        summary.setLevel(logging.INFO)
        summary.addHandler(handler)
        try:
            for line in lines:
                summary.info(line)
                print(line)
        finally:
            summary.removeHandler(handler)
        return 0
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``AutoCalibrateZarr`` console script (same flags as ``midas calibrate``)."""
    from midas.cli.common import standalone_main

    return standalone_main("AutoCalibrateZarr", __doc__, _add_arguments, run, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

