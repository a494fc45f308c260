"""``featcf demo``: a synthetic insurance shop and what featcf does with it."""

from __future__ import annotations

import json
import time
from typing import Any


def run_demo(n_customers: int = 2000, seed: int = 0, as_json: bool = False) -> int:
    """Build the synthetic shop, fit a model and print what it recommends.

    Parameters
    ----------
    n_customers : int
        Customers in the synthetic shop.
    seed : int
        Random seed; the whole output repeats for the same seed.
    as_json : bool
        Print one JSON document instead of text.

    Returns
    -------
    int
        The process exit code (0).
    """
    from featcf.datasets import make_insurance_shop
    from featcf.models import Popularity

    start = time.perf_counter()
    shop = make_insurance_shop(n_customers=n_customers, seed=seed, n_new_customers=5)
    model = Popularity().fit(shop)
    users = shop.user_ids[:3]
    recs = model.recommend(users, n=5)
    report: dict[str, Any] = {
        "dataset": {
            "users": shop.n_users,
            "items": shop.n_items,
            "interactions": shop.n_interactions,
            "item_fields": {f.name: list(f.values) for f in shop.item_fields.values()},
            "user_fields": {f.name: list(f.values) for f in shop.user_fields.values()},
        },
        "model": type(model).__name__,
        "recommendations": recs.to_dict(orient="records"),
        "seconds": round(time.perf_counter() - start, 2),
    }
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("featcf demo: a synthetic online insurance shop\n")
    print(shop.summary())
    print(f"\nTop-5 by {type(model).__name__} for three customers:")
    print(recs.to_string(index=False))
    print(f"\ndone in {report['seconds']} s")
    return 0
