"""Serving kernels: score items from neighbour lists and users' histories, keep the top n (numba).

For user u with history entries (j, r_uj) and neighbour lists ``N`` (items x items CSR, row j
holding the neighbours i of j with similarity s_ji)::

    score(u, i) = sum_j r_uj * s_ji

accumulated in float64 in history order. The candidates of u are the items reached through at
least one stored neighbour entry of a history item, minus u's seen items (``exclude_seen``),
minus the items of u's exclusion list, restricted to ``allowed[i] != 0`` (an empty ``allowed``
allows every item). The best n are returned best-first (ties by item index ascending) as
``idx int32`` / ``score float32`` rows padded with ``-1`` / ``-inf``. Ranking is a strict total
order on (float32 score, index), so the result does not depend on the order in which
candidates are visited.

Scratch (per item, reused across users and calls): ``acc`` float64 and ``flag`` uint8 are all
zero between users; ``touched`` int32 has ``n_items + 1`` slots.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uintp

from featcf._kernels.topk import heap_push, heap_sorted, worse

#: status codes of :func:`topn_scores_one` (0 = success)
BAD_ITEM_IDX = 1
BAD_WEIGHTS = 2
BAD_EXCLUDE = 3


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
    flag,
    touched,
    heap_s,
    heap_i,
    out_i,
    out_s,
):
    """Score one user into ``out_i``/``out_s`` (length n); ``acc``/``flag`` are zero on exit.

    An empty ``hist_w`` means weight 1 for every history item. ``flag[i] != 0`` marks an item
    that is excluded or already listed in ``touched``; new items are appended without a branch
    (the slot is written every time, the count only grows for a new item), which keeps the
    accumulation loop free of unpredictable jumps. Every index is in range (checked by the
    caller) and is used as an unsigned ``uintp``: numba then skips its negative-index
    wraparound code, which more than doubles the cost of the inner loop otherwise.
    """
    n_hist = hist_idx.shape[0]
    n_ex = ex_idx.shape[0]
    unit = hist_w.shape[0] == 0
    if exclude_seen:
        for p in range(n_hist):
            flag[uintp(hist_idx[p])] = 1
    for p in range(n_ex):
        flag[uintp(ex_idx[p])] = 1
    n_touched = uintp(0)
    for p in range(n_hist):
        j = uintp(hist_idx[p])
        r = 1.0 if unit else np.float64(hist_w[p])
        for q in range(uintp(n_indptr[j]), uintp(n_indptr[j + uintp(1)])):
            i = uintp(n_indices[q])
            acc[i] += r * n_data[q]
            touched[n_touched] = i
            n_touched += uintp(flag[i] == 0)
            flag[i] = 1
    use_allowed = allowed.shape[0] > 0
    size = 0
    for t in range(n_touched):
        i = touched[t]
        iu = uintp(i)
        s = np.float32(acc[iu])
        acc[iu] = 0.0
        flag[iu] = 0
        if use_allowed and allowed[iu] == 0:
            continue
        if size == n and not worse(heap_s[0], heap_i[0], s, i):
            continue
        size = heap_push(heap_s, heap_i, size, n, s, i)
    # excluded items were never listed in touched: reset their scratch here
    if exclude_seen:
        for p in range(n_hist):
            j = uintp(hist_idx[p])
            acc[j] = 0.0
            flag[j] = 0
    for p in range(n_ex):
        j = uintp(ex_idx[p])
        acc[j] = 0.0
        flag[j] = 0
    heap_sorted(heap_s, heap_i, size, out_s, out_i)
    for t in range(size, n):
        out_i[t] = -1
        out_s[t] = -np.inf


@njit(cache=True)
def _argument_status(n_items, hist_idx, hist_w, ex_idx):
    """0 when every index is in ``[0, n_items)`` and every weight finite, else the first bad one's code."""
    for p in range(hist_idx.shape[0]):
        if hist_idx[p] < 0 or hist_idx[p] >= n_items:
            return BAD_ITEM_IDX
    for p in range(hist_w.shape[0]):
        if not np.isfinite(hist_w[p]):
            return BAD_WEIGHTS
    for p in range(ex_idx.shape[0]):
        if ex_idx[p] < 0 or ex_idx[p] >= n_items:
            return BAD_EXCLUDE
    return 0


