"""Popularity: the baseline and the explicit last-resort fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import Array, Spec
from featcf._validation import check_option
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.models._reasons import POPULAR, PairQuery
from featcf.models.base import BaseRecommender

__all__ = ["Popularity"]


class Popularity(BaseRecommender):
    """Recommend the most popular items to everyone.

    Parameters
    ----------
    by : {"users", "weight"}, default "users"
        Popularity as the number of users who interacted with an item, or as the sum of
        their interaction weights.

    Attributes
    ----------
    popularity_ : numpy.ndarray of shape (n_items,)
        Each item's score. Items added later with :meth:`add_items` score 0.

    Notes
    -----
    It has no notion of similar products or customers: :meth:`similar_items` and
    :meth:`similar_users` raise :class:`~featcf.models.base.UnsupportedProtocolError`.

    **partial_fit updates** everything: ``popularity_`` is recounted on the grown Dataset
    (what a refit gives), and customers registered by :meth:`partial_fit` are known.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> model = Popularity().fit(shop)
    >>> model.recommend(shop.user_ids[:1], n=3)["rank"].tolist()
    [1, 2, 3]
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = True
    handles_new_items = True

    def __init__(self, by: str = "users") -> None:
        self.by = by

    def _check_params(self) -> None:
        check_option(self.by, "by", ("users", "weight"))

    def _fit(self, dataset: Dataset) -> None:
        if self.by == "users":
            popularity = dataset.item_counts().astype(np.float64)
        else:
            popularity = np.asarray(dataset.interactions.sum(axis=0), dtype=np.float64).ravel()
        self.popularity_ = popularity.astype(np.float32)

    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        return {"popularity_": Array("float32", (dataset.n_items,), low=0.0)}

    def _popularity_scores(self) -> np.ndarray:
        return self.popularity_

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_[item_idx], (len(user_idx), len(item_idx)))

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        return np.broadcast_to(self.popularity_[item_idx], (history.shape[0], len(item_idx)))

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        self._fit(new_dataset)  # one pass over the interactions: the refit itself

    def _extend_items(self, n_new: int) -> None:
        self.popularity_ = np.concatenate([self.popularity_, np.zeros(n_new, np.float32)])

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        """One ``"popularity"`` row per pair (the same for every customer of an item)."""
        pair = np.arange(len(query.items))
        return pd.DataFrame(
            {
                "pair": pair,
                Columns.PART: "popularity",
                Columns.FIELD: None,
                Columns.VALUE: None,
                Columns.CONTRIBUTION: self.popularity_[query.items].astype(np.float64),
                Columns.LABEL: POPULAR,
                "constant": "item",
            }
        )
