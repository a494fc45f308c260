"""Customer value: recency, frequency, monetary value, Pareto tiers and lapsed customers."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from featcf._validation import check_positive_float
from featcf.columns import Columns
from featcf.data import Dataset
from featcf.retention._inputs import VALUE, check_dataset, value_series

__all__ = [
    "TIERS",
    "ValueConcentration",
    "customer_value",
    "pareto_curve",
    "value_concentration",
    "value_tiers",
]

#: Default Pareto cut-offs: tier A holds the first 80 % of the value, tier B the next 15 %.
TIERS = (0.8, 0.95)
_TIER_NAMES = ("A", "B", "C")
#: slack of the cumulative-share comparisons (sums of floats)
_EPS = 1e-9


def _check_cuts(tiers: Any) -> tuple[float, float]:
    cuts = tuple(tiers) if isinstance(tiers, Sequence) and not isinstance(tiers, str) else None
    if (
        cuts is None
        or len(cuts) != 2
        or not all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in cuts)
        or not 0 < cuts[0] < cuts[1] < 1
    ):
        raise ValueError(
            f"tiers must be two increasing shares of the value in (0, 1), e.g. (0.8, 0.95) "
            f"(tier A holds the first 80 %, B the next 15 %, C the rest); got {tiers!r}"
        )
    return float(cuts[0]), float(cuts[1])


def _values(values: Any, argument: str = "values") -> pd.Series:
    """A Series of value by customer (a Series, or the frame of :func:`customer_value`)."""
    if isinstance(values, pd.DataFrame) or isinstance(values, pd.Series):
        return value_series(values, np.asarray(values.index), argument)
    raise TypeError(
        f"{argument} must be a pandas Series of value by customer id (or the frame of "
        f"customer_value), got {type(values).__name__}"
    )


def value_tiers(values: Any, tiers: Sequence[float] = TIERS) -> pd.Series:
    """Pareto tiers: the smallest set of customers holding 80 % of the value is tier ``A``.

    Customers are sorted by value, largest first; a customer is in tier ``A`` while the
    customers before them hold less than ``tiers[0]`` of the total, in ``B`` while they hold
    less than ``tiers[1]``, else in ``C``. So tier A is the smallest set of customers whose
    value reaches 80 % of the total (with the defaults), A and B together the smallest
    reaching 95 %. Equal values keep the order of ``values`` (the first listed goes first),
    so the tiers are deterministic. Customers worth 0 are in ``C``, and so is everyone when
    the total is 0.

    Parameters
    ----------
    values : pandas.Series or pandas.DataFrame
        Value (>= 0) by customer id, or the frame of :func:`customer_value` (its ``value``).
    tiers : pair of float, default (0.8, 0.95)
        Cumulative shares of the value that close tiers A and B.

    Returns
    -------
    pandas.Series
        ``"A"``, ``"B"`` or ``"C"`` by customer id, in the order of ``values`` (an ordered
        categorical).

    Raises
    ------
    TypeError, ValueError
        For a bad ``values`` (not numbers, missing or negative values) or ``tiers``.

    Examples
    --------
    >>> import pandas as pd
    >>> from featcf.retention import value_tiers
    >>> value_tiers(pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0})).tolist()
    ['A', 'A', 'B', 'C']
    """
    first, second = _check_cuts(tiers)
    series = _values(values)
    order = series.sort_values(ascending=False, kind="stable")
    total = float(order.sum())
    before = (order.cumsum() - order) / total if total > 0 else pd.Series(1.0, index=order.index)
    codes = np.select([before < first - _EPS, before < second - _EPS], [0, 1], 2)
    tier = pd.Series(pd.Categorical.from_codes(codes, _TIER_NAMES, ordered=True), order.index)
    return tier.reindex(series.index).rename("tier")


@dataclass(frozen=True)
class ValueConcentration:
    """How concentrated customer value is (see :func:`value_concentration`).

    Attributes
    ----------
    n_customers : int
        Customers counted.
    top : float
        The share of customers asked about (0.2: the top 20 %).
    n_top : int
        How many customers that is (``ceil(top * n_customers)``).
    top_value_share : float
        The share of the total value the ``n_top`` most valuable customers hold.
    customers_for_80 : float
        The smallest share of customers that holds 80 % of the value (the share in tier A).
    gini : float
        Gini coefficient of the values (0: all equal, towards 1: one customer holds all).
    """

    n_customers: int
    top: float
    n_top: int
    top_value_share: float
    customers_for_80: float
    gini: float

    def __str__(self) -> str:
        return (
            f"the top {self.top:.0%} of customers ({self.n_top:,} of {self.n_customers:,}) hold "
            f"{self.top_value_share:.0%} of the value; {self.customers_for_80:.0%} of the "
            f"customers hold 80 % of it (Gini {self.gini:.2f})"
        )


def value_concentration(values: Any, top: float = 0.2) -> ValueConcentration:
    """One-call summary of how concentrated value is: the share the top 20 % hold.

    Parameters
    ----------
    values : pandas.Series or pandas.DataFrame
        Value (>= 0) by customer id, or the frame of :func:`customer_value`.
    top : float, default 0.2
        Share of customers (the most valuable ones) whose share of the value is reported.

    Returns
    -------
    ValueConcentration
        ``str()`` of it is one sentence.

    Examples
    --------
    >>> import pandas as pd
    >>> from featcf.retention import value_concentration
    >>> summary = value_concentration(pd.Series([70.0, 10, 5, 5, 4, 2, 1, 1, 1, 1]))
    >>> summary.n_top, round(summary.top_value_share, 2)
    (2, 0.8)
    """
    if isinstance(top, bool) or not isinstance(top, numbers.Real) or not 0 < top <= 1:
        raise ValueError(f"top must be a share of the customers in (0, 1], got {top!r}")
    series = _values(values)
    n = len(series)
    if n == 0:
        raise ValueError("values is empty: there is no customer to summarise")
    ordered = np.sort(series.to_numpy())[::-1]
    total = float(ordered.sum())
    n_top = max(1, math.ceil(top * n - _EPS))
    share = float(ordered[:n_top].sum() / total) if total > 0 else 0.0
    tier_a = int((value_tiers(series, (0.8, 0.95)) == "A").sum()) if total > 0 else 0
    ascending = ordered[::-1]
    gini = (
        float(2 * np.sum(np.arange(1, n + 1) * ascending) / (n * total) - (n + 1) / n)
        if total > 0
        else 0.0
    )
    return ValueConcentration(n, float(top), n_top, share, tier_a / n, gini)


def pareto_curve(values: Any) -> pd.DataFrame:
    """The Pareto (concentration) curve: share of the value held by the most valuable customers.

    Parameters
    ----------
    values : pandas.Series or pandas.DataFrame
        Value (>= 0) by customer id, or the frame of :func:`customer_value`.

    Returns
    -------
    pandas.DataFrame
        ``customer_share`` (0, 1/n, ..., 1) and ``value_share`` (0 to 1), one row per
        customer after a first row (0, 0); plot one against the other.
    """
    series = _values(values)
    ordered = np.sort(series.to_numpy())[::-1]
    total = float(ordered.sum())
    cum = np.concatenate([[0.0], np.cumsum(ordered)]) / (total if total > 0 else 1.0)
    return pd.DataFrame(
        {"customer_share": np.arange(len(ordered) + 1) / max(len(ordered), 1), "value_share": cum}
    )


def _monetary(dataset: Dataset, purchases: pd.DataFrame, monetary: Any) -> pd.Series:
    """Monetary value by customer (all of them, internal order)."""
    ids = pd.Index(dataset.user_ids, name=Columns.USER)
    if monetary is None:
        return purchases.groupby(Columns.USER)["weight"].sum().reindex(ids, fill_value=0.0)
    if isinstance(monetary, str):
        frame = dataset.item_frame
        columns = [] if frame is None else list(frame.columns)
        numeric = [
            c
            for c in columns
            if pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)
        ]
        if monetary not in numeric:
            raise ValueError(
                f"monetary={monetary!r} must name a numeric column of the products (a price), "
                f"e.g. one of {numeric}; or pass a pandas Series of value by customer id, or "
                f"None for the sum of the interaction weights"
            )
        price = frame[monetary].to_numpy(dtype=np.float64, na_value=np.nan)
        bought = dataset.item_index(purchases[Columns.ITEM].to_numpy())
        spend = purchases["weight"].to_numpy() * price[bought]
        bad = ~np.isfinite(spend) | (spend < 0)
        if bad.any():
            items = pd.unique(purchases[Columns.ITEM].to_numpy()[bad])[:5].tolist()
            raise ValueError(
                f"monetary={monetary!r}: products {items} bought have a missing or negative "
                f"{monetary!r}; fill it in the item features first"
            )
        by_user = pd.Series(spend).groupby(purchases[Columns.USER].to_numpy()).sum()
        return by_user.reindex(ids, fill_value=0.0)
    return value_series(monetary, dataset.user_ids, "monetary").rename(None)


def _time_now(dataset: Dataset, last: float, now: Any) -> float:
    """``now`` in the Dataset's timestamp units (seconds for datetimes); default the latest."""
    if now is None:
        return last
    if dataset.columns.get("timestamp_is_datetime"):
        try:
            stamp = pd.Timestamp(now)
        except (TypeError, ValueError):
            raise TypeError(
                f"now must be a date or time (e.g. '2025-01-31') for a Dataset with datetime "
                f"timestamps, got {now!r}"
            ) from None
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert(None)
        return stamp.value / 1e9
    if isinstance(now, bool) or not isinstance(now, numbers.Real) or not np.isfinite(now):
        raise TypeError(
            f"now must be a number in the Dataset's timestamp units, got {now!r} "
            f"({type(now).__name__})"
        )
    return float(now)


