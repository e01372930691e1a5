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
