"""Business rules at query time and withdrawn items (issue 16 item 3).

A small shop whose popularity ranking is known by hand: item counts sku-10: 5, sku-30: 4,
sku-50: 3, sku-20: 2, sku-40: 1, sku-60: 0 (a product nobody holds yet).

====== ======== ======== ======= ============
item   category segment  premium channels
====== ======== ======== ======= ============
sku-10 travel   family   10      web, phone
sku-20 travel   private  20      web
sku-30 home     family   30      phone
sku-40 home     business 30      branch
sku-50 car      family   50      web, branch
sku-60 car      private  50      phone, branch
====== ======== ======== ======= ============

u1 holds sku-10; u2 sku-10, 30; u3 sku-10, 30, 50; u4 sku-10, 30, 50, 20; u5 all but sku-60.
The premium has five distinct values, so each is its own band.

Every model class is checked against the same reference: a ruled recommendation is the
model's own unfiltered ranking (every unseen item) with the items the rule removes taken out,
cut at ``n``; the items each rule removes are written out by hand below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featcf
from estimators import CLASSES, quick
from featcf import Dataset, UnknownIdError
from featcf.models import UnsupportedProtocolError

ITEMS = ["sku-10", "sku-30", "sku-50", "sku-20", "sku-40", "sku-60"]  # catalogue order
HOLDINGS = {
    "u1": ["sku-10"],
    "u2": ["sku-10", "sku-30"],
    "u3": ["sku-10", "sku-30", "sku-50"],
    "u4": ["sku-10", "sku-30", "sku-50", "sku-20"],
    "u5": ["sku-10", "sku-30", "sku-50", "sku-20", "sku-40"],
}
CATEGORY = {"sku-10": "travel", "sku-20": "travel", "sku-30": "home", "sku-40": "home"}
CATEGORY |= {"sku-50": "car", "sku-60": "car"}

#: rule -> the items it lets through, by hand (for u1, who holds a travel product)
ALLOWED_FOR_U1 = [
    ({"where": {"category": "home"}}, {"sku-30", "sku-40"}),
    ({"where": {"category": ["home", "car"], "segment": "family"}}, {"sku-30", "sku-50"}),
    ({"where": {"channels": "branch"}}, {"sku-40", "sku-50", "sku-60"}),
    ({"where": {"channels": ["web", "phone"]}}, {"sku-10", "sku-20", "sku-30", "sku-50", "sku-60"}),
    ({"where": {"premium": (25, 45)}}, {"sku-30", "sku-40"}),
    ({"where": {"premium": (None, 20)}}, {"sku-10", "sku-20"}),
    ({"where": {"premium": (50.0, None)}}, {"sku-50", "sku-60"}),
    ({"exclude_items": ["sku-30", "sku-60"]}, {"sku-10", "sku-20", "sku-40", "sku-50"}),
    ({"items": ["sku-20", "sku-40"]}, {"sku-20", "sku-40"}),
    ({"exclude_owned_fields": "category"}, {"sku-30", "sku-40", "sku-50", "sku-60"}),
    ({"exclude_owned_fields": ["segment"]}, {"sku-20", "sku-40", "sku-60"}),
    (
        {"where": {"category": ["home", "car"]}, "exclude_items": "sku-30"},
        {"sku-40", "sku-50", "sku-60"},
    ),
]


@pytest.fixture(scope="module")
def shop() -> Dataset:
    users = [u for u, held in HOLDINGS.items() for _ in held]
    inter = pd.DataFrame({"user": users, "item": sum(HOLDINGS.values(), [])})
    items = pd.DataFrame(
        {
            "item": ["sku-10", "sku-20", "sku-30", "sku-40", "sku-50", "sku-60"],
            "category": ["travel", "travel", "home", "home", "car", "car"],
            "segment": ["family", "private", "family", "business", "family", "private"],
            "premium": [10.0, 20.0, 30.0, 30.0, 50.0, 50.0],
            "channels": ["web|phone", "web", "phone", "branch", "web|branch", "phone|branch"],
        }
    )
    ds = Dataset.from_frames(
        inter, items, user_col="user", item_col="item", item_fields={"channels": "multi"}
    )
    assert ds.item_ids.tolist() == ITEMS
    return ds


_FITTED: dict[str, featcf.models.BaseRecommender] = {}


def fitted(name: str, shop: Dataset) -> featcf.models.BaseRecommender:
    """A model of class ``name`` fitted on the shop once per module (queries only read it)."""
    if name not in _FITTED:
        _FITTED[name] = quick(name).fit(shop)
    return _FITTED[name]


def ranking(frame: pd.DataFrame, user: str) -> list[str]:
    return frame.loc[frame["user_id"] == user, "item_id"].tolist()


def reference(model, user: str, allowed: set[str], n: int, **kwargs) -> list[str]:
    """The unfiltered ranking of every unseen item, with the disallowed items taken out."""
    full = ranking(model.recommend([user], n=len(ITEMS), **kwargs), user)
    return [item for item in full if item in allowed][:n]


# --------------------------------------------------------------------------- hand-checked
def test_popularity_by_hand(shop):
    model = featcf.Popularity().fit(shop)

    def top(user="u1", **rules):
        return ranking(model.recommend([user], n=4, **rules), user)

    assert top() == ["sku-30", "sku-50", "sku-20", "sku-40"]
    assert top(where={"category": "home"}) == ["sku-30", "sku-40"]
    assert top(where={"channels": "branch"}) == ["sku-50", "sku-40", "sku-60"]
    assert top(where={"premium": (25, 45)}) == ["sku-30", "sku-40"]
    assert top(exclude_items=["sku-30"]) == ["sku-50", "sku-20", "sku-40", "sku-60"]
    assert top(exclude_owned_fields="category") == ["sku-30", "sku-50", "sku-40", "sku-60"]
    # u3 holds travel, home and car products: nothing is left to offer
    assert top("u3", exclude_owned_fields="category") == []
    assert top("u3", exclude_owned_fields="segment") == ["sku-20", "sku-40", "sku-60"]
    # numeric fields: the same band (u2's sku-30 costs 30, as sku-40 does)
    assert top("u2", exclude_owned_fields="premium") == ["sku-50", "sku-20", "sku-60"]
    # the audience of sku-40: u5 has it; u2-u4 hold another home product
    audience = model.recommend_users("sku-40", n=5, exclude_owned_fields="category")
    assert audience["user_id"].tolist() == ["u1"]
    assert model.recommend_users("sku-40", n=5)["user_id"].tolist() == ["u1", "u2", "u3", "u4"]
    assert model.recommend_users("sku-40", where={"category": "car"}).empty


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize(("rules", "allowed"), ALLOWED_FOR_U1)
def test_each_rule_on_every_model(name, rules, allowed, shop):
    model = fitted(name, shop)
    for n in (1, 3, 6):
        got = ranking(model.recommend(["u1"], n=n, **rules), "u1")
        assert got == reference(model, "u1", allowed, n), (n, rules)
        assert set(got) <= allowed and "sku-10" not in got


@pytest.mark.parametrize("name", CLASSES)
def test_owned_fields_per_customer(name, shop):
    model = fitted(name, shop)
    users = list(HOLDINGS)
    got = model.recommend(users, n=6, exclude_owned_fields="category")
    for user in users:
        owned = {CATEGORY[i] for i in HOLDINGS[user]}
        allowed = {i for i in ITEMS if CATEGORY[i] not in owned}
        assert ranking(got, user) == reference(model, user, allowed, 6), user
    # exclude_seen=False still leaves out the owned categories (and so the items held)
    got = model.recommend(["u1"], n=6, exclude_seen=False, exclude_owned_fields="category")
    full = ranking(model.recommend(["u1"], n=6, exclude_seen=False), "u1")
    assert ranking(got, "u1") == [i for i in full if CATEGORY[i] != "travel"]


@pytest.mark.parametrize("name", CLASSES)
def test_the_forms_of_where_agree(name, shop):
    model = fitted(name, shop)
    home = np.array([CATEGORY[i] == "home" for i in ITEMS])
    expected = model.recommend(["u1", "u2"], n=3, where={"category": "home"})
    series = pd.Series(home, index=ITEMS)[::-1]  # any order of the ids
    for where in (home, series, lambda frame: frame["category"] == "home"):
        pd.testing.assert_frame_equal(model.recommend(["u1", "u2"], n=3, where=where), expected)


@pytest.mark.parametrize("name", CLASSES)
def test_rules_on_new_users(name, shop):
    model = fitted(name, shop)
    guest = pd.DataFrame({"user": ["guest"], "item": ["sku-20"]})
    try:
        full = model.recommend_new_users(guest, n=6)
    except UnsupportedProtocolError:
        pytest.skip(f"{name} does not serve new users")
    full_list = full["item_id"].tolist()
    got = model.recommend_new_users(guest, n=2, where={"channels": ["phone", "branch"]})
    allowed = {"sku-10", "sku-30", "sku-40", "sku-50", "sku-60"}
    assert got["item_id"].tolist() == [i for i in full_list if i in allowed][:2]
    got = model.recommend_new_users(guest, n=6, exclude_owned_fields="category")
    assert got["item_id"].tolist() == [i for i in full_list if CATEGORY[i] != "travel"]
    got = model.recommend_new_users(guest, n=6, exclude_items=["sku-30"])
    assert got["item_id"].tolist() == [i for i in full_list if i != "sku-30"]


@pytest.mark.parametrize("name", CLASSES)
def test_rules_on_audiences(name, shop):
    model = fitted(name, shop)
    full = model.recommend_users(["sku-40", "sku-60"], n=None)
    got = model.recommend_users(["sku-40", "sku-60"], n=None, exclude_owned_fields="category")
    for item in ("sku-40", "sku-60"):
        owners = {u for u, held in HOLDINGS.items() if CATEGORY[item] in map(CATEGORY.get, held)}
        want = [u for u in full.loc[full["item_id"] == item, "user_id"] if u not in owners]
        assert got.loc[got["item_id"] == item, "user_id"].tolist() == want
    # where: a product it does not let through gets no rows; the others are unchanged
    got = model.recommend_users(["sku-40", "sku-60"], n=None, where={"category": "car"})
    pd.testing.assert_frame_equal(
        got, full[full["item_id"] == "sku-60"].reset_index(drop=True), check_dtype=False
    )


# --------------------------------------------------------------------------- withdraw
@pytest.mark.parametrize("name", CLASSES)
def test_withdrawn_items_are_never_offered(name, shop, tmp_path):
    model = quick(name).fit(shop)
    before = model.recommend(list(HOLDINGS), n=6)
    assert model.withdrawn_items_.tolist() == []
    assert model.withdraw(["sku-50", "sku-40"]) is model
    model.withdraw("sku-50")  # twice is harmless
    assert model.withdrawn_items_.tolist() == ["sku-50", "sku-40"]  # catalogue order
    after = model.recommend(list(HOLDINGS), n=6)
    for user in HOLDINGS:
        want = [i for i in ranking(before, user) if i not in ("sku-50", "sku-40")]
        assert ranking(after, user) == want
    assert "sku-50" not in model.recommend(["u1"], n=6, items=["sku-50", "sku-60"])["item_id"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", featcf.ColdStartWarning)
        fallback = model.recommend(["stranger"], n=6, on_unknown="popular")
    assert set(fallback["item_id"]).isdisjoint({"sku-50", "sku-40"})
    guest = pd.DataFrame({"user": ["guest"], "item": ["sku-20"]})
    try:
        new = model.recommend_new_users(guest, n=6)
    except UnsupportedProtocolError:
        pass
    else:
        assert set(new["item_id"]).isdisjoint({"sku-50", "sku-40"})
    with pytest.raises(ValueError, match=r"withdrawn item.*sku-40.*reinstate"):
        model.recommend_users(["sku-60", "sku-40"])
    assert np.isfinite(model.predict(["u1"], ["sku-50"])).all()  # still scored
    # saved and loaded: the same withdrawn set, the same answers
    model.save(tmp_path / "m.npz")
    loaded = featcf.load(tmp_path / "m.npz")
    assert loaded.withdrawn_items_.tolist() == ["sku-50", "sku-40"]
    pd.testing.assert_frame_equal(loaded.recommend(list(HOLDINGS), n=6), after)
    # reinstate undoes it; a refit starts with nothing withdrawn
    model.reinstate(["sku-40", "sku-50", "sku-60"])
    assert model.withdrawn_items_.tolist() == []
    pd.testing.assert_frame_equal(model.recommend(list(HOLDINGS), n=6), before)
    loaded.fit(shop)
    assert loaded.withdrawn_items_.tolist() == []


def test_withdraw_refuses_unknown_ids(shop):
    model = featcf.Popularity().fit(shop)
    with pytest.raises(UnknownIdError, match="sku-99"):
        model.withdraw(["sku-10", "sku-99"])
    with pytest.raises(UnknownIdError, match="sku-99"):
        model.reinstate("sku-99")
    assert model.withdrawn_items_.size == 0
    with pytest.raises(featcf.NotFittedError):
        featcf.Popularity().withdraw("sku-10")


def test_withdrawn_items_survive_add_items(shop):
    model = quick("ContentKNN").fit(shop)
    model.withdraw("sku-30")
    new = pd.DataFrame(
        {"item": ["sku-70"], "category": ["home"], "segment": ["family"], "premium": [35.0],
         "channels": ["phone"]}
    )  # fmt: skip
    model.add_items(new)
    assert model.withdrawn_items_.tolist() == ["sku-30"]
    got = model.recommend(["u1"], n=7, where={"category": "home"})["item_id"].tolist()
    assert sorted(got) == ["sku-40", "sku-70"]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("rules", "error", "message"),
    [
        ({"where": {"colour": "red"}}, ValueError, r"'colour'.*item fields are \['category'"),
        ({"where": {"category": "boat"}}, ValueError, r"where\['category'\].*boat.*'car', 'home'"),
        ({"where": {"category": []}}, ValueError, r"where\['category'\] lists no value"),
        ({"where": {}}, ValueError, "empty mapping"),
        ({"where": {"premium": 30}}, ValueError, r"numeric field.*\(low, high\)"),
        ({"where": {"premium": (40, 30)}}, ValueError, "low end is above"),
        ({"where": np.ones(4, dtype=bool)}, ValueError, r"4 values.*one per catalogue item \(6"),
        ({"where": np.ones(6, dtype=int)}, TypeError, r"boolean mask.*items= or exclude_items="),
        ({"where": "category"}, TypeError, "where must be a mapping"),
        (
            {"where": pd.Series([True] * 5, index=ITEMS[:5])},
            ValueError,
            r"no value for 1 catalogue item.*sku-60",
        ),
        (
            {"where": pd.Series([True] * 7, index=[*ITEMS, "sku-99"])},
            UnknownIdError,
            r"sku-99",
        ),
        ({"where": pd.Series([1] * 6, index=ITEMS)}, TypeError, "boolean Series"),
        ({"where": lambda frame: frame["premium"]}, TypeError, r"result of where\(item_frame\)"),
        ({"where": lambda frame: np.ones(3, bool)}, ValueError, r"result of where\(item_frame\)"),
        ({"exclude_items": ["sku-99"]}, UnknownIdError, r"in exclude_items.*sku-99"),
        ({"items": ["sku-99"]}, UnknownIdError, r"in items.*sku-99"),
        ({"exclude_owned_fields": "colour"}, ValueError, r"exclude_owned_fields names 'colour'"),
        ({"exclude_owned_fields": []}, ValueError, "exclude_owned_fields is empty"),
    ],
)
def test_bad_rules_are_refused_clearly(rules, error, message, shop):
    model = fitted("ItemKNN", shop)
    with pytest.raises(error, match=message):
        model.recommend(["u1"], n=3, **rules)
    guest = pd.DataFrame({"user": ["guest"], "item": ["sku-20"]})
    with pytest.raises(error, match=message):
        model.recommend_new_users(guest, n=3, **rules)
    audience_rules = {k: v for k, v in rules.items() if k not in ("items", "exclude_items")}
    if audience_rules:
        with pytest.raises(error, match=message):
            model.recommend_users("sku-60", **audience_rules)


@pytest.mark.parametrize("name", CLASSES)
def test_rules_that_allow_nothing_give_no_rows(name, shop):
    model = fitted(name, shop)
    assert model.recommend(["u1", "u2"], n=3, where=np.zeros(len(ITEMS), bool)).empty
    assert model.recommend(["u1"], n=3, items=[]).empty
    assert model.recommend(["u1"], n=3, items=["sku-30"], exclude_items=["sku-30"]).empty
    assert model.recommend_users(["sku-60"], where=np.zeros(len(ITEMS), bool)).empty


def test_field_rules_need_item_features():
    inter = pd.DataFrame({"user": ["u1", "u2", "u2"], "item": ["sku-1", "sku-1", "sku-2"]})
    model = featcf.Popularity().fit(Dataset.from_frames(inter, user_col="user", item_col="item"))
    with pytest.raises(ValueError, match="no item features; pass a boolean mask"):
        model.recommend(["u1"], where={"category": "home"})
    with pytest.raises(ValueError, match="no item features"):
        model.recommend(["u1"], where=lambda frame: frame["category"] == "home")
    with pytest.raises(ValueError, match="no item features"):
        model.recommend(["u1"], exclude_owned_fields="category")
    got = model.recommend(["u1"], where=np.array([False, True]))
    assert got["item_id"].tolist() == ["sku-2"]


# --------------------------------------------------------------------------- property
@pytest.mark.parametrize("name", ["ItemKNN", "FeatureCF", "UserKNN"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mask=st.lists(st.booleans(), min_size=len(ITEMS), max_size=len(ITEMS)),
    excluded=st.sets(st.sampled_from(ITEMS), max_size=3),
    owned=st.sampled_from([None, "category", "segment", "channels", ["category", "premium"]]),
    n=st.integers(1, 6),
    exclude_seen=st.booleans(),
)
def test_ruled_ranking_is_the_filtered_full_ranking(
    name, shop, mask, excluded, owned, n, exclude_seen
):
    model = fitted(name, shop)
    fields = shop.item_fields
    values = shop.item_features.matrix
    users = list(HOLDINGS)
    got = model.recommend(
        users,
        n=n,
        exclude_seen=exclude_seen,
        where=np.array(mask),
        exclude_items=sorted(excluded) or None,
        exclude_owned_fields=owned,
    )
    full = model.recommend(users, n=len(ITEMS), exclude_seen=exclude_seen)
    names = [] if owned is None else [owned] if isinstance(owned, str) else owned
    for user in users:
        held = shop.item_index(HOLDINGS[user])
        allowed = set()
        for position, item in enumerate(ITEMS):
            if not mask[position] or item in excluded:
                continue
            shares = any(
                (values[held][:, fields[f].columns].toarray().any(axis=0)
                 & values[position, fields[f].columns].toarray().ravel().astype(bool)).any()
                for f in names
            )  # fmt: skip
            if not shares:
                allowed.add(item)
        want = [i for i in ranking(full, user) if i in allowed][:n]
        assert ranking(got, user) == want
        scores = got.loc[got["user_id"] == user, "score"].to_numpy()
        full_scores = full.set_index(["user_id", "item_id"])["score"]
        np.testing.assert_allclose(
            scores, [full_scores[(user, i)] for i in want], rtol=1e-5, atol=1e-6
        )
