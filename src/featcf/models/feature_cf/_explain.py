"""Explanations: scores of FeatureCF taken apart into their terms and item field values.

:func:`explain_pairs` takes apart the scores of many (user, item) pairs at once (it serves
``explain``, ``explain_new_user`` and the ``reason`` column of the recommendations). Per pair,
one row per term, ``(part, field, value, contribution, label, constant)``; the contributions
sum to the score. ``"cf"`` names the history item most similar to the recommended one (by
feature cosine where either has no interactions, as the term scores them),
``"ease"`` the history item with the largest regression weight towards it (the user features'
share is a ``"demographics"`` row with ``field="ease"``), and every item field gives one row
per value the item has, holding that value's share of the field's neighbourhood, content and
content-regression terms. ``"affinity"`` gives four rows, one per group of its customer-side
columns (the user's feature values, the field values of their purchases, the product kind's
general appeal, the user's activity). Items without interactions add their
``"new_item_level"``; a model loaded from a file saved while featcf fitted band maps adds
every pair the ``"band_level"`` of the user's history band (the same for all of a user's
items).

The ``label`` is the part in plain language (:mod:`featcf.models._reasons`): the history
parts read "goes with your <items>", the demographic parts "customers like you (<the user's
feature values that pull most>) choose it", a field value "category = travel matches your
purchases", the affinity's purchases "customers with purchases like yours (category = travel)
choose it"; internal constants (``activity``, ``content_level``, ``new_item_level``,
``band_level``) are the baseline. ``constant="item"`` marks the parts that are the same for
every user of an item (popularity, rating quality).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.columns import Columns
from featcf.models._reasons import (
    BASELINE,
    POPULAR,
    RATED,
    SIMILAR_CUSTOMERS,
    demographics_label,
    field_label,
    history_label,
    purchases_label,
)
from featcf.models._scoring import gather, pair_entries
from featcf.models.feature_cf._affinity import customer_side
from featcf.models.feature_cf._state import Scorer, TermWeights, band_of
from featcf.models.feature_cf._terms import content_coefficients, evaluate_terms, term_context
from featcf.models.feature_cf._users import UserState

__all__ = ["Vocabulary", "explain_pairs"]

#: the order of the rows of one pair
_ORDER = {
    "band_level": -1,
    "new_item_level": 0,
    "cf": 1,
    "ease": 2,
    "demographics/ease": 3,
    "user_cf": 4,
    "cooccurrence": 5,
    "popularity": 6,
    "rating": 7,
    "activity": 8,
    "demographics": 9,
    "demographics/item fields": 10,
    "content_level": 11,
    "field": 12,
    "affinity": 13,
    "affinity/demographics": 13,
    "affinity/purchases": 14,
    "affinity/kind": 15,
    "affinity/activity": 16,
}
#: user feature values a demographic label names at most
_DEMOGRAPHIC_VALUES = 2


@dataclass(frozen=True)
class Vocabulary:
    """The names explanations read: item display names and feature column labels."""

    #: each item's readable name (catalogue order)
    item_names: np.ndarray
    #: ``"field = value"`` of each user feature column, or None without user features
    user_columns: np.ndarray | None
    #: ``"field = value"`` of each item feature column, or None without item features
    item_columns: np.ndarray | None = None


class _Rows:
    """Rows of the explanation frame, collected part by part (arrays over pairs)."""

    def __init__(self) -> None:
        self.columns: list[dict[str, Any]] = []

    def add(self, pair: np.ndarray, part: str, contribution: Any, label: Any, **kw: Any) -> None:
        n = len(pair)
        self.columns.append(
            {
                "pair": pair,
                "order": np.full(n, _ORDER[part]),
                Columns.PART: np.full(n, part.split("/")[0], dtype=object),
                Columns.FIELD: _column(kw.get("field"), n),
                Columns.VALUE: _column(kw.get("value"), n),
                Columns.CONTRIBUTION: np.asarray(contribution, dtype=np.float64),
                Columns.LABEL: _column(label, n),
                "constant": np.full(n, kw.get("constant", ""), dtype=object),
            }
        )

    def frame(self) -> pd.DataFrame:
        frame = pd.concat([pd.DataFrame(c) for c in self.columns], ignore_index=True)
        frame = frame.sort_values(["pair", "order"], kind="stable").drop(columns="order")
        for column in (Columns.FIELD, Columns.VALUE):  # absent: NaN, as pandas reads None
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
        return frame.reset_index(drop=True)


def _column(value: Any, n: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value.astype(object)
    out = np.empty(n, dtype=object)
    out[:] = [value] * n
    return out


def explain_pairs(
    scorer: Scorer,
    weights: TermWeights,
    state: UserState,
    rows: np.ndarray,
    items: np.ndarray,
    vocabulary: Vocabulary,
) -> pd.DataFrame:
    """The parts of the scores of pairs ``(state row rows[p], item items[p])``.

    Returns a frame with columns ``pair, part, field, value, contribution, label, constant``
    (``pair`` = p), the rows of each pair in a fixed order; the contributions of a pair sum to
    its score.
    """
    core, names = scorer.core, scorer.names
    uniq, pos = np.unique(items, return_inverse=True)
    ctx = term_context(scorer, state, uniq)
    terms = evaluate_terms(ctx)[:, rows, pos].T  # (pairs, terms)
    cold = core.item_counts[items] == 0
    band = band_of(state.n)[rows]
    w = weights.of_users(state.n, state.stated, state.described)[rows]
    w[cold] = weights.cold
    maps = weights.band_affine  # None but in files saved while band maps were fitted
    band_level, band_slope = (
        (np.zeros(len(rows)), np.ones(len(rows))) if maps is None else maps[band].T
    )
    level = band_slope * np.where(cold, weights.cold_affine[0], 0.0)
    slope = band_slope * np.where(cold, weights.cold_affine[1], 1.0)
    w = w * slope[:, None]  # scores mapped by the affine maps: slopes here, levels below
    contrib = w * terms / weights.scale
    pair = np.arange(len(rows))
    own = state.n[rows] > 0
    demo = _demographic_labels(scorer, w, weights.scale, state, rows, items, vocabulary)
    # without a history of their own, users are scored through similar customers' histories
    similar = np.where(own, SIMILAR_CUSTOMERS, demo)
    out = _Rows()
    if maps is not None and maps[:, 0].any():
        out.add(pair, "band_level", band_level, BASELINE)
    out.add(pair[cold], "new_item_level", level[cold], BASELINE)
    history = _history_rows(
        out, scorer, state, rows, items, w, contrib, weights.scale, vocabulary, demo
    )
    history = np.where(own, history, demo)
    for name, label, constant in (
        ("user_cf", similar, ""),
        ("cooccurrence", history, ""),
        ("popularity", POPULAR, "item"),
        ("rating", RATED, "item"),
        ("activity", BASELINE, ""),
    ):
        if name in names:
            out.add(pair, name, contrib[:, names.index(name)], label, constant=constant)
    if "demographics" in names:
        out.add(pair, "demographics", contrib[:, names.index("demographics")], demo)
        part = contrib[:, names.index("demographic_fields")]
        out.add(pair, "demographics/item fields", part, demo, field="item fields")
    coef = content_coefficients(ctx)[rows]
    t_cr = names.index("content_ridge")
    factor_cr = w[:, t_cr] / weights.scale[t_cr]
    out.add(pair, "content_level", factor_cr * coef[:, -1], BASELINE)
    _field_rows(out, scorer, state.lift[rows], coef, items, own, similar, w, contrib, weights.scale)
    if "affinity" in names:  # customers with these features and purchases choose such products
        t_af = names.index("affinity")
        factor_af = w[:, t_af] / weights.scale[t_af]
        _affinity_rows(out, scorer, state, rows, items, contrib[:, t_af], factor_af, vocabulary)
    return out.frame()


def _affinity_rows(
    out: _Rows,
    scorer: Scorer,
    state: UserState,
    rows: np.ndarray,
    items: np.ndarray,
    contrib: np.ndarray,
    factor: np.ndarray,
    vocabulary: Vocabulary,
) -> None:
    """The ``"affinity"`` term (``a_u W b_i``, :mod:`._affinity`) in four rows per pair, one
    per group of the customer-side columns ``a_u``: the user's feature values (``field=
    "demographics"``, naming the values that pull most), the field values of their purchases
    (``"purchases"``, naming those), the constant column (``"kind"``: how much customers in
    general choose products with the item's field values, the same for every user of an
    item) and the user's activity with the remainder of rounding (baseline). ``contrib`` is
    the term's contribution per pair, ``factor`` its weight over its scale."""
    w_aff = scorer.core.affinity
    pair = np.arange(len(rows))
    if w_aff is None:
        out.add(pair, "affinity", contrib, BASELINE)
        return
    inputs = scorer.inputs
    n_cols = inputs.x.shape[1]
    n_features = w_aff.shape[0] - n_cols - 2
    features = None if state.features is None else state.features[rows]
    a = customer_side(state.history[rows], features, inputs.x, n_features).tocoo()
    uniq, pos = np.unique(items, return_inverse=True)
    w64 = w_aff.astype(np.float64)
    toward = w64[:, :-1] @ inputs.xt[:, uniq] + w64[:, -1:]  # (customer columns, items)
    part = a.data * toward[a.col, pos[a.row]] * factor[a.row]  # contrib = the sum of parts
    edges = [n_features, n_features + n_cols, n_features + n_cols + 1]
    group = np.searchsorted(edges, a.col, side="right")
    sums = np.bincount(a.row * 4 + group, weights=part, minlength=4 * len(rows)).reshape(-1, 4)
    f, b = group == 0, group == 1
    demo_names = _names_at(vocabulary.user_columns, a.col[f])
    demo = [demographics_label(v) for v in _top_values(a.row[f], part[f], demo_names, len(rows))]
    bought_names = _names_at(vocabulary.item_columns, a.col[b] - n_features)
    bought = [purchases_label(v) for v in _top_values(a.row[b], part[b], bought_names, len(rows))]
    demo_label, bought_label = np.asarray(demo, dtype=object), np.asarray(bought, dtype=object)
    out.add(pair, "affinity/demographics", sums[:, 0], demo_label, field="demographics")
    out.add(pair, "affinity/purchases", sums[:, 1], bought_label, field="purchases")
    out.add(pair, "affinity/kind", sums[:, 3], POPULAR, field="kind", constant="item")
    rest = contrib - sums[:, 0] - sums[:, 1] - sums[:, 3]  # activity, and rounding
    out.add(pair, "affinity/activity", rest, BASELINE, field="activity")


