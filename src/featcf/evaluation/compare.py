"""compare(): several models on several protocols, one wide table, built on :func:`evaluate`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import clone

from featcf._validation import check_positive_int
from featcf.evaluation.evaluate import (
    EVALUATE_METRICS,
    ScoreFunction,
    _check_model,
    _check_split,
    _name,
    evaluate,
)
from featcf.evaluation.splits import Split
from featcf.exceptions import UnsupportedProtocolError
from featcf.metrics import RANKING_METRICS
from featcf.models.base import BaseRecommender

__all__ = ["NOT_AVAILABLE", "compare"]

#: Name of the column of :func:`compare`'s table that gives, per model, the protocols it
#: refused and why.
NOT_AVAILABLE = "n/a"


def _split_label(split: Any, argument: str) -> str:
    """``random``, ``temporal``, ``cold_items``, ``cold_users`` or ``given_<k>``."""
    split = _check_split(split, argument)
    return f"given_{split.reveal}" if split.reveal else split.kind


def _model_label(model: Any, argument: str) -> str:
    _check_model(model, argument)
    return _name(model)


def _named(items: Any, argument: str, label: Any) -> dict[str, Any]:
    """``{name: item}`` from a mapping, or from a sequence named by ``label(item, argument)``
    (which also checks the item)."""
    if isinstance(items, Mapping):
        named = {str(key): value for key, value in items.items()}
        for key, value in named.items():
            label(value, f"{argument}[{key!r}]")
    elif isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(
            f"{argument} must be a mapping {{name: ...}} or a list, got {type(items).__name__}"
        )
    else:
        labels = [label(item, f"{argument}[{i}]") for i, item in enumerate(items)]
        repeated = sorted({name for name in labels if labels.count(name) > 1})
        if repeated:
            raise ValueError(
                f"{argument} holds several entries named {repeated}; pass a mapping "
                f"{{name: ...}} to tell them apart"
            )
        named = dict(zip(labels, items, strict=True))
    if not named:
        raise ValueError(f"{argument} must not be empty")
    if NOT_AVAILABLE in named:
        raise ValueError(f"{argument} must not use the name {NOT_AVAILABLE!r} (the reason column)")
    return named


def compare(
    models: Mapping[str, BaseRecommender | ScoreFunction]
    | Sequence[BaseRecommender | ScoreFunction],
    splits: Mapping[str, Split] | Sequence[Split],
    k: int = 10,
    metric: str = "ndcg",
    *,
    candidates: str | ArrayLike | None = None,
    positive_threshold: float | None = None,
    use_user_features: bool = True,
    batch_size: int = 1024,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Evaluate every model on every split: one table, models by protocols.

    Each cell is :func:`evaluate`'s value of ``metric`` at ``k`` for one model fitted on one
    split's ``train`` part. A model that cannot serve a protocol (it raises
    :class:`~featcf.models.base.UnsupportedProtocolError`, e.g. ItemKNN on new products)
    gets NaN there, and the last column, ``"n/a"``, says which protocols each model refused
    and why; the other errors propagate.

    Parameters
    ----------
    models : mapping of str to model, or sequence of models
        featcf recommenders or scoring functions, as :func:`evaluate` takes them. A featcf
        model is cloned (:func:`sklearn.base.clone`) for each split and the clone fitted, so
        the given models stay as they are; a scoring function is used as given (with its
        ``fit`` method, if any, called on each split). A sequence is named by class (or
        function) name; pass a mapping to compare two settings of one model.
    splits : mapping of str to Split, or sequence of Split
        The protocols, from :mod:`featcf.evaluation`'s splitters. A sequence is named by kind:
        ``"random"``, ``"temporal"``, ``"cold_items"``, ``"cold_users"`` (demographics
        only) or ``"given_<k>"`` (``split_cold_users(..., reveal=k)``).
    k : int, default 10
        Cut-off of the ranking metric (ignored for ``"auc"``, ``"rmse"``, ``"mae"``).
    metric : str, default "ndcg"
        One name from :data:`~featcf.evaluation.EVALUATE_METRICS`.
    candidates, positive_threshold, use_user_features, batch_size, random_state
        Passed to :func:`evaluate` for every cell. With an int ``random_state`` (the
        default, 0) every model meets the same order of tied candidates.

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``, in the order given) and one float column per
        protocol (in the order given), then the string column ``"n/a"``: for each model,
        ``"<protocol>: <the model's reason>"`` for every protocol it refused (the message
        of its :class:`~featcf.models.base.UnsupportedProtocolError`), joined by
        ``" | "`` (empty when it served them all). ``table.drop(columns="n/a")`` is the
        numbers alone. A NaN without a reason means that no test user could be evaluated
        (:func:`evaluate`'s ``n_users`` is 0). ``table.attrs`` holds ``metric`` (e.g.
        ``"ndcg@10"``) and ``splits`` (each split's
        :meth:`~featcf.evaluation.Split.describe`).

    Raises
    ------
    TypeError, ValueError
        For bad arguments (the messages name them), or what :func:`evaluate` raises for a
        cell other than :class:`~featcf.models.base.UnsupportedProtocolError`.

    See Also
    --------
    evaluate : one model on one split, every metric and cut-off, with user counts and times.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.evaluation import compare, split_cold_items, split_random
    >>> from featcf.models import ItemKNN, Popularity
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> table = compare(
    ...     [Popularity(), ItemKNN(n_neighbors=20)],
    ...     {"warm": split_random(shop, random_state=0),
    ...      "new products": split_cold_items(shop, random_state=0)},
    ...     k=5,
    ... )
    >>> list(table.columns)
    ['warm', 'new products', 'n/a']
    >>> table["new products"].isna().tolist()  # ItemKNN cannot score new products
    [False, True]
    >>> print(table.loc["ItemKNN", "n/a"])  # doctest: +NORMALIZE_WHITESPACE
    new products: cannot score items without training interactions (handles_new_items is
    False); use FeatureCF for that protocol
    >>> table.attrs["metric"]
    'ndcg@5'
    """
    named_models = _named(models, "models", _model_label)
    named_splits = _named(splits, "splits", _split_label)
    k = check_positive_int(k, "k")
    if not isinstance(metric, str) or metric not in EVALUATE_METRICS:
        valid = ", ".join(map(repr, EVALUATE_METRICS))
        raise ValueError(f"metric must be one metric name, one of {valid}; got {metric!r}")

    values = pd.DataFrame(
        np.nan,
        index=pd.Index(list(named_models), name="model"),
        columns=pd.Index(list(named_splits), name="protocol"),
    )
    refusals: dict[str, list[str]] = {name: [] for name in named_models}
    for model_name, model in named_models.items():
        for protocol, split in named_splits.items():
            fresh = clone(model) if isinstance(model, BaseRecommender) else model
            try:
                table = evaluate(
                    fresh,
                    split,
                    k=k,
                    candidates=candidates,
                    metrics=[metric],
                    positive_threshold=positive_threshold,
                    use_user_features=use_user_features,
                    batch_size=batch_size,
                    random_state=random_state,
                )
            except UnsupportedProtocolError as exc:
                reason = str(exc)  # "ItemKNN cannot ...": the row already names the model
                reason = reason.removeprefix(f"{_name(model)} ")
                refusals[model_name].append(f"{protocol}: {reason}")
                continue
            values.loc[model_name, protocol] = float(table["value"].iloc[0])
    values[NOT_AVAILABLE] = [" | ".join(refusals[name]) for name in named_models]
    values.columns.name = "protocol"
    values.attrs = {
        "metric": f"{metric}@{k}" if metric in RANKING_METRICS else metric,
        "splits": {name: split.describe() for name, split in named_splits.items()},
    }
    return values
