"""The model classes the cross-model tests run over (issue 13), with quick hyper-parameters.

Importable from every test folder (``pythonpath = ["tests"]`` in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

import featcf
from featcf.models import BaseRecommender

#: every estimator class featcf.models exports, by name
CLASSES = [
    name
    for name in featcf.models.__all__
    if isinstance(getattr(featcf.models, name), type)
    and issubclass(getattr(featcf.models, name), BaseRecommender)
    and name != "BaseRecommender"
]

#: settings that keep the slow models quick and deterministic (the rest are defaults)
QUICK = {
    "ALS": {"factors": 4, "iterations": 2, "random_state": 0, "show_progress": False},
    "FeatureCF": {"show_progress": False, "random_state": 0},
}


def quick(name: str, **params: Any) -> BaseRecommender:
    """An unfitted ``name`` model with :data:`QUICK` settings, updated by ``params``."""
    return getattr(featcf.models, name)(**{**QUICK.get(name, {}), **params})
