"""Scoring helpers shared by the models: dense column blocks and explanation frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.columns import Columns

__all__ = ["dense_columns", "explanation_frame"]


def dense_columns(product: sp.spmatrix, item_idx: np.ndarray, n_items: int) -> np.ndarray:
    """Dense float32 ``product[:, item_idx]`` without a column copy when all items are asked."""
    product = sp.csr_matrix(product)
    if len(item_idx) == n_items and np.array_equal(item_idx, np.arange(n_items)):
        return product.toarray().astype(np.float32, copy=False)
    return product[:, item_idx].toarray().astype(np.float32, copy=False)


def explanation_frame(
    part: str, values: Any, contributions: np.ndarray, fields: Any = None
) -> pd.DataFrame:
    """The ``explain`` frame: one row per non-zero contribution, largest magnitude first.

    Parameters
    ----------
    part : str
        The ``part`` column of every row (``"neighbour"``, ``"content"``, ...).
    values, fields : array-like of shape (n,)
        The ``value`` and ``field`` of each contribution (``fields=None``: no field).
    contributions : numpy.ndarray of shape (n,)
        The parts of the score; zeros are left out, ties keep their order.
    """
    contributions = np.asarray(contributions)
    keep = contributions != 0
    order = np.argsort(-np.abs(contributions[keep]), kind="stable")
    n = len(order)
    field_column = (
        np.full(n, None, dtype=object)
        if fields is None
        else np.asarray(fields, dtype=object)[keep][order]
    )
    return pd.DataFrame(
        {
            Columns.PART: np.full(n, part, dtype=object),
            Columns.FIELD: field_column,
            Columns.VALUE: np.asarray(values, dtype=object)[keep][order],
            Columns.CONTRIBUTION: contributions[keep][order].astype(np.float64),
        }
    )
