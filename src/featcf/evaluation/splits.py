"""Train/test splits for offline evaluation: warm, temporal, cold items, cold users, given-k.

Every splitter takes a :class:`~featcf.Dataset` and returns a :class:`Split` whose parts are
Datasets over the **same catalogue** (same users, items and feature tables): only the
interactions differ. Cold items and cold users therefore stay in ``train`` with their
features and no interactions, so a model fitted on ``train`` can still encode and score them.

Each stored interaction of the input lands in exactly one part (``train``, ``test`` or, for
the given-k protocol, ``revealed``), with its weight and timestamp. Randomness comes only
from ``numpy.random.default_rng(random_state)``: the same seed gives the same split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from featcf._validation import (
    check_fraction,
    check_nonnegative_int,
    check_random_state,
    renamed_keywords,
)
from featcf.data.dataset import Dataset

__all__ = [
    "SPLIT_KINDS",
    "Split",
    "split_cold_items",
    "split_cold_users",
    "split_random",
    "split_temporal",
]

#: Values of ``Split.kind``.
SPLIT_KINDS: tuple[str, ...] = ("random", "temporal", "cold_items", "cold_users")


@dataclass(frozen=True, eq=False)
class Split:
    """The parts of one evaluation split (all Datasets share one catalogue).

    Attributes
    ----------
    train : Dataset
        What a model is fitted on: the whole catalogue and feature tables, and the training
        interactions.
    test : Dataset
        The held-out interactions only (same users and items as ``train``).
    kind : str
        One of :data:`SPLIT_KINDS`.
    cold_users : numpy.ndarray of int64 or None
        Internal positions of the users whose interactions were all taken out of ``train``
        (``"cold_users"`` splits), sorted.
    cold_items : numpy.ndarray of int64 or None
        Internal positions of the items whose interactions were all taken out of ``train``
        (``"cold_items"`` splits), sorted.
    revealed : Dataset or None
        Given-k protocol (``split_cold_users(..., reveal=k)`` with ``k >= 1``): the ``k``
        interactions of each cold user that are known at query time (their history for a
        fold-in), disjoint from ``train`` and ``test``. None otherwise.
    reveal : int
        ``k`` of the given-k protocol (0 for every other split).
    n_ineligible : int
        Users (cold-users splits) or items (cold-items splits) that had interactions but could
        not be drawn: users with ``reveal`` interactions or fewer (they would have nothing
        left to test). They stay warm in ``train``.
    """

    train: Dataset
    test: Dataset
    kind: str
    cold_users: np.ndarray | None = None
    cold_items: np.ndarray | None = None
    revealed: Dataset | None = None
    reveal: int = 0
    n_ineligible: int = 0

    @property
    def test_users(self) -> np.ndarray:
        """Internal positions of users with at least one test interaction (int64, sorted)."""
        return np.flatnonzero(np.diff(self.test.interactions.indptr)).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """Sizes of the parts, as a dict (for logs and reports)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "n_train": self.train.n_interactions,
            "n_test": self.test.n_interactions,
            "n_test_users": len(self.test_users),
        }
        if self.cold_users is not None:
            out["n_cold_users"] = len(self.cold_users)
        if self.cold_items is not None:
            out["n_cold_items"] = len(self.cold_items)
        if self.revealed is not None:
            out["n_revealed"] = self.revealed.n_interactions
        if self.reveal:
            out["reveal"] = self.reveal
        if self.kind in ("cold_users", "cold_items"):
            out["n_ineligible"] = self.n_ineligible
        return out

    def replace(self, **changes: Any) -> Split:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.describe().items())
        return f"Split({parts})"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _check_dataset(ds: Any) -> Dataset:
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"ds must be a featcf.Dataset (build one with Dataset.from_frames), "
            f"got {type(ds).__name__}"
        )
    if ds.n_interactions == 0:
        raise ValueError("ds has no interactions to split")
    return ds


def _canonical(ds: Dataset) -> sp.csr_matrix:
    X = ds.interactions
    if not X.has_canonical_format:  # Datasets are built canonical; stay safe
        raise ValueError("ds.interactions must be in canonical CSR form (sorted, no duplicates)")
    return X


