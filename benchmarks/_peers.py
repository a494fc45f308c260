"""Peers of the accuracy and ablation benchmarks that are not featcf models.

Each is a featcf scoring function ``fn(user_idx, item_idx, history) -> scores`` with a
``fit(dataset)`` method and the featcf class flags (see :func:`featcf.evaluation.evaluate`).

- :class:`LightFMPeer`: LightFM (``lightfm-next``) with user and item features, WARP loss,
  hyper-parameters fixed up front (below), never tuned: features are an identity column per
  user / item plus the one-hot attribute indicators of the Dataset's encoded fields. It
  serves new items and demographics-only users through their attribute columns (their
  identity columns are untrained); given-k users by a refit with their revealed
  interactions added (as implicit's BPR), flagged ``refit_for_history``.
- :class:`SegmentPopularity`: per user feature value, the popularity of each item among the
  training customers holding that value, shrunk to the global popularity by ``shrinkage``
  pseudo-customers; a customer's score is the mean over their feature values. The bar a
  demographic model must clear. It stays a benchmark baseline, not a featcf model: FeatureCF
  already has this signal as a term (``"demographics"``) and nobody would serve it alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["LIGHTFM_PARAMS", "LightFMPeer", "SegmentPopularity"]

#: fixed before any run: LightFM's defaults except 32 components and 30 epochs
LIGHTFM_PARAMS = {"no_components": 32, "loss": "warp", "learning_rate": 0.05, "epochs": 30}


def _binary(X: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(X, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    out.eliminate_zeros()
    return out


def _with_identity(features: Any, n_rows: int) -> sp.csr_matrix:
    """Identity columns then the attribute indicators, each row normalised to sum 1."""
    blocks = [sp.identity(n_rows, dtype=np.float32, format="csr")]
    if features is not None:
        blocks.append(_binary(features.matrix))
    X = sp.csr_matrix(sp.hstack(blocks), dtype=np.float32)
    sums = np.asarray(X.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(sums, 1e-12)) @ X, dtype=np.float32)


class LightFMPeer:
    """LightFM with user and item features (see the module docstring)."""

    handles_new_items = True
    handles_new_users_with_features = True
    handles_new_users_with_history = True
    refit_for_history = True
    __name__ = "LightFM features"

    def __init__(self, seed: int, n_threads: int = 2) -> None:
        self.seed = seed
        self.n_threads = n_threads

    def fit(self, dataset: Any) -> LightFMPeer:
        from lightfm import LightFM

        params = dict(LIGHTFM_PARAMS)
        epochs = params.pop("epochs")
        uf = _with_identity(dataset.user_features, dataset.n_users)
        itf = _with_identity(dataset.item_features, dataset.n_items)
        model = LightFM(random_state=self.seed, **params)
        model.fit(
            sp.coo_matrix(_binary(dataset.interactions)),
            user_features=uf,
            item_features=itf,
            epochs=epochs,
            num_threads=self.n_threads,
        )
        self.user_bias_, self.user_emb_ = model.get_user_representations(uf)
        self.item_bias_, self.item_emb_ = model.get_item_representations(itf)
        return self

    def __call__(self, user_idx: np.ndarray, item_idx: np.ndarray, history: Any) -> np.ndarray:
        scores = self.user_emb_[user_idx] @ self.item_emb_[item_idx].T
        scores += self.user_bias_[user_idx][:, None] + self.item_bias_[item_idx][None, :]
        return scores.astype(np.float32)


class SegmentPopularity:
    """Item popularity among the customers sharing each feature value (module docstring)."""

    handles_new_items = False
    handles_new_users_with_features = True
    handles_new_users_with_history = True
    __name__ = "Segment popularity"

    def __init__(self, shrinkage: float = 20.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, dataset: Any) -> SegmentPopularity:
        X = _binary(dataset.interactions)
        active = np.diff(X.indptr) > 0
        p_global = np.asarray(X.sum(axis=0)).ravel() / max(int(active.sum()), 1)
        if dataset.user_features is None:
            self.features_ = sp.csr_matrix((dataset.n_users, 0), dtype=np.float32)
            self.table_ = np.zeros((0, X.shape[1]))
        else:
            F = _binary(dataset.user_features.matrix)
            F_active = sp.csr_matrix(sp.diags(active.astype(np.float32)) @ F)
            counts = np.asarray((F_active.T @ X).todense(), dtype=np.float64)
            n_value = np.asarray(F_active.sum(axis=0)).ravel()[:, None]
            m = float(self.shrinkage)
            self.table_ = (counts + m * p_global[None, :]) / (n_value + m)
            self.features_ = F
        self.global_ = p_global
        return self

    def __call__(self, user_idx: np.ndarray, item_idx: np.ndarray, history: Any) -> np.ndarray:
        F = self.features_[user_idx]
        n = np.asarray(F.sum(axis=1)).ravel()
        scores = np.asarray(F @ self.table_[:, item_idx]) / np.maximum(n, 1.0)[:, None]
        scores[n == 0] = self.global_[item_idx]
        return scores.astype(np.float32)
