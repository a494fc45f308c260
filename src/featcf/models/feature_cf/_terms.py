"""The scoring terms of FeatureCF: one small function per term, in a registry by name.

The terms are described in :mod:`featcf.models.feature_cf`. Every term function takes the
:class:`TermContext` of a query (built once: the users, the items, their pseudo-histories and
neighbour shares) and returns its (users x items) block, or a row, a column or a scalar that
broadcasts to it. :data:`NAMED_TERMS` maps the names to the functions, as pynndescent's
``named_distances`` does; the two item field terms ``"<field>"`` and ``"content:<field>"``
are resolved per field by :func:`term_function`. Adding or ablating a term touches one
function here and :func:`term_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from featcf._products import csr_dense_product, two_hop_dense_product
from featcf.models.feature_cf._affinity import affinity_scores
from featcf.models.feature_cf._sparse import row_normalize
from featcf.models.feature_cf._state import Scorer, TermWeights, band_of
from featcf.models.feature_cf._users import UserState

__all__ = [
    "NAMED_TERMS",
    "TermContext",
    "combine",
    "compute_terms",
    "content_coefficients",
    "evaluate_terms",
    "field_content",
    "field_neighbourhood",
    "score",
    "term_context",
    "term_function",
    "term_names",
]


@dataclass(frozen=True, eq=False)
class TermContext:
    """What the term functions of one query read (built once per query)."""

    scorer: Scorer
    user: UserState
    #: the items scored (catalogue positions) and whether they are the whole catalogue
    items: np.ndarray
    all_items: bool
    #: output columns of the product kernels (None: all items)
    columns: np.ndarray | None
    #: the users' positives (float32 CSR); users without any and with feature-space
    #: neighbours: those neighbours' histories, each normalised to sum 1 (a pseudo-history)
    history: sp.csr_matrix
    #: share of each user's neighbours who have each item: user-kNN, then one per field
    shares: tuple[np.ndarray, ...]
    #: the dense item blocks of the scored items (columns x items) and their 0/1 pattern
    xt: np.ndarray
    xt_bin: np.ndarray


TermBlock = np.ndarray | float
TermFunction = Callable[[TermContext], TermBlock]


def term_context(scorer: Scorer, user: UserState, items: np.ndarray) -> TermContext:
    """The :class:`TermContext` of scoring ``user`` on ``items``."""
    all_items = len(items) == scorer.core.values.shape[1] and bool(
        np.all(items == np.arange(len(items)))
    )
    columns = None if all_items else items
    xt, xt_bin = scorer.inputs.xt, scorer.inputs.xt_bin
    return TermContext(
        scorer=scorer,
        user=user,
        items=items,
        all_items=all_items,
        columns=columns,
        history=_effective_history(scorer, user),
        shares=_neighbour_shares(scorer, user, items, columns),
        xt=xt if all_items else xt[:, items],
        xt_bin=xt_bin if all_items else xt_bin[:, items],
    )


def _effective_history(scorer: Scorer, user: UserState) -> sp.csr_matrix:
    """The users' positives; zero-history users: their feature neighbours' (pseudo-history)."""
    hist = user.history
    zero = user.n == 0
    if zero.any() and user.demo is not None:
        wn = row_normalize(user.demo[np.flatnonzero(zero)])
        pseudo = sp.csr_matrix(wn @ row_normalize(scorer.arrays.v_active))
        hist = sp.csr_matrix(sp.vstack([hist[np.flatnonzero(~zero)], pseudo]))
        order = np.concatenate([np.flatnonzero(~zero), np.flatnonzero(zero)])
        hist = hist[np.argsort(order)]
    if hist.format != "csr" or hist.dtype != np.float32:
        hist = sp.csr_matrix(hist, dtype=np.float32)
    return hist


def _neighbour_shares(
    scorer: Scorer, user: UserState, items: np.ndarray, columns: np.ndarray | None
) -> tuple[np.ndarray, ...]:
    """Share of each user's neighbours who have each item, for the user-kNN neighbours and
    every field's at once (one sparse product); rows without neighbours get the global
    share. Users without a history use their neighbours in user-feature space for user-kNN."""
    arrays = scorer.arrays
    n_users = user.history.shape[0]
    user_nbrs = user.user_neighbors
    zero = user.n == 0
    if zero.any() and user.demo is not None:
        z_rows = np.flatnonzero(zero)
        keep_rows = sp.diags((~zero).astype(np.float32)) @ user_nbrs
        pick = sp.csr_matrix(
            (np.ones(len(z_rows), np.float32), (z_rows, np.arange(len(z_rows)))),
            shape=(len(zero), len(z_rows)),
        )
        user_nbrs = sp.csr_matrix(keep_rows + pick @ user.demo[z_rows])
    ws = [user_nbrs, *user.field_neighbors]
    wn = row_normalize(*ws)
    block = csr_dense_product(wn, arrays.v_active, columns, scorer.settings.n_threads)
    empty = np.diff(wn.indptr) == 0
    if empty.any():
        block[empty] = arrays.item_share[items]
    return tuple(block[j * n_users : (j + 1) * n_users] for j in range(len(ws)))


# ---------------------------------------------------------------------- the terms
def cf(ctx: TermContext) -> TermBlock:
    """Mean item-kNN similarity of the history to the item (feature cosine for new items)."""
    return _similarity_to_history(ctx) / np.maximum(ctx.user.n, 1.0)[:, None]


def _similarity_to_history(ctx: TermContext) -> np.ndarray:
    """Sum of item similarities between the history and the items (users x items).

    Pairs of items with interactions use the item-kNN similarity ``S``; a pair involving
    an item without interactions uses ``kappa_ *`` the cosine of their feature vectors
    (over every history item, not only top-k neighbours).
    """
    core, arrays, inputs = ctx.scorer.core, ctx.scorer.arrays, ctx.scorer.inputs
    hist, items = ctx.history, ctx.items
    cf = csr_dense_product(hist, core.item_similarity, ctx.columns, ctx.scorer.settings.n_threads)
    if len(arrays.cold_idx) == 0:
        return cf
    cold_cols = arrays.cold_item[items]
    hist_cold = hist[:, arrays.cold_idx]
    kappa = core.kappa
    if cold_cols.any():
        prof = np.asarray((hist @ inputs.xu).todense())  # (users x columns)
        cf[:, cold_cols] = kappa * (prof @ inputs.xu_t[:, items[cold_cols]])
    if hist_cold.nnz > 0:
        prof_c = np.asarray((hist_cold @ arrays.xu_cold).todense())
        warm_cols = ~cold_cols
        cf[:, warm_cols] += kappa * (prof_c @ inputs.xu_t[:, items[warm_cols]])
    return cf


def ease(ctx: TermContext) -> TermBlock:
    """``h_u B + f_u B_F``: the users' own history (no pseudo-history) and features."""
    core = ctx.scorer.core
    hist = ctx.user.history
    if hist.format != "csr" or hist.dtype != np.float32:
        hist = sp.csr_matrix(hist, dtype=np.float32)
    b = core.ease if ctx.all_items else core.ease[:, ctx.items]
    out = np.asarray(hist @ b, dtype=np.float64)
    features = ctx.user.features
    if core.ease_features is not None and features is not None:
        b_f = core.ease_features if ctx.all_items else core.ease_features[:, ctx.items]
        out += np.asarray(sp.csr_matrix(features, dtype=np.float32) @ b_f, dtype=np.float64)
    return out