def _rhythms(frame: pd.DataFrame, user_ids: pd.Index, scale: float) -> pd.Series:
    """Each customer's median gap between purchases at different times (NaN: none)."""
    times = frame[[Columns.USER, "t"]].drop_duplicates().sort_values([Columns.USER, "t"])
    gaps = times.groupby(Columns.USER, sort=False)["t"].diff() / scale
    times = times.assign(gap=gaps)
    return times.loc[times["gap"] > 0].groupby(Columns.USER)["gap"].median().reindex(user_ids)


def _rfm_points(column: pd.Series, ascending: bool) -> pd.Series:
    """1-5 by quintile of rank among buyers (5: best), 0 for customers without purchases."""
    pct = column.rank(pct=True, method="average", ascending=ascending)
    return np.ceil(5 * pct).fillna(0).astype(np.int64)


def customer_value(
    dataset: Dataset,
    now: Any = None,
    monetary: Any = None,
    *,
    lapse_factor: float = 2.0,
    tiers: Sequence[float] = TIERS,
) -> pd.DataFrame:
    """Recency, frequency, monetary value, value tiers and a ``lapsed`` flag per customer.

    Parameters
    ----------
    dataset : Dataset
        Built with ``timestamp_col`` (the time of each purchase).
    now : date, time or number, optional
        The date of the analysis (default: the latest purchase in ``dataset``): a date or
        time for datetime timestamps (``"2025-01-31"``), else a number in the timestamps'
        units.
    monetary : None, str or pandas.Series, optional
        What a customer brought: None sums the interaction weights (the Dataset's
        ``weight_col``, e.g. the number of policies; 1 per purchase without one); the name of
        a numeric product column (a price, e.g. ``"premium"``) sums weight x price over the
        customer's purchases; a Series gives the value by customer id (customers it does not
        list are worth 0).
    lapse_factor : float, default 2.0
        A customer has lapsed when the time since their last purchase exceeds
        ``lapse_factor`` times their purchase rhythm.
    tiers : pair of float, default (0.8, 0.95)
        The Pareto cut-offs of :func:`value_tiers`.

    Returns
    -------
    pandas.DataFrame
        One row per customer of ``dataset`` (those without purchases too), indexed by
        ``user_id``, most valuable first (equal values in the Dataset's order):

        - ``last_purchase``: the time of the latest purchase (NaT/NaN without purchases);
        - ``recency``: time since then, in days for datetime timestamps, else in the
          timestamps' units;
        - ``frequency``: number of products bought (the Dataset's stored interactions; a
          product bought again counts once, at its latest time, under ``duplicates="sum"``);
        - ``monetary``: see ``monetary``;
        - ``value``: the value score, equal to ``monetary`` (additive, so shares of it and
          Pareto tiers mean something; the workflows' ``value`` arguments read it);
        - ``value_share`` and ``cumulative_share`` of the total value;
        - ``tier``: Pareto tier ``A``, ``B`` or ``C`` (:func:`value_tiers`);
        - ``rfm``: the classic RFM score, 3-15: the sum of 1-5 points per quintile of
          recency (recent is better), frequency and monetary among the buyers; 0 without
          purchases;
        - ``rhythm``: the customer's usual time between purchases, the median gap between
          their purchases at different times (purchases at the same time are one visit); a
          customer with a single visit gets the median rhythm of the other customers;
        - ``own_rhythm``: True when ``rhythm`` is the customer's own;
        - ``lapsed``: ``recency > lapse_factor * rhythm`` (False without purchases).

    Raises
    ------
    ValueError
        If ``dataset`` has no timestamps (rebuild it with
        ``Dataset.from_frames(..., timestamp_col=...)``), ``now`` is before a purchase,
        ``monetary`` names no numeric product column, or a parameter is out of range.
    UnknownIdError
        If a ``monetary`` Series lists customers that are not in ``dataset``.

    Warns
    -----
    UserWarning
        When no customer bought at two different times: there is no rhythm to compare
        with, and nobody is flagged lapsed.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.retention import customer_value
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> values = customer_value(shop, monetary="premium")
    >>> values["tier"].value_counts().sort_index().tolist()  # A holds 80 % of the value
    [141, 89, 70]
    """
    dataset = check_dataset(dataset)
    if dataset.timestamps is None:
        raise ValueError(
            "dataset has no timestamps: recency and lapsed customers need the time of each "
            "purchase; build it with Dataset.from_frames(..., timestamp_col='<column>')"
        )
    lapse_factor = check_positive_float(lapse_factor, "lapse_factor")
    _check_cuts(tiers)
    # to_frame lists the interactions in the order of dataset.timestamps (CSR order)
    raw = dataset.to_frame()
    user_col, item_col = raw.columns[:2]
    purchases = pd.DataFrame(
        {
            Columns.USER: raw[user_col].to_numpy(),
            Columns.ITEM: raw[item_col].to_numpy(),
            "weight": raw.iloc[:, 2].to_numpy(dtype=np.float64),
            "t": dataset.timestamps,
        }
    )
    ids = pd.Index(dataset.user_ids, name=Columns.USER)
    is_datetime = bool(dataset.columns.get("timestamp_is_datetime"))
    scale = 86400.0 if is_datetime else 1.0  # recency and rhythm in days for datetimes
    last = purchases.groupby(Columns.USER)["t"].max().reindex(ids)
    now_t = _time_now(dataset, float(purchases["t"].max()), now)
    if (last > now_t).any():
        late = last.index[(last > now_t).to_numpy()]
        raise ValueError(
            f"now={now!r} is before the last purchase of {len(late)} customer(s), e.g. "
            f"{late[:3].tolist()}; pass a later now, or drop the later purchases first"
        )
    out = pd.DataFrame(index=ids)
    out["last_purchase"] = (
        pd.to_datetime(np.round(last.to_numpy() * 1e9), unit="ns") if is_datetime else last
    )
    out["recency"] = (now_t - last) / scale
    out["frequency"] = purchases.groupby(Columns.USER).size().reindex(ids, fill_value=0)
    out["monetary"] = _monetary(dataset, purchases, monetary)
    out[VALUE] = out["monetary"]
    _add_tiers_and_rfm(out, tiers)
    _add_lapsed(out, _rhythms(purchases, ids, scale), lapse_factor)
    return out.sort_values(VALUE, ascending=False, kind="stable").assign(
        cumulative_share=lambda f: f[VALUE].cumsum() / max(float(f[VALUE].sum()), 1e-300)
    )


def _add_tiers_and_rfm(out: pd.DataFrame, tiers: Sequence[float]) -> None:
    total = float(out[VALUE].sum())
    out["value_share"] = out[VALUE] / total if total > 0 else 0.0
    out["tier"] = value_tiers(out[VALUE], tiers)
    buyers = out["frequency"] > 0
    points = [
        _rfm_points(out["recency"].where(buyers), ascending=False),
        _rfm_points(out["frequency"].where(buyers), ascending=True),
        _rfm_points(out["monetary"].where(buyers), ascending=True),
    ]
    out["rfm"] = sum(points)


def _add_lapsed(out: pd.DataFrame, own: pd.Series, lapse_factor: float) -> None:
    typical = float(own.median()) if own.notna().any() else np.nan
    if np.isnan(typical) and (out["frequency"] > 0).any():
        warnings.warn(
            "no customer of dataset bought at two different times: there is no purchase "
            "rhythm to compare with, so no customer is flagged lapsed",
            UserWarning,
            stacklevel=3,
        )
    out["rhythm"] = own.fillna(typical).where(out["frequency"] > 0)
    out["own_rhythm"] = own.notna()
    out["lapsed"] = (out["recency"] > lapse_factor * out["rhythm"]).fillna(False).astype(bool)
