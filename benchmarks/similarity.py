"""Benchmark: exact top-k cosine similarity (featcf) against implicit, scipy and sparse_dot_topn.

For each data size and task (item-item: rows are items described by their users; user-user:
rows are users described by their items) every tool computes the top-``k`` cosine neighbours
of every row, excluding the row itself. Each tool runs in its own fresh ``spawn`` child:

1. load the matrix, build the input the tool's API takes (outside the timing);
2. warm-up: one call on the first 2,000 rows (same dtypes: compiles featcf's numba kernels,
   starts thread pools);
3. timed calls on the full matrix, up to ``--repeats``; a call is skipped when the sum so far
   plus the last call would exceed ``--cell-budget`` seconds (the "runs" column says how many
   ran); the first timed call is also the memory run: peak RSS increase over the call.

What each tool's timed call contains:

- featcf: ``topk_similarity(M, k, "cosine", n_threads=T)`` on the rows x features CSR ``M``.
- implicit: ``CosineRecommender(K=k + 1, num_threads=T).fit(F)`` on the features x rows CSR
  ``F`` (implicit 0.7 fits on user x item for item-item). implicit keeps each row itself as a
  neighbour (score 1), so it gets one extra slot; the self entry is dropped afterwards, outside
  the timing, and at most ``k`` neighbours per row are kept.
- scipy: row-normalise ``M``, ``S = A @ A.T`` (single-threaded: scipy has no threaded sparse
  product), per-row ``argpartition`` top-k excluding the diagonal and non-positive scores.
  Skipped with "n/a" when the estimated full product exceeds ``--scipy-max-gb``.
- sparse_dot_topn: row-normalise ``M``, ``sp_matmul_topn(A, A.T, top_n=k + 1, sort=False,
  n_threads=T)``; self dropped afterwards as for implicit.

Accuracy: on ``--sample-rows`` rows (all rows for MovieLens 100k) an exact float64 reference
gives each row's true k-th best score ``t``; "overlap" is the fraction of returned neighbours
whose exact score is ``>= t - 1e-5`` and "recall" the number of such neighbours over
``min(k, positive-score neighbours)``.

Serving: one user's top-10 on MovieLens 100k from item-item cosine neighbours (k=50):
``featcf.similarity.NeighbourScorer(neighbours).top_n`` (built once; also the one-off
``topn_scores_user`` with and without ``check_input``) against implicit's
``CosineRecommender.recommend(userid, user_items[userid], N=10)``, single thread, every user
looped several times after a warm pass; per-call latencies give the median and p99.

Run ``python benchmarks/similarity.py --quick`` (under 2 minutes) or without flags for the
full run (about 25 minutes on 2 cores), which writes ``benchmarks/results/similarity.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    PeakRSS,
    command_line,
    load_csr,
    load_ml100k,
    machine_info,
    markdown_table,
    run_in_child,
    save_csr,
    synthetic_interactions,
)

TOOLS = ("featcf", "implicit", "scipy", "sparse_dot_topn")
TASKS = ("item", "user")
SIZES: dict[str, tuple[int, int, int] | None] = {
    "ml100k": None,  # MovieLens 100k from ../shared/data
    "300k": (10_000, 3_000, 300_000),  # for --quick
    "5m": (70_000, 10_000, 5_000_000),
    "20m": (138_000, 27_000, 20_000_000),  # MovieLens 20M shape
}
DEFAULT_SIZES = ("ml100k", "5m", "20m")
QUICK_SIZES = ("ml100k", "300k")
WARMUP_ROWS = 2_000
SCORE_TOL = 1e-5
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "similarity.md"
# Targets of issue 3 (featcf / peer), for the 20M item-item cosine row and the serving table.
TIME_TARGETS = {"implicit": 0.5, "sparse_dot_topn": 0.65}
MEMORY_TARGETS = {"implicit": 0.6}


# --------------------------------------------------------------------------- tools


def _quiet_implicit() -> None:
    """implicit's own normalisation hands COO to its fit, which then warns on every call."""
    warnings.filterwarnings("ignore", message="Method expects CSR input")