def user_cf(ctx: TermContext) -> TermBlock:
    """Share of the user's user-kNN neighbours who have the item."""
    return ctx.shares[0]


def cooccurrence(ctx: TermContext) -> TermBlock:
    """Mean over the history of ``P(i | j)`` = #users with j and i / #users with j."""
    arrays, n_threads = ctx.scorer.arrays, ctx.scorer.settings.n_threads
    hist = ctx.history
    a = sp.csr_matrix(
        (hist.data * arrays.inv_counts[hist.indices], hist.indices, hist.indptr),
        shape=hist.shape,
    )
    if arrays.co_counts is not None:  # one hop through the item x item counts
        cooc = csr_dense_product(a, arrays.co_counts, ctx.columns, n_threads)
    else:  # two hops: the history's buyers, then what they have
        cooc = two_hop_dense_product(a, arrays.v_active_t, arrays.v_active, ctx.columns, n_threads)
    return cooc / np.maximum(ctx.user.n, 1.0)[:, None]


def popularity(ctx: TermContext) -> TermBlock:
    """``log1p`` of the item's positives (predicted from features for new items)."""
    return ctx.scorer.core.popularity[ctx.items][None, :]


def activity(ctx: TermContext) -> TermBlock:
    """``log1p(n_u)``: constant over items (it ranks users, for audiences)."""
    return np.log1p(ctx.user.n)[:, None]


def rating(ctx: TermContext) -> TermBlock:
    """The item's shrunk mean rating deviation (rating data)."""
    return ctx.scorer.core.item_quality[ctx.items][None, :]


