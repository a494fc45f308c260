"""Query plumbing of :class:`~featcf.models.base.BaseRecommender` (kept out of the class).

``batches`` slices a long axis, ``encode_new_users`` turns the frames of customers unknown
at fit time into a history CSR and encoded features (``new_user_matrices`` checks such
matrices), ``merge_top`` merges running top lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._frames import require_columns, require_frame
from featcf._validation import check_float32_weights
from featcf.columns import Columns
from featcf.data.dataset import Dataset

__all__ = [
    "batches",
    "csr_summing_duplicates",
    "encode_new_users",
    "merge_top",
    "result_frame",
    "new_user_matrices",
]


def batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


#: why a query frame needs its id columns (:func:`~featcf._validation.require_columns`)
_ID_COLUMNS = " (the Dataset's id columns)"


def encode_new_users(
    dataset: Dataset, interactions: pd.DataFrame | None, user_features: pd.DataFrame | None
) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix | None]:
    """New users' ids (interactions first, then feature-only), history CSR and features."""
    user_col = dataset.columns.get("user") or Columns.USER
    item_col = dataset.columns.get("item") or Columns.ITEM
    weight_col = dataset.columns.get("weight")
    if interactions is None and user_features is None:
        raise ValueError("give interactions and/or user_features for the new users")
    ids: list[Any] = []
    codes = None
    if interactions is not None:
        require_frame(interactions, "interactions")
        require_columns(interactions, (user_col, item_col), "interactions", _ID_COLUMNS)
        # first-appearance order, one pass: the row of each interaction and the ids
        codes, uniques = pd.factorize(interactions[user_col].to_numpy())
        if (codes < 0).any():
            raise ValueError(f"interactions[{user_col!r}] holds missing user ids")
        ids.extend(uniques.tolist())
    if user_features is not None:
        require_frame(user_features, "user_features")
        require_columns(user_features, (user_col,), "user_features", _ID_COLUMNS)
        known = set(ids)
        ids.extend(u for u in pd.unique(user_features[user_col].to_numpy()) if u not in known)
    new_ids = np.asarray(ids, dtype=object)
    _refuse_fitted_ids(dataset, new_ids, 0 if codes is None else len(uniques), user_col)
    n_new = len(new_ids)
    history = None
    if codes is not None and len(codes):
        cols = np.asarray(dataset.item_index(interactions[item_col].to_numpy()), dtype=np.int64)
        if weight_col is not None and weight_col in interactions.columns:
            try:
                weights = interactions[weight_col].to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"interactions[{weight_col!r}] must hold numeric weights, got dtype "
                    f"{interactions[weight_col].dtype}"
                ) from None
            if not np.isfinite(weights).all() or (weights <= 0).any():
                raise ValueError(f"interactions[{weight_col!r}] must hold finite positive weights")
            name = f"interactions[{weight_col!r}]"
            check_float32_weights(weights, name, interactions.index, total=True)
        else:
            weights = np.ones(len(codes))
        history = csr_summing_duplicates(
            codes.astype(np.int64), cols, weights.astype(np.float32), (n_new, dataset.n_items)
        )
    if history is None:
        history = sp.csr_matrix((n_new, dataset.n_items), dtype=np.float32)
    features = None
    if user_features is not None:
        if dataset.user_features is None:
            raise ValueError(
                "user_features were given but the model was fitted without user features"
            )
        encoded = dataset.encode_users(user_features)
        placement = pd.Index(new_ids).get_indexer(encoded.ids)
        features = (
            sp.csr_matrix(
                (
                    np.ones(len(placement), dtype=np.float32),
                    (placement, np.arange(len(placement))),
                ),
                shape=(len(new_ids), len(placement)),
            )
            @ encoded.matrix
        )
        features = sp.csr_matrix(features, dtype=np.float32)
    return new_ids, history, features


