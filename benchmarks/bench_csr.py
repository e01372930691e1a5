"""CSR matrix × frames: midas C++ (1, 2 threads) vs scipy.sparse, and the GPU when visible.

Matrix shaped like a full-pixel-splitting integration map of a 2048² detector onto
1000 R × 360 η bins (~2.3 entries per pixel, float32).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from midas import parallel
from midas.sparse import CsrMatrix, DeviceCsr, csr_apply, gpu_available


def make_matrix(n_pixels: int = 2048 * 2048, n_bins: int = 1000 * 360, per_pixel: float = 2.3,
                seed: int = 1) -> CsrMatrix:
    rng = np.random.default_rng(seed)
    nnz = int(n_pixels * per_pixel)
    # pixels map to nearby bins: sort by bin so each row touches a compact pixel range
    cols = rng.integers(0, n_pixels, nnz).astype(np.int32)
    rows = (cols.astype(np.int64) * n_bins // n_pixels + rng.integers(0, 3, nnz)).clip(0, n_bins - 1)
    vals = rng.uniform(0.05, 1.0, nnz).astype(np.float32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_bins, n_pixels))
    return CsrMatrix.from_scipy(m, dtype=np.float32)


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    a = make_matrix()
    frame = np.random.default_rng(2).uniform(0, 1000, (1, a.n_cols)).astype(np.float32)
    scipy_m = sp.csr_matrix((a.data, a.indices, a.indptr), shape=(a.n_rows, a.n_cols))
    t_scipy = best_of(lambda: scipy_m @ frame[0].astype(np.float64))
    print(f"matrix {a.n_rows} x {a.n_cols}, nnz {a.nnz}")
    print(f"scipy.sparse (1 thread, float64):      {t_scipy * 1e3:8.2f} ms/frame")
    for n in (1, 2):
        with parallel.threads(n):
            t = best_of(lambda: csr_apply(a, frame, validate=False))
            t8 = best_of(lambda: csr_apply(a, np.repeat(frame, 8, 0), validate=False), 3) / 8
        print(f"midas C++ {n} thread(s):               {t * 1e3:8.2f} ms/frame  "
              f"({t_scipy / t:5.2f}x scipy); batch of 8: {t8 * 1e3:6.2f} ms/frame")
    ok, why = gpu_available()
    if ok:
        dev = DeviceCsr(a)
        frames = np.repeat(frame, 32, 0)
        dev.apply(frames)
        t = best_of(lambda: dev.apply(frames), 3) / 32
        print(f"midas CUDA ({why}): {t * 1e3:8.3f} ms/frame ({1 / t:8.0f} frames/s incl. transfers)")
    else:
        print(f"GPU: {why}")


if __name__ == "__main__":
    main()
