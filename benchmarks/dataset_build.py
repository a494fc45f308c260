"""Benchmark: ``Dataset.from_frames`` on a million interactions with item and user fields.

The script builds synthetic frames with a fixed seed (not timed): interactions of
``--customers`` customers with ``--products`` products (Zipf product popularity, lognormal
customer activity: ``synthetic_interactions`` of ``_common`` with at least one purchase a
customer), shuffled, with string ids (``"c0000042"``, ``"sku-00042"``) and a 1..5 rating; an
item table (``category``: text with 2% missing; ``brand``: pandas ``category`` dtype;
``tags``: a ``"|"``-separated multi-valued string with 0-5 tags, some empty, some repeated;
``price``: a float with 1% missing), and a user table (``region``: text; ``segment``:
``category`` dtype; ``gender``: text with 5% missing; ``has_car``: bool; ``age``: an integer
with many ties). Then, in a fresh child process, it times three calls:

- ``interactions only``: ``Dataset.from_frames(interactions, user_col=..., item_col=...,
  weight_col="rating")``: the id maps and the customer x product CSR;
- ``with fields``: the same plus ``item_features`` and ``user_features`` (``tags`` declared
  ``"multi"``, the other kinds inferred): the encoders' fit and the encoding of every row;
- ``encoders``: the field encoders alone, ``FeatureEncoder(...).fit(frame).transform(frame)``
  on the item and the user frame (the part issue 11 rewrote; ``with fields`` minus
  ``interactions only`` also holds the id alignment of the feature rows).

Each child warms up on a small slice, then times ``--repeats`` calls of each kind, in wall
seconds and in the child's CPU seconds (the calls run on one thread, so CPU seconds are the
steadier figure on a shared machine), and records the peak resident memory a ``with fields``
call adds over the frames already in memory (``PeakRSS``). It also returns a fingerprint (SHA-256 of the CSR arrays, dtypes,
shapes and field labels) of the ``with fields`` Dataset, so two implementations can be
checked to build the same Dataset.

``--baseline-src PATH`` also times the featcf found in ``PATH`` (the ``src`` folder of
another checkout, e.g. ``git worktree add /tmp/before <commit>``): the children alternate,
current then baseline, ``--rounds`` times, so drift in the machine's speed falls on both,
and the ratio current / baseline is taken round by round.

Run ``python benchmarks/dataset_build.py`` (1,000,000 interactions: 200,000 customers x
5,000 products) or ``--quick`` (100,000 interactions: 20,000 x 1,000). The table goes to
stdout and to ``benchmarks/results/dataset_build.md`` (``--output``, ``-`` for none) with
the machine, versions and command; ``--quick`` prints only unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    PeakRSS,
    markdown_table,
    results_header,
    run_in_child,
    synthetic_interactions,
    time_calls,
    write_results,
)

RESULTS = REPO_ROOT / "benchmarks" / "results" / "dataset_build.md"
FULL = (200_000, 5_000, 1_000_000)
PARTS = (("fields", "with fields"), ("only", "interactions only"), ("encoders", "encoders"))
QUICK = (20_000, 1_000, 100_000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="100,000 interactions (20,000 x 1,000)")
    p.add_argument("--customers", type=int, default=None, help="number of customers")
    p.add_argument("--products", type=int, default=None, help="number of products")
    p.add_argument("--interactions", type=int, default=None, help="number of interactions")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per child (median)")
    p.add_argument("--rounds", type=int, default=2, help="children per implementation")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic frames")
    p.add_argument(
        "--baseline-src", type=Path, default=None, help="src folder of a featcf to compare with"
    )
    p.add_argument("--output", type=Path, default=None, help="markdown file, or - for none")
    args = p.parse_args(argv)
    customers, products, interactions = QUICK if args.quick else FULL
    args.customers = args.customers or customers
    args.products = args.products or products
    args.interactions = args.interactions or interactions
    if min(args.customers, args.products, args.interactions, args.repeats, args.rounds) < 1:
        p.error("sizes, --repeats and --rounds must be positive")
    if args.baseline_src is not None:
        args.baseline_src = args.baseline_src.resolve()
        if not (args.baseline_src / "featcf" / "__init__.py").is_file():
            p.error(f"--baseline-src {args.baseline_src} holds no featcf/__init__.py")
    if args.output is None:
        args.output = Path("-") if args.quick else RESULTS
    return args


# --------------------------------------------------------------------------- data


def _names(prefix: str, n: int) -> np.ndarray:
    width = len(str(max(n - 1, 0)))
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), width))


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.astype(object)
    out[rng.random(len(out)) < share] = None
    return out


def make_frames(customers: int, products: int, interactions: int, seed: int) -> dict[str, Any]:
    """The interactions, item and user frames (deterministic for a seed)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    matrix = synthetic_interactions(
        customers, products, interactions, random_state=seed, min_per_user=1, values="ratings"
    ).tocoo()
    order = rng.permutation(matrix.nnz)
    user_ids, item_ids = _names("c", customers), _names("sku-", products)
    inter = pd.DataFrame(
        {
            "customer": user_ids[matrix.row[order]],
            "product": item_ids[matrix.col[order]],
            "rating": matrix.data[order].astype(np.float64),
        }
    )

    categories = _names("cat-", 25)
    tag_names = _names("tag-", 300)
    popular = np.arange(1, len(tag_names) + 1, dtype=np.float64) ** -0.8
    n_tags = np.minimum(rng.poisson(2.0, products), 5)
    drawn = rng.choice(len(tag_names), size=n_tags.sum(), p=popular / popular.sum())
    tags = ["|".join(tag_names[t]) for t in np.split(drawn, np.cumsum(n_tags)[:-1])]
    price = np.round(rng.lognormal(3.5, 0.8, products), 2)
    price[rng.random(products) < 0.01] = np.nan
    items = pd.DataFrame(
        {
            "product": item_ids,
            "category": _with_missing(rng, categories[rng.integers(0, 25, products)], 0.02),
            "brand": pd.Categorical(_names("brand-", 200)[rng.integers(0, 200, products)]),
            "tags": tags,
            "price": price,
        }
    )

    users = pd.DataFrame(
        {
            "customer": user_ids,
            "region": _names("region-", 20)[rng.integers(0, 20, customers)],
            "segment": pd.Categorical(
                np.array(["student", "family", "senior", "single", "business", "other"])[
                    rng.integers(0, 6, customers)
                ]
            ),
            "gender": _with_missing(
                rng, np.array(["f", "m", "x"])[rng.integers(0, 3, customers)], 0.05
            ),
            "has_car": rng.random(customers) < 0.6,
            "age": rng.integers(18, 91, customers),
        }
    )
    return {"interactions": inter, "items": items, "users": users}


