"""Growing a Dataset by a batch of new interactions, customers and products (``partial_fit``).

:func:`grow` returns the Dataset a model's ``partial_fit`` continues from: the old users and
items keep their positions, new customers and products are appended after them, and the
stored interactions of the customers in the batch are combined with their new rows the way
:meth:`Dataset.from_frames` combines repeated (user, item) rows (its ``duplicates`` policy,
recorded in ``dataset.columns["duplicates"]``; ``"sum"`` when a Dataset does not record
one). The checks are those of ``from_frames`` and :meth:`Dataset.with_new_items`: ids present
and of the catalogue's kind, weights finite and positive, feature frames with their id column
and one row per id, new products only with their features.

With the grown Dataset :func:`grow` reports what changed (:class:`Growth`): the customers and
products whose stored interactions changed (``touched``) and how many pairs were added or
changed, which the models' ``partial_fit`` hooks and refresh policy read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._frames import require_columns, require_frame
from featcf._validation import check_float32_weights, check_option
from featcf.data.dataset import (
    DUPLICATE_POLICIES,
    Dataset,
    _aggregate,
    _check_ids_present,
    _ids_of_kind,
    _timestamps,
    _weights,
)
from featcf.data.features import FeatureMatrix
from featcf.data.idmap import IdMap
from featcf.exceptions import FeatureEncodingWarning, UnknownIdError

__all__ = ["Growth", "grow"]


@dataclass(frozen=True, eq=False)
class Growth:
    """A grown Dataset and what changed from the one it grew from."""

    #: the grown Dataset (old positions unchanged, new users and items appended)
    dataset: Dataset
    #: positions (sorted, int64) of the users whose stored interactions changed
    touched_users: np.ndarray
    #: positions (sorted, int64) of the items whose stored interactions changed
    touched_items: np.ndarray
    #: customers and products registered by the batch (appended after the old ones)
    n_new_users: int
    n_new_items: int
    #: stored (user, item) pairs the batch added, and pairs already stored that it combined
    n_added: int
    n_combined: int


def grow(
    dataset: Dataset,
    interactions: pd.DataFrame,
    user_features: pd.DataFrame | None = None,
    item_features: pd.DataFrame | None = None,
) -> Growth:
    """``dataset`` with a batch of interactions and new customers / products appended.

    Parameters
    ----------
    dataset : Dataset
        Built with :meth:`Dataset.from_frames` (it records the column names).
    interactions : pandas.DataFrame
        New interactions with the Dataset's user and item columns, its weight column if it
        has one and its timestamp column if it has timestamps. Customers not in the Dataset
        are registered; products not in it need a row in ``item_features``. May be empty
        when only features are given.
    user_features : pandas.DataFrame, optional
        Rows of NEW customers (the user id column and every user field): customers known by
        their features only, or the features of new customers in ``interactions``.
    item_features : pandas.DataFrame, optional
        Rows of NEW products (the item id column and every item field).

    Returns
    -------
    Growth

    Raises
    ------
    TypeError
        A frame that is not a DataFrame, ids of another kind than the Dataset's.
    ValueError
        Missing columns or ids, bad weights or timestamps, feature rows for ids already in
        the Dataset, feature frames for a Dataset without such features, repeated pairs the
        Dataset's ``duplicates`` policy refuses.
    UnknownIdError
        Interactions with products neither in the catalogue nor in ``item_features``.
    """
    columns = dataset.columns
    user_col, item_col = columns.get("user"), columns.get("item")
    if user_col is None or item_col is None:
        raise ValueError(
            "this Dataset does not record its id column names (build it with "
            "Dataset.from_frames), so new interactions cannot be read"
        )
    frame = _interactions_frame(dataset, interactions)
    weight_col = columns.get("weight")
    time_col = columns.get("timestamp") if dataset.timestamps is not None else None
    weights = _weights(frame, weight_col)
    times = _timestamps(frame, time_col)
    grown = dataset
    if item_features is not None:
        _require_fields(dataset, "item")
        grown = dataset.with_new_items(item_features)
    items = _item_positions(grown, frame[item_col], item_col)
    old_ids = dataset.user_ids
    user_ids = _of_kind(old_ids, frame[user_col].to_numpy(), f"interactions[{user_col!r}]")
    grown, new_users = _with_new_users(grown, old_ids, user_ids, user_features, user_col)
    users = np.asarray(grown.user_index(user_ids), dtype=np.int64)
    policy = columns.get("duplicates", "sum")
    check_option(policy, "the Dataset's duplicates policy", DUPLICATE_POLICIES)
    matrix, stamps, counts = _combined(
        dataset, grown, (users, items, weights, times), policy, weight_col
    )
    grown = _rebuilt(grown, interactions=matrix, timestamps=stamps)
    return Growth(
        dataset=grown,
        touched_users=np.unique(users),
        touched_items=np.unique(items),
        n_new_users=new_users,
        n_new_items=grown.n_items - dataset.n_items,
        n_added=counts[0],
        n_combined=counts[1],
    )


def _of_kind(old_ids: np.ndarray, new_ids: np.ndarray, argument: str) -> np.ndarray:
    """``_ids_of_kind`` (the catalogue's kind, whole floats to int) without scanning a large
    catalogue in Python: a catalogue of one kind (pandas infers it in C) is represented by
    its first id."""
    if len(old_ids) > 1 and pd.api.types.infer_dtype(old_ids, skipna=False) in (
        "string",
        "integer",
    ):
        old_ids = old_ids[:1]
    return _ids_of_kind(old_ids, new_ids, argument)


def _interactions_frame(dataset: Dataset, interactions: Any) -> pd.DataFrame:
    """``interactions`` checked: a DataFrame with the Dataset's columns and ids present."""
    frame = require_frame(interactions, "interactions")
    columns = dataset.columns
    time_col = columns.get("timestamp") if dataset.timestamps is not None else None
    require_columns(
        frame, [columns["user"], columns["item"], columns.get("weight"), time_col], "interactions"
    )
    _check_ids_present(frame[columns["user"]], columns["user"], "interactions")
    _check_ids_present(frame[columns["item"]], columns["item"], "interactions")
    if time_col is not None:
        is_datetime = pd.api.types.is_datetime64_any_dtype(frame[time_col].dtype)
        if is_datetime != bool(columns.get("timestamp_is_datetime")):
            kind = "datetimes" if columns.get("timestamp_is_datetime") else "numbers"
            raise ValueError(
                f"interactions[{time_col!r}] (the Dataset's timestamp column) must hold {kind}, "
                f"as the Dataset's timestamps do, got dtype {frame[time_col].dtype}"
            )
    return frame


def _item_positions(dataset: Dataset, ids: pd.Series, item_col: str) -> np.ndarray:
    """Catalogue positions of the items of new interactions; unknown products are refused."""
    argument = f"interactions[{item_col!r}]"
    values = _of_kind(dataset.item_ids, ids.to_numpy(), argument)
    positions = np.asarray(dataset.item_index(values, strict=False), dtype=np.int64)
    if (positions < 0).any():
        unknown = pd.unique(values[positions < 0]).tolist()
        error = UnknownIdError("item", unknown, argument)
        fix = (
            "pass a row for each in item_features (the product's fields) to register new products"
            if dataset.item_encoder is not None
            else "this Dataset has no item features to register new products with, so refit "
            "on a Dataset that holds them"
        )
        error.message = (
            f"{argument} holds {len(unknown)} product id(s) not in the catalogue, e.g. "
            f"{unknown[:5]}: {fix}, or check the ids (10 and '10' are different ids)"
        )
        error.args = (error.message,)
        raise error
    return positions


def _with_new_users(
    dataset: Dataset,
    old_ids: np.ndarray,
    interaction_ids: np.ndarray,
    user_features: Any,
    user_col: str,
) -> tuple[Dataset, int]:
    """``dataset`` (whose user ids are ``old_ids``) with the customers of ``interaction_ids``
    / ``user_features`` it does not know appended (in order of first appearance, then those
    with features only)."""
    known = np.asarray(dataset.user_index(interaction_ids, strict=False), dtype=np.int64) >= 0
    new_ids = pd.unique(interaction_ids[~known])
    encoded = rows = None
    if user_features is not None:
        _require_fields(dataset, "user")
        encoded = dataset.encode_users(user_features)
        argument = f"user_features[{user_col!r}]"
        feature_ids = _of_kind(old_ids, np.asarray(encoded.ids), argument)
        clash = feature_ids[np.asarray(dataset.user_index(feature_ids, strict=False)) >= 0]
        if len(clash):
            raise ValueError(
                f"user_features holds {len(clash)} id(s) of customers already in the Dataset, "
                f"e.g. {clash[:5].tolist()}; partial_fit registers new customers, the features "
                f"of known customers stay as they are until the next fit"
            )
        new_ids = np.concatenate([new_ids, feature_ids[~pd.Index(feature_ids).isin(new_ids)]])
        rows = pd.Index(feature_ids)
    n_new = len(new_ids)
    if n_new == 0:
        return dataset, 0
    same_kind = old_ids.dtype.kind in "iu" and np.asarray(new_ids).dtype.kind in "iu"
    user_map = IdMap(
        np.concatenate([old_ids, new_ids])
        if same_kind
        else np.concatenate([old_ids.astype(object), np.asarray(new_ids).astype(object)]),
        kind="user",
    )
    features, frame = dataset.user_features, dataset.user_frame
    if features is not None:
        block = sp.csr_matrix((n_new, features.n_columns), dtype=np.float32)
        if encoded is not None:
            where = rows.get_indexer(pd.Index(new_ids))
            has = where >= 0
            place = sp.csr_matrix(
                (np.ones(int(has.sum()), np.float32), (np.flatnonzero(has), where[has])),
                shape=(n_new, len(rows)),
            )
            block = sp.csr_matrix(place @ encoded.matrix, dtype=np.float32)
        missing = n_new - (0 if encoded is None else int((rows.get_indexer(new_ids) >= 0).sum()))
        if missing:
            warnings.warn(
                f"{missing} new customer(s) in interactions have no row in user_features "
                f"(e.g. {list(new_ids[:3])}); their features are all zero",
                FeatureEncodingWarning,
                stacklevel=4,
            )
        matrix = sp.csr_matrix(sp.vstack([features.matrix, block]), dtype=np.float32)
        matrix.sort_indices()
        features = FeatureMatrix(matrix=matrix, fields=features.fields, ids=user_map.ids)
    if frame is not None:
        new_index = pd.Index(new_ids, name=frame.index.name)
        if user_features is not None:
            given = user_features.set_index(user_col)
            given.index = rows  # of the Dataset's kind
            added = given.reindex(new_index)[frame.columns.intersection(given.columns)]
        else:
            added = pd.DataFrame(index=new_index, columns=frame.columns)
        frame = pd.concat([frame, added])
    interactions = sp.csr_matrix(
        (dataset.interactions.data, dataset.interactions.indices, _padded(dataset, n_new)),
        shape=(len(user_map), dataset.n_items),
    )
    grown = _rebuilt(
        dataset,
        user_map=user_map,
        interactions=interactions,
        user_features=features,
        user_frame=frame,
    )
    return grown, n_new


def _require_fields(dataset: Dataset, side: str) -> None:
    """Refuse ``<side>_features`` rows for a Dataset without such features."""
    encoder = dataset.item_encoder if side == "item" else dataset.user_encoder
    if encoder is None:
        who = "products" if side == "item" else "customers"
        raise ValueError(
            f"{side}_features is given but this Dataset has no {side} features: its {who} "
            f"have no fields to encode new ones with"
        )


def _rebuilt(dataset: Dataset, **parts: Any) -> Dataset:
    """A Dataset of ``dataset``'s parts with ``parts`` (constructor arguments) replaced."""
    own = {
        "user_map": dataset.user_map,
        "item_map": dataset.item_map,
        "interactions": dataset.interactions,
        "timestamps": dataset.timestamps,
        "item_features": dataset.item_features,
        "user_features": dataset.user_features,
        "item_encoder": dataset.item_encoder,
        "user_encoder": dataset.user_encoder,
        "item_frame": dataset.item_frame,
        "user_frame": dataset.user_frame,
        "columns": dataset.columns,
    }
    return Dataset(**{**own, **parts})


def _padded(dataset: Dataset, n_new: int) -> np.ndarray:
    indptr = dataset.interactions.indptr
    return np.concatenate([indptr, np.full(n_new, indptr[-1], dtype=indptr.dtype)])


def _combined(
    old: Dataset,
    grown: Dataset,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
    policy: str,
    weight_col: str | None,
) -> tuple[sp.csr_matrix, np.ndarray | None, tuple[int, int]]:
    """The grown interaction matrix (and timestamps): the stored rows of the users of the
    batch combined with its ``rows`` (users, items, weights, times) by ``policy``, exactly
    as ``from_frames`` combines the rows of the stored pairs followed by the batch's."""
    users, items, weights, times = rows
    X = old.interactions
    n_users, n_items = grown.n_users, grown.n_items
    touched = np.unique(users)
    old_touched = touched[touched < old.n_users]
    starts, stops = X.indptr[old_touched], X.indptr[old_touched + 1]
    entries = _ranges(starts, stops)
    old_u = np.repeat(old_touched, stops - starts)
    old_i = X.indices[entries].astype(np.int64)
    _check_repeats(policy, (old_u, old_i), (users, items), grown)
    both_t = None
    if times is not None:
        both_t = np.concatenate([old.timestamps[entries], times])
    u, i, w, t = _aggregate(
        np.concatenate([old_u, users]),
        np.concatenate([old_i, items]),
        np.concatenate([X.data[entries].astype(np.float64), weights]),
        both_t,
        policy,
        _Ids(grown.user_map),
        _Ids(grown.item_map),
    )
    if weight_col is not None and len(w) < len(old_u) + len(users):
        name = f"interactions[{weight_col!r}] (weight_col) combined with the stored weights"
        check_float32_weights(w, f"{name} by duplicates={policy!r}", total=True)
    counts = np.zeros(n_users, dtype=np.int64)
    counts[: old.n_users] = np.diff(X.indptr)
    counts[touched] = np.bincount(u, minlength=n_users)[touched]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    keep_rows = np.ones(old.n_users, dtype=bool)
    keep_rows[old_touched] = False
    kept = _ranges(X.indptr[:-1][keep_rows], X.indptr[1:][keep_rows])
    kept_rows = np.repeat(np.flatnonzero(keep_rows), np.diff(X.indptr)[keep_rows])
    dest_kept = indptr[kept_rows] + (kept - X.indptr[kept_rows])
    group_start = np.searchsorted(u, u, side="left")
    dest_new = indptr[u] + (np.arange(len(u)) - group_start)
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float32)
    indices[dest_kept], indices[dest_new] = X.indices[kept], i
    data[dest_kept], data[dest_new] = X.data[kept], w
    stamps = None
    if old.timestamps is not None:
        stamps = np.empty(nnz, dtype=np.float64)
        stamps[dest_kept], stamps[dest_new] = old.timestamps[kept], t
    index_dtype = np.int64 if nnz > 2**31 - 1 else np.int32
    matrix = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(n_users, n_items))
    n_combined = len(old_u) + len(users) - len(u)
    return matrix, stamps, (len(u) - len(old_u), n_combined)


