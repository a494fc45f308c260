"""Exact top-k similarity between rows of sparse or dense matrices, and top-n serving.

This is the Python face of the numba kernels in ``featcf._kernels``: it validates and
canonicalises the input, applies weights / centring / BM25 / TF-IDF weighting, calls a kernel
and wraps the result. Nothing compiles at import; each kernel compiles on first use and is
cached on disk.

Conventions shared by every function here
-----------------------------------------
* **Rows are compared.** For item-item similarity over a user x item matrix ``X`` pass
  ``X.T.tocsr()`` (items x users).
* **Stored entries.** Duplicates are summed and explicitly stored zeros are dropped, so "row i
  stores column c" means ``X[i, c] != 0``. ``n_common(i, j)`` is the number of columns that
  both rows store (and that have a nonzero weight).
* **Column weights** ``w_c >= 0`` (``weights``, default all ones) define the weighted inner
  product ``<x, y>_w = sum_c w_c x_c y_c`` and norm ``||x||_w = sqrt(<x, x>_w)``; every
  metric is computed in that inner product, which equals the unweighted metric on
  ``X @ diag(sqrt(w))``. A column with weight 0 is the same as a dropped column, and scaling
  all weights by a constant leaves every metric except ``"dot"`` unchanged.
* **Output.** A ``scipy.sparse.csr_matrix`` of float32 scores, at most ``k`` entries per row,
  each row sorted by score descending with ties broken by column index ascending. Only pairs
  with ``n_common >= min_support`` and a nonzero score are returned; a row whose norm is zero
  gets no neighbours (never NaN). Scores are accumulated in float64 and rounded to float32
  before ranking. Results do not depend on the thread count.
* **Threads.** ``n_threads`` sets numba's thread count for the call (``None`` = all numba
  threads) and restores the previous value afterwards. Tiny problems (under ~50,000 stored
  entries or elementary steps) run on one thread, where waking the pool would cost more.

Metrics (sparse)
----------------
With ``x_i`` the stored row i, ``s`` the score before shrinkage:

``"cosine"``
    ``<x_i, x_j>_w / (||x_i||_w ||x_j||_w)``.
``"adjusted_cosine"``
    cosine of rows centred by their weighted mean over their own stored entries,
    ``m_i = sum_{c in S_i} w_c x_ic / sum_{c in S_i} w_c``; only stored entries are centred
    (an entry equal to its row mean stays stored and counts towards ``n_common``).
``"pearson"``
    co-rated Pearson correlation: over the common columns ``C = S_i & S_j``, with
    ``m_i^C = sum_C w_c x_ic / sum_C w_c`` (and the same for j),
    ``sum_C w_c (x_ic - m_i^C)(x_jc - m_j^C) / sqrt(sum_C w_c (x_ic - m_i^C)^2
    * sum_C w_c (x_jc - m_j^C)^2)``; no score when either co-rated variance is zero
    (so pairs with one common column never score). Exact, computed from six weighted sums.
``"jaccard"``
    weighted Jaccard index of the stored patterns, ``sum_{C} w_c / sum_{S_i | S_j} w_c``.
``"dot"``
    ``<x_i, x_j>_w``.
``"bm25"``
    cosine after implicit's ``bm25_weight`` (K1=100, B=0.8): entry
    ``x_ic (K1 + 1) / (K1 L_i + x_ic) * idf_c`` with ``idf_c = log(N) - log1p(df_c)``,
    ``L_i = (1 - B) + B * rowsum_i / mean_rowsum``. (implicit's BM25Recommender ranks the
    weighted rows by dot product; featcf normalises, as for TF-IDF.)
``"tfidf"``
    cosine after implicit's ``tfidf_weight``: entry ``sqrt(x_ic) * idf_c``.

For ``*_between`` the BM25/TF-IDF statistics (N, df, mean row sum) come from ``B``.

Cost and memory
---------------
Exact: every pair of rows sharing a column is scored, and nothing of size rows x rows is
materialised. Self similarity visits each unordered pair once; when every stored value is the
same (binary data), the kernels count common columns in integers and the most popular rows
may be handled with bitsets. Extra memory is about the transpose of ``X`` (indices and values)
plus ``n_threads`` heaps of ``k`` entries per row, and the output ``O(rows x k)``.
Shrinkage ``h`` multiplies a score by ``n_common / (n_common + h)``.
Cosine-type metrics on non-negative data give scores >= 0 and zero-score pairs are not
neighbours; the centred metrics can return negative scores (the top-k by value among the
pairs with a nonzero score).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from featcf._jit import notice_if_cold
from featcf._threads import SMALL_WORK, check_n_threads, n_chunks, numba_threads
from featcf._validation import (
    check_csr,
    check_finite,
    check_nonnegative_float,
    check_nonnegative_int,
    check_option,
    check_positive_int,
)

__all__ = [
    "DENSE_METRICS",
    "NeighbourScorer",
    "PreparedRows",
    "ReferenceStatistics",
    "SPARSE_METRICS",
    "drop_column_topk",
    "expand_repeated_topk",
    "prepare_dense",
    "reference_statistics",
    "topk_similarity",
    "topk_similarity_between",
    "topk_similarity_dense",
    "topk_similarity_dense_between",
    "topk_prepared",
    "topn_dense",
    "topn_scores",
    "topn_scores_user",
]

SPARSE_METRICS = ("cosine", "adjusted_cosine", "pearson", "jaccard", "dot", "bm25", "tfidf")
DENSE_METRICS = ("cosine", "pearson", "dot")
BM25_K1 = 100.0
BM25_B = 0.8
#: a centred row whose squared norm is below this fraction of the raw one counts as constant
_CENTRED_RTOL = 1e-12


# --------------------------------------------------------------------------- validation


def _check_sparse(X: Any, name: str) -> sp.csr_matrix:
    """Canonical float32 CSR (summed duplicates, sorted indices, no explicit zeros)."""
    if sp.issparse(X) and X.format != "csr":
        raise TypeError(
            f"{name} must be a scipy.sparse CSR matrix, got {X.format.upper()}; "
            f"convert with {name}.tocsr()"
        )
    csr = check_csr(X, name, dtype=np.float32)
    if csr.nnz and not np.all(csr.data):
        csr = csr.copy()
        csr.eliminate_zeros()
    return csr


def _check_k(k: Any, name: str = "k") -> int:
    return check_positive_int(k, name)


def _check_weights(weights: Any, n_cols: int) -> NDArray[np.float64] | None:
    if weights is None:
        return None
    w = np.asarray(weights)
    if (
        w.ndim != 1
        or not np.issubdtype(w.dtype, np.number)
        or np.issubdtype(w.dtype, np.complexfloating)
    ):
        raise ValueError(
            f"weights must be a 1-D array of real numbers, got shape {w.shape} ({w.dtype})"
        )
    if w.shape[0] != n_cols:
        raise ValueError(
            f"weights must have one entry per column ({n_cols}), got length {w.shape[0]}"
        )
    w = w.astype(np.float64)
    check_finite(w, "weights")
    if (w < 0).any():
        raise ValueError(
            f"weights must be non-negative; got {int((w < 0).sum())} negative value(s)"
        )
    return w


def _check_topk_args(
    k: Any, metric: Any, metrics: tuple[str, ...], weights: Any, X: Any, n_threads: Any
) -> tuple[int, str, NDArray[np.float64] | None, int | None]:
    """The arguments every top-k face shares: ``k``, ``metric``, column ``weights`` of ``X``."""
    return (
        _check_k(k),
        check_option(metric, "metric", metrics),
        _check_weights(weights, X.shape[1]),
        check_n_threads(n_threads),
    )


def _check_between(A: Any, B: Any, check: Any) -> tuple[Any, Any]:
    """``A`` and ``B`` through ``check`` (sparse or dense), in one column space."""
    A, B = check(A, "A"), check(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"A and B must share their column space: A has {A.shape[1]} columns, B has {B.shape[1]}"
        )
    return A, B


def _check_min_support(min_support: Any) -> int:
    return max(check_nonnegative_int(min_support, "min_support"), 1)


def _drop_zero_weight_columns(X: sp.csr_matrix, w: NDArray[np.float64]) -> sp.csr_matrix:
    if (w > 0).all():
        return X
    keep = w[X.indices] > 0
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    indptr = kept_before[X.indptr].astype(X.indptr.dtype)
    return sp.csr_matrix((X.data[keep], X.indices[keep], indptr), shape=X.shape)


# --------------------------------------------------------------------------- sparse prep


def _idf_and_length(B: sp.csr_matrix) -> tuple[NDArray[np.float64], float]:
    """implicit's idf per column (log N - log1p(df)) and the mean row sum, from ``B``."""
    df = np.bincount(B.indices, minlength=B.shape[1]).astype(np.float64)
    idf = np.log(max(B.shape[0], 1)) - np.log1p(df)
    row_sums = np.asarray(B.sum(axis=1), dtype=np.float64).ravel()
    mean_len = float(row_sums.mean()) if row_sums.size else 0.0
    return idf, mean_len


