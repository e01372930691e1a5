"""NF-HEDM benchmarks.

1. Orientation fitting on upstream's Au example (../shared/data/upstream_sim/nf_au: 3456 grid points
   x 4 FF seeds, 2 distances x 1440 frames) against upstream FitOrientationOMP on the same data
   (../shared/docs/peers.md, ../shared/data/upstream_sim/README.md: the FitOrientationOMP stage alone,
   22.3 s wall / 44.3 CPU-s with 2 threads on a quiet 2-core machine, i.e. 155 grid points/s and
   78 grid points/CPU-s): grid points per second and per CPU-second and their ratio to upstream's
   (issue #8 target: >= 3x), with midas' polish (default) and with upstream's search only (polish
   off), plus the accuracy against the truth .mic. --write-mic DIR writes each run's .mic text file
   for ../shared/tools/hedm_score.py.
2. Image processing (streaming median + reduction + SpotsInfo bits) on a synthetic 2048² TIFF series:
   time per frame and peak RSS of a child process, extrapolated to 720 frames when fewer are run.
   Upstream's ProcessImagesCombined holds every frame of a distance in RAM (2048² x 2 B x n_frames).

Usage: PYTHONPATH=python python3 benchmarks/bench_nf.py [--threads 2] [--frames 180] [--skip-images]
                                                       [--skip-fit] [--write-mic DIR]
CPU seconds are the stable number on a shared machine; wall times vary with other load (the load
average is printed with each run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

UPSTREAM_FIT_WALL_S = 22.3
UPSTREAM_FIT_CPU_S = 44.3
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIDAS_SHARED", REPO.parent / "shared"))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def bench_fit(threads: int, write_mic: Path | None = None) -> None:
    from midas.crystal.orientation import euler_to_matrix
    from midas.crystal.symmetry import laue_rotations, misorientation
    from midas.nf.experiment import NFExperiment, Reflections
    from midas.nf.fit import FitSettings, fit_orientations
    from midas.nf.grid import make_hex_grid
    from midas.nf.mic import read_mic_text, write_mic_text
    from midas.nf.seeds import seeds_from_grains
    from midas.nf.spots import compute_seed_spots
    from midas.nf.spots_info import SpotsInfo
    from midas.params import read_params

    d = SHARED / "data" / "upstream_sim" / "nf_au"
    if not d.is_dir():
        print(f"fitting: skipped, {d} is absent")
        return
    p = read_params(d / "ps_au.txt")
    exp, refl = NFExperiment.from_params(p), Reflections.from_params(p)
    grid = make_hex_grid(50.0, 2.5, 1.0)
    seeds = compute_seed_spots(exp, refl, seeds_from_grains(d / "grs.csv").orient_mats)
    si = SpotsInfo.from_sparse_npz(d / "SpotsInfo_sparse.npz", exp.layout)
    sym = laue_rotations(225)
    truth = read_mic_text(d / "Au_txt_truth_conf0.7.mic")
    index = {(round(x, 4), round(y, 4)): i for i, (x, y) in enumerate(grid[:, 2:4].tolist())}
    rows = np.array([index[(round(t[3], 4), round(t[4], 4))] for t in truth])
    base = FitSettings.from_params(p)
    n = grid.shape[0]
    print(f"fitting: {n} grid points x {len(seeds)} seeds, {threads} threads "
          f"(upstream FitOrientationOMP, quiet machine, 2 threads: {UPSTREAM_FIT_WALL_S} s wall / "
          f"{UPSTREAM_FIT_CPU_S} CPU-s = {n / UPSTREAM_FIT_WALL_S:.0f} points/s, "
          f"{n / UPSTREAM_FIT_CPU_S:.0f} points/CPU-s)")
    for label, polish in (("midas (polish on, default)", True), ("upstream's search (polish off)", False)):
        s = FitSettings(**{**base.to_dict(), "polish": polish})
        load0 = _load()
        c0, t0 = _cpu(), time.perf_counter()
        res = fit_orientations(exp, refl, seeds, grid, si, sym, s, n_threads=threads)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        miso = np.degrees(misorientation(euler_to_matrix(res.mic[rows, 7:10]), euler_to_matrix(truth[:, 7:10]), 225))
        print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} CPU-s, {n / wall:.0f} points/s, {n / cpu:.0f} points/CPU-s, "
              f"{int(res.n_evals.sum())} evaluations ({cpu / res.n_evals.sum() * 1e6:.1f} CPU-us each); "
              f"load average {load0} before, {_load()} after")
        print(f"    ratio to upstream (target >= 3x): {UPSTREAM_FIT_CPU_S / cpu:.2f}x in points/CPU-s, "
              f"{UPSTREAM_FIT_WALL_S / wall:.2f}x in points/s (wall, load-sensitive);  "
              f"truth: {100 * np.mean(miso < 0.25):.2f} % < 0.25 deg, median {np.median(miso):.4f} deg")
        if write_mic is not None:
            write_mic.mkdir(parents=True, exist_ok=True)
            path = write_mic_text(write_mic / f"nf_au_polish{int(polish)}.mic", res.mic)
            print(f"    wrote {path} (score: python3 ../shared/tools/hedm_score.py nf "
                  f"{d / 'Au_txt_truth_conf0.7.mic'} {path})")


_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from midas.nf.images import ReductionSettings, process_tiff_distance, tiff_series_paths
from midas.nf.spots_info import SpotsInfo
from midas import parallel
folder, n, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = tiff_series_paths(folder, "bench", "tif", 0, 0, n)
si = SpotsInfo.create(folder / "SpotsInfo.bin", (1, n, 2048, 2048))
t0 = time.perf_counter()
with parallel.threads(threads):
    st = process_tiff_distance(paths, si, 0, ReductionSettings(blanket=5, median_radius=1))
st["seconds"] = time.perf_counter() - t0
st["bits"] = si.count()
st["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(st))
"""