def _normalise_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32 like the input."""
    sq = np.asarray(M.multiply(M).sum(axis=1), dtype=np.float64).ravel()
    inv = np.divide(1.0, np.sqrt(sq), out=np.zeros_like(sq), where=sq > 0)
    return (sp.diags(inv.astype(M.dtype)) @ M).tocsr()


def _scipy_topk(M: sp.csr_matrix, k: int) -> sp.csr_matrix:
    A = _normalise_rows(M)
    S = (A @ A.T).tocsr()
    n = S.shape[0]
    out_n = np.zeros(n, np.int64)
    out_i = np.zeros((n, k), np.int32)
    out_s = np.zeros((n, k), np.float32)
    indptr, indices, data = S.indptr, S.indices, S.data
    for r in range(n):
        lo, hi = indptr[r], indptr[r + 1]
        cols, vals = indices[lo:hi], data[lo:hi]
        keep = (vals > 0) & (cols != r)
        cols, vals = cols[keep], vals[keep]
        if vals.size > k:
            top = np.argpartition(vals, vals.size - k)[vals.size - k :]
            cols, vals = cols[top], vals[top]
        out_n[r] = vals.size
        out_i[r, : vals.size] = cols
        out_s[r, : vals.size] = vals
    mask = np.arange(k)[None, :] < out_n[:, None]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(out_n, out=ptr[1:])
    return sp.csr_matrix((out_s[mask], out_i[mask], ptr), shape=(n, n))


def _make_call(tool: str, M: sp.csr_matrix, k: int, threads: int) -> Any:
    """A zero-argument callable computing tool's top-k of the rows of M (the timed part)."""
    if tool == "featcf":
        from featcf.similarity import topk_similarity

        return lambda: topk_similarity(M, k, "cosine", n_threads=threads)
    if tool == "implicit":
        from implicit.nearest_neighbours import CosineRecommender

        F = M.T.tocsr()  # implicit fits on features x rows (user x item for item-item)

        def fit() -> sp.csr_matrix:
            model = CosineRecommender(K=k + 1, num_threads=threads)
            model.fit(F, show_progress=False)
            return model.similarity

        return fit
    if tool == "scipy":
        return lambda: _scipy_topk(M, k)
    if tool == "sparse_dot_topn":
        from sparse_dot_topn import sp_matmul_topn

        def sdt() -> sp.csr_matrix:
            A = _normalise_rows(M)
            return sp_matmul_topn(A, A.T, top_n=k + 1, sort=False, n_threads=threads)

        return sdt
    raise ValueError(f"unknown tool {tool!r}")


def _bench_tool_child(
    tool: str,
    matrix_path: str,
    k: int,
    threads: int,
    repeats: int,
    cell_budget: float,
    sample_rows: np.ndarray,
) -> dict[str, Any]:
    """Runs in a fresh process: warm-up on a slice, timed calls, peak RSS, sampled rows."""
    _quiet_implicit()
    M = load_csr(Path(matrix_path))
    warm = M[: min(WARMUP_ROWS, M.shape[0])]
    warm.sort_indices()
    t0 = time.perf_counter()
    _make_call(tool, warm, k, threads)()
    warmup_s = time.perf_counter() - t0

    call = _make_call(tool, M, k, threads)
    times: list[float] = []
    cpu: list[float] = []
    loads: list[float] = []
    peak_mb, exact_peak, sample = float("nan"), False, None
    while len(times) < repeats:
        if times and sum(times) + times[-1] > cell_budget:
            break
        with PeakRSS() as mem:
            c0, t0 = time.process_time(), time.perf_counter()
            S = call()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        loads.append(os.getloadavg()[0])
        if len(times) == 1:  # the memory run
            peak_mb, exact_peak = mem.increase_mb, mem.exact
            S = sp.csr_matrix(S)
            part = S[sample_rows]
            sample = (part.indptr, part.indices, part.data)
        del S
    return {
        "warmup_s": warmup_s,
        "times": times,
        "cpu": cpu,
        "load": max(loads),
        "peak_mb": peak_mb,
        "exact_peak": exact_peak,
        "sample": sample,
    }


