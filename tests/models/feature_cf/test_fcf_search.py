"""featcf.models.feature_cf._search: band weights searched on nDCG@10 of validation users."""

from __future__ import annotations

import numpy as np
import pytest

from featcf.models.feature_cf._search import band_data, search_band


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


def test_search_keeps_the_start_when_no_candidate_beats_it_beyond_noise():
    data = band_data(_blocks(np.random.default_rng(2)), 0)  # no term is informative
    start = np.array([0.4, 0.6, 0.2])
    w, value = search_band(data, start)
    np.testing.assert_array_equal(w, start)
    assert value == data.ndcg(start)