def bench_images(n_frames: int, threads: int) -> None:
    import tifffile

    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="midas_nf_bench_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        base = (100 + 20 * rng.random((2048, 2048))).astype(np.uint16)
        for k in range(n_frames):
            f = base + rng.integers(0, 8, (2048, 2048), dtype=np.uint16)
            for _ in range(300):  # spots
                r, c = rng.integers(0, 2040, 2)
                f[r:r + 5, c:c + 5] += 800
            tifffile.imwrite(folder / f"bench_{k:06d}.tif", f)
        print(f"image processing: wrote {n_frames} synthetic 2048x2048 uint16 TIFF frames in "
              f"{time.perf_counter() - t0:.0f} s")
        env = dict(os.environ, PYTHONPATH=str(REPO / "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(n_frames), str(threads)],
                             capture_output=True, text=True, env=env, check=True)
        st = json.loads(out.stdout.strip().splitlines()[-1])
    per_frame = st["seconds"] / n_frames
    print(f"  {n_frames} frames, {threads} threads: {st['seconds']:.1f} s ({1000 * per_frame:.0f} ms/frame: median "
          f"{st['median_s']:.1f} s in {st['passes']} passes, reduction {st['reduce_s']:.1f} s), "
          f"{st['spot_pixels']} spot pixels, peak RSS {st['max_rss_mb']:.0f} MB")
    print(f"  extrapolated to 720 frames: {720 * per_frame:.0f} s; memory does not grow with the frame count "
          f"(upstream holds {2048 * 2048 * 2 * 720 / 2**30:.1f} GiB of frames for 720, "
          f"{2048 * 2048 * 2 * 1440 / 2**30:.1f} GiB for 1440)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=180, help="synthetic frames for the image benchmark")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--write-mic", type=Path, default=None, help="write each fit's .mic text file here")
    a = ap.parse_args()
    if not a.skip_fit:
        bench_fit(a.threads, a.write_mic)
    if not a.skip_images:
        bench_images(a.frames, a.threads)


if __name__ == "__main__":
    main()
