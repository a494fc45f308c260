"""Exact top-k similarity on a Dask cluster: query blocks x candidate chunks, lists merged.

The matrix is written once to a scratch directory (three raw arrays of its CSR parts) that
every worker reads; each task reads the rows it needs (one query block, one candidate chunk)
and releases them, so a worker's memory is bounded by the block sizes, not by the matrix.

This module is what the workers import to run the tasks: it imports numpy, scipy.sparse and
``featcf.similarity`` only (no pandas, no models).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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

#: default candidate chunk size, in stored entries: a task holds one chunk (8 bytes an entry),
#: its transpose (4-8 bytes an entry) and one query block; on the MovieLens-20M-shaped matrix
#: a worker grew by 73 MB at most (benchmarks/results/distributed.md)
CHUNK_ENTRIES = 2**22


def _bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _balanced_bounds(indptr: np.ndarray, n_parts: int) -> list[tuple[int, int]]:
    """Row ranges holding about the same number of stored entries (at least one row each)."""
    n = indptr.shape[0] - 1
    targets = np.linspace(0, indptr[-1], n_parts + 1)[1:-1]
    cuts = np.unique(np.clip(np.searchsorted(indptr, targets), 1, max(n - 1, 1)))
    edges = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


@dataclass(frozen=True)
class _Stored:
    """A CSR matrix written as three raw arrays (``indptr``, ``indices``, ``data``) in a
    directory every worker reads: a task reads any row range of it with two seeks."""

    directory: str
    shape: tuple[int, int]
    indptr_dtype: str
    indices_dtype: str
    data_dtype: str


_PARTS = ("indptr", "indices", "data")


def _write(X: sp.csr_matrix, directory: Path) -> _Stored:
    for name in _PARTS:
        getattr(X, name).tofile(directory / f"{name}.bin")
    return _Stored(
        str(directory), (int(X.shape[0]), int(X.shape[1])),
        X.indptr.dtype.str, X.indices.dtype.str, X.data.dtype.str,
    )  # fmt: skip


def _read(stored: _Stored, name: str, start: int, stop: int) -> np.ndarray:
    """Elements ``start:stop`` of one stored array, read into memory (no memory map)."""
    dtype = np.dtype(getattr(stored, f"{name}_dtype"))
    with open(os.path.join(stored.directory, f"{name}.bin"), "rb") as f:
        f.seek(start * dtype.itemsize)
        out = np.fromfile(f, dtype=dtype, count=stop - start)
    if out.size != stop - start:
        raise OSError(
            f"{f.name} holds fewer elements than expected ({start + out.size} < {stop}): the "
            "scratch directory of featcf.distributed.topk_similarity changed during the job"
        )
    return out


def _read_rows(stored: _Stored, start: int, stop: int) -> sp.csr_matrix:
    """Rows ``start:stop`` of a stored matrix."""
    indptr = _read(stored, "indptr", start, stop + 1)
    first, last = int(indptr[0]), int(indptr[-1])
    X = sp.csr_matrix(
        (_read(stored, "data", first, last), _read(stored, "indices", first, last),
         indptr - indptr.dtype.type(first)),
        shape=(stop - start, stored.shape[1]),
    )  # fmt: skip
    X.has_sorted_indices = True  # rows of a canonical matrix (check_csr)
    return X


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


def _held(value: Any) -> Any:
    """A small value as a task's result: sent once in the graph, recomputable if lost."""
    return value


