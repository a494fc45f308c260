"""The linear algebra of FeatureCF as plain functions: EASE, ridge maps, leave-one-out penalties.

``ease_gram`` / ``ease_from_gram``
    The item-item regression of the ``"ease"`` term (Steck 2019, with user features as extra
    regressors).
``ridge_map`` / ``loo_ridge_alpha``
    Ridge regression with an unpenalised intercept as a linear map of the targets, and its
    penalty chosen by the closed-form leave-one-out error.
``fit_pop_model`` / ``predict_pop``
    Log-popularity predicted from item features (for items without interactions).
``content_map``
    The ``"content_ridge"`` map from a user's history to attribute coefficients.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

__all__ = [
    "CONTENT_RIDGE_ALPHAS",
    "EASE_L2_DEFAULT",
    "EASE_L2_GRID",
    "POP_RIDGE_ALPHAS",
    "SMALL_GRAM",
    "content_map",
    "ease_from_gram",
    "ease_gram",
    "fit_pop_model",
    "loo_ridge_alpha",
    "mean_item_count",
    "one_blas_thread",
    "predict_pop",
    "ridge_map",
]

#: multiples of the mean number of positives per item tried as the "ease" L2 penalty
EASE_L2_GRID = (2.0, 6.0, 20.0, 60.0)
#: the multiple used without a validation split
EASE_L2_DEFAULT = 20.0
#: penalties tried (by leave-one-out error) for the item-popularity-from-features ridge
POP_RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
#: penalties (times the number of items with interactions) tried for ``content_ridge``
CONTENT_RIDGE_ALPHAS = (0.01, 0.05, 0.2, 1.0, 5.0)


#: Gram matrices up to this size are inverted with BLAS on one thread: a threaded BLAS
#: spends far more CPU starting and waiting for its threads than computing (120 x 120: 0.7
#: ms of CPU on one thread, 250 ms on two; 600 x 600: 19 ms against 90 ms), and up to this
#: size the result is the same bit for bit
SMALL_GRAM = 600


@contextmanager
def one_blas_thread(active: bool = True) -> Iterator[None]:
    """BLAS on one thread inside the block (when ``active``), as it was afterwards."""
    if not active:
        yield
        return
    from threadpoolctl import threadpool_limits  # heavy: kept out of ``import featcf``

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def mean_item_count(values: sp.csr_matrix) -> float:
    """Mean number of stored interactions over the items that have any (at least 1)."""
    n_items_with = np.count_nonzero(np.bincount(values.indices, minlength=values.shape[1]))
    return max(values.nnz / max(n_items_with, 1), 1.0)


def ease_gram(
    values: sp.csr_matrix, user_features: sp.csr_matrix | None = None
) -> tuple[np.ndarray, int]:
    """Dense Gram matrix of the design ``Z = [user features | positives]`` and its width.

    Rows are the users with positives; without user features ``Z`` is the positives alone.
    Returns ``(Z^T Z float64, n_feature_columns)``.
    """
    v = sp.csr_matrix(values, dtype=np.float64)
    active = np.diff(v.indptr) > 0
    if user_features is None:
        return np.asarray((v.T @ v).toarray(), dtype=np.float64), 0
    f = sp.csr_matrix(user_features, dtype=np.float64)[active]
    z = sp.hstack([f, v[active]], format="csr")
    return np.asarray((z.T @ z).toarray(), dtype=np.float64), f.shape[1]


def ease_from_gram(
    gram: np.ndarray, l2: float, n_features: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """EASE weights from ``gram`` = ``Z^T Z`` of ``Z = [user features | positives]``.

    ``B = E - P E / diag(P)`` restricted to the item columns, ``P = (Z^T Z + l2 I)^-1``, so
    that column ``i`` of ``B`` is the ridge regression of item ``i`` on the user features
    and all *other* items (zero diagonal; Steck, "Embarrassingly Shallow Autoencoders",
    WWW 2019, with side information as extra regressors). Items without interactions get
    all-zero columns and rows.

    Returns
    -------
    items : ndarray of float32, shape (n_items, n_items)
        ``B[j, i]``: weight of history item ``j`` for item ``i``.
    features : ndarray of float32, shape (n_features, n_items), or None
        Weights of the user feature columns (None when ``n_features`` is 0).
    """
    from scipy.linalg import lapack  # heavy: kept out of ``import featcf``

    g = np.array(gram, dtype=np.float64, order="F", copy=True)
    g[np.diag_indices_from(g)] += float(l2)
    with one_blas_thread(len(g) <= SMALL_GRAM):
        chol, info = lapack.dpotrf(g, lower=False, overwrite_a=True)
        if info != 0:  # cannot happen for l2 > 0 (gram + l2 I is positive definite)
            raise np.linalg.LinAlgError(f"EASE: Cholesky factorisation failed (info={info})")
        inv, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inversion failed (info={info})")
    p = np.triu(inv) + np.triu(inv, 1).T
    cols = p[:, n_features:]
    b = cols / (-np.diag(p)[n_features:])[None, :]
    n_items = b.shape[1]
    b[n_features + np.arange(n_items), np.arange(n_items)] = 0.0
    features = b[:n_features].astype(np.float32) if n_features else None
    return np.ascontiguousarray(b[n_features:], dtype=np.float32), features


def ridge_map(xc: np.ndarray, mu: np.ndarray, alpha: float | None) -> np.ndarray:
    """Linear map ``y -> [coef; intercept]`` of ridge regression on ``xc + mu`` (centred
    ``xc``, unpenalised intercept); ``alpha`` None: intercept only. Shape (c + 1, n)."""
    n, c = xc.shape
    out = np.zeros((c + 1, n))
    if alpha is not None:
        out[:c] = np.linalg.solve(xc.T @ xc + alpha * np.eye(c), xc.T)
    out[c] = 1.0 / n - mu @ out[:c]
    return out


def loo_ridge_alpha(xc: np.ndarray, yc: np.ndarray, alphas: tuple[float, ...]) -> float | None:
    """The ridge penalty with the lowest leave-one-out squared error, or None for "mean only".

    ``xc``/``yc`` are centred (an unpenalised intercept; ``yc`` may hold several targets as
    columns, their errors are summed); the leave-one-out residuals come in closed form,
    ``e_i / (1 - h_ii)``, from the eigendecomposition of ``xc^T xc``.
    """
    n = len(yc)
    if n < 3:
        return None
    yc = yc.reshape(n, -1)  # one column per target
    best_alpha, best = None, float(np.sum((yc / (1.0 - 1.0 / n)) ** 2))  # mean only
    evals, evecs = np.linalg.eigh(xc.T @ xc)
    evals = np.maximum(evals, 0.0)
    proj = xc @ evecs  # (n, c)
    proj_y = proj.T @ yc
    for alpha in alphas:
        shrink = 1.0 / (evals + alpha)
        fitted = proj @ (shrink[:, None] * proj_y)
        leverage = (proj**2) @ shrink + 1.0 / n
        resid = (yc - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]
        loo = float(np.sum(resid**2))
        if loo < best:
            best_alpha, best = float(alpha), loo
    return best_alpha


def fit_pop_model(x_warm: sp.csr_matrix, target: np.ndarray) -> np.ndarray:
    """Ridge regression of log-popularity on item features: ``[intercept, coef...]``.

    The penalty is chosen by leave-one-out error among :data:`POP_RIDGE_ALPHAS` and
    "intercept only": when the features do not predict popularity out of sample (a few
    products, e.g. 22 insurance types), new items all get the mean instead of a
    confident guess.
    """
    n_cols = x_warm.shape[1]
    if target.size == 0:
        return np.zeros(n_cols + 1)
    mean = float(target.mean())
    xc = x_warm.toarray().astype(np.float64)
    mu = xc.mean(axis=0)
    xc -= mu
    alpha = loo_ridge_alpha(xc, target - mean, POP_RIDGE_ALPHAS)
    fitted = ridge_map(xc, mu, alpha) @ target  # [coef..., intercept]
    return np.concatenate([fitted[-1:], fitted[:-1]])


def predict_pop(coef: np.ndarray, x: sp.csr_matrix) -> np.ndarray:
    """Log-popularity of items with features ``x`` under :func:`fit_pop_model`'s ``coef``."""
    return np.asarray(x @ coef[1:], dtype=np.float64).ravel() + coef[0]


