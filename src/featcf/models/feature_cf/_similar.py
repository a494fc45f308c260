"""Similar products and similar customers under FeatureCF's learned weights.

Both are weighted means of similarities the model already uses, weighted by the learned
weights of the terms that read them (``feature_weights_``, the weights of warm customers):

products
    ``sim(i, j) = (sum_f a_f cos(x_f(i), x_f(j)) + b S[i, j]) / (sum_f a_f + b)``: the
    cosine of the values of every item field ``f`` (``a_f`` = the weights of the terms
    ``"<f>"`` and ``"content:<f>"``), plus the item-kNN co-purchase similarity ``S`` of the
    ``"cf"`` term (``b`` = the weights of the interaction terms ``"cf"``, ``"ease"``,
    ``"user_cf"``, ``"cooccurrence"``). ``S`` is 0 when either product has no interactions,
    so a new product is compared by its features (feature-weighted item similarity).
customers
    ``sim(u, v) = (sum_f a_f sim_f(u, v) + b cos(h_u, h_v) + d cos(f_u, f_v)) / (sum_f a_f
    + b + d)``: the similarity of their attribute profiles per field (the model's profile
    metric, clipped at 0, as for its field neighbourhoods), of their purchases, and of their
    customer features (``d`` = the weights of ``"demographics"`` and
    ``"demographic_fields"``). Candidates are the customers with purchases (the model's
    neighbours are always among them); a customer known by features only is compared
    through the profile borrowed from their feature neighbours and their features.

When every such weight is 0 (a model given other weights), every part weighs 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.data.dataset import Dataset
from featcf.models._reasons import BOTH_FAVOUR, parts_frame
from featcf.models._scoring import field_normalised
from featcf.models._similar import (
    ItemQuery,
    bought_together,
    common_purchase_parts,
    shared_value_parts,
)
from featcf.models.feature_cf._sparse import row_sums
from featcf.models.feature_cf._state import Fitted
from featcf.similarity import PreparedRows, prepare_dense

__all__ = [
    "PartWeights",
    "item_parts",
    "item_similarities",
    "part_weights",
    "user_parts",
    "user_similarities",
]

#: the terms whose weights weigh co-purchases, and customer features
PURCHASE_TERMS = ("cf", "ease", "user_cf", "cooccurrence")
DEMOGRAPHIC_TERMS = ("demographics", "demographic_fields")


@dataclass(frozen=True)
class PartWeights:
    """The weights of the parts of a similarity, summing to 1 (float64)."""

    #: per item field
    fields: np.ndarray
    #: co-purchases (products) or purchases in common (customers)
    purchases: float
    #: customer features (0 for products, and without customer features)
    demographics: float


def part_weights(fitted: Fitted, *, users: bool) -> PartWeights:
    """The learned weights of the parts (see the module docstring), normalised."""
    names, fields = fitted.term_names, fitted.scorer.inputs.field_names
    w = dict(zip(names, np.maximum(fitted.weights.band[-1], 0.0), strict=True))
    a = np.asarray([w.get(f, 0.0) + w.get(f"content:{f}", 0.0) for f in fields])
    b = sum(w.get(t, 0.0) for t in PURCHASE_TERMS)
    d = sum(w.get(t, 0.0) for t in DEMOGRAPHIC_TERMS) if users else 0.0
    if users and fitted.scorer.inputs.user_features is None:
        d = 0.0
    total = a.sum() + b + d
    if total <= 0:  # no learned weight on any part: every part weighs 1
        a = np.ones(len(fields))
        b = 1.0
        d = 1.0 if users and fitted.scorer.inputs.user_features is not None else 0.0
        total = a.sum() + b + d
    return PartWeights(a / total, float(b / total), float(d / total))


# ---------------------------------------------------------------------- products
def _unit_rows(dataset: Dataset, query: ItemQuery) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per-field unit feature rows of the query and of the catalogue."""
    return field_normalised(query.features), field_normalised(dataset.item_features)


def item_similarities(
    fitted: Fitted, dataset: Dataset, query: ItemQuery, candidates: np.ndarray
) -> np.ndarray:
    """``sim(i, j)`` of the query products (rows) and the candidates (columns), float64."""
    weights = part_weights(fitted, users=False)
    queries, catalogue = _unit_rows(dataset, query)
    column_weights = weights.fields[dataset.item_features.field_of_column]
    features = queries @ sp.diags(column_weights) @ catalogue[candidates].T
    out = np.asarray(features.todense(), dtype=np.float64)
    known = np.flatnonzero(query.positions >= 0)
    if known.size and weights.purchases > 0:
        s = fitted.scorer.core.item_similarity[query.positions[known]][:, candidates]
        out[known] += weights.purchases * s.toarray()
    return out


