"""Building a :class:`~featcf.models.feature_cf._state.Core` from a positives matrix.

The same build serves the final fit and the validation splits (whose cores may search
neighbours only for the users they are asked about, or for none and later for the users
:func:`with_user_rows` names); :func:`with_ease` adds the ``"ease"`` regression and
:func:`extend_core` makes room for items added after the fit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from featcf.models.feature_cf._affinity import fit_affinity
from featcf.models.feature_cf._inputs import Inputs, Settings
from featcf.models.feature_cf._linalg import (
    content_map,
    ease_from_gram,
    ease_gram,
    fit_pop_model,
    predict_pop,
)
from featcf.models.feature_cf._neighbours import (
    demo_neighbours,
    history_neighbours,
    profile_neighbours,
    reference_positions,
    self_columns,
    to_active_columns,
)
from featcf.models.feature_cf._profiles import (
    global_profile,
    lift_over,
    profile_prior,
    profiles_from,
    value_lifts,
)
from featcf.models.feature_cf._sparse import spread_rows
from featcf.models.feature_cf._state import Core
from featcf.similarity import topk_similarity

__all__ = [
    "build_core",
    "demographic_lifts",
    "extend_core",
    "with_demographics",
    "with_ease",
    "with_user_rows",
]


def build_core(
    inputs: Inputs,
    settings: Settings,
    values: sp.csr_matrix,
    query_users: np.ndarray | None = None,
    profile_users: np.ndarray | None = None,
) -> Core:
    """Everything learned from the positives ``values`` (the final fit, or a validation split).

    ``query_users`` (sorted positions), when given, limits the user-kNN and per-field
    neighbour searches to the users a validation core is asked about; the other users'
    rows stay empty. The rows that are computed equal those of a full build (a row's
    top-k does not depend on the other queries). Every search runs among the reference
    users (``reference_positions``: all active users, or a seeded sample of
    ``settings.max_reference_users`` of them), so its cost is at most linear in the users.

    ``profile_users`` (sorted positions), when given, limits the feature-space neighbour
    search (the profile prior) and the profiles to them and the reference users: the other
    users' profiles are left at zero, so a core built this way may be read for
    ``profile_users`` only, and folded into with the reference users as the profile
    neighbours (the base profiles, which fold-ins borrow, are every active user's). The
    validation core and the cold-item rounds, which score samples of users, use it.
    """
    n_users, n_items = values.shape
    active = np.flatnonzero(np.diff(values.indptr) > 0).astype(np.int64)
    item_counts = np.bincount(values.indices, minlength=n_items).astype(np.float64)
    warm_items = item_counts > 0
    x, uf = inputs.x, inputs.user_features
    g = global_profile(values, x, inputs.field_slices)
    design = _popularity_items(inputs, "indicators")
    pop_coef = fit_pop_model(design[warm_items], np.log1p(item_counts)[warm_items])
    pop = np.where(warm_items, np.log1p(item_counts), predict_pop(pop_coef, design))
    ref = reference_positions(active, settings)  # the users searched as neighbours
    demo_rows = None
    if profile_users is not None:
        demo_rows = np.union1d(np.asarray(profile_users, dtype=np.int64), active[ref])
    demo = None
    if uf is not None:
        demo = demo_neighbours(uf, active, ref, n_users, settings, demo_rows)
    demo_lift, demo_field_lift = (None, None)
    if uf is not None:
        demo_lift, demo_field_lift = demographic_lifts(
            uf, values, active, x, g, settings.demo_shrinkage
        )
    shrinkage, threads = settings.profile_shrinkage, settings.n_threads
    base = profiles_from(values[active], g[None, :], x, shrinkage, threads).astype(np.float32)
    lift = _lifts(values, x, g, base, demo, demo_rows, settings)
    user_nbrs, field_nbrs = _user_neighbourhoods(
        values, lift, g, active, ref, inputs.field_slices, settings, query_users
    )
    s = topk_similarity(
        sp.csr_matrix(values.T), settings.n_neighbors, "cosine", n_threads=threads
    ).astype(np.float32)
    return Core(
        values=values,
        active=active,
        global_profile=g,
        base_profiles=base,
        lift=lift.astype(np.float32),
        popularity=pop.astype(np.float32),
        popularity_coef=pop_coef,
        popularity_design="indicators",
        item_counts=item_counts,
        item_similarity=s,
        kappa=_kappa(s, inputs.xu, warm_items),
        content_map=content_map(inputs.x_bin, warm_items, values),
        user_neighbors=user_nbrs,
        field_neighbors=tuple(field_nbrs),
        demo_neighbors=demo,
        demo_lift=demo_lift,
        demo_field_lift=demo_field_lift,
        item_quality=_item_quality(inputs.interactions, values) if inputs.rating_data else None,
        affinity=fit_affinity(values, uf, x),
    )


def _lifts(
    values: sp.csr_matrix,
    x: sp.csr_matrix,
    g: np.ndarray,
    base: np.ndarray,
    demo: sp.csr_matrix | None,
    rows: np.ndarray | None,
    settings: Settings,
) -> np.ndarray:
    """Every user's profile as log-lift (float64), under the prior of their feature-space
    neighbours ``demo``; with ``rows`` (sorted) only theirs, zeros elsewhere (a core read
    for some users only: their rows equal a full build's, as each row is computed alone)."""
    lam, threads = settings.profile_shrinkage, settings.n_threads
    if rows is None:
        prior = profile_prior(g, base, demo, values.shape[0])
        return lift_over(profiles_from(values, prior, x, lam, threads), g)
    prior = profile_prior(g, base, None if demo is None else demo[rows], len(rows))
    lift = np.zeros((values.shape[0], len(g)))
    lift[rows] = lift_over(profiles_from(values[rows], prior, x, lam, threads), g)
    return lift


def _user_neighbourhoods(
    values: sp.csr_matrix,
    lift: np.ndarray,
    g: np.ndarray,
    active: np.ndarray,
    ref: np.ndarray,
    slices: tuple[slice, ...],
    settings: Settings,
    query_users: np.ndarray | None,
) -> tuple[sp.csr_matrix, list[sp.csr_matrix]]:
    """User-kNN on the positives and per-field profile neighbourhoods (of ``query_users``),
    among the reference users ``active[ref]``; columns: the active users."""
    n_users = values.shape[0]
    users = active[ref]
    if query_users is not None and len(query_users) == 0:  # rows come later, if at all
        empty = sp.csr_matrix((n_users, len(active)), dtype=np.float32)
        return empty, [empty] * len(slices)
    self_col = self_columns(users, n_users)
    rows = slice(None) if query_users is None else np.asarray(query_users, dtype=np.int64)

    def all_rows(m: sp.csr_matrix) -> sp.csr_matrix:
        m = to_active_columns(m, ref, len(active))
        return m if query_users is None else spread_rows(m, rows, n_users)

    user_nbrs = all_rows(history_neighbours(values, users, rows, self_col, settings))
    lift_q, lift_ref = lift[rows], lift[users]
    field_nbrs = [
        all_rows(
            profile_neighbours(lift_q[:, sl], lift_ref[:, sl], g[sl], self_col[rows], settings)
        )
        for sl in slices
    ]
    return user_nbrs, field_nbrs


def with_user_rows(core: Core, inputs: Inputs, settings: Settings, users: np.ndarray) -> Core:
    """``core`` with the user-kNN and per-field neighbour rows of ``users`` (sorted positions).

    For a core built with ``query_users`` that left them out (a validation core built before
    its validation users are drawn): the rows equal those of a build asked about ``users``
    (the profiles of ``users`` and of the reference users are recomputed from the core's
    positives, base profiles and feature-space neighbours, row by row as the build computes
    them). Rows of other users stay as they were.
    """
    values, active, g = core.values, core.active, core.global_profile
    n_users = values.shape[0]
    users = np.asarray(users, dtype=np.int64)
    ref = reference_positions(active, settings)
    rows = np.union1d(users, active[ref])  # the profiles the searches read
    demo = None if core.demo_neighbors is None else core.demo_neighbors[rows]
    prior = profile_prior(g, core.base_profiles, demo, len(rows))
    lift_rows = lift_over(
        profiles_from(
            values[rows], prior, inputs.x, settings.profile_shrinkage, settings.n_threads
        ),
        g,
    )
    lift = np.zeros((n_users, len(g)))
    lift[rows] = lift_rows
    user_nbrs, field_nbrs = _user_neighbourhoods(
        values, lift, g, active, ref, inputs.field_slices, settings, users
    )
    keep = np.ones(n_users, dtype=bool)
    keep[users] = False
    return replace(
        core,
        user_neighbors=_rows_from(core.user_neighbors, user_nbrs, keep),
        field_neighbors=tuple(
            _rows_from(old, new, keep)
            for old, new in zip(core.field_neighbors, field_nbrs, strict=True)
        ),
    )


def _rows_from(old: sp.csr_matrix, new: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The rows of ``old`` where ``keep``, else those of ``new``, each in its stored order."""
    n = len(keep)
    pick = np.where(keep, np.arange(n), n + np.arange(n))
    both = sp.vstack([sp.csr_matrix(old, dtype=np.float32), sp.csr_matrix(new, dtype=np.float32)])
    return sp.csr_matrix(sp.csr_matrix(both)[pick])


def _kappa(s: sp.csr_matrix, xu: sp.csr_matrix, warm_items: np.ndarray) -> float:
    """Scale of feature cosine to CF similarity: equal mean over pairs of warm items."""
    n_warm = int(warm_items.sum())
    if n_warm < 2 or s.nnz == 0:
        return 1.0
    total = np.asarray(xu[warm_items].sum(axis=0), dtype=np.float64).ravel()
    cos_mean = (total @ total - n_warm) / (n_warm * (n_warm - 1))
    cf_mean = float(s.sum()) / (n_warm * (n_warm - 1))
    return float(cf_mean / cos_mean) if cos_mean > 0 else 1.0


def _item_quality(interactions: sp.csr_matrix, values: sp.csr_matrix) -> np.ndarray:
    """Rating data: each item's mean deviation from its raters' mean rating, shrunk by 10."""
    n_users, n_items = values.shape
    item_counts = np.bincount(values.indices, minlength=n_items).astype(np.float64)
    raw = sp.csr_matrix(interactions, dtype=np.float64)
    raw = sp.csr_matrix(raw.multiply(values > 0))
    raw.eliminate_zeros()
    n_r = np.diff(raw.indptr)
    user_mean = np.divide(
        np.asarray(raw.sum(axis=1)).ravel(), n_r, out=np.zeros(n_users), where=n_r > 0
    )
    dev = raw.copy()
    dev.data = dev.data - np.repeat(user_mean, n_r)
    dev_sum = np.bincount(dev.indices, weights=dev.data, minlength=n_items)
    return (dev_sum / (item_counts + 10.0)).astype(np.float32)


def demographic_lifts(
    user_features: sp.csr_matrix,
    values: sp.csr_matrix,
    active: np.ndarray,
    x: sp.csr_matrix,
    g: np.ndarray,
    shrinkage: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Naive-Bayes lifts ``log P(i | a) / P(i)`` of user feature values ``a`` for items, and
    ``log P(v | a) / P(v)`` for item field values ``v``, shrunk towards ``P(i)`` / ``g`` by
    ``shrinkage`` pseudo-customers."""
    lift = value_lifts(user_features, values, active, shrinkage)
    counts_u = np.diff(values.indptr)
    uf_a = sp.csr_matrix(user_features[active], dtype=np.float64)
    uf_a.data[:] = 1.0
    lam = float(shrinkage)
    co_v = np.asarray((uf_a.T @ (values[active] @ x)).todense(), dtype=np.float64)
    n_av = np.asarray(uf_a.T @ counts_u[active].astype(np.float64)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        lift_v = np.log((co_v + lam * g[None, :]) / (n_av[:, None] + lam) / g[None, :])
    lift_v[:, g <= 0] = 0.0
    return lift.astype(np.float32), lift_v.astype(np.float32)


def with_demographics(core: Core, inputs: Inputs, shrinkage: float) -> Core:
    """``core`` with its demographic lifts recomputed under ``shrinkage`` pseudo-customers."""
    uf = inputs.user_features
    if uf is None:
        return core
    lift, field_lift = demographic_lifts(
        uf, core.values, core.active, inputs.x, core.global_profile, shrinkage
    )
    return replace(core, demo_lift=lift, demo_field_lift=field_lift)


def with_ease(core: Core, user_features: sp.csr_matrix | None, l2: float) -> Core:
    """``core`` with the ``"ease"`` regression of its positives (and user features)."""
    gram, n_features = ease_gram(core.values, user_features)
    ease, ease_features = ease_from_gram(gram, l2, n_features)
    return replace(core, ease=ease, ease_features=ease_features, ease_l2=float(l2))


def _popularity_items(inputs: Inputs, design: str) -> sp.csr_matrix:
    """The item matrix the popularity regression reads for ``design``
    (``Core.popularity_design``): the 0/1 attribute indicators, whose count of genres says
    more of a film's audience than the genres' shares do, or, in files saved before them,
    the field shares."""
    return inputs.x_bin if design == "indicators" else inputs.x


def extend_core(core: Core, inputs: Inputs, n_new: int) -> Core:
    """``core`` for a catalogue with ``n_new`` items appended (features, no interactions).

    ``inputs`` are those of the grown catalogue. The new items get their predicted
    popularity (from the item matrix ``core.popularity_design`` names) and no similarity,
    regression weights, quality or lift of their own.
    """
    design = _popularity_items(inputs, core.popularity_design)
    n_items = design.shape[0]
    new = np.arange(n_items - n_new, n_items)
    pop_new = predict_pop(core.popularity_coef, design[new]).astype(np.float32)
    s = sp.csr_matrix(core.item_similarity, dtype=np.float32, copy=True)
    s.resize((n_items, n_items))
    quality, demo_lift, ease, ease_f = (
        core.item_quality, core.demo_lift, core.ease, core.ease_features
    )  # fmt: skip
    if quality is not None:
        quality = np.concatenate([quality, np.zeros(n_new, np.float32)])
    if demo_lift is not None:
        demo_lift = np.hstack([demo_lift, np.zeros((demo_lift.shape[0], n_new), np.float32)])
    if ease is not None:
        ease = np.pad(ease, ((0, n_new), (0, n_new)))
    if ease_f is not None:
        ease_f = np.pad(ease_f, ((0, 0), (0, n_new)))
    return replace(
        core,
        values=inputs.values,
        popularity=np.concatenate([core.popularity, pop_new]),
        item_counts=np.concatenate([core.item_counts, np.zeros(n_new)]),
        item_similarity=s,
        content_map=np.pad(core.content_map, ((0, 0), (0, n_new))),
        item_quality=quality,
        demo_lift=demo_lift,
        ease=ease,
        ease_features=ease_f,
    )
