"""featcf.models.feature_cf._search: band weights searched on nDCG@10 of validation users."""

from __future__ import annotations

import numpy as np
import pytest

from featcf.models.feature_cf._search import MIN_GAIN_SE, band_data, search_band


def _blocks(rng, n_users=60, n_cand=30, signal=None):
    """One validation block: term 0 informative (when ``signal``), term 1 noise, term 2
    constant per user (like ``activity``)."""
    pos = rng.random((n_users, n_cand)) < 0.15
    scaled = rng.normal(size=(n_users, 3, n_cand)).astype(np.float32)
    if signal is not None:
        scaled[:, 0] += signal * pos
    scaled[:, 2] = rng.normal(size=(n_users, 1))
    blocked = np.zeros_like(pos)
    tag = np.zeros(n_users, dtype=np.int64)
    return [(tag, scaled, pos, blocked, np.zeros(n_cand, dtype=bool))]


def test_band_data_marks_terms_constant_per_user():
    data = band_data(_blocks(np.random.default_rng(0)), 0)
    np.testing.assert_array_equal(data.varying, [True, True, False])
    assert band_data(_blocks(np.random.default_rng(0)), 3) is None  # no users in band 3


def test_search_moves_to_the_informative_term_and_keeps_the_constant_term():
    data = band_data(_blocks(np.random.default_rng(1), signal=3.0), 0)
    start = np.array([0.1, 1.0, 0.7])  # the noise term leads
    w, value = search_band(data, start)
    assert w[2] == 0.7  # a term constant per user keeps its weight (score levels)
    assert w[:2].sum() == pytest.approx(1.1)  # the searched terms keep their L1 norm
    assert w[0] > w[1]
    assert value == data.ndcg(w) > data.ndcg(start)


def test_without_a_gain_beyond_noise_the_search_keeps_the_better_of_start_and_uniform():
    """Nothing informative: the surrogate's weights stay when they rank the band's users
    better than uniform weights, else uniform weights (which depend on no split) replace
    them; the constant term keeps its weight either way."""
    branches = set()
    for seed in range(2, 22):
        data = band_data(_blocks(np.random.default_rng(seed)), 0)  # no term is informative
        start = np.array([0.4, 0.6, 0.2])
        uniform = np.array([0.5, 0.5, 0.2])  # the searched terms keep their L1 norm
        w, value = search_band(data, start)
        want = uniform if data.ndcg(uniform) >= data.ndcg(start) else start
        if not np.array_equal(w, want):  # a move, allowed only beyond noise over ``want``
            gain = data.per_user(w) - data.per_user(want)
            assert gain.mean() > MIN_GAIN_SE * gain.std(ddof=1) / np.sqrt(len(gain))
            continue
        assert value == data.ndcg(want)
        branches.add("uniform" if want is uniform else "start")
    assert branches == {"uniform", "start"}  # both cases are exercised


def test_a_band_that_only_chooses_keeps_the_better_of_start_and_uniform():
    """``free=False`` (the zero-history band): even where one term is informative and a free
    search moves to it, the result is the surrogate's weights or uniform ones, whichever
    ranks the band's users better (a tie to uniform)."""
    branches = set()
    for seed in range(1, 15):
        data = band_data(_blocks(np.random.default_rng(seed), signal=3.0), 0)
        for start in (np.array([0.1, 1.0, 0.7]), np.array([1.0, 0.1, 0.7])):
            uniform = np.array([0.55, 0.55, 0.7])
            free, _ = search_band(data, start)
            chosen, value = search_band(data, start, free=False)
            want = uniform if data.ndcg(uniform) >= data.ndcg(start) else start
            np.testing.assert_array_equal(chosen, want)
            assert value == data.ndcg(want)
            branches.add("uniform" if want is uniform else "start")
            if want is uniform:
                assert not np.array_equal(free, chosen)  # a free search moved on
    assert branches == {"uniform", "start"}
