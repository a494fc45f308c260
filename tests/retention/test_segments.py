"""segment: customers grouped by attribute profiles, described in words."""

from __future__ import annotations

import pandas as pd
import pytest

from featcf import ContentKNN, FeatureCF
from featcf.retention import Segments, segment


@pytest.fixture(scope="module")
def groups_model(two_groups):
    return ContentKNN().fit(two_groups)


def test_two_obvious_groups(groups_model, two_groups):
    result = segment(groups_model, 2, random_state=0)
    assert isinstance(result, Segments)
    labels = result.assignments.set_index("user_id")["segment"]
    assert labels.index.tolist() == two_groups.user_ids.tolist()
    families = {labels[f"f{k}"] for k in range(1, 5)}
    singles = {labels[f"s{k}"] for k in range(1, 5)}
    assert len(families) == 1 and len(singles) == 1 and families != singles
    summary = result.summary.set_index("segment")
    assert summary["size"].sum() == two_groups.n_users
    (family,) = families
    text = summary.loc[family, "description"]
    assert "household = family 100% (50% overall)" in text
    assert "category = vehicle 100% (50% overall)" in text
    # the families' products: the vehicle cover they lack (f4 bought V1 only)
    top = result.top_items[result.top_items["segment"] == family]
    assert set(top["item_id"]) <= {"V2", "V3", "T1", "T2", "T3"}
    assert top["item_id"].iloc[0] == "V3"
    assert top["share"].iloc[0] == pytest.approx(1.0)
    assert top["reason"].str.contains("category = vehicle").iloc[0]


def test_value_share_and_determinism(groups_model):
    value = pd.Series({"f1": 30.0, "f2": 30.0, "s1": 40.0})
    first = segment(groups_model, 2, random_state=1, value=value)
    shares = first.summary.set_index("segment")["value_share"]
    assert shares.sum() == pytest.approx(1.0)
    labels = first.assignments.set_index("user_id")["segment"]
    assert shares[labels["f1"]] == pytest.approx(0.6)
    again = segment(groups_model, 2, random_state=1, value=value)
    pd.testing.assert_frame_equal(first.assignments, again.assignments)
    assert first.summary["value_share"].notna().all()
    assert segment(groups_model, 2, random_state=1).summary["value_share"].isna().all()


def test_sizes_sum_to_the_customers_on_the_shop(shop):
    model = FeatureCF(random_state=0, show_progress=False).fit(shop)
    result = segment(model, 4, random_state=0, n_items=2)
    assert result.summary["size"].sum() == shop.n_users
    assert result.summary["size"].is_monotonic_decreasing  # numbered by size
    assert result.summary["segment"].tolist() == [1, 2, 3, 4]
    assert result.summary["customer_share"].sum() == pytest.approx(1.0)
    assert result.profiles.index.tolist() == [1, 2, 3, 4, "all"]
    assert set(result.top_items["segment"]) == {1, 2, 3, 4}
    assert result.top_items.groupby("segment").size().le(2).all()


def test_bad_input(groups_model, two_groups):
    with pytest.raises(ValueError, match="n_segments"):
        segment(groups_model, 0)
    with pytest.raises(ValueError, match="n_segments must be at most"):
        segment(groups_model, two_groups.n_users + 1)
    with pytest.raises(TypeError, match="n_segments"):
        segment(groups_model, 2.0)
    with pytest.raises(TypeError, match="model"):
        segment(two_groups, 2)
