"""Numba kernels for the ranking metrics of :mod:`featcf.metrics`.

Plain functions over arrays; the Python wrappers fix the dtypes and validate everything.
The relevance matrix arrives as CSR parts (``indptr``, ``indices`` sorted within each row,
``gains`` > 0): every stored entry is a relevant item whose gain is the stored value.

Each metric has a per-user body (``_*_user``) and two drivers over users with identical
results: ``parallel=True`` with ``prange`` for large inputs and a serial one for small
inputs, where launching the thread pool costs more than the work (several milliseconds per
parallel region with the OpenMP layer). Drivers allocate with ``np.empty`` so that the
parallel driver has exactly one parallel region, and pass the user as an int64 (the
``prange`` index is unsigned: the body would compile twice).
"""

from __future__ import annotations

import numba
import numpy as np

from featcf._kernels.topk import heap_push, heap_sorted

__all__ = [
    "AP_SUM",
    "DCG",
    "HITS",
    "IDCG",
    "auc_dense",
    "auc_dense_serial",
    "ranking_stats_csr",
    "ranking_stats_csr_serial",
]

# Columns of the array returned by ``ranking_stats_csr``.
HITS, DCG, IDCG, AP_SUM = 0, 1, 2, 3


@numba.njit(cache=True)
def _ranking_stats_user(ranked, u, k, indptr, indices, gains, graded, out):  # pragma: no cover
    """Fill ``out[u]`` with the statistics documented in ``ranking_stats_csr``."""
    start = indptr[u]
    end = indptr[u + 1]
    n_rel = end - start
    width = ranked.shape[1]
    hits = 0
    dcg = 0.0
    idcg = 0.0
    ap_sum = 0.0
    if n_rel > 0:
        row = indices[start:end]
        for i in range(width):
            item = ranked[u, i]
            if item < 0:
                break
            pos = np.searchsorted(row, item)
            if pos < n_rel and row[pos] == item:
                hits += 1
                gain = gains[start + pos] if graded else 1.0
                dcg += gain / np.log2(i + 2.0)
                ap_sum += hits / (i + 1.0)
        n_ideal = min(k, n_rel)
        if graded:
            # the n_ideal largest gains, largest first, through a heap of that size (np.sort
            # would cost every first run a second of compiling)
            heap_g = np.empty(n_ideal, np.float64)
            heap_p = np.empty(n_ideal, np.int32)
            size = 0
            for p in range(start, end):
                size = heap_push(heap_g, heap_p, size, n_ideal, gains[p], p - start)
            ordered = np.empty(n_ideal, np.float64)
            heap_sorted(heap_g, heap_p, size, ordered, heap_p.copy())
            for j in range(n_ideal):
                idcg += ordered[j] / np.log2(j + 2.0)
        else:
            for j in range(n_ideal):
                idcg += 1.0 / np.log2(j + 2.0)
    out[u, HITS] = hits
    out[u, DCG] = dcg
    out[u, IDCG] = idcg
    out[u, AP_SUM] = ap_sum


@numba.njit(cache=True, parallel=True)
def ranking_stats_csr(ranked, k, indptr, indices, gains, graded):  # pragma: no cover - jit
    """Per-user sufficient statistics of the top-``k`` ranking metrics.

    Parameters
    ----------
    ranked : int64 array of shape (n_users, width), width <= k
        Item indices in rank order; ``-1`` marks trailing empty positions.
    k : int
        Cut-off; only used for the ideal DCG (``min(k, n_relevant)`` ideal positions).
    indptr, indices, gains : CSR parts of the relevance matrix (n_users, n_items)
        ``indices`` sorted within each row, ``gains`` float64 and > 0.
    graded : bool
        Use ``gains`` as the DCG gain; otherwise every relevant item has gain 1.

    Returns
    -------
    float64 array of shape (n_users, 4) with, per user ``u`` and rank position ``i``
    (0-based, ``rel(i)`` true when ``ranked[u, i]`` is stored in row ``u``):

    - ``HITS``: ``sum_i rel(i)``
    - ``DCG``: ``sum_i rel(i) * g(i) / log2(i + 2)``
    - ``IDCG``: ``sum_{j < min(k, n_rel)} g_(j) / log2(j + 2)``, ``g_`` the row's gains
      in decreasing order
    - ``AP_SUM``: ``sum_i rel(i) * hits_up_to_and_including(i) / (i + 1)``

    Users without relevant items get a row of zeros. Relevance is looked up by binary
    search in the sorted row, so no scratch memory is shared between threads.
    """
    n_users = ranked.shape[0]
    out = np.empty((n_users, 4), dtype=np.float64)
    for u in numba.prange(n_users):
        _ranking_stats_user(ranked, np.int64(u), k, indptr, indices, gains, graded, out)
    return out


