"""Benchmark: how FeatureCF's fit time and memory grow with the number of customers.

FeatureCF finds every customer's neighbours per item field, in user-kNN CF and in
user-feature space. Searched exactly among all customers this grows with the square of
their distinct profiles; ``max_reference_users`` (default 6,000) bounds the users searched,
so the fit should grow linearly. This script checks that on two synthetic shops at several
sizes:

- ``insurance``: ``featcf.datasets.make_insurance_shop`` (40 products with 5 attribute
  fields, customers with 5 coarse demographic fields, about 2 purchases each: many
  customers share a profile);
- ``rich``: the same purchases with customers described by 8 categorical fields of 10
  values (``benchmarks/_shops.py``): nearly every profile is distinct.

For each shop and size, a fresh child process fits (after warm-up fits on a 2,000-customer
shop that load the compiled kernels, the cone search's included: a smaller shop does not
reach it, and its compile time would land in the measured fit)
``FeatureCF(weights="learn")`` (numba threads: all), then LightFM with user and item features (``_peers.LightFMPeer``: WARP, 32 components, 30
epochs, 2 threads; identity plus attribute-indicator features for users and items), then
implicit's ``AlternatingLeastSquares`` (64 factors, 15 iterations, BLAS on one thread) on the
same customer x product matrix. LightFM with features is the like-for-like peer (a model
that reads the same attributes); ALS ignores them and is a reference for "a fit on this data".
Wall and CPU seconds are both recorded: on a shared machine the ratio of two fits made in
the same child, one after the other, is the figure to read; peak MB is the resident memory
FeatureCF's fit adds.

Run ``python benchmarks/fit_scaling.py`` (50,000, 100,000, 200,000 and 400,000 customers on
both shops; over an hour on 2 shared cores) or ``--quick`` (5,000 and 10,000). ``--sizes``
and ``--shops`` take comma-separated lists; ``--max-reference-users`` sets FeatureCF's cap
(``none`` for the exact search). The table goes to stdout and to
``benchmarks/results/fit_scaling.md`` (``--output``, ``-`` for none) with the machine,
versions, load averages and command.
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
SHOPS = ("insurance", "rich")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="5,000 and 10,000 customers only")
    p.add_argument("--sizes", type=str, default=None, help="customers, comma-separated")
    p.add_argument("--shops", type=str, default=",".join(SHOPS), help="insurance,rich")
    p.add_argument("--seed", type=int, default=0, help="seed of the shop and the models")
    p.add_argument(
        "--max-reference-users", type=str, default="default",
        help="FeatureCF's cap: an integer, 'none', or 'default' (the model's default)",
    )  # fmt: skip
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = "5000,10000" if args.quick else "50000,100000,200000,400000"
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not args.sizes or min(args.sizes) < 100:
        p.error("--sizes needs at least one size of 100 customers or more")
    args.shops = [s.strip() for s in args.shops.split(",") if s.strip()]
    if not args.shops or set(args.shops) - set(SHOPS):
        p.error(f"--shops takes names among {SHOPS}, got {args.shops}")
    cap = args.max_reference_users.lower()
    if cap not in ("default", "none"):
        try:
            cap = int(cap)
        except ValueError:
            p.error(f"--max-reference-users must be an integer, none or default, got {cap!r}")
    args.max_reference_users = cap
    return args


def _shop(kind: str, n_customers: int, seed: int) -> Any:
    if kind == "rich":
        from _shops import make_rich_profile_shop

        return make_rich_profile_shop(n_customers, random_state=seed)
    from featcf.datasets import make_insurance_shop

    return make_insurance_shop(n_customers=n_customers, random_state=seed)


def _timed(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


#: customers of the warm-up shop: enough for every kernel of the fit to run (the cone search
#: needs 1,024 reference profiles), so that no compile time lands in a measured fit
WARM_UP_CUSTOMERS = 2_000


def fit_one_size(kind: str, n_customers: int, seed: int, cap: Any) -> dict[str, Any]:
    """Child process: fit FeatureCF, LightFM with features and implicit ALS on one shop."""
    import numpy as np
    from _peers import LightFMPeer
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from featcf.models import FeatureCF

    params = {} if cap == "default" else {"max_reference_users": None if cap == "none" else cap}
    small = _shop(kind, WARM_UP_CUSTOMERS, seed)
    FeatureCF(random_state=seed, show_progress=False, **params).fit(small)  # warm-up
    LightFMPeer(seed).fit(small)
    shop = _shop(kind, n_customers, seed)
    model = FeatureCF(random_state=seed, show_progress=False, **params)
    with PeakRSS() as mem:
        fit_s, fit_cpu = _timed(lambda: model.fit(shop))
    lightfm_s, lightfm_cpu = _timed(lambda: LightFMPeer(seed, n_threads=2).fit(shop))
    matrix = shop.interactions.astype(np.float32).tocsr()
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=64, iterations=15, random_state=seed, calculate_training_loss=False
        )
        als_s, _ = _timed(lambda: als.fit(matrix, show_progress=False))
    return {
        "shop": kind,
        "customers": shop.n_users,
        "products": shop.n_items,
        "interactions": int(shop.interactions.nnz),
        "fit_s": fit_s,
        "fit_cpu": fit_cpu,
        "peak_mb": mem.increase_mb,
        "exact_mb": mem.exact,
        "lightfm_s": lightfm_s,
        "lightfm_cpu": lightfm_cpu,
        "als_s": als_s,
        "load": os.getloadavg()[0],
    }


def _row(r: dict[str, Any], prev: dict[str, Any] | None) -> list[str]:
    growth = ""
    if prev is not None:
        growth = (
            f"{r['fit_s'] / prev['fit_s']:.2f}x wall, {r['fit_cpu'] / prev['fit_cpu']:.2f}x CPU "
            f"for {r['customers'] / prev['customers']:.1f}x"
        )
    return [
        r["shop"],
        f"{r['customers']:,}",
        f"{r['interactions']:,}",
        f"{r['fit_s']:.1f} ({r['fit_cpu']:.0f})",
        f"{r['peak_mb']:.0f}" + ("" if r["exact_mb"] else " (upper bound)"),
        f"{r['lightfm_s']:.1f} ({r['lightfm_cpu']:.0f})",
        f"{r['als_s']:.1f}",
        f"{r['fit_s'] / r['lightfm_s']:.2f} ({r['fit_cpu'] / r['lightfm_cpu']:.2f})",
        growth,
        f"{r['load']:.1f}",
    ]


HEADERS = [
    "shop",
    "customers",
    "purchases",
    "FeatureCF fit s (CPU s)",
    "FeatureCF peak MB",
    "LightFM features fit s (CPU s)",
    "implicit ALS fit s",
    "FeatureCF / LightFM wall (CPU)",
    "FeatureCF growth (wall, CPU)",
    "load (1 min) after",
]


def _lines(args: argparse.Namespace, results: list[dict], rows: list, load_before) -> list[str]:
    cap = args.max_reference_users
    return [
        *results_header(
            "Fit scaling: FeatureCF on growing synthetic shops, against LightFM with "
            "features and implicit ALS",
            ("numpy", "scipy", "numba", "implicit", "lightfm-next", "featcf"),
            load_before,
        ),
        f"Data: `make_insurance_shop(n_customers=..., random_state={args.seed})` "
        "(`insurance`) and `benchmarks/_shops.py` `make_rich_profile_shop` (`rich`: the "
        "same purchases, 8 customer fields of 10 values, nearly every profile distinct), "
        f"{results[0]['products']} products. FeatureCF with learned weights and "
        f"`max_reference_users` {cap} (numba threads: all); LightFM with user and item "
        "features (WARP, 32 components, 30 epochs, 2 threads); implicit ALS with 64 "
        "factors, 15 iterations, BLAS on one thread. Each shop and size in a fresh process "
        "after warm-up fits, the three fits one after the other; peak MB is the resident "
        "memory FeatureCF's fit adds. Growth: FeatureCF's fit time over the size before "
        "(another process). The machine is shared (the load average is above its 2 "
        "cores): read the CPU seconds and the ratios, which compare fits made in the same "
        "process minutes apart.",
        "",
        markdown_table(HEADERS, rows),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    rows, results = [], []
    for kind in args.shops:
        prev = None
        for n in args.sizes:
            r = run_in_child(fit_one_size, kind, n, args.seed, args.max_reference_users)
            results.append(r)
            rows.append(_row(r, prev))
            prev = r
            print(" | ".join(rows[-1]), flush=True)
            if str(args.output) != "-":  # after every size: a long run keeps what it has
                write_results(args.output, _lines(args, results, rows, load_before))
    print(markdown_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
