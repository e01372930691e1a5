"""Radial integration of a 2048² frame with full pixel splitting: midas vs pyFAI ``full/csr``.

Measured in one run, on the same frame and the same bin counts (1000 R × 72 η, 1000 × 360, and
1-D 1000):

- map build time (midas: corners through the FF geometry + exact polygon ∩ sector split + CSR;
  pyFAI: first ``integrate*`` call minus a steady-state call),
- per-frame time (midas one frame per pass and 8 frames per pass; pyFAI one frame),
- the machine's copy bandwidth with the same thread count (read + write bytes per second), and
  the memory-bandwidth time of one full-split frame (bw time): the traffic of a plain CSR pass
  (int32 column + float32 weight per entry, the frame, the row scales and the result, about
  80–90 MB here) divided by that bandwidth (the higher of the run's first measurement and one taken
  right before the case's per-frame timing: this VM's bandwidth drifts by ±25 % over minutes),
  with midas' per-frame time over it (/bw); and, for
  reference, the same for the bytes midas' CPU pass actually moves (own bw: the banded copy's
  uint16 offsets + padded float32 weights + segment pointers, frame, scales, result),
- CPU seconds (user + system, all threads) of the midas build next to its wall time,
- resident memory of each map (map MB: the CSR arrays; +CPU MB: what the CPU integrator holds on
  top, the banded copy or the 1-D transpose; RSS+: resident growth over the build; setup: time
  to construct the Integrator, which builds that copy).

Usage: ``PYTHONPATH=python python3 benchmarks/bench_integration.py [--threads 2] [--repeat 5]``.
pyFAI is optional (``pip install pyFAI``); without it only the midas numbers are printed.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def copy_bandwidth_gb_s(threads: int, n_bytes: int = 256 * 2**20, repeat: int = 7) -> float:
    """Copy bandwidth: (read + write) bytes / s of ``np.copyto`` on two large buffers, split over
    ``threads`` threads (``np.copyto`` releases the GIL), best of ``repeat``."""
    from concurrent.futures import ThreadPoolExecutor

    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    cuts = np.linspace(0, src.size, threads + 1).astype(int)
    parts = [(dst[a:b], src[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    with ThreadPoolExecutor(threads) as pool:
        def copy_all():
            list(pool.map(lambda p: np.copyto(*p), parts))
        copy_all()
        best = min(_timed(copy_all) for _ in range(repeat))
    return 2 * n_bytes / best / 1e9


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def best_of(fn, repeat: int) -> float:
    fn()
    return min(_timed(fn) for _ in range(repeat))


def make_frame(det, rng) -> np.ndarray:
    """A CeO2-like ring pattern with Poisson noise, float32, (2048, 2048)."""
    from midas.geometry import pixel_grid_to_ideal

    r_um, _ = pixel_grid_to_ideal(det)
    r = r_um / det.pixel_size_um[0]
    img = 200.0 + 50.0 * np.exp(-r / 800)
    for radius, amp in ((310, 5000), (358, 1500), (506, 3000), (594, 2500), (620, 500), (717, 400), (781, 900)):
        img += amp * np.exp(-0.5 * ((r - radius) / 1.2) ** 2)
    return rng.poisson(img).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from midas import parallel
    from midas.geometry import FFDetector
    from midas.io.poni import midas_to_poni
    from midas.sparse import gpu_available

    parallel.set_num_threads(args.threads)
    det = FFDetector(lsd_um=1_000_000.0, bc_px=(1023.7, 1030.2), pixel_size_um=(200.0, 200.0), tx_deg=0.0,
                     ty_deg=0.12, tz_deg=-0.08, n_pixels=(2048, 2048), rho_d_um=300_000.0,
                     distortion=(1e-5, 0, -2e-5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    rng = np.random.default_rng(0)
    frame = make_frame(det, rng)
    r_max = 1460.0  # the farthest corner, pixels
    bw = copy_bandwidth_gb_s(args.threads)
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads; copy bandwidth {bw:.1f} GB/s "
          f"(read + write, {args.threads} threads); load average {os.getloadavg()[0]:.1f}")

    try:
        import pyFAI
        g = midas_to_poni(lsd_um=det.lsd_um, bc_px=det.bc_px, px_um=200.0, ty_deg=0.12, tz_deg=-0.08,
                          wavelength_A=0.2)
        have_pyfai = True
        print(f"pyFAI {pyFAI.version}")
    except ImportError:
        have_pyfai = False
        print("pyFAI not installed: midas numbers only")

    cases = [("1000 R x 72 eta", 72), ("1000 R x 360 eta", 360), ("1-D 1000", 1)]
    print(f"{'case':18s} {'midas build':>11s} {'(cpu)':>6s} {'pyFAI build':>11s} {'ratio':>6s} | {'midas/frame':>11s} "
          f"{'x8 /frame':>9s} {'pyFAI/frame':>11s} {'ratio':>6s} {'ratio x8':>8s} | {'bw time':>7s} "
          f"{'/bw':>5s} {'own bw':>7s} {'GB/s':>5s} | {'map MB':>6s} {'+CPU MB':>7s} {'RSS+ MB':>7s} {'pyFAI RSS+':>10s} | {'setup':>6s}")
    for name, n_eta in cases:
        print(bench_case(name, n_eta, det, frame, r_max, bw, args.repeat, g if have_pyfai else None, args.threads))
    ok, why = gpu_available()
    if not ok:
        print(f"GPU: {why}")


def bench_case(name, n_eta, det, frame, r_max, bw, repeat, poni, n_threads) -> str:
    """One bin layout: build, per-frame and memory numbers of midas (and pyFAI when ``poni``)."""
    from midas.integration import IntegrationBins, Integrator, MapOptions, build_map
    from midas.sparse import gpu_available

    frames8 = np.repeat(frame[None], 8, axis=0)
    gc.collect()
    rss0 = rss_mb()
    bins = IntegrationBins.uniform_r(0.0, r_max, r_max / 1000, eta_min_deg=-180, eta_max_deg=180,
                                     eta_bin_size_deg=360.0 / n_eta)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    imap = build_map(det, bins, options=MapOptions(solid_angle=True, polarization=True))
    t_build, c_build = time.perf_counter() - t0, _cpu_seconds() - c0
    rss_map = rss_mb() - rss0
    m = imap.matrix
    map_mb = (m.indices.nbytes + m.data.nbytes + m.indptr.nbytes + imap.bin_area.nbytes
              + imap.row_scale.nbytes) / 2**20
    t0 = time.perf_counter()
    integ = Integrator(imap)  # builds the CPU pass's banded copy (2-D) or transpose (1-D)
    t_setup = time.perf_counter() - t0
    bw = max(bw, copy_bandwidth_gb_s(n_threads))  # this VM's bandwidth drifts: take it next to the timing too
    t1 = best_of(lambda: integ.integrate(frame), repeat)
    t8 = best_of(lambda: integ.integrate(frames8), max(2, repeat // 2)) / 8
    # the memory traffic of one full-split frame (the yardstick): a CSR matrix of int32
    # columns + float32 weights, the frame, the row scales and the result, moved at the copy
    # bandwidth (which counts read + write bytes); and the bytes our CPU pass actually moves
    # (the banded copy: uint16 offsets + float32 weights, padded, + segment pointers)
    t_bw = (8 * m.nnz + frame.nbytes + 8 * m.n_rows * 2) / (bw * 1e9)
    t_own = (integ.cpu_pass_bytes() + frame.nbytes + 8 * m.n_rows * 2) / (bw * 1e9)
    pf_build = pf_frame = pf_rss = float("nan")
    if poni is not None:
        try:
            from pyFAI.integrator.azimuthal import AzimuthalIntegrator
        except ImportError:  # pyFAI < 2024.1
            from pyFAI.azimuthalIntegrator import AzimuthalIntegrator
        gc.collect()
        rss1 = rss_mb()
        ai = AzimuthalIntegrator(dist=poni.dist_m, poni1=poni.poni1_m, poni2=poni.poni2_m, rot1=poni.rot1_rad,
                                 rot2=poni.rot2_rad, rot3=poni.rot3_rad, pixel1=poni.pixel1_m,
                                 pixel2=poni.pixel2_m, wavelength=poni.wavelength_m)
        method = ("full", "csr", "cython")

        def call():
            if n_eta == 1:
                return ai.integrate1d(frame, 1000, unit="2th_deg", method=method, correctSolidAngle=True,
                                      polarization_factor=0.99)
            return ai.integrate2d_ng(frame, 1000, n_eta, unit="2th_deg", method=method, correctSolidAngle=True,
                                     polarization_factor=0.99)

        t_first = _timed(call)
        pf_frame = best_of(call, repeat)
        pf_build = t_first - pf_frame
        pf_rss = rss_mb() - rss1
    line = (f"{name:18s} {t_build:10.2f}s {c_build:5.2f}s {pf_build:10.2f}s {pf_build / t_build:6.2f} | {t1 * 1e3:9.2f}ms "
            f"{t8 * 1e3:7.2f}ms {pf_frame * 1e3:9.2f}ms {pf_frame / t1:6.2f} {pf_frame / t8:8.2f} | "
            f"{t_bw * 1e3:5.2f}ms {t1 / t_bw:5.2f} {t_own * 1e3:5.2f}ms {bw:5.1f} | {map_mb:6.0f} {integ.extra_bytes() / 2**20:7.0f} {rss_map:7.0f} "
            f"{pf_rss:10.0f} | {t_setup:5.2f}s")
    ok, why = gpu_available()
    if ok:
        dev = Integrator(imap, use_gpu=True)
        batch = np.repeat(frame[None], 32, axis=0)
        tg = best_of(lambda: dev.integrate(batch), 3) / 32
        line += f"\n{'':18s} GPU {why}: {tg * 1e3:.3f} ms/frame ({1 / tg:.0f} frames/s incl. transfers)"
    return line

if __name__ == "__main__":
    main()