def _metric_data(
    X: sp.csr_matrix,
    metric: str,
    w: NDArray[np.float64] | None,
    idf: NDArray[np.float64] | None,
    mean_len: float,
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Entry values fed to the kernel (float32) and the per-row norm (jaccard: weighted size).

    Values are ``(x_ic - m_i) * sqrt(w_c)`` (``m_i`` the row mean for adjusted cosine, else 0)
    after the BM25/TF-IDF reweighting; computed in float64 and rounded once. Without weights
    or centring, the input values are used as they are (no copy).
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.similarity import row_affine, row_weighted_sums

    ones = np.ones(X.shape[1], dtype=np.float64)
    col_w = ones if w is None else w
    sqrt_w = ones if w is None else np.sqrt(w)

    if metric == "jaccard":
        data = sqrt_w[X.indices].astype(np.float32)
        sw, _, _ = row_weighted_sums(X.indptr, X.indices, X.data, col_w)
        return data, sw
    shift = np.zeros(X.shape[0], dtype=np.float64)
    values = X.data
    if metric == "adjusted_cosine":
        sw, sx, _ = row_weighted_sums(X.indptr, X.indices, X.data, col_w)
        shift = np.divide(sx, sw, out=np.zeros_like(sx), where=sw > 0)
    elif metric in ("bm25", "tfidf"):
        if (X.data < 0).any():
            raise ValueError(
                f"metric={metric!r} needs non-negative values; X holds negative entries"
            )
        data64 = X.data.astype(np.float64)
        if metric == "bm25":
            row_sums = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
            length = (1.0 - BM25_B) + BM25_B * row_sums / (mean_len if mean_len > 0 else 1.0)
            rep = np.repeat(length, np.diff(X.indptr))
            data64 = data64 * (BM25_K1 + 1.0) / (BM25_K1 * rep + data64) * idf[X.indices]
        else:
            data64 = np.sqrt(data64) * idf[X.indices]
        values = data64
    if w is None and metric in ("cosine", "dot"):
        data = X.data
    else:
        data = row_affine(X.indptr, X.indices, values, shift, sqrt_w)
    _, _, sq = row_weighted_sums(X.indptr, X.indices, data, ones)
    if metric == "adjusted_cosine":
        # a row equal to its mean everywhere is centred to rounding noise: call its norm zero
        _, _, raw_sq = row_weighted_sums(X.indptr, X.indices, X.data, col_w)
        sq[sq <= _CENTRED_RTOL * raw_sq] = 0.0
    return data, np.sqrt(sq)


def _transpose(indptr, indices, data, shape) -> tuple[NDArray, NDArray, NDArray]:
    """CSR parts of the transpose (keeps explicit zeros, sorted indices)."""
    t = sp.csr_matrix((data, indices, indptr), shape=shape).tocsc()
    return t.indptr, t.indices, t.data


def _to_csr(out_i, out_s, out_n, shape) -> sp.csr_matrix:
    k = out_i.shape[1]
    mask = np.arange(k)[None, :] < out_n[:, None]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64 if out_n.sum() > 2**31 - 1 else np.int32)
    np.cumsum(out_n, out=indptr[1:])
    return sp.csr_matrix((out_s[mask], out_i[mask], indptr), shape=shape)


def _empty(shape) -> sp.csr_matrix:
    return sp.csr_matrix(shape, dtype=np.float32)


