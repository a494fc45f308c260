"""compare(): models x protocols in one table, on the tiny synthetic shop of conftest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featcf.evaluation import (
    NOT_AVAILABLE,
    compare,
    evaluate,
    split_cold_items,
    split_cold_users,
    split_random,
)
from featcf.models import ItemKNN, Popularity, UnsupportedProtocolError


@pytest.fixture(scope="module")
def splits(shop):
    return [
        split_random(shop, random_state=0),
        split_cold_items(shop, random_state=0),
        split_cold_users(shop, random_state=0),
        split_cold_users(shop, reveal=1, random_state=0),
    ]


@pytest.fixture(scope="module")
def table(splits):
    return compare([Popularity(), ItemKNN(n_neighbors=10)], splits, k=5)


def test_one_row_per_model_one_column_per_protocol(table):
    assert table.index.tolist() == ["Popularity", "ItemKNN"]
    assert table.index.name == "model" and table.columns.name == "protocol"
    protocols = ["random", "cold_items", "cold_users", "given_1"]
    assert table.columns.tolist() == [*protocols, NOT_AVAILABLE]
    assert all(table[p].dtype == np.float64 for p in protocols)
    assert table.attrs["metric"] == "ndcg@5"
    assert set(table.attrs["splits"]) == set(protocols)


def test_cells_are_evaluate_values(table, splits):
    for model, column, split in (
        (Popularity(), "cold_items", splits[1]),
        (ItemKNN(n_neighbors=10), "given_1", splits[3]),
    ):
        expected = evaluate(model, split, k=5, metrics=["ndcg"])["value"].iloc[0]
        assert table.loc[type(model).__name__, column] == expected


def test_refusals_are_na_with_the_reason(table):
    """ItemKNN has no path for new products or demographics-only customers."""
    assert np.isnan(table.loc["ItemKNN", ["cold_items", "cold_users"]].astype(float)).all()
    assert np.isfinite(table.loc["ItemKNN", ["random", "given_1"]].astype(float)).all()
    reasons = table.loc["ItemKNN", NOT_AVAILABLE].split(" | ")
    assert [r.split(":")[0] for r in reasons] == ["cold_items", "cold_users"]
    assert all("FeatureCF" in r for r in reasons)  # the advice of the model's message
    assert not reasons[0].startswith("cold_items: ItemKNN")  # the row names the model
    assert table.loc["Popularity", NOT_AVAILABLE] == ""
    assert np.isfinite(table.loc["Popularity"].drop(NOT_AVAILABLE).astype(float)).all()


def test_given_models_stay_unfitted(splits):
    model = Popularity()
    compare({"pop": model}, splits[:1])
    assert "dataset_" not in model.__dict__


def test_mappings_name_rows_and_columns(splits):
    table = compare(
        {"pop by users": Popularity(), "pop by weight": Popularity(by="weight")},
        {"warm": splits[0]},
        k=3,
        metric="recall",
    )
    assert table.index.tolist() == ["pop by users", "pop by weight"]
    assert table.columns.tolist() == ["warm", NOT_AVAILABLE]
    assert table.attrs["metric"] == "recall@3"


def test_scoring_functions_may_refuse(splits):
    def only_warm(user_idx, item_idx, history):
        if history is not None:
            raise UnsupportedProtocolError("only_warm needs fitted users")
        return np.zeros((len(user_idx), len(item_idx)))

    table = compare([only_warm], [splits[0], splits[3]])
    assert table.loc["only_warm", "random"] >= 0
    assert np.isnan(table.loc["only_warm", "given_1"])
    assert table.loc["only_warm", NOT_AVAILABLE] == "given_1: needs fitted users"


def test_other_errors_propagate(splits):
    def broken(user_idx, item_idx, history):
        return np.full((len(user_idx), len(item_idx)), np.nan)

    with pytest.raises(ValueError, match="NaN"):
        compare([broken], splits[:1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"models": [Popularity(), Popularity()]},
            ValueError,
            r"models.*\['Popularity'\].*mapping",
        ),
        ({"models": []}, ValueError, "models must not be empty"),
        ({"models": Popularity()}, TypeError, "models must be a mapping"),
        ({"models": {"x": 3}}, TypeError, r"models\['x'\] must be a featcf recommender"),
        ({"splits": "random"}, TypeError, "splits must be a mapping"),
        ({"splits": [object()]}, TypeError, r"splits\[0\] must be a featcf.evaluation.Split"),
        ({"splits": "dup"}, ValueError, r"splits.*\['random'\].*mapping"),
        ({"models": {"n/a": Popularity()}}, ValueError, "'n/a'"),
        ({"metric": "ndgc"}, ValueError, "metric must be one metric name"),
        ({"metric": ["ndcg", "recall"]}, ValueError, "metric must be one metric name"),
        ({"k": 0}, ValueError, "k must be a positive integer"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_arguments(splits, kwargs, error, match):
    arguments = {"models": [Popularity()], "splits": splits[:1]}
    arguments.update(kwargs)
    if arguments["splits"] == "dup":
        arguments["splits"] = [splits[0], splits[0]]
    with pytest.raises(error, match=match):
        compare(**arguments)


def test_nan_without_reason_when_nobody_is_evaluated(shop, splits):
    # positive_threshold above every weight: no relevant item, no user evaluated
    table = compare([Popularity()], splits[:1], positive_threshold=1e9)
    assert np.isnan(table.loc["Popularity", "random"])
    assert table.loc["Popularity", NOT_AVAILABLE] == ""
    assert isinstance(table, pd.DataFrame)
