"""featcf on a Dask cluster: exact similarity, recommendations and audiences, spread out.

The heavy work stays in featcf's numba kernels and models; Dask schedules blocks of it over
the workers of a cluster, and every result is identical to the one-process call.

* :func:`topk_similarity`: exact item-item (or user-user) top-k, query blocks x candidate
  chunks, per-chunk lists merged.
* :func:`recommend` and :func:`recommend_users`: a fitted model sent once to each worker,
  customers scored partition by partition, audiences merged as a top-n over partitions.
* :func:`from_parquet` and :func:`from_dask_dataframe`: a :class:`~featcf.Dataset` from
  partitioned Parquet files or a ``dask.dataframe`` of interactions, read by the workers.

Every function takes ``client``: a ``dask.distributed.Client`` (e.g.
``Client("tcp://scheduler:8786")`` for a cluster), or None to start a LocalCluster sized to
this machine (:func:`local_cluster`) and close it afterwards. Workers run numba with one
thread per task.

Dask is optional: ``pip install 'featcf[dask]'``. Importing this module works without it;
the first call raises an ImportError saying what to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from featcf.distributed._cluster import INSTALL_HINT, WORKER_ENV, local_cluster
from featcf.distributed._similarity import topk_similarity

if TYPE_CHECKING:  # for type checkers; at run time these are served lazily (below)
    from featcf.distributed._io import from_dask_dataframe, from_parquet
    from featcf.distributed._serving import recommend, recommend_users

# Served lazily: they import pandas and the models, which a worker running only similarity
# tasks (featcf.distributed._similarity) does not need in its memory.
_LAZY = {
    "from_dask_dataframe": "featcf.distributed._io",
    "from_parquet": "featcf.distributed._io",
    "recommend": "featcf.distributed._serving",
    "recommend_users": "featcf.distributed._serving",
}

__all__ = [
    "INSTALL_HINT",
    "WORKER_ENV",
    "from_dask_dataframe",
    "from_parquet",
    "local_cluster",
    "recommend",
    "recommend_users",
    "topk_similarity",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'featcf.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
