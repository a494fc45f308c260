"""Small sparse-matrix helpers of FeatureCF: row sums, row normalisation, placing rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["row_normalize", "row_sums", "spread_rows"]


def row_sums(matrix: sp.csr_matrix, power: int = 1) -> np.ndarray:
    """Row sums of a CSR matrix's values (``power`` 2: of their squares), float64.

    Cheaper than ``.sum(axis=1)`` on the small matrices of a fold-in.
    """
    out = np.zeros(matrix.shape[0])
    counts = np.diff(matrix.indptr)
    if matrix.nnz:
        nonempty = counts > 0
        data = matrix.data.astype(np.float64) ** power
        out[nonempty] = np.add.reduceat(data, matrix.indptr[:-1][nonempty])
    return out


def row_normalize(*matrices: sp.csr_matrix) -> sp.csr_matrix:
    """The rows of one or more sparse matrices (same width) one after another, each scaled to
    sum 1 (empty rows stay empty), float32."""
    matrices = tuple(sp.csr_matrix(m) if m.format != "csr" else m for m in matrices)
    n_cols = matrices[0].shape[1]
    indptrs, offset = [np.zeros(1, dtype=np.int64)], 0
    for m in matrices:
        indptrs.append(m.indptr[1:].astype(np.int64) + offset)
        offset += m.nnz
    indptr = np.concatenate(indptrs)
    indices = np.concatenate([m.indices for m in matrices])
    data = np.concatenate([m.data for m in matrices]).astype(np.float64)
    counts = np.diff(indptr)
    sums = np.zeros(len(counts))
    nonempty = counts > 0
    if offset:
        sums[nonempty] = np.add.reduceat(data, indptr[:-1][nonempty])
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    data = (data * np.repeat(scale, counts)).astype(np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(counts), n_cols))


def spread_rows(matrix: sp.csr_matrix, rows: np.ndarray, n_rows: int) -> sp.csr_matrix:
    """Place the rows of ``matrix`` at positions ``rows`` (sorted) of an ``n_rows`` matrix."""
    counts = np.zeros(n_rows, dtype=np.int64)
    counts[rows] = np.diff(matrix.indptr)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(n_rows, matrix.shape[1]))
