"""Invariants of the evaluation splitters (featcf.evaluation.splits).

Every split must: keep the catalogue and feature tables; put each input interaction in
exactly one part with its weight and timestamp; be reproducible from its seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf import Dataset
from featcf.evaluation import (
    Split,
    check_train_test_overlap,
    split_cold_items,
    split_cold_users,
    split_random,
    split_temporal,
)

# --------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------


def make_dataset(
    counts: list[int], n_items: int, seed: int = 0, *, timestamps: bool = True
) -> Dataset:
    """User ``u<i>`` interacts with ``counts[i]`` distinct items (ids ``sku-<10 j>``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u, n in enumerate(counts):
        for j in rng.choice(n_items, size=n, replace=False):
            rows.append((f"u{u}", f"sku-{10 * (j + 1)}", float(rng.integers(1, 6))))
    frame = pd.DataFrame(rows, columns=["user", "item", "rating"])
    frame["ts"] = rng.permutation(len(frame)).astype(float)  # distinct times
    items = pd.DataFrame(
        {
            "item": [f"sku-{10 * (j + 1)}" for j in range(n_items)],
            "category": [("car", "home", "travel")[j % 3] for j in range(n_items)],
        }
    )
    users = pd.DataFrame(
        {
            "user": [f"u{u}" for u in range(len(counts))],
            "region": [("north", "south")[u % 2] for u in range(len(counts))],
        }
    )
    return Dataset.from_frames(
        frame,
        items,
        users,
        user_col="user",
        item_col="item",
        weight_col="rating",
        timestamp_col="ts" if timestamps else None,
        # the whole catalogue and customer list: random counts may leave most of them unused
        allow_mostly_cold_items=True,
        allow_mostly_cold_users=True,
    )


@pytest.fixture(scope="module")
def ds() -> Dataset:
    # 30 users with 1..12 interactions over 15 items (+ 1 item nobody touched)
    counts = [1 + (u % 12) for u in range(30)]
    return make_dataset(counts, n_items=15)


def triples(d: Dataset, matrix: sp.csr_matrix | None = None) -> pd.DataFrame:
    """(user, item, weight, timestamp) rows of a Dataset, sorted."""
    X = d.interactions if matrix is None else matrix
    coo = X.tocoo()
    frame = pd.DataFrame({"u": coo.row, "i": coo.col, "w": coo.data})
    if d.timestamps is not None:
        frame["t"] = d.timestamps
    return frame.sort_values(["u", "i"]).reset_index(drop=True)


def parts(split: Split) -> list[Dataset]:
    return [p for p in (split.train, split.test, split.revealed) if p is not None]


def assert_partition(split: Split, source: Dataset) -> None:
    """Same catalogue; parts pairwise disjoint; their union is the input, weights and times."""
    for part in parts(split):
        assert part.n_users == source.n_users and part.n_items == source.n_items
        assert part.user_features is source.user_features
        assert part.item_features is source.item_features
        assert part.interactions.has_canonical_format
        if source.timestamps is not None:
            assert part.timestamps is not None and len(part.timestamps) == part.n_interactions
    ps = parts(split)
    for a in range(len(ps)):
        for b in range(a + 1, len(ps)):
            assert check_train_test_overlap(ps[a].interactions, ps[b].interactions) == 0
    union = pd.concat([triples(p) for p in ps]).sort_values(["u", "i"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(union, triples(source), check_dtype=False)


def same_split(a: Split, b: Split) -> bool:
    return all(
        (pa.interactions != pb.interactions).nnz == 0
        for pa, pb in zip(parts(a), parts(b), strict=True)
    )


def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(int)


# --------------------------------------------------------------------------------------
# split_random
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("test_frac", [0.2, 0.5, 0.9])
def test_random_partition_and_per_user_counts(ds, test_frac):
    split = split_random(ds, test_frac=test_frac, random_state=3)
    assert split.kind == "random" and split.cold_users is None and split.revealed is None
    assert_partition(split, ds)
    n = ds.user_counts()
    expected = np.minimum(round_half_up(test_frac * n), np.maximum(n - 1, 0))
    np.testing.assert_array_equal(split.test.user_counts(), expected)
    # every user with interactions keeps at least one for training
    assert (split.train.user_counts()[n > 0] >= 1).all()
    np.testing.assert_array_equal(split.test_users, np.flatnonzero(expected))


def test_random_is_deterministic_per_seed(ds):
    assert same_split(split_random(ds, random_state=7), split_random(ds, random_state=7))
    assert not same_split(split_random(ds, random_state=7), split_random(ds, random_state=8))
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert same_split(split_random(ds, random_state=rng_a), split_random(ds, random_state=rng_b))


def test_random_does_not_touch_global_rng(ds):
    state = np.random.get_state()  # noqa: NPY002 -- checking the legacy global RNG is untouched
    split_random(ds, random_state=1)
    split_cold_users(ds, random_state=1, reveal=1)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2] == after[2]


# --------------------------------------------------------------------------------------
# split_temporal
# --------------------------------------------------------------------------------------


def test_temporal_holds_out_the_latest(ds):
    split = split_temporal(ds, test_frac=0.3)
    assert split.kind == "temporal"
    assert_partition(split, ds)
    n = ds.user_counts()
    np.testing.assert_array_equal(
        split.test.user_counts(), np.minimum(round_half_up(0.3 * n), np.maximum(n - 1, 0))
    )
    train, test = triples(split.train), triples(split.test)
    last_train = train.groupby("u")["t"].max()
    first_test = test.groupby("u")["t"].min()
    assert (first_test > last_train.reindex(first_test.index)).all()


def test_temporal_ties_are_deterministic():
    frame = pd.DataFrame(
        {"user": ["a"] * 4, "item": ["x", "y", "z", "w"], "ts": [1.0, 1.0, 1.0, 1.0]}
    )
    d = Dataset.from_frames(frame, user_col="user", item_col="item", timestamp_col="ts")
    first = split_temporal(d, 0.5)
    assert first.test.n_interactions == 2
    assert same_split(first, split_temporal(d, 0.5))
    # documented tie-break: the higher item position counts as later
    assert sorted(first.test.interactions.indices.tolist()) == [2, 3]


def test_temporal_needs_timestamps():
    d = make_dataset([3, 4], n_items=5, timestamps=False)
    with pytest.raises(ValueError, match="timestamp"):
        split_temporal(d, 0.2)


# --------------------------------------------------------------------------------------
# split_cold_items
# --------------------------------------------------------------------------------------


def test_cold_items_lose_every_interaction(ds):
    split = split_cold_items(ds, item_frac=0.2, random_state=1)
    assert split.kind == "cold_items" and split.cold_items is not None
    assert_partition(split, ds)
    active = ds.item_counts() > 0
    assert len(split.cold_items) == round_half_up(0.2 * active.sum())
    assert active[split.cold_items].all()  # never-touched items are not drawn
    assert (split.train.item_counts()[split.cold_items] == 0).all()
    np.testing.assert_array_equal(
        split.test.item_counts()[split.cold_items], ds.item_counts()[split.cold_items]
    )
    others = np.setdiff1d(np.arange(ds.n_items), split.cold_items)
    assert split.test.item_counts()[others].sum() == 0
    # cold items keep their features in train
    assert split.train.item_features.matrix[split.cold_items].nnz == len(split.cold_items)


def test_cold_items_explicit_and_deterministic(ds):
    split = split_cold_items(ds, items=[4, 1, 4])
    np.testing.assert_array_equal(split.cold_items, [1, 4])
    assert_partition(split, ds)
    assert same_split(split_cold_items(ds, random_state=2), split_cold_items(ds, random_state=2))
    assert not same_split(
        split_cold_items(ds, random_state=2), split_cold_items(ds, random_state=3)
    )
    with pytest.raises(ValueError, match="items"):
        split_cold_items(ds, items=[ds.n_items])


# --------------------------------------------------------------------------------------
# split_cold_users
# --------------------------------------------------------------------------------------


def test_cold_users_zero_interactions(ds):
    split = split_cold_users(ds, user_frac=0.2, random_state=0)
    assert split.kind == "cold_users" and split.revealed is None and split.reveal == 0
    assert_partition(split, ds)
    cold = split.cold_users
    assert len(cold) == round_half_up(0.2 * (ds.user_counts() > 0).sum())
    assert split.train.user_counts()[cold].sum() == 0
    np.testing.assert_array_equal(split.test.user_counts()[cold], ds.user_counts()[cold])
    np.testing.assert_array_equal(split.test_users, cold)
    # they keep their features
    assert split.train.user_features.matrix[cold].nnz == len(cold)


@pytest.mark.parametrize("reveal", [1, 3, 5])
def test_given_k_reveals_exactly_k(ds, reveal):
    split = split_cold_users(ds, user_frac=0.3, random_state=4, reveal=reveal)
    assert_partition(split, ds)
    cold = split.cold_users
    counts = ds.user_counts()
    assert (counts[cold] > reveal).all()  # everyone drawn has something left to test
    assert (split.revealed.user_counts()[cold] == reveal).all()
    np.testing.assert_array_equal(split.test.user_counts()[cold], counts[cold] - reveal)
    assert split.train.user_counts()[cold].sum() == 0
    # nothing revealed or tested for anyone else
    warm = np.setdiff1d(np.arange(ds.n_users), cold)
    assert split.revealed.user_counts()[warm].sum() == 0
    assert split.test.user_counts()[warm].sum() == 0
    assert split.n_ineligible == int(((counts > 0) & (counts <= reveal)).sum())


def test_given_k_same_users_and_nested_reveals():
    # every user has >= 8 interactions, so every user is eligible for reveal <= 5
    d = make_dataset([8 + (u % 4) for u in range(40)], n_items=20, seed=1)
    splits = {
        k: split_cold_users(d, user_frac=0.25, random_state=9, reveal=k) for k in (0, 1, 3, 5)
    }
    for k in (1, 3, 5):
        np.testing.assert_array_equal(splits[k].cold_users, splits[0].cold_users)
    r1, r3, r5 = (splits[k].revealed.interactions for k in (1, 3, 5))
    assert check_train_test_overlap(r1, r3) == r1.nnz
    assert check_train_test_overlap(r3, r5) == r3.nnz


def test_cold_users_explicit_users_and_errors(ds):
    counts = ds.user_counts()
    eligible = np.flatnonzero(counts > 2)[:3]
    split = split_cold_users(ds, reveal=2, users=eligible)
    np.testing.assert_array_equal(split.cold_users, np.sort(eligible))
    assert_partition(split, ds)
    short = np.flatnonzero(counts <= 2)[:1]
    with pytest.raises(ValueError, match="nothing to test"):
        split_cold_users(ds, reveal=2, users=short)
    with pytest.raises(ValueError, match="reveal"):
        split_cold_users(ds, reveal=100)
    with pytest.raises(ValueError, match="reveal"):
        split_cold_users(ds, reveal=-1)
    with pytest.raises(TypeError, match="reveal"):
        split_cold_users(ds, reveal=1.5)


def test_cold_users_deterministic(ds):
    assert same_split(
        split_cold_users(ds, random_state=1, reveal=1),
        split_cold_users(ds, random_state=1, reveal=1),
    )
    a, b = split_cold_users(ds, random_state=1), split_cold_users(ds, random_state=2)
    assert not np.array_equal(a.cold_users, b.cold_users)


# --------------------------------------------------------------------------------------
# argument errors and the Split object
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda d: split_random(d, test_frac=0.0), ValueError, "test_frac"),
        (lambda d: split_random(d, test_frac=1.0), ValueError, "test_frac"),
        (lambda d: split_random(d, test_frac="0.2"), TypeError, "test_frac"),
        (lambda d: split_temporal(d, test_frac=-0.1), ValueError, "test_frac"),
        (lambda d: split_cold_items(d, item_frac=1.5), ValueError, "item_frac"),
        (lambda d: split_cold_users(d, user_frac=0.0), ValueError, "user_frac"),
        (lambda d: split_random(d.interactions), TypeError, "Dataset"),
        (lambda d: split_random(d, random_state="abc"), TypeError, "random_state"),
    ],
)
def test_bad_arguments(ds, call, exc, match):
    with pytest.raises(exc, match=match):
        call(ds)


