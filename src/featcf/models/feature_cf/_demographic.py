"""The ``"demographics"`` term's model: what customers sharing field values bought.

For every user feature value ``a`` (a field's value; numeric fields by their bands) the
share of the training customers holding ``a`` who have item ``i``, shrunk towards the
item's overall share ``P(i)`` by ``m`` pseudo-customers (empirical Bayes)::

    P(i | a) = (n_ai + m * P(i)) / (n_a + m)
    lift(a, i) = beta_f(a) * log(P(i | a) / P(i))

A customer's term is the sum of the lifts of their values: with every ``beta_f = 1`` this
is the naive-Bayes log-posterior of the item given the customer's fields (minus ``log P(i)``,
which the ``"popularity"`` term carries). Naive Bayes counts correlated fields as
independent evidence: CoIL 2000's 43 socio-demographic fields (several measure the same
thing) rank features-only customers far below popularity with every ``beta_f = 1``
(offline, split seeds 0-2: nDCG@3 0.46-0.50 against 0.74). So each field gets its own
non-negative weight ``beta_f``, fitted with the shrinkage ``m`` on the validation customers
known only by their features (:func:`select_demographics`): the softmax likelihood of their
hidden positives under ``log P(i) + sum_f beta_f * lift_f``, a handful of parameters
(one per user field) minimised by L-BFGS-B under ``beta >= 0``, pulled towards their common
mean by :data:`FIELD_WEIGHT_PRIOR` pseudo-positives.

The fitted weights are folded into the lift tables (``demo_lift_``, ``demo_field_lift_``),
so scoring, explanations and model files read them as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from featcf.metrics import ndcg_at_k
from featcf.models.feature_cf._profiles import value_lifts
from featcf.models.feature_cf._search import metric_cutoff
from featcf.models.feature_cf._softmax import softmax_loss
from featcf.similarity import topn_dense

if TYPE_CHECKING:  # the types only
    from featcf.models.feature_cf._inputs import Inputs, Settings
    from featcf.models.feature_cf._split import Split
    from featcf.models.feature_cf._state import Core

__all__ = [
    "DEMO_SHRINKAGE_GRID",
    "FIELD_WEIGHT_PRIOR",
    "demographic_model",
    "field_parts",
    "fit_field_weights",
    "select_demographics",
]

#: pseudo-customers tried as the shrinkage ``m`` of the demographic lifts
DEMO_SHRINKAGE_GRID = (20.0, 50.0, 100.0, 200.0, 500.0)
#: pull of the field weights towards their mean, in validation positives: with few
#: validation customers the fields share one weight, with many the data set them apart
FIELD_WEIGHT_PRIOR = 1000.0
#: most entries of the (fields x users x items) block the field weights are fitted on
_MAX_BLOCK = 3e7


def field_parts(
    features: sp.csr_matrix, lift: np.ndarray, field_of_column: np.ndarray
) -> np.ndarray:
    """Per user field ``f``, the users' summed lifts of their values of ``f``:
    shape (n_fields, n_users, n_items), float64. ``features`` are read as 0/1."""
    feats = sp.csr_matrix(features, dtype=np.float64)
    feats.data[:] = 1.0
    n_fields = int(field_of_column.max()) + 1 if len(field_of_column) else 0
    out = np.zeros((n_fields, feats.shape[0], lift.shape[1]))
    for f in range(n_fields):
        cols = np.flatnonzero(field_of_column == f)
        out[f] = np.asarray(feats[:, cols] @ lift[cols])
    return out


def fit_field_weights(
    parts: np.ndarray, log_p: np.ndarray, targets: np.ndarray, blocked: np.ndarray
) -> np.ndarray:
    """Field weights ``beta >= 0`` maximising the softmax likelihood of ``targets``.

    Scores are ``z = log_p + sum_f beta_f * parts[f]`` (users x items); every user's
    targets are ranked among the items not ``blocked`` (cross-entropy, as
    ``softmax_loss``), plus ``FIELD_WEIGHT_L2 * |beta|^2``. Starts from every
    ``beta_f = 1`` (naive Bayes). Returns an array of shape (n_fields,).
    """
    from scipy.optimize import minimize  # heavy: kept out of ``import featcf``

    n_fields = parts.shape[0]
    n_pos = max(int(targets.sum()), 1)
    parts32 = parts.astype(np.float32)
    base = np.where(np.isfinite(log_p), log_p, 0.0).astype(np.float32)[None, :]

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.tensordot(beta.astype(np.float32), parts32, axes=1) + base
        loss, grad = softmax_loss(z, targets, blocked, 1)
        g_beta = np.tensordot(parts32, grad, axes=([1, 2], [0, 1])).astype(np.float64)
        pull = beta - beta.mean()
        value = (loss + FIELD_WEIGHT_PRIOR * float(pull @ pull)) / n_pos
        return value, (g_beta + 2 * FIELD_WEIGHT_PRIOR * pull) / n_pos

    res = minimize(
        objective,
        np.ones(n_fields),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * n_fields,
        options={"maxiter": 200},
    )
    return np.maximum(res.x, 0.0)


def select_demographics(
    core: Core, split: Split, inputs: Inputs, settings: Settings, rng: np.random.Generator
) -> tuple[float, np.ndarray | None]:
    """The shrinkage and the per-column weights of the demographic lifts, picked on the
    validation customers known only by their features.

    For every shrinkage of :data:`DEMO_SHRINKAGE_GRID` the field weights are fitted
    (:func:`fit_field_weights`) on the validation split's cold users (``core`` is built
    without them; their hidden liked positives are the targets; items without interactions
    in ``core`` are left out), and the pair whose score ``log P(i) + sum_f beta_f lift_f``
    ranks those users best by nDCG (``_search.metric_cutoff``) is kept. Returns
    ``(shrinkage, column_weights)``, the weights of
    every user feature column (its field's ``beta_f``); ``(settings.demo_shrinkage, None)``
    when there is nothing to fit on.
    """
    uf, field_of = inputs.user_features, inputs.user_field_of_column
    users, counts = split.cold_users, core.item_counts
    if uf is None or field_of is None or not len(users) or not len(core.active):
        return settings.demo_shrinkage, None
    targets = sp.csr_matrix(split.marked[users] > 1.5, dtype=np.float32)
    blocked = np.broadcast_to(counts == 0, targets.shape)
    targets = sp.csr_matrix(targets.multiply(~blocked))
    keep = np.diff(targets.indptr) > 0
    users, targets = users[keep], targets[keep]
    n_fields = int(field_of.max()) + 1 if len(field_of) else 0
    if not len(users) or n_fields == 0:
        return settings.demo_shrinkage, None
    most = max(int(_MAX_BLOCK // (n_fields * targets.shape[1])), 50)
    if len(users) > most:
        pick = np.sort(rng.choice(len(users), most, replace=False))
        users, targets = users[pick], targets[pick]
    dense = targets.toarray() > 0
    blocked = np.broadcast_to(counts == 0, dense.shape)
    log_p = np.log(np.maximum(counts / len(core.active), 1e-12))
    log_p[counts == 0] = -np.inf
    cut = metric_cutoff(int((counts > 0).sum()))
    best: tuple[float, float, np.ndarray | None] = (-1.0, settings.demo_shrinkage, None)
    for shrinkage in DEMO_SHRINKAGE_GRID:
        lift = value_lifts(uf, core.values, core.active, shrinkage)
        parts = field_parts(uf[users], lift, field_of)
        beta = fit_field_weights(parts, log_p, dense, blocked)
        scores = np.tensordot(beta, parts, axes=1) + log_p[None, :]
        ranked, _ = topn_dense(scores, cut, n_threads=settings.n_threads)
        per_user = ndcg_at_k(ranked, targets, cut)
        if not np.isfinite(per_user).any():
            continue
        quality = float(np.nanmean(per_user))
        if quality > best[0]:
            best = (quality, shrinkage, beta[field_of])
    return best[1], best[2]


def demographic_model(names: Sequence[str], scale: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Weights of the scaled terms that make the demographic model itself:
    ``"popularity" + "demographics"`` unscaled (``log(1 + n_i) + sum_f beta_f lift_f``,
    the score the field weights were fitted for) and 0 for every other term; all 0 unless
    both terms are there and ``free`` (may get a weight). The incumbent weights of the
    customers without history (``_search.search_band``): other weights replace it only
    when they rank the validation customers without history clearly better."""
    out = np.zeros(len(names))
    pair = [list(names).index(n) for n in ("popularity", "demographics") if n in names]
    if len(pair) == 2 and all(free[t] for t in pair):
        out[pair] = scale[pair]
    return out
