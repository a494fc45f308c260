"""Benchmark: recommendation accuracy of every featcf model and of implicit's peers.

One command (``python benchmarks/accuracy.py``) evaluates, with fixed seeds and default
hyper-parameters (nothing is tuned on the test parts), every model in
``featcf.models.__all__``, ``FeatureCF(weights="uniform")`` (the same model with every term
weighing 1: what its learned weights are measured against), ``FeatureCF refit`` (the same
model fitted again with another ``random_state``: the fit's own noise) and three peers from
``implicit`` -- ALS
(``implicit.cpu.als.AlternatingLeastSquares``), BPR
(``implicit.cpu.bpr.BayesianPersonalizedRanking``) and item-kNN
(``implicit.nearest_neighbours.CosineRecommender(K=50)``) -- all through
:func:`featcf.evaluation.evaluate` (the peers as plain scoring functions), on:

Data (``../shared/data`` beside the repository; the script exits 0 with a reason when absent)

- **MovieLens 100k** as implicit feedback: a rating >= 4 is a positive (weight 1), lower
  ratings are dropped; the full catalogue (1,682 films, genre and year) and the user table
  (age, gender, occupation, zip region) are kept. The explicit ratings are used for the
  RMSE table only.
- **CoIL 2000** (``ticdata2000.txt``): 5,822 customers x 22 insurance products, "holds the
  product" as a positive (policy counts binarised), 43 socio-demographic user fields, the
  shipped product attribute table as item fields.
- **Synthetic shop** (``make_insurance_shop()``: 2,000 customers, 40 products + 3 without
  interactions, seed 0): the stated-interests protocol only.

Protocols (each model fitted on the train part only)

1. *warm*: ``split_random`` 20% of each user's positives to test, ranking over all items.
2. *cold items*: ``split_cold_items`` 20% of the items lose every interaction; ranking over
   the cold items only (plus AUC over them), for users who keep a training interaction.
3. *cold users, 0 interactions*: ``split_cold_users`` 20% of users, user features only
   (``evaluate`` scores them as the fitted users without interactions they are).
4. *given k* (k = 1, 3, 5): the same protocol with k of each cold user's positives revealed
   at query time and folded in (``score_new_users``, with their user features for models
   that use them). Peers: ALS through ``recalculate_user``, item-kNN as ``history @
   similarity``, BPR refitted with the revealed interactions added to its training matrix
   (its fit time includes that refit). Peers have no demographics or cold-item path: n/a.
5. CoIL only, *CARAVAN 5-fold CV*: customers are split in 5 seeded folds; a model is fitted
   on 4 folds (all their products) and the held-out customers are folded in as new
   customers from all their other products plus their demographics, then ranked by their
   caravan score. Reported: AUC of owners vs non-owners (mean over folds) and the owners
   found in the top 20% of each fold, summed over folds (the CoIL 2000 challenge's "top
   800 of 4,000"; ties at the cut count fractionally, the expected value under random
   tie-breaking). Held-out customers without any other product are ranked last by models
   that cannot use demographics (``handles_new_users_with_features`` False).
6. CoIL only, *new product, leave-one-product-out*: for each of the 22 products all its
   interactions are removed (a cold item with its attributes), the model is refitted and
   every customer is scored for it; AUC of owners vs the other customers, mean over
   products. Customers left without any training product are ranked last by models that
   cannot use demographics. Those customers are an artefact of the protocol: every one of
   them holds the held-out product (its removal left them without history), which no real
   launch looks like (mopeds: 33% of the customers without another product hold one,
   against 7% of all). A second column therefore scores only the customers with another
   product (``auc_history``): the owners and non-owners a launch really faces.
7. *stated interests* (MovieLens, CoIL and the synthetic shop): the cold users of protocol
   3 (20% of users, every interaction held out) state their top 2 values of one item field
   (MovieLens: ``genre``; CoIL and the shop: ``category``), taken from their held-out
   items (the values their held-out items have most often; ties to the value rarer among
   the training positives), as an onboarding form would ask. FeatureCF folds them in
   (``score_new_users(..., interests=...)``) with and without their demographics; the rows
   ``FeatureCF`` (stated + demographics), ``FeatureCF stated only`` and ``FeatureCF
   demographics only`` (the fold-in of protocol 3) are paired per user, so the interval of
   the demographics-only row is the gain of stating interests. Cold users none of whose
   held-out items has a value of the field are left out (``excl.``). Popularity for scale;
   other models have no attribute profiles to fold interests into (n/a).
8. ML only, *RMSE/MAE* on explicit ratings (random 20%): only for models whose scores are
   rating predictions (attribute ``predicts_ratings``); featcf's models rank, so they are
   n/a; a damped user/item bias baseline is shown for reference.

Models that cannot serve a protocol raise ``UnsupportedProtocolError`` and are shown as
``n/a`` with the reason, never dropped. Ranking metrics use k=10 on MovieLens and k=3 on
CoIL (22 products, customers hold about 2: at 10 every model finds almost everything);
the plot ``accuracy_given_k.png`` shows nDCG@10 (both data sets) against the number of
revealed interactions (0 = features only).

Outputs: ``benchmarks/results/accuracy.md`` and ``benchmarks/results/accuracy_given_k.png``
(``--out-dir`` to change; ``--quick`` runs given-1 only, 2 CARAVAN folds and 5 products and
writes nothing unless ``--out-dir`` is given).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SHARED_DATA,
    command_line,
    machine_info,
    markdown_table,
)
from _paired import N_RESAMPLES, paired_interval  # noqa: E402
from _peers import LIGHTFM_PARAMS, LightFMPeer, SegmentPopularity  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1, 2)
GIVEN_K = (1, 3, 5)
TOP_FRACTION = 0.2
KS = {"MovieLens 100k": (10,), "CoIL 2000": (3, 10), "Synthetic shop": (10,)}
MAIN_K = {"MovieLens 100k": 10, "CoIL 2000": 3, "Synthetic shop": 10}
#: the data sets by command-line key
DATASETS = {"ml": "MovieLens 100k", "coil": "CoIL 2000", "shop": "Synthetic shop"}
MODEL_ORDER = ("Popularity", "ItemKNN", "UserKNN", "ContentKNN", "ALS", "FeatureCF")
PEERS = ("implicit ALS", "implicit BPR", "implicit item-kNN", "LightFM features")
#: the model every other row is compared with
REFERENCE = "FeatureCF"
#: the reference refitted on the same split with ``random_state = seed + REFIT_OFFSET``: its
#: ``FeatureCF - row`` interval is the fit's own noise (its internal validation split and
#: neighbour samples), the yardstick a change to the fit must clear besides the split noise
REFIT = "FeatureCF refit"
REFIT_OFFSET = 1000


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def binarised(ds: Any, threshold: float | None = None) -> Any:
    """``ds`` with interactions of weight >= threshold (all when None) set to 1.0."""
    X = ds.interactions
    keep = np.ones(X.nnz, dtype=bool) if threshold is None else X.data >= threshold
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[keep]
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
    P = sp.csr_matrix((np.ones(keep.sum(), np.float32), X.indices[keep], indptr), shape=X.shape)
    times = None if ds.timestamps is None else ds.timestamps[keep]
    return ds.with_interactions(P, times)


def load_data() -> dict[str, Any]:
    from featcf.datasets import load_coil2000, load_movielens, make_insurance_shop

    ml = load_movielens(SHARED_DATA / "ml-100k")
    coil = load_coil2000(SHARED_DATA / "coil2000")
    return {
        "ml_explicit": ml,
        "Synthetic shop": make_insurance_shop(random_state=0),
        "MovieLens 100k": binarised(ml, 4.0),
        "CoIL 2000": binarised(coil),
    }


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


def featcf_factories(seed: int, caps: tuple[int, ...] = ()) -> dict[str, Callable[[], Any]]:
    """Every model in ``featcf.models.__all__``, default hyper-parameters, fixed seeds; and
    ``"FeatureCF cap=N"`` (``max_reference_users=N``) for every ``N`` of ``caps``."""
    import featcf.models as models

    names = [
        n
        for n in models.__all__
        if n not in ("BaseRecommender", "UnsupportedProtocolError")
        and isinstance(getattr(models, n), type)
        and issubclass(getattr(models, n), models.BaseRecommender)
    ]
    names.sort(key=lambda n: (MODEL_ORDER.index(n) if n in MODEL_ORDER else len(MODEL_ORDER), n))

    def factory(cls: type) -> Callable[[], Any]:
        params = cls().get_params()
        fixed = {"random_state": seed, "show_progress": False}
        return lambda: cls(**{k: v for k, v in fixed.items() if k in params})

    out = {n: factory(getattr(models, n)) for n in names}
    if "FeatureCF" in out:  # the learned field weights against uniform ones
        out["FeatureCF uniform"] = lambda: models.FeatureCF(
            weights="uniform", random_state=seed, show_progress=False
        )
        # the fit's own noise: the same model, another random_state
        out[REFIT] = lambda: models.FeatureCF(random_state=seed + REFIT_OFFSET, show_progress=False)
    for cap in caps:  # neighbours searched among a sample of the users (issue 14)
        out[f"FeatureCF cap={cap}"] = lambda cap=cap: models.FeatureCF(
            max_reference_users=cap, random_state=seed, show_progress=False
        )
    return out


class ImplicitPeer:
    """An ``implicit`` model as a featcf scoring function ``fn(user_idx, item_idx, history)``.

    Fitted on the binarised training matrix. Fitted users are scored from the model's own
    state; given-k users (``history`` not None) by ALS's ``recalculate_user``, by item-kNN
    as ``history @ similarity``, and by BPR from factors learned in a refit that added their
    revealed interactions (``refit_for_history``: the benchmark fits it on train + revealed).
    """

    handles_new_items = False
    handles_new_users_with_features = False
    handles_new_users_with_history = True

    def __init__(self, kind: str, seed: int) -> None:
        self.kind = kind
        self.seed = seed
        self.__name__ = {"als": "implicit ALS", "bpr": "implicit BPR", "knn": "implicit item-kNN"}[
            kind
        ]
        self.refit_for_history = kind == "bpr"

    def _make(self) -> Any:
        if self.kind == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            return AlternatingLeastSquares(random_state=self.seed)
        if self.kind == "bpr":
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            return BayesianPersonalizedRanking(random_state=self.seed)
        from implicit.nearest_neighbours import CosineRecommender

        return CosineRecommender(K=50)

    def fit(self, dataset: Any) -> ImplicitPeer:
        X = sp.csr_matrix(dataset.interactions, dtype=np.float32, copy=True)
        X.data[:] = 1.0
        self.train_ = X
        self.model_ = self._make()
        self.model_.fit(X, show_progress=False)
        if self.kind == "knn":
            self.similarity_ = sp.csr_matrix(self.model_.similarity, dtype=np.float32)
        return self

    def __call__(
        self, user_idx: np.ndarray, item_idx: np.ndarray, history: sp.csr_matrix | None
    ) -> np.ndarray:
        if self.kind == "knn":
            rows = self.train_[user_idx] if history is None else history
            return np.asarray((rows @ self.similarity_[:, item_idx]).todense(), np.float32)
        V = np.asarray(self.model_.item_factors)[item_idx]
        if history is None or self.kind == "bpr":
            U = np.asarray(self.model_.user_factors)[user_idx]
        else:
            H = sp.csr_matrix(history, dtype=np.float32, copy=True)
            H.data[:] = 1.0
            U = np.asarray(self.model_.recalculate_user(user_idx, H))
        return (U @ V.T).astype(np.float32)


def peer_factories(seed: int) -> dict[str, Callable[[], Any]]:
    return {
        "Segment popularity": SegmentPopularity,
        "implicit ALS": lambda: ImplicitPeer("als", seed),
        "implicit BPR": lambda: ImplicitPeer("bpr", seed),
        "implicit item-kNN": lambda: ImplicitPeer("knn", seed),
        "LightFM features": lambda: LightFMPeer(seed),
    }


class BiasBaseline:
    """Rating predictor ``mu + b_u + b_i`` (damped means, 10 pseudo-ratings) for RMSE."""

    predicts_ratings = True
    name = "bias baseline (reference)"

    def fit(self, dataset: Any) -> BiasBaseline:
        X = dataset.interactions.tocsr()
        mu = X.data.mean()
        damp = 10.0
        coo = X.tocoo()
        item_sum = np.bincount(coo.col, weights=coo.data - mu, minlength=X.shape[1])
        self.b_i = item_sum / (np.bincount(coo.col, minlength=X.shape[1]) + damp)
        resid = coo.data - mu - self.b_i[coo.col]
        self.b_u = np.bincount(coo.row, weights=resid, minlength=X.shape[0]) / (
            np.bincount(coo.row, minlength=X.shape[0]) + damp
        )
        self.mu = mu
        return self

    def __call__(self, user_idx: np.ndarray, item_idx: np.ndarray, history: Any) -> np.ndarray:
        return self.mu + self.b_u[user_idx][:, None] + self.b_i[item_idx][None, :]


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    dataset: str
    protocol: str
    model: str
    values: dict[str, float] = field(default_factory=dict)
    n_users: int | None = None
    n_excluded: int | None = None
    fit_seconds: float = float("nan")
    score_seconds: float = float("nan")
    note: str = ""  # the n/a reason
    seed: int = 0
    #: per-unit values for paired comparisons (users, customers or products of the split)
    per_unit: dict[str, np.ndarray] = field(default_factory=dict)
    #: after :func:`aggregate`: metric -> (REFERENCE - this model, low, high)
    diffs: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return not self.note


def short_reason(exc: BaseException) -> str:
    text = str(exc).split(";")[0].strip()
    return text if len(text) < 110 else text[:107] + "..."


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------
# protocols
# --------------------------------------------------------------------------------------


def merged(train: Any, revealed: Any) -> Any:
    return train.with_interactions(train.interactions + revealed.interactions)


def run_split(
    dataset: str,
    protocol: str,
    split: Any,
    factories: dict[str, Callable[[], Any]],
    ks: tuple[int, ...],
    seed: int = 0,
) -> list[Result]:
    from featcf.evaluation import evaluate
    from featcf.models import UnsupportedProtocolError

    out = []
    for name, make in factories.items():
        model = make()
        start = time.perf_counter()
        try:
            if getattr(model, "refit_for_history", False) and split.revealed is not None:
                if getattr(model, "handles_new_users_with_history", True) is False:
                    raise UnsupportedProtocolError(f"{name} cannot fold in users")
                fit_start = time.perf_counter()
                model.fit(merged(split.train, split.revealed))
                fit_seconds = time.perf_counter() - fit_start
                table = evaluate(model, split, k=list(ks), fit=False)
                table["fit_seconds"] = fit_seconds
            else:
                table = evaluate(model, split, k=list(ks))
        except UnsupportedProtocolError as exc:
            out.append(Result(dataset, protocol, name, note=short_reason(exc), seed=seed))
            log(f"  {dataset} | {protocol} | {name}: n/a ({short_reason(exc)})")
            continue
        per_user = table.attrs["per_user"]
        values = {
            (f"{m}@{k}" if not pd.isna(k) else m): float(v)
            for m, k, v in zip(table["metric"], table["k"], table["value"], strict=True)
        }
        first = table.iloc[0]
        out.append(
            Result(
                dataset,
                protocol,
                name,
                values,
                int(first.n_users),
                int(first.n_excluded),
                float(first.fit_seconds),
                float(first.score_seconds),
                seed=seed,
                per_unit={k: v for k, v in per_user.items() if k != "user_idx"},
            )
        )
        main = MAIN_K[dataset]
        log(
            f"  {dataset} | {protocol} | {name}: nDCG@{main} {values[f'ndcg@{main}']:.4f} "
            f"AUC {values['auc']:.4f} ({time.perf_counter() - start:.1f} s)"
        )
    return out


def _can_use_features(model: Any) -> bool:
    return bool(getattr(model, "handles_new_users_with_features", False))


def _scores_for_item(model: Any, split: Any, users: np.ndarray, item: int, empty: np.ndarray):
    """Scores of ``users`` for one item, to compare across users (FeatureCF's audience
    weights); users in ``empty`` (no evidence) rank last for models that cannot use
    demographics."""
    from featcf.evaluation import score_split

    scores = np.full(len(users), -np.inf)
    use = np.ones(len(users), dtype=bool) if _can_use_features(model) else ~empty
    if use.any():
        block = score_split(model, split, users=users[use], items=[item], across="users")
        scores[use] = block[:, 0]
    return scores


def _item_auc(scores: np.ndarray, owners: np.ndarray) -> float:
    from featcf.evaluation import auc

    relevant = sp.csr_matrix(owners.astype(np.float64)[None, :])
    return float(auc(scores[None, :], relevant)[0])


def _in_top(scores: np.ndarray, n_top: int) -> np.ndarray:
    """Per customer, the chance of being among the ``n_top`` best scores (ties at the cut
    share the slots left); owners found = ``(_in_top(...) * owners).sum()``."""
    cut = np.sort(scores)[::-1][n_top - 1]
    inside = (scores > cut).astype(np.float64)
    tied = scores == cut
    if tied.any():
        inside[tied] = (n_top - inside.sum()) / tied.sum()
    return inside


def _subset(ds: Any, mask: np.ndarray) -> Any:
    X = ds.interactions
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    return ds.with_interactions(
        sp.csr_matrix((X.data[mask], (rows[mask], X.indices[mask])), shape=X.shape)
    )


def caravan_cv(
    ds: Any, factories: dict[str, Callable[[], Any]], n_folds: int, n_run: int, seed: int = 0
) -> list[Result]:
    """CARAVAN 5-fold CV over customers (fold-in of held-out customers, see module doc)."""
    from featcf.evaluation import Split
    from featcf.models import UnsupportedProtocolError

    caravan = int(ds.item_index("caravan"))
    X = ds.interactions
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    is_caravan = X.indices == caravan
    folds = np.array_split(np.random.default_rng(seed).permutation(ds.n_users), n_folds)
    splits = []
    for fold in folds[:n_run]:
        in_fold = np.zeros(ds.n_users, dtype=bool)
        in_fold[fold] = True
        held = in_fold[rows]
        splits.append(
            Split(
                train=_subset(ds, ~held),
                test=_subset(ds, held & is_caravan),
                kind="cold_users",
                cold_users=np.sort(fold),
                revealed=_subset(ds, held & ~is_caravan),
            )
        )
    out = []
    for name, make in factories.items():
        aucs, found, owners_total, n_users, n_empty = [], 0.0, 0, 0, 0
        owner_found: list[np.ndarray] = []
        fit_s = score_s = 0.0
        try:
            for split in splits:
                users = split.cold_users
                model = make()
                if getattr(model, "handles_new_users_with_history", True) is False:
                    raise UnsupportedProtocolError(f"{name} cannot fold in customers")
                start = time.perf_counter()
                if getattr(model, "refit_for_history", False):
                    model.fit(merged(split.train, split.revealed))
                else:
                    model.fit(split.train)
                fit_s += time.perf_counter() - start
                empty = split.revealed.user_counts()[users] == 0
                owners = split.test.user_counts()[users] > 0
                start = time.perf_counter()
                scores = _scores_for_item(model, split, users, caravan, empty)
                score_s += time.perf_counter() - start
                aucs.append(_item_auc(scores, owners))
                inside = _in_top(scores, int(round(TOP_FRACTION * len(users))))
                owner_found.append(inside * owners)
                found += float(owner_found[-1].sum())
                owners_total += int(owners.sum())
                n_users += len(users)
                n_empty += 0 if _can_use_features(model) else int(empty.sum())
        except UnsupportedProtocolError as exc:
            out.append(Result("CoIL 2000", "CARAVAN CV", name, note=short_reason(exc), seed=seed))
            log(f"  CoIL 2000 | CARAVAN CV | {name}: n/a ({short_reason(exc)})")
            continue
        values = {
            "auc": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs)),
            "found": found,
            "owners": float(owners_total),
            "random": TOP_FRACTION * owners_total,
            "no_history": float(n_empty),
        }
        per_unit = {"found": np.concatenate(owner_found)}
        out.append(
            Result(
                "CoIL 2000",
                "CARAVAN CV",
                name,
                values,
                n_users,
                0,
                fit_s,
                score_s,
                seed=seed,
                per_unit=per_unit,
            )  # fmt: skip
        )
        log(
            f"  CoIL 2000 | CARAVAN CV | {name}: AUC {values['auc']:.4f}, owners in top "
            f"{TOP_FRACTION:.0%}: {found:.1f}/{owners_total}"
        )
    return out


def new_product_loo(
    ds: Any, factories: dict[str, Callable[[], Any]], products: np.ndarray, seed: int = 0
) -> list[Result]:
    """Leave-one-product-out AUC of every customer for a product made cold. Without the
    refit row: 22 fits per seed already, and the products' own spread dominates there."""
    from featcf.evaluation import split_cold_items
    from featcf.models import UnsupportedProtocolError

    splits = [(int(p), split_cold_items(ds, items=[p])) for p in products]
    users = np.arange(ds.n_users)
    out = []
    for name, make in factories.items():
        if name == REFIT:
            continue
        aucs: dict[str, float] = {}
        aucs_history: dict[str, float] = {}
        fit_s = score_s = 0.0
        try:
            for p, split in splits:
                model = make()
                if getattr(model, "handles_new_items", True) is False:
                    raise UnsupportedProtocolError(
                        f"{name} cannot score products without interactions"
                    )
                start = time.perf_counter()
                model.fit(split.train)
                fit_s += time.perf_counter() - start
                empty = split.train.user_counts() == 0
                owners = split.test.user_counts() > 0
                start = time.perf_counter()
                scores = _scores_for_item(model, split, users, p, empty)
                score_s += time.perf_counter() - start
                aucs[str(ds.item_ids[p])] = _item_auc(scores, owners)
                aucs_history[str(ds.item_ids[p])] = _item_auc(scores[~empty], owners[~empty])
        except UnsupportedProtocolError as exc:
            out.append(
                Result("CoIL 2000", "new product LOO", name, note=short_reason(exc), seed=seed)
            )
            log(f"  CoIL 2000 | new product LOO | {name}: n/a ({short_reason(exc)})")
            continue
        values = {
            "auc": float(np.mean(list(aucs.values()))),
            "auc_history": float(np.mean(list(aucs_history.values()))),
        }
        values.update({f"auc:{k}": v for k, v in aucs.items()})
        per_unit = {
            "auc": np.array(list(aucs.values())),
            "auc_history": np.array(list(aucs_history.values())),
        }
        out.append(
            Result(
                "CoIL 2000",
                "new product LOO",
                name,
                values,
                ds.n_users,
                0,
                fit_s,
                score_s,
                seed=seed,
                per_unit=per_unit,
            )  # fmt: skip
        )
        log(
            f"  CoIL 2000 | new product LOO | {name}: mean AUC {values['auc']:.4f}, "
            f"customers with another product {values['auc_history']:.4f}"
        )
    return out