# --------------------------------------------------------------------------- exact reference


@dataclass
class Reference:
    rows: np.ndarray  # sampled row ids
    exact: sp.csr_matrix  # exact float64 scores of the sampled rows, self and zeros removed
    kth: np.ndarray  # true k-th best score per sampled row (inf when no positive score)
    expected: np.ndarray  # min(k, number of positive-score neighbours)
    product_nnz: float  # estimated nnz of the full product M @ M.T (incl. diagonal)


def exact_reference(M: sp.csr_matrix, rows: np.ndarray, k: int, block: int = 100) -> Reference:
    """Brute-force float64 cosine scores of ``rows`` against all rows of ``M``."""
    A = _normalise_rows(M.astype(np.float64))
    AT = A.T.tocsr()
    parts, kth, expected, full_nnz = [], [], [], 0
    for start in range(0, len(rows), block):
        r = rows[start : start + block]
        R = (A[r] @ AT).tocsr()
        full_nnz += R.nnz
        R = R.tocoo()
        keep = (R.data > 0) & (R.col != r[R.row])
        R = sp.csr_matrix((R.data[keep], (R.row[keep], R.col[keep])), shape=R.shape)
        R.sort_indices()
        parts.append(R)
        for i in range(R.shape[0]):
            vals = np.sort(R.data[R.indptr[i] : R.indptr[i + 1]])[::-1]
            m = min(k, vals.size)
            expected.append(m)
            kth.append(vals[m - 1] if m else np.inf)
    return Reference(
        rows=rows,
        exact=sp.vstack(parts).tocsr(),
        kth=np.array(kth),
        expected=np.array(expected, np.int64),
        product_nnz=full_nnz / len(rows) * M.shape[0],
    )


def accuracy(ref: Reference, sample: tuple[np.ndarray, ...], k: int) -> tuple[float, float]:
    """(overlap, recall) of a tool's sampled rows against the exact reference."""
    indptr, indices, data = sample
    returned = correct = 0
    for i, row in enumerate(ref.rows):
        cols = indices[indptr[i] : indptr[i + 1]]
        vals = data[indptr[i] : indptr[i + 1]]
        keep = cols != row  # peers that keep self: drop it
        cols, vals = cols[keep], vals[keep]
        if cols.size > k:  # then keep the peer's own best k
            top = np.argsort(-vals, kind="stable")[:k]
            cols = cols[top]
        lo, hi = ref.exact.indptr[i], ref.exact.indptr[i + 1]
        ex_cols, ex_vals = ref.exact.indices[lo:hi], ref.exact.data[lo:hi]
        if ex_cols.size:
            pos = np.minimum(np.searchsorted(ex_cols, cols), ex_cols.size - 1)
            score = np.where(ex_cols[pos] == cols, ex_vals[pos], 0.0)
        else:
            score = np.zeros(cols.size)
        returned += cols.size
        correct += int(np.sum(score >= ref.kth[i] - SCORE_TOL))
    overlap = correct / returned if returned else float("nan")
    recall = correct / ref.expected.sum() if ref.expected.sum() else float("nan")
    return overlap, recall


# --------------------------------------------------------------------------- JIT + serving


def _jit_child(matrix_path: str, k: int, threads: int) -> dict[str, float]:
    """First featcf call in a fresh process (import included) vs the median of later calls."""
    M = load_csr(Path(matrix_path))
    t0 = time.perf_counter()
    from featcf.similarity import topk_similarity

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    topk_similarity(M, k, "cosine", n_threads=threads)
    first = time.perf_counter() - t0
    later = []
    for _ in range(3):
        t0 = time.perf_counter()
        topk_similarity(M, k, "cosine", n_threads=threads)
        later.append(time.perf_counter() - t0)
    return {"import_s": import_s, "first_s": first, "later_s": float(np.median(later))}


