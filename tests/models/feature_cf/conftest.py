"""Fixtures of the FeatureCF tests (one test module per module of featcf.models.feature_cf)."""

from __future__ import annotations

import numpy as np
import pytest

from featcf.data import Dataset
from featcf.datasets import make_insurance_shop
from featcf.models.feature_cf import FeatureCF
from featcf.models.feature_cf._state import BAND_EDGES, band_of


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


def _moved_bands(model: FeatureCF) -> np.ndarray:
    """Per history band, whether the nDCG search moved its weights off the audience set's."""
    return ~np.isclose(model.band_weights_, model.audience_band_weights_).all(axis=1)


@pytest.fixture(scope="module")
def searched_model(shop) -> FeatureCF:
    """A fit on :func:`shop` (15 neighbours) whose nDCG search moved the weights of some band
    holding customers but not of all bands, so that its two weight sets differ on customers:
    the first such ``random_state`` from 0 (which bands move depends on the split and on the
    BLAS kernels' rounding)."""
    held = np.bincount(band_of(shop.user_counts()), minlength=len(BAND_EDGES)) > 0
    for random_state in range(12):
        model = FeatureCF(n_neighbors=15, random_state=random_state, show_progress=False)
        moved = _moved_bands(model.fit(shop))
        if (moved & held).any() and not moved.all():
            return model
    raise AssertionError("no random_state in 0-11 gives a search that moved some bands")


@pytest.fixture(scope="module")
def searched_bands(searched_model) -> np.ndarray:
    """Per history band, whether the search moved :func:`searched_model`'s weights."""
    return _moved_bands(searched_model)
