"""Launch announcements on the synthetic shop: buyers reached by ``announce``'s top 10 %.

For each seed (a different shop) and each held-out product (chosen by its popularity rank
among the products, 0 = the most bought), the product and every purchase of it are removed,
the model is fitted on the rest, and the product is launched by its features only:
``featcf.retention.announce(model, product_row, budget=10 % of the customers)``. The real
buyers of the product among those customers are counted and compared with

- a random 10 % of the customers: it reaches 10 % of the buyers on average (the expected
  count, exact; the lift is hits / that);
- the most active customers first (most products bought; ties in random order), the rule of
  thumb without a model;
- ``ContentKNN``, the content-only peer, launched the same way.

Customers whose only purchase was the held-out product are left with no purchase at all,
and all of them are buyers: a quirk of holding a product out (a real launch has no such
customers). Models that rank customers without purchases low (as FeatureCF does: it has
learned that they buy little) leave those buyers out of their top 10 %. So the table also
gives each model's lift among the customers with at least one other purchase (top 10 % of
them against a random 10 % of them, the same model ranking).

Run ``python benchmarks/announce_lift.py`` (5 seeds x 5 products, about 5 min on 2 cores);
``--quick`` runs one seed and two products and prints only. Results go to
``benchmarks/results/announce_lift.md`` (``--output``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, results_header, write_results  # noqa: E402

import featcf  # noqa: E402
from featcf.datasets import make_insurance_shop  # noqa: E402
from featcf.retention import announce  # noqa: E402

SHARE = 0.1


def held_out(seed: int, rank: int, n_customers: int) -> tuple[featcf.Dataset, pd.DataFrame, set]:
    """The shop of ``seed`` without its ``rank``-th most bought product: (dataset, the
    product's feature row, its buyers)."""
    shop = make_insurance_shop(n_customers=n_customers, n_new_products=0, random_state=seed)
    purchases = shop.to_frame()
    products = shop.item_frame.reset_index()
    product = purchases["item_id"].value_counts().index[rank]
    keep = purchases["item_id"] != product
    dataset = featcf.Dataset.from_frames(
        purchases[keep],
        item_features=products[products["item_id"] != product],
        user_features=shop.user_frame.reset_index(),
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        timestamp_col="timestamp",
        item_fields={"name": "ignore"},
    )
    buyers = set(purchases.loc[~keep, "user_id"])
    return dataset, products[products["item_id"] == product], buyers


def most_active(dataset: featcf.Dataset, budget: int, seed: int) -> list:
    activity = pd.Series(dataset.user_counts(), index=dataset.user_ids)
    shuffled = activity.sample(frac=1.0, random_state=seed)
    return shuffled.sort_values(ascending=False, kind="stable").index[:budget].tolist()


def lift_among_known(
    model: featcf.models.BaseRecommender,
    dataset: featcf.Dataset,
    product: pd.DataFrame,
    buyers: set,
) -> float:
    """The lift of the model's top 10 % among the customers with a purchase (see above)."""
    ranked = announce(model, product, budget=None, reasons=False)["user_id"]
    known = set(pd.Series(dataset.user_ids)[np.asarray(dataset.user_counts()) > 0])
    ranked = ranked[ranked.isin(known)]
    budget = int(SHARE * len(known))
    expected = len(buyers & known) * budget / len(known)
    return float(ranked.head(budget).isin(buyers).sum() / expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--ranks", default="2,5,9,14,19", help="popularity ranks held out")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "announce_lift.md"
    )
    args = parser.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    ranks = [5, 14] if args.quick else [int(r) for r in args.ranks.split(",")]
    load_before = os.getloadavg()
    rows, lifts = [], {"FeatureCF": [], "ContentKNN": [], "most active": []}
    known: dict[str, list[float]] = {"FeatureCF": [], "ContentKNN": []}
    for seed in seeds:
        for rank in ranks:
            start = time.perf_counter()
            dataset, product, buyers = held_out(seed, rank, args.customers)
            budget = int(SHARE * dataset.n_users)
            expected = len(buyers) * budget / dataset.n_users
            hits, known_lift = {}, {}
            for name, model in (
                ("FeatureCF", featcf.FeatureCF(random_state=0, show_progress=False)),
                ("ContentKNN", featcf.ContentKNN()),
            ):
                mailing = announce(model.fit(dataset), product, budget=budget, reasons=False)
                hits[name] = int(mailing["user_id"].isin(buyers).sum())
                known_lift[name] = lift_among_known(model, dataset, product, buyers)
            hits["most active"] = len(set(most_active(dataset, budget, seed)) & buyers)
            for name, hit in hits.items():
                lifts[name].append(hit / expected)
            for name, value in known_lift.items():
                known[name].append(value)
            counts = pd.Series(dataset.user_counts(), index=dataset.user_ids)
            no_other = int((counts.reindex(sorted(buyers)) == 0).sum())
            rows.append(
                [seed, product["item_id"].iloc[0], rank + 1, len(buyers), no_other,
                 f"{expected:.1f}"]
                + [f"{hits[n]} ({hits[n] / expected:.2f}x)" for n in lifts]
                + [f"{known[n][-1]:.2f}x" for n in known]
            )  # fmt: skip
            print(*rows[-1], f"{time.perf_counter() - start:.0f} s", flush=True)
    headers = ["seed", "product", "popularity rank", "buyers", "buyers without other purchases"]
    headers += ["random 10 % (expected)", *[f"{n} top 10 %" for n in lifts]]
    headers += [f"{n}, customers with other purchases" for n in known]
    mean_row = ["mean lift", "", "", "", "", "1.00x"]
    mean_row += [f"{np.mean(v):.2f}x" for v in [*lifts.values(), *known.values()]]
    table = markdown_table(headers, [*rows, mean_row])
    print(table)
    per_seed = {
        n: [float(np.mean(v[k * len(ranks) : (k + 1) * len(ranks)])) for k in range(len(seeds))]
        for n, v in lifts.items()
    }
    summary = ", ".join(f"seed {s}: {per_seed['FeatureCF'][k]:.2f}x" for k, s in enumerate(seeds))
    print(f"FeatureCF mean lift per seed: {summary}")
    n_at_3 = sum(v >= 3 for v in lifts["FeatureCF"])
    if args.quick:
        return
    lines = [
        *results_header(
            "Launch announcements: buyers reached by announce's top 10 %",
            ("numpy", "pandas", "numba"),
            load_before,
        ),
        f"Synthetic shop, {args.customers} customers, 40 products; each held-out product is "
        "removed with its purchases, the model fitted on the rest and the product launched "
        "by its features (`announce(model, row, budget=10 %)`). Cells: buyers in the top "
        "10 % (lift over the expected count of a random 10 %).",
        "",
        table,
        "",
        f"FeatureCF mean lift per seed (over the {len(ranks)} products): {summary}; "
        f"{n_at_3} of {len(lifts['FeatureCF'])} launches at 3x or more.",
        "",
    ]
    write_results(args.output, lines)


if __name__ == "__main__":
    main()
