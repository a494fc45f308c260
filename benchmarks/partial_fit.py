"""Benchmark: ``partial_fit`` against a refit, for a batch of new interactions in a big shop.

A live shop takes in new purchases and sign-ups every hour. This script generates the
synthetic insurance shop of ``featcf.datasets`` (``make_insurance_shop``, 200,000 customers
by default, 40 products, about 2 purchases each), fits each model once, and then adds one
batch of 1,000 new interactions: 700 purchases of existing customers and 300 of 150 new
customers (2 each, registered with their demographics). For every model it times

- ``partial_fit(batch, user_features=...)`` on a copy of the fitted model (the copy is made
  outside the timing), and
- ``fit`` of a fresh model on the grown Dataset (``model.dataset_`` after the update: the
  refit ``partial_fit`` stands in for),

``--repeats`` times each, and reports the medians and their ratio. ``partial_fit`` grows the
Dataset itself, while a refit needs a Dataset of all the rows first: the script also times
``Dataset.from_frames`` on the stored rows followed by the batch (with the feature frames),
once for all models, and reports the refit with it as a second ratio. Both run in this process
one after the other (paired: the same load on the shared machine for both). The peer of
``partial_fit`` is the refit of the same model, the only other way to serve those customers
from their history.

Run ``python benchmarks/partial_fit.py`` (the full size takes several minutes, most of it
FeatureCF's fits) or ``--quick`` (20,000 customers). ``--models`` takes a comma-separated
subset; UserKNN is left out by default (its fit on 200,000 customers of 40 products compares
every pair of customers who share a product: tens of minutes). The table goes to stdout and
to ``benchmarks/results/partial_fit.md`` (``--output``, ``-`` for none).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, results_header, time_calls, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "partial_fit.md"
MODELS = ("Popularity", "ItemKNN", "ContentKNN", "ALS", "FeatureCF")
PARAMS: dict[str, dict[str, Any]] = {
    "ItemKNN": {"n_neighbors": 50},
    "UserKNN": {"n_neighbors": 50},
    "ALS": {"factors": 64, "iterations": 15, "random_state": 0, "show_progress": False},
    "FeatureCF": {"random_state": 0, "show_progress": False},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20,000 customers")
    p.add_argument("--customers", type=int, default=None, help="default 200,000")
    p.add_argument("--new", type=int, default=1000, help="new interactions in the batch")
    p.add_argument("--repeats", type=int, default=3, help="timed calls of each (median)")
    p.add_argument(
        "--refit-repeats", type=int, default=None, help="timed refits (default --repeats)"
    )
    p.add_argument("--append", action="store_true", help="add the table to the output file's end")
    p.add_argument("--models", type=str, default=",".join(MODELS), help="comma-separated")
    p.add_argument("--seed", type=int, default=0, help="seed of the shop and the batch")
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    if args.customers is None:
        args.customers = 20_000 if args.quick else 200_000
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.refit_repeats is None:
        args.refit_repeats = args.repeats
    if args.new < 10 or args.repeats < 1 or args.customers < 1000:
        p.error("--new needs 10 or more, --repeats 1 or more, --customers 1000 or more")
    return args


def make_batch(shop: Any, n_new: int, seed: int) -> tuple[Any, Any]:
    """``n_new`` interactions the shop does not store: 70% by existing customers, 30% by new
    customers (two each, registered with a copy of an existing customer's features)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = shop.to_frame()
    stored = set(zip(frame["user_id"], frame["item_id"], strict=True))
    n_newcomers = int(0.3 * n_new) // 2
    newcomers = [f"web-{k}" for k in range(n_newcomers)]
    pairs: dict[tuple[str, str], None] = {}
    for user in newcomers:
        for item in rng.choice(shop.item_ids, 2, replace=False):
            pairs[(user, str(item))] = None
    while len(pairs) < n_new:
        pair = (str(rng.choice(shop.user_ids)), str(rng.choice(shop.item_ids)))
        if pair not in stored:
            pairs[pair] = None
    users, items = zip(*pairs, strict=True)
    when = pd.Timestamp("2024-06-01")
    batch = pd.DataFrame({"user_id": users, "item_id": items, "n_policies": 1.0, "timestamp": when})
    source = shop.user_frame.reset_index().sample(n_newcomers, random_state=seed)
    return batch, source.assign(user_id=newcomers)


def time_rebuild(shop: Any, batch: Any, signups: Any, repeats: int) -> float:
    """Median seconds of ``Dataset.from_frames`` on every row (stored, then the batch)."""
    import pandas as pd

    from featcf import Dataset

    rows = pd.concat([shop.to_frame(), batch], ignore_index=True)
    users = pd.concat([shop.user_frame.reset_index(), signups], ignore_index=True)
    items = shop.item_frame.reset_index()
    options = {
        "user_col": "user_id",
        "item_col": "item_id",
        "weight_col": "n_policies",
        "timestamp_col": "timestamp",
        "allow_mostly_cold_items": True,
    }
    return time_calls(
        lambda: Dataset.from_frames(rows, items, users, **options), repeats=repeats, warmup=0
    ).median


def run_model(
    name: str, shop: Any, batch: Any, signups: Any, repeats: int, refit_repeats: int
) -> dict[str, Any]:
    """Fit once, then time partial_fit (on copies) and the refit on the grown Dataset."""
    from featcf import models

    cls = getattr(models, name)
    t0 = time.perf_counter()
    fitted = cls(**PARAMS.get(name, {})).fit(shop)
    fit_s = time.perf_counter() - t0
    copies = [copy.deepcopy(fitted) for _ in range(repeats + 1)]
    grown: list[Any] = []

    def update() -> None:
        model = copies.pop()
        model.partial_fit(batch, user_features=signups)
        grown.append(model.dataset_)

    partial = time_calls(update, repeats=repeats, warmup=1)
    refit = time_calls(
        lambda: cls(**PARAMS.get(name, {})).fit(grown[0]), repeats=refit_repeats, warmup=0
    )
    return {
        "model": name,
        "fit": fit_s,
        "partial": partial.median,
        "partial_runs": partial.repeats,
        "refit": refit.median,
        "refit_runs": refit.repeats,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    from featcf.datasets import make_insurance_shop

    shop = make_insurance_shop(n_customers=args.customers, random_state=args.seed)
    batch, signups = make_batch(shop, args.new, args.seed)
    print(f"shop: {shop.n_users:,} customers, {shop.n_interactions:,} purchases; batch "
          f"{len(batch):,} interactions, {len(signups)} new customers")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuild = time_rebuild(shop, batch, signups, args.refit_repeats)
    print(f"Dataset.from_frames of every row: {rebuild:.2f} s")
    rows = []
    for name in args.models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cold-start notices of the synthetic shop
            result = run_model(name, shop, batch, signups, args.repeats, args.refit_repeats)
        speedup = result["refit"] / result["partial"]
        runs = ", ".join(f"{t:.3f}" for t in result["partial_runs"])
        print(f"{name}: partial_fit {result['partial']:.3f} s ({runs}), refit "
              f"{result['refit']:.2f} s, {speedup:.1f}x")  # fmt: skip
        rows.append(
            [
                name,
                f"{result['fit']:.2f}",
                f"{result['partial']:.3f}",
                ", ".join(f"{t:.3f}" for t in result["partial_runs"]),
                f"{result['refit']:.3f}",
                ", ".join(f"{t:.3f}" for t in result["refit_runs"]),
                f"{speedup:.3g}x",
                f"{(rebuild + result['refit']) / result['partial']:.3g}x",
            ]
        )
    table = markdown_table(
        ["model", "first fit s", "partial_fit s (median)", "partial_fit runs",
         "refit s (median)", "refit runs", "refit / partial_fit",
         "(from_frames + refit) / partial_fit"],
        rows,
    )  # fmt: skip
    print(table)
    if str(args.output) != "-":
        previous = args.output.read_text() + "\n" if args.append and args.output.exists() else ""
        lines = results_header(
            f"partial_fit against a refit ({len(batch):,} new interactions)",
            ("numpy", "scipy", "numba", "implicit"),
            load_before,
        )
        lines += [
            f"Data: `make_insurance_shop(n_customers={args.customers:,}, random_state="
            f"{args.seed})`: {shop.n_users:,} customers, {shop.n_items} products, "
            f"{shop.n_interactions:,} purchases. Batch: {len(batch):,} new interactions, "
            f"{len(batch) - 2 * len(signups)} by existing customers and {2 * len(signups)} by "
            f"{len(signups)} new customers registered with their features. partial_fit on a "
            f"copy of the fitted model (copy not timed, one warm-up call), refit = `fit` of a "
            f"fresh model on the grown Dataset (medians of {args.repeats} partial_fit runs and "
            f"{args.refit_repeats} refit run(s)), measured one "
            f"after the other in one process on a shared, loaded machine (see the load "
            f"average): the absolute seconds are inflated, the ratio is paired. "
            f"`Dataset.from_frames` of every row (stored rows, then the batch, with the "
            f"feature frames): {rebuild:.2f} s (median), the Dataset a refit needs first.",
            "",
            table,
            "",
        ]
        if previous:
            lines = [previous, *["#" + line if line.startswith("# ") else line for line in lines]]
        write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
