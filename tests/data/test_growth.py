"""Growing a Dataset by a batch (``featcf.data._growth.grow``, behind ``partial_fit``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from featcf import Dataset, FeatureEncodingWarning, UnknownIdError
from featcf.data._growth import grow

COLS = {"user_col": "user", "item_col": "item"}


@pytest.fixture
def tiny_frames():
    """4 customers x 4 products, 2 item and 2 user fields; u5 has features only."""
    inter = pd.DataFrame(
        {"user": ["u1", "u1", "u2", "u3", "u4"],
         "item": ["sku-10", "sku-20", "sku-10", "sku-30", "sku-40"]}
    )  # fmt: skip
    items = pd.DataFrame(
        {"item": ["sku-10", "sku-20", "sku-30", "sku-40"],
         "category": ["car", "car", "home", "travel"],
         "coverage": ["basic", "premium", "basic", "premium"]}
    )  # fmt: skip
    users = pd.DataFrame(
        {"user": ["u1", "u2", "u3", "u4", "u5"],
         "region": ["north", "north", "south", "south", "north"],
         "household": ["family", "single", "single", "family", "family"]}
    )  # fmt: skip
    return inter, items, users


@pytest.fixture
def tiny(tiny_frames) -> Dataset:
    return Dataset.from_frames(*tiny_frames, **COLS)


def _rows(n: int, seed: int, users: int = 6, items: int = 5, prefix: str = "u") -> pd.DataFrame:
    """``n`` interaction rows with integer weights and numeric timestamps (repeats likely)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": [f"{prefix}{u}" for u in rng.integers(0, users, n)],
            "item": [f"sku-{10 * (i + 1)}" for i in rng.integers(0, items, n)],
            "qty": rng.integers(1, 5, n).astype(float),
            "ts": rng.permutation(n).astype(float) + 100.0 * seed,
        }
    )


def _by_ids(dataset: Dataset) -> pd.DataFrame:
    frame = dataset.to_frame()
    return frame.sort_values(["user", "item"]).reset_index(drop=True)


@pytest.mark.parametrize("duplicates", ["sum", "max", "first", "last"])
def test_grow_combines_repeats_as_from_frames_on_all_rows(duplicates):
    old_rows = _rows(30, 0)
    new_rows = pd.concat([_rows(12, 1), _rows(4, 2, prefix="new")])
    options = dict(COLS, weight_col="qty", timestamp_col="ts", duplicates=duplicates)
    old = Dataset.from_frames(old_rows, **options)
    growth = grow(old, new_rows)
    full = Dataset.from_frames(pd.concat([old_rows, new_rows]), **options)
    pd.testing.assert_frame_equal(_by_ids(growth.dataset), _by_ids(full))
    # old positions stay, new customers come after them
    n_old = old.n_users
    assert growth.dataset.user_ids[:n_old].tolist() == old.user_ids.tolist()
    assert growth.n_new_users == len(set(new_rows["user"]) - set(old.user_ids))
    assert set(growth.dataset.user_ids[n_old:]) == set(new_rows["user"]) - set(old.user_ids)
    touched = growth.dataset.user_ids[growth.touched_users]
    assert set(touched) == set(new_rows["user"])
    assert growth.n_added == full.n_interactions - old.n_interactions


def test_grow_with_float_weights_equals_from_frames_on_the_stored_rows():
    rng = np.random.default_rng(3)
    old_rows = _rows(25, 0).assign(qty=rng.uniform(0.1, 3.0, 25))
    new_rows = _rows(10, 1).assign(qty=rng.uniform(0.1, 3.0, 10))
    old = Dataset.from_frames(old_rows, **COLS, weight_col="qty", timestamp_col="ts")
    full = Dataset.from_frames(
        pd.concat([old.to_frame(), new_rows]), **COLS, weight_col="qty", timestamp_col="ts"
    )
    pd.testing.assert_frame_equal(_by_ids(grow(old, new_rows).dataset), _by_ids(full))


@pytest.mark.parametrize("duplicates", ["mean", "error"])
def test_policies_that_cannot_combine_a_stored_pair_refuse_it(duplicates):
    old = Dataset.from_frames(_rows(20, 0).drop_duplicates(["user", "item"]), **COLS,
                              weight_col="qty", duplicates=duplicates)  # fmt: skip
    stored = old.to_frame().iloc[[0]].rename(columns={"weight": "qty"})
    with pytest.raises(ValueError, match=f"duplicates='{duplicates}'"):
        grow(old, stored)
    fresh = pd.DataFrame({"user": ["new-1", "new-1"], "item": ["sku-10"] * 2, "qty": [1.0, 3.0]})
    if duplicates == "mean":
        assert grow(old, fresh).dataset.interactions[-1].data.tolist() == [2.0]
    else:
        with pytest.raises(ValueError, match="repeated"):
            grow(old, fresh)


