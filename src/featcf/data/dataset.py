"""The Dataset every featcf model takes: ids, interactions and attribute fields."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._frames import require_columns, require_frame
from featcf._validation import (
    check_bool,
    check_float32_weights,
    check_option,
    check_positive_int,
)
from featcf.data.features import FeatureEncoder, FeatureMatrix, FieldSpec
from featcf.data.idmap import IdMap
from featcf.exceptions import FeatureEncodingWarning

__all__ = ["DUPLICATE_POLICIES", "Dataset"]

DUPLICATE_POLICIES = ("sum", "mean", "max", "last", "first", "error")
FieldSpecs = Mapping[str, "str | FieldSpec | Mapping[str, Any]"]


def _check_ids_present(values: pd.Series, column: str, argument: str) -> None:
    missing = values.isna().to_numpy()
    if missing.any():
        rows = values.index[missing][:5].tolist()
        raise ValueError(
            f"{argument}[{column!r}] holds {int(missing.sum())} missing (NaN/None) id(s), "
            f"e.g. at rows {rows}; every row needs an id"
        )


def _weights(frame: pd.DataFrame, weight_col: str | None) -> np.ndarray:
    if weight_col is None:
        return np.ones(len(frame), dtype=np.float64)
    column = frame[weight_col]
    if not (
        pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    ):
        raise ValueError(
            f"interactions[{weight_col!r}] (weight_col) must be numeric, got dtype {column.dtype}"
        )
    w = column.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(
            f"interactions[{weight_col!r}] (weight_col) holds {int(bad.sum())} NaN or infinite "
            f"value(s), e.g. at rows {column.index[bad][:5].tolist()}"
        )
    if (w < 0).any():
        raise ValueError(
            f"interactions[{weight_col!r}] (weight_col) holds {int((w < 0).sum())} negative "
            f"value(s), e.g. at rows {column.index[w < 0][:5].tolist()}; weights must be > 0"
        )
    if (w == 0).any():
        raise ValueError(
            f"interactions[{weight_col!r}] (weight_col) holds {int((w == 0).sum())} zero "
            f"value(s), e.g. at rows {column.index[w == 0][:5].tolist()}; a zero weight is not an "
            f"interaction: filter those rows out first"
        )
    check_float32_weights(w, f"interactions[{weight_col!r}] (weight_col)", column.index)
    return w


def _timestamps(frame: pd.DataFrame, timestamp_col: str | None) -> np.ndarray | None:
    if timestamp_col is None:
        return None
    column = frame[timestamp_col]
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.astype("datetime64[ns]")
        out = values.astype("int64").to_numpy(dtype=np.float64) / 1e9
        out[values.isna().to_numpy()] = np.nan
    elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    ):
        out = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raise ValueError(
            f"interactions[{timestamp_col!r}] (timestamp_col) must be numeric or datetime, "
            f"got dtype {column.dtype}"
        )
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"interactions[{timestamp_col!r}] (timestamp_col) holds {int(bad.sum())} missing or "
            f"non-finite value(s), e.g. at rows {column.index[bad][:5].tolist()}"
        )
    return out


def _feature_frame(frame: Any, id_col: str, argument: str) -> pd.DataFrame:
    frame = require_frame(frame, argument)
    if id_col not in frame.columns:
        raise ValueError(
            f"{argument} has no id column {id_col!r} (the same name as in interactions); "
            f"it has {list(frame.columns)}"
        )
    _check_ids_present(frame[id_col], id_col, argument)
    dup = frame[id_col].duplicated()
    if dup.any():
        raise ValueError(
            f"{argument}[{id_col!r}] has {int(dup.sum())} duplicated id(s), e.g. "
            f"{frame.loc[dup, id_col].head(5).tolist()}; each row must describe one entity"
        )
    return frame


#: ``pandas.api.types.infer_dtype`` names -> the kind of id a column holds
_ID_KINDS = {
    "integer": "int",
    "string": "str",
    "floating": "float",
    "mixed-integer-float": "float",
    "boolean": "bool",
}
_CASTS = {"int": ".astype('int64')", "str": ".astype(str)"}


def _id_kind(ids: pd.Series) -> str:
    """``"int"``, ``"str"``, ``"float"``, ``"bool"`` or pandas' name for anything else."""
    values = ids.cat.categories if isinstance(ids.dtype, pd.CategoricalDtype) else ids
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    return _ID_KINDS.get(inferred, inferred)


