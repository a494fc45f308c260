"""Benchmark: what the first ``featcf demo`` after install spends compiling numba kernels.

featcf's kernels are ``@njit(cache=True)``: they compile on first use and later processes
load them from numba's on-disk cache. This script measures that first-use cost in three
ways, each in fresh processes with an empty cache (``NUMBA_CACHE_DIR`` set to a new
temporary folder, so nothing beside the installed sources is used or touched):

1. **Per kernel.** The demo's calls (``featcf.demo.run_demo``, JSON mode, output discarded)
   run under a listener of numba's ``"numba:compile"`` events. Every compilation of a featcf
   dispatcher is one record: kernel, argument types, wall and CPU seconds of the calling
   thread. Times are *exclusive*: a featcf kernel compiled while another compiles (a callee
   such as ``heap_push``) is subtracted from its caller and listed on its own row; numba's
   own helpers compiled on the way (``np.sort``, ``np.full``, ...) stay in the featcf kernel
   that needed them. The first compilation of a process also pays numba's start-up
   (LLVM and target initialisation, about 0.3 s), which lands on whichever kernel is first.
   With ``--repeats R`` each kernel's figure is the median over R runs.
2. **First run.** ``PYTHON -m featcf demo`` as a whole process, cold (a new empty cache each
   run) and warm (the same command again with the cache the cold run left): wall seconds,
   CPU seconds (user + system of the process, from ``getrusage``; a busy machine inflates
   them far less than the wall time) and the 1-minute load average read just before each
   run. With ``--baseline-python`` a
   second install (e.g. an earlier revision, installed in its own venv) runs in turn with
   the first (A B A B ...), so the two are compared under the same load.
3. **Import.** ``PYTHON -X importtime -c "import featcf"``: featcf's cumulative import time
   (kernels must not compile, nor numba load, at import).

``--python`` defaults to this interpreter; for an honest "after install" figure point it at
a venv with a non-editable ``pip install`` of the revision to measure (``--label`` names it
in the tables, e.g. by its commit). Run
``python benchmarks/compile_times.py`` (about 10 minutes on 2 cores with a baseline, 3
repeats) or ``--quick`` (one repeat; per-kernel table and one cold and one warm run). The
tables go to stdout and to ``benchmarks/results/compile_times.md`` (``--output``, ``-``
for none) with the machine, versions and command.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, results_header, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "compile_times.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one repeat of everything")
    p.add_argument("--repeats", type=int, default=None, help="runs per figure (default 3)")
    p.add_argument("--python", type=str, default=sys.executable, help="interpreter to measure")
    p.add_argument("--baseline-python", type=str, default=None, help="interpreter to compare")
    p.add_argument("--label", default="current", help="name of --python's install in the tables")
    p.add_argument("--baseline-label", default="baseline", help="name of the baseline install")
    p.add_argument("--customers", type=int, default=2000, help="demo shop size (default 2000)")
    p.add_argument("--top", type=int, default=25, help="rows of the per-kernel table")
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    p.add_argument("--profile-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


# --------------------------------------------------------------------------- per kernel


def profile_demo(customers: int, out: Path) -> None:
    """Child process: run the demo under a compile-event listener; write records as JSON."""
    from numba.core import event

    def is_featcf(dispatcher: Any) -> bool:
        return getattr(dispatcher, "py_func", None) is not None and (
            dispatcher.py_func.__module__.startswith("featcf.")
        )

    class Recorder(event.Listener):
        def __init__(self) -> None:
            self.stack: list[list[Any]] = []
            self.records: list[dict[str, Any]] = []

        def on_start(self, ev: event.Event) -> None:
            self.stack.append(
                [ev.data["dispatcher"], time.perf_counter(), time.thread_time(), 0.0, 0.0]
            )

        def on_end(self, ev: event.Event) -> None:
            dispatcher, w0, c0, child_w, child_c = self.stack.pop()
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            if not is_featcf(dispatcher):
                return  # numba's own helpers stay in the featcf kernel that needed them
            for frame in reversed(self.stack):
                if is_featcf(frame[0]):
                    frame[3] += wall
                    frame[4] += cpu
                    break
            func = dispatcher.py_func
            self.records.append(
                {
                    "kernel": f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}",
                    "parallel": bool(dispatcher.targetoptions.get("parallel", False)),
                    "signature": ", ".join(str(t) for t in ev.data["args"]),
                    "wall": wall - child_w,
                    "cpu": cpu - child_c,
                }
            )

    from featcf.demo import run_demo

    recorder = Recorder()
    t0 = time.perf_counter()
    with (
        event.install_listener("numba:compile", recorder),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        run_demo(n_customers=customers, as_json=True)
    out.write_text(json.dumps({"records": recorder.records, "demo_s": time.perf_counter() - t0}))


def run_profile(python: str, customers: int) -> dict[str, Any]:
    """One cold per-kernel profile of ``python``'s featcf (a fresh cache folder)."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        cmd = [python, __file__, "--profile-child", str(out), "--customers", str(customers)]
        subprocess.run(cmd, check=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})
        return json.loads(out.read_text())


