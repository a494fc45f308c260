"""The behaviour every estimator shares, run against each model in featcf.models.

Each model either serves a protocol or raises UnsupportedProtocolError naming an alternative:
never a silent constant.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import featcf
from featcf import ColdStartWarning, ModelFormatError, NotFittedError, UnknownIdError
from featcf.models import BaseRecommender, UnsupportedProtocolError

# Small, fast settings; anything not listed uses the defaults.
FAST_PARAMS = {
    "ALS": {"factors": 8, "iterations": 3},
    "FeatureCF": {"show_progress": False},
}


def _estimators():
    out = []
    for name in featcf.models.__all__:
        cls = getattr(featcf.models, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, BaseRecommender)
            and cls is not BaseRecommender
        ):
            out.append(name)
    return out


ESTIMATORS = _estimators()


def make(name: str) -> BaseRecommender:
    model = getattr(featcf.models, name)()
    params = dict(FAST_PARAMS.get(name, {}))
    available = model.get_params()
    for key in ("random_state", "show_progress"):
        if key in available:
            params.setdefault(key, 0 if key == "random_state" else False)
    return model.set_params(**{k: v for k, v in params.items() if k in available})


@pytest.fixture(params=ESTIMATORS)
def name(request):
    return request.param


@pytest.fixture
def fitted(name, shop):
    return make(name).fit(shop)


def warm_users(shop, n=5):
    return shop.user_ids[shop.user_counts() > 0][:n]


def test_fit_returns_self_and_params_round_trip(name, shop):
    model = make(name)
    assert model.fit(shop) is model
    params = model.get_params()
    again = clone(model)
    assert again.get_params() == params
    assert "dataset_" not in again.__dict__
    with pytest.raises(NotFittedError, match="fit"):
        again.recommend(shop.user_ids[:1])


def test_fit_rejects_non_dataset(name):
    with pytest.raises(TypeError, match="dataset must be a featcf.Dataset"):
        make(name).fit(np.eye(3))


def test_recommend_frame(fitted, shop):
    users = warm_users(shop)
    recs = fitted.recommend(users, n=4)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    assert recs["user_id"].drop_duplicates().tolist() == list(users)
    for user, group in recs.groupby("user_id", sort=False):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert (np.diff(group["score"].to_numpy()) <= 1e-6).all()
        seen = set(shop.item_ids[shop.interactions[shop.user_index(user)].indices])
        assert not seen & set(group["item_id"])
        assert len(group) == 4
    # the scores are the model's own predictions
    np.testing.assert_allclose(
        recs["score"], fitted.predict(recs["user_id"], recs["item_id"]), rtol=1e-5, atol=1e-6
    )


def test_refit_is_deterministic(name, shop):
    users = warm_users(shop)
    first = make(name).fit(shop).recommend(users, n=5)
    second = make(name).fit(shop).recommend(users, n=5)
    pd.testing.assert_frame_equal(first, second)


def test_no_padding_when_fewer_candidates(fitted, shop):
    user = warm_users(shop, 1)
    seen = set(shop.item_ids[shop.interactions[shop.user_index(user[0])].indices])
    candidates = [i for i in shop.item_ids if i not in seen][:2]
    recs = fitted.recommend(user, n=10, items=candidates)
    assert sorted(recs["item_id"]) == sorted(candidates)


def test_bad_n(fitted, shop):
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            fitted.recommend(shop.user_ids[:1], n=bad)
    with pytest.raises(TypeError, match="n must be a positive integer"):
        fitted.recommend(shop.user_ids[:1], n=2.5)


def test_unknown_user_policies(fitted, shop):
    users = [shop.user_ids[0], "nobody-1"]
    with pytest.raises(UnknownIdError, match="nobody-1"):
        fitted.recommend(users)
    dropped = fitted.recommend(users, n=3, on_unknown="drop")
    assert set(dropped["user_id"]) == {shop.user_ids[0]}
    with pytest.warns(ColdStartWarning, match="nobody-1"):
        popular = fitted.recommend(users, n=3, on_unknown="popular")
    assert popular["user_id"].drop_duplicates().tolist() == users
    with pytest.raises(ValueError, match="on_unknown"):
        fitted.recommend(users, on_unknown="ignore")


def test_popular_fallback_keeps_one_score_scale(fitted, shop):
    """Issue 17: the fallback rows do not mix popularity counts into the model's scores."""
    users = [shop.user_ids[0], "nobody-1"]
    with pytest.warns(ColdStartWarning, match="score NaN"):
        recs = fitted.recommend(users, n=3, on_unknown="popular")
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank", "source"]
    model_rows = recs[recs["user_id"] == users[0]]
    fallback = recs[recs["user_id"] == "nobody-1"]
    assert (model_rows["source"] == "model").all() and (fallback["source"] == "popular").all()
    pd.testing.assert_frame_equal(
        model_rows.drop(columns="source"), fitted.recommend(users[:1], n=3)
    )
    assert fallback["score"].isna().all()
    assert fallback["rank"].tolist() == [1, 2, 3]
    counts = shop.item_counts()[shop.item_index(fallback["item_id"].tolist())]
    assert (np.diff(counts) <= 0).all()  # ranked by popularity
    # the column is there whether or not an id was unknown
    every_known = fitted.recommend(users[:1], n=3, on_unknown="popular")
    assert (every_known["source"] == "model").all()


