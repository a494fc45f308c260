"""featcf: feature-based collaborative filtering for few interactions and new products.

Importing featcf is light: numba kernels compile lazily (and are cached on disk) the first
time a model or similarity function needs them.
"""

from featcf._version import __version__
from featcf.data import Dataset, FieldSpec
from featcf.exceptions import (
    ColdStartWarning,
    FeatureEncodingWarning,
    ModelFormatError,
    NotFittedError,
    UnknownIdError,
)

__all__ = [
    "ColdStartWarning",
    "Dataset",
    "FeatureEncodingWarning",
    "FieldSpec",
    "ModelFormatError",
    "NotFittedError",
    "UnknownIdError",
    "__version__",
]
