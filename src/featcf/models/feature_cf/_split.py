"""The validation data of the weight learning: a split of the training positives, and the
terms of validation users over candidate items (:class:`Sample`).

The split hides a share of every user's positives (warm users), all positives of a share of
users (revealed 0, 1-2 or 3-5 at a time and folded in, as new customers are) and all
interactions of a share of items (items without interactions; small catalogues add rounds
that hide further items), and the new customers the band search ranks besides (further
rounds hide further users in datasets with few), among them customers without history who
state interests (:func:`~featcf.models.feature_cf._interests.simulated_interests`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from featcf.models.feature_cf._core import (
    build_core,
    with_demographics,
    with_ease,
    with_user_rows,
)
from featcf.models.feature_cf._inputs import Inputs, Learning, Settings
from featcf.models.feature_cf._interests import simulated_interests
from featcf.models.feature_cf._neighbours import reference_positions
from featcf.models.feature_cf._state import (
    STATED_ONLY_TAG,
    STATED_TAG,
    Core,
    Scorer,
    band_of,
    make_scorer,
)
from featcf.models.feature_cf._terms import compute_terms
from featcf.models.feature_cf._users import UserState, fitted_users, folded_users
from featcf.similarity import PreparedRows

__all__ = [
    "Sample",
    "Split",
    "cold_item_rounds",
    "liked_mask",
    "reveal",
    "sample",
    "search_customers",
    "stated_samples",
    "validation_core",
    "validation_samples",
    "validation_split",
]

#: items hidden over all rounds at most, rounds at most, users and candidates per round
_ROUND_ITEMS = 40
_ROUNDS = 6
_ROUND_USERS = 1500
_ROUND_CANDIDATES = 400
#: rounds of new customers at most (``search_customers``)
_USER_ROUNDS = 3
#: the history lengths revealed to the search's extra new customers (``search_customers``)
SEARCHED_LENGTHS = ((0,), (1, 2), (3, 4, 5))


@dataclass(frozen=True, eq=False)
class Split:
    """A validation split of the positives (all matrices users x items)."""

    #: the positives that stay (float32)
    train: sp.csr_matrix
    #: all positives
    full: sp.csr_matrix
    #: every positive marked 1 + liked (2: a validation target when hidden)
    marked: sp.csr_matrix
    #: the hidden liked positives of warm users
    targets: sp.csr_matrix
    #: users whose positives are all hidden, and items whose interactions are (sorted)
    cold_users: np.ndarray
    cold_items: np.ndarray
    #: the liked positives of the hidden items
    cold_item_targets: sp.csr_matrix

    def is_cold_item(self) -> np.ndarray:
        """Per item, whether the split hid its interactions (``cold_items`` as a mask)."""
        mask = np.zeros(self.full.shape[1], dtype=bool)
        mask[self.cold_items] = True
        return mask


class Sample(NamedTuple):
    """One group of validation users: their raw terms over candidate items and the truth."""

    #: history band of each user
    tag: np.ndarray
    #: raw terms (n_terms, n_users, n_candidates), float32
    terms: np.ndarray
    #: hidden liked positives and what the users have (users x candidates, float32)
    targets: sp.csr_matrix
    seen: sp.csr_matrix
    #: the candidates whose interactions were hidden (scored as items without interactions)
    cold_cols: np.ndarray


def liked_mask(inputs: Inputs) -> np.ndarray | None:
    """Per positive (in canonical order), whether it is liked (rating data), else None."""
    if inputs.liked_threshold is None:
        return None
    raw = sp.csr_matrix(inputs.interactions)
    return np.asarray(raw[inputs.values.nonzero()]).ravel() >= inputs.liked_threshold


def validation_split(
    values: sp.csr_matrix, fraction: float, rng: np.random.Generator, liked: np.ndarray | None
) -> Split:
    """Hide interactions, users and items; targets are the hidden *liked* interactions."""
    n_users, n_items = values.shape
    coo = values.tocoo()
    # align with coo order (nonzero() follows the same canonical order)
    liked = np.ones(coo.nnz, dtype=bool) if liked is None else np.asarray(liked, dtype=bool)
    counts_u = np.diff(values.indptr)
    item_counts = np.bincount(coo.col, minlength=n_items)
    # cold validation items: a share of the items with interactions
    warm_items = np.flatnonzero(item_counts > 0)
    n_cold_items = (
        max(1, int(round(0.5 * fraction * len(warm_items)))) if len(warm_items) >= 5 else 0
    )
    cold_items = rng.choice(warm_items, size=n_cold_items, replace=False)
    is_cold_item = np.zeros(n_items, dtype=bool)
    is_cold_item[cold_items] = True
    # cold validation users: a share of all users with interactions, so the zero-history
    # band sees customers like the real new ones (in a shop, most hold one product);
    # the bands that reveal 1-5 interactions use those who have more than that
    eligible = np.flatnonzero(counts_u >= 1)
    cold_users = rng.choice(eligible, size=int(round(fraction * len(eligible))), replace=False)
    is_cold_user = np.zeros(n_users, dtype=bool)
    is_cold_user[cold_users] = True
    held = _hold_out(values, coo, fraction, rng)
    drop = held | is_cold_user[coo.row] | is_cold_item[coo.col]
    train = _entries_at(coo, ~drop, values.shape)
    warm_target = held & ~is_cold_user[coo.row] & ~is_cold_item[coo.col] & liked
    cold_hit = is_cold_item[coo.col] & liked & _has_history(train)[coo.row]
    return Split(
        train=sp.csr_matrix(train, dtype=np.float32),
        full=values,
        marked=sp.csr_matrix(
            (1.0 + liked.astype(np.float32), (coo.row, coo.col)), shape=values.shape
        ),
        targets=_ones_at(coo, warm_target, values.shape),
        cold_users=np.sort(cold_users),
        cold_items=np.sort(cold_items),
        cold_item_targets=_ones_at(coo, cold_hit, values.shape),
    )


def _hold_out(
    values: sp.csr_matrix, coo: sp.coo_matrix, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Per positive, whether it is held out: ``fraction`` of each user's (keep at least one)."""
    n_users = values.shape[0]
    counts_u = np.diff(values.indptr)
    order = rng.permutation(coo.nnz)
    row_sorted = np.lexsort((order, coo.row))
    r = coo.row[row_sorted]
    rank = np.arange(coo.nnz) - values.indptr[:-1][r]
    n_hold = np.floor(fraction * counts_u + rng.random(n_users)).astype(np.int64)
    n_hold = np.minimum(n_hold, counts_u - 1)
    held = np.zeros(coo.nnz, dtype=bool)
    held[row_sorted[rank < n_hold[r]]] = True
    return held


