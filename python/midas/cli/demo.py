"""``midas demo``: the main pipeline on the built-in example, scored against its truth.

Simulates the built-in FF example (20 Au grains, small frames) with upstream's simulator model,
runs the whole ``midas ff`` workflow on the frames and prints the score of the grains it found
against the grains it simulated.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def configure_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="simulate the built-in FF example, reconstruct it with `midas ff`, score it",
                       description=__doc__)
    p.add_argument("-o", "--workdir", type=Path, default=None,
                   help="work folder for frames and results (default: a new temporary folder)")
    p.add_argument("-nCPUs", "--n-cpus", dest="n_cpus", type=int, default=None, help="threads (default: all)")
    p.add_argument("--json", action="store_true", help="print the full score as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from midas.ff.demo import run_demo

    work = args.workdir if args.workdir is not None else Path(tempfile.mkdtemp(prefix="midas_demo_"))
    print(f"midas demo: simulating the built-in FF example and running `midas ff` in {work}")
    score = run_demo(work, n_cpus=args.n_cpus)
    if args.json:
        print(json.dumps(score, indent=2, default=str))
        return 0
    keys = ("n_truth", "matched", "missed", "spurious")
    print("score against the simulated truth:")
    for k in keys:
        if k in score:
            print(f"  {k:<28} {score[k]}")
    for k, v in score.items():
        if k in keys or k in ("timings_s", "grains_csv", "workdir"):
            continue
        if isinstance(v, (int, float)):
            print(f"  {k:<28} {v:.6g}")
        elif isinstance(v, dict):
            parts = [f"{kk} {vv:.4g}" for kk, vv in v.items() if isinstance(vv, (int, float))]
            if parts:
                print(f"  {k:<28} " + ", ".join(parts))
    t = score.get("timings_s", {})
    if t:
        print("wall time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    print(f"Grains.csv: {score.get('grains_csv')}")
    return 0
