"""The synthetic insurance shop: determinism, shape, long tail, cold products, ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featcf.datasets import make_insurance_shop


def _arrays(ds):
    return (
        ds.user_ids,
        ds.item_ids,
        ds.interactions.indptr,
        ds.interactions.indices,
        ds.interactions.data,
        ds.timestamps,
        ds.item_features.matrix.toarray(),
        ds.user_features.matrix.toarray(),
    )


@pytest.fixture(scope="module")
def shop():
    return make_insurance_shop(n_customers=600, n_products=30, random_state=3, return_truth=True)


def test_same_seed_same_dataset():
    a = make_insurance_shop(n_customers=300, n_products=25, random_state=11)
    b = make_insurance_shop(n_customers=300, n_products=25, random_state=11)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    pd.testing.assert_frame_equal(a.item_frame, b.item_frame)
    pd.testing.assert_frame_equal(a.user_frame, b.user_frame)


def test_generator_seed_is_used_not_global_state():
    np.random.seed(0)  # noqa: NPY002 -- the global state must not matter
    a = make_insurance_shop(n_customers=200, n_products=20, random_state=np.random.default_rng(5))
    np.random.seed(1)  # noqa: NPY002
    b = make_insurance_shop(n_customers=200, n_products=20, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a.interactions.toarray(), b.interactions.toarray())


def test_different_seed_differs():
    a = make_insurance_shop(n_customers=300, n_products=25, random_state=1)
    b = make_insurance_shop(n_customers=300, n_products=25, random_state=2)
    assert not np.array_equal(a.item_features.matrix.toarray(), b.item_features.matrix.toarray())
    assert a.to_frame().shape != b.to_frame().shape or not a.to_frame().equals(b.to_frame())


def test_shape_and_ids(shop):
    ds, truth = shop
    assert ds.n_users == 600 and ds.n_items == 30
    assert ds.interactions.shape == (600, 30)
    assert set(ds.user_ids) == {f"c{k:04d}" for k in range(1, 601)}
    assert set(ds.item_ids) == {f"P-{k}" for k in range(101, 131)}
    assert ds.timestamps is not None and len(ds.timestamps) == ds.interactions.nnz
    assert set(ds.interactions.data.tolist()) <= {1.0, 2.0}


def test_fields(shop):
    ds, _ = shop
    items = ds.item_features.fields
    assert list(items) == ["category", "coverage", "premium", "term", "segment"]
    assert set(items["category"].values) == {
        "vehicle",
        "property",
        "liability",
        "personal",
        "travel",
        "leisure",
        "health",
    }
    assert set(items["coverage"].values) == {"basic", "standard", "premium"}
    assert set(items["term"].values) <= {"monthly", "annual", "multi-year"}
    assert items["premium"].kind == "numeric" and items["premium"].n_values == 5
    assert ds.item_features.matrix.getnnz(axis=1).min() == 5  # one value per field
    users = ds.user_features.fields
    assert list(users) == ["age", "region", "household", "income", "is_business"]
    assert users["age"].kind == "numeric"
    assert ds.user_features.matrix.getnnz(axis=1).min() == 5
    assert "name" in ds.item_frame.columns


def test_long_tail(shop):
    ds, _ = shop
    per_customer = np.diff(ds.interactions.indptr)
    assert per_customer.min() >= 1
    assert np.mean(per_customer <= 3) >= 0.75  # most customers bought 1-3 products
    assert np.mean(per_customer == 1) >= 0.35
    assert per_customer.max() >= 5  # and a few bought many
    assert per_customer.max() <= 15


def test_cold_products_present(shop):
    ds, truth = shop
    assert len(truth["new_products"]) == 3
    new = ds.item_index(truth["new_products"])
    bought = np.asarray((ds.interactions != 0).sum(axis=0)).ravel()
    assert (bought[new] == 0).all()
    assert (ds.item_features.matrix[new].getnnz(axis=1) == 5).all()  # features, no history
    assert (np.delete(bought, new) > 0).sum() >= 20  # the old catalogue is in use


def test_new_customers_are_cold_users():
    ds, truth = make_insurance_shop(
        n_customers=100, n_products=15, n_new_customers=7, random_state=0, return_truth=True
    )
    assert ds.n_users == 107
    assert len(truth["new_customers"]) == 7
    rows = ds.user_index(truth["new_customers"])
    assert (np.diff(ds.interactions.indptr)[rows] == 0).all()
    assert (ds.user_features.matrix[rows].getnnz(axis=1) == 5).all()


def test_timestamps(shop):
    ds, _ = shop
    assert ds.timestamps.min() >= pd.Timestamp("2023-01-01").timestamp()
    # every customer's purchases are at distinct times (an order to split on)
    rows = np.repeat(np.arange(ds.n_users), np.diff(ds.interactions.indptr))
    pairs = pd.DataFrame({"user": rows, "time": ds.timestamps})
    assert not pairs.duplicated().any()


def test_purchases_follow_tastes(shop):
    ds, truth = shop
    utility = truth["utility"]
    assert utility.shape == (600, 30)
    frame = ds.to_frame()
    old = [i for i in utility.columns if i not in truth["new_products"]]
    ranks = utility[old].rank(axis=1, ascending=False)
    bought_rank = ranks.to_numpy()[
        ranks.index.get_indexer(frame["user_id"]), ranks.columns.get_indexer(frame["item_id"])
    ]
    # chance level is (len(old) + 1) / 2 = 14; purchases come from the top of the utility
    assert bought_rank.mean() < 0.6 * (len(old) + 1) / 2


def test_business_customers_prefer_business_products(shop):
    ds, truth = shop
    frame = (
        ds.to_frame().merge(truth["products"], on="item_id").merge(truth["customers"], on="user_id")
    )
    share = frame.groupby("is_business")["segment"].apply(lambda s: (s == "business").mean())
    assert share[True] > share[False]


def test_truth_contents(shop):
    ds, truth = shop
    assert truth["tastes"].shape == (600, 17)
    assert list(truth["tastes"].columns[:2]) == ["category = vehicle", "category = property"]
    labels = set(ds.item_features.column_names)
    assert set(truth["tastes"].columns) <= labels  # same "field = value" labels as the encoder
    assert truth["field_strength"]["category"] > truth["field_strength"]["term"]
    assert set(truth["popularity"].index) == set(ds.item_ids)


def test_zero_taste_noise_gives_group_tastes():
    _, truth = make_insurance_shop(
        n_customers=200, n_products=12, taste_noise=0.0, random_state=4, return_truth=True
    )
    customers = truth["customers"].set_index("user_id")
    groups = customers.groupby(["region", "household", "income", "is_business"]).groups
    tastes = truth["tastes"]
    checked = 0
    for members in groups.values():
        ages = customers.loc[members, "age"]
        same_age_group = members[(ages >= 30) & (ages < 65)]
        if len(same_age_group) > 1:
            block = tastes.loc[same_age_group].to_numpy()
            np.testing.assert_allclose(block, np.broadcast_to(block[0], block.shape))
            checked += 1
    assert checked > 0


def test_field_strength_zero_removes_field():
    _, truth = make_insurance_shop(
        n_customers=50,
        n_products=12,
        field_strength={"term": 0.0},
        random_state=0,
        return_truth=True,
    )
    term = [c for c in truth["tastes"].columns if c.startswith("term = ")]
    assert (truth["tastes"][term].to_numpy() == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_customers": 0}, ValueError, "n_customers"),
        ({"n_products": 3, "n_new_products": 3}, ValueError, "n_new_products"),
        ({"n_new_products": -1}, ValueError, "n_new_products"),
        ({"n_new_products": 1.5}, TypeError, "n_new_products"),
        ({"n_new_customers": -2}, ValueError, "n_new_customers"),
        ({"mean_purchases": 0.5}, ValueError, "mean_purchases"),
        ({"max_purchases": 0}, ValueError, "max_purchases"),
        ({"taste_noise": -1.0}, ValueError, "taste_noise"),
        ({"field_strength": {"colour": 1.0}}, ValueError, "colour"),
        ({"field_strength": {"term": -1.0}}, ValueError, "field_strength"),
        ({"random_state": "abc"}, TypeError, "random_state"),
        ({"return_truth": "yes"}, TypeError, "return_truth"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_insurance_shop(**{"n_customers": 20, "n_products": 10, **kwargs})


def test_single_product_catalogue():
    ds = make_insurance_shop(n_customers=5, n_products=1, n_new_products=0, random_state=0)
    assert ds.n_items == 1
    assert ds.interactions.nnz == 5


def test_old_keyword_seed_still_works_with_a_future_warning():
    with pytest.warns(FutureWarning, match="random_state"):
        old = make_insurance_shop(n_customers=30, n_products=8, seed=4)
    new = make_insurance_shop(n_customers=30, n_products=8, random_state=4)
    assert (old.interactions != new.interactions).nnz == 0
