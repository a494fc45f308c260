"""Content-based kNN: items scored by their feature similarity to the user's history.

The pure content path of featcf: it never looks at who else bought what, so a product added
with :meth:`~featcf.models.base.BaseRecommender.add_items` (features, no interactions) is
scored like any other.

Similarity
----------
Every item's encoded features are split into fields (category, genre, premium band, ...).
With ``x_f(i)`` the values of field ``f`` of item ``i`` (one-hot / multi-hot), ``w_f >= 0`` the
field weights and ``[i has f]`` = 1 when item ``i`` has a value of field ``f``:

``metric="cosine"``
    ``sim(j, i) = sum_f w_f cos(x_f(j), x_f(i)) / sqrt(sum_f w_f [j has f] * sum_f w_f [i has f])``,
    i.e. the cosine of the per-field unit-normalised vectors in the ``w``-weighted inner
    product. When both items have every field this is the weighted mean of the per-field
    cosines, so a multi-valued field (genres) weighs no more than a categorical one.
``metric="jaccard"``
    weighted Jaccard of the value sets, ``sum_{c in j & i} w_c / sum_{c in j | i} w_c`` with
    ``w_c`` the weight of the field of value ``c``.

Scores
------
``score(u, i) = sum_{j != i} r_uj * S[j, i]`` where ``S[j, i] = sim(j, i)`` when ``i`` is among
the ``n_neighbors`` items most similar to ``j`` (all items when ``n_neighbors is None``) and 0
otherwise; ``r_uj`` is the interaction weight. With ``n_neighbors=None`` and cosine the scores
are computed as ``(history @ E) @ E.T`` from the item vectors ``E`` (no items x items matrix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import Json, Sparse, Spec, json_weights
from featcf._validation import check_nonnegative_weights, check_option, check_positive_int
from featcf.data.dataset import Dataset
from featcf.data.features import FeatureMatrix
from featcf.models._reasons import BOTH_BUY, PairQuery, field_label, parts_frame
from featcf.models._scoring import (
    dense_columns,
    explanation_frame,
    field_normalised,
    gather,
    pair_entries,
)
from featcf.models._similar import ItemQuery, shared_value_parts, spread_columns
from featcf.models.base import BaseRecommender
from featcf.similarity import topk_similarity, topk_similarity_between

__all__ = ["ContentKNN"]

CONTENT_METRICS = ("cosine", "jaccard")


class ContentKNN(BaseRecommender):
    """Recommend items whose features resemble the user's history (per-field weights).

    Parameters
    ----------
    n_neighbors : int or None, default None
        Neighbours kept per item; ``None`` keeps every item (a full content similarity,
        computed without an items x items matrix for cosine; Jaccard with ``n_neighbors=None``
        stores every similar pair, up to n_items^2 entries: give ``n_neighbors`` for large
        catalogues).
    field_weights : dict of str to float, optional
        Weight of each item field (``{"category": 2.0, "premium": 0.5}``). Fields not listed
        keep weight 1.0 (``None``: every field 1.0, uniform); give 0.0 to ignore a field.
    metric : {"cosine", "jaccard"}, default "cosine"
        Item-item feature similarity (see the module docstring).
    n_threads : int, optional
        numba threads of the similarity kernel when ``n_neighbors`` is set or for Jaccard
        (default: all numba threads).

    Attributes
    ----------
    field_weights_ : dict of str to float
        The weight of every field used.
    item_vectors_ : scipy.sparse.csr_matrix of shape (n_items, n_columns), float64
        Per-field unit-normalised features scaled by ``sqrt(w_f)``, each row of unit norm
        (the cosine geometry; all-zero rows for items without features).
    similarity_ : scipy.sparse.csr_matrix of shape (n_items, n_items) or None
        Top-``n_neighbors`` neighbour lists ``S[j, i]``; ``None`` for ``n_neighbors=None`` with
        cosine.

    Notes
    -----
    Serves fitted users with interactions, new users with a history, new products
    (:meth:`add_items`) and their audiences (:meth:`recommend_users`). It cannot score users
    without interactions or with demographics only
    (:class:`~featcf.models.base.UnsupportedProtocolError`: use FeatureCF).
    :meth:`explain` splits a score into the matched feature values, e.g.
    ``field="category", value="category = property"``.
    :meth:`similar_items` ranks products by the same item similarity (computed exactly over
    the whole catalogue, new products and products given by ``item_features`` included);
    :meth:`similar_users` by the cosine of the customers' content profiles (their purchases
    summed in ``item_vectors_`` space: who buys the same kinds of products).

    **partial_fit updates** everything, as a refit would: the fitted state depends on the
    item features only, so new interactions only change the histories the scores read;
    new products in ``item_features`` rebuild the item vectors and neighbour lists as
    :meth:`add_items` does. A customer registered by the update is recommended exactly
    what ``recommend_new_users`` gave for that history on the model before the update,
    when the update adds no product.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> model = ContentKNN().fit(shop)
    >>> sorted(model.field_weights_) == sorted(shop.item_fields)
    True
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = False
    handles_new_items = True

    def __init__(
        self,
        n_neighbors: int | None = None,
        field_weights: Mapping[str, float] | None = None,
        metric: str = "cosine",
        n_threads: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.field_weights = field_weights
        self.metric = metric
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        check_positive_int(self.n_neighbors, "n_neighbors", allow_none=True)
        check_option(self.metric, "metric", CONTENT_METRICS)
        check_positive_int(self.n_threads, "n_threads", allow_none=True)
        check_nonnegative_weights(self.field_weights, "field_weights")

    def _resolve_weights(self, dataset: Dataset) -> dict[str, float]:
        fields = list(dataset.item_fields)
        given = dict(self.field_weights or {})
        unknown = [name for name in given if name not in fields]
        if unknown:
            raise ValueError(
                f"field_weights names unknown item field(s) {unknown}; the item fields are {fields}"
            )
        weights = {name: float(given.get(name, 1.0)) for name in fields}
        if not any(w > 0 for w in weights.values()):
            raise ValueError(
                f"field_weights gives every field weight 0 ({weights}); at least one field "
                f"must count"
            )
        return weights

    def _fit(self, dataset: Dataset) -> None:
        if dataset.item_features is None or not dataset.item_fields:
            raise ValueError(
                "ContentKNN needs item features: build the Dataset with "
                "Dataset.from_frames(interactions, item_features=...)"
            )
        self.field_weights_ = self._resolve_weights(dataset)
        self._build()

    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        if dataset.item_features is None or not dataset.item_fields:
            raise ValueError("ContentKNN needs item features, and this Dataset has none")
        n_items, n_columns = dataset.n_items, dataset.item_features.n_columns
        return {
            "field_weights_": Json(json_weights(list(dataset.item_fields))),
            "item_vectors_": Sparse((n_items, n_columns), "float64", low=0.0, canonical=True),
            "similarity_": Sparse((n_items, n_items), "float32", low=0.0, optional=True),
        }

    def _check_state(self, state: dict[str, Any]) -> None:
        full = self.n_neighbors is None and self.metric == "cosine"
        if full != (state["similarity_"] is None):
            raise ValueError(
                f"similarity_ must be {'absent' if full else 'present'} for n_neighbors="
                f"{self.n_neighbors!r} and metric={self.metric!r}"
            )
        if not any(w > 0 for w in state["field_weights_"].values()):
            raise ValueError("field_weights_ gives every field weight 0")

    def _column_weights(self) -> np.ndarray:
        features = self._fitted_dataset().item_features
        per_field = np.asarray([self.field_weights_[name] for name in features.fields])
        return per_field[features.field_of_column]

    def _vectors(self, features: FeatureMatrix) -> sp.csr_matrix:
        """The item vectors (cosine geometry) of encoded item rows: per-field unit values
        scaled by ``sqrt(w_f)``, each row of unit norm (float64, sorted indices)."""
        G = field_normalised(features)
        E = sp.csr_matrix(G @ sp.diags(np.sqrt(self._column_weights())))
        norms = np.sqrt(np.asarray(E.multiply(E).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        E = sp.csr_matrix(sp.diags(scale) @ E)
        E.eliminate_zeros()
        E.sort_indices()
        return E

    def _build(self) -> None:
        """(Re)compute the item vectors and neighbour lists from the current catalogue."""
        features = self._fitted_dataset().item_features
        E = self._vectors(features)
        self.item_vectors_ = E
        if self.n_neighbors is None and self.metric == "cosine":
            self.similarity_ = None
            return
        n_items = E.shape[0]
        k = n_items if self.n_neighbors is None else min(self.n_neighbors, n_items)
        if self.metric == "cosine":
            source, weights = E, None
        else:
            source, weights = (
                sp.csr_matrix(features.matrix, dtype=np.float32),
                self._column_weights(),
            )
        self.similarity_ = topk_similarity(
            sp.csr_matrix(source, dtype=np.float32),
            k,
            self.metric,
            weights=weights,
            exclude_self=True,
            n_threads=self.n_threads,
        )

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        if new_dataset.n_items > old_dataset.n_items:
            self._build()  # new products: as add_items (reads self.dataset_, the new one)

    def _extend_items(self, n_new: int) -> None:
        # New rows were appended to dataset_.item_features: rebuild the geometry (the new items
        # may also enter existing items' neighbour lists).
        self._build()

    # ------------------------------------------------------------------ scoring
    def _scores_from_history(self, history: sp.csr_matrix, item_idx: np.ndarray) -> np.ndarray:
        n_items = self.item_vectors_.shape[0]
        if self.similarity_ is not None:
            return dense_columns(history @ self.similarity_, item_idx, n_items)
        E = self.item_vectors_
        full = len(item_idx) == n_items and np.array_equal(item_idx, np.arange(n_items))
        profile = np.asarray((history.astype(np.float64) @ E).todense())  # (n_users, n_columns)
        targets = E if full else E[item_idx]
        scores = np.asarray((targets @ profile.T).T)  # (n_users, n_items_asked)
        # leave each item's similarity to itself out: sim(i, i) = 1 for items with features
        # (rows of E have unit norm) and 0 for items without
        if history.nnz:
            position = np.full(n_items, -1, dtype=np.int64)
            position[item_idx] = np.arange(len(item_idx))
            rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
            cols = position[history.indices]
            has_features = np.diff(E.indptr)[history.indices] > 0
            keep = (cols >= 0) & has_features
            scores[rows[keep], cols[keep]] -= history.data[keep]
        return scores.astype(np.float32)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self._scores_from_history(self._fitted_dataset().interactions[user_idx], item_idx)

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        return self._scores_from_history(history, item_idx)

    # ------------------------------------------------------------------ similar
    handles_similar_items = True
    handles_similar_users = True

    def _query_vectors(self, query: ItemQuery) -> sp.csr_matrix:
        """The item vectors of the query rows: fitted ones for catalogue products, computed
        from the features for products given by ``item_features``."""
        known = query.positions >= 0
        if known.all():
            return sp.csr_matrix(self.item_vectors_[query.positions])
        new = query.subset(np.flatnonzero(~known)).features
        parts = [self._vectors(new), sp.csr_matrix(self.item_vectors_[query.positions[known]])]
        order = np.concatenate([np.flatnonzero(~known), np.flatnonzero(known)])
        return sp.csr_matrix(sp.vstack(parts))[np.argsort(order)]

    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        """The model's item similarity (cosine of the item vectors, or the weighted Jaccard
        of the feature values), computed exactly against the candidates."""
        dataset = self._fitted_dataset()
        if self.metric == "cosine":
            queries, refs = self._query_vectors(query), self.item_vectors_[candidates]
            weights = None
        else:
            queries, refs = query.features.matrix, dataset.item_features.matrix[candidates]
            weights = self._column_weights()
        sims = topk_similarity_between(
            sp.csr_matrix(queries, dtype=np.float32),
            sp.csr_matrix(refs, dtype=np.float32),
            k,
            self.metric,
            weights=weights,
            n_threads=self.n_threads,
        )
        return spread_columns(sims, candidates, dataset.n_items)

    def _similar_item_parts(
        self, query: ItemQuery, rows: np.ndarray, items: np.ndarray
    ) -> pd.DataFrame:
        """ "same category (travel) and coverage (premium)": the shared feature values."""
        shared = sp.coo_matrix(self._query_vectors(query)[rows].multiply(self.item_vectors_[items]))
        features = self._fitted_dataset().item_features
        return shared_value_parts(features, shared.row, shared.col, shared.data)

    def _content_profiles(self) -> sp.csr_matrix:
        """Every customer's purchases summed in the item vectors' space (float32)."""
        history = self._fitted_dataset().interactions.astype(np.float64)
        return sp.csr_matrix(history @ self.item_vectors_, dtype=np.float32)

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        """Cosine of the customers' content profiles: who buys the same kinds of products."""
        profiles = self._content_profiles()
        return topk_similarity_between(
            sp.csr_matrix(profiles[users]), profiles, k, "cosine", n_threads=self.n_threads
        )

    def _similar_user_parts(
        self, users: np.ndarray, rows: np.ndarray, others: np.ndarray
    ) -> pd.DataFrame:
        """ "both buy products with category = travel": the feature values both buy."""
        profiles = self._content_profiles()
        shared = sp.coo_matrix(profiles[users[rows]].multiply(profiles[others]))
        features = self._fitted_dataset().item_features
        labels = np.asarray(features.column_names, dtype=object)[shared.col]
        return parts_frame(shared.row, BOTH_BUY + labels, shared.data)

    # ------------------------------------------------------------------ explanation
    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        """Per matched feature value: ``field``, ``value = "field = value"``, contribution;
        label "<field> = <value> matches your purchases"."""
        features = self._fitted_dataset().item_features
        if self.similarity_ is None:  # cosine over all items: every pair at once
            pair, columns, contributions = self._cosine_parts(query)
        else:
            pieces = [self._pair_parts(query, p) for p in range(len(query.items))]
            pair = np.concatenate([np.full(len(c), p) for p, (c, _) in enumerate(pieces)] or [[]])
            columns = np.concatenate([c for c, _ in pieces] or [[]]).astype(np.int64)
            contributions = np.concatenate([v for _, v in pieces] or [[]])
        fields = list(features.fields.values())
        field_of = features.field_of_column[columns]
        names = np.asarray([fields[f].name for f in field_of], dtype=object)
        pairs = list(zip(field_of, columns, strict=True))
        values = np.asarray([fields[f].label(int(c)) for f, c in pairs], dtype=object)
        labels = [
            field_label(fields[f].name, fields[f].values[c - fields[f].start]) for f, c in pairs
        ]
        return explanation_frame(
            "content", values, contributions, fields=names, labels=labels, pair=pair
        )

    def _cosine_parts(self, query: PairQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pair, column, contribution) of every pair for cosine over all items: the history
        profile times the item's vector, without the item's own entry."""
        E = self.item_vectors_
        profile = np.asarray((query.history.astype(np.float64) @ E).todense())
        pair, columns, target = pair_entries(E, query.items)
        own = gather(query.history, query.rows, query.items)  # r_ui (0: not in the history)
        target = target.astype(np.float64)
        contributions = profile[query.rows[pair], columns] * target - own[pair] * target * target
        return pair, columns, contributions

    def _pair_parts(self, query: PairQuery, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(columns, contributions) of pair ``p`` (top-k neighbour lists, or Jaccard)."""
        dataset = self._fitted_dataset()
        item = int(query.items[p])
        history = query.history[int(query.rows[p])]
        js, r = history.indices, history.data.astype(np.float64)
        keep = js != item
        if self.similarity_ is not None:
            keep &= self.similarity_[js, :][:, [item]].toarray().ravel() != 0
        js, r = js[keep], r[keep]
        if self.metric == "cosine":
            E = self.item_vectors_
            profile = np.asarray((sp.csr_matrix(r[None, :]) @ E[js]).todense()).ravel()
            target = E[item]
            columns = target.indices
            contributions = profile[columns] * target.data
        else:
            F = sp.csr_matrix(dataset.item_features.matrix, dtype=np.float64)
            w = self._column_weights()
            pattern = (F != 0).astype(np.float64)
            target = pattern[item].toarray().ravel()
            hist = pattern[js]
            size_j = np.asarray(hist @ w).ravel()
            size_i = float(target @ w)
            common = hist.multiply(target[None, :]).tocsr()  # (n_hist, n_columns)
            inter = np.asarray(common @ w).ravel()
            union = size_j + size_i - inter
            factor = np.divide(r, union, out=np.zeros_like(r), where=union > 0)
            per_col = np.asarray((sp.diags(factor) @ common).sum(axis=0)).ravel() * w
            columns = np.flatnonzero(per_col)
            contributions = per_col[columns]
        return np.asarray(columns, dtype=np.int64), np.asarray(contributions, np.float64)
