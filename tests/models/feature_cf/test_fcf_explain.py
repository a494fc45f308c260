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
