"""Argument checks (featcf._validation): messages name the argument, wrong types and values fail."""

from __future__ import annotations

import inspect
import warnings

import pytest

from featcf._validation import renamed_keywords


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
