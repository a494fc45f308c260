"""FeatureCF: the FBCF model (per-field profiles, neighbourhoods, learned field weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import featcf
from featcf.data import Dataset
from featcf.datasets import make_insurance_shop
from featcf.models.feature_cf import FeatureCF
from featcf.models.popular import Popularity

# --------------------------------------------------------------------------- fixtures


def _tiny_frames():
    """5 customers x 6 products x 2 item fields, ids that can never be positions."""
    inter = pd.DataFrame(
        {
            "user": ["u1", "u1", "u1", "u2", "u2", "u3", "u3", "u3", "u4", "u4", "u5"],
            "item": [
                "sku-10", "sku-20", "sku-30", "sku-10", "sku-20", "sku-40", "sku-50",
                "sku-60", "sku-40", "sku-50", "sku-10",
            ],
        }
    )  # fmt: skip
    items = pd.DataFrame(
        {
            "item": ["sku-10", "sku-20", "sku-30", "sku-40", "sku-50", "sku-60"],
            "category": ["car", "car", "home", "travel", "travel", "home"],
            "coverage": ["basic", "premium", "basic", "premium", "basic", "premium"],
        }
    )
    users = pd.DataFrame(
        {
            "user": ["u1", "u2", "u3", "u4", "u5", "u6", "u7"],
            "region": ["north", "north", "south", "south", "north", "south", "north"],
            "household": ["family", "family", "single", "single", "family", "single", "family"],
        }
    )
    return inter, items, users


@pytest.fixture
def tiny() -> Dataset:
    inter, items, users = _tiny_frames()
    return Dataset.from_frames(inter, items, users, user_col="user", item_col="item")


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return make_insurance_shop(n_customers=400, n_products=30, n_new_products=2, seed=3)


@pytest.fixture(scope="module")
def shop_model(shop) -> FeatureCF:
    return FeatureCF(n_neighbors=20, random_state=0, show_progress=False).fit(shop)


def _model(**kw) -> FeatureCF:
    params = {"n_neighbors": 3, "random_state": 0, "show_progress": False}
    params.update(kw)
    return FeatureCF(**params)


# --------------------------------------------------------------------------- fitting and weights


def test_fit_returns_self_and_learned_weights_are_non_negative_series(tiny):
    model = _model()
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


def test_given_weights_are_respected(tiny):
    model = _model(weights={"category": 2.0, "content:coverage": 0.5, "popularity": 1.0}).fit(tiny)
    w = model.feature_weights_
    assert w["category"] == 2.0
    assert w["content:category"] == 2.0  # a field name also sets its content term
    assert w["content:coverage"] == 0.5
    assert w["coverage"] == 0.0
    assert w["popularity"] == 1.0
    assert w["cf"] == 0.0
    np.testing.assert_array_equal(model.band_weights_, np.tile(w.to_numpy(), (5, 1)))


def test_uniform_weights_weigh_every_term_one(tiny):
    model = _model(weights="uniform").fit(tiny)
    assert (model.feature_weights_ == 1.0).all()
    np.testing.assert_array_equal(model.band_weights_, np.ones_like(model.band_weights_))
    np.testing.assert_array_equal(model.cold_item_weights_, np.ones(len(model.term_names_)))
    no_cf = _model(weights="uniform", include_cf=False).fit(tiny).feature_weights_
    assert no_cf["cf"] == 0.0 and no_cf["user_cf"] == 0.0 and no_cf["popularity"] == 1.0


def test_given_weights_change_scores(tiny):
    a = _model(weights={"popularity": 1.0}).fit(tiny)
    b = _model(weights={"category": 1.0}).fit(tiny)
    assert not np.allclose(a.score_users([0]), b.score_users([0]))


def test_unknown_weight_names_raise_naming_them(tiny):
    with pytest.raises(ValueError, match="genre"):
        _model(weights={"genre": 1.0, "category": 1.0}).fit(tiny)


def test_negative_weights_raise(tiny):
    with pytest.raises(ValueError, match="category"):
        _model(weights={"category": -1.0}).fit(tiny)


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
    ],
)
def test_bad_parameters_raise_naming_them(tiny, param, value, error):
    with pytest.raises(error, match=param):
        _model(**{param: value}).fit(tiny)


def test_needs_item_features():
    inter = pd.DataFrame({"user": ["u1", "u2"], "item": ["sku-10", "sku-20"]})
    ds = Dataset.from_frames(inter, user_col="user", item_col="item")
    with pytest.raises(ValueError, match="item features"):
        _model().fit(ds)


def test_determinism_with_random_state(shop):
    kw = {"n_neighbors": 15, "random_state": 7, "show_progress": False}
    a = FeatureCF(**kw).fit(shop)
    b = FeatureCF(**kw).fit(shop)
    np.testing.assert_array_equal(a.band_weights_, b.band_weights_)
    np.testing.assert_array_equal(a.score_users(np.arange(20)), b.score_users(np.arange(20)))


# --------------------------------------------------------------------------- explanations


def test_explain_contributions_sum_to_predict(tiny):
    model = _model().fit(tiny)
    for user, item in [("u1", "sku-40"), ("u3", "sku-10"), ("u6", "sku-30")]:
        frame = model.explain(user, item)
        assert list(frame.columns) == ["part", "field", "value", "contribution"]
        assert frame["contribution"].sum() == pytest.approx(
            float(model.predict([user], [item])[0]), rel=1e-4, abs=1e-5
        )


def test_explain_names_the_matched_field_values(tiny):
    model = _model(weights={"category": 1.0, "coverage": 1.0}).fit(tiny)
    frame = model.explain("u1", "sku-40")
    fields = frame[frame["part"] == "field"]
    assert set(zip(fields["field"], fields["value"], strict=True)) == {
        ("category", "travel"),
        ("coverage", "premium"),
    }
    assert "cf" in set(frame["part"])


def test_explain_sums_on_shop(shop, shop_model):
    user, item = shop.user_ids[5], shop.item_ids[3]
    frame = shop_model.explain(user, item)
    assert frame["contribution"].sum() == pytest.approx(
        float(shop_model.predict([user], [item])[0]), rel=1e-4, abs=1e-5
    )


# --------------------------------------------------------------------------- cold start


def test_cold_item_after_add_items_is_scored_and_has_an_audience(tiny):
    model = _model().fit(tiny)
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


def test_zero_history_users_with_features_get_personal_recommendations(tiny):
    model = _model().fit(tiny)
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


def test_fold_in_matches_the_fitted_profile_part():
    """Fold-in of a fitted user's own history reproduces their profile and item-side terms.

    Neighbour terms may differ (at fit a user is not their own neighbour, at fold-in the
    fitted copy of the same user is), so the invariant is the profile and the terms that do
    not depend on user neighbours. Without user features both use the global prior.
    """
    from featcf.models.feature_cf._inputs import positives
    from featcf.models.feature_cf._terms import compute_terms
    from featcf.models.feature_cf._users import fitted_users, folded_users

    inter, items, _ = _tiny_frames()
    ds = Dataset.from_frames(inter, items, user_col="user", item_col="item")
    model = _model().fit(ds)
    scorer = model._fitted.scorer
    values = scorer.inputs.values
    for user_id in ("u1", "u3", "u5"):
        user = int(ds.user_index(user_id))
        fitted = fitted_users(scorer, np.array([user]), values[[user]])
        folded = folded_users(scorer, positives(ds.interactions[[user]], None), None)
        np.testing.assert_allclose(folded.lift, fitted.lift, rtol=1e-5, atol=1e-6)
        items_all = np.arange(ds.n_items)
        t_fit = compute_terms(scorer, fitted, items_all)
        t_new = compute_terms(scorer, folded, items_all)
        names = model.term_names_
        for name in ("cf", "cooccurrence", "popularity", "content:category", "content:coverage"):
            np.testing.assert_allclose(
                t_new[names.index(name)], t_fit[names.index(name)], atol=1e-6
            )


def test_fold_in_with_features_uses_the_feature_neighbours_prior(tiny):
    """A folded-in user with no history gets the mean profile of their feature neighbours."""
    from featcf.models.feature_cf._users import folded_users

    model = _model().fit(tiny)
    feats = tiny.user_features.matrix[tiny.user_index(["u6"])]
    empty = sp.csr_matrix((1, tiny.n_items), dtype=np.float32)
    state = folded_users(model._fitted.scorer, empty, feats)
    assert state.demo.nnz > 0
    assert not np.allclose(state.lift, 0.0)  # not the global profile (log-lift 0)


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


# --------------------------------------------------------------------------- persistence


def test_save_load_gives_identical_scores(tmp_path, tiny):
    model = _model().fit(tiny)
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


# --------------------------------------------------------------------------- data kinds


def test_ratings_are_detected_and_add_a_rating_term():
    inter, items, users = _tiny_frames()
    inter = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        inter, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    model = _model().fit(ds)
    assert model.rating_data_ is True
    assert "rating" in model.term_names_
    counts = _model(implicit=True).fit(ds)
    assert counts.rating_data_ is False and "rating" not in counts.term_names_


def test_positive_threshold_drops_low_values_from_positives():
    inter, items, users = _tiny_frames()
    inter = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        inter, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    model = _model(positive_threshold=4.0).fit(ds)
    assert model._fitted.scorer.inputs.values.nnz == int((inter["stars"] >= 4).sum())


def test_include_cf_false_gives_cf_no_weight(shop):
    model = FeatureCF(n_neighbors=15, include_cf=False, random_state=0, show_progress=False)
    model.fit(shop)
    assert model.feature_weights_["cf"] == 0.0
    for name in ("cf", "user_cf"):
        assert (model.band_weights_[:, model.term_names_.index(name)] == 0).all()


# --------------------------------------------------------------------------- ease and content_ridge


def test_ease_matrix_equals_per_item_ridge_regressions():
    """EASE's closed form = for each item i, ridge of column i on the other columns."""
    from featcf.models.feature_cf._linalg import ease_from_gram as _ease_from_gram
    from featcf.models.feature_cf._linalg import ease_gram as _ease_gram

    rng = np.random.default_rng(0)
    V = sp.csr_matrix((rng.random((30, 7)) < 0.35).astype(np.float32))
    l2 = 2.5
    gram, n_features = _ease_gram(V)
    assert n_features == 0
    B, B_f = _ease_from_gram(gram, l2)
    assert B_f is None
    dense = V.toarray().astype(np.float64)
    for i in range(7):
        others = [j for j in range(7) if j != i]
        Xo = dense[:, others]
        coef = np.linalg.solve(Xo.T @ Xo + l2 * np.eye(6), Xo.T @ dense[:, i])
        np.testing.assert_allclose(B[others, i], coef, rtol=1e-4, atol=1e-5)
        assert B[i, i] == 0.0


