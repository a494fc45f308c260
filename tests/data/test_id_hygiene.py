"""Ids that cannot silently go wrong (issue 17): each mistake raises, and says what to do.

Before, int ids in the customer table and string ids in the purchases made a Dataset with
twice the customers, every buyer with all-zero demographics (only a warning); float ids
(``1.0``) were accepted; a feature table keyed by other ids became a catalogue of cold
entities.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from featcf import Dataset


@pytest.fixture
def purchases():
    return pd.DataFrame(
        {
            "customer": ["10", "10", "20", "30", "40"],
            "product": ["car", "home", "car", "travel", "home"],
        }
    )


@pytest.fixture
def customers():
    return pd.DataFrame({"customer": ["10", "20", "30", "40"], "age": [25, 40, 61, 33]})


@pytest.fixture
def products():
    return pd.DataFrame(
        {"product": ["car", "home", "travel", "pet"], "category": ["v", "p", "t", "p"]}
    )


def build(purchases, products=None, customers=None, **kw):
    return Dataset.from_frames(
        purchases, products, customers, user_col="customer", item_col="product", **kw
    )


def test_clean_ids_build(purchases, products, customers):
    ds = build(purchases, products, customers)
    assert ds.n_users == 4 and ds.n_items == 4  # "pet" is a real cold product


# --------------------------------------------------------------------------------------
# int vs str
# --------------------------------------------------------------------------------------


def test_int_customer_table_with_str_purchases(purchases, customers):
    """The issue's case: the fix (cast the feature table's ids to str) is in the message."""
    table = customers.assign(customer=customers["customer"].astype("int64"))
    with pytest.raises(ValueError) as err:
        build(purchases, customers=table)
    message = str(err.value)
    assert "user_features['customer'] holds int ids" in message
    assert "interactions['customer'] holds str ids" in message
    assert "user_features['customer'] = user_features['customer'].astype(str)" in message


def test_str_product_table_with_int_purchases():
    purchases = pd.DataFrame({"customer": ["a", "b"], "product": [7, 9]})
    products = pd.DataFrame({"product": ["7", "9"], "category": ["x", "y"]})
    with pytest.raises(ValueError, match=re.escape(".astype('int64')")) as err:
        build(purchases, products)
    assert "item_features['product'] holds str ids" in str(err.value)


def test_kind_mismatch_is_refused_even_when_cold_majority_is_allowed(purchases, customers):
    table = customers.assign(customer=customers["customer"].astype("int64"))
    with pytest.raises(ValueError, match=re.escape(".astype(str)")):
        build(purchases, customers=table, allow_mostly_cold_users=True)


# --------------------------------------------------------------------------------------
# float ids that are whole numbers
# --------------------------------------------------------------------------------------


def test_whole_float_ids_in_interactions(purchases):
    floats = purchases.assign(customer=[10.0, 10.0, 20.0, 30.0, 40.0])
    with pytest.raises(ValueError) as err:
        build(floats)
    message = str(err.value)
    assert "interactions['customer'] holds float ids that are whole numbers" in message
    assert "interactions['customer'] = interactions['customer'].astype('int64')" in message


def test_whole_float_ids_in_a_feature_table():
    purchases = pd.DataFrame({"customer": [1, 2], "product": ["car", "home"]})
    customers = pd.DataFrame({"customer": [1.0, 2.0], "age": [30, 40]})
    with pytest.raises(ValueError, match=re.escape("user_features['customer'].astype('int64')")):
        build(purchases, customers=customers)


def test_whole_floats_among_ints_in_an_object_column():
    purchases = pd.DataFrame({"customer": pd.Series([1, 2.0], dtype=object), "product": [1, 2]})
    with pytest.raises(ValueError, match="float ids that are whole numbers"):
        build(purchases)


# --------------------------------------------------------------------------------------
# feature tables that share few ids with the interactions
# --------------------------------------------------------------------------------------


def test_feature_table_with_other_ids(purchases, customers):
    """Same kind, other spelling: no id in common."""
    table = customers.assign(customer="C-" + customers["customer"])
    with pytest.raises(ValueError) as err:
        build(purchases, customers=table)
    message = str(err.value)
    assert "user_features['customer'] shares only 0 of its 4 ids (0%)" in message
    assert "['C-10', 'C-20', 'C-30']" in message  # what the table holds
    assert "['10', '20', '30']" in message  # what the interactions hold
    assert "allow_mostly_cold_users=True" in message


def test_feature_table_sharing_few_ids(purchases, products):
    catalogue = pd.concat(
        [products, pd.DataFrame({"product": ["a", "b", "c", "d", "e"], "category": "x"})]
    )
    with pytest.raises(ValueError, match=r"shares only 3 of its 9 ids \(33%\)") as err:
        build(purchases, catalogue)
    assert "allow_mostly_cold_items=True" in str(err.value)


def test_allow_mostly_cold_items_builds_the_catalogue(purchases, products):
    catalogue = pd.concat(
        [products, pd.DataFrame({"product": ["a", "b", "c", "d", "e"], "category": "x"})]
    )
    ds = build(purchases, catalogue, allow_mostly_cold_items=True)
    assert ds.n_items == 9
    assert int((ds.item_counts() == 0).sum()) == 6  # pet and a..e are cold products


def test_half_of_the_table_in_the_interactions_is_accepted(purchases, customers):
    registered = pd.concat(
        [customers, pd.DataFrame({"customer": ["50", "60", "70", "80"], "age": 50})]
    )
    assert build(purchases, customers=registered).n_users == 8


@pytest.mark.parametrize("name", ["allow_mostly_cold_items", "allow_mostly_cold_users"])
def test_allow_options_are_booleans(purchases, name):
    with pytest.raises(TypeError, match=name):
        build(purchases, **{name: "yes"})
