"""The loss the weight learning minimises: listwise softmax losses over the validation
blocks, the band tie, and their minimisation (:func:`minimise`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from featcf.models.feature_cf._inputs import Learning

__all__ = [
    "BAND_TIE",
    "WEIGHT_L2",
    "Block",
    "Problem",
    "minimise",
    "neighbour_tie",
    "softmax_loss",
]

#: penalty tying the weights of neighbouring history bands
BAND_TIE = 0.05
#: the small L2 penalty on every weight
WEIGHT_L2 = 1e-4


def softmax_loss(
    z: np.ndarray,
    pos: np.ndarray,
    blocked: np.ndarray,
    axis: int,
    set_lines: np.ndarray | None = None,
    set_weight: float = 1.0,
) -> tuple[float, np.ndarray]:
    """A listwise softmax loss along ``axis`` and its gradient dL/dz.

    Entries where ``blocked`` is set are left out of the softmax. Per line (row for
    ``axis=1``, column for ``axis=0``) with positives ``P`` (``pos``), the loss is
    ``-sum_{p in P} log softmax(z)[p]`` (cross-entropy: every positive pulled up), or, on
    the lines where ``set_lines`` (one flag per line) is set,
    ``set_weight * -log sum_{p in P} softmax(z)[p]`` (the likelihood of the set:
    satisfied once some positives lead, as top-n metrics are). Lines without positives
    add nothing.

    Returns
    -------
    loss : float
    grad : numpy.ndarray, same shape as ``z``
    """
    cnt = pos.sum(axis=axis, keepdims=True).astype(np.float32)
    zz = np.where(blocked, -np.inf, z)
    zmax = zz.max(axis=axis, keepdims=True)
    zmax = np.where(np.isfinite(zmax), zmax, np.float32(0.0))
    e = np.exp(zz - zmax)
    tot = e.sum(axis=axis, keepdims=True)
    has = cnt > 0
    lse = np.log(np.where(tot > 0, tot, np.float32(1.0))) + zmax
    prob = np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)
    if set_lines is None or not set_lines.any():
        loss = float((cnt * lse)[has].sum(dtype=np.float64) - z[pos].sum(dtype=np.float64))
        return loss, cnt * prob - pos
    as_set = np.expand_dims(np.asarray(set_lines, dtype=bool), axis)
    ce = has & ~as_set
    ce_pos = pos & ce
    loss = float((cnt * lse)[ce].sum(dtype=np.float64) - z[ce_pos].sum(dtype=np.float64))
    grad = np.where(ce, cnt * prob - pos, np.float32(0.0))
    e_pos = np.where(pos, e, np.float32(0.0))
    tot_pos = e_pos.sum(axis=axis, keepdims=True)
    ok = has & as_set & (tot_pos > 0)
    lse_pos = np.log(np.where(ok, tot_pos, np.float32(1.0))) + zmax
    loss += float(set_weight * (lse - lse_pos)[ok].sum(dtype=np.float64))
    q = np.divide(e_pos, tot_pos, out=np.zeros_like(e_pos), where=ok)
    grad += np.where(ok, np.float32(set_weight), np.float32(0.0)) * (prob - q)
    return loss, grad


def neighbour_tie(w: np.ndarray, strength: float, grad: np.ndarray) -> float:
    """``strength * sum((w[b + 1] - w[b]) ** 2)`` over neighbouring rows (history bands) of
    ``w``; its gradient is added to ``grad`` (same shape as ``w``) in place. Sparse bands
    borrow from their neighbours."""
    diff = w[1:] - w[:-1]
    grad[1:] += 2 * strength * diff
    grad[:-1] -= 2 * strength * diff
    return strength * float((diff**2).sum())


class Block(NamedTuple):
    """A validation sample prepared for the losses (the free terms only, scaled)."""

    tag: np.ndarray
    #: scaled terms (n_users, n_free_terms, n_candidates), float32
    scaled: np.ndarray
    #: targets, and candidates left out of the softmax (seen, not targets)
    pos: np.ndarray
    blocked: np.ndarray
    cold_cols: np.ndarray


@dataclass(frozen=True, eq=False)
class Problem:
    """The weight-learning objective's data: blocks and loss settings."""

    blocks: list[Block]
    n_bands: int
    n_free: int
    n_pos: int
    mean_cnt: float
    plan: Learning

    @classmethod
    def of(cls, blocks: list[Block], n_bands: int, plan: Learning) -> Problem:
        """The problem of ``blocks`` (at least one): the free terms, the validation
        positives and the mean positives per user with any are read from them."""
        n_pos = sum(int(block.pos.sum()) for block in blocks)
        n_rows_pos = sum(int((block.pos.sum(axis=1) > 0).sum()) for block in blocks)
        n_free = blocks[0].scaled.shape[1]
        return cls(blocks, n_bands, n_free, n_pos, float(n_pos / max(n_rows_pos, 1)), plan)