def test_ease_with_user_features_regresses_on_features_and_other_items():
    from featcf.models.feature_cf._linalg import ease_from_gram as _ease_from_gram
    from featcf.models.feature_cf._linalg import ease_gram as _ease_gram

    rng = np.random.default_rng(4)
    V = sp.csr_matrix((rng.random((40, 6)) < 0.3).astype(np.float32))
    F = sp.csr_matrix((rng.random((40, 3)) < 0.5).astype(np.float32))
    l2 = 1.5
    gram, n_features = _ease_gram(V, F)
    assert n_features == 3
    B, B_f = _ease_from_gram(gram, l2, n_features)
    active = np.diff(V.indptr) > 0  # users without positives are not regression rows
    dense_v = V.toarray().astype(np.float64)[active]
    dense_f = F.toarray().astype(np.float64)[active]
    for i in range(6):
        others = [j for j in range(6) if j != i]
        Z = np.hstack([dense_f, dense_v[:, others]])
        coef = np.linalg.solve(Z.T @ Z + l2 * np.eye(Z.shape[1]), Z.T @ dense_v[:, i])
        np.testing.assert_allclose(B_f[:, i], coef[:3], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(B[others, i], coef[3:], rtol=1e-4, atol=1e-5)
        assert B[i, i] == 0.0


def test_ridge_map_is_ridge_with_an_unpenalised_intercept():
    from sklearn.linear_model import Ridge

    from featcf.models.feature_cf._linalg import ridge_map as _ridge_map

    rng = np.random.default_rng(1)
    x = (rng.random((12, 5)) < 0.4).astype(np.float64)
    y = (rng.random(12) < 0.5).astype(np.float64)
    mu = x.mean(axis=0)
    coef = _ridge_map(x - mu, mu, 2.0) @ y
    ridge = Ridge(alpha=2.0).fit(x, y)
    np.testing.assert_allclose(coef[:-1], ridge.coef_, atol=1e-8)
    np.testing.assert_allclose(coef[-1], ridge.intercept_, atol=1e-8)
    only_mean = _ridge_map(x - mu, mu, None) @ y
    np.testing.assert_allclose(only_mean, [0, 0, 0, 0, 0, y.mean()], atol=1e-12)


def test_loo_ridge_alpha_matches_brute_force_leave_one_out():
    from featcf.models.feature_cf._linalg import loo_ridge_alpha as _loo_ridge_alpha

    rng = np.random.default_rng(2)
    x = rng.normal(size=(15, 3))
    y = np.stack([x @ [1.0, -2.0, 0.5] + rng.normal(scale=0.3, size=15), rng.normal(size=15)], 1)
    alphas = (0.01, 1.0, 100.0)

    def brute(alpha):
        total = 0.0
        for i in range(15):
            keep = np.arange(15) != i
            xm, ym = x[keep].mean(axis=0), y[keep].mean(axis=0)
            xc = x[keep] - xm
            if alpha is None:
                pred = ym
            else:
                coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(3), xc.T @ (y[keep] - ym))
                pred = ym + (x[i] - xm) @ coef
            total += float(np.sum((y[i] - pred) ** 2))
        return total

    errors = {a: brute(a) for a in (*alphas, None)}
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    assert _loo_ridge_alpha(xc, yc, alphas) == min(errors, key=lambda a: errors[a] or 0.0)
    # pure noise: predicting the mean wins
    noise = rng.normal(size=(15, 1))
    assert _loo_ridge_alpha(xc, noise - noise.mean(), (0.01,)) is None