def rating_errors(ds: Any, factories: dict[str, Callable[[], Any]], seed: int) -> list[Result]:
    from featcf.evaluation import evaluate, split_random

    split = split_random(ds, 0.2, random_state=seed)
    out = []
    models = dict(factories)
    models[BiasBaseline.name] = BiasBaseline
    for name, make in models.items():
        model = make()
        if not getattr(model, "predicts_ratings", False):
            out.append(
                Result(
                    "MovieLens 100k",
                    "RMSE (explicit ratings)",
                    name,
                    note="scores rank items; no rating prediction",
                )
            )
            continue
        table = evaluate(model, split, metrics=["rmse", "mae"])
        values = dict(zip(table["metric"], table["value"], strict=True))
        first = table.iloc[0]
        out.append(
            Result(
                "MovieLens 100k",
                "RMSE (explicit ratings)",
                name,
                values,
                int(first.n_users),
                0,
                float(first.fit_seconds),
                float(first.score_seconds),
            )
        )
        log(f"  MovieLens 100k | RMSE | {name}: {values['rmse']:.4f}")
    return out


# --------------------------------------------------------------------------------------
# stated interests
# --------------------------------------------------------------------------------------

STATED = "stated interests"
#: the item field cold users state their top values of, and how many they state
STATED_FIELDS = {"MovieLens 100k": "genre", "CoIL 2000": "category", "Synthetic shop": "category"}
STATED_TOP = 2
STATED_NOTE = (
    "`FeatureCF` = stated interests + demographics; `FeatureCF - row` of the "
    "`demographics only` row is the gain of stating interests (paired per user). Every "
    "FeatureCF row is one fitted model per seed, its cold users folded in with "
    "`score_new_users`."
)


