"""featcf.models.feature_cf._inputs: what the steps read from the Dataset."""

from __future__ import annotations

import numpy as np

from featcf.data import Dataset
from featcf.models.feature_cf._inputs import read_inputs, resolve_ratings


def test_positive_threshold_drops_low_values_from_positives(make_model, tiny_frames):
    inter, items, users = tiny_frames
    inter = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        inter, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    model = make_model(positive_threshold=4.0).fit(ds)
    assert model._fitted.scorer.inputs.values.nnz == int((inter["stars"] >= 4).sum())


def test_inputs_hold_normalised_field_blocks_and_their_dense_forms(tiny):
    inputs = read_inputs(tiny, rating_data=False, positive_threshold=None)
    x = inputs.x.toarray()
    assert inputs.field_names == ("category", "coverage")
    for sl in inputs.field_slices:
        np.testing.assert_allclose(x[:, sl].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(inputs.xt, x.T)
    np.testing.assert_array_equal(inputs.xt_bin, (x.T > 0).astype(np.float64))
    np.testing.assert_array_equal(inputs.x_bin.toarray(), (x > 0).astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(inputs.xu.toarray(), axis=1), 1.0, rtol=1e-6)
    assert inputs.field_labels[0] == tuple(tiny.item_fields["category"].values)
    assert set(np.unique(inputs.values.data)) == {1.0}
    assert inputs.liked_threshold is None


def test_ratings_are_resolved_from_implicit(tiny_frames):
    inter, items, users = tiny_frames
    stars = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        stars, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    assert resolve_ratings(ds, "auto") is True
    assert resolve_ratings(ds, np.bool_(True)) is False  # a numpy bool is a bool, not "auto"
    assert resolve_ratings(ds, False) is True
    plain = Dataset.from_frames(inter, items, users, user_col="user", item_col="item")
    assert resolve_ratings(plain, "auto") is False
    liked = read_inputs(ds, rating_data=True, positive_threshold=None).liked_threshold
    assert liked == float(ds.interactions.data.mean())
