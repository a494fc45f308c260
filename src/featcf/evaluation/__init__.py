"""Offline evaluation: splits, ranking / AUC / rating metrics, :func:`evaluate` and
:func:`compare`."""

from __future__ import annotations

# NB: the functions ``evaluate`` and ``compare`` deliberately shadow the submodules of the
# same names.
from featcf.evaluation.compare import NOT_AVAILABLE, compare
from featcf.evaluation.evaluate import EVALUATE_METRICS, ScoreFunction, evaluate, score_split
from featcf.evaluation.splits import (
    SPLIT_KINDS,
    Split,
    split_cold_items,
    split_cold_users,
    split_random,
    split_temporal,
)
from featcf.metrics import (
    RANKING_METRICS,
    auc,
    average_precision_at_k,
    check_train_test_overlap,
    coverage_at_k,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
    summarize,
)

__all__ = [
    "EVALUATE_METRICS",
    "NOT_AVAILABLE",
    "RANKING_METRICS",
    "SPLIT_KINDS",
    "ScoreFunction",
    "Split",
    "auc",
    "average_precision_at_k",
    "check_train_test_overlap",
    "compare",
    "coverage_at_k",
    "evaluate",
    "hit_rate_at_k",
    "mae",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
    "score_split",
    "split_cold_items",
    "split_cold_users",
    "split_random",
    "split_temporal",
    "summarize",
]
