"""featcf.models.feature_cf._profiles: shrunk attribute profiles, their prior and log-lift."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._profiles import (
    global_profile,
    lift_over,
    profile_prior,
    profiles_from,
    value_lifts,
)


def _blocks(rng, n_items, sizes):
    """Item blocks of fields with ``sizes`` values, each row summing to 1 (or empty)."""
    parts = []
    for size in sizes:
        raw = (rng.random((n_items, size)) < 0.5) * rng.random((n_items, size))
        sums = raw.sum(axis=1, keepdims=True)
        parts.append(np.divide(raw, sums, out=np.zeros_like(raw), where=sums > 0))
    slices, start = [], 0
    for size in sizes:
        slices.append(slice(start, start + size))
        start += size
    return sp.csr_matrix(np.hstack(parts).astype(np.float32)), tuple(slices)


@settings(max_examples=25, deadline=None)
@given(
    n_users=st.integers(1, 6),
    n_items=st.integers(1, 6),
    shrinkage=st.sampled_from([0.0, 0.5, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_profiles_are_the_shrunk_value_distributions(n_users, n_items, shrinkage, seed):
    rng = np.random.default_rng(seed)
    x, slices = _blocks(rng, n_items, (2, 3))
    values = sp.csr_matrix((rng.random((n_users, n_items)) < 0.5).astype(np.float32))
    prior = rng.random((n_users, x.shape[1]))
    got = profiles_from(values, prior, x, shrinkage, n_threads=1)
    v = values.toarray().astype(np.float64)
    n = v.sum(axis=1, keepdims=True)
    expected = (v @ x.toarray() + shrinkage * prior) / np.maximum(n + shrinkage, 1e-6)
    if shrinkage == 0:  # no shrinkage: users without positives keep the prior
        expected = np.where(n > 0, expected, prior)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_global_profile_is_a_distribution_per_field_and_lift_ignores_unused_values():
    rng = np.random.default_rng(0)
    x, slices = _blocks(rng, 8, (3, 4))
    values = sp.csr_matrix((rng.random((10, 8)) < 0.4).astype(np.float32))
    g = global_profile(values, x, slices)
    for sl in slices:
        np.testing.assert_allclose(g[sl].sum(), 1.0)
    expected = (values.toarray() @ x.toarray()).sum(axis=0)
    for sl in slices:
        np.testing.assert_allclose(g[sl], expected[sl] / expected[sl].sum(), rtol=1e-6)
    g[1] = 0.0
    lift = lift_over(np.full((2, len(g)), 0.25), g)
    assert not lift[:, 1].any()
    np.testing.assert_allclose(lift[:, 0], np.log((0.25 + 1e-6) / (g[0] + 1e-6)))


def test_profile_prior_borrows_the_neighbours_mean_profile():
    g = np.array([0.5, 0.5, 1.0])
    base = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.2, 0.8, 1.0]], dtype=np.float32)
    demo = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    prior = profile_prior(g, base, demo, 3)
    np.testing.assert_allclose(prior[0], [0.5, 0.5, 1.0])  # the mean of rows 0 and 1
    np.testing.assert_array_equal(prior[1], g)  # no neighbours: the global profile
    np.testing.assert_allclose(prior[2], base[2], rtol=1e-6)
    np.testing.assert_array_equal(profile_prior(g, base, None, 2), np.vstack([g, g]))


def _one_value_per_field(seed: int, n_users: int, n_items: int, sizes: tuple[int, ...]):
    """Random positives and one-value-per-field user features (fields of ``sizes`` values)."""
    rng = np.random.default_rng(seed)
    values = sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = np.stack(
        [s + rng.integers(0, n, n_users) for s, n in zip(starts, sizes, strict=True)], axis=1
    )
    feats = np.zeros((n_users, int(sum(sizes))), np.float32)
    np.put_along_axis(feats, picks, 1.0, axis=1)
    return values, sp.csr_matrix(feats)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_users=st.integers(2, 12),
    n_items=st.integers(1, 6),
    shrinkage=st.sampled_from([0.0, 1.0, 20.0]),
)
def test_value_lifts_match_a_loop_over_values_and_items(seed, n_users, n_items, shrinkage):
    values, feats = _one_value_per_field(seed, n_users, n_items, (2, 3))
    active = np.flatnonzero(np.diff(values.indptr) > 0)
    got = value_lifts(feats, values, active, shrinkage)
    v, f = values.toarray() > 0, feats.toarray() > 0
    for a in range(f.shape[1]):
        for i in range(n_items):
            p_i = v[active, i].sum() / max(len(active), 1)
            holders = active[f[active, a]]
            if p_i == 0:
                expected = 0.0
            elif len(holders) + shrinkage == 0:
                continue  # 0/0: no holder and no shrinkage (never read)
            else:
                share = (v[holders, i].sum() + shrinkage * p_i) / (len(holders) + shrinkage)
                expected = np.log(share / p_i) if share > 0 else -np.inf
            assert got[a, i] == pytest.approx(expected, rel=1e-9, abs=1e-12)
