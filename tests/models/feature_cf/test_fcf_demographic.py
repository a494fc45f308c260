"""featcf.models.feature_cf._demographic: the shrunk per-value item shares, their per-field
sums, the field weights and their selection on the validation customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

import featcf
from featcf.models.feature_cf._core import demographic_lifts
from featcf.models.feature_cf._demographic import (
    FIELD_WEIGHT_PRIOR,
    demographic_model,
    field_parts,
    fit_field_weights,
)
from featcf.models.feature_cf._profiles import value_lifts


def _problem(seed: int, n_users: int, n_items: int, sizes: tuple[int, ...]):
    """Random positives and one-value-per-field user features (fields of ``sizes`` values)."""
    rng = np.random.default_rng(seed)
    values = sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))
    field_of = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = np.stack(
        [s + rng.integers(0, n, n_users) for s, n in zip(starts, sizes, strict=True)], axis=1
    )
    feats = np.zeros((n_users, int(sum(sizes))), np.float32)
    np.put_along_axis(feats, picks, 1.0, axis=1)
    return values, sp.csr_matrix(feats), field_of


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_users=st.integers(2, 12),
    n_items=st.integers(1, 6),
    shrinkage=st.sampled_from([0.0, 1.0, 20.0]),
)
def test_value_lifts_match_a_loop_over_values_and_items(seed, n_users, n_items, shrinkage):
    values, feats, _ = _problem(seed, n_users, n_items, (2, 3))
    active = np.flatnonzero(np.diff(values.indptr) > 0)
    got = value_lifts(feats, values, active, shrinkage)
    v, f = values.toarray() > 0, feats.toarray() > 0
    for a in range(f.shape[1]):
        for i in range(n_items):
            p_i = v[active, i].sum() / max(len(active), 1)
            holders = active[f[active, a]]
            if p_i == 0:
                expected = 0.0
            elif len(holders) + shrinkage == 0:
                continue  # 0/0: no holder and no shrinkage (never read)
            else:
                share = (v[holders, i].sum() + shrinkage * p_i) / (len(holders) + shrinkage)
                expected = np.log(share / p_i) if share > 0 else -np.inf
            assert got[a, i] == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 8))
def test_field_parts_sum_each_fields_values(seed, n_users):
    _, feats, field_of = _problem(seed, n_users, 4, (2, 1, 3))
    lift = np.random.default_rng(seed).normal(size=(len(field_of), 4))
    parts = field_parts(feats, lift, field_of)
    f = feats.toarray()
    for g in range(3):
        cols = field_of == g
        np.testing.assert_allclose(parts[g], f[:, cols] @ lift[cols])
    np.testing.assert_allclose(parts.sum(axis=0), f @ lift)


def _reference_loss(beta, parts, log_p, targets, blocked):
    """The field-weight objective by brute force (log-softmax per user)."""
    z = np.tensordot(beta, parts, axes=1) + log_p[None, :]
    z = np.where(blocked, -np.inf, z)
    logp = log_softmax(z, axis=1)
    pull = beta - beta.mean()
    return (-logp[targets].sum() + FIELD_WEIGHT_PRIOR * float(pull @ pull)) / targets.sum()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_field_weights_are_a_minimum_of_the_reference_objective(seed):
    """No coordinate step (inside ``beta >= 0``) lowers the brute-force objective."""
    rng = np.random.default_rng(seed)
    n_fields, n_users, n_items = 3, 30, 8
    parts = rng.normal(size=(n_fields, n_users, n_items))
    log_p = np.log(rng.dirichlet(np.ones(n_items)))
    targets = rng.random((n_users, n_items)) < 0.25
    targets[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    blocked = np.zeros_like(targets)
    beta = fit_field_weights(parts, log_p, targets, blocked)
    assert beta.shape == (n_fields,) and (beta >= 0).all()
    best = _reference_loss(beta, parts, log_p, targets, blocked)
    assert best <= _reference_loss(np.ones(n_fields), parts, log_p, targets, blocked) + 1e-9
    for f in range(n_fields):
        for step in (-1e-2, 1e-2):
            moved = beta.copy()
            moved[f] = max(moved[f] + step, 0.0)
            assert _reference_loss(moved, parts, log_p, targets, blocked) >= best - 1e-6


def test_a_field_counted_twice_gets_half_the_weight():
    """Naive Bayes counts a duplicated field twice; the fitted weights split it: the two
    copies' weights sum to about the weight of the field alone."""
    rng = np.random.default_rng(0)
    n_users, n_items = 4000, 6
    group = rng.integers(0, 2, n_users)
    share = np.array([[0.6, 0.6, 0.1, 0.1, 0.3, 0.3], [0.1, 0.1, 0.6, 0.6, 0.3, 0.3]])
    values = sp.csr_matrix((rng.random((n_users, n_items)) < share[group]).astype(np.float32))
    one = np.zeros((n_users, 2), np.float32)
    one[np.arange(n_users), group] = 1.0
    learn = sp.csr_matrix(sp.diags((np.arange(n_users) < 1000).astype(np.float32)) @ values)
    active = np.flatnonzero(np.diff(learn.indptr) > 0)
    held = np.arange(1000, n_users)
    counts = np.asarray(learn.sum(axis=0)).ravel()
    log_p = np.log(counts / len(active))
    targets = values[held].toarray() > 0
    betas = []
    for feats, field_of in (
        (one, np.array([0, 0])),
        (np.hstack([one, one]), np.array([0, 0, 1, 1])),
    ):
        lift = value_lifts(sp.csr_matrix(feats), learn, active, 5.0)
        parts = field_parts(sp.csr_matrix(feats[held]), lift, field_of)
        betas.append(fit_field_weights(parts, log_p, targets, np.zeros_like(targets)))
    single, double = betas
    assert single[0] > 0.5
    assert double.sum() == pytest.approx(single[0], rel=0.1)
    assert double.max() < 0.75 * single[0]


