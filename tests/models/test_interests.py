"""Interests (issue 15 item 1): ``model.interests`` read from the customers' profiles, and
stated interests of new customers (``recommend_new_users(interests=...)``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featcf
from featcf import Dataset, FeatureCF, ItemKNN, Popularity
from featcf.exceptions import UnknownIdError
from featcf.models import UnsupportedProtocolError
from featcf.models.feature_cf._interests import STATED_WEIGHT, with_stated

#: internal words no reason may contain (term names and model vocabulary)
INTERNAL = ("content", "ease", "user_cf", "lift", "prior", "baseline", "neighbour", "profile")


@pytest.fixture
def plain(tiny_frames) -> Dataset:
    """The tiny shop without user features (the profiles' prior is the global profile)."""
    inter, items, _ = tiny_frames
    return Dataset.from_frames(inter, items, user_col="user", item_col="item")


def _only(frame: pd.DataFrame, user: str, field: str) -> list[tuple[str, float, int]]:
    rows = frame[(frame["user_id"] == user) & (frame["field"] == field)]
    return list(zip(rows["value"], rows["strength"].round(6), rows["rank"], strict=True))


# ------------------------------------------------------------------- interests, hand-checked
def test_interests_without_shrinkage_by_hand(tiny):
    # category over the 11 interactions: car 5, home 2, travel 4; u1 has car 2, home 1.
    # coverage: basic 6, premium 5; u1 has basic 2, premium 1.
    found = Popularity().fit(tiny).interests(["u1"], top=3)
    assert _only(found, "u1", "category") == [
        ("home", round((1 / 3) / (2 / 11), 6), 1),  # 1.8333
        ("car", round((2 / 3) / (5 / 11), 6), 2),  # 1.4667
    ]
    assert _only(found, "u1", "coverage") == [("basic", round((2 / 3) / (6 / 11), 6), 1)]
    home = found[(found["field"] == "category") & (found["value"] == "home")]
    assert home["share"].iloc[0] == pytest.approx(1 / 3)
    assert list(found.columns) == ["user_id", "field", "value", "strength", "share", "rank"]


def test_feature_cf_interests_are_the_shrunk_profile_by_hand(plain):
    # profile_shrinkage 1, prior = global profile g: P = (counts + g) / (3 + 1) for u1
    model = FeatureCF(weights="uniform", profile_shrinkage=1.0, show_progress=False).fit(plain)
    found = model.interests("u1", top=2)
    g = {"car": 5 / 11, "home": 2 / 11, "travel": 4 / 11}
    p = {"car": (2 + g["car"]) / 4, "home": (1 + g["home"]) / 4}
    assert _only(found, "u1", "category") == [
        ("home", round(p["home"] / g["home"], 6), 1),  # 1.625: shrunk from 1.833
        ("car", round(p["car"] / g["car"], 6), 2),  # 1.35: shrunk from 1.467
    ]
    shares = found.loc[found["field"] == "category", "share"].to_numpy()
    np.testing.assert_allclose(shares, [p["home"], p["car"]])


def test_feature_cf_interests_read_the_fitted_profiles(tiny):
    # with user features the prior is borrowed from feature-space neighbours: the profiles
    # interests() reads are those the fit scored with (user_profiles_ is their log-lift)
    model = FeatureCF(n_neighbors=3, weights="uniform", show_progress=False).fit(tiny)
    found = model.interests(tiny.user_ids, top=10)
    g = model.global_profile_
    columns = {
        (f.name, v): f.start + j for f in tiny.item_fields.values() for j, v in enumerate(f.values)
    }
    for row in found.itertuples(index=False):
        col = columns[(row.field, row.value)]
        lift = model.user_profiles_[tiny.user_index(row.user_id), col]
        assert np.log((row.share + 1e-6) / (g[col] + 1e-6)) == pytest.approx(lift, abs=1e-5)
        assert row.strength == pytest.approx(row.share / g[col])
    assert {"u6", "u7"} <= set(found["user_id"])  # features only: their neighbours' interests


def test_interests_top_and_order(tiny):
    model = FeatureCF(n_neighbors=3, weights="uniform", show_progress=False).fit(tiny)
    found = model.interests(["u3", "u1", "u6"], top=1)
    assert found["rank"].eq(1).all()
    assert found.groupby(["user_id", "field"]).size().max() == 1
    assert list(pd.unique(found["user_id"])) == ["u3", "u1", "u6"]  # u6: features only
    full = model.interests(["u3", "u1", "u6"], top=10)
    assert (full["strength"] > 1).all()
    for _, group in full.groupby(["user_id", "field"]):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert group["strength"].is_monotonic_decreasing
    # top=1 keeps each (customer, field)'s strongest value
    best = full[full["rank"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(best, found)


def test_customer_without_interactions_has_no_rows_in_history_models(tiny):
    found = ItemKNN().fit(tiny).interests(["u6", "u1"])
    assert set(found["user_id"]) == {"u1"}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=25, unique=True
    ),
    top=st.integers(1, 4),
)
def test_history_interests_match_a_brute_force_reference(tiny_frames, pairs, top):
    _, items, _ = tiny_frames
    inter = pd.DataFrame(
        {"user": [f"u{u}" for u, _ in pairs], "item": [items["item"][i] for _, i in pairs]}
    )
    ds = Dataset.from_frames(
        inter, items, user_col="user", item_col="item", allow_mostly_cold_items=True
    )
    users = sorted(set(inter["user"]))
    found = Popularity().fit(ds).interests(users, top=top)
    joined = inter.merge(items, on="item")
    expected = []
    for user in users:
        for field in ("category", "coverage"):
            glob = joined[field].value_counts(normalize=True)
            own = joined.loc[joined["user"] == user, field].value_counts(normalize=True)
            strength = {v: own.get(v, 0.0) / glob[v] for v in sorted(glob.index)}
            ranked = sorted(
                ((v, s) for v, s in strength.items() if s > 1 + 1e-6), key=lambda t: -t[1]
            )
            expected += [(user, field, v, s, r + 1) for r, (v, s) in enumerate(ranked[:top])]
    got = list(found[["user_id", "field", "value", "strength", "rank"]].itertuples(index=False))
    assert [g[:3] + (g[4],) for g in got] == [e[:3] + (e[4],) for e in expected]
    np.testing.assert_allclose([g[3] for g in got], [e[3] for e in expected])


def test_interests_survive_save_and_load(tiny, tmp_path):
    model = FeatureCF(n_neighbors=3, weights="uniform", show_progress=False).fit(tiny)
    featcf.save(model, tmp_path / "m.npz")
    loaded = featcf.load(tmp_path / "m.npz")
    users = ["u1", "u3", "u6"]
    pd.testing.assert_frame_equal(loaded.interests(users), model.interests(users), rtol=1e-6)


# ------------------------------------------------------------------- interests, errors
def test_interests_errors(tiny, tiny_frames):
    model = Popularity().fit(tiny)
    with pytest.raises(UnknownIdError, match="user_ids") as info:
        model.interests(["u1", "nobody"])
    assert info.value.unknown_ids == ["nobody"]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="top"):
            model.interests("u1", top=bad)
    with pytest.raises(TypeError, match="top"):
        model.interests("u1", top="3")
    inter, _, _ = tiny_frames
    bare = Dataset.from_frames(inter, user_col="user", item_col="item")
    with pytest.raises(UnsupportedProtocolError, match="item_features"):
        Popularity().fit(bare).interests("u1")


