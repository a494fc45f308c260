"""Attribute fields: encode feature frames field by field into one sparse matrix.

A *field* is one attribute of a product or customer (category, genre, premium, age, ...).
Each field owns a contiguous slice of the columns of the encoded matrix, one column per
value, so models can work field by field and explanations can name ``"genre = Comedy"``.

Kinds of field
--------------
``"categorical"``
    One value per row, one-hot encoded.
``"multi"``
    Several values per row (a list/tuple/set, or a string split on ``sep``), multi-hot.
``"numeric"``
    Binned into quantile bands (``n_bins``) learned on the fitting frame, one-hot over the
    bands. When a column has at most ``n_bins`` distinct values each value is its own band.
``"ignore"``
    Kept in the raw frame (e.g. a title to display) but not encoded.

Missing values (NaN/None) encode as an all-zero field for that row. Values never seen at
fit time also encode as zeros, with a :class:`~featcf.FeatureEncodingWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.exceptions import FeatureEncodingWarning

__all__ = ["FIELD_KINDS", "FeatureEncoder", "FeatureMatrix", "Field", "FieldSpec"]

FIELD_KINDS = ("categorical", "multi", "numeric", "ignore")


@dataclass(frozen=True)
class FieldSpec:
    """How to encode one feature column.

    Parameters
    ----------
    kind : {"categorical", "multi", "numeric", "ignore"}
        The kind of field (see the module docstring).
    sep : str, optional
        For ``"multi"`` string columns: the separator (default: the dataset's ``sep``).
    n_bins : int, optional
        For ``"numeric"``: the number of quantile bands (default: the dataset's ``n_bins``).
    """

    kind: str
    sep: str | None = None
    n_bins: int | None = None


@dataclass(frozen=True)
class Field:
    """One encoded attribute: its name, kind, column slice and value labels.

    Attributes
    ----------
    name : str
        The feature column the field was built from.
    kind : str
        ``"categorical"``, ``"multi"`` or ``"numeric"``.
    start, stop : int
        The field's columns in the encoded matrix are ``start:stop``.
    values : tuple of str
        A label per column, e.g. ``("Action", "Comedy")`` or ``("[1990, 1995)", ...)``.
    """

    name: str
    kind: str
    start: int
    stop: int
    values: tuple[str, ...]

    @property
    def columns(self) -> slice:
        """The slice of encoded columns that belong to this field."""
        return slice(self.start, self.stop)

    @property
    def n_values(self) -> int:
        """Number of distinct values (columns) of the field."""
        return self.stop - self.start

    def label(self, column: int) -> str:
        """Human-readable ``"field = value"`` for a global column index of this field."""
        return f"{self.name} = {self.values[column - self.start]}"


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, np.ndarray))


def _is_missing(value: Any) -> bool:
    if _is_listlike(value):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def infer_kind(series: pd.Series) -> str:
    """Infer a field kind from a column's dtype and values.

    bool, string, object and category columns are categorical (list-like object values make it
    multi-valued); numeric and datetime columns are numeric.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return "categorical"
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        return "numeric"
    non_null = [v for v in series.head(1000) if not _is_missing(v)]
    if non_null and any(_is_listlike(v) for v in non_null):
        return "multi"
    return "categorical"


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, np.bool_)):
        return (0, int(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (1, float(value))
    return (2, str(value))


def _format_number(x: float) -> str:
    return f"{x:g}"


_LISTLIKE = (list, tuple, set, frozenset, np.ndarray)

# The value encoders below work on whole columns with pandas/NumPy and reproduce, value for
# value, what a loop over the rows computes: each row's values (one for "categorical"; for
# "multi" the elements of a list-like or the parts of a string split on ``sep``, strings
# stripped, empty and missing ones dropped), NumPy scalars taken as their Python ``.item()``,
# and values told apart as dict keys tell them (1, 1.0 and True are one value, labelled by the
# first one seen). tests/data/reference_encoders.py keeps that loop as the reference.


def _type_codes(values: np.ndarray) -> tuple[np.ndarray, list[type]]:
    """The type of every element of an object array: ``(codes, distinct types)``, in C."""
    types = np.fromiter(map(type, values), dtype=object, count=len(values))
    distinct = list(dict.fromkeys(types))
    if len(distinct) <= 1:  # the common case: one type (or no element)
        return np.zeros(len(values), dtype=np.int64), distinct
    codes, _ = pd.factorize(types)
    return codes, distinct  # factorize numbers the types in order of appearance, as dict does


def _instances(values: np.ndarray, *classes: type | tuple[type, ...]) -> list[np.ndarray]:
    """For each of ``classes``, a mask of the elements of ``values`` that are its instances.

    ``issubclass`` runs once per distinct type, not once per element.
    """
    codes, types = _type_codes(values)
    masks = []
    for cls in classes:
        hit = np.fromiter((issubclass(t, cls) for t in types), dtype=bool, count=len(types))
        masks.append(hit[codes] if len(types) else np.zeros(0, dtype=bool))
    return masks


def _as_objects(series: pd.Series) -> np.ndarray:
    """The values of ``series`` as iterating over it yields them, in a 1-d object array."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # not np.asarray: integer categories with missing rows would come back as floats
        categories = series.cat.categories
        labels = np.fromiter(categories, dtype=object, count=len(categories))
        labels = np.append(labels, np.array([np.nan], dtype=object))
        return labels[series.cat.codes.to_numpy()]  # code -1 (missing) takes the NaN
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcO":
        return series.to_numpy().astype(object, copy=False)  # Python scalars, like iteration
    return series.to_numpy(dtype=object)


def _plain(values: np.ndarray) -> np.ndarray:
    """``values`` with each NumPy scalar replaced by its ``.item()``."""
    (generic,) = _instances(values, np.generic)
    n_generic = int(generic.sum())
    if not n_generic:
        return values
    out = values.copy()
    out[generic] = np.fromiter((v.item() for v in values[generic]), dtype=object, count=n_generic)
    return out


def _entries(values: np.ndarray, *, mixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distinct row values: ``(codes, entries)``; ``entries[codes[r]]`` stands for row ``r``.

    Missing rows get code -1, entries come in order of first appearance. Rows are grouped when
    their values are equal as dict keys and, in an object column (``mixed``), of one type, so
    that 1 and 1.0 each keep their own label. Unhashable values (lists) make every row its own
    entry.
    """
    keep = np.flatnonzero(~pd.isna(values))
    kept = values[keep]
    try:
        codes = pd.factorize(kept)[0]
    except TypeError:  # lists, arrays, sets: no grouping
        codes = np.arange(len(kept))
    else:
        if mixed:
            type_codes, types = _type_codes(kept)
            if len(types) > 1:
                codes = pd.factorize(codes * len(types) + type_codes)[0]
    first = np.unique(codes, return_index=True)[1]
    row_codes = np.full(len(values), -1, dtype=np.int64)
    row_codes[keep] = codes
    return row_codes, kept[first]


def _flatten(owners: np.ndarray, groups: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, item)`` pairs: the items of each of ``groups`` (iterables), after its owner.

    ``map`` and ``itertools.chain`` iterate in C: no Python call per group or per item.
    """
    lengths = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    items = np.fromiter(chain.from_iterable(groups), dtype=object, count=int(lengths.sum()))
    return np.repeat(owners, lengths), items


def _split_entries(entries: np.ndarray, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw items of multi-valued entries: ``(owner entry, item)``, by entry, in order.

    A string is split on ``sep``, a list-like gives its elements, anything else is one item.
    """
    is_str, listlike = _instances(entries, str, _LISTLIKE)
    other = np.flatnonzero(~is_str & ~listlike)
    parts = list(map(str.split, entries[is_str], repeat(sep)))
    pieces = [
        _flatten(np.flatnonzero(is_str), parts),
        _flatten(np.flatnonzero(listlike), entries[listlike]),
        (other, entries[other]),
    ]
    owner = np.concatenate([o for o, _ in pieces])
    items = np.concatenate([i for _, i in pieces])
    order = np.argsort(owner, kind="stable")
    return owner[order], items[order]


def _clean_items(owner: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strip string items and drop the empty ones; drop missing items."""
    (is_str,) = _instances(items, str)
    keep = ~pd.isna(items)
    if is_str.any():
        n_str = int(is_str.sum())
        stripped = np.fromiter(map(str.strip, items[is_str]), dtype=object, count=n_str)
        items = items.copy()
        items[is_str] = stripped
        keep[is_str] = stripped != ""
    return owner[keep], items[keep]


@dataclass(frozen=True)
class _LongForm:
    """A categorical or multi-valued column as (row, value) occurrences.

    Attributes
    ----------
    values : numpy.ndarray of object
        The distinct values, in order of first appearance (row by row).
    items : numpy.ndarray of object
        The values of each distinct row value (entry), entry by entry.
    value_of_item : numpy.ndarray of int64
        Position of each item's value in ``values``.
    rows, item_of : numpy.ndarray of int64
        One element per occurrence, row by row: its row and its position in ``items``.
    """

    values: np.ndarray
    items: np.ndarray
    value_of_item: np.ndarray
    rows: np.ndarray
    item_of: np.ndarray


def _long_form(series: pd.Series, kind: str, sep: str) -> _LongForm:
    """The values of every row of a ``"categorical"`` or ``"multi"`` column, in long form.

    Each distinct row value (an entry) is split into its items once; rows then repeat the
    items of their entry, so the cost per row is NumPy indexing only.
    """
    values = _as_objects(series)
    codes, entries = _entries(values, mixed=series.dtype == object)
    if kind == "categorical":
        owner, items = np.arange(len(entries), dtype=np.int64), entries
    else:
        owner, items = _clean_items(*_split_entries(entries, sep))
    items = _plain(items)
    # the distinct values as a set sees them (first one kept); unhashable ones raise TypeError
    distinct = list(dict.fromkeys(items))
    position = {v: j for j, v in enumerate(distinct)}
    value_of_item = np.fromiter(map(position.__getitem__, items), np.int64, count=len(items))
    # every row repeats its entry's items
    per_entry = np.bincount(owner, minlength=len(entries))
    start = np.cumsum(per_entry) - per_entry
    present = np.flatnonzero(codes >= 0)
    per_row = per_entry[codes[present]]
    offset = np.arange(per_row.sum()) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return _LongForm(
        values=np.fromiter(distinct, dtype=object, count=len(distinct)),
        items=items,
        value_of_item=value_of_item,
        rows=np.repeat(present, per_row).astype(np.int64),
        item_of=np.repeat(start[codes[present]], per_row) + offset,
    )


class _ValueEncoder:
    """Categorical / multi-valued encoding: a vocabulary of values, one column each."""

    def __init__(self, kind: str, sep: str) -> None:
        self.kind = kind
        self.sep = sep
        self.vocabulary: dict[Any, int] = {}
        self.labels: tuple[str, ...] = ()

    def fit(self, series: pd.Series) -> _ValueEncoder:
        # set() then sort, as a row loop collecting a set would: ties of the sort key (values
        # with the same text) keep the set's order
        ordered = sorted(set(_long_form(series, self.kind, self.sep).values), key=_sort_key)
        self.vocabulary = {v: j for j, v in enumerate(ordered)}
        self.labels = tuple(str(v) for v in ordered)
        return self

    def transform(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """``(rows, columns)`` of the known values, the number of unseen ones and their items."""
        long = _long_form(series, self.kind, self.sep)
        column_of_value = self._columns_of(long.values)
        column_of_item = column_of_value[long.value_of_item]
        cols = column_of_item[long.item_of]
        seen = cols >= 0
        unseen_items = long.items[column_of_item < 0]
        return long.rows[seen], cols[seen].astype(np.int64), int((~seen).sum()), unseen_items

    def _columns_of(self, values: np.ndarray) -> np.ndarray:
        """The vocabulary column of each of the distinct ``values``, -1 when unseen.

        A dict lookup per distinct value (``map`` runs it in C): dict equality, so True finds
        1 and 1.0 finds 1, and no work in the size of the vocabulary.
        """
        found = map(self.vocabulary.get, values, repeat(-1))
        return np.fromiter(found, dtype=np.int64, count=len(values))

    @property
    def n_values(self) -> int:
        return len(self.labels)


class _NumericEncoder:
    """Numeric encoding: quantile bands (or one band per value when there are few values)."""

    kind = "numeric"

    def __init__(self, n_bins: int) -> None:
        self.n_bins = n_bins
        self.edges = np.empty(0)
        self.distinct: np.ndarray | None = None
        self.labels: tuple[str, ...] = ()

    @staticmethod
    def _as_float(series: pd.Series, name: str) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.astype("datetime64[ns]")
            out = values.astype("int64").to_numpy(dtype=np.float64) / 1e9
            out[values.isna().to_numpy()] = np.nan
            return out
        try:
            return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"feature column {name!r} is declared numeric but holds non-numeric values "
                f"({exc}); declare it 'categorical' instead"
            ) from None

    def fit(self, series: pd.Series) -> _NumericEncoder:
        x = self._as_float(series, str(series.name))
        finite = x[np.isfinite(x)]
        distinct = np.unique(finite)
        if len(distinct) <= self.n_bins:
            self.distinct = distinct
            self.labels = tuple(_format_number(v) for v in distinct)
            return self
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, self.n_bins + 1)))
        self.edges = edges
        labels = []
        for b in range(len(edges) - 1):
            lo, hi = _format_number(edges[b]), _format_number(edges[b + 1])
            labels.append(f"[{lo}, {hi}]" if b == len(edges) - 2 else f"[{lo}, {hi})")
        self.labels = tuple(labels)
        return self

    def transform(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        if self.n_values == 0:
            # fitted on a column without numbers: no band to put any value in (unseen, zeros),
            # whatever it is (a number, or text in a column inferred numeric from blanks)
            present = series.notna().to_numpy()
            unseen = series.to_numpy(dtype=object)[present]
            if pd.api.types.is_numeric_dtype(series.dtype):
                unseen = unseen[np.isfinite(unseen.astype(np.float64))]
            rows = np.flatnonzero(present)
            return rows[:0], rows[:0].astype(np.int64), len(unseen), unseen
        x = self._as_float(series, str(series.name))
        finite = np.isfinite(x)
        rows = np.flatnonzero(finite)
        if self.distinct is not None:
            # One band per fitted value; a new number goes to the nearest value's band.
            midpoints = (self.distinct[1:] + self.distinct[:-1]) / 2.0
            bands = np.searchsorted(midpoints, x[finite], side="left")
            return rows, bands.astype(np.int64), 0, np.empty(0, dtype=object)
        # Values outside the fitted range fall in the first / last band: a number is never unseen.
        bands = np.searchsorted(self.edges[1:-1], x[finite], side="right")
        return rows, bands.astype(np.int64), 0, np.empty(0, dtype=object)

    @property
    def n_values(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FeatureMatrix:
    """Encoded features of a set of rows (items or users).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of shape (n_rows, n_columns), float32
        One-hot / multi-hot encoding, 1.0 per present value (not normalised).
    fields : dict of str to Field
        The fields in column order.
    ids : numpy.ndarray of shape (n_rows,)
        External ids of the rows.
    """

    matrix: sp.csr_matrix
    fields: Mapping[str, Field]
    ids: np.ndarray

    @property
    def n_columns(self) -> int:
        """Total number of encoded columns over all fields."""
        return int(self.matrix.shape[1])

    @property
    def column_names(self) -> list[str]:
        """``"field = value"`` label of every column, in column order."""
        return [f"{f.name} = {v}" for f in self.fields.values() for v in f.values]

    @property
    def field_of_column(self) -> np.ndarray:
        """Position (in ``fields`` order) of the field each column belongs to (int64 array)."""
        out = np.empty(self.n_columns, dtype=np.int64)
        for p, f in enumerate(self.fields.values()):
            out[f.start : f.stop] = p
        return out

    def field_block(self, name: str, *, normalize: bool = False) -> sp.csr_matrix:
        """The columns of one field, optionally with each non-empty row scaled to sum 1."""
        if name not in self.fields:
            raise KeyError(f"unknown field {name!r}; fields are {list(self.fields)}")
        f = self.fields[name]
        block = self.matrix[:, f.start : f.stop].tocsr()
        if normalize:
            sums = np.asarray(block.sum(axis=1)).ravel()
            scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
            block = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ block, dtype=np.float32)
        return block

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}({f.kind}, {f.n_values})" for f in self.fields.values())
        return f"FeatureMatrix(n_rows={self.matrix.shape[0]}, fields=[{parts}])"


@dataclass
class FeatureEncoder:
    """Fits per-field encoders on a feature frame and encodes frames with them.

    Parameters
    ----------
    id_col : str
        The id column of the frames.
    specs : mapping, optional
        ``{column: kind}`` or ``{column: FieldSpec}``; other columns have inferred kinds.
    sep : str
        Default separator of multi-valued string columns.
    n_bins : int
        Default number of quantile bands of numeric columns.
    argument : str
        Name of the frame argument (``"item_features"``), for error messages.
    """

    id_col: str
    specs: Mapping[str, Any] | None = None
    sep: str = "|"
    n_bins: int = 5
    argument: str = "features"
    fields_: dict[str, Field] = field(default_factory=dict, init=False)
    ignored_: tuple[str, ...] = field(default=(), init=False)
    _encoders: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def _resolve_specs(self, frame: pd.DataFrame) -> dict[str, FieldSpec]:
        specs = dict(self.specs or {})
        spec_name = "item_fields" if "item" in self.argument else "user_fields"
        missing = [c for c in specs if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{spec_name} names column(s) {missing} that {self.argument} does not have; "
                f"its columns are {list(frame.columns)}"
            )
        if self.id_col in specs:
            raise ValueError(f"{spec_name} must not include the id column {self.id_col!r}")
        resolved: dict[str, FieldSpec] = {}
        for column in frame.columns:
            if column == self.id_col:
                continue
            spec = specs.get(column)
            if spec is None:
                spec = FieldSpec(infer_kind(frame[column]))
            elif isinstance(spec, str):
                spec = FieldSpec(spec)
            elif isinstance(spec, Mapping):
                spec = FieldSpec(**spec)
            elif not isinstance(spec, FieldSpec):
                raise TypeError(
                    f"{spec_name}[{column!r}] must be a kind string or a FieldSpec, "
                    f"got {type(spec).__name__}"
                )
            if spec.kind not in FIELD_KINDS:
                raise ValueError(
                    f"{spec_name}[{column!r}] has unknown kind {spec.kind!r}; "
                    f"expected one of {FIELD_KINDS}"
                )
            if spec.n_bins is not None and (not isinstance(spec.n_bins, int) or spec.n_bins < 1):
                raise ValueError(
                    f"{spec_name}[{column!r}].n_bins must be a positive integer, got {spec.n_bins!r}"
                )
            resolved[str(column)] = spec
        return resolved

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        """Learn every field's values (or bands) from ``frame``."""
        specs = self._resolve_specs(frame)
        self._encoders = {}
        self.fields_ = {}
        ignored = []
        start = 0
        for column, spec in specs.items():
            if spec.kind == "ignore":
                ignored.append(column)
                continue
            if spec.kind == "numeric":
                enc: Any = _NumericEncoder(spec.n_bins or self.n_bins)
            else:
                enc = _ValueEncoder(spec.kind, spec.sep or self.sep)
            enc.fit(frame[column])
            self._encoders[column] = enc
            self.fields_[column] = Field(column, spec.kind, start, start + enc.n_values, enc.labels)
            start += enc.n_values
        self.ignored_ = tuple(ignored)
        return self

    @property
    def n_columns(self) -> int:
        """Total number of encoded columns."""
        return sum(f.n_values for f in self.fields_.values())

    def transform(self, frame: pd.DataFrame, *, argument: str | None = None) -> FeatureMatrix:
        """Encode ``frame`` (rows in frame order) with the fitted fields.

        Raises
        ------
        ValueError
            If ``frame`` lacks the id column or a fitted field, or has columns never seen at fit.
        """
        argument = argument or self.argument
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{argument} must be a pandas DataFrame, got {type(frame).__name__}")
        if self.id_col not in frame.columns:
            raise ValueError(
                f"{argument} has no id column {self.id_col!r}; columns: {list(frame.columns)}"
            )
        known = set(self.fields_) | set(self.ignored_) | {self.id_col}
        extra = [c for c in frame.columns if c not in known]
        if extra:
            raise ValueError(
                f"{argument} has column(s) {extra} the dataset never saw; known fields are "
                f"{list(self.fields_)} (drop the new columns or rebuild the Dataset with them)"
            )
        missing = [c for c in self.fields_ if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{argument} lacks field column(s) {missing}; pass them (NaN encodes as 'unknown')"
            )
        blocks_rows, blocks_cols = [], []
        for name, f in self.fields_.items():
            rows, cols, n_unseen, unseen = self._encoders[name].transform(frame[name])
            if n_unseen:
                shown = sorted({str(u) for u in unseen})[:5]
                warnings.warn(
                    f"{argument}: field {name!r} has {n_unseen} value(s) never seen when the "
                    f"dataset was built (e.g. {shown}); they encode as zeros",
                    FeatureEncodingWarning,
                    stacklevel=3,
                )
            blocks_rows.append(rows)
            blocks_cols.append(cols + f.start)
        rows = np.concatenate(blocks_rows) if blocks_rows else np.empty(0, np.int64)
        cols = np.concatenate(blocks_cols) if blocks_cols else np.empty(0, np.int64)
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(frame), self.n_columns),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0  # a value listed twice is still one value
        ids = frame[self.id_col].to_numpy()
        return FeatureMatrix(matrix=matrix, fields=dict(self.fields_), ids=ids)
