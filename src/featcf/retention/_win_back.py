"""Win-back: lapsed customers, most valuable first, each with the next product to offer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from featcf._validation import check_bool, check_positive_int
from featcf.columns import Columns
from featcf.data import Dataset
from featcf.exceptions import UnknownIdError
from featcf.models.base import BaseRecommender
from featcf.retention._inputs import VALUE, check_dataset, check_model
from featcf.retention._value import customer_value

__all__ = ["LAPSE_REASON", "win_back"]

#: column of :func:`win_back`: why the customer is on the list
LAPSE_REASON = "lapse_reason"


def _lapse_reasons(lapsed: pd.DataFrame, unit: str) -> pd.Series:
    """Per customer: "last purchase 120 days ago; usually buys every 35 days"."""
    recency = lapsed["recency"].round().astype(np.int64).astype(str)
    rhythm = lapsed["rhythm"].round().clip(lower=1).astype(np.int64).astype(str)
    usual = np.where(lapsed["own_rhythm"], "usually buys every ", "customers usually buy every ")
    return "last purchase " + recency + f" {unit} ago; " + usual + rhythm + f" {unit}"


def win_back(
    model: BaseRecommender,
    dataset: Dataset,
    now: Any = None,
    n: int = 1,
    *,
    monetary: Any = None,
    lapse_factor: float = 2.0,
    max_customers: int | None = None,
    reasons: bool = True,
) -> pd.DataFrame:
    """Lapsed customers, most valuable first, each with the next products to offer and why.

    The lapsed customers and their value come from :func:`customer_value` (``dataset``,
    ``now``, ``monetary``, ``lapse_factor``); the offers from ``model.recommend(...,
    reasons=True)``, which leaves out what a customer already holds.

    Parameters
    ----------
    model : fitted featcf recommender
        Knows the customers of ``dataset`` (usually fitted on it).
    dataset : Dataset
        The purchases with their times (``timestamp_col``).
    now : date, time or number, optional
        The date of the analysis (default: the latest purchase), see :func:`customer_value`.
    n : int, default 1
        Products to offer each customer.
    monetary : None, str or pandas.Series, optional
        How value is measured, see :func:`customer_value`.
    lapse_factor : float, default 2.0
        Lapsed: no purchase for longer than ``lapse_factor`` times the customer's rhythm.
    max_customers : int, optional
        Keep the most valuable ones only.
    reasons : bool, default True
        Add the ``reason`` column of each offer.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows per lapsed customer (fewer when fewer products are left; one row with
        no ``item_id`` (NaN) for a customer who holds every product), customers by value,
        largest first: ``user_id``, ``value``, ``tier``, ``recency``, ``rhythm``,
        ``lapse_reason`` ("last purchase 120 days ago; usually buys every 35 days"), ``rank``,
        ``item_id``, ``score`` and ``reason`` (why this product).

    Raises
    ------
    ValueError
        If ``dataset`` has no timestamps, or an argument is out of range.
    UnknownIdError
        If lapsed customers of ``dataset`` are unknown to ``model``.

    Examples
    --------
    >>> from featcf import ContentKNN
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.retention import win_back
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> offers = win_back(ContentKNN().fit(shop), shop, max_customers=5)
    >>> len(offers)
    5
    """
    model_data = check_model(model)
    dataset = check_dataset(dataset)
    n = check_positive_int(n, "n")
    if max_customers is not None:
        max_customers = check_positive_int(max_customers, "max_customers")
    reasons = check_bool(reasons, "reasons")
    values = customer_value(dataset, now, monetary, lapse_factor=lapse_factor)
    lapsed = values.loc[values["lapsed"]]
    if max_customers is not None:
        lapsed = lapsed.head(max_customers)
    ids = lapsed.index.to_numpy()
    unknown = np.asarray(model_data.user_index(ids, strict=False)) < 0
    if unknown.any():
        raise UnknownIdError(
            "user", ids[unknown].tolist(), "dataset", known_examples=model_data.user_ids[:3]
        )
    unit = "days" if dataset.columns.get("timestamp_is_datetime") else "time units"
    who = lapsed[[VALUE, "tier", "recency", "rhythm"]].assign(
        **{LAPSE_REASON: _lapse_reasons(lapsed, unit)}
    )
    offers = model.recommend(ids, n=n, reasons=reasons)
    out = who.rename_axis(Columns.USER).reset_index().merge(offers, on=Columns.USER, how="left")
    out[Columns.RANK] = out[Columns.RANK].astype("Int64")  # missing for nothing to offer
    first = [Columns.USER, VALUE, "tier", "recency", "rhythm", LAPSE_REASON, Columns.RANK]
    return out[first + [c for c in out.columns if c not in first]]