def minimise(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """L-BFGS-B under ``w >= 0`` from 0.5, twice: the band weights, then the new-item weights.

    The loss is a sum of a part in the band weights (the warm columns) and a part in the
    new-item weights (the hidden items' columns), so each is minimised on its own: jointly,
    under the 100-iteration cap, a change to the new items' terms moved the band weights'
    path too (the warm weights of the golden MovieLens model by up to 0.48). Without hidden
    items the new-item weights stay at 0.5 (uniform).
    """
    band = _lbfgs(_band_objective, problem.n_bands * problem.n_free, problem)
    cold = np.full(problem.n_free, 0.5)
    if any(block.cold_cols.any() for block in problem.blocks):
        cold = _lbfgs(_cold_objective, problem.n_free, problem)
    return band.reshape(problem.n_bands, problem.n_free), cold


def _lbfgs(
    objective: Callable[[np.ndarray, Problem], tuple[float, np.ndarray]],
    size: int,
    problem: Problem,
) -> np.ndarray:
    """``objective``'s minimum under ``w >= 0``, from 0.5 (at most 100 L-BFGS-B steps)."""
    from scipy.optimize import minimize  # heavy: kept out of ``import featcf``

    theta0 = np.full(size, 0.5)
    res = minimize(
        objective,
        theta0,
        args=(problem,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * size,
        options={"maxiter": 100},
    )
    return np.maximum(res.x, 0.0)


def _band_objective(theta: np.ndarray, problem: Problem) -> tuple[float, np.ndarray]:
    """The band weights' part of the loss (the warm columns), mean over the validation
    positives, plus the band tie and a small L2, and its gradient in ``theta``."""
    band_w = theta.reshape(problem.n_bands, problem.n_free)
    band_ids = np.arange(problem.n_bands)
    plan = problem.plan
    total = 0.0
    g_band = np.zeros_like(band_w)
    for block in problem.blocks:
        tag, scaled, pos, blocked, cold_cols = block
        warm = ~cold_cols
        if not warm.any():
            continue
        z = np.matmul(band_w[tag].astype(np.float32)[:, None, :], scaled)[:, 0, :]
        loss, g = _column_losses(z[:, warm], pos[:, warm], blocked[:, warm], tag, problem,
                                 plan.item_loss_share)  # fmt: skip
        total += loss
        grad = np.zeros(z.shape, dtype=np.float32)
        grad[:, warm] = g
        per_user = np.matmul(scaled, grad[:, :, None])[:, :, 0]
        # sum per band (a one-hot product: np.add.at is slow)
        g_band += (tag[None, :] == band_ids[:, None]).astype(np.float64) @ per_user
    g_band /= problem.n_pos
    total = total / problem.n_pos + neighbour_tie(band_w, BAND_TIE, g_band)
    total += WEIGHT_L2 * float(theta @ theta)
    return total, g_band.ravel() + 2 * WEIGHT_L2 * theta


def _cold_objective(theta: np.ndarray, problem: Problem) -> tuple[float, np.ndarray]:
    """The new-item weights' part of the loss (the hidden items' columns), mean over the
    validation positives, plus a small L2, and its gradient in ``theta``."""
    w = theta.astype(np.float32)
    total = 0.0
    g_cold = np.zeros_like(theta)
    for block in problem.blocks:
        tag, scaled, pos, blocked, cold_cols = block
        if not cold_cols.any():
            continue
        cold = scaled[:, :, cold_cols]
        z = np.matmul(w, cold)
        loss, g = _column_losses(z, pos[:, cold_cols], blocked[:, cold_cols], tag, problem,
                                 problem.plan.cold_item_loss_share)  # fmt: skip
        total += loss
        g_cold += np.matmul(cold, g[:, :, None])[:, :, 0].sum(axis=0)
    total = total / problem.n_pos + WEIGHT_L2 * float(theta @ theta)
    return total, g_cold / problem.n_pos + 2 * WEIGHT_L2 * theta


def _column_losses(
    z: np.ndarray,
    pos: np.ndarray,
    blocked: np.ndarray,
    tag: np.ndarray,
    problem: Problem,
    item_share: float,
) -> tuple[float, np.ndarray]:
    """One set of columns' losses, per user then ``item_share`` times per item (the
    audience over users), and dLoss/dscore."""
    plan = problem.plan
    loss, grad = softmax_loss(z, pos, blocked, 1, tag >= plan.set_loss_min_band, problem.mean_cnt)
    item_loss, item_grad = softmax_loss(z, pos, blocked, 0)
    return loss + item_share * item_loss, grad + item_share * item_grad
