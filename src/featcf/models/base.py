"""The interface every featcf recommender shares.

:class:`BaseRecommender` holds the whole public contract (and its documentation): ``fit``,
``recommend``, ``predict``, ``recommend_new_users``, ``add_items``, ``recommend_users``,
``explain``, ``withdraw``, ``save``. Subclasses implement a few scoring hooks on internal
positions:

``_fit(dataset)``
    Learn from ``dataset.interactions`` (and features).
``_score(user_idx, item_idx)``
    Dense scores (len(user_idx), len(item_idx)) for fitted users. A model whose scores
    compared across users (a product's audience) are not those compared across items
    overrides ``_score_across(user_idx, item_idx, across)`` too, and
    ``_score_new_across(history, user_features, stated, item_idx, across)`` instead of
    ``_score_new`` and ``_score_new_stated`` (FeatureCF).
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
exclusion of seen items, frames in and out, unknown-id policy) lives here once, in parts:
ranking (:mod:`featcf.models._ranking`), new users (:mod:`featcf.models._new_users`) and
explanations (:mod:`featcf.models._explaining`) are mixins this class is made of.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from featcf._format import write_model
from featcf._schema import Array, Spec
from featcf._validation import check_across
from featcf.data.dataset import Dataset
from featcf.exceptions import NotFittedError, UnsupportedProtocolError
from featcf.models._explaining import ExplanationMixin
from featcf.models._new_users import NewUserMixin
from featcf.models._queries import batches as _batches
from featcf.models._ranking import RankingMixin
from featcf.models._similar import SimilarityMixin
from featcf.models._updates import UpdateMixin

__all__ = ["ADDED_ENTRIES", "BaseRecommender", "UnsupportedProtocolError"]

#: the state entry every model saves: positions of the withdrawn items
WITHDRAWN = "withdrawn_idx_"
#: state entries added to the file format after its first files were written: a file may
#: lack them (it was saved before they existed) and loads with their default
ADDED_ENTRIES = (
    WITHDRAWN,
    "affinity_matrix_",
    "band_affine_",
    "audience_band_weights_",
    "audience_cold_item_affine_",
    "audience_band_affine_",
    "stated_weights_",
    "stated_only_weights_",
    "popularity_design_",
)


class BaseRecommender(
    RankingMixin, NewUserMixin, ExplanationMixin, SimilarityMixin, UpdateMixin, BaseEstimator
):
    """Common base of featcf recommenders (scikit-learn estimator conventions).

    The constructor only stores hyper-parameters; ``fit(dataset)`` validates them, learns,
    sets attributes ending in ``_`` and returns ``self``. Refitting discards the previous fit.

    Attributes
    ----------
    dataset_ : Dataset
        The training Dataset (its catalogue grows with :meth:`add_items`).
    user_ids_, item_ids_ : numpy.ndarray
        External ids in internal order.
    withdrawn_items_ : numpy.ndarray
        External ids of the items taken off the shelf by :meth:`withdraw` (empty after
        ``fit``); ``withdrawn_idx_`` holds their positions.

    Notes
    -----
    Thread safety: the query methods (:meth:`recommend`, :meth:`recommend_new_users`,
    :meth:`recommend_users`, :meth:`predict`, :meth:`explain`, :meth:`explain_new_user`,
    :meth:`similar_items`, :meth:`similar_users`, :meth:`interests`, :meth:`score_users`,
    :meth:`score_new_users`) may be called from several threads at once on one fitted or
    loaded model and give the results of serial calls. A query only reads the model: every
    array it reads is built by ``fit``, :func:`featcf.load`, :meth:`add_items` and
    :meth:`partial_fit`, never filled in lazily by a first query; those change the model: do
    not run them while other threads query it. :meth:`withdraw` and :meth:`reinstate` change
    the model too, by replacing the withdrawn set in one assignment: a query running at the
    same time sees the set before or after the change.
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
        self.withdrawn_idx_ = np.empty(0, dtype=np.int64)  # a refit restocks the shelf
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

    def _score_across(self, user_idx: np.ndarray, item_idx: np.ndarray, across: str) -> np.ndarray:
        """Scores of fitted users to compare ``across`` ``"items"`` or ``"users"`` (a
        product's audience): those of ``_score`` for a model with one scoring."""
        return self._score(user_idx, item_idx)

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
    def score_users(
        self, user_idx: Any, item_idx: Any = None, *, across: str = "items"
    ) -> np.ndarray:
        """Dense scores of fitted users (internal positions) for items (all by default).

        Low-level counterpart of :meth:`recommend` (and, with ``across="users"``, of
        :meth:`recommend_users`), used by :func:`featcf.evaluation.evaluate`.

        Parameters
        ----------
        user_idx : array-like of int
            Internal user positions (``dataset.user_index(ids)``).
        item_idx : array-like of int, optional
            Internal item positions; all items when omitted.
        across : {"items", "users"}, default "items"
            What the scores will be compared across: a user's items, as :meth:`recommend`
            ranks them, or an item's users, as :meth:`recommend_users` ranks them. Models
            with one scoring give the same scores for both; FeatureCF learns weights for
            each.

        Returns
        -------
        numpy.ndarray of shape (len(user_idx), len(item_idx)), float32
        """
        dataset = self._fitted_dataset()
        users = self._check_positions(user_idx, dataset.n_users, "user_idx")
        across = check_across(across)
        self._refuse_users_without_history(users)
        items = self._item_positions(item_idx)
        return np.asarray(self._score_across(users, items, across), dtype=np.float32)

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

    # ------------------------------------------------------------------ public API
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
        state = {**self._get_state(), WITHDRAWN: self.withdrawn_idx_, **self._updates_state()}
        write_model(path, type(self).__name__, self.get_params(deep=False), state, dataset)

    # ------------------------------------------------------------------ model files
    def _file_schema(self, dataset: Dataset) -> dict[str, Spec]:
        """Everything a model file's state holds: the model's :meth:`_state_schema` and the
        state every model has (the withdrawn items, an entry files older than
        :meth:`withdraw` lack: :data:`ADDED_ENTRIES`)."""
        withdrawn = Array("int64", (None,), index_of=dataset.n_items, increasing=True)
        return {**self._state_schema(dataset), WITHDRAWN: withdrawn}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Restore a loaded state checked against :meth:`_file_schema` (an entry of
        :data:`ADDED_ENTRIES` absent from an older file is None)."""
        withdrawn = state.get(WITHDRAWN)
        self._set_state({name: value for name, value in state.items() if name != WITHDRAWN})
        self.withdrawn_idx_ = np.empty(0, np.int64) if withdrawn is None else withdrawn

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
