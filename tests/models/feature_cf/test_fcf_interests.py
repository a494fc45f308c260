"""featcf.models.feature_cf._interests: the interests simulated customers state."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from featcf.models.feature_cf._interests import STATED_VALUES, simulated_interests


def _stated_by_hand(inputs, values, hidden, fields_chosen):
    """``simulated_interests`` by hand: per user, the two values of their drawn field their
    hidden positives hold most often, a tie to the value rarer among ``values``."""
    x = inputs.x_bin.toarray()
    share_all = ((values.toarray() > 0).astype(float) @ x).sum(axis=0)
    out = np.zeros((hidden.shape[0], x.shape[1]))
    for u in range(hidden.shape[0]):
        block = inputs.field_slices[fields_chosen[u]]
        cols = np.arange(block.start, block.stop)
        counts = (hidden[u].toarray().ravel() > 0).astype(float) @ x[:, cols]
        share = share_all[cols] / max(share_all[cols].sum(), 1.0)
        order = sorted(
            (c for c in range(len(cols)) if counts[c] > 0),
            key=lambda c: (-counts[c], share[c], c),
        )
        out[u, cols[order[:STATED_VALUES]]] = 1.0
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_simulated_interests_are_the_top_values_of_one_field(shop_inputs, seed):
    """Each customer states the two values of one categorical product field that their
    hidden positives hold most often (a tie goes to the value rarer overall); the field is
    drawn per customer, never a numeric one."""
    inputs = shop_inputs
    rng = np.random.default_rng(seed)
    hidden = sp.csr_matrix((rng.random((30, inputs.values.shape[1])) < 0.15).astype(np.float32))
    said = simulated_interests(inputs, inputs.values, hidden, np.random.default_rng(seed))
    statable = [f for f, kind in enumerate(inputs.field_kinds) if kind in ("categorical", "multi")]
    assert "numeric" in inputs.field_kinds  # the shop's premium is never stated
    chosen = np.random.default_rng(seed).choice(statable, size=30)
    want = _stated_by_hand(inputs, inputs.values, hidden, chosen)
    np.testing.assert_array_equal(said.toarray(), want)
    # nothing to state without positives
    assert (np.diff(said.indptr)[np.diff(hidden.indptr) == 0] == 0).all()


@pytest.fixture(scope="module")
def shop_inputs(shop):
    from featcf.models.feature_cf._inputs import read_inputs

    return read_inputs(shop, rating_data=False, positive_threshold=None)
