"""The vectorised field encoders give exactly the encodings of the row loop they replaced.

Issue 11 (item 4): ``featcf.data.features`` now encodes whole columns with pandas/NumPy. The row
loop of commit 603d5ce is kept in ``reference_encoders.py``; hypothesis generates small frames
with the awkward cases (missing values of every kind, values unseen at fit time, list-valued and
separator-string rows with empty parts, spaces and repeats, 1 / 1.0 / True in one object column,
NumPy scalars, ties and constant numeric columns, bool and category dtypes) and every encoding
must equal the reference's: same fields (names, kinds, column slices, value labels), same
vocabulary keys and types, same CSR (shape, dtypes, sorted indices, no explicit zeros, every
entry), same warnings.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reference_encoders import ReferenceFeatureEncoder

import featcf.data.dataset as dataset_module
from featcf import Dataset
from featcf.data import FeatureEncoder

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MISSING = [None, np.nan, pd.NA, pd.NaT]
WORDS = ["a", "b", "c", " a", "b ", "", " ", "A"]
NEW_WORDS = ["z", "y y"]  # never in a fitting frame
SEPS = ["|", ", ", "."]

# --------------------------------------------------------------------------- strategies


def _as_frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v).reset_index(drop=True) for k, v in columns.items()})


def _maybe_missing(values: st.SearchStrategy, p_missing: bool = True) -> st.SearchStrategy:
    return st.one_of(values, st.sampled_from(MISSING)) if p_missing else values


def _word(new: bool) -> st.SearchStrategy:
    return st.sampled_from(WORDS + NEW_WORDS if new else WORDS)


def _text(new: bool) -> st.SearchStrategy:
    return _maybe_missing(st.sampled_from([w for w in WORDS + NEW_WORDS if w.strip()] if new else
                                          [w for w in WORDS if w.strip()]))  # fmt: skip


def _mixed_scalar(new: bool) -> st.SearchStrategy:
    values = [1, 1.0, True, False, 0, 2.5, "1", "x", np.int64(3), np.float64(2.5), np.str_("x"),
              np.bool_(True), (1, 2)]  # fmt: skip
    extra = [7, 7.0, np.float32(0.5), "new", (3,)]
    return _maybe_missing(st.sampled_from(values + extra if new else values))


def _multi_cell(sep: str, new: bool) -> st.SearchStrategy:
    word = _word(new)
    item = st.one_of(word, st.sampled_from([None, np.nan, 1, np.int64(2), 2.0]))
    return st.one_of(
        st.lists(item, max_size=4),
        st.lists(word, max_size=3).map(tuple),
        st.lists(word, max_size=3).map(lambda w: np.array(w, dtype=object)),
        st.lists(word, max_size=3).map(lambda w: np.array(w) if w else np.array([], dtype=str)),
        st.lists(word, max_size=4).map(sep.join),
        st.sampled_from([None, np.nan, "", sep, 5]),
    )


def _numbers(new: bool) -> st.SearchStrategy:
    pool = [0.0, 1.0, 1.0, 2.5, 10.0, -3.0, np.nan]
    return st.sampled_from(pool + [100.0, -50.0, 1.7] if new else pool)


@st.composite
def column(draw: st.DrawFn, kind: str, n: int, new: bool, sep: str) -> tuple[pd.Series, str | None]:
    """One feature column of ``n`` rows and the spec to declare (None: inferred)."""
    if kind == "text":
        values = draw(st.lists(_text(new), min_size=n, max_size=n))
        dtype = draw(st.sampled_from([None, object, "category"]))
        return pd.Series(values, dtype=dtype), None
    if kind == "mixed":
        values = draw(st.lists(_mixed_scalar(new), min_size=n, max_size=n))
        return pd.Series(values, dtype=object), "categorical"
    if kind == "bool":
        values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        if draw(st.booleans()):
            return pd.Series(values, dtype=bool), None
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return pd.Series(pd.array(values, dtype="boolean")).mask(np.array(mask, dtype=bool)), None
    if kind == "int_category":  # integer categories with missing rows
        values = draw(st.lists(st.sampled_from([1, 2, 30, None] + ([4] if new else [])),
                               min_size=n, max_size=n))  # fmt: skip
        return pd.Series(pd.Categorical(values)), None
    if kind == "multi":
        values = draw(st.lists(_multi_cell(sep, new), min_size=n, max_size=n))
        return pd.Series(values, dtype=object), "multi"
    if kind == "multi_text":  # a str column of separator strings
        values = draw(st.lists(_maybe_missing(st.lists(_word(new), max_size=4).map(sep.join)),
                               min_size=n, max_size=n))  # fmt: skip
        return pd.Series(values, dtype=draw(st.sampled_from([None, object]))), "multi"
    values = draw(st.lists(_numbers(new), min_size=n, max_size=n))
    if kind == "constant":
        values = [3.0 if not np.isnan(v) else v for v in values]
    if kind == "int" and not any(np.isnan(v) for v in values):
        return pd.Series(np.asarray(values, dtype=np.int64)), None
    if kind == "int_as_text":  # numbers declared categorical
        return pd.Series(values), "categorical"
    return pd.Series(values), None


KINDS = ["text", "mixed", "bool", "int_category", "multi", "multi_text", "float", "constant",
         "int", "int_as_text"]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, dict, str, int]:
    """A fitting frame, a frame of new rows (unseen values), the specs, the separator, n_bins."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    sep = draw(st.sampled_from(SEPS))
    n_fit, n_new = draw(st.integers(0, 9)), draw(st.integers(0, 6))
    fit, new, specs = {"item": [f"sku-{10 * i}" for i in range(n_fit)]}, {}, {}
    new["item"] = [f"new-{10 * i}" for i in range(n_new)]
    for kind in kinds:
        fit[kind], spec = draw(column(kind, n_fit, False, sep))
        new[kind], _ = draw(column(kind, n_new, True, sep))
        if spec is not None:
            specs[kind] = spec
    n_bins = draw(st.integers(1, 4))
    return _as_frame(fit), _as_frame(new), specs, sep, n_bins


