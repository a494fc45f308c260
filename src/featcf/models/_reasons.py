"""Reasons a person can read: the wording of explanation parts and the one-line reason.

Every model that can explain a score takes it apart into *parts* (one row each: the pair it
belongs to, a plain-language ``label`` and a ``contribution``; the contributions of a pair
sum to its score). This module holds the shared vocabulary of labels and :func:`compose`,
which turns the parts of many (customer, product) pairs into one short line each, without a
Python loop over the pairs.

Which parts may carry a reason depends on the question. Among one customer's products, a
part that is the same for every product (``constant="user"``: how active the customer is)
says nothing about the choice; among one product's audience, a part that is the same for
every customer (``constant="item"``: the product's popularity) says nothing about who should
hear about it. Internal constants (levels, the content regression's constant, the level of
new products) are the :data:`BASELINE`: they are never named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.data.dataset import Dataset

__all__ = [
    "BASELINE",
    "PairQuery",
    "reason_column",
    "POPULAR",
    "RATED",
    "SIMILAR_CUSTOMERS",
    "bought_together_label",
    "same_label",
    "STATED",
    "compose",
    "demographics_label",
    "field_label",
    "history_label",
    "item_display_names",
    "parts_frame",
    "purchases_label",
    "readable_value",
]

#: the label of internal constants; reasons never name it
BASELINE = "baseline"
POPULAR = "popular with customers"
RATED = "rated highly by customers"
SIMILAR_CUSTOMERS = "customers with purchases like yours have it"
#: the reason of a pair without any positive part that can be named
NO_REASON = "ranked by its overall score (no single strong reason)"
#: how many parts a reason names at most
TOP = 2
#: the columns of a parts frame
PART_COLUMNS = ("pair", "label", "contribution", "constant")


#: what the history labels start with (:func:`compose` names several history items at once)
HISTORY = "goes with your "
#: the beginnings of the labels of similar products and customers (merged like HISTORY)
SAME = "same "
BOTH_BOUGHT = "both bought "
BOTH_BUY = "both buy products with "
BOTH_FAVOUR = "both favour "
#: what the labels of stated interests start with (named together the same way)
STATED = "you told us you like "
#: label beginnings whose labels :func:`compose` joins into one ("goes with your A and B")
MERGED = (HISTORY, SAME, BOTH_BOUGHT, BOTH_BUY, BOTH_FAVOUR, STATED)


@dataclass(frozen=True, eq=False)
class PairQuery:
    """(user, item) pairs to explain, on internal positions.

    ``history`` and ``features`` have one row per query user (the users' interactions over
    the catalogue, their encoded features or None); ``users`` are their fitted positions, or
    None for users unknown at fit time; pair ``p`` is query user ``rows[p]`` and item
    ``items[p]``. ``stated`` holds the stated interests of users unknown at fit time (one
    row per query user over the item feature columns), or None.
    """

    history: sp.csr_matrix
    features: sp.csr_matrix | None
    users: np.ndarray | None
    rows: np.ndarray
    items: np.ndarray
    stated: sp.csr_matrix | None = None
    #: what the explained scores are compared across (``_queries.ACROSS``)
    across: str = "items"

    def subset(self, users: slice) -> PairQuery:
        """The pairs of query users ``users`` (rows renumbered from 0)."""
        keep = (self.rows >= users.start) & (self.rows < users.stop)
        return PairQuery(
            history=self.history[users],
            features=None if self.features is None else self.features[users],
            users=None if self.users is None else self.users[users],
            rows=self.rows[keep] - users.start,
            items=self.items[keep],
            stated=None if self.stated is None else self.stated[users],
            across=self.across,
        )


#: a numeric band as the Dataset spells it: "[17.288, 30.166)", "[57, 85]"
_BAND = re.compile(r"^\[\s*([-+0-9.eE]+),\s*([-+0-9.eE]+)\s*[\])]$")


def readable_value(value: Any) -> str:
    """A value as a reason writes it: a numeric band ``"[17.288, 30.166)"`` as ``"17.29 to
    30.17"`` (four significant digits), a ``"field = [a, b)"`` label as ``"field = a to b"``;
    anything else as it is."""
    text = str(value)
    field, sep, rest = text.rpartition(" = ")
    match = _BAND.match(rest)
    if match is None:
        return text
    low, high = (float(g) for g in match.groups())
    return f"{field}{sep}{low:.4g} to {high:.4g}"


def history_label(names: Sequence[str]) -> str:
    """``"goes with your A and B"``: the customer's own history items behind a score."""
    names = [str(n) for n in names if n is not None and str(n) != ""]
    if not names:
        return "goes with your purchases"
    return HISTORY + " and ".join(names)


