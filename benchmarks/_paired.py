"""Paired bootstrap intervals for differences between models measured on the same splits.

A model comparison is per unit (user, customer, product) on the same split: the two models'
values for a unit are paired, units are resampled with replacement within each split seed,
and the statistic is averaged over the seeds. The interval is the 2.5% and 97.5% percentiles
of ``N_RESAMPLES`` resamples (a fixed generator, seed 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["N_RESAMPLES", "paired_interval"]

N_RESAMPLES = 2000


def paired_interval(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], stat: str = "mean", seed: int = 0
) -> tuple[float, float, float]:
    """Estimate and 95% interval of ``stat(a - b)`` averaged over seeds.

    ``a[s]`` and ``b[s]`` hold one value per unit of split seed ``s``, in the same order;
    pairs with a NaN are dropped. ``stat`` is ``"mean"`` or ``"sum"`` over the units.
    """
    rng = np.random.default_rng(seed)
    estimates, draws = [], []
    for x, y in zip(a, b, strict=True):
        d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        d = d[np.isfinite(d)]
        if not len(d):
            continue
        factor = len(d) if stat == "sum" else 1.0
        estimates.append(d.mean() * factor)
        idx = rng.integers(0, len(d), size=(N_RESAMPLES, len(d)))
        draws.append(d[idx].mean(axis=1) * factor)
    if not estimates:
        return float("nan"), float("nan"), float("nan")
    boot = np.mean(draws, axis=0)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(np.mean(estimates)), float(lo), float(hi)