def stated_values(ds: Any, split: Any, field: str, top: int) -> sp.csr_matrix:
    """Per user, the ``top`` values of item field ``field`` their held-out items
    (``split.test``) have most often (ties: the value rarer among the training positives),
    as 1s over the item feature columns (users x columns)."""
    f = ds.item_features.fields[field]
    has = sp.csr_matrix(ds.item_features.matrix[:, f.columns], dtype=np.float64)
    has.data[:] = 1.0
    train = sp.csr_matrix(split.train.interactions, dtype=np.float64)
    train.data[:] = 1.0
    share = np.asarray((train @ has).sum(axis=0)).ravel()
    share = share / max(share.sum(), 1.0)
    counts = np.asarray(
        (sp.csr_matrix(split.test.interactions > 0, dtype=np.float64) @ has).todense()
    )
    key = np.where(counts > 0, counts + 0.5 * (1.0 - share)[None, :], -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")[:, :top]
    rows = np.repeat(np.arange(ds.n_users), order.shape[1])
    cols = order.ravel()
    keep = np.isfinite(key[rows, cols])
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], f.start + cols[keep])),
        shape=(ds.n_users, ds.item_features.n_columns),
    )


class FoldedIn:
    """A fitted featcf model's fold-in of the cold users as a scoring function: each user
    scored by ``score_new_users`` from their ``features`` and/or ``stated`` rows (either may
    be None), with no interactions."""

    handles_new_users_with_features = True

    def __init__(self, model: Any, features: Any, stated: Any) -> None:
        self.model, self.features, self.stated = model, features, stated

    def __call__(self, user_idx: np.ndarray, item_idx: np.ndarray, history: Any) -> np.ndarray:
        def rows(m: Any) -> Any:
            return None if m is None else sp.csr_matrix(m[user_idx], dtype=np.float32)

        return self.model.score_new_users(
            None, rows(self.features), item_idx, interests=rows(self.stated)
        )


