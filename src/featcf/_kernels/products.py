"""Sparse products into dense blocks (numba): the scoring steps of small query batches.

Both products write a dense float64 block whose columns are a chosen subset of the
right-hand side's columns: ``col_pos[c]`` is the output column of column ``c`` or ``-1`` to
skip it. Rows are independent and each is computed by one thread in the order of its stored
entries, so results do not depend on the thread count.

* ``csr_dense_product``: ``out = A @ B`` for CSR ``A`` (``a_*``) and CSR ``B`` (``b_*``).
* ``two_hop_dense_product``: ``out = (A @ B) @ C`` without forming ``A @ B``: row ``r``
  first accumulates ``t = A[r] @ B`` in a scratch over ``B``'s columns (a list of the
  touched ones keeps the reset cheap), then adds ``t_j * C[j]`` for every touched ``j``.
  Used for "users who have the history's items, and what else they have".

Each comes as a parallel kernel (``n_chunks`` strided chunks of rows under ``prange``) and a
``*_serial`` one for a few rows: launching a parallel region costs tens of microseconds,
more than a one-user fold-in's whole product. Both call the same row body with int64
``start, step`` (``np.int64`` casts: numba would otherwise compile the body again for the
literal ``0, 1`` and for the unsigned ``prange`` index).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _csr_dense_rows(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, col_pos, out, start, step
):
    """Rows ``start, start + step, ...`` of ``(A @ B)[:, cols]`` added into ``out``."""
    n_rows = a_indptr.shape[0] - 1
    for r in range(start, n_rows, step):
        row = out[r]
        for p in range(a_indptr[r], a_indptr[r + 1]):
            j = a_indices[p]
            w = np.float64(a_data[p])
            for q in range(b_indptr[j], b_indptr[j + 1]):
                c = col_pos[b_indices[q]]
                if c >= 0:
                    row[c] += w * b_data[q]


@njit(cache=True, parallel=True)
def csr_dense_product(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, col_pos, n_out, n_chunks
):
    """Dense ``(A @ B)[:, cols]``, shape ``(n_rows_a, n_out)``, float64 (see module doc)."""
    out = np.zeros((a_indptr.shape[0] - 1, n_out), np.float64)
    for chunk in prange(n_chunks):
        _csr_dense_rows(
            a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, col_pos, out,
            np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out


@njit(cache=True)
def csr_dense_product_serial(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, col_pos, n_out
):
    """:func:`csr_dense_product` on the calling thread."""
    out = np.zeros((a_indptr.shape[0] - 1, n_out), np.float64)
    _csr_dense_rows(
        a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, col_pos, out, np.int64(0),
        np.int64(1),
    )  # fmt: skip
    return out


@njit(cache=True)
def _two_hop_rows(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices, c_data,
    col_pos, out, start, step,
):  # fmt: skip
    """Rows ``start, start + step, ...`` of ``((A @ B) @ C)[:, cols]`` added into ``out``."""
    n_rows = a_indptr.shape[0] - 1
    n_mid = c_indptr.shape[0] - 1
    mid = np.zeros(n_mid, np.float64)
    is_touched = np.zeros(n_mid, np.bool_)
    touched = np.empty(n_mid, np.int64)
    for r in range(start, n_rows, step):
        n_touched = 0
        for p in range(a_indptr[r], a_indptr[r + 1]):
            j = a_indices[p]
            w = np.float64(a_data[p])
            for q in range(b_indptr[j], b_indptr[j + 1]):
                m = b_indices[q]
                if not is_touched[m]:
                    is_touched[m] = True
                    touched[n_touched] = m
                    n_touched += 1
                mid[m] += w * b_data[q]
        row = out[r]
        for t in range(n_touched):
            m = touched[t]
            w = mid[m]
            mid[m] = 0.0
            is_touched[m] = False
            for q in range(c_indptr[m], c_indptr[m + 1]):
                c = col_pos[c_indices[q]]
                if c >= 0:
                    row[c] += w * c_data[q]


@njit(cache=True, parallel=True)
def two_hop_dense_product(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices, c_data,
    col_pos, n_out, n_chunks,
):  # fmt: skip
    """Dense ``((A @ B) @ C)[:, cols]``, shape ``(n_rows_a, n_out)``, float64 (module doc)."""
    out = np.zeros((a_indptr.shape[0] - 1, n_out), np.float64)
    for chunk in prange(n_chunks):
        _two_hop_rows(
            a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices,
            c_data, col_pos, out, np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out


@njit(cache=True)
def two_hop_dense_product_serial(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices, c_data,
    col_pos, n_out,
):  # fmt: skip
    """:func:`two_hop_dense_product` on the calling thread."""
    out = np.zeros((a_indptr.shape[0] - 1, n_out), np.float64)
    _two_hop_rows(
        a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices, c_data,
        col_pos, out, np.int64(0), np.int64(1),
    )  # fmt: skip
    return out
