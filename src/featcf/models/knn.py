"""Neighbourhood baselines on the interactions: item-based and user-based kNN.

Both models score with the top-k similarity kernels of :mod:`featcf.similarity` and plain
sparse products (no Python loop over users or items):

``ItemKNN``
    ``score(u, i) = sum_j r_uj * S[j, i]`` where row ``j`` of ``S`` holds the ``n_neighbors``
    items most similar to item ``j`` (``history @ S``, the convention of implicit's item-item
    models).
``UserKNN``
    ``score(u, i) = sum_v S[u, v] * r_vi`` where row ``u`` of ``S`` holds the ``n_neighbors``
    users most similar to user ``u`` (``S @ interactions``).

``r`` is the interaction weight of the Dataset (a rating, a count, 1.0 for implicit data).

What they serve
---------------
=========================================  =======  =======
protocol                                   ItemKNN  UserKNN
=========================================  =======  =======
``recommend`` / ``predict`` (fitted users  yes      yes
with interactions)
``recommend_new_users`` with a history     yes      yes
``recommend_new_users`` demographics only  no       no
``add_items`` (new products)               no       no
``recommend_users`` (audiences)            yes      yes
``explain``                                yes      yes
``similar_items`` (products with           yes [1]  yes [2]
interactions)
``similar_users`` (customers with          yes [2]  yes [1]
interactions)
=========================================  =======  =======

[1] the fitted neighbour lists (``similarity_`` rows); [2] the model's metric, shrinkage and
support over the interactions (buyers of two products, purchases of two customers),
computed exactly at query time with :func:`featcf.similarity.topk_similarity_between`. So
both models answer both questions with one notion of similarity: the interactions in common.

Where they cannot serve a query they raise
:class:`~featcf.models.base.UnsupportedProtocolError` naming the model that can; users of
the Dataset without any interaction are refused the same way (a kNN model has nothing to
score them with, and a constant list would pass silently for a recommendation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import Sparse, Spec
from featcf._validation import check_nonnegative_float, check_option, check_positive_int
from featcf.data.dataset import Dataset
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._reasons import (
    HISTORY,
    SIMILAR_CUSTOMERS,
    PairQuery,
    item_display_names,
    parts_frame,
)
from featcf.models._rules import RuleSet
from featcf.models._scoring import dense_columns, explanation_frame, gather, pair_entries
from featcf.models._similar import (
    ItemQuery,
    bought_together,
    common_purchase_parts,
    spread_columns,
)
from featcf.models._updates import replace_rows, without_self
from featcf.models.base import BaseRecommender
from featcf.similarity import topk_similarity, topk_similarity_between, topn_scores

__all__ = ["ItemKNN", "UserKNN"]

#: Similarity metrics of the interaction kNN models.
KNN_METRICS = ("cosine", "adjusted_cosine", "pearson", "jaccard")

# ---------------------------------------------------------------------------- shared helpers


def _user_centred(X: sp.csr_matrix) -> sp.csr_matrix:
    """``X`` minus each user's mean over their stored entries (entries equal to it drop out)."""
    counts = np.diff(X.indptr)
    sums = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    centred = sp.csr_matrix(
        (X.data.astype(np.float64) - np.repeat(means, counts), X.indices.copy(), X.indptr.copy()),
        shape=X.shape,
    )
    centred.eliminate_zeros()
    return sp.csr_matrix(centred, dtype=np.float32)


def _check_varied(X: sp.csr_matrix, metric: str, axis_name: str) -> None:
    """Centred metrics need weights that vary; refuse data where every one is constant."""
    if metric not in ("adjusted_cosine", "pearson") or X.nnz == 0:
        return
    counts = np.diff(X.indptr)
    row_max = np.maximum.reduceat(X.data, X.indptr[:-1][counts > 0])
    row_min = np.minimum.reduceat(X.data, X.indptr[:-1][counts > 0])
    if np.all(row_max == row_min):
        raise ValueError(
            f"metric={metric!r} needs graded interaction weights (ratings, counts): every "
            f"{axis_name} has constant weights here (implicit 0/1 data), so every centred value "
            f"is 0 and no pair would be similar; use metric='cosine' or 'jaccard'"
        )


