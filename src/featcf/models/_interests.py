"""Customers' interests: :meth:`interests` (read from what they did) and the stated
interests of new customers (``recommend_new_users(interests=...)``).

:class:`InterestsMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender` is
made of. An *interest* is a value of an item field (``category = travel``, ``genre =
Comedy``) that a customer holds more of than the average customer. A model reads interests
through the hook ``_interest_profiles(user_idx)``: every asked customer's *profile* (per
field, the share of each value in their history, rows x item feature columns) and the
*global profile* (the same shares over every interaction). The default hook aggregates the
customer's stored interactions through the item fields without shrinkage; FeatureCF
overrides it with its fitted, shrunk profiles. Stated interests (an onboarding form) are
encoded here (:func:`encode_with_interests`) and scored by models that set
``handles_stated_interests`` through the hook ``_score_new_stated``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._frames import require_columns, require_frame
from featcf._validation import check_positive_int
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._queries import encode_new_users

__all__ = [
    "INTEREST_COLUMNS",
    "InterestsMixin",
    "checked_stated",
    "encode_with_interests",
    "interests_frame",
]

#: the columns of :meth:`InterestsMixin.interests`
INTEREST_COLUMNS = (Columns.USER, Columns.FIELD, Columns.VALUE, "strength", "share", Columns.RANK)
#: a value is an interest when its strength exceeds 1 by more than this (rounding)
_ABOVE_AVERAGE = 1e-6
#: valid values an error message lists at most
_LISTED = 25


class InterestsMixin:
    """``interests`` on top of the ``_interest_profiles`` hook, and the stated-interest hook."""

    #: whether ``recommend_new_users(interests=...)`` folds stated interests in
    handles_stated_interests: ClassVar[bool] = False

    def interests(self, user_ids: Any, top: int = 3) -> pd.DataFrame:
        """Each customer's strongest interests: the item field values they hold most of,
        compared with the average customer.

        Parameters
        ----------
        user_ids : scalar or array-like
            External ids of users of the fitted Dataset.
        top : int, default 3
            Values kept per customer and field at most.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id, field, value, strength, share, rank``, by customer in the
            order given, then field (the Dataset's order), then ``rank`` (1 = strongest).
            ``share`` is the value's share of the customer's profile over the field (their
            interactions aggregated through the field, each item spread evenly over its
            values; shares of a field sum to 1) and ``strength = share / global share``,
            the *lift* over the average customer: 2.0 reads "twice as much as the average
            customer". Only values with strength above 1 are listed, so a customer with
            nothing distinctive in a field has no row for it.

            FeatureCF reads its fitted profiles, shrunk towards a prior by
            ``profile_shrinkage`` pseudo-interactions (the global profile, or that of the
            customer's neighbours in user-feature space), so one purchase gives a cautious
            strength and a customer known by their features only gets their neighbours'
            interests. Other models aggregate the customer's stored interactions (every
            interaction counts once, whatever its weight) without shrinkage; a customer
            without interactions has no row.

        Raises
        ------
        UnknownIdError
            If an id of ``user_ids`` is not a fitted user.
        UnsupportedProtocolError
            If the Dataset has no item features (there are no fields to be interested in).
        ValueError, TypeError
            If ``top`` is not a positive integer.

        Examples
        --------
        >>> from featcf.datasets import make_insurance_shop
        >>> from featcf.models import FeatureCF
        >>> shop = make_insurance_shop(n_customers=200, random_state=0)
        >>> model = FeatureCF(weights="uniform", random_state=0, show_progress=False).fit(shop)
        >>> found = model.interests(shop.user_ids[0], top=1)
        >>> bool((found["strength"] > 1).all()) and set(found["rank"]) == {1}
        True
        """
        dataset = self._fitted_dataset()
        top = check_positive_int(top, "top")
        if dataset.item_features is None or not dataset.item_fields:
            raise UnsupportedProtocolError(
                f"{type(self).__name__} was fitted on a Dataset without item features: "
                f"interests are item field values; build the Dataset with item_features"
            )
        query = np.asarray([user_ids] if np.ndim(user_ids) == 0 else list(user_ids), dtype=object)
        user_idx = np.asarray(dataset.user_index(query), dtype=np.int64).reshape(-1)
        profiles, global_profile = self._interest_profiles(user_idx)
        return interests_frame(query, profiles, global_profile, dataset, top)

    def _interest_profiles(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Profiles (rows x item feature columns, float64; rows of users without any
        evidence hold NaN) of fitted users and the global profile: from the stored
        interactions, every one counted once, not shrunk."""
        dataset = self._fitted_dataset()
        held = sp.csr_matrix(dataset.interactions, dtype=np.float64, copy=True)
        held.data[:] = 1.0
        features = dataset.item_features
        blocks = [features.field_block(name, normalize=True) for name in dataset.item_fields]
        x = sp.csr_matrix(sp.hstack(blocks), dtype=np.float64)
        sums = np.asarray((held[user_idx] @ x).todense(), dtype=np.float64)
        totals = np.asarray((held @ x).sum(axis=0), dtype=np.float64).ravel()
        profiles = np.full(sums.shape, np.nan)
        g = np.zeros(len(totals))
        for field in dataset.item_fields.values():
            sl = field.columns
            mass = sums[:, sl].sum(axis=1)
            has = mass > 0
            profiles[has, sl] = sums[has, sl] / mass[has, None]
            if totals[sl].sum() > 0:
                g[sl] = totals[sl] / totals[sl].sum()
        return profiles, g

    def _score_new_stated(
        self,
        history: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        stated: sp.csr_matrix,
        item_idx: np.ndarray,
    ) -> np.ndarray:
        raise UnsupportedProtocolError(self._no_stated_interests())

    def _no_stated_interests(self) -> str:
        return (
            f"{type(self).__name__} has no attribute profiles to fold stated interests into; "
            f"use FeatureCF for customers who state their interests"
        )


def interests_frame(
    user_ids: np.ndarray,
    profiles: np.ndarray,
    global_profile: np.ndarray,
    dataset: Dataset,
    top: int,
) -> pd.DataFrame:
    """The frame of :meth:`InterestsMixin.interests`: per row of ``profiles`` (customer
    ``user_ids[row]``) and item field, the ``top`` values of largest ``share / global``
    above 1, ties by column order."""
    parts = []
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = np.where(global_profile > 0, profiles / global_profile, np.nan)
    for position, field in enumerate(dataset.item_fields.values()):
        block = strength[:, field.columns]
        key = np.where(block > 1.0 + _ABOVE_AVERAGE, block, -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")[:, :top]
        chosen = np.take_along_axis(key, order, axis=1)
        row, rank = np.nonzero(np.isfinite(chosen))
        col = order[row, rank]
        parts.append(
            pd.DataFrame(
                {
                    "row": row,
                    "position": position,
                    Columns.FIELD: field.name,
                    Columns.VALUE: np.asarray(field.values, dtype=object)[col],
                    "strength": block[row, col],
                    "share": profiles[row, field.start + col],
                    Columns.RANK: rank + 1,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["row", "position", Columns.RANK], kind="stable")
    frame.insert(0, Columns.USER, user_ids[frame["row"].to_numpy()])
    frame[Columns.RANK] = frame[Columns.RANK].astype(np.int64)
    return frame[list(INTEREST_COLUMNS)].reset_index(drop=True)


# ---------------------------------------------------------------------- stated interests
def encode_with_interests(
    dataset: Dataset,
    interactions: pd.DataFrame | None,
    user_features: pd.DataFrame | None,
    interests: pd.DataFrame | None,
) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix | None, sp.csr_matrix | None]:
    """New customers' ids, history and features (as
    :func:`~featcf.models._queries.encode_new_users`) and their stated interests
    (customers x item feature columns, 1 per stated value; None without ``interests``).

    Customers who appear only in ``interests`` come last, with an empty history (and
    feature rows of zeros when others have features).
    """
    if interests is None:
        return (*encode_new_users(dataset, interactions, user_features), None)
    user_col = dataset.columns.get("user") or Columns.USER
    owners, columns = _stated_entries(dataset, interests, user_col)
    if interactions is None and user_features is None:
        ids = np.asarray(pd.unique(owners), dtype=object)
        history = sp.csr_matrix((len(ids), dataset.n_items), dtype=np.float32)
        features = None
    else:
        ids, history, features = encode_new_users(dataset, interactions, user_features)
        known = pd.Index(ids)
        extra = np.asarray([u for u in pd.unique(owners) if u not in known], dtype=object)
        if extra.size:
            ids = np.concatenate([ids, extra])
            empty = sp.csr_matrix((extra.size, dataset.n_items))
            history = sp.csr_matrix(sp.vstack([history, empty]), dtype=np.float32)
            if features is not None:
                pad = sp.csr_matrix((extra.size, features.shape[1]))
                features = sp.csr_matrix(sp.vstack([features, pad]), dtype=np.float32)
    fitted = np.asarray(dataset.user_index(ids, strict=False), dtype=np.int64) >= 0
    if fitted.any():
        examples = ids[fitted][:3].tolist()
        raise ValueError(
            f"interests[{user_col!r}] holds {int(fitted.sum())} id(s) of users the model was "
            f"fitted on, e.g. {examples}: recommend_new_users is for customers unknown at "
            f"fit time; read a fitted customer's interests with model.interests({examples})"
        )
    rows = pd.Index(ids).get_indexer(owners)
    stated = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, columns)),
        shape=(len(ids), dataset.item_features.n_columns),
    )
    stated.data[:] = 1.0  # a value stated twice is stated once
    return ids, history, features, stated