def stated_interests(
    dataset: str,
    ds: Any,
    factories: dict[str, Callable[[], Any]],
    seed: int,
    splits_info: dict[str, str],
) -> list[Result]:
    """The stated-interests protocol (see the module docstring) on one split seed."""
    from featcf.evaluation import evaluate, split_cold_users

    split = split_cold_users(ds, 0.2, random_state=seed)
    stated = stated_values(ds, split, STATED_FIELDS[dataset], STATED_TOP)
    said = np.diff(stated.indptr) > 0
    test = split.test.interactions
    owner = np.repeat(np.arange(test.shape[0]), np.diff(test.indptr))
    left_out = int(((np.diff(test.indptr) > 0) & ~said).sum())  # nothing to state
    split = split.replace(test=_subset(split.test, said[owner]))
    info = split.describe()
    splits_info[f"{dataset} {STATED}"] = (
        f"{info['n_train']} train / {info['n_test']} test, "
        f"{int(said.sum())} cold users stating {stated.nnz} values"
    )
    features = None if ds.user_features is None else split.train.user_features.matrix
    out = []
    for name in ("Popularity", "FeatureCF"):
        if name not in factories:
            continue
        model = factories[name]()
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        variants = {name: model}
        if name == "FeatureCF":
            variants = {
                "FeatureCF": FoldedIn(model, features, stated),
                "FeatureCF stated only": FoldedIn(model, None, stated),
                "FeatureCF demographics only": FoldedIn(model, features, None),
            }
        for label, scorer in variants.items():
            table = evaluate(scorer, split, k=list(KS[dataset]), fit=False)
            table["fit_seconds"] = fit_s
            table["n_excluded"] += left_out
            out += _stated_result(dataset, label, table, seed)
    return out


