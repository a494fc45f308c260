"""The cone search of ``topk_prepared`` (``featcf._kernels.cones``) against the full scan.

The cone search skips groups of reference rows and runs of group members that cannot enter
a query's top-k; its output must be the full scan's bit for bit (same lists, scores, ties),
whatever the grouping. Small problems force it with a few groups; a realistic one (profiles
of few columns with many near-ties) takes it through ``topk_prepared`` itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from featcf import similarity
from featcf.similarity import prepare_dense, topk_prepared

VALUES = st.sampled_from((0.0, 0.0, 1.0, 0.5, 2.0, -1.0, 0.25, 3.0))


def _full_scan(query, ref, k, exclude_self=False):
    """The blocked full-scan kernel, called directly (the path without cones)."""
    from featcf._kernels import similarity as ks

    n_blocks = -(-query.rows.shape[0] // ks.DENSE_ROW_BLOCK)
    out = ks.dense_topk(
        query.rows, ref.rows, query.norms, ref.norms, k, ks.MODE_COSINE, exclude_self, n_blocks
    )
    return similarity._to_csr(*out, (query.rows.shape[0], ref.rows.shape[0]))


def _assert_same(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


@st.composite
def problems(draw):
    d = draw(st.integers(1, 5))
    a = draw(arrays(np.float64, (draw(st.integers(1, 30)), d), elements=VALUES))
    b = draw(arrays(np.float64, (draw(st.integers(1, 60)), d), elements=VALUES))
    if draw(st.booleans()):
        b[::3] = b[0]  # repeated references: ties
    w = draw(
        st.one_of(st.none(), arrays(np.float64, (d,), elements=st.sampled_from((0.5, 1.0, 2.0))))
    )
    return a, b, w, draw(st.integers(1, 12)), draw(st.integers(1, 8))


@pytest.mark.parametrize("metric", ["cosine", "pearson"])
@settings(max_examples=60, deadline=None)
@given(problem=problems(), exclude_self=st.booleans())
def test_cone_search_equals_full_scan(metric, problem, exclude_self):
    a, b, w, k, n_groups = problem
    if exclude_self:
        a = b  # self mode: the query row's own position is skipped
    query, ref = prepare_dense(a, metric, w), prepare_dense(b, metric, w)
    k = min(k, b.shape[0])
    got = similarity._cone_topk(query, ref, k, exclude_self, None, n_groups=n_groups)
    _assert_same(got, _full_scan(query, ref, k, exclude_self))


def test_cone_search_on_many_short_profiles(rng):
    """Through ``topk_prepared`` (sizes that choose the cone search), near-identical rows."""
    base = rng.normal(size=(40, 4))
    a = np.round(base[rng.integers(0, 40, 3000)] + rng.normal(scale=0.05, size=(3000, 4)), 3)
    b = np.round(base[rng.integers(0, 40, 2000)] + rng.normal(scale=0.05, size=(2000, 4)), 3)
    b[::50] = 0.0  # zero rows have no cosine neighbours and are no neighbours
    w = rng.random(4) + 0.1
    assert similarity._use_cones(len(a), len(b), 4)
    for metric in ("cosine", "pearson"):
        query, ref = prepare_dense(a, metric, w), prepare_dense(b, metric, w)
        _assert_same(topk_prepared(query, ref, 51), _full_scan(query, ref, 51))


def test_cone_index_covers_every_nonzero_row(rng):
    b = rng.normal(size=(500, 3))
    b[::7] = 0.0
    ref = prepare_dense(b, "cosine")
    cones = similarity._cone_index(ref, 20)
    assert sorted(cones.orig.tolist()) == np.flatnonzero(ref.norms > 0).tolist()
    unit = cones.rows / cones.norms[:, None]
    for c in range(len(cones.ptr) - 1):
        members = unit[cones.ptr[c] : cones.ptr[c + 1]]
        cos = members @ cones.centres[c]
        assert (cos >= cones.cos_rad[c] - 1e-12).all()  # every member within the radius
        assert (np.diff(cones.beta[cones.ptr[c] : cones.ptr[c + 1]]) >= 0).all()
