"""implicit's Alternating Least Squares behind the featcf interface.

:class:`ALS` fits :class:`implicit.cpu.als.AlternatingLeastSquares` (Hu, Koren & Volinsky
2008, with implicit's conjugate-gradient solver) on the Dataset's interactions, so featcf
models can be compared with a standard matrix-factorisation baseline on the same splits,
ids and metrics. Scores are ``user_factors_[u] @ item_factors_[i]``; users unknown at fit
time are folded in with implicit's own ``recalculate_user`` (a least-squares solve against the
fitted item factors, no refit).

What it serves: fitted users with interactions, new users with a history, audiences
(:meth:`recommend_users`). It cannot score new products (no latent factors), users without
interactions or with demographics only, and has no readable explanation: those raise
:class:`~featcf.models.base.UnsupportedProtocolError` naming the model to use instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from featcf._progress import resolve_show_progress
from featcf._validation import (
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_random_state,
)
from featcf.data.dataset import Dataset
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._reasons import PairQuery
from featcf.models.base import BaseRecommender

__all__ = ["ALS"]


class ALS(BaseRecommender):
    """Implicit-feedback matrix factorisation (implicit's AlternatingLeastSquares).

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors.
    regularization : float, default 0.01
        L2 regularisation of the factors.
    iterations : int, default 15
        ALS sweeps (users then items).
    alpha : float, default 1.0
        Confidence scaling: implicit uses ``alpha * r_ui`` as the confidence of a positive.
    random_state : int, numpy.random.Generator or None, default None
        Seed of the initial factors (resolved at fit; ``None`` draws a fresh seed).
    n_threads : int, optional
        Threads of implicit's solver (default: all cores). BLAS runs single-threaded during
        the fit, as implicit recommends.
    show_progress : bool or None, default None
        implicit's progress bar over the fit's iterations: None (auto) draws it when the
        output is a terminal or a Jupyter notebook and not in logs, pipes or CI; True always,
        False never.

    Attributes
    ----------
    user_factors_ : numpy.ndarray of shape (n_users, factors), float32
    item_factors_ : numpy.ndarray of shape (n_items, factors), float32

    Notes
    -----
    The fitted state is the two factor arrays; the implicit model used for fold-in is rebuilt
    from them on :func:`featcf.load`, so a loaded model scores exactly like the saved one.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=200, random_state=0)
    >>> model = ALS(factors=8, iterations=3, random_state=0, show_progress=False).fit(shop)
    >>> model.item_factors_.shape == (shop.n_items, 8)
    True
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = False
    handles_new_items = False

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        iterations: int = 15,
        alpha: float = 1.0,
        random_state: Any = None,
        n_threads: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state
        self.n_threads = n_threads
        self.show_progress = show_progress

    def _check_params(self) -> None:
        check_positive_int(self.factors, "factors")
        check_nonnegative_float(self.regularization, "regularization")
        check_positive_int(self.iterations, "iterations")
        check_positive_float(self.alpha, "alpha")
        check_positive_int(self.n_threads, "n_threads", allow_none=True)
        resolve_show_progress(self.show_progress)
        check_random_state(self.random_state)

    def _new_implicit(self, random_state: Any) -> Any:
        """An unfitted implicit CPU ALS with this model's hyper-parameters."""
        # implicit: heavy, imported only when an ALS is fitted or loaded
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            num_threads=0 if self.n_threads is None else int(self.n_threads),
            random_state=random_state,
        )

    def _fit(self, dataset: Dataset) -> None:
        rng = check_random_state(self.random_state)
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._new_implicit(rng)
            model.fit(
                sp.csr_matrix(dataset.interactions),
                show_progress=resolve_show_progress(self.show_progress),
            )
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._implicit = model

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.user_factors_ = np.ascontiguousarray(state["user_factors_"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(state["item_factors_"], dtype=np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._new_implicit(None)
        model.user_factors = self.user_factors_
        model.item_factors = self.item_factors_
        self._implicit = model

    # ------------------------------------------------------------------ scoring
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_idx] @ self.item_factors_[item_idx].T

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        factors = self._implicit.recalculate_user(
            np.arange(history.shape[0]), sp.csr_matrix(history, dtype=np.float32)
        )
        factors = np.asarray(factors, dtype=np.float32).reshape(history.shape[0], -1)
        return factors @ self.item_factors_[item_idx].T

    def _extend_items(self, n_new: int) -> None:
        raise UnsupportedProtocolError(
            "ALS cannot score products without interactions (they have no latent factors); "
            "use ContentKNN or FeatureCF for new products"
        )

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            "ALS scores are dot products of latent factors, which have no readable parts or "
            "reasons; "
            "for explained recommendations use FeatureCF or ContentKNN (per feature value) or "
            "ItemKNN (per history item)"
        )