def test_content_map_falls_back_to_the_mean_when_attributes_do_not_generalise():
    from featcf.models.feature_cf._linalg import content_map

    rng = np.random.default_rng(0)
    # attributes drawn independently of who bought what: nothing to learn from them
    x = sp.csr_matrix((rng.random((30, 4)) < 0.5).astype(np.float32))
    values = sp.csr_matrix((rng.random((200, 30)) < 0.3).astype(np.float32))
    cmap = content_map(x, np.ones(30, dtype=bool), values)
    assert not cmap[:-1].any()  # no attribute coefficient: every item gets the user's mean
    np.testing.assert_allclose(cmap[-1], 1.0 / 30, rtol=1e-6)
    # attributes that explain the purchases are kept
    liked = x.toarray()[:, 0] > 0
    values = sp.csr_matrix((rng.random((200, 30)) < np.where(liked, 0.6, 0.1)).astype(np.float32))
    cmap = content_map(x, np.ones(30, dtype=bool), values)
    coef = cmap @ liked.astype(np.float32)  # a user who bought exactly the items with it
    assert coef[0] > 0.5 and np.abs(coef[1:4]).max() < 0.2


def test_ease_term_is_learned_on_the_validation_grid(shop):
    from featcf.models.feature_cf._linalg import EASE_L2_GRID
    from featcf.models.feature_cf._linalg import mean_item_count as _mean_item_count

    model = FeatureCF(n_neighbors=15, random_state=0, show_progress=False).fit(shop)
    assert "ease" in model.term_names_ and "content_ridge" in model.term_names_
    assert model.ease_matrix_.shape == (shop.n_items, shop.n_items)
    assert np.all(np.diag(model.ease_matrix_) == 0)
    # the penalty is one of the grid's multiples of the validation split's mean item count,
    # which is below the full data's
    full = _mean_item_count(shop.interactions)
    assert any(0.6 * m * full <= model.ease_l2_ <= m * full for m in EASE_L2_GRID), model.ease_l2_