def field_label(field: str, value: Any, *, own_history: bool = True) -> str:
    """``"category = travel matches your purchases"`` (or, without a history of one's own,
    ``"... suits customers like you"``)."""
    tail = "matches your purchases" if own_history else "suits customers like you"
    return f"{field} = {readable_value(value)} {tail}"


def same_label(field: str, values: Sequence[Any]) -> str:
    """``"same category (travel)"``: a field two products (or customers) share."""
    return f"{SAME}{field} ({', '.join(str(v) for v in values)})"


def bought_together_label(count: int, name: Any) -> str:
    """``"also bought by 12 customers who bought X"`` (co-purchases of two products)."""
    customers = "customer" if count == 1 else "customers"
    return f"also bought by {count} {customers} who bought {name}"


def demographics_label(values: Sequence[str]) -> str:
    """``"customers like you (household = family, age = 40 to 48) choose it"`` (numeric
    bands as :func:`readable_value` writes them)."""
    values = [readable_value(v) for v in values if v]
    inside = f" ({', '.join(values)})" if values else ""
    return f"customers like you{inside} choose it"


def purchases_label(values: Sequence[str]) -> str:
    """``"customers with purchases like yours (category = travel) choose it"``: the kinds of
    products a customer holds that make such customers choose an item."""
    values = [readable_value(v) for v in values if v]
    if not values:
        return SIMILAR_CUSTOMERS
    return f"customers with purchases like yours ({', '.join(values)}) choose it"


def item_display_names(dataset: Dataset) -> np.ndarray:
    """Each item's readable name: a text ``title`` or ``name`` column kept for display in
    ``dataset.item_frame`` (e.g. MovieLens titles), else the item id."""
    ids = np.asarray(dataset.item_ids, dtype=object)
    frame = dataset.item_frame
    if frame is None:
        return ids.astype(str)
    for column in ("title", "name"):
        # object or pandas string dtype: a loaded model file reads text columns as strings
        if column in frame.columns and (
            frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column])
        ):
            names = frame[column].reindex(ids).to_numpy(dtype=object)
            return np.where(pd.isna(names), ids, names).astype(str)
    return ids.astype(str)


def parts_frame(pair: Any, label: Any, contribution: Any, constant: Any = "") -> pd.DataFrame:
    """A parts frame (``pair, label, contribution, constant``) from arrays or scalars."""
    pair = np.asarray(pair, dtype=np.int64)
    n = len(pair)
    return pd.DataFrame(
        {
            "pair": pair,
            "label": np.broadcast_to(np.asarray(label, dtype=object), n),
            "contribution": np.broadcast_to(np.asarray(contribution, dtype=np.float64), n),
            "constant": np.broadcast_to(np.asarray(constant, dtype=object), n),
        }
    )


