"""Tiny end-to-end checks meant to also run as pure Python (coverage of the kernel bodies).

Run manually with ``NUMBA_DISABLE_JIT=1 pytest tests/kernels/test_kernels_nojit.py``; in the
normal suite these run compiled. No hypothesis here, to keep the pure-Python run short.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from simref import assert_topk_matches, dense_reference_scores, reference_scores

from featcf.similarity import (
    DENSE_METRICS,
    SPARSE_METRICS,
    topk_similarity,
    topk_similarity_between,
    topk_similarity_dense,
    topn_dense,
    topn_scores,
    topn_scores_user,
)

X = sp.csr_matrix(
    np.array(
        [
            [1.0, 2.0, 0.0, 4.0, 0.0],
            [1.0, 2.0, 0.0, 4.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [3.0, 0.0, 5.0, 1.0, 2.0],
            [0.5, 1.0, 1.0, 0.0, 5.0],
            [2.0, 2.0, 2.0, 2.0, 0.0],
        ]
    )
)
W = np.array([1.0, 0.0, 2.0, 0.5, 1.0])


@pytest.mark.parametrize("metric", SPARSE_METRICS)
def test_sparse_metrics_tiny(metric):
    for weights in (None, W):
        S = topk_similarity(X, 3, metric, weights=weights, shrink=1.0, min_support=2)
        assert_topk_matches(S, reference_scores(X, X, metric, weights, 1.0, 2, True), 3)
        S = topk_similarity_between(X[:3], X[2:], 2, metric, weights=weights)
        assert_topk_matches(S, reference_scores(X[:3], X[2:], metric, weights), 2)


@pytest.mark.parametrize("metric", DENSE_METRICS)
def test_dense_metrics_tiny(metric):
    P = X.toarray()
    S = topk_similarity_dense(P, 2, metric, weights=W)
    assert_topk_matches(S, dense_reference_scores(P, P, metric, W, exclude_self=True), 2)


def test_serving_tiny():
    N = topk_similarity(X.T.tocsr(), 3)
    idx, val = topn_scores(N, X[:2], 3)
    scores = (X[:2] @ N).toarray()
    assert idx[0, 0] == 2 and val[0, 0] == np.float32(scores[0, 2])
    one = topn_scores_user(N, X[0].indices, 3, weights=X[0].data)
    np.testing.assert_array_equal(one[0], idx[0])
    top, _ = topn_dense(np.array([[1.0, 3.0, 3.0, 0.0]]), 2, sp.csr_matrix([[0, 1, 0, 0]]))
    assert top.tolist() == [[2, 0]]
    allowed = np.array([False, True, True, True])
    top, _ = topn_dense(
        np.array([[1.0, 3.0, 3.0, 0.0]]), 2, sp.csr_matrix([[0, 1, 0, 0]]), allowed=allowed
    )
    assert top.tolist() == [[2, 3]]
