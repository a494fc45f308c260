"""REFERENCE ONLY: featcf's field encoders as they were at commit 603d5ce (a loop over rows).

Issue 11 (item 4) replaced the row loops of ``featcf.data.features`` with whole-column pandas
and NumPy. This module keeps the row-loop code, copied unchanged from ``features.py`` at
603d5ce (only renamed: ``FeatureEncoder`` -> ``ReferenceFeatureEncoder``, which reuses the
spec resolution of the current class), so that ``test_features_reference.py`` can show the
new encoders give *identical* encodings. Do not use it anywhere else and do not "fix" it: it is
the yardstick. It is slow on large frames by design.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.data.features import FeatureEncoder, FeatureMatrix, Field
from featcf.exceptions import FeatureEncodingWarning


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, np.ndarray))


def _is_missing(value: Any) -> bool:
    if _is_listlike(value):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


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


class ReferenceFeatureEncoder(FeatureEncoder):
    """``FeatureEncoder`` with the row-loop encoders of 603d5ce (fit and transform copied)."""

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