def _serving_child(matrix_path: str, k: int, n: int, passes: int) -> dict[str, Any]:
    """Per-call latency (us) of one user's top-n, every user looped ``passes`` times."""
    from implicit.nearest_neighbours import CosineRecommender

    from featcf.similarity import NeighbourScorer, topk_similarity, topn_scores_user

    _quiet_implicit()
    X = load_csr(Path(matrix_path))  # users x items
    n_users = X.shape[0]
    rows = [X[u] for u in range(n_users)]  # caller-side slicing, outside the timing
    hist = [(r.indices.copy(), r.data.copy()) for r in rows]

    neighbours = topk_similarity(X.T.tocsr(), k, "cosine", n_threads=1)
    model = CosineRecommender(K=k + 1, num_threads=1)
    model.fit(X, show_progress=False)

    t0 = time.perf_counter()
    scorer = NeighbourScorer(neighbours)
    prepare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scorer.top_n(hist[0][0], n, weights=hist[0][1])
    first_call_s = time.perf_counter() - t0

    calls = {
        "featcf": lambda u: scorer.top_n(hist[u][0], n, weights=hist[u][1]),
        "featcf (topn_scores_user, check_input=False)": lambda u: topn_scores_user(
            neighbours, hist[u][0], n, weights=hist[u][1], check_input=False
        ),
        "featcf (topn_scores_user, check_input=True)": lambda u: topn_scores_user(
            neighbours, hist[u][0], n, weights=hist[u][1]
        ),
        "implicit": lambda u: model.recommend(u, rows[u], N=n),
    }
    out: dict[str, Any] = {
        "prepare_s": prepare_s,
        "first_call_s": first_call_s,
        "n_users": n_users,
        "passes": passes,
        "load_before": os.getloadavg()[0],
    }
    for name, fn in calls.items():
        for u in range(n_users):  # warm pass
            fn(u)
        lat = np.empty(n_users * passes)
        i = 0
        for _ in range(passes):
            for u in range(n_users):
                t0 = time.perf_counter_ns()
                fn(u)
                lat[i] = (time.perf_counter_ns() - t0) / 1e3
                i += 1
        out[name] = {
            "median_us": float(np.median(lat)),
            "p99_us": float(np.percentile(lat, 99)),
            "load": os.getloadavg()[0],
        }
    same = 0
    for u in range(n_users):
        a, _ = calls["featcf"](u)
        b, _ = calls["implicit"](u)
        same += set(a[a >= 0].tolist()) == set(np.asarray(b).tolist())
    out["same_top_n"] = same / n_users
    return out


# --------------------------------------------------------------------------- driver


def _load_size(name: str, values: str, seed: int) -> tuple[sp.csr_matrix | None, str]:
    if SIZES[name] is None:
        X = load_ml100k(values)
        if X is None:
            return None, "MovieLens 100k not found at ../shared/data/ml-100k/u.data"
        return X, "MovieLens 100k"
    n_users, n_items, nnz = SIZES[name]
    X = synthetic_interactions(n_users, n_items, nnz, random_state=seed, values=values)
    return X, f"synthetic, seed {seed}"


def _fmt_s(x: float) -> str:
    return "n/a" if not np.isfinite(x) else (f"{x:.3f}" if x < 1 else f"{x:.2f}")


