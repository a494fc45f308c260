"""Sparse products into dense blocks (featcf._products) against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf._products import csr_dense_product, two_hop_dense_product


@st.composite
def csr(draw, n_rows, n_cols, signed=False):
    density = draw(st.floats(0.0, 0.7))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    values = rng.integers(-3 if signed else 1, 4, size=(n_rows, n_cols)).astype(np.float32)
    values[values == 0] = 1.0
    return sp.csr_matrix(np.where(mask, values, 0.0).astype(np.float32))


@st.composite
def chain(draw):
    n, m, q, p = (draw(st.integers(0, 7)) for _ in range(4))
    a = draw(csr(n, m, signed=True))
    b = draw(csr(m, q, signed=True))
    c = draw(csr(q, p))
    cols = None
    if p and draw(st.booleans()):
        cols = np.asarray(draw(st.permutations(range(p)))[: draw(st.integers(0, p))], np.int64)
    return a, b, c, cols


@settings(max_examples=60, deadline=None)
@given(chain())
def test_csr_dense_product_equals_scipy(parts):
    a, b, _, _ = parts
    cols = None if b.shape[1] < 2 else np.arange(b.shape[1])[::-1][: b.shape[1] // 2 + 1]
    expected = (a @ b).toarray().astype(np.float64)
    np.testing.assert_allclose(csr_dense_product(a, b), expected, atol=1e-5)
    if cols is not None:
        np.testing.assert_allclose(csr_dense_product(a, b, cols), expected[:, cols], atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(chain())
def test_two_hop_product_equals_scipy(parts):
    a, b, c, cols = parts
    expected = ((a @ b) @ c).toarray().astype(np.float64)
    if cols is not None:
        expected = expected[:, cols]
    # signed weights may cancel to an exact zero in the middle; the result must not change
    np.testing.assert_allclose(two_hop_dense_product(a, b, c, cols), expected, atol=1e-4)


def test_products_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(3)
    a = sp.random(300, 80, density=0.2, format="csr", random_state=1, dtype=np.float32)
    b = sp.random(80, 120, density=0.3, format="csr", random_state=2, dtype=np.float32)
    c = sp.random(120, 90, density=0.3, format="csr", random_state=3, dtype=np.float32)
    cols = rng.permutation(90)[:40]
    for fn, args in ((csr_dense_product, (a, b)), (two_hop_dense_product, (a, b, c, cols))):
        one = fn(*args, n_threads=1)
        two = fn(*args, n_threads=2)
        assert np.array_equal(one, two)


def test_misaligned_shapes_raise():
    a = sp.csr_matrix((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="align"):
        csr_dense_product(a, sp.csr_matrix((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="align"):
        two_hop_dense_product(a, sp.csr_matrix((3, 2)), sp.csr_matrix((3, 2)))