def _sparse_topk(
    A: sp.csr_matrix,
    B: sp.csr_matrix | None,
    k: int,
    metric: str,
    shrink: float,
    min_support: int,
    weights: NDArray[np.float64] | None,
    exclude_self: bool,
    n_threads: int | None,
    fast: bool = True,
    n_pop: int | None = None,
    symmetric: bool | None = None,
    statistics: ReferenceStatistics | None = None,
) -> sp.csr_matrix:
    """Dispatch: the binary count path when it applies (``fast``), else the generic kernels.

    ``n_pop`` forces the size of the bitset core of the binary path (None: cost model);
    ``symmetric`` picks the self-similarity kernel (see :func:`_use_symmetric`; True and
    False force one, for tests). ``statistics`` (from a whole matrix of which ``A`` and ``B``
    are row slices) replaces what would otherwise be read from ``B``: the BM25/TF-IDF
    statistics and whether the binary count path applies.
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels import similarity as ks

    self_mode = B is None
    if weights is not None:
        A = _drop_zero_weight_columns(A, weights)
        B = A if self_mode else _drop_zero_weight_columns(B, weights)
    elif self_mode:
        B = A
    n_a, n_b = A.shape[0], B.shape[0]
    k_eff = min(k, n_b)
    if n_a == 0 or k_eff == 0:
        return _empty((n_a, n_b))
    notice_if_cold(ks.relabelled_transpose, ks.row_weighted_sums)

    positive = None if weights is None else weights[weights > 0]
    if statistics is not None:
        fast = fast and statistics.count_path
    if (
        fast
        and metric in ("cosine", "dot", "jaccard")
        and (positive is None or positive.size == 0 or np.ptp(positive) == 0)
    ):
        w0 = 1.0 if positive is None or positive.size == 0 else float(positive[0])
        first = np.concatenate([A.data[:1], B.data[:1]])
        v = float(first[0]) if first.size else 1.0
        if metric == "jaccard" or ((A.data == v).all() and (B.data == v).all()):
            value_sq = w0 if metric == "jaccard" else v * v * w0
            return _binary_topk(
                A, None if self_mode else B, k_eff, metric, value_sq, shrink, min_support,
                exclude_self and self_mode, n_threads, n_pop, symmetric,
            )  # fmt: skip

    idf, mean_len = (None, 0.0)
    if statistics is not None:
        idf, mean_len = statistics.idf, statistics.mean_len
    elif metric in ("bm25", "tfidf"):
        idf, mean_len = _idf_and_length(B)

    with numba_threads(n_threads, A.nnz + B.nnz) as threads:
        if metric == "pearson":
            col_w = np.ones(A.shape[1]) if weights is None else weights
            a_data = _shift_rows(A, col_w)
            b_data = a_data if self_mode else _shift_rows(B, col_w)
            bt = _transpose(B.indptr, B.indices, b_data, B.shape)
            args = (
                A.indptr, A.indices, a_data, *bt, col_w, n_b, k_eff,
                shrink, min_support, exclude_self and self_mode,
            )  # fmt: skip
            out = _run_topk(ks.pearson_topk, ks.pearson_topk_chunk, args, n_a, k_eff, threads)
        else:
            a_data, norm_a = _metric_data(A, metric, weights, idf, mean_len)
            if self_mode:
                b_data, norm_b = a_data, norm_a
            else:
                b_data, norm_b = _metric_data(B, metric, weights, idf, mean_len)
            mode = {"dot": ks.MODE_DOT, "jaccard": ks.MODE_JACCARD}.get(metric, ks.MODE_COSINE)
            if self_mode and _use_symmetric(symmetric, A.nnz + B.nnz, threads * n_b * k_eff):
                # upper triangle only, rows relabelled by decreasing length
                order = np.argsort(-np.diff(A.indptr), kind="stable").astype(np.int32)
                bt = ks.relabelled_transpose_values(A.indptr, A.indices, a_data, A.shape[1], order)
                out = ks.sparse_topk_symmetric(
                    A.indptr, A.indices, a_data, *bt, order, norm_a[order], k_eff, mode,
                    shrink, min_support, not exclude_self, min(threads, n_a),
                )  # fmt: skip
            else:
                bt = _transpose(B.indptr, B.indices, b_data, B.shape)
                args = (
                    A.indptr, A.indices, a_data, *bt, n_b, norm_a, norm_b, k_eff, mode,
                    shrink, min_support, exclude_self and self_mode,
                )  # fmt: skip
                out = _run_topk(ks.sparse_topk, ks.sparse_topk_chunk, args, n_a, k_eff, threads)
    return _to_csr(*out, (n_a, n_b))


#: cost model of the bitset core: scatter-adds and 64-bit AND+popcount words per second
_SCATTER_RATE = 5.0e8
_BITSET_WORD_RATE = 7.0e9
_BITSET_MAX_BYTES = 256 * 2**20
#: the symmetric (upper-triangle) kernels keep a k-heap per row and thread: at most this much
_SYMMETRIC_MAX_BYTES = 512 * 2**20


def _use_symmetric(symmetric: bool | None, work: int, heap_slots: int) -> bool:
    """Whether self similarity takes the symmetric (upper-triangle) kernel.

    It halves the pair work but needs ``heap_slots`` (threads x rows x k) heap entries of 8
    bytes. ``symmetric=None`` (the default) also leaves small inputs (fewer than
    :data:`~featcf._threads.SMALL_WORK` stored entries, which run on one thread) to the
    row-by-row kernel: their pairs take milliseconds either way, and that kernel serves the
    ``*_between`` queries too, so a first run compiles one kernel instead of two.
    """
    if heap_slots * 8 > _SYMMETRIC_MAX_BYTES:
        return False
    return work >= SMALL_WORK if symmetric is None else symmetric


def _run_chunked(
    kernel: Any, chunk_kernel: Any, args: tuple, outputs: Any, n_units: int, threads: int
) -> tuple[NDArray, ...]:
    """Run a parallel kernel over ``n_units`` (rows, row blocks, users) in strided chunks.

    On one thread the kernel's chunk body runs alone on the calling thread, filling the
    arrays that ``outputs()`` makes: no parallel region to launch, and none to compile
    (compiling a ``parallel=True`` kernel costs seconds). Both give the same result.
    """
    if threads == 1:
        out = outputs()
        chunk_kernel(*args, *out, 0, 1)
        return out
    return kernel(*args, n_chunks(n_units, threads))


def _run_topk(
    kernel: Any,
    chunk_kernel: Any,
    args: tuple,
    n_rows: int,
    k: int,
    threads: int,
    n_units: int | None = None,
) -> tuple[NDArray, ...]:
    """:func:`_run_chunked` for the top-k kernels (outputs of ``n_rows`` rows of ``k``)."""
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.topk import topk_outputs

    def outputs() -> tuple[NDArray, ...]:
        return topk_outputs(n_rows, k)

    return _run_chunked(
        kernel, chunk_kernel, args, outputs, n_rows if n_units is None else n_units, threads
    )


_BITSET_CANDIDATES = (256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192)


def _choose_n_pop(bt_indptr, bt_indices, n_rows: int, n_cols: int) -> int:
    """Bitset core size maximising (scatter-adds saved) - (bitset work), 0 when not worth it."""
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.similarity import leading_counts

    n_words = (n_cols + 63) // 64
    best, best_gain = 0, 0.0
    for n_pop in _BITSET_CANDIDATES:
        if n_pop > n_rows // 2:
            break
        if n_pop * n_pop * 4 + n_pop * n_words * 8 > _BITSET_MAX_BYTES:
            break
        pop = leading_counts(bt_indptr, bt_indices, n_pop).astype(np.float64)
        saved = 0.5 * float(pop @ pop) / _SCATTER_RATE  # the kernels visit each pair once
        cost = 0.5 * n_pop * n_pop * n_words / _BITSET_WORD_RATE
        if saved - cost > best_gain:
            best, best_gain = n_pop, saved - cost
    return best


def _uniform_norms(
    B: sp.csr_matrix, norm_b: NDArray[np.float64], value_sq: float, n_pop: int
) -> bool:
    """Whether ``count_topk`` may score rows by their counts alone: every row of ``B`` of
    the same norm (one-hot fields, one value each), positive ``value_sq``, no bitset core,
    and ``B`` without duplicate entries (a count is then at most the query row's length)."""
    if n_pop > 0 or not value_sq > 0 or len(norm_b) == 0:
        return False
    if not B.has_canonical_format:
        return False
    return bool(norm_b.min() == norm_b.max())


def _binary_topk(
    A: sp.csr_matrix,
    B: sp.csr_matrix | None,
    k: int,
    metric: str,
    value_sq: float,
    shrink: float,
    min_support: int,
    exclude_self: bool,
    n_threads: int | None,
    n_pop: int | None,
    symmetric: bool | None = None,
) -> sp.csr_matrix:
    """Top-k when every stored value (and weight) is the same: int32 common-column counts.

    For cosine/dot ``value_sq = v^2 w``, for jaccard ``value_sq = w``: then ``dot = n_ij *
    value_sq`` and the norms follow from the row lengths. The rows of ``B`` are relabelled by
    decreasing length (hot accumulator entries together); in self mode the most popular rows
    may form a bitset core (see :func:`featcf._kernels.similarity.bitset_pair_counts`).
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels import similarity as ks

    self_mode = B is None
    B = A if self_mode else B
    n_a, n_b = A.shape[0], B.shape[0]
    len_a = np.diff(A.indptr).astype(np.float64)
    len_b = len_a if self_mode else np.diff(B.indptr).astype(np.float64)
    order = np.argsort(-len_b, kind="stable").astype(np.int32)
    label = np.empty(n_b, np.int32)
    label[order] = np.arange(n_b, dtype=np.int32)
    if metric == "jaccard":
        norm_a, norm_b = len_a * value_sq, len_b[order] * value_sq
        mode = ks.MODE_JACCARD
    else:
        norm_a, norm_b = np.sqrt(len_a * value_sq), np.sqrt(len_b[order] * value_sq)
        mode = ks.MODE_DOT if metric == "dot" else ks.MODE_COSINE
    a_label = label if self_mode else np.full(n_a, -1, np.int32)
    with numba_threads(n_threads, A.nnz + B.nnz) as threads:
        bt_indptr, bt_indices = ks.relabelled_transpose(B.indptr, B.indices, B.shape[1], order)
        if not self_mode:
            n_pop = 0
        elif n_pop is None:
            n_pop = _choose_n_pop(bt_indptr, bt_indices, n_b, B.shape[1])
        n_pop = min(n_pop, n_b)
        if n_pop > 0:
            skip = ks.leading_counts(bt_indptr, bt_indices, n_pop)
            word_tile, row_block = 128, 64
            pop_counts = ks.bitset_pair_counts(
                A.indptr, A.indices, order[:n_pop], A.shape[1], row_block, word_tile,
                n_chunks(max(1, n_pop // row_block), threads),
            )  # fmt: skip
        else:
            skip = np.zeros(B.shape[1], np.int64)
            pop_counts = np.zeros((1, 1), np.int32)
        # largest count the scatter can produce: pairs with a row outside the bitset core
        sorted_len = len_b[order]
        scattered_max = sorted_len[min(max(n_pop, 1), n_b - 1)] if n_b > 1 else 0
        if self_mode and _use_symmetric(symmetric, A.nnz + B.nnz, threads * n_b * k):
            out = ks.count_topk_symmetric(
                A.indptr, A.indices, bt_indptr, bt_indices, skip, order, norm_b, value_sq, k,
                mode, shrink, min_support, not exclude_self, pop_counts, n_pop,
                np.zeros(0, np.uint16 if scattered_max < 2**16 else np.int32), min(threads, n_b),
            )  # fmt: skip
        else:
            args = (
                A.indptr, A.indices, a_label, bt_indptr, bt_indices, skip, order, n_b,
                norm_a, norm_b, value_sq, k, mode, shrink, min_support, exclude_self,
                pop_counts, n_pop, _uniform_norms(B, norm_b, value_sq, n_pop),
            )  # fmt: skip
            out = _run_topk(ks.count_topk, ks.count_topk_chunk, args, n_a, k, threads)
    return _to_csr(*out, (n_a, n_b))


def _shift_rows(X: sp.csr_matrix, col_w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows minus their weighted mean (Pearson is shift invariant; this limits cancellation)."""
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.similarity import row_weighted_sums

    sw, sx, _ = row_weighted_sums(X.indptr, X.indices, X.data, col_w)
    mean = np.divide(sx, sw, out=np.zeros_like(sx), where=sw > 0)
    return X.data.astype(np.float64) - np.repeat(mean, np.diff(X.indptr))


# --------------------------------------------------------------------------- public: sparse


def topk_similarity(
    X: sp.csr_matrix,
    k: int,
    metric: str = "cosine",
    *,
    shrink: float = 0.0,
    min_support: int = 1,
    weights: ArrayLike | None = None,
    exclude_self: bool = True,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Exact top-k most similar rows for every row of a sparse matrix.

    See the module docstring for the precise metric formulas, weights and output convention.

    Parameters
    ----------
    X : csr_matrix of shape (n_rows, n_cols)
        Rows to compare (for item-item similarity over users x items pass ``X.T.tocsr()``).
    k : int
        Maximum number of neighbours per row (``k >= n_rows`` returns all scoring pairs).
    metric : {"cosine", "adjusted_cosine", "pearson", "jaccard", "dot", "bm25", "tfidf"}
    shrink : float, default 0
        Shrinkage ``h``: scores are multiplied by ``n_common / (n_common + h)``.
    min_support : int, default 1
        Pairs with fewer than ``min_support`` common stored columns are dropped.
    weights : array-like of shape (n_cols,), optional
        Non-negative column weights (the weighted inner product ``sum_c w_c x_ic x_jc``).
    exclude_self : bool, default True
        Leave row i out of its own neighbour list.
    n_threads : int, optional
        numba threads for this call (default: all); the previous setting is restored.

    Returns
    -------
    csr_matrix of shape (n_rows, n_rows), float32
        Row i holds its neighbours sorted by score descending, ties by index ascending.

    Raises
    ------
    TypeError
        If ``X`` is not a CSR matrix or an integer argument has the wrong type.
    ValueError
        For ``k < 1``, an unknown ``metric``, NaN/inf in ``X``, or bad ``weights``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=float))
    >>> S = topk_similarity(X, k=1)
    >>> S.indices.tolist(), np.round(S.data, 3).tolist()
    ([1, 0, 0], [1.0, 1.0, 0.5])
    """
    X = _check_sparse(X, "X")
    k, metric, w, n_threads = _check_topk_args(k, metric, SPARSE_METRICS, weights, X, n_threads)
    shrink = check_nonnegative_float(shrink, "shrink")
    min_support = _check_min_support(min_support)
    return _sparse_topk(X, None, k, metric, shrink, min_support, w, bool(exclude_self), n_threads)


@dataclass(frozen=True)
class ReferenceStatistics:
    """What a top-k search reads from a whole matrix besides the two rows of a pair.

    Every score depends on the two rows compared only, except for the BM25/TF-IDF column
    statistics (``idf``, ``mean_len``), and which kernel runs depends on whether every stored
    value is the same (``count_path``: integer counts, see the module docstring). Computed once
    on a whole matrix by :func:`reference_statistics` and passed to
    :func:`topk_similarity_between` for row slices of it, they make a blocked search give the
    scores, lists and ties of one call on the whole matrix.
    """

    metric: str
    n_cols: int
    idf: NDArray[np.float64] | None
    mean_len: float
    count_path: bool


def reference_statistics(
    X: sp.csr_matrix, metric: str = "cosine", *, weights: ArrayLike | None = None
) -> ReferenceStatistics:
    """The whole-matrix statistics of a top-k search on ``X``, for searches on its row slices.

    ``topk_similarity_between(X[a:b], X[c:d], k, metric, weights=weights,
    statistics=reference_statistics(X, metric, weights=weights))`` scores every pair exactly as
    ``topk_similarity(X, ...)`` does (same float32 scores, so merged lists and ties are the
    same); :mod:`featcf.distributed` splits a search that way.

    Parameters
    ----------
    X : csr_matrix of shape (n_rows, n_cols)
        The whole matrix (the reference side ``B`` of the blocked searches).
    metric : str, default "cosine"
        One of :data:`SPARSE_METRICS`.
    weights : array-like of shape (n_cols,), optional
        The column weights the searches will use.

    Returns
    -------
    ReferenceStatistics

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.random(30, 8, density=0.3, format="csr", random_state=0)
    >>> stats = reference_statistics(X, "bm25")
    >>> whole = topk_similarity(X, k=3, metric="bm25", exclude_self=False)
    >>> part = topk_similarity_between(X[:10], X, k=3, metric="bm25", statistics=stats)
    >>> bool((whole[:10] != part).nnz == 0)
    True
    """
    X = _check_sparse(X, "X")
    metric = check_option(metric, "metric", SPARSE_METRICS)
    w = _check_weights(weights, X.shape[1])
    if w is not None:
        X = _drop_zero_weight_columns(X, w)
    idf, mean_len = _idf_and_length(X) if metric in ("bm25", "tfidf") else (None, 0.0)
    same_values = X.nnz == 0 or bool((X.data == X.data[0]).all())
    return ReferenceStatistics(
        metric, X.shape[1], idf, mean_len, metric == "jaccard" or same_values
    )


def topk_similarity_between(
    A: sp.csr_matrix,
    B: sp.csr_matrix,
    k: int,
    metric: str = "cosine",
    *,
    shrink: float = 0.0,
    min_support: int = 1,
    weights: ArrayLike | None = None,
    n_threads: int | None = None,
    statistics: ReferenceStatistics | None = None,
) -> sp.csr_matrix:
    """Exact top-k rows of ``B`` for every row of ``A`` (new users / products vs fitted ones).

    Same metrics, weights and output convention as :func:`topk_similarity` (nothing is excluded
    as "self"); BM25/TF-IDF statistics come from ``B``.

    Parameters
    ----------
    A : csr_matrix of shape (n_a, n_cols)
        Query rows.
    B : csr_matrix of shape (n_b, n_cols)
        Reference rows, in the same column space as ``A``.
    k, metric, shrink, min_support, weights, n_threads
        As in :func:`topk_similarity`.
    statistics : ReferenceStatistics, optional
        From :func:`reference_statistics` on a whole matrix of which ``A`` and ``B`` are row
        slices: the BM25/TF-IDF statistics and the kernel choice come from it instead of
        ``B``, so the scores equal those of one call on the whole matrix.

    Returns
    -------
    csr_matrix of shape (n_a, n_b), float32

    Raises
    ------
    ValueError
        If ``A`` and ``B`` have different numbers of columns, or ``statistics`` was computed
        for another metric or column count (and as :func:`topk_similarity`).
    """
    A, B = _check_between(A, B, _check_sparse)
    k, metric, w, n_threads = _check_topk_args(k, metric, SPARSE_METRICS, weights, A, n_threads)
    shrink = check_nonnegative_float(shrink, "shrink")
    min_support = _check_min_support(min_support)
    if statistics is not None and (statistics.metric != metric or statistics.n_cols != A.shape[1]):
        raise ValueError(
            f"statistics were computed for metric={statistics.metric!r} on "
            f"{statistics.n_cols} columns, not metric={metric!r} on {A.shape[1]}; compute them "
            f"with reference_statistics(X, metric={metric!r}) on the whole matrix"
        )
    return _sparse_topk(
        A, B, k, metric, shrink, min_support, w, False, n_threads, statistics=statistics
    )


# --------------------------------------------------------------------------- public: dense


def _check_dense(P: Any, name: str) -> NDArray[np.float64]:
    if sp.issparse(P):
        raise TypeError(
            f"{name} must be a dense 2-D array, got a sparse matrix; use {name}.toarray()"
        )
    arr = np.asarray(P)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {arr.ndim} dimension(s)")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    check_finite(arr, name)
    return arr


@dataclass(frozen=True)
class PreparedRows:
    """Dense rows made ready for :func:`topk_prepared`: weighted (and, for ``"pearson"``,
    centred) once, so a reference side can be reused by many queries.

    Build with :func:`prepare_dense`; ``rows`` is C-contiguous float64, ``norms`` the rows'
    norms (0 for a zero or constant row).
    """

    rows: NDArray[np.float64]
    norms: NDArray[np.float64]
    metric: str


def prepare_dense(
    P: NDArray[np.float64], metric: str, weights: NDArray[np.float64] | None = None
) -> PreparedRows:
    """Weight (and centre, for ``"pearson"``) the rows of a dense float64 matrix once.

    The building block of :func:`topk_similarity_dense_between` for callers that query one
    reference many times (a model folding in new customers). ``P`` is taken as it is
    (C-contiguous float64, finite); ``weights`` are non-negative column weights.

    Returns
    -------
    PreparedRows
    """
    metric = check_option(metric, "metric", DENSE_METRICS)
    w = weights
    cw = np.ones(P.shape[1]) if w is None else w
    raw_sq = np.einsum("ij,ij,j->i", P, P, cw)
    if metric == "pearson":
        total = cw.sum()
        mean = P @ cw / total if total > 0 else np.zeros(P.shape[0])
        P = P - mean[:, None]
    if w is not None:
        P = P * np.sqrt(w)[None, :]
    sq = np.einsum("ij,ij->i", P, P)
    if metric == "pearson":
        # a constant row is centred to rounding noise: call its norm zero
        sq[sq <= _CENTRED_RTOL * raw_sq] = 0.0
    return PreparedRows(np.ascontiguousarray(P), np.sqrt(sq), metric)


def _dense_topk(A, B, k, metric, weights, exclude_self, n_threads) -> sp.csr_matrix:
    self_mode = B is None
    n_a = A.shape[0]
    n_b = n_a if self_mode else B.shape[0]
    if n_a == 0 or min(k, n_b) == 0:
        return _empty((n_a, n_b))
    a = prepare_dense(A, metric, weights)
    b = a if self_mode else prepare_dense(B, metric, weights)
    return topk_prepared(a, b, k, exclude_self=exclude_self and self_mode, n_threads=n_threads)


def topk_prepared(
    query: PreparedRows,
    ref: PreparedRows,
    k: int,
    *,
    exclude_self: bool = False,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Exact top-k rows of ``ref`` for every row of ``query``, both from :func:`prepare_dense`.

    Same scores and output as :func:`topk_similarity_dense_between` on the raw rows; a few
    query rows (a fold-in) run without blocks and without waking the thread pool. Many
    cosine or Pearson queries against many short reference rows (per-field profiles) take
    the cone search: the reference rows are grouped by direction and a group whose best
    possible score cannot enter a query's top-k is skipped (same output, bit for bit).

    Returns
    -------
    csr_matrix of shape (n_query, n_ref), float32
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels import similarity as ks

    if query.metric != ref.metric:
        raise ValueError(
            f"query and ref were prepared for different metrics: {query.metric!r} and "
            f"{ref.metric!r}"
        )
    a, norm_a, b, norm_b = query.rows, query.norms, ref.rows, ref.norms
    n_a, n_b = a.shape[0], b.shape[0]
    k_eff = min(k, n_b)
    if n_a == 0 or k_eff == 0:
        return _empty((n_a, n_b))
    notice_if_cold(ks.dense_topk_rows, ks.dense_topk, ks.dense_topk_chunk)
    mode = ks.MODE_DOT if query.metric == "dot" else ks.MODE_COSINE
    if n_a < ks.DENSE_ROW_BLOCK:  # a few query rows (fold-in): no blocks, no thread pool
        out = ks.dense_topk_rows(a, b, norm_a, norm_b, k_eff, mode, exclude_self)
        return _to_csr(*out, (n_a, n_b))
    if mode == ks.MODE_COSINE and _use_cones(n_a, n_b, a.shape[1]):
        return _cone_topk(query, ref, k_eff, exclude_self, n_threads)
    with numba_threads(n_threads, float(n_a) * n_b * max(a.shape[1], 1)) as threads:
        n_blocks = -(-n_a // ks.DENSE_ROW_BLOCK)
        args = (a, b, norm_a, norm_b, k_eff, mode, exclude_self)
        out = _run_topk(ks.dense_topk, ks.dense_topk_chunk, args, n_a, k_eff, threads, n_blocks)
    return _to_csr(*out, (n_a, n_b))


#: the cone search (``featcf._kernels.cones``) replaces the full scan of
#: :func:`topk_prepared` from this many reference rows of at most this many columns and this
#: many query rows (below, grouping the references costs more than it saves)
_CONE_MIN_REFS = 1024
_CONE_MAX_DIM = 16
_CONE_MIN_QUERIES = 256
#: added to a group's score bound before it is compared with a query's worst kept score, so
#: that rounding never skips a pair that would enter the top-k (bounds and scores agree to
#: about 1e-7)
_CONE_MARGIN = 1e-5


def _use_cones(n_a: int, n_b: int, d: int) -> bool:
    return n_b >= _CONE_MIN_REFS and n_a >= _CONE_MIN_QUERIES and 0 < d <= _CONE_MAX_DIM


@dataclass(frozen=True)
class _Cones:
    """Reference rows grouped by direction for ``featcf._kernels.cones.cone_topk``."""

    #: the rows with a nonzero norm, ordered by group and within it by their angle from
    #: the group's centre (``beta``, radians); their norms and original positions
    rows: NDArray[np.float64]
    norms: NDArray[np.float64]
    orig: NDArray[np.int32]
    beta: NDArray[np.float64]
    #: group ``c`` holds rows ``ptr[c]:ptr[c + 1]``; unit centres, cosine and sine of radii
    ptr: NDArray[np.int64]
    centres: NDArray[np.float64]
    cos_rad: NDArray[np.float64]
    sin_rad: NDArray[np.float64]


def _cone_index(ref: PreparedRows, n_groups: int | None = None) -> _Cones:
    """Group the nonzero rows of ``ref`` by direction (k-means on their unit vectors, about
    ``sqrt(n)`` groups): each group's unit centre and the largest angle of a member from it.

    The grouping only decides which pairs a query may skip, never a score: any grouping
    gives the same top-k.
    """
    from scipy.cluster.vq import kmeans2  # heavy: kept out of ``import featcf``

    keep = np.flatnonzero(ref.norms > 0)
    unit = ref.rows[keep] / ref.norms[keep, None]
    n, d = unit.shape
    n_groups = max(1, min(n, n_groups or int(np.sqrt(n))))
    start = unit[np.linspace(0, n - 1, n_groups).astype(np.int64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty group only goes unused
        _, labels = kmeans2(unit, start, iter=2, minit="matrix")
    counts = np.bincount(labels, minlength=n_groups)
    used = np.flatnonzero(counts > 0)
    relabel = np.cumsum(counts > 0) - 1
    labels = relabel[labels]
    sums = np.stack([np.bincount(labels, unit[:, t], len(used)) for t in range(d)], axis=1)
    lengths = np.linalg.norm(sums, axis=1)
    centres = sums / np.where(lengths > 0, lengths, 1.0)[:, None]
    first = np.cumsum(counts[used]) - counts[used]
    flat = np.flatnonzero(lengths <= 1e-12)  # members cancel out: centre on one of them
    centres[flat] = unit[[np.flatnonzero(labels == c)[0] for c in flat]]
    member_cos = np.clip(np.einsum("ij,ij->i", unit, centres[labels]), -1.0, 1.0)
    beta = np.arccos(member_cos)
    order = np.lexsort((beta, labels))
    cos_rad = np.minimum.reduceat(member_cos[order], first)
    return _Cones(
        rows=np.ascontiguousarray(ref.rows[keep[order]]),
        norms=np.ascontiguousarray(ref.norms[keep[order]]),
        orig=keep[order].astype(np.int32),
        beta=np.ascontiguousarray(beta[order]),
        ptr=np.concatenate([first, [n]]).astype(np.int64),
        centres=np.ascontiguousarray(centres),
        cos_rad=cos_rad,
        sin_rad=np.sqrt(np.maximum(0.0, 1.0 - cos_rad * cos_rad)),
    )


def _cone_topk(
    query: PreparedRows,
    ref: PreparedRows,
    k: int,
    exclude_self: bool,
    n_threads: int | None,
    n_groups: int | None = None,
) -> sp.csr_matrix:
    """:func:`topk_prepared` (cosine or Pearson) by the cone search, bit for bit."""
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels import cones

    n_a, n_b = query.rows.shape[0], ref.rows.shape[0]
    if not (ref.norms > 0).any():
        return _empty((n_a, n_b))
    c = _cone_index(ref, n_groups)
    notice_if_cold(cones.cone_topk, cones.cone_topk_chunk)
    work = float(n_a) * max(len(c.norms), 1) * max(query.rows.shape[1], 1)
    with numba_threads(n_threads, work) as threads:
        args = (
            query.rows, query.norms, c.rows, c.norms, c.orig, c.beta, c.ptr, c.centres,
            c.cos_rad, c.sin_rad, k, exclude_self, _CONE_MARGIN,
        )  # fmt: skip
        out = _run_topk(cones.cone_topk, cones.cone_topk_chunk, args, n_a, k, threads)
    return _to_csr(*out, (n_a, n_b))


def expand_repeated_topk(
    distinct_topk: sp.csr_matrix, inverse: NDArray[np.integer], k: int
) -> sp.csr_matrix:
    """Top-k against reference rows that repeat, from the top-k against their distinct rows.

    ``distinct_topk`` holds, per query row, the deterministic top-k (best first, ties by
    position, as every function here returns) against the *distinct* reference rows,
    numbered in order of first occurrence; ``inverse[r]`` is the distinct row of reference
    row ``r``. The result equals the top-k against the full reference (same lists, order
    and ties): equal rows score equally, and ties go to the lower position.

    Returns
    -------
    csr_matrix of shape (n_query, len(inverse)), float32
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.topk import expand_repeated_topk as expand

    sims = sp.csr_matrix(distinct_topk)
    inverse = np.asarray(inverse, dtype=np.int64)
    n_distinct = sims.shape[1]
    members = np.argsort(inverse, kind="stable").astype(np.int64)
    member_ptr = np.zeros(n_distinct + 1, dtype=np.int64)
    np.cumsum(np.bincount(inverse, minlength=n_distinct), out=member_ptr[1:])
    notice_if_cold(expand)
    out = expand(sims.indptr.astype(np.int64), sims.indices, sims.data, member_ptr, members, k)
    return _to_csr(*out, (sims.shape[0], len(inverse)))


