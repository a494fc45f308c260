"""Ranking items for fitted users and users for items: :meth:`recommend` and
:meth:`recommend_users`, with the top-n machinery they and :meth:`recommend_new_users` share,
and the items taken off the shelf: :meth:`withdraw` / :meth:`reinstate`.

:class:`RankingMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender` is
made of. It scores through the model's hooks (``_score``) in blocks of ``_batch_size`` users
and selects the top ``n`` with :func:`featcf.similarity.topn_dense`: the business rules of
the query (:mod:`featcf.models._rules`: candidates, excluded and withdrawn items, a filter on
item fields, owned fields) and the seen items are excluded in the kernel, ties broken by
internal item order. The mixin relies on the base class for
``_fitted_dataset``, ``_refuse_users_without_history``, ``_popularity_scores``,
``_fitted_pairs``, ``_reasons``, ``_batch_size`` and ``_serial_rows``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._validation import check_option, check_positive_int
from featcf.columns import Columns
from featcf.exceptions import ColdStartWarning, UnknownIdError
from featcf.models._queries import batches as _batches
from featcf.models._queries import merge_top, result_frame
from featcf.models._reasons import POPULAR
from featcf.models._rules import RuleSet, Where, parse_rules, shared_value_pairs
from featcf.similarity import topn_dense

__all__ = ["ON_UNKNOWN", "RankingMixin"]

ON_UNKNOWN = ("raise", "popular", "drop")


class RankingMixin:
    """``recommend``, ``recommend_users`` and the top-n selection on top of ``_score``."""

    _batch_size: ClassVar[int]
    _serial_rows: ClassVar[int]
    #: positions of the withdrawn items, sorted (set by ``fit``, :func:`featcf.load`,
    #: :meth:`withdraw` and :meth:`reinstate`; replaced, never edited in place)
    withdrawn_idx_: np.ndarray

    # ------------------------------------------------------------------ top-n machinery
    def _top_n(
        self,
        score_block: Any,
        n_rows: int,
        n: int,
        rules: RuleSet,
        held: sp.csr_matrix | None = None,
        exclude_seen: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` candidate positions per row, scoring ``_batch_size`` rows at a time.

        ``score_block(rows: slice) -> dense scores`` over ``rules.candidates``. ``held`` are
        the rows' holdings (catalogue columns): with ``exclude_seen`` they are never offered,
        and ``rules`` adds the items sharing an owned field value; the kernel skips them and
        the items the item-level rules block. Selection runs on the model's ``n_threads`` (if
        it has that parameter), on one thread for small blocks.
        """
        items = rules.candidates
        allowed = rules.allowed_candidates
        every_item = len(items) == self._fitted_dataset().n_items
        out_idx = np.full((n_rows, min(n, len(items))), -1, dtype=np.int64)
        out_score = np.full(out_idx.shape, np.nan, dtype=np.float32)
        if not len(items):  # nothing to rank (e.g. a filter no item passes)
            return out_idx, out_score
        for rows in _batches(n_rows, self._batch_size):
            scores = np.ascontiguousarray(score_block(rows), dtype=np.float32)
            block = held
            if held is not None and not (rows.start == 0 and rows.stop >= n_rows):
                block = held[rows]  # (one batch needs no row slicing)
            excl = rules.exclusion(block, exclude_seen)
            if excl is not None and not every_item:
                excl = sp.csr_matrix(excl[:, items])
            idx, vals = topn_dense(
                scores,
                out_idx.shape[1],
                exclude=excl,
                allowed=allowed,
                n_threads=self._selection_threads(n_rows),
            )
            valid = idx >= 0
            out_idx[rows] = np.where(valid, items[np.maximum(idx, 0)], -1)
            out_score[rows] = np.where(valid, vals, np.nan)
        return out_idx, out_score

    def _selection_threads(self, n_rows: int) -> int | None:
        if n_rows <= self._serial_rows:
            return 1
        return getattr(self, "n_threads", None)

    def _rules(
        self,
        items: Any = None,
        exclude_items: Any = None,
        where: Where | None = None,
        exclude_owned_fields: Any = None,
        withdrawn: np.ndarray | None = None,
    ) -> RuleSet:
        """The query's business rules, checked, with the withdrawn items blocked (the model's
        own set unless the caller read it already: a query reads it once)."""
        return parse_rules(
            self._fitted_dataset(),
            items=items,
            exclude_items=exclude_items,
            where=where,
            exclude_owned_fields=exclude_owned_fields,
            withdrawn=self.withdrawn_idx_ if withdrawn is None else withdrawn,
        )

    # ------------------------------------------------------------------ withdrawn items
    @property
    def withdrawn_items_(self) -> np.ndarray:
        """External ids of the withdrawn items (:meth:`withdraw`), in catalogue order."""
        return self._fitted_dataset().item_ids[self.withdrawn_idx_]

    def withdraw(self, item_ids: Any) -> RankingMixin:
        """Withdraw products: they are never recommended again, without a refit.

        A withdrawn product is left out of :meth:`recommend` and :meth:`recommend_new_users`
        (also when named in ``items``), and :meth:`recommend_users` refuses it. It stays in
        the catalogue: the model still scores it (:meth:`predict`, :meth:`explain`) and it
        still counts in the histories of the customers who hold it. :meth:`reinstate` undoes
        this; :func:`featcf.save` keeps the withdrawn set.

        Parameters
        ----------
        item_ids : scalar or array-like
            External ids of catalogue items; withdrawing an item twice is harmless.

        Returns
        -------
        self

        Raises
        ------
        UnknownIdError
            If an id is not in the catalogue.

        Notes
        -----
        This changes the model, like :meth:`add_items`: do not run it while another thread
        fits the model or adds items. A query running at the same time as :meth:`withdraw` or
        :meth:`reinstate` sees the withdrawn set either before or after the change (the set is
        replaced in one assignment, never edited in place), never a mixture.

        Examples
        --------
        >>> from featcf.datasets import make_insurance_shop
        >>> from featcf.models import Popularity
        >>> shop = make_insurance_shop(n_customers=100, random_state=0)
        >>> model = Popularity().fit(shop)
        >>> best = model.recommend(shop.user_ids[0], n=1)["item_id"].iloc[0]
        >>> model.withdraw(best).withdrawn_items_.tolist() == [best]
        True
        >>> best in model.recommend(shop.user_ids[0], n=5)["item_id"].tolist()
        False
        """
        positions = self._item_id_positions(item_ids)
        self.withdrawn_idx_ = np.union1d(self.withdrawn_idx_, positions).astype(np.int64)
        return self

    def reinstate(self, item_ids: Any) -> RankingMixin:
        """Undo :meth:`withdraw`: the products may be recommended again.

        Parameters
        ----------
        item_ids : scalar or array-like
            External ids of catalogue items; an item that is not withdrawn is left as it is.

        Returns
        -------
        self

        Raises
        ------
        UnknownIdError
            If an id is not in the catalogue.

        Notes
        -----
        Changes the model, as :meth:`withdraw` does (see its notes on threads).
        """
        positions = self._item_id_positions(item_ids)
        self.withdrawn_idx_ = np.setdiff1d(self.withdrawn_idx_, positions).astype(np.int64)
        return self

    def _item_id_positions(self, item_ids: Any) -> np.ndarray:
        dataset = self._fitted_dataset()
        query = [item_ids] if np.ndim(item_ids) == 0 else list(item_ids)
        return np.asarray(dataset.item_map.to_index(query, argument="item_ids"), dtype=np.int64)

    def _refuse_withdrawn(self, items: np.ndarray, withdrawn: np.ndarray) -> None:
        withdrawn = np.intersect1d(items, withdrawn)
        if withdrawn.size:
            raise ValueError(
                f"item_ids holds {withdrawn.size} withdrawn item(s) "
                f"({self._fitted_dataset().item_ids[withdrawn[:5]].tolist()}): they are offered "
                f"to nobody; reinstate them first (model.reinstate(ids)) or leave them out"
            )

    # ------------------------------------------------------------------ ranking
    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Any = None,
        exclude_items: Any = None,
        where: Where | None = None,
        exclude_owned_fields: str | list[str] | None = None,
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
        exclude_items : array-like, optional
            External item ids never offered.
        where : mapping, boolean mask, pandas.Series or callable, optional
            Offer only the items that pass a filter on their fields: ``{field: value or list
            of values}`` (an item passes when it has one of the values listed for every field
            named; for a multi-valued field, any of its values; a numeric field takes a range
            ``(low, high)``, bounds included, None for an open end), a boolean mask over
            ``item_ids_``, a boolean Series indexed by item id, or a callable taking
            ``dataset_.item_frame`` and returning such a mask. See the user guide's "Business
            rules" page.
        exclude_owned_fields : str or list of str, optional
            Item fields whose values the user already holds are not offered again: no item
            sharing a value of these fields with an item of the user's training history (a
            numeric field: the same band), whatever ``exclude_seen`` says.
        on_unknown : {"raise", "popular", "drop"}, default "raise"
            Users not in the fitted Dataset: raise :class:`~featcf.UnknownIdError`, serve the
            most popular items (with a :class:`~featcf.ColdStartWarning`), or leave them out.
            The popular items have no model score: their ``score`` is NaN (so the column
            holds the model's scores only) and a ``source`` column says ``"popular"``. They
            follow the item rules (``items``, ``exclude_items``, ``where``); an unknown user
            holds nothing, so ``exclude_owned_fields`` removes nothing from them.
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

        Withdrawn items (:meth:`withdraw`) are never offered. The rules run inside the top-n
        selection: a user gets the ``n`` best items among those the rules allow (fewer when
        fewer are allowed), the same as the unfiltered ranking with the other items removed.

        Raises
        ------
        UnsupportedProtocolError
            With ``reasons=True``, for a model without explanations (ALS).
        UnknownIdError
            If ``items`` or ``exclude_items`` holds an id not in the catalogue.
        ValueError, TypeError
            If ``where`` or ``exclude_owned_fields`` names a field or value the items do not
            have, or a mask has the wrong length or type (the message lists what is valid).

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
        rules = self._rules(items, exclude_items, where, exclude_owned_fields)
        known = ~unknown
        users = positions[known]
        self._refuse_users_without_history(users)
        top_idx, top_score = self._recommend_known(users, n, rules, bool(exclude_seen))
        frame = result_frame(
            query[known], dataset.item_ids, top_idx, top_score, Columns.RECOMMENDATIONS
        )
        if reasons:
            counts = (top_idx >= 0).sum(axis=1)
            rows = np.repeat(np.arange(len(users)), counts)
            pairs = self._fitted_pairs(users, rows, top_idx[top_idx >= 0])
            frame[Columns.REASON] = self._reasons(pairs, skip="user")
        if on_unknown == "popular":
            frame = self._with_popular_fallback(frame, query, unknown, n, rules, reasons)
        return frame

    def _with_popular_fallback(
        self,
        frame: pd.DataFrame,
        query: np.ndarray,
        unknown: np.ndarray,
        n: int,
        rules: RuleSet,
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
        popular = self._popularity_scores()[rules.candidates]
        block = np.broadcast_to(popular, (int(unknown.sum()), len(rules.candidates)))
        p_idx, _ = self._top_n(lambda rows: block[rows], int(unknown.sum()), n, rules)
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
        self, users: np.ndarray, n: int, rules: RuleSet, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ranking step of :meth:`recommend`, on internal positions (ids already parsed).

        Parameters
        ----------
        users : numpy.ndarray of int64
            Fitted users (with interactions, or features for models that use them).
        n : int
            Items per user.
        rules : RuleSet
            The query's rules: the candidates to rank (all items when ``items`` was not
            given), the items allowed, the owned fields.
        exclude_seen : bool
            Leave out each user's training interactions.

        Returns
        -------
        top_idx, top_score : numpy.ndarray of shape (len(users), min(n, len(rules.candidates)))
            Item positions (int64, -1 padded) and their float32 scores (NaN where padded).

        Scores ``_batch_size`` users at a time with :meth:`_score` and selects the top ``n``;
        a model with a faster way to rank (ItemKNN's serving kernel) overrides this step.
        """
        held = None
        if exclude_seen or rules.owned is not None:
            held = self._fitted_dataset().interactions[users]
        return self._top_n(
            lambda rows: self._score(users[rows], rules.candidates),
            len(users),
            n,
            rules,
            held,
            exclude_seen,
        )

    def recommend_users(
        self,
        item_ids: Any,
        n: int | None = 100,
        *,
        exclude_seen: bool = True,
        where: Where | None = None,
        exclude_owned_fields: str | list[str] | None = None,
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
        where : mapping, boolean mask, pandas.Series or callable, optional
            The item filter of :meth:`recommend`: a product it does not let through may not be
            offered, so it gets no audience (no rows).
        exclude_owned_fields : str or list of str, optional
            Leave out the users who already hold a product sharing a value of these fields
            with the product (e.g. ``"category"``: do not offer a second travel cover to a
            customer who has one), as in :meth:`recommend`.
        reasons : bool, default False
            Add a ``reason`` column: why each customer is in the audience (parts that are
            the same for every customer of a product, such as its popularity, are left out).

        Returns
        -------
        pandas.DataFrame
            ``item_id, user_id, score, rank`` (and ``reason``).

        Raises
        ------
        ValueError
            If a product is withdrawn (:meth:`withdraw`): it is offered to nobody, so asking
            for its audience is a mistake (:meth:`reinstate` it first).

        Notes
        -----
        ``items`` and ``exclude_items`` do not apply here: the products asked for are the
        candidates. The rules decide which (customer, product) pairs are allowed: ``where``
        removes products, ``exclude_owned_fields`` removes customers per product.
        """
        dataset = self._fitted_dataset()
        n_users = dataset.n_users
        n = n_users if n is None else check_positive_int(n, "n")
        query = np.asarray([item_ids] if np.ndim(item_ids) == 0 else list(item_ids), dtype=object)
        items = np.asarray(dataset.item_index(query), dtype=np.int64)
        withdrawn = self.withdrawn_idx_  # read once: withdraw() may replace it meanwhile
        self._refuse_withdrawn(items, withdrawn)
        rules = self._rules(
            where=where, exclude_owned_fields=exclude_owned_fields, withdrawn=withdrawn
        )
        if rules.allowed is not None:
            query, items = query[rules.allowed[items]], items[rules.allowed[items]]
        # Score users in blocks and keep a running top-n per item (users are the long axis).
        best_idx = np.full((len(items), 0), -1, dtype=np.int64)
        best_score = np.full((len(items), 0), np.nan, dtype=np.float32)
        seen_t = sp.csr_matrix(dataset.interactions[:, items].T) if exclude_seen else None
        shared = None if rules.owned is None else shared_value_pairs(items, rules.owned)
        for rows in _batches(n_users, self._batch_size * 4):
            users = np.arange(rows.start, rows.stop)
            block = np.asarray(self._score_across(users, items, "users"), dtype=np.float32).T
            idx, vals = topn_dense(
                np.ascontiguousarray(block),
                min(n, len(users)),
                exclude=_audience_exclusion(seen_t, shared, dataset.interactions, rows),
                n_threads=self._selection_threads(len(items)),
            )
            idx = np.where(idx >= 0, idx + rows.start, -1)
            best_idx, best_score = merge_top(best_idx, best_score, idx, vals, n)
        frame = result_frame(query, dataset.user_ids, best_idx, best_score, Columns.AUDIENCE)
        if reasons:
            valid = best_idx >= 0
            users, rows = np.unique(best_idx[valid], return_inverse=True)
            items = np.repeat(items, valid.sum(axis=1))
            pairs = self._fitted_pairs(users, rows.ravel(), items, across="users")
            frame[Columns.REASON] = self._reasons(pairs, skip="item")
        return frame


def _audience_exclusion(
    seen_t: sp.csr_matrix | None,
    shared: sp.csr_matrix | None,
    interactions: sp.csr_matrix,
    rows: slice,
) -> sp.csr_matrix | None:
    """(products x users ``rows``) pairs never returned by ``recommend_users``: the users who
    have the product (``seen_t``, products x all users) and those holding a product that
    shares an owned field value with it (``shared``, products x catalogue)."""
    seen = None if seen_t is None else sp.csr_matrix(seen_t[:, rows])
    if shared is None:
        return seen
    owned = sp.csr_matrix(shared @ interactions[rows].T)
    return owned if seen is None else sp.csr_matrix(owned + seen)
