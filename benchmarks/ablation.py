"""Benchmark: FeatureCF with each term dropped in turn, per protocol, over split seeds.

``python benchmarks/ablation.py`` fits ``FeatureCF(exclude_terms=(term,))`` (the term's weight
held at 0 for every band and for new items, the other weights learned as usual) for every
term of the data set's model, next to the full model, on the protocols of
``benchmarks/accuracy.py`` (same splits, same seeds, same evaluation; see its docstring), and
reports per protocol the mean over the seeds of the main metric (nDCG@10 on MovieLens,
nDCG@3 on CoIL; AUC for cold items, where the ranking is over the cold items only) and the
paired bootstrap 95% interval of *full minus dropped* (per-user values paired on the same
split, users resampled within each seed, averaged over seeds). A term *pays for itself* on a
protocol when that interval lies above 0; a term that pays on no protocol is a candidate for
removal.

Outputs ``benchmarks/results/ablation.md`` (``--out-dir`` to change; ``--quick``: seed 0
only, prints only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import accuracy as acc  # noqa: E402
from _common import command_line, machine_info, markdown_table  # noqa: E402
from _paired import N_RESAMPLES  # noqa: E402

FULL = "full"
PROTOCOLS = {
    "ml": (
        "warm (random 20%)",
        "cold items (20% of items)",
        "cold users, 0 interactions",
        "given 1",
        "given 3",
    ),
    "coil": ("cold users, 0 interactions", "given 1", "given 3"),
}


def model_terms(ds: Any) -> list[str]:
    """The term names FeatureCF's default fit has on ``ds``."""
    from featcf.models.feature_cf._terms import term_names

    return term_names(
        list(ds.item_fields),
        ease=0 < ds.n_items <= 5000,
        rating=False,
        demographics=ds.user_features is not None,
    )


def variants(terms: list[str], seed: int) -> dict[str, Any]:
    from featcf.models import FeatureCF

    def make(exclude: tuple[str, ...]) -> Any:
        return lambda: FeatureCF(random_state=seed, show_progress=False, exclude_terms=exclude)

    out = {FULL: make(())}
    out.update({f"- {t}": make((t,)) for t in terms})
    return out


def split_for(ds: Any, protocol: str, seed: int) -> Any:
    from featcf.evaluation import split_cold_items, split_cold_users, split_random

    if protocol.startswith("warm"):
        return split_random(ds, 0.2, random_state=seed)
    if protocol.startswith("cold items"):
        return split_cold_items(ds, 0.2, random_state=seed)
    k = 0 if protocol.startswith("cold users") else int(protocol.split()[-1])
    return split_cold_users(ds, 0.2, random_state=seed, reveal=k)


def main_metric(dataset: str, protocol: str) -> str:
    return "auc" if protocol.startswith("cold items") else f"ndcg@{acc.MAIN_K[dataset]}"


def report(results: list[Any], seeds: tuple[int, ...], elapsed: float, path: Path) -> None:
    info = machine_info(("numpy", "scipy", "numba", "pandas"))
    lines = [
        "# FeatureCF ablation",
        "",
        f"Command: `{command_line()}` -- run time {elapsed / 60:.1f} min, split seeds "
        f"{', '.join(map(str, seeds))}, load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()),
        "",
        "Each row drops one term (`exclude_terms=(term,)`: its weight held at 0, the others "
        "learned as usual). Cells: mean over the seeds of the protocol's main metric, then "
        f"*full minus dropped* with its paired bootstrap 95% interval ({N_RESAMPLES} "
        "resamples of users within each seed). **bold**: the interval lies above 0 (the "
        "term pays for itself there); _italic_: below 0 (the model is better without it).",
        "",
    ]
    for dataset in dict.fromkeys(r.dataset for r in results):
        rs = [r for r in results if r.dataset == dataset]
        protocols = list(dict.fromkeys(r.protocol for r in rs))
        names = list(dict.fromkeys(r.model for r in rs))
        headers = ["variant", *[f"{p} ({main_metric(dataset, p)})" for p in protocols]]
        rows, pays = [], {}
        for name in names:
            row = [name]
            for p in protocols:
                r = next(x for x in rs if x.model == name and x.protocol == p)
                metric = main_metric(dataset, p)
                cell = acc.fmt(r.values.get(metric))
                diff = r.diffs.get(metric)
                if diff is not None:
                    text = acc.fmt_diff(diff)
                    if diff[1] > 0:
                        text = f"**{text}**"
                        pays.setdefault(name, []).append(p)
                    elif diff[2] < 0:
                        text = f"_{text}_"
                    cell += f" ({text})"
                row.append(cell)
            rows.append(row)
        never = [n for n in names if n != FULL and n not in pays]
        lines += [f"## {dataset}", "", markdown_table(headers, rows), ""]
        lines += [
            "Terms that pay for themselves on some protocol: "
            + (", ".join(f"`{n[2:]}` ({'; '.join(pays[n])})" for n in pays) or "none")
            + ".",
            "",
            "Terms that pay on no protocol here: "
            + (", ".join(f"`{n[2:]}`" for n in never) or "none")
            + ".",
            "",
        ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed 0 only, prints only")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", nargs="+", default=["ml", "coil"], choices=["ml", "coil"])
    parser.add_argument("--protocols", default=None, help="comma-separated protocol prefixes")
    parser.add_argument("--terms", default=None, help="comma-separated terms to drop (all)")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    seeds = (0,) if args.quick else tuple(int(x) for x in args.seeds.split(","))
    out_dir = args.out_dir if args.out_dir is not None else (None if args.quick else acc.RESULTS)
    if not (acc.SHARED_DATA / "ml-100k").is_dir():
        print(f"skipped: {acc.SHARED_DATA} is absent")
        return 0
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore", message="Method expects CSR input")
    started = time.perf_counter()
    names = {"ml": "MovieLens 100k", "coil": "CoIL 2000"}
    raw: list[Any] = []
    with threadpool_limits(1, "blas"):
        data = acc.load_data()
        for seed in seeds:
            for key in args.datasets:
                ds = data[names[key]]
                terms = model_terms(ds)
                if args.terms is not None:
                    terms = [t for t in terms if t in args.terms.split(",")]
                factories = variants(terms, seed)
                for protocol in PROTOCOLS[key]:
                    if args.protocols and not protocol.startswith(tuple(args.protocols.split(","))):
                        continue
                    acc.log(f"== seed {seed} | {names[key]} | {protocol}")
                    split = split_for(ds, protocol, seed)
                    ks = acc.KS[names[key]]
                    raw += acc.run_split(names[key], protocol, split, factories, ks, seed)
            if out_dir is not None:  # after every seed: a run cut short still leaves a table
                done = seeds[: seeds.index(seed) + 1]
                out_dir.mkdir(parents=True, exist_ok=True)
                elapsed = time.perf_counter() - started
                report(acc.aggregate(raw, reference=FULL), done, elapsed, out_dir / "ablation.md")
                acc.log(f"wrote {out_dir / 'ablation.md'} (seeds {done})")
    elapsed = time.perf_counter() - started
    results = acc.aggregate(raw, reference=FULL)
    for r in results:
        metric = main_metric(r.dataset, r.protocol)
        acc.log(
            f"{r.dataset} | {r.protocol} | {r.model}: {acc.fmt(r.values.get(metric))} "
            f"{acc.fmt_diff(r.diffs.get(metric))}"
        )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        report(results, seeds, elapsed, out_dir / "ablation.md")
        acc.log(f"wrote {out_dir / 'ablation.md'}")
    acc.log(f"total {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
