"""Explanations shared by every model: :meth:`explain`, :meth:`explain_new_user` and the
``reason`` column.

:class:`ExplanationMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender`
is made of. A model explains itself through one hook, ``_explain_parts(query)``: the parts
of the scores of a batch of (user, item) pairs, each with a plain-language label (see
:mod:`featcf.models._reasons`); everything else here is the same for every model. The mixin
relies on the base class for ``_fitted_dataset``, ``_refuse_users_without_history``,
``_checked_new_users``, ``_batch_size`` and the stated-interest parts of
:class:`~featcf.models._interests.InterestsMixin`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._validation import check_across
from featcf.columns import Columns
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._interests import encode_with_interests
from featcf.models._reasons import PairQuery, reason_column

__all__ = ["ExplanationMixin"]


class ExplanationMixin:
    """``explain``, ``explain_new_user`` and reasons, on top of the ``_explain_parts`` hook."""

    _batch_size: ClassVar[int]

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            f"{type(self).__name__} has no per-field explanation; use FeatureCF, ContentKNN, "
            f"ItemKNN or UserKNN"
        )

    def _fitted_pairs(
        self, users: np.ndarray, rows: np.ndarray, items: np.ndarray, across: str = "items"
    ) -> PairQuery:
        """The pairs (fitted user ``users[rows[p]]``, item ``items[p]``) as a query of the
        scores compared ``across`` items or users."""
        dataset = self._fitted_dataset()
        features = dataset.user_features
        return PairQuery(
            history=dataset.interactions[users],
            features=None if features is None else sp.csr_matrix(features.matrix[users]),
            users=users,
            rows=rows,
            items=items,
            across=across,
        )

    def _reasons(self, query: PairQuery, skip: str) -> np.ndarray:
        """The ``reason`` of every pair of ``query`` (see :func:`reason_column`)."""
        return reason_column(self._explain_parts, query, skip, max(1, self._batch_size // 8))

    def explain(self, user_id: Any, item_id: Any, *, across: str = "items") -> pd.DataFrame:
        """The parts of one recommendation score, each with a plain-language label.

        Parameters
        ----------
        user_id, item_id : scalar
            A user of the fitted Dataset and an item of the catalogue.
        across : {"items", "users"}, default "items"
            Which score: the one :meth:`recommend` ranks the user's items by, or the one
            :meth:`recommend_users` (and ``featcf.retention.announce``) ranks the item's
            users by (see :meth:`score_users`).

        Returns
        -------
        pandas.DataFrame
            Columns ``part, field, value, contribution, label``; the contributions sum to
            the score that :meth:`predict` gives for the pair (with ``across="users"``: to
            ``score_users(..., across="users")``). ``label`` says the part in
            words ("goes with your car", "category = travel matches your purchases",
            "popular with customers"; internal constants read "baseline"); the ``reason``
            column of :meth:`recommend` joins the largest positive ones.

        See Also
        --------
        explain_new_user : the same for a customer unknown at fit time.
        """
        across = check_across(across)
        dataset = self._fitted_dataset()
        user = dataset.user_index(user_id)
        item = dataset.item_index(item_id)
        if not np.isscalar(user) or not np.isscalar(item):
            raise TypeError("explain takes one user id and one item id")
        users = np.array([user], dtype=np.int64)
        self._refuse_users_without_history(users)
        rows, items = np.zeros(1, np.int64), np.array([item], np.int64)
        pairs = self._fitted_pairs(users, rows, items, across)
        return self._explain_parts(pairs)[list(Columns.EXPLANATION)].reset_index(drop=True)

    def explain_new_user(
        self,
        item_id: Any,
        interactions: pd.DataFrame | None = None,
        user_features: pd.DataFrame | None = None,
        interests: pd.DataFrame | None = None,
        *,
        across: str = "items",
    ) -> pd.DataFrame:
        """:meth:`explain` for one customer unknown at fit time (folded in, no refit).

        Parameters
        ----------
        item_id : scalar
            An item of the catalogue.
        interactions, user_features, interests : pandas.DataFrame, optional
            The customer's interactions, features and/or stated interests, as for
            :meth:`recommend_new_users` (one customer id only).
        across : {"items", "users"}, default "items"
            As in :meth:`explain`.

        Returns
        -------
        pandas.DataFrame
            As :meth:`explain`; the contributions sum to the score that
            :meth:`recommend_new_users` gives the pair (with ``across="users"``: to
            ``score_new_users(..., across="users")``).
        """
        across = check_across(across)
        dataset = self._fitted_dataset()
        item = dataset.item_index(item_id)
        if not np.isscalar(item):
            raise TypeError("explain_new_user takes one item id")
        if interests is not None and not self.handles_stated_interests:
            raise UnsupportedProtocolError(self._no_stated_interests())
        ids, history, features, stated = encode_with_interests(
            dataset, interactions, user_features, interests
        )
        if len(ids) != 1:
            raise ValueError(
                f"explain_new_user explains one customer, the frames hold {len(ids)} "
                f"({ids[:5].tolist()})"
            )
        history, features = self._checked_new_users(history, features, stated)
        rows, items = np.zeros(1, np.int64), np.array([item])
        pairs = PairQuery(history, features, None, rows, items, stated, across)
        return self._explain_parts(pairs)[list(Columns.EXPLANATION)].reset_index(drop=True)