def compose(parts: pd.DataFrame, n_pairs: int, skip: str, top: int = TOP) -> np.ndarray:
    """One reason per pair: its ``top`` largest positive labelled parts, largest first.

    Parameters
    ----------
    parts : pandas.DataFrame
        Columns ``pair`` (0..n_pairs-1), ``label``, ``contribution`` and ``constant``
        (``""``, ``"user"`` or ``"item"``). Parts with the same label in one pair are added
        up first, so a reason weighs what it names as a whole.
    n_pairs : int
        Number of pairs.
    skip : {"user", "item"}
        The parts that explain nothing for this question: ``"user"`` among one customer's
        products (``recommend``), ``"item"`` among one product's audience
        (``recommend_users``). The :data:`BASELINE` is always left out.
    top : int, default 2
        Parts named at most.

    Returns
    -------
    numpy.ndarray of str, shape (n_pairs,)
        ``"; "``-joined labels; a pair without a positive part gets a neutral sentence.
        A pair's stated interests count as one part (:func:`_stated_as_one`).
    """
    keep = (parts["label"] != BASELINE) & (parts["constant"] != skip)
    kept = parts.loc[keep, ["pair", "label", "contribution"]]
    totals = kept.groupby(["pair", "label"], sort=False, observed=True)["contribution"].sum()
    totals = _stated_as_one(totals[totals > 0].reset_index())
    totals = totals.sort_values(["pair", "contribution"], ascending=[True, False], kind="stable")
    best = totals.groupby("pair", sort=False).head(top)
    rank = best.groupby("pair", sort=False).cumcount().to_numpy()
    pair = best["pair"].to_numpy(dtype=np.int64)
    labels = best["label"].to_numpy(dtype=object)
    chosen = np.full((n_pairs, top), None, dtype=object)  # the labels of each pair, in order
    chosen[pair, rank] = labels
    return np.asarray([_join(row) for row in chosen], dtype=object)


def _stated_as_one(totals: pd.DataFrame) -> pd.DataFrame:
    """``totals`` (positive ``pair, label, contribution``) with each pair's stated interests
    (labels starting with :data:`STATED`) as one part: their contributions added up and
    their values named together, largest first ("you told us you like family and travel"),
    so a reason names what the customer said as a whole."""
    stated = totals["label"].str.startswith(STATED)
    if not stated.any():
        return totals
    said = totals[stated].sort_values(
        ["pair", "contribution"], ascending=[True, False], kind="stable"
    )
    values = said["label"].str.removeprefix(STATED)
    joined = pd.DataFrame(
        {
            "label": STATED + values.groupby(said["pair"], sort=False).agg(" and ".join),
            "contribution": said.groupby("pair", sort=False)["contribution"].sum(),
        }
    )
    joined = joined.rename_axis("pair").reset_index()
    return pd.concat([totals[~stated], joined], ignore_index=True)


def _join(labels: Sequence[str | None]) -> str:
    """The chosen labels of one pair, in order; labels sharing a :data:`MERGED` prefix
    become one (``goes with your A and B``, ``same category (travel) and coverage (basic)``)
    at the place of the first of them."""
    out: list[str] = []
    merged: dict[str, list[str]] = {}
    for label in labels:
        if label is None:
            break
        prefix = next((p for p in MERGED if label.startswith(p)), None)
        if prefix is None:
            out.append(label)
            continue
        if prefix not in merged:
            merged[prefix] = []
            out.append(prefix)  # placeholder at the first such label's place
        merged[prefix].append(label.removeprefix(prefix))
    if not out:
        return NO_REASON
    return "; ".join(lab + " and ".join(merged[lab]) if lab in merged else lab for lab in out)


def reason_column(
    explain_parts: Callable[[PairQuery], pd.DataFrame],
    query: PairQuery,
    skip: str,
    batch_size: int,
) -> np.ndarray:
    """The reason of every pair of ``query``: ``explain_parts`` on ``batch_size`` query users
    at a time, then :func:`compose` (``skip`` as there)."""
    out = np.empty(len(query.rows), dtype=object)
    n_users = query.history.shape[0]
    for start in range(0, n_users, batch_size):
        users = slice(start, min(start + batch_size, n_users))
        keep = np.flatnonzero((query.rows >= users.start) & (query.rows < users.stop))
        if keep.size == 0:
            continue
        parts = explain_parts(query.subset(users))
        out[keep] = compose(parts, keep.size, skip)
    return out
