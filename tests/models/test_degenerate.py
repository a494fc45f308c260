"""Every model fits or refuses clearly on degenerate data (issue 13).

One user, one item, one interaction, every interaction on the same item (with other products
in the catalogue), every user on one item with ratings: each model either fits and serves
finite scores, or raises a ``ValueError`` / ``TypeError`` that says what is missing. Before
issue 13, FeatureCF raised ``ZeroDivisionError`` whenever exactly one item had interactions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import featcf
from estimators import CLASSES, quick
from featcf import Dataset
from featcf.models import BaseRecommender, UnsupportedProtocolError

ITEMS = pd.DataFrame(
    {
        "item": ["p1", "p2", "p3"],
        "category": ["car", "home", "car"],
        "premium": [10.0, 20.0, 30.0],
    }
)
USERS = pd.DataFrame({"user": ["u1", "u2", "u3"], "age": [20, 40, 60], "region": list("NSN")})


def _frames(case: str) -> dict:
    """``Dataset.from_frames`` arguments of a degenerate case."""
    if case == "one_interaction":
        inter = pd.DataFrame({"user": ["u1"], "item": ["p1"]})
    elif case == "one_user":
        inter = pd.DataFrame({"user": ["u1", "u1", "u1"], "item": ["p1", "p2", "p3"]})
    elif case == "one_item":
        inter = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["p1", "p1", "p1"]})
    elif case == "all_same_item":  # other products only in the catalogue
        inter = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["p2", "p2", "p2"]})
    else:  # rated_one_item
        inter = pd.DataFrame(
            {"user": ["u1", "u2", "u3"], "item": ["p1", "p1", "p1"], "rating": [1.0, 3.0, 5.0]}
        )
    args = {"interactions": inter, "user_col": "user", "item_col": "item"}
    if "rating" in inter:
        args["weight_col"] = "rating"
    items = ITEMS[ITEMS["item"].isin(inter["item"]) | (case == "all_same_item")]
    users = USERS[USERS["user"].isin(inter["user"])]
    args["allow_mostly_cold_items"] = case == "all_same_item"  # the catalogue is meant so
    return {**args, "item_features": items, "user_features": users}


CASES = ["one_interaction", "one_user", "one_item", "all_same_item", "rated_one_item"]


def _serves(model: BaseRecommender, dataset: Dataset) -> None:
    users = dataset.user_ids[dataset.user_counts() > 0]
    recs = model.recommend(users, n=3, exclude_seen=False)
    assert np.isfinite(recs["score"]).all()
    assert np.isfinite(model.predict(users[:1], dataset.item_ids[:1])).all()
    audience = model.recommend_users(dataset.item_ids[0], n=3, exclude_seen=False)
    assert np.isfinite(audience["score"]).all()
    try:
        parts = model.explain(users[0], dataset.item_ids[0])
    except UnsupportedProtocolError:
        return
    assert np.isfinite(parts["contribution"]).all()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", CLASSES)
def test_degenerate_data_fits_or_refuses_clearly(name, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", featcf.FeatureEncodingWarning)  # tiny frames
        dataset = Dataset.from_frames(**_frames(case))
    model = quick(name)
    try:
        model.fit(dataset)
    except (ValueError, TypeError) as exc:
        assert len(str(exc)) > 20, exc  # a sentence, not a bare value
        return
    _serves(model, dataset)


def test_feature_cf_on_a_shop_with_one_customer():
    # issue 13: ZeroDivisionError whenever exactly one item has interactions
    from featcf.datasets import make_insurance_shop

    shop = make_insurance_shop(n_customers=1, random_state=0)
    model = quick("FeatureCF")
    try:
        model.fit(shop)
    except ValueError as exc:
        assert "interaction" in str(exc)
        return
    _serves(model, shop)
