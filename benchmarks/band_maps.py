"""What the per-band score maps (``band_affine_``) do to the audience questions of CoIL 2000.

FeatureCF maps each history band's scores by a level and a positive slope fitted on the
validation audiences (``featcf.models.feature_cf._calibrate``). A customer's ranking of
products does not change, so only the questions that compare customers can move: the CARAVAN
5-fold CV (owners in the top 20%) and the new-product leave-one-out (AUC of owners among all
customers), both as ``benchmarks/accuracy.py`` runs them. Each FeatureCF fit is scored twice,
with its maps and with the identity maps (the model as it was before the maps: the weights
are the same), so the two rows are paired on the same fits, with paired bootstrap 95%
intervals over customers (CARAVAN) and products (leave-one-out), averaged over split seeds.

Run ``python benchmarks/band_maps.py`` (``--seeds 0,1,2``; ``--skip-loo`` for CARAVAN only,
about 4 min on 2 cores; the leave-one-out refits 22 times per seed, about 6 min per seed).
Results go to ``benchmarks/results/band_maps.md``. Exits with a message when
``../shared/data`` is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402
from _common import markdown_table, results_header, write_results  # noqa: E402
from _paired import paired_interval  # noqa: E402

from featcf import FeatureCF  # noqa: E402
from featcf.models.feature_cf._state import identity_affine  # noqa: E402

WITH, WITHOUT = "FeatureCF", "FeatureCF, identity maps"


class _Fits:
    """The fits of the ``WITH`` model, by training Dataset, for the ``WITHOUT`` row."""

    def __init__(self) -> None:
        self.by_train: dict[int, tuple[Any, FeatureCF]] = {}

    def mapped(self, seed: int) -> Callable[[], FeatureCF]:
        fits = self

        class Mapped(FeatureCF):
            def fit(self, dataset: Any, *args: Any, **kwargs: Any) -> Mapped:
                super().fit(dataset, *args, **kwargs)
                fits.by_train[id(dataset)] = (dataset, self)
                return self

        return lambda: Mapped(random_state=seed, show_progress=False)

    def unmapped(self) -> Callable[[], FeatureCF]:
        fits = self

        class Unmapped(FeatureCF):
            def fit(self, dataset: Any, *args: Any, **kwargs: Any) -> Unmapped:
                _, fitted = fits.by_train.pop(id(dataset))
                self.__dict__.update(fitted.__dict__)
                # the same fit with the identity maps, in both weight sets (the audience
                # questions read the second; private state: an ablation)
                state = fitted._fitted
                identity = identity_affine(state.weights.band.shape[0])
                self.__dict__["_fitted"] = replace(
                    state,
                    weights=replace(state.weights, band_affine=identity),
                    audience=replace(state.audience, band_affine=identity),
                )
                return self

        return Unmapped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--skip-loo", action="store_true", help="CARAVAN CV only")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).resolve().parent / "results" / "band_maps.md"
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    load_before = os.getloadavg()
    try:
        data = accuracy.load_data()
    except FileNotFoundError as exc:
        sys.exit(f"band_maps.py needs ../shared/data: {exc}")
    ds = data["CoIL 2000"]
    found: dict[str, list] = {WITH: [], WITHOUT: []}
    auc: dict[str, list] = {WITH: [], WITHOUT: []}
    rows_caravan, rows_loo = [], []
    for seed in seeds:
        fits = _Fits()
        factories = {WITH: fits.mapped(seed), WITHOUT: fits.unmapped()}
        results = accuracy.caravan_cv(ds, factories, 5, 5, seed)
        for r in results:
            found[r.model].append(r.per_unit["found"])
        rows_caravan.append([seed, *(f"{r.values['found']:.1f}" for r in results)])
        if not args.skip_loo:
            results = accuracy.new_product_loo(ds, factories, np.arange(ds.n_items), seed)
            for r in results:
                auc[r.model].append(r.per_unit["auc"])
            rows_loo.append([seed, *(f"{r.values['auc']:.4f}" for r in results)])
    lines = results_header(
        "Band maps: CoIL 2000 audiences with and without them", ["numpy", "scipy"], load_before
    )
    lines += [
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "### CARAVAN CV: owners in the top 20% (of 348)",
        "",
    ]
    est, lo, hi = paired_interval(found[WITH], found[WITHOUT], stat="sum")
    mean = [f"{np.mean([f.sum() for f in found[m]]):.1f}" for m in (WITH, WITHOUT)]
    lines.append(markdown_table(["split seed", WITH, WITHOUT], [*rows_caravan, ["mean", *mean]]))
    lines += ["", f"With minus without: {est:+.1f} [{lo:+.1f}, {hi:+.1f}] (customers paired)."]
    if not args.skip_loo:
        est, lo, hi = paired_interval(auc[WITH], auc[WITHOUT])
        mean = [f"{np.mean([a.mean() for a in auc[m]]):.4f}" for m in (WITH, WITHOUT)]
        lines += ["", "### New product, leave-one-out: mean AUC over the 22 products", ""]
        lines.append(markdown_table(["split seed", WITH, WITHOUT], [*rows_loo, ["mean", *mean]]))
        lines += ["", f"With minus without: {est:+.4f} [{lo:+.4f}, {hi:+.4f}] (products paired)."]
    write_results(args.output, lines)
    print("\n".join(lines[-12:]))


if __name__ == "__main__":
    main()
