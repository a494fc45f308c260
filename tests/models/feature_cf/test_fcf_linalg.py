"""featcf.models.feature_cf._linalg: EASE, ridge maps and leave-one-out penalties against
direct references (numpy solves, explicit refits, scikit-learn)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
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