def _names_at(names: np.ndarray | None, columns: np.ndarray) -> np.ndarray:
    """``names[columns]``, or the column numbers as text without names."""
    if names is None:
        return columns.astype(str).astype(object)
    return np.asarray(names, dtype=object)[columns]


def _top_values(
    owner: np.ndarray, value: np.ndarray, names: np.ndarray, n: int, k: int = 2
) -> np.ndarray:
    """Per pair (``owner`` of each entry), the names of its (at most ``k``) entries with the
    largest positive ``value``, largest first (None where fewer): shape (n, k)."""
    order = np.lexsort((-value, owner))
    order = order[value[order] > 0]
    owner = owner[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - start  # rank of each positive value within its pair
    top = rank < k
    chosen = np.full((n, k), None, dtype=object)
    chosen[owner[top], rank[top]] = names[order[top]]
    return chosen


def _history_rows(
    out: _Rows,
    scorer: Scorer,
    state: UserState,
    rows: np.ndarray,
    items: np.ndarray,
    w: np.ndarray,
    contrib: np.ndarray,
    scale: np.ndarray,
    vocabulary: Vocabulary,
    demo: np.ndarray,
) -> np.ndarray:
    """The ``"cf"`` and ``"ease"`` rows, naming the history item behind each; returns their
    label (the history items named), which the other history parts share."""
    core, names = scorer.core, scorer.names
    pair = np.arange(len(rows))
    owner, history, _ = pair_entries(state.history, rows)  # the pair of each history entry
    target = items[owner]
    sims = np.asarray(gather(core.item_similarity, history, target), dtype=np.float64).ravel()
    # a pair with an item without interactions is scored by the items' feature cosine
    by_features = scorer.arrays.cold_item[target] | scorer.arrays.cold_item[history]
    if by_features.any():
        xu = scorer.inputs.xu
        cos = xu[history[by_features]].multiply(xu[target[by_features]]).sum(axis=1)
        sims[by_features] = np.asarray(cos, dtype=np.float64).ravel()
    top_cf = _top_entry(owner, sims, len(rows))
    top_ease = np.full(len(rows), -1, dtype=np.int64)
    if "ease" in names:
        top_ease = _top_entry(owner, core.ease[history, items[owner]], len(rows))
    names_of = vocabulary.item_names
    value_cf = _named(scorer.inputs.item_ids, history, top_cf)
    label = np.array(
        [
            history_label(dict.fromkeys(names_of[history[k]] for k in (a, b) if k >= 0))
            for a, b in zip(top_cf, top_ease, strict=True)
        ],
        dtype=object,
    )
    label = np.where(state.n[rows] > 0, label, demo)
    out.add(pair, "cf", contrib[:, names.index("cf")], label, value=value_cf)
    if "ease" not in names:
        return label
    # the history's share of the regression, and the user features' share
    t_ease = names.index("ease")
    feature_part = np.zeros(len(rows))
    if core.ease_features is not None and state.features is not None:
        uniq, pos = np.unique(items, return_inverse=True)
        f_rows = sp.csr_matrix(state.features[rows], dtype=np.float32)
        raw = np.asarray(f_rows @ core.ease_features[:, uniq])[pair, pos]
        feature_part = w[:, t_ease] / scale[t_ease] * raw
    value_ease = _named(scorer.inputs.item_ids, history, top_ease)
    out.add(pair, "ease", contrib[:, t_ease] - feature_part, label, value=value_ease)
    out.add(pair, "demographics/ease", feature_part, demo, field="ease")
    return label


def _top_entry(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per pair, the entry with the largest positive value (first one on ties), or -1."""
    values = np.asarray(values, dtype=np.float64).ravel()
    top = np.full(n, -1, dtype=np.int64)
    positive = np.flatnonzero(values > 0)
    if positive.size:
        order = positive[np.lexsort((positive, -values[positive], owner[positive]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = owner[order][1:] != owner[order][:-1]
        top[owner[order][first]] = order[first]
    return top


def _named(ids: np.ndarray, history: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """The id (as text) of each pair's chosen history entry, None where there is none."""
    out = np.full(len(entry), None, dtype=object)
    found = entry >= 0
    out[found] = [str(v) for v in ids[history[entry[found]]]]
    return out


def _demographic_labels(
    scorer: Scorer,
    w: np.ndarray,
    scale: np.ndarray,
    state: UserState,
    rows: np.ndarray,
    items: np.ndarray,
    vocabulary: Vocabulary,
) -> np.ndarray:
    """Per pair, the demographic label naming the user's feature values that pull its
    demographic parts up most."""
    core, names = scorer.core, scorer.names
    if state.features is None or core.demo_lift is None or vocabulary.user_columns is None:
        return np.full(len(rows), demographics_label([]), dtype=object)
    feats = sp.csr_matrix(state.features[rows], dtype=np.float64)
    owner = np.repeat(np.arange(len(rows)), np.diff(feats.indptr))
    col, item = feats.indices, items[owner]

    def factor(term: str) -> np.ndarray:  # the weight of ``term`` for each entry's pair
        t = names.index(term)
        return (w[:, t] / scale[t])[owner]

    uniq, pos = np.unique(items, return_inverse=True)
    field_lift = (core.demo_field_lift @ scorer.inputs.xt[:, uniq])[col, pos[owner]]
    by_value = core.demo_lift[col, item] * factor("demographics")
    by_value += field_lift * factor("demographic_fields")
    if "ease" in names and core.ease_features is not None:
        ease = core.ease_features[col, item] * factor("ease")
        by_value = by_value + feats.data * ease
    names = np.asarray(vocabulary.user_columns, dtype=object)[col]
    chosen = _top_values(owner, by_value, names, len(rows), _DEMOGRAPHIC_VALUES)
    return np.asarray([demographics_label(values) for values in chosen], dtype=object)


def _field_rows(
    out: _Rows,
    scorer: Scorer,
    lift: np.ndarray,
    coef: np.ndarray,
    items: np.ndarray,
    own: np.ndarray,
    similar: np.ndarray,
    w: np.ndarray,
    contrib: np.ndarray,
    scale: np.ndarray,
) -> None:
    """Per item field, one row per value the item has (or one row when it has none)."""
    inputs, names = scorer.inputs, scorer.names
    pair = np.arange(len(items))
    t_cr = names.index("content_ridge")
    factor_cr = w[:, t_cr] / scale[t_cr]
    x_items = inputs.x[items]
    for name, sl, labels in zip(
        inputs.field_names, inputs.field_slices, inputs.field_labels, strict=True
    ):
        t_nb = names.index(name)
        t_ct = names.index(f"content:{name}")
        block = sp.csr_matrix(x_items[:, sl])
        n_values = np.diff(block.indptr)
        none = n_values == 0
        # no value to name: the field's neighbourhood is customers with similar tastes
        part = contrib[none, t_nb] + contrib[none, t_ct]
        out.add(pair[none], "field", part, similar[none], field=name)
        p = np.repeat(pair, n_values)
        col, share = block.indices, block.data
        factor_ct = w[p, t_ct] / scale[t_ct]
        part = (
            contrib[p, t_nb] * share
            + factor_ct * share * lift[p, sl.start + col]
            + factor_cr[p] * coef[p, sl.start + col]
        )
        values = np.asarray(labels, dtype=object)[col]
        label = np.array(
            [field_label(name, v, own_history=o) for v, o in zip(values, own[p], strict=True)],
            dtype=object,
        )
        out.add(p, "field", part, label, field=name, value=values)
