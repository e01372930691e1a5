"""``midas info``: version, build and hardware facts."""

from __future__ import annotations

import argparse
import platform


def configure_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("info", help="version, compiler, OpenMP threads, CUDA build and GPU visibility")
    p.set_defaults(func=run)


def collect() -> dict[str, str]:
    """Facts about this installation as an ordered mapping of label -> value."""
    import midas
    from midas._native import core
    from midas.sparse import gpu_available

    c = core()
    facts: dict[str, str] = {
        "midas": midas.__version__,
        "python": f"{platform.python_version()} ({platform.machine()})",
        "compiler": str(c.compiler()),
        "openmp": f"yes, {c.max_threads()} threads" if c.has_openmp() else "no (single-threaded build)",
        "cuda kernels": "built (midas._cuda)" if c.cuda_configured() else "not built (no nvcc at build time)",
    }
    ok, why = gpu_available()
    facts["gpu"] = why if ok else f"none: {why}"
    return facts


def run(args: argparse.Namespace) -> int:
    facts = collect()
    width = max(len(k) for k in facts)
    for k, v in facts.items():
        print(f"{k:<{width}}  {v}")
    return 0
