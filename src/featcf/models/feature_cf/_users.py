"""Per-user quantities for scoring: fitted users, or users folded in at query time.

A fitted user's profile and neighbours were computed with the core; a user unknown at fit
time (or a validation user whose history is hidden) is *folded in*: their profile comes from
their few positives (with the prior of their feature-space neighbours, when they have user
features) and their neighbours are searched among the core's active users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from featcf.models.feature_cf._interests import with_stated
from featcf.models.feature_cf._neighbours import (
    fold_in_field_neighbours,
    fold_in_user_neighbours,
)
from featcf.models.feature_cf._profiles import lift_over, profile_prior, profiles_from
from featcf.models.feature_cf._sparse import row_sums
from featcf.models.feature_cf._state import Scorer
from featcf.similarity import topk_similarity_between

__all__ = ["UserState", "fitted_users", "folded_users", "stated_any"]


@dataclass(frozen=True, eq=False)
class UserState:
    """What the terms read about the users of one query (one row per user)."""

    #: their positives (users x items CSR)
    history: sp.csr_matrix
    #: history lengths (float64)
    n: np.ndarray
    #: neighbours in user-feature space among the active users, or None
    demo: sp.csr_matrix | None
    #: profiles as log-lift over the global profile (float64)
    lift: np.ndarray
    #: per item field, profile neighbours among the active users
    field_neighbors: tuple[sp.csr_matrix, ...]
    #: user-kNN neighbours among the active users
    user_neighbors: sp.csr_matrix
    #: their user features (CSR), or None
    features: sp.csr_matrix | None
    #: per user, whether they stated interests (folded-in users only), or None
    stated: np.ndarray | None = None
    #: per user, whether they gave user features (folded-in users who state interests: it
    #: only picks their weights; None otherwise)
    described: np.ndarray | None = None


def fitted_users(scorer: Scorer, user_idx: np.ndarray, history: sp.csr_matrix) -> UserState:
    """Users of the core's own matrix (positions ``user_idx``) with their ``history``."""
    core, uf = scorer.core, scorer.inputs.user_features
    return UserState(
        history=history,
        n=row_sums(history),
        demo=None if core.demo_neighbors is None else core.demo_neighbors[user_idx],
        lift=np.asarray(core.lift[user_idx], dtype=np.float64),
        field_neighbors=tuple(m[user_idx] for m in core.field_neighbors),
        user_neighbors=core.user_neighbors[user_idx],
        features=None if uf is None else uf[user_idx],
    )


def folded_users(
    scorer: Scorer,
    history: sp.csr_matrix,
    user_features: sp.csr_matrix | None,
    stated: sp.csr_matrix | None = None,
) -> UserState:
    """Users unknown to the core: profiles and neighbours from their positives ``history``
    (and their ``user_features`` and ``stated`` interests, if any), without refitting."""
    core, arrays, settings = scorer.core, scorer.arrays, scorer.settings
    g, slices = core.global_profile, scorer.inputs.field_slices
    demo = None
    if user_features is not None and arrays.features_active is not None:
        demo = topk_similarity_between(
            user_features,
            arrays.features_active,
            settings.n_neighbors,
            "cosine",
            n_threads=settings.n_threads,
        )
    prior = profile_prior(g, core.base_profiles, demo, history.shape[0])
    profiles = profiles_from(
        history, prior, scorer.inputs.x, settings.profile_shrinkage, settings.n_threads
    )
    n = row_sums(history)
    profiles = with_stated(profiles, stated, slices, n, settings.profile_shrinkage)
    lift = lift_over(profiles, g)
    return UserState(
        history=history,
        n=n,
        demo=demo,
        lift=lift,
        field_neighbors=tuple(
            fold_in_field_neighbours(lift, arrays.field_refs, g, slices, settings)
        ),
        user_neighbors=fold_in_user_neighbours(
            history, arrays.v_active_t, arrays.v_norms, settings
        ),
        features=user_features,
        stated=None if stated is None else stated_any(stated),
        described=None if stated is None else _described(user_features, history.shape[0]),
    )


def _described(user_features: sp.csr_matrix | None, n_users: int) -> np.ndarray:
    """Per user, whether their row of ``user_features`` (None: no one's) holds a value."""
    if user_features is None:
        return np.zeros(n_users, dtype=bool)
    return stated_any(user_features)


def stated_any(stated: sp.csr_matrix) -> np.ndarray:
    """Per row of ``stated`` (users x item feature columns), whether it states a value."""
    said = sp.csr_matrix(stated, copy=True)
    said.eliminate_zeros()
    return np.diff(said.indptr) > 0
