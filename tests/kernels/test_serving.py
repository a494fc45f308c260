"""topn_scores / topn_scores_user / NeighbourScorer / topn_dense against dense references."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from simref import sparse_matrices

from featcf.similarity import NeighbourScorer, topn_dense, topn_scores, topn_scores_user


def ranked(scores, candidates, n):
    """Reference: the best n of ``candidates`` by (float32 score desc, index asc), padded."""
    order = sorted(candidates, key=lambda i: (-np.float32(scores[i]), i))[:n]
    idx = np.full(n, -1, np.int32)
    val = np.full(n, -np.inf, np.float32)
    idx[: len(order)] = order
    val[: len(order)] = [np.float32(scores[i]) for i in order]
    return idx, val


def serving_reference(N, H, n, exclude_seen, items, exclude):
    Nd, Hd = N.toarray(), H.toarray()
    S = Hd @ Nd
    reached = ((Hd != 0).astype(int) @ (Nd != 0).astype(int)) > 0
    allowed = np.ones(N.shape[0], bool) if items is None else np.isin(np.arange(N.shape[0]), items)
    out_i, out_s = [], []
    for u in range(H.shape[0]):
        ok = reached[u] & allowed
        if exclude_seen:
            ok &= Hd[u] == 0
        if exclude is not None:
            ok &= exclude.toarray()[u] == 0
        i, s = ranked(S[u], np.flatnonzero(ok), n)
        out_i.append(i)
        out_s.append(s)
    return np.array(out_i).reshape(-1, n), np.array(out_s).reshape(-1, n)


@st.composite
def serving_problems(draw):
    n_items = draw(st.integers(1, 8))
    N = draw(sparse_matrices(max_rows=n_items, n_cols=n_items, signed=draw(st.booleans())))
    N = sp.csr_matrix(sp.vstack([N, sp.csr_matrix((n_items - N.shape[0], n_items))]))
    H = draw(sparse_matrices(max_rows=6, n_cols=n_items))
    n = draw(st.integers(1, 10))
    items = draw(st.one_of(st.none(), st.lists(st.integers(0, n_items - 1), unique=True)))
    exclude = draw(st.one_of(st.none(), sparse_matrices(max_rows=H.shape[0], n_cols=n_items)))
    if exclude is not None:
        exclude = sp.csr_matrix(
            sp.vstack([exclude, sp.csr_matrix((H.shape[0] - exclude.shape[0], n_items))])
        )
    return N, H, n, draw(st.booleans()), items, exclude


@settings(max_examples=80, deadline=None)
@given(problem=serving_problems())
def test_topn_scores_matches_dense_reference(problem):
    N, H, n, exclude_seen, items, exclude = problem
    idx, val = topn_scores(N, H, n, exclude_seen=exclude_seen, items=items, exclude=exclude)
    ref_i, ref_s = serving_reference(N, H, n, exclude_seen, items, exclude)
    assert idx.dtype == np.int32 and val.dtype == np.float32
    assert idx.shape == (H.shape[0], n)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(val, ref_s)
    # the single-user kernel agrees row by row
    for u in range(H.shape[0]):
        row = H.getrow(u)
        ex = None if exclude is None else exclude.getrow(u).indices
        i1, s1 = topn_scores_user(
            N, row.indices, n, weights=row.data, exclude_seen=exclude_seen, items=items, exclude=ex
        )
        np.testing.assert_array_equal(i1, ref_i[u])
        np.testing.assert_array_equal(s1, ref_s[u])
        # the unchecked serving fast path gives the same answer on valid input
        i2, s2 = topn_scores_user(
            N,
            row.indices,
            n,
            weights=row.data,
            exclude_seen=exclude_seen,
            items=items,
            exclude=ex,
            check_input=False,
        )
        np.testing.assert_array_equal(i2, ref_i[u])
        np.testing.assert_array_equal(s2, ref_s[u])


def test_topn_scores_by_hand_padding_and_ties():
    # item 0's neighbours: 1 (0.5), 2 (0.5), 3 (0.25); item 1's: 0 (1.0)
    N = sp.csr_matrix(
        (np.array([0.5, 0.5, 0.25, 1.0]), np.array([1, 2, 3, 0]), np.array([0, 3, 4, 4, 4])),
        shape=(4, 4),
    )
    H = sp.csr_matrix(np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    idx, val = topn_scores(N, H, 5)
    assert idx[0].tolist() == [1, 2, 3, -1, -1]  # tie 1/2 by index, padding
    assert val[0].tolist()[:3] == [0.5, 0.5, 0.25] and np.all(np.isneginf(val[0, 3:]))
    assert idx[1].tolist() == [-1] * 5  # no history -> no candidates
    idx, _ = topn_scores(N, H, 5, items=[2, 3])
    assert idx[0].tolist() == [2, 3, -1, -1, -1]
    idx, _ = topn_scores(N, H, 5, exclude=[2])
    assert idx[0].tolist() == [1, 3, -1, -1, -1]
    idx, _ = topn_scores(N, H, 2, exclude_seen=False)
    assert idx[0].tolist() == [1, 2]


def test_topn_scores_threads_and_validation(rng):
    # large enough (> 50,000 stored entries) to really run on two threads
    N = sp.random(400, 400, density=0.1, format="csr", random_state=2, dtype=np.float64)
    H = sp.random(2000, 400, density=0.05, format="csr", random_state=3, dtype=np.float64)
    if numba.config.NUMBA_NUM_THREADS >= 2:
        a = topn_scores(N, H, 7, n_threads=1)
        b = topn_scores(N, H, 7, n_threads=2)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="n"):
        topn_scores(N, H, 0)
    with pytest.raises(ValueError, match="histories"):
        topn_scores(N, H[:, :10].tocsr(), 3)
    with pytest.raises(ValueError, match="neighbours"):
        topn_scores(N[:10].tocsr(), H, 3)
    with pytest.raises(ValueError, match="items"):
        topn_scores(N, H, 3, items=[600])
    with pytest.raises(ValueError, match="item_idx"):
        topn_scores_user(N, [-1], 3)
    with pytest.raises(ValueError, match="weights"):
        topn_scores_user(N, [1, 2], 3, weights=[1.0])


@settings(max_examples=60, deadline=None)
@given(
    scores=st.integers(1, 6).flatmap(
        lambda c: st.lists(
            st.lists(st.sampled_from((0.0, 1.0, 1.0, 2.5, -3.0, -np.inf)), min_size=c, max_size=c),
            min_size=0,
            max_size=6,
        ).map(lambda rows, c=c: np.array(rows, dtype=np.float64).reshape(-1, c))
    ),
    n=st.integers(1, 8),
    data=st.data(),
)
def test_topn_dense_matches_sort(scores, n, data):
    exclude = allowed = None
    if data.draw(st.booleans()):
        mask = data.draw(st.lists(st.booleans(), min_size=scores.size, max_size=scores.size))
        exclude = sp.csr_matrix(np.array(mask, dtype=float).reshape(scores.shape))
    if data.draw(st.booleans()):  # issue 16: an allowed column mask (business rules)
        n_cols = scores.shape[1]
        allowed = np.array(data.draw(st.lists(st.booleans(), min_size=n_cols, max_size=n_cols)))
    threads = data.draw(st.sampled_from([1, None]))
    idx, val = topn_dense(scores, n, exclude, allowed=allowed, n_threads=threads)
    assert idx.shape == (scores.shape[0], n)
    for r in range(scores.shape[0]):
        ok = np.isfinite(scores[r]) | (scores[r] > 0)
        if exclude is not None:
            ok &= exclude.toarray()[r] == 0
        if allowed is not None:
            ok &= allowed
        ref_i, ref_s = ranked(scores[r], np.flatnonzero(ok), n)
        np.testing.assert_array_equal(idx[r], ref_i)
        np.testing.assert_array_equal(val[r], ref_s)


def test_topn_dense_validation():
    with pytest.raises(ValueError, match="scores"):
        topn_dense(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ValueError, match="n"):
        topn_dense(np.ones((2, 2)), 0)
    with pytest.raises(ValueError, match="exclude"):
        topn_dense(np.ones((2, 2)), 1, sp.csr_matrix(np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"allowed must be a boolean mask.*\(2\)"):
        topn_dense(np.ones((2, 2)), 1, allowed=[True, False, True])
    with pytest.raises(ValueError, match="allowed must be a boolean mask"):
        topn_dense(np.ones((2, 2)), 1, allowed=[1, 0])


def test_topn_dense_allowed_nothing_or_everything():
    scores = np.array([[0.5, 2.0, 1.0], [3.0, 0.0, 1.0]])
    idx, val = topn_dense(scores, 2, allowed=np.zeros(3, dtype=bool))
    assert idx.tolist() == [[-1, -1], [-1, -1]] and np.isneginf(val).all()
    every = topn_dense(scores, 2, allowed=np.ones(3, dtype=bool))
    np.testing.assert_array_equal(every[0], topn_dense(scores, 2)[0])
    allowed = np.array([False, True, True])
    idx, val = topn_dense(scores, 3, sp.csr_matrix([[0, 1, 0], [0, 0, 0]]), allowed=allowed)
    assert idx.tolist() == [[2, -1, -1], [2, 1, -1]]
    assert val[:, 0].tolist() == [1.0, 1.0]


def test_topn_dense_threads(rng):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least two numba threads")
    scores = rng.integers(0, 5, size=(400, 300)).astype(np.float32)  # many ties
    exclude = sp.random(400, 300, density=0.1, format="csr", random_state=4)
    a = topn_dense(scores, 9, exclude, n_threads=1)
    b = topn_dense(scores, 9, exclude, n_threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # an allowed mask: the same lists, on one thread or two, as scoring the others -inf
    allowed = rng.random(300) < 0.3
    a = topn_dense(scores, 9, exclude, allowed=allowed, n_threads=1)
    b = topn_dense(scores, 9, exclude, allowed=allowed, n_threads=2)
    c = topn_dense(np.where(allowed, scores, -np.inf), 9, exclude, n_threads=2)
    for got in (b, c):
        np.testing.assert_array_equal(a[0], got[0])
        np.testing.assert_array_equal(a[1], got[1])


# --------------------------------------------------------------------------- NeighbourScorer
# issue 3: the prepared one-user serving path must equal the brute force and topn_scores_user


def _as_index_input(idx, kind):
    return {"list": [int(i) for i in idx], "int32": idx.astype(np.int32)}.get(
        kind, idx.astype(np.int64)
    )


def _as_weight_input(w, kind):
    return {"list": [float(x) for x in w], "float32": w.astype(np.float32)}.get(
        kind, w.astype(np.float64)
    )


@settings(max_examples=80, deadline=None)
@given(problem=serving_problems(), data=st.data())
def test_neighbour_scorer_matches_reference(problem, data):
    N, H, n, exclude_seen, items, exclude = problem
    scorer = NeighbourScorer(N)  # one scorer for every user: its scratch is reused
    index_kind = st.sampled_from(("list", "int32", "int64"))
    for u in range(H.shape[0]):
        row = H.getrow(u)
        unit = data.draw(st.booleans(), label="unit weights")
        w = np.ones(row.nnz) if unit else row.data
        ex = None if exclude is None else exclude.getrow(u).indices
        hist = sp.csr_matrix((w, row.indices, [0, row.nnz]), shape=(1, N.shape[0]))
        ex_row = (
            None
            if ex is None
            else sp.csr_matrix((np.ones(ex.size), ex, [0, ex.size]), shape=(1, N.shape[0]))
        )
        ref_i, ref_s = serving_reference(N, hist, n, exclude_seen, items, ex_row)
        weights = (
            None
            if unit
            else _as_weight_input(
                row.data, data.draw(st.sampled_from(("list", "float32", "float64")))
            )
        )
        idx, val = scorer.top_n(
            _as_index_input(row.indices, data.draw(index_kind)),
            n,
            weights=weights,
            exclude_seen=exclude_seen,
            items=items,
            exclude=None if ex is None else _as_index_input(ex, data.draw(index_kind)),
        )
        assert idx.dtype == np.int32 and val.dtype == np.float32
        assert idx.shape == val.shape == (n,)
        np.testing.assert_array_equal(idx, ref_i[0])
        np.testing.assert_array_equal(val, ref_s[0])
        one = topn_scores_user(
            N, row.indices, n, weights=weights, exclude_seen=exclude_seen, items=items, exclude=ex
        )
        np.testing.assert_array_equal(one[0], idx)
        np.testing.assert_array_equal(one[1], val)
        # a refused call in between leaves the scratch clean for the next user
        with pytest.raises(ValueError, match="item_idx"):
            scorer.top_n([N.shape[0]], n)


def test_neighbour_scorer_by_hand_padding_ties_and_empty_history():
    # item 0's neighbours: 1 (0.5), 2 (0.5), 3 (0.25); item 1's: 0 (1.0)
    N = sp.csr_matrix(
        (np.array([0.5, 0.5, 0.25, 1.0]), np.array([1, 2, 3, 0]), np.array([0, 3, 4, 4, 4])),
        shape=(4, 4),
    )
    scorer = NeighbourScorer(N)
    assert (scorer.n_items, scorer.nnz) == (4, 4)
    assert repr(scorer) == "NeighbourScorer(n_items=4, nnz=4)"
    idx, val = scorer.top_n([0], 5)
    assert idx.tolist() == [1, 2, 3, -1, -1]  # tie 1/2 by index, padding
    assert val.tolist()[:3] == [0.5, 0.5, 0.25] and np.all(np.isneginf(val[3:]))
    for empty in ([], np.empty(0, np.int32), np.empty(0, np.float64)):
        idx, val = scorer.top_n(empty, 3)  # no history -> no candidates
        assert idx.tolist() == [-1, -1, -1] and np.all(np.isneginf(val))
    assert scorer.top_n([], 2, weights=[])[0].tolist() == [-1, -1]
    assert scorer.top_n([0], 5, items=[2, 3])[0].tolist() == [2, 3, -1, -1, -1]
    assert scorer.top_n([0], 5, exclude=[2])[0].tolist() == [1, 3, -1, -1, -1]
    assert scorer.top_n([0], 2, exclude_seen=False)[0].tolist() == [1, 2]
    # item 0 is seen and a neighbour of item 1: returned only when seen items are allowed
    assert scorer.top_n([0, 1], 5)[0].tolist() == [2, 3, -1, -1, -1]
    idx, val = scorer.top_n([0, 1], 5, weights=[1.0, 2.0], exclude_seen=False)
    assert idx.tolist() == [0, 1, 2, 3, -1] and val.tolist()[:4] == [2.0, 0.5, 0.5, 0.25]
    # the default n is 10
    assert scorer.top_n([0])[0].shape == (10,)


def test_neighbour_scorer_validation_names_the_argument():
    N = sp.random(6, 6, density=0.5, format="csr", random_state=1, dtype=np.float64)
    with pytest.raises(TypeError, match="neighbours"):
        NeighbourScorer(N.toarray())
    with pytest.raises(TypeError, match="neighbours"):
        NeighbourScorer(N.tocoo())
    with pytest.raises(ValueError, match="neighbours"):
        NeighbourScorer(N[:4].tocsr())
    bad = N.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="neighbours"):
        NeighbourScorer(bad)
    scorer = NeighbourScorer(N)
    expected = scorer.top_n([0, 2], 4, weights=[1.0, 3.0])
    for call, exc, name in [
        (lambda: scorer.top_n([6], 3), ValueError, "item_idx"),
        (lambda: scorer.top_n([0, -1], 3), ValueError, "item_idx"),
        (lambda: scorer.top_n(np.array([[0, 1]]), 3), ValueError, "item_idx"),
        (lambda: scorer.top_n([0.5], 3), ValueError, "item_idx"),
        (lambda: scorer.top_n(np.array([7], np.int32), 3), ValueError, "item_idx"),
        (lambda: scorer.top_n([0, 1], 3, weights=[1.0]), ValueError, "weights"),
        (lambda: scorer.top_n([0], 3, weights=1.0), ValueError, "weights"),
        (lambda: scorer.top_n([0, 1], 3, weights=[1.0, np.nan]), ValueError, "weights"),
        (
            lambda: scorer.top_n([0], 3, weights=np.array([np.inf], np.float32)),
            ValueError,
            "weights",
        ),
        (lambda: scorer.top_n([0], 0), ValueError, "n"),
        (lambda: scorer.top_n([0], 2.5), TypeError, "n"),
        (lambda: scorer.top_n([0], True), TypeError, "n"),
        (lambda: scorer.top_n([0], 3, items=[6]), ValueError, "items"),
        (lambda: scorer.top_n([0], 3, exclude=[-2]), ValueError, "exclude"),
        (lambda: scorer.top_n([0], 3, exclude=[[1]]), ValueError, "exclude"),
    ]:
        with pytest.raises(exc, match=name):
            call()
    # refused calls leave the scorer as it was
    again = scorer.top_n([0, 2], 4, weights=[1.0, 3.0])
    np.testing.assert_array_equal(again[0], expected[0])
    np.testing.assert_array_equal(again[1], expected[1])
    # numpy integers are accepted for n
    assert scorer.top_n([0], np.int64(2))[0].shape == (2,)


def test_neighbour_scorer_owns_its_neighbours_and_pickles():
    N = sp.random(30, 30, density=0.3, format="csr", random_state=5, dtype=np.float32)
    scorer = NeighbourScorer(N)
    hist = np.array([1, 4, 7])
    before = scorer.top_n(hist, 6)
    N.data[:] = 0.0  # changing the matrix afterwards does not change the scorer
    N.indices[:] = 29
    after = scorer.top_n(hist, 6)
    np.testing.assert_array_equal(before[0], after[0])
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone.n_items == 30 and clone.nnz == scorer.nnz
    np.testing.assert_array_equal(clone.top_n(hist, 6)[0], before[0])
    np.testing.assert_array_equal(clone.top_n(hist, 6)[1], before[1])


def test_neighbour_scorer_shared_between_threads():
    N = sp.random(300, 300, density=0.1, format="csr", random_state=6, dtype=np.float32)
    H = sp.random(200, 300, density=0.05, format="csr", random_state=7, dtype=np.float32)
    scorer = NeighbourScorer(N)
    ref_i, ref_s = topn_scores(N, H, 8)

    def serve(u):
        row = H.getrow(u)
        return scorer.top_n(row.indices, 8, weights=row.data)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(serve, list(range(H.shape[0])) * 3))
    for k, (idx, val) in enumerate(results):
        u = k % H.shape[0]
        np.testing.assert_array_equal(idx, ref_i[u])
        np.testing.assert_array_equal(val, ref_s[u])
