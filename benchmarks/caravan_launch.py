"""The CoIL 2000 caravan launch: owners reached by ``announce``'s top 10 %, over random states.

Notebook 04 holds the caravan policy out of CoIL 2000 (every holding of it removed), fits
FeatureCF on the rest and launches it by its attributes alone:
``featcf.retention.announce(model, caravan_row, budget=10 % of the customers)``. This script
runs the same launch for several ``random_state`` values of FeatureCF (the state draws the
validation split its weights are learned on), so that one state's draw is not read as the
model's lift, next to

- a random 10 % of the customers (the expected count of owners, exact: the lift is hits /
  that);
- the customers holding the most products first (ties in a seeded random order);
- ``ContentKNN``, the content-only peer, launched the same way.

The data are read as notebook 04 reads them (``coil2000_frames``, the two socio-demographic
type fields categorical, the others in 10 bins). Run ``python benchmarks/caravan_launch.py``
(about 10 s per fit on 2 cores); results go to ``benchmarks/results/caravan_launch.md``
(``--output``). Exits with a message when ``../shared/data/coil2000`` is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, markdown_table, results_header, write_results  # noqa: E402
from announce_lift import most_active  # noqa: E402

import featcf  # noqa: E402
from featcf.datasets import coil2000_frames  # noqa: E402
from featcf.retention import announce  # noqa: E402

SHARE = 0.1
HELD_OUT = "caravan"


def caravan_held_out(path: Path) -> tuple[featcf.Dataset, pd.DataFrame, set]:
    """CoIL 2000 without the caravan policy: (dataset, the caravan's attribute row, its
    owners), built as notebook 04 builds it."""
    holdings, customers, products = coil2000_frames(path)
    products = products.rename(columns={"product_id": "item_id"})
    is_held_out = holdings["item_id"] == HELD_OUT
    dataset = featcf.Dataset.from_frames(
        holdings.loc[~is_held_out, ["user_id", "item_id", "n_policies"]],
        item_features=products[products["item_id"] != HELD_OUT],
        user_features=customers,
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        item_fields={"column": "ignore", "name": "ignore"},
        user_fields={"MOSTYPE": "categorical", "MOSHOOFD": "categorical"},
        n_bins=10,
        allow_mostly_cold_users=True,
    )
    owners = set(holdings.loc[is_held_out, "user_id"])
    return dataset, products[products["item_id"] == HELD_OUT], owners


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-states", default="0,1,2,3,4")
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "coil2000")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "caravan_launch.md"
    )
    args = parser.parse_args()
    if not (args.data / "ticdata2000.txt").is_file():
        print(f"skipped: CoIL 2000 was not found in {args.data.resolve()}")
        return 0
    load_before = os.getloadavg()
    dataset, caravan, owners = caravan_held_out(args.data)
    budget = int(SHARE * dataset.n_users)
    expected = len(owners) * budget / dataset.n_users

    def lift_of(user_ids: Iterable) -> str:
        hits = len(set(user_ids) & owners)
        return f"{hits} ({hits / expected:.2f}x)"

    states = [int(s) for s in args.random_states.split(",")]
    rows, lifts = [], []
    for state in states:
        model = featcf.FeatureCF(random_state=state, show_progress=False).fit(dataset)
        mailing = announce(model, caravan, budget=budget, reasons=False)
        lifts.append(len(set(mailing["user_id"]) & owners) / expected)
        rows.append([f"FeatureCF(random_state={state})", lift_of(mailing["user_id"])])
        print(*rows[-1], flush=True)
    content = announce(featcf.ContentKNN().fit(dataset), caravan, budget=budget, reasons=False)
    rows.append(["ContentKNN", lift_of(content["user_id"])])
    rows.append(["most products first", lift_of(most_active(dataset, budget, 0))])
    rows.append(["random 10 % (expected)", f"{expected:.1f} (1.00x)"])
    table = markdown_table(["model", "caravan owners in the top 10 % (lift)"], rows)
    summary = (
        f"FeatureCF over random_state {states}: mean lift {np.mean(lifts):.2f}x "
        f"(min {min(lifts):.2f}x, max {max(lifts):.2f}x)"
    )
    print(table, summary, sep="\n")
    lines = [
        *results_header(
            "The CoIL 2000 caravan launch: owners reached by announce's top 10 %",
            ("numpy", "pandas", "numba", "scikit-learn"),
            load_before,
        ),
        f"CoIL 2000, {dataset.n_users} customers, {len(owners)} caravan owners; the caravan "
        "policy is held out and launched by its attributes (`announce(model, row, budget="
        f"{budget})`), as in notebook 04.",
        "",
        table,
        "",
        summary + ".",
        "",
    ]
    write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
