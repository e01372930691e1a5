"""FF peak search on upstream's 1440-frame example: frames/s and CPU time vs upstream C, vs
ImageD11's connected-pixels route, recall against the simulator's truth, agreement with
upstream's merged spots, and peak memory.

Every variant runs in a fresh child process (so its peak RSS is its own) and reports wall time,
CPU time (user + sys: the stable number on a shared machine), max RSS and the load average
around it. The midas variants also merge their peaks over ω, and their merged spots are matched
against upstream's (``upstream_outputs/Radius_*.csv``: y/z within 0.2 px, ω within 0.1° once
upstream's frame-start labels are moved to frame centres), with every miss classified
(:func:`midas.ff.compare.classify_unmatched`). ``--stages`` adds a one-thread breakdown: frame
decoding, the search without fitting (``doPeakFit 0``), and the search with the fit.

Upstream figures (../shared/docs/peers.md, ../shared/data/upstream_sim/README.md, 2 threads on a
2-core machine): full 2048² example 53.0 s wall / 104.9 CPU-s (quiet machine), 106.5 / 106.0
(loaded); tiny 1024² 8.5 / 16.6.

Usage::

    PYTHONPATH=python python3 benchmarks/bench_peaksearch.py [--dataset full|small|tiny]
        [--threads 2] [--frames N] [--no-imaged11] [--stages]
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
    "full": ("Au_FF_000001_pf.analysis.MIDAS.zip", "SpotMatrixGen.csv.gz",
             "upstream_outputs/Radius_StartNr_1_EndNr_1440.csv.gz", (53.0, 104.9)),
    "small": ("small/Au_FF_small.analysis.MIDAS.zip", "small/SpotMatrixGen.csv",
              "small/upstream_outputs/Radius_StartNr_1_EndNr_1440.csv", (80.9, 83.8)),
    "tiny": ("tiny/Au_FF_tiny.analysis.MIDAS.zip", "tiny/SpotMatrixGen.csv",
             "tiny/upstream_outputs/Radius_StartNr_1_EndNr_1440.csv", (8.5, 16.6)),
}

CHILD = r"""
import json, resource, sys, time
import numpy as np
cfg = json.loads(sys.argv[1])
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if cfg["kind"] == "midas":
    import dataclasses
    from midas.ff.merge import merge_peaks
    from midas.ff.peaksearch import PeakSearchConfig, search_peaks
    from midas.io.midas_zip import open_midas_zip
    from midas.params import MidasParams
    with open_midas_zip(cfg["zip"]) as z:
        cf = PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))
        cf = dataclasses.replace(cf, do_full_image=cfg["full_image"], grow_outside_bands=cfg["grow"])
        t = search_peaks(z, cf, n_threads=cfg["threads"], frame_range=(0, cfg["frames"]))
    r_search = resource.getrusage(resource.RUSAGE_SELF)
    wall_search = time.perf_counter() - t0
    m = merge_peaks(t)
    out = {"y": t.y_px.tolist(), "z": t.z_px.tolist(), "frame": t.frame.tolist(), "n": len(t),
           "merged": m.rows[:, [3, 4, 2]].tolist()}
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
if cfg["kind"] != "midas":
    r_search, wall_search = r1, time.perf_counter() - t0
# VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's peak across fork + exec.
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
out.update(wall=wall_search, cpu=r_search.ru_utime - r0.ru_utime + r_search.ru_stime - r0.ru_stime,
           maxrss_mb=int(hwm[0].split()[1]) / 1024 if hwm else r1.ru_maxrss / 1024)
print("RESULT" + json.dumps(out))
"""


STAGES = r"""
import json, sys, time, dataclasses
import numpy as np
from midas.ff._frames import BlockReader
from midas.ff.peaksearch import PeakSearchConfig, build_pixel_plan, search_frames
from midas.io.midas_zip import open_midas_zip
from midas.params import MidasParams
from midas.parallel import threads
cfg = json.loads(sys.argv[1])
n, out = cfg["frames"], {}
with open_midas_zip(cfg["zip"]) as z, BlockReader(z, 1) as rd, threads(1):
    c0 = time.process_time()
    cf = PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))
    plan = build_pixel_plan(cf, z.frame_shape)
    out["plan"] = time.process_time() - c0
    out["decode"] = out["search, no fit"] = out["search with fit"] = 0.0
    centroid = dataclasses.replace(cf, do_peak_fit=False)
    for b in range(0, n, 4):
        c0 = time.process_time(); buf = rd.read(b, min(b + 4, n)); c1 = time.process_time()
        search_frames(buf, plan, centroid); c2 = time.process_time()
        search_frames(buf, plan, cf); c3 = time.process_time()
        out["decode"] += c1 - c0; out["search, no fit"] += c2 - c1; out["search with fit"] += c3 - c2