def _stored_block_topk(
    stored: _Stored, block: tuple[int, int], chunk: tuple[int, int], search: _Search
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The task: read one query block and one candidate chunk from the scratch directory,
    score them (:func:`_block_topk`) and let both go."""
    A = _read_rows(stored, *block)
    B = A if chunk == block else _read_rows(stored, *chunk)
    return _block_topk(
        A, B, block[0], chunk[0], search.k, search.options, search.stats, search.exclude_self
    )


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
    scratch_dir: str | os.PathLike[str] | None = None,
) -> sp.csr_matrix:
    """Exact top-k most similar rows of ``X`` on a Dask cluster, identical to one process.

    ``X`` is written once to a scratch directory that the workers read. It is cut into
    query blocks of ``block_rows`` rows and candidate chunks; one task reads a query block
    and a candidate chunk, scores them with the same numba kernel as
    :func:`featcf.similarity.topk_similarity` (one thread per task) and lets them go, and
    the per-chunk lists of a block are merged into its top ``k``. What a score needs from
    the whole matrix (BM25/TF-IDF column statistics, the kernel choice) is computed once,
    here (:func:`featcf.similarity.reference_statistics`), so every pair scores exactly as
    in one call: lists, float32 scores and ties (score descending, column ascending) are
    identical to ``featcf.similarity.topk_similarity(X, k, ...)``.

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
        Candidate rows per chunk; default: chunks of about 4 million stored entries each
        (``2**22``; one chunk if ``X`` holds fewer). A task holds one query block, one chunk,
        its transpose and ``block_rows x k`` results, so these two sizes bound a worker's
        memory, whatever the size of ``X``.
    scratch_dir : str or path-like, optional
        Where ``X`` is written for the workers (about 8 bytes per stored entry): a directory
        every worker can read. Default: a temporary directory of this machine (what a
        LocalCluster's workers see); on a cluster of several machines pass a directory on a
        shared filesystem. The files are removed when the call returns or fails.

    Returns
    -------
    csr_matrix of shape (n_rows, n_rows), float32

    Raises
    ------
    ImportError
        If Dask is not installed (``pip install 'featcf[dask]'``).
    TypeError, ValueError
        For bad arguments, as :func:`featcf.similarity.topk_similarity`; ValueError if a
        worker cannot see ``scratch_dir``.

    Notes
    -----
    Tasks read their inputs from the scratch directory by path, so a worker lost mid-job
    only loses its running tasks: the scheduler reruns them on the others, and the job
    completes with the same result. Neither the scheduler nor the workers hold the matrix.
    Each pair is scored from both sides (the one-process call scores an unordered pair
    once), so the cluster does about twice the kernel work of a local call; its gain is
    memory per machine and more cores.
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
    if chunk_rows is None:
        bounds = _balanced_bounds(X.indptr, max(1, math.ceil(X.nnz / CHUNK_ENTRIES)))
    else:
        bounds = _bounds(n, check_positive_int(chunk_rows, "chunk_rows"))
    search = _Search(k, options, stats, bool(exclude_self))
    with client_for(client) as cl, _scratch(scratch_dir) as directory:
        stored = _write(X, directory)
        _check_visible(cl, directory)
        results = _gather_in_order(cl, _submit(cl, stored, bounds, block_rows, search))
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


@contextlib.contextmanager
def _scratch(scratch_dir: str | os.PathLike[str] | None) -> Iterator[Path]:
    """A fresh directory (inside ``scratch_dir`` if given), removed afterwards."""
    if scratch_dir is not None and not Path(scratch_dir).is_dir():
        raise ValueError(
            f"scratch_dir {str(scratch_dir)!r} is not a directory: pass an existing directory "
            "that every worker can read (or None for a temporary one on this machine)"
        )
    directory = Path(tempfile.mkdtemp(prefix="featcf-topk-", dir=scratch_dir))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _check_visible(cl: Any, directory: Path) -> None:
    seen = cl.run(os.path.isfile, str(directory / "indptr.bin"))
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise ValueError(
            f"worker(s) {blind} cannot read the scratch directory {str(directory)!r}: pass "
            "scratch_dir=<a directory on a filesystem shared by the client and every worker>"
        )


def _submit(
    cl: Any, stored: _Stored, bounds: list[tuple[int, int]], block_rows: int, search: _Search
) -> list[Any]:
    """Per query block one task per candidate chunk and one merge. Returns the merges'
    futures, in row order. No task is pinned to a worker: every one reads its inputs from
    the scratch directory, wherever it runs."""
    shared = cl.submit(_held, search, pure=False)
    merged = []
    for c_start, c_stop in bounds:
        for b_start, b_stop in _bounds(c_stop - c_start, block_rows):
            block = (c_start + b_start, c_start + b_stop)
            parts = [
                cl.submit(_stored_block_topk, stored, block, chunk, shared, pure=False)
                for chunk in bounds
            ]
            merged.append(cl.submit(_merge_block, search.k, *parts, pure=False))
    return merged


def _gather_in_order(cl: Any, futures: list[Any]) -> list[Any]:
    """The futures' results in order, each fetched (and released on the cluster) as soon as
    it is done."""
    # dask: optional and heavy, kept out of import featcf
    from distributed import as_completed

    results: list[Any] = [None] * len(futures)
    index = {f.key: i for i, f in enumerate(futures)}
    for future in as_completed(futures):
        results[index[future.key]] = future.result()
        future.release()
    return results


def _to_csr(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, n: int) -> sp.csr_matrix:
    indptr = np.zeros(n + 1, dtype=np.int64 if rows.size > 2**31 - 1 else np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    index_dtype = indptr.dtype
    return sp.csr_matrix(
        (scores.astype(np.float32), cols.astype(index_dtype), indptr), shape=(n, n)
    )