def _n_available(history: sp.csr_matrix, rules: RuleSet, exclude_seen: bool) -> np.ndarray:
    """Per user, how many items the rules allow and the user is not excluded from."""
    excluded = rules.exclusion(history, exclude_seen)
    if excluded is None:
        return np.full(history.shape[0], rules.n_allowed(), dtype=np.int64)
    if rules.allowed is None:
        return rules.n_allowed() - np.diff(excluded.indptr)
    # excluded entries in allowed columns, per row, in one pass over the CSR arrays
    hits = np.concatenate([[0], np.cumsum(rules.allowed[excluded.indices])])
    return rules.n_allowed() - np.diff(hits[excluded.indptr])


def _sorted_rows(similarity: sp.csr_matrix) -> sp.csr_matrix:
    """The neighbour lists with each row's columns ascending (canonical CSR, sorted in
    place): the serving kernels' input checks then take them as they are instead of sorting
    a copy on every query. Sums and rankings do not depend on the order within a row."""
    similarity.sort_indices()
    return similarity


def _item_rows(X: sp.csr_matrix, metric: str) -> tuple[sp.csr_matrix, str]:
    """Items as rows over their users, and the kernel metric giving ``metric`` between items
    (adjusted cosine: the cosine of the user-mean-centred weights)."""
    if metric == "adjusted_cosine":
        return _user_centred(X).T.tocsr(), "cosine"
    return X.T.tocsr(), metric


