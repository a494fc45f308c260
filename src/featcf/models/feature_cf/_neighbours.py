"""Neighbour searches of FeatureCF.

At fit, every user gets top-k neighbours among the users with positives (the *active*
users), never themselves: in user-feature space (``demo_neighbours``), on the positives
(``history_neighbours``: user-kNN CF) and per field on the attribute profiles
(``profile_neighbours``). Histories and profiles repeat (few products make many identical
customers), so searches run once per distinct row (``topk_distinct_*``). An exact search
among all active users costs (distinct queries) x (distinct active users), quadratic in the
customers when their profiles are mostly distinct; with more active users than
``max_reference_users`` the searches run among a seeded sample of that many
(``reference_positions``), so a fit grows linearly. Neighbour matrices keep one column per
active user either way. Users folded in at query time get their neighbours among all active
users (``fold_in_*``), against references prepared once per fitted core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._products import csr_dense_product
from featcf.models.feature_cf._inputs import Settings
from featcf.models.feature_cf._sparse import row_sums, spread_rows
from featcf.similarity import (
    PreparedRows,
    drop_column_topk,
    expand_repeated_topk,
    prepare_dense,
    topk_prepared,
    topk_similarity_between,
    topk_similarity_dense_between,
)

__all__ = [
    "demo_neighbours",
    "drop_self_truncate",
    "fold_in_field_neighbours",
    "fold_in_user_neighbours",
    "history_neighbours",
    "prepare_field_refs",
    "profile_neighbours",
    "reference_positions",
    "reference_rank",
    "self_columns",
    "to_active_columns",
    "topk_distinct_queries",
    "topk_distinct_refs",
    "unique_rows",
]


def unique_rows(matrix: np.ndarray | sp.csr_matrix) -> tuple[Any, np.ndarray]:
    """Distinct rows of a dense or CSR matrix and, per row, the index of its distinct row
    (distinct rows numbered in order of first appearance)."""
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix)
        m.sort_indices()
        keys = [
            m.indices[a:b].tobytes() + m.data[a:b].tobytes()
            for a, b in zip(m.indptr[:-1], m.indptr[1:], strict=True)
        ]
        inverse, _ = pd.factorize(pd.Series(keys, dtype=object))
        first = np.unique(inverse, return_index=True)[1]
        return m[first], inverse
    matrix = np.asarray(matrix)
    hashed = _hashed_unique_rows(matrix)
    if hashed is not None:
        return hashed
    uniq, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    return matrix[np.sort(first)], _renumber(inverse.ravel(), first)


def _hashed_unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`unique_rows` of a dense float64 matrix in linear time: rows grouped by a
    64-bit hash of their bits (``pandas.factorize``), checked against the rows themselves.

    None when the matrix is not float64 or when two different rows share a hash (then the
    caller sorts). Rows equal as numbers but not as bits (``0.0`` and ``-0.0``) may form two
    groups, which only costs the callers a repeated search.
    """
    if matrix.dtype != np.float64 or matrix.ndim != 2 or matrix.shape[0] == 0:
        return None
    bits = np.ascontiguousarray(matrix).view(np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    h = np.zeros(len(bits), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in range(bits.shape[1]):
            h = (h ^ bits[:, c]) * mult
            h ^= h >> np.uint64(29)
    inverse, _ = pd.factorize(h)
    first = np.full(inverse.max() + 1, len(inverse), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(inverse)))
    uniq = matrix[first]
    if not np.array_equal(uniq[inverse].view(np.uint64), bits):
        return None
    return uniq, inverse.astype(np.int64)


def _renumber(inverse: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Map ``np.unique`` group labels to labels in order of first appearance."""
    order = np.argsort(first)  # group labels sorted by their first row
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return relabel[inverse]


def topk_distinct_queries(topk: Callable[[Any], sp.csr_matrix], query: Any) -> sp.csr_matrix:
    """``topk(query)`` computed once per distinct query row (a deterministic top-k gives
    identical rows the identical list): few products make many identical histories."""
    uniq, inverse = unique_rows(query)
    if len(inverse) == 0 or uniq.shape[0] > 0.8 * len(inverse):
        return topk(query)
    return sp.csr_matrix(topk(uniq)[inverse])


def topk_distinct_refs(
    topk: Callable[[Any, int], sp.csr_matrix], ref: Any, k: int
) -> sp.csr_matrix:
    """``topk(ref, k)`` computed against the distinct rows of ``ref`` only, then expanded.

    ``topk(rows, k)`` must return the deterministic top-k of its queries against ``rows``
    (best first, ties by position, as the featcf kernels do). Customers with the same
    demographics and purchases have the same profiles; the result is identical to the
    direct call (see :func:`featcf.similarity.expand_repeated_topk`).
    """
    uniq, inverse = unique_rows(ref)
    n_ref = len(inverse)
    if n_ref == 0 or uniq.shape[0] > 0.8 * n_ref:
        return topk(ref, k)
    return expand_repeated_topk(topk(uniq, k), inverse, k)


def drop_self_truncate(sims: sp.csr_matrix, self_col: np.ndarray, k: int) -> sp.csr_matrix:
    """Remove entry (r, self_col[r]) from each row and keep the first ``k`` entries."""
    return drop_column_topk(sims, self_col, k)


def self_columns(active: np.ndarray, n_users: int) -> np.ndarray:
    """Per user, their own column among the active users (-1 for users without positives)."""
    self_col = np.full(n_users, -1, dtype=np.int64)
    self_col[active] = np.arange(len(active))
    return self_col


def reference_rank(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """A seeded random rank of every user (a permutation of ``0..n_users-1``).

    Drawn from a child of ``rng`` (``Generator.spawn``), so the parent's stream, and with it
    the validation split, is the same as in a fit that needs no reference sample.
    """
    try:
        child = rng.spawn(1)[0]
    except TypeError:  # a bit generator seeded without a SeedSequence cannot spawn
        child = np.random.default_rng(rng.integers(2**63))
    return child.permutation(n_users).astype(np.int64)


def reference_positions(active: np.ndarray, settings: Settings) -> np.ndarray:
    """Positions (sorted, among ``active``) of the users searched as neighbours.

    All active users when there are at most ``settings.max_reference_users`` (or no cap);
    else the ``max_reference_users`` of them with the lowest ``settings.reference_rank``, a
    seeded random sample that nests across the cores of one fit (a user who is a reference
    in the final core is one in every validation core where they are active and the cap
    binds).
    """
    cap, n_active = settings.max_reference_users, len(active)
    if cap is None or n_active <= cap:
        return np.arange(n_active, dtype=np.int64)
    if settings.reference_rank is None:
        raise ValueError(
            f"{n_active} active users exceed max_reference_users={cap}, and the settings "
            "hold no reference_rank to sample them (see reference_rank)"
        )
    ranks = settings.reference_rank[active]
    return np.sort(np.argpartition(ranks, cap - 1)[:cap]).astype(np.int64)


def to_active_columns(sims: sp.csr_matrix, ref: np.ndarray, n_active: int) -> sp.csr_matrix:
    """Neighbours found among the reference users (columns ``0..len(ref)-1``) as columns
    among the active users (``ref`` from :func:`reference_positions`); rows keep their order
    (best first; ties stay by position, as ``ref`` is increasing)."""
    if len(ref) == n_active:
        return sims
    sims = sp.csr_matrix(sims)
    return sp.csr_matrix(
        (sims.data, ref[sims.indices], sims.indptr), shape=(sims.shape[0], n_active)
    )


def demo_neighbours(
    user_features: sp.csr_matrix,
    active: np.ndarray,
    ref: np.ndarray,
    n_users: int,
    settings: Settings,
    rows: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Every user's (or the users ``rows``', sorted; the other rows stay empty) top-k cosine
    neighbours in user-feature space among the active users ``active[ref]`` (``ref`` from
    :func:`reference_positions`; columns: active users)."""
    k = settings.n_neighbors
    uf = sp.csr_matrix(user_features, dtype=np.float32)
    users = active[ref]
    self_col = self_columns(users, n_users)
    query = uf if rows is None else uf[rows]
    sims = topk_distinct_queries(
        lambda q: topk_similarity_between(
            q, uf[users], k + 1, "cosine", n_threads=settings.n_threads
        ),
        query,
    )
    sims = drop_self_truncate(sims, self_col if rows is None else self_col[rows], k)
    sims = to_active_columns(sims, ref, len(active))
    return sims if rows is None else spread_rows(sims, rows, n_users)


def history_neighbours(
    values: sp.csr_matrix,
    active: np.ndarray,
    rows: slice | np.ndarray,
    self_col: np.ndarray,
    settings: Settings,
) -> sp.csr_matrix:
    """User-kNN on the positives: the top-k cosine neighbours of ``values[rows]`` among the
    users ``active`` (columns: positions in ``active``; ``self_col`` from :func:`self_columns`)."""
    k = settings.n_neighbors
    ref = sp.csr_matrix(values[active], dtype=np.float32)
    sims = topk_distinct_queries(
        lambda q: topk_similarity_between(q, ref, k + 1, "cosine", n_threads=settings.n_threads),
        sp.csr_matrix(values[rows], dtype=np.float32),
    )
    return drop_self_truncate(sims, self_col[rows], k)


def profile_neighbours(
    query: np.ndarray, ref: np.ndarray, g: np.ndarray, self_col: np.ndarray, settings: Settings
) -> sp.csr_matrix:
    """Top-k neighbours of profile rows ``query`` among ``ref`` (similarity weighted by the
    global profile ``g``; dissimilar profiles are no neighbours)."""
    k = settings.n_neighbors
    no_self = not (self_col >= 0).any()
    sims = topk_distinct_queries(
        lambda q: topk_distinct_refs(
            lambda rows, kk: topk_similarity_dense_between(
                q, rows, kk, settings.metric, weights=g, n_threads=settings.n_threads
            ),
            ref,
            k if no_self else k + 1,
        ),
        query,
    )
    sims.data = np.maximum(sims.data, 0.0)
    sims.eliminate_zeros()
    return sims if no_self else drop_self_truncate(sims, self_col, k)


def fold_in_user_neighbours(
    history: sp.csr_matrix,
    v_active_t: sp.csr_matrix,
    v_norms: np.ndarray,
    settings: Settings,
) -> sp.csr_matrix:
    """Top-k cosine neighbours (among the active users) of new users' positives.

    ``v_active_t`` is the active users' positives transposed, ``v_norms`` their L2 norms.
    """
    hist = history
    if hist.format != "csr" or hist.dtype != np.float32:
        hist = sp.csr_matrix(hist, dtype=np.float32)
    n_new, n_ref = hist.shape[0], len(v_norms)
    k = min(settings.n_neighbors, n_ref)
    if hist.nnz == 0 or k == 0:
        return sp.csr_matrix((n_new, n_ref), dtype=np.float32)
    overlap = csr_dense_product(hist, v_active_t, n_threads=settings.n_threads)
    h_norm = np.sqrt(row_sums(hist, power=2))
    den = h_norm[:, None] * v_norms[None, :]
    sims = np.divide(overlap, den, out=np.zeros_like(overlap), where=den > 0)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, top, axis=1)
    keep = vals > 0
    indptr = np.zeros(n_new + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    return sp.csr_matrix((vals[keep].astype(np.float32), top[keep], indptr), shape=(n_new, n_ref))


def prepare_field_refs(
    ref_lift: np.ndarray, g: np.ndarray, slices: tuple[slice, ...], metric: str
) -> tuple[PreparedRows, ...]:
    """The active users' profiles of every field, prepared once for fold-in searches."""
    return tuple(
        prepare_dense(np.ascontiguousarray(ref_lift[:, sl]), metric, g[sl]) for sl in slices
    )


def fold_in_field_neighbours(
    lift: np.ndarray,
    refs: tuple[PreparedRows, ...],
    g: np.ndarray,
    slices: tuple[slice, ...],
    settings: Settings,
) -> list[sp.csr_matrix]:
    """Per field, the top-k profile neighbours (among the active users) of folded-in users.

    The same as :func:`profile_neighbours` without a self column; ``refs`` come from
    :func:`prepare_field_refs`.
    """
    out = []
    for sl, ref in zip(slices, refs, strict=True):
        query = prepare_dense(
            np.ascontiguousarray(lift[:, sl], dtype=np.float64), settings.metric, g[sl]
        )
        sims = topk_prepared(query, ref, settings.n_neighbors, n_threads=settings.n_threads)
        if sims.nnz and sims.data.min() <= 0:  # dissimilar profiles are no neighbours
            sims.data = np.maximum(sims.data, 0.0)
            sims.eliminate_zeros()
        out.append(sims)
    return out
