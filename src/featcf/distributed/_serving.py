"""A fitted model's recommendations and audiences, scored partition by partition on Dask."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from featcf._validation import check_positive_int
from featcf.columns import Columns
from featcf.distributed._cluster import client_for, one_thread
from featcf.exceptions import NotFittedError
from featcf.models.base import BaseRecommender
from featcf.similarity import topn_dense

__all__ = ["recommend", "recommend_users"]

#: partitions per worker when ``partition_size`` is not given (a lost worker costs a quarter)
PARTITIONS_PER_WORKER = 4


def _check_model(model: Any) -> Any:
    if not isinstance(model, BaseRecommender):
        raise TypeError(
            f"model must be a fitted featcf model (FeatureCF, ItemKNN, ...), got "
            f"{type(model).__name__}"
        )
    dataset = getattr(model, "dataset_", None)
    if dataset is None:
        raise NotFittedError(
            f"This {type(model).__name__} is not fitted yet: call fit(dataset) first."
        )
    return dataset


def _partitions(n: int, partition_size: int | None, n_workers: int) -> list[slice]:
    if partition_size is None:
        partition_size = max(1, -(-n // (PARTITIONS_PER_WORKER * n_workers)))
    size = check_positive_int(partition_size, "partition_size")
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _n_workers(client: Any) -> int:
    return max(1, len(client.scheduler_info()["workers"]))


def _recommend_part(model: Any, user_ids: list, n: int, options: dict[str, Any]) -> pd.DataFrame:
    return one_thread(model.recommend, user_ids, n, **options)


def recommend(
    model: Any,
    user_ids: Any,
    n: int = 10,
    *,
    client: Any = None,
    partition_size: int | None = None,
    **options: Any,
) -> pd.DataFrame:
    """``model.recommend(user_ids, n, **options)`` with the customers spread over a cluster.

    The fitted model is sent to every worker once (``Client.scatter(..., broadcast=True)``);
    each task ranks one partition of ``user_ids`` with the model's own ``recommend`` (numba
    on one thread) and the partitions' frames are concatenated in order, so the result equals
    the model's own call.

    Parameters
    ----------
    model : fitted featcf model
        Any featcf model (it is pickled to the workers).
    user_ids : array-like
        External ids of the customers, as for ``model.recommend``.
    n : int, default 10
        Items per customer.
    client : dask.distributed.Client, optional
        The cluster (``Client("tcp://scheduler:8786")``); None starts a LocalCluster sized to
        this machine and closes it afterwards.
    partition_size : int, optional
        Customers per task; default: the ids split into four partitions per worker.
    **options
        Passed to ``model.recommend`` (``exclude_seen``, ``items``, ``on_unknown``,
        ``reasons``).

    Returns
    -------
    pandas.DataFrame
        As ``model.recommend``: ``user_id, item_id, score, rank`` (and what ``options`` add).

    Raises
    ------
    ImportError
        If Dask is not installed (``pip install 'featcf[dask]'``).
    NotFittedError
        If the model is not fitted.
    """
    _check_model(model)
    n = check_positive_int(n, "n")
    ids = list([user_ids] if np.ndim(user_ids) == 0 else user_ids)
    with client_for(client) as cl:
        shared = cl.scatter(model, broadcast=True, hash=False)
        parts = [
            cl.submit(_recommend_part, shared, ids[rows], n, options, pure=False)
            for rows in _partitions(len(ids), partition_size, _n_workers(cl))
        ]
        frames = cl.gather(parts)
    if not frames:
        return one_thread(model.recommend, ids, n, **options)
    return pd.concat(frames, ignore_index=True)


def _audience_part(
    model: Any, items: np.ndarray, users: slice, n: int, exclude_seen: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` users of ``users`` for each item: (user positions -1 padded, scores)."""
    positions = np.arange(users.start, users.stop)
    scores = one_thread(model.score_users, positions, items, across="users")
    seen = None
    if exclude_seen:
        seen = model.dataset_.interactions[users][:, items].T.tocsr()
    idx, values = topn_dense(
        np.ascontiguousarray(scores.T), min(n, len(positions)), exclude=seen, n_threads=1
    )
    return np.where(idx >= 0, idx.astype(np.int64) + users.start, -1), values


def _merge_audiences(
    parts: list[tuple[np.ndarray, np.ndarray]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the top ``n`` of the partitions' lists: score descending, ties by user
    position ascending (the model's own order)."""
    idx = np.concatenate([p[0] for p in parts], axis=1)
    score = np.concatenate([p[1] for p in parts], axis=1)
    valid = idx >= 0
    key = np.where(valid, score.astype(np.float64), -np.inf)
    order = np.lexsort((np.where(valid, idx, np.iinfo(np.int64).max), -key), axis=-1)[:, :n]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(score, order, axis=1)


def recommend_users(
    model: Any,
    item_ids: Any,
    n: int | None = 100,
    *,
    client: Any = None,
    exclude_seen: bool = True,
    partition_size: int | None = None,
) -> pd.DataFrame:
    """``model.recommend_users(item_ids, n)``, the customers scored partition by partition.

    The fitted model is sent to every worker once; each task scores one partition of the
    fitted customers with ``model.score_users`` and keeps its top ``n`` per product; the
    partitions' lists are merged into each product's top ``n`` (score descending, ties by
    the customers' order in the Dataset, as the model does).

    Parameters
    ----------
    model : fitted featcf model
    item_ids : scalar or array-like
        External ids of products in the fitted catalogue.
    n : int or None, default 100
        Customers per product; None ranks every customer.
    client : dask.distributed.Client, optional
        As in :func:`recommend`.
    exclude_seen : bool, default True
        Leave out customers who already have the product.
    partition_size : int, optional
        Customers per task; default: the customers split into four partitions per worker.

    Returns
    -------
    pandas.DataFrame
        ``item_id, user_id, score, rank``, as ``model.recommend_users``.

    Raises
    ------
    ImportError
        If Dask is not installed.
    NotFittedError
        If the model is not fitted.
    UnknownIdError
        If an item id is not in the fitted catalogue.
    UnsupportedProtocolError
        If the model cannot score some fitted customers (e.g. customers without interactions
        for a model that does not use customer features: ``score_users`` refuses them).

    Notes
    -----
    ``reasons=True`` is not offered here: ask ``model.recommend_users`` (or ``model.explain``)
    for the few customers whose reasons you show.
    """
    dataset = _check_model(model)
    n_users = dataset.n_users
    n = n_users if n is None else check_positive_int(n, "n")
    query = np.asarray([item_ids] if np.ndim(item_ids) == 0 else list(item_ids), dtype=object)
    items = np.asarray(dataset.item_index(query), dtype=np.int64)
    with client_for(client) as cl:
        shared = cl.scatter(model, broadcast=True, hash=False)
        parts = [
            cl.submit(_audience_part, shared, items, rows, n, bool(exclude_seen), pure=False)
            for rows in _partitions(n_users, partition_size, _n_workers(cl))
        ]
        lists = cl.gather(parts)
    idx, score = _merge_audiences(lists, n)
    valid = idx >= 0
    counts = valid.sum(axis=1)
    return pd.DataFrame(
        {
            Columns.ITEM: np.repeat(query, counts),
            Columns.USER: dataset.user_ids[idx[valid]],
            Columns.SCORE: score[valid].astype(np.float64),
            Columns.RANK: np.cumsum(valid, axis=1)[valid].astype(np.int64),
        }
    )
