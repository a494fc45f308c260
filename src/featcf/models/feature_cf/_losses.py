"""The listwise softmax loss the weight learning minimises, with its gradient."""

from __future__ import annotations

import numpy as np

__all__ = ["neighbour_tie", "softmax_loss"]


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