def test_ease_is_left_out_of_large_catalogues_and_without_cf(tiny):
    assert "ease" not in _model(ease_max_items=5).fit(tiny).term_names_
    assert "ease" in _model(ease_max_items=6).fit(tiny).term_names_
    assert "ease" not in _model(include_cf=False).fit(tiny).term_names_
    given = _model(weights={"ease": 1.0}, ease_l2=3.0).fit(tiny)
    assert given.ease_l2_ == 3.0
    assert given.ease_matrix_ is not None
    with pytest.raises(ValueError, match="unknown term"):
        _model(weights={"ease": 1.0}, ease_max_items=0).fit(tiny)


def test_ease_term_scores_the_history_through_the_regression(tiny):
    model = _model(weights={"ease": 1.0}, ease_l2=1.0).fit(tiny)
    u = tiny.user_index(["u2"])
    seen = tiny.interactions[u].indices
    features = tiny.user_features.matrix[u].toarray()[0]
    expected = model.ease_matrix_[seen].sum(axis=0) + features @ model.ease_feature_matrix_
    scores = model.score_users(u)[0]
    scale = model.term_scale_[model.term_names_.index("ease")]
    band_w = model.band_weights_[0, model.term_names_.index("ease")]
    warm = model.item_counts_ > 0
    np.testing.assert_allclose(scores[warm], (band_w * expected / scale)[warm], rtol=1e-4)