def test_split_is_frozen_and_describes_itself(ds):
    split = split_cold_users(ds, random_state=0, reveal=1)
    with pytest.raises(AttributeError):
        split.kind = "random"  # type: ignore[misc]
    info = split.describe()
    assert info["n_train"] + info["n_test"] + info["n_revealed"] == ds.n_interactions
    assert info["n_cold_users"] == len(split.cold_users)
    assert "cold_users" in repr(split)
    assert split.replace(kind="x").kind == "x" and split.kind == "cold_users"


# --------------------------------------------------------------------------------------
# property test: the invariants on random datasets
# --------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(0, 9), min_size=2, max_size=12).filter(lambda c: sum(c) > 0),
    data_seed=st.integers(0, 1000),
    seed=st.integers(0, 1000),
    frac=st.floats(0.05, 0.95),
    reveal=st.integers(0, 3),
)
def test_invariants_hold_on_random_data(counts, data_seed, seed, frac, reveal):
    d = make_dataset(counts, n_items=10, seed=data_seed)
    user_counts = d.user_counts()
    for split in (
        split_random(d, frac, seed),
        split_temporal(d, frac),
        split_cold_items(d, frac, seed),
    ):
        assert_partition(split, d)
    if (user_counts > reveal).any():
        split = split_cold_users(d, frac, seed, reveal=reveal)
        assert_partition(split, d)
        cold = split.cold_users
        assert split.train.user_counts()[cold].sum() == 0
        assert (split.test.user_counts()[cold] >= 1).all()
        if reveal:
            assert (split.revealed.user_counts()[cold] == reveal).all()
        not_cold = np.setdiff1d(np.arange(d.n_users), cold)
        assert split.test.user_counts()[not_cold].sum() == 0


@pytest.mark.parametrize("splitter", [split_random, split_cold_items, split_cold_users])
def test_old_keyword_seed_still_works_with_a_future_warning(ds, splitter):
    with pytest.warns(FutureWarning, match="random_state"):
        old = splitter(ds, seed=5)
    assert same_split(old, splitter(ds, random_state=5))