def _has_history(train: sp.csr_matrix) -> np.ndarray:
    """Per user, whether ``train`` leaves them some positives.

    Hiding items leaves the customers who bought only those items without history, and
    every one of them a buyer of a hidden item: an artefact of the split (at a real launch
    a customer without purchases has not bought the new product either). Such a customer is
    no target on the hidden items; having bought them, they are seen there, so both losses
    leave them out of those items.
    """
    return np.diff(train.indptr) > 0


def _entries_at(coo: sp.coo_matrix, mask: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The entries of ``coo`` where ``mask`` holds, as a float32 CSR matrix of ``shape``."""
    return sp.csr_matrix(
        (coo.data[mask], (coo.row[mask], coo.col[mask])), shape=shape, dtype=np.float32
    )


def _ones_at(coo: sp.coo_matrix, mask: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(int(mask.sum()), np.float32), (coo.row[mask], coo.col[mask])), shape=shape
    )


def reveal(
    matrix: sp.csr_matrix, ks: np.ndarray, rng: np.random.Generator
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split each row's entries at random into ``ks[row]`` revealed ones and the rest."""
    coo = matrix.tocoo()
    order = np.lexsort((rng.random(coo.nnz), coo.row))
    rank = np.arange(coo.nnz) - matrix.indptr[:-1][coo.row[order]]
    shown = np.zeros(coo.nnz, dtype=bool)
    shown[order] = rank < ks[coo.row[order]]

    def part(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(
            (coo.data[mask], (coo.row[mask], coo.col[mask])),
            shape=matrix.shape,
            dtype=np.float32,
        )

    return part(shown), part(~shown)


def sample(
    scorer: Scorer,
    user: UserState,
    users: np.ndarray,
    targets: sp.csr_matrix,
    full: sp.csr_matrix,
    candidates: np.ndarray,
    n_cold: int = 0,
) -> list[Sample]:
    """One group of validation users: their terms over the candidates, targets, seen.

    The last ``n_cold`` candidates are validation items whose interactions were hidden.
    A group without targets gives nothing.
    """
    tgt = sp.csr_matrix(sp.csr_matrix(targets)[:, candidates], dtype=np.float32)
    if tgt.nnz == 0:
        return []
    terms = compute_terms(scorer, user, candidates).astype(np.float32)  # (T, U, C)
    seen = sp.csr_matrix(sp.csr_matrix(full[users])[:, candidates], dtype=np.float32)
    cold_cols = np.zeros(len(candidates), dtype=bool)
    if n_cold:
        cold_cols[-n_cold:] = True
    return [Sample(band_of(user.n), terms, tgt, seen, cold_cols)]


def validation_core(inputs: Inputs, settings: Settings, split: Split) -> Core:
    """The core built on ``split.train``, without neighbour rows yet.

    :func:`validation_samples` searches the neighbours of the warm validation users it
    draws (at most ``Learning.max_users``), not of every user with a hidden positive. The
    feature-space neighbours (profile priors) are searched only for the users whose
    profiles the validation reads: those with hidden positives to rank, and the reference
    users, among whom every validation user's profile neighbours are found (the folded-in
    cold validation users' too, see :func:`validation_samples`). Without a binding
    ``max_reference_users`` the reference users are all users with positives.
    """
    asked = np.flatnonzero(np.diff(split.targets.indptr) > 0)
    none = np.zeros(0, dtype=np.int64)
    return build_core(inputs, settings, split.train, query_users=none, profile_users=asked)


def _among_references(scorer: Scorer) -> Scorer:
    """``scorer`` whose folded-in users find their profile neighbours among the reference
    users only, like the fitted users (the same scorer when the references are all active
    users): the other active users' profiles are left out (zero rows match no one)."""
    core, arrays = scorer.core, scorer.arrays
    ref = reference_positions(core.active, scorer.settings)
    if len(ref) == len(core.active):
        return scorer
    out = np.ones(len(core.active), dtype=bool)
    out[ref] = False
    refs = tuple(
        PreparedRows(np.where(out[:, None], 0.0, r.rows), np.where(out, 0.0, r.norms), r.metric)
        for r in arrays.field_refs
    )
    return replace(scorer, arrays=replace(arrays, field_refs=refs))


def validation_samples(
    scorer: Scorer, split: Split, rng: np.random.Generator, plan: Learning
) -> tuple[list[Sample], np.ndarray]:
    """Validation groups of a core built on ``split.train`` (:func:`validation_core`): warm
    users, then cold users with 0, 1-2 and 3-5 positives revealed (folded in), over warm and
    hidden items. The folded-in users' profile neighbours are searched among the reference
    users, whose profiles alone the core holds with the prior fitted users get. Returns the
    samples and the split's cold users folded into them (at most ``plan.max_users // 2``)."""
    scorer = _among_references(scorer)
    cold_items = split.cold_items
    warm_candidates = _warm_candidates(scorer.core, split, plan, rng)
    if len(cold_items) > plan.max_candidates // 2:
        cold_items = np.sort(rng.choice(cold_items, plan.max_candidates // 2, replace=False))
    samples = []
    warm_users = np.flatnonzero(np.diff(split.targets.indptr) > 0)
    if len(warm_users) > plan.max_users:
        warm_users = np.sort(rng.choice(warm_users, plan.max_users, replace=False))
    if len(warm_users):
        core = with_user_rows(scorer.core, scorer.inputs, scorer.settings, warm_users)
        scorer = replace(scorer, core=core)
        user = fitted_users(scorer, warm_users, split.train[warm_users])
        candidates = np.concatenate([warm_candidates, cold_items])
        targets = split.targets[warm_users] + split.cold_item_targets[warm_users]
        samples += sample(
            scorer, user, warm_users, targets, split.full, candidates, n_cold=len(cold_items)
        )
    cold_users = split.cold_users
    if len(cold_users) > plan.max_users // 2:
        cold_users = np.sort(rng.choice(cold_users, plan.max_users // 2, replace=False))
    if len(cold_users):
        samples += _cold_user_samples(scorer, split, cold_users, warm_candidates, rng)
    return samples, cold_users


def _warm_candidates(
    core: Core, split: Split, plan: Learning, rng: np.random.Generator
) -> np.ndarray:
    """The items with interactions in ``core`` but the split's hidden ones (at most
    ``plan.max_candidates``, drawn at random): what validation users are ranked over."""
    candidates = np.flatnonzero(~split.is_cold_item() & (core.item_counts > 0))
    if len(candidates) > plan.max_candidates:
        candidates = np.sort(rng.choice(candidates, plan.max_candidates, replace=False))
    return candidates


def _cold_user_samples(
    scorer: Scorer,
    split: Split,
    cold_users: np.ndarray,
    candidates: np.ndarray,
    rng: np.random.Generator,
    lengths: tuple[tuple[int, ...], ...] = ((0,), (1, 2), (3, 4, 5)),
) -> list[Sample]:
    """Cold validation users with 0, 1-2 and 3-5 positives revealed (``lengths``: the
    history lengths of each group, one drawn per user), folded in."""
    full_c = _hidden_positives(split, cold_users)
    samples = []
    for k_choices in lengths:
        ks = rng.choice(k_choices, size=len(cold_users))
        revealed, rest = reveal(full_c, ks, rng)
        revealed.data[:] = 1.0
        rest.data = (rest.data > 1.5).astype(np.float32)
        rest.eliminate_zeros()
        ok = np.diff(rest.indptr) > 0
        if not ok.any():
            continue
        users = cold_users[ok]
        user = folded_users(scorer, revealed[ok], _features(scorer, users))
        samples += sample(scorer, user, users, rest[ok], split.full, candidates)
    return samples


def _hidden_positives(split: Split, users: np.ndarray) -> sp.csr_matrix:
    """The positives of ``users`` on the split's warm items, marked 1 + liked (float32)."""
    full_c = split.marked[users]
    full_c = sp.csr_matrix(full_c.multiply(~split.is_cold_item()[None, :]), dtype=np.float32)
    full_c.eliminate_zeros()
    return full_c


def _features(scorer: Scorer, users: np.ndarray) -> sp.csr_matrix | None:
    uf = scorer.inputs.user_features
    return None if uf is None else sp.csr_matrix(uf[users], dtype=np.float32)


def stated_samples(
    scorer: Scorer,
    split: Split,
    cold_users: np.ndarray,
    candidates: np.ndarray,
    rng: np.random.Generator,
) -> list[Sample]:
    """Cold validation users without history who state interests
    (:func:`~featcf.models.feature_cf._interests.simulated_interests` of their hidden
    positives), folded in with their features, tagged
    :data:`~featcf.models.feature_cf._state.STATED_TAG`; with user features, the same users
    and interests folded in without them too, tagged
    :data:`~featcf.models.feature_cf._state.STATED_ONLY_TAG` (no further random draw)."""
    full_c = _hidden_positives(split, cold_users)
    said = simulated_interests(scorer.inputs, scorer.core.values, full_c, rng)
    if said is None:
        return []
    targets = sp.csr_matrix(full_c > 1.5, dtype=np.float32)
    ok = (np.diff(said.indptr) > 0) & (np.diff(targets.indptr) > 0)
    if not ok.any():
        return []
    users = cold_users[ok]
    empty = sp.csr_matrix((int(ok.sum()), full_c.shape[1]), dtype=np.float32)
    features = _features(scorer, users)
    folds = [(STATED_TAG, features)]
    if features is not None:
        folds.append((STATED_ONLY_TAG, None))
    out = []
    for tag, given in folds:
        user = folded_users(scorer, empty, given, said[ok])
        found = sample(scorer, user, users, targets[ok], split.full, candidates)
        out += [one._replace(tag=np.full(len(users), tag)) for one in found]
    return out


def search_customers(
    inputs: Inputs,
    settings: Settings,
    names: list[str],
    split: Split,
    scorer: Scorer,
    folded: np.ndarray,
    plan: Learning,
    rng: np.random.Generator,
    shrinkage: float | None = None,
    ease_l2: float | None = None,
) -> list[Sample]:
    """More new customers, for the band search only: up to ``plan.max_cold_users`` in all
    with 0, 1-2 and 3-5 positives revealed, and as many without history who state
    interests (:func:`stated_samples`, the loss's ``folded`` cold users among them).

    The weights of the short-history bands are chosen on the new customers of the
    validation, and the few hundred of them that the loss folds in (``folded``) leave that
    choice to noise (MovieLens 100k: 150 per band). The customers who state interests get
    weights of their own, searched on customers who state what their hidden positives hold.

    First come the split's other cold users, folded into ``scorer`` (the validation core).
    When the split has too few, each round then hides all positives of another group of
    users (as many as the split's, disjoint from the users hidden before), rebuilds the
    model without them and folds them in the same way, until ``plan.max_cold_users`` are
    reached or :data:`_USER_ROUNDS` rounds are run. ``shrinkage`` and ``ease_l2`` are those
    picked on the split. The loss does not see these customers: more of them there moved
    the other bands' weights through the loss (MovieLens warm nDCG@10 -0.0015), while the
    search reads each band on its own.
    """
    want = plan.max_cold_users - len(folded)
    rest = np.setdiff1d(split.cold_users, folded)
    candidates = _warm_candidates(scorer.core, split, plan, rng)
    scorer = _among_references(scorer)
    out = stated_samples(scorer, split, folded, candidates, rng)
    if want > 0 and len(rest):
        if len(rest) > want:
            rest = np.sort(rng.choice(rest, want, replace=False))
        out += _cold_user_samples(scorer, split, rest, candidates, rng, SEARCHED_LENGTHS)
        out += stated_samples(scorer, split, rest, candidates, rng)
        want -= len(rest)
    counts = np.diff(inputs.values.indptr)
    used = np.zeros(len(counts), dtype=bool)
    used[split.cold_users] = True
    for _ in range(_USER_ROUNDS):
        pool = np.flatnonzero((counts >= 1) & ~used)
        size = min(len(split.cold_users), want, len(pool))
        if size < 1:
            break
        group = np.sort(rng.choice(pool, size, replace=False))
        used[group] = True
        want -= size
        out += _cold_user_round(
            inputs, settings, names, split, plan, group, rng, shrinkage, ease_l2
        )
    return out


def _cold_user_round(
    inputs: Inputs,
    settings: Settings,
    names: list[str],
    split: Split,
    plan: Learning,
    group: np.ndarray,
    rng: np.random.Generator,
    shrinkage: float | None,
    ease_l2: float | None,
) -> list[Sample]:
    """One round of :func:`search_customers`: the users of ``group`` hidden and folded in."""
    hidden = np.zeros(split.full.shape[0], dtype=bool)
    hidden[group] = True
    coo = split.full.tocoo()
    train = _entries_at(coo, ~hidden[coo.row] & ~split.is_cold_item()[coo.col], coo.shape)
    none = np.zeros(0, dtype=np.int64)
    core = build_core(inputs, settings, train, query_users=none, profile_users=none)
    if shrinkage is not None:
        core = with_demographics(core, inputs, shrinkage)
    if ease_l2 is not None:
        core = with_ease(core, inputs.user_features, ease_l2)
    scorer = _among_references(make_scorer(inputs, settings, names, core))
    candidates = _warm_candidates(core, split, plan, rng)
    samples = _cold_user_samples(scorer, split, group, candidates, rng, SEARCHED_LENGTHS)
    return samples + stated_samples(scorer, split, group, candidates, rng)


def cold_item_rounds(
    inputs: Inputs,
    settings: Settings,
    names: list[str],
    split: Split,
    liked: np.ndarray | None,
    rng: np.random.Generator,
    ease_l2: float | None = None,
) -> list[Sample]:
    """Extra validation rounds for items without interactions in small catalogues.

    Each round hides all interactions of another group of items (disjoint from the
    groups before), rebuilds the model without them and records every user's terms, so
    the weights for new items are learned on enough items (e.g. 22 insurance products).
    A round always leaves some items with interactions to build the model from: with a
    single item that has interactions there is no round (hiding it left no positives, and
    the model built on none divided by zero).
    """
    values = inputs.values
    item_counts = np.bincount(values.indices, minlength=values.shape[1])
    warm = np.flatnonzero(item_counts > 0)
    used = set(split.cold_items.tolist())
    per_round = min(max(1, len(split.cold_items)), len(warm) - 1)
    if per_round < 1:
        return []
    target = min(len(warm), _ROUND_ITEMS)
    out: list[Sample] = []
    coo = values.tocoo()
    liked_mask = np.ones(coo.nnz, dtype=bool) if liked is None else np.asarray(liked)
    for _ in range(_ROUNDS):
        if len(used) >= target:
            break
        pool = np.array([i for i in warm if i not in used], dtype=np.int64)
        if len(pool) == 0:
            break
        group = np.sort(rng.choice(pool, min(per_round, len(pool)), replace=False))
        used.update(group.tolist())
        out += _cold_round(inputs, settings, names, coo, liked_mask, group, rng, ease_l2)
    return out


def _cold_round(
    inputs: Inputs,
    settings: Settings,
    names: list[str],
    coo: sp.coo_matrix,
    liked: np.ndarray,
    group: np.ndarray,
    rng: np.random.Generator,
    ease_l2: float | None,
) -> list[Sample]:
    """One round of :func:`cold_item_rounds`: the items of ``group`` hidden."""
    values = inputs.values
    n_users, n_items = values.shape
    item_counts = np.bincount(values.indices, minlength=n_items)
    hidden = np.zeros(n_items, dtype=bool)
    hidden[group] = True
    drop = hidden[coo.col]
    train = _entries_at(coo, ~drop, values.shape)
    targets = _ones_at(coo, drop & liked & _has_history(train)[coo.row], values.shape)
    users = np.arange(n_users)
    if n_users > _ROUND_USERS:
        users = np.sort(rng.choice(n_users, _ROUND_USERS, replace=False))
    some = users if len(users) < n_users else None
    core = build_core(inputs, settings, train, query_users=some, profile_users=some)
    if ease_l2 is not None:
        core = with_ease(core, inputs.user_features, ease_l2)
    warm_c = np.flatnonzero(~hidden & (item_counts > 0))
    if len(warm_c) > _ROUND_CANDIDATES:
        warm_c = np.sort(rng.choice(warm_c, _ROUND_CANDIDATES, replace=False))
    candidates = np.concatenate([warm_c, group])
    scorer = make_scorer(inputs, settings, names, core)
    user = fitted_users(scorer, users, train[users])
    return sample(scorer, user, users, targets[users], values, candidates, n_cold=len(group))
