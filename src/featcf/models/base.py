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
``_explain(user, item)``
    The parts of one score.

Everything that is the same for every model (ids, validation, batching, top-n selection with
exclusion of seen items, frames in and out, unknown-id policy) lives here once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from featcf._format import write_model
from featcf._validation import check_option, check_positive_int
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.exceptions import ColdStartWarning, NotFittedError, UnknownIdError
from featcf.similarity import topn_dense

__all__ = ["BaseRecommender", "UnsupportedProtocolError"]

ON_UNKNOWN = ("raise", "popular", "drop")


class UnsupportedProtocolError(NotImplementedError):
    """Raised when a model cannot serve a kind of query (e.g. new items for ItemKNN).

    The message says which model can.
    """


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class BaseRecommender(BaseEstimator):
    """Common base of featcf recommenders (scikit-learn estimator conventions).

    The constructor only stores hyper-parameters; ``fit(dataset)`` validates them, learns,
    sets attributes ending in ``_`` and returns ``self``. Refitting discards the previous fit.

    Attributes
    ----------
    dataset_ : Dataset
        The training Dataset (its catalogue grows with :meth:`add_items`).
    user_ids_, item_ids_ : numpy.ndarray
        External ids in internal order.
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
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"dataset must be a featcf.Dataset (build one with Dataset.from_frames), "
                f"got {type(dataset).__name__}"
            )
        self._check_params()
        self.dataset_ = dataset
        self._fit(dataset)
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

    def _is_fitted(self) -> bool:
        return "dataset_" in self.__dict__

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

    def _explain(self, user: int, item: int) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} has no per-field explanation; use FeatureCF, ContentKNN, "
            f"ItemKNN or UserKNN"
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

    def score_new_users(
        self,
        history: sp.spmatrix | None = None,
        user_features: sp.spmatrix | None = None,
        item_idx: Any = None,
    ) -> np.ndarray:
        """Dense scores of users unknown at fit time (fold-in, no refit).

        Parameters
        ----------
        history : sparse matrix of shape (n_new, n_items), optional
            Interactions of the new users over the fitted catalogue.
        user_features : sparse matrix of shape (n_new, n_user_columns), optional
            Encoded features (``dataset.encode_users(frame).matrix``).
        item_idx : array-like of int, optional
            Items to score; all by default.

        Returns
        -------
        numpy.ndarray of shape (n_new, len(item_idx)), float32
        """
        dataset = self._fitted_dataset()
        if history is None and user_features is None:
            raise ValueError("give history and/or user_features for the new users")
        n_new = (history if history is not None else user_features).shape[0]
        if history is None:
            history = sp.csr_matrix((n_new, dataset.n_items), dtype=np.float32)
        history = sp.csr_matrix(history, dtype=np.float32)
        if history.shape[1] != dataset.n_items:
            raise ValueError(
                f"history must have {dataset.n_items} columns (the catalogue), got "
                f"{history.shape[1]}"
            )
        if user_features is not None:
            user_features = sp.csr_matrix(user_features, dtype=np.float32)
            expected = 0 if dataset.user_features is None else dataset.user_features.n_columns
            if user_features.shape != (n_new, expected):
                raise ValueError(
                    f"user_features must have shape ({n_new}, {expected}), got "
                    f"{user_features.shape}"
                )
        empty = np.flatnonzero(np.diff(history.indptr) == 0)
        if empty.size and not self.handles_new_users_with_features:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} needs at least one interaction per new user and cannot "
                f"use user features; {empty.size} new user(s) have none (rows "
                f"{empty[:5].tolist()}): use FeatureCF for customers with demographics only"
            )
        if empty.size and user_features is None:
            raise ValueError(
                f"{empty.size} new user(s) have neither interactions nor features (rows "
                f"{empty[:5].tolist()})"
            )
        items = self._item_positions(item_idx)
        return np.asarray(self._score_new(history, user_features, items), dtype=np.float32)

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

    @staticmethod
    def _frame(
        row_ids: np.ndarray,
        col_ids: np.ndarray,
        top_idx: np.ndarray,
        top_score: np.ndarray,
        columns: tuple[str, ...],
    ) -> pd.DataFrame:
        valid = top_idx >= 0
        counts = valid.sum(axis=1)
        ranks = np.cumsum(valid, axis=1)[valid]
        return pd.DataFrame(
            {
                columns[0]: np.repeat(row_ids, counts),
                columns[1]: col_ids[top_idx[valid]],
                columns[2]: top_score[valid].astype(np.float64),
                columns[3]: ranks.astype(np.int64),
            }
        )

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

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id, item_id, score, rank`` (rank starts at 1), sorted by user in
            the order given, then by score descending; ties are broken by internal item order.
            With ``on_unknown="popular"`` a fifth column ``source`` says where each row comes
            from: ``"model"`` (scored by the model) or ``"popular"`` (an unknown user's
            fallback, ranked by number of interactions, ``score`` NaN); the column is there
            even when every id is known, so code reading the frame need not check.

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
        frame = self._frame(
            query[known], dataset.item_ids, top_idx, top_score, Columns.RECOMMENDATIONS
        )
        if on_unknown == "popular":
            frame = self._with_popular_fallback(frame, query, unknown, n, candidates)
        return frame

    def _with_popular_fallback(
        self,
        frame: pd.DataFrame,
        query: np.ndarray,
        unknown: np.ndarray,
        n: int,
        candidates: np.ndarray,
    ) -> pd.DataFrame:
        """``recommend(on_unknown="popular")``: the model's rows plus the most popular items
        for the ``unknown`` users of ``query``, in the order of ``query``.

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
        fallback = self._frame(query[unknown], item_ids, p_idx, no_score, Columns.RECOMMENDATIONS)
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

    def recommend_new_users(
        self,
        interactions: pd.DataFrame | None = None,
        user_features: pd.DataFrame | None = None,
        n: int = 10,
        *,
        items: Any = None,
        exclude_seen: bool = True,
    ) -> pd.DataFrame:
        """Recommend for customers unknown at fit time, without refitting.

        Parameters
        ----------
        interactions : pandas.DataFrame, optional
            Their few interactions, with the Dataset's user and item columns (and weight
            column if the Dataset had one). Items must be in the catalogue.
        user_features : pandas.DataFrame, optional
            Their features (the user id column and every user field), for customers with
            demographics only or to complement a short history.
        n : int, default 10
        items : array-like, optional
            Restrict candidates to these external item ids.
        exclude_seen : bool, default True
            Leave out the items in ``interactions``.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank`` keyed by the caller's own user ids.

        Raises
        ------
        ValueError
            If an id is one of the fitted users: they are served by :meth:`recommend`, which
            uses their fitted history (this method would ignore it).
        """
        dataset = self._fitted_dataset()
        n = check_positive_int(n, "n")
        new_ids, history, features = self._encode_new_users(interactions, user_features)
        candidates = self._candidate_items(items)
        scores = self.score_new_users(history, features, candidates)
        top_idx, top_score = self._top_n(
            lambda rows: scores[rows],
            len(new_ids),
            n,
            candidates,
            history if exclude_seen else None,
        )
        return self._frame(new_ids, dataset.item_ids, top_idx, top_score, Columns.RECOMMENDATIONS)

    def _encode_new_users(
        self, interactions: pd.DataFrame | None, user_features: pd.DataFrame | None
    ) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix | None]:
        """New users' ids (interactions first, then feature-only), history CSR and features."""
        dataset = self._fitted_dataset()
        user_col = dataset.columns.get("user") or Columns.USER
        item_col = dataset.columns.get("item") or Columns.ITEM
        weight_col = dataset.columns.get("weight")
        if interactions is None and user_features is None:
            raise ValueError("give interactions and/or user_features for the new users")
        ids: list[Any] = []
        codes = None
        if interactions is not None:
            if not isinstance(interactions, pd.DataFrame):
                raise TypeError(
                    f"interactions must be a pandas DataFrame, got {type(interactions).__name__}"
                )
            missing = [c for c in (user_col, item_col) if c not in interactions.columns]
            if missing:
                raise ValueError(
                    f"interactions is missing column(s) {missing} (the Dataset's id columns)"
                )
            # first-appearance order, one pass: the row of each interaction and the ids
            codes, uniques = pd.factorize(interactions[user_col].to_numpy())
            if (codes < 0).any():
                raise ValueError(f"interactions[{user_col!r}] holds missing user ids")
            ids.extend(uniques.tolist())
        if user_features is not None:
            if not isinstance(user_features, pd.DataFrame):
                raise TypeError(
                    f"user_features must be a pandas DataFrame, got {type(user_features).__name__}"
                )
            if user_col not in user_features.columns:
                raise ValueError(f"user_features has no id column {user_col!r}")
            known = set(ids)
            ids.extend(u for u in pd.unique(user_features[user_col].to_numpy()) if u not in known)
        new_ids = np.asarray(ids, dtype=object)
        fitted = np.asarray(dataset.user_index(new_ids, strict=False), dtype=np.int64) >= 0
        if fitted.any():
            # the ids of interactions come first, then those only in user_features
            from_history = np.arange(len(new_ids)) < (0 if codes is None else len(uniques))
            in_history = from_history[np.argmax(fitted)]
            fitted &= from_history if in_history else ~from_history
            examples = new_ids[fitted][:3].tolist()
            raise ValueError(
                f"{'interactions' if in_history else 'user_features'}[{user_col!r}] holds "
                f"{int(fitted.sum())} id(s) of users the model was fitted on, e.g. {examples}: "
                f"recommend_new_users is for users unknown at fit time and would ignore what "
                f"the model knows about these. Use model.recommend({examples}, n=...) for them "
                f"(their fitted history); to count interactions made since the fit too, refit "
                f"on a Dataset that holds them. If they are other users, give them ids the "
                f"model has not seen"
            )
        n_new = len(new_ids)
        history = None
        if codes is not None and len(codes):
            cols = np.asarray(dataset.item_index(interactions[item_col].to_numpy()), dtype=np.int64)
            if weight_col is not None and weight_col in interactions.columns:
                weights = interactions[weight_col].to_numpy(dtype=np.float64)
                if not np.isfinite(weights).all() or (weights <= 0).any():
                    raise ValueError(
                        f"interactions[{weight_col!r}] must hold finite positive weights"
                    )
            else:
                weights = np.ones(len(codes))
            history = _csr_summing_duplicates(
                codes.astype(np.int64), cols, weights.astype(np.float32), (n_new, dataset.n_items)
            )
        if history is None:
            history = sp.csr_matrix((n_new, dataset.n_items), dtype=np.float32)
        features = None
        if user_features is not None:
            if dataset.user_features is None:
                raise ValueError(
                    "user_features were given but the model was fitted without user features"
                )
            encoded = dataset.encode_users(user_features)
            placement = pd.Index(new_ids).get_indexer(encoded.ids)
            features = (
                sp.csr_matrix(
                    (
                        np.ones(len(placement), dtype=np.float32),
                        (placement, np.arange(len(placement))),
                    ),
                    shape=(len(new_ids), len(placement)),
                )
                @ encoded.matrix
            )
            features = sp.csr_matrix(features, dtype=np.float32)
        return new_ids, history, features

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
        self, item_ids: Any, n: int | None = 100, *, exclude_seen: bool = True
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

        Returns
        -------
        pandas.DataFrame
            ``item_id, user_id, score, rank``.
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
            best_idx, best_score = _merge_top(best_idx, best_score, idx, vals, n)
        return self._frame(query, dataset.user_ids, best_idx, best_score, Columns.AUDIENCE)

    def explain(self, user_id: Any, item_id: Any) -> pd.DataFrame:
        """The parts of one recommendation score.

        Returns
        -------
        pandas.DataFrame
            Columns ``part, field, value, contribution``; the contributions sum to the score
            that :meth:`predict` gives for the pair.
        """
        dataset = self._fitted_dataset()
        user = dataset.user_index(user_id)
        item = dataset.item_index(item_id)
        if not np.isscalar(user) or not np.isscalar(item):
            raise TypeError("explain takes one user id and one item id")
        self._refuse_users_without_history(np.array([user]))
        return self._explain(int(user), int(item))

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
        write_model(
            path, type(self).__name__, self.get_params(deep=False), self._get_state(), dataset
        )

    def _get_state(self) -> dict[str, Any]:
        """Fitted attributes to save: every public attribute ending in ``_`` but ``dataset_``.

        Values may be arrays, CSR matrices, pandas Series or JSON-able values; a model
        holding other objects overrides this and :meth:`_set_state`.
        """
        return {
            name: value
            for name, value in self.__dict__.items()
            if name.endswith("_") and not name.startswith("_") and name != "dataset_"
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned (after ``dataset_`` is set)."""
        for name, value in state.items():
            setattr(self, name, value)


def _csr_summing_duplicates(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR from COO triplets, duplicates summed, indices sorted (cheap for a few entries)."""
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    starts = np.flatnonzero(first)
    data = np.add.reduceat(data, starts) if len(starts) else data
    rows, cols = rows[starts], cols[starts]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((data.astype(np.float32), cols, indptr), shape=shape)


def _merge_top(
    idx_a: np.ndarray, score_a: np.ndarray, idx_b: np.ndarray, score_b: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-row top lists (-1 padded) into the top ``n`` by score, ties by index."""
    idx = np.concatenate([idx_a, idx_b], axis=1)
    score = np.concatenate([score_a, score_b], axis=1)
    key = np.where(idx >= 0, score, -np.inf)
    order = np.lexsort((np.where(idx >= 0, idx, np.iinfo(np.int64).max), -key), axis=-1)[:, :n]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(score, order, axis=1)