def _binary(features: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(features, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def demographics(ctx: TermContext) -> TermBlock:
    """Naive-Bayes lift of the user's feature values for the item (0 without features)."""
    features, lift = ctx.user.features, ctx.scorer.core.demo_lift
    if features is None or lift is None:
        return 0.0
    return np.asarray(_binary(features) @ lift[:, ctx.items], dtype=np.float64)


def demographic_fields(ctx: TermContext) -> TermBlock:
    """The same lift for the item's field values (serves items without interactions)."""
    features, core = ctx.user.features, ctx.scorer.core
    if features is None or core.demo_lift is None:
        return 0.0
    per_value = np.asarray(_binary(features) @ core.demo_field_lift, dtype=np.float64)
    return per_value @ ctx.xt


def content_coefficients(ctx: TermContext) -> np.ndarray:
    """The ``content_ridge`` coefficients of the users' (pseudo-)histories, (users, cols + 1)."""
    return np.asarray(ctx.history @ ctx.scorer.arrays.content_map_t, dtype=np.float64)


def content_ridge(ctx: TermContext) -> TermBlock:
    """The content regression of the history on the item's attribute indicators."""
    coef = content_coefficients(ctx)
    return coef[:, :-1] @ ctx.xt_bin + coef[:, -1:]


def field_neighbourhood(ctx: TermContext, field: int) -> TermBlock:
    """Share of the user's neighbours under field ``field``'s profiles who have the item."""
    return ctx.shares[field + 1]


def field_content(ctx: TermContext, field: int) -> TermBlock:
    """Content affinity: the item's values of the field under the user's profile log-lift."""
    sl = ctx.scorer.inputs.field_slices[field]
    return ctx.user.lift[:, sl] @ ctx.xt[sl]


def affinity(ctx: TermContext) -> TermBlock:
    """Learned log-odds of customers like the user (features, purchase profile) holding
    products with the item's field values (0 when the core has none)."""
    w = ctx.scorer.core.affinity
    if w is None:
        return 0.0
    user = ctx.user
    return affinity_scores(w, user.history, user.features, ctx.scorer.inputs.x, ctx.xt)


#: the terms by name; the item field terms ``"<field>"`` and ``"content:<field>"`` are
#: :func:`field_neighbourhood` and :func:`field_content` (see :func:`term_function`)
NAMED_TERMS: dict[str, TermFunction] = {
    "cf": cf,
    "ease": ease,
    "user_cf": user_cf,
    "cooccurrence": cooccurrence,
    "popularity": popularity,
    "activity": activity,
    "rating": rating,
    "demographics": demographics,
    "demographic_fields": demographic_fields,
    "content_ridge": content_ridge,
    "affinity": affinity,
}


def term_function(name: str, fields: Sequence[str]) -> TermFunction:
    """The function of term ``name`` for a model with item fields ``fields``.

    Raises
    ------
    ValueError
        If ``name`` is neither a named term nor a field term of ``fields``.
    """
    if name in NAMED_TERMS:
        return NAMED_TERMS[name]
    field = name.removeprefix("content:")
    if field in fields:
        kind = field_content if field != name else field_neighbourhood
        return partial(kind, field=list(fields).index(field))
    raise ValueError(
        f"unknown term {name!r}: the terms are {sorted(NAMED_TERMS)}, the item fields "
        f"{list(fields)} and 'content:<field>'"
    )


def term_names(fields: Sequence[str], *, ease: bool, rating: bool, demographics: bool) -> list[str]:
    """The terms of a model, in order: CF, item statistics, then the field terms."""
    names = ["cf"]
    if ease:
        names.append("ease")
    names += ["user_cf", "cooccurrence", "popularity", "activity"]
    if rating:
        names.append("rating")
    if demographics:
        names += ["demographics", "demographic_fields"]
    names += ["content_ridge", *fields, *[f"content:{f}" for f in fields]]
    names.append("affinity")
    return names


def evaluate_terms(ctx: TermContext) -> np.ndarray:
    """Raw (unscaled) terms of a query, shape (n_terms, n_users, n_items), float64."""
    names, fields = ctx.scorer.names, ctx.scorer.inputs.field_names
    out = np.zeros((len(names), ctx.user.history.shape[0], len(ctx.items)), dtype=np.float64)
    for t, name in enumerate(names):
        out[t] = term_function(name, fields)(ctx)
    return out


def compute_terms(scorer: Scorer, user: UserState, items: np.ndarray) -> np.ndarray:
    """Raw (unscaled) terms of ``user`` on ``items``, shape (n_terms, n_users, n_items)."""
    return evaluate_terms(term_context(scorer, user, items))


def combine(
    weights: TermWeights,
    item_counts: np.ndarray,
    terms: np.ndarray,
    n: np.ndarray,
    items: Any,
    stated: np.ndarray | None = None,
    described: np.ndarray | None = None,
) -> np.ndarray:
    """Scores from raw terms: scaled, weighted by the users' history bands (or, for users
    without history who ``stated`` interests, the stated-interest weights, see
    :meth:`TermWeights.of_users`, with ``described``); items without
    interactions by their own weights and affine map; then, in a model loaded from a file
    that has them, each user's band map."""
    scaled = terms / weights.scale[:, None, None]
    band = band_of(n)
    w_users = weights.of_users(n, stated, described)  # (n_users, n_terms)
    scores = np.einsum("tui,ut->ui", scaled, w_users)
    cold = item_counts[items] == 0
    if cold.any():
        a, b = weights.cold_affine
        scores[:, cold] = a + b * np.einsum("tui,t->ui", scaled[:, :, cold], weights.cold)
    if weights.band_affine is None:
        return scores
    level, slope = weights.band_affine[band].T
    return level[:, None] + slope[:, None] * scores


def score(scorer: Scorer, weights: TermWeights, user: UserState, items: np.ndarray) -> np.ndarray:
    """Scores (float32, users x items) of ``user`` on ``items``."""
    terms = compute_terms(scorer, user, items)
    counts = scorer.core.item_counts
    scores = combine(weights, counts, terms, user.n, items, user.stated, user.described)
    return scores.astype(np.float32)