def test_column_weights_scale_the_rows_of_both_lift_tables():
    values, feats, field_of = _problem(3, 20, 5, (2, 3))
    active = np.flatnonzero(np.diff(values.indptr) > 0)
    x = sp.csr_matrix(np.eye(5, dtype=np.float32))
    g = np.full(5, 0.2)
    weights = np.array([0.5, 2.0])[field_of]
    plain = demographic_lifts(feats, values, active, x, g, 10.0)
    scaled = demographic_lifts(feats, values, active, x, g, 10.0, weights)
    for a, b in zip(plain, scaled, strict=True):
        np.testing.assert_allclose(b, a * weights[:, None].astype(np.float32), rtol=1e-6)


@pytest.fixture(scope="module")
def fitted(shop_model):
    return shop_model


def test_fitted_lifts_are_field_weighted_naive_bayes_lifts(shop, fitted):
    """Within a user field, every value's row of ``demo_lift_`` is the plain shrunk lift times
    one common non-negative factor (the field's weight) for one of the shrinkages tried."""
    from featcf.models.feature_cf._demographic import DEMO_SHRINKAGE_GRID

    uf = shop.user_features
    values = sp.csr_matrix(shop.interactions, dtype=np.float32)
    values.data[:] = 1.0
    active = np.flatnonzero(np.diff(values.indptr) > 0)
    got = fitted.demo_lift_.astype(np.float64)
    field_of = uf.field_of_column
    matches = []
    for m in DEMO_SHRINKAGE_GRID:
        plain = value_lifts(uf.matrix, values, active, m)
        ok = True
        for f in range(field_of.max() + 1):
            rows = field_of == f
            denom = float((plain[rows] ** 2).sum())
            factor = float((plain[rows] * got[rows]).sum()) / denom if denom > 0 else 0.0
            ok &= factor >= -1e-6 and np.allclose(got[rows], factor * plain[rows], atol=1e-4)
        matches.append(ok)
    assert any(matches)


def test_demographics_only_customers_survive_a_round_trip(shop, fitted, tmp_path):
    """Customers known only by their features get the same lists from a loaded model."""
    frame = shop.user_frame.reset_index().iloc[:4].copy()
    frame["user_id"] = ["new-a", "new-b", "new-c", "new-d"]
    path = tmp_path / "fcf.featcf"
    featcf.save(fitted, path)
    loaded = featcf.load(path)
    np.testing.assert_array_equal(loaded.demo_lift_, fitted.demo_lift_)
    np.testing.assert_array_equal(loaded.demo_field_lift_, fitted.demo_field_lift_)
    before = fitted.recommend_new_users(user_features=frame, n=5)
    after = loaded.recommend_new_users(user_features=frame, n=5)
    pd.testing.assert_frame_equal(before, after)


def test_demographic_model_is_popularity_plus_demographics_unscaled():
    names = ["cf", "popularity", "activity", "demographics"]
    scale = np.array([2.0, 3.0, 4.0, 5.0])
    free = np.ones(4, dtype=bool)
    np.testing.assert_array_equal(demographic_model(names, scale, free), [0, 3.0, 0, 5.0])
    held = free.copy()
    held[1] = False  # popularity excluded: no demographic model
    assert not demographic_model(names, scale, held).any()
    assert not demographic_model(["cf", "popularity"], scale[:2], free[:2]).any()


def test_reasons_of_demographics_only_customers_name_their_own_field_values(shop, fitted):
    """A customer known only by features reads "customers like you (<their values>) ..."
    with no internal term name."""
    frame = shop.user_frame.reset_index().iloc[:6].copy()
    own = {
        f"new-{i}": set(np.asarray(shop.user_features.column_names)[row.indices])
        for i, row in enumerate(shop.user_features.matrix[:6])
    }
    frame["user_id"] = list(own)
    recs = fitted.recommend_new_users(user_features=frame, n=3, reasons=True)
    named = 0
    for user, reason in zip(recs["user_id"], recs["reason"], strict=True):
        assert reason and not any(t in reason for t in ("demographics", "lift", "ease", "level"))
        if "customers like you (" in reason:
            inner = reason.split("customers like you (", 1)[1].rsplit(") ", 1)[0]
            for value in sorted(own[user], key=len, reverse=True):  # "age = [49, 58)"
                inner = inner.replace(str(value), "")
            assert inner.replace(",", "").strip() == ""  # nothing but the user's own values
            named += 1
    assert named > 0
