"""Customers unknown at fit time, served without a refit: :meth:`recommend_new_users` and
its low-level counterpart :meth:`score_new_users`.

:class:`NewUserMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender` is
made of. A model folds new customers in through one hook, ``_score_new(history,
user_features, item_idx)``; the frames are parsed by :func:`featcf.models._queries.\
encode_new_users`. The mixin relies on the base class for ``_fitted_dataset``,
``_item_positions``, ``_rules``, ``_top_n``, ``_reasons`` and
``handles_new_users_with_features``. Stated interests (``interests=``) are encoded and
checked by :mod:`featcf.models._interests`, whose mixin this one extends.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._validation import check_across, check_positive_int
from featcf.columns import Columns
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._interests import InterestsMixin, checked_stated, encode_with_interests
from featcf.models._queries import new_user_matrices, result_frame
from featcf.models._reasons import PairQuery
from featcf.models._rules import Where

__all__ = ["NewUserMixin"]


class NewUserMixin(InterestsMixin):
    """``recommend_new_users`` and ``score_new_users`` on top of the ``_score_new`` hook
    (``_score_new_stated`` with stated interests: :class:`InterestsMixin`, whose
    ``interests`` every model has through this class)."""

    handles_new_users_with_features: ClassVar[bool]

    def recommend_new_users(
        self,
        interactions: pd.DataFrame | None = None,
        user_features: pd.DataFrame | None = None,
        n: int = 10,
        *,
        items: Any = None,
        exclude_seen: bool = True,
        exclude_items: Any = None,
        where: Where | None = None,
        exclude_owned_fields: str | list[str] | None = None,
        reasons: bool = False,
        interests: pd.DataFrame | None = None,
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
        exclude_items, where, exclude_owned_fields
            The business rules of :meth:`recommend`; ``exclude_owned_fields`` reads what the
            new customers hold from ``interactions``. Withdrawn items are never offered.
        reasons : bool, default False
            Add a ``reason`` column, as :meth:`recommend` does. A stated interest reads
            "you told us you like <value>".
        interests : pandas.DataFrame, optional
            Their stated interests (an onboarding form), alone or with ``interactions``
            and/or ``user_features``: the user id column, ``field`` (an item field) and
            ``value`` (one of its values, as ``dataset.item_fields[field].values`` writes
            it), one row per stated value, e.g. ``category = travel``. Customers may
            appear in ``interests`` only. Only models with attribute profiles use them
            (``handles_stated_interests``: FeatureCF, which folds a stated field into the
            customer's profile as strong evidence, see
            ``featcf.models.feature_cf._interests``).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank`` (and ``reason``) keyed by the caller's own
            user ids.

        Raises
        ------
        ValueError
            If an id is one of the fitted users: they are served by :meth:`recommend`, which
            uses their fitted history (this method would ignore it); or if ``interests``
            names an unknown field or value (the message lists the valid ones).
        UnsupportedProtocolError
            With ``interests``, for a model without attribute profiles.
        """
        dataset = self._fitted_dataset()
        n = check_positive_int(n, "n")
        if interests is not None and not self.handles_stated_interests:
            raise UnsupportedProtocolError(self._no_stated_interests())
        new_ids, history, features, stated = encode_with_interests(
            dataset, interactions, user_features, interests
        )
        rules = self._rules(items, exclude_items, where, exclude_owned_fields)
        scores = self.score_new_users(history, features, rules.candidates, interests=stated)
        top_idx, top_score = self._top_n(
            lambda rows: scores[rows], len(new_ids), n, rules, history, bool(exclude_seen)
        )
        frame = result_frame(new_ids, dataset.item_ids, top_idx, top_score, Columns.RECOMMENDATIONS)
        if reasons:
            history, features = self._checked_new_users(history, features, stated)
            valid = top_idx >= 0
            rows = np.repeat(np.arange(len(new_ids)), valid.sum(axis=1))
            pairs = PairQuery(history, features, None, rows, top_idx[valid], stated)
            frame[Columns.REASON] = self._reasons(pairs, skip="user")
        return frame

    def score_new_users(
        self,
        history: sp.spmatrix | None = None,
        user_features: sp.spmatrix | None = None,
        item_idx: Any = None,
        *,
        interests: sp.spmatrix | None = None,
        across: str = "items",
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
        interests : sparse matrix of shape (n_new, n_item_columns), optional
            Stated interests: non-zero at the item feature column of each stated value
            (columns as ``dataset.item_features.column_names``); models with
            ``handles_stated_interests`` only.
        across : {"items", "users"}, default "items"
            What the scores will be compared across: a user's items (as
            :meth:`recommend_new_users` ranks them) or an item's users (e.g. the new
            customers most likely to want one product), as :meth:`score_users`.

        Returns
        -------
        numpy.ndarray of shape (n_new, len(item_idx)), float32
        """
        across = check_across(across)
        if interests is not None and not self.handles_stated_interests:
            raise UnsupportedProtocolError(self._no_stated_interests())
        stated = None if interests is None else checked_stated(self._fitted_dataset(), interests)
        history, user_features = self._checked_new_users(history, user_features, stated)
        items = self._item_positions(item_idx)
        scores = self._score_new_across(history, user_features, stated, items, across)
        return np.asarray(scores, dtype=np.float32)

    def _score_new_across(
        self,
        history: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        stated: sp.csr_matrix | None,
        item_idx: np.ndarray,
        across: str,
    ) -> np.ndarray:
        """New users' scores (with or without stated interests) to compare ``across``
        ``"items"`` or ``"users"``: one scoring for both, unless a model overrides this."""
        if stated is not None:
            return self._score_new_stated(history, user_features, stated, item_idx)
        return self._score_new(history, user_features, item_idx)

    def _checked_new_users(
        self,
        history: sp.spmatrix | None,
        user_features: sp.spmatrix | None,
        interests: sp.spmatrix | None = None,
    ) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """``score_new_users``' inputs checked, as float32 CSR (an empty history if None).

        Rows with stated ``interests`` count as rows with evidence."""
        dataset = self._fitted_dataset()
        if history is None and user_features is None and interests is not None:
            history = sp.csr_matrix((interests.shape[0], dataset.n_items), dtype=np.float32)
        history, user_features = new_user_matrices(dataset, history, user_features)
        evidence = np.diff(history.indptr) > 0
        if interests is not None:
            if interests.shape[0] != history.shape[0]:
                raise ValueError(
                    f"interests must have one row per new user ({history.shape[0]}), got "
                    f"{interests.shape[0]}"
                )
            evidence |= np.diff(sp.csr_matrix(interests).indptr) > 0
        empty = np.flatnonzero(~evidence)
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
        return history, user_features
