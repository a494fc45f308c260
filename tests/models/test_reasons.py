"""Reasons a person can read (issue 12 item 5): ``reasons=True``, ``explain``'s labels and
``explain_new_user``, for every model that can explain."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from featcf import ALS, ContentKNN, Dataset, FeatureCF, ItemKNN, Popularity, UserKNN
from featcf.models import UnsupportedProtocolError
from featcf.models._reasons import (
    BASELINE,
    HISTORY,
    NO_REASON,
    STATED,
    compose,
    demographics_label,
    parts_frame,
)

#: internal words no reason may contain (besides the model's own term names)
INTERNAL = ("ease", "level", "lift", "prior", "baseline", "content_ridge", "neighbour")


def _fast(cls):
    if cls is FeatureCF:
        return FeatureCF(n_neighbors=20, random_state=0, show_progress=False)
    return cls()


# ----------------------------------------------------------------------------- compose


def test_compose_names_the_largest_positive_parts_and_leaves_out_constants():
    parts = pd.concat(
        [
            parts_frame([0, 0, 0, 0], ["a", "b", "c", BASELINE], [0.5, 2.0, -3.0, 9.0]),
            parts_frame([0], "popular with customers", [5.0], "item"),
            parts_frame([1], "a", [-1.0]),
            parts_frame([2, 2], [HISTORY + "X", HISTORY + "Y"], [1.0, 2.0]),
        ]
    )
    assert compose(parts, 4, skip="user").tolist() == [
        "popular with customers; b",
        NO_REASON,
        HISTORY + "Y and X",
        NO_REASON,
    ]
    # among one product's audience its popularity explains nothing
    assert compose(parts, 4, skip="item")[0] == "b; a"
    # the same label twice in one pair is added up before ranking
    twice = parts_frame([0, 0, 0], ["a", "a", "b"], [1.0, 1.0, 1.5])
    assert compose(twice, 1, skip="user")[0] == "a; b"


def test_numeric_bands_read_as_ranges_in_reasons():
    """A reason writes a numeric band "[a, b)" as "a to b" (four significant digits); other
    values, and the value columns of ``explain``, are as the Dataset spells them."""
    from featcf.models._reasons import field_label, readable_value

    assert readable_value("age = [57, 85]") == "age = 57 to 85"
    assert readable_value("[17.288, 30.166)") == "17.29 to 30.17"
    assert readable_value("income = [-3, 4)") == "income = -3 to 4"
    for plain in ("region = north", "premium = 8", "x = [a, b)", "tags = [online]"):
        assert readable_value(plain) == plain
    assert demographics_label(["age = [18, 32)", "region = north"]) == (
        "customers like you (age = 18 to 32, region = north) choose it"
    )
    assert field_label("premium", "[12, 17)") == "premium = 12 to 17 matches your purchases"


def test_compose_names_the_stated_interests_together():
    """What a customer said counts as one part: its values named together, largest first,
    ranked by their sum (here above popularity, which each value alone is not)."""
    parts = pd.concat(
        [
            parts_frame([0], "popular with customers", [1.42], "item"),
            parts_frame([0, 0, 0], [STATED + "travel", STATED + "family", "a"], [0.66, 0.81, 0.1]),
            parts_frame([1, 1], [STATED + "travel", "b"], [-0.2, 0.3]),
            parts_frame([2, 2], [STATED + "car", "b"], [0.2, 0.3]),
        ]
    )
    assert compose(parts, 3, skip="user").tolist() == [
        STATED + "family and travel; popular with customers",
        "b",
        "b; " + STATED + "car",
    ]


# ----------------------------------------------------------------------------- by hand


def test_hand_checked_reasons_on_tiny(tiny):
    model = FeatureCF(weights={"category": 1.0}, n_neighbors=3, random_state=0, show_progress=False)
    recs = model.fit(tiny).recommend(["u1"], n=3, reasons=True)
    reason = recs.set_index("item_id")["reason"]
    # u1 holds a home policy: the home product is offered for its category
    assert reason["sku-60"] == "category = home matches your purchases"

    content = ContentKNN().fit(tiny).recommend(["u1"], n=3, reasons=True)
    # sku-60 (home, premium) matches u1's sku-30 (home) and sku-20 (premium) equally
    assert content.set_index("item_id").loc["sku-60", "reason"] == (
        "category = home matches your purchases; coverage = premium matches your purchases"
    )

    item_knn = ItemKNN().fit(tiny)
    parts = item_knn.explain("u5", "sku-20")  # u5 holds sku-10 only, bought with sku-20
    assert parts["label"].tolist() == [HISTORY + "sku-10"]
    new = pd.DataFrame({"user": ["n1", "n1"], "item": ["sku-40", "sku-10"]})
    got = item_knn.recommend_new_users(interactions=new, n=6, reasons=True).set_index("item_id")
    assert got.loc["sku-50", "reason"] == HISTORY + "sku-40"
    assert got.loc["sku-20", "reason"] == HISTORY + "sku-10"

    users = UserKNN().fit(tiny).recommend(["u5"], n=2, reasons=True)
    assert set(users["reason"]) == {"customers with purchases like yours have it"}
    popular = Popularity().fit(tiny)
    assert set(popular.recommend(["u5"], n=2, reasons=True)["reason"]) == {"popular with customers"}
    # the same for every customer of a product: no reason for an audience
    assert set(popular.recommend_users("sku-10", n=2, reasons=True)["reason"]) == {NO_REASON}


def test_demographics_only_customer_is_explained_by_their_features(tiny):
    model = FeatureCF(
        weights={"demographics": 1.0}, n_neighbors=3, random_state=0, show_progress=False
    ).fit(tiny)
    feats = pd.DataFrame({"user": ["g1"], "region": ["south"], "household": ["single"]})
    recs = model.recommend_new_users(user_features=feats, n=2, reasons=True)
    # the singles of the south (u3, u4) hold the travel products
    (reason,) = set(recs["reason"])
    assert reason in {
        "customers like you (region = south, household = single) choose it",
        "customers like you (household = single, region = south) choose it",
    }
    assert recs["item_id"].tolist() == ["sku-40", "sku-50"]  # what the singles (u3, u4) hold
    parts = model.explain_new_user("sku-40", user_features=feats)
    assert parts["contribution"].sum() == pytest.approx(recs["score"].iloc[0], rel=1e-5)


def test_explain_new_user_sums_to_the_served_score(tiny):
    inter = pd.DataFrame({"user": ["n1", "n1"], "item": ["sku-10", "sku-60"]})
    feats = pd.DataFrame({"user": ["n1"], "region": ["north"], "household": ["family"]})
    model = FeatureCF(n_neighbors=3, random_state=0, show_progress=False).fit(tiny)
    recs = model.recommend_new_users(inter, feats, n=3, reasons=True)
    for row in recs.itertuples(index=False):
        parts = model.explain_new_user(row.item_id, interactions=inter, user_features=feats)
        assert list(parts.columns) == ["part", "field", "value", "contribution", "label"]
        assert parts["contribution"].sum() == pytest.approx(row.score, rel=1e-4, abs=1e-5)
    with pytest.raises(ValueError, match="one customer"):
        model.explain_new_user("sku-10", interactions=inter.assign(user=["n1", "n2"]))
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        ItemKNN().fit(tiny).explain_new_user("sku-10", user_features=feats)


def test_als_refuses_reasons_naming_a_model_that_can(tiny):
    model = ALS(factors=2, iterations=1, random_state=0, show_progress=False).fit(tiny)
    for call in (
        lambda: model.recommend(["u1"], n=2, reasons=True),
        lambda: model.recommend_users("sku-10", n=2, reasons=True),
        lambda: model.recommend_new_users(
            pd.DataFrame({"user": ["n"], "item": ["sku-10"]}), n=2, reasons=True
        ),
    ):
        with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
            call()


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("cls", [FeatureCF, ItemKNN, UserKNN, ContentKNN, Popularity])
def test_reason_names_the_largest_positive_part(cls, shop):
    model = _fast(cls).fit(shop)
    users = shop.user_ids[shop.user_counts() > 0][:12]
    recs = model.recommend(users, n=3, reasons=True)
    for row in recs.itertuples(index=False):
        parts = model.explain(row.user_id, row.item_id)
        totals = parts[parts["label"] != BASELINE].groupby("label")["contribution"].sum()
        if not (totals > 0).any():
            assert row.reason == NO_REASON
            continue
        top = str(totals.idxmax()).removeprefix(HISTORY)
        assert top in row.reason, (row.reason, totals.sort_values().tail(3))
        # the largest positive field value, when the item has one, is read as it is named
        fields = parts[(parts["part"].isin(["field", "content"])) & (parts["contribution"] > 0)]
        if len(fields) and fields["contribution"].max() == totals.max():
            best = fields.loc[fields["contribution"].idxmax()]
            assert f"{best['field']} = " in row.reason


# ----------------------------------------------------------------------------- every row


def _internal_words(model) -> set[str]:
    words = set(INTERNAL)
    if isinstance(model, FeatureCF):
        fields = set(model.dataset_.item_fields)
        # item field names are the Dataset's own words ("category = travel"); every other
        # term name is internal, "content:<field>" included
        words |= {t for t in model.term_names_ if t not in fields}
    return words


def _check_reasons(frame: pd.DataFrame, words: set[str]) -> None:
    assert "reason" in frame.columns and len(frame)
    reasons = frame["reason"]
    assert reasons.map(lambda r: isinstance(r, str) and r.strip() != "").all()
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words)) + r")\b")
    bad = reasons[reasons.str.contains(pattern)]
    assert bad.empty, bad.head().tolist()


def _every_call(model, dataset: Dataset) -> None:
    words = _internal_words(model)
    counts = dataset.user_counts()
    users = dataset.user_ids[counts > 0][:200]
    _check_reasons(model.recommend(users, n=10, reasons=True), words)
    popular_items = dataset.item_ids[np.argsort(-dataset.item_counts())[:3]]
    _check_reasons(model.recommend_users(popular_items, n=20, reasons=True), words)
    user_col, item_col = dataset.columns["user"], dataset.columns["item"]
    inter = dataset.to_frame()
    few = inter[inter[user_col].isin(users[:20])].groupby(user_col).head(2)
    few = few.assign(**{user_col: "new-" + few[user_col].astype(str)})[[user_col, item_col]]
    _check_reasons(model.recommend_new_users(interactions=few, n=10, reasons=True), words)
    if model.handles_new_users_with_features and dataset.user_frame is not None:
        feats = dataset.user_frame.reset_index().head(20)
        feats[user_col] = [f"demo-{k}" for k in range(len(feats))]
        _check_reasons(model.recommend_new_users(user_features=feats, n=10, reasons=True), words)


@pytest.mark.parametrize("cls", [FeatureCF, ItemKNN, UserKNN, ContentKNN, Popularity])
def test_every_row_has_a_readable_reason_on_the_shop(cls, shop):
    _every_call(_fast(cls).fit(shop), shop)


@pytest.fixture(scope="module", params=["movielens", "coil"])
def real_dataset(request, shared_data):
    from featcf.datasets import load_coil2000, load_movielens

    if request.param == "movielens":
        return load_movielens(shared_data / "ml-100k")
    return load_coil2000(shared_data / "coil2000")


@pytest.mark.realdata
def test_every_row_has_a_readable_reason_on_real_data(real_dataset):
    model = FeatureCF(random_state=0, show_progress=False).fit(real_dataset)
    _every_call(model, real_dataset)


def test_display_names_read_text_titles_of_either_dtype_and_the_saved_model_keeps_them(tmp_path):
    import featcf
    from featcf.models._reasons import item_display_names

    inter = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"],
                          "item": ["a", "b", "a", "c", "b"]})  # fmt: skip
    items = pd.DataFrame({"item": ["a", "b", "c"], "title": ["Alpha", "Beta", "Gamma"],
                          "kind": ["x", "y", "x"]})  # fmt: skip
    ds = Dataset.from_frames(inter, items, user_col="user", item_col="item")
    assert item_display_names(ds).tolist() == ["Alpha", "Beta", "Gamma"]
    ds.item_frame = ds.item_frame.astype({"title": "string"})  # as a loaded file holds it
    assert item_display_names(ds).tolist() == ["Alpha", "Beta", "Gamma"]
    model = ItemKNN(n_neighbors=2).fit(ds)
    model.save(tmp_path / "m.npz")
    loaded = featcf.load(tmp_path / "m.npz")
    assert loaded.explain("u1", "c")["label"].tolist() == model.explain("u1", "c")["label"].tolist()
