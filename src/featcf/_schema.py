"""What a model file's fitted state may hold: the specs each model class declares.

A saved file is untrusted input, and the numba kernels trust the arrays they are given (an
out-of-range neighbour index reads or writes past an array). So every model class declares
its fitted state, ``_state_schema(dataset)``: one spec per name it saves, and loading refuses
a file whose state does not match it exactly, before any array reaches the model.

:class:`Array`
    A dense array: dtype, shape, value constraints (finite, a lower bound, index range).
:class:`Sparse`
    A CSR matrix: shape and data dtype; its structure is always checked (``indptr`` starts at
    0, never decreases and ends at nnz; every column index in range; no column twice in a row).
:class:`Series`
    A pandas Series of numbers with a JSON index.
:class:`Json`
    A JSON value (number, string, list, dict) with its own check.

Dimensions of a shape are an ``int`` (known from the Dataset or the hyper-parameters), a
``str`` naming a dimension that the first member having it binds and every later one must
agree with (``"n_terms"``), or ``None`` (any length). Any spec may be ``optional``: the
saved value is then ``None`` or a value matching the spec.

This module sits below the models and the format: plain checks on arrays, no file access.
:mod:`featcf._format` runs them while it reads a file (shapes and dtypes from each member's
header before the member is inflated, values once it is).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from featcf.exceptions import ModelFormatError

__all__ = [
    "Array",
    "Dims",
    "Json",
    "Series",
    "Sparse",
    "Spec",
    "check_csr_arrays",
    "check_values",
    "json_bool",
    "json_choice",
    "json_float",
    "json_int",
    "json_strings",
    "json_weights",
]

Dim = int | str | None


@dataclass(frozen=True)
class Array:
    """A dense array.

    Parameters
    ----------
    dtype : str or tuple of str
        The dtype name(s) accepted (``"float32"``, ``"int64"``; ``"unicode"`` for any string
        width). Nothing is cast: another dtype is refused.
    shape : tuple of Dim
        The shape (see the module docstring for dimensions).
    finite : bool, default True
        Float values must be finite.
    low : float, optional
        Every value must be ``>= low``.
    index_of : Dim, optional
        Integer values are positions into a dimension: ``0 <= value < index_of``.
    increasing : bool, default False
        Values must be strictly increasing (sorted, distinct positions).
    optional : bool, default False
        The saved value may be ``None``.
    """

    dtype: str | tuple[str, ...]
    shape: tuple[Dim, ...]
    finite: bool = True
    low: float | None = None
    index_of: Dim = None
    increasing: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Sparse:
    """A CSR matrix of shape ``shape`` with ``dtype`` values (indices int32 or int64).

    ``finite``, ``low`` and ``optional`` as for :class:`Array`; ``canonical`` also requires
    the column indices of each row sorted.
    """

    shape: tuple[Dim, Dim]
    dtype: str = "float32"
    finite: bool = True
    low: float | None = None
    canonical: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Series:
    """A pandas Series: ``dtype`` values of length ``length`` with a JSON index of that length.

    ``finite``, ``low`` and ``optional`` as for :class:`Array`.
    """

    dtype: str
    length: Dim
    finite: bool = True
    low: float | None = None
    optional: bool = False


@dataclass(frozen=True)
class Json:
    """A JSON value, accepted when ``check(value)`` returns (it raises ``ValueError`` otherwise).

    ``check`` returns the value to restore (e.g. converted to ``float``); ``length`` binds or
    checks a dimension with ``len(value)``.
    """

    check: Callable[[Any], Any]
    length: Dim = None
    optional: bool = False


Spec = Array | Sparse | Series | Json


class Dims:
    """Named dimensions bound by the first member that has them (for messages: by which)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # put before every message (the file's path)
        self._values: dict[str, int] = {}
        self._origin: dict[str, str] = {}

    def check_shape(self, expected: Sequence[Dim], actual: Sequence[int], where: str) -> None:
        """Raise ModelFormatError unless ``actual`` fits ``expected``; bind named dimensions."""
        if len(expected) != len(actual):
            raise ModelFormatError(
                f"{self.prefix}{where} has shape {tuple(actual)}, expected {len(expected)} "
                f"dimension(s) {self._describe(expected)}"
            )
        for dim, size in zip(expected, actual, strict=True):
            if not self._fits(dim, int(size), where):
                raise ModelFormatError(
                    f"{self.prefix}{where} has shape {tuple(actual)}, expected "
                    f"{self._describe(expected)}"
                )

    def check_length(self, dim: Dim, size: int, where: str) -> None:
        """Raise ModelFormatError unless a length ``size`` fits ``dim`` (binding it if named)."""
        if not self._fits(dim, size, where):
            raise ModelFormatError(
                f"{self.prefix}{where} has length {size}, expected {self._describe([dim])}"
            )

    def size(self, dim: Dim) -> int | None:
        """The value of ``dim`` if known (an int, or a name already bound)."""
        if isinstance(dim, str):
            return self._values.get(dim)
        return dim

    def _fits(self, dim: Dim, size: int, where: str) -> bool:
        if dim is None:
            return True
        if isinstance(dim, str):
            if dim not in self._values:
                self._values[dim] = size
                self._origin[dim] = where
                return True
            return self._values[dim] == size
        return dim == size

    def _describe(self, dims: Sequence[Dim]) -> str:
        parts = []
        for dim in dims:
            if dim is None:
                parts.append("any")
            elif isinstance(dim, str) and dim in self._values:
                parts.append(f"{dim}={self._values[dim]} (from {self._origin[dim]})")
            else:
                parts.append(str(dim))
        return "(" + ", ".join(parts) + ")"


