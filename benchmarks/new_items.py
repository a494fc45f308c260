"""Diagnosis: do FeatureCF's new-item weights limit its accuracy on products without interactions?

Items without interactions are scored with their own weight vector (``cold_item_weights_``),
learned in the fit from validation rounds that hide groups of items (``_split``,
``_weights.learn_weights``). On CoIL 2000 (22 products) these weights were suspected of
not carrying to the test products. This script fits FeatureCF as ``accuracy.py`` does
(``random_state`` = split seed), records what the weight learning saw, computes every
free term for the test users on the cold items, and scores the cold items under several
weightings of the same terms, for three protocols of ``accuracy.py``:

- ``CoIL cold items``: ``split_cold_items(coil, 0.2)``, per-customer AUC over the cold items;
- ``CoIL new product LOO``: each product made cold in turn, the AUC of the customers ranked
  for it (one unit per product);
- ``MovieLens cold items``: ``split_cold_items(ml, 0.2)``, per-user AUC over the cold items.

Weightings (every row but the last two is a rule FeatureCF could use; AUC depends only on
the direction of the vector, the affine map of new items is monotone):

- ``learned``: the fitted ``cold_item_weights_`` (what FeatureCF serves);
- ``uniform``: 1 on every free term (``weights="uniform"``);
- ``cf alone``: the content similarity of the item to the history alone (ContentKNN-like);
- ``bagged``: the hidden-item losses of the fit re-minimised on 8 bootstrap resamples of
  the validation users, the weight shares averaged;
- ``shrunk``: the learned shares pulled towards uniform shares over the terms that vary on
  hidden items, with weight ``5 / (5 + hidden validation items)`` (small catalogues lean on
  the prior);
- ``selected``: the learned weights unless uniform weights or a term alone rank the hidden
  validation items' audiences (per-item AUC) better by two paired standard errors;
- ``split optimum (test)``: the same losses minimised on each split's *test* units;
- ``shared optimum (test)``: one vector minimising them on all test units of the protocol.

The two ``(test)`` rows look at the test part and are **diagnostics only**: they show
what re-weighting these terms reaches in sample (the losses' optimum, not the AUC's: a
search of the AUC itself gets somewhat higher, see the results file). Intervals are paired
bootstraps against ``learned`` (``_paired.py``) over the units (customers or products);
for CoIL cold items the customers of a split share 4 cold products, so those intervals
understate the noise between splits: read the per-seed values.

Run ``python benchmarks/new_items.py`` (defaults: CoIL cold items on seeds 0-11, the
leave-one-out on seed 0, MovieLens cold items on seeds 0-2; about 25 min on 2 busy
cores). FeatureCF's private validation flow is wrapped to record its inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, results_header, write_results  # noqa: E402
from _paired import paired_interval  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "new_items.md"
N_BAGS = 8
SHRINK_ITEMS = 5.0
GUARD_SE = 2.0
L2 = 1e-4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coil-seeds", default="0,1,2,3,4,5,6,7,8,9,10,11")
    p.add_argument("--loo-seeds", default="0", help="random states of the leave-one-out")
    p.add_argument("--ml-seeds", default="0,1,2")
    p.add_argument("--quick", action="store_true", help="CoIL seeds 0-2, 5 products, no ML")
    p.add_argument(
        "--random-states",
        default="",
        help="instead: CoIL cold items on split seed 0, these model random states",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    if args.quick:
        args.coil_seeds, args.ml_seeds = "0,1,2", ""
    for key in ("coil_seeds", "loo_seeds", "ml_seeds", "random_states"):
        setattr(args, key, [int(v) for v in getattr(args, key).split(",") if v.strip()])
    return args


@dataclass
class Case:
    """One fitted split: the validation blocks, the test terms and the truth."""

    seed: int
    names: list[str]
    mask: np.ndarray
    blocks: list[Any]
    plan: Any
    learned: np.ndarray
    #: scaled free terms of the test users on the cold items (n_free, n_users, n_cold)
    terms: np.ndarray
    #: truth (n_users, n_cold) and the axis ranked: 1 per user over items, 0 per item
    pos: np.ndarray
    axis: int


@contextmanager
def recorded_validation() -> Iterator[dict[str, Any]]:
    """What ``learn_weights`` receives during the fits inside the block."""
    import featcf.models.feature_cf._weights as weights_module

    box: dict[str, Any] = {}
    original = weights_module.learn_weights

    def recording(samples, names, scale, plan, *rest, **options):  # type: ignore[no-untyped-def]
        box["args"] = (samples, list(names), scale, plan)
        return original(samples, names, scale, plan, *rest, **options)

    weights_module.learn_weights = recording
    try:
        yield box
    finally:
        weights_module.learn_weights = original


def fit_case(split: Any, seed: int, users: np.ndarray, pos: np.ndarray, axis: int) -> Case:
    """Fit FeatureCF on ``split.train`` and record one :class:`Case`."""
    from featcf.evaluation import score_split
    from featcf.models import FeatureCF
    from featcf.models.feature_cf._weights import _blocks, free_terms

    with recorded_validation() as box:
        model = FeatureCF(random_state=seed, show_progress=False).fit(split.train)
    samples, names, scale, plan = box["args"]
    mask = free_terms(names, plan.include_cf, plan.exclude)
    fitted = model._fitted
    terms = []
    for t in np.flatnonzero(mask):  # each term alone, no affine map: the scaled term
        w = np.zeros(len(names))
        w[t] = 1.0
        weights = replace(fitted.weights, cold=w, cold_affine=np.array([0.0, 1.0]))
        model._fitted = replace(fitted, weights=weights)
        terms.append(score_split(model, split, users=users, items=split.cold_items))
    model._fitted = fitted
    return Case(
        seed, names, mask, _blocks(samples, mask, scale), plan,
        model.cold_item_weights_[mask].copy(), np.stack(terms).astype(np.float32), pos, axis,
    )  # fmt: skip


def coil_cold_cases(ds: Any, seeds: list[int], split_seed: int | None = None) -> list[Case]:
    """One case per seed; with ``split_seed``, one split and ``seeds`` as random states."""
    from featcf.evaluation import split_cold_items

    out = []
    for seed in seeds:
        split = split_cold_items(ds, 0.2, random_state=seed if split_seed is None else split_seed)
        out.append(_per_user_case(split, seed))
        print(f"  cold items seed {seed}", flush=True)
    return out


def _per_user_case(split: Any, seed: int) -> Case:
    test = sp.csr_matrix(split.test.interactions[:, split.cold_items])
    users = np.flatnonzero(np.diff(test.indptr))
    users = users[split.train.user_counts()[users] > 0]
    return fit_case(split, seed, users, test[users].toarray() > 0, axis=1)


def loo_cases(ds: Any, seeds: list[int], products: np.ndarray) -> list[Case]:
    from featcf.evaluation import split_cold_items

    out = []
    for seed in seeds:
        for p in products:
            split = split_cold_items(ds, items=[int(p)])
            owners = (split.test.user_counts() > 0)[:, None]
            out.append(fit_case(split, seed, np.arange(ds.n_users), owners, axis=0))
            print(f"  LOO seed {seed} product {ds.item_ids[p]}", flush=True)
    return out


# ---------------------------------------------------------------------- the weightings
def auc_units(z: np.ndarray, pos: np.ndarray, blocked: np.ndarray | None, axis: int) -> np.ndarray:
    """AUC per user (``axis=1``) or per item (``axis=0``) of the scores ``z``."""
    from featcf.metrics import auc

    if axis == 0:
        z, pos = z.T, pos.T
        blocked = None if blocked is None else blocked.T
    blocked = np.zeros_like(pos) if blocked is None else blocked
    keep = pos.any(axis=1) & (~pos & ~blocked).any(axis=1)
    if not keep.any():
        return np.zeros(0)
    return auc(
        np.where(blocked[keep], -np.inf, z[keep]),
        sp.csr_matrix(pos[keep], dtype=np.float64),
        sp.csr_matrix(blocked[keep], dtype=np.float64),
    )


def test_units(case: Case, w: np.ndarray) -> np.ndarray:
    z = np.tensordot(np.asarray(w, dtype=np.float32), case.terms, axes=1)
    return auc_units(z, case.pos, None, case.axis)


def cold_parts(blocks: list[Any]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(tag, scaled, pos, blocked) of the hidden-item columns of the validation blocks."""
    out = []
    for b in blocks:
        if b.cold_cols.any():
            c = b.cold_cols
            out.append(
                (b.tag, np.ascontiguousarray(b.scaled[:, :, c]), b.pos[:, c], b.blocked[:, c])
            )
    return out


