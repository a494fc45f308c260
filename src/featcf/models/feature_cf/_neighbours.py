"""Neighbour searches of FeatureCF: top-k lists computed once per distinct row, without self."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.similarity import expand_repeated_topk

__all__ = [
    "drop_self_truncate",
    "topk_distinct_queries",
    "topk_distinct_refs",
    "unique_rows",
]


def unique_rows(matrix: np.ndarray | sp.csr_matrix) -> tuple[Any, np.ndarray]:
    """Distinct rows of a dense or CSR matrix and, per row, the index of its distinct row."""
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
    uniq, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    return np.asarray(matrix)[np.sort(first)], _renumber(inverse.ravel(), first)


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
    sims = sp.csr_matrix(sims)
    counts = np.diff(sims.indptr)
    rows = np.repeat(np.arange(sims.shape[0]), counts)
    keep = sims.indices != self_col[rows]
    rank = np.cumsum(keep) - 1
    kept_before = np.concatenate([[0], np.cumsum(keep)])[sims.indptr[:-1]]
    rank_in_row = rank - kept_before[rows]
    keep &= rank_in_row < k
    new_counts = np.bincount(rows[keep], minlength=sims.shape[0])
    indptr = np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64)
    return sp.csr_matrix(
        (sims.data[keep], sims.indices[keep], indptr), shape=sims.shape, dtype=np.float32
    )
