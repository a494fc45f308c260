"""The blocked search of featcf.distributed, run in-process: query blocks x candidate chunks
with whole-matrix statistics, merged, equal ``featcf.similarity.topk_similarity`` exactly
(indices, float32 scores, tie order) for every metric; and the statistics themselves against
the brute-force reference. No Dask needed: these call the task functions directly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featcf.distributed._similarity import _block_topk, _bounds, _merge_topk
from featcf.similarity import (
    SPARSE_METRICS,
    reference_statistics,
    topk_similarity,
    topk_similarity_between,
)
from kernels.simref import assert_topk_matches, column_weights, reference_scores, sparse_matrices


def blocked_topk(X, k, metric, block_rows, chunk_rows, exclude_self=True, **options):
    """What the cluster computes, task by task, in this process."""
    X = sp.csr_matrix(X, dtype=np.float32)
    n = X.shape[0]
    stats = reference_statistics(X, metric, weights=options.get("weights"))
    opts = {"metric": metric, "shrink": 0.0, "min_support": 1, "weights": None, **options}
    chunks = _bounds(n, chunk_rows)
    results = []
    for b_start, b_stop in _bounds(n, block_rows):
        parts = [
            _block_topk(X[b_start:b_stop], X[c0:c1], b_start, c0, k, opts, stats, exclude_self)
            for c0, c1 in chunks
        ]
        results.append(_merge_topk(parts, k))
    if not results:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    rows, cols, scores = (np.concatenate([r[i] for r in results]) for i in range(3))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    return sp.csr_matrix((scores, cols, indptr), shape=(n, n), dtype=np.float32)


def assert_identical(got, expected):
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)  # bit for bit (float32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=sparse_matrices(max_rows=14, max_cols=7),
    metric=st.sampled_from(SPARSE_METRICS),
    k=st.integers(1, 6),
    block_rows=st.integers(1, 5),
    chunk_rows=st.integers(1, 6),
    exclude_self=st.booleans(),
    shrink=st.sampled_from([0.0, 2.0]),
    min_support=st.integers(1, 2),
    data=st.data(),
)
def test_blocked_search_equals_one_call(
    X, metric, k, block_rows, chunk_rows, exclude_self, shrink, min_support, data
):
    weights = data.draw(column_weights(X.shape[1]))
    options = {"shrink": shrink, "min_support": min_support, "weights": weights}
    expected = topk_similarity(X, k, metric, exclude_self=exclude_self, **options)
    got = blocked_topk(X, k, metric, block_rows, chunk_rows, exclude_self=exclude_self, **options)
    assert_identical(got, expected)


@pytest.mark.parametrize("metric", SPARSE_METRICS)
def test_ties_keep_the_lower_index_across_chunks(metric):
    """Duplicate rows in different chunks score the same: the lower index wins, as locally."""
    base = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 2]], dtype=float)
    X = sp.csr_matrix(np.vstack([base, base, base, base[::-1], base]))  # 15 rows, many ties
    for k in (1, 2, 4, 20):
        expected = topk_similarity(X, k, metric)
        for block_rows, chunk_rows in [(1, 1), (2, 3), (4, 7), (15, 15)]:
            assert_identical(blocked_topk(X, k, metric, block_rows, chunk_rows), expected)


def test_binary_matrix_takes_the_count_path_in_every_chunk():
    """All stored values equal: the whole matrix runs the integer-count kernels, and so do the
    chunks (the statistics say so even for a chunk whose values would not show it)."""
    rng = np.random.default_rng(0)
    X = sp.random(200, 30, density=0.15, format="csr", random_state=rng)
    X.data[:] = 3.0
    assert reference_statistics(X, "cosine").count_path
    for metric in ("cosine", "dot", "jaccard"):
        assert_identical(blocked_topk(X, 7, metric, 33, 64), topk_similarity(X, 7, metric))
    X.data[0] = 2.0  # one different value: the generic kernels, in every chunk too
    assert not reference_statistics(X, "cosine").count_path
    assert reference_statistics(X, "jaccard").count_path  # jaccard counts patterns
    assert_identical(blocked_topk(X, 7, "cosine", 33, 64), topk_similarity(X, 7, "cosine"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=sparse_matrices(max_rows=10, max_cols=6),
    metric=st.sampled_from(SPARSE_METRICS),
    cut=st.integers(0, 10),
    data=st.data(),
)
def test_statistics_make_a_row_slice_score_as_the_whole(X, metric, cut, data):
    """Against the brute-force reference: a slice of reference rows with the whole matrix's
    statistics scores every pair as the whole matrix does (BM25/TF-IDF idf from all rows)."""
    weights = data.draw(column_weights(X.shape[1]))
    cut = min(cut, X.shape[0])
    stats = reference_statistics(X, metric, weights=weights)
    got = topk_similarity_between(
        X, X[cut:], k=20, metric=metric, weights=weights, statistics=stats
    )
    ref = reference_scores(X, X, metric, weights=weights)[:, cut:]
    assert_topk_matches(got, ref, 20)


def test_statistics_of_another_metric_or_width_are_refused():
    X = sp.random(10, 5, density=0.5, format="csr", random_state=0)
    stats = reference_statistics(X, "bm25")
    with pytest.raises(ValueError, match="statistics were computed for metric='bm25'"):
        topk_similarity_between(X, X, 3, "cosine", statistics=stats)
    with pytest.raises(ValueError, match="on 5 columns"):
        topk_similarity_between(X[:, :4], X[:, :4], 3, "bm25", statistics=stats)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 50), max_size=40), n_parts=st.integers(1, 8))
def test_balanced_chunks_cover_the_rows_in_order(lengths, n_parts):
    from featcf.distributed._similarity import _balanced_bounds

    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    bounds = _balanced_bounds(indptr, n_parts)
    n = len(lengths)
    if n == 0:
        assert bounds == []
        return
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b for a, b in bounds)
    assert all(b == c for (_, b), (c, _) in zip(bounds[:-1], bounds[1:], strict=True))
    assert len(bounds) <= n_parts


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    X=sparse_matrices(max_rows=12, max_cols=6),
    bounds=st.tuples(st.integers(0, 12), st.integers(0, 12)),
    wide=st.booleans(),
)
def test_stored_rows_read_back_as_the_slice(tmp_path, X, bounds, wide):
    """A task's rows read from the scratch files equal the slice of the matrix (int32 or
    int64 index arrays, empty rows and empty ranges included)."""
    from featcf.distributed._similarity import _read_rows, _write

    X = sp.csr_matrix(X, dtype=np.float32)
    if wide:
        X.indptr, X.indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
    start, stop = sorted(min(b, X.shape[0]) for b in bounds)
    directory = tmp_path / f"m{np.random.default_rng().integers(1 << 40)}"
    directory.mkdir()
    got = _read_rows(_write(X, directory), start, stop)
    expected = X[start:stop]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)
