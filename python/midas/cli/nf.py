"""``midas nf`` (and the ``nf_MIDAS`` console script): the NF-HEDM workflow of upstream nf_MIDAS.py.

Flags keep upstream's spelling (``-paramFN``, ``-nCPUs``, ...). ``-machineName``, ``-nNodes`` and
``-gpuFit`` are accepted; the run is local and on the CPU (OpenMP), and the command says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from midas.nf.pipeline import STAGES

_STAGES = tuple(STAGES) + ("refinement",)


def _flag(v: str) -> bool:
    if v not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {v!r}")
    return v == "1"


def _point(v: str) -> tuple[float, float]:
    try:
        x, y = (float(t) for t in v.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"grid point {v!r}: expected 'x,y' in µm") from None
    return (x, y)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``midas nf`` / ``nf_MIDAS``."""
    p.add_argument("-paramFN", required=True, help="NF parameter file")
    p.add_argument("-nCPUs", type=int, default=None, help="OpenMP threads (default: all cores)")
    p.add_argument("-machineName", default="local", help="accepted for compatibility; midas runs locally")
    p.add_argument("-nNodes", type=int, default=1, help="accepted for compatibility; midas runs on one node")
    p.add_argument("-ffSeedOrientations", type=_flag, default=False, metavar="{0,1}",
                   help="seed orientations from the FF GrainsFile (1) or SeedOrientations / sampling (0)")
    p.add_argument("-doImageProcessing", type=_flag, default=True, metavar="{0,1}",
                   help="process the raw TIFF images into SpotsInfo.bin (1, default) or reuse it (0)")
    p.add_argument("-refineParameters", type=_flag, default=False, metavar="{0,1}",
                   help="refine Lsd, BC and tilts instead of reconstructing (1)")
    p.add_argument("-multiGridPoints", type=_flag, default=False, metavar="{0,1}",
                   help="refinement on the GridPoints lines (1) or on one point (0)")
    p.add_argument("-gpuFit", type=_flag, default=False, metavar="{0,1}",
                   help="accepted for compatibility; the fit runs on the CPU")
    p.add_argument("-resume", type=_flag, default=False, metavar="{0,1}",
                   help="skip the stages already completed for this parameter file")
    p.add_argument("-restartFrom", choices=_STAGES, default=None, help="run from this stage on")
    p.add_argument("-gridPoint", type=_point, default=None, metavar="X,Y",
                   help="refinement point in µm (-refineParameters 1 -multiGridPoints 0); asked on stdin if absent")
    p.add_argument("-spotsInfo", default=None, metavar="FILE",
                   help="SpotsInfo .bin or sparse .npz to use with -doImageProcessing 0")
    p.add_argument("-writeParams", default=None, metavar="FILE", help="refinement: write the refined parameter file")
    p.add_argument("-polish", type=_flag, default=True, metavar="{0,1}",
                   help="midas' polish of each point's best orientation (1, default); 0 = upstream's search only")
    p.add_argument("-progress", type=_flag, default=None, metavar="{0,1}",
                   help="progress bar (default: when stderr is a terminal)")


def configure_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("nf", help="NF-HEDM: images -> orientation map, or geometry refinement (nf_MIDAS)",
                       description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from midas.nf.pipeline import PipelineOptions, run_nf

    notes = []
    if args.machineName not in ("local", ""):
        notes.append(f"-machineName {args.machineName}: cluster execution is not available; running locally")
    if args.nNodes != 1:
        notes.append(f"-nNodes {args.nNodes}: multi-node execution is not available; running on this node")
    if args.gpuFit:
        notes.append("-gpuFit 1: the GPU fit is not available yet; running the CPU (OpenMP) fit")
    for n in notes:
        print(f"midas nf: {n}", file=sys.stderr)
    opts = PipelineOptions(
        n_cpus=args.nCPUs, ff_seed_orientations=args.ffSeedOrientations, do_image_processing=args.doImageProcessing,
        refine_parameters=args.refineParameters, multi_grid_points=args.multiGridPoints, grid_point_um=args.gridPoint,
        resume=args.resume, restart_from=args.restartFrom, spots_info_file=args.spotsInfo,
        write_params=args.writeParams, polish=args.polish, progress=args.progress,
    )
    summary = run_nf(args.paramFN, opts)
    print(json.dumps(summary, indent=1, default=str))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``nf_MIDAS``: the ``midas nf`` verb on its own."""
    from midas.cli.main import main as midas_main

    return midas_main(["nf", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
