"""Explanations: one score of FeatureCF taken apart into its terms and item field values.

One row per term, ``(part, field, value, contribution)``; the contributions sum to the
score. ``"cf"`` names the history item most similar to the recommended one, ``"ease"`` the
history item with the largest regression weight towards it (the user features' share is a
``"demographics"`` row with ``field="ease"``), and every item field gives one row per value
the item has, holding that value's share of the field's neighbourhood, content and
content-regression terms. Items without interactions add their ``"new_item_level"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.columns import Columns
from featcf.models.feature_cf._state import Scorer, TermWeights, band_of
from featcf.models.feature_cf._terms import content_coefficients, evaluate_terms, term_context
from featcf.models.feature_cf._users import UserState, fitted_users

__all__ = ["explain"]

Row = tuple[str, Any, Any, float]


def explain(scorer: Scorer, weights: TermWeights, user: int, item: int) -> pd.DataFrame:
    """The parts of fitted user ``user``'s score for item ``item`` (internal positions)."""
    core = scorer.core
    users = np.array([user], dtype=np.int64)
    state = fitted_users(scorer, users, scorer.inputs.values[users])
    ctx = term_context(scorer, state, np.array([item], dtype=np.int64))
    terms = evaluate_terms(ctx)[:, 0, 0]
    cold = core.item_counts[item] == 0
    w = weights.cold if cold else weights.band[band_of(state.n)[0]]
    level, slope = weights.cold_affine if cold else (0.0, 1.0)
    w = w * slope  # items without interactions: scores mapped by the affine level
    contrib = w * terms / weights.scale
    names = scorer.names
    rows: list[Row] = []
    if cold:
        rows.append(("new_item_level", None, None, float(level)))
    rows += _history_rows(scorer, state, item, w, contrib, weights.scale)
    for name in ("user_cf", "cooccurrence", "popularity", "rating", "activity"):
        if name in names:
            rows.append((name, None, None, float(contrib[names.index(name)])))
    if "demographics" in names:
        rows.append(("demographics", None, None, float(contrib[names.index("demographics")])))
        part = float(contrib[names.index("demographic_fields")])
        rows.append(("demographics", "item fields", None, part))
    coef = content_coefficients(ctx)[0]
    t_cr = names.index("content_ridge")
    factor_cr = w[t_cr] / weights.scale[t_cr]
    rows.append(("content_level", None, None, float(factor_cr * coef[-1])))
    rows += _field_rows(scorer, state.lift[0], coef, item, w, contrib, weights.scale, factor_cr)
    return pd.DataFrame(rows, columns=list(Columns.EXPLANATION))


def _history_rows(
    scorer: Scorer,
    state: UserState,
    item: int,
    w: np.ndarray,
    contrib: np.ndarray,
    scale: np.ndarray,
) -> list[Row]:
    """The ``"cf"`` and ``"ease"`` rows, naming the history item behind each."""
    core, names, item_ids = scorer.core, scorer.names, scorer.inputs.item_ids
    hist = state.history
    rows: list[Row] = []
    top_item = None
    if hist.nnz:
        sims = np.asarray(core.item_similarity[hist.indices][:, [item]].todense()).ravel()
        if (sims > 0).any():
            top_item = str(item_ids[hist.indices[int(np.argmax(sims))]])
    rows.append(("cf", None, top_item, float(contrib[names.index("cf")])))
    if "ease" not in names:
        return rows
    top_ease = None
    if hist.nnz:
        ease_weights = core.ease[hist.indices, item]
        if (ease_weights > 0).any():
            top_ease = str(item_ids[hist.indices[int(np.argmax(ease_weights))]])
    # the history's share of the regression, and the user features' share
    t_ease = names.index("ease")
    feature_part = 0.0
    if core.ease_features is not None and state.features is not None:
        f_row = sp.csr_matrix(state.features, dtype=np.float32)
        raw = float(np.asarray(f_row @ core.ease_features[:, [item]]).ravel()[0])
        feature_part = float(w[t_ease] / scale[t_ease] * raw)
    rows.append(("ease", None, top_ease, float(contrib[t_ease]) - feature_part))
    rows.append(("demographics", "ease", None, feature_part))
    return rows


def _field_rows(
    scorer: Scorer,
    lift: np.ndarray,
    coef: np.ndarray,
    item: int,
    w: np.ndarray,
    contrib: np.ndarray,
    scale: np.ndarray,
    factor_cr: float,
) -> list[Row]:
    """Per item field, one row per value the item has (or one row when it has none)."""
    inputs, names = scorer.inputs, scorer.names
    rows: list[Row] = []
    for name, sl, labels in zip(
        inputs.field_names, inputs.field_slices, inputs.field_labels, strict=True
    ):
        t_nb = names.index(name)
        t_ct = names.index(f"content:{name}")
        row = inputs.x[item, sl]
        if row.nnz == 0:
            rows.append(("field", name, None, float(contrib[t_nb] + contrib[t_ct])))
            continue
        factor_ct = w[t_ct] / scale[t_ct]
        for col, share in zip(row.indices, row.data, strict=True):
            part = float(
                contrib[t_nb] * share
                + factor_ct * share * lift[sl][col]
                + factor_cr * coef[sl][col]
            )
            rows.append(("field", name, labels[col], part))
    return rows