# ---------------------------------------------------------------------- dtypes and values
def dtype_accepted(dtype: np.dtype, accepted: str | tuple[str, ...]) -> bool:
    """Whether ``dtype`` (native byte order) is one of ``accepted`` (``"unicode"``: kind U)."""
    names = (accepted,) if isinstance(accepted, str) else accepted
    if dtype.kind == "U":
        return "unicode" in names
    return dtype.name in names


def _low_ok(values: np.ndarray, low: float | None) -> bool:
    return low is None or values.size == 0 or bool(np.min(values) >= low)


def check_values(
    values: np.ndarray,
    *,
    finite: bool = True,
    low: float | None = None,
    index_of: int | None = None,
    increasing: bool = False,
    where: str,
) -> None:
    """Raise ModelFormatError naming ``where`` when ``values`` break a constraint."""
    if values.dtype.kind == "f" and finite:
        bad = ~np.isfinite(values)
        if bad.any():
            raise ModelFormatError(
                f"{where} holds {int(bad.sum())} NaN or infinite value(s); it must be finite"
            )
    if low is not None and values.dtype.kind in "iuf" and not _low_ok(values, low):
        raise ModelFormatError(
            f"{where} holds values below {low:g} (min {np.nanmin(values)!r}); they must be >= "
            f"{low:g}"
        )
    if index_of is not None and values.size:
        lo, hi = values.min(), values.max()
        if lo < 0 or hi >= index_of:
            raise ModelFormatError(
                f"{where} holds positions outside [0, {index_of}) (min {lo}, max {hi})"
            )
    if increasing and values.size > 1 and not bool(np.all(values[1:] > values[:-1])):
        raise ModelFormatError(f"{where} must be strictly increasing (sorted distinct positions)")


def check_csr_arrays(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    shape: tuple[int, int],
    spec: Sparse,
    where: str,
) -> None:
    """Check a CSR matrix's three arrays against ``shape`` and ``spec`` (ModelFormatError).

    ``indptr`` must start at 0, never decrease and end at nnz; column indices must lie in
    ``[0, n_cols)`` and not repeat within a row (sorted too with ``spec.canonical``); data
    must meet ``spec``'s value constraints. Lengths and dtypes are checked by the reader.
    """
    n_rows, n_cols = shape
    nnz = len(indices)
    if indptr[0] != 0:
        raise ModelFormatError(f"{where}/indptr must start at 0, got {indptr[0]}")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        first = int(np.flatnonzero(steps < 0)[0])
        raise ModelFormatError(
            f"{where}/indptr must never decrease; it does after row {first} "
            f"({indptr[first]} -> {indptr[first + 1]})"
        )
    if indptr[-1] != nnz:
        raise ModelFormatError(
            f"{where}/indptr must end at the number of stored entries ({nnz}), got {indptr[-1]}"
        )
    if nnz:
        lo, hi = indices.min(), indices.max()
        if lo < 0 or hi >= n_cols:
            raise ModelFormatError(
                f"{where}/indices holds column indices outside [0, {n_cols}) (min {lo}, max {hi})"
            )
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), steps)
        same_row = rows[1:] == rows[:-1]
        if spec.canonical:
            if not bool(np.all(indices[1:][same_row] > indices[:-1][same_row])):
                raise ModelFormatError(
                    f"{where}/indices must be sorted and distinct within each row"
                )
        else:
            order = np.lexsort((indices, rows))
            r, c = rows[order], indices[order]
            if bool(np.any((r[1:] == r[:-1]) & (c[1:] == c[:-1]))):
                raise ModelFormatError(f"{where}/indices repeats a column within a row")
    check_values(data, finite=spec.finite, low=spec.low, where=f"{where}/data")


# ---------------------------------------------------------------------- JSON value checks
def json_bool() -> Callable[[Any], bool]:
    """A check accepting ``true`` / ``false``."""

    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r:.60}")
        return value

    return check


def json_choice(choices: Sequence[str]) -> Callable[[Any], str]:
    """A check accepting one of the strings ``choices``."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"must be one of {list(choices)}, got {value!r:.60}")
        return value

    return check


def json_int(low: int | None = None, equal: int | None = None) -> Callable[[Any], int]:
    """A check accepting an integer ``>= low`` (or exactly ``equal``)."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r:.60}")
        if low is not None and value < low:
            raise ValueError(f"must be an integer >= {low}, got {value}")
        if equal is not None and value != equal:
            raise ValueError(f"must be {equal}, got {value}")
        return value

    return check


def json_float(low: float | None = None, *, low_open: bool = False) -> Callable[[Any], float]:
    """A check accepting a finite number ``>= low`` (``> low`` with ``low_open``)."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"must be a number, got {value!r:.60}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {value!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError(f"must be {'>' if low_open else '>='} {low:g}, got {value!r}")
        return value

    return check


def json_strings(*, distinct: bool = True) -> Callable[[Any], list[str]]:
    """A check accepting a list of strings (distinct by default)."""

    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of strings, got {value!r:.60}")
        if distinct and len(set(value)) != len(value):
            raise ValueError("must not repeat a name")
        return value

    return check


def json_weights(keys: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """A check accepting ``{key: finite weight >= 0}`` with exactly the given keys."""
    number = json_float(0.0)

    def check(value: Any) -> dict[str, float]:
        if not isinstance(value, Mapping):
            raise ValueError(f"must be a mapping {{name: weight}}, got {value!r:.60}")
        if sorted(value) != sorted(keys):
            raise ValueError(f"must have exactly the keys {list(keys)}, got {list(value)}")
        out = {}
        for key in keys:
            try:
                out[key] = number(value[key])
            except ValueError as exc:
                raise ValueError(f"[{key!r}] {exc}") from None
        return out

    return check