def _stated_result(dataset: str, model: str, table: pd.DataFrame, seed: int) -> list[Result]:
    per_user = table.attrs["per_user"]
    values = {
        (f"{m}@{k}" if not pd.isna(k) else m): float(v)
        for m, k, v in zip(table["metric"], table["k"], table["value"], strict=True)
    }
    first = table.iloc[0]
    log(f"  {dataset} | {STATED} | {model}: nDCG@10 {values['ndcg@10']:.4f}")
    return [
        Result(
            dataset,
            STATED,
            model,
            values,
            int(first.n_users),
            int(first.n_excluded),
            float(first.fit_seconds),
            float(first.score_seconds),
            seed=seed,
            per_unit={k: v for k, v in per_user.items() if k != "user_idx"},
        )
    ]


# --------------------------------------------------------------------------------------
# aggregation over seeds
# --------------------------------------------------------------------------------------


def aggregate(results: list[Result], reference: str = REFERENCE) -> list[Result]:
    """One row per (dataset, protocol, model): means over the seeds, and for every metric
    with per-unit values the paired bootstrap interval of ``reference`` minus the row."""
    groups: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.protocol, r.model), []).append(r)
    out = []
    for (dataset, protocol, model), rs in groups.items():
        ok = [r for r in rs if r.available]
        if not ok:
            out.append(Result(dataset, protocol, model, note=rs[0].note))
            continue
        keys = [k for k in ok[0].values if all(k in r.values for r in ok)]
        mean = Result(
            dataset,
            protocol,
            model,
            {k: float(np.mean([r.values[k] for r in ok])) for k in keys},
            int(round(np.mean([r.n_users for r in ok]))),
            int(round(np.mean([r.n_excluded for r in ok]))),
            float(np.mean([r.fit_seconds for r in ok])),
            float(np.mean([r.score_seconds for r in ok])),
            seed=len(ok),  # the number of seeds averaged
        )
        ref = [r for r in groups.get((dataset, protocol, reference), []) if r.available]
        if model != reference and len(ref) == len(ok):
            for metric in ok[0].per_unit:
                stat = "sum" if metric == "found" else "mean"
                mean.diffs[metric] = paired_interval(
                    [r.per_unit[metric] for r in ref], [r.per_unit[metric] for r in ok], stat
                )
        out.append(mean)
    return out


def best_peer(results: list[Result], metric: str) -> Result | None:
    """The best row by ``metric`` that is not a FeatureCF variant."""
    peers = [r for r in results if r.available and not r.model.startswith(REFERENCE)]
    peers = [r for r in peers if metric in r.values]
    return max(peers, key=lambda r: r.values[metric]) if peers else None


