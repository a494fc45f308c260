"""Sparse products into dense blocks: the Python face of :mod:`featcf._kernels.products`.

Internal helpers of the models' scoring paths (inputs come from fitted state, so they are
canonicalised here but not validated as user input). Small products run on one thread.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from featcf._jit import notice_if_cold
from featcf._threads import SMALL_WORK, n_chunks, numba_threads

__all__ = ["csr_dense_product", "two_hop_dense_product"]


def _parts(matrix: sp.spmatrix) -> tuple[np.ndarray, ...]:
    """CSR arrays (float32 data) of ``matrix``, without a copy when it already is CSR."""
    m = matrix if getattr(matrix, "format", None) == "csr" else sp.csr_matrix(matrix)
    data = m.data if m.data.dtype == np.float32 else m.data.astype(np.float32)
    return m.indptr, m.indices, data


def _run(
    kernel_name: str, args: tuple, n_rows: int, work: float, n_threads: int | None
) -> NDArray[np.float64]:
    """Call ``kernel_name`` on the calling thread (``*_serial``) when the work is small or
    one thread is asked for, else the parallel kernel over strided chunks of rows."""
    # numba: compiled on first use, kept out of import featcf
    from featcf._kernels import products as kp

    parallel, serial = getattr(kp, kernel_name), getattr(kp, f"{kernel_name}_serial")
    notice_if_cold(serial, parallel)
    if n_threads == 1 or work < SMALL_WORK:
        return serial(*args)
    with numba_threads(n_threads, work) as threads:
        return parallel(*args, n_chunks(n_rows, threads))


def _column_map(n_cols: int, columns: NDArray[np.int64] | None) -> tuple[np.ndarray, int]:
    if columns is None:
        return np.arange(n_cols, dtype=np.int64), n_cols
    pos = np.full(n_cols, -1, dtype=np.int64)
    pos[np.asarray(columns, dtype=np.int64)] = np.arange(len(columns), dtype=np.int64)
    return pos, len(columns)


def csr_dense_product(
    a: sp.spmatrix,
    b: sp.spmatrix,
    columns: NDArray[np.int64] | None = None,
    n_threads: int | None = None,
) -> NDArray[np.float64]:
    """Dense ``(a @ b)[:, columns]`` (all columns when None), accumulated in float64.

    Parameters
    ----------
    a : sparse matrix of shape (n, m)
    b : sparse matrix of shape (m, p)
    columns : array of int, optional
        Distinct columns of ``b`` to keep, in output order.
    n_threads : int, optional
        numba threads (default all); small products run on one thread.

    Returns
    -------
    ndarray of float64, shape (n, len(columns) or p)
    """
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not align")
    col_pos, n_out = _column_map(b.shape[1], columns)
    args = (*_parts(a), *_parts(b), col_pos, n_out)
    work = float(a.shape[0]) * n_out + 50.0 * a.nnz
    return _run("csr_dense_product", args, a.shape[0], work, n_threads)


def two_hop_dense_product(
    a: sp.spmatrix,
    b: sp.spmatrix,
    c: sp.spmatrix,
    columns: NDArray[np.int64] | None = None,
    n_threads: int | None = None,
) -> NDArray[np.float64]:
    """Dense ``((a @ b) @ c)[:, columns]`` without forming ``a @ b`` (float64).

    Parameters
    ----------
    a : sparse matrix of shape (n, m)
    b : sparse matrix of shape (m, q)
    c : sparse matrix of shape (q, p)
    columns : array of int, optional
        Distinct columns of ``c`` to keep, in output order.
    n_threads : int, optional
        numba threads (default all); small products run on one thread.

    Returns
    -------
    ndarray of float64, shape (n, len(columns) or p)
    """
    if a.shape[1] != b.shape[0] or b.shape[1] != c.shape[0]:
        raise ValueError(f"shapes {a.shape}, {b.shape} and {c.shape} do not align")
    col_pos, n_out = _column_map(c.shape[1], columns)
    args = (*_parts(a), *_parts(b), *_parts(c), col_pos, n_out)
    work = float(a.shape[0]) * n_out + 500.0 * a.nnz
    return _run("two_hop_dense_product", args, a.shape[0], work, n_threads)
