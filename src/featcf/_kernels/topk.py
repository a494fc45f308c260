"""Bounded top-k selection kernels (numba).

A candidate is a pair ``(score, index)``. Candidate ``a`` ranks above ``b`` when
``a.score > b.score``, or when the scores are equal and ``a.index < b.index`` (ties broken by
index ascending). Selection keeps the best ``k`` candidates in a binary min-heap whose root is
the worst kept candidate, so a row costs ``O(n log k)`` and never a full sort.

Padding convention for fixed-width outputs: index ``-1`` and score ``-inf``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "expand_repeated_topk",
    "heap_push",
    "heap_sorted",
    "topk_outputs",
    "topn_dense_kernel",
    "topn_dense_serial",
    "worse",
]


@njit(cache=True, inline="always")
def worse(s1, i1, s2, i2):
    """Return True when candidate ``(s1, i1)`` ranks below ``(s2, i2)``."""
    return s1 < s2 or (s1 == s2 and i1 > i2)


@njit(cache=True, inline="always")
def heap_push(heap_s, heap_i, size, k, score, index):
    """Offer ``(score, index)`` to a min-heap of capacity ``k``; return the new size.

    The heap lives in ``heap_s[:size]`` / ``heap_i[:size]`` (int32); its root is the worst
    kept candidate. A full heap replaces its root only when the new candidate ranks above it.
    ``score`` has the dtype of ``heap_s`` (float32 for the top-k kernels). This inline wrapper
    gives the heap code one signature per score dtype (int64 size and capacity, int32 index)
    whatever integer types the caller holds, so it compiles once.
    """
    return _heap_push(heap_s, heap_i, np.int64(size), np.int64(k), score, np.int32(index))


@njit(cache=True)
def _heap_push(heap_s, heap_i, size, k, score, index):
    """:func:`heap_push` with canonical argument types."""
    if size < k:
        pos = size
        while pos > 0:
            parent = (pos - 1) >> 1
            if worse(score, index, heap_s[parent], heap_i[parent]):
                heap_s[pos] = heap_s[parent]
                heap_i[pos] = heap_i[parent]
                pos = parent
            else:
                break
        heap_s[pos] = score
        heap_i[pos] = index
        return size + 1
    if not worse(heap_s[0], heap_i[0], score, index):
        return size
    _sift_down(heap_s, heap_i, size, score, index)
    return size


@njit(cache=True, inline="always")
def _sift_down(heap_s, heap_i, size, score, index):
    """Put ``(score, index)`` at the root of ``heap[:size]`` and restore the heap order."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and worse(heap_s[right], heap_i[right], heap_s[child], heap_i[child]):
            child = right
        if worse(heap_s[child], heap_i[child], score, index):
            heap_s[pos] = heap_s[child]
            heap_i[pos] = heap_i[child]
            pos = child
        else:
            break
    heap_s[pos] = score
    heap_i[pos] = index


@njit(cache=True, inline="always")
def heap_sorted(heap_s, heap_i, size, out_s, out_i):
    """Write the heap's candidates best-first into ``out_s[:size]`` / ``out_i[:size]``.

    Destroys the heap (repeatedly moves the worst candidate to the back). Inline wrapper with
    an int64 ``size``, as :func:`heap_push`.
    """
    _heap_sorted(heap_s, heap_i, np.int64(size), out_s, out_i)


@njit(cache=True)
def _heap_sorted(heap_s, heap_i, size, out_s, out_i):
    """:func:`heap_sorted` with an int64 ``size``."""
    for last in range(size - 1, -1, -1):
        out_s[last] = heap_s[0]
        out_i[last] = heap_i[0]
        if last > 0:
            _sift_down(heap_s, heap_i, last, heap_s[last], heap_i[last])


@njit(cache=True, inline="always")
def _offer_column(scores, r, c, use_exclude, stamp, heap_s, heap_i, size, n):
    """Offer column ``c`` of row ``r`` to the row's heap (unless ``-inf`` or excluded)."""
    s = np.float32(scores[r, c])
    if s == -np.inf:
        return size
    if use_exclude and stamp[c] == r + 1:
        return size
    if size == n and not worse(heap_s[0], heap_i[0], s, c):
        return size
    return heap_push(heap_s, heap_i, size, n, s, c)


@njit(cache=True)
def _topn_dense_rows(
    scores, n, ex_indptr, ex_indices, use_exclude, columns, out_i, out_s, start, step
):
    """Rows ``start, start + step, ...`` of :func:`topn_dense_kernel` into ``out_i/out_s``."""
    n_rows, n_cols = scores.shape
    heap_s = np.empty(n, np.float32)
    heap_i = np.empty(n, np.int32)
    stamp = np.zeros(n_cols if use_exclude else 1, np.int32)
    use_columns = columns.shape[0] > 0
    for r in range(start, n_rows, step):
        if use_exclude:
            for p in range(ex_indptr[r], ex_indptr[r + 1]):
                stamp[ex_indices[p]] = r + 1
        size = 0
        if use_columns:
            for t in range(columns.shape[0]):
                size = _offer_column(
                    scores, r, columns[t], use_exclude, stamp, heap_s, heap_i, size, n
                )
        else:
            for c in range(n_cols):
                size = _offer_column(scores, r, c, use_exclude, stamp, heap_s, heap_i, size, n)
        heap_sorted(heap_s, heap_i, size, out_s[r], out_i[r])


