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


class _ValueEncoder:
    """Categorical / multi-valued encoding: a vocabulary of values, one column each."""

    def __init__(self, kind: str, sep: str) -> None:
        self.kind = kind
        self.sep = sep
        self.vocabulary: dict[Any, int] = {}
        self.labels: tuple[str, ...] = ()

    def _row_values(self, value: Any) -> list[Any]:
        if _is_missing(value):
            return []
        if self.kind == "categorical":
            return [value.item() if isinstance(value, np.generic) else value]
        if _is_listlike(value):
            items = list(value)
        elif isinstance(value, str):
            items = value.split(self.sep)
        else:
            items = [value]
        out = []
        for item in items:
            if isinstance(item, str):
                item = item.strip()
                if not item:
                    continue
            elif _is_missing(item):
                continue
            out.append(item.item() if isinstance(item, np.generic) else item)
        return out

    def fit(self, series: pd.Series) -> _ValueEncoder:
        seen: set[Any] = set()
        for value in series:
            seen.update(self._row_values(value))
        ordered = sorted(seen, key=_sort_key)
        self.vocabulary = {v: j for j, v in enumerate(ordered)}
        self.labels = tuple(str(v) for v in ordered)
        return self

    def transform(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        rows: list[int] = []
        cols: list[int] = []
        unseen: list[Any] = []
        for r, value in enumerate(series):
            for v in self._row_values(value):
                j = self.vocabulary.get(v)
                if j is None:
                    unseen.append(v)
                else:
                    rows.append(r)
                    cols.append(j)
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), unseen

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

    def transform(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        x = self._as_float(series, str(series.name))
        finite = np.isfinite(x)
        rows = np.flatnonzero(finite)
        if self.distinct is not None:
            # One band per fitted value; a new number goes to the nearest value's band.
            midpoints = (self.distinct[1:] + self.distinct[:-1]) / 2.0
            bands = np.searchsorted(midpoints, x[finite], side="left")
            return rows, bands.astype(np.int64), []
        # Values outside the fitted range fall in the first / last band: a number is never unseen.
        bands = np.searchsorted(self.edges[1:-1], x[finite], side="right")
        return rows, bands.astype(np.int64), []

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
            rows, cols, unseen = self._encoders[name].transform(frame[name])
            if unseen:
                shown = sorted({str(u) for u in unseen})[:5]
                warnings.warn(
                    f"{argument}: field {name!r} has {len(unseen)} value(s) never seen when the "
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
