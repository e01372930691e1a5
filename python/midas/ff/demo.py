"""The built-in FF example: simulate 20 grains, analyse the frames with ``midas ff``, score.

:func:`run_demo` copies ``midas/examples/ff_demo`` (a parameter file and its GrainsSim.csv:
20 Au grains, 512² detector of 400 µm pixels at 0.5 m, 720 frames of 0.5°) into a work folder,
simulates the scan (:func:`midas.forward.simulate_ff`, upstream's simulator), runs the whole
FF workflow on the frames (:func:`midas.ff.pipeline.run_ff`) and scores the grains against the
simulation input (:func:`midas.ff.score.score_grains`).
"""

from __future__ import annotations

import logging
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["example_folder", "run_demo"]

log = logging.getLogger(__name__)


def example_folder() -> Path:
    """Folder of the built-in FF example (``Parameters.txt``, ``GrainsSim.csv``)."""
    return Path(str(resources.files("midas.examples") / "ff_demo"))


def run_demo(workdir: str | Path, *, n_cpus: int | None = None) -> dict[str, Any]:
    """Simulate the built-in example, run ``midas ff`` on it and score the result.

    Parameters
    ----------
    workdir : path
        Work folder (created; the example's files, the frames and the results go there).
    n_cpus : int, optional
        Threads.

    Returns
    -------
    dict
        The score of :func:`midas.ff.score.score_grains` (matched/missed/spurious grains,
        misorientation, position and strain errors) plus ``timings_s`` (simulation and each
        pipeline stage, wall seconds), ``grains_csv`` (path of the result) and ``workdir``.

    Raises
    ------
    MidasError
        From the simulation or the pipeline.
    """
    from midas.crystal import Lattice
    from midas.ff.pipeline import FFOptions, run_ff
    from midas.ff.score import score_grains
    from midas.forward.simulate import simulate_ff
    from midas.io.grains_csv import read_grains_csv
    from midas.parallel import threads
    from midas.params import read_params

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = example_folder()
    for name in ("Parameters.txt", "GrainsSim.csv"):
        shutil.copyfile(src / name, work / name)
    param_file = work / "Parameters.txt"
    p = read_params(param_file)
    t0 = time.perf_counter()
    with threads(n_cpus):
        sim = simulate_ff(p, result_folder=work, n_threads=n_cpus)
    t_sim = time.perf_counter() - t0
    opts = FFOptions(param_file=param_file, result_folder=work / "analysis", data_file=Path(sim.zip_path),
                     n_cpus=n_cpus)
    layer = run_ff(opts)[0]
    truth = read_grains_csv(work / "GrainsSim.csv")
    score = score_grains(truth, layer.grains.table, space_group=int(p.get("SpaceGroup")),
                         lattice=Lattice.from_params(p).to_tuple())
    score.pop("pairs", None)
    score["timings_s"] = {"simulate": t_sim, **layer.timings_s}
    score["grains_csv"] = str(layer.folder / "Grains.csv")
    score["workdir"] = str(work)
    log.info("demo: %d/%d grains matched", score.get("matched", 0), score.get("n_truth", 0))
    return score
