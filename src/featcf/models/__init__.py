"""Recommenders sharing one interface (see :class:`~featcf.models.base.BaseRecommender`)."""

from featcf.models.base import BaseRecommender, UnsupportedProtocolError
from featcf.models.popular import Popularity

__all__ = ["BaseRecommender", "Popularity", "UnsupportedProtocolError"]
