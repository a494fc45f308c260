"""FeatureCF, the estimator: fitting, weights, parameters, cold start and model files.

The tests of its parts sit next to them (``test_fcf_<module>.py`` for ``feature_cf/_<module>.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import featcf
from featcf.data import Dataset
from featcf.models.feature_cf import FeatureCF
from featcf.models.popular import Popularity


def test_fit_returns_self_and_learned_weights_are_non_negative_series(tiny, make_model):
    model = make_model()
    assert model.fit(tiny) is model
    weights = model.feature_weights_
    assert isinstance(weights, pd.Series)
    assert (weights >= 0).all()
    assert (weights > 0).any()
    assert {"category", "coverage", "content:category", "cf", "popularity"} <= set(weights.index)
    assert list(weights.index) == model.term_names_
    assert (model.band_weights_ >= 0).all() and (model.cold_item_weights_ >= 0).all()


def test_learned_weights_on_shop_are_non_negative_and_use_fields(shop_model):
    weights = shop_model.feature_weights_
    assert (weights >= 0).all()
    fields = [f for f in weights.index if f.startswith("content:")]
    assert weights[fields].sum() > 0


def test_given_weights_are_respected(tiny, make_model):
    model = make_model(weights={"category": 2.0, "content:coverage": 0.5, "popularity": 1.0}).fit(
        tiny
    )
    w = model.feature_weights_
    assert w["category"] == 2.0
    assert w["content:category"] == 2.0  # a field name also sets its content term
    assert w["content:coverage"] == 0.5
    assert w["coverage"] == 0.0
    assert w["popularity"] == 1.0
    assert w["cf"] == 0.0
    np.testing.assert_array_equal(model.band_weights_, np.tile(w.to_numpy(), (5, 1)))


def test_uniform_weights_weigh_every_term_one(tiny, make_model):
    model = make_model(weights="uniform").fit(tiny)
    assert (model.feature_weights_ == 1.0).all()
    np.testing.assert_array_equal(model.band_weights_, np.ones_like(model.band_weights_))
    np.testing.assert_array_equal(model.cold_item_weights_, np.ones(len(model.term_names_)))
    no_cf = make_model(weights="uniform", include_cf=False).fit(tiny).feature_weights_
    assert no_cf["cf"] == 0.0 and no_cf["user_cf"] == 0.0 and no_cf["popularity"] == 1.0


def test_given_weights_change_scores(tiny, make_model):
    a = make_model(weights={"popularity": 1.0}).fit(tiny)
    b = make_model(weights={"category": 1.0}).fit(tiny)
    assert not np.allclose(a.score_users([0]), b.score_users([0]))


def test_unknown_weight_names_raise_naming_them(tiny, make_model):
    with pytest.raises(ValueError, match="genre"):
        make_model(weights={"genre": 1.0, "category": 1.0}).fit(tiny)


def test_negative_weights_raise(tiny, make_model):
    with pytest.raises(ValueError, match="category"):
        make_model(weights={"category": -1.0}).fit(tiny)


@pytest.mark.parametrize(
    ("param", "value", "error"),
    [
        ("n_neighbors", 0, ValueError),
        ("metric", "euclid", ValueError),
        ("profile_shrinkage", -1.0, ValueError),
        ("weights", "equal", ValueError),
        ("implicit", "yes", ValueError),
        ("validation_fraction", 1.5, ValueError),
        ("random_state", "seed", TypeError),
        ("ease_l2", 0.0, ValueError),
        ("ease_l2", "big", ValueError),
        ("ease_l2", [1.0], TypeError),
        ("ease_max_items", -1, ValueError),
        ("ease_max_items", 2.5, TypeError),
        ("max_reference_users", 0, ValueError),
        ("max_reference_users", 2.5, TypeError),
    ],
)
def test_bad_parameters_raise_naming_them(tiny, param, value, error, make_model):
    with pytest.raises(error, match=param):
        make_model(**{param: value}).fit(tiny)


def test_needs_item_features(make_model):
    inter = pd.DataFrame({"user": ["u1", "u2"], "item": ["sku-10", "sku-20"]})
    ds = Dataset.from_frames(inter, user_col="user", item_col="item")
    with pytest.raises(ValueError, match="item features"):
        make_model().fit(ds)


def test_determinism_with_random_state(shop):
    kw = {"n_neighbors": 15, "random_state": 7, "show_progress": False}
    a = FeatureCF(**kw).fit(shop)
    b = FeatureCF(**kw).fit(shop)
    np.testing.assert_array_equal(a.band_weights_, b.band_weights_)
    np.testing.assert_array_equal(a.score_users(np.arange(20)), b.score_users(np.arange(20)))


def test_cold_item_after_add_items_is_scored_and_has_an_audience(tiny, make_model):
    model = make_model().fit(tiny)
    new = pd.DataFrame({"item": ["sku-70"], "category": ["car"], "coverage": ["premium"]})
    model.add_items(new)
    scores = model.predict(["u1", "u2", "u3"], ["sku-70"] * 3)
    assert np.all(np.isfinite(scores)) and np.any(scores != 0)
    # car buyers should want a new car product more than the travel buyer does
    assert scores[0] > scores[2]
    audience = model.recommend_users("sku-70", n=3)
    assert len(audience) == 3 and audience["score"].notna().all()
    recs = model.recommend(["u2"], n=6)
    assert "sku-70" in set(recs["item_id"])
    frame = model.explain("u1", "sku-70")
    assert frame["contribution"].sum() == pytest.approx(float(scores[0]), rel=1e-4, abs=1e-5)


def test_cold_items_of_the_shop_are_reachable(shop, shop_model):
    cold = np.flatnonzero(shop.item_counts() == 0)
    assert len(cold)
    scores = shop_model.score_users(np.arange(50), cold)
    assert np.all(np.isfinite(scores)) and np.ptp(scores) > 0
    audience = shop_model.recommend_users(shop.item_ids[cold[0]], n=10)
    assert len(audience) == 10


def test_zero_history_users_with_features_get_personal_recommendations(tiny, make_model):
    model = make_model().fit(tiny)
    scores = model.score_users(tiny.user_index(["u6", "u7"]))
    assert np.all(np.isfinite(scores))
    assert not np.allclose(scores[0], scores[1])  # different demographics, different scores
    pop = Popularity().fit(tiny).popularity_
    # not a popularity constant: the ranking of u6 (like u3/u4) differs from popularity
    assert not np.array_equal(
        np.argsort(-scores[0], kind="stable"), np.argsort(-pop, kind="stable")
    )


def test_new_user_with_only_demographics(shop, shop_model):
    frame = shop.user_frame.reset_index().iloc[:2].copy()
    frame["user_id"] = ["new-a", "new-b"]
    recs = shop_model.recommend_new_users(user_features=frame, n=5)
    assert set(recs["user_id"]) == {"new-a", "new-b"}
    assert recs.groupby("user_id").size().tolist() == [5, 5]


def test_recommend_new_users_with_few_interactions(shop, shop_model):
    items = shop.item_ids[:3]
    inter = pd.DataFrame({"user_id": ["x", "x", "x"], "item_id": items, "n_policies": 1})
    recs = shop_model.recommend_new_users(inter, n=5)
    assert len(recs) == 5
    assert not set(recs["item_id"]) & set(items)
    scores = shop_model.score_new_users(
        sp.csr_matrix(
            (np.ones(3, np.float32), ([0, 0, 0], shop.item_index(items))),
            shape=(1, shop.n_items),
        )
    )
    assert np.all(np.isfinite(scores))


def test_save_load_gives_identical_scores(tmp_path, tiny, make_model):
    model = make_model().fit(tiny)
    model.add_items(pd.DataFrame({"item": ["sku-70"], "category": ["home"], "coverage": ["basic"]}))
    path = tmp_path / "fcf.npz"
    model.save(path)
    loaded = featcf.load(path)
    assert isinstance(loaded, FeatureCF)
    users = np.arange(tiny.n_users)
    np.testing.assert_array_equal(loaded.score_users(users), model.score_users(users))
    pd.testing.assert_series_equal(loaded.feature_weights_, model.feature_weights_)
    inter = pd.DataFrame({"user": ["z"], "item": ["sku-20"]})
    pd.testing.assert_frame_equal(
        loaded.recommend_new_users(inter, n=3), model.recommend_new_users(inter, n=3)
    )


def test_reference_cap_is_saved_and_a_cap_above_the_users_changes_nothing(
    tmp_path, shop, make_model
):
    """``max_reference_users`` at or above the active users is the exact search; a model
    fitted under a binding cap is saved and loaded with its cap and its scores (issue 14)."""
    users = np.arange(shop.n_users)
    n_active = int((np.diff(shop.interactions.indptr) > 0).sum())
    exact = make_model(max_reference_users=None).fit(shop)
    at_cap = make_model(max_reference_users=n_active).fit(shop)
    np.testing.assert_array_equal(at_cap.score_users(users), exact.score_users(users))
    capped = make_model(max_reference_users=60).fit(shop)
    again = make_model(max_reference_users=60).fit(shop)
    np.testing.assert_array_equal(capped.score_users(users), again.score_users(users))
    assert not np.array_equal(capped.score_users(users), exact.score_users(users))
    path = tmp_path / "capped.npz"
    capped.save(path)
    loaded = featcf.load(path)
    assert loaded.get_params()["max_reference_users"] == 60
    np.testing.assert_array_equal(loaded.score_users(users), capped.score_users(users))


def test_ratings_are_detected_and_add_a_rating_term(make_model, tiny_frames):
    inter, items, users = tiny_frames
    inter = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        inter, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    model = make_model().fit(ds)
    assert model.rating_data_ is True
    assert "rating" in model.term_names_
    counts = make_model(implicit=True).fit(ds)
    assert counts.rating_data_ is False and "rating" not in counts.term_names_


def test_include_cf_false_gives_cf_no_weight(shop):
    model = FeatureCF(n_neighbors=15, include_cf=False, random_state=0, show_progress=False)
    model.fit(shop)
    assert model.feature_weights_["cf"] == 0.0
    for name in ("cf", "user_cf"):
        assert (model.band_weights_[:, model.term_names_.index(name)] == 0).all()


def test_ease_is_left_out_of_large_catalogues_and_without_cf(tiny, make_model):
    assert "ease" not in make_model(ease_max_items=5).fit(tiny).term_names_
    assert "ease" in make_model(ease_max_items=6).fit(tiny).term_names_
    assert "ease" not in make_model(include_cf=False).fit(tiny).term_names_
    given = make_model(weights={"ease": 1.0}, ease_l2=3.0).fit(tiny)
    assert given.ease_l2_ == 3.0
    assert given.ease_matrix_ is not None
    with pytest.raises(ValueError, match="unknown term"):
        make_model(weights={"ease": 1.0}, ease_max_items=0).fit(tiny)


def test_audiences_are_ranked_with_the_audience_weights(shop, searched_model, searched_bands):
    """recommend_users ranks customers by score_users(across="users"), recommend ranks
    products by the default scores: two weight sets, each used by its own calls."""
    model = searched_model
    users = np.arange(shop.n_users)
    item = shop.item_ids[4]
    idx = shop.item_index([item])
    ranking = model.score_users(users, idx)[:, 0]
    audience = model.score_users(users, idx, across="users")[:, 0]
    band = np.searchsorted([1, 3, 6, 21], shop.user_counts(), side="right")
    same = ~searched_bands[band]  # the same weights there
    np.testing.assert_array_equal(ranking[same], audience[same])
    assert not np.allclose(ranking[~same], audience[~same], rtol=1e-3, atol=1e-3)
    got = model.recommend_users(item, n=None, exclude_seen=False)
    want = shop.user_ids[np.argsort(-audience, kind="stable")]
    assert got["user_id"].tolist() == want.tolist()
    np.testing.assert_allclose(got["score"], np.sort(audience)[::-1], rtol=1e-6)
    recs = model.recommend(shop.user_ids[:1], n=3, exclude_seen=False)
    np.testing.assert_allclose(recs["score"], np.sort(model.score_users([0])[0])[::-1][:3])


def test_new_customers_get_audience_scores_too(shop, searched_model, searched_bands):
    history = sp.csr_matrix(shop.interactions[:150], dtype=np.float32)
    model = searched_model
    ranking = model.score_new_users(history)
    audience = model.score_new_users(history, across="users")
    band = np.searchsorted([1, 3, 6, 21], history.getnnz(axis=1), side="right")
    same = ~searched_bands[band]
    warm = model.item_counts_ > 0  # new products have a new-item map of each set's own
    assert same.sum() > 2 and (~same).sum() > 2 and (~warm).any()
    first, second = ranking[:, warm], audience[:, warm]
    np.testing.assert_array_equal(first[same], second[same])
    assert not np.allclose(first[~same], second[~same], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="across must be one of 'items', 'users'"):
        searched_model.score_new_users(history, across="products")
    with pytest.raises(ValueError, match="across must be one of"):
        searched_model.score_users([0], across="customers")


def test_audience_explanations_sum_to_the_audience_scores(shop, searched_model):
    user = shop.user_ids[np.flatnonzero(np.isin(shop.user_counts(), [3, 4, 5]))[0]]
    item = shop.item_ids[4]
    idx = (shop.user_index([user]), shop.item_index([item]))
    for across in ("items", "users"):
        parts = searched_model.explain(user, item, across=across)
        want = searched_model.score_users(*idx, across=across)[0, 0]
        assert parts["contribution"].sum() == pytest.approx(want, rel=1e-4, abs=1e-4)
    frame = shop.interactions[shop.user_index([user])]
    inter = pd.DataFrame({"user_id": "new", "item_id": shop.item_ids[frame.indices], "n": 1.0})
    parts = searched_model.explain_new_user(item, inter, across="users")
    want = searched_model.score_new_users(
        sp.csr_matrix(frame, dtype=np.float32), item_idx=idx[1], across="users"
    )[0, 0]
    assert parts["contribution"].sum() == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_given_weights_rank_both_ways_alike(tiny, make_model):
    model = make_model(weights="uniform").fit(tiny)
    assert model._fitted.audience is model._fitted.weights
    users = np.arange(tiny.n_users)
    np.testing.assert_array_equal(
        model.score_users(users, across="users"), model.score_users(users)
    )


def test_save_load_keeps_the_audience_weights(tmp_path, shop, searched_model):
    path = tmp_path / "fcf.npz"
    searched_model.save(path)
    loaded = featcf.load(path)
    for name in ("audience_band_weights_", "audience_cold_item_affine_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(searched_model, name))
    assert loaded.band_affine_ is None and loaded.audience_band_affine_ is None
    users = np.arange(shop.n_users)
    np.testing.assert_array_equal(
        loaded.score_users(users, across="users"),
        searched_model.score_users(users, across="users"),
    )