# ------------------------------------------------------------------- stated interests
def _form(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "field", "value"])


def _content_model(plain: Dataset) -> FeatureCF:
    """Only the term ``content:category`` (given weight 1): a score is the category's
    log-lift of the profile over the global one, divided by the term's scale."""
    return FeatureCF(
        weights={"content:category": 1.0}, profile_shrinkage=1.0, show_progress=False
    ).fit(plain)


@pytest.mark.parametrize(
    ("history", "stated", "counts"),
    [
        ([], ["travel"], {}),
        ([], ["car", "travel"], {}),
        (["sku-10"], ["travel"], {"car": 1.0}),
    ],
)
def test_stated_interests_equal_a_reference_computation(plain, history, stated, counts):
    model = _content_model(plain)
    g = {"car": 5 / 11, "home": 2 / 11, "travel": 4 / 11}
    lam, n = 1.0, len(history)
    m = STATED_WEIGHT * lam
    lift = {}
    for value, share in g.items():
        said = (value in stated) / len(stated)
        p = (counts.get(value, 0.0) + lam * share + m * said) / (n + lam + m)
        lift[value] = np.log((p + 1e-6) / (share + 1e-6))
    form = _form([("new", "category", v) for v in stated])
    inter = pd.DataFrame({"user": ["new"] * n, "item": history}) if history else None
    recs = model.recommend_new_users(inter, interests=form, n=6, exclude_seen=False)
    scale = model.term_scale_[model.term_names_.index("content:category")]
    category = plain.item_frame["category"]
    expected = {item: lift[category[item]] / scale for item in plain.item_ids}
    got = dict(zip(recs["item_id"], recs["score"], strict=True))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_with_stated_spreads_a_field_evenly_and_leaves_the_rest(plain):
    profiles = np.full((2, 4), 0.25)
    stated = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    out = with_stated(profiles, stated, (slice(0, 2), slice(2, 4)), np.array([2.0, 0.0]), 5.0)
    m = STATED_WEIGHT * 5.0
    np.testing.assert_allclose(out[0, :2], [(7 * 0.25 + m) / (7 + m), 7 * 0.25 / (7 + m)])
    np.testing.assert_allclose(out[0, 2:], [(7 * 0.25 + m) / (7 + m), 7 * 0.25 / (7 + m)])
    np.testing.assert_allclose(out[1], profiles[1])  # nothing stated: unchanged


