"""Without Dask, ``import featcf.distributed`` works and each call says what to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

import featcf
from featcf import distributed


@pytest.mark.parametrize("missing", ["dask", "distributed"])
def test_a_call_without_dask_names_the_extra_to_install(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # "import <missing>" now raises ImportError
    X = sp.csr_matrix(np.eye(3))
    with pytest.raises(ImportError, match=r"pip install 'featcf\[dask\]'"):
        distributed.topk_similarity(X, k=1)
    with pytest.raises(ImportError, match=r"featcf\.distributed needs Dask"):
        distributed.from_parquet("interactions/", user_col="user", item_col="item")


def test_import_featcf_does_not_import_dask():
    code = "import featcf, featcf.distributed, sys; print('distributed' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
    assert featcf.__version__


def test_the_similarity_tasks_module_imports_no_pandas_or_models():
    """What a worker imports to run a similarity task: featcf.similarity, not pandas, the
    models or Dataset (a worker's resident memory before any task counts in its peak)."""
    code = (
        "import sys, featcf.distributed._similarity; print([m for m in ('pandas', 'sklearn', "
        "'featcf.models', 'featcf.data', 'featcf.distributed._io', 'featcf.distributed._serving')"
        " if m in sys.modules])"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