def item_parts(
    fitted: Fitted, dataset: Dataset, query: ItemQuery, rows: np.ndarray, items: np.ndarray
) -> pd.DataFrame:
    """The parts of ``sim(query row rows[p], items[p])``: shared values per field and
    co-purchases."""
    weights = part_weights(fitted, users=False)
    queries, catalogue = _unit_rows(dataset, query)
    shared = sp.coo_matrix(queries[rows].multiply(catalogue[items]))
    features = dataset.item_features
    contributions = shared.data * weights.fields[features.field_of_column[shared.col]]
    fields = shared_value_parts(features, shared.row, shared.col, contributions)
    counts, labels = bought_together(dataset, query, rows, items)
    s = np.zeros(len(rows))
    known = query.positions[rows] >= 0
    if known.any():
        s_rows = fitted.scorer.core.item_similarity[query.positions[rows][known]]
        s[known] = np.asarray(s_rows[np.arange(known.sum()), items[known]]).ravel()
    together = parts_frame(np.arange(len(rows)), labels, weights.purchases * s * (counts > 0))
    return pd.concat([fields, together], ignore_index=True)


# ---------------------------------------------------------------------- customers
def _cosine(a: PreparedRows, b: PreparedRows) -> np.ndarray:
    """Cosine of prepared rows (0 for zero norms), clipped at 0: dissimilar is not similar."""
    den = a.norms[:, None] * b.norms[None, :]
    sims = np.divide(
        a.rows @ b.rows.T, den, out=np.zeros((len(a.norms), len(b.norms))), where=den > 0
    )
    return np.maximum(sims, 0.0)


def _sparse_cosine(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Dense cosine of the rows of two sparse matrices (0 for empty rows)."""
    a = sp.csr_matrix(a, dtype=np.float64)
    b = sp.csr_matrix(b, dtype=np.float64)
    den = np.sqrt(row_sums(a, power=2))[:, None] * np.sqrt(row_sums(b, power=2))[None, :]
    dots = np.asarray((a @ b.T).todense())
    return np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)


def _profile_rows(fitted: Fitted, users: np.ndarray, f: int) -> PreparedRows:
    """Field ``f`` of the customers' profiles, prepared as the model compares them."""
    scorer = fitted.scorer
    sl = scorer.inputs.field_slices[f]
    lift = np.ascontiguousarray(scorer.core.lift[users][:, sl], dtype=np.float64)
    return prepare_dense(lift, scorer.settings.metric, scorer.core.global_profile[sl])


def user_similarities(fitted: Fitted, users: np.ndarray) -> np.ndarray:
    """``sim(u, v)`` of the customers ``users`` (rows) and the customers with purchases
    (columns, in the order of ``active_users_``), float64."""
    scorer, weights = fitted.scorer, part_weights(fitted, users=True)
    core, arrays = scorer.core, scorer.arrays
    out = np.zeros((len(users), len(core.active)))
    for f, ref in enumerate(arrays.field_refs):
        if weights.fields[f] > 0:
            out += weights.fields[f] * _cosine(_profile_rows(fitted, users, f), ref)
    if weights.purchases > 0:
        out += weights.purchases * _sparse_cosine(core.values[users], arrays.v_active)
    if weights.demographics > 0:
        features = scorer.inputs.user_features
        out += weights.demographics * _sparse_cosine(features[users], arrays.features_active)
    return out


def user_parts(
    fitted: Fitted, dataset: Dataset, users: np.ndarray, others: np.ndarray
) -> pd.DataFrame:
    """The parts of ``sim(users[p], others[p])``: per field, the value both favour most;
    purchases in common; shared customer feature values."""
    scorer, weights = fitted.scorer, part_weights(fitted, users=True)
    pieces = []
    for f, name in enumerate(scorer.inputs.field_names):
        if weights.fields[f] <= 0:
            continue
        a, b = _profile_rows(fitted, users, f), _profile_rows(fitted, others, f)
        den = a.norms * b.norms
        per_value = np.divide(
            a.rows * b.rows, den[:, None], out=np.zeros_like(a.rows), where=den[:, None] > 0
        )
        sl = scorer.inputs.field_slices[f]
        lift_a, lift_b = scorer.core.lift[users][:, sl], scorer.core.lift[others][:, sl]
        favoured = np.where((lift_a > 0) & (lift_b > 0), per_value, -np.inf)
        best = np.argmax(favoured, axis=1)
        has = np.isfinite(favoured[np.arange(len(users)), best])
        values = np.asarray(scorer.inputs.field_labels[f], dtype=object)[best]
        labels = np.where(
            has, BOTH_FAVOUR + f"{name} = " + values.astype(str), f"similar taste in {name}"
        )
        contribution = weights.fields[f] * np.maximum(per_value.sum(axis=1), 0.0)
        pieces.append(parts_frame(np.arange(len(users)), labels.astype(object), contribution))
    if weights.purchases > 0:
        values = scorer.core.values
        norms = np.sqrt(row_sums(values[users], power=2) * row_sums(values[others], power=2))
        scale = weights.purchases * np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        pieces.append(common_purchase_parts(dataset, users, others, scale))
    if weights.demographics > 0:
        features = sp.csr_matrix(scorer.inputs.user_features, dtype=np.float64)
        a, b = features[users], features[others]
        norms = np.sqrt(row_sums(a, power=2) * row_sums(b, power=2))
        shared = sp.coo_matrix(a.multiply(b))
        scale = weights.demographics * np.divide(
            1.0, norms, out=np.zeros_like(norms), where=norms > 0
        )
        contributions = shared.data * scale[shared.row]
        pieces.append(
            shared_value_parts(dataset.user_features, shared.row, shared.col, contributions)
        )
    return pd.concat(pieces, ignore_index=True)
