"""topk_similarity_dense / _dense_between against a dense brute force."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from simref import POSITIVE_VALUES, WEIGHT_VALUES, assert_topk_matches, dense_reference_scores

from featcf.similarity import (
    DENSE_METRICS,
    topk_similarity,
    topk_similarity_dense,
    topk_similarity_dense_between,
)

VALUES = st.sampled_from((0.0, 0.0) + POSITIVE_VALUES + (-1.0, -2.5))


def profiles(n_rows, d):
    return arrays(np.float64, (n_rows, d), elements=VALUES)


@st.composite
def dense_problems(draw, between=False):
    d = draw(st.integers(1, 6))
    A = draw(profiles(draw(st.integers(0, 9)), d))
    if A.shape[0] > 1 and draw(st.booleans()):
        A[-1] = A[0]  # a tie
    B = draw(profiles(draw(st.integers(0, 9)), d)) if between else None
    w = draw(
        st.one_of(st.none(), arrays(np.float64, (d,), elements=st.sampled_from(WEIGHT_VALUES)))
    )
    return A, B, w, draw(st.integers(1, 10))


@pytest.mark.parametrize("metric", DENSE_METRICS)
@settings(max_examples=40, deadline=None)
@given(problem=dense_problems(), exclude_self=st.booleans())
def test_dense_matches_brute_force(metric, problem, exclude_self):
    P, _, w, k = problem
    result = topk_similarity_dense(P, k, metric, weights=w, exclude_self=exclude_self)
    assert_topk_matches(result, dense_reference_scores(P, P, metric, w, exclude_self), k)


@pytest.mark.parametrize("metric", DENSE_METRICS)
@settings(max_examples=40, deadline=None)
@given(problem=dense_problems(between=True))
def test_dense_between_matches_brute_force(metric, problem):
    A, B, w, k = problem
    result = topk_similarity_dense_between(A, B, k, metric, weights=w)
    assert result.shape == (A.shape[0], B.shape[0])
    assert_topk_matches(result, dense_reference_scores(A, B, metric, w), k)


@settings(max_examples=20, deadline=None)
@given(P=profiles(7, 4).map(np.abs))
def test_dense_cosine_equals_sparse_cosine_on_full_rows(P):
    P = P + 1.0  # every value stored, so the sparse and dense definitions agree
    a = topk_similarity_dense(P, 3)
    b = topk_similarity(sp.csr_matrix(P), 3)
    assert np.array_equal(a.indices, b.indices)
    assert np.allclose(a.data, b.data, atol=1e-6)


def test_dense_threads_and_validation(rng):
    P = np.round(rng.normal(size=(200, 8)), 1)
    if numba.config.NUMBA_NUM_THREADS >= 2:
        a = topk_similarity_dense(P, 5, "pearson", n_threads=1)
        b = topk_similarity_dense(P, 5, "pearson", n_threads=2)
        assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices)
    with pytest.raises(ValueError, match="P"):
        topk_similarity_dense(np.ones(3), 2)
    with pytest.raises(TypeError, match="P"):
        topk_similarity_dense(sp.csr_matrix(np.ones((2, 2))), 2)
    with pytest.raises(ValueError, match="P"):
        topk_similarity_dense(np.array([[1.0, np.nan]]), 2)
    with pytest.raises(ValueError, match="metric"):
        topk_similarity_dense(P, 2, "jaccard")
    with pytest.raises(ValueError, match="k"):
        topk_similarity_dense(P, 0)
    with pytest.raises(ValueError, match="weights"):
        topk_similarity_dense(P, 2, weights=np.ones(3))
    with pytest.raises(ValueError, match="A.*B"):
        topk_similarity_dense_between(P, P[:, :3], 2)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 20),
    st.integers(1, 5),
    st.integers(1, 8),
    st.sampled_from(["cosine", "dot", "pearson"]),
    st.integers(0, 2**31 - 1),
)
def test_few_rows_kernel_is_bit_identical_to_the_block_kernel(n_a, n_b, d, k, metric, seed):
    """dense_topk_rows (few query rows, serial) = dense_topk (blocks of rows, parallel)."""
    from featcf._kernels import similarity as ks
    from featcf.similarity import prepare_dense

    rng = np.random.default_rng(seed)
    # small integers make ties and exact zeros likely
    A = rng.integers(-2, 3, size=(n_a, d)).astype(np.float64)
    B = rng.integers(-2, 3, size=(n_b, d)).astype(np.float64)
    w = rng.random(d) + 0.1
    pa, pb = prepare_dense(A, metric, w), prepare_dense(B, metric, w)
    a, na, b, nb = pa.rows, pa.norms, pb.rows, pb.norms
    mode = ks.MODE_DOT if metric == "dot" else ks.MODE_COSINE
    k = min(k, n_b)
    for exclude_self in (False, True) if n_a == n_b else (False,):
        fast = ks.dense_topk_rows(a, b, na, nb, k, mode, exclude_self)
        block = ks.dense_topk(a, b, na, nb, k, mode, exclude_self, 2)
        for x, y in zip(fast, block, strict=True):
            assert np.array_equal(x, y)
