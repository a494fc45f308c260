"""IdMap: external <-> internal round trips and unknown-id errors."""

import numpy as np
import pytest

from featcf import UnknownIdError
from featcf.data import IdMap


@pytest.mark.parametrize(
    "ids",
    [["u1", "u2", "u3"], [10, 20, 30], np.array([7, 3, 5]), ["a", 1, ("t", 2)]],
    ids=["strings", "ints", "int-array", "mixed"],
)
def test_round_trip(ids):
    m = IdMap(ids, kind="user")
    idx = m.to_index(list(ids)[::-1])
    assert idx.tolist() == list(range(len(m)))[::-1]
    assert list(m.to_ids(idx)) == list(ids)[::-1]


def test_scalar_lookup_returns_int():
    m = IdMap([10, 20], kind="item")
    assert m.to_index(20) == 1
    assert isinstance(m.to_index(20), int)


def test_unknown_ids_are_listed():
    m = IdMap(["u1", "u2"], kind="user")
    with pytest.raises(UnknownIdError, match="2 unknown user id") as info:
        m.to_index(["u1", "zz", 3], argument="user_ids")
    assert info.value.unknown_ids == ["zz", 3]
    assert "user_ids" in str(info.value)
    assert "'u1'" in str(info.value)  # shows what known ids look like


def test_int_and_string_ids_are_different():
    m = IdMap([10, 20], kind="item")
    with pytest.raises(UnknownIdError, match="'10'"):
        m.to_index(["10"])


def test_non_strict_gives_minus_one():
    m = IdMap(["a", "b"], kind="item")
    assert m.to_index(["b", "x"], strict=False).tolist() == [1, -1]


def test_duplicates_refused():
    with pytest.raises(ValueError, match="unique"):
        IdMap(["a", "a"], kind="item")


def test_ids_are_read_only():
    m = IdMap([1, 2], kind="item")
    with pytest.raises(ValueError):
        m.ids[0] = 5
