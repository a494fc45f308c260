"""featcf.models.feature_cf._linalg: EASE, ridge maps and leave-one-out penalties against
direct references (numpy solves, explicit refits, scikit-learn)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from featcf.models.feature_cf._linalg import (
    content_map,
    ease_from_gram,
    ease_gram,
    loo_ridge_alpha,
    ridge_map,
)


def test_ease_matrix_equals_per_item_ridge_regressions():
    """EASE's closed form = for each item i, ridge of column i on the other columns."""

    rng = np.random.default_rng(0)
    V = sp.csr_matrix((rng.random((30, 7)) < 0.35).astype(np.float32))
    l2 = 2.5
    gram, n_features = ease_gram(V)
    assert n_features == 0
    B, B_f = ease_from_gram(gram, l2)
    assert B_f is None
    dense = V.toarray().astype(np.float64)
    for i in range(7):
        others = [j for j in range(7) if j != i]
        Xo = dense[:, others]
        coef = np.linalg.solve(Xo.T @ Xo + l2 * np.eye(6), Xo.T @ dense[:, i])
        np.testing.assert_allclose(B[others, i], coef, rtol=1e-4, atol=1e-5)
        assert B[i, i] == 0.0


def test_ease_with_user_features_regresses_on_features_and_other_items():

    rng = np.random.default_rng(4)
    V = sp.csr_matrix((rng.random((40, 6)) < 0.3).astype(np.float32))
    F = sp.csr_matrix((rng.random((40, 3)) < 0.5).astype(np.float32))
    l2 = 1.5
    gram, n_features = ease_gram(V, F)
    assert n_features == 3
    B, B_f = ease_from_gram(gram, l2, n_features)
    active = np.diff(V.indptr) > 0  # users without positives are not regression rows
    dense_v = V.toarray().astype(np.float64)[active]
    dense_f = F.toarray().astype(np.float64)[active]
    for i in range(6):
        others = [j for j in range(6) if j != i]
        Z = np.hstack([dense_f, dense_v[:, others]])
        coef = np.linalg.solve(Z.T @ Z + l2 * np.eye(Z.shape[1]), Z.T @ dense_v[:, i])
        np.testing.assert_allclose(B_f[:, i], coef[:3], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(B[others, i], coef[3:], rtol=1e-4, atol=1e-5)
        assert B[i, i] == 0.0


def test_ridge_map_is_ridge_with_an_unpenalised_intercept():

    rng = np.random.default_rng(1)
    x = (rng.random((12, 5)) < 0.4).astype(np.float64)
    y = (rng.random(12) < 0.5).astype(np.float64)
    mu = x.mean(axis=0)
    coef = ridge_map(x - mu, mu, 2.0) @ y
    ridge = Ridge(alpha=2.0).fit(x, y)
    np.testing.assert_allclose(coef[:-1], ridge.coef_, atol=1e-8)
    np.testing.assert_allclose(coef[-1], ridge.intercept_, atol=1e-8)
    only_mean = ridge_map(x - mu, mu, None) @ y
    np.testing.assert_allclose(only_mean, [0, 0, 0, 0, 0, y.mean()], atol=1e-12)


def test_loo_ridge_alpha_matches_brute_force_leave_one_out():

    rng = np.random.default_rng(2)
    x = rng.normal(size=(15, 3))
    y = np.stack([x @ [1.0, -2.0, 0.5] + rng.normal(scale=0.3, size=15), rng.normal(size=15)], 1)
    alphas = (0.01, 1.0, 100.0)

    def brute(alpha):
        total = 0.0
        for i in range(15):
            keep = np.arange(15) != i
            xm, ym = x[keep].mean(axis=0), y[keep].mean(axis=0)
            xc = x[keep] - xm
            if alpha is None:
                pred = ym
            else:
                coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(3), xc.T @ (y[keep] - ym))
                pred = ym + (x[i] - xm) @ coef
            total += float(np.sum((y[i] - pred) ** 2))
        return total

    errors = {a: brute(a) for a in (*alphas, None)}
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    assert loo_ridge_alpha(xc, yc, alphas) == min(errors, key=lambda a: errors[a] or 0.0)
    # pure noise: predicting the mean wins
    noise = rng.normal(size=(15, 1))
    assert loo_ridge_alpha(xc, noise - noise.mean(), (0.01,)) is None


def test_content_map_falls_back_to_the_mean_when_attributes_do_not_generalise():

    rng = np.random.default_rng(0)
    # attributes drawn independently of who bought what: nothing to learn from them
    x = sp.csr_matrix((rng.random((30, 4)) < 0.5).astype(np.float32))
    values = sp.csr_matrix((rng.random((200, 30)) < 0.3).astype(np.float32))
    cmap = content_map(x, np.ones(30, dtype=bool), values)
    assert not cmap[:-1].any()  # no attribute coefficient: every item gets the user's mean
    np.testing.assert_allclose(cmap[-1], 1.0 / 30, rtol=1e-6)
    # attributes that explain the purchases are kept
    liked = x.toarray()[:, 0] > 0
    values = sp.csr_matrix((rng.random((200, 30)) < np.where(liked, 0.6, 0.1)).astype(np.float32))
    cmap = content_map(x, np.ones(30, dtype=bool), values)
    coef = cmap @ liked.astype(np.float32)  # a user who bought exactly the items with it
    assert coef[0] > 0.5 and np.abs(coef[1:4]).max() < 0.2