def content_map(x: sp.csr_matrix, warm_items: np.ndarray, values: sp.csr_matrix) -> np.ndarray:
    """Ridge map from a history to feature coefficients, shape (n_columns + 1, n_items).

    ``c_u = map @ y_u`` is the ridge regression (unpenalised intercept, last row) of the
    user's positives ``y_u`` over the items with interactions on their 0/1 attribute
    indicators ``x``; columns of items without interactions are 0. The penalty is the
    one of :data:`CONTENT_RIDGE_ALPHAS` (times the number of such items), or "intercept
    only", with the lowest leave-one-out error over (up to 1,000) users' positives: with a
    handful of products the attributes may not generalise at all.
    """
    n_items, n_cols = x.shape
    out = np.zeros((n_cols + 1, n_items), dtype=np.float32)
    warm = np.flatnonzero(warm_items)
    if len(warm) < 2:
        return out
    xw = x[warm].toarray().astype(np.float64)
    mu = xw.mean(axis=0)
    xc = xw - mu
    users = np.flatnonzero(np.diff(values.indptr) > 0)
    users = users[np.linspace(0, len(users) - 1, min(len(users), 1000)).astype(np.int64)]
    y = values[users][:, warm].toarray().astype(np.float64).T  # (warm items, users)
    alphas = tuple(a * len(warm) for a in CONTENT_RIDGE_ALPHAS)
    alpha = loo_ridge_alpha(xc, y - y.mean(axis=0), alphas) if len(users) else None
    out[:, warm] = ridge_map(xc, mu, alpha).astype(np.float32)
    return out
