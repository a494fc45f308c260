"""featcf.distributed on a real LocalCluster of 2 worker processes: results identical to the
local calls, one numba thread per worker, a worker killed mid-job, Parquet input."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

distributed_lib = pytest.importorskip("distributed", reason="needs the dask extra")
pytest.importorskip("dask.dataframe", reason="needs the dask extra")

from featcf import Dataset, FeatureCF, distributed  # noqa: E402
from featcf.datasets import make_insurance_shop  # noqa: E402
from featcf.distributed import _cluster, _similarity  # noqa: E402
from featcf.models import ItemKNN  # noqa: E402
from featcf.similarity import SPARSE_METRICS, topk_similarity  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with (
        distributed.local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        distributed_lib.Client(cluster) as cl,
    ):
        yield cl


@pytest.fixture(scope="module")
def shop():
    return make_insurance_shop(n_customers=300, random_state=3)


def assert_identical(got, expected):
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def _matrix(n_rows=300, n_cols=60, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_cols, density=0.08, format="csr", random_state=rng)
    X.data = np.ceil(X.data * 4)  # few distinct values: many tied scores
    return sp.csr_matrix(np.vstack([X.toarray(), X[:40].toarray()]))  # duplicate rows: ties


@pytest.mark.parametrize("metric", SPARSE_METRICS)
def test_topk_similarity_is_identical_to_the_local_call(client, metric):
    X = _matrix()
    expected = topk_similarity(X, 6, metric, shrink=1.0)
    got = distributed.topk_similarity(
        X, 6, metric, shrink=1.0, client=client, block_rows=50, chunk_rows=90
    )
    assert_identical(got, expected)


def test_item_item_from_a_dataset_with_default_blocks(client, shop):
    X = shop.interactions.T.tocsr()
    assert_identical(distributed.topk_similarity(X, 10, client=client), topk_similarity(X, 10))


def test_workers_run_one_numba_thread(client):
    def settings():
        import numba

        from featcf.distributed._cluster import one_thread

        return numba.config.NUMBA_NUM_THREADS, one_thread(numba.get_num_threads)

    per_worker = client.run(settings)
    assert len(per_worker) == 2
    assert set(per_worker.values()) == {(1, 1)}
    assert all(w["nthreads"] == 1 for w in client.scheduler_info()["workers"].values())
    assert not client.run_on_scheduler(
        lambda dask_scheduler: "stealing" in dask_scheduler.extensions
    )


def test_scratch_files_are_removed_after_the_job_and_after_a_failure(client, tmp_path):
    X = _matrix(200, 30, seed=2)
    got = distributed.topk_similarity(
        X, 4, client=client, block_rows=30, chunk_rows=70, scratch_dir=tmp_path
    )
    assert_identical(got, topk_similarity(X, 4))
    assert list(tmp_path.iterdir()) == []

    def fail(flag):
        from featcf.distributed import _similarity as module

        module._block_topk = _failing_block_topk if flag else _SLOW_ORIGINAL

    client.run(fail, True)
    try:
        with pytest.raises(RuntimeError, match="task failed on purpose"):
            distributed.topk_similarity(X, 4, client=client, scratch_dir=tmp_path)
    finally:
        client.run(fail, False)
    assert list(tmp_path.iterdir()) == []


def test_workers_running_similarity_tasks_do_not_import_pandas_or_the_models():
    """A worker's memory before any task counts in its peak: the similarity tasks import
    featcf.similarity and its kernels only (a fresh cluster: the shared one ran models)."""
    X = _matrix(120, 20, seed=4)
    with (
        distributed.local_cluster(n_workers=1, dashboard_address=":0") as cluster,
        distributed_lib.Client(cluster) as cl,
    ):
        assert_identical(distributed.topk_similarity(X, 3, client=cl), topk_similarity(X, 3))
        loaded = cl.run(
            lambda: sorted(
                name for name in ("pandas", "sklearn", "featcf.models", "featcf.data")
                if name in __import__("sys").modules
            )
        )  # fmt: skip
    assert list(loaded.values()) == [[]]


def test_scratch_dir_must_be_a_directory_every_worker_sees(client, tmp_path):
    X = _matrix(20, 5)
    with pytest.raises(ValueError, match="scratch_dir .* is not a directory"):
        distributed.topk_similarity(X, 2, client=client, scratch_dir=tmp_path / "missing")

    class Blind:
        def run(self, fn, *args):
            return {"tcp://a:1": True, "tcp://b:2": False}

    with pytest.raises(ValueError, match=r"\['tcp://b:2'\] cannot read the scratch directory"):
        _similarity._check_visible(Blind(), tmp_path)


@pytest.mark.parametrize("model_class", [ItemKNN, FeatureCF])
def test_recommend_and_audiences_equal_the_model(client, shop, model_class):
    # uniform weights: the same scoring paths without the weight fit (20 s on a busy machine)
    params = {"n_neighbors": 20} if model_class is ItemKNN else {"weights": "uniform"}
    model = model_class(**params).fit(shop)
    users = list(shop.user_ids[::-1][:300])  # not in Dataset order
    pd.testing.assert_frame_equal(
        distributed.recommend(model, users, n=5, client=client, partition_size=70),
        model.recommend(users, n=5),
    )
    items = list(shop.item_ids[:6])
    for n in (1, 15, None):
        pd.testing.assert_frame_equal(
            distributed.recommend_users(model, items, n=n, client=client, partition_size=90),
            model.recommend_users(items, n=n),
        )
    pd.testing.assert_frame_equal(
        distributed.recommend_users(model, items[0], n=40, client=client, exclude_seen=False),
        model.recommend_users(items[0], n=40, exclude_seen=False),
    )


def test_parquet_and_dask_dataframe_give_the_same_dataset(client, tmp_path, shop):
    import dask.dataframe as dd

    frame = shop.interaction_frame() if hasattr(shop, "interaction_frame") else None
    if frame is None:
        coo = shop.interactions.tocoo()
        frame = pd.DataFrame(
            {
                "user": shop.user_ids[coo.row],
                "item": shop.item_ids[coo.col],
                "weight": coo.data.astype(np.float64),
            }
        )
    dd.from_pandas(frame, npartitions=3).to_parquet(tmp_path / "interactions")
    expected = Dataset.from_frames(frame, user_col="user", item_col="item", weight_col="weight")
    for got in (
        distributed.from_parquet(
            tmp_path / "interactions",
            user_col="user",
            item_col="item",
            weight_col="weight",
            client=client,
        ),  # fmt: skip
        distributed.from_dask_dataframe(
            dd.from_pandas(frame, npartitions=4),
            user_col="user",
            item_col="item",
            weight_col="weight",
            client=client,
        ),  # fmt: skip
    ):
        assert sorted(got.user_ids) == sorted(expected.user_ids)
        order_u = expected.user_index(got.user_ids)
        order_i = expected.item_index(got.item_ids)
        diff = got.interactions - expected.interactions[order_u][:, order_i]
        assert diff.nnz == 0 or np.abs(diff.data).max() == 0


def test_bad_arguments_are_named(client):
    X = _matrix(20, 5)
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        distributed.topk_similarity(X, 2, client="tcp://scheduler:8786")
    with pytest.raises(ValueError, match="metric"):
        distributed.topk_similarity(X, 2, "euclid", client=client)
    with pytest.raises(ValueError, match="block_rows"):
        distributed.topk_similarity(X, 2, client=client, block_rows=0)
    with pytest.raises(TypeError, match="dask.dataframe.DataFrame"):
        distributed.from_dask_dataframe(pd.DataFrame(), user_col="u", item_col="i", client=client)
    with pytest.raises(ValueError, match="not fitted"):
        distributed.recommend(ItemKNN(), ["c1"], client=client)


def test_no_client_starts_and_closes_a_local_cluster(monkeypatch):
    monkeypatch.setattr(_cluster, "machine_workers", lambda: 1)  # cheap: one worker here
    with _cluster.client_for(None) as cl:
        workers = cl.scheduler_info()["workers"]
        assert len(workers) == 1 and all(w["nthreads"] == 1 for w in workers.values())
        assert set(cl.run(lambda: os.environ["NUMBA_NUM_THREADS"]).values()) == {"1"}
        cluster = cl.cluster
    assert cluster.status.name == "closed"
    X = _matrix(50, 10)
    assert_identical(distributed.topk_similarity(X, 3), topk_similarity(X, 3))


def _slow_block_topk(*args, **kwargs):
    time.sleep(0.05)
    return _SLOW_ORIGINAL(*args, **kwargs)


_SLOW_ORIGINAL = _similarity._block_topk


def _failing_block_topk(*args, **kwargs):
    raise RuntimeError("task failed on purpose")


def test_a_worker_killed_mid_job_still_gives_the_identical_result(client):
    """Tasks slowed down on the workers (the task functions are pickled by name, so patching
    the workers' module slows them), one worker process killed (SIGKILL) once 5 of the 40
    query blocks are done: its running tasks, which read their inputs from the scratch
    directory, rerun on the other worker and the restarted one."""
    X = _matrix(400, 40, seed=5)
    expected = topk_similarity(X, 5)

    def slow_down(flag):
        from featcf.distributed import _similarity as module

        module._block_topk = _slow_block_topk if flag else _SLOW_ORIGINAL

    client.run(slow_down, True)
    pids = client.run(os.getpid)
    before = set(pids)
    finished = threading.Event()
    killed = []

    def pending_merges(dask_scheduler=None):
        # a merge the client has gathered is released (forgotten by the scheduler)
        return sum(
            ts.state != "memory" and str(ts.key).startswith("_merge_block")
            for ts in dask_scheduler.tasks.values()
        )

    def kill_one():
        submitted = False
        while not finished.is_set():
            pending = client.run_on_scheduler(pending_merges)
            submitted = submitted or pending == 40
            if submitted and pending <= 35:  # 5 of the 40 blocks done
                victim = sorted(before)[0]
                killed.append((victim, pending))
                os.kill(pids[victim], signal.SIGKILL)  # the worker process dies at once
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one)
    killer.start()
    try:
        got = distributed.topk_similarity(X, 5, client=client, block_rows=10, chunk_rows=100)
    finally:
        finished.set()
        killer.join()
        client.wait_for_workers(2, timeout=60)
        client.run(slow_down, False)
    assert killed, "the job ended before a worker could be killed"
    after = set(client.scheduler_info()["workers"])
    assert killed[0][0] not in after, "the killed worker is still there"
    assert_identical(got, expected)


def test_audiences_refuse_customers_a_model_cannot_score(client):
    """ItemKNN's score_users refuses customers without interactions: the distributed audience
    says so (the model's own recommend_users ranks them with score 0)."""
    from featcf.exceptions import UnsupportedProtocolError

    shop = make_insurance_shop(n_customers=120, n_new_customers=3, random_state=1)
    model = ItemKNN(n_neighbors=10).fit(shop)
    with pytest.raises(UnsupportedProtocolError, match="without interactions"):
        distributed.recommend_users(model, shop.item_ids[0], n=5, client=client)
