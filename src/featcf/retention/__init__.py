"""Retention workflows on a fitted model: customer value and tiers, launch announcements,
win-back lists and customer segments, DataFrames in and out.

- :func:`customer_value`: recency, frequency, monetary value, Pareto tiers (A holds 80 % of
  the value) and a ``lapsed`` flag from each customer's own purchase rhythm;
  :func:`value_tiers`, :func:`value_concentration` and :func:`pareto_curve` work on any
  value by customer.
- :func:`announce`: the customers to tell about a new (or existing) product, each with a
  personal reason, ready for a mailing tool.
- :func:`win_back`: lapsed customers, most valuable first, with the next product to offer.
- :func:`segment`: customers grouped by their attribute profiles (scikit-learn's KMeans),
  each group described in words, with its size, value share and products.

They use the public model API only (``recommend``, ``recommend_users``, ``add_items`` and
the ``reason`` column) and a :class:`~featcf.Dataset`.
"""

from __future__ import annotations

from featcf.retention._announce import INTEREST, PRIORITY, announce
from featcf.retention._segments import SEGMENT, Segments, segment
from featcf.retention._value import (
    TIERS,
    ValueConcentration,
    customer_value,
    pareto_curve,
    value_concentration,
    value_tiers,
)
from featcf.retention._win_back import LAPSE_REASON, win_back

__all__ = [
    "INTEREST",
    "LAPSE_REASON",
    "PRIORITY",
    "SEGMENT",
    "TIERS",
    "Segments",
    "ValueConcentration",
    "announce",
    "customer_value",
    "pareto_curve",
    "segment",
    "value_concentration",
    "value_tiers",
    "win_back",
]
