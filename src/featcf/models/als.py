"""implicit's Alternating Least Squares behind the featcf interface.

:class:`ALS` fits :class:`implicit.cpu.als.AlternatingLeastSquares` (Hu, Koren & Volinsky
2008, with implicit's conjugate-gradient solver) on the Dataset's interactions, so featcf
models can be compared with a standard matrix-factorisation baseline on the same splits,
ids and metrics. Scores are ``user_factors_[u] @ item_factors_[i]``; users unknown at fit
time are folded in with implicit's own ``recalculate_user`` (a least-squares solve against the
fitted item factors, no refit).

What it serves: fitted users with interactions, new users with a history, audiences
(:meth:`recommend_users`), similar products and customers (``similar_items`` /
``similar_users``: the cosine of the factors, as implicit's ``similar_items``). It cannot
score new products (no latent factors), users without interactions or with demographics
only, and has no readable explanation or reason: those raise
:class:`~featcf.models.base.UnsupportedProtocolError` naming the model to use instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from featcf._progress import resolve_show_progress
from featcf._schema import Array, Spec
from featcf._validation import (
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_random_state,
)
from featcf.data.dataset import Dataset
from featcf.exceptions import UnsupportedProtocolError
from featcf.models._reasons import PairQuery
from featcf.models._similar import ItemQuery, spread_columns
from featcf.models.base import BaseRecommender
from featcf.similarity import topk_similarity_dense_between

__all__ = ["ALS"]

#: the refusal of reasons for similar products or customers
_NO_REASONS = (
    "ALS finds similar {what} by the cosine of latent factors, which has no readable reason; "
    "for similar {what} with reasons use {use}"
)


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

    **partial_fit updates** the factors of the *touched* customers (those in the batch's
    interactions, new ones included): implicit's ``recalculate_user`` (the least-squares
    solve of ``partial_fit_users``) on their whole history against the item factors, the
    same fold-in ``recommend_new_users`` uses. The item factors of the products already in
    the catalogue stay as fitted; new products get theirs from implicit's
    ``recalculate_item`` against the updated customer factors (zeros without
    interactions), and the customers' interactions with them are left out of their own
    fold-in. So when the update adds no product, every touched customer gets exactly what
    ``recommend_new_users`` gave for that history on the model before the update.
    Customers registered without interactions get zero factors and are refused like the
    customers without interactions at a fit.

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
        from implicit.recommender_base import ModelFitError  # heavy, like the model itself

        rng = check_random_state(self.random_state)
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._new_implicit(rng)
            try:
                model.fit(
                    sp.csr_matrix(dataset.interactions),
                    show_progress=resolve_show_progress(self.show_progress),
                )
                diverged = False
            except ModelFitError:  # implicit's check: NaN factors
                diverged = True
        users = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        if diverged or not (np.isfinite(users).all() and np.isfinite(items).all()):
            top = float(dataset.interactions.data.max(initial=0.0))
            raise ValueError(
                f"ALS diverged (NaN or infinite factors): the confidences alpha * weight "
                f"(alpha={self.alpha!r}, largest weight {top:.3g}) are too large for its solver; "
                f"rescale the weight column (e.g. log1p, or divide by its maximum) or lower alpha"
            )
        self.user_factors_ = users
        self.item_factors_ = items
        self._implicit = _ready(model)

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        X = sp.csr_matrix(new_dataset.interactions, dtype=np.float32)
        n_old_items = old_dataset.n_items
        users = self.user_factors_
        users = np.vstack([users, np.zeros((X.shape[0] - len(users), users.shape[1]), users.dtype)])
        with threadpool_limits(limits=1, user_api="blas"):
            if len(touched_users):
                history = sp.csr_matrix(X[touched_users][:, :n_old_items])
                users[touched_users] = self._implicit.recalculate_user(touched_users, history)
            items = self.item_factors_
            if X.shape[1] > n_old_items:
                model = self._implicit_with(users, items)
                new_items = np.arange(n_old_items, X.shape[1])
                buyers = sp.csr_matrix(X.T.tocsr()[new_items], dtype=np.float32)
                folded = np.asarray(model.recalculate_item(new_items, buyers), dtype=np.float32)
                items = np.vstack([items, folded.reshape(len(new_items), -1)])
            model = self._implicit_with(users, items)
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)
        self._implicit = _ready(model)

    def _implicit_with(self, user_factors: np.ndarray, item_factors: np.ndarray) -> Any:
        """implicit's model (unfitted, this model's hyper-parameters) holding these factors."""
        model = self._new_implicit(None)
        model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        return model

    # ------------------------------------------------------------------ persistence
    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        return {
            "user_factors_": Array("float32", (dataset.n_users, self.factors)),
            "item_factors_": Array("float32", (dataset.n_items, self.factors)),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.user_factors_ = np.ascontiguousarray(state["user_factors_"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(state["item_factors_"], dtype=np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._implicit_with(self.user_factors_, self.item_factors_)
        self._implicit = _ready(model)

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

    # ------------------------------------------------------------------ similar
    handles_similar_items = True
    handles_similar_users = True

    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        """Cosine of the item factors (what implicit's ``similar_items`` ranks by)."""
        sims = topk_similarity_dense_between(
            self.item_factors_[query.positions],
            self.item_factors_[candidates],
            k,
            "cosine",
            n_threads=self.n_threads,
        )
        return spread_columns(sims, candidates, len(self.item_factors_))

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        """Cosine of the user factors."""
        factors = self.user_factors_
        return topk_similarity_dense_between(
            factors[users], factors, k, "cosine", n_threads=self.n_threads
        )

    def _similar_item_parts(
        self, query: ItemQuery, rows: np.ndarray, items: np.ndarray
    ) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            _NO_REASONS.format(
                what="products",
                use="FeatureCF, ContentKNN (shared features) or ItemKNN (co-purchases)",
            )
        )

    def _similar_user_parts(
        self, users: np.ndarray, rows: np.ndarray, others: np.ndarray
    ) -> pd.DataFrame:
        raise UnsupportedProtocolError(
            _NO_REASONS.format(
                what="customers", use="FeatureCF, UserKNN or ItemKNN (purchases in common)"
            )
        )

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


def _ready(model: Any) -> Any:
    """implicit's model with its Gram matrix ``Y^T Y`` computed now, not on the first fold-in.

    implicit fills ``YtY`` lazily (check, then fill); computing it here keeps concurrent first
    queries from racing on that cache.
    """
    _ = model.YtY
    return model
