"""evaluate(): fit a model on a split's train part and measure it on the test part.

One code path serves every featcf model (through the low-level scoring API of
:class:`~featcf.models.base.BaseRecommender`) and any plain scoring function, so peers from
other libraries are measured by exactly the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike

from featcf._validation import (
    check_across,
    check_bool,
    check_cutoffs,
    check_finite_float,
    check_positive_int,
    check_random_state,
    renamed_keywords,
)
from featcf.evaluation.splits import Split
from featcf.exceptions import UnsupportedProtocolError
from featcf.metrics import (
    RANKING_METRICS,
    auc,
    check_train_test_overlap,
    mae,
    ndcg_at_k,
    ranking_metrics,
    rmse,
    summarize,
)
from featcf.models.base import BaseRecommender
from featcf.similarity import topn_dense

__all__ = ["EVALUATE_METRICS", "ScoreFunction", "evaluate", "score_split"]

#: ``fn(user_idx, item_idx, history) -> scores``; see :func:`evaluate`.
ScoreFunction = Callable[[np.ndarray, np.ndarray, "sp.csr_matrix | None"], ArrayLike]

#: Metric names :func:`evaluate` understands: the ranking metrics of
#: :func:`~featcf.metrics.ranking_metrics`, per-user ``"auc"`` over the
#: candidates, and ``"rmse"`` / ``"mae"`` of the scores against the test weights.
EVALUATE_METRICS: tuple[str, ...] = (*RANKING_METRICS, "auc", "rmse", "mae")
_DEFAULT_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "auc")
_CANDIDATE_OPTIONS = ("all", "cold_items", "warm_items")
_COLUMNS = ["metric", "k", "value", "n_users", "n_excluded", "fit_seconds", "score_seconds"]


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------


def _check_split(split: Any, argument: str = "split") -> Split:
    if not isinstance(split, Split):
        raise TypeError(
            f"{argument} must be a featcf.evaluation.Split (from split_random, split_temporal, "
            f"split_cold_items or split_cold_users), got {type(split).__name__}"
        )
    return split


def _check_model(model: Any, argument: str = "model") -> None:
    if not isinstance(model, BaseRecommender) and not callable(model):
        raise TypeError(
            f"{argument} must be a featcf recommender or a scoring function "
            f"fn(user_idx, item_idx, history) -> scores, got {type(model).__name__}"
        )


def _check_metrics(metrics: Any) -> tuple[str, ...]:
    if metrics is None:
        return _DEFAULT_METRICS
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not names:
        raise ValueError("metrics must name at least one metric")
    for name in names:
        if name not in EVALUATE_METRICS:
            valid = ", ".join(map(repr, EVALUATE_METRICS))
            raise ValueError(f"unknown metric {name!r} in metrics; valid names are {valid}")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics names a metric more than once: {list(names)}")
    return names


def _resolve_candidates(candidates: Any, split: Split) -> np.ndarray:
    """Candidate item positions (sorted, unique int64)."""
    n_items = split.train.n_items
    if candidates is None:
        candidates = "cold_items" if split.kind == "cold_items" else "all"
    if isinstance(candidates, str):
        if candidates not in _CANDIDATE_OPTIONS:
            options = ", ".join(map(repr, _CANDIDATE_OPTIONS))
            raise ValueError(
                f"candidates must be one of {options} or an array of item positions; "
                f"got {candidates!r}"
            )
        if candidates == "all":
            return np.arange(n_items, dtype=np.int64)
        if candidates == "warm_items":
            return np.flatnonzero(split.train.item_counts() > 0).astype(np.int64)
        if split.cold_items is None:
            raise ValueError(
                f"candidates='cold_items' needs a cold-items split (split_cold_items); this "
                f"split is {split.kind!r}"
            )
        return np.asarray(split.cold_items, dtype=np.int64)
    arr = np.asarray(candidates)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"candidates must be integer item positions, got dtype {arr.dtype}")
    arr = np.unique(arr.astype(np.int64).ravel())
    if arr.size == 0:
        raise ValueError("candidates must not be empty")
    if arr[0] < 0 or arr[-1] >= n_items:
        raise ValueError(f"candidates must be item positions in [0, {n_items})")
    return arr


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------


def _name(model: Any) -> str:
    return (
        type(model).__name__
        if isinstance(model, BaseRecommender)
        else getattr(model, "__name__", type(model).__name__)
    )


def _require(model: Any, flag: str, what: str) -> None:
    # featcf models always carry the flags; a scoring callable may declare them too
    if getattr(model, flag, True) is False:
        raise UnsupportedProtocolError(
            f"{_name(model)} cannot score {what} ({flag} is False); use FeatureCF for that protocol"
        )


def _check_protocol(model: Any, split: Split, users: np.ndarray, items: np.ndarray) -> None:
    """Raise UnsupportedProtocolError before any work if a featcf model cannot serve."""
    if split.cold_items is not None and np.isin(items, split.cold_items).any():
        _require(model, "handles_new_items", "items without training interactions")
    if split.cold_users is None or not np.isin(users, split.cold_users).any():
        return
    if split.revealed is None:
        _require(
            model,
            "handles_new_users_with_features",
            "users with features only (no interactions)",
        )
    else:
        _require(model, "handles_new_users_with_history", "users unknown at fit time (fold-in)")


def _check_scores(scores: Any, shape: tuple[int, int], model: Any) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.shape != shape:
        raise ValueError(
            f"{_name(model)} returned scores of shape {arr.shape}, expected {shape} "
            f"(len(user_idx), len(item_idx))"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(f"{_name(model)} returned {n_nan} NaN score(s); scores must not be NaN")
    return np.ascontiguousarray(arr)


def _score_block(
    model: Any,
    split: Split,
    users: np.ndarray,
    items: np.ndarray,
    new: bool,
    use_user_features: bool,
    across: str = "items",
) -> np.ndarray:
    """Scores of one batch of users, all on the same path (fitted users or fold-in);
    ``across`` is passed to featcf models (scoring functions have one scoring)."""
    if new:
        history = sp.csr_matrix(split.revealed.interactions[users], dtype=np.float32)
        if isinstance(model, BaseRecommender):
            features = None
            uf = split.train.user_features
            if use_user_features and uf is not None and model.handles_new_users_with_features:
                features = sp.csr_matrix(uf.matrix[users], dtype=np.float32)
            out = model.score_new_users(
                history=history, user_features=features, item_idx=items, across=across
            )
        else:
            out = model(users, items, history)
    elif isinstance(model, BaseRecommender):
        out = model.score_users(users, items, across=across)
    else:
        out = model(users, items, None)
    return _check_scores(out, (len(users), len(items)), model)


def _iter_blocks(
    model: Any,
    split: Split,
    users: np.ndarray,
    items: np.ndarray,
    use_user_features: bool,
    batch_size: int,
    across: str = "items",
):
    """Yield (positions into ``users``, scores) batch by batch, fitted users first."""
    if split.revealed is not None and split.cold_users is not None:
        is_new = np.isin(users, split.cold_users)
    else:
        is_new = np.zeros(len(users), dtype=bool)
    for new in (False, True):
        positions = np.flatnonzero(is_new == new)
        for start in range(0, len(positions), batch_size):
            pos = positions[start : start + batch_size]
            block = _score_block(model, split, users[pos], items, new, use_user_features, across)
            yield pos, block


def score_split(
    model: BaseRecommender | ScoreFunction,
    split: Split,
    users: ArrayLike | None = None,
    items: ArrayLike | None = None,
    *,
    use_user_features: bool = True,
    batch_size: int = 1024,
    across: str = "items",
) -> np.ndarray:
    """Dense scores of a split's users for some items, routed as :func:`evaluate` does.

    The model must already be fitted on ``split.train`` (nothing is fitted here). Cold users
    of a given-k split are folded in from their revealed history; every other user is
    scored as a fitted user. Useful for measures :func:`evaluate` does not compute, e.g.
    the AUC of one product over customers.

    Parameters
    ----------
    model : BaseRecommender or callable
        A fitted featcf model or a scoring function (see :func:`evaluate`).
    split : Split
        The split whose routing (cold users, revealed history) applies.
    users : array-like of int, optional
        User positions; the split's test users by default.
    items : array-like of int, optional
        Item positions; all items by default.
    use_user_features : bool, default True
        Pass the encoded features of folded-in users to models that use them.
    batch_size : int, default 1024
        Users scored per call.
    across : {"items", "users"}, default "items"
        What the scores will be compared across: each user's items (as :func:`evaluate`
        ranks them) or each item's users (e.g. the AUC of one product over customers,
        as ``recommend_users`` ranks them); see ``BaseRecommender.score_users``.

    Returns
    -------
    numpy.ndarray of shape (len(users), len(items))
        Raw scores (seen items are not masked).

    Raises
    ------
    UnsupportedProtocolError
        If a featcf model cannot serve the split's users or items.
    """
    split = _check_split(split)
    _check_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    across = check_across(across)
    user_idx = split.test_users if users is None else np.asarray(users, dtype=np.int64).ravel()
    n_items = split.train.n_items
    item_idx = (
        np.arange(n_items, dtype=np.int64)
        if items is None
        else np.asarray(items, dtype=np.int64).ravel()  # the caller's order
    )
    for name, idx, n in (("users", user_idx, split.train.n_users), ("items", item_idx, n_items)):
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{name} must be positions in [0, {n})")
    _check_protocol(model, split, user_idx, item_idx)
    out = np.empty((len(user_idx), len(item_idx)), dtype=np.float64)
    blocks = _iter_blocks(model, split, user_idx, item_idx, use_user_features, batch_size, across)
    for pos, block in blocks:
        out[pos] = block
    return out


# --------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------


def _fit(model: Any, split: Split, fit: bool) -> float:
    """Fit (timed) or check that a fitted model matches the split; returns seconds or NaN."""
    if fit:
        fitter = getattr(model, "fit", None)
        if fitter is None or not callable(fitter):
            return float("nan")
        start = time.perf_counter()
        fitter(split.train)
        return time.perf_counter() - start
    if isinstance(model, BaseRecommender):
        fitted = model._fitted_dataset()
        if (fitted.n_users, fitted.n_items) != (split.train.n_users, split.train.n_items):
            raise ValueError(
                f"the model was fitted on {fitted.n_users} users x {fitted.n_items} items but "
                f"split.train has {split.train.n_users} x {split.train.n_items}; fit it on "
                f"split.train (or pass fit=True)"
            )
        shared = check_train_test_overlap(fitted.interactions, split.test.interactions)
        if shared:
            raise ValueError(
                f"the model was fitted on data holding {shared} test interaction(s); fit it "
                f"on split.train (or pass fit=True)"
            )
    return float("nan")


def _exclusions(split: Split) -> sp.csr_matrix:
    """Items never recommended to a user: training interactions plus revealed history."""
    seen = split.train.interactions
    if split.revealed is not None:
        seen = seen + split.revealed.interactions
    return sp.csr_matrix(seen, dtype=np.float32)


@renamed_keywords(tie_seed="random_state")
def evaluate(
    model: BaseRecommender | ScoreFunction,
    split: Split,
    k: int | Sequence[int] = 10,
    candidates: str | ArrayLike | None = None,
    metrics: str | Sequence[str] | None = None,
    *,
    positive_threshold: float | None = None,
    fit: bool = True,
    use_user_features: bool = True,
    batch_size: int = 1024,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Fit ``model`` on ``split.train``, score the test users and measure the rankings.

    **Who is scored, and how.** The evaluated users are those with at least one test
    interaction among the candidate items. A featcf model scores them with
    ``model.score_users`` (warm users, users of a cold-items split, and the
    demographics-only cold users of ``split_cold_users(reveal=0)``, who are in
    ``split.train`` with their features and no interactions); the cold users of a given-k
    split (``reveal >= 1``) are folded in with ``model.score_new_users(history=<their
    revealed interactions>, user_features=<their encoded feature rows, for models that use
    user features>)``. Before any scoring, a model whose class flags say it cannot serve the
    protocol (``handles_new_items`` for cold items among the candidates,
    ``handles_new_users_with_features`` for demographics-only users,
    ``handles_new_users_with_history`` for given-k) raises
    :class:`~featcf.models.base.UnsupportedProtocolError`; so does the model itself when it
    refuses a query.

    In a cold-items split, users whose every interaction was on a cold item have no
    training interaction left; they are not scored (that would be a cold-user query too)
    and are counted in ``n_excluded``.

    **Candidates and exclusions.** Each user's ranking is over the candidate items minus
    the items of their training interactions and revealed history. Test interactions
    outside the candidates are ignored.

    **Relevance.** A test interaction is relevant when its weight is ``>=
    positive_threshold`` (all test interactions when None); users whose test interactions
    are all below the threshold are counted in ``n_excluded`` for the ranking metrics and
    AUC. Graded nDCG uses the weights as gains.

    Parameters
    ----------
    model : BaseRecommender or callable
        A featcf model, fitted here on ``split.train`` unless ``fit=False``; or a scoring
        function ``fn(user_idx, item_idx, history) -> scores`` with

        - ``user_idx``: int64 array of shape (n,), internal user positions of
          ``split.train``;
        - ``item_idx``: int64 array of shape (m,), the candidate item positions;
        - ``history``: ``None`` when the users are known to the fitted state (their
          interactions are the rows of ``split.train.interactions``), or for given-k cold
          users a float32 ``csr_matrix`` of shape (n, n_items) with their revealed
          interactions (their training rows are empty);
        - returns a dense float array of shape (n, m), higher is better, no NaN (``-inf``
          allowed). Raise :class:`~featcf.models.base.UnsupportedProtocolError` for
          queries it cannot serve.

        A callable may declare the featcf class flags (``handles_new_items``,
        ``handles_new_users_with_features``, ``handles_new_users_with_history``); one set
        to False makes unsupported protocols raise before any work, as for featcf models.

        If the callable also has a ``fit(dataset)`` method and ``fit=True``, it is called
        with ``split.train`` first (and timed).
    split : Split
        From :func:`~featcf.evaluation.split_random`, :func:`split_temporal`,
        :func:`split_cold_items` or :func:`split_cold_users`.
    k : int or sequence of int, default 10
        Cut-off(s) of the ranking metrics.
    candidates : {"all", "cold_items", "warm_items"} or array-like of int, optional
        Items to rank: the whole catalogue, the split's cold items, the items with training
        interactions, or explicit item positions. Default: ``"cold_items"`` for a
        cold-items split, else ``"all"``.
    metrics : str or sequence of str, optional
        Names from :data:`EVALUATE_METRICS`. Default ``("precision", "recall", "ndcg",
        "map", "hit_rate", "auc")``. ``"coverage"`` is the fraction of candidates in some
        top-k list. ``"rmse"`` / ``"mae"`` compare the scores with the weights of every
        test interaction among the candidates (meaningful only for models whose scores are
        rating predictions).
    positive_threshold : float, optional
        Minimum weight of a relevant test interaction (e.g. 4.0 for ratings).
    fit : bool, default True
        Fit the model on ``split.train``. With False the model must already be fitted on a
        Dataset of the split's catalogue that holds no test interaction (checked).
    use_user_features : bool, default True
        Pass folded-in users' encoded features to models that use user features.
    batch_size : int, default 1024
        Users scored per call.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the random order of the candidates, which decides between equal scores in
        the top-k lists (not the item positions, which often follow popularity: a model
        giving every cold item the same score must not profit from them). AUC counts ties
        as 1/2 and does not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per (metric, k): ``metric``, ``k`` (nullable Int64; ``<NA>`` for auc, rmse,
        mae), ``value`` (mean over evaluated users), ``n_users`` (users it was computed
        on), ``n_excluded`` (users with test interactions among the candidates that were
        not counted: no relevant item, or cold-items users without training), ``fit_seconds``
        (NaN when not fitted here) and ``score_seconds`` (time spent in the model's scoring
        calls). ``frame.attrs`` holds ``model``, ``split`` (its sizes), ``n_candidates``
        and ``per_user``: a dict of the evaluated ``user_idx`` (int64) and, per ranking
        cut-off, ``"ndcg@<k>"``, plus ``"auc"`` when asked (float64 arrays, NaN for users
        without a relevant item), for paired comparisons of models on the same split.

    Raises
    ------
    UnsupportedProtocolError
        If the model cannot serve the split's protocol.
    TypeError, ValueError
        For bad arguments (messages name them), a scoring function returning the wrong
        shape or NaN, or (``fit=False``) a model fitted on other data.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.evaluation import evaluate, split_random
    >>> from featcf.models import Popularity
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> table = evaluate(Popularity(), split_random(shop, random_state=0), k=5, metrics=["ndcg"])
    >>> table[["metric", "k"]].values.tolist()
    [['ndcg', 5]]
    """
    split = _check_split(split)
    _check_model(model)
    ks = check_cutoffs(k)
    names = _check_metrics(metrics)
    threshold = check_finite_float(positive_threshold, "positive_threshold", allow_none=True)
    batch_size = check_positive_int(batch_size, "batch_size")
    fit = check_bool(fit, "fit")
    use_user_features = check_bool(use_user_features, "use_user_features")
    # Score the candidates in a seeded random order: top-n selection breaks ties by column,
    # and item positions often follow popularity (order of first appearance in the data).
    items = check_random_state(random_state).permutation(_resolve_candidates(candidates, split))

    test = sp.csr_matrix(split.test.interactions[:, items], dtype=np.float64)
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int64)
    n_dropped = 0
    if split.kind == "cold_items":
        # users left without any training interaction would be cold users as well
        known = split.train.user_counts()[users] > 0
        n_dropped = int((~known).sum())
        users = users[known]
    _check_protocol(model, split, users, items)
    fit_seconds = _fit(model, split, bool(fit))

    test = sp.csr_matrix(test[users])
    relevant = test.copy()
    if threshold is not None:
        relevant.data[relevant.data < threshold] = 0.0
        relevant.eliminate_zeros()
    exclude = sp.csr_matrix(_exclusions(split)[users][:, items])
    n_top = min(max(ks), len(items))
    ranked = np.full((len(users), n_top), -1, dtype=np.int64)
    auc_values = np.full(len(users), np.nan)
    want_auc = "auc" in names
    rating_pairs = [name for name in names if name in ("rmse", "mae")]
    y_true: list[np.ndarray] = []
    y_pred: list[np.ndarray] = []
    score_seconds = 0.0
    blocks = _iter_blocks(model, split, users, items, use_user_features, batch_size)
    while True:
        start = time.perf_counter()
        try:
            pos, scores = next(blocks)
        except StopIteration:
            score_seconds += time.perf_counter() - start
            break
        score_seconds += time.perf_counter() - start
        excl = sp.csr_matrix(exclude[pos])
        idx, _ = topn_dense(scores, n_top, exclude=excl)
        ranked[pos] = idx
        if want_auc:
            auc_values[pos] = auc(scores, relevant[pos], exclude=excl)
        if rating_pairs:
            block = sp.coo_matrix(test[pos])
            y_true.append(block.data)
            y_pred.append(scores[block.row, block.col])

    frames = []
    per_user: dict[str, np.ndarray] = {"user_idx": users}
    n_rel = np.diff(relevant.indptr)
    for cut in ks:
        per_user[f"ndcg@{cut}"] = ndcg_at_k(ranked, relevant, cut)
    ranking_names = [n for n in names if n in RANKING_METRICS]
    if ranking_names:
        frames.append(ranking_metrics(ranked, relevant, ks, ranking_names))
    if want_auc:
        auc_values[n_rel == 0] = np.nan
        per_user["auc"] = auc_values
        frames.append(summarize({"auc": auc_values}))
    if rating_pairs:
        truth = np.concatenate(y_true) if y_true else np.empty(0)
        pred = np.concatenate(y_pred) if y_pred else np.empty(0)
        for name in rating_pairs:
            value = (rmse if name == "rmse" else mae)(truth, pred) if truth.size else np.nan
            frames.append(
                pd.DataFrame(
                    {
                        "metric": [name],
                        "k": pd.array([pd.NA], dtype="Int64"),
                        "value": [float(value)],
                        "n_users": [len(users)],
                        "n_excluded": [0],
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)
    table["n_excluded"] = table["n_excluded"] + n_dropped
    order = {name: i for i, name in enumerate(names)}
    table = table.iloc[np.argsort(table["metric"].map(order).to_numpy(), kind="stable")]
    table = table.reset_index(drop=True)
    table["fit_seconds"] = fit_seconds
    table["score_seconds"] = score_seconds
    table = table[_COLUMNS]
    table.attrs = {
        "model": _name(model),
        "split": split.describe(),
        "n_candidates": len(items),
        "per_user": per_user,
    }
    return table
