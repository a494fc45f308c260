"""featcf.models.feature_cf._neighbours: top-k lists computed once per distinct row equal the
direct searches; drop-self and truncation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._inputs import Settings
from featcf.models.feature_cf._neighbours import (
    drop_self_truncate,
    fold_in_user_neighbours,
    reference_positions,
    reference_rank,
    to_active_columns,
    topk_distinct_queries,
    topk_distinct_refs,
    unique_rows,
)
from featcf.models.feature_cf._sparse import row_sums
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


@settings(max_examples=25, deadline=None)
@given(
    n_rows=st.integers(1, 6),
    n_cols=st.integers(1, 8),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_drop_self_truncate_removes_the_own_column_and_keeps_the_first_k(n_rows, n_cols, k, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_rows):  # a best-first list per row: distinct columns, falling scores
        cols = rng.permutation(n_cols)[: rng.integers(0, n_cols + 1)]
        rows.append((cols, np.sort(rng.random(len(cols)))[::-1] + 0.1))
    indptr = np.cumsum([0, *[len(c) for c, _ in rows]])
    sims = sp.csr_matrix(
        (np.concatenate([s for _, s in rows]), np.concatenate([c for c, _ in rows]), indptr),
        shape=(n_rows, n_cols),
    )
    self_col = rng.integers(-1, n_cols, size=n_rows)  # -1: no own column
    out = drop_self_truncate(sims, self_col, k)
    assert out.dtype == np.float32 and out.shape == sims.shape
    for r, (cols, scores) in enumerate(rows):
        keep = cols != self_col[r]
        want_cols, want = cols[keep][:k], scores[keep][:k].astype(np.float32)
        got = slice(out.indptr[r], out.indptr[r + 1])
        np.testing.assert_array_equal(out.indices[got], want_cols)
        np.testing.assert_array_equal(out.data[got], want)


@settings(max_examples=25, deadline=None)
@given(
    n_new=st.integers(1, 5),
    n_ref=st.integers(1, 12),
    n_items=st.integers(1, 8),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_fold_in_user_neighbours_are_the_top_k_cosine_of_a_dense_reference(
    n_new, n_ref, n_items, k, seed
):
    rng = np.random.default_rng(seed)
    hist = sp.csr_matrix((rng.random((n_new, n_items)) < 0.4).astype(np.float32))
    ref = sp.csr_matrix((rng.random((n_ref, n_items)) < 0.4).astype(np.float32))
    norms = np.sqrt(row_sums(ref, power=2))
    settings_ = Settings(n_neighbors=k, metric="cosine", profile_shrinkage=0.0, n_threads=1)
    out = fold_in_user_neighbours(hist, sp.csr_matrix(ref.T), norms, settings_)
    assert out.shape == (n_new, n_ref)
    h, v = hist.toarray().astype(np.float64), ref.toarray().astype(np.float64)
    den = np.linalg.norm(h, axis=1)[:, None] * np.linalg.norm(v, axis=1)[None, :]
    cos = np.divide(h @ v.T, den, out=np.zeros_like(den), where=den > 0)
    for r in range(n_new):
        got = slice(out.indptr[r], out.indptr[r + 1])
        # the kept scores are the row's best min(k, n_ref) scores, those that are positive
        best = np.sort(cos[r])[::-1][: min(k, n_ref)]
        np.testing.assert_allclose(np.sort(out.data[got])[::-1], best[best > 0], rtol=1e-6)
        np.testing.assert_allclose(out.data[got], cos[r, out.indices[got]], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(0, 40),
    n_distinct=st.integers(1, 6),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_unique_dense_rows_in_order_of_first_appearance(n_rows, n_distinct, d, seed):
    """The hashed grouping of dense rows (issue 14: linear time) against ``np.unique``."""
    rng = np.random.default_rng(seed)
    distinct = rng.integers(-1, 2, size=(n_distinct, d)).astype(np.float64)
    matrix = distinct[rng.integers(0, n_distinct, size=n_rows)]
    matrix[rng.random(matrix.shape) < 0.1] = -0.0  # equal to 0.0 as a number, not as bits
    uniq, inverse = unique_rows(matrix)
    assert len(inverse) == n_rows
    np.testing.assert_array_equal(uniq[inverse], matrix)
    if n_rows:
        first = np.unique(inverse, return_index=True)[1]
        assert np.all(np.diff(first) > 0) and inverse.max() == len(uniq) - 1
        assert len(uniq) >= len(np.unique(matrix, axis=0))


def test_reference_positions_are_a_seeded_sample_that_nests():
    """Issue 14: at most ``max_reference_users`` active users are searched; the lowest
    ranks, so a user in the sample of all active users is in the sample of any subset."""
    n_users, cap = 200, 30
    rank = reference_rank(np.random.default_rng(3), n_users)
    assert np.array_equal(np.sort(rank), np.arange(n_users))
    settings_ = Settings(3, "cosine", 1.0, 1, max_reference_users=cap, reference_rank=rank)
    active = np.arange(0, n_users, 2)
    ref = reference_positions(active, settings_)
    assert len(ref) == cap and np.all(np.diff(ref) > 0)
    chosen = rank[active[ref]]
    assert chosen.max() < np.sort(rank[active])[cap]
    subset = active[::2]
    sub_users = subset[reference_positions(subset, settings_)]
    assert set(np.intersect1d(active[ref], subset)) <= set(sub_users)
    exact = Settings(3, "cosine", 1.0, 1, max_reference_users=len(active))
    np.testing.assert_array_equal(reference_positions(active, exact), np.arange(len(active)))
    with pytest.raises(ValueError, match="reference_rank"):
        reference_positions(active, Settings(3, "cosine", 1.0, 1, max_reference_users=cap))
    # the parent generator's stream is untouched by drawing the rank
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    reference_rank(a, 50)
    assert a.random() == b.random()


def test_to_active_columns_maps_sample_columns_in_order():
    sims = sp.csr_matrix(np.array([[0.0, 0.9, 0.5], [0.7, 0.0, 0.0]], dtype=np.float32))
    ref = np.array([1, 4, 6])
    out = to_active_columns(sims, ref, 8)
    assert out.shape == (2, 8)
    np.testing.assert_array_equal(out.toarray()[:, ref], sims.toarray())
    assert out[:, np.setdiff1d(np.arange(8), ref)].nnz == 0
    assert to_active_columns(sims, np.arange(3), 3) is sims
