"""Offline evaluation metrics: top-k ranking metrics, AUC, coverage and rating errors.

The metric functions live below the models (which rank validation users with them) and
are re-exported by :mod:`featcf.evaluation`, the public place to reach them.

Conventions shared by every ranking metric
------------------------------------------
``ranked``
    Integer array of shape (n_users, k_max): row ``u`` holds the item indices recommended
    to user ``u`` (internal positions, not external ids) in rank order, best first. A user
    with fewer recommendations is padded with ``-1`` at the end of the row (as
    ``implicit`` does). Only the first ``k`` columns are read; there they must be -1 or in
    ``[0, n_items)``, hold no repeated item, and padding must be trailing. When
    ``k > k_max`` the missing positions count as empty, exactly like ``-1`` padding.
``relevant``
    ``scipy.sparse`` matrix of shape (n_users, n_items) holding the test interactions.
    A stored entry with a value **> 0** marks a relevant item; entries with value <= 0
    (explicit zeros, negative feedback) are ignored, as if absent. Binary metrics use only
    that pattern; graded nDCG uses the stored value as the gain (linear gain: pass
    ``2**r - 1`` yourself for exponential gain).
Per-user values
    Every per-user function returns a float64 array of shape (n_users,). Users without a
    relevant item get NaN: they are excluded from means, and :func:`summarize` /
    :func:`ranking_metrics` report how many were excluded (``n_excluded``).

Definitions, for user ``u`` with relevant set ``R`` (``|R| > 0``), top-k list ``L`` (empty
positions are never relevant) and ``rel(i) = [L_i in R]`` at 1-based rank ``i``:

- precision@k = ``hits / k`` with ``hits = sum_{i<=k} rel(i)`` (the denominator is ``k``
  even when fewer than ``k`` items were recommended)
- recall@k = ``hits / |R|``
- hit rate@k = ``1 if hits > 0 else 0``
- AP@k = ``sum_{i<=k} rel(i) * precision@i / min(k, |R|)``; its mean over users is MAP@k
- nDCG@k = ``DCG / IDCG`` with ``DCG = sum_{i<=k} rel(i) g(L_i) / log2(i + 1)`` and ``IDCG``
  the DCG of the ideal list (the ``min(k, |R|)`` largest gains in decreasing order);
  ``g = 1`` (binary) or the stored value (graded)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from featcf._jit import notice_if_cold
from featcf._threads import parallel_launch
from featcf._validation import (
    check_bool,
    check_csr,
    check_cutoffs,
    check_finite,
    check_positive_int,
)

__all__ = [
    "RANKING_METRICS",
    "auc",
    "average_precision_at_k",
    "check_train_test_overlap",
    "coverage_at_k",
    "hit_rate_at_k",
    "mae",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
    "summarize",
]

#: Metric names understood by :func:`ranking_metrics` (case-sensitive).
RANKING_METRICS: tuple[str, ...] = (
    "precision",
    "recall",
    "ndcg",
    "ndcg_graded",
    "map",
    "hit_rate",
    "coverage",
)
_DEFAULT_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")

# Work (ranked cells, or score cells for AUC) below which the serial kernels run: starting
# the thread pool costs milliseconds per call, more than small inputs take serially.
_PARALLEL_MIN_WORK = 200_000


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------


def _check_relevant(relevant: Any, name: str = "relevant") -> sp.csr_matrix:
    """Canonical float64 CSR holding only the entries with value > 0 (sorted indices)."""
    csr = check_csr(relevant, name, dtype=np.float64)
    if (csr.data <= 0).any():
        csr = csr.copy()
        csr.data[csr.data <= 0] = 0.0
        csr.eliminate_zeros()
    return csr


def _check_pattern(matrix: Any, name: str) -> sp.csr_matrix:
    """Canonical CSR of ``matrix`` with explicit zeros removed (pattern = nonzero entries)."""
    csr = check_csr(matrix, name, dtype=np.float64)
    if (csr.data == 0).any():
        csr = csr.copy()
        csr.eliminate_zeros()
    return csr


def _check_k(k: Any) -> int:
    return int(check_positive_int(k, "k"))  # type: ignore[arg-type]


def _check_ranked(ranked: Any, n_users: int | None, n_items: int, k: int) -> NDArray[np.int64]:
    """Validate ``ranked`` and return its first ``k`` columns as C-contiguous int64."""
    arr = np.asarray(ranked)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ranked must be an integer array of item indices, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"ranked must be 2-D of shape (n_users, k_max), got {arr.ndim}-D shape {arr.shape}; "
            "for a single user use ranked.reshape(1, -1)"
        )
    if n_users is not None and arr.shape[0] != n_users:
        raise ValueError(
            f"ranked has {arr.shape[0]} rows but relevant has {n_users} users; "
            "row u of ranked must belong to row u of relevant"
        )
    top = np.ascontiguousarray(arr[:, :k], dtype=np.int64)
    if top.size == 0:
        return top
    bad = (top < -1) | (top >= n_items)
    if bad.any():
        u, i = np.argwhere(bad)[0]
        raise ValueError(
            f"ranked must hold item indices in [0, {n_items}) or -1 for padding; "
            f"row {u}, position {i} holds {top[u, i]}"
        )
    pad = top == -1
    holes = pad[:, :-1] & ~pad[:, 1:]
    if holes.any():
        u = int(np.argwhere(holes)[0, 0])
        raise ValueError(
            f"ranked may use -1 only as trailing padding; row {u} has an item after a -1: "
            f"{top[u].tolist()}"
        )
    srt = np.sort(top, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if dup.any():
        u, i = np.argwhere(dup)[0]
        raise ValueError(
            f"ranked must not repeat an item within a row; row {u} lists item {srt[u, i]} "
            "more than once"
        )
    return top


@dataclass(frozen=True)
class _RankingStats:
    """Per-user sums of one top-k list against the relevant items (float64 arrays)."""

    hits: NDArray[np.float64]
    ap_sum: NDArray[np.float64]
    dcg: NDArray[np.float64]
    idcg: NDArray[np.float64]


def _run_ranking_kernel(
    top: NDArray[np.int64], k: int, rel: sp.csr_matrix, graded: bool
) -> _RankingStats:
    # numba: compiled on first use, kept out of import featcf (and of the models' imports)
    from featcf._kernels import ranking as kernels

    notice_if_cold(kernels.ranking_stats_csr_serial, kernels.ranking_stats_csr)
    if top.size < _PARALLEL_MIN_WORK:
        stats = kernels.ranking_stats_csr_serial(
            top, k, rel.indptr, rel.indices, rel.data, bool(graded)
        )
    else:
        with parallel_launch():
            stats = kernels.ranking_stats_csr(
                top, k, rel.indptr, rel.indices, rel.data, bool(graded)
            )
    return _RankingStats(
        hits=stats[:, kernels.HITS],
        ap_sum=stats[:, kernels.AP_SUM],
        dcg=stats[:, kernels.DCG],
        idcg=stats[:, kernels.IDCG],
    )


def _stats(
    ranked: Any, relevant: Any, k: Any, graded: bool
) -> tuple[_RankingStats, NDArray[np.int64], int]:
    """Validate the common inputs and run the kernel: (stats, n_relevant, k)."""
    k = _check_k(k)
    rel = _check_relevant(relevant)
    top = _check_ranked(ranked, rel.shape[0], rel.shape[1], k)
    stats = _run_ranking_kernel(top, k, rel, graded)
    return stats, np.diff(rel.indptr).astype(np.int64), k


def _per_user(values: NDArray[np.float64], n_rel: NDArray[np.int64]) -> NDArray[np.float64]:
    out = np.asarray(values, dtype=np.float64).copy()
    out[n_rel == 0] = np.nan
    return out


def _safe_div(num: NDArray[np.float64], den: NDArray[Any]) -> NDArray[np.float64]:
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


# --------------------------------------------------------------------------------------
# per-user ranking metrics
# --------------------------------------------------------------------------------------


def precision_at_k(ranked: ArrayLike, relevant: sp.spmatrix, k: int) -> NDArray[np.float64]:
    """Per-user precision@k: relevant items among the top ``k``, divided by ``k``.

    The denominator is ``k`` even for users with fewer than ``k`` recommendations.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1``; only the first ``k``
        columns are read (rules in the module docstring).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant.
    k : int
        Cut-off, >= 1. May exceed ``k_max`` (missing positions count as empty).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        Precision@k per user, in [0, 1]; NaN for users without a relevant item.

    Raises
    ------
    TypeError
        If ``ranked`` is not an integer array, ``relevant`` not a sparse matrix or ``k``
        not an integer.
    ValueError
        If ``k`` < 1, the row counts differ, ``ranked`` holds an out-of-range index, a
        repeated item or a non-trailing ``-1``, or ``relevant`` holds NaN/inf.

    See Also
    --------
    ranking_metrics : Several metrics at once, as a table of means or per user.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 0, 0]]))
    >>> precision_at_k(np.array([[0, 2], [1, -1]]), relevant, k=2)
    array([0.5, nan])
    """
    stats, n_rel, k = _stats(ranked, relevant, k, False)
    return _per_user(stats.hits / k, n_rel)


def recall_at_k(ranked: ArrayLike, relevant: sp.spmatrix, k: int) -> NDArray[np.float64]:
    """Per-user recall@k: relevant items among the top ``k``, divided by the number relevant.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1``; only the first ``k``
        columns are read (rules in the module docstring).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant.
    k : int
        Cut-off, >= 1. May exceed ``k_max`` (missing positions count as empty).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        Recall@k per user, in [0, 1]; NaN for users without a relevant item.

    Raises
    ------
    TypeError
        If ``ranked`` is not an integer array, ``relevant`` not a sparse matrix or ``k``
        not an integer.
    ValueError
        If ``k`` < 1, the row counts differ, ``ranked`` holds an out-of-range index, a
        repeated item or a non-trailing ``-1``, or ``relevant`` holds NaN/inf.

    See Also
    --------
    ranking_metrics : Several metrics at once, as a table of means or per user.
    """
    stats, n_rel, _ = _stats(ranked, relevant, k, False)
    return _per_user(_safe_div(stats.hits, n_rel), n_rel)


def hit_rate_at_k(ranked: ArrayLike, relevant: sp.spmatrix, k: int) -> NDArray[np.float64]:
    """Per-user hit rate@k: 1.0 if any of the top ``k`` items is relevant, else 0.0.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1``; only the first ``k``
        columns are read (rules in the module docstring).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant.
    k : int
        Cut-off, >= 1. May exceed ``k_max`` (missing positions count as empty).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        Hit rate@k per user, 0.0 or 1.0; NaN for users without a relevant item.

    Raises
    ------
    TypeError
        If ``ranked`` is not an integer array, ``relevant`` not a sparse matrix or ``k``
        not an integer.
    ValueError
        If ``k`` < 1, the row counts differ, ``ranked`` holds an out-of-range index, a
        repeated item or a non-trailing ``-1``, or ``relevant`` holds NaN/inf.

    See Also
    --------
    ranking_metrics : Several metrics at once, as a table of means or per user.
    """
    stats, n_rel, _ = _stats(ranked, relevant, k, False)
    return _per_user((stats.hits > 0).astype(np.float64), n_rel)


def average_precision_at_k(ranked: ArrayLike, relevant: sp.spmatrix, k: int) -> NDArray[np.float64]:
    """Per-user average precision@k; its mean over evaluated users is MAP@k.

    ``AP@k = sum_{i <= k} rel(i) * precision@i / min(k, n_relevant)`` over 1-based ranks
    ``i``. The ``min`` makes a perfect list score 1 also for users with fewer than ``k``
    relevant items.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1``; only the first ``k``
        columns are read (rules in the module docstring).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant.
    k : int
        Cut-off, >= 1. May exceed ``k_max`` (missing positions count as empty).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        AP@k per user, in [0, 1]; NaN for users without a relevant item.

    Raises
    ------
    TypeError
        If ``ranked`` is not an integer array, ``relevant`` not a sparse matrix or ``k``
        not an integer.
    ValueError
        If ``k`` < 1, the row counts differ, ``ranked`` holds an out-of-range index, a
        repeated item or a non-trailing ``-1``, or ``relevant`` holds NaN/inf.

    See Also
    --------
    ranking_metrics : Several metrics at once, as a table of means or per user.
    """
    stats, n_rel, k = _stats(ranked, relevant, k, False)
    return _per_user(_safe_div(stats.ap_sum, np.minimum(n_rel, k)), n_rel)


def ndcg_at_k(
    ranked: ArrayLike, relevant: sp.spmatrix, k: int, graded: bool = False
) -> NDArray[np.float64]:
    """Per-user normalised discounted cumulative gain at ``k``.

    ``DCG = sum_{i <= k} rel(i) * g(L_i) / log2(i + 1)`` over 1-based ranks ``i``, divided
    by the DCG of the ideal ranking of the user's relevant items (the ``min(k, n_relevant)``
    largest gains in decreasing order).

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1``; only the first ``k``
        columns are read (rules in the module docstring).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant.
    k : int
        Cut-off, >= 1. May exceed ``k_max`` (missing positions count as empty).
    graded : bool, default False
        If False every relevant item has gain 1; if True the gain is its stored value in
        ``relevant`` (linear gain; store ``2**r - 1`` for exponential gain).

    Returns
    -------
    ndarray of float64, shape (n_users,)
        nDCG@k per user, in [0, 1]; NaN for users without a relevant item.

    Raises
    ------
    TypeError
        If ``ranked`` is not an integer array, ``relevant`` not a sparse matrix or ``k``
        not an integer.
    ValueError
        If ``k`` < 1, the row counts differ, ``ranked`` holds an out-of-range index, a
        repeated item or a non-trailing ``-1``, or ``relevant`` holds NaN/inf.

    See Also
    --------
    ranking_metrics : Several metrics at once, as a table of means or per user.
    """
    graded = check_bool(graded, "graded")
    stats, n_rel, _ = _stats(ranked, relevant, k, graded)
    return _per_user(_safe_div(stats.dcg, stats.idcg), n_rel)


# --------------------------------------------------------------------------------------
# AUC
# --------------------------------------------------------------------------------------


def auc(
    scores: ArrayLike, relevant: sp.spmatrix, exclude: sp.spmatrix | None = None
) -> NDArray[np.float64]:
    """Per-user ROC AUC of a dense score matrix.

    For user ``u`` the candidates are all items not in row ``u`` of ``exclude``; positives
    are the candidates relevant to ``u`` (value > 0 in ``relevant``), negatives the other
    candidates. AUC is the probability that a random positive scores higher than a random
    negative, ties counting 1/2. Computed from mid-ranks, O(n_items log n_items) per user.

    Parameters
    ----------
    scores : array-like of float, shape (n_users, n_items)
        Dense scores, higher is better. float32 and float64 are used as given, other dtypes
        are converted to float64. ``+-inf`` is allowed (e.g. masked items), NaN is not.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are positives.
    exclude : scipy.sparse matrix, shape (n_users, n_items), optional
        Items to leave out of both positives and negatives, typically the training
        interactions. Every stored nonzero entry excludes its item.

    Returns
    -------
    ndarray of float64, shape (n_users,)
        AUC per user in [0, 1]; NaN for users with no positive or no negative candidate
        (excluded from means by :func:`summarize`).

    Raises
    ------
    TypeError
        If ``scores`` is sparse or not numeric, or ``relevant``/``exclude`` is not sparse.
    ValueError
        If ``scores`` is not 2-D, holds NaN, or a shape differs from ``relevant``'s.
    """
    if sp.issparse(scores):
        raise TypeError("scores must be a dense array; convert with scores.toarray()")
    arr = np.asarray(scores)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"scores must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError("scores must be real, got a complex array")
    if arr.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    arr = np.ascontiguousarray(arr)
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(f"scores must not hold NaN; it holds {n_nan}")
    rel = _check_relevant(relevant)
    if rel.shape != arr.shape:
        raise ValueError(f"scores has shape {arr.shape} but relevant has shape {rel.shape}")
    if exclude is None:
        ex_indptr = np.zeros(arr.shape[0] + 1, dtype=np.int32)
        ex_indices = np.zeros(0, dtype=np.int32)
    else:
        ex = _check_pattern(exclude, "exclude")
        if ex.shape != arr.shape:
            raise ValueError(f"exclude has shape {ex.shape} but scores has shape {arr.shape}")
        ex_indptr, ex_indices = ex.indptr, ex.indices
    # numba: compiled on first use, kept out of import featcf (and of the models' imports)
    from featcf._kernels import ranking as kernels

    notice_if_cold(kernels.auc_dense_serial, kernels.auc_dense)
    if arr.size < _PARALLEL_MIN_WORK:
        return kernels.auc_dense_serial(arr, rel.indptr, rel.indices, ex_indptr, ex_indices)
    with parallel_launch():
        return kernels.auc_dense(arr, rel.indptr, rel.indices, ex_indptr, ex_indices)


# --------------------------------------------------------------------------------------
# coverage
# --------------------------------------------------------------------------------------


def coverage_at_k(
    ranked: ArrayLike, n_items: int, k: int, *, candidates: ArrayLike | None = None
) -> float:
    """Catalogue coverage@k: the fraction of items that appear in some user's top ``k``.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1`` (all rows count).
    n_items : int
        Catalogue size; item indices must lie in ``[0, n_items)``.
    k : int
        Cut-off, >= 1.
    candidates : array-like of int, optional
        Restrict the catalogue to these item indices (e.g. the items that may be
        recommended at all): coverage is then the fraction of ``candidates`` that appear in
        some top-``k`` list; recommended items outside ``candidates`` are not counted.
        Repeated indices count once.

    Returns
    -------
    float
        Coverage in [0, 1].

    Raises
    ------
    TypeError
        If ``n_items``/``k`` is not an integer or ``ranked``/``candidates`` not integer.
    ValueError
        If ``ranked`` breaks the rules of the module docstring, or ``candidates`` is empty,
        not 1-D or out of range.
    """
    n_items = int(check_positive_int(n_items, "n_items"))  # type: ignore[arg-type]
    k = _check_k(k)
    top = _check_ranked(ranked, None, n_items, k)
    shown = np.zeros(n_items, dtype=bool)
    shown[top[top >= 0]] = True
    if candidates is None:
        return float(shown.sum() / n_items)
    cand = np.asarray(candidates)
    if cand.ndim != 1 or cand.size == 0:
        raise ValueError(f"candidates must be a non-empty 1-D array, got shape {cand.shape}")
    if cand.dtype == np.bool_ or not np.issubdtype(cand.dtype, np.integer):
        raise TypeError(f"candidates must be integer item indices, got dtype {cand.dtype}")
    if cand.min() < 0 or cand.max() >= n_items:
        raise ValueError(
            f"candidates must lie in [0, {n_items}), got values from {cand.min()} to {cand.max()}"
        )
    cand = np.unique(cand)
    return float(shown[cand].sum() / cand.size)


# --------------------------------------------------------------------------------------
# rating prediction
# --------------------------------------------------------------------------------------


def _check_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    out = []
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        if sp.issparse(value):
            raise TypeError(f"{name} must be a dense 1-D array, got a sparse matrix")
        arr = np.asarray(value)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{name} must not be empty")
        arr = arr.astype(np.float64)
        check_finite(arr, name)
        out.append(arr)
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {out[0].size} and {out[1].size}"
        )
    return out[0], out[1]


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean((y_true - y_pred) ** 2))`` of rating predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of float, shape (n_ratings,)
        Observed and predicted ratings, finite, same non-zero length.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an input is sparse or not numeric.
    ValueError
        If an input is not 1-D, empty, non-finite, or the lengths differ.
    """
    t, p = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error ``mean(|y_true - y_pred|)`` of rating predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of float, shape (n_ratings,)
        Observed and predicted ratings, finite, same non-zero length.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an input is sparse or not numeric.
    ValueError
        If an input is not 1-D, empty, non-finite, or the lengths differ.
    """
    t, p = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------

_SUMMARY_COLUMNS = ["metric", "k", "value", "n_users", "n_excluded"]


def _summary_frame(rows: list[tuple[str, int | None, float, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)
    return frame.astype(
        {
            "metric": "str",
            "k": "Int64",
            "value": "float64",
            "n_users": "int64",
            "n_excluded": "int64",
        }
    )


def summarize(per_user: Mapping[str, ArrayLike], k: int | None = None) -> pd.DataFrame:
    """Average per-user metric values over the users that could be evaluated.

    Parameters
    ----------
    per_user : mapping of str to array-like of float, shape (n_users,)
        Metric name to per-user values, NaN marking a user that was not evaluated (no
        relevant item, or for AUC no positive/negative candidate).
    k : int, optional
        Cut-off recorded in the ``k`` column (``<NA>`` when omitted, e.g. for AUC).

    Returns
    -------
    pandas.DataFrame
        One row per metric, in the mapping's order, with columns ``metric`` (str), ``k``
        (nullable Int64), ``value`` (mean over non-NaN users; NaN if there are none),
        ``n_users`` (users evaluated) and ``n_excluded`` (NaN users).

    Raises
    ------
    TypeError
        If ``per_user`` is not a mapping, a key is not a str or ``k`` not an integer.
    ValueError
        If a value array is not 1-D or holds infinity.
    """
    if not isinstance(per_user, Mapping):
        raise TypeError(
            f"per_user must be a mapping of metric name to array, got {type(per_user).__name__}"
        )
    if k is not None:
        k = _check_k(k)
    rows = []
    for name, values in per_user.items():
        if not isinstance(name, str):
            raise TypeError(f"per_user keys must be metric names (str), got {name!r}")
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"per_user[{name!r}] must be 1-D, got shape {arr.shape}")
        if np.isinf(arr).any():
            raise ValueError(f"per_user[{name!r}] must not hold infinity")
        ok = ~np.isnan(arr)
        n_ok = int(ok.sum())
        value = float(arr[ok].mean()) if n_ok else float("nan")
        rows.append((name, k, value, n_ok, int(arr.size - n_ok)))
    return _summary_frame(rows)


def _check_metric_names(metrics: Any) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    if not isinstance(metrics, Iterable):
        raise TypeError(f"metrics must be a metric name or a sequence of names, got {metrics!r}")
    names = tuple(metrics)
    if not names:
        raise ValueError("metrics must name at least one metric")
    valid = ", ".join(map(repr, RANKING_METRICS))
    for name in names:
        if not isinstance(name, str) or name not in RANKING_METRICS:
            raise ValueError(f"unknown metric {name!r} in metrics; valid names are {valid}")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics names a metric more than once: {list(names)}")
    return names


def ranking_metrics(
    ranked: ArrayLike,
    relevant: sp.spmatrix,
    k: int | Sequence[int],
    metrics: str | Sequence[str] = _DEFAULT_METRICS,
    *,
    per_user: bool = False,
) -> pd.DataFrame:
    """Several top-k ranking metrics at once, as means over evaluated users or per user.

    Parameters
    ----------
    ranked : array-like of int, shape (n_users, k_max)
        Item indices in rank order, padded with trailing ``-1`` (module docstring rules).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Test interactions; entries with value > 0 are relevant (the value is the gain of
        ``"ndcg_graded"``).
    k : int or sequence of int
        Cut-off(s), each >= 1. Several cut-offs give one row per (metric, k).
    metrics : str or sequence of str, default ("precision", "recall", "ndcg", "map", "hit_rate")
        Case-sensitive names from :data:`RANKING_METRICS`: ``"precision"``, ``"recall"``,
        ``"ndcg"`` (binary gain), ``"ndcg_graded"`` (stored values as gains), ``"map"``
        (mean AP@k), ``"hit_rate"`` and ``"coverage"`` (catalogue coverage@k over all
        rows of ``ranked``, with ``n_items = relevant.shape[1]``).
    per_user : bool, default False
        Return the per-user values instead of the means (needs a single ``k``; coverage,
        having no per-user value, is refused).

    Returns
    -------
    pandas.DataFrame
        If ``per_user`` is False: one row per metric and cut-off (metrics in the given
        order, then ``k``) with columns ``metric``, ``k``, ``value`` (mean over users with
        a relevant item), ``n_users`` (those users) and ``n_excluded`` (users without a
        relevant item; for coverage ``n_users`` is the number of rows and ``n_excluded`` 0).
        If ``per_user`` is True: one row per user of ``relevant`` with columns
        ``user_idx``, ``n_relevant`` and one float column per metric, NaN for users
        without a relevant item.

    Raises
    ------
    ValueError
        For an unknown or repeated metric name (the message lists the valid names), and
        for everything :func:`precision_at_k` refuses.
    TypeError
        As :func:`precision_at_k`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 0, 0]]))
    >>> ranked = np.array([[0, 2], [1, -1]])
    >>> ranking_metrics(ranked, relevant, k=2, metrics=["precision", "recall"])
          metric  k  value  n_users  n_excluded
    0  precision  2    0.5        1           1
    1     recall  2    0.5        1           1
    """
    names = _check_metric_names(metrics)
    ks = check_cutoffs(k)
    per_user = check_bool(per_user, "per_user")
    if per_user and len(ks) != 1:
        raise ValueError(f"per_user=True needs a single k, got {list(ks)}")
    if per_user and "coverage" in names:
        raise ValueError(
            "coverage has no per-user value; drop it from metrics or use per_user=False"
        )
    rel = _check_relevant(relevant)
    n_users, n_items = rel.shape
    n_rel = np.diff(rel.indptr).astype(np.int64)
    top_all = _check_ranked(ranked, n_users, n_items, max(ks))

    results: dict[tuple[str, int], NDArray[np.float64] | float] = {}
    for kk in ks:
        top = np.ascontiguousarray(top_all[:, :kk])
        stats = _run_ranking_kernel(top, kk, rel, False)
        for name in names:
            if name == "precision":
                val: Any = stats.hits / kk
            elif name == "recall":
                val = _safe_div(stats.hits, n_rel)
            elif name == "hit_rate":
                val = (stats.hits > 0).astype(np.float64)
            elif name == "map":
                val = _safe_div(stats.ap_sum, np.minimum(n_rel, kk))
            elif name == "ndcg":
                val = _safe_div(stats.dcg, stats.idcg)
            elif name == "ndcg_graded":
                g = _run_ranking_kernel(top, kk, rel, True)
                val = _safe_div(g.dcg, g.idcg)
            else:  # coverage
                shown = np.zeros(n_items, dtype=bool)
                shown[top[top >= 0]] = True
                results[(name, kk)] = float(shown.sum() / n_items) if n_items else float("nan")
                continue
            results[(name, kk)] = _per_user(val, n_rel)

    if per_user:
        kk = ks[0]
        frame = pd.DataFrame({"user_idx": np.arange(n_users, dtype=np.int64), "n_relevant": n_rel})
        for name in names:
            frame[name] = results[(name, kk)]
        return frame

    rows = []
    for name in names:
        for kk in ks:
            val = results[(name, kk)]
            if isinstance(val, float):
                rows.append((name, kk, val, n_users, 0))
            else:
                ok = ~np.isnan(val)
                n_ok = int(ok.sum())
                mean = float(val[ok].mean()) if n_ok else float("nan")
                rows.append((name, kk, mean, n_ok, n_users - n_ok))
    return _summary_frame(rows)


# --------------------------------------------------------------------------------------
# split sanity check
# --------------------------------------------------------------------------------------


def check_train_test_overlap(train: sp.spmatrix, test: sp.spmatrix, *, strict: bool = False) -> int:
    """Count the (user, item) pairs stored (nonzero) in both ``train`` and ``test``.

    A proper split puts each interaction in only one of the two; overlap inflates every
    ranking metric when seen items are not excluded, and silently removes test items when
    they are.

    Parameters
    ----------
    train, test : scipy.sparse matrix, shape (n_users, n_items)
        Interaction matrices over the same user and item indices. Explicit zeros are
        ignored; any other stored value (negative feedback included) is an interaction.
    strict : bool, default False
        Raise instead of returning when the overlap is not empty.

    Returns
    -------
    int
        Number of (user, item) pairs present in both.

    Raises
    ------
    TypeError
        If an input is not a scipy sparse matrix.
    ValueError
        If the shapes differ, an input holds NaN/inf, or ``strict`` is True and the
        matrices share at least one pair (the message gives the count).
    """
    tr = _check_pattern(train, "train")
    te = _check_pattern(test, "test")
    if tr.shape != te.shape:
        raise ValueError(
            f"train has shape {tr.shape} but test has shape {te.shape}; both must be "
            "(n_users, n_items) over the same indices"
        )
    tr = sp.csr_matrix((np.ones(tr.nnz), tr.indices, tr.indptr), shape=tr.shape)
    te = sp.csr_matrix((np.ones(te.nnz), te.indices, te.indptr), shape=te.shape)
    n_shared = int(tr.multiply(te).sum())
    if strict and n_shared:
        raise ValueError(
            f"train and test share {n_shared} (user, item) pair(s); a split must put each "
            "interaction in only one of them"
        )
    return n_shared