def test_unknown_item_in_predict(fitted, shop):
    with pytest.raises(UnknownIdError, match="sku-unknown"):
        fitted.predict([shop.user_ids[0]], ["sku-unknown"])


def test_new_user_with_history(fitted, shop):
    cols = shop.columns
    history = pd.DataFrame(
        {cols["user"]: ["guest-1", "guest-1", "guest-2"], cols["item"]: shop.item_ids[[0, 1, 2]]}
    )
    if cols.get("weight"):
        history[cols["weight"]] = 1.0
    if not fitted.handles_new_users_with_history:
        with pytest.raises(UnsupportedProtocolError):
            fitted.recommend_new_users(history, n=3)
        return
    recs = fitted.recommend_new_users(history, n=3)
    assert recs["user_id"].drop_duplicates().tolist() == ["guest-1", "guest-2"]
    assert not set(recs.loc[recs["user_id"] == "guest-1", "item_id"]) & set(shop.item_ids[[0, 1]])


def test_new_user_with_demographics_only(fitted, shop):
    frame = shop.user_frame.reset_index().iloc[:2].copy()
    frame[shop.columns["user"]] = ["walk-in-1", "walk-in-2"]
    if not fitted.handles_new_users_with_features:
        with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
            fitted.recommend_new_users(user_features=frame, n=3)
        return
    recs = fitted.recommend_new_users(user_features=frame, n=3)
    assert recs["user_id"].drop_duplicates().tolist() == ["walk-in-1", "walk-in-2"]


def test_new_users_refuse_fitted_ids(fitted, shop):
    """A fitted customer passed as new would lose their history: raise, saying what to use."""
    cols = shop.columns
    known = shop.user_ids[0]
    history = pd.DataFrame({cols["user"]: ["guest-1", known], cols["item"]: shop.item_ids[:2]})
    if cols.get("weight"):
        history[cols["weight"]] = 1.0
    advice = re.escape(f"model.recommend([{known!r}], n=...)")
    with pytest.raises(ValueError, match=rf"interactions\['{cols['user']}'\].*fitted on.*{advice}"):
        fitted.recommend_new_users(history, n=3)
    frame = shop.user_frame.reset_index().iloc[:2].copy()
    frame[cols["user"]] = ["walk-in-1", known]
    with pytest.raises(ValueError, match=rf"user_features\['{cols['user']}'\].*{advice}"):
        fitted.recommend_new_users(user_features=frame, n=3)


