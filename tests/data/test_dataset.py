"""Dataset.from_frames: ids, interactions, catalogue union, duplicates and bad input."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from featcf import Dataset, FeatureEncodingWarning, UnknownIdError


@pytest.fixture
def interactions():
    # 3 users x 3 items with interactions; sku-40 only in the catalogue (cold item).
    return pd.DataFrame(
        {
            "user": ["u1", "u1", "u2", "u3", "u3"],
            "item": ["sku-10", "sku-20", "sku-10", "sku-30", "sku-20"],
            "rating": [5.0, 3.0, 4.0, 2.0, 1.0],
            "ts": [100, 200, 150, 300, 50],
        }
    )


@pytest.fixture
def items():
    return pd.DataFrame(
        {
            "item": ["sku-10", "sku-20", "sku-30", "sku-40"],
            "category": ["car", "home", "car", "travel"],
            "genres": ["a|b", "b", "c", "a"],
        }
    )


@pytest.fixture
def users():
    return pd.DataFrame(
        {"user": ["u1", "u2", "u3", "u4"], "age": [25, 40, 61, 33], "region": ["N", "S", "N", "E"]}
    )


def build(interactions, items=None, users=None, **kw):
    kw.setdefault("user_col", "user")
    kw.setdefault("item_col", "item")
    return Dataset.from_frames(interactions, items, users, **kw)


def test_interactions_matrix_and_ids(interactions, items, users):
    ds = build(
        interactions,
        items,
        users,
        weight_col="rating",
        timestamp_col="ts",
        item_fields={"genres": "multi"},
    )
    assert ds.user_ids.tolist() == ["u1", "u2", "u3", "u4"]
    assert ds.item_ids.tolist() == ["sku-10", "sku-20", "sku-30", "sku-40"]
    assert isinstance(ds.interactions, sp.csr_matrix)
    assert ds.interactions.dtype == np.float32
    expected = np.array([[5, 3, 0, 0], [4, 0, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(ds.interactions.toarray(), expected)
    assert ds.timestamps.tolist() == [
        100,
        200,
        150,
        50,
        300,
    ]  # aligned with data (u3: sku-20, sku-30)
    assert ds.n_interactions == 5
    assert ds.user_counts().tolist() == [2, 1, 2, 0]
    assert ds.item_counts().tolist() == [2, 2, 1, 0]


def test_cold_entities_from_feature_frames(interactions, items, users):
    ds = build(interactions, items, users)
    assert ds.item_index("sku-40") == 3  # feature-only product is part of the catalogue
    assert ds.user_index(["u4"]).tolist() == [3]
    assert ds.item_features.matrix.shape == (4, ds.item_features.n_columns)
    assert ds.item_features.matrix[3].nnz == 2  # travel + genre a
    assert ds.user_features.matrix.shape[0] == 4
    assert ds.item_frame.loc["sku-40", "category"] == "travel"


def test_int_ids_round_trip():
    frame = pd.DataFrame({"u": [10, 20, 10], "i": [7, 7, 9]})
    ds = Dataset.from_frames(frame, user_col="u", item_col="i")
    assert ds.user_index([20, 10]).tolist() == [1, 0]
    back = ds.to_frame()
    assert sorted(zip(back["u"], back["i"], strict=True)) == [(10, 7), (10, 9), (20, 7)]
    assert (back["weight"] == 1.0).all()
    with pytest.raises(UnknownIdError, match="'10'"):
        ds.user_index(["10"])


def test_to_frame_round_trip_strings(interactions):
    ds = build(interactions, weight_col="rating", timestamp_col="ts")
    back = ds.to_frame().sort_values(["user", "item"]).reset_index(drop=True)
    original = interactions.sort_values(["user", "item"]).reset_index(drop=True)
    assert back["user"].tolist() == original["user"].tolist()
    assert back["item"].tolist() == original["item"].tolist()
    np.testing.assert_array_equal(back["rating"], original["rating"])
    np.testing.assert_array_equal(back["ts"], original["ts"])


@pytest.mark.parametrize(
    ("policy", "weight", "time"),
    [
        ("sum", 9.0, 300),
        ("mean", 3.0, 300),
        ("max", 5.0, 300),
        ("first", 5.0, 100),
        ("last", 1.0, 300),
    ],
)
def test_duplicate_policies(policy, weight, time):
    # the same pair three times at t=100 (5), 300 (1), 200 (3): first/last follow time
    frame = pd.DataFrame(
        {
            "user": ["u1"] * 3 + ["u2"],
            "item": ["a"] * 3 + ["a"],
            "w": [5.0, 1.0, 3.0, 2.0],
            "t": [100, 300, 200, 10],
        }
    )
    ds = build(frame, weight_col="w", timestamp_col="t", duplicates=policy)
    assert ds.interactions[0, 0] == pytest.approx(weight)
    assert ds.timestamps[0] == time
    assert ds.interactions[1, 0] == 2.0


def test_duplicates_error_lists_pairs(interactions):
    doubled = pd.concat([interactions, interactions.iloc[[0]]])
    with pytest.raises(ValueError, match=r"repeated \(user, item\).*'u1', 'sku-10'"):
        build(doubled, duplicates="error")


def test_datetime_timestamps(interactions):
    frame = interactions.assign(ts=pd.to_datetime(interactions["ts"], unit="s"))
    ds = build(frame, timestamp_col="ts")
    assert ds.timestamps.tolist() == [100, 200, 150, 50, 300]


def test_missing_feature_rows_warn(interactions, items):
    with pytest.warns(FeatureEncodingWarning, match="1 item"):
        ds = build(interactions, items[items["item"] != "sku-30"])
    assert ds.item_features.matrix[ds.item_index("sku-30")].nnz == 0


def test_encode_new_items_and_users(interactions, items, users):
    ds = build(interactions, items, users, item_fields={"genres": "multi"})
    new = pd.DataFrame({"item": ["sku-99"], "category": ["home"], "genres": ["a|c"]})
    fm = ds.encode_items(new)
    assert fm.ids.tolist() == ["sku-99"]
    assert [ds.item_features.column_names[c] for c in fm.matrix.indices] == [
        "category = home",
        "genres = a",
        "genres = c",
    ]
    with pytest.warns(FeatureEncodingWarning, match="region"):
        fu = ds.encode_users(pd.DataFrame({"user": ["new"], "age": [30], "region": ["W"]}))
    assert fu.matrix.nnz == 1  # the age band only


def test_summary_and_repr(interactions, items):
    ds = build(interactions, items)
    assert "4 items" in ds.summary() and "cold): 1" in ds.summary()
    assert "category" in repr(ds)


def test_with_interactions_keeps_catalogue(interactions, items):
    ds = build(interactions, items, timestamp_col="ts")
    kept = ds.interactions.copy()
    kept.data[:] = 1.0
    sub = ds.with_interactions(kept, ds.timestamps)
    assert sub.n_items == ds.n_items and sub.item_features is ds.item_features
    assert sub.interactions.data.tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="shape"):
        ds.with_interactions(ds.interactions[:, :2])


# ---------------------------------------------------------------- bad input
BAD_INPUTS = [
    # (description, frame mutation, kwargs, error type, message fragment)
    ("missing user column", lambda f: f.drop(columns=["user"]), {}, ValueError, "'user'"),
    ("missing weight column", lambda f: f, {"weight_col": "score"}, ValueError, "'score'"),
    ("missing timestamp column", lambda f: f, {"timestamp_col": "when"}, ValueError, "'when'"),
    (
        "NaN user id",
        lambda f: f.assign(user=["u1", None, "u2", "u3", "u3"]),
        {},
        ValueError,
        "'user'",
    ),
    (
        "NaN item id",
        lambda f: f.assign(item=[np.nan, "a", "b", "c", "d"]),
        {},
        ValueError,
        "'item'",
    ),
    (
        "NaN weight",
        lambda f: f.assign(rating=[1.0, np.nan, 2, 3, 4]),
        {"weight_col": "rating"},
        ValueError,
        "'rating'",
    ),
    (
        "infinite weight",
        lambda f: f.assign(rating=[1.0, np.inf, 2, 3, 4]),
        {"weight_col": "rating"},
        ValueError,
        "'rating'",
    ),
    (
        "negative weight",
        lambda f: f.assign(rating=[1.0, -2, 2, 3, 4]),
        {"weight_col": "rating"},
        ValueError,
        "'rating'.*negative",
    ),
    (
        "zero weight",
        lambda f: f.assign(rating=[1.0, 0, 2, 3, 4]),
        {"weight_col": "rating"},
        ValueError,
        "'rating'.*zero",
    ),
    (
        "text weight",
        lambda f: f.assign(rating=list("abcde")),
        {"weight_col": "rating"},
        ValueError,
        "'rating'.*numeric",
    ),
    (
        "NaN timestamp",
        lambda f: f.assign(ts=[1.0, np.nan, 2, 3, 4]),
        {"timestamp_col": "ts"},
        ValueError,
        "'ts'",
    ),
    ("empty interactions", lambda f: f.iloc[:0], {}, ValueError, "interactions is empty"),
    ("bad duplicates option", lambda f: f, {"duplicates": "drop"}, ValueError, "duplicates"),
    ("bad n_bins", lambda f: f, {"n_bins": 0}, ValueError, "n_bins"),
]


@pytest.mark.parametrize(
    ("mutate", "kwargs", "error", "match"),
    [b[1:] for b in BAD_INPUTS],
    ids=[b[0] for b in BAD_INPUTS],
)
def test_bad_interactions(interactions, mutate, kwargs, error, match):
    with pytest.raises(error, match=match):
        build(mutate(interactions), **kwargs)


BAD_FEATURES = [
    ("no id column", lambda f: f.drop(columns=["item"]), {}, "item_features.*'item'"),
    ("duplicate ids", lambda f: pd.concat([f, f.iloc[[0]]]), {}, "item_features.*duplicated"),
    (
        "NaN id",
        lambda f: f.assign(item=["sku-10", None, "sku-30", "sku-40"]),
        {},
        "item_features.*missing",
    ),
    (
        "spec names missing column",
        lambda f: f,
        {"item_fields": {"colour": "categorical"}},
        "item_fields.*'colour'",
    ),
    (
        "spec names id column",
        lambda f: f,
        {"item_fields": {"item": "categorical"}},
        "item_fields.*id column",
    ),
    ("unknown kind", lambda f: f, {"item_fields": {"category": "ordinal"}}, "unknown kind"),
]


@pytest.mark.parametrize(
    ("mutate", "kwargs", "match"), [b[1:] for b in BAD_FEATURES], ids=[b[0] for b in BAD_FEATURES]
)
def test_bad_item_features(interactions, items, mutate, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(interactions, mutate(items), **kwargs)


def test_bad_user_features(interactions, users):
    with pytest.raises(ValueError, match="user_features.*duplicated"):
        build(interactions, None, pd.concat([users, users.iloc[[1]]]))
    with pytest.raises(ValueError, match="user_fields"):
        build(interactions, None, users, user_fields={"income": "numeric"})


def test_not_a_frame():
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        Dataset.from_frames([("u", "i")], user_col="u", item_col="i")


def test_fields_without_frame(interactions):
    with pytest.raises(ValueError, match="item_fields is given but item_features is None"):
        build(interactions, item_fields={"x": "multi"})


def test_to_frame_gives_datetimes_back(interactions):
    frame = interactions.assign(ts=pd.to_datetime(interactions["ts"], unit="s"))
    back = build(frame, timestamp_col="ts").to_frame()
    assert pd.api.types.is_datetime64_any_dtype(back["ts"])
    assert sorted(back["ts"]) == sorted(frame["ts"])


# ---------------------------------------------------------------- issue 13: float32 weights
@pytest.mark.parametrize(
    ("weight", "match"),
    [(1e308, "above float32's largest value"), (1e-46, "below float32's smallest")],
)
def test_weights_outside_float32_are_refused_naming_the_column(interactions, weight, match):
    # 1e308 used to be stored as inf, 1e-46 as a stored 0 (past the zero-weight rule)
    bad = interactions.assign(rating=[5.0, weight, 4.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"interactions\['rating'\].*" + match + r".*rows \[1\]"):
        build(bad, weight_col="rating")


def test_summed_duplicates_past_float32_are_refused(interactions):
    big = pd.concat([interactions.assign(rating=3e38)] * 2)
    with pytest.raises(ValueError, match=r"'rating'.*duplicates='sum' holds 1 weight.*above"):
        build(big.iloc[[0, 5]], weight_col="rating")
    # scores add weights up: their total must stay a finite float32 too
    with pytest.raises(ValueError, match=r"'rating'\] \(weight_col\) holds weights that add up"):
        build(interactions.assign(rating=1e38), weight_col="rating")
    one = interactions.assign(rating=[1e38, 1, 1, 1, 1])
    assert build(one, weight_col="rating").interactions.data.max() == np.float32(1e38)


def test_new_items_of_another_id_kind_are_refused(interactions, items):
    # issue 13: an int id added to a string catalogue was accepted, after which save failed
    ds = build(interactions, items)
    new = pd.DataFrame({"item": [50], "category": ["car"], "genres": ["a"]})
    with pytest.raises(TypeError, match=r"item_features\['item'\] holds integer id.*astype\(str\)"):
        ds.with_new_items(new)
    ints = build(
        interactions.assign(item=[10, 20, 10, 30, 20]), items.assign(item=[10, 20, 30, 40])
    )
    with pytest.raises(TypeError, match="string id.*integers.*astype\\(int\\)"):
        ints.with_new_items(new.assign(item=["sku-50"]))
    assert ints.with_new_items(new).item_ids.tolist() == [10, 20, 30, 40, 50]
