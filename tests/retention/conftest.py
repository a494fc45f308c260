"""Small hand-checkable fixtures of the retention workflows."""

from __future__ import annotations

import pandas as pd
import pytest

from featcf import Dataset

DAY0 = pd.Timestamp("2024-01-01")


def day(n: float) -> pd.Timestamp:
    """The time ``n`` days after the fixture's first purchase."""
    return DAY0 + pd.Timedelta(days=n)


@pytest.fixture(scope="session", name="day")
def day_fixture():
    """:func:`day`, for the tests."""
    return day


@pytest.fixture(scope="module")
def purchases() -> Dataset:
    """Six customers, three products (A 10, B 20, C 30 euros), the last purchase on day 95.

    - u1 buys on days 0, 10, 20 (rhythm 10); now = day 100: 80 days quiet > 2 x 10, lapsed;
    - u3 buys 2 x C on day 50 (one visit): the typical rhythm, median(10, 5) = 7.5, applies;
    - u2 buys on days 90, 95 (rhythm 5): 5 days quiet, active;
    - u4 buys A and B on day 60 (one visit, a gap of 0 is no rhythm): 40 days quiet, lapsed;
    - u6 buys B on day 95: active; u5 has demographics and no purchase.
    """
    rows = [
        ("u1", "A", 1, day(0)),
        ("u1", "B", 1, day(10)),
        ("u1", "C", 1, day(20)),
        ("u3", "C", 2, day(50)),
        ("u2", "A", 1, day(90)),
        ("u2", "B", 1, day(95)),
        ("u4", "A", 1, day(60)),
        ("u4", "B", 1, day(60)),
        ("u6", "B", 1, day(95)),
    ]
    interactions = pd.DataFrame(rows, columns=["customer", "product", "n", "time"])
    products = pd.DataFrame(
        {
            "product": ["A", "B", "C"],
            "category": ["vehicle", "travel", "travel"],
            "price": [10.0, 20.0, 30.0],
        }
    )
    customers = pd.DataFrame(
        {
            "customer": ["u1", "u2", "u3", "u4", "u5", "u6"],
            "household": ["family", "single", "family", "single", "family", "single"],
        }
    )
    return Dataset.from_frames(
        interactions,
        item_features=products,
        user_features=customers,
        user_col="customer",
        item_col="product",
        weight_col="n",
        timestamp_col="time",
        item_fields={"price": "ignore"},
    )


@pytest.fixture(scope="module")
def two_groups() -> Dataset:
    """Families f1-f4 buy vehicle cover, singles s1-s4 travel cover: two obvious segments."""
    rows = [(f"f{k}", item) for k in range(1, 5) for item in ("V1", "V2")][:-1]
    rows += [(f"s{k}", item) for k in range(1, 5) for item in ("T1", "T2")][:-1]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id"])
    products = pd.DataFrame(
        {
            "item_id": ["V1", "V2", "V3", "T1", "T2", "T3"],
            "category": ["vehicle"] * 3 + ["travel"] * 3,
        }
    )
    customers = pd.DataFrame(
        {
            "user_id": [f"f{k}" for k in range(1, 5)] + [f"s{k}" for k in range(1, 5)],
            "household": ["family"] * 4 + ["single"] * 4,
        }
    )
    return Dataset.from_frames(
        interactions,
        item_features=products,
        user_features=customers,
        user_col="user_id",
        item_col="item_id",
    )
