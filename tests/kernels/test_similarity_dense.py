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