class _KNNParams:
    """What ItemKNN and UserKNN share: the constructor, the checks and the neighbour search."""

    def __init__(
        self,
        n_neighbors: int = 50,
        metric: str = "cosine",
        shrink: float = 0.0,
        min_support: int = 1,
        n_threads: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.shrink = shrink
        self.min_support = min_support
        self.n_threads = n_threads

    def _check_params(self) -> None:
        check_positive_int(self.n_neighbors, "n_neighbors")
        check_option(self.metric, "metric", KNN_METRICS)
        check_nonnegative_float(self.shrink, "shrink")
        check_positive_int(self.min_support, "min_support")
        check_positive_int(self.n_threads, "n_threads", allow_none=True)

    def _similarity_spec(self, n: int) -> Sparse:
        """``similarity_``: n x n neighbour lists, non-negative for cosine and Jaccard."""
        low = 0.0 if self.metric in ("cosine", "jaccard") else None
        return Sparse((n, n), "float32", low=low)

    def _top_neighbours(
        self,
        rows: sp.csr_matrix,
        metric: str,
        among: sp.csr_matrix | None = None,
        k: int | None = None,
        extra: int = 0,
    ) -> sp.csr_matrix:
        """Each row's ``k`` (default ``n_neighbors``; ``+ extra`` when searching ``among``)
        most similar rows of ``among`` (default: ``rows`` itself, without each row)."""
        options = {
            "shrink": self.shrink,
            "min_support": self.min_support,
            "n_threads": self.n_threads,
        }
        k = self.n_neighbors if k is None else k
        if among is None:
            return topk_similarity(rows, k, metric, **options)
        return topk_similarity_between(rows, among, k + extra, metric, **options)

    # similar products and customers: the fitted neighbour lists answer one question, the
    # same metric over the interactions (computed at query time, exact) the other
    handles_similar_items = True
    handles_similar_users = True

    def _items_by_buyers(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        """The model's metric between products over their buyers (query time, exact)."""
        dataset = self._fitted_dataset()
        rows, metric = _item_rows(dataset.interactions, self.metric)
        among = sp.csr_matrix(rows[candidates])
        sims = self._top_neighbours(sp.csr_matrix(rows[query.positions]), metric, among, k)
        return spread_columns(sims, candidates, dataset.n_items)

    def _users_by_purchases(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        """The model's metric between customers over their purchases (query time, exact)."""
        X = self._fitted_dataset().interactions
        return self._top_neighbours(sp.csr_matrix(X[users]), self.metric, X, k)

    def _similar_item_parts(
        self, query: ItemQuery, rows: np.ndarray, items: np.ndarray
    ) -> pd.DataFrame:
        """ "also bought by N customers who bought X" for every pair."""
        counts, labels = bought_together(self._fitted_dataset(), query, rows, items)
        return parts_frame(np.arange(len(rows)), labels, counts)

    def _similar_user_parts(
        self, users: np.ndarray, rows: np.ndarray, others: np.ndarray
    ) -> pd.DataFrame:
        """ "both bought X and Y": the products the two customers have in common."""
        return common_purchase_parts(self._fitted_dataset(), users[rows], others)

    def _refreshed(
        self, similarity: sp.csr_matrix, source: sp.csr_matrix, touched: np.ndarray, metric: str
    ) -> sp.csr_matrix:
        """``similarity`` grown to the rows of ``source`` (new rows empty) with the rows
        ``touched`` recomputed: equal to the rows of a fit on ``source`` (the same exact
        kernel; a top-(k+1) search among all rows without the row itself is its top k)."""
        n = source.shape[0]
        grown = sp.csr_matrix(similarity, copy=True)
        grown.resize((n, n))
        if len(touched) == 0:
            return grown
        fresh = self._top_neighbours(source[touched], metric, among=source, extra=1)
        fresh = without_self(fresh, touched, self.n_neighbors)
        return _sorted_rows(replace_rows(grown, touched, fresh))


# ---------------------------------------------------------------------------- ItemKNN


class ItemKNN(_KNNParams, BaseRecommender):
    """Item-based collaborative filtering on top-k item-item similarities.

    ``score(u, i) = sum_j r_uj * S[j, i]``: every item ``j`` of the user's history votes for
    its ``n_neighbors`` nearest items with its similarity, weighted by the interaction weight
    ``r_uj``.
    New users are folded in the same way from their history (no refit).

    Parameters
    ----------
    n_neighbors : int, default 50
        Neighbours kept per item.
    metric : {"cosine", "adjusted_cosine", "pearson", "jaccard"}, default "cosine"
        Item-item similarity over the users' interaction weights (see
        :mod:`featcf.similarity` for the formulas). ``"adjusted_cosine"`` is the cosine of the
        user-mean-centred weights (Sarwar et al. 2001), ``"pearson"`` the co-rated Pearson
        correlation between items. Both need graded weights (ratings). The common users of two
        items (``shrink``, ``min_support``) are those who rated both, except for
        ``"adjusted_cosine"``, where a rating equal to the user's mean centres to 0 and does
        not count (UserKNN's adjusted cosine counts it).
    shrink : float, default 0.0
        Similarities are multiplied by ``n_common / (n_common + shrink)``.
    min_support : int, default 1
        Item pairs with fewer common users are not neighbours.
    n_threads : int, optional
        numba threads for fitting and batch scoring (default: all numba threads).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of shape (n_items, n_items), float32
        Row ``j`` holds the neighbours ``i`` of item ``j`` with ``S[j, i]``.

    Notes
    -----
    Serves fitted users with interactions and new users with a history. It cannot score
    users without interactions, demographics-only users or new products: those raise
    :class:`~featcf.models.base.UnsupportedProtocolError` (use FeatureCF or ContentKNN).
    :meth:`similar_items` reads the neighbour lists ("customers who bought this also
    bought"; at most ``n_neighbors`` per product); :meth:`similar_users` compares the
    customers' purchases with the same metric at query time.

    **partial_fit updates** the customers' histories (scores read them at query time) and
    recomputes, with the exact kernel, the neighbour lists (rows of ``similarity_``) of the
    *touched* items, those in the batch's interactions, new products included: each equals
    the row a full fit on the grown Dataset gives. The other rows are not recomputed: they
    may still list a touched item with its score before the update, or miss it where it
    now belongs (a new product enters other rows only when they are touched too).
    Products registered without interactions get empty rows, as cold items at a fit do.
    A customer registered by the update is scored ``history @ similarity_``, which is what
    ``recommend_new_users`` gives for that history on the updated model (the rows it reads
    are the refreshed ones, so the model before the update gave other scores).

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> model = ItemKNN(n_neighbors=20).fit(shop)
    >>> model.similarity_.shape == (shop.n_items, shop.n_items)
    True
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = False
    handles_new_items = False

    def _fit(self, dataset: Dataset) -> None:
        items_users, metric = self._items_users(dataset)
        if self.metric == "adjusted_cosine":
            _check_varied(dataset.interactions, self.metric, "user")
        else:
            _check_varied(items_users, metric, "item")
        self.similarity_ = _sorted_rows(self._top_neighbours(items_users, metric))

    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        return {"similarity_": self._similarity_spec(dataset.n_items)}

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        items_users, metric = self._items_users(new_dataset)
        self.similarity_ = self._refreshed(self.similarity_, items_users, touched_items, metric)

    def _items_users(self, dataset: Dataset) -> tuple[sp.csr_matrix, str]:
        """The item x user matrix the similarities compare, and the kernel's metric."""
        return _item_rows(dataset.interactions, self.metric)

    def _recommend_known(
        self, users: np.ndarray, n: int, rules: RuleSet, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        # Fast path for the common query (the whole catalogue as candidates): the serving kernel
        # scores users straight from their history and the neighbour lists and keeps the top n,
        # without a dense user x item block. It gives the same lists as the general path: with
        # non-negative similarities every item it leaves out scores 0, and rows it cannot fill
        # (fewer than n items reached) are recomputed by the general path. The rules go into
        # the kernel: the allowed items as its candidates, the owned fields as its exclusion.
        dataset = self._fitted_dataset()
        n_eff = min(n, dataset.n_items)
        if rules.allowed is not None and rules.n_allowed() * 4 < len(rules.candidates):
            # a narrow filter: most rows would be short, and scoring only the allowed items
            # gives the same scores (columns of the same sparse product)
            allowed = rules.candidates[rules.allowed_candidates]
            narrow = RuleSet(allowed, None, rules.owned, rules.owned_fields)
            return super()._recommend_known(users, n, narrow, exclude_seen)
        if len(rules.candidates) != dataset.n_items or self.metric not in ("cosine", "jaccard"):
            return super()._recommend_known(users, n, rules, exclude_seen)
        history = dataset.interactions[users]
        allowed = None if rules.allowed is None else np.flatnonzero(rules.allowed)
        top_idx, top_score = topn_scores(
            self.similarity_,
            history,
            n_eff,
            exclude_seen=exclude_seen,
            items=allowed,
            exclude=rules.exclusion(history, exclude_seen=False),
            n_threads=self.n_threads,
        )
        top_idx = top_idx.astype(np.int64)
        short = np.flatnonzero(
            (top_idx[:, -1] < 0) & (_n_available(history, rules, exclude_seen) > 0)
        )
        if short.size:
            top_idx[short], top_score[short] = super()._recommend_known(
                users[short], n_eff, rules, exclude_seen
            )
        return top_idx, np.where(top_idx >= 0, top_score, np.nan).astype(np.float32)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self._history_scores(self._fitted_dataset().interactions[user_idx], item_idx)

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        return self._history_scores(history, item_idx)

    def _history_scores(self, history: sp.csr_matrix, item_idx: np.ndarray) -> np.ndarray:
        """``(history @ similarity_)[:, item_idx]``, dense float32. For a few items (a narrow
        filter or ``items=``) the neighbour lists are cut to those columns first: the same
        sums in the same order, so the same scores, for a fraction of the work. A few users
        (one at serving time) are cheaper the other way round: their product first."""
        n_items = self.similarity_.shape[0]
        if len(item_idx) * 4 < n_items and history.shape[0] > self._serial_rows:
            product = history @ self.similarity_[:, item_idx]
            return product.toarray().astype(np.float32, copy=False)
        return dense_columns(history @ self.similarity_, item_idx, n_items)

    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        """The fitted neighbour lists (``similarity_`` rows): "customers who bought this also
        bought"."""
        return sp.csr_matrix(self.similarity_[query.positions])

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        return self._users_by_purchases(users, k)

    def _extend_items(self, n_new: int) -> None:
        raise UnsupportedProtocolError(
            "ItemKNN cannot score products without interactions (they have no neighbours in "
            "the interaction data); use ContentKNN or FeatureCF for new products"
        )

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        """History items that voted for each item: part "neighbour", value = the history
        item, label "goes with your <it>"."""
        dataset = self._fitted_dataset()
        owner, history, weight = pair_entries(query.history, query.rows)
        sims = gather(self.similarity_, history, query.items[owner])
        contributions = weight.astype(np.float32) * sims.astype(np.float32)
        labels = HISTORY + item_display_names(dataset)[history].astype(object)
        values = dataset.item_ids[history]
        return explanation_frame("neighbour", values, contributions, labels=labels, pair=owner)


# ---------------------------------------------------------------------------- UserKNN


class UserKNN(_KNNParams, BaseRecommender):
    """User-based collaborative filtering on top-k user-user similarities.

    ``score(u, i) = sum_v S[u, v] * r_vi`` over the ``n_neighbors`` users ``v`` most similar to
    ``u``.
    New users get their neighbours among the fitted users at query time
    (:func:`featcf.similarity.topk_similarity_between`, no refit).

    Parameters
    ----------
    n_neighbors : int, default 50
        Neighbours kept per user.
    metric : {"cosine", "adjusted_cosine", "pearson", "jaccard"}, default "cosine"
        User-user similarity over their interaction weights. ``"adjusted_cosine"`` is the
        cosine of the user-mean-centred weights, ``"pearson"`` the co-rated Pearson
        correlation; both need graded weights (ratings).
    shrink : float, default 0.0
        Similarities are multiplied by ``n_common / (n_common + shrink)``.
    min_support : int, default 1
        User pairs with fewer common items are not neighbours.
    n_threads : int, optional
        numba threads for the similarity kernels (default: all numba threads).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of shape (n_users, n_users), float32
        Row ``u`` holds the neighbours ``v`` of user ``u`` with ``S[u, v]``.

    Notes
    -----
    Serves fitted users with interactions and new users with a history; refuses users
    without interactions, demographics-only users and new products with
    :class:`~featcf.models.base.UnsupportedProtocolError`. :meth:`similar_users` reads the
    neighbour lists (at most ``n_neighbors`` per customer); :meth:`similar_items` compares the
    products' buyers with the same metric at query time (co-purchases).

    **partial_fit updates** the histories (scores read the neighbours' histories at query
    time, so every customer sees the neighbours' new purchases at once) and recomputes,
    with the exact kernel, the neighbour lists (rows of ``similarity_``) of the *touched*
    customers, those in the batch's interactions, new ones included: each equals the row a
    full fit on the grown Dataset gives. The other rows are not recomputed: they may still
    list a touched customer with the similarity before the update, or miss one who now
    belongs. A new customer registered alone, in an update that changes no other history,
    gets exactly what ``recommend_new_users`` gave for that history on the model before the
    update (the same neighbours among the same histories).

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> model = UserKNN(n_neighbors=20).fit(shop)
    >>> model.similarity_.shape == (shop.n_users, shop.n_users)
    True
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = False
    handles_new_items = False

    def _fit(self, dataset: Dataset) -> None:
        X = dataset.interactions
        _check_varied(X, self.metric, "user")
        self.similarity_ = _sorted_rows(self._top_neighbours(X, self.metric))

    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        return {"similarity_": self._similarity_spec(dataset.n_users)}

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        X = new_dataset.interactions
        self.similarity_ = self._refreshed(self.similarity_, X, touched_users, self.metric)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        X = self._fitted_dataset().interactions
        return dense_columns(self.similarity_[user_idx] @ X, item_idx, X.shape[1])

    def _neighbours_of_new(self, history: sp.csr_matrix) -> sp.csr_matrix:
        return self._top_neighbours(history, self.metric, among=self._fitted_dataset().interactions)

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        X = self._fitted_dataset().interactions
        return dense_columns(self._neighbours_of_new(history) @ X, item_idx, X.shape[1])

    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        return self._items_by_buyers(query, candidates, k)

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        """The fitted neighbour lists (``similarity_`` rows)."""
        return sp.csr_matrix(self.similarity_[users])

    def _extend_items(self, n_new: int) -> None:
        raise UnsupportedProtocolError(
            "UserKNN cannot score products without interactions (no neighbour has them); "
            "use ContentKNN or FeatureCF for new products"
        )

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        """Neighbour users who have each item: part "neighbour", value = the neighbour's id."""
        dataset = self._fitted_dataset()
        if query.users is not None:
            neighbours = self.similarity_[query.users]
        else:
            neighbours = self._neighbours_of_new(query.history)
        owner, users, sims = pair_entries(neighbours, query.rows)
        ratings = gather(dataset.interactions, users, query.items[owner])
        contributions = sims.astype(np.float32) * ratings.astype(np.float32)
        values = dataset.user_ids[users]
        return explanation_frame(
            "neighbour", values, contributions, labels=SIMILAR_CUSTOMERS, pair=owner
        )
