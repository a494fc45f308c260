"""win_back on the hand-checked purchases fixture (see conftest)."""

from __future__ import annotations

import pandas as pd
import pytest

from featcf import ContentKNN, Dataset, UnknownIdError
from featcf.retention import win_back


@pytest.fixture(scope="module")
def model(purchases):
    return ContentKNN().fit(purchases)


def test_lapsed_customers_most_valuable_first(model, purchases, day):
    offers = win_back(model, purchases, now=day(100), monetary="price")
    # lapsed: u1 (60), u3 (60, after u1 in the Dataset), u4 (30); u2, u6 active, u5 no purchase
    assert offers["user_id"].tolist() == ["u1", "u3", "u4"]
    assert offers["value"].tolist() == [60.0, 60.0, 30.0]
    assert offers["lapse_reason"].tolist() == [
        "last purchase 80 days ago; usually buys every 10 days",
        "last purchase 50 days ago; customers usually buy every 8 days",
        "last purchase 40 days ago; customers usually buy every 8 days",
    ]
    # u1 holds every product: listed, with nothing to offer
    assert offers["item_id"].isna().tolist() == [True, False, False]
    held = purchases.to_frame().groupby("customer")["product"].apply(set)
    for user, item in zip(offers["user_id"][1:], offers["item_id"][1:], strict=True):
        assert item not in held[user]
    assert offers["reason"][1:].str.len().gt(0).all()
    assert {"rank", "score", "tier", "recency", "rhythm"} <= set(offers.columns)


def test_n_and_max_customers(model, purchases, day):
    offers = win_back(model, purchases, now=day(100), n=2, max_customers=2, reasons=False)
    # u1 holds everything: no product left to offer; u3 gets A and B
    assert offers["user_id"].tolist() == ["u1", "u3", "u3"]
    assert offers["rank"].tolist()[1:] == [1, 2]
    assert "reason" not in offers


def test_errors(model, purchases, day):
    no_time = Dataset.from_frames(
        pd.DataFrame({"u": ["u1"], "i": ["A"]}), user_col="u", item_col="i"
    )
    with pytest.raises(ValueError, match="timestamp_col"):
        win_back(model, no_time)
    other = Dataset.from_frames(
        pd.DataFrame({"u": ["zz", "zz"], "i": ["A", "B"], "t": [0.0, 50.0]}),
        user_col="u",
        item_col="i",
        timestamp_col="t",
    )
    with pytest.raises(UnknownIdError, match="dataset"):
        win_back(model, other, now=500.0)
    with pytest.raises(ValueError, match="n must"):
        win_back(model, purchases, n=0)
    with pytest.raises(ValueError, match="max_customers"):
        win_back(model, purchases, max_customers=0)
