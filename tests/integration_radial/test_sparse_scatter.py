"""The scatter form of the CSR product (from the transpose) used for few-bin maps (1-D lineouts)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from midas import parallel
from midas._reference import sparse as ref
from midas.errors import ParamError
from midas.sparse import CsrMatrix, csr_apply, csr_apply_transposed, csr_transpose


def random_csr(rng, n_rows=200, n_cols=5000, density=0.02, dtype=np.float32):
    m = sp.random(n_rows, n_cols, density=density, format="csr", random_state=np.random.RandomState(3))
    m.data = rng.uniform(0, 1, m.nnz)
    return CsrMatrix.from_scipy(m, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_matches_scipy(rng, dtype):
    a = random_csr(rng, dtype=dtype)
    t = csr_transpose(a)
    want = sp.csr_matrix((a.data, a.indices, a.indptr), shape=(a.n_rows, a.n_cols)).T.tocsr()
    want.sort_indices()
    np.testing.assert_array_equal(t.indptr, want.indptr)
    np.testing.assert_array_equal(t.indices, want.indices)
    np.testing.assert_array_equal(t.data, want.data)
    assert t.n_cols == a.n_rows and t.data.dtype == dtype


@pytest.mark.parametrize("xdtype", [np.float32, np.float64, np.uint16, np.int32])
def test_scatter_product_equals_the_row_product(rng, xdtype):
    a = random_csr(rng)
    t = csr_transpose(a)
    x = rng.uniform(0, 1000, (5, a.n_cols)).astype(xdtype)
    scale = rng.uniform(0.5, 2, a.n_rows)
    scale[3] = np.nan
    offset = rng.uniform(0, 10, a.n_rows)
    got = csr_apply_transposed(t, x, row_scale=scale, row_offset=offset)
    want = scale * (ref.csr_spmv(a.indptr, a.indices, a.data, x.astype(np.float64)) - offset)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, csr_apply(a, x, row_scale=scale, row_offset=offset), rtol=1e-12)
    assert np.isnan(got[:, 3]).all()


def test_scatter_is_identical_for_threads_and_batches(rng):
    a = random_csr(rng, n_rows=300, n_cols=20000)
    t = csr_transpose(a)
    x = rng.uniform(0, 1000, (4, a.n_cols)).astype(np.float32)
    with parallel.threads(1):
        one = csr_apply_transposed(t, x)
    with parallel.threads(2):
        two = csr_apply_transposed(t, x)
        singles = np.stack([csr_apply_transposed(t, f) for f in x])
    assert one.tobytes() == two.tobytes() == singles.tobytes()


def test_scatter_shape_errors(rng):
    t = csr_transpose(random_csr(rng))
    with pytest.raises(ParamError):
        csr_apply_transposed(t, np.zeros((2, 17), np.float32))
