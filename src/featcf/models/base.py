"""The interface every featcf recommender shares.

:class:`BaseRecommender` holds the whole public contract (and its documentation): ``fit``,
``recommend``, ``predict``, ``recommend_new_users``, ``add_items``, ``recommend_users``,
``explain``, ``save``. Subclasses implement a few scoring hooks on internal positions:

``_fit(dataset)``
    Learn from ``dataset.interactions`` (and features).
``_score(user_idx, item_idx)``
    Dense scores (len(user_idx), len(item_idx)) for fitted users.
``_score_new(history, user_features, item_idx)``
    Dense scores for users unknown at fit time, from a CSR history over the catalogue
    and/or their encoded features (fold-in, no refit).
``_extend_items(n_new)``
    Make room for ``n_new`` items appended to the catalogue by ``add_items``.
``_explain_parts(query)``
    The parts of the scores of (user, item) pairs, with plain-language labels (they give
    ``explain``, ``explain_new_user`` and the ``reason`` column, see
    :mod:`featcf.models._reasons`).

Everything that is the same for every model (ids, validation, batching, top-n selection with
exclusion of seen items, frames in and out, unknown-id policy) lives here once.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from featcf._format import write_model
from featcf._schema import Spec
from featcf._validation import check_option, check_positive_int
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.exceptions import (
    ColdStartWarning,
    NotFittedError,
    UnknownIdError,
    UnsupportedProtocolError,
)
from featcf.models._explaining import ExplanationMixin
from featcf.models._new_users import NewUserMixin
from featcf.models._queries import batches as _batches
from featcf.models._queries import merge_top, result_frame
from featcf.models._reasons import POPULAR
from featcf.models._updates import UpdateMixin
from featcf.similarity import topn_dense

__all__ = ["BaseRecommender", "UnsupportedProtocolError"]

ON_UNKNOWN = ("raise", "popular", "drop")


class BaseRecommender(NewUserMixin, ExplanationMixin, UpdateMixin, BaseEstimator):
    """Common base of featcf recommenders (scikit-learn estimator conventions).

    The constructor only stores hyper-parameters; ``fit(dataset)`` validates them, learns,
    sets attributes ending in ``_`` and returns ``self``. Refitting discards the previous fit.

    Attributes
    ----------
    dataset_ : Dataset
        The training Dataset (its catalogue grows with :meth:`add_items`).
    user_ids_, item_ids_ : numpy.ndarray
        External ids in internal order.

    Notes
    -----
    Thread safety: the query methods (:meth:`recommend`, :meth:`recommend_new_users`,
    :meth:`recommend_users`, :meth:`predict`, :meth:`explain`, :meth:`score_users`,
    :meth:`score_new_users`) may be called from several threads at once on one fitted or
    loaded model and give the results of serial calls. A query only reads the model: every
    array it reads is built by ``fit``, :func:`featcf.load`, :meth:`add_items` and
    :meth:`partial_fit`, never filled in lazily by a first query; those change the model: do
    not run them while other threads query it.
    """

    #: what the model can serve; subclasses override
    handles_new_users_with_history: ClassVar[bool] = True
    handles_new_users_with_features: ClassVar[bool] = False
    handles_new_items: ClassVar[bool] = False
    #: users scored per dense block when recommending
    _batch_size: ClassVar[int] = 2048
    #: blocks with at most this many rows select their top-n on one thread: starting the
    #: thread pool costs more than selecting a few rows (e.g. one new user at serving time)
    _serial_rows: ClassVar[int] = 64

    # ------------------------------------------------------------------ fitting
    def fit(self, dataset: Dataset) -> BaseRecommender:
        """Fit the model on ``dataset``.

        Parameters
        ----------
        dataset : Dataset
            Interactions (user x item) and, where the model uses them, item / user features.

        Returns
        -------
        self

        If fitting raises, the model is left unfitted (a failed refit discards the previous
        fit too).
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"dataset must be a featcf.Dataset (build one with Dataset.from_frames), "
                f"got {type(dataset).__name__}"
            )
        self._check_params()
        self.__dict__.pop("_update_stats", None)  # counts of partial_fit since the fit
        self.dataset_ = dataset
        try:
            self._fit(dataset)
        except BaseException:
            # a failed fit leaves the model unfitted: a refit that fails must not leave the
            # new Dataset beside the previous fit's arrays (their shapes would not match)
            del self.__dict__["dataset_"]
            raise
        return self

    def _check_params(self) -> None:
        """Validate hyper-parameters (called at the start of ``fit``)."""

    def _fit(self, dataset: Dataset) -> None:
        raise NotImplementedError

    @property
    def user_ids_(self) -> np.ndarray:
        return self._fitted_dataset().user_ids

    @property
    def item_ids_(self) -> np.ndarray:
        return self._fitted_dataset().item_ids

    def _fitted_dataset(self) -> Dataset:
        dataset = self.__dict__.get("dataset_")
        if dataset is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(dataset) first."
            )
        return dataset

    # ------------------------------------------------------------------ scoring hooks
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} cannot score users unknown at fit time; "
            f"use FeatureCF, ItemKNN or ALS"
        )

    def _extend_items(self, n_new: int) -> None:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} cannot score products without interactions; "
            f"use FeatureCF or ContentKNN for new products"
        )

    # ------------------------------------------------------------------ low-level API
    def score_users(self, user_idx: Any, item_idx: Any = None) -> np.ndarray:
        """Dense scores of fitted users (internal positions) for items (all by default).

        Low-level counterpart of :meth:`recommend`, used by :func:`featcf.evaluation.evaluate`.

        Parameters
        ----------
        user_idx : array-like of int
            Internal user positions (``dataset.user_index(ids)``).
        item_idx : array-like of int, optional
            Internal item positions; all items when omitted.

        Returns
        -------
        numpy.ndarray of shape (len(user_idx), len(item_idx)), float32
        """
        dataset = self._fitted_dataset()
        users = self._check_positions(user_idx, dataset.n_users, "user_idx")
        self._refuse_users_without_history(users)
        items = self._item_positions(item_idx)
        return np.asarray(self._score(users, items), dtype=np.float32)

    def _refuse_users_without_history(self, user_idx: np.ndarray) -> None:
        """Refuse fitted users with no interactions unless the model can use their features.

        Scoring hooks stay pure computations (an empty history scores what it scores, which
        audiences need); the entry points that rank or predict for given users check first,
        so a model never serves a silent constant to a user it knows nothing about.
        """
        if self.handles_new_users_with_features:
            return
        dataset = self._fitted_dataset()
        counts = np.diff(dataset.interactions.indptr)
        empty = np.unique(np.asarray(user_idx, dtype=np.int64))
        empty = empty[counts[empty] == 0]
        if empty.size:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} cannot score users without interactions "
                f"({empty.size} of them, e.g. {dataset.user_ids[empty[:5]].tolist()}); use "
                f"FeatureCF for customers known by their features only, or Popularity "
                f"(recommend(..., on_unknown='popular') for unknown ids)"
            )

    def _check_positions(self, idx: Any, n: int, name: str) -> np.ndarray:
        positions = np.asarray(idx, dtype=np.int64).ravel()
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            raise IndexError(f"{name} must lie in [0, {n}), got values outside it")
        return positions

    def _item_positions(self, item_idx: Any) -> np.ndarray:
        n_items = self._fitted_dataset().n_items
        if item_idx is None:
            return np.arange(n_items, dtype=np.int64)
        return self._check_positions(item_idx, n_items, "item_idx")

    # ------------------------------------------------------------------ top-n machinery
    def _top_n(
        self,
        score_block: Any,
        n_rows: int,
        n: int,
        items: np.ndarray,
        exclude: sp.csr_matrix | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` candidate positions per row, scoring ``_batch_size`` rows at a time.

        ``score_block(rows: slice) -> dense scores`` over ``items``; ``exclude`` rows are in
        catalogue space and are mapped to candidate space here. Selection runs on the
        model's ``n_threads`` (if it has that parameter), on one thread for small blocks.
        """
        if exclude is not None and len(items) != self._fitted_dataset().n_items:
            exclude = sp.csr_matrix(exclude[:, items])
        out_idx = np.full((n_rows, min(n, len(items))), -1, dtype=np.int64)
        out_score = np.full(out_idx.shape, np.nan, dtype=np.float32)
        for rows in _batches(n_rows, self._batch_size):
            scores = np.ascontiguousarray(score_block(rows), dtype=np.float32)
            if exclude is None or (rows.start == 0 and rows.stop >= n_rows):
                excl = exclude  # one batch: no row slicing
            else:
                excl = exclude[rows]
            idx, vals = topn_dense(
                scores, out_idx.shape[1], exclude=excl, n_threads=self._selection_threads(n_rows)
            )
            valid = idx >= 0
            out_idx[rows] = np.where(valid, items[np.maximum(idx, 0)], -1)
            out_score[rows] = np.where(valid, vals, np.nan)
        return out_idx, out_score

    def _selection_threads(self, n_rows: int) -> int | None:
        if n_rows <= self._serial_rows:
            return 1
        return getattr(self, "n_threads", None)

    def _candidate_items(self, items: Any) -> np.ndarray:
        dataset = self._fitted_dataset()
        if items is None:
            return np.arange(dataset.n_items, dtype=np.int64)
        return np.unique(np.asarray(dataset.item_index(list(items)), dtype=np.int64))

    # ------------------------------------------------------------------ public API
    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Any = None,
        on_unknown: str = "raise",
        reasons: bool = False,
    ) -> pd.DataFrame:
        """Top-``n`` items for known users.

        Parameters
        ----------
        user_ids : scalar or array-like
            External ids of users in the fitted Dataset (including users that only had
            features).
        n : int, default 10
            Number of items per user. Fewer rows are returned when fewer candidates exist
            (no padding).
        exclude_seen : bool, default True
            Leave out items the user interacted with in the training data.
        items : array-like, optional
            Restrict candidates to these external item ids.
        on_unknown : {"raise", "popular", "drop"}, default "raise"
            Users not in the fitted Dataset: raise :class:`~featcf.UnknownIdError`, serve the
            most popular items (with a :class:`~featcf.ColdStartWarning`), or leave them out.
            The popular items have no model score: their ``score`` is NaN (so the column
            holds the model's scores only) and a ``source`` column says ``"popular"``.
        reasons : bool, default False
            Add a ``reason`` column: one line in plain language naming the largest positive
            parts of each score (the parts of :meth:`explain`; internal constants and parts
            equal for all of a customer's products are left out). Fallback rows (unknown
            users served the popular items) read "popular with customers".

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id, item_id, score, rank`` (rank starts at 1), sorted by user in
            the order given, then by score descending; ties are broken by internal item order.
            With ``reasons=True`` also ``reason``. With ``on_unknown="popular"`` a column ``source`` says where each row comes
            from: ``"model"`` (scored by the model) or ``"popular"`` (an unknown user's
            fallback, ranked by number of interactions, ``score`` NaN); the column is there
            even when every id is known, so code reading the frame need not check.

        Raises
        ------
        UnsupportedProtocolError
            With ``reasons=True``, for a model without explanations (ALS).

        Examples
        --------
        >>> import warnings
        >>> from featcf.datasets import make_insurance_shop
        >>> from featcf.models import ItemKNN
        >>> shop = make_insurance_shop(n_customers=200, random_state=0)
        >>> model = ItemKNN(n_neighbors=20).fit(shop)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # the ColdStartWarning for "web-visitor"
        ...     recs = model.recommend([shop.user_ids[0], "web-visitor"], n=2, on_unknown="popular")
        >>> recs[["rank", "source"]].values.tolist()
        [[1, 'model'], [2, 'model'], [1, 'popular'], [2, 'popular']]
        >>> recs["score"].isna().tolist()
        [False, False, True, True]
        """
        dataset = self._fitted_dataset()
        n = check_positive_int(n, "n")
        check_option(on_unknown, "on_unknown", ON_UNKNOWN)
        query = np.asarray([user_ids] if np.ndim(user_ids) == 0 else list(user_ids), dtype=object)
        positions = np.asarray(dataset.user_index(query, strict=False), dtype=np.int64)
        unknown = positions < 0
        if unknown.any() and on_unknown == "raise":
            raise UnknownIdError(
                "user",
                pd.unique(query[unknown]).tolist(),
                "user_ids",
                known_examples=dataset.user_ids[:3].tolist(),
            )
        candidates = self._candidate_items(items)
        known = ~unknown
        users = positions[known]
        self._refuse_users_without_history(users)
        top_idx, top_score = self._recommend_known(users, n, candidates, bool(exclude_seen))
        frame = result_frame(
            query[known], dataset.item_ids, top_idx, top_score, Columns.RECOMMENDATIONS
        )
        if reasons:
            counts = (top_idx >= 0).sum(axis=1)
            rows = np.repeat(np.arange(len(users)), counts)
            pairs = self._fitted_pairs(users, rows, top_idx[top_idx >= 0])
            frame[Columns.REASON] = self._reasons(pairs, skip="user")
        if on_unknown == "popular":
            frame = self._with_popular_fallback(frame, query, unknown, n, candidates, reasons)
        return frame

    def _with_popular_fallback(
        self,
        frame: pd.DataFrame,
        query: np.ndarray,
        unknown: np.ndarray,
        n: int,
        candidates: np.ndarray,
        reasons: bool = False,
    ) -> pd.DataFrame:
        """``recommend(on_unknown="popular")``: the model's rows plus the most popular items
        for the ``unknown`` users of ``query``, in the order of ``query`` (with ``reasons``,
        the fallback rows read "popular with customers").

        The fallback rows have no model score (``score`` is NaN, so the column holds one
        scale: the model's); a ``source`` column says which rows are which (``"model"`` or
        ``"popular"``) whether or not some ids were unknown in this call.
        """
        frame = frame.assign(**{Columns.SOURCE: "model"})
        if not unknown.any():
            return frame
        warnings.warn(
            f"{int(unknown.sum())} unknown user(s) get the most popular items, with score NaN "
            f"and source 'popular' (e.g. {query[unknown][:3].tolist()})",
            ColdStartWarning,
            stacklevel=3,
        )
        popular = self._popularity_scores()[candidates]
        block = np.broadcast_to(popular, (int(unknown.sum()), len(candidates)))
        p_idx, _ = self._top_n(lambda rows: block[rows], int(unknown.sum()), n, candidates, None)
        no_score = np.full(p_idx.shape, np.nan, dtype=np.float32)
        item_ids = self._fitted_dataset().item_ids
        fallback = result_frame(query[unknown], item_ids, p_idx, no_score, Columns.RECOMMENDATIONS)
        if reasons:
            fallback[Columns.REASON] = POPULAR
        fallback[Columns.SOURCE] = "popular"
        order = {uid: k for k, uid in enumerate(pd.unique(query))}
        frame = pd.concat([frame, fallback], ignore_index=True)
        return frame.sort_values(
            [Columns.USER, Columns.RANK],
            key=lambda s: s.map(order) if s.name == Columns.USER else s,
            kind="stable",
        ).reset_index(drop=True)

    def _recommend_known(
        self, users: np.ndarray, n: int, candidates: np.ndarray, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ranking step of :meth:`recommend`, on internal positions (ids already parsed).

        Parameters
        ----------
        users : numpy.ndarray of int64
            Fitted users (with interactions, or features for models that use them).
        n : int
            Items per user.
        candidates : numpy.ndarray of int64
            Sorted distinct item positions to rank (all items when ``items`` was not given).
        exclude_seen : bool
            Leave out each user's training interactions.

        Returns
        -------
        top_idx, top_score : numpy.ndarray of shape (len(users), min(n, len(candidates)))
            Item positions (int64, -1 padded) and their float32 scores (NaN where padded).

        Scores ``_batch_size`` users at a time with :meth:`_score` and selects the top ``n``;
        a model with a faster way to rank (ItemKNN's serving kernel) overrides this step.
        """
        exclude = self._fitted_dataset().interactions[users] if exclude_seen else None
        return self._top_n(
            lambda rows: self._score(users[rows], candidates), len(users), n, candidates, exclude
        )

    def _popularity_scores(self) -> np.ndarray:
        """Number of interactions of each item (the fallback ranking)."""
        return self._fitted_dataset().item_counts().astype(np.float32)

    def predict(self, user_ids: Any, item_ids: Any) -> np.ndarray:
        """Scores of (user, item) pairs.

        Parameters
        ----------
        user_ids, item_ids : array-like of equal length
            External ids; pair ``k`` is ``(user_ids[k], item_ids[k])``.

        Returns
        -------
        numpy.ndarray of shape (n_pairs,), float64
        """
        dataset = self._fitted_dataset()
        users = np.atleast_1d(np.asarray(dataset.user_index(user_ids), dtype=np.int64))
        items = np.atleast_1d(np.asarray(dataset.item_index(item_ids), dtype=np.int64))
        self._refuse_users_without_history(users)
        if users.shape != items.shape:
            raise ValueError(
                f"user_ids and item_ids must have the same length, got {len(users)} and "
                f"{len(items)}"
            )
        out = np.empty(len(users), dtype=np.float64)
        unique_users, inverse = np.unique(users, return_inverse=True)
        unique_items, item_pos = np.unique(items, return_inverse=True)
        for rows in _batches(len(unique_users), self._batch_size):
            block = self._score(unique_users[rows], unique_items)
            mask = (inverse >= rows.start) & (inverse < rows.stop)
            out[mask] = block[inverse[mask] - rows.start, item_pos[mask]]
        return out

    def add_items(self, item_features: pd.DataFrame) -> BaseRecommender:
        """Register new products (features only) so they are scored without a refit.

        Parameters
        ----------
        item_features : pandas.DataFrame
            The item id column and every item field, like the Dataset's ``item_features``.
            Ids already in the catalogue are refused.

        Returns
        -------
        self

        Raises
        ------
        UnsupportedProtocolError
            If the model cannot score items without interactions (kNN on interactions, ALS).
        """
        dataset = self._fitted_dataset()
        if not self.handles_new_items:
            self._extend_items(0)  # raises with the advice
        self.dataset_ = dataset.with_new_items(item_features)
        self._extend_items(self.dataset_.n_items - dataset.n_items)
        return self

    def recommend_users(
        self,
        item_ids: Any,
        n: int | None = 100,
        *,
        exclude_seen: bool = True,
        reasons: bool = False,
    ) -> pd.DataFrame:
        """The audience of products: the users most likely to want each, best first.

        Parameters
        ----------
        item_ids : scalar or array-like
            External ids of products in the catalogue (new ones: :meth:`add_items` first).
        n : int or None, default 100
            Users per product; None ranks every user (e.g. for a lift curve).
        exclude_seen : bool, default True
            Leave out users who already have the product.
        reasons : bool, default False
            Add a ``reason`` column: why each customer is in the audience (parts that are
            the same for every customer of a product, such as its popularity, are left out).

        Returns
        -------
        pandas.DataFrame
            ``item_id, user_id, score, rank`` (and ``reason``).
        """
        dataset = self._fitted_dataset()
        n_users = dataset.n_users
        n = n_users if n is None else check_positive_int(n, "n")
        query = np.asarray([item_ids] if np.ndim(item_ids) == 0 else list(item_ids), dtype=object)
        items = np.asarray(dataset.item_index(query), dtype=np.int64)
        # Score users in blocks and keep a running top-n per item (users are the long axis).
        best_idx = np.full((len(items), 0), -1, dtype=np.int64)
        best_score = np.full((len(items), 0), np.nan, dtype=np.float32)
        seen_t = sp.csr_matrix(dataset.interactions[:, items].T) if exclude_seen else None
        for rows in _batches(n_users, self._batch_size * 4):
            users = np.arange(rows.start, rows.stop)
            block = np.asarray(self._score(users, items), dtype=np.float32).T
            excl = None if seen_t is None else sp.csr_matrix(seen_t[:, rows])
            idx, vals = topn_dense(
                np.ascontiguousarray(block),
                min(n, len(users)),
                exclude=excl,
                n_threads=self._selection_threads(len(items)),
            )
            idx = np.where(idx >= 0, idx + rows.start, -1)
            best_idx, best_score = merge_top(best_idx, best_score, idx, vals, n)
        frame = result_frame(query, dataset.user_ids, best_idx, best_score, Columns.AUDIENCE)
        if reasons:
            valid = best_idx >= 0
            users, rows = np.unique(best_idx[valid], return_inverse=True)
            pairs = self._fitted_pairs(users, rows.ravel(), np.repeat(items, valid.sum(axis=1)))
            frame[Columns.REASON] = self._reasons(pairs, skip="item")
        return frame

    def save(self, path: Any) -> None:
        """Save the fitted model to ``path``; read it back with :func:`featcf.load`.

        The file is an ``.npz`` archive of arrays plus JSON metadata (no pickle), so loading
        never runs code; see :mod:`featcf.persistence` for the format. The same as
        :func:`featcf.save`.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        TypeError
            If the ids are of mixed types, or a fitted attribute has a type that cannot be
            saved.
        """
        dataset = self._fitted_dataset()
        state = {**self._get_state(), **self._updates_state()}
        write_model(path, type(self).__name__, self.get_params(deep=False), state, dataset)

    # ------------------------------------------------------------------ model files
    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        """The fitted state this model saves: name -> spec (:mod:`featcf._schema`).

        Called on a model whose hyper-parameters are checked, with the (checked) Dataset it
        is fitted on. The names are exactly what :meth:`_get_state` saves; loading refuses a
        file whose state has another name, or an entry whose dtype, shape or values do not
        fit its spec, before any of it reaches the model. Raise ``ValueError`` when the
        Dataset cannot serve this model (e.g. no item features for a content model).
        """
        raise NotImplementedError

    def _check_state(self, state: dict[str, Any]) -> None:
        """Cross-checks of a loaded state the specs cannot express (``ValueError`` if wrong).

        Called after ``dataset_`` is set, before :meth:`_set_state`; the default has none.
        """

    def _get_state(self) -> dict[str, Any]:
        """The fitted attributes to save: those :meth:`_state_schema` names.

        Values may be arrays, CSR matrices, pandas Series or JSON-able values; a model
        holding other objects overrides this and :meth:`_set_state`.
        """
        return {name: getattr(self, name) for name in self._state_schema(self._fitted_dataset())}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned (after ``dataset_`` is set and checked)."""
        for name in self._state_schema(self._fitted_dataset()):
            setattr(self, name, state[name])