def _fmt_mb(x: float) -> str:
    return "n/a" if not np.isfinite(x) else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def _fmt_ratio(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.2f}"


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + (" (src has uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def _source_digest() -> str:
    """Short hash of the featcf sources this benchmark runs, to notice edits during a run."""
    src = REPO_ROOT / "src" / "featcf"
    h = hashlib.sha1()
    for path in [src / "similarity.py", src / "_validation.py", *sorted(src.glob("_kernels/*.py"))]:
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def _featcf_available() -> str | None:
    try:
        import featcf.similarity  # noqa: F401
    except ImportError as exc:
        return f"featcf.similarity not importable ({exc})"
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {','.join(QUICK_SIZES)}, no empty-cache JIT compile timing, no file written",
    )
    p.add_argument("--sizes", help=f"comma list of {','.join(SIZES)} (default: full run)")
    p.add_argument("--tasks", default="item,user", help="comma list of item,user")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma list of " + ",".join(TOOLS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per cell (at most)")
    p.add_argument(
        "--cell-budget",
        type=float,
        default=200.0,
        help="seconds: no further timed call once the calls so far plus one more would exceed it",
    )
    p.add_argument(
        "--max-work",
        type=float,
        default=2e10,
        help="skip a size/task whose sum over features of (rows per feature)^2 exceeds this",
    )
    p.add_argument("--scipy-max-gb", type=float, default=8.0)
    p.add_argument("--sample-rows", type=int, default=500)
    p.add_argument("--values", choices=("binary", "ratings"), default="binary")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-serving", action="store_true")
    p.add_argument("--no-jit", action="store_true")
    p.add_argument("--serving-passes", type=int, default=5)
    p.add_argument(
        "--output",
        type=Path,
        help=f"markdown results file (default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)}; "
        "--quick writes nothing unless given)",
    )
    args = p.parse_args(argv)
    sizes = args.sizes.split(",") if args.sizes else (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    for name, pool in (
        (sizes, SIZES),
        (args.tasks.split(","), TASKS),
        (args.tools.split(","), TOOLS),
    ):
        bad = [x for x in name if x not in pool]
        if bad:
            p.error(f"unknown {bad}; choose from {','.join(pool)}")
    args.size_list = list(sizes)
    args.task_list = args.tasks.split(",")
    args.tool_list = args.tools.split(",")
    if args.output is None and not args.quick:
        args.output = DEFAULT_OUTPUT
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    k, threads = args.k, args.threads
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    revision, digest = _git_revision(), _source_digest()
    missing_featcf = _featcf_available()
    tools = [t for t in args.tool_list if not (t == "featcf" and missing_featcf)]
    if missing_featcf:
        print(f"featcf skipped: {missing_featcf}", flush=True)

    data_rows, main_rows, notes = [], [], []
    tmp = tempfile.TemporaryDirectory(prefix="featcf-bench-")
    ml_path: Path | None = None
    for size in args.size_list:
        t0 = time.perf_counter()
        X, origin = _load_size(size, args.values, args.seed)
        if X is None:
            print(f"[{size}] skipped: {origin}", flush=True)
            notes.append(f"{size}: skipped, {origin}.")
            continue
        gen_s = time.perf_counter() - t0
        print(f"[{size}] {X.shape[0]:,} users x {X.shape[1]:,} items, {X.nnz:,} interactions "
              f"({origin}; {gen_s:.1f} s)", flush=True)  # fmt: skip
        if size == "ml100k":
            ml_path = save_csr(Path(tmp.name) / "ml100k_users.npz", X)
        for task in args.task_list:
            M = (X.T if task == "item" else X).tocsr()  # rows to compare x features
            M.sort_indices()
            feature_counts = np.bincount(M.indices, minlength=M.shape[1]).astype(np.float64)
            work = float(np.sum(feature_counts**2))
            label = f"{size} {task}-item" if task == "item" else f"{size} user-user"
            data_row = [size, f"{task}-{task}", f"{M.shape[0]:,}", f"{M.shape[1]:,}",
                        f"{M.nnz:,}", f"{work:.3g}", origin]  # fmt: skip
            if work > args.max_work:
                msg = (f"{label}: skipped, {work:.3g} multiply-adds > --max-work "
                       f"{args.max_work:.3g} (too slow for the time budget on this machine)")  # fmt: skip
                print(msg, flush=True)
                notes.append(msg + ".")
                data_rows.append([*data_row, "skipped"])
                continue
            rng = np.random.default_rng(args.seed + 1)
            if size == "ml100k" or M.shape[0] <= args.sample_rows:
                rows = np.arange(M.shape[0])
            else:
                rows = np.sort(rng.choice(M.shape[0], args.sample_rows, replace=False))
            t0 = time.perf_counter()
            ref = exact_reference(M, rows, k)
            idx_bytes = 8 if ref.product_nnz > 2**31 - 1 else 4
            product_gb = ref.product_nnz * (4 + idx_bytes) / 1e9
            print(f"  {label}: {M.shape[0]:,} rows, work {work:.3g}, exact reference on "
                  f"{len(rows):,} rows ({time.perf_counter() - t0:.1f} s), "
                  f"full product ~{product_gb:.2f} GB", flush=True)  # fmt: skip
            data_rows.append([*data_row, f"{len(rows):,}"])
            path = save_csr(Path(tmp.name) / f"{size}_{task}.npz", M)
            results: dict[str, dict[str, Any]] = {}
            for tool in tools:
                if tool == "scipy" and product_gb > args.scipy_max_gb:
                    results[tool] = {"na": f"n/a: full product needs ~{product_gb:.0f} GB"}
                    print(f"    {tool:16s} {results[tool]['na']}", flush=True)
                    continue
                try:
                    res = run_in_child(_bench_tool_child, tool, str(path), k, threads,
                                       args.repeats, args.cell_budget, rows)  # fmt: skip
                except (RuntimeError, TimeoutError) as exc:
                    results[tool] = {"na": "failed"}
                    print(f"    {tool:16s} failed: {exc}", flush=True)
                    notes.append(f"{label} {tool} failed: {str(exc).splitlines()[0]}")
                    continue
                res["overlap"], res["recall"] = accuracy(ref, res["sample"], k)
                res["median"] = float(np.median(res["times"]))
                res["cpu_median"] = float(np.median(res["cpu"]))
                results[tool] = res
                print(f"    {tool:16s} {res['median']:8.3f} s (runs {len(res['times'])}, "
                      f"CPU {res['cpu_median']:.2f} s, warm-up {res['warmup_s']:.2f} s, "
                      f"load {res['load']:.1f})  peak +{res['peak_mb']:8.1f} MB  "
                      f"overlap {res['overlap']:.4f} recall {res['recall']:.4f}", flush=True)  # fmt: skip
            main_rows.extend(_table_rows(size, task, results))
        del X

    say(f"# Similarity benchmark: exact top-{k} cosine")
    say()
    say(f"Command: `{command_line()}`  ")
    say(f"featcf revision: {revision}, sources digest {digest}  ")
    info = machine_info(("numpy", "scipy", "numba", "implicit", "sparse_dot_topn", "featcf"))
    say("Machine: " + "; ".join(f"{key} {val}" for key, val in info.items()))
    say()
    say("## Data")
    say()
    say(markdown_table(["size", "task", "rows", "features", "nnz",
                        "multiply-adds (sum of feature counts^2)", "data", "reference rows"],
                       data_rows))  # fmt: skip
    say()
    say(f"## Top-{k} cosine, {threads} threads (scipy: 1 thread)")
    say()
    say(markdown_table(MAIN_HEADERS, main_rows))
    say()
    say(_METHOD_NOTES.format(k=k, k1=k + 1, tol=SCORE_TOL, warm=WARMUP_ROWS,
                             budget=args.cell_budget, repeats=args.repeats,
                             values=args.values))  # fmt: skip
    for note in notes:
        say(f"- {note}")
    say()

    if not args.no_jit and not missing_featcf and ml_path is not None:
        _jit_section(say, ml_path, k, threads, cold=not args.quick)
    elif not args.no_jit:
        print("JIT timing skipped (needs featcf and MovieLens 100k)", flush=True)
    if not args.no_serving and not missing_featcf and ml_path is not None:
        _serving_section(say, ml_path, k, args.serving_passes)
    elif not args.no_serving:
        print("serving benchmark skipped (needs featcf and MovieLens 100k)", flush=True)
    if _source_digest() != digest:
        say("Warning: featcf's sources changed while the benchmark ran; figures may mix versions.")
        say()
    say(f"Total benchmark wall time: {time.perf_counter() - started:.0f} s.")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.output}", flush=True)
    tmp.cleanup()
    return 0