def fmt_diff(diff: tuple[float, float, float] | None, digits: int = 4) -> str:
    if not diff or np.isnan(diff[0]):
        return "-"
    est, lo, hi = diff
    return f"{est:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def best_peer_line(results: list[Result], metric: str, label: str) -> str:
    """The sentence naming the best peer and the reference's difference to it."""
    best = best_peer(results, metric)
    if best is None or metric not in best.diffs:
        return ""
    return (
        f"Best peer by {label}: {best.model} ({fmt(best.values[metric])}); {REFERENCE} "
        f"minus it: {fmt_diff(best.diffs[metric])} (paired bootstrap 95% interval)."
    )


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_seconds(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2f}"


def ranking_table(results: list[Result], dataset: str) -> str:
    k = MAIN_K[dataset]
    metric_cols = [
        (f"P@{k}", f"precision@{k}"),
        (f"R@{k}", f"recall@{k}"),
        (f"nDCG@{k}", f"ndcg@{k}"),
        (f"MAP@{k}", f"map@{k}"),
        (f"HR@{k}", f"hit_rate@{k}"),
    ]
    if k != 10:
        metric_cols.append(("nDCG@10", "ndcg@10"))
    metric_cols.append(("AUC", "auc"))
    diff_cols = [(f"{REFERENCE} - row nDCG@{k} [95%]", f"ndcg@{k}"), ("... AUC [95%]", "auc")]
    headers = [
        "model",
        *[h for h, _ in metric_cols],
        *[h for h, _ in diff_cols],
        "users (excl.)",
        "fit s",
        "score s",
    ]
    rows = []
    for r in results:
        if r.available:
            rows.append(
                [
                    r.model,
                    *[fmt(r.values.get(key)) for _, key in metric_cols],
                    *[fmt_diff(r.diffs.get(key)) for _, key in diff_cols],
                    f"{r.n_users} ({r.n_excluded})",
                    fmt_seconds(r.fit_seconds),
                    fmt_seconds(r.score_seconds),
                ]
            )
        else:
            rows.append([r.model, *["n/a"] * (len(metric_cols) + len(diff_cols)), "-", "-", "-"])
    table = markdown_table(headers, rows)
    lines = [
        best_peer_line(results, f"ndcg@{k}", f"nDCG@{k}"),
        best_peer_line(results, "auc", "AUC"),
    ]
    table += "\n\n" + "\n".join(f"- {line}" for line in lines if line)
    notes = [f"- {r.model}: n/a -- {r.note}" for r in results if not r.available]
    return table + ("\n\n" + "\n".join(notes) if notes else "")


def caravan_table(results: list[Result]) -> str:
    headers = [
        "model",
        "AUC (mean of folds)",
        "sd",
        "owners in top 20%",
        "of owners",
        "random",
        "ranked last*",
        f"{REFERENCE} - row found [95%]",
        "fit s",
        "score s",
    ]
    rows = []
    for r in results:
        if r.available:
            v = r.values
            rows.append(
                [
                    r.model,
                    fmt(v["auc"]),
                    fmt(v["auc_sd"], 3),
                    f"{v['found']:.1f}",
                    f"{v['owners']:.0f}",
                    f"{v['random']:.1f}",
                    f"{v['no_history']:.0f}",
                    fmt_diff(r.diffs.get("found"), 1),
                    fmt_seconds(r.fit_seconds),
                    fmt_seconds(r.score_seconds),
                ]
            )
        else:
            rows.append([r.model, "n/a", "-", "n/a", "-", "-", "-", "-", "-", "-"])
    notes = [f"- {r.model}: n/a -- {r.note}" for r in results if not r.available]
    line = best_peer_line(results, "found", "owners in top 20%")
    return (
        markdown_table(headers, rows)
        + (f"\n\n- {line}" if line else "")
        + ("\n\n" + "\n".join(notes) if notes else "")
    )


def loo_table(results: list[Result]) -> str:
    ok = [r for r in results if r.available]
    products = [k.split(":", 1)[1] for k in ok[0].values if k.startswith("auc:")] if ok else []
    headers = [
        "model",
        "mean AUC",
        f"{REFERENCE} - row [95%]",
        "customers with another product",
        f"{REFERENCE} - row [95%], those customers",
        "worst product",
        "best product",
        "fit s",
        "score s",
    ]
    rows = []
    for r in results:
        if not r.available:
            rows.append([r.model, "n/a", "-", "-", "-", "-", "-", "-", "-"])
            continue
        per = {p: r.values[f"auc:{p}"] for p in products}
        worst = min(per, key=per.get)
        best = max(per, key=per.get)
        rows.append(
            [
                r.model,
                fmt(r.values["auc"]),
                fmt_diff(r.diffs.get("auc")),
                fmt(r.values.get("auc_history")),
                fmt_diff(r.diffs.get("auc_history")),
                f"{worst} {per[worst]:.3f}",
                f"{best} {per[best]:.3f}",
                fmt_seconds(r.fit_seconds),
                fmt_seconds(r.score_seconds),
            ]
        )
    text = markdown_table(headers, rows)
    for metric, label in (
        ("auc", "mean AUC (products paired)"),
        ("auc_history", "mean AUC over the customers with another product"),
    ):
        line = best_peer_line(results, metric, label)
        text += f"\n\n- {line}" if line else ""
    if ok:
        detail_headers = ["product", *[r.model for r in ok]]
        detail = [[p, *[f"{r.values[f'auc:{p}']:.3f}" for r in ok]] for p in products]
        text += "\n\nAUC per product:\n\n" + markdown_table(detail_headers, detail)
    notes = [f"- {r.model}: n/a -- {r.note}" for r in results if not r.available]
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def rmse_table(results: list[Result]) -> str:
    headers = ["model", "RMSE", "MAE", "users", "fit s", "score s"]
    rows = []
    for r in results:
        if r.available:
            rows.append(
                [
                    r.model,
                    fmt(r.values["rmse"]),
                    fmt(r.values["mae"]),
                    str(r.n_users),
                    fmt_seconds(r.fit_seconds),
                    fmt_seconds(r.score_seconds),
                ]
            )
        else:
            rows.append([r.model, "n/a", "n/a", "-", "-", "-"])
    notes = sorted({r.note for r in results if not r.available})
    return markdown_table(headers, rows) + (
        "\n\n" + "\n".join(f"- n/a: {n}" for n in notes) if notes else ""
    )


