"""FF peak search on upstream's 1440-frame example: frames/s and CPU time vs upstream C, vs
ImageD11's connected-pixels route, recall against the simulator's truth, and peak memory.

Every variant runs in a fresh child process (so its peak RSS is its own) and reports wall time,
CPU time (user + sys: the stable number on a shared machine) and max RSS.

Upstream figures (../shared/docs/peers.md, ../shared/data/upstream_sim/README.md, 2 threads on a
2-core machine): full 2048² example 53.0 s wall / 104.9 CPU-s (quiet machine), 106.5 / 106.0
(loaded); tiny 1024² 8.5 / 16.6.

Usage::

    PYTHONPATH=python python3 benchmarks/bench_peaksearch.py [--dataset full|small|tiny]
        [--threads 2] [--frames N] [--no-imaged11]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIDAS_SHARED", ROOT.parent / "shared")) / "data" / "upstream_sim" / "ff_au250"
DATASETS = {
    "full": ("Au_FF_000001_pf.analysis.MIDAS.zip", "SpotMatrixGen.csv.gz", (53.0, 104.9)),
    "small": ("small/Au_FF_small.analysis.MIDAS.zip", "small/SpotMatrixGen.csv", (80.9, 83.8)),
    "tiny": ("tiny/Au_FF_tiny.analysis.MIDAS.zip", "tiny/SpotMatrixGen.csv", (8.5, 16.6)),
}

CHILD = r"""
import json, resource, sys, time
import numpy as np
cfg = json.loads(sys.argv[1])
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if cfg["kind"] == "midas":
    import dataclasses
    from midas.ff.peaksearch import PeakSearchConfig, search_peaks
    from midas.io.midas_zip import open_midas_zip
    from midas.params import MidasParams
    with open_midas_zip(cfg["zip"]) as z:
        cf = PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))
        cf = dataclasses.replace(cf, do_full_image=cfg["full_image"])
        t = search_peaks(z, cf, n_threads=cfg["threads"], frame_range=(0, cfg["frames"]))
    out = {"y": t.y_px.tolist(), "z": t.z_px.tolist(), "frame": t.frame.tolist(), "n": len(t)}
else:  # ImageD11 connected pixels + blob moments, frames decoded by the same reader
    import ImageD11.cImageD11 as c
    from midas.ff._frames import BlockReader
    from midas.io.midas_zip import open_midas_zip
    c.cimaged11_omp_set_num_threads(1)
    ys, zs, fs = [], [], []
    with open_midas_zip(cfg["zip"]) as z, BlockReader(z, cfg["threads"]) as rd:
        labels = np.zeros(z.frame_shape, np.int32)
        block = max(2, 2 * cfg["threads"])
        for b0 in range(0, cfg["frames"], block):
            b1 = min(b0 + block, cfg["frames"])
            buf = rd.read(b0, b1)
            for k in range(b1 - b0):
                data = buf[k].astype(np.float32)
                npk = c.connectedpixels(data, labels, 10.0, 0)
                if npk == 0:
                    continue
                res = c.blobproperties(data, labels, npk, omega=0.0, verbose=0)
                c.blob_moments(res)
                keep = res[:, c.s_1] > 1  # same minimum region size as MinNrPx 1 (more than one pixel)
                zs += res[keep, c.s_raw].tolist(); ys += res[keep, c.f_raw].tolist(); fs += [b0 + k] * int(keep.sum())
    out = {"y": ys, "z": zs, "frame": fs, "n": len(ys)}
r1 = resource.getrusage(resource.RUSAGE_SELF)
out.update(wall=time.perf_counter() - t0, cpu=r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime,
           maxrss_mb=r1.ru_maxrss / 1024)
print("RESULT" + json.dumps(out))
"""


def run_child(cfg: dict[str, object]) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS=str(cfg["threads"]))
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, env=env,
                          check=False)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"child failed ({cfg['kind']}): {proc.stderr[-2000:]}")
    return json.loads(line[-1][len("RESULT"):])


def truth_scores(res: dict[str, object], truth_path: Path, n_frames: int) -> tuple[float, float, int]:
    import pandas as pd

    sys.path.insert(0, str(ROOT / "python"))
    from midas.ff.compare import isolated, match_spots

    tr = pd.read_csv(truth_path, sep=r"\s+")
    tr = tr[tr["omeBin"] < n_frames]
    t_yz = tr[["DetectorHor", "DetectorVert"]].to_numpy()
    iso = isolated(t_yz, tr["omeBin"].to_numpy())
    y, z, f = (np.asarray(res[k], dtype=np.float64) for k in ("y", "z", "frame"))
    m = match_spots(t_yz, tr["omeBin"].to_numpy(), np.c_[y, z], f, max_distance_px=1.0, max_d_omega_deg=0.5)
    return m.recall(iso), float(np.nanmedian(m.distance_px[iso])), int(iso.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1440)
    ap.add_argument("--no-imaged11", action="store_true")
    a = ap.parse_args()
    zip_name, truth_name, (up_wall, up_cpu) = DATASETS[a.dataset]
    zip_path, truth = SHARED / zip_name, SHARED / truth_name
    if not zip_path.exists():
        sys.exit(f"{zip_path} is absent (needs ../shared/data)")
    scale = a.frames / 1440
    print(f"dataset {a.dataset}: {zip_path.name}, {a.frames} frames, {a.threads} thread(s), "
          f"{os.cpu_count()} CPUs visible")
    print(f"upstream PeaksFittingOMPZarrRefactor (2 threads, from peers.md): {up_wall * scale:7.1f} s wall, "
          f"{up_cpu * scale:7.1f} CPU-s  ({a.frames / (up_wall * scale):6.1f} frames/s)")
    variants = [("midas (ring bands)", {"kind": "midas", "full_image": False}),
                ("midas (DoFullImage)", {"kind": "midas", "full_image": True})]
    if not a.no_imaged11:
        try:
            import ImageD11.cImageD11  # noqa: F401

            variants.append(("ImageD11 connectedpixels", {"kind": "imaged11"}))
        except ImportError:
            print("ImageD11 is not installed (pip install ImageD11); skipping it")
    for name, cfg in variants:
        cfg = dict(cfg, zip=str(zip_path), threads=a.threads, frames=a.frames)
        res = run_child(cfg)
        recall, med, n_iso = truth_scores(res, truth, a.frames)
        wall, cpu = float(res["wall"]), float(res["cpu"])  # type: ignore[arg-type]
        print(f"{name:26s} {wall:7.1f} s wall ({a.frames / wall:6.1f} frames/s, {up_wall * scale / wall:5.2f}x "
              f"upstream), {cpu:7.1f} CPU-s ({up_cpu * scale / cpu:5.2f}x less CPU), max RSS "
              f"{float(res['maxrss_mb']):6.0f} MB; {res['n']} peaks; recall of {n_iso} isolated truth spots "
              f"{100 * recall:6.2f} %, median centroid error {med:.4f} px")


if __name__ == "__main__":
    main()
