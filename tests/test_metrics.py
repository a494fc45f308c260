"""Tests for featcf.metrics: hand-computed examples, brute-force references, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from featcf.metrics import (
    RANKING_METRICS,
    auc,
    average_precision_at_k,
    check_train_test_overlap,
    coverage_at_k,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
    summarize,
)

TOL = 1e-9
L3 = math.log2(3.0)  # discount of rank 2; rank 1 -> log2(2) = 1, rank 3 -> log2(4) = 2

# --------------------------------------------------------------------------------------
# hand-computed fixture: 4 users x 6 items
#   u0 relevant {1: gain 3, 3: gain 1, 4: gain 2}   ranked [3, 0, 1]
#   u1 relevant {0: gain 1}                          ranked [2, 5, -1]
#   u2 no relevant items (excluded)                  ranked [0, 1, 2]
#   u3 relevant {2: gain 1, 5: gain 1}               ranked [5, 2, -1]
# --------------------------------------------------------------------------------------


@pytest.fixture
def relevant() -> sp.csr_matrix:
    dense = np.zeros((4, 6))
    dense[0, [1, 3, 4]] = [3.0, 1.0, 2.0]
    dense[1, 0] = 1.0
    dense[3, [2, 5]] = 1.0
    return sp.csr_matrix(dense)


@pytest.fixture
def ranked() -> np.ndarray:
    return np.array([[3, 0, 1], [2, 5, -1], [0, 1, 2], [5, 2, -1]])


def assert_close(actual: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(actual, np.array(expected, dtype=float), rtol=0, atol=TOL)


def test_precision_by_hand(ranked, relevant):
    # k=3: u0 hits items 3 and 1 -> 2/3; u1 none -> 0; u2 excluded; u3 hits 5 and 2 -> 2/3
    assert_close(precision_at_k(ranked, relevant, 3), [2 / 3, 0.0, np.nan, 2 / 3])
    # k=1: u0 item 3 relevant -> 1; u1 item 2 not -> 0; u3 item 5 relevant -> 1
    assert_close(precision_at_k(ranked, relevant, 1), [1.0, 0.0, np.nan, 1.0])
    # k=5 > k_max=3: the denominator is k: u0 2/5, u3 2/5
    assert_close(precision_at_k(ranked, relevant, 5), [0.4, 0.0, np.nan, 0.4])


def test_recall_by_hand(ranked, relevant):
    # k=3: u0 2 of 3 relevant; u1 0 of 1; u3 2 of 2
    assert_close(recall_at_k(ranked, relevant, 3), [2 / 3, 0.0, np.nan, 1.0])
    # k=1: u0 1 of 3; u3 1 of 2
    assert_close(recall_at_k(ranked, relevant, 1), [1 / 3, 0.0, np.nan, 0.5])


def test_hit_rate_by_hand(ranked, relevant):
    assert_close(hit_rate_at_k(ranked, relevant, 3), [1.0, 0.0, np.nan, 1.0])
    # k=1 for a list whose first item misses but second hits -> 0
    assert_close(hit_rate_at_k(np.array([[0, 1]]), relevant[:1], 1), [0.0])


def test_average_precision_by_hand(ranked, relevant):
    # u0 k=3: hits at ranks 1 (precision 1/1) and 3 (precision 2/3); min(k, |R|) = 3
    #   -> (1 + 2/3) / 3 = 5/9
    # u3 k=3: hits at ranks 1 (1/1) and 2 (2/2); min(3, 2) = 2 -> 2/2 = 1
    assert_close(average_precision_at_k(ranked, relevant, 3), [5 / 9, 0.0, np.nan, 1.0])
    # k=2: u0 hit at rank 1 only -> 1 / min(2, 3) = 1/2; u3 -> (1 + 1) / 2 = 1
    assert_close(average_precision_at_k(ranked, relevant, 2), [0.5, 0.0, np.nan, 1.0])


def test_ndcg_binary_by_hand(ranked, relevant):
    # u0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (3 relevant, k=3) = 1 + 1/log2(3) + 1/2
    # u3: DCG = 1 + 1/log2(3) = IDCG (2 relevant) -> 1
    expected_u0 = 1.5 / (1.5 + 1 / L3)
    assert_close(ndcg_at_k(ranked, relevant, 3), [expected_u0, 0.0, np.nan, 1.0])
    # k=2: u0 DCG = 1, IDCG = 1 + 1/log2(3)
    assert_close(ndcg_at_k(ranked, relevant, 2), [1 / (1 + 1 / L3), 0.0, np.nan, 1.0])


def test_ndcg_graded_by_hand(ranked, relevant):
    # u0 gains {1: 3, 3: 1, 4: 2}; ranked [3, 0, 1]
    #   DCG = 1/log2(2) + 3/log2(4) = 2.5; IDCG = 3/1 + 2/log2(3) + 1/2 = 3.5 + 2/log2(3)
    # u3 gains all 1 -> same as binary -> 1
    expected_u0 = 2.5 / (3.5 + 2 / L3)
    assert_close(ndcg_at_k(ranked, relevant, 3, graded=True), [expected_u0, 0.0, np.nan, 1.0])
    # k=1: DCG = 1 (item 3, gain 1); IDCG = 3 (best gain)
    assert_close(ndcg_at_k(ranked, relevant, 1, graded=True), [1 / 3, 0.0, np.nan, 1.0])


def test_ranking_metrics_summary_by_hand(ranked, relevant):
    table = ranking_metrics(ranked, relevant, 3, metrics=RANKING_METRICS)
    assert list(table.columns) == ["metric", "k", "value", "n_users", "n_excluded"]
    assert table["metric"].tolist() == list(RANKING_METRICS)
    values = dict(zip(table["metric"], table["value"], strict=True))
    # means over u0, u1, u3 of the per-user values above
    assert values["precision"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3, abs=TOL)
    assert values["recall"] == pytest.approx((2 / 3 + 0 + 1) / 3, abs=TOL)
    assert values["map"] == pytest.approx((5 / 9 + 0 + 1) / 3, abs=TOL)
    assert values["hit_rate"] == pytest.approx(2 / 3, abs=TOL)
    assert values["ndcg"] == pytest.approx((1.5 / (1.5 + 1 / L3) + 1) / 3, abs=TOL)
    assert values["ndcg_graded"] == pytest.approx((2.5 / (3.5 + 2 / L3) + 1) / 3, abs=TOL)
    # items shown in some top-3: {3, 0, 1} | {2, 5} | {0, 1, 2} | {5, 2} = 5 of 6
    assert values["coverage"] == pytest.approx(5 / 6, abs=TOL)
    ranking_rows = table[table["metric"] != "coverage"]
    assert (ranking_rows["n_users"] == 3).all() and (ranking_rows["n_excluded"] == 1).all()
    coverage_row = table[table["metric"] == "coverage"].iloc[0]
    assert (coverage_row["n_users"], coverage_row["n_excluded"]) == (4, 0)
    assert (table["k"] == 3).all()


def test_ranking_metrics_several_k(ranked, relevant):
    table = ranking_metrics(ranked, relevant, [1, 3], metrics=["precision", "recall"])
    assert list(zip(table["metric"], table["k"], strict=True)) == [
        ("precision", 1),
        ("precision", 3),
        ("recall", 1),
        ("recall", 3),
    ]
    # precision@1 = (1 + 0 + 1) / 3; recall@1 = (1/3 + 0 + 1/2) / 3
    assert_close(table["value"].to_numpy(), [2 / 3, 4 / 9, (1 / 3 + 0.5) / 3, 5 / 9])


def test_ranking_metrics_per_user(ranked, relevant):
    table = ranking_metrics(ranked, relevant, 3, metrics=("ndcg", "map"), per_user=True)
    assert list(table.columns) == ["user_idx", "n_relevant", "ndcg", "map"]
    assert table["user_idx"].tolist() == [0, 1, 2, 3]
    assert table["n_relevant"].tolist() == [3, 1, 0, 2]
    assert_close(table["ndcg"].to_numpy(), ndcg_at_k(ranked, relevant, 3).tolist())
    assert_close(table["map"].to_numpy(), [5 / 9, 0.0, np.nan, 1.0])


def test_default_metrics(ranked, relevant):
    table = ranking_metrics(ranked, relevant, 2)
    assert table["metric"].tolist() == ["precision", "recall", "ndcg", "map", "hit_rate"]


def test_nonpositive_entries_are_not_relevant(ranked, relevant):
    # explicit zeros and negative feedback stored in the test matrix are ignored
    noisy = relevant.tolil()
    noisy[1, 2] = -1.0  # u1's first recommendation: negative feedback, not a hit
    noisy[2, 0] = 1.0  # placeholder, zeroed below so that it stays stored
    noisy = noisy.tocsr()
    noisy.data[noisy.indptr[2] : noisy.indptr[3]] = 0.0  # explicit zero keeps u2 excluded
    assert noisy.nnz == relevant.nnz + 2
    for func in (precision_at_k, recall_at_k, hit_rate_at_k, average_precision_at_k, ndcg_at_k):
        np.testing.assert_array_equal(func(ranked, noisy, 3), func(ranked, relevant, 3))


def test_input_forms_are_equivalent(ranked, relevant):
    # unsorted COO, int32 ranked, nested lists, k beyond the width all give the same answer
    coo = relevant.tocoo()
    order = np.arange(coo.nnz)[::-1]
    shuffled = sp.coo_matrix(
        (coo.data[order], (coo.row[order], coo.col[order])), shape=relevant.shape
    )
    base = ndcg_at_k(ranked, relevant, 3, graded=True)
    np.testing.assert_array_equal(ndcg_at_k(ranked, shuffled, 3, graded=True), base)
    np.testing.assert_array_equal(ndcg_at_k(ranked.astype(np.int32), relevant, 3, True), base)
    np.testing.assert_array_equal(ndcg_at_k(ranked.tolist(), sp.csr_array(relevant), 3, True), base)
    padded = np.hstack([ranked, -np.ones((4, 2), dtype=int)])
    for func in (precision_at_k, recall_at_k, average_precision_at_k, ndcg_at_k):
        np.testing.assert_array_equal(func(padded, relevant, 5), func(ranked, relevant, 5))


def test_only_first_k_columns_are_read(relevant):
    # column 2 repeats an item and breaks the padding rule, but k=2 never looks at it
    ranked = np.array([[3, 0, 3], [2, -1, 4], [0, 1, 1], [5, 2, 2]])
    assert_close(precision_at_k(ranked, relevant, 2), [0.5, 0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="ranked"):
        precision_at_k(ranked, relevant, 3)


def test_empty_inputs():
    rel = sp.csr_matrix((0, 5))
    assert precision_at_k(np.zeros((0, 3), dtype=int), rel, 3).shape == (0,)
    table = ranking_metrics(np.zeros((0, 3), dtype=int), rel, 3)
    assert table["value"].isna().all() and (table["n_users"] == 0).all()
    # users without recommendations at all (zero columns) score 0, not NaN
    rel = sp.csr_matrix(np.array([[1.0, 0.0]]))
    assert_close(ndcg_at_k(np.zeros((1, 0), dtype=int), rel, 2), [0.0])


# --------------------------------------------------------------------------------------
# brute-force references (plain Python, one user at a time)
# --------------------------------------------------------------------------------------


def reference_user(row: list[int], gains: dict[int, float], k: int) -> dict[str, float]:
    relevant = {item: g for item, g in gains.items() if g > 0}
    if not relevant:
        return dict.fromkeys(
            ("precision", "recall", "hit_rate", "map", "ndcg", "ndcg_graded"), math.nan
        )
    top = [item for item in row[:k] if item >= 0]
    hits = [item in relevant for item in top]
    n_hits = sum(hits)
    ap = sum(sum(hits[: i + 1]) / (i + 1) for i, hit in enumerate(hits) if hit)
    dcg_bin = sum(1 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    dcg_gain = sum(relevant[top[i]] / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg_bin = sum(1 / math.log2(i + 2) for i in range(len(ideal)))
    idcg_gain = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return {
        "precision": n_hits / k,
        "recall": n_hits / len(relevant),
        "hit_rate": float(n_hits > 0),
        "map": ap / min(k, len(relevant)),
        "ndcg": dcg_bin / idcg_bin,
        "ndcg_graded": dcg_gain / idcg_gain,
    }


GAINS = st.sampled_from([-1.0, 0.0, 0.25, 1.0, 1.0, 2.0, 3.5])


@st.composite
def ranking_cases(draw):
    n_users = draw(st.integers(0, 6))
    n_items = draw(st.integers(1, 9))
    k_max = draw(st.integers(0, n_items + 1))
    rows, gains = [], []
    for _ in range(n_users):
        length = draw(st.integers(0, min(k_max, n_items)))
        items = draw(st.permutations(range(n_items)))[:length]
        rows.append(list(items) + [-1] * (k_max - length))
        chosen = draw(st.lists(st.integers(0, n_items - 1), unique=True, max_size=n_items))
        gains.append({item: draw(GAINS) for item in chosen})
    k = draw(st.integers(1, k_max + 2))
    return n_items, np.array(rows, dtype=np.int64).reshape(n_users, k_max), gains, k


def to_csr(gains: list[dict[int, float]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, g in enumerate(gains) for _ in g]
    cols = [i for g in gains for i in g]
    vals = [v for g in gains for v in g.values()]
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(gains), n_items))


FUNCS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "hit_rate": hit_rate_at_k,
    "map": average_precision_at_k,
    "ndcg": ndcg_at_k,
    "ndcg_graded": lambda r, rel, k: ndcg_at_k(r, rel, k, graded=True),
}


@settings(max_examples=200, deadline=None)
@given(ranking_cases())
def test_ranking_metrics_match_brute_force(case):
    n_items, ranked, gains, k = case
    relevant = to_csr(gains, n_items)
    expected = [reference_user(ranked[u].tolist(), gains[u], k) for u in range(len(gains))]
    for name, func in FUNCS.items():
        got = func(ranked, relevant, k)
        want = np.array([e[name] for e in expected], dtype=float)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=name)
        valid = ~np.isnan(got)
        assert ((got[valid] >= -TOL) & (got[valid] <= 1 + TOL)).all()

    # the table: per-user columns equal the functions, means over non-NaN users
    table = ranking_metrics(ranked, relevant, k, metrics=list(FUNCS), per_user=True)
    summary = ranking_metrics(ranked, relevant, k, metrics=list(FUNCS))
    n_excluded = sum(not any(v > 0 for v in g.values()) for g in gains)
    for name, func in FUNCS.items():
        per_user = func(ranked, relevant, k)
        np.testing.assert_array_equal(table[name].to_numpy(), per_user)
        row = summary[summary["metric"] == name].iloc[0]
        assert row["n_excluded"] == n_excluded
        assert row["n_users"] == len(gains) - n_excluded
        if row["n_users"]:
            assert row["value"] == pytest.approx(np.nanmean(per_user), abs=TOL)
        else:
            assert np.isnan(row["value"])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 6), st.data())
def test_ideal_ranking_has_ndcg_and_ap_one(n_items, k, data):
    gains = data.draw(st.dictionaries(st.integers(0, n_items - 1), st.floats(0.1, 5.0), min_size=1))
    # best-first by gain: graded nDCG = 1 whatever k; binary nDCG and AP also = 1
    order = sorted(gains, key=lambda i: -gains[i])
    ranked = np.array([order + [-1] * (n_items - len(order))])
    relevant = to_csr([gains], n_items)
    assert_close(ndcg_at_k(ranked, relevant, k, graded=True), [1.0])
    assert_close(ndcg_at_k(ranked, relevant, k), [1.0])
    assert_close(average_precision_at_k(ranked, relevant, k), [1.0])


# --------------------------------------------------------------------------------------
# AUC
# --------------------------------------------------------------------------------------


def reference_auc(scores_row, positives, excluded) -> float:
    candidates = [i for i in range(len(scores_row)) if i not in excluded]
    pos = [i for i in candidates if i in positives]
    neg = [i for i in candidates if i not in positives]
    if not pos or not neg:
        return math.nan
    total = 0.0
    for p in pos:
        for n in neg:
            if scores_row[p] > scores_row[n]:
                total += 1.0
            elif scores_row[p] == scores_row[n]:
                total += 0.5
    return total / (len(pos) * len(neg))


def test_auc_by_hand_with_ties(relevant):
    scores = np.zeros((4, 6))
    scores[0] = [0.1, 0.9, 0.5, 0.5, 0.3, 0.5]
    # u0 positives {1, 3, 4}, negatives {0, 2, 5}; pairs won (ties 1/2):
    #   item 1 (0.9): 3;  item 3 (0.5): 1 + 0.5 + 0.5 = 2;  item 4 (0.3): 1  -> 6 / 9
    # u1 scores all 0 -> every pair ties -> 0.5; u2 no positive -> NaN
    # u3 positives {2, 5} all score 0 like negatives -> 0.5
    assert_close(auc(scores, relevant), [2 / 3, 0.5, np.nan, 0.5])
    # excluding item 2 (a negative) for u0: negatives {0, 5}: 2 + 1.5 + 1 = 4.5 / 6
    exclude = sp.csr_matrix(([1.0], ([0], [2])), shape=(4, 6))
    assert_close(auc(scores, relevant, exclude)[:1], [0.75])
    # excluding item 1 (a positive) for u0: positives {3, 4}: (2 + 1) / 6
    exclude = sp.csr_matrix(([1.0], ([0], [1])), shape=(4, 6))
    assert_close(auc(scores, relevant, exclude)[:1], [0.5])
    # excluding every negative of u1 (items other than 0) leaves no negative -> NaN
    exclude = sp.csr_matrix((np.ones(5), ([1] * 5, [1, 2, 3, 4, 5])), shape=(4, 6))
    assert np.isnan(auc(scores, relevant, exclude)[1])


def test_auc_extremes(relevant):
    dense = (relevant.toarray() > 0).astype(float)
    assert_close(auc(dense, relevant), [1.0, 1.0, np.nan, 1.0])
    assert_close(auc(-dense, relevant), [0.0, 0.0, np.nan, 0.0])
    # infinite scores are legal (masked items) and tie with each other
    masked = np.where(dense > 0, 1.0, -np.inf)
    assert_close(auc(masked, relevant), [1.0, 1.0, np.nan, 1.0])
    assert_close(auc(np.full((4, 6), -np.inf), relevant), [0.5, 0.5, np.nan, 0.5])


SCORE_VALUES = st.sampled_from([-np.inf, -1.0, 0.0, 0.0, 0.5, 1.0, 2.0])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), st.integers(1, 9), st.data())
def test_auc_matches_brute_force(n_users, n_items, data):
    scores = np.array(
        data.draw(
            st.lists(
                st.lists(SCORE_VALUES, min_size=n_items, max_size=n_items),
                min_size=n_users,
                max_size=n_users,
            )
        ),
        dtype=float,
    ).reshape(n_users, n_items)
    subsets = st.lists(st.integers(0, n_items - 1), unique=True, max_size=n_items)
    gains = [{i: data.draw(GAINS) for i in data.draw(subsets)} for _ in range(n_users)]
    excluded = [set(data.draw(subsets)) for _ in range(n_users)]
    relevant = to_csr(gains, n_items)
    exclude = to_csr([dict.fromkeys(e, 1.0) for e in excluded], n_items)
    expected = [
        reference_auc(scores[u], {i for i, g in gains[u].items() if g > 0}, excluded[u])
        for u in range(n_users)
    ]
    np.testing.assert_allclose(auc(scores, relevant, exclude), expected, rtol=0, atol=TOL)
    # float32 scores (these values are exact in float32) give the same answer
    np.testing.assert_allclose(
        auc(scores.astype(np.float32), relevant, exclude), expected, rtol=0, atol=TOL
    )
    no_exclusion = [
        reference_auc(scores[u], {i for i, g in gains[u].items() if g > 0}, set())
        for u in range(n_users)
    ]
    np.testing.assert_allclose(auc(scores, relevant), no_exclusion, rtol=0, atol=TOL)


def test_auc_integer_scores_are_converted(relevant):
    scores = np.tile(np.arange(6), (4, 1))
    np.testing.assert_array_equal(auc(scores, relevant), auc(scores.astype(float), relevant))


# --------------------------------------------------------------------------------------
# coverage, RMSE / MAE, summarize, train-test overlap
# --------------------------------------------------------------------------------------


def test_coverage_by_hand(ranked):
    # k=3: shown {0, 1, 2, 3, 5} of 6 items
    assert coverage_at_k(ranked, 6, 3) == pytest.approx(5 / 6, abs=TOL)
    # k=1: shown {3, 2, 0, 5}
    assert coverage_at_k(ranked, 6, 1) == pytest.approx(4 / 6, abs=TOL)
    # restricted to candidates {0, 4} (repeats count once): only item 0 shown -> 1/2
    assert coverage_at_k(ranked, 6, 1, candidates=[4, 0, 4]) == pytest.approx(0.5, abs=TOL)
    assert coverage_at_k(ranked, 10, 3) == pytest.approx(0.5, abs=TOL)


@settings(max_examples=100, deadline=None)
@given(ranking_cases())
def test_coverage_matches_brute_force(case):
    n_items, ranked, _, k = case
    shown = {int(i) for row in ranked for i in row[:k] if i >= 0}
    assert coverage_at_k(ranked, n_items, k) == pytest.approx(len(shown) / n_items, abs=TOL)
    candidates = list(range(0, n_items, 2))
    expected = len(shown & set(candidates)) / len(candidates)
    assert coverage_at_k(ranked, n_items, k, candidates=candidates) == pytest.approx(
        expected, abs=TOL
    )


FINITE = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(FINITE, FINITE), min_size=1, max_size=30))
def test_rmse_mae_match_sklearn(pairs):
    y_true, y_pred = (np.array(v) for v in zip(*pairs, strict=True))
    assert rmse(y_true, y_pred) == pytest.approx(
        root_mean_squared_error(y_true, y_pred), rel=1e-12, abs=TOL
    )
    assert mae(y_true, y_pred) == pytest.approx(
        mean_absolute_error(y_true, y_pred), rel=1e-12, abs=TOL
    )


def test_rmse_mae_by_hand():
    # errors 1, -2, 0, 3: squares 1 + 4 + 0 + 9 = 14 -> sqrt(14 / 4); abs 6 / 4
    y_true, y_pred = [3, 1, 4, 5], [2, 3, 4, 2]
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(3.5), abs=TOL)
    assert mae(y_true, y_pred) == pytest.approx(1.5, abs=TOL)


def test_summarize():
    table = summarize({"auc": [0.5, np.nan, 1.0], "x": [np.nan, np.nan]})
    assert table["metric"].tolist() == ["auc", "x"]
    assert table["value"].iloc[0] == pytest.approx(0.75, abs=TOL)
    assert np.isnan(table["value"].iloc[1])
    assert table["n_users"].tolist() == [2, 0]
    assert table["n_excluded"].tolist() == [1, 2]
    assert table["k"].isna().all()
    assert summarize({"ndcg": np.array([1.0])}, k=10)["k"].tolist() == [10]


def test_check_train_test_overlap():
    train = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 1, 0]]))
    test = sp.csr_matrix(np.array([[3.0, 1, 0], [0, -1, 0]]))
    # shared pairs (0, 0) and (1, 1); negative feedback in test still counts
    assert check_train_test_overlap(train, test) == 2
    with pytest.raises(ValueError, match="share 2"):
        check_train_test_overlap(train, test, strict=True)
    explicit_zero = sp.csr_matrix(([0.0], ([0], [2])), shape=(2, 3))
    assert explicit_zero.nnz == 1
    assert check_train_test_overlap(train, explicit_zero, strict=True) == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.data())
def test_overlap_matches_set_intersection(n_users, n_items, data):
    pairs = st.sets(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)))
    a, b = data.draw(pairs), data.draw(pairs)

    def build(s):
        rows, cols = zip(*s, strict=True) if s else ((), ())
        return sp.csr_matrix((np.ones(len(s)), (rows, cols)), shape=(n_users, n_items))

    assert check_train_test_overlap(build(a), build(b)) == len(a & b)


# --------------------------------------------------------------------------------------
# validation: every error names the argument at fault
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_ranked", "error", "match"),
    [
        (np.array([[0.0, 1.0]] * 4), TypeError, "ranked must be an integer"),
        (np.array([[True, False]] * 4), TypeError, "ranked must be an integer"),
        (np.array([0, 1, 2, 3]), ValueError, "ranked must be 2-D"),
        (np.array([[0, 1]] * 3), ValueError, "ranked has 3 rows but relevant has 4"),
        (np.array([[0, 6]] * 4), ValueError, r"ranked must hold item indices in \[0, 6\)"),
        (np.array([[0, -2]] * 4), ValueError, "ranked must hold item indices"),
        (np.array([[-1, 1]] * 4), ValueError, "ranked may use -1 only as trailing padding"),
        (np.array([[1, 1]] * 4), ValueError, "ranked must not repeat an item"),
    ],
)
def test_bad_ranked(relevant, bad_ranked, error, match):
    for func in (precision_at_k, recall_at_k, hit_rate_at_k, average_precision_at_k, ndcg_at_k):
        with pytest.raises(error, match=match):
            func(bad_ranked, relevant, 2)
    with pytest.raises(error, match=match):
        ranking_metrics(bad_ranked, relevant, 2)


def test_bad_k_and_relevant(ranked, relevant):
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        precision_at_k(ranked, relevant, 0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        recall_at_k(ranked, relevant, 2.0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        ndcg_at_k(ranked, relevant, True)
    with pytest.raises(TypeError, match="relevant must be a scipy.sparse"):
        precision_at_k(ranked, relevant.toarray(), 2)
    nan_rel = relevant.copy()
    nan_rel.data[0] = np.nan
    with pytest.raises(ValueError, match="relevant must be finite"):
        average_precision_at_k(ranked, nan_rel, 2)
    with pytest.raises(TypeError, match="graded must be a bool"):
        ndcg_at_k(ranked, relevant, 2, graded=1)


def test_ranking_metrics_errors(ranked, relevant):
    with pytest.raises(ValueError, match="unknown metric 'NDCG'.*'precision', 'recall'"):
        ranking_metrics(ranked, relevant, 2, metrics=["NDCG"])
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        ranking_metrics(ranked, relevant, 2, metrics="auc")
    with pytest.raises(ValueError, match="more than once"):
        ranking_metrics(ranked, relevant, 2, metrics=["map", "map"])
    with pytest.raises(ValueError, match="at least one"):
        ranking_metrics(ranked, relevant, 2, metrics=[])
    with pytest.raises(ValueError, match="per_user=True needs a single k"):
        ranking_metrics(ranked, relevant, [1, 2], per_user=True)
    with pytest.raises(ValueError, match="coverage has no per-user value"):
        ranking_metrics(ranked, relevant, 2, metrics=["coverage"], per_user=True)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        ranking_metrics(ranked, relevant, [2, 0])
    with pytest.raises(ValueError, match="k repeats"):
        ranking_metrics(ranked, relevant, [2, 2])
    with pytest.raises(ValueError, match="k must not be an empty"):
        ranking_metrics(ranked, relevant, [])
    with pytest.raises(TypeError, match="per_user must be a bool"):
        ranking_metrics(ranked, relevant, 2, per_user="yes")
    # a single name as a str works
    assert ranking_metrics(ranked, relevant, 2, metrics="map")["metric"].tolist() == ["map"]


def test_auc_errors(relevant):
    scores = np.zeros((4, 6))
    with pytest.raises(TypeError, match="scores must be a dense array"):
        auc(sp.csr_matrix(scores), relevant)
    with pytest.raises(TypeError, match="scores must be a numeric array"):
        auc(scores.astype(str), relevant)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        auc(scores[0], relevant)
    with pytest.raises(ValueError, match=r"scores has shape \(4, 5\) but relevant"):
        auc(scores[:, :5], relevant)
    nan_scores = scores.copy()
    nan_scores[1, 2] = np.nan
    with pytest.raises(ValueError, match="scores must not hold NaN; it holds 1"):
        auc(nan_scores, relevant)
    with pytest.raises(ValueError, match=r"exclude has shape \(4, 5\)"):
        auc(scores, relevant, sp.csr_matrix((4, 5)))
    with pytest.raises(TypeError, match="exclude must be a scipy.sparse"):
        auc(scores, relevant, np.zeros((4, 6)))
    with pytest.raises(TypeError, match="relevant must be a scipy.sparse"):
        auc(scores, relevant.toarray())


def test_coverage_errors(ranked):
    with pytest.raises(ValueError, match="n_items must be a positive integer"):
        coverage_at_k(ranked, 0, 2)
    with pytest.raises(ValueError, match=r"ranked must hold item indices in \[0, 5\)"):
        coverage_at_k(ranked, 5, 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        coverage_at_k(ranked, 6, -1)
    with pytest.raises(ValueError, match="candidates must be a non-empty 1-D"):
        coverage_at_k(ranked, 6, 2, candidates=[])
    with pytest.raises(ValueError, match=r"candidates must lie in \[0, 6\)"):
        coverage_at_k(ranked, 6, 2, candidates=[0, 6])
    with pytest.raises(TypeError, match="candidates must be integer"):
        coverage_at_k(ranked, 6, 2, candidates=[0.5])


def test_rmse_mae_errors():
    for func in (rmse, mae):
        with pytest.raises(ValueError, match="same length, got 2 and 3"):
            func([1, 2], [1, 2, 3])
        with pytest.raises(ValueError, match="y_true must not be empty"):
            func([], [])
        with pytest.raises(ValueError, match="y_pred must be finite"):
            func([1.0, 2.0], [1.0, np.nan])
        with pytest.raises(ValueError, match="y_true must be 1-D"):
            func([[1.0]], [[1.0]])
        with pytest.raises(TypeError, match="y_pred must be numeric"):
            func([1.0], ["a"])
        with pytest.raises(TypeError, match="y_true must be a dense"):
            func(sp.csr_matrix([[1.0]]), [1.0])


def test_summarize_and_overlap_errors():
    with pytest.raises(TypeError, match="per_user must be a mapping"):
        summarize([0.5, 1.0])
    with pytest.raises(ValueError, match=r"per_user\['p'\] must be 1-D"):
        summarize({"p": [[0.5]]})
    with pytest.raises(ValueError, match=r"per_user\['p'\] must not hold infinity"):
        summarize({"p": [np.inf]})
    with pytest.raises(ValueError, match="k must be a positive integer"):
        summarize({"p": [1.0]}, k=0)
    with pytest.raises(ValueError, match=r"train has shape \(2, 3\) but test has shape \(2, 4\)"):
        check_train_test_overlap(sp.csr_matrix((2, 3)), sp.csr_matrix((2, 4)))
    with pytest.raises(TypeError, match="test must be a scipy.sparse"):
        check_train_test_overlap(sp.csr_matrix((2, 3)), np.zeros((2, 3)))


def test_result_dtypes(ranked, relevant):
    table = ranking_metrics(ranked, relevant, 3)
    assert pd.api.types.is_string_dtype(table["metric"])
    assert table["value"].dtype == np.float64
    assert table["n_users"].dtype == np.int64 and table["n_excluded"].dtype == np.int64
    assert precision_at_k(ranked, relevant, 3).dtype == np.float64
    assert auc(np.zeros((4, 6), dtype=np.float32), relevant).dtype == np.float64


# --------------------------------------------------------------------------------------
# parallel and serial kernels agree (large inputs take the parallel path)
# --------------------------------------------------------------------------------------


def test_parallel_path_matches_serial_and_brute_force():
    from featcf import metrics as m
    from featcf._kernels import ranking as kernels

    rng = np.random.default_rng(0)
    n_users, n_items, k = 2500, 400, 100
    assert n_users * k >= m._PARALLEL_MIN_WORK and n_users * n_items >= m._PARALLEL_MIN_WORK
    ranked = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    ranked[rng.random(n_users) < 0.2, k // 2 :] = -1  # some short lists
    relevant = sp.random(n_users, n_items, density=0.05, format="csr", random_state=1)
    relevant.data = np.round(relevant.data * 4, 1)  # graded gains, some 0 -> not relevant
    rel = m._check_relevant(relevant)
    args = (ranked.astype(np.int64), k, rel.indptr, rel.indices, rel.data, True)
    np.testing.assert_array_equal(
        kernels.ranking_stats_csr(*args), kernels.ranking_stats_csr_serial(*args)
    )
    got = ndcg_at_k(ranked, relevant, k, graded=True)
    gains = [dict(zip(row.indices, row.data, strict=True)) for row in relevant]
    users = rng.choice(n_users, 200, replace=False)
    expected = [reference_user(ranked[u].tolist(), gains[u], k)["ndcg_graded"] for u in users]
    np.testing.assert_allclose(got[users], expected, rtol=0, atol=TOL)

    scores = np.round(rng.random((n_users, n_items)), 2)  # many ties
    exclude = sp.random(n_users, n_items, density=0.1, format="csr", random_state=2)
    ex = m._check_pattern(exclude, "exclude")
    auc_args = (scores, rel.indptr, rel.indices, ex.indptr, ex.indices)
    np.testing.assert_array_equal(kernels.auc_dense(*auc_args), kernels.auc_dense_serial(*auc_args))
    got = auc(scores, relevant, exclude)
    for u in users[:20]:
        expected = reference_auc(scores[u], set(rel[u].indices), set(ex[u].indices))
        assert got[u] == pytest.approx(expected, abs=TOL, nan_ok=True)
