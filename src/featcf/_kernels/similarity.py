"""Exact top-k similarity kernels between rows of sparse and dense matrices (numba).

All kernels take CSR parts as separate arrays whose dtypes are fixed by the Python face
(:mod:`featcf.similarity`): ``indptr``/``indices`` int32 or int64, ``data`` float32/float64.
Any per-column weighting, centring or BM25/TF-IDF reweighting is applied by the caller
before the call; the kernels compute the generic forms below.

Sparse kernels compare every row ``i`` of ``A`` (``a_*``) with every row ``j`` of ``B``, given
as its transpose ``B^T`` (``bt_*``, one row per column ``c`` listing the rows of ``B`` that
store ``c``). For row ``i`` they walk the stored columns ``c`` of ``A[i]`` and, for each, the
rows ``j`` stored in ``B^T[c]``, accumulating in a per-thread dense float64 array of length
``n_b``. With ``n_ij`` the number of columns stored in both rows:

* ``MODE_DOT``     s = sum_c a_ic b_jc
* ``MODE_COSINE``  s = clip(sum_c a_ic b_jc / (na_i nb_j), -1, 1); ``na_i * nb_j == 0`` -> no pair
* ``MODE_JACCARD`` s = d / (na_i + nb_j - d) with d = sum_c a_ic b_jc (the data hold sqrt(w_c)
  and ``na``/``nb`` the row sums of w_c, which makes s the weighted Jaccard index)

then, with shrinkage ``h``: s *= n_ij / (n_ij + h). A pair is returned only when
``n_ij >= min_support``, the float32 score is nonzero and finite, and (``exclude_self``) j != i.

Each row is computed by one thread in a fixed order, so results do not depend on the thread
count. Output: ``(idx int32 (n_a, k), score float32 (n_a, k), count int32 (n_a,))``, best-first,
ties by index ascending; only the first ``count[i]`` slots of row ``i`` are meaningful.

Faster variants chosen by :mod:`featcf.similarity` (all give bit-identical results):

* :func:`sparse_topk_symmetric` (self similarity, float values) visits each unordered pair once:
  rows are relabelled by decreasing length, row ``l`` counts only labels ``j > l`` (a cursor per
  column skips the rest of the sorted ``B^T`` list) and offers the score to both rows' heaps;
  each thread keeps a heap per row, merged exactly at the end.
* :func:`count_topk` / :func:`count_topk_symmetric` (every stored value equal: binary data, and
  jaccard always): integer counts instead of float products (uint16 counters when no count can
  overflow). In self mode the most popular rows may form a dense core whose pair counts come
  from bitsets (:func:`bitset_pair_counts`, AND + popcount over 64 columns per word). When
  every row of ``B`` has the same norm (one-hot fields, one value each), :func:`count_topk`
  reads a row's scores from its counts alone (:func:`_uniform_count_row`).
* The scatter loops prefetch the ``B^T`` list starts a few columns ahead (:func:`prefetch`).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from featcf._kernels.topk import heap_push, heap_sorted, topk_outputs, worse

MODE_DOT = 0
MODE_COSINE = 1
MODE_JACCARD = 2

#: relative tolerance under which a co-rated variance counts as zero (Pearson)
PEARSON_VAR_RTOL = 1e-9


@njit(cache=True, inline="always")
def _finish(dot, n_common, na, nb, mode, shrink):
    """Turn an accumulated dot product into the final float64 score of ``MODE_*``."""
    if mode == MODE_COSINE:
        den = na * nb
        if den <= 0.0:
            return 0.0
        s = dot / den
        if s > 1.0:
            s = 1.0
        elif s < -1.0:
            s = -1.0
    elif mode == MODE_JACCARD:
        den = na + nb - dot
        if den <= 0.0:
            return 0.0
        s = dot / den
        if s > 1.0:
            s = 1.0
    else:
        s = dot
    if shrink > 0.0:
        s *= n_common / (n_common + shrink)
    return s


@njit(cache=True, parallel=True)
def sparse_topk(
    a_indptr,
    a_indices,
    a_data,
    bt_indptr,
    bt_indices,
    bt_data,
    n_b,
    norm_a,
    norm_b,
    k,
    mode,
    shrink,
    min_support,
    exclude_self,
    n_chunks,
):
    """Exact top-k of ``MODE_*`` scores between rows of ``A`` and rows of ``B`` (see module doc).

    Rows go in ``n_chunks`` strided chunks to :func:`sparse_topk_chunk`, in parallel.
    """
    out_i, out_s, out_n = topk_outputs(a_indptr.shape[0] - 1, k)
    for chunk in prange(n_chunks):
        sparse_topk_chunk(
            a_indptr, a_indices, a_data, bt_indptr, bt_indices, bt_data, n_b, norm_a, norm_b,
            k, mode, shrink, min_support, exclude_self, out_i, out_s, out_n, np.int64(chunk),
            n_chunks,
        )  # fmt: skip
    return out_i, out_s, out_n


@njit(cache=True)
def sparse_topk_chunk(
    a_indptr, a_indices, a_data, bt_indptr, bt_indices, bt_data, n_b, norm_a, norm_b, k, mode,
    shrink, min_support, exclude_self, out_i, out_s, out_n, chunk, n_chunks,
):  # fmt: skip
    """Rows ``chunk, chunk + n_chunks, ...`` of :func:`sparse_topk` into ``out_*``.

    With ``chunk=0, n_chunks=1`` and outputs from :func:`topk_outputs`, the whole kernel on
    the calling thread (no parallel region to launch or compile).
    """
    n_a = a_indptr.shape[0] - 1
    acc = np.zeros(n_b, np.float64)
    cnt = np.zeros(n_b, np.int32)
    touched = np.empty(n_b, np.int32)
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    for i in range(chunk, n_a, n_chunks):
        n_touched = 0
        p_end = a_indptr[i + 1]
        for p in range(a_indptr[i], p_end):
            if p + PREFETCH_DISTANCE < p_end:
                prefetch(bt_indices, bt_indptr[a_indices[p + PREFETCH_DISTANCE]])
                prefetch(bt_data, bt_indptr[a_indices[p + PREFETCH_DISTANCE]])
            if p + 2 * PREFETCH_DISTANCE < p_end:
                prefetch(bt_indptr, a_indices[p + 2 * PREFETCH_DISTANCE])
            c = a_indices[p]
            x = np.float64(a_data[p])
            for q in range(bt_indptr[c], bt_indptr[c + 1]):
                j = bt_indices[q]
                if cnt[j] == 0:
                    touched[n_touched] = j
                    n_touched += 1
                cnt[j] += 1
                acc[j] += x * bt_data[q]
        size = 0
        na = norm_a[i]
        for t in range(n_touched):
            j = touched[t]
            n_common = cnt[j]
            dot = acc[j]
            acc[j] = 0.0
            cnt[j] = 0
            if n_common < min_support or (exclude_self and j == i):
                continue
            s = np.float32(_finish(dot, n_common, na, norm_b[j], mode, shrink))
            if s == 0.0 or not np.isfinite(s):
                continue
            if size == k and not worse(heap_s[0], heap_i[0], s, j):
                continue
            size = heap_push(heap_s, heap_i, size, k, s, j)
        heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
        out_n[i] = size


@njit(cache=True, parallel=True)
def pearson_topk(
    a_indptr,
    a_indices,
    a_data,
    bt_indptr,
    bt_indices,
    bt_data,
    col_w,
    n_b,
    k,
    shrink,
    min_support,
    exclude_self,
    n_chunks,
):
    """Exact top-k co-rated (weighted) Pearson correlation between rows of ``A`` and ``B``.

    For rows i, j with common columns C (both stored) and column weights w_c::

        W  = sum_C w_c
        m_i = sum_C w_c a_ic / W,  m_j = sum_C w_c b_jc / W
        s  = sum_C w_c (a_ic - m_i)(b_jc - m_j)
             / sqrt(sum_C w_c (a_ic - m_i)^2 * sum_C w_c (b_jc - m_j)^2)

    accumulated as six weighted sums per pair. A pair whose co-rated variance on either side is
    zero (below ``PEARSON_VAR_RTOL`` times the side's sum of squares) gives no score. Shrinkage,
    ``min_support``, ``exclude_self`` and the output are as in :func:`sparse_topk`; the caller
    may shift each row by a constant first (Pearson is invariant to it) to reduce cancellation.
    Rows go in ``n_chunks`` strided chunks to :func:`pearson_topk_chunk`, in parallel.
    """
    out_i, out_s, out_n = topk_outputs(a_indptr.shape[0] - 1, k)
    for chunk in prange(n_chunks):
        pearson_topk_chunk(
            a_indptr, a_indices, a_data, bt_indptr, bt_indices, bt_data, col_w, n_b, k, shrink,
            min_support, exclude_self, out_i, out_s, out_n, np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out_i, out_s, out_n


@njit(cache=True)
def pearson_topk_chunk(
    a_indptr, a_indices, a_data, bt_indptr, bt_indices, bt_data, col_w, n_b, k, shrink,
    min_support, exclude_self, out_i, out_s, out_n, chunk, n_chunks,
):  # fmt: skip
    """Rows ``chunk, chunk + n_chunks, ...`` of :func:`pearson_topk` into ``out_*`` (as
    :func:`sparse_topk_chunk`)."""
    n_a = a_indptr.shape[0] - 1
    cnt = np.zeros(n_b, np.int32)
    sw = np.zeros(n_b, np.float64)
    sa = np.zeros(n_b, np.float64)
    sb = np.zeros(n_b, np.float64)
    qa = np.zeros(n_b, np.float64)
    qb = np.zeros(n_b, np.float64)
    pab = np.zeros(n_b, np.float64)
    touched = np.empty(n_b, np.int32)
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    for i in range(chunk, n_a, n_chunks):
        n_touched = 0
        for p in range(a_indptr[i], a_indptr[i + 1]):
            c = a_indices[p]
            w = col_w[c]
            x = np.float64(a_data[p])
            wx = w * x
            wxx = wx * x
            for q in range(bt_indptr[c], bt_indptr[c + 1]):
                j = bt_indices[q]
                y = np.float64(bt_data[q])
                if cnt[j] == 0:
                    touched[n_touched] = j
                    n_touched += 1
                cnt[j] += 1
                sw[j] += w
                sa[j] += wx
                sb[j] += w * y
                qa[j] += wxx
                qb[j] += w * y * y
                pab[j] += wx * y
        size = 0
        for t in range(n_touched):
            j = touched[t]
            n_common = cnt[j]
            wsum = sw[j]
            s_a = sa[j]
            s_b = sb[j]
            q_a = qa[j]
            q_b = qb[j]
            p_ab = pab[j]
            cnt[j] = 0
            sw[j] = 0.0
            sa[j] = 0.0
            sb[j] = 0.0
            qa[j] = 0.0
            qb[j] = 0.0
            pab[j] = 0.0
            if n_common < min_support or (exclude_self and j == i) or wsum <= 0.0:
                continue
            var_a = q_a - s_a * s_a / wsum
            var_b = q_b - s_b * s_b / wsum
            if var_a <= PEARSON_VAR_RTOL * q_a or var_b <= PEARSON_VAR_RTOL * q_b:
                continue
            r = (p_ab - s_a * s_b / wsum) / np.sqrt(var_a * var_b)
            if r > 1.0:
                r = 1.0
            elif r < -1.0:
                r = -1.0
            if shrink > 0.0:
                r *= n_common / (n_common + shrink)
            s = np.float32(r)
            if s == 0.0 or not np.isfinite(s):
                continue
            if size == k and not worse(heap_s[0], heap_i[0], s, j):
                continue
            size = heap_push(heap_s, heap_i, size, k, s, j)
        heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
        out_n[i] = size


#: rows of ``a`` scored together by :func:`dense_topk` (one SIMD register of float64)
DENSE_ROW_BLOCK = 8


@njit(cache=True, inline="always")
def _below_dense(dot, na, nb, mode, thr):
    """Whether :func:`_offer_dense` would turn the pair away before computing its score.

    The same tests, made in the caller's loop: a pair below the threshold (most pairs once
    the heap is full) then costs a multiply and a compare, not a call that passes the heap
    arrays (which costs several times the dot product of a short profile).
    """
    if mode == MODE_COSINE:
        return na == 0.0 or nb == 0.0 or dot < thr * (na * nb)
    return dot < thr


@njit(cache=True, inline="always")
def _offer_dense(dot, na, nb, mode, j, k, heap_s, heap_i, size, thr):
    """Offer pair score ``dot`` (row norms ``na``, ``nb``) of candidate ``j`` to one heap.

    ``thr``: below it a pair cannot enter the full heap (its float32 score would be at most the
    float32 just below the heap's worst score; saves the division for most pairs). Returns the
    heap's new size and threshold.
    """
    if mode == MODE_COSINE:
        if na == 0.0 or nb == 0.0:
            return size, thr
        if dot < thr * (na * nb):
            return size, thr
    elif dot < thr:
        return size, thr
    s = np.float32(_finish(dot, 1, na, nb, mode, 0.0))
    if s == 0.0 or not np.isfinite(s):
        return size, thr
    if size == k and not worse(heap_s[0], heap_i[0], s, j):
        return size, thr
    size = heap_push(heap_s, heap_i, size, k, s, j)
    if size == k:
        thr = np.float64(np.nextafter(heap_s[0], np.float32(-np.inf)))
    return size, thr


@njit(cache=True)
def dense_topk_rows(a, b, norm_a, norm_b, k, mode, exclude_self):
    """:func:`dense_topk` for a few rows of ``a``, single-threaded (low latency).

    The same scores and output: each dot product is summed over c = 0..d-1 in order.
    """
    n_a, d = a.shape
    n_b = b.shape[0]
    out_i = np.full((n_a, k), -1, np.int32)
    out_s = np.zeros((n_a, k), np.float32)
    out_n = np.zeros(n_a, np.int32)
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    for i in range(n_a):
        size = 0
        thr = -np.inf
        na = norm_a[i]
        for j in range(n_b):
            if exclude_self and j == i:
                continue
            dot = 0.0
            for c in range(d):
                dot += a[i, c] * b[j, c]
            if _below_dense(dot, na, norm_b[j], mode, thr):
                continue
            size, thr = _offer_dense(dot, na, norm_b[j], mode, j, k, heap_s, heap_i, size, thr)
        heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
        out_n[i] = size
    return out_i, out_s, out_n


@njit(cache=True, parallel=True)
def dense_topk(a, b, norm_a, norm_b, k, mode, exclude_self, n_chunks):
    """Exact top-k between the rows of dense ``a`` (n_a, d) and ``b`` (n_b, d), float64.

    ``MODE_DOT``: s = a_i . b_j; ``MODE_COSINE``: s = clip(a_i . b_j / (na_i nb_j), -1, 1) with
    no pair when ``na_i nb_j == 0`` (the caller centres rows for Pearson and scales columns by
    sqrt(w_c) for weights). Pairs with a zero or non-finite float32 score, and ``j == i`` when
    ``exclude_self``, are skipped. Output as in :func:`sparse_topk`.

    Blocks of ``DENSE_ROW_BLOCK`` rows of ``a`` are scored against each row of ``b`` at once
    (vectorised across the block); every dot product is still summed over c = 0..d-1 in
    order, so a pair's score does not depend on the blocking or the thread count.

    Blocks go in ``n_chunks`` strided chunks to :func:`dense_topk_chunk`, in parallel.
    """
    out_i, out_s, out_n = topk_outputs(a.shape[0], k)
    for chunk in prange(n_chunks):
        dense_topk_chunk(
            a, b, norm_a, norm_b, k, mode, exclude_self, out_i, out_s, out_n, np.int64(chunk),
            n_chunks,
        )  # fmt: skip
    return out_i, out_s, out_n


@njit(cache=True)
def dense_topk_chunk(
    a, b, norm_a, norm_b, k, mode, exclude_self, out_i, out_s, out_n, chunk, n_chunks
):
    """Row blocks ``chunk, chunk + n_chunks, ...`` of :func:`dense_topk` into ``out_*`` (as
    :func:`sparse_topk_chunk`)."""
    n_a, d = a.shape
    n_b = b.shape[0]
    R = DENSE_ROW_BLOCK
    n_blocks = (n_a + R - 1) // R
    heap_s = np.empty((R, k), np.float32)
    heap_i = np.empty((R, k), np.int32)
    sizes = np.zeros(R, np.int64)
    block = np.zeros((d, R), np.float64)
    acc = np.zeros(R, np.float64)
    thr = np.full(R, -np.inf)  # per row, see _offer_dense
    for blk in range(chunk, n_blocks, n_chunks):
        i0 = blk * R
        rows = min(R, n_a - i0)
        block[:, :] = 0.0
        for r in range(rows):
            sizes[r] = 0
            thr[r] = -np.inf
            for c in range(d):
                block[c, r] = a[i0 + r, c]
        for j in range(n_b):
            acc[:] = 0.0
            for c in range(d):
                bjc = b[j, c]
                for r in range(R):
                    acc[r] += block[c, r] * bjc
            nb = norm_b[j]
            for r in range(rows):
                i = i0 + r
                if (exclude_self and j == i) or _below_dense(acc[r], norm_a[i], nb, mode, thr[r]):
                    continue
                sizes[r], thr[r] = _offer_dense(
                    acc[r], norm_a[i], nb, mode, j, k, heap_s[r], heap_i[r], sizes[r], thr[r]
                )
        for r in range(rows):
            heap_sorted(heap_s[r], heap_i[r], sizes[r], out_s[i0 + r], out_i[i0 + r])
            out_n[i0 + r] = sizes[r]


@njit(cache=True)
def row_weighted_sums(indptr, indices, data, col_w):
    """Per row i: (sum_c w_c, sum_c w_c x_ic, sum_c w_c x_ic^2) over its stored entries, float64."""
    n = indptr.shape[0] - 1
    sw = np.zeros(n, np.float64)
    sx = np.zeros(n, np.float64)
    sxx = np.zeros(n, np.float64)
    for i in range(n):
        a = 0.0
        b = 0.0
        c = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            w = np.float64(col_w[indices[p]])
            x = np.float64(data[p])
            a += w
            b += w * x
            c += w * x * x
        sw[i] = a
        sx[i] = b
        sxx[i] = c
    return sw, sx, sxx


# --------------------------------------------------------------------------- binary fast path


def _popcount64_py(x):
    """Number of set bits of a uint64 (pure Python, used when numba's JIT is disabled)."""
    return int(x).bit_count()


if numba.config.DISABLE_JIT:
    popcount64 = _popcount64_py
else:

    @intrinsic
    def popcount64(typingctx, x):
        """Number of set bits of a uint64 (LLVM ``ctpop``: one POPCNT / VPOPCNTQ)."""
        if x != types.uint64:
            return None

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.uint64(types.uint64), codegen


def _prefetch_py(array, index):
    """No-op stand-in for :func:`prefetch` when numba's JIT is disabled."""


if numba.config.DISABLE_JIT:
    prefetch = _prefetch_py
else:

    @intrinsic
    def prefetch(typingctx, array, index):
        """Hint the CPU to load ``array[index]`` into cache (LLVM ``prefetch``; never faults)."""
        if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(
                context, builder, aryty, ary, [args[1]], wraparound=False
            )
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen


#: columns ahead whose ``B^T`` list start is prefetched (the cursor/indptr twice as far)
PREFETCH_DISTANCE = 4


@njit(cache=True)
def relabelled_transpose(indptr, indices, n_cols, order):
    """Pattern of ``B^T`` with the rows of ``B`` relabelled: row ``order[l]`` becomes ``l``.

    Returns ``(t_indptr int64 (n_cols + 1,), t_indices int32)``; each column lists its
    (new) row labels in increasing order.
    """
    no_values = np.empty(0, np.float32)
    t_indptr, t_indices, _ = relabelled_transpose_values(indptr, indices, no_values, n_cols, order)
    return t_indptr, t_indices


@njit(cache=True)
def leading_counts(t_indptr, t_indices, n_pop):
    """Per column c: how many of its (sorted) row labels are below ``n_pop``."""
    n_cols = t_indptr.shape[0] - 1
    out = np.zeros(n_cols, np.int64)
    for c in range(n_cols):
        p = t_indptr[c]
        end = t_indptr[c + 1]
        while p < end and t_indices[p] < n_pop:
            p += 1
        out[c] = p - t_indptr[c]
    return out


@njit(cache=True, parallel=True)
def bitset_pair_counts(indptr, indices, rows, n_cols, row_block, word_tile, n_chunks):
    """Common-column counts between every pair of the given rows, with bitsets.

    Row ``rows[a]`` becomes a bitset over the columns, stored tile-major as
    ``bits[t, a, :]`` = words ``t * word_tile ...`` of row a (each tile contiguous, so a block
    of ``row_block`` rows of one tile stays in L2 while the other rows stream past).
    ``counts[a, b] = sum_t popcount(bits[t, a] & bits[t, b])`` is computed for a < b and
    mirrored; the diagonal holds each row's own count. Returns int32 ``(len(rows), len(rows))``.
    """
    n = rows.shape[0]
    n_words = (n_cols + 63) >> 6
    n_tiles = (n_words + word_tile - 1) // word_tile
    bits = np.zeros((n_tiles, n, word_tile), np.uint64)
    counts = np.zeros((n, n), np.int32)
    for a in prange(n):
        r = rows[a]
        for p in range(indptr[r], indptr[r + 1]):
            w = indices[p] >> 6
            bits[w // word_tile, a, w % word_tile] |= np.uint64(1) << np.uint64(indices[p] & 63)
        counts[a, a] = indptr[r + 1] - indptr[r]
    n_blocks = (n + row_block - 1) // row_block
    for chunk in prange(n_chunks):
        for blk in range(chunk, n_blocks, n_chunks):
            a0 = blk * row_block
            a1 = min(a0 + row_block, n)
            for t in range(n_tiles):
                tile = bits[t]
                for b in range(a0 + 1, n):
                    for a in range(a0, min(a1, b)):
                        s = np.uint64(0)
                        for w in range(word_tile):
                            s += popcount64(tile[a, w] & tile[b, w])
                        counts[a, b] += np.int32(s)
    for a in prange(n):
        for b in range(a):
            counts[a, b] = counts[b, a]
    return counts


@njit(cache=True, parallel=True)
def count_topk(
    a_indptr,
    a_indices,
    a_label,
    bt_indptr,
    bt_indices,
    bt_skip,
    b_orig,
    n_b,
    norm_a,
    norm_b,
    value_sq,
    k,
    mode,
    shrink,
    min_support,
    exclude_self,
    pop_counts,
    n_pop,
    uniform_b,
    n_chunks,
):
    """Top-k for binary (all values equal) data: int32 counts instead of float products.

    Same scores as :func:`sparse_topk` with ``dot = n_ij * value_sq``. The rows of ``B`` are
    relabelled (``B^T`` holds labels, ``b_orig[label]`` is the original row, used for ties and
    output; ``norm_b`` is by label). ``a_label[i]`` is the label of A's row i in B (self mode),
    else -1. Self mode with a dense core: the ``n_pop`` most popular rows (labels < n_pop) take
    their counts among themselves from ``pop_counts`` (bitsets) and skip the first
    ``bt_skip[c]`` (popular) entries of every column. ``uniform_b`` (the caller's promise:
    every ``norm_b`` equal, ``value_sq > 0``, no popular core, ``B`` without duplicate
    entries) lets a row's scores be read from its counts alone (:func:`_uniform_count_row`).

    Rows go in ``n_chunks`` strided chunks to :func:`count_topk_chunk`, in parallel.
    """
    out_i, out_s, out_n = topk_outputs(a_indptr.shape[0] - 1, k)
    for chunk in prange(n_chunks):
        count_topk_chunk(
            a_indptr, a_indices, a_label, bt_indptr, bt_indices, bt_skip, b_orig, n_b, norm_a,
            norm_b, value_sq, k, mode, shrink, min_support, exclude_self, pop_counts, n_pop,
            uniform_b, out_i, out_s, out_n, np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out_i, out_s, out_n


@njit(cache=True)
def count_topk_chunk(
    a_indptr, a_indices, a_label, bt_indptr, bt_indices, bt_skip, b_orig, n_b, norm_a, norm_b,
    value_sq, k, mode, shrink, min_support, exclude_self, pop_counts, n_pop, uniform_b, out_i,
    out_s, out_n, chunk, n_chunks,
):  # fmt: skip
    """Rows ``chunk, chunk + n_chunks, ...`` of :func:`count_topk` into ``out_*`` (as
    :func:`sparse_topk_chunk`)."""
    n_a = a_indptr.shape[0] - 1
    cnt = np.zeros(n_b, np.int32)
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    max_len = 0
    if uniform_b:
        for i in range(chunk, n_a, n_chunks):
            max_len = max(max_len, a_indptr[i + 1] - a_indptr[i])
    score_of = np.empty(max_len + 1, np.float32)
    hist = np.zeros(4 * (max_len + 1), np.int64)
    # cosine without shrinkage: skip the division for pairs below the full heap's threshold
    prefilter = mode == MODE_COSINE and shrink == 0.0
    for i in range(chunk, n_a, n_chunks):
        li = a_label[i]
        popular = 0 <= li < n_pop
        p_end = a_indptr[i + 1]
        for p in range(a_indptr[i], p_end):
            if p + PREFETCH_DISTANCE < p_end:
                prefetch(bt_indices, bt_indptr[a_indices[p + PREFETCH_DISTANCE]])
            if p + 2 * PREFETCH_DISTANCE < p_end:
                prefetch(bt_indptr, a_indices[p + 2 * PREFETCH_DISTANCE])
            c = a_indices[p]
            start = bt_indptr[c] + bt_skip[c] if popular else bt_indptr[c]
            for q in range(start, bt_indptr[c + 1]):
                cnt[np.uint32(bt_indices[q])] += 1
        if popular:
            for j in range(n_pop):
                cnt[j] = pop_counts[li, j]
        na = norm_a[i]
        if uniform_b and n_b > 0:
            size = _uniform_count_row(
                cnt, n_b, a_indptr[i + 1] - a_indptr[i], li if exclude_self else -1, b_orig, na,
                norm_b[0], value_sq, k, mode, shrink, min_support, score_of, hist, heap_s,
                heap_i,
            )  # fmt: skip
            if size >= 0:
                heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
                out_n[i] = size
                continue
        size = 0
        thr = -np.inf  # as in _offer_dense: below it a cosine cannot enter the full heap
        for j in range(n_b):
            n_common = cnt[j]
            if n_common == 0:
                continue
            cnt[j] = 0
            if n_common < min_support or (exclude_self and j == li):
                continue
            dot = n_common * value_sq
            if prefilter and dot < thr * (na * norm_b[j]):
                continue
            s = np.float32(_finish(dot, n_common, na, norm_b[j], mode, shrink))
            if s == 0.0 or not np.isfinite(s):
                continue
            jo = b_orig[j]
            if size == k and not worse(heap_s[0], heap_i[0], s, jo):
                continue
            size = heap_push(heap_s, heap_i, size, k, s, jo)
            if prefilter and size == k:
                thr = np.float64(np.nextafter(heap_s[0], np.float32(-np.inf)))
        heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
        out_n[i] = size


@njit(cache=True)
def _uniform_count_row(
    cnt, n_b, row_len, self_label, b_orig, na, nb, value_sq, k, mode, shrink, min_support,
    score_of, hist, heap_s, heap_i,
):  # fmt: skip
    """One row of :func:`count_topk_chunk` when every row of ``B`` has the norm ``nb``.

    A pair's score then depends on its count ``c`` alone (``c <= row_len``): ``score_of[c]``
    is computed once per count (NaN for no pair, as the general loop drops it), and the
    k-th best score ``t`` follows from the histogram of the counts. One pass then offers
    only the labels scoring ``>= t`` to the heap, in label order, so the heap ends with
    the same set (best first, ties by index) as the general loop, which offers every
    label. Scores must not decrease with the count (``value_sq > 0`` and every ``MODE_*``
    with shrinkage: checked); returns -1, with ``cnt`` untouched, when they do, else the
    heap size with ``cnt`` reset to zeros. Label ``self_label`` (-1: none) is no pair.
    """
    stride = row_len + 1
    for c in range(4 * stride):
        hist[c] = 0
    for c in range(row_len + 1):
        s = np.float32(_finish(c * value_sq, c, na, nb, mode, shrink))
        ok = c > 0 and c >= min_support and s != 0.0 and np.isfinite(s)
        score_of[c] = s if ok else np.nan
    last = -np.inf
    for c in range(1, row_len + 1):
        if score_of[c] == score_of[c]:  # a pair
            if score_of[c] < last:
                return -1
            last = score_of[c]
    # four interleaved histograms: consecutive equal counts do not wait on one another
    j4 = n_b - n_b % 4
    for j in range(0, j4, 4):
        hist[cnt[j]] += 1
        hist[stride + cnt[j + 1]] += 1
        hist[2 * stride + cnt[j + 2]] += 1
        hist[3 * stride + cnt[j + 3]] += 1
    for j in range(j4, n_b):
        hist[cnt[j]] += 1
    for c in range(row_len + 1):
        hist[c] += hist[stride + c] + hist[2 * stride + c] + hist[3 * stride + c]
    if self_label >= 0:
        hist[cnt[self_label]] -= 1
    t = -np.inf  # the k-th best score (all pairs when fewer than k)
    seen = 0
    for c in range(row_len, 0, -1):
        if score_of[c] == score_of[c]:
            seen += hist[c]
            if seen >= k:
                t = score_of[c]
                break
    size = 0
    for j in range(n_b):
        s = score_of[cnt[j]]
        cnt[j] = 0
        if s >= t and j != self_label:  # NaN: no pair
            jo = b_orig[j]
            if size == k and not worse(heap_s[0], heap_i[0], s, jo):
                continue
            size = heap_push(heap_s, heap_i, size, k, s, jo)
    return size


@njit(cache=True, inline="always")
def _offer(heap_s, heap_i, sizes, root_s, root_i, row, k, score, index):
    """Offer a candidate to row ``row`` of a bank of k-heaps with compact root copies."""
    size = sizes[row]
    if size == k and not worse(root_s[row], root_i[row], score, index):
        return
    size = heap_push(heap_s[row], heap_i[row], size, k, score, index)
    sizes[row] = size
    if size == k:
        root_s[row] = heap_s[row, 0]
        root_i[row] = heap_i[row, 0]


@njit(cache=True, parallel=True)
def count_topk_symmetric(
    indptr,
    indices,
    bt_indptr,
    bt_indices,
    bt_skip,
    b_orig,
    norm,
    value_sq,
    k,
    mode,
    shrink,
    min_support,
    include_self,
    pop_counts,
    n_pop,
    count_proto,
    n_chunks,
):
    """Self top-k for binary data computing every unordered pair once (upper triangle).

    Scores as :func:`count_topk`. Rows are visited by label ``l`` (row ``b_orig[l]`` of the
    CSR ``indptr``/``indices``); for each, only labels ``j > l`` are counted (a per-column
    cursor skips the lower part of every sorted column of ``B^T``), and each score is offered
    both to row l's and to row j's heap. Every chunk owns a bank of heaps for all rows (memory
    ``n_chunks * n_rows * k * 8`` bytes), merged at the end into the exact top-k of each row,
    so the result does not depend on the chunking. Labels below ``n_pop`` take their counts
    among themselves from ``pop_counts``. The per-thread counters have the dtype of
    ``count_proto`` (uint16 halves their cache footprint when the caller knows no scattered
    count can reach 65,536).
    """
    n = indptr.shape[0] - 1
    bank_s = np.empty((n_chunks, n, k), np.float32)
    bank_i = np.empty((n_chunks, n, k), np.int32)
    bank_n = np.zeros((n_chunks, n), np.int32)
    for chunk in prange(n_chunks):
        count_topk_symmetric_chunk(
            indptr, indices, bt_indptr, bt_indices, bt_skip, b_orig, norm, value_sq, k, mode,
            shrink, min_support, include_self, pop_counts, n_pop, count_proto, bank_s[chunk],
            bank_i[chunk], bank_n[chunk], np.int64(chunk), n_chunks,
        )  # fmt: skip
    return _merge_banks(bank_s, bank_i, bank_n, b_orig, k, n_chunks)


@njit(cache=True)
def count_topk_symmetric_chunk(
    indptr, indices, bt_indptr, bt_indices, bt_skip, b_orig, norm, value_sq, k, mode, shrink,
    min_support, include_self, pop_counts, n_pop, count_proto, heap_s, heap_i, sizes, chunk,
    n_chunks,
):  # fmt: skip
    """Labels ``chunk, chunk + n_chunks, ...`` of :func:`count_topk_symmetric` into one bank
    of heaps (``heap_s``/``heap_i`` of shape (n_rows, k), ``sizes``)."""
    n = indptr.shape[0] - 1
    cnt = np.zeros(n, count_proto.dtype)
    cursor = bt_indptr[:-1].copy()
    root_s = np.empty(n, np.float32)
    root_i = np.empty(n, np.int32)
    for li in range(chunk, n, n_chunks):
        r = b_orig[li]
        popular = li < n_pop
        p_end = indptr[r + 1]
        for p in range(indptr[r], p_end):
            if p + PREFETCH_DISTANCE < p_end:
                prefetch(bt_indices, cursor[indices[p + PREFETCH_DISTANCE]])
            if p + 2 * PREFETCH_DISTANCE < p_end:
                prefetch(cursor, indices[p + 2 * PREFETCH_DISTANCE])
            c = indices[p]
            q = cursor[c]
            end = bt_indptr[c + 1]
            while q < end and bt_indices[q] <= li:
                q += 1
            cursor[c] = q
            if popular:
                q = max(q, bt_indptr[c] + bt_skip[c])
            for qq in range(q, end):
                cnt[np.uint32(bt_indices[qq])] += 1
        na = norm[li]
        deg = indptr[r + 1] - indptr[r]
        if include_self and deg >= min_support and deg > 0:
            s = np.float32(_finish(deg * value_sq, deg, na, na, mode, shrink))
            if s != 0.0 and np.isfinite(s):
                _offer(heap_s, heap_i, sizes, root_s, root_i, li, k, s, r)
        for j in range(li + 1, n):
            if popular and j < n_pop:
                n_common = np.int64(pop_counts[li, j])
            else:
                n_common = np.int64(cnt[j])
                if n_common == 0:
                    continue
                cnt[j] = 0
            if n_common == 0:
                continue
            if n_common < min_support:
                continue
            s = np.float32(_finish(n_common * value_sq, n_common, na, norm[j], mode, shrink))
            if s == 0.0 or not np.isfinite(s):
                continue
            _offer(heap_s, heap_i, sizes, root_s, root_i, li, k, s, b_orig[j])
            _offer(heap_s, heap_i, sizes, root_s, root_i, j, k, s, r)


@njit(cache=True)
def relabelled_transpose_values(indptr, indices, data, n_cols, order):
    """:func:`relabelled_transpose` carrying the values: ``(t_indptr, t_indices, t_data)``.

    An empty ``data`` transposes the pattern only (``t_data`` comes back empty).
    """
    n_rows = indptr.shape[0] - 1
    carry = data.shape[0] > 0
    t_indptr = np.zeros(n_cols + 1, np.int64)
    for p in range(indices.shape[0]):
        t_indptr[indices[p] + 1] += 1
    for c in range(n_cols):
        t_indptr[c + 1] += t_indptr[c]
    fill = t_indptr[:-1].copy()
    t_indices = np.empty(indices.shape[0], np.int32)
    t_data = np.empty(indices.shape[0] if carry else 0, data.dtype)
    for label in range(n_rows):
        r = order[label]
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            t_indices[fill[c]] = label
            if carry:
                t_data[fill[c]] = data[p]
            fill[c] += 1
    return t_indptr, t_indices, t_data


@njit(cache=True, parallel=True)
def sparse_topk_symmetric(
    indptr,
    indices,
    data,
    bt_indptr,
    bt_indices,
    bt_data,
    b_orig,
    norm,
    k,
    mode,
    shrink,
    min_support,
    include_self,
    n_chunks,
):
    """Self top-k of ``MODE_*`` scores computing every unordered pair once (float values).

    Scores as :func:`sparse_topk`; traversal, heap banks and merge as
    :func:`count_topk_symmetric` (rows visited by label, ``norm`` by label, ``B^T`` =
    ``bt_*`` with relabelled rows, ``indptr/indices/data`` the rows in original order).
    """
    n = indptr.shape[0] - 1
    bank_s = np.empty((n_chunks, n, k), np.float32)
    bank_i = np.empty((n_chunks, n, k), np.int32)
    bank_n = np.zeros((n_chunks, n), np.int32)
    for chunk in prange(n_chunks):
        sparse_topk_symmetric_chunk(
            indptr, indices, data, bt_indptr, bt_indices, bt_data, b_orig, norm, k, mode, shrink,
            min_support, include_self, bank_s[chunk], bank_i[chunk], bank_n[chunk],
            np.int64(chunk), n_chunks,
        )  # fmt: skip
    return _merge_banks(bank_s, bank_i, bank_n, b_orig, k, n_chunks)


@njit(cache=True)
def sparse_topk_symmetric_chunk(
    indptr, indices, data, bt_indptr, bt_indices, bt_data, b_orig, norm, k, mode, shrink,
    min_support, include_self, heap_s, heap_i, sizes, chunk, n_chunks,
):  # fmt: skip
    """Labels ``chunk, chunk + n_chunks, ...`` of :func:`sparse_topk_symmetric` into one bank
    of heaps (as :func:`count_topk_symmetric_chunk`)."""
    n = indptr.shape[0] - 1
    acc = np.zeros(n, np.float64)
    # common-column counts are needed only for shrinkage and min_support > 1; otherwise a
    # pair is found through its nonzero dot product (a zero dot is never returned)
    need_count = shrink > 0.0 or min_support > 1
    cnt = np.zeros(n if need_count else 1, np.int32)
    cursor = bt_indptr[:-1].copy()
    root_s = np.empty(n, np.float32)
    root_i = np.empty(n, np.int32)
    for li in range(chunk, n, n_chunks):
        r = b_orig[li]
        self_dot = 0.0
        p_end = indptr[r + 1]
        for p in range(indptr[r], p_end):
            if p + PREFETCH_DISTANCE < p_end:
                prefetch(bt_indices, cursor[indices[p + PREFETCH_DISTANCE]])
                prefetch(bt_data, cursor[indices[p + PREFETCH_DISTANCE]])
            if p + 2 * PREFETCH_DISTANCE < p_end:
                prefetch(cursor, indices[p + 2 * PREFETCH_DISTANCE])
            c = indices[p]
            x = np.float64(data[p])
            self_dot += x * x
            q = cursor[c]
            end = bt_indptr[c + 1]
            while q < end and bt_indices[q] <= li:
                q += 1
            cursor[c] = q
            if need_count:
                for qq in range(q, end):
                    j = np.uint32(bt_indices[qq])
                    cnt[j] += 1
                    acc[j] += x * bt_data[qq]
            else:
                for qq in range(q, end):
                    acc[np.uint32(bt_indices[qq])] += x * bt_data[qq]
        na = norm[li]
        deg = indptr[r + 1] - indptr[r]
        if include_self and deg >= min_support and deg > 0:
            s = np.float32(_finish(self_dot, deg, na, na, mode, shrink))
            if s != 0.0 and np.isfinite(s):
                _offer(heap_s, heap_i, sizes, root_s, root_i, li, k, s, r)
        for j in range(li + 1, n):
            dot = acc[j]
            if need_count:
                n_common = cnt[j]
                if n_common == 0:
                    continue
                cnt[j] = 0
            else:
                if dot == 0.0:
                    continue
                n_common = 1
            acc[j] = 0.0
            if n_common < min_support:
                continue
            s = np.float32(_finish(dot, n_common, na, norm[j], mode, shrink))
            if s == 0.0 or not np.isfinite(s):
                continue
            _offer(heap_s, heap_i, sizes, root_s, root_i, li, k, s, b_orig[j])
            _offer(heap_s, heap_i, sizes, root_s, root_i, j, k, s, r)


@njit(cache=True, parallel=True)
def _merge_banks(bank_s, bank_i, bank_n, b_orig, k, n_chunks):
    """Exact top-k per row from the union of every chunk's heap for it (rows by label)."""
    out_i, out_s, out_n = topk_outputs(bank_n.shape[1], k)
    for chunk in prange(n_chunks):
        _merge_banks_chunk(
            bank_s, bank_i, bank_n, b_orig, k, out_i, out_s, out_n, np.int64(chunk), n_chunks
        )
    return out_i, out_s, out_n


@njit(cache=True)
def _merge_banks_chunk(bank_s, bank_i, bank_n, b_orig, k, out_i, out_s, out_n, chunk, n_chunks):
    """Labels ``chunk, chunk + n_chunks, ...`` of :func:`_merge_banks` into ``out_*``."""
    n = bank_n.shape[1]
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    for li in range(chunk, n, n_chunks):
        size = 0
        for b in range(bank_n.shape[0]):
            for t in range(bank_n[b, li]):
                s = bank_s[b, li, t]
                j = bank_i[b, li, t]
                if size == k and not worse(heap_s[0], heap_i[0], s, j):
                    continue
                size = heap_push(heap_s, heap_i, size, k, s, j)
        r = b_orig[li]
        heap_sorted(heap_s, heap_i, size, out_s[r], out_i[r])
        out_n[r] = size


@njit(cache=True)
def row_affine(indptr, indices, data, row_shift, col_scale):
    """float32 ``(x_ic - row_shift[i]) * col_scale[c]`` for every stored entry (float64 math)."""
    out = np.empty(data.shape[0], np.float32)
    for i in range(indptr.shape[0] - 1):
        shift = row_shift[i]
        for p in range(indptr[i], indptr[i + 1]):
            out[p] = (np.float64(data[p]) - shift) * col_scale[indices[p]]
    return out