def _check_id_hygiene(
    interaction_ids: pd.Series,
    feature_ids: pd.Series | None,
    column: str,
    kind: str,
    allow_mostly_cold: bool,
) -> None:
    """Refuse id columns that would silently build a wrong Dataset (one side, users or items).

    - float ids that are all whole numbers (``1.0``): cast them to int;
    - a feature table whose ids are of another kind than the interactions' (int vs str):
      no row would match;
    - a feature table of which fewer than half the ids appear in the interactions (most of
      its rows would become cold entities), unless ``allow_mostly_cold``.
    """
    feature_arg = f"{kind}_features[{column!r}]"
    columns = [(f"interactions[{column!r}]", interaction_ids)]
    if feature_ids is not None:
        columns.append((feature_arg, feature_ids))
    kinds = [_id_kind(ids) for _, ids in columns]
    for (name, ids), id_kind in zip(columns, kinds, strict=True):
        values = ids.to_numpy(dtype=np.float64) if id_kind == "float" else None
        if values is not None and np.array_equal(values, np.round(values)):
            raise ValueError(
                f"{name} holds float ids that are whole numbers, e.g. "
                f"{pd.unique(values)[:3].tolist()} (an int column becomes float when it held a "
                f"missing value, e.g. after a merge); ids are labels, so cast the column "
                f"first: {name} = {name}.astype('int64')"
            )
    if feature_ids is None:
        return
    own, theirs = kinds
    if own != theirs and {own, theirs} <= {"int", "str"}:
        raise ValueError(
            f"{feature_arg} holds {theirs} ids but interactions[{column!r}] holds {own} ids "
            f"(e.g. {feature_ids.iloc[:1].tolist()} vs {interaction_ids.iloc[:1].tolist()}), so "
            f"no row of {kind}_features matches a {kind} of the interactions: convert one "
            f"side, e.g. {feature_arg} = {feature_arg}{_CASTS[own]}"
        )
    matched = feature_ids.isin(interaction_ids).to_numpy()
    n_matched, n_rows = int(matched.sum()), len(feature_ids)
    if allow_mostly_cold or 2 * n_matched >= n_rows:
        return
    known = pd.Index(pd.unique(interaction_ids.to_numpy()))
    featureless = known[~known.isin(feature_ids)]
    example = "a whole catalogue" if kind == "item" else "every registered customer"
    raise ValueError(
        f"{feature_arg} shares only {n_matched} of its {n_rows} ids ({n_matched / n_rows:.0%}) "
        f"with interactions[{column!r}]: the other {n_rows - n_matched} (e.g. "
        f"{feature_ids[~matched].head(3).tolist()}) would become {kind}s without interactions, "
        f"and {len(featureless)} of the {len(known)} {kind}s of the interactions (e.g. "
        f"{featureless[:3].tolist()}) would have no features. Check that both columns hold the "
        f"same ids (same spelling, prefixes, padding, no stray spaces); if {kind}_features "
        f"really lists mostly {kind}s without interactions ({example}, say), pass "
        f"allow_mostly_cold_{kind}s=True"
    )


def _union_ids(primary: pd.Series, secondary: pd.Series | None) -> pd.Index:
    """Ids of ``primary`` in order of first appearance, then the ones only in ``secondary``."""
    ids = pd.Index(pd.unique(primary.to_numpy()))
    if secondary is not None:
        extra = pd.Index(pd.unique(secondary.to_numpy()))
        ids = ids.append(extra[~extra.isin(ids)])
    return ids


