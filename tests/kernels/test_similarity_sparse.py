"""topk_similarity / topk_similarity_between against a dense brute force, plus invariants."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simref import (
    assert_topk_matches,
    column_weights,
    reference_scores,
    sparse_matrices,
)

from featcf.similarity import (
    SPARSE_METRICS,
    drop_column_topk,
    topk_similarity,
    topk_similarity_between,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNED_OK = ("cosine", "adjusted_cosine", "pearson", "jaccard", "dot")


@st.composite
def problems(draw, metric=None, between=False):
    metric = draw(st.sampled_from(SPARSE_METRICS)) if metric is None else metric
    signed = metric in SIGNED_OK and draw(st.booleans())
    binary = not signed and draw(st.integers(0, 3)) == 0
    A = draw(sparse_matrices(signed=signed, binary=binary))
    B = draw(sparse_matrices(n_cols=A.shape[1], signed=signed, binary=binary)) if between else None
    k = draw(st.integers(1, 10))
    weights = draw(column_weights(A.shape[1]))
    shrink = draw(st.sampled_from((0.0, 0.0, 1.0, 2.5)))
    min_support = draw(st.sampled_from((0, 1, 1, 2, 3)))
    return metric, A, B, k, weights, shrink, min_support


@pytest.mark.parametrize("metric", SPARSE_METRICS)
@SETTINGS
@given(data=st.data())
def test_topk_similarity_matches_brute_force(metric, data):
    metric, X, _, k, weights, shrink, min_support = data.draw(problems(metric))
    exclude_self = data.draw(st.booleans())
    result = topk_similarity(
        X, k, metric, shrink=shrink, min_support=min_support, weights=weights,
        exclude_self=exclude_self,
    )  # fmt: skip
    ref = reference_scores(X, X, metric, weights, shrink, min_support, exclude_self)
    assert_topk_matches(result, ref, k)


@pytest.mark.parametrize("metric", SPARSE_METRICS)
@SETTINGS
@given(data=st.data())
def test_topk_similarity_between_matches_brute_force(metric, data):
    metric, A, B, k, weights, shrink, min_support = data.draw(problems(metric, between=True))
    result = topk_similarity_between(
        A, B, k, metric, shrink=shrink, min_support=min_support, weights=weights
    )
    assert result.shape == (A.shape[0], B.shape[0])
    assert_topk_matches(result, reference_scores(A, B, metric, weights, shrink, min_support), k)


@pytest.mark.parametrize("metric", SPARSE_METRICS)
@settings(max_examples=15, deadline=None)
@given(X=sparse_matrices(max_rows=10))
def test_between_itself_equals_self_similarity_with_self(metric, X):
    # symmetric case: topk_similarity(X, exclude_self=False) == topk_similarity_between(X, X)
    # (bm25/tfidf statistics then come from the same matrix)
    a = topk_similarity(X, 4, metric, exclude_self=False)
    b = topk_similarity_between(X, X, 4, metric)
    assert (a != b).nnz == 0
    assert np.array_equal(a.indices, b.indices)


@pytest.mark.parametrize("metric", ("cosine", "jaccard", "pearson", "adjusted_cosine", "dot"))
@settings(max_examples=15, deadline=None)
@given(X=sparse_matrices(max_rows=9))
def test_all_pairs_scores_are_symmetric(metric, X):
    n = X.shape[0]
    S = topk_similarity(X, max(n, 1), metric).toarray()
    assert np.allclose(S, S.T, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(X=sparse_matrices(), k=st.integers(1, 12))
def test_cosine_bounds_and_self_similarity(X, k):
    S = topk_similarity(X, k, exclude_self=False)
    assert np.all(S.data > 0) and np.all(S.data <= 1.0)
    nonempty = np.diff(X.indptr) > 0
    diag = S.diagonal()
    # a non-empty row is its own best neighbour (score 1; ties with duplicates by index)
    assert np.allclose(diag[nonempty], 1.0) or k < X.shape[0]
    for i in np.flatnonzero(nonempty):
        row = S.getrow(i)
        assert row.data[0] == pytest.approx(1.0)
    S2 = topk_similarity(X, k, exclude_self=True)
    assert S2.diagonal().sum() == 0
    empty = ~nonempty
    assert np.all(np.diff(S2.indptr)[empty] == 0)
    assert np.all(np.diff(S.indptr)[empty] == 0)


@pytest.mark.parametrize("metric", ("cosine", "adjusted_cosine", "pearson", "jaccard", "tfidf"))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_scaling_all_weights_leaves_scores_unchanged(metric, data):
    X = data.draw(sparse_matrices())
    w = data.draw(column_weights(X.shape[1]).filter(lambda w: w is not None))
    # factor 4: sqrt(4) = 2 is exact, so the scores must be bit-identical
    a = topk_similarity(X, 3, metric, weights=w)
    b = topk_similarity(X, 3, metric, weights=4.0 * w)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)
    # a non-exact factor changes scores by rounding only (all pairs, so ties cannot swap sets)
    n_all = max(X.shape[0], 1)
    c = topk_similarity(X, n_all, metric, weights=0.3 * w).toarray()
    d = topk_similarity(X, n_all, metric, weights=w).toarray()
    assert np.allclose(c, d, atol=1e-6)


@pytest.mark.parametrize("metric", SPARSE_METRICS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_zero_weight_equals_dropping_the_column(metric, data):
    X = data.draw(sparse_matrices(max_cols=6).filter(lambda m: m.shape[1] >= 2))
    w = data.draw(column_weights(X.shape[1]).filter(lambda w: w is not None))
    drop = data.draw(st.integers(0, X.shape[1] - 1))
    w[drop] = 0.0
    keep = np.flatnonzero(np.arange(X.shape[1]) != drop)
    a = topk_similarity(X, 3, metric, weights=w, min_support=2, shrink=1.0)
    b = topk_similarity(X[:, keep].tocsr(), 3, metric, weights=w[keep], min_support=2, shrink=1.0)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.data, b.data)


def test_shrinkage_and_min_support_by_hand():
    X = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 0, 0, 1]], dtype=float))
    S = topk_similarity(X, 2, shrink=3.0).toarray()
    # rows 0 and 1: cosine 1, 3 common columns -> 1 * 3 / 6
    assert S[0, 1] == pytest.approx(0.5)
    # rows 0 and 2: cosine 1/sqrt(6), one common column -> * 1/4
    assert S[0, 2] == pytest.approx(1 / np.sqrt(6) / 4)
    S = topk_similarity(X, 2, min_support=2).toarray()
    assert S[0, 2] == 0 and S[0, 1] == pytest.approx(1.0)


def test_pearson_uses_co_rated_means_by_hand():
    # co-rated columns 0..2: x = (1, 2, 3), y = (2, 4, 6) -> r = 1 whatever column 3 holds
    X = sp.csr_matrix(np.array([[1, 2, 3, 5], [2, 4, 6, 0]], dtype=float))
    S = topk_similarity(X, 1, "pearson")
    assert S[0, 1] == pytest.approx(1.0)
    # adjusted cosine centres on all stored entries instead -> not 1
    A = topk_similarity(X, 1, "adjusted_cosine")
    assert A[0, 1] < 0.99


def test_ties_broken_by_index():
    X = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 0], [1, 0]], dtype=float))
    S = topk_similarity(X, 2)
    assert S.indices.tolist() == [1, 2, 0, 2, 0, 1, 0, 1]


def test_k_larger_than_rows_and_empty_inputs():
    X = sp.csr_matrix(np.eye(3))
    assert topk_similarity(X, 50).nnz == 0
    S = topk_similarity(X + sp.csr_matrix(np.ones((3, 3))), 50)
    assert S.shape == (3, 3) and S.nnz == 6
    empty = sp.csr_matrix((0, 4))
    assert topk_similarity(empty, 5).shape == (0, 0)
    assert topk_similarity_between(sp.csr_matrix((0, 3)), X, 5).shape == (0, 3)
    assert topk_similarity_between(X, sp.csr_matrix((0, 3)), 5).shape == (3, 0)


def test_thread_count_does_not_change_results_and_is_restored(rng):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least two numba threads")
    # large enough (> 50,000 stored entries in A and B) to really run on two threads
    X = sp.random(2000, 300, density=0.05, format="csr", random_state=1, dtype=np.float64)
    X.data = np.round(X.data * 4) / 2 + 0.5
    before = numba.get_num_threads()
    binary = X.copy()
    binary.data[:] = 1.0
    for metric in SPARSE_METRICS + ("binary",):
        M, metric = (binary, "cosine") if metric == "binary" else (X, metric)
        a = topk_similarity(M, 7, metric, shrink=1.0, n_threads=1)
        assert numba.get_num_threads() == before
        b = topk_similarity(M, 7, metric, shrink=1.0, n_threads=2)
        assert numba.get_num_threads() == before
        assert np.array_equal(a.indptr, b.indptr)
        assert np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)


def test_negative_pairs_returned_for_centred_metrics():
    X = sp.csr_matrix(np.array([[1, 5, 3], [5, 1, 3]], dtype=float))
    for metric in ("pearson", "adjusted_cosine"):
        S = topk_similarity(X, 1, metric)
        assert S[0, 1] == pytest.approx(-1.0)


# --------------------------------------------------------------------------- validation


def test_validation_errors_name_the_argument():
    X = sp.csr_matrix(np.ones((3, 2)))
    with pytest.raises(TypeError, match="X"):
        topk_similarity(np.ones((3, 2)), 2)
    with pytest.raises(TypeError, match="X"):
        topk_similarity(X.tocoo(), 2)
    with pytest.raises(ValueError, match="k"):
        topk_similarity(X, -1)
    with pytest.raises(ValueError, match="k"):
        topk_similarity(X, 0)
    with pytest.raises(TypeError, match="k"):
        topk_similarity(X, 2.5)
    with pytest.raises(ValueError, match="metric"):
        topk_similarity(X, 2, "euclid")
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="X"):
        topk_similarity(bad, 2)
    with pytest.raises(ValueError, match="weights"):
        topk_similarity(X, 2, weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="weights"):
        topk_similarity(X, 2, weights=[1.0, -2.0])
    with pytest.raises(ValueError, match="weights"):
        topk_similarity(X, 2, weights=[1.0, np.nan])
    with pytest.raises(ValueError, match="shrink"):
        topk_similarity(X, 2, shrink=-1.0)
    with pytest.raises(ValueError, match="min_support"):
        topk_similarity(X, 2, min_support=-1)
    with pytest.raises(ValueError, match="n_threads"):
        topk_similarity(X, 2, n_threads=0)
    with pytest.raises(ValueError, match="n_threads"):
        topk_similarity(X, 2, n_threads=numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(ValueError, match="A.*B"):
        topk_similarity_between(X, sp.csr_matrix(np.ones((2, 3))), 2)
    with pytest.raises(TypeError, match="B"):
        topk_similarity_between(X, np.ones((2, 2)), 2)
    neg = sp.csr_matrix(np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="bm25"):
        topk_similarity(neg, 2, "bm25")


# --------------------------------------------------------------------------- binary fast path


@pytest.mark.parametrize("metric", ("cosine", "jaccard", "dot"))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_binary_fast_path_equals_generic_kernel(metric, data):
    # all values equal -> int32 count kernels (symmetric upper-triangle kernel in self mode,
    # optional bitset core for the most popular rows); must be bit-identical to the generic one
    from featcf.similarity import _check_sparse, _sparse_topk

    X = _check_sparse(data.draw(sparse_matrices(max_rows=12, binary=True)), "X")
    k = data.draw(st.integers(1, 6))
    n_pop = data.draw(st.integers(0, 8))
    shrink = data.draw(st.sampled_from((0.0, 1.5)))
    min_support = data.draw(st.integers(1, 3))
    exclude_self = data.draw(st.booleans())
    args = (X, None, k, metric, shrink, min_support, None, exclude_self, None)
    fast = _sparse_topk(*args, fast=True, n_pop=n_pop)
    slow = _sparse_topk(*args, fast=False)
    assert np.array_equal(fast.indptr, slow.indptr)
    assert np.array_equal(fast.indices, slow.indices)
    assert np.array_equal(fast.data, slow.data)
    # between mode (no symmetry, no bitset core) agrees too
    between = topk_similarity_between(X, X, k, metric, shrink=shrink, min_support=min_support)
    if not exclude_self:
        assert np.array_equal(between.indices, fast.indices)
        assert np.array_equal(between.data, fast.data)
    assert_topk_matches(
        fast, reference_scores(X, X, metric, None, shrink, min_support, exclude_self), k
    )


def test_binary_fast_path_with_bitset_core_by_hand(rng):
    from featcf.similarity import _check_sparse, _sparse_topk

    dense = (rng.random((60, 200)) < np.linspace(0.02, 0.6, 60)[:, None]).astype(float)
    X = _check_sparse(sp.csr_matrix(dense), "X")
    ref = reference_scores(X, X, "cosine", exclude_self=True)
    for n_pop in (0, 5, 30, 60):
        S = _sparse_topk(X, None, 8, "cosine", 0.0, 1, None, True, None, n_pop=n_pop)
        assert_topk_matches(S, ref, 8)


@pytest.mark.parametrize("metric", ("cosine", "adjusted_cosine", "jaccard", "dot", "bm25", "tfidf"))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_symmetric_float_kernel_equals_row_by_row_kernel(metric, data):
    # self similarity on float values visits each unordered pair once (upper triangle) and
    # merges per-thread heap banks; it must be bit-identical to the row-by-row kernel
    from featcf.similarity import _check_sparse, _sparse_topk

    signed = metric in SIGNED_OK and data.draw(st.booleans())
    X = _check_sparse(data.draw(sparse_matrices(max_rows=12, signed=signed)), "X")
    k = data.draw(st.integers(1, 6))
    weights = data.draw(column_weights(X.shape[1]))
    shrink = data.draw(st.sampled_from((0.0, 1.5)))
    min_support = data.draw(st.integers(1, 3))
    exclude_self = data.draw(st.booleans())
    args = (X, None, k, metric, shrink, min_support, weights, exclude_self, None)
    a = _sparse_topk(*args, fast=False, symmetric=True)
    b = _sparse_topk(*args, fast=False, symmetric=False)
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("metric", ("cosine", "jaccard", "dot"))
@settings(max_examples=25, deadline=None)
@given(
    X=sparse_matrices(max_rows=12, binary=True),
    k=st.integers(1, 6),
    n_pop=st.integers(0, 8),
    options=st.tuples(st.sampled_from((0.0, 1.5)), st.integers(1, 3), st.booleans()),
)
def test_symmetric_count_kernel_equals_row_by_row_kernel(metric, X, k, n_pop, options):
    # issue 17: small self-similarity inputs take the row-by-row kernel by default (one kernel
    # to compile on a first run); the symmetric count kernel, forced here, must agree bit for bit
    from featcf.similarity import _check_sparse, _sparse_topk

    shrink, min_support, exclude_self = options
    args = (_check_sparse(X, "X"), None, k, metric, shrink, min_support, None, exclude_self, None)
    a = _sparse_topk(*args, n_pop=n_pop, symmetric=True)
    b = _sparse_topk(*args, n_pop=n_pop, symmetric=False)
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(a, part), getattr(b, part)), part


def test_row_by_row_kernels_same_on_one_and_two_threads(rng):
    # issue 17: on one thread the row-by-row kernels run their chunk body alone (no parallel
    # region); on two, the parallel kernel: same result, self and between, binary and float
    from featcf.similarity import _check_sparse, _sparse_topk

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least two numba threads")
    X = sp.random(2000, 300, density=0.05, format="csr", random_state=2, dtype=np.float64)
    X.data = np.round(X.data * 4) / 2 + 0.5
    binary = X.copy()
    binary.data[:] = 1.0
    for M in (X, binary):
        M = _check_sparse(M, "X")
        for B in (None, M[:1800]):  # A.nnz + B.nnz > 50,000: really two threads
            args = (M, B, 6, "cosine", 1.0, 1, None, B is None)
            one = _sparse_topk(*args, 1, symmetric=False)
            two = _sparse_topk(*args, 2, symmetric=False)
            for part in ("indptr", "indices", "data"):
                assert np.array_equal(getattr(one, part), getattr(two, part)), part


@pytest.mark.parametrize("binary", (True, False))
def test_row_by_row_fallback_when_heap_banks_do_not_fit(binary, monkeypatch, rng):
    # self similarity falls back to the row-by-row kernels when a heap per row and thread would
    # exceed the memory budget; same result (binary: with and without the bitset core)
    import featcf.similarity as fs

    dense = (rng.random((80, 120)) < np.linspace(0.02, 0.5, 80)[:, None]).astype(float)
    if not binary:
        dense *= rng.integers(1, 6, size=dense.shape)
    X = fs._check_sparse(sp.csr_matrix(dense), "X")
    args = (X, None, 6, "cosine", 1.0, 2, None, True, None)
    expected = fs._sparse_topk(*args, n_pop=10)
    monkeypatch.setattr(fs, "_SYMMETRIC_MAX_BYTES", 0)
    for n_pop in (0, 10):
        got = fs._sparse_topk(*args, n_pop=n_pop)
        assert np.array_equal(got.indices, expected.indices)
        assert np.array_equal(got.data, expected.data)
    assert_topk_matches(expected, reference_scores(X, X, "cosine", None, 1.0, 2, True), 6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_a=st.integers(1, 12),
    n_b=st.integers(1, 60),
    n_cols=st.integers(1, 6),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_binary_cosine_between_with_a_full_heap_matches_brute_force(n_a, n_b, n_cols, k, seed):
    """Issue 14: the binary count kernel turns away pairs below a full heap's threshold
    before dividing; many rows, few columns and a small k make the heap fill and tie."""
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix((rng.random((n_a, n_cols)) < 0.5).astype(np.float32))
    B = sp.csr_matrix((rng.random((n_b, n_cols)) < 0.5).astype(np.float32))
    result = topk_similarity_between(A, B, k, "cosine")
    assert_topk_matches(result, reference_scores(A, B, "cosine"), k)


@st.composite
def one_hot_rows(draw, n_fields, n_values, max_rows=40):
    """Rows with one value per categorical field (one-hot): every row of the same length,
    many equal counts (ties); sometimes a field left blank (a shorter row)."""
    n_rows = draw(st.integers(0, max_rows))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, n_values, size=(n_rows, n_fields)) + n_values * np.arange(n_fields)
    dense = np.zeros((n_rows, n_fields * n_values))
    np.put_along_axis(dense, cols, 1.0, axis=1)
    if n_rows and draw(st.integers(0, 3)) == 0:
        dense[rng.integers(0, n_rows), cols[0, 0]] = 0.0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("metric", ("cosine", "jaccard", "dot"))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_binary_rows_of_equal_length_scored_by_count_equal_generic_loop(metric, data):
    """Rows of one length (one-hot fields): the count kernel reads a row's scores from its
    counts (``_uniform_norms``); bit-identical to the loop over every label, and to brute force."""
    from unittest import mock

    import featcf.similarity as fs

    n_fields, n_values = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    A = data.draw(one_hot_rows(n_fields, n_values))
    B = data.draw(one_hot_rows(n_fields, n_values))
    k = data.draw(st.integers(1, 8))
    w = data.draw(st.sampled_from((None, 0.5, 2.0)))
    weights = None if w is None else np.full(A.shape[1], w)
    shrink = data.draw(st.sampled_from((0.0, 0.0, 1.5)))
    min_support = data.draw(st.integers(0, 3))
    exclude_self = data.draw(st.booleans())
    opts = {"shrink": shrink, "min_support": min_support, "weights": weights}
    got = (
        topk_similarity_between(A, B, k, metric, **opts),
        topk_similarity(B, k, metric, exclude_self=exclude_self, **opts),
    )
    with mock.patch.object(fs, "_uniform_norms", return_value=False):
        expected = (
            topk_similarity_between(A, B, k, metric, **opts),
            topk_similarity(B, k, metric, exclude_self=exclude_self, **opts),
        )
    for a, b in zip(got, expected, strict=True):
        for part in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(a, part), getattr(b, part)), part
    ref = reference_scores(A, B, metric, weights, shrink, min_support)
    assert_topk_matches(got[0], ref, k)
    ref = reference_scores(B, B, metric, weights, shrink, min_support, exclude_self)
    assert_topk_matches(got[1], ref, k)


def test_binary_rows_of_equal_length_take_the_count_path():
    import featcf.similarity as fs

    B = sp.csr_matrix(np.eye(3)[[0, 1, 2, 0]])
    assert fs._uniform_norms(B, np.full(4, 1.0), 1.0, 0)
    assert not fs._uniform_norms(B, np.array([1.0, 1.0, 2.0, 1.0]), 1.0, 0)
    assert not fs._uniform_norms(B, np.full(4, 1.0), 0.0, 0)
    assert not fs._uniform_norms(B, np.full(4, 1.0), 1.0, 2)


@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(0, 6),
    n_cols=st.integers(1, 8),
    k=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_drop_column_topk_removes_one_column_per_row_and_keeps_the_first_k(n_rows, n_cols, k, seed):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_rows, n_cols)) < 0.6, rng.random((n_rows, n_cols)) + 0.1, 0)
    sims = sp.csr_matrix(dense.astype(np.float32))
    rng.shuffle(sims.indices)  # stored order need not be by column: it is kept as stored
    drop = rng.integers(-1, n_cols, size=n_rows)
    out = drop_column_topk(sims, drop, k)
    assert out.shape == sims.shape and out.dtype == np.float32
    for r in range(n_rows):
        cols = sims.indices[sims.indptr[r] : sims.indptr[r + 1]]
        vals = sims.data[sims.indptr[r] : sims.indptr[r + 1]]
        keep = cols != drop[r]
        got = slice(out.indptr[r], out.indptr[r + 1])
        np.testing.assert_array_equal(out.indices[got], cols[keep][:k])
        np.testing.assert_array_equal(out.data[got], vals[keep][:k])


def test_drop_column_topk_needs_one_column_per_row():
    with pytest.raises(ValueError, match="drop_col"):
        drop_column_topk(sp.csr_matrix(np.eye(3, dtype=np.float32)), [0, 1], 2)