class _Ids:
    """External ids by position, converted only when read (``_aggregate``'s messages)."""

    def __init__(self, id_map: IdMap) -> None:
        self.id_map = id_map

    def __getitem__(self, position: Any) -> Any:
        return self.id_map.to_ids([position])[0]


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(start, stop)`` for each pair (int64)."""
    lengths = (stops - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts.astype(np.int64) - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


def _check_repeats(
    policy: str,
    stored: tuple[np.ndarray, np.ndarray],
    batch: tuple[np.ndarray, np.ndarray],
    dataset: Dataset,
) -> None:
    """Refuse pairs already stored that ``policy`` cannot combine with the stored weight."""
    if policy not in ("mean", "error") or len(stored[0]) == 0:
        return
    n_items = np.int64(dataset.n_items)
    repeated = np.isin(batch[0] * n_items + batch[1], stored[0] * n_items + stored[1])
    if not repeated.any():
        return
    pairs = [
        (dataset.user_ids[u], dataset.item_ids[i])
        for u, i in zip(batch[0][repeated][:3], batch[1][repeated][:3], strict=True)
    ]
    why = (
        "refuses repeated pairs"
        if policy == "error"
        else "keeps only each pair's mean, not how many rows it averaged, so it cannot add one"
    )
    raise ValueError(
        f"interactions holds {int(repeated.sum())} (user, item) pair(s) the Dataset already "
        f"stores, e.g. {pairs}; the Dataset was built with duplicates={policy!r}, which {why}: "
        f"leave those rows out, or refit on a Dataset built from all the rows"
    )
