"""Scoring helpers shared by the models (featcf.models._scoring)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from featcf.models._scoring import dense_columns, explanation_frame


def test_dense_columns_all_and_some():
    product = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    np.testing.assert_array_equal(dense_columns(product, np.arange(3), 3), product.toarray())
    some = dense_columns(product, np.array([2, 0]), 3)
    assert some.dtype == np.float32
    np.testing.assert_array_equal(some, [[2.0, 1.0], [0.0, 0.0]])


def test_explanation_frame_drops_zeros_and_orders_by_magnitude():
    frame = explanation_frame(
        "neighbour",
        ["sku-10", "sku-20", "sku-30", "sku-40"],
        np.array([0.5, 0.0, -2.0, 0.5], dtype=np.float32),
        labels=["a", "b", "c", "d"],
    )
    assert frame.columns.tolist() == [
        "pair", "part", "field", "value", "contribution", "label", "constant"
    ]  # fmt: skip
    assert frame["label"].tolist() == ["c", "a", "d"]
    assert frame["value"].tolist() == ["sku-30", "sku-10", "sku-40"]  # ties keep their order
    assert frame["field"].isna().all() and (frame["part"] == "neighbour").all()
    assert frame["contribution"].dtype == np.float64


def test_explanation_frame_with_fields_and_nothing_to_explain():
    frame = explanation_frame("content", ["a = x"], np.array([1.0]), fields=["a"], labels="x")
    assert frame[["field", "value"]].values.tolist() == [["a", "a = x"]]
    empty = explanation_frame("content", [], np.array([]), fields=[], labels="x")
    assert len(empty) == 0 and empty.columns.tolist() == frame.columns.tolist()