def _row_of_entries(X: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))


def _subset(ds: Dataset, mask: np.ndarray) -> Dataset:
    """``ds`` keeping only the stored interactions where ``mask`` is True (timestamps too)."""
    X = _canonical(ds)
    rows = _row_of_entries(X)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[mask], minlength=X.shape[0]), out=indptr[1:])
    matrix = sp.csr_matrix(
        (X.data[mask], X.indices[mask], indptr.astype(X.indptr.dtype)), shape=X.shape
    )
    times = None if ds.timestamps is None else ds.timestamps[mask]
    return ds.with_interactions(matrix, times)


def _rank_within_rows(rows: np.ndarray, key: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Rank (0-based) of every entry within its row when the row is sorted by ``key``."""
    order = np.lexsort((key, rows))  # by row, then key ascending
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows), dtype=np.int64) - indptr[rows[order]]
    return rank


def _n_test_per_user(counts: np.ndarray, test_frac: float) -> np.ndarray:
    """round-half-up(test_frac * n), at most n - 1 (each user keeps one training interaction)."""
    n_test = np.floor(test_frac * counts + 0.5).astype(np.int64)
    return np.clip(n_test, 0, np.maximum(counts - 1, 0))


def _draw(
    eligible: np.ndarray, n_wanted: int, rng: np.random.Generator, n_total: int
) -> np.ndarray:
    """The first ``n_wanted`` eligible positions of a seeded permutation of ``0..n_total-1``.

    Drawing from a permutation of all positions (not of the eligible ones only) keeps the
    drawn set stable when eligibility changes (e.g. the same cold users for reveal=1, 3, 5).
    """
    order = rng.permutation(n_total)
    chosen = order[eligible[order]][:n_wanted]
    return np.sort(chosen).astype(np.int64)


# --------------------------------------------------------------------------------------
# splitters
# --------------------------------------------------------------------------------------


@renamed_keywords(seed="random_state")
def split_random(ds: Dataset, test_frac: float = 0.2, random_state: Any = 0) -> Split:
    """Warm split: per user, a random fraction of their interactions goes to test.

    User ``u`` with ``n`` interactions puts ``round(test_frac * n)`` of them (rounding
    halves up) in test, but never all: every user keeps at least one training interaction,
    so a user with a single interaction has no test part.

    Parameters
    ----------
    ds : Dataset
        The data to split.
    test_frac : float, default 0.2
        Fraction of each user's interactions held out, in (0, 1).
    random_state : int, numpy.random.Generator or None, default 0
        Seed of ``numpy.random.default_rng``; the same int gives the same split.

    Returns
    -------
    Split
        ``kind="random"``.

    Raises
    ------
    TypeError
        If ``ds`` is not a Dataset or ``test_frac`` not a number.
    ValueError
        If ``test_frac`` is outside (0, 1) or ``ds`` has no interactions.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=100, random_state=0)
    >>> split = split_random(shop, test_frac=0.2, random_state=1)
    >>> split.train.n_interactions + split.test.n_interactions == shop.n_interactions
    True
    """
    ds = _check_dataset(ds)
    test_frac = check_fraction(test_frac, "test_frac")
    rng = check_random_state(random_state)
    X = _canonical(ds)
    rows = _row_of_entries(X)
    rank = _rank_within_rows(rows, rng.random(X.nnz), X.indptr.astype(np.int64))
    test_mask = rank < _n_test_per_user(np.diff(X.indptr).astype(np.int64), test_frac)[rows]
    return Split(train=_subset(ds, ~test_mask), test=_subset(ds, test_mask), kind="random")


def split_temporal(ds: Dataset, test_frac: float = 0.2) -> Split:
    """Temporal split: per user, their latest interactions go to test.

    User ``u`` with ``n`` interactions puts the ``round(test_frac * n)`` most recent ones
    (rounding halves up; at most ``n - 1``) in test. Interactions with the same timestamp
    are ordered by item position (the higher position counts as later), so the split is
    deterministic.

    Parameters
    ----------
    ds : Dataset
        The data to split; it must have timestamps (``timestamp_col`` in ``from_frames``).
    test_frac : float, default 0.2
        Fraction of each user's interactions held out, in (0, 1).

    Returns
    -------
    Split
        ``kind="temporal"``.

    Raises
    ------
    ValueError
        If ``ds`` has no timestamps or ``test_frac`` is outside (0, 1).
    """
    ds = _check_dataset(ds)
    test_frac = check_fraction(test_frac, "test_frac")
    if ds.timestamps is None:
        raise ValueError(
            "split_temporal needs timestamps: build the Dataset with timestamp_col=..., or use "
            "split_random"
        )
    X = _canonical(ds)
    rows = _row_of_entries(X)
    # latest first: sort by -time, then by -item position
    order = np.lexsort((-X.indices.astype(np.int64), -ds.timestamps, rows))
    rank = np.empty(X.nnz, dtype=np.int64)
    rank[order] = np.arange(X.nnz, dtype=np.int64) - X.indptr.astype(np.int64)[rows[order]]
    test_mask = rank < _n_test_per_user(np.diff(X.indptr).astype(np.int64), test_frac)[rows]
    return Split(train=_subset(ds, ~test_mask), test=_subset(ds, test_mask), kind="temporal")


@renamed_keywords(seed="random_state")
def split_cold_items(
    ds: Dataset,
    item_frac: float = 0.2,
    random_state: Any = 0,
    *,
    items: ArrayLike | None = None,
) -> Split:
    """Cold-item split: a fraction of items lose all their interactions to test.

    ``round(item_frac * n)`` items (at least one) are drawn among the ``n`` items that have
    interactions (items without any have nothing to test); all their interactions go to
    test. They keep their features in ``train``, so content-aware models can score them.

    Parameters
    ----------
    ds : Dataset
        The data to split.
    item_frac : float, default 0.2
        Fraction of the items with interactions made cold, in (0, 1].
    random_state : int, numpy.random.Generator or None, default 0
        Seed of ``numpy.random.default_rng``.
    items : array-like of int, optional
        Make exactly these item positions cold instead of drawing (e.g. leave-one-product-out
        loops); ``item_frac`` and ``random_state`` are then ignored.

    Returns
    -------
    Split
        ``kind="cold_items"``, ``cold_items`` the sorted positions.

    Raises
    ------
    ValueError
        If ``item_frac`` is outside (0, 1], or ``items`` is empty or out of range.
    """
    ds = _check_dataset(ds)
    X = _canonical(ds)
    counts = ds.item_counts()
    if items is not None:
        cold = np.unique(np.asarray(items, dtype=np.int64).ravel())
        if cold.size == 0 or cold.min() < 0 or cold.max() >= ds.n_items:
            raise ValueError(
                f"items must be a non-empty array of item positions in [0, {ds.n_items})"
            )
    else:
        item_frac = check_fraction(item_frac, "item_frac", allow_one=True)
        rng = check_random_state(random_state)
        active = counts > 0
        n_cold = max(1, int(np.floor(item_frac * active.sum() + 0.5)))
        cold = _draw(active, n_cold, rng, ds.n_items)
    is_cold = np.zeros(ds.n_items, dtype=bool)
    is_cold[cold] = True
    test_mask = is_cold[X.indices]
    return Split(
        train=_subset(ds, ~test_mask),
        test=_subset(ds, test_mask),
        kind="cold_items",
        cold_items=cold,
    )


@renamed_keywords(seed="random_state")
def split_cold_users(
    ds: Dataset,
    user_frac: float = 0.2,
    random_state: Any = 0,
    reveal: int = 0,
    *,
    users: ArrayLike | None = None,
) -> Split:
    """Cold-user split, with the "given k" protocol for ``reveal=k``.

    A fraction of users lose all their training interactions. With ``reveal=0`` all of them
    go to test: the users keep only their features in ``train`` (demographics-only cold
    start). With ``reveal=k >= 1``, ``k`` of each cold user's interactions (drawn with
    ``random_state``) go to ``Split.revealed``, the history known at query time, and the
    rest to test.

    Who can be drawn: a cold user needs at least one interaction left to test, so only
    users with more than ``reveal`` interactions are eligible. The number of cold users is
    ``round(user_frac * n_active)`` (at least one), ``n_active`` the users with any
    interaction, so it does not depend on ``reveal``; they are the first eligible users of a
    seeded permutation of all users. Hence with one seed the cold sets of different ``reveal``
    values differ only where a user too short for the larger ``reveal`` is skipped, and the
    revealed interactions are nested (those of ``reveal=1`` are among those of ``reveal=3``). When fewer users are
    eligible than wanted, all eligible users are taken. The others with interactions but not
    eligible are counted in ``Split.n_ineligible`` and stay warm in ``train``.

    Parameters
    ----------
    ds : Dataset
        The data to split (with user features for the demographics-only protocol).
    user_frac : float, default 0.2
        Fraction of the users with interactions made cold, in (0, 1].
    random_state : int, numpy.random.Generator or None, default 0
        Seed of ``numpy.random.default_rng``.
    reveal : int, default 0
        Interactions of each cold user given as query-time history (given-k protocol).
    users : array-like of int, optional
        Make exactly these user positions cold instead of drawing (``user_frac`` ignored);
        each needs more than ``reveal`` interactions.

    Returns
    -------
    Split
        ``kind="cold_users"``, ``cold_users`` the sorted positions, ``revealed`` a Dataset
        when ``reveal >= 1``.

    Raises
    ------
    ValueError
        If ``user_frac`` is outside (0, 1], ``reveal`` negative, no user is eligible, or a
        user in ``users`` is out of range or has ``reveal`` interactions or fewer.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=100, random_state=0)
    >>> split = split_cold_users(shop, user_frac=0.2, random_state=0, reveal=1)
    >>> split.revealed.user_counts()[split.cold_users].tolist() == [1] * len(split.cold_users)
    True
    >>> int(split.train.user_counts()[split.cold_users].sum())
    0
    """
    ds = _check_dataset(ds)
    reveal = check_nonnegative_int(reveal, "reveal")
    rng = check_random_state(random_state)
    X = _canonical(ds)
    counts = ds.user_counts()
    eligible = counts > reveal
    if users is not None:
        cold = np.unique(np.asarray(users, dtype=np.int64).ravel())
        if cold.size == 0 or cold.min() < 0 or cold.max() >= ds.n_users:
            raise ValueError(
                f"users must be a non-empty array of user positions in [0, {ds.n_users})"
            )
        if not eligible[cold].all():
            bad = cold[~eligible[cold]][:5].tolist()
            raise ValueError(
                f"users holds positions with {reveal} interaction(s) or fewer, e.g. {bad}; "
                f"with reveal={reveal} they would have nothing to test"
            )
    else:
        user_frac = check_fraction(user_frac, "user_frac", allow_one=True)
        if not eligible.any():
            raise ValueError(f"no user has more than reveal={reveal} interaction(s); lower reveal")
        n_cold = max(1, int(np.floor(user_frac * (counts > 0).sum() + 0.5)))
        cold = _draw(eligible, n_cold, rng, ds.n_users)
    n_ineligible = int(((counts > 0) & ~eligible).sum())
    is_cold = np.zeros(ds.n_users, dtype=bool)
    is_cold[cold] = True
    rows = _row_of_entries(X)
    cold_entry = is_cold[rows]
    revealed = None
    if reveal:
        # one key per entry, drawn for every entry so the keys do not depend on who is cold
        rank = _rank_within_rows(rows, rng.random(X.nnz), X.indptr.astype(np.int64))
        reveal_mask = cold_entry & (rank < reveal)
        revealed = _subset(ds, reveal_mask)
        test_mask = cold_entry & ~reveal_mask
    else:
        test_mask = cold_entry
    return Split(
        train=_subset(ds, ~cold_entry),
        test=_subset(ds, test_mask),
        kind="cold_users",
        cold_users=cold,
        revealed=revealed,
        reveal=reveal,
        n_ineligible=n_ineligible,
    )
