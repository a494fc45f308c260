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

**The customers.** Before a launch, a shop's customers are those who bought something else.
A customer of the generated shop whose only purchase is the held-out product was not a
customer before it launched (every generated customer buys at least one product), so by
default (``--population before-launch``) those customers are left out of the data, the
buyers counted are the buyers among the remaining customers, and the 10 % are 10 % of them.
``--population all`` keeps them as registered customers without purchases: then every
customer without a purchase is a buyer of the held-out product, a quirk of holding a product
out that a real launch does not have ("customers without purchases first" alone reaches
about 3.2x there), and models that rank such customers low (FeatureCF has learned that they
buy little) miss them.

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


def held_out(
    seed: int, rank: int, n_customers: int, population: str = "before-launch"
) -> tuple[featcf.Dataset, pd.DataFrame, set, int]:
    """The shop of ``seed`` before its ``rank``-th most bought product launched: (dataset,
    the product's feature row, its buyers among the dataset's customers, the buyers left out
    because they bought nothing else; see the module docstring for ``population``)."""
    shop = make_insurance_shop(n_customers=n_customers, n_new_products=0, random_state=seed)
    purchases = shop.to_frame()
    products = shop.item_frame.reset_index()
    customers = shop.user_frame.reset_index()
    product = purchases["item_id"].value_counts().index[rank]
    keep = purchases["item_id"] != product
    buyers = set(purchases.loc[~keep, "user_id"])
    if population == "before-launch":
        customers = customers[customers["user_id"].isin(purchases.loc[keep, "user_id"])]
    dataset = featcf.Dataset.from_frames(
        purchases[keep],
        item_features=products[products["item_id"] != product],
        user_features=customers,
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        timestamp_col="timestamp",
        item_fields={"name": "ignore"},
    )
    known = buyers & set(customers["user_id"])
    return dataset, products[products["item_id"] == product], known, len(buyers - known)


def most_active(dataset: featcf.Dataset, budget: int, seed: int) -> list:
    activity = pd.Series(dataset.user_counts(), index=dataset.user_ids)
    shuffled = activity.sample(frac=1.0, random_state=seed)
    return shuffled.sort_values(ascending=False, kind="stable").index[:budget].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--ranks", default="2,5,9,14,19", help="popularity ranks held out")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--population",
        choices=("before-launch", "all"),
        default="before-launch",
        help="the customers announced to (see the module docstring)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "announce_lift.md"
    )
    args = parser.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    ranks = [5, 14] if args.quick else [int(r) for r in args.ranks.split(",")]
    load_before = os.getloadavg()
    rows, lifts = [], {"FeatureCF": [], "ContentKNN": [], "most active": []}
    for seed in seeds:
        for rank in ranks:
            start = time.perf_counter()
            dataset, product, buyers, left_out = held_out(
                seed, rank, args.customers, args.population
            )
            budget = int(SHARE * dataset.n_users)
            expected = len(buyers) * budget / dataset.n_users
            hits = {}
            for name, model in (
                ("FeatureCF", featcf.FeatureCF(random_state=0, show_progress=False)),
                ("ContentKNN", featcf.ContentKNN()),
            ):
                mailing = announce(model.fit(dataset), product, budget=budget, reasons=False)
                hits[name] = int(mailing["user_id"].isin(buyers).sum())
            hits["most active"] = len(set(most_active(dataset, budget, seed)) & buyers)
            for name, hit in hits.items():
                lifts[name].append(hit / expected)
            counts = pd.Series(dataset.user_counts(), index=dataset.user_ids)
            no_other = int((counts.reindex(sorted(buyers)) == 0).sum()) + left_out
            rows.append(
                [seed, product["item_id"].iloc[0], rank + 1, len(buyers), no_other,
                 dataset.n_users, f"{expected:.1f}"]
                + [f"{hits[n]} ({hits[n] / expected:.2f}x)" for n in lifts]
            )  # fmt: skip
            print(*rows[-1], f"{time.perf_counter() - start:.0f} s", flush=True)
    headers = ["seed", "product", "popularity rank", "buyers counted"]
    headers += ["buyers who bought nothing else", "customers", "random 10 % (expected)"]
    headers += [f"{n} top 10 %" for n in lifts]
    mean_row = ["mean lift", "", "", "", "", "", "1.00x"]
    mean_row += [f"{np.mean(v):.2f}x" for v in lifts.values()]
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
        "by its features (`announce(model, row, budget=10 %)`). Customers announced to "
        f"(`--population {args.population}`): "
        + (
            "the customers with another purchase (those who bought only the held-out "
            "product were not customers before it launched: left out, counted in 'buyers "
            "who bought nothing else'). "
            if args.population == "before-launch"
            else "every customer, those who bought only the held-out product included "
            "(as customers without purchases). "
        )
        + "Cells: buyers in the top 10 % (lift over the expected count of a random 10 %).",
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
