"""featcf.models.feature_cf._sparse: row sums, row normalisation and row placement against
dense NumPy."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._sparse import row_normalize, row_sums, spread_rows


@st.composite
def sparse_matrices(draw, n_cols=None):
    """Small CSR matrices with empty rows, float32 values in [0, 3]."""
    n_rows = draw(st.integers(0, 7))
    n_cols = draw(st.integers(1, 6)) if n_cols is None else n_cols
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 4, size=(n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.4)
    return sp.csr_matrix(dense.astype(np.float32))


@settings(max_examples=25, deadline=None)
@given(m=sparse_matrices(), power=st.sampled_from([1, 2]))
def test_row_sums_equal_dense_sums(m, power):
    expected = (m.toarray().astype(np.float64) ** power).sum(axis=1)
    got = row_sums(m, power)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_row_normalize_stacks_rows_scaled_to_sum_one(data):
    first = data.draw(sparse_matrices())
    second = data.draw(sparse_matrices(n_cols=first.shape[1]))
    out = row_normalize(first, second)
    dense = np.vstack([first.toarray(), second.toarray()]).astype(np.float64)
    sums = dense.sum(axis=1, keepdims=True)
    expected = np.divide(dense, sums, out=np.zeros_like(dense), where=sums > 0)
    assert out.dtype == np.float32 and out.shape == dense.shape
    np.testing.assert_allclose(out.toarray(), expected, rtol=1e-6)
    assert out.nnz == first.nnz + second.nnz  # the pattern is kept (empty rows stay empty)


@settings(max_examples=25, deadline=None)
@given(m=sparse_matrices(), extra=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_spread_rows_places_rows_at_their_positions(m, extra, seed):
    n_rows = m.shape[0] + extra
    rows = np.sort(np.random.default_rng(seed).choice(n_rows, m.shape[0], replace=False))
    out = spread_rows(m, rows, n_rows)
    expected = np.zeros((n_rows, m.shape[1]), dtype=np.float32)
    expected[rows] = m.toarray()
    np.testing.assert_array_equal(out.toarray(), expected)