@njit(cache=True, nogil=True)
def topn_scores_one(
    n_indptr, n_indices, n_data, hist_idx, hist_w, ex_idx, exclude_seen, allowed, n, acc, flag,
    touched,
):  # fmt: skip
    """Top-``n`` items for one user (see module doc) with caller-owned scratch.

    Returns ``(idx int32 (n,), score float32 (n,), status)``. The index and weight arguments
    are checked here, where it costs one pass over them, before any scratch is touched:
    ``status`` is 0 on success, else the code of the first bad argument: :data:`BAD_ITEM_IDX`
    (a history index outside ``[0, n_items)``), :data:`BAD_WEIGHTS` (a non-finite weight) or
    :data:`BAD_EXCLUDE` (an exclusion index out of range); the outputs are then all padding.
    The caller turns a status into the error naming the argument. ``allowed`` (empty or one
    flag per item) and the neighbour CSR are trusted.
    """
    out_i = np.full(n, -1, np.int32)
    out_s = np.full(n, -np.inf, np.float32)
    status = _argument_status(n_indptr.shape[0] - 1, hist_idx, hist_w, ex_idx)
    if status != 0:
        return out_i, out_s, status
    heap_s = np.empty(n, np.float32)
    heap_i = np.empty(n, np.int32)
    _score_one_user(
        n_indptr, n_indices, n_data, hist_idx, hist_w, ex_idx, exclude_seen, allowed, n,
        acc, flag, touched, heap_s, heap_i, out_i, out_s,
    )  # fmt: skip
    return out_i, out_s, status


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

    ``ex_*`` is a per-user exclusion CSR with as many rows as the history. Users go in
    ``n_chunks`` strided chunks to :func:`topn_scores_chunk`, in parallel. Returns
    ``(idx int32 (u, n), score f32 (u, n))``.
    """
    n_users = h_indptr.shape[0] - 1
    out_i = np.empty((n_users, n), np.int32)
    out_s = np.empty((n_users, n), np.float32)
    for chunk in prange(n_chunks):
        topn_scores_chunk(
            n_indptr, n_indices, n_data, h_indptr, h_indices, h_data, ex_indptr, ex_indices,
            exclude_seen, allowed, n, out_i, out_s, np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out_i, out_s


@njit(cache=True)
def topn_scores_chunk(
    n_indptr, n_indices, n_data, h_indptr, h_indices, h_data, ex_indptr, ex_indices,
    exclude_seen, allowed, n, out_i, out_s, chunk, n_chunks,
):  # fmt: skip
    """Users ``chunk, chunk + n_chunks, ...`` of :func:`topn_scores_batch` into ``out_*``.

    With ``chunk=0, n_chunks=1``, the whole batch on the calling thread (no parallel region
    to launch or compile).
    """
    n_items = n_indptr.shape[0] - 1
    n_users = h_indptr.shape[0] - 1
    acc = np.zeros(n_items, np.float64)
    flag = np.zeros(n_items, np.uint8)
    touched = np.empty(n_items + 1, np.int32)
    heap_s = np.empty(n, np.float32)
    heap_i = np.empty(n, np.int32)
    for u in range(chunk, n_users, n_chunks):
        lo = h_indptr[u]
        hi = h_indptr[u + 1]
        _score_one_user(
            n_indptr, n_indices, n_data, h_indices[lo:hi], h_data[lo:hi],
            ex_indices[ex_indptr[u]:ex_indptr[u + 1]], exclude_seen, allowed, n,
            acc, flag, touched, heap_s, heap_i, out_i[u], out_s[u],
        )  # fmt: skip