def _refuse_fitted_ids(
    dataset: Dataset, new_ids: np.ndarray, n_from_history: int, user_col: str
) -> None:
    """Raise when new customers carry ids of fitted ones (their history would be ignored).

    ``new_ids`` lists the ids of ``interactions`` first (``n_from_history`` of them), then
    those only in ``user_features``; the message names the frame holding the first such id.
    """
    fitted = np.asarray(dataset.user_index(new_ids, strict=False), dtype=np.int64) >= 0
    if not fitted.any():
        return
    from_history = np.arange(len(new_ids)) < n_from_history
    in_history = from_history[np.argmax(fitted)]
    fitted &= from_history if in_history else ~from_history
    examples = new_ids[fitted][:3].tolist()
    raise ValueError(
        f"{'interactions' if in_history else 'user_features'}[{user_col!r}] holds "
        f"{int(fitted.sum())} id(s) of users the model was fitted on, e.g. {examples}: "
        f"recommend_new_users is for users unknown at fit time and would ignore what "
        f"the model knows about these. Use model.recommend({examples}, n=...) for them "
        f"(their fitted history); to count interactions made since the fit too, add "
        f"them first with model.partial_fit(interactions), no refit needed. If they are "
        f"other users, give them ids the model has not seen"
    )


def csr_summing_duplicates(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR from COO triplets, duplicates summed, indices sorted (cheap for a few entries)."""
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    starts = np.flatnonzero(first)
    data = np.add.reduceat(data, starts) if len(starts) else data
    rows, cols = rows[starts], cols[starts]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((data.astype(np.float32), cols, indptr), shape=shape)


def result_frame(
    row_ids: np.ndarray,
    col_ids: np.ndarray,
    top_idx: np.ndarray,
    top_score: np.ndarray,
    columns: tuple[str, ...],
) -> pd.DataFrame:
    """Per-row top lists (``-1`` padded) as a frame: row id, column id, score, rank (from 1)."""
    valid = top_idx >= 0
    counts = valid.sum(axis=1)
    ranks = np.cumsum(valid, axis=1)[valid]
    return pd.DataFrame(
        {
            columns[0]: np.repeat(row_ids, counts),
            columns[1]: col_ids[top_idx[valid]],
            columns[2]: top_score[valid].astype(np.float64),
            columns[3]: ranks.astype(np.int64),
        }
    )


def merge_top(
    idx_a: np.ndarray, score_a: np.ndarray, idx_b: np.ndarray, score_b: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-row top lists (-1 padded) into the top ``n`` by score, ties by index."""
    idx = np.concatenate([idx_a, idx_b], axis=1)
    score = np.concatenate([score_a, score_b], axis=1)
    key = np.where(idx >= 0, score, -np.inf)
    order = np.lexsort((np.where(idx >= 0, idx, np.iinfo(np.int64).max), -key), axis=-1)[:, :n]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(score, order, axis=1)


def new_user_matrices(
    dataset: Dataset, history: sp.spmatrix | None, user_features: sp.spmatrix | None
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """New users' history and features checked against ``dataset``, as float32 CSR (an
    empty history when None)."""
    if history is None and user_features is None:
        raise ValueError("give history and/or user_features for the new users")
    n_new = (history if history is not None else user_features).shape[0]
    if history is None:
        history = sp.csr_matrix((n_new, dataset.n_items), dtype=np.float32)
    history = sp.csr_matrix(history, dtype=np.float32)
    if history.shape[1] != dataset.n_items:
        raise ValueError(
            f"history must have {dataset.n_items} columns (the catalogue), got {history.shape[1]}"
        )
    if user_features is not None:
        user_features = sp.csr_matrix(user_features, dtype=np.float32)
        expected = 0 if dataset.user_features is None else dataset.user_features.n_columns
        if user_features.shape != (n_new, expected):
            raise ValueError(
                f"user_features must have shape ({n_new}, {expected}), got {user_features.shape}"
            )
    return history, user_features
