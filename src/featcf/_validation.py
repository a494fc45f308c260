"""Argument checks used at the public boundary.

Each check raises an error whose message names the argument, says what was expected and
shows what arrived. Kernels never validate; the Python wrappers call these first.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ACROSS",
    "check_across",
    "check_bool",
    "check_csr",
    "check_cutoffs",
    "check_finite",
    "MAX_TOTAL_WEIGHT",
    "check_float32_weights",
    "check_finite_float",
    "check_fraction",
    "check_nonnegative_float",
    "check_nonnegative_int",
    "check_nonnegative_weights",
    "check_option",
    "check_option_or_bool",
    "check_option_or_mapping",
    "check_option_or_real",
    "check_positive_float",
    "check_positive_int",
    "check_random_state",
    "check_real",
    "renamed_keywords",
]


def check_positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (booleans are refused).
    ValueError
        If ``value`` is an integer below 1.
    """
    if value is None and allow_none:
        return None
    return _check_int(value, name, 1, "a positive integer")


def check_nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 0, else raise.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (booleans are refused).
    ValueError
        If ``value`` is negative.
    """
    return _check_int(value, name, 0, "a non-negative integer")


def _check_int(value: Any, name: str, minimum: int, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_nonnegative_float(value: Any, name: str) -> float:
    """Return ``value`` as a finite ``float`` >= 0, else raise ``TypeError``/``ValueError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a non-negative number, got {value!r} ({type(value).__name__})"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return value


