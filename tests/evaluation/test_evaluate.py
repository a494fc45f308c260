"""evaluate() and score_split() on toy models whose scores are known, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from featcf import Dataset
from featcf.evaluation import EVALUATE_METRICS, Split, evaluate, score_split, split_random
from featcf.models.base import BaseRecommender, UnsupportedProtocolError

# --------------------------------------------------------------------------------------
# toy data: 4 users x 6 items; (user, item, weight) by position
#   u0 scores [6 5 4 3 2 1]  train {0}       test {1: 5.0, 3: 2.0}
#   u1 scores [1 2 3 4 5 6]  train {4, 5}    test {0: 4.0}
#   u2 scores [1 1 1 1 1 1]  train {2}       no test (not evaluated)
#   u3 scores [3 1 2 6 5 4]  train {}        test {2: 1.0}
# --------------------------------------------------------------------------------------

USERS = ["u10", "u20", "u30", "u40"]
ITEMS = ["sku-10", "sku-20", "sku-30", "sku-40", "sku-50", "sku-60"]
SCORES = np.array(
    [
        [6, 5, 4, 3, 2, 1],
        [1, 2, 3, 4, 5, 6],
        [1, 1, 1, 1, 1, 1],
        [3, 1, 2, 6, 5, 4],
    ],
    dtype=np.float32,
)
TRAIN = [(0, 0, 3.0), (1, 4, 5.0), (1, 5, 1.0), (2, 2, 4.0)]
TEST = [(0, 1, 5.0), (0, 3, 2.0), (1, 0, 4.0), (3, 2, 1.0)]
L3 = math.log2(3.0)


def matrix(entries: list[tuple[int, int, float]]) -> sp.csr_matrix:
    rows, cols, vals = zip(*entries, strict=True) if entries else ((), (), ())
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(USERS), len(ITEMS)), dtype=np.float32)


@pytest.fixture(scope="module")
def full() -> Dataset:
    # every user and item listed in the feature frames, in position order
    inter = pd.DataFrame(
        [(USERS[u], ITEMS[i], w) for u, i, w in TRAIN + TEST], columns=["user", "item", "w"]
    )
    items = pd.DataFrame(
        {"item": ITEMS, "category": ["car", "home", "car", "travel", "home", "car"]}
    )
    users = pd.DataFrame({"user": USERS, "region": ["north", "south", "north", "east"]})
    # put users/items in position order regardless of the order of first appearance
    inter = inter.sort_values(["item", "user"])
    ds = Dataset.from_frames(inter, items, users, user_col="user", item_col="item", weight_col="w")
    assert ds.user_ids.tolist() == USERS and ds.item_ids.tolist() == ITEMS
    return ds


def make_split(full: Dataset, **fields) -> Split:
    train = fields.pop("train", TRAIN)
    test = fields.pop("test", TEST)
    kind = fields.pop("kind", "random")
    revealed = fields.pop("revealed", None)
    return Split(
        train=full.with_interactions(matrix(train)),
        test=full.with_interactions(matrix(test)),
        kind=kind,
        revealed=None if revealed is None else full.with_interactions(matrix(revealed)),
        **fields,
    )


class Toy(BaseRecommender):
    """Scores from a fixed table; fold-in scores are ``history @ item_item``; records calls."""

    handles_new_users_with_history = True
    handles_new_users_with_features = True
    handles_new_items = True

    def __init__(self, table=None, item_item=None):
        self.table = table
        self.item_item = item_item

    def _fit(self, dataset):
        self.calls_ = []

    def _score(self, user_idx, item_idx):
        self.calls_.append(("score", user_idx.copy(), item_idx.copy()))
        return np.asarray(self.table)[np.ix_(user_idx, item_idx)]

    def _score_new(self, history, user_features, item_idx):
        self.calls_.append(("new", history.copy(), user_features, item_idx.copy()))
        return np.asarray(history @ np.asarray(self.item_item))[:, item_idx]


def value(table: pd.DataFrame, metric: str, k: int | None = 10) -> float:
    rows = table[table["metric"] == metric]
    if k is not None:
        rows = rows[rows["k"] == k]
    assert len(rows) == 1, rows
    return float(rows["value"].iloc[0])


def row(table: pd.DataFrame, metric: str, k: int | None = None) -> pd.Series:
    rows = table[table["metric"] == metric]
    if k is not None:
        rows = rows[rows["k"] == k]
    return rows.iloc[0]


# --------------------------------------------------------------------------------------
# known scores -> known metrics
# --------------------------------------------------------------------------------------


def test_metrics_by_hand(full):
    split = make_split(full)
    table = evaluate(Toy(SCORES), split, k=2)
    # top-2 after excluding train items: u0 [1, 2], u1 [3, 2], u3 [3, 4]
    assert value(table, "precision", 2) == pytest.approx((0.5 + 0 + 0) / 3)
    assert value(table, "recall", 2) == pytest.approx((0.5 + 0 + 0) / 3)
    assert value(table, "hit_rate", 2) == pytest.approx(1 / 3)
    assert value(table, "ndcg", 2) == pytest.approx((1 / (1 + 1 / L3)) / 3)
    assert value(table, "map", 2) == pytest.approx((1 / 2) / 3)
    # AUC: u0 positives {1: 5, 3: 3} vs negatives {2: 4, 4: 2, 5: 1} -> 5/6;
    # u1 positive {0: 1} vs {1: 2, 2: 3, 3: 4} -> 0; u3 positive {2: 2} vs 5 others -> 1/5
    assert value(table, "auc", None) == pytest.approx((5 / 6 + 0 + 1 / 5) / 3)
    assert (table["n_users"] == 3).all() and (table["n_excluded"] == 0).all()
    assert table["metric"].tolist() == ["precision", "recall", "ndcg", "map", "hit_rate", "auc"]
    assert list(table.columns) == [
        "metric",
        "k",
        "value",
        "n_users",
        "n_excluded",
        "fit_seconds",
        "score_seconds",
    ]
    assert np.isfinite(table["fit_seconds"]).all() and (table["score_seconds"] >= 0).all()
    assert table.attrs["model"] == "Toy" and table.attrs["n_candidates"] == len(ITEMS)


def test_train_items_are_never_recommended(full):
    # every user's train items get the top scores; they must not enter the lists
    table = SCORES.copy()
    for u, i, _ in TRAIN:
        table[u, i] = 100.0
    plain = evaluate(Toy(SCORES), make_split(full), k=2)
    boosted = evaluate(Toy(table), make_split(full), k=2)
    pd.testing.assert_series_equal(plain["value"], boosted["value"])


def test_positive_threshold(full):
    table = evaluate(Toy(SCORES), make_split(full), k=2, positive_threshold=4.0)
    # u0 relevant {1} only -> precision 1/2, recall 1, nDCG 1; u1 {0} -> 0; u3 excluded
    assert value(table, "precision", 2) == pytest.approx(0.25)
    assert value(table, "recall", 2) == pytest.approx(0.5)
    assert value(table, "ndcg", 2) == pytest.approx(0.5)
    assert (table["n_users"] == 2).all() and (table["n_excluded"] == 1).all()
    # AUC u0: positive {1: 5}; negatives 2, 3, 4, 5 (scores 4, 3, 2, 1) -> 1; u1 -> 0
    assert value(table, "auc", None) == pytest.approx(0.5)


def test_several_k_coverage_and_graded(full):
    table = evaluate(
        Toy(SCORES), make_split(full), k=[1, 3], metrics=["precision", "coverage", "ndcg_graded"]
    )
    assert table["metric"].tolist() == ["precision"] * 2 + ["coverage"] * 2 + ["ndcg_graded"] * 2
    # k=1: u0 -> 1 (hit), u1 -> 3, u3 -> 3 : precision 1/3; coverage 2 of 6 items
    assert value(table, "precision", 1) == pytest.approx(1 / 3)
    assert value(table, "coverage", 1) == pytest.approx(2 / 6)
    # graded nDCG@3, u0: list [1, 2, 3], gains 5 and 2 -> (5 + 2/2) / (5 + 2/log2 3)
    u0 = (5 + 2 / 2) / (5 + 2 / L3)
    # u1 list [3, 2, 1] misses 0; u3 list [3, 4, 5] misses 2
    assert value(table, "ndcg_graded", 3) == pytest.approx(u0 / 3)


def test_rating_errors(full):
    table = evaluate(Toy(SCORES), make_split(full), metrics=["rmse", "mae"])
    # pairs (truth, score): (5, 5), (2, 3), (4, 1), (1, 2)
    assert value(table, "rmse", None) == pytest.approx(math.sqrt((0 + 1 + 9 + 1) / 4))
    assert value(table, "mae", None) == pytest.approx((0 + 1 + 3 + 1) / 4)
    assert table["k"].isna().all()


def test_candidates_restrict_ranking_and_relevance(full):
    # only items 1, 2, 3: u0 ranks [1, 2, 3] (both 1 and 3 relevant), u1 has no test item
    # among them (not evaluated), u3 ranks [3, 2, 1]
    table = evaluate(Toy(SCORES), make_split(full), k=1, candidates=[3, 1, 2], metrics=["recall"])
    assert value(table, "recall", 1) == pytest.approx((0.5 + 0.0) / 2)
    assert row(table, "recall").n_users == 2
    assert table.attrs["n_candidates"] == 3


def test_batching_does_not_change_results(full):
    a = evaluate(Toy(SCORES), make_split(full), k=[1, 2])
    b = evaluate(Toy(SCORES), make_split(full), k=[1, 2], batch_size=1)
    pd.testing.assert_series_equal(a["value"], b["value"])


def test_ties_are_broken_at_random_not_by_position():
    # every user's only test item is item 0 and the scores are constant: breaking ties by
    # item position would put item 0 first for everyone
    n_users = 60  # over 12 items
    inter = pd.DataFrame(
        [(f"u{u}", f"sku-{10 * (i + 1)}") for u in range(n_users) for i in (0, 1 + u % 11)],
        columns=["user", "item"],
    )
    ds = Dataset.from_frames(inter, user_col="user", item_col="item")
    assert ds.item_ids[0] == "sku-10"
    X = ds.interactions.tocoo()
    is_test = X.col == 0
    split = Split(
        train=ds.with_interactions(
            sp.csr_matrix((X.data[~is_test], (X.row[~is_test], X.col[~is_test])), shape=X.shape)
        ),
        test=ds.with_interactions(
            sp.csr_matrix((X.data[is_test], (X.row[is_test], X.col[is_test])), shape=X.shape)
        ),
        kind="random",
    )

    def constant(user_idx, item_idx, history):
        return np.zeros((len(user_idx), len(item_idx)))

    first = evaluate(constant, split, k=1, metrics=["precision", "auc"])
    assert value(first, "precision", 1) < 0.5  # about 1/11 expected
    assert value(first, "auc", None) == pytest.approx(0.5)
    again = evaluate(constant, split, k=1, metrics=["precision"])
    assert value(again, "precision", 1) == value(first, "precision", 1)  # seeded


# --------------------------------------------------------------------------------------
# plain scoring functions
# --------------------------------------------------------------------------------------


def test_scoring_function_matches_model(full):
    seen = []

    def fn(user_idx, item_idx, history):
        seen.append((user_idx.dtype, item_idx.dtype, history))
        return SCORES[np.ix_(user_idx, item_idx)]

    by_model = evaluate(Toy(SCORES), make_split(full), k=2)
    by_fn = evaluate(fn, make_split(full), k=2)
    pd.testing.assert_series_equal(by_model["value"], by_fn["value"])
    assert all(u == np.int64 and i == np.int64 and h is None for u, i, h in seen)
    assert by_fn["fit_seconds"].isna().all()
    assert by_fn.attrs["model"] == "fn"


def test_scoring_object_with_fit_is_fitted_on_train(full):
    split = make_split(full)

    class Peer:
        def fit(self, dataset):
            self.dataset = dataset

        def __call__(self, user_idx, item_idx, history):
            return SCORES[np.ix_(user_idx, item_idx)]

    peer = Peer()
    table = evaluate(peer, split, k=2)
    assert peer.dataset is split.train
    assert np.isfinite(table["fit_seconds"]).all()


def test_scoring_function_output_is_checked(full):
    with pytest.raises(ValueError, match="shape"):
        evaluate(lambda u, i, h: np.zeros((len(u), 1)), make_split(full))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(lambda u, i, h: np.full((len(u), len(i)), np.nan), make_split(full))


def test_scoring_function_may_refuse(full):
    def fn(user_idx, item_idx, history):
        raise UnsupportedProtocolError("no demographics")

    with pytest.raises(UnsupportedProtocolError, match="demographics"):
        evaluate(fn, make_split(full))


# --------------------------------------------------------------------------------------
# cold users, given-k fold-in, cold items
# --------------------------------------------------------------------------------------


def given_k_split(full: Dataset) -> Split:
    # u3 is cold: nothing in train, item 0 revealed, item 2 in test
    return make_split(
        full,
        kind="cold_users",
        test=[(3, 2, 1.0)],
        revealed=[(3, 0, 2.0)],
        cold_users=np.array([3]),
        reveal=1,
    )


def test_given_k_folds_in_the_revealed_history(full):
    # fold-in scores = history @ item_item: item 0 itself scores highest, then item 2
    item_item = np.zeros((6, 6), dtype=np.float32)
    item_item[0] = [9, 1, 5, 2, 0, 0]
    model = Toy(SCORES, item_item)
    split = given_k_split(full)
    table = evaluate(model, split, k=1, metrics=["precision"])
    # the revealed item 0 is excluded, so item 2 is first
    assert value(table, "precision", 1) == 1.0 and row(table, "precision").n_users == 1
    (call,) = [c for c in model.calls_ if c[0] == "new"]
    _, history, features, _ = call
    assert (history != split.revealed.interactions[[3]]).nnz == 0
    assert (features != full.user_features.matrix[[3]]).nnz == 0
    assert not [c for c in model.calls_ if c[0] == "score"]


def test_given_k_without_features(full):
    item_item = np.eye(6, dtype=np.float32)
    model = Toy(SCORES, item_item)
    evaluate(model, given_k_split(full), metrics=["ndcg"], use_user_features=False)
    (call,) = [c for c in model.calls_ if c[0] == "new"]
    assert call[2] is None


def test_given_k_scoring_function_gets_history(full):
    got = []

    def fn(user_idx, item_idx, history):
        got.append((user_idx.tolist(), history))
        return np.zeros((len(user_idx), len(item_idx)))

    split = given_k_split(full)
    evaluate(fn, split, metrics=["ndcg"])
    ((users, history),) = got
    assert users == [3]
    assert sp.issparse(history) and history.shape == (1, len(ITEMS))
    assert history.toarray().tolist() == [[2.0, 0, 0, 0, 0, 0]]


def test_unsupported_protocols_raise(full):
    class NoCold(Toy):
        handles_new_users_with_history = False
        handles_new_users_with_features = False
        handles_new_items = False

    demographics = make_split(full, kind="cold_users", test=[(3, 2, 1.0)], cold_users=np.array([3]))
    cold_items = make_split(
        full,
        kind="cold_items",
        train=[e for e in TRAIN if e[1] not in (1, 3)],
        test=[e for e in TEST if e[1] in (1, 3)],
        cold_items=np.array([1, 3]),
    )
    for split, match in (
        (demographics, "features only"),
        (given_k_split(full), "fold-in"),
        (cold_items, "items without"),
    ):
        with pytest.raises(UnsupportedProtocolError, match=match):
            evaluate(NoCold(SCORES, np.eye(6)), split)
    # a capable model serves all three
    for split in (demographics, given_k_split(full), cold_items):
        evaluate(Toy(SCORES, np.eye(6, dtype=np.float32)), split)


def test_cold_items_rank_only_the_cold_items(full):
    split = make_split(
        full,
        kind="cold_items",
        train=[e for e in TRAIN if e[1] not in (1, 3)],
        test=[e for e in TEST if e[1] in (1, 3)],
        cold_items=np.array([1, 3]),
    )
    table = evaluate(Toy(SCORES), split, k=1, metrics=["precision", "auc"])
    # only u0 has test items among {1, 3}: both relevant -> precision@1 = 1, AUC undefined
    assert value(table, "precision", 1) == 1.0
    assert table.attrs["n_candidates"] == 2
    auc_row = row(table, "auc")
    assert np.isnan(auc_row.value) and auc_row.n_excluded == 1


def test_cold_items_leave_out_users_without_training(full):
    # u3 has no training interaction and a test interaction on cold item 1: not scored
    split = make_split(
        full,
        kind="cold_items",
        train=[e for e in TRAIN if e[1] not in (1, 3)],
        test=[e for e in TEST if e[1] in (1, 3)] + [(3, 1, 1.0)],
        cold_items=np.array([1, 3]),
    )
    model = Toy(SCORES)
    table = evaluate(model, split, k=1, metrics=["precision"])
    assert row(table, "precision").n_users == 1 and row(table, "precision").n_excluded == 1
    scored = np.concatenate([c[1] for c in model.calls_ if c[0] == "score"])
    assert scored.tolist() == [0]


class DeclaresFlags:
    handles_new_items = False

    def __call__(self, user_idx, item_idx, history):
        return np.zeros((len(user_idx), len(item_idx)))


def test_scoring_callable_may_declare_flags(full):
    split = make_split(
        full,
        kind="cold_items",
        train=[e for e in TRAIN if e[1] not in (1, 3)],
        test=[e for e in TEST if e[1] in (1, 3)],
        cold_items=np.array([1, 3]),
    )
    with pytest.raises(UnsupportedProtocolError, match="DeclaresFlags"):
        evaluate(DeclaresFlags(), split)
    evaluate(DeclaresFlags(), make_split(full))  # a warm split is fine


def test_score_split_routes_like_evaluate(full):
    item_item = np.eye(6, dtype=np.float32) * 7
    model = Toy(SCORES, item_item).fit(full.with_interactions(matrix(TRAIN)))
    split = given_k_split(full)
    scores = score_split(model, split, users=[0, 3], items=[2, 0])
    # u0 is scored from the table; u3 is folded in: history (item 0, weight 2) @ 7 I
    np.testing.assert_array_equal(scores, [[4, 6], [0, 14]])
    # by default: the test users (u3) over every item
    np.testing.assert_array_equal(score_split(model, split), [[14, 0, 0, 0, 0, 0]])


class Audiences(Toy):
    """A Toy whose scores across users are its scores across items negated."""

    def _score_across(self, user_idx, item_idx, across):
        sign = -1.0 if across == "users" else 1.0
        return sign * self._score(user_idx, item_idx)

    def _score_new_across(self, history, user_features, stated, item_idx, across):
        sign = -1.0 if across == "users" else 1.0
        return sign * self._score_new(history, user_features, item_idx)


def test_score_split_passes_across_to_both_paths(full):
    item_item = np.eye(6, dtype=np.float32) * 7
    model = Audiences(SCORES, item_item).fit(full.with_interactions(matrix(TRAIN)))
    split = given_k_split(full)
    items_way = score_split(model, split, users=[0, 3], items=[2, 0])
    users_way = score_split(model, split, users=[0, 3], items=[2, 0], across="users")
    np.testing.assert_array_equal(users_way, -items_way)  # fitted u0 and folded-in u3
    with pytest.raises(ValueError, match="across must be one of 'items', 'users'"):
        score_split(model, split, across="both")


# --------------------------------------------------------------------------------------
# fit=False and argument checks
# --------------------------------------------------------------------------------------


def test_fit_false_uses_the_fitted_model(full):
    split = make_split(full)
    model = Toy(SCORES).fit(split.train)
    table = evaluate(model, split, k=2, fit=False)
    assert table["fit_seconds"].isna().all()
    assert value(table, "precision", 2) == pytest.approx(1 / 6)


def test_fit_false_refuses_a_leaky_model(full):
    with pytest.raises(ValueError, match="test interaction"):
        evaluate(Toy(SCORES).fit(full), make_split(full), fit=False)


def test_fit_false_refuses_another_catalogue(full):
    other = split_random(
        full.with_new_items(pd.DataFrame({"item": ["sku-70"], "category": ["car"]}))
    )
    with pytest.raises(ValueError, match="fitted on"):
        evaluate(Toy(SCORES).fit(other.train), make_split(full), fit=False)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": []}, ValueError, "k"),
        ({"k": "10"}, TypeError, "k"),
        ({"k": [5, 5]}, ValueError, "repeats"),
        ({"metrics": ["bogus"]}, ValueError, "unknown metric"),
        ({"metrics": ["ndcg", "ndcg"]}, ValueError, "more than once"),
        ({"candidates": "bogus"}, ValueError, "candidates"),
        ({"candidates": "cold_items"}, ValueError, "cold-items split"),
        ({"candidates": [99]}, ValueError, "candidates"),
        ({"candidates": [0.5]}, TypeError, "candidates"),
        ({"positive_threshold": "4"}, TypeError, "positive_threshold"),
        ({"positive_threshold": float("nan")}, ValueError, "positive_threshold"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"fit": "yes"}, TypeError, "fit"),
    ],
)
def test_bad_arguments(full, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        evaluate(Toy(SCORES), make_split(full), **kwargs)


def test_bad_model_and_split(full):
    with pytest.raises(TypeError, match="model"):
        evaluate(42, make_split(full))
    with pytest.raises(TypeError, match="split"):
        evaluate(Toy(SCORES), full)


def test_metric_names_listed():
    assert {"auc", "rmse", "mae", "ndcg", "precision"} <= set(EVALUATE_METRICS)
