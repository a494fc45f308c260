"""Benchmark: exact item-item top-k on a Dask LocalCluster against the one-process call.

The matrix is the MovieLens-20M-shaped synthetic one of ``benchmarks/similarity.py``
(138,000 users x 27,000 items, 20M binary interactions, power-law item popularity, seed 0);
rows compared are the items. Each configuration runs in its own fresh ``spawn`` child:

- local: ``featcf.similarity.topk_similarity(X, k, n_threads=T)`` for T = 1 and 2;
- 1 worker, 2 workers: ``featcf.distributed.topk_similarity(X, k, client=...)`` on a
  ``LocalCluster`` of single-threaded worker processes (featcf's ``WORKER_ENV``: numba on one
  thread), default chunks (one per worker), ``--block-rows`` query rows per task.

Every child first warms up (kernels loaded from numba's cache, on a 2,000-row slice), then
records its resident memory, resets the high-water mark (``/proc/self/clear_refs``), receives
the matrix and runs. "peak MB" is the high-water RSS during the run (whole process);
"+MB" is that peak minus the warmed-up RSS before the data arrived, so both sides count the
matrix they hold. For the cluster the worker figures are read in each worker process
(``Client.run``); the driver (client + scheduler; the client holds the matrix and writes it
once to the scratch directory that the tasks read) is reported on its own. Every distributed result is compared with the local
one: indices, float32 scores and order must be identical.

The 1e9-interaction estimate is computed from the 2-worker run's task stream: the compute
seconds of the block tasks over the pair work they did (sum over users of their number of
items squared: every ordered pair of items sharing a user, which is what the blocked search
visits), and the worker memory, which is bounded by one task's inputs (a query block and a
candidate chunk read from the scratch directory), not by the matrix.

Run ``nice -n 5 python benchmarks/distributed.py`` (about 15 minutes on 2 busy cores; writes
``benchmarks/results/distributed.md``) or ``--size 5m`` (a quarter of it, for development) or
``--quick`` (a 300k-interaction matrix, 1 minute).
``--serving N`` instead compares ``featcf.distributed.recommend`` (top-10 of every customer)
and ``recommend_users`` (top-1,000 customers of every product) with the models' own calls,
for ItemKNN and FeatureCF fitted on ``make_insurance_shop(n_customers=N)``
(``benchmarks/results/distributed_serving.md``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

# this file is named like the ``distributed`` package: keep its folder behind site-packages
# (for ``_common``), so that ``import distributed`` finds Dask's package, here and in children
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE))

from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    current_rss_mb,
    load_csr,
    machine_info,
    markdown_table,
    peak_rss_mb,
    reset_peak_rss,
    run_in_child,
    save_csr,
    synthetic_interactions,
)

SIZES = {
    "20m": (138_000, 27_000, 20_000_000),  # MovieLens 20M shape
    "5m": (69_000, 13_500, 5_000_000),  # a quarter of it, for development
    "quick": (10_000, 3_000, 300_000),
}
WARMUP_ROWS = 2_000
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "distributed.md"
#: the issue's goal: peak memory per worker on 2 workers <= this x the one-process peak
MEMORY_GOAL = 0.6
TARGET_INTERACTIONS = 1e9
#: the task that scores a query block against a candidate chunk (its key prefix)
BLOCK_TASK = "_stored_block_topk"


# --------------------------------------------------------------------------- children


def _local_child(path: str, k: int, threads: int, out: str) -> dict[str, float]:
    from featcf.similarity import topk_similarity

    warm = load_csr(Path(path))[:WARMUP_ROWS]
    topk_similarity(warm, k, n_threads=threads)
    del warm
    base = current_rss_mb()
    reset_peak_rss()
    X = load_csr(Path(path))
    start = time.perf_counter()
    S = topk_similarity(X, k, n_threads=threads)
    wall = time.perf_counter() - start
    peak = peak_rss_mb()
    save_csr(Path(out), S)
    return {"wall": wall, "peak": peak, "increase": peak - base, "base": base}


def _worker_rss(kind: str) -> float:
    """Read in a worker: current or high-water RSS (MB), or reset the high-water mark."""
    field = {"current": "VmRSS", "peak": "VmHWM"}.get(kind)
    if field is None:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _warm_worker(path: str, k: int) -> None:
    """In a worker: what a block task imports and runs, on the warm-up slice."""
    from featcf.distributed import _similarity
    from featcf.similarity import reference_statistics

    warm = load_csr(Path(path))[:WARMUP_ROWS]
    options = {"metric": "cosine", "shrink": 0.0, "min_support": 1, "weights": None}
    stats = reference_statistics(warm, "cosine")
    _similarity._block_topk(warm, warm[: WARMUP_ROWS // 2], 0, 0, k, options, stats, True)


def _cluster_child(path: str, k: int, n_workers: int, block_rows: int, out: str) -> dict:
    # the benchmarks folder is not importable on the workers: send the reader by value
    import cloudpickle

    from distributed import Client, get_task_stream
    from featcf import distributed as fd

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with fd.local_cluster(n_workers=n_workers) as cluster, Client(cluster) as client:
        warm = load_csr(Path(path))[:WARMUP_ROWS]
        fd.topk_similarity(warm, k, client=client, block_rows=block_rows)
        del warm
        client.run(_warm_worker, path, k)  # every worker, whichever ran the tasks above
        base = client.run(_worker_rss, "current")
        client.run(_worker_rss, "reset")
        driver_base = current_rss_mb()
        reset_peak_rss()
        X = load_csr(Path(path))
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            S = fd.topk_similarity(X, k, client=client, block_rows=block_rows)
        wall = time.perf_counter() - start
        peaks = client.run(_worker_rss, "peak")
        driver_peak = peak_rss_mb()
    compute: dict[str, float] = {}
    count: dict[str, int] = {}
    for task in stream.data:
        prefix = str(task["key"]).split("-")[0].strip("('\"")
        for part in task["startstops"]:
            if part["action"] == "compute":
                compute[prefix] = compute.get(prefix, 0.0) + part["stop"] - part["start"]
        count[prefix] = count.get(prefix, 0) + 1
    save_csr(Path(out), S)
    workers = sorted(peaks)
    return {
        "wall": wall,
        "peaks": [peaks[w] for w in workers],
        "increases": [peaks[w] - base[w] for w in workers],
        "bases": [base[w] for w in workers],
        "driver_peak": driver_peak,
        "driver_increase": driver_peak - driver_base,
        "compute": compute,
        "count": count,
    }


# --------------------------------------------------------------------------- serving


def _serving_child(n_customers: int, n_workers: int, seed: int) -> list[dict[str, Any]]:
    """Fit ItemKNN and FeatureCF on a synthetic shop, then each model's recommend (every
    customer) and recommend_users (every product) locally and on a LocalCluster, each timed
    after a warm-up call on 20 ids (kernels loaded in this process and on the workers)."""
    import pandas as pd

    from distributed import Client
    from featcf import FeatureCF
    from featcf import distributed as fd
    from featcf.datasets import make_insurance_shop
    from featcf.models import ItemKNN

    shop = make_insurance_shop(n_customers=n_customers, random_state=seed)
    out = []
    with fd.local_cluster(n_workers=n_workers) as cluster, Client(cluster) as client:
        for model in (ItemKNN(n_neighbors=50), FeatureCF(random_state=0, show_progress=False)):
            start = time.perf_counter()
            model.fit(shop)
            fit_s = time.perf_counter() - start
            row: dict[str, Any] = {"model": type(model).__name__, "fit": fit_s}
            users, items = list(shop.user_ids), list(shop.item_ids)
            for name, query, n in (("recommend", users, 10), ("recommend_users", items, 1000)):
                getattr(model, name)(query[:20], n=n)  # warm-up: kernels loaded, here and
                getattr(fd, name)(model, query[:20], n=n, client=client)  # on the workers
                start = time.perf_counter()
                expected = getattr(model, name)(query, n=n)
                row[f"{name} local"] = time.perf_counter() - start
                start = time.perf_counter()
                got = getattr(fd, name)(model, query, n=n, client=client)
                row[f"{name} cluster"] = time.perf_counter() - start
                try:
                    pd.testing.assert_frame_equal(got, expected)
                    row[f"{name} equal"] = True
                except AssertionError:
                    row[f"{name} equal"] = False
                row[f"{name} rows"] = len(expected)
            out.append(row)
    return out


def serving_report(args: argparse.Namespace, rows: list[dict[str, Any]], load_before) -> list[str]:
    info = machine_info(("numpy", "scipy", "numba", "dask", "distributed"))
    info["load average (1 min) before / after"] = f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}"
    table = [
        [
            r["model"], f"{r['fit']:.1f}",
            *[
                f"{r[f'{name} local']:.1f} / {r[f'{name} cluster']:.1f} "
                f"({r[f'{name} rows']:,} rows, {'equal' if r[f'{name} equal'] else 'DIFFERENT'})"
                for name in ("recommend", "recommend_users")
            ],
        ]
        for r in rows
    ]  # fmt: skip
    return [
        "# Distributed recommend and recommend_users (featcf.distributed, LocalCluster)",
        "",
        f"Command: `nice -n 5 {command_line()}`",
        "",
        "Machine (shared with other jobs: timings are under load):",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        f"Data: `make_insurance_shop(n_customers={args.serving:,}, random_state={args.seed})`; "
        f"recommend: top-10 for every customer; recommend_users: top-1,000 customers for "
        f"every product; cluster: {args.serving_workers} single-threaded worker processes; "
        "local: the model's own call (all numba threads). Equal means "
        "`pandas.testing.assert_frame_equal` passes.",
        "",
        markdown_table(
            [
                "model",
                "fit s",
                "recommend s: local / cluster",
                "recommend_users s: local / cluster",
            ],
            table,
        ),
        "",
    ]


# --------------------------------------------------------------------------- driver


def _identical(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 300k-interaction matrix")
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="20m", help="matrix shape (--quick: quick)"
    )
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--block-rows", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--serving", type=int, default=0, metavar="N",
        help="instead: recommend / recommend_users on a shop of N customers",
    )  # fmt: skip
    parser.add_argument("--serving-workers", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    if args.serving:
        rows = run_in_child(_serving_child, args.serving, args.serving_workers, args.seed)
        output = args.output or DEFAULT_OUTPUT.with_name("distributed_serving.md")
        output.write_text("\n".join(serving_report(args, rows, load_before)) + "\n")
        print(f"wrote {output}")
        return 0 if all(r["recommend equal"] and r["recommend_users equal"] for r in rows) else 1
    size = "quick" if args.quick else args.size
    n_users, n_items, nnz = SIZES[size]
    output = args.output or (
        DEFAULT_OUTPUT if size == "20m" else DEFAULT_OUTPUT.with_name(f"distributed_{size}.md")
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        R = synthetic_interactions(n_users, n_items, nnz, random_state=args.seed)
        X = R.T.tocsr()  # items x users: item-item similarity
        pair_work = float(np.square(np.diff(R.indptr).astype(np.float64)).sum())
        path = save_csr(Path(tmp) / "X.npz", X)
        print(f"matrix {X.shape} nnz {X.nnz:,} in {time.perf_counter() - t0:.1f} s", flush=True)
        del R

        local: dict[int, dict] = {}
        for threads in (1, 2):
            out = str(Path(tmp) / f"local{threads}.npz")
            local[threads] = run_in_child(_local_child, str(path), args.k, threads, out)
            local[threads]["result"] = load_csr(Path(out))
            print(f"local {threads} thread(s): {local[threads]['wall']:.1f} s", flush=True)
        reference = local[1]["result"]
        same_local = _identical(local[2]["result"], reference)
        cluster: dict[int, dict] = {}
        for n_workers in (1, 2):
            out = str(Path(tmp) / f"cluster{n_workers}.npz")
            res = run_in_child(_cluster_child, str(path), args.k, n_workers, args.block_rows, out)
            res["identical"] = _identical(load_csr(Path(out)), reference)
            cluster[n_workers] = res
            print(
                f"{n_workers} worker(s): {res['wall']:.1f} s, identical {res['identical']}",
                flush=True,
            )
    lines = _report(args, X, local, same_local, cluster, pair_work, load_before)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")
    ok = same_local and all(c["identical"] for c in cluster.values())
    return 0 if ok else 1


def _report(args, X, local, same_local, cluster, pair_work, load_before) -> list[str]:
    info = machine_info(("numpy", "scipy", "numba", "dask", "distributed"))
    info["load average (1 min) before / after"] = f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}"
    ref_peak = local[1]["peak"]
    ref_inc = local[1]["increase"]
    rows = []
    for threads in (1, 2):
        r = local[threads]
        rows.append(
            [
                f"local, {threads} thread(s)", f"{r['wall']:.1f}", f"{r['peak']:.0f}",
                f"{r['increase']:.0f}", f"{r['peak'] / ref_peak:.2f}",
                f"{r['increase'] / ref_inc:.2f}",
                "yes (reference)" if threads == 1 else ("yes" if same_local else "NO"),
            ]
        )  # fmt: skip
    for n_workers, r in cluster.items():
        peak, inc = max(r["peaks"]), max(r["increases"])
        rows.append(
            [
                f"{n_workers} worker(s), max per worker", f"{r['wall']:.1f}", f"{peak:.0f}",
                f"{inc:.0f}", f"{peak / ref_peak:.2f}", f"{inc / ref_inc:.2f}",
                "yes" if r["identical"] else "NO",
            ]
        )  # fmt: skip
    two = cluster[max(cluster)]
    block_s = two["compute"].get(BLOCK_TASK, float("nan"))
    rate = pair_work / block_s  # ordered pairs per second of one worker thread
    overhead = sum(v for key, v in two["compute"].items() if key != BLOCK_TASK)
    scale = TARGET_INTERACTIONS / X.nnz
    cpu_hours = scale * pair_work / rate / 3600
    n_tasks = two["count"].get(BLOCK_TASK, 0)
    n_blocks = two["count"].get("_merge_block", 0)
    chunk_entries = X.nnz / max(1, n_tasks // max(1, n_blocks))
    lines = [
        "# Distributed item-item top-k (featcf.distributed on a Dask LocalCluster)",
        "",
        f"Command: `nice -n 5 {command_line()}`",
        "",
        "Machine (shared with other jobs: timings are under load, memory figures are not "
        "affected):",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        f"Data: synthetic MovieLens-20M-shaped interactions (`benchmarks/_common.py` "
        f"`synthetic_interactions`, seed {args.seed}), items x users {X.shape[0]:,} x "
        f"{X.shape[1]:,}, {X.nnz:,} stored entries; exact cosine top-{args.k} of every item, "
        f"self excluded; {args.block_rows} query rows per task.",
        "",
        markdown_table(
            [
                "run",
                "wall s",
                "peak MB",
                "+MB",
                "peak / local 1-thread",
                "+MB / local",
                "lists identical",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Per worker of the cluster runs (peak RSS MB / increase over the warmed-up worker):",
        "",
        *[
            f"- {n} worker(s): peaks {', '.join(f'{p:.0f}' for p in r['peaks'])}; increases "
            f"{', '.join(f'{p:.0f}' for p in r['increases'])}; warmed-up worker RSS "
            f"{', '.join(f'{p:.0f}' for p in r['bases'])}; driver (client + scheduler) peak "
            f"{r['driver_peak']:.0f} MB (+{r['driver_increase']:.0f}); task compute seconds "
            + ", ".join(
                f"{key} {v:.1f} ({r['count'].get(key, 0)} tasks)"
                for key, v in sorted(r["compute"].items())
            )  # fmt: skip
            for n, r in cluster.items()
        ],
        "",
        f"Memory goal (issue 14): peak per worker on 2 workers <= {MEMORY_GOAL}x the "
        f"one-process peak: {max(two['peaks']) / ref_peak:.2f}x by whole-process peak, "
        f"{max(two['increases']) / ref_inc:.2f}x by increase over the warmed-up process.",
        "",
        "## Estimate for 1e9 interactions (from the 2-worker run's blocks)",
        "",
        f"- Pair work here: {pair_work:.3g} ordered item pairs sharing a user (sum over users "
        f"of their item count squared); the block tasks took {block_s:.1f} s of compute, "
        f"{rate:.3g} pairs/s per single-threaded worker under this load; the other tasks "
        f"(merges, the shared search settings) {overhead:.1f} s.",
        f"- Memory: a task reads one query block ({args.block_rows} rows) and one candidate "
        f"chunk (here {n_tasks // max(1, n_blocks)} chunks of ~{chunk_entries / 1e6:.1f}M stored "
        "entries) from the scratch directory and lets them go: the larger worker grew by "
        f"{max(two['increases']):.0f} MB over its warmed-up {max(two['bases']):.0f} MB, "
        "however many chunks there are. At 1e9 interactions (50x the users) a worker needs "
        "about as much with blocks and chunks of the same number of stored entries (query "
        "blocks of ~50x fewer rows: `block_rows`; chunks are sized in entries by default), "
        "plus the arrays over the columns of a chunk's transpose (~8 bytes a user, ~55 MB); "
        "only the number of tasks grows.",
        f"- Assumption: 1e9 interactions with this data's per-user activity (lognormal, mean "
        f"~145 items a user), i.e. {scale:.0f}x the users; pair work grows with the users "
        f"({scale:.0f}x), whatever the number of items.",
        f"- Compute: {cpu_hours:.1f} worker-thread hours at the measured rate; on 32 "
        f"single-threaded workers the job takes about {cpu_hours / 32:.2f} h "
        f"({cpu_hours / 64:.2f} h on 64), each worker with about the memory measured here.",
        "- Not scaled by this estimate: the client. It holds the matrix (float32 values and "
        "int32 indices: 8 bytes per stored entry, 8 GB at 1e9) and writes it once to the "
        "scratch directory (a filesystem shared by the workers, 8 GB at 1e9); the workers "
        "do not build the matrix from partitioned Parquet themselves (not built here).",
        "",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
