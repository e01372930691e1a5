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


def csr_banded(indptr: NDArray[np.int64], indices: NDArray[np.int32], data: NDArray[np.floating],
               n_cols: int, band_cols: int, group: int = 4) -> dict[str, NDArray[np.generic]]:
    """Twin of ``midas::sparse::make_banded``: the same arrays, built row by row in Python."""
    segs = []  # (band, row, first entry, end entry) in creation order
    for r in range(len(indptr) - 1):
        k0, k1 = int(indptr[r]), int(indptr[r + 1])
        start = k0
        for k in range(k0 + 1, k1 + 1):
            if k == k1 or int(indices[k]) // band_cols != int(indices[k - 1]) // band_cols:
                segs.append((int(indices[start]) // band_cols, r, start, k))
                start = k
    n_bands = max(1, -(-n_cols // band_cols))
    # by band, inside a band by first column, ties in creation order
    order = sorted(range(len(segs)), key=lambda c: (segs[c][0], int(indices[segs[c][2]]), c))
    band_ptr = np.zeros(n_bands + 1, dtype=np.int64)
    np.add.at(band_ptr, np.array([s[0] + 1 for s in segs], dtype=np.int64), 1)
    out_data, out_offset, lengths = [], [], []
    for c in order:
        band, _, k0, k1 = segs[c]
        n = k1 - k0
        pad = -n % group
        cols = indices[k0:k1].astype(np.int64) - band * band_cols
        out_data.append(np.concatenate([data[k0:k1], np.zeros(pad, data.dtype)]))
        out_offset.append(np.concatenate([cols, np.full(pad, cols[-1])]))
        lengths.append(n + pad)
    seg_ptr = np.zeros(len(segs) + 1, dtype=np.int64)
    seg_ptr[1:] = np.cumsum(lengths)
    row_seg_ptr = np.zeros(len(indptr), dtype=np.int64)
    np.add.at(row_seg_ptr, np.array([s[1] + 1 for s in segs], dtype=np.int64), 1)
    return {
        "band_ptr": np.cumsum(band_ptr), "seg_ptr": seg_ptr,
        "row_seg_ptr": np.cumsum(row_seg_ptr), "seg_slot": np.asarray(order, dtype=np.int32),
        "data": np.concatenate(out_data) if segs else data[:0],
        "offset": np.concatenate(out_offset).astype(np.uint16) if segs else np.zeros(0, np.uint16),
    }
