"""Announce a launch: the customers to tell about a product, best first, each with a reason."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from featcf._validation import check_bool, check_finite_float, check_positive_int
from featcf.columns import Columns
from featcf.exceptions import UnknownIdError
from featcf.models.base import BaseRecommender
from featcf.retention._inputs import VALUE, check_model, value_series

__all__ = ["INTEREST", "PRIORITY", "announce"]

#: column of :func:`announce`: the customer's score percentile among everyone scored (0-1)
INTEREST = "interest"
#: column of :func:`announce` with ``value``: interest x customer value, the ranking key
PRIORITY = "priority"


def _launched(model: BaseRecommender, item: Any) -> tuple[BaseRecommender, Any]:
    """The model to query and the product's id: ``model`` itself for a catalogue id, a copy
    with the product added for a one-row feature frame (``model`` is left as it was)."""
    dataset = model.dataset_
    if isinstance(item, pd.DataFrame):
        encoder = dataset.item_encoder
        if encoder is None:
            raise ValueError(
                "item is a feature frame, but the model's Dataset has no item features to "
                "encode it with; announce a product of the catalogue by its id instead"
            )
        if len(item) != 1 or encoder.id_col not in item.columns:
            raise ValueError(
                f"item must be one product: a product id, or a one-row frame with the "
                f"{encoder.id_col!r} column and the item fields; got a frame of {len(item)} "
                f"row(s) with columns {list(item.columns)}"
            )
        item_id = item[encoder.id_col].iloc[0]
        if np.all(np.asarray(dataset.item_index([item_id], strict=False)) >= 0):
            raise ValueError(
                f"item describes {item_id!r}, which is already in the catalogue; pass its id "
                f"(announce(model, {item_id!r})) to announce an existing product"
            )
        # add_items grows the model it is called on; a query must not, so the product is
        # added to a copy (the fitted arrays are copied: memory of one more model)
        launched = copy.deepcopy(model)
        launched.add_items(item)
        return launched, item_id
    if pd.api.types.is_list_like(item):
        raise TypeError(
            f"item must be one product id or a one-row feature frame, got {type(item).__name__}"
        )
    if np.asarray(dataset.item_index([item], strict=False))[0] < 0:
        raise UnknownIdError("item", [item], "item", known_examples=dataset.item_ids[:3])
    return model, item


def announce(
    model: BaseRecommender,
    item: Any,
    budget: int | None = None,
    min_score: float | None = None,
    value: Any = None,
    *,
    reasons: bool = True,
) -> pd.DataFrame:
    """The customers to tell about a product, best first, each with a personal reason.

    Every customer of the model who does not hold the product yet is scored by the model
    (:meth:`~featcf.models.base.BaseRecommender.recommend_users`) and ranked by that score,
    or, with ``value``, by ``priority = interest x value``: the customers most likely to be
    interested *and* worth the most.

    Parameters
    ----------
    model : fitted featcf recommender
        A model that can score the product: for a new product one that serves new items
        (FeatureCF, ContentKNN).
    item : product id or pandas.DataFrame
        A product of the model's catalogue, or a NEW product as a one-row frame of its
        features (the item id column and the item fields, like the Dataset's
        ``item_features``). A new product is added to a copy of the model
        (:meth:`~featcf.models.base.BaseRecommender.add_items`); ``model`` is not changed.
    budget : int, optional
        How many customers to return at most (the size of the mailing); all when None.
    min_score : float, optional
        Leave out customers whose score is below it.
    value : pandas.Series or pandas.DataFrame, optional
        Customer value by id, or the frame of :func:`customer_value`; customers it does not
        list are worth 0. Ranks by ``priority`` instead of ``score``.
    reasons : bool, default True
        Add the ``reason`` column (models without explanations, ALS, need False).

    Returns
    -------
    pandas.DataFrame
        One row per customer to contact, best first, ready for a mailing tool
        (``frame.to_csv(path, index=False)``): ``rank`` (from 1), ``user_id``, ``item_id``,
        ``score`` (the model's score: comparable between customers for one product, not a
        probability), ``interest`` (the share of the scored customers with a lower score,
        0-1: a rank, not a probability of buying), with ``value`` also ``value`` and
        ``priority``, and ``reason`` (one line in plain words). Customers with equal keys keep
        the model's order.

    Raises
    ------
    UnknownIdError
        If ``item`` is an id the catalogue does not hold (a new product needs its features),
        or ``value`` lists unknown customers.
    ValueError
        If ``budget`` is not a positive integer (TypeError for a non-integer), ``item`` is a
        frame of several rows or repeats a catalogue id, or ``value`` holds negative values.
    UnsupportedProtocolError
        If the model cannot score a new product, or give reasons.

    Examples
    --------
    >>> from featcf import ContentKNN
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.retention import announce
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> model = ContentKNN().fit(shop)
    >>> launch = shop.item_frame.reset_index().iloc[[0]].assign(item_id="P-NEW")
    >>> mailing = announce(model, launch, budget=20)
    >>> len(mailing), "P-NEW" in model.item_ids_  # the model is unchanged
    (20, False)
    """
    dataset = check_model(model)
    if budget is not None:
        budget = check_positive_int(budget, "budget")
    min_score = check_finite_float(min_score, "min_score", allow_none=True)
    reasons = check_bool(reasons, "reasons")
    worth = None if value is None else value_series(value, dataset.user_ids, "value")
    launched, item_id = _launched(model, item)
    audience = launched.recommend_users(item_id, n=None, exclude_seen=True)
    audience[INTEREST] = audience[Columns.SCORE].rank(pct=True, method="min") - 1 / max(
        len(audience), 1
    )
    if min_score is not None:
        audience = audience.loc[audience[Columns.SCORE] >= min_score]
    if worth is not None:
        audience[VALUE] = worth.reindex(audience[Columns.USER]).to_numpy()
        audience[PRIORITY] = audience[INTEREST] * audience[VALUE]
        audience = audience.sort_values(PRIORITY, ascending=False, kind="stable")
    chosen = audience.head(budget) if budget is not None else audience
    if reasons:
        # the reasons of the chosen customers only: the model's top list as deep as needed
        depth = int(chosen[Columns.RANK].max()) if len(chosen) else 1
        why = launched.recommend_users(item_id, n=depth, exclude_seen=True, reasons=True)
        chosen = chosen.assign(
            **{Columns.REASON: chosen[Columns.USER].map(why.set_index(Columns.USER)["reason"])}
        )
    columns = [Columns.USER, Columns.ITEM, Columns.SCORE, INTEREST]
    columns += [VALUE, PRIORITY] if worth is not None else []
    columns += [Columns.REASON] if reasons else []
    out = chosen[columns].reset_index(drop=True)
    out.insert(0, Columns.RANK, np.arange(1, len(out) + 1))
    return out