def kernel_table(profiles: list[dict[str, Any]], top: int) -> tuple[str, dict[str, float]]:
    """Per-kernel medians over the profiles (a markdown table) and the totals."""
    per_run: list[dict[str, dict[str, Any]]] = []
    for prof in profiles:
        kernels: dict[str, dict[str, Any]] = {}
        for r in prof["records"]:
            k = kernels.setdefault(
                r["kernel"], {"parallel": r["parallel"], "sigs": set(), "cpu": 0.0, "wall": 0.0}
            )
            k["sigs"].add(r["signature"])
            k["cpu"] += r["cpu"]
            k["wall"] += r["wall"]
        per_run.append(kernels)
    names = sorted({name for run in per_run for name in run})

    def median(name: str, key: str) -> float:
        return statistics.median(run[name][key] if name in run else 0.0 for run in per_run)

    rows = []
    for name in names:
        first = next(run[name] for run in per_run if name in run)
        rows.append((median(name, "cpu"), median(name, "wall"), name, first))
    rows.sort(key=lambda r: -r[0])
    total_cpu, total_wall = sum(r[0] for r in rows), sum(r[1] for r in rows)
    table_rows = [
        [
            name,
            "parallel" if k["parallel"] else "serial",
            len(k["sigs"]),
            f"{cpu:.2f}",
            f"{wall:.2f}",
        ]
        for cpu, wall, name, k in rows[:top]
    ]
    if len(rows) > top:
        rest = rows[top:]
        table_rows.append([f"({len(rest)} more)", "", sum(len(r[3]["sigs"]) for r in rest),
                           f"{sum(r[0] for r in rest):.2f}", f"{sum(r[1] for r in rest):.2f}"])  # fmt: skip
    n_sigs = sum(len(r[3]["sigs"]) for r in rows)
    table_rows.append(["**total**", "", n_sigs, f"**{total_cpu:.1f}**", f"**{total_wall:.1f}**"])
    table = markdown_table(
        ["kernel", "kind", "specialisations", "compile CPU s", "compile wall s"], table_rows
    )
    totals = {
        "cpu": total_cpu,
        "wall": total_wall,
        "kernels": len(rows),
        "specialisations": n_sigs,
        "demo_s": statistics.median(p["demo_s"] for p in profiles),
    }
    return table, totals


# --------------------------------------------------------------------------- whole process


def timed_demo(python: str, customers: int, cache: str) -> tuple[float, float, float]:
    """``python -m featcf demo`` with ``cache`` as numba's cache folder: wall seconds, CPU
    seconds (user + system of the child, which a busy machine inflates much less) and the
    1-minute load average before the run."""
    load = os.getloadavg()[0]
    cmd = [python, "-m", "featcf", "demo", "--customers", str(customers)]
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, load


