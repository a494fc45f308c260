"""featcf.models.feature_cf._explain: the parts of a score sum to it and name what they use."""

from __future__ import annotations

import numpy as np
import pytest


def test_explain_contributions_sum_to_predict(tiny, make_model):
    model = make_model().fit(tiny)
    for user, item in [("u1", "sku-40"), ("u3", "sku-10"), ("u6", "sku-30")]:
        frame = model.explain(user, item)
        assert list(frame.columns) == ["part", "field", "value", "contribution", "label"]
        assert frame["contribution"].sum() == pytest.approx(
            float(model.predict([user], [item])[0]), rel=1e-4, abs=1e-5
        )


def test_explain_names_the_matched_field_values(tiny, make_model):
    model = make_model(weights={"category": 1.0, "coverage": 1.0}).fit(tiny)
    frame = model.explain("u1", "sku-40")
    fields = frame[frame["part"] == "field"]
    assert set(zip(fields["field"], fields["value"], strict=True)) == {
        ("category", "travel"),
        ("coverage", "premium"),
    }
    assert "cf" in set(frame["part"])


def test_explain_sums_on_shop(shop, shop_model):
    user, item = shop.user_ids[5], shop.item_ids[3]
    frame = shop_model.explain(user, item)
    assert frame["contribution"].sum() == pytest.approx(
        float(shop_model.predict([user], [item])[0]), rel=1e-4, abs=1e-5
    )


def test_explain_names_the_history_item_behind_the_ease_part(tiny, make_model):
    model = make_model(weights={"ease": 1.0}, ease_l2=1.0).fit(tiny)
    parts = model.explain("u2", "sku-30")
    row = parts[parts["part"] == "ease"].iloc[0]
    assert row["value"] in ("sku-10", "sku-20", None)
    # the regression's user-feature share is read as demographics
    assert ((parts["part"] == "demographics") & (parts["field"] == "ease")).sum() == 1
    total = parts["contribution"].sum()
    np.testing.assert_allclose(total, model.predict(["u2"], ["sku-30"])[0], rtol=1e-5)


def _naming(make_label, values: set[str]) -> set[str]:
    """Every label ``make_label`` writes naming at most two of ``values``, in any order."""
    values = sorted(values)
    out = {make_label([])}
    for a in values:
        out.add(make_label([a]))
        out.update(make_label([a, b]) for b in values if b != a)
    return out


def test_affinity_parts_name_the_audiences_own_values(shop, make_model):
    """A launched product's audience: the ``"affinity"`` term is taken apart into the
    customer's feature values, the field values of their purchases, the product kind's
    general appeal and a baseline, which name only values the customer has and sum, with
    the rest, to the score; and the audience's reasons are not one sentence for all."""
    from featcf.models._reasons import demographics_label, purchases_label

    model = make_model(weights={"affinity": 1.0}).fit(shop)
    launch = shop.item_frame.reset_index().iloc[[0]].assign(item_id="P-NEW")
    model.add_items(launch)
    top = model.recommend_users("P-NEW", n=15, reasons=True)
    ds = model.dataset_
    user_names = np.asarray(ds.user_features.column_names, dtype=object)
    item_names = np.asarray(ds.item_features.column_names, dtype=object)
    for user, score in zip(top["user_id"], top["score"], strict=True):
        frame = model.explain(user, "P-NEW", across="users")
        assert frame["contribution"].sum() == pytest.approx(score, rel=1e-4, abs=1e-5)
        aff = frame[frame["part"] == "affinity"].set_index("field")
        assert set(aff.index) == {"demographics", "purchases", "kind", "activity"}
        row = ds.user_index([user])[0]
        own_values = set(user_names[ds.user_features.matrix[row].indices])
        bought = ds.interactions[row].indices
        bought_values = set(item_names[ds.item_features.matrix[bought].indices])
        assert aff.loc["demographics", "label"] in _naming(demographics_label, own_values)
        assert aff.loc["purchases", "label"] in _naming(purchases_label, bought_values)
        assert aff.loc["activity", "label"] == "baseline"
    assert top["reason"].nunique() > 1
    assert top["reason"].str.contains("(", regex=False).any()  # some reason names a value