@numba.njit(cache=True)
def ranking_stats_csr_serial(ranked, k, indptr, indices, gains, graded):  # pragma: no cover
    """Serial twin of ``ranking_stats_csr`` (same arguments, same result)."""
    n_users = ranked.shape[0]
    out = np.empty((n_users, 4), dtype=np.float64)
    for u in range(n_users):
        _ranking_stats_user(ranked, u, k, indptr, indices, gains, graded, out)
    return out


@numba.njit(cache=True)
def _auc_user(scores, u, pos_indptr, pos_indices, ex_indptr, ex_indices):  # pragma: no cover
    """AUC of user ``u`` as documented in ``auc_dense`` (NaN when undefined)."""
    n_items = scores.shape[1]
    if pos_indptr[u + 1] == pos_indptr[u]:
        return np.nan
    # label: 0 negative candidate, 1 positive candidate, 2 excluded
    label = np.zeros(n_items, dtype=np.int8)
    for p in range(ex_indptr[u], ex_indptr[u + 1]):
        label[ex_indices[p]] = 2
    n_pos = 0
    for p in range(pos_indptr[u], pos_indptr[u + 1]):
        item = pos_indices[p]
        if label[item] == 0:
            label[item] = 1
            n_pos += 1
    if n_pos == 0:
        return np.nan
    cand = np.empty(n_items, dtype=np.int64)
    n_cand = 0
    for j in range(n_items):
        if label[j] != 2:
            cand[n_cand] = j
            n_cand += 1
    n_neg = n_cand - n_pos
    if n_neg == 0:
        return np.nan
    s = np.empty(n_cand, dtype=scores.dtype)
    for c in range(n_cand):
        s[c] = scores[u, cand[c]]
    order = np.argsort(s)
    pos_rank_sum = 0.0
    i = 0
    while i < n_cand:
        j = i + 1
        while j < n_cand and s[order[j]] == s[order[i]]:
            j += 1
        # sorted positions i .. j-1 tie; their 1-based ranks i+1 .. j average (i + 1 + j) / 2
        n_pos_tied = 0
        for t in range(i, j):
            if label[cand[order[t]]] == 1:
                n_pos_tied += 1
        pos_rank_sum += n_pos_tied * (i + 1 + j) / 2.0
        i = j
    return (pos_rank_sum - n_pos * (n_pos + 1) / 2.0) / (float(n_pos) * float(n_neg))


@numba.njit(cache=True, parallel=True)
def auc_dense(scores, pos_indptr, pos_indices, ex_indptr, ex_indices):  # pragma: no cover - jit
    """Per-user ROC AUC of dense ``scores`` against relevant items, ties counted 1/2.

    Candidates of user ``u`` are all items not stored in row ``u`` of the exclusion matrix
    (``ex_indptr``, ``ex_indices``). Positives are the candidates stored in row ``u`` of the
    relevance matrix, negatives the other candidates. With mid-ranks ``r`` of the
    candidates' scores (ascending, ties averaged), the Mann-Whitney identity gives

        AUC = (sum_{p positive} r_p - n_pos (n_pos + 1) / 2) / (n_pos * n_neg)

    which equals ``P(s_pos > s_neg) + P(s_pos == s_neg) / 2`` over all pairs. Users with no
    positive or no negative candidate get NaN. O(n_items log n_items) per user, with
    per-user scratch arrays (allocated inside the loop body, never shared by threads).
    """
    n_users = scores.shape[0]
    out = np.empty(n_users, dtype=np.float64)
    for u in numba.prange(n_users):
        out[u] = _auc_user(scores, np.int64(u), pos_indptr, pos_indices, ex_indptr, ex_indices)
    return out


@numba.njit(cache=True)
def auc_dense_serial(scores, pos_indptr, pos_indices, ex_indptr, ex_indices):  # pragma: no cover
    """Serial twin of ``auc_dense`` (same arguments, same result)."""
    n_users = scores.shape[0]
    out = np.empty(n_users, dtype=np.float64)
    for u in range(n_users):
        out[u] = _auc_user(scores, u, pos_indptr, pos_indices, ex_indptr, ex_indices)
    return out