def first_runs(pythons: dict[str, str], customers: int, repeats: int) -> dict[str, dict]:
    """Cold then warm demo runs per install, the installs in turn within each repeat."""
    runs: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        label: {"cold": [], "warm": []} for label in pythons
    }
    for i in range(repeats):
        for label, python in pythons.items():
            with tempfile.TemporaryDirectory() as cache:
                for state in ("cold", "warm"):
                    wall, cpu, load = timed_demo(python, customers, cache)
                    runs[label][state].append((wall, cpu, load))
                    print(f"  run {i + 1}/{repeats} {label:<8} {state}: {wall:5.1f} s wall, "
                          f"{cpu:5.1f} s CPU (load {load:.2f})", flush=True)  # fmt: skip
    return runs


def import_seconds(python: str) -> float:
    """featcf's cumulative import time in seconds (``-X importtime``, median of 3)."""
    found = []
    for _ in range(3):
        proc = subprocess.run(
            [python, "-X", "importtime", "-c", "import featcf"],
            check=True,
            capture_output=True,
            text=True,
        )
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*featcf$", line)
            if m:
                found.append(int(m.group(1)) / 1e6)
    return statistics.median(found)


def spread(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def first_run_table(runs: dict[str, dict], imports: dict[str, float]) -> str:
    rows = []
    for label, states in runs.items():
        for state in ("cold", "warm"):
            walls = [wall for wall, _, _ in states[state]]
            cpus = [cpu for _, cpu, _ in states[state]]
            loads = ", ".join(f"{load:.2f}" for _, _, load in states[state])
            rows.append([label, state, len(walls), spread(walls), spread(cpus), loads])
    table = markdown_table(
        ["install", "cache", "runs", "wall s (min / median / max)", "CPU s (min / median / max)",
         "load avg before each run"],
        rows,
    )  # fmt: skip
    imp = markdown_table(
        ["install", "`import featcf` s (-X importtime, cumulative)"],
        [[label, f"{seconds:.3f}"] for label, seconds in imports.items()],
    )
    return f"{table}\n\n{imp}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile_child is not None:
        profile_demo(args.customers, args.profile_child)
        return 0
    load_before = os.getloadavg()
    pythons = {args.label: args.python}
    if args.baseline_python:
        pythons = {args.baseline_label: args.baseline_python, **pythons}
    tables = {}
    for label, python in pythons.items():
        profiles = []
        for i in range(args.repeats):
            profiles.append(run_profile(python, args.customers))
            print(f"  profile {i + 1}/{args.repeats} {label}: {profiles[-1]['demo_s']:.1f} s",
                  flush=True)  # fmt: skip
        tables[label] = kernel_table(profiles, args.top)
        table, totals = tables[label]
        print(f"\n{label}: {totals['kernels']} kernels, {totals['specialisations']} "
              f"specialisations, {totals['cpu']:.1f} s CPU compiling\n{table}\n")  # fmt: skip
    runs = first_runs(pythons, args.customers, args.repeats)
    imports = {label: import_seconds(python) for label, python in pythons.items()}
    runs_table = first_run_table(runs, imports)
    print(runs_table)
    if str(args.output) != "-":
        lines = [
            *results_header(
                "Compile times: the first `featcf demo` after install",
                ("numpy", "scipy", "numba", "llvmlite", "featcf"),
                load_before,
            ),
            f"Interpreters: {', '.join(f'{k} `{v}`' for k, v in pythons.items())}; demo shop "
            f"of {args.customers} customers; {args.repeats} run(s) per figure.",
            "",
        ]
        for label, (table, totals) in tables.items():
            lines += [
                f"## Per kernel ({label}), cold cache, median of {args.repeats}",
                "",
                f"{totals['kernels']} kernels, {totals['specialisations']} specialisations, "
                f"{totals['cpu']:.1f} s CPU ({totals['wall']:.1f} s wall) compiling in a demo "
                f"that took {totals['demo_s']:.1f} s in all (in-process, median).",
                "",
                table,
                "",
            ]
        lines += ["## First run: `python -m featcf demo`, whole process", "", runs_table, ""]
        write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
