"""NF forward simulation: a ``.mic`` microstructure -> the ``SpotsInfo.bin`` it would produce
(the role of upstream simulateNF; ``midas simulate nf``).

Every voxel of the ``.mic`` with Confidence ≥ ``MinConfidence`` is projected with the NF forward
model (``midas/nf/overlap.hpp``, simulation mode: every spot kept, distances marked in order until
one falls off the detector) and its pixels are set in the bitmask. On upstream's Au example the bits
are identical to upstream simulateNF's (87,646 of 87,646).

Hooking into the ``midas simulate`` verb: ``configure_parser(subparsers)`` adds an ``nf`` sub-verb
to the ``simulate`` sub-parser collection and ``run_cli(args)`` runs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from midas._native import core
from midas.crystal.orientation import euler_to_matrix
from midas.errors import ParamError
from midas.nf.experiment import NFExperiment, Reflections
from midas.nf.mic import read_mic_text
from midas.nf.spots_info import SpotsInfo
from midas.parallel import threads

__all__ = ["configure_parser", "mic_triangles", "run_cli", "simulate_spots_info"]

log = logging.getLogger(__name__)


def mic_triangles(mic_rows: np.ndarray) -> np.ndarray:
    """Triangles (K, 7) of ``.mic`` rows as upstream simulateNF builds them.

    Centre (X, Y), edge E, UpDown u: vertices (X, Y + d1), (X ∓ E/2, Y + d2) with d1 = E/√3,
    d2 = −E/(2√3), both negated when u < 0.
    """
    m = np.asarray(mic_rows, dtype=np.float64)
    xs, ys, edge, ud = m[:, 3], m[:, 4], m[:, 5], m[:, 6]
    gs = edge / 2.0
    sign = np.where(ud < 0, -1.0, 1.0)
    dy1 = sign * edge / np.sqrt(3.0)
    dy2 = -sign * edge / (2.0 * np.sqrt(3.0))
    return np.stack([xs, xs - gs, xs + gs, ys + dy1, ys + dy2, ys + dy2, gs], axis=1)


def simulate_spots_info(experiment: NFExperiment, reflections: Reflections, mic_rows: np.ndarray, *,
                        min_confidence: float = 0.0, target: str | os.PathLike[str] | None = None,
                        n_threads: int | None = None) -> tuple[SpotsInfo, dict[str, Any]]:
    """Simulate the SpotsInfo bitmask of the voxels of a ``.mic``.

    Parameters
    ----------
    experiment : NFExperiment
        Detector, scan and spot filters.
    reflections : Reflections
        Reflections (``hkls.csv`` rows).
    mic_rows : (K, ≥ 11) float64
        ``.mic`` rows (:func:`midas.nf.mic.read_mic_text`): X, Y (cols 3, 4), edge (5), UpDown (6),
        Euler angles in rad (7–9), Confidence (10).
    min_confidence : float
        Voxels with Confidence below it are skipped (``MinConfidence``).
    target : path, optional
        Write the mask to this file (memory-mapped, sparse) instead of memory.

    Returns
    -------
    spots_info : SpotsInfo
    stats : dict
        ``voxels``, ``hits`` (pixel hits before de-duplication), ``bits`` (set bits), ``seconds``.
    """
    m = np.asarray(mic_rows, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 11:
        raise ParamError(f"mic rows of shape {m.shape}: expected (K, 11 or 12)")
    keep = m[m[:, 10] >= float(min_confidence)]
    tri = mic_triangles(keep)
    om = euler_to_matrix(keep[:, 7:10])
    si = SpotsInfo.zeros(experiment.layout) if target is None else SpotsInfo.create(target, experiment.layout)
    t0 = time.perf_counter()
    with threads(n_threads):
        hits = core().nf_simulate_bits(experiment._core(), reflections._core(), tri, np.ascontiguousarray(om),
                                       si.words, si.layout)
    dt = time.perf_counter() - t0
    si.flush()
    return si, {"voxels": int(keep.shape[0]), "hits": int(hits), "seconds": dt}


def configure_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``nf`` sub-verb to a ``midas simulate`` subparser collection and return it."""
    p = sub.add_parser("nf", help="simulate the NF SpotsInfo.bin of a .mic microstructure (upstream simulateNF)",
                       description="Forward-simulate an NF-HEDM measurement: every voxel of the .mic with "
                                   "Confidence >= MinConfidence is projected onto the detector(s) and the pixels "
                                   "it hits are set in SpotsInfo.bin (upstream's bit layout).")
    p.add_argument("-paramFN", "--param-file", dest="param_file", required=True, help="NF parameter file")
    p.add_argument("-micFN", "--mic", dest="mic", required=True, help="text .mic file (Euler angles in radians)")
    p.add_argument("-o", "--output", dest="output", default="SpotsInfo.bin", help="output SpotsInfo.bin")
    p.add_argument("-nCPUs", "--threads", dest="n_cpus", type=int, default=None, help="OpenMP threads")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="skip voxels below this confidence (default: MinConfidence of the parameter file, else 0)")
    p.add_argument("--sparse-npz", default=None, help="also write the set bits as a sparse .npz")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run ``midas simulate nf`` with parsed arguments; prints a one-line summary."""
    from midas.params import read_params

    p = read_params(args.param_file)
    exp = NFExperiment.from_params(p)
    refl = Reflections.from_params(p)
    min_conf = args.min_confidence
    if min_conf is None:
        v = p.get("MinConfidence", None)
        min_conf = 0.0 if v is None else float(v)
    mic = read_mic_text(args.mic)
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.part")
    try:
        si, stats = simulate_spots_info(exp, refl, mic, min_confidence=min_conf, target=tmp, n_threads=args.n_cpus)
        bits = si.count()
        if args.sparse_npz:
            si.to_sparse_npz(args.sparse_npz)
        del si
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"simulate nf: {stats['voxels']} voxels (confidence >= {min_conf:g}), {stats['hits']} pixel hits, "
          f"{bits} bits set -> {out} ({stats['seconds']:.2f} s)")
    return 0
