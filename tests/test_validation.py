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
    check_option_or_bool,
    check_option_or_mapping,
    check_option_or_real,
    check_positive_float,
    check_random_state,
    check_real,
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


# --------------------------------------------------------------------------- numbers, flags, options
# (the helpers behind FeatureCF's parameter checks, issue 11)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts_python_and_numpy_bools(value):
    out = check_bool(value, "flag")
    assert out is bool(value)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
def test_check_bool_refuses_the_rest_naming_it(value):
    with pytest.raises(TypeError, match=r"flag must be a bool \(True or False\), got .*\(") as info:
        check_bool(value, "flag")
    assert repr(value) in str(info.value)


def test_check_real_returns_a_float_and_keeps_bounds():
    assert check_real(3, "x") == 3.0 and isinstance(check_real(3, "x"), float)
    assert check_real(np.float32(0.5), "x", low=0, high=1) == 0.5
    assert check_real(0, "x", low=0) == 0.0  # closed bound
    assert check_real(1, "x", high=1) == 1.0
    assert check_real(None, "x", allow_none=True) is None


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({"low": 0, "high": 1, "low_open": True, "high_open": True}, 0.0, r"in \(0, 1\)"),
        ({"low": 0, "high": 1, "low_open": True, "high_open": True}, 1.5, r"in \(0, 1\)"),
        ({"low": 0, "high": 1}, -0.1, r"in \[0, 1\]"),
        ({"low": 0, "low_open": True}, 0.0, "> 0"),
        ({"low": 2}, 1.0, ">= 2"),
        ({"high": 2, "high_open": True}, 2.0, "< 2"),
        ({}, float("nan"), ""),
        ({}, float("inf"), ""),
    ],
)
def test_check_real_value_errors_say_the_range_and_the_value(kwargs, value, expected):
    with pytest.raises(ValueError, match=f"x must be a finite number.*{expected}.*got {value!r}"):
        check_real(value, "x", **kwargs)


@pytest.mark.parametrize("value", [True, "1.0", [1.0], None])
def test_check_real_type_errors_name_the_type(value):
    with pytest.raises(TypeError, match=f"x must be a finite number, got .*{type(value).__name__}"):
        check_real(value, "x")


def test_check_real_allow_none_says_so():
    with pytest.raises(TypeError, match="a finite number or None"):
        check_real("a", "x", allow_none=True)


def test_check_option_or_real():
    assert check_option_or_real("auto", "l2", ("auto",), low=0, low_open=True) == "auto"
    assert check_option_or_real(2, "l2", ("auto",), low=0, low_open=True) == 2.0
    with pytest.raises(ValueError, match=r"l2 must be 'auto' or a finite number > 0, got 'big'"):
        check_option_or_real("big", "l2", ("auto",), low=0, low_open=True)
    with pytest.raises(ValueError, match=r"l2 must be 'auto' or a finite number > 0, got 0"):
        check_option_or_real(0, "l2", ("auto",), low=0, low_open=True)
    with pytest.raises(TypeError, match=r"l2 must be 'auto' or .*got \[1.0\] \(list\)"):
        check_option_or_real([1.0], "l2", ("auto",))
    with pytest.raises(TypeError, match="bool"):
        check_option_or_real(True, "l2", ("auto",))


def test_check_option_or_bool():
    assert check_option_or_bool("auto", "implicit", ("auto",)) == "auto"
    assert check_option_or_bool(np.bool_(False), "implicit", ("auto",)) is False
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match=r"implicit must be True, False or 'auto', got"):
            check_option_or_bool(bad, "implicit", ("auto",))


def test_check_option_or_mapping():
    given = {"a": 1.0}
    assert check_option_or_mapping(given, "weights", ("learn",)) is given
    assert check_option_or_mapping("learn", "weights", ("learn", "uniform")) == "learn"
    with pytest.raises(ValueError, match=r"weights must be 'learn', 'uniform' or a dict \{t: w\}"):
        check_option_or_mapping("equal", "weights", ("learn", "uniform"), "a dict {t: w}")
    with pytest.raises(ValueError, match="got 3"):
        check_option_or_mapping(3, "weights", ("learn",))
