"""Argument checks (featcf._validation): messages name the argument, wrong types and values fail."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from featcf._validation import (
    check_bool,
    check_cutoffs,
    check_finite_float,
    check_fraction,
    check_nonnegative_weights,
    check_positive_float,
    check_random_state,
    renamed_keywords,
)


# ---------------------------------------------------------------------- renamed_keywords
@renamed_keywords(seed="random_state")
def _draw(n: int, random_state: int = 0) -> tuple[int, int]:
    return n, random_state


def test_renamed_keyword_still_works_with_a_future_warning():
    with pytest.warns(FutureWarning, match=r"_draw\(seed=...\) is renamed _draw\(random_state"):
        assert _draw(3, seed=7) == (3, 7)


def test_new_name_and_positional_calls_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _draw(3, random_state=7) == (3, 7)
        assert _draw(3, 7) == (3, 7)


def test_both_names_at_once_are_refused():
    with pytest.raises(TypeError, match="both seed= and random_state="):
        _draw(3, seed=1, random_state=2)


def test_signature_shows_the_new_name_only():
    assert list(inspect.signature(_draw).parameters) == ["n", "random_state"]


# ---------------------------------------------------------------------- value checks
def test_check_bool():
    assert check_bool(np.True_, "fit") is True
    with pytest.raises(TypeError, match=r"fit must be a bool \(True or False\), got 'yes'"):
        check_bool("yes", "fit")
    with pytest.raises(TypeError, match="fit"):
        check_bool(1, "fit")


def test_check_finite_float():
    assert check_finite_float(np.float32(4), "t") == 4.0
    assert check_finite_float(None, "t", allow_none=True) is None
    with pytest.raises(TypeError, match="t must be a number"):
        check_finite_float(None, "t")
    with pytest.raises(TypeError, match="t must be a number"):
        check_finite_float(True, "t")
    with pytest.raises(ValueError, match="t must be a finite number, got nan"):
        check_finite_float(float("nan"), "t")


def test_check_positive_float():
    assert check_positive_float(2, "alpha") == 2.0
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="alpha must be a positive number"):
            check_positive_float(bad, "alpha")
    with pytest.raises(TypeError, match="alpha must be a positive number"):
        check_positive_float("1", "alpha")


def test_check_fraction():
    assert check_fraction(0.5, "f") == 0.5
    assert check_fraction(1, "f", allow_one=True) == 1.0
    with pytest.raises(ValueError, match=r"f must lie in \(0, 1\), got 1.0"):
        check_fraction(1, "f")
    with pytest.raises(ValueError, match=r"f must lie in \(0, 1\]"):
        check_fraction(0.0, "f", allow_one=True)
    with pytest.raises(TypeError, match="f must be a number"):
        check_fraction("0.2", "f")


def test_check_cutoffs():
    assert check_cutoffs(5) == (5,)
    assert check_cutoffs(np.array([10, 5])) == (10, 5)
    assert check_cutoffs([1, np.int64(3)]) == (1, 3)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        check_cutoffs([5, 0])
    with pytest.raises(ValueError, match="k repeats a cut-off"):
        check_cutoffs([5, 5])
    with pytest.raises(ValueError, match="k must not be an empty sequence"):
        check_cutoffs([])
    with pytest.raises(TypeError, match="k must be a positive integer"):
        check_cutoffs(True)
    with pytest.raises(TypeError, match="k must be a positive integer or a sequence"):
        check_cutoffs("10")
    with pytest.raises(TypeError, match="k must be a positive integer or a sequence"):
        check_cutoffs(2.0)


def test_check_nonnegative_weights():
    assert check_nonnegative_weights(None, "w") is None
    assert check_nonnegative_weights({"a": 1, "b": 0.0}, "w") == {"a": 1.0, "b": 0.0}
    with pytest.raises(TypeError, match=r"w must be a dict \{name: weight\} or None, got list"):
        check_nonnegative_weights([("a", 1.0)], "w")
    with pytest.raises(TypeError, match=r"w\['a'\] must be a non-negative number"):
        check_nonnegative_weights({"a": "high"}, "w")
    with pytest.raises(ValueError, match=r"w\['a'\]"):
        check_nonnegative_weights({"a": -1.0}, "w")


def test_check_random_state_refuses_booleans():
    assert isinstance(check_random_state(np.int64(3)), np.random.Generator)
    rng = np.random.default_rng(0)
    assert check_random_state(rng) is rng
    for bad in (True, np.False_, "seed", 1.5):
        with pytest.raises(TypeError, match="random_state must be None, an int"):
            check_random_state(bad)