def test_explain_names_the_history_item_behind_the_ease_part(tiny):
    model = _model(weights={"ease": 1.0}, ease_l2=1.0).fit(tiny)
    parts = model.explain("u2", "sku-30")
    row = parts[parts["part"] == "ease"].iloc[0]
    assert row["value"] in ("sku-10", "sku-20", None)
    # the regression's user-feature share is read as demographics
    assert ((parts["part"] == "demographics") & (parts["field"] == "ease")).sum() == 1
    total = parts["contribution"].sum()
    np.testing.assert_allclose(total, model.predict(["u2"], ["sku-30"])[0], rtol=1e-5)


def test_top_k_of_distinct_query_rows_equals_the_direct_call():
    """Histories repeat in small catalogues; the neighbours are computed once per distinct row."""
    from featcf.models.feature_cf._neighbours import topk_distinct_queries as _topk_distinct_queries
    from featcf.models.feature_cf._neighbours import unique_rows as _unique_rows
    from featcf.similarity import topk_similarity_between, topk_similarity_dense_between

    rng = np.random.default_rng(5)
    base = (rng.random((6, 5)) < 0.5).astype(np.float32)
    base[0] = 0.0  # an empty history among them
    rows = rng.integers(0, 6, size=40)
    sparse_q = sp.csr_matrix(base[rows])
    ref = sp.csr_matrix((rng.random((25, 5)) < 0.4).astype(np.float32))
    uniq, inverse = _unique_rows(sparse_q)
    assert uniq.shape[0] == len(np.unique(rows)) and np.array_equal(
        uniq[inverse].toarray(), sparse_q.toarray()
    )
    direct = topk_similarity_between(sparse_q, ref, 4)
    once = _topk_distinct_queries(lambda q: topk_similarity_between(q, ref, 4), sparse_q)
    assert (direct != once).nnz == 0 and np.array_equal(direct.indptr, once.indptr)

    dense_q = rng.normal(size=(6, 3))[rows]
    dense_ref = rng.normal(size=(25, 3))
    uniq_d, inverse_d = _unique_rows(dense_q)
    np.testing.assert_array_equal(uniq_d[inverse_d], dense_q)
    direct = topk_similarity_dense_between(dense_q, dense_ref, 4)
    once = _topk_distinct_queries(lambda q: topk_similarity_dense_between(q, dense_ref, 4), dense_q)
    assert (direct != once).nnz == 0 and np.array_equal(direct.indices, once.indices)


def test_core_built_for_some_users_has_their_full_neighbour_rows(shop):
    """Validation cores search neighbours only for the users asked about; those rows are exact."""
    from featcf.models.feature_cf._core import build_core

    model = _model(n_neighbors=10).fit(shop)
    scorer = model._fitted.scorer
    inputs, settings = scorer.inputs, scorer.settings
    asked = np.sort(np.random.default_rng(0).choice(shop.n_users, 60, replace=False))
    full = build_core(inputs, settings, inputs.values)
    part = build_core(inputs, settings, inputs.values, query_users=asked)
    others = np.setdiff1d(np.arange(shop.n_users), asked)
    for name in ("user_neighbors", "field_neighbors"):
        full_m = getattr(full, name)
        part_m = getattr(part, name)
        if name == "field_neighbors":
            full_m, part_m = sp.vstack(full_m).tocsr(), sp.vstack(part_m).tocsr()
        n_blocks = full_m.shape[0] // shop.n_users
        rows = np.concatenate([asked + b * shop.n_users for b in range(n_blocks)])
        empty = np.concatenate([others + b * shop.n_users for b in range(n_blocks)])
        assert part_m.shape == full_m.shape
        assert (part_m[rows] != full_m[rows]).nnz == 0
        assert full_m[rows].nnz > 0 and part_m[empty].nnz == 0
    np.testing.assert_array_equal(part.lift, full.lift)


