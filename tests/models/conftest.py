"""Fixtures of the model tests."""

from __future__ import annotations

import pandas as pd
import pytest

from featcf.data import Dataset


@pytest.fixture
def tiny_frames():
    """5 customers x 6 products x 2 item fields, ids that can never be positions.

    Returns ``(interactions, items, users)``; users u6 and u7 have features only.
    """
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
def tiny(tiny_frames) -> Dataset:
    inter, items, users = tiny_frames
    return Dataset.from_frames(inter, items, users, user_col="user", item_col="item")
