"""Similar products and similar customers: :meth:`similar_items` and :meth:`similar_users`.

:class:`SimilarityMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender` is
made of (the serving calls users know from implicit's ``similar_items`` / ``similar_users``).
A model answers through hooks on internal positions; everything else (ids, validation,
products given by their features, the exclusion of the query itself, top-n selection, frames
and reasons) is here once:

``_similar_items_of(query, candidates, k)``
    CSR (len(query) x n_items): the similarities of each query product (an
    :class:`ItemQuery` row) to the ``candidates`` (sorted catalogue positions), holding at
    least each row's ``k`` largest; entries outside ``candidates``, zeros and the query
    product itself are left out here.
``_similar_users_of(users, k)``
    CSR (len(users) x n_users): the same for fitted customers.
``_similar_item_parts(query, rows, items)`` / ``_similar_user_parts(users, rows, others)``
    The parts behind result pair ``p`` (query row ``rows[p]``, found item / user
    ``items[p]``), as a parts frame (:func:`featcf.models._reasons.parts_frame`) with
    plain-language labels; the ``reason`` column joins the largest two.

A model declares what it answers with ``handles_similar_items`` / ``handles_similar_users``;
the others are refused with :class:`~featcf.exceptions.UnsupportedProtocolError` naming the
models that can. The mixin relies on the base class for ``_fitted_dataset``,
``handles_new_items`` and ``handles_new_users_with_features``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._validation import check_positive_int
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.data.features import FeatureMatrix
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._queries import batches, result_frame
from featcf.models._reasons import (
    BOTH_BOUGHT,
    bought_together_label,
    compose,
    item_display_names,
    parts_frame,
    same_label,
)
from featcf.similarity import topn_dense

__all__ = [
    "ItemQuery",
    "SimilarityMixin",
    "bought_together",
    "common_purchase_parts",
    "shared_value_parts",
    "spread_columns",
    "top_k_rows",
]

#: the models that answer each question (for the refusals)
ITEM_MODELS = "FeatureCF, ContentKNN, ItemKNN, UserKNN or ALS"
USER_MODELS = "FeatureCF, UserKNN, ItemKNN, ContentKNN or ALS"
#: cells of a dense similarity block (query rows x products or customers) at most: 32 MB
BLOCK_CELLS = 1 << 22


@dataclass(frozen=True, eq=False)
class ItemQuery:
    """Products to find similar products for, one row each.

    ``positions`` are catalogue positions, -1 for a product given by its features only
    (``item_features=``); ``features`` holds every row's encoded item features (catalogue
    rows from the Dataset, the others encoded from the frame), None when the Dataset has no
    item features; ``ids`` are the ids as given and ``names`` the rows' readable names.
    """

    ids: np.ndarray
    positions: np.ndarray
    features: FeatureMatrix | None
    names: np.ndarray

    def subset(self, rows: slice | np.ndarray) -> ItemQuery:
        """The query rows ``rows`` (a slice or positions)."""
        features = self.features
        if features is not None:
            features = FeatureMatrix(
                sp.csr_matrix(features.matrix[rows]), features.fields, features.ids[rows]
            )
        return ItemQuery(self.ids[rows], self.positions[rows], features, self.names[rows])


def top_k_rows(
    scores: np.ndarray, k: int, columns: np.ndarray, n_columns: int, n_threads: int | None = None
) -> sp.csr_matrix:
    """The ``k`` largest non-zero entries of each row of a dense score block, as CSR.

    ``scores`` (rows x len(columns)) are scores of the catalogue positions ``columns``; the
    result has ``n_columns`` columns. For hooks that score densely (a weighted sum of
    several similarities), selected by :func:`featcf.similarity.topn_dense`.
    """
    block = np.where(scores != 0, scores, -np.inf).astype(np.float32)
    if block.shape[1] == 0:
        return sp.csr_matrix((block.shape[0], n_columns), dtype=np.float32)
    threads = 1 if block.shape[0] <= 64 else n_threads
    idx, vals = topn_dense(block, min(k, block.shape[1]), n_threads=threads)
    valid = idx >= 0
    indptr = np.zeros(block.shape[0] + 1, dtype=np.int64)
    np.cumsum(valid.sum(axis=1), out=indptr[1:])
    return sp.csr_matrix(
        (vals[valid], np.asarray(columns)[idx[valid]], indptr), shape=(block.shape[0], n_columns)
    )


def spread_columns(sims: sp.csr_matrix, columns: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """``sims`` over ``columns`` (positions) as a matrix over all ``n_columns`` positions."""
    sims = sp.csr_matrix(sims)
    return sp.csr_matrix(
        (sims.data, np.asarray(columns, dtype=np.int64)[sims.indices], sims.indptr),
        shape=(sims.shape[0], n_columns),
    )


def bought_together(
    dataset: Dataset, query: ItemQuery, rows: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For pair ``p`` (query product ``rows[p]``, found product ``items[p]``): how many
    customers bought both, and the label "also bought by N customers who bought X" (an empty
    label when none did or the query product is not in the catalogue)."""
    buyers = sp.csr_matrix(dataset.interactions.T, dtype=np.float32)
    buyers.data[:] = 1.0
    query_pos = query.positions[rows]
    known = query_pos >= 0
    counts = np.zeros(len(rows), dtype=np.int64)
    if known.any():
        both = buyers[query_pos[known]].multiply(buyers[items[known]])
        counts[known] = np.asarray(both.sum(axis=1)).ravel().astype(np.int64)
    names = query.names[rows]
    labels = np.asarray(
        [
            bought_together_label(c, name) if c > 0 else ""
            for c, name in zip(counts, names, strict=True)
        ],
        dtype=object,
    )
    return counts, labels


