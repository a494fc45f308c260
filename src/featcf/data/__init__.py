"""Data containers: id maps, attribute fields and the Dataset."""

from featcf.data.dataset import Dataset
from featcf.data.features import FeatureEncoder, FeatureMatrix, Field, FieldSpec
from featcf.data.idmap import IdMap

__all__ = ["Dataset", "FeatureEncoder", "FeatureMatrix", "Field", "FieldSpec", "IdMap"]
