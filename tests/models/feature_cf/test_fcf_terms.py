"""featcf.models.feature_cf._terms: the term registry and the terms against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

from featcf.models.feature_cf._terms import (
    NAMED_TERMS,
    compute_terms,
    field_content,
    field_neighbourhood,
    term_function,
    term_names,
)
from featcf.models.feature_cf._users import fitted_users


def test_ease_term_scores_the_history_through_the_regression(tiny, make_model):
    model = make_model(weights={"ease": 1.0}, ease_l2=1.0).fit(tiny)
    u = tiny.user_index(["u2"])
    seen = tiny.interactions[u].indices
    features = tiny.user_features.matrix[u].toarray()[0]
    expected = model.ease_matrix_[seen].sum(axis=0) + features @ model.ease_feature_matrix_
    scores = model.score_users(u)[0]
    scale = model.term_scale_[model.term_names_.index("ease")]
    band_w = model.band_weights_[0, model.term_names_.index("ease")]
    warm = model.item_counts_ > 0
    np.testing.assert_allclose(scores[warm], (band_w * expected / scale)[warm], rtol=1e-4)


def test_term_names_follow_the_data():
    fields = ["genre", "decade"]
    full = term_names(fields, ease=True, rating=True, demographics=True)
    assert full == [
        "cf", "ease", "user_cf", "cooccurrence", "popularity", "activity", "rating",
        "demographics", "demographic_fields", "content_ridge", "genre", "decade",
        "content:genre", "content:decade", "affinity",
    ]  # fmt: skip
    bare = term_names(fields, ease=False, rating=False, demographics=False)
    assert [
        n for n in full if n not in ("ease", "rating", "demographics", "demographic_fields")
    ] == bare


def test_every_term_resolves_in_the_registry():
    fields = ("genre", "decade")
    for name in term_names(fields, ease=True, rating=True, demographics=True):
        function = term_function(name, fields)
        if name in NAMED_TERMS:
            assert function is NAMED_TERMS[name]
        else:
            kind = field_content if name.startswith("content:") else field_neighbourhood
            assert function.func is kind
            assert function.keywords == {"field": fields.index(name.removeprefix("content:"))}
    with pytest.raises(ValueError, match="'colour'.*genre"):
        term_function("colour", fields)
    with pytest.raises(ValueError, match="content:colour"):
        term_function("content:colour", fields)


def test_terms_equal_their_formulas_on_dense_arrays(tiny, make_model):
    """popularity, activity, co-occurrence and the content affinities by direct formulas."""
    model = make_model().fit(tiny)
    scorer = model._fitted.scorer
    values = scorer.inputs.values
    users = np.flatnonzero(np.diff(values.indptr) > 0)  # with a history (no pseudo-history)
    items = np.arange(tiny.n_items)
    terms = compute_terms(scorer, fitted_users(scorer, users, values[users]), items)
    names = list(scorer.names)
    v = values.toarray().astype(np.float64)[users]
    n = v.sum(axis=1)
    np.testing.assert_allclose(terms[names.index("activity")], np.log1p(n)[:, None] + 0 * v)
    np.testing.assert_allclose(
        terms[names.index("popularity")], np.log1p(values.toarray().sum(axis=0)) + 0 * v, rtol=1e-6
    )
    everyone = values.toarray().astype(np.float64)
    counts = everyone.sum(axis=0)
    co = everyone.T @ everyone
    p_given = np.divide(co, counts[:, None], out=np.zeros_like(co), where=counts[:, None] > 0)
    np.testing.assert_allclose(
        terms[names.index("cooccurrence")], (v @ p_given) / n[:, None], rtol=1e-5
    )
    lift, xt = scorer.core.lift[users].astype(np.float64), scorer.inputs.x.toarray().T
    for name, sl in zip(scorer.inputs.field_names, scorer.inputs.field_slices, strict=True):
        np.testing.assert_allclose(
            terms[names.index(f"content:{name}")], lift[:, sl] @ xt[sl], rtol=1e-5, atol=1e-6
        )


def test_terms_of_some_items_equal_the_columns_of_all(tiny, make_model):
    """The product kernels' column selection and the dense item blocks agree."""
    model = make_model().fit(tiny)
    scorer = model._fitted.scorer
    users = np.arange(tiny.n_users)  # u6 and u7: features only (pseudo-history)
    state = fitted_users(scorer, users, scorer.inputs.values[users])
    every = compute_terms(scorer, state, np.arange(tiny.n_items))
    some = np.array([4, 1, 5])
    np.testing.assert_allclose(compute_terms(scorer, state, some), every[:, :, some], rtol=1e-6)


def test_users_without_history_who_state_interests_get_the_stated_row():
    """``TermWeights.of_users``: each user's band row, the stated row for users without
    history who stated interests (when there is one), a copy either way."""
    from featcf.models.feature_cf._state import TermWeights

    band = np.arange(15, dtype=float).reshape(5, 3)
    weights = TermWeights.of(np.ones(3), band, np.ones(3), stated=[9.0, 8.0, 7.0])
    n = np.array([0.0, 0.0, 1.0, 4.0, 30.0])
    said = np.array([True, False, True, False, False])
    got = weights.of_users(n, said)
    np.testing.assert_array_equal(got, [[9, 8, 7], band[0], band[1], band[2], band[4]])
    np.testing.assert_array_equal(weights.of_users(n, None), band[[0, 0, 1, 2, 4]])
    without = TermWeights.of(np.ones(3), band, np.ones(3))
    np.testing.assert_array_equal(without.of_users(n, said), band[[0, 0, 1, 2, 4]])
    got[:] = -1.0
    assert (weights.band == band).all() and (weights.stated == [9, 8, 7]).all()


def test_users_who_state_interests_without_features_get_the_stated_only_row():
    """``TermWeights.of_users`` with ``described``: users without history who stated
    interests and gave no features get the stated-only row when there is one (the stated
    row when not); ``described`` None (fitted users) leaves everyone to the stated row."""
    from featcf.models.feature_cf._state import TermWeights

    band = np.arange(15, dtype=float).reshape(5, 3)
    stated, only = [9.0, 8.0, 7.0], [6.0, 5.0, 4.0]
    weights = TermWeights.of(np.ones(3), band, np.ones(3), stated=stated, stated_only=only)
    n = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    said = np.array([True, True, False, True, False])
    described = np.array([True, False, False, False, True])
    got = weights.of_users(n, said, described)
    np.testing.assert_array_equal(got, [stated, only, band[0], band[1], band[0]])
    np.testing.assert_array_equal(weights.of_users(n, said), [stated, stated, *band[[0, 1, 0]]])
    np.testing.assert_array_equal(weights.of_users(n, None, described), band[[0, 0, 0, 1, 0]])
    first = TermWeights.of(np.ones(3), band, np.ones(3), stated=stated)
    np.testing.assert_array_equal(
        first.of_users(n, said, described), [stated, stated, *band[[0, 1, 0]]]
    )
