"""Benchmark ``midas convert``: a synthetic 2048² GE series → ``.MIDAS.zip``.

The last run thresholds the background away (``-preProcThresh``), as beamline users often do;
zeros compress far better and faster than a noisy dark level.

Prints the conversion throughput (MB/s of raw input), its peak RSS, the archive size, and frames/s
next to a plain NumPy read of the same GE file and a decode of the archive. Each measurement runs
in a fresh Python process so the peak RSS is that of the measured work alone.

Usage::

    PYTHONPATH=python python3 benchmarks/bench_convert.py [--frames 150] [--size 2048] [--keep DIR]

The synthetic frames look like FF-HEDM frames: a dark level with Poisson noise everywhere and a
few hundred Gaussian diffraction spots per frame, so compression ratios are realistic. The GE file
is freshly written, so it is read from the page cache (the numbers measure CPU, not the disk).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_ge(path: Path, n_frames: int, size: int, seed: int = 7) -> None:
    """Write a synthetic GE series: dark ~100 counts + noise, ~300 spots per frame."""
    from midas.io.ge import GE_HEADER_BYTES

    rng = np.random.default_rng(seed)
    zz, yy = np.mgrid[-6:7, -6:7]
    with open(path, "wb") as f:
        f.write(bytes(GE_HEADER_BYTES))
        for _ in range(n_frames):
            frame = rng.poisson(100.0, (size, size)).astype(np.float32)
            n_spots = rng.integers(200, 400)
            zs = rng.integers(6, size - 7, n_spots)
            ys = rng.integers(6, size - 7, n_spots)
            amp = rng.uniform(200, 12000, n_spots)
            sig = rng.uniform(0.8, 2.0, n_spots)
            for z, y, a, s in zip(zs, ys, amp, sig):
                frame[z - 6:z + 7, y - 6:y + 7] += a * np.exp(-(zz**2 + yy**2) / (2 * s * s))
            f.write(np.clip(frame, 0, 65535).astype("<u2").tobytes())


_CHILD = r"""
import json, resource, sys, time
import numpy as np
kind, path, size, out, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]


def ge_frames():
    # plain NumPy: one fresh frame buffer per frame, filled straight from the file
    with open(path, "rb") as f:
        f.seek(8192)
        while True:
            buf = np.empty((size, size), "<u2")
            if f.readinto(memoryview(buf).cast("B")) != buf.nbytes:
                return
            yield buf


if kind in ("convert", "decode"):  # time the work, not the imports
    import midas.cli.convert, midas.io.midas_zip, midas.params, zarr  # noqa: E401, F401
t0 = time.perf_counter()
n = 0
if kind == "numpy":
    n = sum(1 for _ in ge_frames())
elif kind == "blosc":
    import numcodecs.blosc as nb
    from numcodecs import Blosc
    nb.use_threads = True
    codec = Blosc(cname="zstd", clevel=int(extra[0]), shuffle=Blosc.BITSHUFFLE)
    n = sum(1 for buf in ge_frames() if codec.encode(buf) is not None)
elif kind == "convert":
    from midas.cli.main import main
    rc = main(["convert", "-paramFN", extra[0], "-dataFN", path, "-o", out, *extra[1:]])
    assert rc == 0
    from midas.io.midas_zip import open_midas_zip
    with open_midas_zip(out) as z:
        n = z.n_frames
elif kind == "decode":
    from midas.io.midas_zip import open_midas_zip
    with open_midas_zip(path) as z:
        for f in z.iter_frames():
            n += 1
dt = time.perf_counter() - t0
try:  # VmHWM is this process's own peak (ru_maxrss can carry the parent's peak across fork)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    peak = int(hwm.split()[1]) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "frames": n, "max_rss_mb": peak}))
"""


def child(kind: str, path: Path, size: int, out: Path | None = None, *extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    r = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path), str(size), str(out or ""),
                        *extra], capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--keep", type=Path, default=None, help="work folder (default: a temp folder)")
    ap.add_argument("--clevel", type=int, nargs="+", default=[3, 1])
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "python"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    ge = work / "bench_000001.ge3"
    raw_mb = args.frames * args.size**2 * 2 / 1e6
    if not ge.exists() or ge.stat().st_size != 8192 + raw_mb * 1e6:
        t = time.perf_counter()
        make_ge(ge, args.frames, args.size)
        print(f"made {ge} ({raw_mb:.0f} MB raw) in {time.perf_counter() - t:.0f} s")
    params = work / "ps.txt"
    params.write_text(f"NrPixels {args.size}\nOmegaStart 180\nOmegaStep -0.25\nSkipFrame 0\n"
                      "px 200\nLsd 1000000\nBC 1022 1022\nRingThresh 1 100\n")

    base = child("numpy", ge, args.size)
    fps_np = base["frames"] / base["seconds"]
    print(f"\nplain numpy read (readinto, frame by frame):   {fps_np:7.1f} frames/s, "
          f"{raw_mb / base['seconds']:7.0f} MB/s, peak RSS {base['max_rss_mb']:.0f} MB")
    for c in args.clevel:
        enc = child("blosc", ge, args.size, None, str(c))
        print(f"numpy read + Blosc zstd {c} encode only:   {enc['frames'] / enc['seconds']:7.1f} frames/s, "
              f"{raw_mb / enc['seconds']:7.0f} MB/s (the compression floor)")
    runs = [(f"zstd clevel {c}", f"clevel{c}", ["-clevel", str(c)]) for c in args.clevel]
    runs.append(("clevel 3, -preProcThresh 150", "thresh", ["-preProcThresh", "150"]))
    for label, tag, extra in runs:
        out = work / f"bench_{tag}.analysis.MIDAS.zip"
        r = child("convert", ge, args.size, out, str(params), *extra)
        fps = r["frames"] / r["seconds"]
        size_mb = out.stat().st_size / 1e6
        print(f"midas convert, {label:28s} {fps:7.1f} frames/s, "
              f"{raw_mb / r['seconds']:7.0f} MB/s, peak RSS {r['max_rss_mb']:.0f} MB, "
              f"archive {size_mb:.0f} MB (ratio {raw_mb / size_mb:.1f}), "
              f"{fps / fps_np:.3f} x numpy read")
        d = child("decode", out, args.size)
        print(f"  read back (MidasZip.iter_frames):           {d['frames'] / d['seconds']:7.1f} frames/s, "
              f"peak RSS {d['max_rss_mb']:.0f} MB")
    print(f"\n{args.frames} frames of {args.size}x{args.size} uint16 ({raw_mb:.0f} MB raw); "
          f"{os.cpu_count()} CPUs; times exclude Python imports, include opening files and "
          f"writing the parameters")


if __name__ == "__main__":
    main()
