"""featcf.models.feature_cf._inputs: what the steps read from the Dataset."""

from __future__ import annotations

from featcf.data import Dataset


def test_positive_threshold_drops_low_values_from_positives(make_model, tiny_frames):
    inter, items, users = tiny_frames
    inter = inter.assign(stars=[5, 4, 1, 5, 2, 4, 5, 3, 4, 1, 5])
    ds = Dataset.from_frames(
        inter, items, users, user_col="user", item_col="item", weight_col="stars"
    )
    model = make_model(positive_threshold=4.0).fit(ds)
    assert model._fitted.scorer.inputs.values.nnz == int((inter["stars"] >= 4).sum())