# --------------------------------------------------------------------------- child


def fingerprint(dataset: Any) -> str:
    """SHA-256 of a Dataset's ids, CSR arrays (with dtypes and shapes) and field labels."""
    h = hashlib.sha256()
    h.update(repr((dataset.user_ids.tolist(), dataset.item_ids.tolist())).encode())
    matrices = [dataset.interactions]
    for fm in (dataset.item_features, dataset.user_features):
        if fm is not None:
            matrices.append(fm.matrix)
            h.update(
                repr(
                    [(f.name, f.kind, f.start, f.stop, f.values) for f in fm.fields.values()]
                ).encode()
            )
    for m in matrices:
        h.update(repr((m.shape, m.format)).encode())
        for a in (m.data, m.indices, m.indptr):
            h.update(str(a.dtype).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _git_revision(path: Path) -> str:
    """``<hash> <subject>`` of the checkout holding ``path``, ``+ changes`` when it is dirty."""
    try:
        log = subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    short = log if len(log) <= 48 else log[:48] + "..."
    return short + (" + changes" if dirty else "")


def wall_and_cpu(fn: Any, repeats: int) -> dict[str, list[float]]:
    """Wall and CPU seconds (this process) of ``repeats`` calls of ``fn`` (``time_calls``).

    ``from_frames`` runs on one thread, so its CPU seconds hardly move when other jobs share
    the cores, while its wall seconds do.
    """
    cpu: list[float] = []

    def call() -> Any:
        start = time.process_time()
        result = fn()
        cpu.append(time.process_time() - start)
        return result

    return {"wall": time_calls(call, repeats=repeats, warmup=0).repeats, "cpu": cpu}


def time_one_child(src: str, sizes: tuple[int, int, int], seed: int, repeats: int) -> dict:
    """Child process: import featcf from ``src``, build the frames, time ``from_frames``."""
    sys.path.insert(0, src)
    import featcf
    from featcf import Dataset
    from featcf.data import FeatureEncoder

    where = Path(featcf.__file__).resolve()
    if not where.is_relative_to(Path(src).resolve()):
        raise RuntimeError(f"featcf came from {where}, not from {src}")
    frames = make_frames(*sizes, seed)
    inter, items, users = frames["interactions"], frames["items"], frames["users"]
    ids = {"user_col": "customer", "item_col": "product", "weight_col": "rating"}

    def interactions_only() -> Any:
        return Dataset.from_frames(inter, **ids)

    def with_fields() -> Any:
        return Dataset.from_frames(inter, items, users, item_fields={"tags": "multi"}, **ids)

    def encoders() -> Any:
        item_encoder = FeatureEncoder("product", {"tags": "multi"}, "|", 5, "item_features")
        user_encoder = FeatureEncoder("customer", None, "|", 5, "user_features")
        return item_encoder.fit(items).transform(items), user_encoder.fit(users).transform(users)

    # warm-up (first-call costs of pandas/scipy paths) on a slice, with the feature rows of
    # the slice's customers and products: from_frames refuses feature tables that share fewer
    # than half their ids with the interactions (issue 17)
    head = inter.head(2_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", featcf.FeatureEncodingWarning)
        Dataset.from_frames(
            head,
            items[items["product"].isin(head["product"])],
            users[users["customer"].isin(head["customer"])],
            item_fields={"tags": "multi"},
            **ids,
        )
    only = wall_and_cpu(interactions_only, repeats)
    encode = wall_and_cpu(encoders, repeats)
    with PeakRSS() as mem:
        fields = wall_and_cpu(with_fields, repeats)
    dataset = with_fields()
    return {
        "featcf": str(where.parent),
        "revision": _git_revision(where.parent),
        "only": only,
        "encoders": encode,
        "fields": fields,
        "peak_mb": mem.increase_mb,
        "exact_mb": mem.exact,
        "fingerprint": fingerprint(dataset),
        "shape": (dataset.n_users, dataset.n_items, dataset.n_interactions),
        "columns": (dataset.item_features.n_columns, dataset.user_features.n_columns),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    sizes = (args.customers, args.products, args.interactions)
    current = str(REPO_ROOT / "src")
    sources = {"current": current}
    if args.baseline_src is not None:
        sources["baseline"] = str(args.baseline_src)
    runs: dict[str, list[dict]] = {name: [] for name in sources}
    for r in range(args.rounds):
        for name, src in sources.items():
            t0 = time.perf_counter()
            result = run_in_child(time_one_child, src, sizes, args.seed, args.repeats)
            runs[name].append(result)
            seconds = ", ".join(
                f"{label} {statistics.median(result[key]['wall']):.2f} s "
                f"(cpu {statistics.median(result[key]['cpu']):.2f})"
                for key, label in PARTS
            )
            print(
                f"round {r + 1} {name:>8}: {seconds}, +{result['peak_mb']:.0f} MB "
                f"(child {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )

    names = list(runs)
    rows = []
    for key, label in PARTS:
        for clock in ("wall", "cpu"):
            row = [label, clock]
            for name in names:
                values = [t for res in runs[name] for t in res[key][clock]]
                row.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
            if "baseline" in runs:
                ratios = [
                    statistics.median(cur[key][clock]) / statistics.median(base[key][clock])
                    for cur, base in zip(runs["current"], runs["baseline"], strict=True)
                ]
                row.append(
                    f"{statistics.median(ratios):.2f} ("
                    + ", ".join(f"{r:.2f}" for r in ratios)
                    + ")"
                )
            rows.append(row)
    headers = ["call", "clock", *(f"{name} s (min-max)" for name in names)]
    if "baseline" in runs:
        headers.append("current / baseline (each round)")
    table = markdown_table(headers, rows)
    first = runs["current"][0]
    n_users, n_items, nnz = first["shape"]
    summary = [
        f"Data: {n_users:,} customers x {n_items:,} products, {nnz:,} interactions "
        f"(seed {args.seed}); {first['columns'][0]} item columns, {first['columns'][1]} user "
        f"columns encoded. {args.rounds} child process(es) per featcf, {args.repeats} timed "
        "calls of each kind per child.",
        "",
    ]
    for name in names:
        results = runs[name]
        prints = {res["fingerprint"] for res in results}
        peak = max(res["peak_mb"] for res in results)
        exact = all(res["exact_mb"] for res in results)
        summary.append(
            f"- {name}: featcf from `{results[0]['featcf']}` at {results[0]['revision']!r}; "
            f"'with fields' adds at most {peak:.0f} MB"
            + ("" if exact else " (upper bound: the peak could not be reset)")
            + f"; Dataset fingerprint {'/'.join(p[:12] for p in sorted(prints))}"
        )
    if "baseline" in runs:
        prints = {res["fingerprint"] for results in runs.values() for res in results}
        summary.append(f"- same Dataset from both: {'yes' if len(prints) == 1 else 'NO'}")
    print(table)
    print("\n".join(summary))
    if str(args.output) != "-":
        lines = [
            *results_header(
                "Dataset build: Dataset.from_frames on synthetic frames",
                ("numpy", "scipy", "pandas"),
                load_before,
            ),
            "The machine is shared with other jobs (see the load average): wall seconds stretch "
            "when other processes take the cores, CPU seconds of this single-threaded call much "
            "less, so the CPU rows are the fairer comparison. Each cell: the median of every "
            "timed call over the children, with the fastest and slowest; the ratio column is "
            "the median of the per-round ratios (children alternate current, baseline).",
            "",
            table,
            "",
            *summary,
            "",
        ]
        write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
