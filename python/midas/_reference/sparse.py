"""NumPy twin of ``midas::sparse::csr_spmv``."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def csr_spmv(indptr: NDArray[np.int64], indices: NDArray[np.int32], data: NDArray[np.floating],
             x: NDArray[np.floating]) -> NDArray[np.float64]:
    """Row-by-row CSR product in float64: x (n_frames, n_cols) -> y (n_frames, n_rows)."""
    n_rows = len(indptr) - 1
    y = np.zeros((x.shape[0], n_rows), dtype=np.float64)
    for r in range(n_rows):
        k0, k1 = int(indptr[r]), int(indptr[r + 1])
        cols = indices[k0:k1]
        w = data[k0:k1].astype(np.float64)
        y[:, r] = x[:, cols].astype(np.float64) @ w
    return y


def csr_column_steps(indptr: NDArray[np.int64], indices: NDArray[np.int32]) -> tuple[NDArray[np.int32], NDArray[np.int16]]:
    """Twin of ``midas::sparse::csr_column_steps``: (row_base, step); rows whose steps leave int16 get base -1, steps 0."""
    n_rows = len(indptr) - 1
    base = np.zeros(n_rows, dtype=np.int32)
    step = np.zeros(len(indices), dtype=np.int16)
    for r in range(n_rows):
        k0, k1 = int(indptr[r]), int(indptr[r + 1])
        if k1 == k0:
            continue
        d = np.diff(indices[k0:k1].astype(np.int64), prepend=np.int64(indices[k0]))
        if np.all((d >= -(2**15)) & (d < 2**15)):
            base[r] = indices[k0]
            step[k0:k1] = d
        else:
            base[r] = -1
    return base, step