def learn_cold(parts: list[tuple], plan: Any, user_share: float = 1.0, item_share: float = 0.5):
    """The hidden-item losses of ``learn_weights`` (per user and per item) minimised alone."""
    from scipy.optimize import minimize

    from featcf.models.feature_cf._losses import softmax_loss

    n_pos = max(sum(int(p.sum()) for _, _, p, _ in parts), 1)
    rows = max(sum(int(p.any(axis=1).sum()) for _, _, p, _ in parts), 1)
    n_free = parts[0][1].shape[1]

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(n_free)
        for tag, scaled, pos, blocked in parts:
            z = np.matmul(w.astype(np.float32), scaled)
            g = np.zeros_like(z)
            if user_share:
                flags = tag >= plan.set_loss_min_band
                loss, gz = softmax_loss(z, pos, blocked, 1, flags, n_pos / rows)
                total, g = total + user_share * loss, g + user_share * gz
            if item_share:
                loss, gz = softmax_loss(z, pos, blocked, 0)
                total, g = total + item_share * loss, g + item_share * gz
            grad += np.einsum("utc,uc->t", scaled, g)
        return total / n_pos + L2 * float(w @ w), grad / n_pos + 2 * L2 * w

    res = minimize(objective, np.full(n_free, 0.5), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * n_free)  # fmt: skip
    return np.maximum(res.x, 0.0)


