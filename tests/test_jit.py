"""The first-use compile notice (issue 17): one line when the kernel cache is cold, none after."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from types import SimpleNamespace

import numba
import pytest

from featcf._jit import COMPILE_NOTICE, notice_if_cold

# compiles a few kernels through three different faces: the notice must still come once
SCRIPT = """
import logging, sys
import numpy as np, scipy.sparse as sp
from featcf.similarity import topk_similarity, topk_similarity_dense, topn_dense
if sys.argv[1:] == ["quiet"]:
    logging.getLogger("featcf").setLevel(logging.ERROR)
X = sp.csr_matrix((np.arange(24) % 5 == 0).reshape(6, 4).astype(float))
topk_similarity(X, 2)
topk_similarity_dense(X.toarray(), 2)
topn_dense(np.arange(12.0).reshape(3, 4), 2)
"""


def _fake_kernel(cache_folder, signatures=()):
    """Stands in for a numba dispatcher: its compiled signatures and its cache folder."""
    return SimpleNamespace(
        signatures=list(signatures), _cache=SimpleNamespace(_cache_path=str(cache_folder))
    )


def test_notice_when_the_cache_folder_is_missing_or_empty(tmp_path, caplog):
    for folder in (tmp_path / "absent", tmp_path):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="featcf"):
            notice_if_cold(_fake_kernel(folder))
        assert [r.getMessage() for r in caplog.records] == [COMPILE_NOTICE]
        assert caplog.records[0].name == "featcf"


def test_no_notice_when_warm(tmp_path, caplog):
    (tmp_path / "similarity.count_topk_chunk-650.py311.nbi").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="featcf"):
        notice_if_cold(_fake_kernel(tmp_path))  # another kernel was compiled before
        # compiled or loaded in this process: the folder is not even looked at
        notice_if_cold(_fake_kernel(tmp_path / "absent"), _fake_kernel(tmp_path, ["sig"]))
        notice_if_cold(len)  # NUMBA_DISABLE_JIT: kernels are plain functions
    assert caplog.records == []


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles with NUMBA_DISABLE_JIT")
def test_cold_cache_is_announced_once_per_run_and_not_when_warm(tmp_path):
    def run(cache, *args):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    cold = run(tmp_path / "cache")
    assert cold.splitlines().count(COMPILE_NOTICE) == 1, cold
    assert COMPILE_NOTICE not in run(tmp_path / "cache")  # the same cache, now filled
    assert COMPILE_NOTICE not in run(tmp_path / "other", "quiet")  # silenced by logging
