"""featcf: feature-based collaborative filtering for few interactions and new products.

Importing featcf is light: models, kernels and loaders are imported on first use, and numba
kernels compile lazily (cached on disk) the first time they run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from featcf._version import __version__
from featcf.exceptions import (
    ColdStartWarning,
    FeatureEncodingWarning,
    ModelFormatError,
    NotFittedError,
    StaleModelWarning,
    UnknownIdError,
)

if TYPE_CHECKING:  # for type checkers; at run time these are served lazily (below)
    from featcf.data import Dataset as Dataset
    from featcf.data import FieldSpec as FieldSpec

# Public names served lazily: name -> module that defines it.
_LAZY = {
    # featcf.data imports pandas: lazy, so that a Dask worker that only runs similarity
    # tasks (featcf.similarity, numba) does not load it
    "Dataset": "featcf.data",
    "FieldSpec": "featcf.data",
    "load": "featcf.persistence",
    "save": "featcf.persistence",
    "BaseRecommender": "featcf.models",
    "UnsupportedProtocolError": "featcf.models",
    "Popularity": "featcf.models",
    "ItemKNN": "featcf.models",
    "UserKNN": "featcf.models",
    "ContentKNN": "featcf.models",
    "FeatureCF": "featcf.models",
    "ALS": "featcf.models",
    "Columns": "featcf.columns",
}

__all__ = [
    "ColdStartWarning",
    "FeatureEncodingWarning",
    "ModelFormatError",
    "NotFittedError",
    "StaleModelWarning",
    "UnknownIdError",
    "__version__",
    *_LAZY,
]


#: subpackages reachable as ``featcf.<name>`` without importing them first
_SUBMODULES = ("data", "datasets", "evaluation", "models", "retention", "similarity")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"featcf.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'featcf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
