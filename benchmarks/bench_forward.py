"""Speed of the FF forward model: spot prediction and frame rendering (plain script, prints ratios).

    PYTHONPATH=python python3 benchmarks/bench_forward.py [--grains 1000] [--frames 32]

Spot prediction: 1000 random Au grains (rings 1-5, 58 reflections each) through the compiled
kernel (1 and 2 threads) against the NumPy twin (timed on a subset, compared per spot).
Rendering: 2048² int32 frames with the density of upstream's 250-grain example (~20 spots per frame)
through the compiled renderer (1 and 2 threads) against the NumPy twin, and the whole
`simulate_ff` pipeline (prediction + rendering + .MIDAS.zip writing) for a 2048² scan.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from midas._native import core
from midas._reference import forward as ref
from midas.crystal import Lattice, hkl_table
from midas.parallel import threads


def _best(fn, repeat: int = 3) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=int(rng.integers(1 << 30))).as_matrix()


def bench_prediction(n_grains: int) -> None:
    rng = np.random.default_rng(1)
    lat = Lattice(4.08, 4.08, 4.08, 90, 90, 90)
    hk = hkl_table(225, lat, 0.22291, 1e6, 204800)
    hk_rows = np.nonzero(hk.ring_nr <= 5)[0]
    args = {
        "orient": _rotations(rng, n_grains), "pos_um": rng.uniform(-1000, 1000, (n_grains, 3)),
        "b_matrix": np.stack([Lattice.from_tuple(np.r_[4.08 * (1 + rng.uniform(-1e-3, 1e-3, 3)), 90, 90, 90]).b_matrix()
                           for _ in range(n_grains)]),
        "hkl": hk.hkl[hk_rows].astype(np.float64), "ring_nr": hk.ring_nr[hk_rows].astype(np.int32),
        "row_id": hk_rows.astype(np.int32)}
    kw = {"wavelength_A": 0.22291, "lsd_um": 1e6, "min_eta_deg": 6.0, "wedge_deg": 0.0, "wedge_model": "upstream",
              "displacement": "toward_point", "omega_windows_deg": np.array([[-180.0, 180.0]]),
              "boxes_um": np.array([[-1e6, 1e6, -1e6, 1e6]])}
    n_spots = len(core().ff_predict_spots(**args, **kw)["omega_deg"])
    res = {}
    for nt in (1, 2):
        with threads(nt):
            res[nt] = _best(lambda: core().ff_predict_spots(**args, **kw))
    sub = min(n_grains, 40)
    sub_args = {k: (v[:sub] if k in ("orient", "pos_um", "b_matrix") else v) for k, v in args.items()}
    t0 = time.perf_counter()
    twin = ref.predict_ff_spots(**sub_args, **kw)
    t_twin = (time.perf_counter() - t0) / max(len(twin["omega_deg"]), 1)
    print(f"spot prediction: {n_grains} grains x {len(hk_rows)} reflections -> {n_spots} spots")
    for nt, t in res.items():
        print(f"  compiled, {nt} thread(s): {t * 1e3:8.2f} ms  {n_spots / t / 1e6:7.2f} M spots/s  "
              f"{t_twin * n_spots / t:8.0f}x the NumPy twin")
    print(f"  NumPy twin: {1 / t_twin:10.0f} spots/s (timed on {sub} grains)")


def bench_render(n_frames: int, spots_per_frame: int = 20, n_px: int = 2048) -> None:
    rng = np.random.default_rng(2)
    frame = np.repeat(np.arange(n_frames), spots_per_frame)
    c = {"frame_offsets": np.searchsorted(frame, np.arange(n_frames + 1)).astype(np.int64),
             "y_px": rng.uniform(0, n_px, frame.size), "z_px": rng.uniform(0, n_px, frame.size),
             "amplitude": np.full(frame.size, 5000.0)}
    out = np.empty((n_frames, n_px, n_px), np.int32)
    geo = {"n_y": n_px, "n_z": n_px, "sigma_px": 1.0}
    res = {}
    for nt in (1, 2):
        with threads(nt):
            peak = core().ff_max_pixel_value(**c, **geo)
            for noise in (0.0, 5.0):
                res[(nt, noise)] = _best(lambda peak=peak, noise=noise: core().ff_render_frames_i32(
                    **c, **geo, first_frame=0, out_max=65000.0, peak_max=peak, noise_sigma=noise, seed=1, out=out))
            res[(nt, "peak")] = _best(lambda: core().ff_max_pixel_value(**c, **geo))
    n_twin = 2
    t0 = time.perf_counter()
    ref.render_frames_i32(**c, **geo, first_frame=0, n_out=n_twin, out_max=65000.0, peak_max=peak)
    t_twin = (time.perf_counter() - t0) / n_twin
    print(f"rendering: {n_frames} frames of {n_px}x{n_px} int32, {spots_per_frame} spots per frame")
    for nt in (1, 2):
        for noise in (0.0, 5.0):
            t = res[(nt, noise)] / n_frames
            vs = f", {t_twin / t:6.0f}x the NumPy twin" if noise == 0 else ", noise on every pixel"
            print(f"  compiled, {nt} thread(s), noise {noise:g}: {1 / t:8.1f} frames/s  ({t * 1e3:6.2f} ms/frame{vs})")
        print(f"  brightest-pixel pass, {nt} thread(s): {n_frames / res[(nt, 'peak')]:10.0f} frames/s")
    print(f"  NumPy twin: {1 / t_twin:.1f} frames/s")


def bench_simulate(n_frames: int) -> None:
    from midas.forward.simulate import simulate_ff
    from midas.params import read_params

    src = Path(__file__).resolve().parents[2] / "shared" / "data" / "upstream_sim" / "ff_au250"
    if not src.exists():
        print("simulate_ff: skipped (shared data absent)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        text = (src / "Parameters.txt").read_text()
        text = text.replace("OmegaEnd -180", f"OmegaEnd {180 - 0.25 * n_frames:g}")
        text = text.replace("InFileName GrainsSim.csv", f"InFileName {src / 'GrainsSim.csv'}")
        (Path(tmp) / "Parameters.txt").write_text(text)
        p = read_params(Path(tmp) / "Parameters.txt")
        for nt in (1, 2):
            t0 = time.perf_counter()
            res = simulate_ff(p, n_threads=nt)
            t = time.perf_counter() - t0
            print(f"simulate_ff (250 Au grains, {res.n_frames} frames 2048x2048 -> .MIDAS.zip), {nt} thread(s): "
                  f"{t:6.1f} s, {res.n_frames / t:5.1f} frames/s (upstream: 1440 frames in 55 s wall, 48 CPU-s, 4.2 GB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grains", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--sim-frames", type=int, default=120)
    a = ap.parse_args()
    bench_prediction(a.grains)
    bench_render(a.frames)
    if a.sim_frames > 0:
        bench_simulate(a.sim_frames)


if __name__ == "__main__":
    main()