print("RESULT" + json.dumps(out))
"""


def run_child(cfg: dict[str, object], code: str = CHILD) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS=str(cfg["threads"]))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True, text=True, env=env,
                          check=False)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"child failed ({cfg.get('kind', 'stages')}): {proc.stderr[-2000:]}")
    return json.loads(line[-1][len("RESULT"):])


def upstream_agreement(res: dict[str, object], truth_path: Path, upstream_path: Path, zip_path: Path,
                       n_frames: int) -> str:
    """Match rate of upstream's merged spots among ours, and why the others are not matched."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "python"))
    from midas.ff.compare import classify_unmatched
    from midas.ff.peaksearch import PeakSearchConfig
    from midas.io.midas_zip import open_midas_zip
    from midas.params import MidasParams

    with open_midas_zip(zip_path) as z:
        cf = PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))
        start, step = float(z.omega_start_deg), float(z.omega_step_deg)
    px = cf.detector.pixel_size_um[0]
    up = pd.read_csv(upstream_path, sep=r"\s+")
    up = up[(up["Omega(degrees)"] - start) / step < n_frames - 0.5]
    tr = pd.read_csv(truth_path, sep=r"\s+")
    ours = np.asarray(res["merged"], dtype=np.float64).reshape(-1, 3)
    rep = classify_unmatched(up[["YCen(px)", "ZCen(px)"]].to_numpy(), up["Omega(degrees)"].to_numpy() + step / 2,
                             ours[:, :2], ours[:, 2], tr[["DetectorHor", "DetectorVert"]].to_numpy(),
                             tr["Omega"].to_numpy(), bc_px=cf.detector.bc_px,
                             ring_radius_px=np.asarray(cf.ring_radius_um) / px, band_half_width_px=cf.width_um / px)
    c = rep.counts()
    parts = []
    for k in ("omega", "band_edge", "split", "overlap", "other"):
        closer, n_truth = rep.candidate_closer(k)
        far = int(((rep.category == k) & (rep.truth_partner < 0)).sum())
        parts.append(f"{k} {c[k]} (ours closer to truth {closer}/{n_truth}, upstream > 3 px off truth {far})")
    return f"upstream merged spots matched {100 * c['matched'] / len(up):6.2f} % of {len(up)}; misses: " + \
        ", ".join(parts)


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
    ap.add_argument("--stages", action="store_true", help="also a one-thread stage breakdown")
    a = ap.parse_args()
    zip_name, truth_name, upstream_name, (up_wall, up_cpu) = DATASETS[a.dataset]
    zip_path, truth, upstream = SHARED / zip_name, SHARED / truth_name, SHARED / upstream_name
    if not zip_path.exists():
        sys.exit(f"{zip_path} is absent (needs ../shared/data)")
    scale = a.frames / 1440
    print(f"dataset {a.dataset}: {zip_path.name}, {a.frames} frames, {a.threads} thread(s), "
          f"{os.cpu_count()} CPUs visible")
    print(f"upstream PeaksFittingOMPZarrRefactor (2 threads, from peers.md): {up_wall * scale:7.1f} s wall, "
          f"{up_cpu * scale:7.1f} CPU-s  ({a.frames / (up_wall * scale):6.1f} frames/s)")
    variants = [("midas (ring bands)", {"kind": "midas", "full_image": False, "grow": True}),
                ("midas (upstream band cut)", {"kind": "midas", "full_image": False, "grow": False}),
                ("midas (DoFullImage)", {"kind": "midas", "full_image": True, "grow": False})]
    if not a.no_imaged11:
        try:
            import ImageD11.cImageD11  # noqa: F401

            variants.append(("ImageD11 connectedpixels", {"kind": "imaged11"}))
        except ImportError:
            print("ImageD11 is not installed (pip install ImageD11); skipping it")
    for name, cfg in variants:
        cfg = dict(cfg, zip=str(zip_path), threads=a.threads, frames=a.frames)
        load0 = os.getloadavg()[0]
        res = run_child(cfg)
        load1 = os.getloadavg()[0]
        recall, med, n_iso = truth_scores(res, truth, a.frames)
        wall, cpu = float(res["wall"]), float(res["cpu"])  # type: ignore[arg-type]
        print(f"{name:26s} {wall:7.1f} s wall ({a.frames / wall:6.1f} frames/s, {up_wall * scale / wall:5.2f}x "
              f"upstream), {cpu:7.1f} CPU-s ({a.frames / cpu:6.1f} frames per CPU-s, {up_cpu * scale / cpu:5.2f}x "
              f"less CPU), max RSS {float(res['maxrss_mb']):6.0f} MB, load average {load0:.1f} -> {load1:.1f}; "
              f"{res['n']} peaks; recall of {n_iso} isolated truth spots {100 * recall:6.2f} %, median centroid "
              f"error {med:.4f} px")
        if "merged" in res and not cfg.get("full_image") and upstream.exists():
            print(" " * 27 + upstream_agreement(res, truth, upstream, zip_path, a.frames))
    if a.stages:
        st = run_child({"zip": str(zip_path), "threads": 1, "frames": a.frames}, STAGES)
        fit = st["search with fit"] - st["search, no fit"]
        print(f"stages, 1 thread, CPU-s: pixel plan {st['plan']:.2f}; frame decoding {st['decode']:.2f} "
              f"({1e3 * st['decode'] / a.frames:.2f} ms/frame); threshold + components + centroids "
              f"{st['search, no fit']:.2f} ({1e3 * st['search, no fit'] / a.frames:.2f} ms/frame); pseudo-Voigt "
              f"fits {fit:.2f} ({1e3 * fit / a.frames:.2f} ms/frame)")


if __name__ == "__main__":
    main()
