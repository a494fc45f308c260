"""A synthetic insurance shop: attribute-rich products, customers with demographics, few
purchases per customer, and brand-new products nobody has bought yet.

Purchases follow a known generative model, so tests and notebooks can compare what a model
learns (field weights, recommendations for new products) with the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from featcf._validation import (
    check_bool,
    check_nonnegative_float,
    check_nonnegative_int,
    check_nonnegative_weights,
    check_positive_int,
    check_random_state,
    renamed_keywords,
)
from featcf.data import Dataset

__all__ = ["make_insurance_shop"]

CATEGORIES = ("vehicle", "property", "liability", "personal", "travel", "leisure", "health")
COVERAGES = ("basic", "standard", "premium")
TERMS = ("monthly", "annual", "multi-year")
SEGMENTS = ("private", "business", "family", "senior")
REGIONS = ("north", "east", "south", "west", "central")
HOUSEHOLDS = ("single", "couple", "family")
INCOMES = ("low", "middle", "high")
AGE_GROUPS = ("young", "middle-aged", "senior")  # < 30, 30-64, >= 65: drives tastes, not a field

#: Default strength of each product field in the customers' utilities (the truth a learned
#: field weighting should recover in order): category matters most, term least.
DEFAULT_FIELD_STRENGTH = {
    "category": 1.5,
    "segment": 1.0,
    "coverage": 0.8,
    "premium": 0.6,
    "term": 0.4,
}

_CATEGORY_SHARE = (0.2, 0.15, 0.12, 0.15, 0.13, 0.1, 0.15)
_NOUNS = {
    "vehicle": ("car", "van", "motorbike", "e-bike"),
    "property": ("home contents", "building", "valuables"),
    "liability": ("personal liability", "professional liability", "landlord liability"),
    "personal": ("life", "accident", "disability"),
    "travel": ("travel", "annual travel", "trip cancellation"),
    "leisure": ("boat", "caravan", "sports gear"),
    "health": ("dental", "supplementary health", "physiotherapy"),
}
_BASE_PREMIUM = {  # euros per month for a standard private policy
    "vehicle": 40.0,
    "property": 15.0,
    "liability": 8.0,
    "personal": 25.0,
    "travel": 6.0,
    "leisure": 12.0,
    "health": 30.0,
}
_COVERAGE_FACTOR = {"basic": 0.7, "standard": 1.0, "premium": 1.5}
_SEGMENT_FACTOR = {"private": 1.0, "business": 1.8, "family": 1.3, "senior": 1.1}

# Demographic group -> attribute value effects on taste (added to random group effects).
_STRUCTURED_EFFECTS: dict[str, dict[str, float]] = {
    "is_business": {
        "segment = business": 2.0,
        "category = liability": 1.0,
        "category = vehicle": 0.5,
        "segment = family": -1.0,
    },
    "household = family": {
        "segment = family": 1.5,
        "category = personal": 0.5,
        "category = health": 0.5,
    },
    "household = single": {"category = travel": 0.5, "category = leisure": 0.5},
    "household = couple": {"category = property": 0.5},
    "age = senior": {
        "segment = senior": 2.0,
        "category = health": 1.0,
        "category = travel": 0.5,
        "category = leisure": -0.5,
    },
    "age = young": {
        "category = leisure": 1.0,
        "category = vehicle": 0.5,
        "coverage = basic": 0.8,
        "term = monthly": 0.8,
    },
    "age = middle-aged": {"category = property": 0.5},
    "income = high": {"coverage = premium": 1.2, "term = multi-year": 0.6},
    "income = low": {"coverage = basic": 1.0, "term = monthly": 0.6, "coverage = premium": -0.8},
}
_PRICE_SENSITIVITY = {"low": -0.8, "middle": -0.2, "high": 0.4}


def _value_columns() -> list[str]:
    return (
        [f"category = {v}" for v in CATEGORIES]
        + [f"coverage = {v}" for v in COVERAGES]
        + [f"term = {v}" for v in TERMS]
        + [f"segment = {v}" for v in SEGMENTS]
    )


def _demo_columns() -> list[str]:
    return (
        [f"region = {v}" for v in REGIONS]
        + [f"household = {v}" for v in HOUSEHOLDS]
        + [f"income = {v}" for v in INCOMES]
        + ["is_business"]
        + [f"age = {v}" for v in AGE_GROUPS]
    )


def _one_hot(values: np.ndarray, vocabulary: tuple[str, ...]) -> np.ndarray:
    return (values[:, None] == np.asarray(vocabulary, dtype=object)[None, :]).astype(np.float64)


def _make_products(n: int, rng: np.random.Generator) -> pd.DataFrame:
    # every category appears once (when n >= 7), the rest follow typical catalogue shares
    first = rng.permutation(len(CATEGORIES))[: min(n, len(CATEGORIES))]
    rest = rng.choice(len(CATEGORIES), size=n - len(first), p=_CATEGORY_SHARE)
    category = np.asarray(CATEGORIES, dtype=object)[np.concatenate([first, rest])]
    rng.shuffle(category)
    coverage = rng.choice(np.asarray(COVERAGES, dtype=object), size=n, p=[0.3, 0.45, 0.25])
    segment = rng.choice(np.asarray(SEGMENTS, dtype=object), size=n, p=[0.4, 0.2, 0.25, 0.15])
    term = rng.choice(np.asarray(TERMS, dtype=object), size=n, p=[0.4, 0.45, 0.15])
    noise = np.exp(rng.normal(0.0, 0.25, size=n))
    premium = np.array(
        [
            _BASE_PREMIUM[c] * _COVERAGE_FACTOR[v] * _SEGMENT_FACTOR[s] * e
            for c, v, s, e in zip(category, coverage, segment, noise, strict=True)
        ]
    ).round(2)
    noun_pick = rng.integers(0, 1 << 30, size=n)
    names = [
        f"{_NOUNS[c][k % len(_NOUNS[c])]} cover, {v}" + ("" if s == "private" else f" ({s})")
        for c, v, s, k in zip(category, coverage, segment, noun_pick, strict=True)
    ]
    return pd.DataFrame(
        {
            "item_id": pd.Series([f"P-{101 + k}" for k in range(n)], dtype=object),
            "name": pd.Series(names, dtype=object),
            "category": pd.Series(category, dtype=object),
            "coverage": pd.Series(coverage, dtype=object),
            "premium": premium,
            "term": pd.Series(term, dtype=object),
            "segment": pd.Series(segment, dtype=object),
        }
    )


def _make_customers(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    age = np.clip(np.rint(rng.normal(45.0, 15.0, size=n)), 18, 85).astype(np.int64)
    group = np.where(age < 30, 0, np.where(age < 65, 1, 2))
    region = rng.choice(np.asarray(REGIONS, dtype=object), size=n, p=[0.15, 0.2, 0.25, 0.25, 0.15])
    household_p = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.35, 0.6, 0.05]])
    income_p = np.array([[0.5, 0.4, 0.1], [0.25, 0.5, 0.25], [0.35, 0.5, 0.15]])
    u_household = rng.random(n)
    u_income = rng.random(n)
    household = np.asarray(HOUSEHOLDS, dtype=object)[
        (u_household[:, None] > np.cumsum(household_p[group], axis=1)[:, :-1]).sum(axis=1)
    ]
    income = np.asarray(INCOMES, dtype=object)[
        (u_income[:, None] > np.cumsum(income_p[group], axis=1)[:, :-1]).sum(axis=1)
    ]
    is_business = rng.random(n) < np.where((age >= 25) & (age < 65), 0.12, 0.03)
    width = max(4, len(str(n)))
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([f"c{k + 1:0{width}d}" for k in range(n)], dtype=object),
            "age": age,
            "region": pd.Series(region, dtype=object),
            "household": pd.Series(household, dtype=object),
            "income": pd.Series(income, dtype=object),
            "is_business": is_business,
        }
    )
    return frame, np.asarray(AGE_GROUPS, dtype=object)[group]


def _check_strength(field_strength: Mapping[str, float] | None) -> dict[str, float]:
    strength = dict(DEFAULT_FIELD_STRENGTH)
    given = check_nonnegative_weights(field_strength, "field_strength") or {}
    unknown = sorted(set(given) - set(strength))
    if unknown:
        raise ValueError(
            f"field_strength has unknown field(s) {unknown}; the fields are {sorted(strength)}"
        )
    strength.update(given)
    return strength


@overload
def make_insurance_shop(
    n_customers: int = ...,
    n_products: int = ...,
    *,
    n_new_products: int = ...,
    n_new_customers: int = ...,
    mean_purchases: float = ...,
    max_purchases: int = ...,
    taste_noise: float = ...,
    field_strength: Mapping[str, float] | None = ...,
    n_bins: int = ...,
    random_state: int | np.random.Generator | None = ...,
    return_truth: Literal[False] = ...,
) -> Dataset: ...


@overload
def make_insurance_shop(
    n_customers: int = ...,
    n_products: int = ...,
    *,
    n_new_products: int = ...,
    n_new_customers: int = ...,
    mean_purchases: float = ...,
    max_purchases: int = ...,
    taste_noise: float = ...,
    field_strength: Mapping[str, float] | None = ...,
    n_bins: int = ...,
    random_state: int | np.random.Generator | None = ...,
    return_truth: Literal[True],
) -> tuple[Dataset, dict[str, Any]]: ...


@renamed_keywords(seed="random_state")
def make_insurance_shop(
    n_customers: int = 2000,
    n_products: int = 40,
    *,
    n_new_products: int = 3,
    n_new_customers: int = 0,
    mean_purchases: float = 2.0,
    max_purchases: int = 15,
    taste_noise: float = 1.0,
    field_strength: Mapping[str, float] | None = None,
    n_bins: int = 5,
    random_state: int | np.random.Generator | None = 0,
    return_truth: bool = False,
) -> Dataset | tuple[Dataset, dict[str, Any]]:
    """Generate a synthetic online insurance shop as a :class:`featcf.Dataset`.

    **Products** (ids ``"P-101"``, ``"P-102"``, ...) have the item fields ``category``
    (vehicle, property, liability, personal, travel, leisure, health; each present when
    ``n_products >= 7``), ``coverage`` (basic / standard / premium), ``premium`` (monthly
    euros from the category, coverage and segment, numeric in ``n_bins`` quantile bands),
    ``term`` (monthly / annual / multi-year) and ``segment`` (private / business / family /
    senior); ``name`` (e.g. ``"car cover, premium (family)"``) is kept for display only.
    The last ``n_new_products`` products are brand new: features, no purchases.

    **Customers** (ids ``"c0001"``, ...) have the user fields ``age`` (18-85, numeric in
    ``n_bins`` bands), ``region`` (5 values), ``household`` (single / couple / family, depends
    on age), ``income`` (low / middle / high, depends on age) and ``is_business`` (bool).
    The last ``n_new_customers`` customers have demographics but no purchases.

    **Purchases.** Each customer has a taste over the 17 categorical attribute values: the
    sum of the effects of their demographic groups (region, household, income, business,
    age group; partly hand-set, e.g. business customers favour the business segment and
    seniors the senior segment and health, partly random) and individual noise
    (``taste_noise``), each field scaled by ``field_strength``. The utility of product ``i``
    is ``taste . x_i + beta * z_i + pop_i``: ``x_i`` the product's one-hot attributes,
    ``z_i`` its standardised log premium, ``beta`` a price sensitivity from income (negative
    for low income), and ``pop_i`` a random product popularity. A customer buys
    ``1 + Geometric`` products (mean ``mean_purchases``, at most ``max_purchases``; most buy
    1-3) drawn without replacement with probability softmax(utility) (Gumbel top-k), in
    that order, the first at a random day of 2023-2024 and the next ones weeks to months
    later (``timestamp``, datetime64). The weight is the number of policies: 1, or 2 for
    15 % of vehicle purchases.

    Parameters
    ----------
    n_customers : int, default 2000
        Customers with at least one purchase.
    n_products : int, default 40
        Catalogue size, including the ``n_new_products`` new ones.
    n_new_products : int, default 3
        Products that nobody has bought (cold items); ``0 <= n_new_products < n_products``.
    n_new_customers : int, default 0
        Extra customers with demographics and no purchases (cold users).
    mean_purchases : float, default 2.0
        Mean number of purchases per customer (>= 1).
    max_purchases : int, default 15
        Cap on a customer's purchases (also capped by the number of old products).
    taste_noise : float, default 1.0
        Standard deviation of the individual part of the tastes (0: tastes are exactly the
        demographic group means).
    field_strength : mapping, optional
        Overrides of the per-field taste scale, keys among ``category``, ``segment``,
        ``coverage``, ``premium``, ``term`` (defaults 1.5, 1.0, 0.8, 0.6, 0.4).
    n_bins : int, default 5
        Quantile bands of the numeric fields (``premium``, ``age``).
    random_state : int, numpy.random.Generator or None, default 0
        Randomness; the same int gives the same shop. No global random state is used.
    return_truth : bool, default False
        Also return the generating quantities.

    Returns
    -------
    dataset : featcf.Dataset
        Interactions ``n_customers`` x ``n_products - n_new_products`` non-empty, over
        ``n_customers + n_new_customers`` users and ``n_products`` items.
    truth : dict, only if ``return_truth``
        ``"tastes"`` (DataFrame, customers x ``"field = value"`` columns, scaled),
        ``"price_sensitivity"`` (Series by customer, scaled), ``"popularity"`` (Series by
        product), ``"utility"`` (DataFrame customers x products, without the sampling noise),
        ``"demographic_effects"`` (DataFrame, demographic groups x attribute values, before
        the field scaling), ``"field_strength"`` (dict), ``"new_products"`` and
        ``"new_customers"`` (lists of ids), ``"products"`` and ``"customers"`` (the raw
        feature frames).

    Raises
    ------
    TypeError, ValueError
        For a bad argument; the message names it.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> ds = make_insurance_shop(n_customers=300, n_products=20, random_state=1)
    >>> ds.n_users, ds.n_items
    (300, 20)
    >>> sorted(ds.item_features.fields)
    ['category', 'coverage', 'premium', 'segment', 'term']
    >>> ds, truth = make_insurance_shop(
    ...     n_customers=300, n_products=20, random_state=1, return_truth=True
    ... )
    >>> len(truth["new_products"])
    3
    """

    n_customers = check_positive_int(n_customers, "n_customers")
    n_products = check_positive_int(n_products, "n_products")
    n_new_products = check_nonnegative_int(n_new_products, "n_new_products")
    if n_new_products >= n_products:
        raise ValueError(
            f"n_new_products must be in [0, n_products) = [0, {n_products}), got {n_new_products}"
        )
    n_new_customers = check_nonnegative_int(n_new_customers, "n_new_customers")
    mean_purchases = check_nonnegative_float(mean_purchases, "mean_purchases")
    if mean_purchases < 1:
        raise ValueError(f"mean_purchases must be >= 1, got {mean_purchases}")
    max_purchases = check_positive_int(max_purchases, "max_purchases")
    taste_noise = check_nonnegative_float(taste_noise, "taste_noise")
    strength = _check_strength(field_strength)
    n_bins = check_positive_int(n_bins, "n_bins")
    return_truth = check_bool(return_truth, "return_truth")
    rng = check_random_state(random_state)

    n_old = n_products - n_new_products
    n_total = n_customers + int(n_new_customers)
    products = _make_products(n_products, rng)
    customers, age_group = _make_customers(n_total, rng)

    # product design: one-hot attribute values, and the standardised log premium
    value_columns = _value_columns()
    x = np.hstack(
        [
            _one_hot(products["category"].to_numpy(), CATEGORIES),
            _one_hot(products["coverage"].to_numpy(), COVERAGES),
            _one_hot(products["term"].to_numpy(), TERMS),
            _one_hot(products["segment"].to_numpy(), SEGMENTS),
        ]
    )
    log_premium = np.log(products["premium"].to_numpy())
    z = (log_premium - log_premium.mean()) / max(log_premium.std(), 1e-12)

    # customer design: one-hot demographic groups
    demo_columns = _demo_columns()
    d = np.hstack(
        [
            _one_hot(customers["region"].to_numpy(), REGIONS),
            _one_hot(customers["household"].to_numpy(), HOUSEHOLDS),
            _one_hot(customers["income"].to_numpy(), INCOMES),
            customers["is_business"].to_numpy(dtype=np.float64)[:, None],
            _one_hot(age_group, AGE_GROUPS),
        ]
    )
    effects = rng.normal(0.0, 0.3, size=(len(demo_columns), len(value_columns)))
    for group, row in _STRUCTURED_EFFECTS.items():
        for value, effect in row.items():
            effects[demo_columns.index(group), value_columns.index(value)] += effect

    scale = np.array([strength[c.split(" = ")[0]] for c in value_columns])
    tastes = (
        d @ effects + rng.normal(0.0, taste_noise, size=(n_total, len(value_columns)))
    ) * scale
    beta = (
        customers["income"].map(_PRICE_SENSITIVITY).to_numpy(dtype=np.float64)
        + rng.normal(0.0, 0.3, size=n_total)
    ) * strength["premium"]
    popularity = rng.normal(0.0, 0.5, size=n_products)
    utility = tastes @ x.T + beta[:, None] * z[None, :] + popularity[None, :]

    # purchases: Gumbel top-k = sampling without replacement from softmax(utility)
    n_buy = np.minimum(rng.geometric(1.0 / mean_purchases, size=n_customers), max_purchases)
    n_buy = np.minimum(n_buy, n_old)
    perturbed = utility[:n_customers, :n_old] + rng.gumbel(size=(n_customers, n_old))
    ranked = np.argsort(-perturbed, axis=1, kind="stable")
    user_rows = np.repeat(np.arange(n_customers), n_buy)
    order_in_user = np.arange(len(user_rows)) - np.repeat(np.cumsum(n_buy) - n_buy, n_buy)
    item_cols = ranked[user_rows, order_in_user]

    first_day = rng.uniform(0.0, 730.0, size=n_customers)
    gaps = rng.exponential(45.0, size=len(user_rows))
    gaps[order_in_user == 0] = 0.0
    elapsed = np.cumsum(gaps)  # gaps are 0 at each customer's first purchase, so
    starts = np.cumsum(n_buy) - n_buy  # elapsed - elapsed[start] is the customer's own clock
    days = first_day[user_rows] + elapsed - np.repeat(elapsed[starts], n_buy)
    seconds = np.rint(days * 86400.0).astype(np.int64)
    timestamp = np.datetime64("2023-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
    is_vehicle = products["category"].to_numpy()[item_cols] == "vehicle"
    n_policies = 1 + (is_vehicle & (rng.random(len(user_rows)) < 0.15)).astype(np.int64)

    user_ids = customers["user_id"].to_numpy()
    item_ids = products["item_id"].to_numpy()
    interactions = pd.DataFrame(
        {
            "user_id": pd.Series(user_ids[user_rows], dtype=object),
            "item_id": pd.Series(item_ids[item_cols], dtype=object),
            "n_policies": n_policies,
            "timestamp": timestamp,
        }
    )
    interactions = interactions.sort_values(["timestamp", "user_id"], kind="stable")
    interactions = interactions.reset_index(drop=True)

    dataset = Dataset.from_frames(
        interactions,
        item_features=products,
        user_features=customers,
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        timestamp_col="timestamp",
        item_fields={
            "name": "ignore",
            "category": "categorical",
            "coverage": "categorical",
            "premium": "numeric",
            "term": "categorical",
            "segment": "categorical",
        },
        user_fields={
            "age": "numeric",
            "region": "categorical",
            "household": "categorical",
            "income": "categorical",
            "is_business": "categorical",
        },
        duplicates="error",
        n_bins=n_bins,
        # the generated tables are the whole shop (a small shop may leave most products unsold)
        allow_mostly_cold_items=True,
        allow_mostly_cold_users=True,
    )
    if not return_truth:
        return dataset
    truth: dict[str, Any] = {
        "tastes": pd.DataFrame(
            tastes, index=pd.Index(user_ids, name="user_id"), columns=value_columns
        ),
        "price_sensitivity": pd.Series(beta, index=pd.Index(user_ids, name="user_id")),
        "popularity": pd.Series(popularity, index=pd.Index(item_ids, name="item_id")),
        "utility": pd.DataFrame(
            utility,
            index=pd.Index(user_ids, name="user_id"),
            columns=pd.Index(item_ids, name="item_id"),
        ),
        "demographic_effects": pd.DataFrame(effects, index=demo_columns, columns=value_columns),
        "field_strength": strength,
        "new_products": item_ids[n_old:].tolist(),
        "new_customers": user_ids[n_customers:].tolist(),
        "products": products,
        "customers": customers,
    }
    return dataset, truth