# --------------------------------------------------------------------------- comparison


def _run(fn):
    """``(result, warning messages, exception type)`` of ``fn()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = fn(), None
        except (TypeError, ValueError) as exc:
            result, error = None, type(exc)
    return result, [(w.category, str(w.message)) for w in caught], error


def assert_same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    assert a.shape == b.shape
    assert a.dtype == b.dtype == np.float32
    assert a.indices.dtype == b.indices.dtype and a.indptr.dtype == b.indptr.dtype
    assert a.has_sorted_indices and b.has_sorted_indices
    assert (a != b).nnz == 0
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)
    assert (a.data != 0).all()  # no explicit zeros


def assert_same_encoders(new: FeatureEncoder, ref: FeatureEncoder) -> None:
    assert new.fields_ == ref.fields_  # names, kinds, column slices, value labels, column order
    assert new.ignored_ == ref.ignored_
    for name, enc in ref._encoders.items():
        vocabulary = getattr(enc, "vocabulary", None)
        if vocabulary is not None:  # keys and their types (persistence writes them out)
            got = new._encoders[name].vocabulary
            assert [(type(k), k, j) for k, j in got.items()] == [
                (type(k), k, j) for k, j in vocabulary.items()
            ]


def assert_same_features(a, b) -> None:
    assert a.fields == b.fields
    np.testing.assert_array_equal(np.asarray(a.ids, dtype=object), np.asarray(b.ids, dtype=object))
    assert_same_csr(a.matrix, b.matrix)


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(frames())
def test_encoder_fit_and_transform_equal_the_row_loop(case):
    fit, new, specs, sep, n_bins = case
    args = ("item", specs or None, sep, n_bins, "item_features")
    got_fit, _, got_error = _run(lambda: FeatureEncoder(*args).fit(fit))
    ref_fit, _, ref_error = _run(lambda: ReferenceFeatureEncoder(*args).fit(fit))
    assert got_error == ref_error
    event(f"fit error: {ref_error}")
    if ref_error is not None:
        return
    assert_same_encoders(got_fit, ref_fit)
    for frame in (fit, new, new.iloc[::-1], fit.iloc[:0]):
        got, got_warnings, got_error = _run(lambda f=frame: got_fit.transform(f))
        ref, ref_warnings, ref_error = _run(lambda f=frame: ref_fit.transform(f))
        assert got_error == ref_error
        assert got_warnings == ref_warnings  # unseen values: same count and examples
        event(f"transform error: {ref_error}, warnings: {len(ref_warnings)}")
        if ref_error is None:
            assert_same_features(got, ref)


@SETTINGS
@given(frames(), st.data())
def test_dataset_build_and_new_items_equal_the_row_loop(case, data):
    fit, new, specs, sep, n_bins = case
    if len(fit) == 0:
        return
    n = len(fit)
    interactions = pd.DataFrame(
        {
            "user": data.draw(
                st.lists(st.sampled_from(["u1", "u2", "u3"]), min_size=n, max_size=n)
            ),
            "item": fit["item"].to_numpy()[data.draw(st.permutations(range(n)))],
        }
    ).iloc[: data.draw(st.integers(1, n))]  # items left out are cold catalogue rows
    kwargs = {"user_col": "user", "item_col": "item", "item_fields": specs or None, "sep": sep,
              "n_bins": n_bins}  # fmt: skip

    def build_and_extend():
        ds = Dataset.from_frames(interactions, fit, **kwargs)
        return ds, ds.with_new_items(new) if len(new) else ds

    got, got_warnings, got_error = _run(build_and_extend)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dataset_module, "FeatureEncoder", ReferenceFeatureEncoder)
        ref, ref_warnings, ref_error = _run(build_and_extend)
    assert got_error == ref_error
    assert got_warnings == ref_warnings
    event(f"dataset error: {ref_error}")
    if ref_error is not None:
        return
    for got_ds, ref_ds in zip(got, ref, strict=True):
        np.testing.assert_array_equal(got_ds.item_ids, ref_ds.item_ids)
        assert_same_csr(got_ds.interactions, ref_ds.interactions)
        assert_same_features(got_ds.item_features, ref_ds.item_features)


def test_one_and_one_point_zero_keep_their_own_labels_in_the_warning():
    # Equal values of different types are one column (as dict keys), but the warning names
    # each as written, as the row loop did.
    fit = pd.DataFrame({"item": ["a", "b"], "size": pd.Series([1, "x"], dtype=object)})
    new = pd.DataFrame({"item": ["c", "d", "e"], "size": pd.Series([7, 7.0, True], dtype=object)})
    args = ("item", {"size": "categorical"}, "|", 5, "item_features")
    got, got_warnings, _ = _run(lambda: FeatureEncoder(*args).fit(fit).transform(new))
    ref, ref_warnings, _ = _run(lambda: ReferenceFeatureEncoder(*args).fit(fit).transform(new))
    assert got_warnings == ref_warnings
    assert "2 value(s)" in got_warnings[0][1] and "['7', '7.0']" in got_warnings[0][1]
    assert got.matrix.toarray().tolist() == [[0, 0], [0, 0], [1, 0]]  # True finds 1
    assert_same_features(got, ref)


def test_new_items_with_ids_already_in_the_catalogue_are_refused():
    inter = pd.DataFrame({"user": ["u1", "u2"], "item": [10, 20]})
    items = pd.DataFrame({"item": [10, 20, 30], "colour": ["red", "blue", "red"]})
    ds = Dataset.from_frames(inter, items, user_col="user", item_col="item")
    new = pd.DataFrame({"item": [40, 20, 30.0], "colour": ["red", "red", "blue"]})
    with pytest.raises(ValueError, match=r"2 id\(s\) already in the catalogue"):
        ds.with_new_items(new)
    grown = ds.with_new_items(new.iloc[:1])
    assert grown.item_ids.tolist() == [10, 20, 30, 40]
    assert grown.item_features.matrix[3].toarray().tolist() == [[0, 1]]
