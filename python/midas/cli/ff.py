"""``midas ff`` (also installed as ``ff_MIDAS``): the far-field HEDM workflow, frames to Grains.csv.

Upstream ff_MIDAS.py's flags are accepted with the same names and meanings. Differences, on
purpose: stages pass their results in memory and checkpoint them to ``LayerNr_N/pipeline.h5``
(``-resume``, ``-restartFrom``); frames are labelled with their centre ω unless
``-omegaLabel start``; everything runs on this machine (``-machineName``/``-nNodes`` are
accepted and only logged).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _flag(v: str) -> bool:
    if v in ("1", "true", "True", "yes"):
        return True
    if v in ("0", "false", "False", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected 0 or 1, got {v!r}")


def _add_arguments(p: argparse.ArgumentParser) -> None:
    from midas.ff.pipeline import STAGES

    p.add_argument("-paramFN", dest="paramFN", required=True, type=Path, help="MIDAS parameter file")
    p.add_argument("-dataFN", dest="dataFN", type=Path, default=None,
                   help="the .MIDAS.zip (or, with -convertFiles 1, the raw file) of the first layer "
                        "(default: built from RawFolder/FileStem/StartFileNrFirstLayer)")
    p.add_argument("-fileName", dest="fileName", type=Path, default=None,
                   help="data file name, relative to -rawDir (same as -dataFN)")
    p.add_argument("-resultFolder", dest="resultFolder", type=Path, default=Path("."),
                   help="output folder; layer N goes to LayerNr_N/ (default: current folder)")
    p.add_argument("-nCPUs", dest="nCPUs", type=int, default=None, help="threads (default: all)")
    p.add_argument("-startLayerNr", dest="startLayerNr", type=int, default=1, help="first layer (default 1)")
    p.add_argument("-endLayerNr", dest="endLayerNr", type=int, default=1, help="last layer (default 1)")
    p.add_argument("-convertFiles", dest="convertFiles", type=_flag, default=False,
                   help="1: convert raw frames to .MIDAS.zip first (midas convert)")
    p.add_argument("-doPeakSearch", dest="doPeakSearch", type=_flag, default=True,
                   help="0: reuse the peak search stored in the layer's checkpoint (default 1)")
    p.add_argument("-peakSearchOnly", dest="peakSearchOnly", type=_flag, default=False,
                   help="1: stop after peak search, merge, radius and FitSetup")
    p.add_argument("-numFrameChunks", dest="numFrameChunks", type=int, default=1,
                   help="frames read per I/O call when converting (memory = this many frames)")
    p.add_argument("-preProcThresh", dest="preProcThresh", type=float, default=-1.0,
                   help="conversion: subtract the dark and zero pixels below dark + this (-1: off)")
    p.add_argument("-provideInputAll", dest="provideInputAll", type=_flag, default=False,
                   help="1: start from InputAll.csv (+ InputAllExtraInfoFittingAll.csv) or Spots.bin "
                        "(+ ExtraInfo.bin) in LayerNr_N/ or -resultFolder")
    p.add_argument("-rawDir", dest="rawDir", type=Path, default=None, help="folder of the raw files")
    p.add_argument("-grainsFile", dest="grainsFile", type=Path, default=None,
                   help="refine the grains of this Grains.csv instead of indexing")
    p.add_argument("-reprocess", dest="reprocess", type=_flag, default=False,
                   help="1: recompute indexing onwards from the stored front half")
    p.add_argument("-resume", dest="resume", type=Path, default=None,
                   help="continue from this checkpoint (pipeline.h5); by default each layer resumes from "
                        "its own LayerNr_N/pipeline.h5 when present")
    p.add_argument("-restartFrom", dest="restartFrom", choices=STAGES, default=None,
                   help="recompute from this stage (earlier ones are read from the checkpoint)")
    p.add_argument("-omegaLabel", dest="omegaLabel", choices=("centre", "start"), default="centre",
                   help="frame ω label: centre (right) or start (upstream's; biases ω by half a step)")
    p.add_argument("-writeBinFiles", dest="writeBinFiles", type=_flag, default=False,
                   help="1: also write upstream's Spots.bin/ExtraInfo.bin/Data.bin/nData.bin")
    p.add_argument("-machineName", dest="machineName", default="local",
                   help="accepted for compatibility; midas runs every stage on this machine")
    p.add_argument("-nNodes", dest="nNodes", type=int, default=1,
                   help="accepted for compatibility; local execution uses one node (-nCPUs threads)")


def configure_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ff", help="far-field HEDM: frames -> Grains.csv (ff_MIDAS)",
                       description="Far-field HEDM workflow: peak search, merge, ring assignment, spot set-up, "
                                   "indexing, refinement and grain processing. Writes Grains.csv, "
                                   "SpotMatrix.csv, GrainIDsKey.csv, <FileStem>_consolidated.h5 and plots "
                                   "into <resultFolder>/LayerNr_N/.")
    _add_arguments(p)
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> Any:
    """The :class:`midas.ff.pipeline.FFOptions` of parsed arguments."""
    from midas.ff.pipeline import FFOptions

    data = args.dataFN if args.dataFN is not None else args.fileName
    return FFOptions(param_file=args.paramFN, result_folder=args.resultFolder, data_file=data, n_cpus=args.nCPUs,
                     start_layer=args.startLayerNr, end_layer=args.endLayerNr, convert_files=args.convertFiles,
                     do_peak_search=args.doPeakSearch, peak_search_only=args.peakSearchOnly,
                     num_frame_chunks=args.numFrameChunks, pre_proc_thresh=args.preProcThresh,
                     provide_input_all=args.provideInputAll, raw_dir=args.rawDir, grains_file=args.grainsFile,
                     reprocess=args.reprocess, resume=args.resume, restart_from=args.restartFrom,
                     omega_label=args.omegaLabel, write_bin_files=args.writeBinFiles, progress=sys.stderr.isatty())


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from midas.ff.pipeline import run_ff

    if args.machineName not in ("local", "", None) or args.nNodes != 1:
        log.warning("-machineName %s -nNodes %d: running locally with -nCPUs threads (cluster execution is "
                    "not available yet)", args.machineName, args.nNodes)
    opts = options_from_args(args)
    bars: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="seed", disable=not sys.stderr.isatty(),
                                     file=sys.stderr)
        bar.update(done - bar.n)

    try:
        results = run_ff(opts, on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    for r in results:
        n = len(r.grains) if r.grains is not None else 0
        what = f"{n} grains" if r.grains is not None else "front half only"
        times = ", ".join(f"{k} {v:.1f} s" for k, v in r.timings_s.items())
        print(f"layer {r.layer}: {what} -> {r.folder}" + (f" ({times})" if times else ""))
    return 0


def ff_midas_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ff_MIDAS`` console script (same flags as ``midas ff``)."""
    from midas.cli.main import main

    return main(["ff", *(sys.argv[1:] if argv is None else argv)])
