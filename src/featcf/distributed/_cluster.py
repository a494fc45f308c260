"""The Dask client a distributed call runs on, and one numba thread per task.

Dask and distributed are optional (the ``dask`` extra); they are imported inside the functions
here, so ``import featcf.distributed`` works without them and the first call says what to
install.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

#: the environment of the workers of a LocalCluster that featcf starts: one numba (and BLAS)
#: thread per worker process, whose single Dask thread runs one task at a time
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

INSTALL_HINT = (
    "featcf.distributed needs Dask: install it with pip install 'featcf[dask]' "
    "(dask[distributed], dask[dataframe] and pyarrow)"
)


def require_dask() -> Any:
    """The ``distributed`` module, or an ImportError saying what to install."""
    try:
        # dask: optional and heavy, kept out of import featcf
        import dask  # noqa: F401

        import distributed  # dask: optional and heavy
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT}; importing it failed: {exc}") from exc
    return distributed


def machine_workers() -> int:
    """Worker processes of a LocalCluster sized to this machine: one per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def local_cluster(n_workers: int | None = None, **options: Any) -> Any:
    """A ``distributed.LocalCluster`` set up for featcf: single-threaded worker processes.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default one per usable core of this machine.
    **options
        Passed to ``LocalCluster`` (e.g. ``memory_limit``).

    Returns
    -------
    distributed.LocalCluster
        Each worker has one Dask thread and :data:`WORKER_ENV` (one numba thread). Work
        stealing is off: a task stays on the worker the scheduler gave it to.

    Examples
    --------
    .. code-block:: python

        from dask.distributed import Client
        from featcf import distributed

        with distributed.local_cluster(n_workers=2) as cluster, Client(cluster) as client:
            neighbours = distributed.topk_similarity(X, k=50, client=client)
    """
    distributed = require_dask()
    # dask: optional and heavy, kept out of import featcf
    import dask

    n_workers = machine_workers() if n_workers is None else n_workers
    settings = {
        "n_workers": n_workers,
        "threads_per_worker": 1,
        "processes": True,
        "env": dict(WORKER_ENV),
        "dashboard_address": None,
        **options,
    }
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        return distributed.LocalCluster(**settings)


@contextlib.contextmanager
def client_for(client: Any) -> Iterator[Any]:
    """``client`` itself, or (None) a LocalCluster sized to the machine, closed afterwards.

    The LocalCluster (:func:`local_cluster`) has one worker process per core, each with one
    thread and :data:`WORKER_ENV` (one numba thread), so tasks never oversubscribe the cores.
    """
    distributed = require_dask()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(
                "client must be a dask.distributed.Client (e.g. Client('tcp://scheduler:8786')) "
                f"or None to start a LocalCluster on this machine, got {type(client).__name__}"
            )
        yield client
        return
    with local_cluster() as cluster, distributed.Client(cluster) as local:
        yield local


def one_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` with numba on one thread (the calling task's), whatever the worker's setting.

    numba's thread count is per calling thread, so this holds on a worker with several Dask
    threads too: each task runs its kernels serially and the worker's threads share the cores.
    (No lock is taken: a one-thread kernel launches no parallel region.)
    """
    import numba  # heavy: kept out of import featcf

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return fn(*args, **kwargs)
    finally:
        numba.set_num_threads(previous)