# --------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(
    n_users=st.integers(3, 15),
    n_items=st.integers(2, 6),
    n_features=st.integers(0, 3),
    l2=st.floats(0.5, 5.0),
    seed=st.integers(0, 2**16),
)
def test_ease_equals_a_direct_solve_per_item(n_users, n_items, n_features, l2, seed):
    """Column i of B (and of B_F) is the ridge regression of item i on the user features and
    the other items, over the users with positives: a direct numpy solve per item."""
    rng = np.random.default_rng(seed)
    v = sp.csr_matrix((rng.random((n_users, n_items)) < 0.4).astype(np.float32))
    f = sp.csr_matrix((rng.random((n_users, n_features)) < 0.5).astype(np.float32))
    gram, width = ease_gram(v, f if n_features else None)
    assert width == n_features
    b, b_f = ease_from_gram(gram, l2, width)
    assert b.dtype == np.float32 and b.shape == (n_items, n_items)
    assert (b_f is None) == (n_features == 0)
    active = np.diff(v.indptr) > 0
    dv, df = v.toarray()[active].astype(np.float64), f.toarray()[active].astype(np.float64)
    for i in range(n_items):
        others = [j for j in range(n_items) if j != i]
        z = np.hstack([df, dv[:, others]])
        coef = np.linalg.solve(z.T @ z + l2 * np.eye(z.shape[1]), z.T @ dv[:, i])
        np.testing.assert_allclose(b[others, i], coef[n_features:], rtol=1e-4, atol=1e-5)
        if n_features:
            np.testing.assert_allclose(b_f[:, i], coef[:n_features], rtol=1e-4, atol=1e-5)
        assert b[i, i] == 0.0


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 12),
    c=st.integers(1, 3),
    alpha=st.one_of(st.none(), st.floats(0.01, 50.0)),
    seed=st.integers(0, 2**16),
)
def test_ridge_map_solves_the_ridge_normal_equations(n, c, alpha, seed):
    """``ridge_map(xc, mu, alpha) @ y`` = ``[coef; intercept]`` minimising
    ``|y - x coef - b|^2 + alpha |coef|^2`` (no penalty on ``b``; None: ``b`` alone)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c))
    y = rng.normal(size=n)
    mu = x.mean(axis=0)
    got = ridge_map(x - mu, mu, alpha) @ y
    if alpha is None:
        np.testing.assert_allclose(got, [*np.zeros(c), y.mean()], atol=1e-12)
        return
    design = np.hstack([x, np.ones((n, 1))])
    penalty = alpha * np.diag([*np.ones(c), 0.0])
    expected = np.linalg.solve(design.T @ design + penalty, design.T @ y)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 10),
    c=st.integers(1, 3),
    n_targets=st.integers(1, 2),
    signal=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_loo_ridge_alpha_has_the_lowest_error_of_explicit_refits(n, c, n_targets, signal, seed):
    """The closed-form leave-one-out choice reaches the lowest error of refitting without each
    row in turn (penalties and "mean only" alike)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c))
    y = signal * (x @ rng.normal(size=(c, n_targets))) + rng.normal(size=(n, n_targets))
    alphas = (0.01, 0.3, 10.0)

    def refit_error(alpha):
        total = 0.0
        for i in range(n):
            keep = np.arange(n) != i
            xm, ym = x[keep].mean(axis=0), y[keep].mean(axis=0)
            pred = ym
            if alpha is not None:
                xc = x[keep] - xm
                coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(c), xc.T @ (y[keep] - ym))
                pred = ym + (x[i] - xm) @ coef
            total += float(np.sum((y[i] - pred) ** 2))
        return total

    chosen = loo_ridge_alpha(x - x.mean(axis=0), y - y.mean(axis=0), alphas)
    assert chosen is None or chosen in alphas
    errors = [refit_error(a) for a in (*alphas, None)]
    assert refit_error(chosen) <= min(errors) * (1 + 1e-9) + 1e-12


def test_content_map_is_zero_for_items_without_interactions():
    rng = np.random.default_rng(3)
    x = sp.csr_matrix((rng.random((8, 4)) < 0.5).astype(np.float32))
    values = sp.csr_matrix((rng.random((30, 8)) < 0.4).astype(np.float32))
    warm = np.ones(8, dtype=bool)
    warm[[2, 5]] = False
    cmap = content_map(x, warm, values)
    assert cmap.shape == (5, 8) and cmap.dtype == np.float32
    assert not cmap[:, ~warm].any()
    assert not content_map(x, np.eye(1, 8, dtype=bool)[0], values).any()  # fewer than 2