def _stated_entries(
    dataset: Dataset, interests: pd.DataFrame, user_col: str
) -> tuple[np.ndarray, np.ndarray]:
    """The customer and item feature column of every row of ``interests`` (checked)."""
    require_frame(interests, "interests")
    why = (
        f" (it needs the user id column {user_col!r}, {Columns.FIELD!r}: an item field, and "
        f"{Columns.VALUE!r}: one of its values, one row per stated interest)"
    )
    require_columns(interests, (user_col, Columns.FIELD, Columns.VALUE), "interests", why)
    fields = dataset.item_fields
    if not fields:
        raise ValueError("interests were given but the model was fitted without item features")
    owners = interests[user_col].to_numpy(dtype=object)
    if pd.isna(owners).any():
        raise ValueError(f"interests[{user_col!r}] holds missing user ids")
    names = interests[Columns.FIELD].to_numpy(dtype=object)
    unknown = [f for f in pd.unique(names) if f not in fields]
    if unknown:
        raise ValueError(
            f"interests[{Columns.FIELD!r}] names unknown item field(s) {unknown[:5]}; the "
            f"fields are {list(fields)}"
        )
    values = interests[Columns.VALUE].to_numpy(dtype=object)
    columns = np.empty(len(interests), dtype=np.int64)
    for name in pd.unique(names):
        field = fields[name]
        rows = np.flatnonzero(names == name)
        labels = pd.Index(field.values)
        found = labels.get_indexer([_label(v) for v in values[rows]])
        if (found < 0).any():
            bad = pd.unique(values[rows][found < 0])[:5].tolist()
            listed = list(field.values[:_LISTED]) + (["..."] if field.n_values > _LISTED else [])
            raise ValueError(
                f"interests[{Columns.VALUE!r}] holds unknown value(s) {bad} of field "
                f"{name!r}; its values are {listed}"
            )
        columns[rows] = field.start + found
    return owners, columns


def _label(value: Any) -> str:
    """A stated value as the field's value labels are written (``True`` -> ``"True"``)."""
    return value if isinstance(value, str) else str(value)


def checked_stated(dataset: Dataset, interests: Any) -> sp.csr_matrix:
    """``score_new_users``' stated ``interests`` checked: a sparse matrix with one column per
    item feature column, returned as 0/1 float32 CSR."""
    if not sp.issparse(interests):
        raise TypeError(
            f"interests must be a scipy sparse matrix (new users x item feature columns), got "
            f"{type(interests).__name__}; recommend_new_users takes a frame"
        )
    n_columns = 0 if dataset.item_features is None else dataset.item_features.n_columns
    if interests.ndim != 2 or interests.shape[1] != n_columns:
        raise ValueError(
            f"interests must have {n_columns} columns (the item feature columns), got "
            f"shape {interests.shape}"
        )
    stated = sp.csr_matrix(interests, dtype=np.float32, copy=True)
    if stated.nnz and not np.isfinite(stated.data).all():
        raise ValueError("interests must hold finite values (non-zero = stated)")
    stated.eliminate_zeros()
    stated.data[:] = 1.0
    return stated