def given_k_protocols() -> list[tuple[int, str]]:
    return [(0, "cold users, 0 interactions")] + [(k, f"given {k}") for k in GIVEN_K]


def plot_given_k(results: list[Result], path: Path, datasets: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        by_model: dict[str, list[tuple[int, float]]] = {}
        for k, protocol in given_k_protocols():
            for r in results:
                if r.dataset == dataset and r.protocol == protocol:
                    by_model.setdefault(r.model, [])
                    if r.available:
                        by_model[r.model].append((k, r.values["ndcg@10"]))
        for model, points in by_model.items():
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            style = "--" if model in PEERS else "-"
            ax.plot(xs, ys, style, marker="o", label=model)
        labels = []
        for k, protocol in given_k_protocols():
            n = next(
                (
                    r.n_users
                    for r in results
                    if r.dataset == dataset and r.protocol == protocol and r.available
                ),
                None,
            )
            labels.append(f"{k}\n({n} users)" if n is not None else str(k))
        ax.set_xticks([0, *GIVEN_K], labels)
        ax.set_xlabel("interactions revealed per cold user (0 = user features only)")
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{dataset}: cold users, given k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results: list[Result],
    path: Path,
    plot_name: str | None,
    elapsed: float,
    splits_info: dict[str, str],
    load: tuple[float, float],
    seeds: tuple[int, ...],
) -> None:
    info = machine_info(("numpy", "scipy", "numba", "implicit", "pandas"))
    lines = [
        "# Accuracy benchmark",
        "",
        f"Command: `{command_line()}` -- total run time {elapsed / 60:.1f} min (1-minute "
        f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end: other jobs were "
        f"sharing the 2 cores when the load exceeds 2).",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()),
        "",
        "Protocols, data preparation and every decision are described in the docstring of "
        "`benchmarks/accuracy.py`. Short version: MovieLens 100k as implicit feedback "
        "(rating >= 4 positive), CoIL 2000 as 'holds the product'; default hyper-parameters "
        f"split seeds {', '.join(map(str, seeds))} (the models' random_state follows the "
        "split seed); every figure is the mean over the seeds; each model is fitted on the train part only; `n/a` = the "
        "model cannot serve the protocol (reason below each table). `users (excl.)`: users "
        "evaluated (users with test interactions not counted: no relevant item, or cold-item "
        "users without training). Times: fit = seconds to fit (BPR: refit with revealed "
        "interactions for given-k), score = seconds in the model's scoring calls.",
        "",
        f"Intervals: `{REFERENCE} - row [95%]` is the paired bootstrap of {REFERENCE}'s value "
        "minus the row's: per-user values (per-customer owners found for CARAVAN, per-product "
        f"AUC for new products) paired across models on the same split, {N_RESAMPLES} "
        "resamples of the units within each seed, averaged over the seeds; 2.5% and 97.5% "
        "percentiles. An interval that contains 0 is no difference. For CARAVAN the top-20% "
        "cut is kept fixed in the resamples. LightFM features: "
        + ", ".join(f"{k}={v}" for k, v in LIGHTFM_PARAMS.items())
        + " (fixed up front, not tuned), identity + attribute indicator features for users "
        "and items, refitted with the revealed interactions for given-k (as BPR). Segment "
        "popularity: per user feature value, item popularity among the training customers "
        "holding it, shrunk to global popularity (20 pseudo-customers), averaged over the "
        "customer's values (`benchmarks/_peers.py`). "
        f"`{REFIT}`: {REFERENCE} fitted again on the same split with `random_state` = "
        f"seed + {REFIT_OFFSET}; its interval is the fit's own noise (which customers its "
        "internal validation split holds out), which the per-user intervals do not "
        "contain: a change to the fit that moves a figure by less than that row's "
        "difference is not a finding (not run for new-product leave-one-out: 22 fits per "
        "seed, where the products' own spread dominates; nor for stated interests, whose rows "
        "are one fit folded in three ways).",
        "",
        "Split sizes (seed "
        + str(seeds[0])
        + "): "
        + "; ".join(f"{k}: {v}" for k, v in splits_info.items()),
        "",
        "Reading notes: every model runs with its library defaults, untuned by design; "
        "implicit's ALS (100 factors) and BPR (100 epochs, learning rate 0.01) defaults are "
        "far from suited to a 22-product catalogue, which their CoIL rows show. On CoIL the "
        "given-k cold users must hold more than k products, so their number falls with k "
        "(see `users`). Score ties are broken in a seeded random order of the candidates "
        "(not by item position, which follows popularity).",
        "",
    ]
    datasets = [d for d in DATASETS.values() if any(r.dataset == d for r in results)]
    for dataset in datasets:
        lines += [f"## {dataset}", ""]
        protocols = []
        for r in results:
            if r.dataset == dataset and r.protocol not in protocols:
                protocols.append(r.protocol)
        for protocol in protocols:
            rs = [r for r in results if r.dataset == dataset and r.protocol == protocol]
            lines += [f"### {protocol}", ""]
            if protocol == "CARAVAN CV":
                lines.append(caravan_table(rs))
                lines += [
                    "",
                    "\\* held-out customers without any other product, ranked last because "
                    "the model cannot use demographics (0: the model scores them from their "
                    "features). Owners in top 20%: summed over "
                    "folds (ties at the cut counted fractionally); `random` = 20% of the "
                    "owners.",
                ]
            elif protocol == "new product LOO":
                lines.append(loo_table(rs))
            elif protocol.startswith("RMSE"):
                lines.append(rmse_table(rs))
            elif protocol == STATED:
                lines += [ranking_table(rs, dataset), "", STATED_NOTE]
            else:
                lines.append(ranking_table(rs, dataset))
            lines.append("")
    if plot_name is not None:
        lines += [
            "## nDCG@10 against revealed interactions",
            "",
            f"![nDCG@10 given k]({plot_name})",
            "",
        ]
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="given-1 only, 2 folds, 5 products")
    parser.add_argument(
        "--seeds", default="0,1,2", help="comma-separated split seeds (at least 3 for claims)"
    )
    parser.add_argument(
        "--models", default=None, help="comma-separated model names to run (default: all)"
    )
    parser.add_argument(
        "--protocols", default=None, help="comma-separated protocol name prefixes (default: all)"
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="where to write the results")
    parser.add_argument(
        "--reference-caps",
        default="",
        help="comma-separated max_reference_users values: adds 'FeatureCF cap=N' models",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["ml", "coil", "shop"],
        choices=list(DATASETS),
        help="data sets to run (shop: the stated-interests protocol only)",
    )
    args = parser.parse_args(argv)
    seeds = tuple(int(x) for x in args.seeds.split(","))
    out_dir = args.out_dir if args.out_dir is not None else (None if args.quick else RESULTS)
    for sub in ("ml-100k", "coil2000"):
        if not (SHARED_DATA / sub).is_dir():
            print(f"skipped: {SHARED_DATA / sub} is absent (the shared data sits beside the repo)")
            return 0
    global GIVEN_K
    if args.quick:
        GIVEN_K = (1,)

    from threadpoolctl import threadpool_limits

    # implicit's own chatter (its item-kNN converts a COO matrix it builds itself)
    warnings.filterwarnings("ignore", message="Method expects CSR input")
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    results: list[Result] = []
    splits_info: dict[str, str] = {}
    with threadpool_limits(1, "blas"):
        data = load_data()
        for done, seed in enumerate(seeds, start=1):
            log(f"== split seed {seed}")
            results += run_seed(data, args, seed, splits_info if seed == seeds[0] else {})
            if out_dir is not None:  # after every seed: a run cut short keeps what it did
                elapsed = time.perf_counter() - started
                write_all(results, out_dir, args, elapsed, splits_info, load_start, seeds[:done])
    log(f"total {(time.perf_counter() - started) / 60:.1f} min")
    if out_dir is None:
        for r in aggregate(results):
            if r.available and r.diffs:
                main = "found" if "found" in r.diffs else next(iter(r.diffs))
                log(f"  {r.dataset} | {r.protocol} | {r.model}: {main} "
                    f"{REFERENCE} - row {fmt_diff(r.diffs[main])}")  # fmt: skip
    return 0


