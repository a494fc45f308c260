"""Exact top-k similarity on a Dask cluster: query blocks x candidate chunks, lists merged."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from featcf._validation import check_csr, check_positive_int
from featcf.distributed._cluster import client_for, one_thread
from featcf.similarity import (
    ReferenceStatistics,
    reference_statistics,
    topk_similarity_between,
)

__all__ = ["topk_similarity"]

#: the message of distributed's warning about data sent inside a task graph: featcf sends the
#: chunks that way on purpose (a lost worker's chunks are resent, see :func:`topk_similarity`)
_LARGE_GRAPH = ".*[Ll]arge graph.*"


def _bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _balanced_bounds(indptr: np.ndarray, n_parts: int) -> list[tuple[int, int]]:
    """Row ranges holding about the same number of stored entries (at least one row each)."""
    n = indptr.shape[0] - 1
    targets = np.linspace(0, indptr[-1], n_parts + 1)[1:-1]
    cuts = np.unique(np.clip(np.searchsorted(indptr, targets), 1, max(n - 1, 1)))
    edges = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _as_chunk(X: sp.csr_matrix) -> sp.csr_matrix:
    """A chunk of rows as it lives on a worker (the task that holds it, so it has a lineage)."""
    return X


def _query_block(chunk: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    return chunk[start:stop]


def _block_topk(
    block: sp.csr_matrix,
    chunk: sp.csr_matrix,
    block_start: int,
    chunk_start: int,
    k: int,
    options: dict[str, Any],
    stats: ReferenceStatistics,
    exclude_self: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of one query block among one candidate chunk, as (rows, columns, scores) in the
    whole matrix's numbering. A chunk holding the block's own rows gives one more entry per
    row, so that dropping self pairs leaves the top-k of the others."""
    overlap = exclude_self and (
        block_start < chunk_start + chunk.shape[0] and chunk_start < block_start + block.shape[0]
    )
    kk = k + 1 if overlap else k
    S = one_thread(
        topk_similarity_between, block, chunk, kk, n_threads=1, statistics=stats, **options
    ).tocoo()
    rows = S.row.astype(np.int64) + block_start
    cols = S.col.astype(np.int64) + chunk_start
    keep = rows != cols if overlap else slice(None)
    return rows[keep], cols[keep], S.data[keep]


