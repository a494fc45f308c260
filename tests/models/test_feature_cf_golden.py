"""FeatureCF's outputs are pinned bit for bit (issue 11: the move into a package kept them).

The fixtures in ``golden/`` were written by ``golden/generate.py`` at the commit before the
restructuring: learned weights, ``recommend``, ``recommend_new_users`` (a few interactions;
demographics only), ``predict``, ``add_items`` then ``recommend_users`` and ``recommend``,
and ``explain`` (including a product launched after the fit), on the synthetic shop,
MovieLens 100k and CoIL 2000. A refactor must reproduce every array exactly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def _generator():
    spec = importlib.util.spec_from_file_location("golden_generate", GOLDEN / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "case",
    ["shop", pytest.param("movielens", marks=pytest.mark.realdata),
     pytest.param("coil", marks=pytest.mark.realdata)],
)  # fmt: skip
def test_outputs_bit_identical_to_golden(case, request):
    gen = _generator()
    if case != "shop":
        root = request.getfixturevalue("shared_data")
        dataset = gen.CASES[case](root)
    else:
        dataset = gen.CASES[case]()
    expected = np.load(GOLDEN / f"feature_cf_{case}.npz", allow_pickle=False)
    got = gen.golden_outputs(dataset)
    assert sorted(got) == sorted(expected.files)
    for key in expected.files:
        want, have = expected[key], got[key]
        assert have.dtype.kind == want.dtype.kind, key
        assert have.shape == want.shape, key
        if want.dtype.kind == "f":
            # bit-identical: equal values *and* equal NaN positions
            assert np.array_equal(have, want, equal_nan=True), (
                f"{key}: max abs diff {np.nanmax(np.abs(have - want))}"
            )
        else:
            assert np.array_equal(have, want), key
