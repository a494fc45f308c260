"""Attribute profiles: the global profile, users' shrunk profiles, their log-lift and prior.

For field ``f`` with items x values block ``X_f`` (rows summing to 1), user ``u``'s profile is
``P_u^f = (sum_{j in h_u} X_f[j] + lam * prior_u^f) / (n_u + lam)``: the distribution of the
user's positives over the field's values, shrunk towards a prior with ``lam`` pseudo-
interactions. The prior is the global profile ``g^f`` or, for users with feature-space
neighbours, the mean of those neighbours' profiles. Profiles are compared (and scored) as
their log-lift over the global profile.

The demographic counterpart, ``value_lifts``, is the log-lift of every item among the
customers holding a user feature value over its overall share (the ``"demographics"`` term).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from featcf._products import csr_dense_product
from featcf.models.feature_cf._sparse import row_normalize, row_sums

__all__ = ["global_profile", "lift_over", "profile_prior", "profiles_from", "value_lifts"]

_EPS = 1e-6


def global_profile(
    values: sp.csr_matrix, x: sp.csr_matrix, slices: tuple[slice, ...]
) -> np.ndarray:
    """The interaction-weighted distribution of every field's values, ``g`` (float64)."""
    prof_sum = np.asarray((values @ x).sum(axis=0), dtype=np.float64).ravel()
    g = np.zeros(x.shape[1])
    for sl in slices:
        total = prof_sum[sl].sum()
        if total > 0:
            g[sl] = prof_sum[sl] / total
    return g


def profiles_from(
    values: sp.csr_matrix,
    prior: np.ndarray,
    x: sp.csr_matrix,
    shrinkage: float,
    n_threads: int | None,
) -> np.ndarray:
    """Profiles of the rows of ``values`` shrunk towards ``prior`` (one row, or one per user)."""
    lam = float(shrinkage)
    sums = csr_dense_product(values, x, n_threads=n_threads)
    n = row_sums(values)[:, None]
    out = (sums + lam * prior) / np.maximum(n + lam, _EPS)
    if lam == 0:
        out = np.where(n > 0, out, prior)
    return out


def lift_over(profiles: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``log(P / g)`` (smoothed), 0 on the values no one has."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.log((profiles + _EPS) / (g[None, :] + _EPS))
    lift[:, g <= 0] = 0.0
    return lift


def profile_prior(
    g: np.ndarray, base_profiles: np.ndarray, demo: sp.csr_matrix | None, n_rows: int
) -> np.ndarray:
    """Per-row profile prior: the feature neighbours' mean base profile, else the global one.

    ``base_profiles`` holds the profiles of the neighbours' side (the active users) under the
    global prior; ``demo`` (rows x active users) their feature-space neighbours.
    """
    prior = np.broadcast_to(g, (n_rows, len(g))).copy()
    if demo is not None and demo.nnz:
        w = row_normalize(demo)
        borrowed = np.asarray(w @ base_profiles, dtype=np.float64)
        has = np.diff(w.indptr) > 0
        prior[has] = borrowed[has]
    return prior


def value_lifts(
    user_features: sp.csr_matrix,
    values: sp.csr_matrix,
    active: np.ndarray,
    shrinkage: float,
) -> np.ndarray:
    """``log P(i | a) / P(i)`` of every user feature value ``a`` (rows) for every item,
    ``P(i | a)`` shrunk towards ``P(i)`` by ``shrinkage`` pseudo-customers (float64).

    Items nobody has get 0. Only the ``active`` customers (those with positives) count.
    """
    item_counts = np.bincount(values.indices, minlength=values.shape[1]).astype(np.float64)
    uf_a = sp.csr_matrix(user_features[active], dtype=np.float64)
    uf_a.data[:] = 1.0
    co = np.asarray((uf_a.T @ values[active]).todense(), dtype=np.float64)
    n_a = np.asarray(uf_a.sum(axis=0), dtype=np.float64).ravel()
    p_i = item_counts / max(len(active), 1)
    lam = float(shrinkage)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.log((co + lam * p_i[None, :]) / (n_a[:, None] + lam) / p_i[None, :])
    lift[:, p_i <= 0] = 0.0
    return lift
