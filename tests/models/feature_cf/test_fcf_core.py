"""featcf.models.feature_cf._core: building a core, for all users or for some."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.models.feature_cf._core import build_core, with_user_rows
from featcf.models.feature_cf._linalg import predict_pop
from featcf.models.feature_cf._neighbours import reference_positions


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


def test_extend_core_makes_room_for_new_items(tiny, make_model):
    model = make_model(weights={"ease": 1.0, "popularity": 1.0}, ease_l2=1.0).fit(tiny)
    before = model._fitted.scorer.core
    new = pd.DataFrame({"item": ["sku-70", "sku-80"], "category": ["car", "home"],
                        "coverage": ["basic", "basic"]})  # fmt: skip
    model.add_items(new)
    core = model._fitted.scorer.core
    n = tiny.n_items + 2
    assert core.values.shape == (tiny.n_users, n)
    assert core.item_similarity.shape == (n, n) and core.ease.shape == (n, n)
    assert core.content_map.shape[1] == n and core.demo_lift.shape[1] == n
    np.testing.assert_array_equal(core.item_counts[-2:], 0.0)
    assert not core.ease[-2:].any() and not core.ease[:, -2:].any()
    assert not core.content_map[:, -2:].any()
    x_new = model._fitted.scorer.inputs.x_bin[-2:]  # popularity_design "indicators"
    np.testing.assert_allclose(
        core.popularity[-2:], predict_pop(before.popularity_coef, x_new), rtol=1e-6
    )
    np.testing.assert_array_equal(core.popularity[:-2], before.popularity)


def test_core_under_a_reference_cap_finds_the_top_k_among_the_sample(shop, make_model):
    """With more active users than ``max_reference_users`` every search runs among the
    seeded sample (issue 14): neighbours are sample members, never the user, and their
    scores are the best of a brute-force search among the sample."""
    k, cap = 5, 70
    model = make_model(n_neighbors=k, max_reference_users=cap).fit(shop)
    core = model._fitted.scorer.core
    settings = model._fitted.scorer.settings
    ref = reference_positions(core.active, settings)
    assert len(ref) == cap < len(core.active)
    members = np.zeros(len(core.active), dtype=bool)
    members[ref] = True
    g, lift = core.global_profile, core.lift.astype(np.float64)
    ref_users = core.active[ref]
    slices = model._fitted.scorer.inputs.field_slices
    for m in (core.user_neighbors, core.demo_neighbors, *core.field_neighbors):
        assert m.shape == (shop.n_users, len(core.active))
        assert members[m.indices].all()
        assert m.nnz > 0 and (np.diff(m.indptr) <= k).all()
    for f, sl in enumerate(slices):
        w = np.sqrt(g[sl])
        p_ref = lift[ref_users][:, sl] * w
        for u in range(0, shop.n_users, 37):
            p = lift[u, sl] * w
            den = np.linalg.norm(p) * np.linalg.norm(p_ref, axis=1)
            cos = np.divide(p_ref @ p, den, out=np.zeros(len(ref)), where=den > 0)
            cos[ref_users == u] = -np.inf  # never the user themself
            best = np.sort(cos)[::-1][:k]
            row = core.field_neighbors[f][u]
            assert u not in core.active[row.indices]
            np.testing.assert_allclose(
                np.sort(row.data)[::-1], best[best > 0].astype(np.float32), rtol=1e-5
            )


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Equal CSR storage: the same entries in the same stored (best-first) order."""
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def test_rows_added_later_equal_those_of_a_build_asked_about_them(shop, make_model):
    """A validation core is built with no neighbour rows; ``with_user_rows`` adds those of
    the validation users drawn later, equal (stored order included) to a build asked about
    them, with and without a binding reference cap."""
    for cap in (None, 90):
        model = make_model(n_neighbors=6, max_reference_users=cap).fit(shop)
        scorer = model._fitted.scorer
        inputs, settings = scorer.inputs, scorer.settings
        users = np.sort(np.random.default_rng(1).choice(shop.n_users, 50, replace=False))
        later = with_user_rows(
            build_core(inputs, settings, inputs.values, query_users=np.zeros(0, np.int64)),
            inputs,
            settings,
            users,
        )
        asked = build_core(inputs, settings, inputs.values, query_users=users)
        assert _same(later.user_neighbors, asked.user_neighbors)
        for a, b in zip(later.field_neighbors, asked.field_neighbors, strict=True):
            assert _same(a, b)
        assert later.user_neighbors[users].nnz > 0
