"""ItemKNN and UserKNN against dense NumPy references on a tiny rating matrix.

The references recompute every similarity by brute force on dense float64 arrays; a model's
neighbour lists must hold exactly those values, be a valid top-k of each row, and its scores
must equal ``history @ S`` (ItemKNN) / ``S @ interactions`` (UserKNN).
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from featcf import ColdStartWarning, Dataset
from featcf.models import BaseRecommender, ItemKNN, Popularity, UnsupportedProtocolError, UserKNN
from featcf.models._rules import RuleSet

# 5 users with ratings, u6 with demographics only; string ids that can never be positions.
RATINGS = [
    ("u1", "sku-10", 5), ("u1", "sku-20", 3), ("u1", "sku-30", 4),
    ("u2", "sku-10", 4), ("u2", "sku-30", 5), ("u2", "sku-40", 2),
    ("u3", "sku-20", 2), ("u3", "sku-40", 5), ("u3", "sku-50", 4),
    ("u4", "sku-10", 3), ("u4", "sku-50", 5), ("u4", "sku-60", 1),
    ("u5", "sku-30", 4), ("u5", "sku-60", 5), ("u5", "sku-20", 1), ("u5", "sku-40", 3),
]  # fmt: skip
METRICS = ("cosine", "adjusted_cosine", "pearson", "jaccard")


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    inter = pd.DataFrame(RATINGS, columns=["user", "item", "rating"])
    users = pd.DataFrame({"user": ["u1", "u2", "u3", "u4", "u5", "u6"], "segment": list("aabbab")})
    return Dataset.from_frames(inter, user_features=users, user_col="user", item_col="item",
                               weight_col="rating")  # fmt: skip


# ----------------------------------------------------------------------------- references


def ref_similarity(
    R: np.ndarray, metric: str, shrink: float = 0.0, min_support: int = 1, pattern=None
):
    """Dense similarity between the rows of ``R``, self pairs left at 0.

    Common columns are those both rows store in ``pattern`` (default: the nonzeros of ``R``;
    the original ratings for the centred ``R`` of adjusted cosine).
    """
    R = np.asarray(R, dtype=np.float64)
    P = R != 0 if pattern is None else np.asarray(pattern) != 0
    n = R.shape[0]
    S = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            x, y = R[a], R[b]
            common = P[a] & P[b]
            n_common = int(common.sum())
            if n_common < min_support or n_common == 0:
                continue
            if metric in ("cosine", "adjusted_cosine"):
                den = np.linalg.norm(x) * np.linalg.norm(y)
                s = x @ y / den if den > 0 else 0.0
            elif metric == "jaccard":
                s = n_common / (P[a] | P[b]).sum()
            else:  # co-rated pearson
                xc = x[common] - x[common].mean()
                yc = y[common] - y[common].mean()
                den = np.sqrt((xc**2).sum() * (yc**2).sum())
                s = xc @ yc / den if den > 1e-12 else 0.0
            S[a, b] = s * n_common / (n_common + shrink)
    return S


def user_centred(R: np.ndarray) -> np.ndarray:
    out = np.zeros_like(R, dtype=np.float64)
    for u in range(R.shape[0]):
        stored = R[u] != 0
        if stored.any():
            out[u, stored] = R[u, stored] - R[u, stored].mean()
    return out


def check_neighbour_lists(S: sp.csr_matrix, ref: np.ndarray, k: int) -> None:
    """Stored values equal the reference and each row is a top-k of the nonzero scores."""
    S = S.tocsr()
    assert S.shape == ref.shape
    for row in range(ref.shape[0]):
        cols = S.indices[S.indptr[row] : S.indptr[row + 1]]
        vals = S.data[S.indptr[row] : S.indptr[row + 1]]
        np.testing.assert_allclose(vals, ref[row, cols], rtol=1e-5, atol=1e-6)
        nonzero = np.flatnonzero(np.abs(ref[row]) > 1e-7)
        assert len(cols) == min(k, len(nonzero))
        rest = np.setdiff1d(nonzero, cols)
        if len(cols) and len(rest):
            assert ref[row, rest].max() <= vals.min() + 1e-6


def dense(ds: Dataset) -> np.ndarray:
    return ds.interactions.toarray().astype(np.float64)


# ----------------------------------------------------------------------------- ItemKNN


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n_neighbors", [1, 2, 10])
@pytest.mark.parametrize("shrink", [0.0, 2.0])
def test_itemknn_matches_dense_reference(tiny, metric, n_neighbors, shrink):
    R = dense(tiny)
    model = ItemKNN(n_neighbors=n_neighbors, metric=metric, shrink=shrink).fit(tiny)
    source = user_centred(R) if metric == "adjusted_cosine" else R
    # ItemKNN's adjusted cosine counts common users on the centred values (documented)
    ref = ref_similarity(source.T, metric, shrink)
    check_neighbour_lists(model.similarity_, ref, n_neighbors)
    warm = np.arange(5)
    expected = R[warm] @ model.similarity_.toarray()
    np.testing.assert_allclose(model.score_users(warm), expected, rtol=1e-5, atol=1e-5)
    # without truncation the scores are history @ (full similarity)
    if n_neighbors == 10:
        np.testing.assert_allclose(model.score_users(warm), R[warm] @ ref, rtol=1e-5, atol=1e-5)


def test_itemknn_min_support(tiny):
    R = dense(tiny)
    model = ItemKNN(n_neighbors=10, min_support=2).fit(tiny)
    check_neighbour_lists(model.similarity_, ref_similarity(R.T, "cosine", min_support=2), 10)


@pytest.mark.parametrize("n_neighbors", [1, 2, 10])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_itemknn_fast_recommend_equals_general_path(tiny, n_neighbors, exclude_seen):
    # n_neighbors=1 leaves most users with fewer reachable items than n: those rows are filled
    # by the general path, so both paths must give identical lists.
    model = ItemKNN(n_neighbors=n_neighbors).fit(tiny)
    users = ["u1", "u2", "u3", "u4", "u5"]
    positions, everything = tiny.user_index(users), RuleSet(np.arange(tiny.n_items))
    fast_idx, fast_score = model._recommend_known(positions, 4, everything, exclude_seen)
    general = BaseRecommender._recommend_known(model, positions, 4, everything, exclude_seen)
    np.testing.assert_array_equal(fast_idx, general[0])
    np.testing.assert_allclose(fast_score, general[1], rtol=1e-5, atol=1e-6)
    fast = model.recommend(users, n=4, exclude_seen=exclude_seen)
    # and the lists are the best unseen items of the reference scores
    R = dense(tiny)
    scores = R @ model.similarity_.toarray()
    for u, user in enumerate(users):
        got = fast.loc[fast["user_id"] == user, "score"].to_numpy()
        pool = scores[u][R[u] == 0] if exclude_seen else scores[u]
        np.testing.assert_allclose(got, np.sort(pool)[::-1][: len(got)], rtol=1e-5, atol=1e-6)


def test_itemknn_new_users_fold_in(tiny):
    model = ItemKNN(n_neighbors=2).fit(tiny)
    history = pd.DataFrame({"user": ["g1", "g1", "g2"], "item": ["sku-20", "sku-50", "sku-60"],
                            "rating": [4.0, 2.0, 5.0]})  # fmt: skip
    recs = model.recommend_new_users(history, n=6)
    H = np.zeros((2, tiny.n_items))
    H[0, tiny.item_index(["sku-20", "sku-50"])] = [4.0, 2.0]
    H[1, tiny.item_index("sku-60")] = 5.0
    expected = H @ model.similarity_.toarray()
    np.testing.assert_allclose(model.score_new_users(sp.csr_matrix(H)), expected, rtol=1e-5)
    g1 = recs[recs["user_id"] == "g1"]
    assert not {"sku-20", "sku-50"} & set(g1["item_id"])
    scores = dict(zip(tiny.item_ids, expected[0], strict=True))
    np.testing.assert_allclose(g1["score"], [scores[i] for i in g1["item_id"]], rtol=1e-5)


def test_itemknn_explain_lists_history_items(tiny):
    model = ItemKNN(n_neighbors=3).fit(tiny)
    R = dense(tiny)
    S = model.similarity_.toarray()
    for user in ("u1", "u3"):
        u = tiny.user_index(user)
        for item in ("sku-40", "sku-60", "sku-10"):
            i = tiny.item_index(item)
            parts = model.explain(user, item)
            assert list(parts.columns) == ["part", "field", "value", "contribution", "label"]
            assert (parts["part"] == "neighbour").all() and parts["field"].isna().all()
            expected = {tiny.item_ids[j]: R[u, j] * S[j, i] for j in np.flatnonzero(R[u] * S[:, i])}
            assert dict(zip(parts["value"], parts["contribution"], strict=True)) == pytest.approx(
                expected, rel=1e-5
            )
            assert parts["contribution"].sum() == pytest.approx(
                model.predict([user], [item])[0], rel=1e-5, abs=1e-6
            )


# ----------------------------------------------------------------------------- UserKNN


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n_neighbors", [1, 2, 10])
@pytest.mark.parametrize("shrink", [0.0, 2.0])
def test_userknn_matches_dense_reference(tiny, metric, n_neighbors, shrink):
    R = dense(tiny)
    model = UserKNN(n_neighbors=n_neighbors, metric=metric, shrink=shrink).fit(tiny)
    source = user_centred(R) if metric == "adjusted_cosine" else R
    ref = ref_similarity(source, metric, shrink, pattern=R)
    check_neighbour_lists(model.similarity_, ref, n_neighbors)
    warm = np.arange(5)
    expected = model.similarity_.toarray()[warm] @ R
    np.testing.assert_allclose(model.score_users(warm), expected, rtol=1e-5, atol=1e-5)
    if n_neighbors == 10:
        np.testing.assert_allclose(model.score_users(warm), ref[warm] @ R, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "jaccard"])
def test_userknn_new_users_neighbours_among_fitted(tiny, metric):
    model = UserKNN(n_neighbors=2, metric=metric).fit(tiny)
    R = dense(tiny)
    H = np.zeros((2, tiny.n_items))
    H[0, tiny.item_index(["sku-10", "sku-30"])] = [5.0, 4.0]
    H[1, tiny.item_index(["sku-40", "sku-50"])] = [3.0, 4.0]
    sims = ref_similarity(np.vstack([H, R]), metric)[:2, 2:]
    S = np.zeros_like(sims)
    for row in range(2):  # top-2 by value, ties by index
        order = np.lexsort((np.arange(sims.shape[1]), -sims[row]))[:2]
        keep = order[sims[row, order] > 0]
        S[row, keep] = sims[row, keep]
    np.testing.assert_allclose(model.score_new_users(sp.csr_matrix(H)), S @ R, rtol=1e-5)


def test_userknn_explain_lists_neighbours(tiny):
    model = UserKNN(n_neighbors=3).fit(tiny)
    R = dense(tiny)
    S = model.similarity_.toarray()
    u, i = tiny.user_index("u1"), tiny.item_index("sku-50")
    parts = model.explain("u1", "sku-50")
    expected = {tiny.user_ids[v]: S[u, v] * R[v, i] for v in np.flatnonzero(S[u] * R[:, i])}
    assert expected  # the fixture gives u1 neighbours who rated sku-50
    assert dict(zip(parts["value"], parts["contribution"], strict=True)) == pytest.approx(
        expected, rel=1e-5
    )
    assert parts["contribution"].sum() == pytest.approx(model.predict(["u1"], ["sku-50"])[0])


# ----------------------------------------------------------------------------- both


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_refuses_users_without_interactions(tiny, cls):
    model = cls().fit(tiny)
    with pytest.raises(UnsupportedProtocolError, match="u6.*FeatureCF"):
        model.recommend(["u1", "u6"])
    with pytest.raises(UnsupportedProtocolError, match="without interactions"):
        model.predict(["u6"], ["sku-10"])
    with pytest.raises(UnsupportedProtocolError, match="without interactions"):
        model.score_users([tiny.user_index("u6")])
    with pytest.raises(UnsupportedProtocolError, match="without interactions"):
        model.explain("u6", "sku-10")
    # audiences still rank every user (u6 simply scores 0)
    audience = model.recommend_users("sku-60", n=6)
    assert "u6" not in set(audience["user_id"].iloc[:1])


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_refuses_new_users_without_history(tiny, cls):
    model = cls().fit(tiny)
    history = pd.DataFrame({"user": ["g1"], "item": ["sku-10"], "rating": [4.0]})
    features = pd.DataFrame({"user": ["g1", "g2"], "segment": ["a", "b"]})
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        model.recommend_new_users(history, user_features=features)
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        model.recommend_new_users(user_features=features)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_refuses_new_items(tiny, cls):
    model = cls().fit(tiny)
    with pytest.raises(UnsupportedProtocolError, match="ContentKNN or FeatureCF"):
        model._extend_items(1)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_neighbors": 0}, ValueError, "n_neighbors must be a positive integer"),
        ({"n_neighbors": 2.5}, TypeError, "n_neighbors must be a positive integer"),
        ({"metric": "euclidean"}, ValueError, "metric must be one of"),
        ({"shrink": -1.0}, ValueError, "shrink"),
        ({"min_support": 0}, ValueError, "min_support"),
        ({"n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_bad_params_name_the_parameter(tiny, cls, params, error, match):
    with pytest.raises(error, match=match):
        cls(**params).fit(tiny)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("metric", ["adjusted_cosine", "pearson"])
def test_centred_metrics_refuse_binary_data(cls, metric):
    inter = pd.DataFrame(RATINGS, columns=["user", "item", "rating"])[["user", "item"]]
    binary = Dataset.from_frames(inter, user_col="user", item_col="item")
    with pytest.raises(ValueError, match="graded"):
        cls(metric=metric).fit(binary)


# ----------------------------------------------------------------------------- one constructor
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_shared_constructor_keeps_get_params_and_clone(cls):
    model = cls(n_neighbors=7, metric="jaccard", shrink=1.5, min_support=2, n_threads=1)
    params = {"n_neighbors": 7, "metric": "jaccard", "shrink": 1.5, "min_support": 2,
              "n_threads": 1}  # fmt: skip
    assert model.get_params() == params
    again = clone(model)
    assert type(again) is cls and again.get_params() == params
    assert list(inspect.signature(cls).parameters) == list(params)


def test_itemknn_serves_known_users_fast_and_unknown_ones_popular(tiny):
    model = ItemKNN(n_neighbors=2).fit(tiny)
    with pytest.warns(ColdStartWarning):
        recs = model.recommend(["u1", "nobody", "u2"], n=3, on_unknown="popular")
    assert pd.unique(recs["user_id"]).tolist() == ["u1", "nobody", "u2"]
    known = recs[recs["user_id"] != "nobody"].reset_index(drop=True)
    pd.testing.assert_frame_equal(known.drop(columns="source"), model.recommend(["u1", "u2"], n=3))
    # the fallback ranks by interaction counts, as Popularity does (nothing seen to exclude)
    popular = Popularity().fit(tiny).recommend(["u1"], n=3, exclude_seen=False)
    fallback = recs.loc[recs["user_id"] == "nobody", "item_id"]
    assert fallback.tolist() == popular["item_id"].tolist()


def test_itemknn_scores_of_a_few_items_equal_the_columns_of_all():
    # issue 16: a narrow filter scores only its items (neighbour lists cut first); the scores
    # must be exactly the columns of the full block, or a filtered ranking could reorder
    from featcf.datasets import make_insurance_shop

    shop = make_insurance_shop(n_customers=300, random_state=1)
    model = ItemKNN(n_neighbors=5).fit(shop)
    users = np.arange(shop.n_users)
    full = model.score_users(users)
    rng = np.random.default_rng(0)
    for size in (1, 3, shop.n_items // 4 - 1, shop.n_items // 4 + 1):
        items = rng.choice(shop.n_items, size=size, replace=False)
        np.testing.assert_array_equal(model.score_users(users, items), full[:, items])
    history = shop.interactions[:7]
    new_full = model.score_new_users(history)
    np.testing.assert_array_equal(
        model.score_new_users(history, item_idx=[4, 2]), new_full[:, [4, 2]]
    )
