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

from featcf.distributed._cluster import INSTALL_HINT, WORKER_ENV, local_cluster
from featcf.distributed._io import from_dask_dataframe, from_parquet
from featcf.distributed._serving import recommend, recommend_users
from featcf.distributed._similarity import topk_similarity

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
