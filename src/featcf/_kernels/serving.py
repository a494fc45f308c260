"""Serving kernels: score items from neighbour lists and users' histories, keep the top n (numba).

For user u with history entries (j, r_uj) and neighbour lists ``N`` (items x items CSR, row j
holding the neighbours i of j with similarity s_ji)::

    score(u, i) = sum_j r_uj * s_ji

accumulated in float64. The candidates of u are the items reached through at least one stored
neighbour entry of a history item, minus u's seen items (``exclude_seen``), minus the items
listed in row u of the per-user exclusion CSR, restricted to ``allowed[i] != 0``. The best n
are returned best-first (ties by item index ascending) as ``idx int32`` / ``score float32``
rows padded with ``-1`` / ``-inf``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from featcf._kernels.topk import _worse, heap_push, heap_sorted


@njit(cache=True)
def _score_one_user(
    n_indptr,
    n_indices,
    n_data,
    hist_idx,
    hist_w,
    ex_idx,
    exclude_seen,
    allowed,
    n,
    acc,
    mark,
    stamp,
    touched,
    heap_s,
    heap_i,
    out_i,
    out_s,
):
    """Score one user into ``out_i``/``out_s`` (length n); scratch arrays are reset on exit.

    ``mark`` is a per-item int32 array equal to ``stamp`` for excluded items of this user; the
    caller passes a stamp value not used before with this scratch (so it is never cleared).
    """
    n_touched = 0
    for p in range(hist_idx.shape[0]):
        j = hist_idx[p]
        r = np.float64(hist_w[p])
        for q in range(n_indptr[j], n_indptr[j + 1]):
            i = n_indices[q]
            if mark[i] != stamp and mark[i] != -stamp:
                mark[i] = -stamp
                touched[n_touched] = i
                n_touched += 1
            acc[i] += r * n_data[q]
    # exclusions: seen items and the user's exclusion list
    if exclude_seen:
        for p in range(hist_idx.shape[0]):
            mark[hist_idx[p]] = stamp
    for p in range(ex_idx.shape[0]):
        mark[ex_idx[p]] = stamp
    size = 0
    for t in range(n_touched):
        i = touched[t]
        s = np.float32(acc[i])
        acc[i] = 0.0
        if mark[i] == stamp or allowed[i] == 0:
            continue
        if size == n and not _worse(heap_s[0], heap_i[0], s, i):
            continue
        size = heap_push(heap_s, heap_i, size, n, s, i)
    heap_sorted(heap_s, heap_i, size, out_s, out_i)
    for t in range(size, n):
        out_i[t] = -1
        out_s[t] = -np.inf


@njit(cache=True)
def topn_scores_one(
    n_indptr, n_indices, n_data, hist_idx, hist_w, ex_idx, exclude_seen, allowed, n
):
    """Top-``n`` items for one user (see module doc); returns ``(idx int32 (n,), score f32 (n,))``."""
    n_items = n_indptr.shape[0] - 1
    acc = np.zeros(n_items, np.float64)
    mark = np.zeros(n_items, np.int32)
    touched = np.empty(n_items, np.int32)
    heap_s = np.empty(n, np.float32)
    heap_i = np.empty(n, np.int32)
    out_i = np.empty(n, np.int32)
    out_s = np.empty(n, np.float32)
    _score_one_user(
        n_indptr, n_indices, n_data, hist_idx, hist_w, ex_idx, exclude_seen, allowed, n,
        acc, mark, 1, touched, heap_s, heap_i, out_i, out_s,
    )  # fmt: skip
    return out_i, out_s


@njit(cache=True, parallel=True)
def topn_scores_batch(
    n_indptr,
    n_indices,
    n_data,
    h_indptr,
    h_indices,
    h_data,
    ex_indptr,
    ex_indices,
    exclude_seen,
    allowed,
    n,
    n_chunks,
):
    """Top-``n`` items for every user of the history CSR ``h_*`` (see module doc).

    ``ex_*`` is a per-user exclusion CSR with as many rows as the history. Users are processed
    in ``n_chunks`` strided chunks in parallel. Returns ``(idx int32 (u, n), score f32 (u, n))``.
    """
    n_items = n_indptr.shape[0] - 1
    n_users = h_indptr.shape[0] - 1
    out_i = np.empty((n_users, n), np.int32)
    out_s = np.empty((n_users, n), np.float32)
    for chunk in prange(n_chunks):
        acc = np.zeros(n_items, np.float64)
        mark = np.zeros(n_items, np.int32)
        touched = np.empty(n_items, np.int32)
        heap_s = np.empty(n, np.float32)
        heap_i = np.empty(n, np.int32)
        for u in range(chunk, n_users, n_chunks):
            lo = h_indptr[u]
            hi = h_indptr[u + 1]
            _score_one_user(
                n_indptr, n_indices, n_data, h_indices[lo:hi], h_data[lo:hi],
                ex_indices[ex_indptr[u]:ex_indptr[u + 1]], exclude_seen, allowed, n,
                acc, mark, u + 1, touched, heap_s, heap_i, out_i[u], out_s[u],
            )  # fmt: skip
    return out_i, out_s