def common_purchase_parts(
    dataset: Dataset, users: np.ndarray, others: np.ndarray, scale: Any = 1.0
) -> pd.DataFrame:
    """The products customers ``users[p]`` and ``others[p]`` both bought, one part each
    ("both bought X"), contribution ``scale[p] * r_ux * r_vx`` (for the order of naming)."""
    X = sp.csr_matrix(dataset.interactions, dtype=np.float64)
    both = sp.coo_matrix(X[users].multiply(X[others]))
    names = item_display_names(dataset)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(users),))
    return parts_frame(
        both.row, BOTH_BOUGHT + names[both.col].astype(object), both.data * scale[both.row]
    )


def shared_value_parts(
    features: FeatureMatrix, pair: Any, columns: Any, contributions: Any
) -> pd.DataFrame:
    """Parts for the feature values two products (or customers) share: one per pair and
    field, "same category (travel)" (several values of one field: "same genre (Comedy,
    Drama)"), contributions summed.

    ``columns`` are encoded columns of ``features``' fields, ``pair`` the pair of each.
    """
    pair = np.asarray(pair, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    fields = list(features.fields.values())
    field_of = features.field_of_column[columns]
    frame = pd.DataFrame(
        {
            "pair": pair,
            "field": field_of,
            "value": [
                str(fields[f].values[c - fields[f].start])
                for f, c in zip(field_of, columns, strict=True)
            ],
            "contribution": np.asarray(contributions, dtype=np.float64),
        }
    )
    frame = frame[frame["contribution"] > 0]
    grouped = frame.groupby(["pair", "field"], sort=False).agg(
        values=("value", list), contribution=("contribution", "sum")
    )
    grouped = grouped.reset_index()
    labels = [
        same_label(fields[f].name, v)
        for f, v in zip(grouped["field"], grouped["values"], strict=True)
    ]
    return parts_frame(
        grouped["pair"].to_numpy(),
        np.asarray(labels, dtype=object),
        grouped["contribution"].to_numpy(),
    )


def _top_entries(
    sims: sp.csr_matrix, n: int, own: np.ndarray, allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` stored entries of each row (score descending, ties by position), leaving out
    zeros, column ``own[r]`` of row ``r`` and, with ``allowed``, columns it marks False.

    Returns positions (int64, -1 padded) and float32 scores (NaN padded).
    """
    sims = sp.csr_matrix(sims)
    rows = np.repeat(np.arange(sims.shape[0]), np.diff(sims.indptr))
    cols, data = sims.indices.astype(np.int64), sims.data.astype(np.float32)
    keep = (data != 0) & np.isfinite(data) & (cols != own[rows])
    if allowed is not None:
        keep &= allowed[cols]
    rows, cols, data = rows[keep], cols[keep], data[keep]
    order = np.lexsort((cols, -data, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    starts = np.searchsorted(rows, np.arange(sims.shape[0]))
    rank = np.arange(len(rows)) - starts[rows]
    first = rank < n
    width = int(rank[first].max()) + 1 if first.any() else 0
    out_idx = np.full((sims.shape[0], width), -1, dtype=np.int64)
    out_score = np.full(out_idx.shape, np.nan, dtype=np.float32)
    out_idx[rows[first], rank[first]] = cols[first]
    out_score[rows[first], rank[first]] = data[first]
    return out_idx, out_score


class SimilarityMixin:
    """``similar_items`` and ``similar_users`` on top of the ``_similar_*`` hooks."""

    #: whether the model answers similar_items / similar_users; subclasses override
    handles_similar_items: ClassVar[bool] = False
    handles_similar_users: ClassVar[bool] = False
    handles_new_items: ClassVar[bool]
    handles_new_users_with_features: ClassVar[bool]
    #: positions of the withdrawn products (set by ``fit`` and ``load``)
    withdrawn_idx_: np.ndarray
    #: query rows per block (a block may be scored densely against the whole catalogue)
    _similar_batch: ClassVar[int] = 256

    # ------------------------------------------------------------------ hooks
    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        raise NotImplementedError

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        raise NotImplementedError

    def _similar_item_parts(
        self, query: ItemQuery, rows: np.ndarray, items: np.ndarray
    ) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} has no reasons for similar products; use FeatureCF, "
            f"ContentKNN, ItemKNN or UserKNN"
        )

    def _similar_user_parts(
        self, users: np.ndarray, rows: np.ndarray, others: np.ndarray
    ) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} has no reasons for similar customers; use FeatureCF, "
            f"UserKNN, ItemKNN or ContentKNN"
        )

    # ------------------------------------------------------------------ public API
    def similar_items(
        self,
        item_ids: Any = None,
        n: int = 10,
        *,
        reasons: bool = False,
        items: Any = None,
        item_features: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """The products most similar to each given product ("customers who bought this also
        bought", "similar products").

        What "similar" means is the model's own notion (see each model's Notes):
        co-purchases for ItemKNN and UserKNN, shared feature values for ContentKNN, both
        (feature values weighted by the learned weights, plus co-purchases) for FeatureCF,
        the cosine of the item factors for ALS. Popularity refuses.

        Parameters
        ----------
        item_ids : scalar or array-like, optional
            Products of the catalogue (those added with :meth:`add_items` included) and/or
            ids of ``item_features``; default: the products of ``item_features``.
        n : int, default 10
            Similar products per product. Fewer rows come back when fewer products are
            similar at all (no padding); a product is never similar to itself.
        reasons : bool, default False
            Add a ``reason`` column in plain language ("also bought by 12 customers who
            bought X", "same category (travel) and segment (family)").
        items : array-like, optional
            Only these catalogue products may be returned. Withdrawn products
            (:meth:`withdraw`) are never returned; a withdrawn product may still be asked
            about.
        item_features : pandas.DataFrame, optional
            Products not in the catalogue, by their features (the item id column and every
            item field, as for :meth:`add_items`): compared without adding them to the
            model (models that use item features: FeatureCF, ContentKNN).

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id, similar_item_id, score, rank`` (rank starts at 1; and
            ``reason``), by product in the order given, then score descending, ties by
            catalogue order.

        Raises
        ------
        UnknownIdError
            If an id of ``item_ids`` is neither in the catalogue nor in ``item_features``,
            or one of ``items`` is not in the catalogue.
        UnsupportedProtocolError
            If the model cannot compare products (Popularity), or cannot compare these:
            products without interactions or given by features only for ItemKNN, UserKNN
            and ALS; ``reasons=True`` on ALS.

        Notes
        -----
        A query only reads the model: it may run from several threads at once, like
        :meth:`recommend`.

        Examples
        --------
        >>> from featcf.datasets import make_insurance_shop
        >>> from featcf.models import ItemKNN
        >>> shop = make_insurance_shop(n_customers=200, random_state=0)
        >>> model = ItemKNN(n_neighbors=20).fit(shop)
        >>> similar = model.similar_items(shop.item_ids[0], n=3)
        >>> similar.columns.tolist()
        ['item_id', 'similar_item_id', 'score', 'rank']
        >>> bool((similar["similar_item_id"] != shop.item_ids[0]).all())
        True
        """
        dataset = self._fitted_dataset()
        self._refuse_similar("items")
        n = check_positive_int(n, "n")
        query = self._item_query(item_ids, item_features)
        candidates = self._similar_candidates(items)
        allowed = np.zeros(dataset.n_items, dtype=bool)
        allowed[candidates] = True
        top_idx, top_score = self._select(
            len(query.positions),
            n,
            lambda rows: self._similar_items_of(query.subset(rows), candidates, n + 1),
            query.positions,
            allowed,
        )
        frame = result_frame(query.ids, dataset.item_ids, top_idx, top_score, Columns.SIMILAR_ITEMS)
        if reasons:
            rows, found = _pairs(top_idx)
            parts = self._similar_item_parts(query, rows, found)
            frame[Columns.REASON] = compose(parts, len(rows), skip="none")
        return frame

    def similar_users(self, user_ids: Any, n: int = 10, *, reasons: bool = False) -> pd.DataFrame:
        """The customers most similar to each given customer (look-alikes).

        What "similar" means is the model's own notion (see each model's Notes): the
        fitted neighbour lists of UserKNN, the purchases in common for ItemKNN, the kinds of
        products bought for ContentKNN, attribute profiles, purchases and demographics
        weighted by the learned weights for FeatureCF, the cosine of the user factors for
        ALS. Popularity refuses.

        Parameters
        ----------
        user_ids : scalar or array-like
            Customers of the fitted Dataset.
        n : int, default 10
            Similar customers per customer; fewer when fewer are similar at all (no
            padding). A customer is never similar to themself.
        reasons : bool, default False
            Add a ``reason`` column in plain language ("both bought X and Y", "same
            household (family) and region (north)").

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id, similar_user_id, score, rank`` (and ``reason``), by customer
            in the order given, then score descending, ties by fitted order.

        Raises
        ------
        UnknownIdError
            If an id is not a fitted customer.
        UnsupportedProtocolError
            If the model cannot compare customers (Popularity) or these customers (without
            interactions, for models that do not use customer features); ``reasons=True`` on
            ALS.

        Notes
        -----
        A query only reads the model: it may run from several threads at once, like
        :meth:`recommend`.
        """
        dataset = self._fitted_dataset()
        self._refuse_similar("users")
        n = check_positive_int(n, "n")
        ids = np.asarray([user_ids] if np.ndim(user_ids) == 0 else list(user_ids), dtype=object)
        users = np.asarray(
            dataset.user_map.to_index(ids, argument="user_ids"), dtype=np.int64
        ).reshape(-1)
        self._refuse_customers_without_purchases(users)
        top_idx, top_score = self._select(
            len(users), n, lambda rows: self._similar_users_of(users[rows], n + 1), users, None
        )
        frame = result_frame(ids, dataset.user_ids, top_idx, top_score, Columns.SIMILAR_USERS)
        if reasons:
            rows, found = _pairs(top_idx)
            parts = self._similar_user_parts(users, rows, found)
            frame[Columns.REASON] = compose(parts, len(rows), skip="none")
        return frame

    # ------------------------------------------------------------------ plumbing
    def _refuse_similar(self, what: str) -> None:
        """Refuse a model that does not answer ``similar_<what>``, naming those that do."""
        if what == "items" and not self.handles_similar_items:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} has no notion of similar products (it ranks every "
                f"product the same way for everyone); use {ITEM_MODELS}"
            )
        if what == "users" and not self.handles_similar_users:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} has no notion of similar customers (it serves every "
                f"customer the same list); use {USER_MODELS}"
            )

    def _select(
        self,
        n_rows: int,
        n: int,
        similarities: Any,
        own: np.ndarray,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` of ``similarities(rows) -> CSR`` per query row, a block of rows at a
        time, without each row's own position ``own[r]``.

        A block holds at most ``_similar_batch`` rows and about :data:`BLOCK_CELLS` cells of
        a dense block against every product or customer (a hook may score densely).
        """
        dataset = self._fitted_dataset()
        width = max(dataset.n_items, dataset.n_users, 1)
        size = max(1, min(self._similar_batch, BLOCK_CELLS // width))
        parts = [
            _top_entries(similarities(rows), n, own[rows], allowed)
            for rows in batches(n_rows, size)
        ]
        width = max((idx.shape[1] for idx, _ in parts), default=0)
        top_idx = np.full((n_rows, width), -1, dtype=np.int64)
        top_score = np.full((n_rows, width), np.nan, dtype=np.float32)
        for rows, (idx, score) in zip(batches(n_rows, size), parts, strict=True):
            top_idx[rows, : idx.shape[1]] = idx
            top_score[rows, : idx.shape[1]] = score
        return top_idx, top_score

    def _similar_candidates(self, items: Any) -> np.ndarray:
        """Sorted distinct catalogue positions of ``items`` (all products when None), without
        the withdrawn products."""
        dataset = self._fitted_dataset()
        withdrawn = self.withdrawn_idx_  # read once: withdraw() replaces it
        if items is None:
            positions = np.arange(dataset.n_items, dtype=np.int64)
        else:
            values = [items] if np.ndim(items) == 0 else list(items)
            found = dataset.item_map.to_index(np.asarray(values, dtype=object), argument="items")
            positions = np.unique(np.asarray(found, dtype=np.int64))
        if len(withdrawn) == 0:
            return positions
        return np.setdiff1d(positions, withdrawn, assume_unique=True)

    def _item_query(self, item_ids: Any, item_features: pd.DataFrame | None) -> ItemQuery:
        """The query products: catalogue ids and/or products given by their features."""
        dataset = self._fitted_dataset()
        encoded = None
        if item_features is not None:
            if not self.handles_new_items:
                raise UnsupportedProtocolError(
                    f"{type(self).__name__} cannot compare products by their features "
                    f"(item_features); use FeatureCF or ContentKNN"
                )
            encoded = dataset.encode_items(item_features)
            _refuse_catalogue_ids(dataset, encoded.ids)
        if item_ids is None:
            if encoded is None:
                raise ValueError(
                    "give item_ids and/or item_features (products not in the catalogue)"
                )
            ids = np.asarray(encoded.ids, dtype=object)
        else:
            values = [item_ids] if np.ndim(item_ids) == 0 else list(item_ids)
            ids = np.asarray(values, dtype=object)
        new_row = (
            np.full(len(ids), -1, dtype=np.int64)
            if encoded is None
            else pd.Index(encoded.ids, dtype=object).get_indexer(ids).astype(np.int64)
        )
        positions = np.full(len(ids), -1, dtype=np.int64)
        known = new_row < 0
        positions[known] = np.asarray(
            dataset.item_map.to_index(ids[known], argument="item_ids"), dtype=np.int64
        ).reshape(-1)
        self._refuse_items_without_interactions(positions[known])
        features = None
        if dataset.item_features is not None:
            catalogue = dataset.item_features
            rows = sp.csr_matrix(catalogue.matrix[positions[known]], dtype=np.float32)
            if encoded is not None:  # the products given by features, then back in order
                new = sp.csr_matrix(encoded.matrix[new_row[~known]], dtype=np.float32)
                rows = sp.csr_matrix(sp.vstack([rows, new]))
                order = np.concatenate([np.flatnonzero(known), np.flatnonzero(~known)])
                rows = rows[np.argsort(order)]
            features = FeatureMatrix(rows, catalogue.fields, ids)
        names = item_display_names(dataset)
        shown = np.where(known, names[np.maximum(positions, 0)], ids.astype(str))
        return ItemQuery(ids, positions, features, np.asarray(shown, dtype=object))

    def _refuse_customers_without_purchases(self, users: np.ndarray) -> None:
        """Models that do not use customer features cannot compare customers without
        interactions (they would have no similar customer at all)."""
        if self.handles_new_users_with_features:
            return
        dataset = self._fitted_dataset()
        empty = np.unique(users[dataset.user_counts()[users] == 0])
        if empty.size:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} cannot find customers similar to customers without "
                f"interactions ({empty.size} of them, e.g. "
                f"{dataset.user_ids[empty[:5]].tolist()}): it compares customers by what they "
                f"bought; use FeatureCF, which compares them by their features too"
            )

    def _refuse_items_without_interactions(self, positions: np.ndarray) -> None:
        """Models that do not use item features cannot compare products nobody bought."""
        if self.handles_new_items:
            return
        dataset = self._fitted_dataset()
        empty = np.unique(positions[dataset.item_counts()[positions] == 0])
        if empty.size:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} cannot find products similar to products without "
                f"interactions ({empty.size} of them, e.g. "
                f"{dataset.item_ids[empty[:5]].tolist()}): it compares products by who bought "
                f"them; use FeatureCF or ContentKNN, which compare them by their features"
            )


def _pairs(top_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query row, found position) of every result row, in frame order."""
    valid = top_idx >= 0
    return np.repeat(np.arange(top_idx.shape[0]), valid.sum(axis=1)), top_idx[valid]


def _refuse_catalogue_ids(dataset: Any, ids: np.ndarray) -> None:
    """``item_features`` is for products not in the catalogue: refuse catalogue ids and
    repeated ids."""
    clash = np.asarray(dataset.item_index(ids, strict=False), dtype=np.int64) >= 0
    if clash.any():
        raise ValueError(
            f"item_features holds {int(clash.sum())} id(s) of products in the catalogue, e.g. "
            f"{list(ids[clash][:5])}: give those in item_ids (the model compares them by what "
            f"it knows), and in item_features only products it has not seen"
        )
    repeated = pd.Index(ids).duplicated()
    if repeated.any():
        raise ValueError(
            f"item_features holds repeated ids, e.g. {list(ids[repeated][:5])}: one row per product"
        )
