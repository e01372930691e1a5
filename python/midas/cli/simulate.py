"""``midas simulate ff``: simulate far-field frames from a parameter file (upstream ForwardSimulationCompressed).

``midas simulate nf`` will join as a second sub-command.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def configure_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="simulate detector frames from grains (ff)",
                       description="Forward simulation of HEDM detector frames.")
    kinds = p.add_subparsers(dest="kind", metavar="<kind>")
    kinds.required = True
    ff = kinds.add_parser(
        "ff", help="far-field frames (.MIDAS.zip) + SpotMatrixGen.csv from a Grains.csv",
        description="Simulate a far-field scan like upstream's ForwardSimulationCompressed. Reads the grains "
                    "from InFileName (relative to the parameter file) and writes <OutFileName>.analysis.MIDAS.zip, "
                    "SpotMatrixGen.csv, hkls.csv and GrainsGen.csv into the result folder.")
    ff.add_argument("-paramFN", "--param-file", dest="param_file", required=True, type=Path,
                    help="upstream MIDAS parameter file")
    ff.add_argument("-nCPUs", "--n-cpus", dest="n_cpus", type=int, default=None,
                    help="OpenMP threads (default: all)")
    ff.add_argument("-resultFolder", "--result-folder", dest="result_folder", type=Path, default=None,
                    help="output folder (default: the parameter file's folder)")
    ff.add_argument("-noiseSeed", "--noise-seed", dest="noise_seed", type=int, default=0,
                    help="seed of the SimNoiseSigma noise (default 0)")
    ff.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from midas.cli.common import progress
    from midas.errors import ParamError
    from midas.forward.ff import FFScan
    from midas.forward.simulate import simulate_ff
    from midas.params import read_params

    if args.kind != "ff":  # pragma: no cover - argparse only offers ff today
        raise ParamError(f"midas simulate {args.kind}: not available")
    if args.n_cpus is not None and args.n_cpus < 1:
        raise ParamError(f"-nCPUs {args.n_cpus}: expected >= 1")
    p = read_params(args.param_file)
    n_frames = FFScan.from_params(p).n_frames
    bar = progress(range(n_frames), total=n_frames, desc="frames", unit="frame")
    it = iter(bar)

    def advance(n: int) -> None:
        for _ in range(n):
            next(it, None)

    res = simulate_ff(p, result_folder=args.result_folder, n_threads=args.n_cpus, noise_seed=args.noise_seed,
                      progress=advance)
    next(it, None)  # let the bar close
    print(f"{len(res.spots)} spots in {res.n_frames} frames -> {res.zip_path}")
    if res.spot_matrix_path is not None:
        print(f"spot table: {res.spot_matrix_path}")
    return 0
