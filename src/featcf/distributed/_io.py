"""Interactions from partitioned Parquet or a ``dask.dataframe``, as a featcf Dataset."""

from __future__ import annotations

from typing import Any

import pandas as pd

from featcf.data.dataset import Dataset
from featcf.distributed._cluster import client_for, require_dask

__all__ = ["from_dask_dataframe", "from_parquet"]


def from_dask_dataframe(
    interactions: Any,
    item_features: pd.DataFrame | None = None,
    user_features: pd.DataFrame | None = None,
    *,
    user_col: str,
    item_col: str,
    weight_col: str | None = None,
    timestamp_col: str | None = None,
    client: Any = None,
    **dataset_options: Any,
) -> Dataset:
    """A :class:`~featcf.Dataset` from a ``dask.dataframe.DataFrame`` of interactions.

    The cluster computes the frame's partitions (only the id, weight and timestamp columns)
    and the client builds the Dataset from them with
    :meth:`featcf.Dataset.from_frames`, which checks them as it does for a pandas frame.

    Parameters
    ----------
    interactions : dask.dataframe.DataFrame
        One row per interaction, partitioned any way.
    item_features, user_features : pandas.DataFrame, optional
        As in :meth:`featcf.Dataset.from_frames` (feature tables are small).
    user_col, item_col, weight_col, timestamp_col : str
        As in :meth:`featcf.Dataset.from_frames`.
    client : dask.distributed.Client, optional
        The cluster; None starts a LocalCluster sized to this machine (closed afterwards).
    **dataset_options
        Passed to :meth:`featcf.Dataset.from_frames` (``duplicates``, ``item_fields``, ...).

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        If Dask is not installed (``pip install 'featcf[dask]'``).
    TypeError
        If ``interactions`` is not a dask DataFrame.
    ValueError
        If a named column is missing (and as :meth:`featcf.Dataset.from_frames`).

    Notes
    -----
    The Dataset (its id maps and interaction matrix) lives in the client's memory: about 12
    bytes per interaction plus the ids. The work spread over the cluster after that is the
    similarity search and the scoring (:func:`topk_similarity`, :func:`recommend`).
    """
    require_dask()
    # dask: optional and heavy, kept out of import featcf
    import dask.dataframe as dd

    if not isinstance(interactions, dd.DataFrame):
        raise TypeError(
            "interactions must be a dask.dataframe.DataFrame (for a pandas frame use "
            f"featcf.Dataset.from_frames), got {type(interactions).__name__}"
        )
    wanted = [c for c in (user_col, item_col, weight_col, timestamp_col) if c is not None]
    missing = [c for c in wanted if c not in interactions.columns]
    if missing:
        raise ValueError(
            f"interactions has no column(s) {missing}; it has {list(interactions.columns)}"
        )
    with client_for(client) as cl:
        frame = cl.compute(interactions[wanted]).result()
    return Dataset.from_frames(
        frame.reset_index(drop=True),
        item_features,
        user_features,
        user_col=user_col,
        item_col=item_col,
        weight_col=weight_col,
        timestamp_col=timestamp_col,
        **dataset_options,
    )


def from_parquet(
    path: Any,
    item_features: pd.DataFrame | None = None,
    user_features: pd.DataFrame | None = None,
    *,
    user_col: str,
    item_col: str,
    weight_col: str | None = None,
    timestamp_col: str | None = None,
    client: Any = None,
    **dataset_options: Any,
) -> Dataset:
    """A :class:`~featcf.Dataset` from interactions stored as (partitioned) Parquet.

    ``path`` is read with ``dask.dataframe.read_parquet`` (a directory of part files, a
    glob, a list of files or a remote URL that Dask can read), then as
    :func:`from_dask_dataframe`.

    Parameters
    ----------
    path : str, path-like or list
        Where the Parquet files are.
    item_features, user_features, user_col, item_col, weight_col, timestamp_col, client
        As in :func:`from_dask_dataframe`.
    **dataset_options
        Passed to :meth:`featcf.Dataset.from_frames`.

    Returns
    -------
    Dataset

    Examples
    --------
    A shop's interactions written as two Parquet parts, read back on a cluster:

    .. code-block:: python

        from dask.distributed import Client
        from featcf import distributed

        client = Client("tcp://scheduler:8786")   # or client=None: a LocalCluster here
        shop = distributed.from_parquet("s3://bucket/interactions/", user_col="customer",
                                        item_col="product", client=client)
    """
    require_dask()
    # dask: optional and heavy, kept out of import featcf
    import dask.dataframe as dd

    wanted = [c for c in (user_col, item_col, weight_col, timestamp_col) if c is not None]
    frame = dd.read_parquet(path, columns=wanted)
    return from_dask_dataframe(
        frame,
        item_features,
        user_features,
        user_col=user_col,
        item_col=item_col,
        weight_col=weight_col,
        timestamp_col=timestamp_col,
        client=client,
        **dataset_options,
    )