@njit(cache=True, parallel=True)
def topn_dense_kernel(scores, n, ex_indptr, ex_indices, use_exclude, columns, n_chunks):
    """Top-``n`` columns of every row of a dense score block.

    For row ``r`` the candidates are the columns ``c`` with ``scores[r, c] > -inf`` that are not
    listed in row ``r`` of the exclusion CSR (``ex_indptr``/``ex_indices``, used when
    ``use_exclude``), among ``columns`` (int32, the allowed columns in ascending order; an
    empty array allows every column). Returns ``(idx int32 (rows, n), val float32 (rows, n))``
    best-first, ties by column ascending, padded with ``-1`` / ``-inf``. Rows are processed in
    ``n_chunks`` strided chunks in parallel; each row's result does not depend on the chunking.
    """
    n_rows = scores.shape[0]
    out_i = np.full((n_rows, n), -1, np.int32)
    out_s = np.full((n_rows, n), -np.inf, np.float32)
    for chunk in prange(n_chunks):
        _topn_dense_rows(
            scores, n, ex_indptr, ex_indices, use_exclude, columns, out_i, out_s,
            np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out_i, out_s


@njit(cache=True)
def topn_dense_serial(scores, n, ex_indptr, ex_indices, use_exclude, columns):
    """:func:`topn_dense_kernel` on the calling thread (a few rows: no parallel launch)."""
    n_rows = scores.shape[0]
    out_i = np.full((n_rows, n), -1, np.int32)
    out_s = np.full((n_rows, n), -np.inf, np.float32)
    _topn_dense_rows(
        scores, n, ex_indptr, ex_indices, use_exclude, columns, out_i, out_s, np.int64(0),
        np.int64(1),
    )  # fmt: skip
    return out_i, out_s


@njit(cache=True)
def topk_outputs(n_rows, k):
    """Empty top-k outputs ``(idx int32 (n_rows, k) of -1, score float32 zeros, count int32)``."""
    return (
        np.full((n_rows, k), -1, np.int32),
        np.zeros((n_rows, k), np.float32),
        np.zeros(n_rows, np.int32),
    )


@njit(cache=True)
def expand_repeated_topk(indptr, distinct_idx, distinct_s, member_ptr, members, k):
    """Top-k over reference rows that repeat, from the top-k over their distinct rows.

    Row ``r``'s candidates ``distinct_idx/distinct_s[indptr[r]:indptr[r + 1]]`` are the
    top-k *distinct* reference rows, best first, where distinct rows are numbered in order
    of their first occurrence; ``members[member_ptr[u]:member_ptr[u + 1]]`` are the
    positions of the reference rows equal to distinct row ``u``, ascending. Equal rows score
    equally, so the top-k of the reference rows themselves is the first ``k`` members in
    (score descending, position ascending) order. Within a run of equal scores only the
    ``k - filled`` smallest positions of each distinct row can be needed (they go through a
    heap of that capacity, which keeps the smallest positions of the run in order); a
    distinct row cut from the list at the run's end has a first member after the first
    member of every distinct row in the run, so it is never needed either.

    Returns ``(out_i, out_s, out_n)`` as the top-k kernels: best first, ``out_n[r]`` filled.
    """
    n = indptr.shape[0] - 1
    out_i, out_s, out_n = topk_outputs(n, k)
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    for r in range(n):
        p = indptr[r]
        end = indptr[r + 1]
        filled = 0
        while p < end and filled < k:
            s = distinct_s[p]
            need = k - filled
            size = 0
            q = p
            while q < end and distinct_s[q] == s:
                u = distinct_idx[q]
                a = member_ptr[u]
                for t in range(a, min(member_ptr[u + 1], a + need)):
                    size = heap_push(heap_s, heap_i, size, need, s, members[t])
                q += 1
            heap_sorted(heap_s, heap_i, size, out_s[r, filled:], out_i[r, filled:])
            filled += size
            p = q
        out_n[r] = filled
    return out_i, out_s, out_n


@njit(cache=True)
def drop_column_truncate(indptr, indices, data, drop_col, k):
    """Row ``r`` of a CSR matrix without column ``drop_col[r]`` (-1: none), cut to ``k``.

    The first ``k`` remaining entries of every row are kept in their order (a best-first
    top-k list stays best first). Returns ``(indptr int64, indices int32, data float32)``.
    """
    n = indptr.shape[0] - 1
    out_ptr = np.zeros(n + 1, np.int64)
    for r in range(n):
        kept = 0
        for p in range(indptr[r], indptr[r + 1]):
            if kept >= k:
                break
            if indices[p] != drop_col[r]:
                kept += 1
        out_ptr[r + 1] = out_ptr[r] + kept
    out_i = np.empty(out_ptr[n], np.int32)
    out_s = np.empty(out_ptr[n], np.float32)
    for r in range(n):
        q = out_ptr[r]
        for p in range(indptr[r], indptr[r + 1]):
            if q >= out_ptr[r + 1]:
                break
            if indices[p] != drop_col[r]:
                out_i[q] = indices[p]
                out_s[q] = data[p]
                q += 1
    return out_ptr, out_i, out_s
