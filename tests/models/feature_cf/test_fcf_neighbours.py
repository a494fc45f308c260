"""featcf.models.feature_cf._neighbours: top-k lists computed once per distinct row equal the
direct searches; drop-self and truncation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._neighbours import (
    topk_distinct_queries,
    topk_distinct_refs,
    unique_rows,
)
from featcf.similarity import topk_similarity_between, topk_similarity_dense_between


def test_top_k_of_distinct_query_rows_equals_the_direct_call():
    """Histories repeat in small catalogues; the neighbours are computed once per distinct row."""

    rng = np.random.default_rng(5)
    base = (rng.random((6, 5)) < 0.5).astype(np.float32)
    base[0] = 0.0  # an empty history among them
    rows = rng.integers(0, 6, size=40)
    sparse_q = sp.csr_matrix(base[rows])
    ref = sp.csr_matrix((rng.random((25, 5)) < 0.4).astype(np.float32))
    uniq, inverse = unique_rows(sparse_q)
    assert uniq.shape[0] == len(np.unique(rows)) and np.array_equal(
        uniq[inverse].toarray(), sparse_q.toarray()
    )
    direct = topk_similarity_between(sparse_q, ref, 4)
    once = topk_distinct_queries(lambda q: topk_similarity_between(q, ref, 4), sparse_q)
    assert (direct != once).nnz == 0 and np.array_equal(direct.indptr, once.indptr)

    dense_q = rng.normal(size=(6, 3))[rows]
    dense_ref = rng.normal(size=(25, 3))
    uniq_d, inverse_d = unique_rows(dense_q)
    np.testing.assert_array_equal(uniq_d[inverse_d], dense_q)
    direct = topk_similarity_dense_between(dense_q, dense_ref, 4)
    once = topk_distinct_queries(lambda q: topk_similarity_dense_between(q, dense_ref, 4), dense_q)
    assert (direct != once).nnz == 0 and np.array_equal(direct.indices, once.indices)


@settings(max_examples=60, deadline=None)
@given(
    n_query=st.integers(1, 8),
    n_distinct=st.integers(1, 6),
    n_ref=st.integers(1, 30),
    d=st.integers(1, 4),
    k=st.integers(1, 12),
    metric=st.sampled_from(["cosine", "pearson", "dot"]),
    seed=st.integers(0, 2**16),
)
def test_top_k_against_distinct_reference_rows_equals_the_direct_call(
    n_query, n_distinct, n_ref, d, k, metric, seed
):
    """Repeated reference rows (same demographics and purchases) are scored once; the lists,
    their order and the tie-breaking by position are those of the direct call."""

    rng = np.random.default_rng(seed)
    # small integers: repeated rows, zero rows and exactly tied scores between distinct rows
    distinct = rng.integers(-2, 3, size=(n_distinct, d)).astype(np.float64)
    ref = distinct[rng.integers(0, n_distinct, size=n_ref)]
    query = rng.integers(-2, 3, size=(n_query, d)).astype(np.float64)
    weights = rng.integers(1, 3, size=d).astype(np.float64)

    def search(rows, kk):
        return topk_similarity_dense_between(query, rows, kk, metric, weights=weights)

    direct = search(ref, k)
    once = topk_distinct_refs(search, ref, k)
    assert once.shape == direct.shape
    np.testing.assert_array_equal(once.indptr, direct.indptr)
    np.testing.assert_array_equal(once.indices, direct.indices)
    np.testing.assert_array_equal(once.data, direct.data)
