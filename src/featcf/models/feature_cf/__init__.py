"""FeatureCF: feature-based collaborative filtering, the core model of featcf.

A package of private modules, one per concern; the public names are re-exported here.
"""

from featcf.models.feature_cf._linalg import CONTENT_RIDGE_ALPHAS, EASE_L2_GRID, POP_RIDGE_ALPHAS
from featcf.models.feature_cf._model import BAND_EDGES, FeatureCF

__all__ = ["BAND_EDGES", "CONTENT_RIDGE_ALPHAS", "EASE_L2_GRID", "FeatureCF", "POP_RIDGE_ALPHAS"]
