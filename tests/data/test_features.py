"""Field encoding: each kind, inference, unseen values, new-row encoding."""

import warnings

import numpy as np
import pandas as pd
import pytest

from featcf import Dataset, FeatureEncodingWarning
from featcf.data import FeatureEncoder, FieldSpec
from featcf.data.features import infer_kind


def _frame():
    return pd.DataFrame(
        {
            "item": ["sku-10", "sku-20", "sku-30", "sku-40"],
            "category": ["car", "home", "car", None],
            "genres": [["a", "b"], ["b"], [], None],
            "tags": ["x|y", "y", "", None],
            "premium": [10.0, 20.0, 30.0, 40.0],
            "title": ["A", "B", "C", "D"],
        }
    )


def _encoder(**specs):
    return FeatureEncoder("item", specs or None, "|", 2, "item_features").fit(_frame())


def test_inferred_kinds():
    frame = _frame()
    assert infer_kind(frame["category"]) == "categorical"
    assert infer_kind(frame["genres"]) == "multi"
    assert infer_kind(frame["premium"]) == "numeric"
    assert infer_kind(pd.Series([True, False])) == "categorical"
    assert infer_kind(pd.Series(pd.to_datetime(["2020-01-01"]))) == "numeric"


def test_each_kind_encodes_as_expected():
    enc = _encoder(tags="multi", title="ignore")
    fm = enc.transform(_frame())
    assert list(fm.fields) == ["category", "genres", "tags", "premium"]
    assert enc.ignored_ == ("title",)
    cat, gen, tag, prem = (fm.fields[n] for n in fm.fields)
    assert cat.values == ("car", "home") and gen.values == ("a", "b") and tag.values == ("x", "y")
    assert prem.values == ("[10, 25)", "[25, 40]")
    dense = fm.matrix.toarray()
    # rows: sku-10 car,a,b,x,y,low ; sku-20 home,b,y,low ; sku-30 car,high ; sku-40 none,high
    expected = np.array(
        [
            [1, 0, 1, 1, 1, 1, 1, 0],
            [0, 1, 0, 1, 0, 1, 1, 0],
            [1, 0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(dense, expected)
    assert fm.column_names[0] == "category = car"
    assert cat.label(1) == "category = home"
    assert fm.field_of_column.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_few_distinct_numbers_are_their_own_bands_and_new_numbers_go_to_nearest():
    frame = pd.DataFrame({"item": [1, 2, 3], "term": [1, 12, 12]})
    enc = FeatureEncoder("item", None, "|", 5, "item_features").fit(frame)
    assert enc.fields_["term"].values == ("1", "12")
    fm = enc.transform(pd.DataFrame({"item": [9, 8], "term": [2, 11]}))
    assert fm.matrix.toarray().tolist() == [[1, 0], [0, 1]]


def test_numbers_outside_the_fitted_range_use_end_bands():
    enc = _encoder()
    new = _frame().assign(premium=[-5.0, 100.0, 25.0, np.nan])
    block = enc.transform(new).field_block("premium").toarray()
    assert block.tolist() == [[1, 0], [0, 1], [0, 1], [0, 0]]


def test_unseen_category_gives_zero_field_and_a_warning():
    enc = _encoder(tags="multi")
    new = _frame().assign(category=["boat", "car", "car", "car"])
    with pytest.warns(FeatureEncodingWarning, match="category"):
        block = enc.transform(new).field_block("category").toarray()
    assert block[0].tolist() == [0, 0]
    assert block[1].tolist() == [1, 0]


def test_field_block_normalize():
    fm = _encoder(tags="multi").transform(_frame())
    block = fm.field_block("genres", normalize=True).toarray()
    np.testing.assert_allclose(block.sum(axis=1), [1, 1, 0, 0])


def test_spec_forms_and_bad_specs():
    assert _encoder(premium=FieldSpec("numeric", n_bins=4)).fields_["premium"].n_values == 4
    assert _encoder(premium={"kind": "categorical"}).fields_["premium"].kind == "categorical"
    with pytest.raises(ValueError, match="'colour'"):
        _encoder(colour="categorical")
    with pytest.raises(ValueError, match="unknown kind"):
        _encoder(category="ordinal")
    with pytest.raises(ValueError, match="non-numeric"):
        _encoder(category="numeric")


def test_transform_rejects_unknown_and_missing_columns():
    enc = _encoder()
    with pytest.raises(ValueError, match="never saw"):
        enc.transform(_frame().assign(colour="red"))
    with pytest.raises(ValueError, match="lacks field"):
        enc.transform(_frame().drop(columns=["category"]))
    with pytest.raises(ValueError, match="id column 'item'"):
        enc.transform(_frame().drop(columns=["item"]))


def test_numbers_for_a_field_fitted_without_any_are_unseen():
    # issue 13: a numeric column all NaN at fit has no band; a number encoded later went into
    # the next field's first column (silently) or past the last column (scipy's bare error)
    inter = pd.DataFrame({"u": ["a", "a", "b"], "i": ["x", "y", "x"]})
    items = pd.DataFrame({"i": ["x", "y"], "size": [np.nan, np.nan], "cat": ["c1", "c2"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeatureEncodingWarning)
        ds = Dataset.from_frames(inter, items, user_col="u", item_col="i")
    new = pd.DataFrame({"i": ["z"], "size": [3.0], "cat": ["c2"]})
    with pytest.warns(FeatureEncodingWarning, match="'size' has 1 value"):
        encoded = ds.encode_items(new)
    assert encoded.matrix.toarray().tolist() == [[0.0, 1.0]]  # cat = c2 only


def test_text_for_a_field_fitted_blank_is_unseen_too():
    # a column all blank at fit is inferred numeric; text there later is unseen like a
    # number (zeros and a warning), not an error telling the user to declare it categorical
    # (found by test_features_reference's hypothesis test)
    inter = pd.DataFrame({"u": ["a", "a", "b"], "i": ["x", "y", "x"]})
    items = pd.DataFrame({"i": ["x", "y"], "note": [np.nan, np.nan], "cat": ["c1", "c2"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeatureEncodingWarning)
        ds = Dataset.from_frames(inter, items, user_col="u", item_col="i")
    new = pd.DataFrame({"i": ["z", "w"], "note": ["fragile", np.nan], "cat": ["c2", "c1"]})
    with pytest.warns(FeatureEncodingWarning, match="'note' has 1 value.*'fragile'"):
        encoded = ds.encode_items(new)
    assert encoded.matrix.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