_METHOD_NOTES = """\
How to read it: "featcf / tool" is featcf's figure divided by the tool's (below 1 means featcf
is faster or smaller). "wall s": median wall seconds of the timed calls; "CPU s": median CPU
seconds of the process over the same calls (all threads; less sensitive than wall time to
other programs on the machine); "load": highest 1-minute load average seen after a timed call
(above the thread count means other programs competed for the cores and wall times are
inflated). "runs": timed calls on the full matrix after a warm-up call on its
first {warm:,} rows (same dtypes; compiles featcf's kernels, starts thread pools); at most
{repeats}, and none past a {budget:.0f} s budget per cell. "peak MB": peak RSS increase of a
fresh child process over the first timed call (data loaded and warm-up done before the
baseline; the RSS high-water mark is reset through /proc/self/clear_refs; "*" marks a figure
where that reset failed and the peak may include earlier work; no ratio when a peak is below
5 MB, which is noise). "overlap": share of
returned neighbours whose exact score is >= the row's true k-th score (tolerance {tol:g});
"recall": such neighbours / min(k, neighbours with a positive score); both on the reference
rows. Values: {values}.

- implicit: `CosineRecommender(K={k1}).fit(user_items)` (K+1 because implicit lists each row
  itself as a neighbour); the self entry is dropped after the timing. Its time includes its own
  normalisation and conversions.
- sparse_dot_topn: `sp_matmul_topn(A, A.T, top_n={k1}, sort=False, n_threads)`, the time
  includes the row normalisation of A; self dropped after the timing.
- scipy: normalisation, `A @ A.T` (single-threaded), per-row `argpartition`; "n/a" when the
  full product (estimated from the reference rows) would exceed --scipy-max-gb; no blocked
  variant (it would not change the single-threaded time, which is already the slowest).
- featcf: `featcf.similarity.topk_similarity(M, k={k}, metric="cosine", n_threads)`, self
  excluded by the kernel, exact top-k sorted by score."""