def _shares(w: np.ndarray) -> np.ndarray:
    return w / max(float(w.sum()), 1e-12)


def bagged(case: Case) -> np.ndarray:
    rng = np.random.default_rng(case.seed)
    parts = cold_parts(case.blocks)
    bags = []
    for _ in range(N_BAGS):
        resampled = []
        for tag, scaled, pos, blocked in parts:
            r = np.sort(rng.integers(0, len(tag), len(tag)))
            resampled.append((tag[r], scaled[r], pos[r], blocked[r]))
        bags.append(_shares(learn_cold(resampled, case.plan)))
    return np.mean(bags, axis=0)


def varying(case: Case) -> np.ndarray:
    out = np.zeros(int(case.mask.sum()), dtype=bool)
    for _, scaled, _, _ in cold_parts(case.blocks):
        out |= (np.ptp(scaled, axis=2) > 1e-6).any(axis=0)  # over a user's items
        out |= (np.ptp(scaled, axis=0) > 1e-6).any(axis=1)  # over an item's users
    return out


def shrunk(case: Case) -> np.ndarray:
    vary = varying(case)
    n_hidden = sum(p.shape[1] for _, _, p, _ in cold_parts(case.blocks))
    lam = SHRINK_ITEMS / (SHRINK_ITEMS + n_hidden)
    return (1 - lam) * _shares(case.learned * vary) + lam * _shares(vary.astype(float))


def selected(case: Case) -> np.ndarray:
    parts = cold_parts(case.blocks)

    def units(w: np.ndarray) -> np.ndarray:
        w32 = w.astype(np.float32)
        return np.concatenate(
            [auc_units(np.matmul(w32, s), p, b, 0) for _, s, p, b in parts] or [np.zeros(0)]
        )

    vary = varying(case)
    base = units(case.learned)
    best, gain = case.learned, 0.0
    for cand in [vary.astype(float), *np.eye(len(vary))[vary]]:
        d = units(cand) - base
        if len(d) < 2:
            continue
        se = float(d.std(ddof=1) / np.sqrt(len(d)))
        if d.mean() > GUARD_SE * se and d.mean() > gain:
            best, gain = cand, float(d.mean())
    return best


def test_optimum(cases: list[Case]) -> np.ndarray:
    parts = []
    for c in cases:
        scaled = np.ascontiguousarray(c.terms.transpose(1, 0, 2))
        parts.append((np.zeros(len(c.pos), np.int64), scaled, c.pos, np.zeros_like(c.pos)))
    per_user = cases[0].axis == 1
    return learn_cold(parts, cases[0].plan, float(per_user), float(not per_user))


def weightings(cases: list[Case]) -> dict[str, Callable[[Case], np.ndarray]]:
    shared = test_optimum(cases)

    def alone(name: str) -> Callable[[Case], np.ndarray]:
        return lambda c: np.eye(int(c.mask.sum()))[list(np.array(c.names)[c.mask]).index(name)]

    return {
        "learned": lambda c: c.learned,
        "uniform": lambda c: np.ones(int(c.mask.sum())),
        "cf alone": alone("cf"),
        "bagged": bagged,
        "shrunk": shrunk,
        "selected": selected,
        "split optimum (test)": lambda c: test_optimum([c]),
        "shared optimum (test)": lambda c: shared,
    }


