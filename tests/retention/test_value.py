"""customer_value, value_tiers, value_concentration, pareto_curve on hand-checked fixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf import Dataset, UnknownIdError
from featcf.retention import customer_value, pareto_curve, value_concentration, value_tiers

NOW = pd.Timestamp("2024-01-01") + pd.Timedelta(days=100)  # day 100 of the fixture


def test_recency_frequency_monetary(purchases, day):
    values = customer_value(purchases, now=NOW, monetary="price")
    assert values.loc["u1", "recency"] == pytest.approx(80.0)
    assert values.loc["u2", "recency"] == pytest.approx(5.0)
    assert values.loc["u1", "last_purchase"] == day(20)
    assert values["frequency"].to_dict() == {
        "u1": 3, "u3": 1, "u2": 2, "u4": 2, "u6": 1, "u5": 0
    }  # fmt: skip
    # weight x price: u3 bought 2 x C at 30
    assert values["monetary"].to_dict() == {
        "u1": 60.0, "u3": 60.0, "u2": 30.0, "u4": 30.0, "u6": 20.0, "u5": 0.0
    }  # fmt: skip
    assert (values["value"] == values["monetary"]).all()
    # most valuable first; the tie u1 = u3 keeps the Dataset's order
    assert values.index.tolist() == ["u1", "u3", "u2", "u4", "u6", "u5"]
    assert values["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert np.isnan(values.loc["u5", "recency"])


def test_monetary_defaults_to_the_weights_and_takes_a_series(purchases):
    by_weight = customer_value(purchases, now=NOW)["monetary"]
    assert by_weight.to_dict() == {"u1": 3, "u3": 2, "u2": 2, "u4": 2, "u6": 1, "u5": 0}
    given = pd.Series({"u2": 5.0, "u6": 1.0})
    values = customer_value(purchases, now=NOW, monetary=given)
    assert values["monetary"].to_dict() == {
        "u2": 5.0, "u6": 1.0, "u1": 0.0, "u3": 0.0, "u4": 0.0, "u5": 0.0
    }  # fmt: skip


def test_pareto_tiers_on_the_shop_fixture(purchases):
    # values 60, 60, 30, 30, 20, 0 of 200: the customers before u6 hold 90 % -> B
    tiers = customer_value(purchases, now=NOW, monetary="price")["tier"]
    assert tiers.astype(str).to_dict() == {
        "u1": "A", "u3": "A", "u2": "A", "u4": "A", "u6": "B", "u5": "C"
    }  # fmt: skip


def test_lapsed_from_each_customers_rhythm(purchases):
    values = customer_value(purchases, now=NOW, monetary="price")
    assert values.loc["u1", "rhythm"] == pytest.approx(10.0)
    assert values.loc["u2", "rhythm"] == pytest.approx(5.0)
    # one visit (u3), or two products at one time (u4): the typical rhythm, median(10, 5)
    assert values.loc["u3", "rhythm"] == pytest.approx(7.5)
    assert values.loc["u4", "rhythm"] == pytest.approx(7.5)
    assert values["own_rhythm"].to_dict() == {
        "u1": True, "u3": False, "u2": True, "u4": False, "u6": False, "u5": False
    }  # fmt: skip
    assert values["lapsed"].to_dict() == {
        "u1": True, "u3": True, "u2": False, "u4": True, "u6": False, "u5": False
    }  # fmt: skip
    # a patient rule: 80 days > 10 x 7.5 only for u1 (u3: 50, u4: 40 days quiet)
    patient = customer_value(purchases, now=NOW, lapse_factor=7.0)["lapsed"]
    assert patient[patient].index.tolist() == ["u1"]


def test_now_defaults_to_the_latest_purchase(purchases):
    values = customer_value(purchases)
    assert values.loc["u2", "recency"] == pytest.approx(0.0)
    assert values.loc["u1", "recency"] == pytest.approx(75.0)


def test_rfm_points(purchases):
    rfm = customer_value(purchases, now=NOW, monetary="price")["rfm"]
    assert rfm["u5"] == 0
    assert rfm.drop("u5").between(3, 15).all()
    assert rfm["u1"] > rfm["u6"]  # more frequent and more monetary, u6 more recent


def test_numeric_timestamps():
    frame = pd.DataFrame({"u": ["a", "a", "b"], "i": ["x", "y", "x"], "t": [0.0, 4.0, 1.0]})
    ds = Dataset.from_frames(frame, user_col="u", item_col="i", timestamp_col="t")
    values = customer_value(ds, now=10.0)
    assert values.loc["a", "recency"] == 6.0 and values.loc["a", "rhythm"] == 4.0
    assert values.loc["b", "lapsed"] and not values.loc["a", "lapsed"]  # 9 > 8, 6 <= 8


def test_errors_name_the_argument(purchases, day):
    no_time = Dataset.from_frames(
        pd.DataFrame({"u": ["a"], "i": ["x"]}), user_col="u", item_col="i"
    )
    with pytest.raises(ValueError, match="dataset has no timestamps.*timestamp_col"):
        customer_value(no_time)
    with pytest.raises(UnknownIdError, match="monetary") as info:
        customer_value(purchases, monetary=pd.Series({"u1": 1.0, "stranger": 2.0}))
    assert info.value.unknown_ids == ["stranger"]
    with pytest.raises(ValueError, match="monetary='colour'"):
        customer_value(purchases, monetary="colour")
    with pytest.raises(ValueError, match="monetary"):
        customer_value(purchases, monetary=pd.Series({"u1": -1.0}))
    with pytest.raises(ValueError, match="now=.*before the last purchase"):
        customer_value(purchases, now=day(30))
    with pytest.raises(TypeError, match="now"):
        customer_value(purchases, now=object())
    with pytest.raises(ValueError, match="lapse_factor"):
        customer_value(purchases, lapse_factor=0)
    with pytest.raises(ValueError, match="tiers"):
        customer_value(purchases, tiers=(0.9, 0.8))
    with pytest.raises(TypeError, match="dataset"):
        customer_value(pd.DataFrame())


def test_value_tiers_by_hand():
    tiers = value_tiers(pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0}))
    # before a: 0, b: 50 %, c: 80 % (tier A is full), d: 95 %
    assert tiers.astype(str).tolist() == ["A", "A", "B", "C"]
    # equal values: the first listed goes first, so the tiers are deterministic
    assert value_tiers(pd.Series({"a": 60.0, "b": 20.0, "c": 20.0})).astype(str).tolist() == [
        "A", "A", "B"
    ]  # fmt: skip
    assert value_tiers(pd.Series({"a": 60.0, "c": 20.0, "b": 20.0})).astype(str).to_dict() == {
        "a": "A", "c": "A", "b": "B"
    }  # fmt: skip
    assert value_tiers(pd.Series({"a": 0.0, "b": 0.0})).astype(str).tolist() == ["C", "C"]
    # the result follows the order of the input, not of the values
    assert value_tiers(pd.Series({"small": 1.0, "big": 99.0})).index.tolist() == ["small", "big"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=30))
def test_tier_a_is_the_smallest_set_holding_80_percent(raw):
    values = pd.Series(np.asarray(raw, dtype=float), index=[f"c{k}" for k in range(len(raw))])
    tiers = value_tiers(values)
    total = values.sum()
    if total == 0:
        assert (tiers == "C").all()
        return
    in_a = values[tiers == "A"]
    assert in_a.sum() >= 0.8 * total - 1e-9
    # no smaller set reaches 80 %: the len(in_a) - 1 largest values fall short
    largest = np.sort(values.to_numpy())[::-1]
    assert largest[: len(in_a) - 1].sum() < 0.8 * total
    assert in_a.min() >= values[tiers != "A"].to_numpy().max(initial=0)


def test_value_concentration_by_hand():
    values = pd.Series([70.0, 10, 5, 5, 4, 2, 1, 1, 1, 1])
    summary = value_concentration(values)
    assert (summary.n_customers, summary.n_top) == (10, 2)
    assert summary.top_value_share == pytest.approx(0.8)
    assert summary.customers_for_80 == pytest.approx(0.2)
    x = values.to_numpy()
    gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert summary.gini == pytest.approx(gini)
    assert "top 20% of customers (2 of 10) hold 80% of the value" in str(summary)
    assert value_concentration(pd.Series([1.0] * 4)).gini == pytest.approx(0.0)
    with pytest.raises(ValueError, match="top"):
        value_concentration(values, top=0)
    with pytest.raises(TypeError, match="values"):
        value_concentration([1.0, 2.0])


def test_pareto_curve(purchases):
    curve = pareto_curve(customer_value(purchases, now=NOW, monetary="price"))
    assert curve.iloc[0].tolist() == [0.0, 0.0]
    assert curve.iloc[-1].tolist() == [1.0, 1.0]
    assert curve["value_share"].tolist()[:3] == pytest.approx([0.0, 0.3, 0.6])


def test_no_repeat_customer_warns_and_flags_nobody():
    frame = pd.DataFrame({"u": ["a", "b"], "i": ["x", "y"], "t": [0.0, 5.0]})
    ds = Dataset.from_frames(frame, user_col="u", item_col="i", timestamp_col="t")
    with pytest.warns(UserWarning, match="no customer of dataset bought at two different times"):
        values = customer_value(ds, now=100.0)
    assert not values["lapsed"].any()
    assert values["rhythm"].isna().all()