MAIN_HEADERS = ["size", "task", "tool", "runs", "wall s", "featcf / tool", "CPU s",
                "featcf / tool (CPU)", "peak MB", "featcf / tool (MB)", "overlap", "recall",
                "load", "target"]  # fmt: skip


MIN_MB_FOR_RATIO = 5.0  # smaller peaks are page-granularity noise


def _ratio(ff: dict, res: dict, key: str) -> float:
    if key not in ff or not res.get(key, 0) > 0:
        return float("nan")
    if key == "peak_mb" and min(ff[key], res[key]) < MIN_MB_FOR_RATIO:
        return float("nan")
    return ff[key] / res[key]


def _verdict(ratio: float, goal: float) -> str:
    return "n/a" if not np.isfinite(ratio) else ("met" if ratio <= goal else "missed")


def _table_rows(size: str, task: str, results: dict[str, dict]) -> list[list[str]]:
    ff = results.get("featcf", {})
    rows = []
    for tool, res in results.items():
        if "na" in res:
            rows.append([size, f"{task}-{task}", tool, "", res["na"]] + [""] * 9)
            continue
        t_ratio = _ratio(ff, res, "median")
        m_ratio = _ratio(ff, res, "peak_mb")
        target = ""
        if size == "20m" and task == "item" and tool in TIME_TARGETS and "median" in ff:
            goal = TIME_TARGETS[tool]
            cpu_ratio = _ratio(ff, res, "cpu_median")
            parts = [
                f"time <= {goal}: wall {_verdict(t_ratio, goal)}, CPU {_verdict(cpu_ratio, goal)}"
            ]
            if tool in MEMORY_TARGETS:
                parts.append(
                    f"MB <= {MEMORY_TARGETS[tool]}: {_verdict(m_ratio, MEMORY_TARGETS[tool])}"
                )
            target = "; ".join(parts)
        is_ff = tool == "featcf"
        rows.append([
            size, f"{task}-{task}", tool, str(len(res["times"])), _fmt_s(res["median"]),
            "" if is_ff else _fmt_ratio(t_ratio),
            _fmt_s(res["cpu_median"]), "" if is_ff else _fmt_ratio(_ratio(ff, res, "cpu_median")),
            _fmt_mb(res["peak_mb"]) + ("" if res["exact_peak"] else "*"),
            "" if is_ff else _fmt_ratio(m_ratio),
            f"{res['overlap']:.4f}", f"{res['recall']:.4f}", f"{res['load']:.1f}", target,
        ])  # fmt: skip
    return rows


