"""Diagnosis: is FeatureCF's gap on new customers in its terms or in its weights?

For given-k splits (``split_cold_users(..., reveal=k)`` as in ``accuracy.py``; ``k = 0``
is the protocol "customers known only by their demographics"), this fits FeatureCF on
the train part, computes every term for the test customers (their revealed interactions
folded in) and reports nDCG of several weightings of the same terms, at the data set's
cut-off of ``accuracy.py`` (``MAIN_K``: MovieLens 100k @10, CoIL 2000 @3):

- ``learned``: the fitted weights of the customers' history band (what FeatureCF serves,
  so uniform weights where the band's validation users preferred them);
- ``uniform``: every scaled term 1, on the same terms;
- ``uniform model``: ``FeatureCF(weights="uniform")`` fitted on the same train part (the
  ``FeatureCF uniform`` row of ``accuracy.py``): uniform weights on its own terms, which
  differ from the learned model's where the fit picks hyper-parameters on its validation
  split (the demographic shrinkage, the ``"ease"`` L2);
- ``CE optimum (test)``: the weights minimising the cross-entropy ranking loss that the
  fit uses, minimised *on the test customers themselves*;
- ``set optimum (test)``: the same with the set likelihood ``-log sum_pos softmax``;
- ``nDCG search (test)``: a coordinate search of nDCG itself on the test customers,
  from the better of the learned and uniform weights (a local optimum);
- ``best term alone (test)``: the best single term on the test customers, and its name;
- ``validation lead (z)``: for ``k = 0`` only, what the fit saw when it chose the
  zero-history band's weights (``_weights.CHOSEN_BANDS``: the loss's weights or uniform
  ones, whichever ranks the band's validation customers better by nDCG@10): the loss's
  weights minus uniform ones, mean per customer, in paired standard errors, and the number
  of those customers.

The ``(test)`` columns look at the test part and are **diagnostics only**: nothing in
featcf is chosen from them. They bound what re-weighting these terms can reach (the search
is an in-sample optimum, above what any out-of-sample rule can get) and show whether the
loss is aligned with nDCG (if its in-sample optimum ranks worse than uniform weights, it
is not). FeatureCF's private term functions are used to get the terms. Ties are broken by
item position here (``accuracy.py`` breaks them in a seeded random order), so figures can
differ from ``accuracy.py``'s in the last digits.

Run ``python benchmarks/weight_diagnosis.py`` (about 10 s per MovieLens split on 2 cores;
``--seeds`` and ``--ks`` take comma-separated lists, default seeds 1-3, the splits the
model was developed on, and k = 1, 3, 5; ``--datasets`` ml, coil or both; ``--random-state
seed`` fits the models with the split seed as ``random_state``, as ``accuracy.py`` does,
instead of 0). The table goes to stdout and to ``benchmarks/results/weight_diagnosis.md``
(``--output``). The customers known only by their demographics, as in the closing note
of issue 12::

    python benchmarks/weight_diagnosis.py --datasets ml,coil --ks 0 --seeds 0,1,2 \
        --random-state seed --output benchmarks/results/weight_diagnosis_demographics.md
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, results_header, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "weight_diagnosis.md"
DATASETS = {"ml": "MovieLens 100k", "coil": "CoIL 2000"}
FOLDERS = {"MovieLens 100k": "ml-100k", "CoIL 2000": "coil2000"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=str, default="1,2,3", help="split seeds, comma-separated")
    p.add_argument("--ks", type=str, default="1,3,5", help="revealed interactions (0: none)")
    p.add_argument("--datasets", type=str, default="ml", help="ml, coil, comma-separated")
    p.add_argument(
        "--random-state",
        type=str,
        default="0",
        help="the models' random_state: an integer, or 'seed' for the split seed",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    args.seeds = [int(v) for v in args.seeds.split(",")]
    args.ks = [int(v) for v in args.ks.split(",")]
    if any(k < 0 for k in args.ks):
        p.error("--ks must be non-negative")
    unknown = [d for d in args.datasets.split(",") if d not in DATASETS]
    if unknown:
        p.error(f"--datasets: unknown {unknown}; choose among {sorted(DATASETS)}")
    args.datasets = [DATASETS[d] for d in args.datasets.split(",")]
    if args.random_state != "seed" and not args.random_state.lstrip("-").isdigit():
        p.error("--random-state must be an integer or 'seed'")
    return args


@contextmanager
def recorded_choice() -> Iterator[list[tuple[float, float, int]]]:
    """Per fit inside the block, the zero-history band's validation lead of the loss's
    weights over uniform ones: (mean per customer, in paired standard errors, customers)."""
    import featcf.models.feature_cf._weights as weights_module

    leads: list[tuple[float, float, int]] = []
    original = weights_module.search_band

    def recording(data, start, free=True, cross_fit=True):  # type: ignore[no-untyped-def]
        if not free:  # a band of CHOSEN_BANDS: the loss's weights or uniform ones
            start_w = np.asarray(start, dtype=np.float64)
            vary = data.varying
            uniform = start_w.copy()
            uniform[vary] = (float(start_w[vary].sum()) or float(vary.sum())) / vary.sum()
            gain = data.per_user(start_w) - data.per_user(uniform)
            se = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else np.inf
            leads.append((float(gain.mean()), float(gain.mean()) / se, len(gain)))
        return original(data, start, free, cross_fit)

    weights_module.search_band = recording
    try:
        yield leads
    finally:
        weights_module.search_band = original


def _test_terms(model: Any, split: Any, users: np.ndarray, hist: sp.csr_matrix) -> np.ndarray:
    """The scaled terms of a fitted FeatureCF for ``users`` with ``hist`` folded in,
    shape (n_terms, n_users, n_items)."""
    from featcf.models.feature_cf._inputs import positives
    from featcf.models.feature_cf._terms import compute_terms
    from featcf.models.feature_cf._users import folded_users

    scorer, weights = model._fitted.scorer, model._fitted.weights
    feats = None
    if split.train.user_features is not None:
        feats = sp.csr_matrix(split.train.user_features.matrix[users], dtype=np.float32)
    state = folded_users(scorer, positives(hist, scorer.inputs.positive_threshold), feats)
    items = np.arange(split.train.n_items)
    return compute_terms(scorer, state, items) / weights.scale[:, None, None]


def diagnose(ds, seed: int, k: int, random_state: int, cutoff: int) -> dict[str, Any]:
    """nDCG@``cutoff`` of the weightings on one given-k split (``k = 0``: no history)."""
    from scipy.optimize import minimize

    from featcf.evaluation import split_cold_users
    from featcf.metrics import ndcg_at_k
    from featcf.models import FeatureCF
    from featcf.models.feature_cf._losses import softmax_loss
    from featcf.models.feature_cf._state import band_of

    split = split_cold_users(ds, 0.2, random_state=seed, reveal=k)
    with recorded_choice() as leads:
        model = FeatureCF(random_state=random_state, show_progress=False).fit(split.train)
    plain = FeatureCF(weights="uniform", random_state=random_state, show_progress=False)
    plain.fit(split.train)
    users = split.cold_users
    test = sp.csr_matrix(split.test.interactions.tocsr()[users] > 0, dtype=np.float32)
    if split.revealed is None:
        hist = sp.csr_matrix(test.shape, dtype=np.float32)
    else:
        hist = sp.csr_matrix(split.revealed.interactions.tocsr()[users], dtype=np.float32)
    keep = np.diff(test.indptr) > 0
    users, test, hist = users[keep], test[keep], hist[keep]
    terms = _test_terms(model, split, users, hist)
    names = list(model.term_names_)
    seen = hist.toarray() > 0
    pos = test.toarray() > 0

    def ndcg(w: np.ndarray, t: np.ndarray = terms) -> float:
        s = np.einsum("tui,t->ui", t, w)
        s[seen] = -np.inf
        top = np.argsort(-s, axis=1, kind="stable")[:, :cutoff]
        return float(np.nanmean(ndcg_at_k(top, test, cutoff)))

    def fit_loss(as_set: bool) -> np.ndarray:
        def objective(w):
            z = np.einsum("tui,t->ui", terms, w)
            flags = np.full(len(z), as_set)
            loss, g = softmax_loss(z, pos, seen & ~pos, 1, flags if as_set else None)
            return loss / len(z), np.einsum("tui,ui->t", terms, g) / len(z)

        res = minimize(objective, learned, jac=True, method="L-BFGS-B",
                       bounds=[(0.0, None)] * len(learned))  # fmt: skip
        return res.x

    band = band_of(np.array([k]))[0]
    learned = model._fitted.weights.band[band].astype(np.float64)
    plain_w = plain._fitted.weights.band[band].astype(np.float64)
    out: dict[str, Any] = {
        "learned": ndcg(learned),
        "uniform": ndcg(np.ones_like(learned)),
        "uniform model": ndcg(plain_w, _test_terms(plain, split, users, hist)),
    }
    out["CE optimum (test)"] = ndcg(fit_loss(False))
    out["set optimum (test)"] = ndcg(fit_loss(True))
    # start from the better of the learned and uniform weights
    w = learned.copy() if out["learned"] >= out["uniform"] else np.ones_like(learned)
    best = max(out["learned"], out["uniform"])
    for _ in range(3):
        for t in range(len(w)):
            for f in (0.0, 0.25, 0.5, 0.8, 1.25, 2.0, 4.0):
                cand = w.copy()
                cand[t] = w[t] * f if w[t] > 0 else 0.05 * f
                value = ndcg(cand)
                if value > best + 1e-9:
                    best, w = value, cand
    out["nDCG search (test)"] = best
    alone = [ndcg(np.eye(len(names))[t]) for t in range(len(names))]
    out["best term alone (test)"] = max(alone)
    out["that term"] = names[int(np.argmax(alone))]
    lead = "-"
    if k == 0 and leads:
        mean, z, n = leads[-1]
        lead = f"{mean:+.4f} ({z:+.1f}; {n})"
    out["validation lead (z; customers)"] = lead
    return out


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import accuracy

    missing = [
        name for name in args.datasets if not (accuracy.SHARED_DATA / FOLDERS[name]).is_dir()
    ]
    if missing:
        print(f"{missing} not found in {accuracy.SHARED_DATA}: nothing to diagnose")
        return 0
    load_before = os.getloadavg()
    data = accuracy.load_data()
    rows, names = [], None
    for dataset in args.datasets:
        cutoff = accuracy.MAIN_K[dataset]
        for seed in args.seeds:
            state = seed if args.random_state == "seed" else int(args.random_state)
            for k in args.ks:
                res = diagnose(data[dataset], seed, k, state, cutoff)
                names = list(res)
                split = f"given {k}" if k else "demographics only"
                rows.append([dataset, f"nDCG@{cutoff}", str(seed), split])
                rows[-1] += [_cell(v) for v in res.values()]
                print(rows[-1], flush=True)
    table = markdown_table(["data", "metric", "seed", "split", *names], rows)
    print(table)
    if str(args.output) != "-":
        state_note = (
            "the split seed" if args.random_state == "seed" else f"{int(args.random_state)}"
        )
        lines = [
            *results_header(
                "Weight diagnosis: FeatureCF's terms re-weighted for new customers",
                ("numpy", "scipy", "numba", "featcf"),
                load_before,
            ),
            f"nDCG of the test customers at each data set's cut-off; the models' "
            f"`random_state` is {state_note}. The `(test)` columns are fitted on the test "
            "customers themselves: diagnostics, never used to choose anything (see the "
            "script's docstring).",
            "",
            table,
            "",
        ]
        write_results(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