def test_stated_interests_with_features_and_interactions_together(tiny):
    model = FeatureCF(n_neighbors=3, random_state=0, show_progress=False).fit(tiny)
    form = _form([("n1", "category", "travel"), ("n3", "coverage", "premium")])
    inter = pd.DataFrame({"user": ["n2"], "item": ["sku-10"]})
    feats = pd.DataFrame({"user": ["n1"], "region": ["north"], "household": ["family"]})
    recs = model.recommend_new_users(inter, feats, n=2, interests=form)
    # interactions first, then features only, then interests only
    assert list(pd.unique(recs["user_id"])) == ["n2", "n1", "n3"]
    # the low-level counterpart gives the same scores
    stated = sp.csr_matrix(
        ([1.0], ([0], [tiny.item_features.fields["category"].start + 2])),
        shape=(1, tiny.item_features.n_columns),
    )
    features = tiny.encode_users(feats).matrix
    scores = model.score_new_users(None, features, interests=stated)
    n1 = recs[recs["user_id"] == "n1"]
    top = scores[0, tiny.item_index(n1["item_id"].tolist())]
    np.testing.assert_allclose(top, n1["score"], rtol=1e-6)
    # stating an interest changes the ranking towards it
    plain_scores = model.score_new_users(None, features)
    travel = np.flatnonzero(tiny.item_frame["category"].reindex(tiny.item_ids) == "travel")
    assert (scores[0, travel] - plain_scores[0, travel]).min() > 0


def test_stated_reasons_read_in_plain_language(tiny):
    model = FeatureCF(n_neighbors=3, random_state=0, show_progress=False).fit(tiny)
    form = _form([("n1", "category", "travel"), ("n1", "coverage", "premium")])
    recs = model.recommend_new_users(interests=form, n=6, reasons=True)
    reasons = recs.set_index("item_id")["reason"]
    # sku-40 is travel and premium: both stated, named together or the larger one
    assert reasons["sku-40"].startswith("you told us you like "), reasons["sku-40"]
    assert "travel" in reasons["sku-40"] or "premium" in reasons["sku-40"]
    assert "premium" not in reasons["sku-10"]  # car, basic: nothing stated about it
    for reason in reasons:
        assert not any(word in reason for word in INTERNAL), reason
    parts = model.explain_new_user("sku-50", interests=form)
    assert "you told us you like travel" in set(parts["label"])
    assert parts["contribution"].sum() == pytest.approx(
        recs.set_index("item_id")["score"]["sku-50"], rel=1e-5
    )


def test_stated_interest_errors(tiny):
    model = FeatureCF(n_neighbors=3, weights="uniform", show_progress=False).fit(tiny)
    with pytest.raises(ValueError, match=r"unknown item field.*\['category', 'coverage'\]"):
        model.recommend_new_users(interests=_form([("n1", "colour", "red")]))
    with pytest.raises(ValueError, match=r"'space'.*\['car', 'home', 'travel'\]"):
        model.recommend_new_users(interests=_form([("n1", "category", "space")]))
    with pytest.raises(ValueError, match="missing column"):
        model.recommend_new_users(interests=pd.DataFrame({"user": ["n1"], "field": ["x"]}))
    with pytest.raises(TypeError, match="interests must be a pandas DataFrame"):
        model.recommend_new_users(interests=[("n1", "category", "car")])
    with pytest.raises(ValueError, match="fitted on"):
        model.recommend_new_users(interests=_form([("u1", "category", "car")]))
    with pytest.raises(ValueError, match="columns"):
        model.score_new_users(interests=sp.csr_matrix((1, 3)))
    with pytest.raises(TypeError, match="sparse"):
        model.score_new_users(interests=np.ones((1, tiny.item_features.n_columns)))
    for other in (ItemKNN(), Popularity()):
        other.fit(tiny)
        with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
            other.recommend_new_users(interests=_form([("n1", "category", "car")]))
        with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
            other.score_new_users(interests=sp.csr_matrix((1, tiny.item_features.n_columns)))
