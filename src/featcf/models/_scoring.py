"""Scoring helpers shared by the models: dense column blocks and explanation frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.columns import Columns
from featcf.data.features import FeatureMatrix

__all__ = ["dense_columns", "explanation_frame", "field_normalised", "gather", "pair_entries"]


def dense_columns(product: sp.spmatrix, item_idx: np.ndarray, n_items: int) -> np.ndarray:
    """Dense float32 ``product[:, item_idx]`` without a column copy when all items are asked."""
    product = sp.csr_matrix(product)
    if len(item_idx) == n_items and np.array_equal(item_idx, np.arange(n_items)):
        return product.toarray().astype(np.float32, copy=False)
    return product[:, item_idx].toarray().astype(np.float32, copy=False)


def explanation_frame(
    part: str,
    values: Any,
    contributions: np.ndarray,
    fields: Any = None,
    *,
    labels: Any,
    pair: Any = None,
    constant: str = "",
) -> pd.DataFrame:
    """Explanation rows: one per non-zero contribution, largest magnitude first in each pair.

    Parameters
    ----------
    part : str
        The ``part`` column of every row (``"neighbour"``, ``"content"``, ...).
    values, fields, labels : array-like of shape (n,)
        The ``value``, ``field`` and plain-language ``label`` of each contribution
        (``fields=None``: no field; a single label applies to every row).
    contributions : numpy.ndarray of shape (n,)
        The parts of the score; zeros are left out, ties keep their order.
    pair : array-like of int, shape (n,), optional
        The pair each row belongs to (default: all rows to pair 0).
    constant : {"", "user", "item"}
        What the parts are the same for (see :func:`featcf.models._reasons.compose`).

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, part, field, value, contribution, label, constant``.
    """
    contributions = np.asarray(contributions)
    n_all = len(contributions)
    pair = np.zeros(n_all, np.int64) if pair is None else np.asarray(pair, dtype=np.int64)
    keep = np.flatnonzero(contributions != 0)
    order = keep[np.lexsort((-np.abs(contributions[keep]), pair[keep]))]
    n = len(order)
    field_column = (
        np.full(n, None, dtype=object)
        if fields is None
        else np.asarray(fields, dtype=object)[order]
    )
    label_column = np.broadcast_to(np.asarray(labels, dtype=object), (n_all,))[order]
    return pd.DataFrame(
        {
            "pair": pair[order],
            Columns.PART: np.full(n, part, dtype=object),
            Columns.FIELD: field_column,
            Columns.VALUE: np.asarray(values, dtype=object)[order],
            Columns.CONTRIBUTION: contributions[order].astype(np.float64),
            Columns.LABEL: label_column,
            "constant": np.full(n, constant, dtype=object),
        }
    )


def pair_entries(
    matrix: sp.csr_matrix, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of row ``rows[p]`` of ``matrix`` for every pair ``p``, flattened.

    Returns
    -------
    owner, columns, data : numpy.ndarray
        The pair of each entry, its column and its value (in row order within a pair).
    """
    matrix = sp.csr_matrix(matrix)
    counts = np.diff(matrix.indptr)[rows]
    owner = np.repeat(np.arange(len(rows)), counts)
    offsets = np.cumsum(counts) - counts
    entry = np.repeat(matrix.indptr[:-1][rows] - offsets, counts) + np.arange(counts.sum())
    return owner, matrix.indices[entry], matrix.data[entry]


def gather(matrix: sp.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[k], cols[k]]`` for every ``k``, as a flat float64 array."""
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(sp.csr_matrix(matrix)[rows, cols], dtype=np.float64).ravel()


def field_normalised(features: FeatureMatrix) -> sp.csr_matrix:
    """Each row's values of each field scaled to unit L2 norm (absent fields stay empty)."""
    F = sp.csr_matrix(features.matrix, dtype=np.float64)
    field_of = features.field_of_column
    n_fields = len(features.fields)
    membership = sp.csr_matrix(
        (np.ones(F.shape[1]), (np.arange(F.shape[1]), field_of)), shape=(F.shape[1], n_fields)
    )
    sq = np.asarray((F.multiply(F) @ membership).todense())  # (n_rows, n_fields)
    rows = np.repeat(np.arange(F.shape[0]), np.diff(F.indptr))
    norms = np.sqrt(sq[rows, field_of[F.indices]])
    data = np.divide(F.data, norms, out=np.zeros_like(F.data), where=norms > 0)
    out = sp.csr_matrix((data, F.indices.copy(), F.indptr.copy()), shape=F.shape)
    out.eliminate_zeros()
    return out
