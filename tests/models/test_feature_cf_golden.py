"""FeatureCF's outputs are pinned bit for bit (issue 11: the move into a package kept them).

The fixtures in ``golden/`` were written by ``golden/generate.py`` at the commit before the
restructuring: learned weights, ``recommend``, ``recommend_new_users`` (a few interactions;
demographics only), ``predict``, ``add_items`` then ``recommend_users`` and ``recommend``,
and ``explain`` (including a product launched after the fit), on the synthetic shop,
MovieLens 100k and CoIL 2000. A refactor must reproduce every array exactly.

The outputs are computed in a process of their own with the OpenBLAS kernels the files were
written with (``generate.BLAS_ENV``): other kernels round differently, so on a CPU that cannot
run those the test skips and says why.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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
def test_outputs_bit_identical_to_golden(case, request, tmp_path):
    gen = _generator()
    root = request.getfixturevalue("shared_data") if case != "shop" else gen.SHARED
    if not gen.blas_pinnable():
        pytest.skip(
            f"the golden files hold outputs of OpenBLAS's {gen.BLAS_ENV} kernels, which this "
            f"CPU cannot run (it lacks one of {gen.BLAS_FLAGS}); other kernels round "
            "differently, so bit-for-bit equality says nothing here"
        )
    # a process of its own: OpenBLAS reads its kernel choice when numpy loads
    out = tmp_path / f"{case}.npz"
    subprocess.run(
        [sys.executable, str(GOLDEN / "generate.py"), "--to", str(out), case, str(root)],
        check=True,
        env={**os.environ, **gen.BLAS_ENV},
    )
    expected = np.load(GOLDEN / f"feature_cf_{case}.npz", allow_pickle=False)
    got = np.load(out, allow_pickle=False)
    assert sorted(got.files) == sorted(expected.files)
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
