"""CSR sparse matrix × frames: compiled CPU kernel and CUDA kernel against the NumPy twin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from midas import parallel
from midas._reference import sparse as ref
from midas.errors import FormatError, ParamError
from midas.sparse import CsrMatrix, DeviceCsr, banded_apply, csr_apply, csr_banded


def random_csr(rng, n_rows=300, n_cols=500, density=0.05, dtype=np.float32) -> CsrMatrix:
    m = sp.random(n_rows, n_cols, density=density, format="csr", random_state=np.random.RandomState(7),
                  dtype=np.float64)
    m.data = rng.uniform(0.0, 1.0, m.nnz)
    return CsrMatrix.from_scipy(m, dtype=dtype)


@pytest.mark.parametrize("mdtype", [np.float32, np.float64])
@pytest.mark.parametrize("xdtype", [np.float32, np.float64, np.uint16, np.int32])
def test_spmv_matches_numpy_twin(rng, mdtype, xdtype):
    a = random_csr(rng, dtype=mdtype)
    x = (rng.uniform(0, 1000, (4, a.n_cols))).astype(xdtype)
    got = csr_apply(a, x)
    want = ref.csr_spmv(a.indptr, a.indices, a.data, x.astype(np.float64) if xdtype not in (np.float32, np.float64) else x)
    # double accumulation in both; only the input rounding of integer frames to float32 differs (exact < 2**24)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_spmv_frame_shapes(rng):
    a = random_csr(rng, n_cols=20 * 25)
    frames = rng.uniform(0, 10, (3, 20, 25)).astype(np.float32)
    y3 = csr_apply(a, frames)
    assert y3.shape == (3, a.n_rows)
    y1 = csr_apply(a, frames[1])
    np.testing.assert_array_equal(y1, y3[1])
    with pytest.raises(ParamError, match="do not match the matrix"):
        csr_apply(a, np.zeros((2, 7)))


def test_spmv_identical_for_1_and_2_threads(rng):
    a = random_csr(rng, n_rows=2000, n_cols=3000)
    x = rng.uniform(0, 1, (2, a.n_cols)).astype(np.float32)
    with parallel.threads(1):
        y1 = csr_apply(a, x)
    with parallel.threads(2):
        y2 = csr_apply(a, x)
    assert y1.tobytes() == y2.tobytes()


def wide_csr(rng) -> CsrMatrix:
    """Rows of sorted columns over 200 000 columns: some steps fit int16, some rows jump further."""
    n_rows, n_cols = 400, 200_000
    rows = []
    for r in range(n_rows):
        span = 5_000 if r % 3 else 150_000  # every third row needs steps beyond int16
        start = int(rng.integers(0, n_cols - span))
        cols = np.unique(rng.integers(start, start + span, int(rng.integers(0, 40))))
        rows.append(cols)
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    return CsrMatrix(indptr, indices, rng.uniform(0, 1, len(indices)).astype(np.float32), n_cols)


@pytest.mark.parametrize("band_cols", [1024, 2**14])
def test_banded_copy_matches_the_twin_and_the_product(rng, band_cols):
    a = wide_csr(rng)
    b = csr_banded(a, band_cols)
    want = ref.csr_banded(a.indptr, a.indices, a.data, a.n_cols, band_cols)
    for name, arr in want.items():
        np.testing.assert_array_equal(getattr(b, name), arr, err_msg=name)
    assert b.seg_slot.size > a.n_rows  # rows were cut at band changes
    assert np.all(np.diff(b.seg_ptr) % 4 == 0) and b.data.size > a.nnz  # padded to whole groups
    x = rng.uniform(0, 1000, (11, a.n_cols)).astype(np.float32)
    scale = rng.uniform(0.5, 2, a.n_rows)
    offset = rng.uniform(0, 1, a.n_rows)
    got = banded_apply(b, x, row_scale=scale, row_offset=offset)
    np.testing.assert_allclose(got, scale * (ref.csr_spmv(a.indptr, a.indices, a.data, x) - offset), rtol=1e-13)
    for n_threads in (1, 2):
        with parallel.threads(n_threads):
            again = banded_apply(b, x, row_scale=scale, row_offset=offset)
            single = np.stack([banded_apply(b, x[f], row_scale=scale, row_offset=offset) for f in range(len(x))])
        assert again.tobytes() == got.tobytes()
        assert single.tobytes() == got.tobytes()
    # the portable loop and the AVX2 loop (where the CPU has it) round alike
    assert banded_apply(b, x, row_scale=scale, row_offset=offset, simd=False).tobytes() == got.tobytes()
    for xi in (x.astype(np.float64), (x * 10).astype(np.uint16), (x * 10).astype(np.int32)):
        np.testing.assert_allclose(banded_apply(b, xi), ref.csr_spmv(a.indptr, a.indices, a.data, xi), rtol=1e-12)
        assert banded_apply(b, xi, simd=False).tobytes() == banded_apply(b, xi).tobytes()
    with pytest.raises(ParamError, match="power of two"):
        csr_banded(a, 1000)
    with pytest.raises(ParamError, match="power of two"):
        csr_banded(a, 2**17)


def test_banded_product_rejects_a_corrupted_copy(rng):
    a = wide_csr(rng)
    b = csr_banded(a, 1024)
    x = rng.uniform(0, 1, (1, a.n_cols)).astype(np.float32)
    bad_slot = b.seg_slot.copy()
    bad_slot[3] = b.seg_slot.size
    with pytest.raises(ParamError, match="slot outside"):
        banded_apply(dataclasses.replace(b, seg_slot=bad_slot), x)
    bad_offset = b.offset.copy()
    bad_offset[-1] = 65535  # in the last band: past the last column
    with pytest.raises(ParamError, match="past the last column"):
        banded_apply(dataclasses.replace(b, offset=bad_offset), x)


def test_invalid_csr_raises_format_error(rng):
    a = random_csr(rng)
    bad = CsrMatrix(a.indptr, a.indices.copy(), a.data, a.n_cols)
    bad.indices[5] = a.n_cols + 3
    with pytest.raises(FormatError, match="column index"):
        csr_apply(bad, np.zeros((1, a.n_cols), np.float32))


@pytest.mark.gpu
def test_gpu_spmv_matches_cpu(rng):
    a = random_csr(rng, n_rows=5000, n_cols=8000, density=0.01)
    x = rng.uniform(0, 1000, (3, a.n_cols)).astype(np.float32)
    dev = DeviceCsr(a)
    got = dev.apply(x)
    np.testing.assert_allclose(got, csr_apply(a, x), rtol=1e-12)
    # resident matrix: a second batch reuses it
    np.testing.assert_allclose(dev.apply(x[:1]), csr_apply(a, x[:1]), rtol=1e-12)
