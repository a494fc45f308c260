"""Diagnosis: is FeatureCF's gap on new customers in its terms or in its weight objective?

For MovieLens 100k given-k splits (``split_cold_users(..., reveal=k)`` as in
``accuracy.py``), this fits FeatureCF on the train part, computes every term for the test
customers (their revealed interactions folded in) and reports nDCG@10 of five weightings
of the same terms:

- ``learned``: the fitted weights of the customers' history band (what FeatureCF serves,
  so uniform weights where the band's validation users preferred them);
- ``uniform``: every scaled term 1;
- ``CE optimum (test)``: the weights minimising the cross-entropy ranking loss that the
  fit uses, minimised *on the test customers themselves*;
- ``set optimum (test)``: the same with the set likelihood ``-log sum_pos softmax``;
- ``nDCG search (test)``: a coordinate search of nDCG@10 itself on the test customers,
  from the better of the learned and uniform weights (a local optimum).

The three ``(test)`` rows look at the test part and are **diagnostics only**: nothing in
featcf is chosen from them. They bound what re-weighting these terms can reach (the search
is an in-sample optimum, above what any out-of-sample rule can get) and show whether the
loss is aligned with nDCG (if its in-sample optimum ranks worse than uniform weights, it
is not). FeatureCF's private term functions are used to get the terms.

Run ``python benchmarks/weight_diagnosis.py`` (about 10 s per split on 2 cores;
``--seeds`` and ``--ks`` take comma-separated lists, default seeds 1-3, the splits the
model was developed on, and k = 1, 3, 5). The
table goes to stdout and to ``benchmarks/results/weight_diagnosis.md`` (``--output``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, results_header, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "weight_diagnosis.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=str, default="1,2,3", help="split seeds, comma-separated")
    p.add_argument("--ks", type=str, default="1,3,5", help="revealed interactions")
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown file, or -")
    args = p.parse_args(argv)
    args.seeds = [int(v) for v in args.seeds.split(",")]
    args.ks = [int(v) for v in args.ks.split(",")]
    return args


def diagnose(ds, seed: int, k: int) -> dict[str, float]:
    """nDCG@10 of the five weightings on one given-k split."""
    from scipy.optimize import minimize

    from featcf.evaluation import split_cold_users
    from featcf.metrics import ndcg_at_k
    from featcf.models import FeatureCF
    from featcf.models.feature_cf._inputs import positives
    from featcf.models.feature_cf._losses import softmax_loss
    from featcf.models.feature_cf._state import band_of
    from featcf.models.feature_cf._terms import compute_terms
    from featcf.models.feature_cf._users import folded_users

    split = split_cold_users(ds, 0.2, random_state=seed, reveal=k)
    model = FeatureCF(random_state=0, show_progress=False).fit(split.train)
    users = split.cold_users
    test = sp.csr_matrix(split.test.interactions.tocsr()[users] > 0, dtype=np.float32)
    hist = sp.csr_matrix(split.revealed.interactions.tocsr()[users], dtype=np.float32)
    keep = np.diff(test.indptr) > 0
    users, test, hist = users[keep], test[keep], hist[keep]
    scorer, weights = model._fitted.scorer, model._fitted.weights
    feats = sp.csr_matrix(split.train.user_features.matrix[users], dtype=np.float32)
    state = folded_users(scorer, positives(hist, scorer.inputs.positive_threshold), feats)
    terms = compute_terms(scorer, state, np.arange(ds.n_items)) / weights.scale[:, None, None]
    seen = hist.toarray() > 0
    pos = test.toarray() > 0

    def ndcg(w: np.ndarray) -> float:
        s = np.einsum("tui,t->ui", terms, w)
        s[seen] = -np.inf
        top = np.argsort(-s, axis=1, kind="stable")[:, :10]
        return float(np.nanmean(ndcg_at_k(top, test, 10)))

    def fit_loss(as_set: bool) -> np.ndarray:
        def objective(w):
            z = np.einsum("tui,t->ui", terms, w)
            flags = np.full(len(z), as_set)
            loss, g = softmax_loss(z, pos, seen & ~pos, 1, flags if as_set else None)
            return loss / len(z), np.einsum("tui,ui->t", terms, g) / len(z)

        res = minimize(objective, learned, jac=True, method="L-BFGS-B",
                       bounds=[(0.0, None)] * len(learned))  # fmt: skip
        return res.x

    learned = weights.band[band_of(np.array([k]))[0]].astype(np.float64)
    out = {"learned": ndcg(learned), "uniform": ndcg(np.ones_like(learned))}
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
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import accuracy

    if not (accuracy.SHARED_DATA / "ml-100k").is_dir():
        print(f"MovieLens 100k not found in {accuracy.SHARED_DATA}: nothing to diagnose")
        return 0
    load_before = os.getloadavg()
    ds = accuracy.load_data()["MovieLens 100k"]
    rows, names = [], None
    for seed in args.seeds:
        for k in args.ks:
            res = diagnose(ds, seed, k)
            names = list(res)
            rows.append([str(seed), f"given {k}", *[f"{v:.4f}" for v in res.values()]])
            print(rows[-1], flush=True)
    table = markdown_table(["seed", "split", *names], rows)
    print(table)
    if str(args.output) != "-":
        lines = [
            *results_header(
                "Weight diagnosis: FeatureCF's terms re-weighted on MovieLens given-k",
                ("numpy", "scipy", "numba", "featcf"),
                load_before,
            ),
            "nDCG@10 of the test customers. The `(test)` columns are fitted on the test "
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