def test_new_items_need_features_and_new_users_get_theirs(tiny_frames):
    inter, items, users = tiny_frames
    old = Dataset.from_frames(inter, items, users, **COLS)
    batch = pd.DataFrame({"user": ["u9", "u1"], "item": ["sku-70", "sku-10"]})
    with pytest.raises(UnknownIdError, match=r"item_features") as caught:
        grow(old, batch)
    assert caught.value.unknown_ids == ["sku-70"]
    launch = items.iloc[[0]].assign(item="sku-70")
    signup = users.iloc[[2, 3]].assign(user=["u9", "u8"])  # u8: demographics only
    growth = grow(old, batch.iloc[[0]], user_features=signup, item_features=launch)
    ds = growth.dataset
    assert ds.user_ids[-2:].tolist() == ["u9", "u8"] and ds.item_ids[-1] == "sku-70"
    assert ds.user_features.matrix[ds.user_index("u8")].nnz == 2
    np.testing.assert_array_equal(
        ds.user_features.matrix[ds.user_index("u9")].toarray(),
        old.user_features.matrix[old.user_index(users.user[2])].toarray(),
    )
    assert ds.user_frame.loc["u8", "region"] == users.region[3]
    assert ds.item_frame.loc["sku-70", "category"] == items.category[0]
    assert growth.n_new_users == 2 and growth.n_new_items == 1
    assert ds.item_ids[growth.touched_items].tolist() == ["sku-70"]


def test_a_new_customer_without_a_feature_row_is_announced(tiny):
    with pytest.warns(FeatureEncodingWarning, match="no row in user_features"):
        ds = grow(tiny, pd.DataFrame({"user": ["u9"], "item": ["sku-10"]})).dataset
    assert ds.user_features.matrix[ds.user_index("u9")].nnz == 0


def test_bad_batches_are_refused_naming_the_argument(tiny_frames, tiny):
    inter, items, users = tiny_frames
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        grow(tiny, [("u1", "sku-10")])
    with pytest.raises(ValueError, match=r"interactions is missing column\(s\) \['item'\]"):
        grow(tiny, pd.DataFrame({"user": ["u1"]}))
    with pytest.raises(ValueError, match="missing"):
        grow(tiny, pd.DataFrame({"user": ["u1", None], "item": ["sku-10", "sku-20"]}))
    with pytest.raises(TypeError, match=r"interactions\['user'\] holds integer"):
        grow(tiny, pd.DataFrame({"user": [7], "item": ["sku-10"]}))
    with pytest.raises(ValueError, match="already in the Dataset"):
        grow(tiny, inter.iloc[:0], user_features=users.iloc[[0]])
    with pytest.raises(ValueError, match="already in the catalogue"):
        grow(tiny, inter.iloc[:0], item_features=items.iloc[[0]])
    plain = Dataset.from_frames(inter, **COLS)
    with pytest.raises(UnknownIdError, match="no item features to register new products"):
        grow(plain, pd.DataFrame({"user": ["u1"], "item": ["sku-99"]}))
    with pytest.raises(ValueError, match="user_features is given but this Dataset has no"):
        grow(plain, inter.iloc[:0], user_features=users.iloc[[4]])
    with pytest.raises(ValueError, match="item_features is given but this Dataset has no"):
        grow(plain, inter.iloc[:0], item_features=items.iloc[[0]].assign(item="sku-99"))
    weighted = Dataset.from_frames(inter.assign(qty=2.0), **COLS, weight_col="qty")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['qty'\]"):
        grow(weighted, inter.iloc[:1])
    with pytest.raises(ValueError, match="negative"):
        grow(weighted, inter.iloc[:1].assign(qty=-1.0))


def test_timestamps_are_carried_and_must_be_of_the_datasets_kind(tiny_frames):
    inter, _, _ = tiny_frames
    times = pd.date_range("2024-01-01", periods=len(inter), freq="D")
    old = Dataset.from_frames(inter.assign(at=times), **COLS, timestamp_col="at")
    batch = pd.DataFrame({"user": ["u9"], "item": ["sku-20"], "at": [pd.Timestamp("2025-05-05")]})
    grown = grow(old, batch).dataset
    assert grown.to_frame().set_index("user").loc["u9", "at"] == pd.Timestamp("2025-05-05")
    with pytest.raises(ValueError, match="must hold datetimes"):
        grow(old, batch.assign(at=1.0))


def test_an_int_catalogue_takes_whole_float_ids_and_refuses_strings():
    inter = pd.DataFrame({"user": [1, 2, 3], "item": [10, 20, 10]})
    old = Dataset.from_frames(inter, **COLS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grown = grow(old, pd.DataFrame({"user": [4.0], "item": [20.0]})).dataset
    assert grown.user_ids.tolist() == [1, 2, 3, 4]
    with pytest.raises(TypeError, match="string"):
        grow(old, pd.DataFrame({"user": ["4"], "item": [20]}))
