"""FeatureCF's ``partial_fit``: the fitted state for a grown Dataset, without a refit.

What is refreshed (the model's docstring lists it for users):

* new products: as ``add_items`` does (:func:`~featcf.models.feature_cf._core.extend_core`);
* the positives, active users, item counts and the popularity of items with positives;
* the state of every *touched* customer (in the batch, or registered by it), computed
  against the model as it was before the update (the customers active then, their
  profiles and histories): a new customer exactly as the fold-in of
  ``recommend_new_users`` computes it (:func:`~featcf.models.feature_cf._users.folded_users`);
  a known customer as the fit computes it (neighbours among the others, without themselves;
  feature neighbours kept, their features do not change);
* the base profiles (the profile under the global prior) of the touched active customers,
  which new customers' borrowed priors read.

Everything learned from all the data stays until the next fit: the weights and term scales,
the global profile, item-kNN similarities, the "ease" regression, the content regression
map, the popularity model, the demographic lifts, the rating quality, and the neighbour
rows of untouched customers (which may still list a touched customer as they were).
Neighbour matrices index the active customers: when the update makes customers active,
their columns are renumbered (:func:`remap_columns`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from featcf.data.dataset import Dataset
from featcf.models._updates import replace_rows, without_self
from featcf.models.feature_cf._core import extend_core
from featcf.models.feature_cf._inputs import Inputs, Settings, read_inputs
from featcf.models.feature_cf._neighbours import fold_in_field_neighbours, self_columns
from featcf.models.feature_cf._profiles import lift_over, profile_prior, profiles_from
from featcf.models.feature_cf._state import Core, Fitted, Scorer, make_scorer
from featcf.models.feature_cf._users import UserState, folded_users
from featcf.similarity import topk_similarity_between

__all__ = ["remap_columns", "updated_fitted"]


def updated_fitted(fitted: Fitted, old: Dataset, new: Dataset, touched_users: np.ndarray) -> Fitted:
    """``fitted`` (fitted on ``old``) updated for ``new``, the Dataset ``old`` grew into."""
    scorer = fitted.scorer
    inputs = read_inputs(
        new,
        rating_data=scorer.inputs.rating_data,
        positive_threshold=scorer.inputs.positive_threshold,
    )
    before = _with_new_items(scorer, inputs, old.n_items)
    new_users = np.arange(old.n_users, new.n_users, dtype=np.int64)
    known = touched_users[touched_users < old.n_users]
    uf = inputs.user_features
    updated = []
    if len(known):
        updated.append((known, _known_users(before, inputs.values[known], known)))
    if len(new_users):
        features = None if uf is None else sp.csr_matrix(uf[new_users], dtype=np.float32)
        updated.append((new_users, folded_users(before, inputs.values[new_users], features)))
    core = _grown_core(before, inputs, updated)
    scorer = make_scorer(inputs, scorer.settings, scorer.names, core)
    return Fitted(scorer, fitted.weights, fitted.audience)


def _with_new_items(scorer: Scorer, inputs: Inputs, n_old_items: int) -> Scorer:
    """The scorer before the update, with the new products added as ``add_items`` adds them
    (its positives and active users are the old ones)."""
    n_new = inputs.x.shape[0] - n_old_items
    if n_new == 0:
        return scorer
    core = scorer.core
    values = sp.csr_matrix(
        (core.values.data, core.values.indices, core.values.indptr),
        shape=(core.values.shape[0], inputs.x.shape[0]),
    )
    grown = replace(extend_core(core, inputs, n_new), values=values)
    return make_scorer(inputs, scorer.settings, scorer.names, grown)


def _known_users(scorer: Scorer, history: sp.csr_matrix, users: np.ndarray) -> UserState:
    """Known customers with a grown ``history`` (positives), as the fit computes them from
    the scorer's references: neighbours among its active customers without themselves,
    profiles under the prior of their (unchanged) feature neighbours."""
    core, arrays, settings = scorer.core, scorer.arrays, scorer.settings
    g, k = core.global_profile, settings.n_neighbors
    self_col = self_columns(core.active, core.values.shape[0])[users]
    demo = None if core.demo_neighbors is None else core.demo_neighbors[users]
    prior = profile_prior(g, core.base_profiles, demo, len(users))
    x, lam = scorer.inputs.x, settings.profile_shrinkage
    lift = lift_over(profiles_from(history, prior, x, lam, settings.n_threads), g)
    wider = replace(settings, n_neighbors=k + 1)
    fields = fold_in_field_neighbours(lift, arrays.field_refs, g, scorer.inputs.field_slices, wider)
    user_nbrs = topk_similarity_between(
        sp.csr_matrix(history, dtype=np.float32),
        arrays.v_active,
        k + 1,
        "cosine",
        n_threads=settings.n_threads,
    )
    return UserState(
        history=history,
        n=np.asarray(history.sum(axis=1), dtype=np.float64).ravel(),
        demo=demo,
        lift=lift,
        field_neighbors=tuple(without_self(m, self_col, k) for m in fields),
        user_neighbors=without_self(user_nbrs, self_col, k),
        features=None,
    )


def _grown_core(
    before: Scorer, inputs: Inputs, updated: list[tuple[np.ndarray, UserState]]
) -> Core:
    """The core of the grown Dataset: ``before``'s, with the rows of the ``updated``
    customers (positions, state), the new positives and counts, columns renumbered."""
    core = before.core
    values = inputs.values
    n_users, n_items = values.shape
    active = np.flatnonzero(np.diff(values.indptr) > 0).astype(np.int64)
    position = np.searchsorted(active, core.active)
    found = active[np.minimum(position, max(len(active) - 1, 0))] == core.active
    position = np.where(found, position, -1)  # -1: no longer active (a positive replaced)
    rows = np.concatenate([users for users, _ in updated] or [np.zeros(0, np.int64)])

    def grown(old: sp.csr_matrix, part: Callable[[UserState], sp.csr_matrix]) -> sp.csr_matrix:
        padded = sp.csr_matrix(old, copy=True)
        padded.resize((n_users, old.shape[1]))
        if len(rows):
            block = sp.vstack([sp.csr_matrix(part(state)) for _, state in updated], format="csr")
            padded = replace_rows(padded, rows, block)
        return remap_columns(padded, position, len(active))

    lift = np.zeros((n_users, core.lift.shape[1]), dtype=np.float32)
    lift[: core.lift.shape[0]] = core.lift
    if len(rows):
        lift[rows] = np.vstack([state.lift for _, state in updated]).astype(np.float32)
    counts = np.bincount(values.indices, minlength=n_items).astype(np.float64)
    popularity = np.where(counts > 0, np.log1p(counts), core.popularity).astype(np.float32)
    fields = tuple(
        grown(matrix, lambda state, f=f: state.field_neighbors[f])
        for f, matrix in enumerate(core.field_neighbors)
    )
    demo = core.demo_neighbors
    return replace(
        core,
        values=values,
        active=active,
        base_profiles=_base_profiles(core, inputs, active, rows, before.settings),
        lift=lift,
        popularity=popularity,
        item_counts=counts,
        user_neighbors=grown(core.user_neighbors, lambda state: state.user_neighbors),
        field_neighbors=fields,
        demo_neighbors=None if demo is None else grown(demo, lambda state: state.demo),
    )


def _base_profiles(
    core: Core, inputs: Inputs, active: np.ndarray, rows: np.ndarray, settings: Settings
) -> np.ndarray:
    """Profiles under the global prior of the active customers (recomputed for ``rows``)."""
    old_row = np.full(inputs.values.shape[0], -1, dtype=np.int64)
    old_row[core.active] = np.arange(len(core.active))
    old_row[rows] = -1
    source = old_row[active]
    out = np.empty((len(active), core.base_profiles.shape[1]), dtype=np.float32)
    kept = source >= 0
    out[kept] = core.base_profiles[source[kept]]
    redo = active[~kept]
    if len(redo):
        g = core.global_profile
        fresh = profiles_from(
            inputs.values[redo], g[None, :], inputs.x, settings.profile_shrinkage,
            settings.n_threads,
        )  # fmt: skip
        out[~kept] = fresh.astype(np.float32)
    return out


def remap_columns(matrix: sp.csr_matrix, position: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """``matrix`` with column ``c`` moved to ``position[c]`` (entries of -1 dropped)."""
    m = sp.csr_matrix(matrix)
    target = position[m.indices]
    keep = target >= 0
    if keep.all():
        return sp.csr_matrix((m.data, target, m.indptr), shape=(m.shape[0], n_cols))
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[keep]
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m.shape[0]), out=indptr[1:])
    return sp.csr_matrix(
        (m.data[keep], target[keep], indptr), shape=(m.shape[0], n_cols), dtype=m.dtype
    )
