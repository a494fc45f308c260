"""Business rules at query time: which items may be offered, parsed once per query.

The ranking methods (``recommend``, ``recommend_new_users``, ``recommend_users``) take the
same rules and turn them, here, into what the top-n kernels exclude:

``items``
    Candidates: only these items are ranked (external ids).
``exclude_items``
    Items never offered (external ids).
``where``
    A filter on the item fields, one of

    - a mapping ``{field: value or list of values}``: an item passes when, for every field
      named, it has one of the values listed (a multi-valued field: any of its values). A
      numeric field takes a range ``(low, high)`` instead, bounds included, ``None`` for an
      open end, compared with the raw values of the item frame (an item without a value
      fails). Fields and values are those of ``dataset.item_fields``;
    - a boolean mask with one value per catalogue item (``model.item_ids_`` order), or a
      boolean pandas Series indexed by item id covering the whole catalogue;
    - a callable taking the item frame (``dataset.item_frame``, indexed by item id) and
      returning such a mask or Series.
``exclude_owned_fields``
    A field name or a list of them: an item sharing a value of one of these fields with an
    item the customer already holds is not offered (a numeric field: the same band).

Item-level rules (``items``, ``exclude_items``, ``where`` and the model's withdrawn items)
become one boolean mask over the catalogue (:attr:`RuleSet.allowed`), which the kernels use
to skip items; the per-customer rule becomes rows of the exclusion CSR they also take
(:meth:`RuleSet.exclusion`). Nothing is over-fetched and filtered afterwards.

Everything is validated here, at the boundary: an unknown field or value, an unknown item
id, a mask of the wrong length or type raise an error naming the argument and listing what
is valid.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.data.dataset import Dataset
from featcf.data.features import Field

__all__ = [
    "RuleSet",
    "Where",
    "owned_values",
    "parse_rules",
    "shared_value_pairs",
    "where_mask",
]

#: what ``where`` may be (see the module docstring)
Where = Mapping[str, Any] | np.ndarray | pd.Series | Callable[[pd.DataFrame], Any]


@dataclass(frozen=True)
class RuleSet:
    """The rules of one query, parsed and checked.

    Attributes
    ----------
    candidates : numpy.ndarray of int64
        Sorted distinct item positions to rank (every item when ``items`` was not given).
    allowed : numpy.ndarray of bool, shape (n_items,), or None
        Items the item-level rules let through (catalogue positions); None: all of them.
    owned : scipy.sparse.csr_matrix of shape (n_items, n_values), or None
        The 0/1 values of the ``exclude_owned_fields`` fields per item; None without that rule.
    owned_fields : tuple of str
        The fields of ``owned``.
    """

    candidates: np.ndarray
    allowed: np.ndarray | None = None
    owned: sp.csr_matrix | None = None
    owned_fields: tuple[str, ...] = ()

    @property
    def allowed_candidates(self) -> np.ndarray | None:
        """``allowed`` over :attr:`candidates` (the kernels' columns); None: all of them."""
        return None if self.allowed is None else self.allowed[self.candidates]

    def n_allowed(self) -> int:
        """Number of candidates the item-level rules let through."""
        mask = self.allowed_candidates
        return len(self.candidates) if mask is None else int(mask.sum())

    def exclusion(self, held: sp.csr_matrix | None, exclude_seen: bool) -> sp.csr_matrix | None:
        """Items each row may not be offered: what it holds (with ``exclude_seen``) and the
        items sharing an owned field value with what it holds; catalogue columns.

        ``held`` is the rows' holdings (users x catalogue); None for rows holding nothing.
        """
        if held is None or (not exclude_seen and self.owned is None):
            return None
        if self.owned is None:
            return held
        excluded = owned_values(held, self.owned) @ self.owned.T
        if exclude_seen:
            excluded = excluded + _pattern(held)
        return _pattern(sp.csr_matrix(excluded))

    def without_owned(self) -> RuleSet:
        """The item-level rules only (for customers holding nothing, e.g. the fallback)."""
        return RuleSet(self.candidates, self.allowed)


def parse_rules(
    dataset: Dataset,
    *,
    items: Any = None,
    exclude_items: Any = None,
    where: Where | None = None,
    exclude_owned_fields: str | list[str] | tuple[str, ...] | None = None,
    withdrawn: np.ndarray | None = None,
) -> RuleSet:
    """Parse and check the rules of one query (see the module docstring).

    Parameters
    ----------
    dataset : Dataset
        The fitted catalogue.
    items, exclude_items : array-like of external item ids, optional
    where : mapping, boolean mask, Series or callable, optional
    exclude_owned_fields : str or list of str, optional
    withdrawn : numpy.ndarray of int64, optional
        Positions of withdrawn items (never offered).

    Returns
    -------
    RuleSet

    Raises
    ------
    UnknownIdError
        If ``items`` or ``exclude_items`` holds an id not in the catalogue.
    ValueError, TypeError
        If ``where`` or ``exclude_owned_fields`` names a field or value the items do not have,
        or a mask has the wrong length or type.
    """
    candidates = _positions(dataset, items, "items")
    if candidates is None:
        candidates = np.arange(dataset.n_items, dtype=np.int64)
    allowed = None if where is None else where_mask(dataset, where)
    blocked = [
        p for p in (_positions(dataset, exclude_items, "exclude_items"), withdrawn) if p is not None
    ]
    if any(p.size for p in blocked):
        allowed = np.ones(dataset.n_items, dtype=bool) if allowed is None else allowed.copy()
        for positions in blocked:
            allowed[positions] = False
    fields = _owned_fields(dataset, exclude_owned_fields)
    owned = _field_values(dataset, fields) if fields else None
    return RuleSet(candidates, allowed, owned, fields)


def _positions(dataset: Dataset, ids: Any, argument: str) -> np.ndarray | None:
    """Sorted distinct positions of external item ids (UnknownIdError naming ``argument``)."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or np.ndim(ids) == 0:
        ids = [ids]
    positions = dataset.item_map.to_index(list(ids), argument=argument)
    return np.unique(np.asarray(positions, dtype=np.int64))


# ---------------------------------------------------------------------------- where
def where_mask(dataset: Dataset, where: Where) -> np.ndarray:
    """The items ``where`` lets through, as a boolean mask over the catalogue.

    Parameters
    ----------
    dataset : Dataset
    where : mapping, boolean mask, Series or callable (see the module docstring)

    Returns
    -------
    numpy.ndarray of bool, shape (n_items,)
    """
    if isinstance(where, Mapping):
        return _mapping_mask(dataset, where)
    if callable(where) and not isinstance(where, (np.ndarray, pd.Series)):
        if dataset.item_frame is None:
            raise ValueError(
                "where is a callable over the item frame, but this model's Dataset has no "
                "item features; pass a boolean mask over model.item_ids_ instead"
            )
        result = where(dataset.item_frame.copy(deep=False))
        return _mask(dataset, result, "the result of where(item_frame)")
    return _mask(dataset, where, "where")


def _mask(dataset: Dataset, mask: Any, name: str) -> np.ndarray:
    """A boolean array or Series over the catalogue, checked, as a bool array."""
    n_items = dataset.n_items
    if isinstance(mask, pd.Series):
        return _series_mask(dataset, mask, name)
    array = np.asarray(mask) if isinstance(mask, (np.ndarray, list, tuple)) else None
    if array is None or array.dtype != np.bool_ or array.ndim != 1:
        got = type(mask).__name__ if array is None else f"an array of {array.dtype}"
        raise TypeError(
            f"{name} must be a mapping {{field: values}}, a boolean mask over the catalogue, a "
            f"boolean Series indexed by item id or a callable over the item frame; got {got} "
            f"(to name items, use items= or exclude_items=)"
        )
    if array.shape[0] != n_items:
        raise ValueError(
            f"{name} has {array.shape[0]} values; a boolean mask needs one per catalogue item "
            f"({n_items}, in model.item_ids_ order)"
        )
    return array.copy()


def _series_mask(dataset: Dataset, series: pd.Series, name: str) -> np.ndarray:
    if series.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean Series, got dtype {series.dtype}")
    if series.index.has_duplicates:
        repeated = series.index[series.index.duplicated()].unique().tolist()
        raise ValueError(f"{name} repeats item ids in its index: {repeated[:5]}")
    dataset.item_map.to_index(series.index, argument=name)  # unknown ids: UnknownIdError
    if len(series) != dataset.n_items:
        missing = pd.Index(dataset.item_ids).difference(series.index)
        raise ValueError(
            f"{name} has no value for {len(missing)} catalogue item(s) (e.g. "
            f"{missing[:5].tolist()}); a boolean Series must cover every item of model.item_ids_"
        )
    return series.reindex(pd.Index(dataset.item_ids)).to_numpy(dtype=bool)


def _item_field(dataset: Dataset, name: Any, argument: str) -> Field:
    fields = dataset.item_fields
    if not fields:
        raise ValueError(
            f"{argument} names the item field {name!r}, but this model's Dataset has no item "
            f"features; pass a boolean mask over model.item_ids_ instead"
        )
    if name not in fields:
        raise ValueError(
            f"{argument} names {name!r}, which is not an item field; the item fields are "
            f"{sorted(fields)} (use a callable over the item frame for other columns)"
        )
    return fields[name]


def _mapping_mask(dataset: Dataset, where: Mapping[str, Any]) -> np.ndarray:
    if not where:
        raise ValueError("where is an empty mapping; give at least one {field: values} or None")
    mask = np.ones(dataset.n_items, dtype=bool)
    for name, value in where.items():
        field = _item_field(dataset, name, "where")
        if field.kind == "numeric":
            mask &= _range_mask(dataset, field, value)
        else:
            mask &= _value_mask(dataset, field, value)
    return mask


def _value_mask(dataset: Dataset, field: Field, value: Any) -> np.ndarray:
    """Items having one of the listed values of a categorical or multi-valued field."""
    argument = f"where[{field.name!r}]"
    listed = (
        list(value) if isinstance(value, (list, tuple, set, frozenset, np.ndarray)) else [value]
    )
    if not listed:
        raise ValueError(f"{argument} lists no value; the values of {field.name!r}: {field.values}")
    labels = [str(v) for v in listed]
    unknown = [v for v, label in zip(listed, labels, strict=True) if label not in field.values]
    if unknown:
        raise ValueError(
            f"{argument} holds value(s) no item has: {unknown[:5]}; the values of "
            f"{field.name!r} are {list(field.values)}"
        )
    columns = field.start + np.asarray([field.values.index(label) for label in labels])
    matrix = dataset.item_features.matrix
    wanted = np.zeros(matrix.shape[1], dtype=bool)
    wanted[columns] = True
    hits = np.cumsum(wanted[matrix.indices] & (matrix.data != 0))
    return np.diff(np.concatenate([[0], hits])[matrix.indptr]) > 0


def _range_mask(dataset: Dataset, field: Field, value: Any) -> np.ndarray:
    """Items whose raw value of a numeric field lies in ``[low, high]``."""
    argument = f"where[{field.name!r}]"
    if not (isinstance(value, (list, tuple)) and len(value) == 2) or not all(
        bound is None or (isinstance(bound, numbers.Real) and not isinstance(bound, bool))
        for bound in value
    ):
        raise ValueError(
            f"{argument}: {field.name!r} is a numeric field; give a range (low, high) of "
            f"numbers, bounds included, None for an open end (e.g. (None, 30.0)), got {value!r:.60}"
        )
    low, high = value
    if low is not None and high is not None and low > high:
        raise ValueError(
            f"{argument} is the range ({low}, {high}), whose low end is above its high"
        )
    frame = dataset.item_frame
    if frame is None or field.name not in frame.columns:
        raise ValueError(
            f"{argument}: the raw values of {field.name!r} are not in the item frame; pass a "
            f"boolean mask instead"
        )
    raw = pd.to_numeric(frame[field.name], errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        mask = ~np.isnan(raw)
        if low is not None:
            mask &= raw >= low
        if high is not None:
            mask &= raw <= high
    return mask


# ---------------------------------------------------------------------------- owned fields
def _owned_fields(dataset: Dataset, fields: Any) -> tuple[str, ...]:
    if fields is None:
        return ()
    names = [fields] if isinstance(fields, str) else list(fields)
    if not names:
        raise ValueError("exclude_owned_fields is empty; name at least one item field or None")
    for name in names:
        _item_field(dataset, name, "exclude_owned_fields")
    return tuple(dict.fromkeys(names))


def _field_values(dataset: Dataset, fields: tuple[str, ...]) -> sp.csr_matrix:
    """0/1 matrix (n_items, values of ``fields``): which values each item has."""
    fields_ = dataset.item_fields
    columns = np.concatenate([np.arange(fields_[f].start, fields_[f].stop) for f in fields])
    return _select_columns(dataset.item_features.matrix, columns)


def _select_columns(matrix: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """0/1 CSR (n_rows, len(columns)): the stored non-zeros of ``matrix`` in ``columns``
    (distinct), in one O(nnz) pass (CSR column indexing builds far more per query)."""
    lookup = np.full(matrix.shape[1], -1, dtype=np.int64)
    lookup[columns] = np.arange(len(columns))
    new = lookup[matrix.indices]
    keep = (new >= 0) & (matrix.data != 0)
    counts = np.concatenate([[0], np.cumsum(keep)])
    out = sp.csr_matrix(
        (np.ones(int(counts[-1]), dtype=np.float32), new[keep], counts[matrix.indptr]),
        shape=(matrix.shape[0], len(columns)),
    )
    out.sort_indices()
    return out


def owned_values(held: sp.csr_matrix, values: sp.csr_matrix) -> sp.csr_matrix:
    """Which field values each row holds (0/1), from its items ``held`` (rows x catalogue)."""
    return _pattern(sp.csr_matrix(_pattern(held) @ values))


def shared_value_pairs(items: np.ndarray, values: sp.csr_matrix) -> sp.csr_matrix:
    """0/1 matrix (len(items), n_items): the catalogue items sharing a value with each item."""
    return _pattern(sp.csr_matrix(values[items] @ values.T))


def _pattern(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The stored non-zero pattern of ``matrix`` as float32 ones (sorted indices)."""
    matrix = sp.csr_matrix(matrix)
    out = sp.csr_matrix(
        (np.ones(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr), shape=matrix.shape
    )
    out.sort_indices()
    return out
