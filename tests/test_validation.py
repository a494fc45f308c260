"""Argument checks of featcf._validation: what they accept, and messages that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from featcf._validation import (
    check_bool,
    check_option_or_bool,
    check_option_or_mapping,
    check_option_or_real,
    check_real,
)

# --------------------------------------------------------------------------- numbers, flags, options
# (the helpers behind FeatureCF's parameter checks, issue 11)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts_python_and_numpy_bools(value):
    out = check_bool(value, "flag")
    assert out is bool(value)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
def test_check_bool_refuses_the_rest_naming_it(value):
    with pytest.raises(TypeError, match=r"flag must be True or False, got .*\(") as info:
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
