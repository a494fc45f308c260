"""Synthetic shops for the scaling benchmarks that ``featcf.datasets`` does not offer.

:func:`make_rich_profile_shop`: the purchases, products and timestamps of
``make_insurance_shop``, with customers described by 8 categorical fields of 10 values
each instead of 5 coarse demographic fields, so that nearly every customer's profile is
distinct (about 49,960 distinct feature rows among 50,000 customers) and FeatureCF's
per-user searches cannot share work between customers with equal profiles. Three fields
carry the shop's demographics (age band; region and business flag; household and income),
five are unrelated to the purchases; each value is replaced by a random one for 20 % of
the customers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RICH_FIELDS", "make_rich_profile_shop"]

#: customer fields of the rich-profile shop, each with the 10 values "v0" ... "v9"
RICH_FIELDS = tuple(f"f{j}" for j in range(8))

_ITEM_FIELDS = {
    "name": "ignore",
    "category": "categorical",
    "coverage": "categorical",
    "premium": "numeric",
    "term": "categorical",
    "segment": "categorical",
}


def make_rich_profile_shop(n_customers: int, random_state: int = 0) -> Any:
    """``make_insurance_shop(n_customers, random_state=random_state)`` with rich customers.

    Returns
    -------
    featcf.Dataset
        The insurance shop's interactions and products; user fields ``f0`` ... ``f7``
        (categorical, 10 values each; see the module docstring).
    """
    from featcf import Dataset
    from featcf.datasets import make_insurance_shop

    shop, truth = make_insurance_shop(
        n_customers=n_customers, random_state=random_state, return_truth=True
    )
    customers = truth["customers"]
    n = len(customers)
    rng = np.random.default_rng([random_state, 1])
    informative = [
        np.clip((customers["age"].to_numpy() - 18) // 7, 0, 9),
        pd.factorize(customers["region"])[0] * 2 + customers["is_business"].to_numpy(),
        pd.factorize(customers["household"])[0] * 3 + pd.factorize(customers["income"])[0],
    ]
    frame = {"user_id": customers["user_id"]}
    for j, name in enumerate(RICH_FIELDS):
        value = informative[j] % 10 if j < len(informative) else rng.integers(0, 10, n)
        value = np.where(rng.random(n) < 0.2, rng.integers(0, 10, n), value)
        frame[name] = pd.Series(np.char.add("v", value.astype(str)), dtype=object)
    return Dataset.from_frames(
        shop.to_frame(),
        item_features=truth["products"],
        user_features=pd.DataFrame(frame),
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        timestamp_col="timestamp",
        item_fields=_ITEM_FIELDS,
        user_fields=dict.fromkeys(RICH_FIELDS, "categorical"),
        allow_mostly_cold_items=True,
        allow_mostly_cold_users=True,
    )