def _jit_section(say: Any, ml_path: Path, k: int, threads: int, cold: bool) -> None:
    path = str(_item_matrix(ml_path))
    rows = []
    if cold:
        with tempfile.TemporaryDirectory(prefix="featcf-numba-cache-") as cache:
            res = run_in_child(_jit_child, path, k, threads, env={"NUMBA_CACHE_DIR": cache})
        rows.append(["empty (compiles)", res])
    rows.append(["on disk (loads)", run_in_child(_jit_child, path, k, threads)])
    say("## featcf JIT compile time (MovieLens 100k item-item, fresh processes)")
    say()
    say(markdown_table(
        ["numba cache", "import featcf.similarity s", "first call s", "later calls s (median of 3)"],
        [[name, f"{r['import_s']:.3f}", f"{r['first_s']:.3f}", f"{r['later_s']:.4f}"]
         for name, r in rows],
    ))  # fmt: skip
    say()
    print("JIT: " + ", ".join(f"{name}: first call {r['first_s']:.2f} s" for name, r in rows)
          + f", later {rows[-1][1]['later_s']:.4f} s", flush=True)  # fmt: skip


def _item_matrix(ml_path: Path) -> Path:
    path = ml_path.with_name("ml100k_items.npz")
    if not path.exists():
        M = load_csr(ml_path).T.tocsr()
        M.sort_indices()
        save_csr(path, M)
    return path


def _serving_section(say: Any, ml_path: Path, k: int, passes: int) -> None:
    n = 10
    res = run_in_child(_serving_child, str(ml_path), k, n, passes)
    imp = res["implicit"]["median_us"]
    rows = []
    for name in (
        "featcf",
        "featcf (topn_scores_user, check_input=False)",
        "featcf (topn_scores_user, check_input=True)",
        "implicit",
    ):
        r = res[name]
        ratio = "" if name == "implicit" else f"{r['median_us'] / imp:.2f}"
        target = ""
        if name == "featcf":
            target = "median <= implicit: " + ("met" if r["median_us"] <= imp else "missed")
        rows.append(
            [name, f"{r['median_us']:.1f}", f"{r['p99_us']:.1f}", ratio, f"{r['load']:.1f}", target]
        )
    say(f"## Serving: one user's top-{n} on MovieLens 100k (item-item cosine, k={k}), 1 thread")
    say()
    say(
        markdown_table(
            ["tool", "median us", "p99 us", "featcf / implicit (median)", "load", "target"],
            rows,
        )
    )
    say()
    say(f"{res['n_users']} users x {res['passes']} passes after a warm pass, one call per user "
        "timed with perf_counter_ns; the user's history row is sliced before the timing "
        "(implicit gets `user_items[userid]`, featcf its indices and values). featcf: "
        f"`scorer.top_n(items, {n}, weights=values)` with `scorer = NeighbourScorer(neighbours)` "
        "built once (the documented serving path: neighbour lists validated and copied at "
        "construction, scratch reused, history indices, weights and n checked on every call); "
        f"the `topn_scores_user` rows are the one-off function (per-call scratch; "
        "check_input=True adds the O(nnz) validation of the neighbours). implicit: "
        f"`recommend(userid, user_items[userid], N={n})` with `CosineRecommender(K={k + 1})` "
        "(self-neighbour cancels out: seen items are filtered). \"load\": 1-minute load "
        f"average after the row's timings ({res['load_before']:.1f} before the first). Same "
        f"top-{n} item set for {res['same_top_n']:.1%} of users (ties may be broken "
        f"differently). featcf: `NeighbourScorer(neighbours)` {res['prepare_s'] * 1e3:.2f} ms, "
        f"first `top_n` call in the process (JIT load/compile) {res['first_call_s']:.2f} s.")  # fmt: skip
    say()
    print(
        f"serving: featcf {res['featcf']['median_us']:.1f} us median, implicit {imp:.1f} us",
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