def drop_column_topk(sims: sp.spmatrix, drop_col: ArrayLike, k: int) -> sp.csr_matrix:
    """Top-k lists without one given column per row (e.g. the row's own), cut to ``k``.

    Row ``r`` of ``sims`` loses its entry in column ``drop_col[r]`` (-1: none) and keeps its
    first ``k`` remaining entries in their stored order, so a best-first list (as every
    function here returns) stays best first: a search for ``k + 1`` neighbours among rows
    that include the query itself becomes its top-k among the others.

    Parameters
    ----------
    sims : sparse matrix of shape (n_rows, n_cols)
    drop_col : array-like of int, shape (n_rows,)
    k : int

    Returns
    -------
    csr_matrix of shape (n_rows, n_cols), float32
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.topk import drop_column_truncate

    sims = sp.csr_matrix(sims)
    drop = np.asarray(drop_col, dtype=np.int64)
    if drop.shape != (sims.shape[0],):
        raise ValueError(
            f"drop_col must have one entry per row of sims ({sims.shape[0]}), got shape "
            f"{drop.shape}"
        )
    k = check_nonnegative_int(k, "k")
    notice_if_cold(drop_column_truncate)
    indptr, indices, data = drop_column_truncate(
        sims.indptr.astype(np.int64, copy=False), sims.indices, sims.data, drop, k
    )
    return sp.csr_matrix((data, indices, indptr), shape=sims.shape)


def topk_similarity_dense(
    P: ArrayLike,
    k: int,
    metric: str = "cosine",
    *,
    weights: ArrayLike | None = None,
    exclude_self: bool = True,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Exact top-k most similar rows of a small dense matrix (e.g. per-field user profiles).

    ``"cosine"``: ``<p_i, p_j>_w / (||p_i||_w ||p_j||_w)``; ``"dot"``: ``<p_i, p_j>_w``;
    ``"pearson"``: cosine of rows centred by their weighted mean over all d values,
    ``m_i = sum_c w_c p_ic / sum_c w_c``. Zero-score pairs and zero-norm rows give no
    neighbours. Output convention as :func:`topk_similarity`. Cost O(n^2 d).

    Parameters
    ----------
    P : array-like of shape (n_rows, d)
    k : int
    metric : {"cosine", "pearson", "dot"}
    weights : array-like of shape (d,), optional
        Non-negative column weights.
    exclude_self : bool, default True
    n_threads : int, optional

    Returns
    -------
    csr_matrix of shape (n_rows, n_rows), float32
    """
    P = _check_dense(P, "P")
    k, metric, w, n_threads = _check_topk_args(k, metric, DENSE_METRICS, weights, P, n_threads)
    return _dense_topk(P, None, k, metric, w, bool(exclude_self), n_threads)