def check_option(value: Any, name: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``, else raise ``ValueError`` listing them."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


#: what a model's scores are compared across: a customer's products (``recommend``) or a
#: product's customers (``recommend_users``)
ACROSS = ("items", "users")


def check_across(across: Any) -> str:
    """``across`` if it is one of :data:`ACROSS`, else ``ValueError`` naming the argument."""
    return check_option(across, "across", ACROSS)


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``array`` holds NaN or infinity, saying how many."""
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} must be finite; it holds {int(bad.sum())} NaN or infinite value(s)"
        )


#: largest sum of interaction weights: half of float32's largest value, so that any score
#: adding weights up (times similarities of at most 1) stays a finite float32
MAX_TOTAL_WEIGHT = float(np.finfo(np.float32).max) / 2


def check_float32_weights(
    weights: np.ndarray, name: str, labels: Any = None, *, total: bool = False
) -> np.ndarray:
    """``weights`` (finite, > 0) as float32, if each stays finite and non-zero after the cast.

    featcf stores interaction weights as float32: a weight above its largest value (about
    3.4e38) would become ``inf`` and one below its smallest (about 1.4e-45) would become 0.
    With ``total``, their sum must also stay below :data:`MAX_TOTAL_WEIGHT` (scores add
    weights up: a popularity by weight, a kNN score).

    Parameters
    ----------
    weights : numpy.ndarray of float64
        Weights already checked finite and positive.
    name : str
        The argument and column, for the message (``"interactions['rating']"``).
    labels : array-like, optional
        A label per weight (row labels) to show examples by.

    Raises
    ------
    ValueError
        Naming ``name``, how many weights are out of float32's range and examples.
    """
    with np.errstate(over="ignore"):
        out = weights.astype(np.float32)
    for bad, what, becomes, advice in (
        (
            ~np.isfinite(out),
            f"above float32's largest value ({np.finfo(np.float32).max:.3g})",
            "inf",
            "rescale the column (e.g. divide it by its maximum)",
        ),
        (
            out == 0,
            f"below float32's smallest positive value ({2.0**-149:.3g})",
            "0",
            "rescale the column, or filter those rows out",
        ),
    ):
        if bad.any():
            where = (
                "" if labels is None else f", e.g. at rows {np.asarray(labels)[bad][:5].tolist()}"
            )
            raise ValueError(
                f"{name} holds {int(bad.sum())} weight(s) {what}{where}; featcf stores weights as "
                f"float32, where they would become {becomes}: {advice}"
            )
    if total and float(np.sum(weights, dtype=np.float64)) > MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"{name} holds weights that add up to {np.sum(weights, dtype=np.float64):.3g}, more "
            f"than featcf's float32 scores can hold ({MAX_TOTAL_WEIGHT:.3g}: scores add weights "
            f"up): rescale the column (e.g. divide it by its maximum, or log1p)"
        )
    return out


def check_csr(matrix: Any, name: str, *, dtype: Any = np.float32) -> sp.csr_matrix:
    """Return a canonical CSR copy-or-view of ``matrix`` with ``dtype`` values and int32 indices.

    Accepts any scipy sparse matrix or array. Duplicate entries are summed, indices sorted.

    Raises
    ------
    TypeError
        If ``matrix`` is not a scipy sparse matrix (a dense array is refused: say ``csr_matrix(X)``).
    ValueError
        If it holds NaN or infinite values.
    """
    if not sp.issparse(matrix):
        raise TypeError(
            f"{name} must be a scipy.sparse matrix (CSR preferred), got {type(matrix).__name__}; "
            f"convert with scipy.sparse.csr_matrix({name})"
        )
    csr = sp.csr_matrix(matrix, dtype=dtype)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    check_finite(csr.data, name)
    if csr.indices.dtype != np.int32 or csr.indptr.dtype != np.int32:
        if csr.nnz < np.iinfo(np.int32).max:
            csr.indices = csr.indices.astype(np.int32)
            csr.indptr = csr.indptr.astype(np.int32)
    return csr


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``None``, an int seed or a ``Generator`` into a ``numpy.random.Generator``.

    Booleans are refused (``random_state=True`` is a slip, not a seed).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed_like = (numbers.Integral, np.random.SeedSequence)
    if random_state is None or (
        isinstance(random_state, seed_like) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.Generator, got {type(random_state).__name__}"
    )


# ---------------------------------------------------------------------- helpers added for issue 11
_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_keywords(**renames: str) -> Callable[[_F], _F]:
    """Keep accepting the old names of renamed keyword arguments, with a ``FutureWarning``.

    ``@renamed_keywords(seed="random_state")`` lets ``f(seed=1)`` call ``f(random_state=1)``
    and warn; giving both names raises ``TypeError``. The signature shows the new names only.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{func.__name__}() got both {old}= and {new}=; {old} is the old name "
                        f"of {new}: pass {new} only"
                    )
                warnings.warn(
                    f"{func.__name__}({old}=...) is renamed {func.__name__}({new}=...); the "
                    f"old name will stop working in a future release",
                    FutureWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check_cutoffs(k: Any, name: str = "k") -> tuple[int, ...]:
    """One cut-off or a sequence of distinct ones, as a tuple of positive ``int``.

    Raises
    ------
    TypeError
        If ``k`` is neither an integer nor a sequence of integers.
    ValueError
        If a cut-off is below 1, the sequence is empty or repeats a cut-off.
    """
    if isinstance(k, (numbers.Integral, np.bool_)):
        return (int(check_positive_int(k, name)),)  # type: ignore[arg-type]
    if isinstance(k, (str, bytes)) or not isinstance(k, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a positive integer or a sequence of them, got {k!r}")
    ks = tuple(int(check_positive_int(v, name)) for v in k)  # type: ignore[arg-type]
    if not ks:
        raise ValueError(f"{name} must not be an empty sequence")
    if len(set(ks)) != len(ks):
        raise ValueError(f"{name} repeats a cut-off: {list(ks)}")
    return ks


def check_nonnegative_weights(weights: Any, name: str) -> dict[str, float] | None:
    """A mapping ``{name: weight}`` with finite weights >= 0 as a ``dict`` (None stays None).

    Raises
    ------
    TypeError
        If ``weights`` is not a mapping, or a weight is not a number (the message names it).
    ValueError
        If a weight is negative or not finite.
    """
    if weights is None:
        return None
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"{name} must be a dict {{name: weight}} or None, got {type(weights).__name__}"
        )
    return {key: check_nonnegative_float(w, f"{name}[{key!r}]") for key, w in weights.items()}


# ---------------------------------------------------------------------- numbers, flags and options
# (added with FeatureCF's parameter checks, issue 11)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """``"a finite number"`` with its bounds, e.g. ``"a finite number in (0, 1)"``."""
    if low is not None and high is not None:
        return f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def _in_range(
    value: float, low: float | None, high: float | None, low_open: bool, high_open: bool
) -> bool:
    if not np.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as a ``bool`` if it is one (numpy's included), else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be a bool (True or False), got {value!r} ({type(value).__name__})"
        )
    return bool(value)


def _checked_real(value: Any, name: str, expected: str, bounds: tuple) -> float:
    """``value`` as a float if it is a real number within ``bounds`` (see :func:`_in_range`),
    else ``TypeError`` / ``ValueError`` saying ``expected``."""
    if not _is_real(value):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if not _in_range(float(value), *bounds):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Return ``value`` as a finite ``float`` within the bounds (closed unless ``*_open``).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (booleans are refused), or None when not allowed.
    ValueError
        If ``value`` is NaN, infinite or out of the bounds.
    """
    if value is None and allow_none:
        return None
    bounds = (low, high, low_open, high_open)
    expected = _range_text(*bounds) + (" or None" if allow_none else "")
    return _checked_real(value, name, expected, bounds)


def check_option_or_real(
    value: Any,
    name: str,
    options: Iterable[str],
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> str | float:
    """Return ``value`` if it is one of ``options``, else as a finite ``float`` in the bounds.

    Raises
    ------
    TypeError
        If ``value`` is neither a string nor a real number.
    ValueError
        If it is a string not among ``options``, or a number out of the bounds.
    """
    options = tuple(options)
    bounds = (low, high, low_open, high_open)
    expected = f"{' or '.join(map(repr, options))} or {_range_text(*bounds)}"
    if isinstance(value, str):
        if value not in options:
            raise ValueError(f"{name} must be {expected}, got {value!r}")
        return value
    return _checked_real(value, name, expected, bounds)


def check_option_or_bool(value: Any, name: str, options: Iterable[str]) -> str | bool:
    """Return ``value`` as a ``bool`` if it is one, else if it is one of ``options``; else raise
    ``ValueError`` saying both."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{name} must be True, False or {' or '.join(map(repr, options))}, got {value!r}"
        )
    return value


