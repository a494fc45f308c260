"""announce: who to tell about a product, on small fixtures checked against recommend_users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featcf import ContentKNN, Dataset, UnknownIdError
from featcf.retention import announce


@pytest.fixture(scope="module")
def model(shop):
    return ContentKNN().fit(shop)


def _holders(dataset, item):
    column = dataset.interactions[:, dataset.item_index([item])[0]].toarray().ravel()
    return set(dataset.user_ids[column > 0])


def test_excludes_holders_and_ranks_by_score(model, shop):
    item = shop.item_ids[0]
    mailing = announce(model, item)
    holders = _holders(shop, item)
    assert holders, "the fixture product has buyers"
    assert not holders & set(mailing["user_id"])
    assert len(mailing) == shop.n_users - len(holders)  # everyone else
    assert mailing["rank"].tolist() == list(range(1, len(mailing) + 1))
    assert (np.diff(mailing["score"].to_numpy()) <= 0).all()
    audience = model.recommend_users(item, n=None)
    assert mailing["user_id"].tolist() == audience["user_id"].tolist()
    assert list(mailing.columns) == ["rank", "user_id", "item_id", "score", "interest", "reason"]
    assert mailing["reason"].str.len().gt(0).all()


def test_budget_and_min_score(model, shop):
    item = shop.item_ids[1]
    everyone = announce(model, item, reasons=False)
    top = announce(model, item, budget=7)
    assert len(top) == 7
    assert top["user_id"].tolist() == everyone["user_id"].head(7).tolist()
    cut = float(everyone["score"].iloc[20])
    above = announce(model, item, min_score=cut, reasons=False)
    assert len(above) == int((everyone["score"] >= cut).sum())
    assert (above["score"] >= cut).all()
    both = announce(model, item, budget=5, min_score=cut)
    assert len(both) == 5


def test_reasons_are_the_models_own(model, shop):
    item = shop.item_ids[2]
    mailing = announce(model, item, budget=4)
    why = model.recommend_users(item, n=4, reasons=True)
    assert mailing["reason"].tolist() == why["reason"].tolist()


def test_interest_is_the_share_of_customers_scored_lower(model, shop):
    mailing = announce(model, shop.item_ids[0], reasons=False)
    scores = mailing["score"].to_numpy()
    lower = (scores[None, :] < scores[:, None]).sum(axis=1) / len(scores)
    assert mailing["interest"].to_numpy() == pytest.approx(lower)


def test_value_ranks_by_interest_times_value(model, shop):
    item = shop.item_ids[0]
    everyone = announce(model, item, reasons=False)
    # the 10th customer by score is worth 100, the 2nd 1, everyone else 0
    tenth, second = everyone["user_id"].iloc[9], everyone["user_id"].iloc[1]
    value = pd.Series({tenth: 100.0, second: 1.0})
    mailing = announce(model, item, budget=3, value=value)
    assert mailing["user_id"].tolist()[:2] == [tenth, second]
    assert mailing["priority"].iloc[0] == pytest.approx(100.0 * mailing["interest"].iloc[0])
    assert mailing["value"].tolist()[:2] == [100.0, 1.0]
    assert "reason" in mailing and mailing["reason"].notna().all()
    # a customer_value-like frame works the same
    frame = value.to_frame("value")
    assert announce(model, item, budget=3, value=frame)["user_id"].tolist()[:2] == [tenth, second]


def test_new_product_by_features_leaves_the_model_unchanged(model, shop):
    launch = shop.item_frame.reset_index().iloc[[3]].assign(item_id="P-NEW")
    n_items = len(model.item_ids_)
    mailing = announce(model, launch, budget=10)
    assert len(model.item_ids_) == n_items and "P-NEW" not in set(model.item_ids_)
    assert (mailing["item_id"] == "P-NEW").all() and len(mailing) == 10
    # the same audience as a model the product was added to by hand
    grown = ContentKNN().fit(shop).add_items(launch)
    expected = grown.recommend_users("P-NEW", n=10, reasons=True)
    assert mailing["user_id"].tolist() == expected["user_id"].tolist()
    assert mailing["reason"].tolist() == expected["reason"].tolist()


def test_bad_input_names_the_argument(model, shop):
    with pytest.raises(UnknownIdError, match="in item") as info:
        announce(model, "P-999")
    assert info.value.unknown_ids == ["P-999"]
    for budget in (0, -3):
        with pytest.raises(ValueError, match="budget"):
            announce(model, shop.item_ids[0], budget=budget)
    with pytest.raises(TypeError, match="budget"):
        announce(model, shop.item_ids[0], budget=2.5)
    with pytest.raises(TypeError, match="min_score"):
        announce(model, shop.item_ids[0], min_score="high")
    with pytest.raises(UnknownIdError, match="in value"):
        announce(model, shop.item_ids[0], value=pd.Series({"stranger": 1.0}))
    rows = shop.item_frame.reset_index().iloc[[0, 1]].assign(item_id=["N1", "N2"])
    with pytest.raises(ValueError, match="item must be one product"):
        announce(model, rows)
    existing = shop.item_frame.reset_index().iloc[[0]]
    with pytest.raises(ValueError, match="already in the catalogue"):
        announce(model, existing)
    with pytest.raises(TypeError, match="model"):
        announce("not a model", shop.item_ids[0])
    with pytest.raises(TypeError, match="item"):
        announce(model, [shop.item_ids[0]])


def test_nobody_left_to_tell(purchases):
    # A is held by u1, u2 and u4: the other three customers are told; a product everyone
    # holds gives an empty frame with the usual columns
    model = ContentKNN().fit(purchases)
    assert len(announce(model, "A", budget=100)) == purchases.n_users - 3
    everyone = pd.DataFrame({"u": ["a", "b"], "i": ["x", "x"]})
    items = pd.DataFrame({"i": ["x", "y"], "c": ["p", "q"]})
    small = ContentKNN().fit(Dataset.from_frames(everyone, items, user_col="u", item_col="i"))
    empty = announce(small, "x", budget=3)
    assert empty.empty
    assert list(empty.columns) == ["rank", "user_id", "item_id", "score", "interest", "reason"]
