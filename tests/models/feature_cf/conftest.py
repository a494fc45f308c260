"""Fixtures of the FeatureCF tests (one test module per module of featcf.models.feature_cf)."""

from __future__ import annotations

import pytest

from featcf.data import Dataset
from featcf.datasets import make_insurance_shop
from featcf.models.feature_cf import FeatureCF


@pytest.fixture(scope="module")
def shop() -> Dataset:
    """A larger shop than the suite-wide ``shop`` (400 customers, 30 products, 2 new)."""
    return make_insurance_shop(n_customers=400, n_products=30, n_new_products=2, random_state=3)


@pytest.fixture(scope="module")
def shop_model(shop) -> FeatureCF:
    """FeatureCF fitted on :func:`shop` (20 neighbours)."""
    return FeatureCF(n_neighbors=20, random_state=0, show_progress=False).fit(shop)


@pytest.fixture
def make_model():
    """``make_model(**params)``: a FeatureCF with 3 neighbours, seeded, silent."""

    def make(**kw) -> FeatureCF:
        params = {"n_neighbors": 3, "random_state": 0, "show_progress": False}
        params.update(kw)
        return FeatureCF(**params)

    return make
