"""featcf.models.feature_cf._affinity: the crossed-feature logistic regression of the
``"affinity"`` term."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._affinity import (
    affinity_scores,
    customer_side,
    fit_affinity,
    row_kron,
)


@st.composite
def _row_pairs(draw):
    n_rows = draw(st.integers(1, 6))
    n_a, n_b = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dense = st.floats(-3, 3, allow_nan=False).map(lambda v: 0.0 if abs(v) < 1 else v)
    a = np.array(draw(st.lists(dense, min_size=n_rows * n_a, max_size=n_rows * n_a)))
    b = np.array(draw(st.lists(dense, min_size=n_rows * n_b, max_size=n_rows * n_b)))
    return a.reshape(n_rows, n_a), b.reshape(n_rows, n_b)


@settings(max_examples=60, deadline=None)
@given(_row_pairs())
def test_row_kron_is_the_kronecker_product_of_each_row_pair(pair):
    a, b = pair
    out = row_kron(sp.csr_matrix(a), sp.csr_matrix(b)).toarray()
    expected = np.vstack([np.kron(a[r], b[r]) for r in range(a.shape[0])])
    np.testing.assert_allclose(out, expected)


def _planted(n_users=600, seed=0):
    """Customers with feature 0 buy products with value 0, the others value 1 (two values,
    six products: three of each), two or three purchases each."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, size=n_users)
    features = sp.csr_matrix((np.ones(n_users), (np.arange(n_users), group)), shape=(n_users, 2))
    x = sp.csr_matrix(np.repeat(np.eye(2), 3, axis=0))  # products 0-2: value 0, 3-5: value 1
    rows, cols = [], []
    for u in range(n_users):
        own = np.arange(3) + 3 * group[u]
        bought = rng.choice(own, size=rng.integers(2, 4), replace=False)
        rows += [u] * len(bought)
        cols += bought.tolist()
    values = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, 6))
    return values, features, x, group


def test_the_learned_affinity_ranks_the_planted_group_first_for_a_new_product():
    values, features, x, group = _planted()
    w = fit_affinity(values, features, x)
    assert w.shape == (2 + 2 + 2, 2 + 1)  # features, profile, activity and constant x values, 1
    new_product = np.array([[1.0], [0.0]])  # value 0: what group 0 buys
    scores = affinity_scores(w, values, features, x, new_product).ravel()
    assert scores[group == 0].min() > scores[group == 1].max()
    # demographics alone (no purchases yet) carry it too
    empty = sp.csr_matrix(values.shape)
    scores = affinity_scores(w, empty, features, x, new_product).ravel()
    assert scores[group == 0].min() > scores[group == 1].max()


def test_customer_side_columns():
    values, features, x, _ = _planted(n_users=5)
    a = customer_side(values, features, x, 2).toarray()
    n = np.asarray(values.sum(axis=1)).ravel()
    np.testing.assert_array_equal(a[:, :2], features.toarray())
    np.testing.assert_allclose(a[:, 2:4], np.log1p((values @ x).toarray()))
    np.testing.assert_allclose(a[:, 4], np.log1p(n))
    np.testing.assert_array_equal(a[:, 5], 1.0)
    # no features: zeros in their columns
    np.testing.assert_array_equal(customer_side(values, None, x, 2).toarray()[:, :2], 0.0)


def test_nothing_to_learn_without_a_customer_holding_two_products():
    values = sp.csr_matrix(np.eye(4))
    assert fit_affinity(values, None, sp.csr_matrix(np.eye(4))) is None


def test_the_fit_is_a_function_of_the_data():
    values, features, x, _ = _planted(n_users=200)
    np.testing.assert_array_equal(
        fit_affinity(values, features, x), fit_affinity(values, features, x)
    )