def table(cases: list[Case]) -> tuple[str, dict[str, np.ndarray]]:
    """The markdown table of one protocol, and the mean learned / shared weight shares."""
    rules = weightings(cases)
    seeds = sorted({c.seed for c in cases})
    values: dict[str, dict[int, list[np.ndarray]]] = {k: {s: [] for s in seeds} for k in rules}
    chosen: dict[str, list[np.ndarray]] = {k: [] for k in rules}
    for case in cases:
        for name, rule in rules.items():
            w = rule(case)
            chosen[name].append(_shares(np.asarray(w, dtype=np.float64)))
            values[name][case.seed].append(test_units(case, w))
    rows = []
    for name in rules:
        per_seed = [np.concatenate(values[name][s]) for s in seeds]
        ref = [np.concatenate(values["learned"][s]) for s in seeds]
        means = [float(np.nanmean(v)) for v in per_seed]
        est, lo, hi = paired_interval(per_seed, ref)
        rows.append([name, f"{np.mean(means):.4f}", " / ".join(f"{m:.3f}" for m in means),
                     "-" if name == "learned" else f"{est:+.4f} [{lo:+.4f}, {hi:+.4f}]"])  # fmt: skip
    headers = ["weighting", "mean AUC", "per seed", "row - learned [95%]"]
    return markdown_table(headers, rows), {k: np.mean(v, axis=0) for k, v in chosen.items()}


def weight_table(cases: list[Case], shares: dict[str, np.ndarray]) -> str:
    names = np.array(cases[0].names)[cases[0].mask]
    spread = np.std([_shares(c.learned) for c in cases], axis=0)
    keep = (shares["learned"] > 0.01) | (shares["shared optimum (test)"] > 0.01)
    rows = [[n, f"{shares['learned'][i]:.3f}", f"{spread[i]:.3f}",
             f"{shares['shared optimum (test)'][i]:.3f}"] for i, n in enumerate(names) if keep[i]]  # fmt: skip
    return markdown_table(
        ["term", "learned share (mean)", "sd over splits", "shared optimum"], rows
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import accuracy

    if not (accuracy.SHARED_DATA / "coil2000").is_dir():
        print(f"CoIL 2000 not found in {accuracy.SHARED_DATA}: nothing to diagnose")
        return 0
    load_before = os.getloadavg()
    data = accuracy.load_data()
    coil = data["CoIL 2000"]
    products = np.arange(coil.n_items)[: 5 if args.quick else coil.n_items]
    from featcf.evaluation import split_cold_items

    protocols: list[tuple[str, list[Case]]] = []
    if args.random_states:  # the spread over random_state alone, on one split
        title = "CoIL 2000 cold items (20%), split seed 0; per seed = per random_state"
        protocols.append((title, coil_cold_cases(coil, args.random_states, split_seed=0)))
        args.coil_seeds, args.loo_seeds, args.ml_seeds, products = [], [], [], []
    print("CoIL 2000 cold items", flush=True)
    if args.coil_seeds:
        cases = coil_cold_cases(coil, args.coil_seeds)
        protocols.append(("CoIL 2000 cold items (20%)", cases))
    if args.loo_seeds:
        print("CoIL 2000 new-product leave-one-out", flush=True)
        protocols.append(("CoIL 2000 new product LOO", loo_cases(coil, args.loo_seeds, products)))
    if args.ml_seeds:
        print("MovieLens 100k cold items", flush=True)
        ml = data["MovieLens 100k"]
        cases = [
            _per_user_case(split_cold_items(ml, 0.2, random_state=s), s) for s in args.ml_seeds
        ]
        protocols.append(("MovieLens 100k cold items (20%)", cases))
    body = []
    for title, cases in protocols:
        text, shares = table(cases)
        seeds = sorted({c.seed for c in cases})
        body += [f"## {title}", "", f"{len(cases)} fits, seeds {seeds}.", "", text, "",
                 weight_table(cases, shares), ""]  # fmt: skip
        print(f"\n{title}\n{text}", flush=True)
    if str(args.output) != "-":
        lines = [*results_header("New-item weights: diagnosis", ("numpy", "scipy"), load_before)]
        write_results(args.output, [*lines, __doc__.split("\n\n", 1)[1], "", *body])
    return 0


if __name__ == "__main__":
    sys.exit(main())