def _merge_topk(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge (rows, columns, scores) lists into each row's top ``k``: score descending, ties
    by column ascending (the order of :func:`featcf.similarity.topk_similarity`)."""
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    order = np.lexsort((cols, -scores.astype(np.float64), rows))
    rows, cols, scores = rows[order], cols[order], scores[order]
    first = np.searchsorted(rows, rows, side="left")
    keep = np.arange(rows.size) - first < k
    return rows[keep], cols[keep], scores[keep]


def _merge_block(k: int, *parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple:
    return _merge_topk(list(parts), k)


def topk_similarity(
    X: sp.csr_matrix,
    k: int,
    metric: str = "cosine",
    *,
    shrink: float = 0.0,
    min_support: int = 1,
    weights: ArrayLike | None = None,
    exclude_self: bool = True,
    client: Any = None,
    block_rows: int = 2048,
    chunk_rows: int | None = None,
) -> sp.csr_matrix:
    """Exact top-k most similar rows of ``X`` on a Dask cluster, identical to one process.

    The rows are cut into candidate chunks of ``chunk_rows`` rows, each sent to one worker,
    and into query blocks of ``block_rows`` rows; one task scores a query block against a
    candidate chunk with the same numba kernel as :func:`featcf.similarity.topk_similarity`
    (one thread per task), and the per-chunk lists of a block are merged into its top ``k``.
    What a score needs from the whole matrix (BM25/TF-IDF column statistics, the kernel
    choice) is computed once, here (:func:`featcf.similarity.reference_statistics`), so every
    pair scores exactly as in one call: lists, float32 scores and ties (score descending,
    column ascending) are identical to ``featcf.similarity.topk_similarity(X, k, ...)``.

    Parameters
    ----------
    X : csr_matrix of shape (n_rows, n_cols)
        Rows to compare (item-item over a users x items matrix: ``X.T.tocsr()``; from a
        Dataset: ``dataset.interactions.T.tocsr()``).
    k, metric, shrink, min_support, weights, exclude_self
        As in :func:`featcf.similarity.topk_similarity`.
    client : dask.distributed.Client, optional
        The cluster to run on, e.g. ``Client("tcp://scheduler:8786")``; None starts a
        LocalCluster sized to this machine (one single-threaded worker process per core) and
        closes it afterwards.
    block_rows : int, default 2048
        Query rows per task.
    chunk_rows : int, optional
        Candidate rows per chunk; default: one chunk per worker, each holding about the same
        number of stored entries. A task
        holds one chunk, its transpose, one query block and ``block_rows x k`` results, so
        these two sizes bound its memory.

    Returns
    -------
    csr_matrix of shape (n_rows, n_rows), float32

    Raises
    ------
    ImportError
        If Dask is not installed (``pip install 'featcf[dask]'``).
    TypeError, ValueError
        For bad arguments, as :func:`featcf.similarity.topk_similarity`.

    Notes
    -----
    The chunks travel inside the task graph (held by the scheduler), not with
    ``Client.scatter``: a worker lost mid-job has its chunks and tasks recomputed on the
    others, and the job completes with the same result. Each pair is scored from both sides
    (the one-process call scores an unordered pair once), so the cluster does about twice the
    kernel work of a local call; its gain is memory per machine and more cores.
    """
    X = check_csr(X, "X", dtype=np.float32)
    k = check_positive_int(k, "k")
    block_rows = check_positive_int(block_rows, "block_rows")
    stats = reference_statistics(X, metric, weights=weights)  # checks metric and weights
    options = {"metric": metric, "shrink": shrink, "min_support": min_support, "weights": weights}
    # the cheap checks of the local call, here, before anything is sent
    topk_similarity_between(X[:0], X[:0], k, **options)
    n = X.shape[0]
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    with client_for(client) as cl:
        workers = sorted(cl.scheduler_info()["workers"])
        if chunk_rows is None:
            bounds = _balanced_bounds(X.indptr, max(1, len(workers)))
        else:
            bounds = _bounds(n, check_positive_int(chunk_rows, "chunk_rows"))
        search = _Search(k, options, stats, bool(exclude_self))
        results = cl.gather(_submit(cl, X, bounds, workers, block_rows, search))
    # blocks in row order, each sorted by row: their concatenation is the whole result
    rows, cols, scores = (np.concatenate([r[i] for r in results]) for i in range(3))
    return _to_csr(rows, cols, scores, n)


@dataclass(frozen=True)
class _Search:
    """What every block task of one search shares."""

    k: int
    options: dict[str, Any]
    stats: ReferenceStatistics
    exclude_self: bool


def _submit(
    cl: Any,
    X: sp.csr_matrix,
    bounds: list[tuple[int, int]],
    workers: list[str],
    block_rows: int,
    search: _Search,
) -> list[Any]:
    """Submit the search: one task per chunk, per query block one task per chunk (on the
    chunk's worker), one merge per block. Returns the merges' futures, in row order."""
    # Each chunk and the tasks that read it are pinned to one worker (the workers in turn):
    # a task placed elsewhere would copy the whole chunk there. The pins are loose, so a
    # lost worker's chunk and tasks go to the others.
    home = [[workers[j % len(workers)]] if workers else None for j in range(len(bounds))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LARGE_GRAPH, category=UserWarning)
        chunks = [
            (start, stop, cl.submit(
                _as_chunk, X[start:stop], pure=False, workers=home[j], allow_other_workers=True,
            ))
            for j, (start, stop) in enumerate(bounds)
        ]  # fmt: skip
    merged = []
    for i, (c_start, c_stop, owner) in enumerate(chunks):
        for b_start, b_stop in _bounds(c_stop - c_start, block_rows):
            block = cl.submit(
                _query_block, owner, b_start, b_stop, workers=home[i], allow_other_workers=True
            )
            parts = [
                cl.submit(
                    _block_topk, block, chunk, c_start + b_start, start, search.k,
                    search.options, search.stats, search.exclude_self,
                    workers=home[j], allow_other_workers=True,
                )
                for j, (start, _, chunk) in enumerate(chunks)
            ]  # fmt: skip
            merged.append(cl.submit(_merge_block, search.k, *parts))
    return merged


def _to_csr(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, n: int) -> sp.csr_matrix:
    indptr = np.zeros(n + 1, dtype=np.int64 if rows.size > 2**31 - 1 else np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    index_dtype = indptr.dtype
    return sp.csr_matrix(
        (scores.astype(np.float32), cols.astype(index_dtype), indptr), shape=(n, n)
    )