def test_new_item(fitted, shop):
    new = shop.item_frame.reset_index().iloc[:1].copy()
    new[shop.columns["item"]] = "P-NEW"
    if not fitted.handles_new_items:
        with pytest.raises(UnsupportedProtocolError, match="ContentKNN|FeatureCF"):
            fitted.add_items(new)
        return
    fitted.add_items(new)
    audience = fitted.recommend_users("P-NEW", n=5)
    assert len(audience) == 5 and (audience["item_id"] == "P-NEW").all()
    users = fitted.dataset_.user_index(audience["user_id"])
    scores = fitted.score_users(users, fitted.dataset_.item_index(["P-NEW"]), across="users")
    assert scores[:, 0].tolist() == pytest.approx(audience["score"].tolist(), rel=1e-5, abs=1e-6)


def test_audience_excludes_owners(fitted, shop):
    item = shop.item_ids[int(np.argmax(shop.item_counts()))]
    audience = fitted.recommend_users(item, n=20)
    owners = set(shop.user_ids[shop.interactions[:, shop.item_index(item)].nonzero()[0]])
    assert not owners & set(audience["user_id"])
    assert audience["rank"].tolist() == list(range(1, len(audience) + 1))


def test_explain_sums_to_score(fitted, shop):
    user = warm_users(shop, 1)[0]
    item = fitted.recommend([user], n=1)["item_id"].iloc[0]
    try:
        parts = fitted.explain(user, item)
    except UnsupportedProtocolError:
        return
    assert list(parts.columns) == ["part", "field", "value", "contribution", "label"]
    score = fitted.predict([user], [item])[0]
    assert parts["contribution"].sum() == pytest.approx(score, rel=1e-4, abs=1e-5)


def test_save_load_identical(fitted, shop, tmp_path):
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = featcf.load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    users = warm_users(shop)
    np.testing.assert_array_equal(
        loaded.score_users(shop.user_index(users)), fitted.score_users(shop.user_index(users))
    )
    pd.testing.assert_frame_equal(loaded.recommend(users, n=5), fitted.recommend(users, n=5))


def test_load_refuses_corrupt_and_foreign_files(fitted, tmp_path):
    path = tmp_path / "model.npz"
    fitted.save(path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFormatError):
        featcf.load(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(ModelFormatError, match="not a featcf model"):
        featcf.load(foreign)


def test_audience_of_everyone(fitted, shop):
    item = shop.item_ids[0]
    everyone = fitted.recommend_users(item, n=None, exclude_seen=False)
    assert len(everyone) == shop.n_users
    assert everyone["rank"].tolist() == list(range(1, shop.n_users + 1))


def test_explain_sums_to_score_for_cold_items(fitted, shop):
    # Found by the notebooks: explanations must add up for products without interactions too.
    if not fitted.handles_new_items:
        return
    user = warm_users(shop, 1)[0]
    for item in shop.item_ids[shop.item_counts() == 0]:
        try:
            parts = fitted.explain(user, item)
        except UnsupportedProtocolError:
            return
        score = fitted.predict([user], [item])[0]
        assert parts["contribution"].sum() == pytest.approx(score, rel=1e-4, abs=1e-5), item


def test_a_failed_refit_leaves_the_model_unfitted(shop):
    # issue 13: a refit that failed kept the new Dataset beside the previous fit's arrays
    model = featcf.ItemKNN().fit(shop)
    frame = pd.DataFrame({"u": ["a", "a", "b"], "i": ["x", "y", "x"]})
    implicit = featcf.Dataset.from_frames(frame, user_col="u", item_col="i")
    with pytest.raises(ValueError, match="graded interaction weights"):
        model.set_params(metric="pearson").fit(implicit)
    with pytest.raises(NotFittedError, match="fit"):
        model.recommend(shop.user_ids[:1])


def test_one_scoring_serves_both_directions_unless_audiences_have_weights(fitted, shop):
    """``across="users"`` gives ``_score_across``'s scores: those of ``_score`` for every
    model but FeatureCF, which ranks audiences with weights of its own."""
    users = shop.user_index(warm_users(shop, 20))
    across_users = fitted.score_users(users, across="users")
    if type(fitted).__name__ != "FeatureCF":
        np.testing.assert_array_equal(across_users, fitted.score_users(users))
    assert across_users.shape == (20, shop.n_items)
    with pytest.raises(ValueError, match="across must be one of 'items', 'users'; got 'rows'"):
        fitted.score_users(users, across="rows")