def topk_similarity_dense_between(
    A: ArrayLike,
    B: ArrayLike,
    k: int,
    metric: str = "cosine",
    *,
    weights: ArrayLike | None = None,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Exact top-k rows of dense ``B`` for every row of dense ``A``.

    Metrics and output as :func:`topk_similarity_dense`.

    Returns
    -------
    csr_matrix of shape (n_a, n_b), float32
    """
    A, B = _check_between(A, B, _check_dense)
    k, metric, w, n_threads = _check_topk_args(k, metric, DENSE_METRICS, weights, A, n_threads)
    return _dense_topk(A, B, k, metric, w, False, n_threads)


# --------------------------------------------------------------------------- public: serving


def _item_mask(items: Any, n_items: int, name: str) -> NDArray[np.int64]:
    idx = np.asarray(items)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise ValueError(
            f"{name} must be a 1-D array of item indices, got shape {idx.shape} ({idx.dtype})"
        )
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_items):
        raise ValueError(
            f"{name} must hold item indices in [0, {n_items}), got {idx.min()}..{idx.max()}"
        )
    return idx


def _allowed(items: Any, n_items: int) -> NDArray[np.uint8]:
    if items is None:
        return np.ones(n_items, dtype=np.uint8)
    allowed = np.zeros(n_items, dtype=np.uint8)
    allowed[_item_mask(items, n_items, "items")] = 1
    return allowed


def _check_neighbours(neighbours: Any) -> sp.csr_matrix:
    N = _check_sparse(neighbours, "neighbours")
    if N.shape[0] != N.shape[1]:
        raise ValueError(f"neighbours must be square (items x items), got shape {N.shape}")
    return N


_INT32 = np.dtype(np.int32)
_INT64 = np.dtype(np.int64)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def _index_array(values: Any, name: str) -> NDArray[np.integer]:
    """``values`` as a 1-D int32 or int64 array, without a copy when it already is one.

    The range is not checked here (the serving kernel checks it in the same pass).
    """
    idx = values if type(values) is np.ndarray else np.asarray(values)
    if idx.ndim == 1 and (idx.dtype is _INT64 or idx.dtype is _INT32):
        return idx
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise ValueError(
            f"{name} must be a 1-D array of item indices, got shape {idx.shape} ({idx.dtype})"
        )
    return idx.astype(np.int64)


class NeighbourScorer:
    """Prepared one-user top-n serving from item neighbour lists (the low-latency path).

    Holds its own copy of the canonical neighbour lists and reusable per-item scratch, so a
    request costs only the scoring itself: ``score(i) = sum_j r_j * sim(j, i)`` over the
    user's history ``(j, r_j)``, as in :func:`topn_scores` (float64 accumulation, candidates
    are the items reached through at least one stored neighbour of a history item). Results
    equal :func:`topn_scores_user` for the same arguments.

    Parameters
    ----------
    neighbours : csr_matrix of shape (n_items, n_items)
        Row j lists the neighbours i of item j with ``sim(j, i)`` (e.g. from
        :func:`topk_similarity`). Validated and copied once, here (O(nnz)); changing the
        matrix afterwards does not change the scorer.

    Attributes
    ----------
    n_items : int
        Number of items (rows and columns of ``neighbours``).
    nnz : int
        Number of stored neighbour entries.

    Raises
    ------
    TypeError
        If ``neighbours`` is not a CSR matrix.
    ValueError
        If ``neighbours`` is not square or holds NaN or infinite values.

    See Also
    --------
    topn_scores : top-n for a batch of users (parallel).
    topn_scores_user : the same result as a one-off function call.

    Notes
    -----
    Each call borrows a scratch set (two arrays of ``n_items`` values, zero between calls)
    from the scorer and returns it afterwards; concurrent calls from several threads each get
    their own set, so one instance may be shared between threads. The kernel releases the
    GIL while it runs.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> neighbours = sp.csr_matrix(
    ...     np.array([[0, 0.5, 0.5, 0.25], [1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    ... )
    >>> scorer = NeighbourScorer(neighbours)
    >>> idx, scores = scorer.top_n([0], n=3)
    >>> idx.tolist(), scores.tolist()
    ([1, 2, 3], [0.5, 0.5, 0.25])
    >>> scorer.top_n([0, 1], n=3, weights=[1.0, 2.0], exclude_seen=False)[0].tolist()
    [0, 1, 2]
    """

    def __init__(self, neighbours: sp.csr_matrix) -> None:
        N = _check_neighbours(neighbours)
        # own copies: the kernel trusts these arrays (no bounds checks on the CSR)
        self._set_arrays(N.indptr.copy(), N.indices.copy(), N.data.copy())

    @classmethod
    def _from_canonical(cls, indptr: NDArray, indices: NDArray, data: NDArray) -> NeighbourScorer:
        """A scorer over already canonical CSR arrays, shared and not checked (internal)."""
        scorer = cls.__new__(cls)
        scorer._set_arrays(indptr, indices, data)
        return scorer

    def _set_arrays(self, indptr: NDArray, indices: NDArray, data: NDArray) -> None:
        # numba: compiled on first use, kept out of import featcf
        from featcf._kernels.serving import topn_scores_one

        notice_if_cold(topn_scores_one)
        self._kernel = topn_scores_one  # looked up once: an import per call costs ~1 us
        self._indptr = indptr
        self._indices = indices
        self._data = data
        self.n_items = int(indptr.shape[0] - 1)
        self.nnz = int(indices.shape[0])
        self._scratch: list[tuple[NDArray, NDArray, NDArray]] = []
        self._all_items = np.empty(0, np.uint8)  # empty ``allowed``: every item allowed
        self._no_items = np.empty(0, np.int64)
        self._unit_weights = np.empty(0, np.float64)  # empty weights: all ones

    def __repr__(self) -> str:
        return f"NeighbourScorer(n_items={self.n_items}, nnz={self.nnz})"

    def __getstate__(self) -> dict[str, Any]:
        # only the neighbour lists: kernel and scratch are rebuilt on unpickling
        return {"indptr": self._indptr, "indices": self._indices, "data": self._data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set_arrays(state["indptr"], state["indices"], state["data"])

    def top_n(
        self,
        item_idx: ArrayLike,
        n: int = 10,
        *,
        weights: ArrayLike | None = None,
        exclude_seen: bool = True,
        items: ArrayLike | None = None,
        exclude: ArrayLike | None = None,
    ) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Top-n items for one user's history.

        Parameters
        ----------
        item_idx : array-like of int, shape (n_history,)
            The user's history items (distinct item indices). int32 and int64 arrays are used
            without a copy.
        n : int, default 10
            Number of items returned.
        weights : array-like of float, shape (n_history,), optional
            ``r_j`` for each history item (default 1). float32 and float64 arrays are used
            without a copy.
        exclude_seen : bool, default True
            Never return an item of the history.
        items : array-like of int, optional
            Candidate subset (item indices); default all items. Costs O(n_items) per call.
        exclude : array-like of int, optional
            Items never returned.

        Returns
        -------
        idx : ndarray of int32, shape (n,)
            Item indices best-first, ties by index ascending, padded with -1.
        scores : ndarray of float32, shape (n,)
            Scores, padded with ``-inf``.

        Raises
        ------
        TypeError
            If ``n`` is not an integer.
        ValueError
            If ``n < 1``, an index of ``item_idx``, ``items`` or ``exclude`` is outside
            ``[0, n_items)`` or not an integer, or ``weights`` has the wrong length or holds
            NaN or infinite values.
        """
        hist = _index_array(item_idx, "item_idx")
        if weights is None:
            w = self._unit_weights
        else:
            w = weights if type(weights) is np.ndarray else np.asarray(weights)
            if not (w.dtype is _FLOAT64 or w.dtype is _FLOAT32):
                w = np.asarray(w, dtype=np.float64)
            if w.shape != hist.shape:
                raise ValueError(
                    "weights must have one value per history item "
                    f"({hist.size}), got shape {w.shape}"
                )
        if type(n) is not int or n < 1:
            n = _check_k(n, "n")
        allowed = self._all_items if items is None else _allowed(items, self.n_items)
        ex = self._no_items if exclude is None else _index_array(exclude, "exclude")
        pool = self._scratch
        scratch = pool.pop() if pool else self._new_scratch()
        idx, scores, status = self._kernel(
            self._indptr, self._indices, self._data, hist, w, ex, bool(exclude_seen), allowed,
            n, *scratch,
        )  # fmt: skip
        pool.append(scratch)  # the kernel leaves it zeroed, also when it reports a status
        if status:
            self._raise_for(status, hist, w, ex)
        return idx, scores

    def _new_scratch(self) -> tuple[NDArray, NDArray, NDArray]:
        return (
            np.zeros(self.n_items, np.float64),
            np.zeros(self.n_items, np.uint8),
            np.empty(self.n_items + 1, np.int32),
        )

    def _raise_for(self, status: int, hist: NDArray, w: NDArray, ex: NDArray) -> None:
        # numba: compiled on first use, kept out of import featcf
        from featcf._kernels import serving

        if status == serving.BAD_ITEM_IDX:
            _item_mask(hist, self.n_items, "item_idx")
        elif status == serving.BAD_WEIGHTS:
            check_finite(w, "weights")
        elif status == serving.BAD_EXCLUDE:
            _item_mask(ex, self.n_items, "exclude")
        raise RuntimeError(f"unexpected serving kernel status {status}")  # pragma: no cover


def topn_scores(
    neighbours: sp.csr_matrix,
    histories: sp.csr_matrix,
    n: int,
    *,
    exclude_seen: bool = True,
    items: ArrayLike | None = None,
    exclude: sp.csr_matrix | ArrayLike | None = None,
    n_threads: int | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Top-n items for a batch of users from item neighbour lists (parallel over users).

    ``score(u, i) = sum_j r_uj * sim(j, i)`` (``histories @ neighbours``, float64
    accumulation). Candidates of user u are the items reached through at least one stored
    neighbour of one of u's history items, minus u's history when ``exclude_seen``, minus
    ``exclude``, restricted to ``items``.

    Parameters
    ----------
    neighbours : csr_matrix of shape (n_items, n_items)
        Row j lists the neighbours i of item j with ``sim(j, i)`` (e.g. :func:`topk_similarity`).
    histories : csr_matrix of shape (n_users, n_items)
        Interaction weights ``r_uj``.
    n : int
        Number of items per user.
    exclude_seen : bool, default True
        Never return an item of the user's history.
    items : array-like of int, optional
        Candidate subset (item indices); default all items.
    exclude : csr_matrix of shape (n_users, n_items) or array-like of int, optional
        Items never returned: per user (CSR pattern) or for everybody (1-D indices).
    n_threads : int, optional
        numba threads for the call (default all; restored afterwards).

    Returns
    -------
    idx : ndarray of int32, shape (n_users, n)
        Item indices best-first, ties by index ascending, padded with -1.
    scores : ndarray of float32, shape (n_users, n)
        Scores, padded with ``-inf``.
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.serving import topn_scores_batch, topn_scores_chunk

    N = _check_neighbours(neighbours)
    H = _check_sparse(histories, "histories")
    n_items = N.shape[0]
    if H.shape[1] != n_items:
        raise ValueError(
            f"histories must have one column per item of neighbours ({n_items}), got {H.shape[1]}"
        )
    n = _check_k(n, "n")
    n_threads = check_n_threads(n_threads)
    allowed = _allowed(items, n_items)
    if exclude is None:
        ex = sp.csr_matrix((H.shape[0], n_items), dtype=np.float32)
    elif sp.issparse(exclude):
        ex = sp.csr_matrix(exclude)
        if ex.shape != H.shape:
            raise ValueError(f"exclude must have the shape of histories {H.shape}, got {ex.shape}")
        ex.sort_indices()
    else:
        allowed[_item_mask(exclude, n_items, "exclude")] = 0
        ex = sp.csr_matrix((H.shape[0], n_items), dtype=np.float32)
    notice_if_cold(topn_scores_batch, topn_scores_chunk)
    args = (
        N.indptr, N.indices, N.data, H.indptr, H.indices, H.data, ex.indptr, ex.indices,
        bool(exclude_seen), allowed, n,
    )  # fmt: skip
    n_users = H.shape[0]

    def outputs() -> tuple[NDArray, ...]:
        return np.empty((n_users, n), np.int32), np.empty((n_users, n), np.float32)

    with numba_threads(n_threads, H.nnz + N.nnz) as threads:
        return _run_chunked(topn_scores_batch, topn_scores_chunk, args, outputs, n_users, threads)


def topn_scores_user(
    neighbours: sp.csr_matrix,
    item_idx: ArrayLike,
    n: int,
    *,
    weights: ArrayLike | None = None,
    exclude_seen: bool = True,
    items: ArrayLike | None = None,
    exclude: ArrayLike | None = None,
    check_input: bool = True,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Top-n items for one user (single-threaded); see :func:`topn_scores`.

    A one-off call: it allocates per-item scratch every time and, with ``check_input``,
    validates ``neighbours`` in O(nnz). To serve many single requests from the same neighbour
    lists, build a :class:`NeighbourScorer` once and call its
    :meth:`~NeighbourScorer.top_n`, which gives the same result faster.

    Parameters
    ----------
    neighbours : csr_matrix of shape (n_items, n_items)
    item_idx : array-like of int
        The user's history items (distinct).
    n : int
    weights : array-like of float, optional
        ``r_uj`` for each history item (default 1).
    exclude_seen, items
        As in :func:`topn_scores`.
    exclude : array-like of int, optional
        Items never returned.
    check_input : bool, default True
        Validate and canonicalise ``neighbours`` (an O(nnz) pass). With False the caller
        vouches that ``neighbours`` is already a canonical float32 CSR with int32 indices
        (as returned by :func:`topk_similarity`); a matrix that is not gives undefined
        results. The other arguments are checked either way (in O(len) time).

    Returns
    -------
    idx : ndarray of int32, shape (n,), padded with -1
    scores : ndarray of float32, shape (n,), padded with ``-inf``

    See Also
    --------
    NeighbourScorer : the prepared, faster path for repeated single-user requests.
    """
    N = _check_neighbours(neighbours) if check_input else neighbours
    scorer = NeighbourScorer._from_canonical(N.indptr, N.indices, N.data)
    return scorer.top_n(
        item_idx, n, weights=weights, exclude_seen=exclude_seen, items=items, exclude=exclude
    )


def topn_dense(
    scores: ArrayLike,
    n: int,
    exclude: sp.csr_matrix | None = None,
    *,
    allowed: ArrayLike | None = None,
    n_threads: int | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Top-n columns of every row of a dense score block (parallel over rows).

    Parameters
    ----------
    scores : array-like of shape (n_rows, n_cols)
        Float scores, ranked after rounding to float32; NaN is refused, ``-inf`` (also a
        float64 score below the float32 range) marks a column as never returned.
    n : int
        Columns per row.
    exclude : csr_matrix of shape (n_rows, n_cols), optional
        Stored entries (the pattern) are never returned.
    allowed : array-like of bool, shape (n_cols,), optional
        Only columns where it is True are returned, in every row (e.g. the items a business
        rule lets through); default all. Disallowed columns are skipped, not scored.
    n_threads : int, optional
        numba threads for the call (default all; restored afterwards).

    Returns
    -------
    idx : ndarray of int32, shape (n_rows, n)
        Column indices best-first, ties by index ascending, padded with -1.
    values : ndarray of float32, shape (n_rows, n)
        Scores rounded to float32, padded with ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.5, 0.7, 0.1]])
    >>> topn_dense(scores, 2)[0].tolist()
    [[0, 2]]
    >>> topn_dense(scores, 2, allowed=[False, True, False, True])[0].tolist()
    [[1, 3]]
    """
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels.topk import topn_dense_kernel, topn_dense_serial

    if sp.issparse(scores):
        raise TypeError("scores must be a dense 2-D array, got a sparse matrix")
    S = np.asarray(scores)
    if S.ndim != 2 or not (
        np.issubdtype(S.dtype, np.floating) or np.issubdtype(S.dtype, np.integer)
    ):
        raise ValueError(
            f"scores must be a 2-D array of real numbers, got shape {S.shape} ({S.dtype})"
        )
    if np.issubdtype(S.dtype, np.floating) and np.isnan(S).any():
        raise ValueError(f"scores must not hold NaN; it holds {int(np.isnan(S).sum())}")
    # ranking is on float32-rounded scores anyway: one kernel signature, half the memory
    S = np.ascontiguousarray(S, dtype=np.float32)
    n = _check_k(n, "n")
    n_threads = check_n_threads(n_threads)
    if exclude is None:
        ex_indptr, ex_indices, use_ex = (
            np.zeros(S.shape[0] + 1, np.int32),
            np.zeros(0, np.int32),
            False,
        )
    else:
        if not sp.issparse(exclude):
            raise TypeError(f"exclude must be a scipy.sparse matrix, got {type(exclude).__name__}")
        ex = sp.csr_matrix(exclude)
        if ex.shape != S.shape:
            raise ValueError(f"exclude must have the shape of scores {S.shape}, got {ex.shape}")
        ex_indptr, ex_indices, use_ex = ex.indptr, ex.indices, True
    columns = _allowed_columns(allowed, S.shape[1])
    if columns is None:  # no column allowed: every row is padding
        return np.full((S.shape[0], n), -1, np.int32), np.full((S.shape[0], n), -np.inf, np.float32)
    notice_if_cold(topn_dense_serial, topn_dense_kernel)
    if S.size < SMALL_WORK or n_threads == 1:  # no parallel launch for a few rows
        return topn_dense_serial(S, n, ex_indptr, ex_indices, use_ex, columns)
    with numba_threads(n_threads, S.size) as threads:
        return topn_dense_kernel(
            S, n, ex_indptr, ex_indices, use_ex, columns, n_chunks(S.shape[0], threads)
        )


def _allowed_columns(allowed: ArrayLike | None, n_cols: int) -> NDArray[np.int32] | None:
    """The positions of an ``allowed`` column mask (int32, ascending) for the kernel.

    An empty array (no mask) lets every column through; None means the mask allows none.
    """
    if allowed is None:
        return np.empty(0, np.int32)
    mask = np.asarray(allowed)
    if mask.dtype != np.bool_ or mask.shape != (n_cols,):
        raise ValueError(
            f"allowed must be a boolean mask with one value per column of scores ({n_cols}), "
            f"got shape {mask.shape} ({mask.dtype})"
        )
    columns = np.flatnonzero(mask).astype(np.int32)
    return columns if columns.size else None
