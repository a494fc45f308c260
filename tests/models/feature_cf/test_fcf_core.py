"""featcf.models.feature_cf._core: building a core, for all users or for some."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from featcf.models.feature_cf._core import build_core


def test_core_built_for_some_users_has_their_full_neighbour_rows(shop, make_model):
    """Validation cores search neighbours only for the users asked about; those rows are exact."""

    model = make_model(n_neighbors=10).fit(shop)
    scorer = model._fitted.scorer
    inputs, settings = scorer.inputs, scorer.settings
    asked = np.sort(np.random.default_rng(0).choice(shop.n_users, 60, replace=False))
    full = build_core(inputs, settings, inputs.values)
    part = build_core(inputs, settings, inputs.values, query_users=asked)
    others = np.setdiff1d(np.arange(shop.n_users), asked)
    for name in ("user_neighbors", "field_neighbors"):
        full_m = getattr(full, name)
        part_m = getattr(part, name)
        if name == "field_neighbors":
            full_m, part_m = sp.vstack(full_m).tocsr(), sp.vstack(part_m).tocsr()
        n_blocks = full_m.shape[0] // shop.n_users
        rows = np.concatenate([asked + b * shop.n_users for b in range(n_blocks)])
        empty = np.concatenate([others + b * shop.n_users for b in range(n_blocks)])
        assert part_m.shape == full_m.shape
        assert (part_m[rows] != full_m[rows]).nnz == 0
        assert full_m[rows].nnz > 0 and part_m[empty].nnz == 0
    np.testing.assert_array_equal(part.lift, full.lift)