def check_option_or_mapping(
    value: Any, name: str, options: Iterable[str], mapping: str = "a dict"
) -> str | Mapping[Any, Any]:
    """Return ``value`` if it is a mapping or one of ``options``, else raise ``ValueError``
    (``mapping`` describes the expected mapping in the message, e.g. ``"a dict {term: weight}"``)."""
    if isinstance(value, Mapping):
        return value
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{name} must be {', '.join(map(repr, options))} or {mapping}, got {value!r}"
        )
    return value


def check_finite_float(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    """Return ``value`` as a finite ``float``, else raise ``TypeError``/``ValueError``."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_positive_float(value: Any, name: str) -> float:
    """Return ``value`` as a finite ``float`` > 0, else raise ``TypeError``/``ValueError``."""
    return _checked_real(value, name, "a positive number", (0.0, None, True, False))


def check_fraction(value: Any, name: str, *, allow_one: bool = False) -> float:
    """Return ``value`` as a ``float`` in (0, 1), or in (0, 1] with ``allow_one``, else raise."""
    interval = "(0, 1]" if allow_one else "(0, 1)"
    if not _is_real(value):
        raise TypeError(f"{name} must be a number in {interval}, got {value!r}")
    if not _in_range(float(value), 0.0, 1.0, True, not allow_one):
        raise ValueError(f"{name} must lie in {interval}, got {float(value)!r}")
    return float(value)
