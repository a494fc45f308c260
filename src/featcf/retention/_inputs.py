"""Checks shared by the retention workflows: the model, the dataset and a value argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from featcf.columns import Columns
from featcf.data import Dataset
from featcf.exceptions import UnknownIdError
from featcf.models.base import BaseRecommender

__all__ = ["VALUE", "check_dataset", "check_model", "value_series"]

#: the column of :func:`~featcf.retention.customer_value` that the workflows read as value
VALUE = "value"


def check_model(model: Any, argument: str = "model") -> Dataset:
    """The fitted Dataset of ``model`` (``TypeError`` for a non-model, ``NotFittedError``)."""
    if not isinstance(model, BaseRecommender):
        raise TypeError(
            f"{argument} must be a fitted featcf recommender (e.g. FeatureCF().fit(dataset)), "
            f"got {type(model).__name__}"
        )
    model.user_ids_  # noqa: B018 - raises NotFittedError before anything else is read
    return model.dataset_


def check_dataset(dataset: Any, argument: str = "dataset") -> Dataset:
    """``dataset`` if it is a :class:`~featcf.Dataset`, else ``TypeError``."""
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"{argument} must be a featcf.Dataset (build one with Dataset.from_frames), "
            f"got {type(dataset).__name__}"
        )
    return dataset


def value_series(value: Any, user_ids: np.ndarray, argument: str = "value") -> pd.Series:
    """``value`` (a Series by customer id, or the frame of ``customer_value``) over
    ``user_ids``, float64; customers it does not list are worth 0.

    Raises
    ------
    TypeError
        If ``value`` is neither a Series nor a frame with a ``value`` column.
    ValueError
        If it holds missing, infinite or negative values, or repeats a customer.
    UnknownIdError
        If it lists customers that are not in ``user_ids``.
    """
    if isinstance(value, pd.DataFrame):
        if VALUE not in value.columns:
            raise TypeError(
                f"{argument} must be a pandas Series of value by customer id or the frame of "
                f"customer_value (with a {VALUE!r} column); got a DataFrame with columns "
                f"{list(value.columns)}"
            )
        value = value[VALUE]
    if not isinstance(value, pd.Series):
        raise TypeError(
            f"{argument} must be a pandas Series of value by customer id (or the frame of "
            f"customer_value), got {type(value).__name__}"
        )
    if not pd.api.types.is_numeric_dtype(value.dtype) or pd.api.types.is_bool_dtype(value.dtype):
        raise TypeError(f"{argument} must hold numbers, got dtype {value.dtype}")
    numbers = value.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        raise ValueError(
            f"{argument} holds {int(bad.sum())} missing, infinite or negative value(s), e.g. for "
            f"customers {value.index[bad][:5].tolist()}; a customer's value must be >= 0"
        )
    if value.index.has_duplicates:
        repeated = value.index[value.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{argument} lists customers more than once, e.g. {repeated}")
    known = pd.Index(user_ids)
    unknown = value.index[~value.index.isin(known)]
    if len(unknown):
        raise UnknownIdError("user", unknown.tolist(), argument, known_examples=user_ids[:3])
    out = pd.Series(numbers, index=value.index).reindex(known, fill_value=0.0)
    out.index.name = Columns.USER
    return out