def write_all(
    results: list[Result],
    out_dir: Path,
    args: argparse.Namespace,
    elapsed: float,
    splits_info: dict[str, str],
    load_start: float,
    seeds: list[int],
) -> None:
    """Write the report (and the given-k plot) of the per-seed ``results`` over ``seeds``."""
    results = aggregate(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_name: str | None = "accuracy_given_k.png"
    given = {r.dataset for r in results if r.protocol.startswith("given")}
    datasets = [DATASETS[k] for k in args.datasets if DATASETS[k] in given]
    if datasets:
        plot_given_k(results, out_dir / plot_name, datasets)
    else:
        plot_name = None
    write_report(
        results,
        out_dir / "accuracy.md",
        plot_name,
        elapsed,
        splits_info,
        (load_start, os.getloadavg()[0]),
        seeds,
    )
    log(f"wrote {out_dir / 'accuracy.md'}" + (f" and {out_dir / plot_name}" if plot_name else ""))


def selected(factories: dict[str, Callable[[], Any]], names: str | None) -> dict:
    if names is None:
        return factories
    wanted = [n.strip() for n in names.split(",")]
    unknown = [n for n in wanted if n not in factories]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {list(factories)}")
    return {n: f for n, f in factories.items() if n in wanted}


def run_seed(
    data: dict[str, Any], args: argparse.Namespace, seed: int, splits_info: dict[str, str]
) -> list[Result]:
    """Every protocol of the chosen data sets on the splits of one seed."""
    from featcf.evaluation import split_cold_items, split_cold_users, split_random

    wanted = DATASETS
    prefixes = None if args.protocols is None else tuple(args.protocols.split(","))
    caps = tuple(int(c) for c in args.reference_caps.split(",") if c.strip())
    factories = selected({**featcf_factories(seed, caps), **peer_factories(seed)}, args.models)
    results: list[Result] = []
    for key in args.datasets:
        dataset = wanted[key]
        ds = data[dataset]
        protocols = [
            ("warm (random 20%)", lambda ds=ds: split_random(ds, 0.2, random_state=seed)),
            (
                "cold items (20% of items)",
                lambda ds=ds: split_cold_items(ds, 0.2, random_state=seed),
            ),
        ]
        for k, name in given_k_protocols():
            protocols.append(
                (name, lambda ds=ds, k=k: split_cold_users(ds, 0.2, random_state=seed, reveal=k))
            )
        protocols += [("RMSE", None), ("CARAVAN CV", None), ("new product LOO", None)]
        protocols.append((STATED, None))
        for name, make_split in protocols:
            if prefixes is not None and not name.startswith(prefixes):
                continue
            if key == "shop" and name != STATED:
                continue
            if make_split is not None:
                split = make_split()
                info = split.describe()
                splits_info[f"{dataset} {name}"] = (
                    f"{info['n_train']} train / {info['n_test']} test"
                    + (f" / {info['n_revealed']} revealed" if "n_revealed" in info else "")
                )
                log(f"{dataset}: {name} -- {split!r}")
                results += run_split(dataset, name, split, factories, KS[dataset], seed)
            elif name == "RMSE" and key == "ml" and seed == 0:
                log("MovieLens 100k: RMSE on explicit ratings (seed 0 only)")
                results += rating_errors(data["ml_explicit"], featcf_factories(seed), seed)
            elif name == "CARAVAN CV" and key == "coil":
                n_folds_run = 2 if args.quick else 5
                log(f"CoIL 2000: CARAVAN 5-fold CV ({n_folds_run} folds run)")
                results += caravan_cv(ds, factories, 5, n_folds_run, seed)
            elif name == "new product LOO" and key == "coil":
                products = np.arange(ds.n_items)[: 5 if args.quick else ds.n_items]
                log(f"CoIL 2000: new-product leave-one-out over {len(products)} products")
                results += new_product_loo(ds, factories, products, seed)
            elif name == STATED:
                log(f"{dataset}: stated interests ({STATED_FIELDS[dataset]}, top {STATED_TOP})")
                results += stated_interests(dataset, ds, factories, seed, splits_info)
    return results


if __name__ == "__main__":
    sys.exit(main())