def _aggregate(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    weights: np.ndarray,
    timestamps: np.ndarray | None,
    duplicates: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Sort interactions by (user, item) and resolve repeated pairs by the ``duplicates`` policy."""
    # Stable order: by time when known (for "first"/"last"), else by row order.
    order = np.lexsort(
        (timestamps if timestamps is not None else np.arange(len(user_idx)), item_idx, user_idx)
    )
    u, i, w = user_idx[order], item_idx[order], weights[order]
    t = timestamps[order] if timestamps is not None else None
    new_pair = np.ones(len(u), dtype=bool)
    new_pair[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    if new_pair.all():
        return u, i, w, t
    if duplicates == "error":
        dup_rows = np.flatnonzero(~new_pair)[:5]
        pairs = [(user_ids[u[r]], item_ids[i[r]]) for r in dup_rows]
        raise ValueError(
            f"interactions hold {int((~new_pair).sum())} repeated (user, item) row(s), e.g. "
            f"{pairs}; duplicates='error' refuses them (use 'sum', 'mean', 'max', 'first' or 'last')"
        )
    starts = np.flatnonzero(new_pair)
    group = np.cumsum(new_pair) - 1
    if duplicates == "sum":
        agg = np.bincount(group, weights=w)
    elif duplicates == "mean":
        agg = np.bincount(group, weights=w) / np.bincount(group)
    elif duplicates == "max":
        agg = np.maximum.reduceat(w, starts)
    elif duplicates == "first":
        agg = w[starts]
    else:  # last
        agg = w[np.append(starts[1:], len(w)) - 1]
    if t is None:
        t_agg = None
    elif duplicates == "first":
        t_agg = t[starts]
    else:  # the latest time a pair was seen
        t_agg = np.maximum.reduceat(t, starts)
    return u[starts], i[starts], agg, t_agg


def _id_kinds(ids: np.ndarray) -> dict[str, Any]:
    """The kinds of ``ids`` ("integer", "string", or a type name) with an example of each."""
    if ids.dtype.kind in "iu":
        return {"integer": ids[0].item()} if len(ids) else {}
    if ids.dtype.kind == "U":
        return {"string": str(ids[0])} if len(ids) else {}
    kinds: dict[str, Any] = {}
    for value in ids:
        if isinstance(value, (bool, np.bool_)):
            kind = "boolean"
        elif isinstance(value, (int, np.integer)):
            kind = "integer"
        elif isinstance(value, str):
            kind = "string"
        else:
            kind = type(value).__name__
        kinds.setdefault(kind, value.item() if isinstance(value, np.generic) else value)
    return kinds


def _ids_of_kind(old_ids: np.ndarray, new_ids: np.ndarray, argument: str) -> np.ndarray:
    """``new_ids`` of the kind of ``old_ids``; ``TypeError`` for another kind.

    10 and '10' are different ids, and a catalogue of mixed kinds cannot be saved. Whole
    numbers stored as floats (a pandas column of ids turned float: 40.0) join an integer
    catalogue as integers (the same ids: 40.0 == 40).
    """
    if (
        old_ids.dtype.kind in "iu"
        and new_ids.dtype.kind == "f"
        and np.isfinite(new_ids).all()
        and np.array_equal(new_ids, np.round(new_ids))
        and np.abs(new_ids).max(initial=0) < 2**53
    ):
        new_ids = new_ids.astype(np.int64)
    _check_same_id_kind(old_ids, new_ids, argument)
    return new_ids


def _check_same_id_kind(old_ids: np.ndarray, new_ids: np.ndarray, argument: str) -> None:
    """Refuse new ids of a kind the existing ids do not have (10 and '10' are different ids)."""
    old, new = _id_kinds(old_ids), _id_kinds(new_ids)
    other = [kind for kind in new if kind not in old]
    if other:
        kind = other[0]
        cast = {"string": "astype(str)", "integer": "astype(int)"}.get(next(iter(old)), "")
        advice = f" (e.g. {argument}.{cast})" if cast else ""
        raise TypeError(
            f"{argument} holds {kind} id(s), e.g. {new[kind]!r}, but the catalogue's ids are "
            f"{' and '.join(f'{k}s' for k in old)} (e.g. {next(iter(old.values()))!r}); 10 and "
            f"'10' are different ids, and a catalogue of mixed id kinds cannot be saved: convert "
            f"the new ids to the catalogue's kind first{advice}"
        )


class Dataset:
    """Users, items, their interactions and their attribute fields.

    Build one with :meth:`from_frames`. Internally users and items are positions
    ``0..n-1``; :meth:`user_index` / :meth:`item_index` convert external ids, which may be any
    hashable (ints, strings). A Dataset is treated as immutable: methods that change it
    (:meth:`with_interactions`) return a new one that shares the catalogue.

    Attributes
    ----------
    interactions : scipy.sparse.csr_matrix of shape (n_users, n_items), float32
        Interaction weights (ratings, counts, 1.0 for implicit data), user x item as in
        ``implicit``; canonical (sorted indices, no duplicates).
    timestamps : numpy.ndarray of shape (nnz,) or None
        Seconds of each stored interaction, aligned with ``interactions.data``.
    item_features, user_features : FeatureMatrix or None
        Encoded attribute fields, one row per item / user in internal order. Entities without
        a feature row have all-zero rows.
    item_frame, user_frame : pandas.DataFrame or None
        The raw feature frames indexed by external id (for display, e.g. titles).

    Examples
    --------
    >>> import pandas as pd
    >>> inter = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["sku-10", "sku-20", "sku-10"]})
    >>> items = pd.DataFrame({"item": ["sku-10", "sku-20", "sku-30"],
    ...                       "category": ["car", "home", "travel"]})
    >>> ds = Dataset.from_frames(inter, items, user_col="user", item_col="item")
    >>> ds.n_users, ds.n_items
    (2, 3)
    >>> ds.item_index(["sku-30"]).tolist()
    [2]
    >>> ds.item_features.fields["category"].values
    ('car', 'home', 'travel')
    """

    def __init__(
        self,
        *,
        user_map: IdMap,
        item_map: IdMap,
        interactions: sp.csr_matrix,
        timestamps: np.ndarray | None = None,
        item_features: FeatureMatrix | None = None,
        user_features: FeatureMatrix | None = None,
        item_encoder: FeatureEncoder | None = None,
        user_encoder: FeatureEncoder | None = None,
        item_frame: pd.DataFrame | None = None,
        user_frame: pd.DataFrame | None = None,
        columns: Mapping[str, Any] | None = None,
    ) -> None:
        if interactions.shape != (len(user_map), len(item_map)):
            raise ValueError(
                f"interactions has shape {interactions.shape}, expected "
                f"({len(user_map)}, {len(item_map)}) (n_users, n_items)"
            )
        if timestamps is not None and len(timestamps) != interactions.nnz:
            raise ValueError("timestamps must align with interactions.data")
        self._user_map = user_map
        self._item_map = item_map
        self.interactions = interactions
        self.timestamps = timestamps
        self.item_features = item_features
        self.user_features = user_features
        self._item_encoder = item_encoder
        self._user_encoder = user_encoder
        self.item_frame = item_frame
        self.user_frame = user_frame
        self.columns = dict(columns or {})

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        item_features: pd.DataFrame | None = None,
        user_features: pd.DataFrame | None = None,
        *,
        user_col: str,
        item_col: str,
        weight_col: str | None = None,
        timestamp_col: str | None = None,
        item_fields: FieldSpecs | None = None,
        user_fields: FieldSpecs | None = None,
        duplicates: str = "sum",
        sep: str = "|",
        n_bins: int = 5,
        allow_mostly_cold_items: bool = False,
        allow_mostly_cold_users: bool = False,
    ) -> Dataset:
        """Build a Dataset from an interactions frame and optional feature frames.

        Parameters
        ----------
        interactions : pandas.DataFrame
            One row per interaction with columns ``user_col``, ``item_col`` and optionally
            ``weight_col`` (a rating or count, > 0) and ``timestamp_col`` (numeric or datetime).
        item_features : pandas.DataFrame, optional
            One row per product: the ``item_col`` id and one column per attribute. Products
            listed here without interactions are real, cold items of the catalogue.
        user_features : pandas.DataFrame, optional
            One row per customer: the ``user_col`` id and demographic columns.
        user_col, item_col : str
            Id columns (the same names in the feature frames).
        weight_col : str, optional
            Interaction weight column; every interaction weighs 1.0 when omitted.
        timestamp_col : str, optional
            Interaction time column (kept for temporal splits).
        item_fields, user_fields : mapping, optional
            ``{column: kind}`` with kind ``"categorical"``, ``"multi"``, ``"numeric"`` or
            ``"ignore"``, or ``{column: FieldSpec(...)}``. Columns not listed get a kind
            inferred from their dtype (numbers -> numeric bands, text -> categorical,
            list values -> multi).
        duplicates : {"sum", "mean", "max", "first", "last", "error"}, default "sum"
            What to do with repeated (user, item) rows. ``first``/``last`` follow
            ``timestamp_col`` when given, else row order.
        sep : str, default "|"
            Separator of multi-valued string columns.
        n_bins : int, default 5
            Number of quantile bands of numeric fields.
        allow_mostly_cold_items, allow_mostly_cold_users : bool, default False
            Accept an ``item_features`` / ``user_features`` table of which fewer than half
            the ids appear in ``interactions`` (e.g. a whole catalogue of which a few
            products have sold). By default such a table is refused, because it usually
            means the two id columns do not hold the same ids (``"sku-10"`` vs ``"10"``).

        Returns
        -------
        Dataset

        Raises
        ------
        TypeError
            If a frame argument is not a DataFrame.
        ValueError
            Missing columns, missing ids, non-finite / negative / zero weights, repeated pairs
            with ``duplicates="error"``, empty interactions, feature frames without the id
            column or with repeated ids, field specs naming missing columns. The message names
            the argument and column.

            Ids that would silently build a wrong Dataset: float ids that are whole numbers
            (``1.0``; cast the column to int), a feature table whose ids are of another kind
            than the interactions' (int vs str), and a feature table of which fewer than half
            the ids appear in the interactions (unless ``allow_mostly_cold_items`` /
            ``allow_mostly_cold_users``). The message says how to fix it.
        """
        interactions = require_frame(interactions, "interactions")
        for name, value in (("user_col", user_col), ("item_col", item_col)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a column name (str), got {value!r}")
        check_option(duplicates, "duplicates", DUPLICATE_POLICIES)
        n_bins = check_positive_int(n_bins, "n_bins")
        if not isinstance(sep, str) or not sep:
            raise ValueError(f"sep must be a non-empty string, got {sep!r}")
        require_columns(
            interactions, [user_col, item_col, weight_col, timestamp_col], "interactions"
        )
        if len(interactions) == 0:
            raise ValueError("interactions is empty: a Dataset needs at least one interaction")
        _check_ids_present(interactions[user_col], user_col, "interactions")
        _check_ids_present(interactions[item_col], item_col, "interactions")
        weights = _weights(interactions, weight_col)
        times = _timestamps(interactions, timestamp_col)

        if item_features is not None:
            item_features = _feature_frame(item_features, item_col, "item_features")
        elif item_fields:
            raise ValueError("item_fields is given but item_features is None")
        if user_features is not None:
            user_features = _feature_frame(user_features, user_col, "user_features")
        elif user_fields:
            raise ValueError("user_fields is given but user_features is None")
        for frame, column, kind, allow in (
            (user_features, user_col, "user", allow_mostly_cold_users),
            (item_features, item_col, "item", allow_mostly_cold_items),
        ):
            _check_id_hygiene(
                interactions[column],
                None if frame is None else frame[column],
                column,
                kind,
                check_bool(allow, f"allow_mostly_cold_{kind}s"),
            )

        user_map = IdMap(
            _union_ids(
                interactions[user_col], None if user_features is None else user_features[user_col]
            ),
            kind="user",
        )
        item_map = IdMap(
            _union_ids(
                interactions[item_col], None if item_features is None else item_features[item_col]
            ),
            kind="item",
        )
        u = np.asarray(user_map.to_index(interactions[user_col].to_numpy()), dtype=np.int64)
        i = np.asarray(item_map.to_index(interactions[item_col].to_numpy()), dtype=np.int64)
        u, i, w, t = _aggregate(u, i, weights, times, duplicates, user_map.ids, item_map.ids)
        if weight_col is not None:  # repeated pairs summed past float32's range, the total
            name = f"interactions[{weight_col!r}] (weight_col)"
            if len(w) < len(weights):
                name += f" with repeated pairs combined by duplicates={duplicates!r}"
            check_float32_weights(w, name, total=True)
        indptr = np.zeros(len(user_map) + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=len(user_map)), out=indptr[1:])
        matrix = sp.csr_matrix(
            (w.astype(np.float32), i.astype(np.int32), indptr.astype(np.int32)),
            shape=(len(user_map), len(item_map)),
        )

        item_encoder, item_matrix, item_frame = cls._encode_features(
            item_features, item_col, item_fields, sep, n_bins, item_map, "item"
        )
        user_encoder, user_matrix, user_frame = cls._encode_features(
            user_features, user_col, user_fields, sep, n_bins, user_map, "user"
        )
        return cls(
            user_map=user_map,
            item_map=item_map,
            interactions=matrix,
            timestamps=t,
            item_features=item_matrix,
            user_features=user_matrix,
            item_encoder=item_encoder,
            user_encoder=user_encoder,
            item_frame=item_frame,
            user_frame=user_frame,
            columns={
                "user": user_col,
                "item": item_col,
                "weight": weight_col,
                "timestamp": timestamp_col,
                "timestamp_is_datetime": timestamp_col is not None
                and pd.api.types.is_datetime64_any_dtype(interactions[timestamp_col].dtype),
                "duplicates": duplicates,  # how partial_fit combines repeated pairs
            },
        )

    @staticmethod
    def _encode_features(
        frame: pd.DataFrame | None,
        id_col: str,
        fields: Any,
        sep: str,
        n_bins: int,
        id_map: IdMap,
        kind: str,
    ) -> tuple[FeatureEncoder | None, FeatureMatrix | None, pd.DataFrame | None]:
        """Fit the ``kind`` fields on ``frame``, encode it and lay its rows out in ``id_map``
        order (zeros where absent); three Nones without a frame."""
        if frame is None:
            return None, None, None
        encoder = FeatureEncoder(id_col, fields, sep, n_bins, f"{kind}_features")
        encoder.fit(frame)
        encoded = encoder.transform(frame)
        rows = np.asarray(id_map.to_index(frame[id_col].to_numpy()), dtype=np.int64)
        n = len(id_map)
        absent = n - len(rows)
        if absent:
            warnings.warn(
                f"{absent} {kind}(s) in interactions have no row in {kind}_features; their "
                f"features are all zero (check that the id types match, e.g. 10 vs '10')",
                FeatureEncodingWarning,
                stacklevel=3,
            )
        placement = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, np.arange(len(rows)))),
            shape=(n, len(rows)),
        )
        matrix = sp.csr_matrix(placement @ encoded.matrix, dtype=np.float32)
        matrix.sort_indices()
        raw = frame.set_index(id_col).reindex(pd.Index(id_map.ids, name=id_col))
        return encoder, FeatureMatrix(matrix=matrix, fields=encoded.fields, ids=id_map.ids), raw

    def with_interactions(
        self, interactions: sp.spmatrix, timestamps: np.ndarray | None = None
    ) -> Dataset:
        """A Dataset with the same users, items and features but other interactions.

        Used by the evaluation splits: train and test parts keep the whole catalogue, so cold
        items and users stay encodable.

        Parameters
        ----------
        interactions : sparse matrix of shape (n_users, n_items)
            The new interactions (made canonical, float32).
        timestamps : numpy.ndarray, optional
            Aligned with the canonical ``interactions.data``.
        """
        matrix = sp.csr_matrix(interactions, dtype=np.float32)
        if not matrix.has_canonical_format:
            if timestamps is not None:
                raise ValueError("timestamps need interactions in canonical CSR form")
            matrix = matrix.copy()
            matrix.sum_duplicates()
        return Dataset(
            user_map=self._user_map,
            item_map=self._item_map,
            interactions=matrix,
            timestamps=None if timestamps is None else np.asarray(timestamps, dtype=np.float64),
            item_features=self.item_features,
            user_features=self.user_features,
            item_encoder=self._item_encoder,
            user_encoder=self._user_encoder,
            item_frame=self.item_frame,
            user_frame=self.user_frame,
            columns=self.columns,
        )

    def with_new_items(self, item_features: pd.DataFrame) -> Dataset:
        """A Dataset whose catalogue also holds new products (features, no interactions).

        The new items are appended after the existing ones (existing positions do not move);
        their features are encoded with the fitted item fields.

        Parameters
        ----------
        item_features : pandas.DataFrame
            The item id column and every item field column.

        Raises
        ------
        ValueError
            If an id is already in the catalogue, or the frame does not match the fields.
        TypeError
            If the new ids are of another kind than the catalogue's (an integer id into a
            catalogue of string ids, or the reverse).
        """
        if self._item_encoder is None or self.item_features is None:
            raise ValueError("this Dataset has no item features; new items need them")
        encoded = self.encode_items(item_features)
        clash = list(encoded.ids[self._item_map.to_index(encoded.ids, strict=False) >= 0])
        if clash:
            raise ValueError(
                f"item_features holds {len(clash)} id(s) already in the catalogue, e.g. "
                f"{clash[:5]}; new items need new ids"
            )
        old_ids = self._item_map.ids
        argument = f"item_features[{self._item_encoder.id_col!r}]"
        new_ids = _ids_of_kind(old_ids, np.asarray(encoded.ids), argument)
        same_kind = old_ids.dtype.kind in "iu" and new_ids.dtype.kind in "iu"
        item_map = IdMap(
            np.concatenate([old_ids, new_ids])
            if same_kind
            else np.concatenate([old_ids.astype(object), new_ids.astype(object)]),
            kind="item",
        )
        features = FeatureMatrix(
            matrix=sp.csr_matrix(
                sp.vstack([self.item_features.matrix, encoded.matrix]), dtype=np.float32
            ),
            fields=self.item_features.fields,
            ids=item_map.ids,
        )
        matrix = sp.csr_matrix(
            (self.interactions.data, self.interactions.indices, self.interactions.indptr),
            shape=(self.n_users, len(item_map)),
        )
        id_col = self._item_encoder.id_col
        frame = None
        if self.item_frame is not None:
            new_rows = item_features.set_index(id_col)
            new_rows.index = pd.Index(new_ids, name=id_col)  # of the catalogue's kind
            frame = pd.concat(
                [self.item_frame, new_rows[self.item_frame.columns.intersection(new_rows.columns)]]
            )
        return Dataset(
            user_map=self._user_map,
            item_map=item_map,
            interactions=matrix,
            timestamps=self.timestamps,
            item_features=features,
            user_features=self.user_features,
            item_encoder=self._item_encoder,
            user_encoder=self._user_encoder,
            item_frame=frame,
            user_frame=self.user_frame,
            columns=self.columns,
        )

    # ------------------------------------------------------------------ ids
    @property
    def user_ids(self) -> np.ndarray:
        """External user ids in internal order."""
        return self._user_map.ids

    @property
    def item_ids(self) -> np.ndarray:
        """External item ids in internal order."""
        return self._item_map.ids

    @property
    def user_map(self) -> IdMap:
        """The user :class:`IdMap`."""
        return self._user_map

    @property
    def item_map(self) -> IdMap:
        """The item :class:`IdMap`."""
        return self._item_map

    @property
    def n_users(self) -> int:
        """Number of users (with or without interactions)."""
        return len(self._user_map)

    @property
    def n_items(self) -> int:
        """Number of items, including cold items that only have features."""
        return len(self._item_map)

    @property
    def n_interactions(self) -> int:
        """Number of stored (user, item) interactions."""
        return int(self.interactions.nnz)

    def user_index(self, ids: Any, *, strict: bool = True) -> np.ndarray | int:
        """Internal positions of external user ids (``UnknownIdError`` lists unknown ones).

        With ``strict=False`` unknown ids map to -1 instead.
        """
        return self._user_map.to_index(ids, strict=strict, argument="user_ids")

    def item_index(self, ids: Any, *, strict: bool = True) -> np.ndarray | int:
        """Internal positions of external item ids (``UnknownIdError`` lists unknown ones).

        With ``strict=False`` unknown ids map to -1 instead.
        """
        return self._item_map.to_index(ids, strict=strict, argument="item_ids")

    # ------------------------------------------------------------------ fields
    @property
    def item_fields(self) -> dict:
        """Item attribute fields by name (empty when there are no item features)."""
        return {} if self.item_features is None else dict(self.item_features.fields)

    @property
    def user_fields(self) -> dict:
        """User attribute fields by name (empty when there are no user features)."""
        return {} if self.user_features is None else dict(self.user_features.fields)

    @property
    def item_encoder(self) -> FeatureEncoder | None:
        """The fitted item field encoder (vocabularies, bands); None without item features."""
        return self._item_encoder

    @property
    def user_encoder(self) -> FeatureEncoder | None:
        """The fitted user field encoder; None without user features."""
        return self._user_encoder

    def encode_items(self, frame: pd.DataFrame) -> FeatureMatrix:
        """Encode NEW products with the fitted item fields (for cold-start queries).

        Parameters
        ----------
        frame : pandas.DataFrame
            The id column and every item field column, like ``item_features``.

        Returns
        -------
        FeatureMatrix
            Rows in frame order. Values never seen when the Dataset was built encode as zeros
            with a :class:`~featcf.FeatureEncodingWarning`.
        """
        if self._item_encoder is None:
            raise ValueError("this Dataset has no item features to encode new items with")
        return self._item_encoder.transform(
            _feature_frame(frame, self._item_encoder.id_col, "item_features"),
            argument="item_features",
        )

    def encode_users(self, frame: pd.DataFrame) -> FeatureMatrix:
        """Encode NEW customers with the fitted user fields (see :meth:`encode_items`)."""
        if self._user_encoder is None:
            raise ValueError("this Dataset has no user features to encode new users with")
        return self._user_encoder.transform(
            _feature_frame(frame, self._user_encoder.id_col, "user_features"),
            argument="user_features",
        )

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        """The interactions as a DataFrame of external ids (and weight, timestamp).

        Timestamps come back as datetimes when they went in as datetimes, else as the
        numbers given; weights are floats.
        """
        coo = self.interactions.tocoo()
        user_col = self.columns.get("user") or "user_id"
        item_col = self.columns.get("item") or "item_id"
        out = {
            user_col: self._user_map.to_ids(coo.row),
            item_col: self._item_map.to_ids(coo.col),
            self.columns.get("weight") or "weight": coo.data.astype(np.float64),
        }
        if self.timestamps is not None:
            times: Any = self.timestamps
            if self.columns.get("timestamp_is_datetime"):
                times = pd.to_datetime(np.round(self.timestamps * 1e9).astype(np.int64), unit="ns")
            out[self.columns.get("timestamp") or "timestamp"] = times
        return pd.DataFrame(out)

    def user_counts(self) -> np.ndarray:
        """Number of interactions of each user (int64, internal order)."""
        return np.diff(self.interactions.indptr).astype(np.int64)

    def item_counts(self) -> np.ndarray:
        """Number of interactions of each item (int64, internal order)."""
        return np.bincount(self.interactions.indices, minlength=self.n_items).astype(np.int64)

    def summary(self) -> str:
        """A short multi-line description: sizes, density, cold entities and fields."""
        counts = self.user_counts()
        item_counts = self.item_counts()
        lines = [
            f"{self.n_users:,} users x {self.n_items:,} items, "
            f"{self.n_interactions:,} interactions "
            f"(density {self.n_interactions / max(self.n_users * self.n_items, 1):.4%})",
            f"users with 1-5 interactions: {int(((counts >= 1) & (counts <= 5)).sum()):,}; "
            f"users without any: {int((counts == 0).sum()):,}; "
            f"items without any (cold): {int((item_counts == 0).sum()):,}",
        ]
        for label, fm in (("item", self.item_features), ("user", self.user_features)):
            if fm is not None:
                parts = ", ".join(f"{f.name} ({f.kind}, {f.n_values})" for f in fm.fields.values())
                lines.append(f"{label} fields: {parts}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Dataset(n_users={self.n_users}, n_items={self.n_items}, "
            f"n_interactions={self.n_interactions}, item_fields={list(self.item_fields)}, "
            f"user_fields={list(self.user_fields)})"
        )
