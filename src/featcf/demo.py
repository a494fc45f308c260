"""``featcf demo``: a synthetic insurance shop and what featcf does with it.

The demo builds the shop of :func:`featcf.datasets.make_insurance_shop`, fits
:class:`~featcf.FeatureCF`, and shows the founding use case end to end: the learned weights,
recommendations with their reasons for a long-standing, a one-purchase and a brand-new
customer, the audience of a product launch, and a comparison with simpler models on the
shop's cold customers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from featcf.datasets import make_insurance_shop
from featcf.evaluation import evaluate, split_cold_users
from featcf.models import FeatureCF, ItemKNN, Popularity, UnsupportedProtocolError

__all__ = ["run_demo"]


def _pick_customers(shop: Any) -> dict[str, Any]:
    counts = shop.user_counts()
    return {
        "long-standing": shop.user_ids[int(np.argmax(counts))],
        "single-purchase": shop.user_ids[int(np.flatnonzero(counts == 1)[0])],
        # in the shop with demographics but no purchase yet
        "brand-new, demographics-only": shop.user_ids[int(np.flatnonzero(counts == 0)[0])],
    }


def _launch_product(shop: Any) -> pd.DataFrame:
    item_col = shop.columns["item"]
    template = shop.item_frame.reset_index()
    product = template[template["category"] == "travel"].head(1).copy()
    if product.empty:
        product = template.head(1).copy()
    product[item_col] = "P-NEW-TRAVEL"
    if "name" in product.columns:
        product["name"] = "travel cover, premium (new launch)"
    return product


def _compare(shop: Any, random_state: int) -> pd.DataFrame:
    """nDCG@10 of FeatureCF, ItemKNN and Popularity on the shop's cold customers."""
    rows = []
    protocols = [("demographics only", 0), ("1 purchase known", 1)]
    models = {
        "FeatureCF": lambda: FeatureCF(random_state=random_state, show_progress=False),
        "ItemKNN": ItemKNN,
        "Popularity": Popularity,
    }
    for label, reveal in protocols:
        split = split_cold_users(shop, user_frac=0.2, random_state=random_state, reveal=reveal)
        for name, make in models.items():
            try:
                table = evaluate(make(), split, k=10, metrics=("ndcg",))
                value: Any = round(float(table["value"].iloc[0]), 3)
                users = int(table["n_users"].iloc[0])
            except UnsupportedProtocolError:
                value, users = "n/a", 0
            rows.append({"protocol": label, "model": name, "ndcg@10": value, "users": users})
    return pd.DataFrame(rows)


def run_demo(n_customers: int = 2000, random_state: int = 0, as_json: bool = False) -> int:
    """Build the synthetic shop, fit FeatureCF and print what it recommends, and why.

    Parameters
    ----------
    n_customers : int
        Customers in the synthetic shop.
    random_state : int
        Random seed; the whole output repeats for the same seed.
    as_json : bool
        Print one JSON document instead of text.

    Returns
    -------
    int
        The process exit code (0).
    """
    # tqdm: kept out of import featcf (the progress bars import it only when shown)
    from tqdm.contrib.logging import logging_redirect_tqdm

    start = time.perf_counter()
    shop = make_insurance_shop(
        n_customers=n_customers, random_state=random_state, n_new_customers=5
    )
    if not as_json:
        print("featcf demo: a synthetic online insurance shop\n")
        print(shop.summary())
        print("\nFitting FeatureCF (field weights learned on a validation split)...")
    # the bar in a terminal only (auto): not in CI logs, never with --json
    progress = False if as_json else None
    # log lines (the first run's compile notice) print above the progress bar, not inside it
    with logging_redirect_tqdm():
        model = FeatureCF(random_state=random_state, show_progress=progress).fit(shop)

    weights = model.feature_weights_
    customers = _pick_customers(shop)
    recommendations: dict[str, list[dict[str, Any]]] = {}
    for label, user in customers.items():
        recs = model.recommend([user], n=5, reasons=True)
        recommendations[f"{label} ({user})"] = [
            {"item_id": row.item_id, "score": round(float(row.score), 3), "reason": row.reason}
            for row in recs.itertuples(index=False)
        ]

    product = _launch_product(shop)
    model.add_items(product)
    audience = model.recommend_users("P-NEW-TRAVEL", n=10, reasons=True)
    launch = [
        {"user_id": row.user_id, "score": round(float(row.score), 3), "reason": row.reason}
        for row in audience.itertuples(index=False)
    ]
    comparison = _compare(shop, random_state)
    seconds = round(time.perf_counter() - start, 1)

    if as_json:
        report = {
            "dataset": {
                "users": shop.n_users,
                "items": shop.n_items,
                "interactions": shop.n_interactions,
            },
            "feature_weights": {str(k): round(float(v), 4) for k, v in weights.items()},
            "recommendations": recommendations,
            "launch": {"product": product.iloc[0].to_dict(), "audience": launch},
            "cold_customers": comparison.to_dict(orient="records"),
            "seconds": seconds,
        }
        print(json.dumps(report, indent=2, default=str))
        return 0

    print("\nLearned weights (how much each part of the score counts):")
    for name, value in weights.sort_values(ascending=False).items():
        print(f"  {name:<20} {value:6.3f}")
    for label, rows in recommendations.items():
        print(f"\nTop-5 for the {label} customer:")
        for rank, row in enumerate(rows, start=1):
            print(f"  {rank}. {row['item_id']:<8} {row['score']:7.3f}  because {row['reason']}")
    described = ", ".join(
        f"{k}={v}" for k, v in product.iloc[0].items() if k not in (shop.columns["item"], "name")
    )
    print(f"\nLaunching P-NEW-TRAVEL ({described}); announce it to:")
    for rank, row in enumerate(launch, start=1):
        print(f"  {rank:>2}. {row['user_id']:<8} {row['score']:7.3f}  because {row['reason']}")
    print("\nOn the shop's cold customers (20% held out), nDCG@10:")
    print(comparison.to_string(index=False))
    print(f"\ndone in {seconds} s")
    return 0
