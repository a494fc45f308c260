"""Benchmark: how FeatureCF's fit time and memory grow with the number of customers.

FeatureCF's per-field user neighbourhoods are exact top-k searches among the customers, so
the fit grows with the square of their number. This script shows where that leaves a
growing shop: it generates the synthetic insurance shop of ``featcf.datasets``
(``make_insurance_shop``: 40 products with 5 attribute fields, customers with 5
demographic fields, about 2 purchases each) at several sizes and, in a fresh child process
per size, times ``FeatureCF(weights="learn").fit`` (after a warm-up fit on a small shop
that loads the compiled kernels) and records the peak resident memory the fit adds. For
scale, the same child fits implicit's ``AlternatingLeastSquares`` (64 factors, 15
iterations) on the same customer x product matrix: a model that ignores the attributes, so
the column is a reference for "a fit on this data", not a like-for-like race.

Run ``python benchmarks/fit_scaling.py`` (about 3 minutes on 2 cores: 2,500, 10,000,
40,000 and 100,000 customers) or ``--quick`` (2,500 and 10,000). ``--sizes`` takes a
comma-separated list. The table goes to stdout and to ``benchmarks/results/fit_scaling.md``
(``--output``, ``-`` for none) with the machine, versions and command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PeakRSS, markdown_table, results_header, run_in_child, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "fit_scaling.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2,500 and 10,000 customers only")
    p.add_argument("--sizes", type=str, default=None, help="customers, comma-separated")
    p.add_argument("--seed", type=int, default=0, help="seed of the shop and the models")
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = "2500,10000" if args.quick else "2500,10000,40000,100000"
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not args.sizes or min(args.sizes) < 100:
        p.error("--sizes needs at least one size of 100 customers or more")
    return args


def fit_one_size(n_customers: int, seed: int) -> dict[str, Any]:
    """Child process: fit FeatureCF and implicit ALS on one shop; seconds and peak MB."""
    import numpy as np
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from featcf.datasets import make_insurance_shop
    from featcf.models import FeatureCF

    FeatureCF(random_state=seed, show_progress=False).fit(
        make_insurance_shop(n_customers=300, random_state=seed)
    )  # warm-up: loads the cached kernels
    shop = make_insurance_shop(n_customers=n_customers, random_state=seed)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        model = FeatureCF(random_state=seed, show_progress=False).fit(shop)
        fit_s = time.perf_counter() - t0
    weights = model.feature_weights_
    matrix = shop.interactions.astype(np.float32).tocsr()
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=64, iterations=15, random_state=seed, calculate_training_loss=False
        )
        t0 = time.perf_counter()
        als.fit(matrix, show_progress=False)
        als_s = time.perf_counter() - t0
    return {
        "customers": shop.n_users,
        "products": shop.n_items,
        "interactions": int(shop.interactions.nnz),
        "fit_s": fit_s,
        "peak_mb": mem.increase_mb,
        "exact_mb": mem.exact,
        "als_s": als_s,
        "top_term": f"{weights.idxmax()} {weights.max():.2f}",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    rows, results = [], []
    for n in args.sizes:
        r = run_in_child(fit_one_size, n, args.seed)
        results.append(r)
        growth = ""
        if len(results) > 1:
            prev = results[-2]
            growth = f"{r['fit_s'] / prev['fit_s']:.1f}x for {r['customers'] / prev['customers']:.1f}x customers"
        rows.append(
            [
                f"{r['customers']:,}",
                f"{r['interactions']:,}",
                f"{r['fit_s']:.1f}",
                f"{r['peak_mb']:.0f}" + ("" if r["exact_mb"] else " (upper bound)"),
                f"{r['als_s']:.2f}",
                f"{r['fit_s'] / r['als_s']:.0f}",
                growth,
            ]
        )
        print(f"{n:>7} customers: FeatureCF fit {r['fit_s']:.1f} s, +{r['peak_mb']:.0f} MB; "
              f"implicit ALS {r['als_s']:.2f} s", flush=True)  # fmt: skip
    table = markdown_table(
        [
            "customers",
            "purchases",
            "FeatureCF fit s",
            "FeatureCF peak MB",
            "implicit ALS fit s",
            "FeatureCF / ALS",
            "FeatureCF growth",
        ],
        rows,
    )
    print(table)
    if str(args.output) != "-":
        lines = [
            *results_header(
                "Fit scaling: FeatureCF on growing synthetic insurance shops",
                ("numpy", "scipy", "numba", "implicit", "featcf"),
                load_before,
            ),
            f"Data: `make_insurance_shop(n_customers=..., random_state={args.seed})`, "
            f"{results[0]['products']} products. FeatureCF with learned weights "
            "(numba threads: all); implicit ALS with 64 factors, 15 iterations, BLAS on one "
            "thread. Each size in a fresh process after a warm-up fit; peak MB is the "
            "resident memory FeatureCF's fit adds.",
            "",
            table,
            "",
        ]
        write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
