"""``midas integrate`` (also the ``integrator`` command): radial integration of detector frames.

Upstream's CPU batch workflow (``integrator.py`` → ``DetectorMapper`` + ``IntegratorZarrOMP``) with
its flags. Per data file it writes ``<name>.caked.hdf`` (upstream HDF5 layout),
``<name>.caked.hdf.zarr.zip`` (GSAS-II "MIDAS zarr"), ``<name>_lineout.xy`` (mean lineout, 2θ),
``<name>_lineouts.csv`` (every frame), and on request ``.mat``, peak fits and PNG plots.
Trailing ``Key Value`` pairs override parameter-file values (as upstream's integrator.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from midas.errors import MidasError, ParamError

log = logging.getLogger(__name__)

_HELP = "radial integration (DetectorMapper + integrator): caked HDF5, GSAS-II zarr.zip, lineouts, peak fits"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-paramFN", required=True, help="parameter file (geometry, bins, corrections)")
    p.add_argument("-dataFN", required=True, help="data file (first of the series with -startFileNr)")
    p.add_argument("-resultFolder", default=".", help="output folder (default: current folder)")
    p.add_argument("-darkFN", default=None, help="dark file (any frame format; frames are averaged)")
    p.add_argument("-dataLoc", default=None, help="HDF5 dataset of the frames (default exchange/data)")
    p.add_argument("-darkLoc", default=None, help="HDF5 dataset of the darks (default exchange/dark)")
    p.add_argument("-startFileNr", type=int, default=None, help="first file number (6-digit padded in -dataFN)")
    p.add_argument("-endFileNr", type=int, default=None, help="last file number")
    p.add_argument("-nCPUs", type=int, default=None, help="threads (when -nCPUsLocal is not given)")
    p.add_argument("-nCPUsLocal", type=int, default=None, help="OpenMP threads of the integration kernels")
    p.add_argument("-writeMat", type=int, choices=(0, 1), default=0, help="also write MATLAB .mat files")
    p.add_argument("-mapDetector", type=int, choices=(0, 1), default=1,
                   help="1: build the map when no valid cached one exists and write upstream Map.bin/nMap.bin/"
                        "maskMap.bin; 0: require the cached map (error when it is missing or stale)")
    p.add_argument("-convertFiles", type=int, choices=(0, 1), default=0,
                   help="also store each data file as <name>.analysis.MIDAS.zip (frames are read directly either way)")
    p.add_argument("-gpu", type=int, choices=(0, 1), default=0, help="run the CSR product on the GPU")
    p.add_argument("-peakFit", choices=("auto", "none", "each", "sum"), default="auto",
                   help="fit lineout peaks of every frame or of the mean lineout (auto: when PeakLocation/DoPeakFit)")
    p.add_argument("-peakModel", choices=("pv", "tch"), default="pv", help="pseudo-Voigt or GSAS-II TCH pseudo-Voigt")
    p.add_argument("-maskPolicy", choices=("flag_bins", "exclude_pixels"), default="flag_bins",
                   help="a bad pixel flags every bin it touches (upstream) or only drops out of them")
    p.add_argument("-precision", choices=("float32", "float64"), default="float32", help="matrix entry type")
    p.add_argument("-batchFrames", type=int, default=8, help="frames integrated per pass over the matrix")
    p.add_argument("-plots", type=int, choices=(0, 1), default=0, help="write PNGs of the cake and lineout")
    p.add_argument("-rebuildMap", type=int, choices=(0, 1), default=0, help="ignore a cached map")
    p.add_argument("overrides", nargs="*", metavar="Key Value", help="parameter overrides, e.g. RMax 1000")


def configure_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``midas integrate``."""
    p = subparsers.add_parser("integrate", help=_HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    p.set_defaults(func=run)


def _overrides(tokens: Sequence[str]) -> dict[str, str]:
    if len(tokens) % 2:
        raise ParamError(f"parameter overrides must come in 'Key Value' pairs, got {list(tokens)}")
    return {tokens[i].lstrip("-"): tokens[i + 1] for i in range(0, len(tokens), 2)}


def run(args: argparse.Namespace) -> int:
    """Run the integration described by the parsed arguments; returns the exit status."""
    from midas.integration.mapper import MapOptions
    from midas.integration.peakfit import PeakFitSettings
    from midas.integration.workflow import (
        IntegrationJob,
        data_file_series,
        default_peak_fit,
        run_integration,
    )
    from midas.params import parse_text, read_params

    params = read_params(args.paramFN)
    extra = _overrides(args.overrides)
    if extra:  # typed by the parameter-file parser, as if the lines were in the file
        typed = parse_text("\n".join(f"{k} {v}" for k, v in extra.items()) + "\n")
        params = params.with_values({k: typed[k] for k in extra})
    files = data_file_series(args.dataFN, args.startFileNr, args.endFileNr)
    peak_fit = {"auto": default_peak_fit(params), "none": None, "each": "each", "sum": "sum"}[args.peakFit]
    settings = PeakFitSettings(model=args.peakModel, roi_padding=int(params.get("FitROIPadding", 20)),
                               snip_iterations=int(params.get("SNIPIterations", 50)),
                               smooth=bool(int(params.get("DoSmoothing", 0) or 0)))
    job = IntegrationJob(
        params=params, result_folder=Path(args.resultFolder),
        dark_file=Path(args.darkFN) if args.darkFN else None, data_loc=args.dataLoc, dark_loc=args.darkLoc,
        n_threads=args.nCPUsLocal or args.nCPUs, write_mat=bool(args.writeMat),
        write_upstream_map=bool(args.mapDetector), convert_files=bool(args.convertFiles), use_gpu=bool(args.gpu),
        batch_frames=args.batchFrames, peak_fit=peak_fit, peak_settings=settings,
        map_options=MapOptions.from_params(params, mask_policy=args.maskPolicy, precision=args.precision),
        plots=bool(args.plots), rebuild_map=bool(args.rebuildMap), require_cached_map=not args.mapDetector)
    run_integration(job, files, report=print)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``integrator`` console script (same flags as ``midas integrate``)."""
    parser = argparse.ArgumentParser(prog="integrator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except MidasError as exc:
        print(f"integrator: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("integrator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
