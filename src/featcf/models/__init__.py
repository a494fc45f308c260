"""Recommenders sharing one interface (see :class:`~featcf.models.base.BaseRecommender`)."""

from featcf.models.als import ALS
from featcf.models.base import BaseRecommender, UnsupportedProtocolError
from featcf.models.content import ContentKNN
from featcf.models.feature_cf import FeatureCF
from featcf.models.knn import ItemKNN, UserKNN
from featcf.models.popular import Popularity

__all__ = [
    "ALS",
    "BaseRecommender",
    "ContentKNN",
    "FeatureCF",
    "ItemKNN",
    "Popularity",
    "UnsupportedProtocolError",
    "UserKNN",
]