@pytest.mark.parametrize("set_lines", [None, "all", "some"])
@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_loss_gradient_matches_finite_differences(set_lines, axis):
    """Both ranking losses of the weight learning: value by brute force, gradient by differences."""
    from featcf.models.feature_cf._weights import softmax_loss as _softmax_loss

    rng = np.random.default_rng(11)
    z = rng.normal(size=(5, 7))
    pos = rng.random((5, 7)) < 0.3
    pos[0] = False  # a row without positives adds nothing
    pos[:, 1] = False  # and a column
    blocked = (rng.random((5, 7)) < 0.2) & ~pos
    n_lines = z.shape[1 - axis]
    flags = {
        None: None,
        "all": np.ones(n_lines, dtype=bool),
        "some": np.arange(n_lines) % 2 == 0,
    }[set_lines]
    set_weight = 2.5
    loss, grad = _softmax_loss(z, pos, blocked, axis, flags, set_weight)

    def brute(zz):
        total = 0.0
        lines = zz if axis == 1 else zz.T
        p_lines = pos if axis == 1 else pos.T
        b_lines = blocked if axis == 1 else blocked.T
        for i, (line, p, b) in enumerate(zip(lines, p_lines, b_lines, strict=True)):
            if not p.any():
                continue
            log_soft = line - np.log(np.exp(line[~b]).sum())
            if flags is None or not flags[i]:
                total -= log_soft[p].sum()
            else:
                total -= set_weight * np.log(np.exp(log_soft[p]).sum())
        return total

    assert loss == pytest.approx(brute(z), rel=1e-10)
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[idx] = 1e-6
        numeric[idx] = (brute(z + step) - brute(z - step)) / 2e-6
    np.testing.assert_allclose(
        np.where(blocked, 0.0, grad), np.where(blocked, 0.0, numeric), atol=1e-6
    )


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
    from featcf.models.feature_cf._neighbours import topk_distinct_refs as _topk_distinct_refs
    from featcf.similarity import topk_similarity_dense_between

    rng = np.random.default_rng(seed)
    # small integers: repeated rows, zero rows and exactly tied scores between distinct rows
    distinct = rng.integers(-2, 3, size=(n_distinct, d)).astype(np.float64)
    ref = distinct[rng.integers(0, n_distinct, size=n_ref)]
    query = rng.integers(-2, 3, size=(n_query, d)).astype(np.float64)
    weights = rng.integers(1, 3, size=d).astype(np.float64)

    def search(rows, kk):
        return topk_similarity_dense_between(query, rows, kk, metric, weights=weights)

    direct = search(ref, k)
    once = _topk_distinct_refs(search, ref, k)
    assert once.shape == direct.shape
    np.testing.assert_array_equal(once.indptr, direct.indptr)
    np.testing.assert_array_equal(once.indices, direct.indices)
    np.testing.assert_array_equal(once.data, direct.data)


def test_band_ndcg_matches_a_brute_force_ndcg():
    """The validation nDCG@10 that picks learned or uniform weights per history band."""
    from featcf.models.feature_cf._weights import band_ndcg as _band_ndcg

    rng = np.random.default_rng(4)
    n_users, n_terms, n_cand = 9, 3, 25
    scaled = rng.normal(size=(n_users, n_terms, n_cand)).astype(np.float32)
    pos = rng.random((n_users, n_cand)) < 0.2
    pos[0] = False  # a user without targets is not counted
    blocked = (rng.random((n_users, n_cand)) < 0.2) & ~pos
    cold_cols = np.zeros(n_cand, dtype=bool)
    cold_cols[-4:] = True  # hidden items are left out of the band's ranking
    tag = np.array([0, 1, 1, 2, 1, 0, 1, 2, 1])
    w = np.array([0.5, 1.0, 0.2])
    blocks = [(tag[:5], scaled[:5], pos[:5], blocked[:5], cold_cols),
              (tag[5:], scaled[5:], pos[5:], blocked[5:], cold_cols)]  # fmt: skip

    def brute(band):
        values = []
        for u in np.flatnonzero(tag == band):
            z = (w[:, None] * scaled[u]).sum(axis=0)[~cold_cols]
            p, b = pos[u][~cold_cols], blocked[u][~cold_cols]
            if not p.any():
                continue
            order = [c for c in np.argsort(-z, kind="stable") if not b[c]][:10]
            dcg = sum(1.0 / np.log2(r + 2) for r, c in enumerate(order) if p[c])
            idcg = sum(1.0 / np.log2(r + 2) for r in range(min(p.sum(), 10)))
            values.append(dcg / idcg)
        return float(np.mean(values))

    for band in (0, 1, 2):
        assert _band_ndcg(blocks, band, w) == pytest.approx(brute(band), rel=1e-6)
    assert _band_ndcg(blocks, 4, w) == 0.0  # a band without users
