"""One level and slope per history band: scores comparable across customers.

The band search (:mod:`~featcf.models.feature_cf._search`) picks each band's weights for
ranking *products for one customer*. It does not look at how a band's scores compare with
another band's, which is what ranking *customers for one product* reads (``recommend_users``,
a launch's audience, CoIL's caravan question). This step maps each band's scores by an
affine map ``level_b + slope_b * s`` with ``slope_b > 0``: a customer's ranking of products is
unchanged, and the levels and slopes are fitted on the validation users' audiences, the
per-product softmax over customers of the weight learning (every validation column: warm
products and the hidden products of the new-item rounds, without the customers the split left
with no history on the hidden products: none of them can be a buyer there, see
:mod:`~featcf.models.feature_cf._split`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from featcf.models.feature_cf._losses import neighbour_tie, softmax_loss
from featcf.models.feature_cf._state import identity_affine

__all__ = [
    "MIN_SLOPE",
    "Audience",
    "audience_loss",
    "band_affine",
    "block_scores",
]

#: smallest slope of a band's map (it must stay positive: rankings per customer are kept)
MIN_SLOPE = 0.05
#: penalty tying neighbouring bands' maps, and pulling every map towards the identity
TIE = 0.05
PULL = 1e-3


def block_scores(blocks: Sequence[tuple], band_w: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Per validation block ``(tag, scaled, pos, blocked, cold_cols)``, its scores under each
    user's band weights on every column (float32, users x columns): computed once for
    ``_weights._cold_affine`` and :func:`band_affine`."""
    return [
        np.matmul(band_w[tag][:, mask].astype(np.float32)[:, None, :], scaled)[:, 0, :]
        for tag, scaled, *_ in blocks
    ]


@dataclass(frozen=True, eq=False)
class Audience:
    """One validation block as the band maps see it."""

    #: each user's history band, and the scores before the band maps (users x columns)
    tag: np.ndarray
    z: np.ndarray
    #: targets, and users left out of a column's softmax (seen, not targets)
    pos: np.ndarray
    blocked: np.ndarray


def audience_loss(theta: np.ndarray, blocks: Sequence[Audience]) -> tuple[float, np.ndarray]:
    """The per-column softmax loss over users of the mapped scores, summed over ``blocks``,
    and its gradient in ``theta`` (the levels of the bands, then their slopes)."""
    n_bands = len(theta) // 2
    level, slope = theta[:n_bands], theta[n_bands:]
    total, grad = 0.0, np.zeros(2 * n_bands)
    for block in blocks:
        tag, z = block.tag, block.z
        mapped = level[tag, None] + slope[tag, None] * z
        loss, g = softmax_loss(mapped, block.pos, block.blocked, 0)
        total += loss
        grad[:n_bands] += np.bincount(tag, g.sum(axis=1), minlength=n_bands)
        grad[n_bands:] += np.bincount(tag, (g * z).sum(axis=1), minlength=n_bands)
    return total, grad


def band_affine(
    blocks: Sequence[tuple],
    warm: Sequence[np.ndarray],
    cold_w: np.ndarray,
    cold_affine: np.ndarray,
    mask: np.ndarray,
    n_bands: int,
) -> np.ndarray:
    """Per band, the level and slope (shape (n_bands, 2)) that rank the validation users'
    audiences best.

    ``blocks`` hold ``(tag, scaled, pos, blocked, cold_cols)`` (``_weights.Block``) and
    ``warm`` their :func:`block_scores`; a block's scores are those of
    :func:`~featcf.models.feature_cf._terms.combine` (band weights on warm columns,
    ``cold_w`` and ``cold_affine`` on hidden ones). The loss is :func:`audience_loss`,
    averaged over the positives, plus a small tie of neighbouring bands and a pull to the
    identity (bands without validation users follow their neighbours). Without positives
    the identity is returned.
    """
    from scipy.optimize import minimize  # heavy: kept out of ``import featcf``

    audiences = []
    for (tag, scaled, pos, blocked, cold_cols), zw in zip(blocks, warm, strict=True):
        z = zw.copy()
        if cold_cols.any():
            zc = np.matmul(cold_w[mask].astype(np.float32), scaled[:, :, cold_cols])
            z[:, cold_cols] = cold_affine[0] + cold_affine[1] * zc
            # the customers the split left without history are no targets on the hidden
            # items (``_split._has_history``), so each of them is a non-buyer there by
            # construction: the maps would learn that from the split, not from the
            # customers (measured: leaving them in costs the caravan question 23 of 157
            # owners), so they are kept out of the hidden items' audiences
            blocked = blocked.copy()
            blocked[np.ix_(tag == 0, cold_cols)] = True
        audiences.append(Audience(tag, z.astype(np.float64), pos & ~blocked, blocked))
    n_pos = sum(int(a.pos.sum()) for a in audiences)
    if n_pos == 0:
        return identity_affine(n_bands)
    target = identity_affine(n_bands).T.ravel()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = audience_loss(theta, audiences)
        loss, grad = loss / n_pos, grad / n_pos
        for part in (slice(0, n_bands), slice(n_bands, 2 * n_bands)):
            g_tie = np.zeros(n_bands)
            loss += neighbour_tie(theta[part], TIE, g_tie)
            grad[part] += g_tie
        away = theta - target
        return loss + PULL * float(away @ away), grad + 2 * PULL * away

    bounds = [(None, None)] * n_bands + [(MIN_SLOPE, None)] * n_bands
    res = minimize(objective, target, jac=True, method="L-BFGS-B", bounds=bounds)
    return np.column_stack([res.x[:n_bands], np.maximum(res.x[n_bands:], MIN_SLOPE)])
