"""Ready-made datasets: MovieLens and CoIL 2000 loaders, and a synthetic insurance shop.

The loaders read data the user already has (nothing is downloaded; MovieLens' terms do not
allow redistribution). Each returns a :class:`featcf.Dataset` with item and user fields;
the ``*_frames`` functions return the raw pandas frames for notebooks and custom choices.
"""

from featcf.datasets.coil2000 import coil2000_frames, coil2000_products, load_coil2000
from featcf.datasets.movielens import load_movielens, movielens_frames
from featcf.datasets.synthetic import make_insurance_shop

__all__ = [
    "coil2000_frames",
    "coil2000_products",
    "load_coil2000",
    "load_movielens",
    "make_insurance_shop",
    "movielens_frames",
]
