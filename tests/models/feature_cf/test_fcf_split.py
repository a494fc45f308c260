"""featcf.models.feature_cf._split: the validation split hides what it says and nothing else."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._split import (
    cold_item_rounds,
    reveal,
    stated_samples,
    validation_split,
)
from featcf.models.feature_cf._state import STATED_ONLY_TAG, STATED_TAG


def _positives(rng, n_users=40, n_items=12, density=0.3):
    dense = (rng.random((n_users, n_items)) < density).astype(np.float32)
    dense[::7] = 0.0  # users without positives
    return sp.csr_matrix(dense)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), fraction=st.sampled_from([0.1, 0.2, 0.5]))
def test_validation_split_partitions_the_positives(seed, fraction):
    values = _positives(np.random.default_rng(seed))
    liked = np.random.default_rng(seed + 1).random(values.nnz) < 0.7
    split = validation_split(values, fraction, np.random.default_rng(seed), liked)
    full, train = values.toarray() > 0, split.train.toarray() > 0
    assert split.train.dtype == np.float32
    assert not (train & ~full).any()
    assert not train[split.cold_users].any() and not train[:, split.cold_items].any()
    targets = split.targets.toarray() > 0
    assert not (targets & ~full).any() and not (targets & train).any()
    assert not targets[split.cold_users].any() and not targets[:, split.cold_items].any()
    # warm users keep at least one positive (in train, or on a hidden item)
    warm = np.setdiff1d(np.flatnonzero(full.any(axis=1)), split.cold_users)
    on_cold = np.zeros_like(full)
    on_cold[:, split.cold_items] = full[:, split.cold_items]
    assert (train | on_cold)[warm].any(axis=1).all()
    # targets are liked; every liked positive of a hidden item is a cold-item target,
    # unless the split left its customer without history (an artefact of the split)
    marked = split.marked.toarray()
    assert set(np.unique(marked[full])) <= {1.0, 2.0}
    assert (marked[targets] == 2.0).all()
    cold_t = split.cold_item_targets.toarray() > 0
    expected = np.zeros_like(full)
    expected[:, split.cold_items] = marked[:, split.cold_items] == 2.0
    expected[~train.any(axis=1)] = False
    np.testing.assert_array_equal(cold_t, expected)


def test_validation_split_is_determined_by_the_generator():
    values = _positives(np.random.default_rng(0))
    a = validation_split(values, 0.2, np.random.default_rng(5), None)
    b = validation_split(values, 0.2, np.random.default_rng(5), None)
    assert (a.train != b.train).nnz == 0 and (a.targets != b.targets).nnz == 0
    np.testing.assert_array_equal(a.cold_users, b.cold_users)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), k_max=st.integers(0, 5))
def test_reveal_shows_k_entries_per_row_and_keeps_the_rest(seed, k_max):
    rng = np.random.default_rng(seed)
    matrix = _positives(rng, n_users=10, n_items=8, density=0.5)
    ks = rng.integers(0, k_max + 1, size=10)
    shown, rest = reveal(matrix, ks, rng)
    np.testing.assert_array_equal(np.diff(shown.indptr), np.minimum(ks, np.diff(matrix.indptr)))
    np.testing.assert_array_equal((shown + rest).toarray(), matrix.toarray())
    assert (shown.multiply(rest)).nnz == 0


def test_validation_core_reads_profiles_of_the_reference_and_validation_users(shop, make_model):
    """The validation core's feature-space neighbours (profile priors) exist for the users
    with hidden positives and the reference users; with a binding cap, folded-in validation
    users find their profile neighbours among the reference users only, and without one the
    scorer is left as it is."""
    from featcf.models.feature_cf._neighbours import reference_positions
    from featcf.models.feature_cf._split import _among_references, validation_core
    from featcf.models.feature_cf._state import make_scorer
    from featcf.models.feature_cf._users import folded_users

    for cap in (None, 80):
        model = make_model(n_neighbors=5, max_reference_users=cap).fit(shop)
        scorer = model._fitted.scorer
        inputs, settings = scorer.inputs, scorer.settings
        split = validation_split(inputs.values, 0.2, np.random.default_rng(0), None)
        core = validation_core(inputs, settings, split)
        ref_users = core.active[reference_positions(core.active, settings)]
        asked = np.flatnonzero(np.diff(split.targets.indptr) > 0)
        has_prior = np.diff(core.demo_neighbors.indptr) > 0
        assert has_prior[np.union1d(asked, ref_users)].all()
        assert core.user_neighbors.nnz == 0  # rows come with the validation users
        val = make_scorer(inputs, settings, scorer.names, core)
        narrowed = _among_references(val)
        if cap is None:
            assert narrowed is val
            continue
        assert len(ref_users) == cap < len(core.active)
        cold = split.cold_users[:20]
        user = folded_users(narrowed, inputs.values[cold], inputs.user_features[cold])
        for m in user.field_neighbors:
            assert m.nnz > 0 and np.isin(core.active[m.indices], ref_users).all()


def test_new_item_rounds_do_not_make_customers_without_history_buyers(shop, make_model):
    """A round that hides items leaves the customers who bought only those items without
    history. They are no targets on the hidden items (every one of them would be a buyer:
    no real launch looks like that) but are seen there, so the losses leave them out; the
    other buyers of the hidden items stay targets."""
    from featcf.models.feature_cf._weights import _blocks

    scorer = make_model().fit(shop)._fitted.scorer
    inputs, settings = scorer.inputs, scorer.settings
    values = inputs.values
    split = validation_split(values, 0.2, np.random.default_rng(0), None)
    samples = cold_item_rounds(
        inputs, settings, scorer.names, split, None, np.random.default_rng(1),
        scorer.core.ease_l2,
    )  # fmt: skip
    assert samples
    n_artefacts = 0
    for block, smp in zip(
        _blocks(samples, np.ones(len(scorer.names), bool), np.ones(len(scorer.names))),
        samples,
        strict=True,
    ):
        hidden = smp.cold_cols
        bought = smp.seen.toarray()[:, hidden] > 0
        no_history = (bought.any(axis=1)) & (smp.tag == 0)
        n_artefacts += int(no_history.sum())
        assert not block.pos[:, hidden][no_history].any()
        assert block.blocked[:, hidden][no_history][bought[no_history]].all()
        # customers with history keep their purchases of the hidden items as targets
        keep = smp.tag > 0
        np.testing.assert_array_equal(block.pos[:, hidden][keep], bought[keep])
    assert n_artefacts > 0  # the shop has customers whose only products a round hid


def test_search_customers_add_the_splits_other_cold_users_then_rounds(
    shop, make_model, monkeypatch
):
    """The band search's extra new customers: first the split's cold users the loss did
    not fold in, then rounds that each hide the positives of a group of customers disjoint
    from every user hidden before (the model of a round is built without them and without
    the split's hidden items), until ``max_cold_users`` customers in all; none when the
    loss already folded in that many."""
    from dataclasses import replace

    from featcf.models.feature_cf import _split
    from featcf.models.feature_cf._inputs import Learning

    scorer = make_model().fit(shop)._fitted.scorer
    inputs, settings = scorer.inputs, scorer.settings
    values = inputs.values
    split = validation_split(values, 0.2, np.random.default_rng(0), None)
    val_core = _split.validation_core(inputs, settings, split)
    val_core = _split.with_ease(val_core, inputs.user_features, scorer.core.ease_l2)
    val_scorer = _split.make_scorer(inputs, settings, scorer.names, val_core)
    n_split = len(split.cold_users)
    folded = split.cold_users[: n_split // 2]
    plan = Learning(validation_fraction=0.2, new_item_shift=2.0, include_cf=True, ease_l2="auto")
    plan = replace(plan, max_cold_users=n_split + n_split + n_split // 3)
    folded_in, trains = [], []
    build, fold = _split.build_core, _split._cold_user_samples

    def spy_build(inputs, settings, train, **kw):
        trains.append(train)
        return build(inputs, settings, train, **kw)

    def spy_fold(scorer, split, users, candidates, rng, lengths):
        folded_in.append(users)
        assert lengths == ((0,), (1, 2), (3, 4, 5))
        return fold(scorer, split, users, candidates, rng, lengths)

    monkeypatch.setattr(_split, "build_core", spy_build)
    monkeypatch.setattr(_split, "_cold_user_samples", spy_fold)
    rng = np.random.default_rng(1)
    core = scorer.core
    args = (inputs, settings, scorer.names, split, val_scorer)
    samples = _split.search_customers(*args, folded, plan, rng, 100.0, core.ease_l2)
    rest, *groups = folded_in
    np.testing.assert_array_equal(rest, np.setdiff1d(split.cold_users, folded))
    assert [len(g) for g in groups] == [n_split, n_split // 3]
    hidden = np.concatenate([split.cold_users, *groups])
    assert len(np.unique(hidden)) == len(hidden)
    assert (np.diff(values.indptr)[hidden] >= 1).all()
    assert len(trains) == len(groups)
    warm_items = np.setdiff1d(np.arange(values.shape[1]), split.cold_items)
    for group, train in zip(groups, trains, strict=True):
        others = np.setdiff1d(np.arange(values.shape[0]), group)
        assert train[group].nnz == 0 and train[:, split.cold_items].nnz == 0
        assert (train[others][:, warm_items] != values[others][:, warm_items]).nnz == 0
    tags = np.concatenate([smp.tag for smp in samples])
    assert set(np.unique(tags)) == {0, 1, 2, STATED_TAG, STATED_ONLY_TAG}
    assert not any(smp.cold_cols.any() for smp in samples)
    # customers who state interests: the loss's folded users, the rest and every group
    stated = [smp for smp in samples if (smp.tag == STATED_TAG).all()]
    assert len(stated) == 2 + len(groups)
    # the loss folded in enough: no one more, only its own customers stating interests
    folded_in.clear()
    enough = replace(plan, max_cold_users=len(folded))
    again = _split.search_customers(*args, folded, enough, rng, 100.0, core.ease_l2)
    assert folded_in == []
    assert [smp.tag[0] for smp in again] == [STATED_TAG, STATED_ONLY_TAG]
    assert all((smp.tag == smp.tag[0]).all() for smp in again)
    assert len(again[0].tag) == len(again[1].tag) <= len(folded)


def test_stated_samples_fold_in_customers_without_history_who_state(shop, make_model, monkeypatch):
    """The stated-interest sample: the cold users with a value to state and a target,
    folded in with no history, their features and the values :func:`simulated_interests`
    gives; their targets are all their hidden positives (every positive is liked here);
    tagged ``STATED_TAG``; the same customers and interests again without their features,
    tagged ``STATED_ONLY_TAG``."""
    from featcf.models.feature_cf import _split

    scorer = make_model().fit(shop)._fitted.scorer
    split = validation_split(scorer.inputs.values, 0.3, np.random.default_rng(0), None)
    val_core = _split.validation_core(scorer.inputs, scorer.settings, split)
    val_core = _split.with_ease(val_core, scorer.inputs.user_features, scorer.core.ease_l2)
    val_scorer = _split.make_scorer(scorer.inputs, scorer.settings, scorer.names, val_core)
    candidates = np.flatnonzero(val_core.item_counts > 0)
    users = split.cold_users
    seen = []
    fold = _split.folded_users

    def spy(scorer, history, features, stated=None):
        seen.append((history, features, stated))
        return fold(scorer, history, features, stated)

    monkeypatch.setattr(_split, "folded_users", spy)
    smp, alone = stated_samples(val_scorer, split, users, candidates, np.random.default_rng(2))
    (history, features, stated), (history_2, none, stated_2) = seen
    n = len(smp.tag)
    assert 0 < n <= len(users) and (smp.tag == STATED_TAG).all()
    assert history.shape[0] == features.shape[0] == stated.shape[0] == n
    assert history.nnz == 0 and (np.diff(stated.indptr) > 0).all()
    assert (np.diff(smp.targets.indptr) > 0).all()
    assert (smp.targets != smp.seen).nnz == 0
    # without features: the same customers, interests and targets, other terms
    assert (alone.tag == STATED_ONLY_TAG).all() and len(alone.tag) == n
    assert none is None and history_2.nnz == 0 and (stated_2 != stated).nnz == 0
    assert (alone.targets != smp.targets).nnz == 0 and (alone.seen != smp.seen).nnz == 0
    assert not np.array_equal(alone.terms, smp.terms)
