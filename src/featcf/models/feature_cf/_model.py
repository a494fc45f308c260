"""FeatureCF: feature-based collaborative filtering (the core model of featcf).

See ``ALGORITHM.md`` and the :class:`FeatureCF` docstring. A score is a weighted sum of
*terms*, each a dense (users x items) block computed with sparse products. With ``h_u`` the
user's positives, ``n_u = |h_u|``, ``X_f`` the items x values block of item field ``f``
(rows summing to 1) and ``P_u^f`` the user's attribute profile over the values of ``f``:

``cf``
    Item-kNN collaborative filtering, ``sum_{j in h_u} S[j, i] / n_u`` (top-k cosine item
    neighbours). Pairs involving an item without interactions use ``kappa_ * cos(x_j, x_i)``
    of the feature vectors instead (the feature-weighted item similarity of new products).
``ease`` (catalogues of at most ``ease_max_items`` items)
    Linear regression of each item on the user's other items and (when there are user
    features) their features: ``sum_{j in h_u} B[j, i] + f_u . B_F[:, i]``, the closed form
    of EASE (Steck 2019) on ``Z = [user features | positives]`` with a zero item diagonal
    (see :func:`_ease_from_gram`). The strongest plain CF signal for warm users, and a
    discriminative demographic model for customers without a history (it uses their own
    empty history, not a borrowed one); ``l2`` is picked on the validation split.
``user_cf``
    User-kNN collaborative filtering: share of the user's top-k neighbours (cosine of the
    positives; for users without a history, their neighbours in user-feature space) who
    have the item.
``cooccurrence``
    ``mean_{j in h_u} P(i | j)``, the share of the buyers of ``j`` who also have ``i``
    ("customers who bought j also bought i"): strong for histories of 1-5 items.
``popularity``
    ``log1p(#users with the item)``; for items without interactions it is predicted from
    their features by ridge regression on the other items. Popularity is a strong signal for
    cold users, so it is blended in as a term with its own learned weight.
``activity``
    ``log1p(n_u)``: constant over items, it only matters when comparing users (audiences).
``rating`` (rating data only)
    The item's shrunk mean rating deviation from its raters' mean ratings.
``demographics`` (with user features)
    Naive-Bayes lift ``sum_{a in u} log P(i | a) / P(i)`` over the user's feature values
    ``a`` (shrunk towards ``P(i)``).
``demographic_fields`` (with user features)
    The same lift at the level of item field values, ``sum_a sum_v X[i, v] log P(v | a) /
    P(v)``: it serves items without interactions.
``<field>``
    Field neighbourhood: share of the user's top-k neighbours under the similarity of their
    profiles ``P^f`` who have the item (user-kNN with the field's own neighbourhood).
``content_ridge``
    Content regression: ``x_i . c_u`` with ``c_u = (X^T X + l2 I)^{-1} X^T y_u`` the ridge
    regression (intercept unpenalised, ``l2`` chosen by leave-one-out error) of the user's
    positives ``y_u`` over the items with interactions on their 0/1 attribute indicators
    ``X`` (all fields). It learns from the whole catalogue which attribute combinations a
    user's history implies, and serves items without interactions.
``content:<field>``
    Content affinity ``sum_v X_f[i, v] log(P_u^f[v] / g^f[v])``, the log-lift of the user's
    shrunk profile over the global profile ``g^f``.

Users without interactions (demographics only) use, for ``cf``, ``ease`` and ``cooccurrence``,
the histories of their top-k neighbours in user-feature space as a pseudo-history, and their
profile is the mean profile of those neighbours. Terms are divided by fixed scales
(``term_scale_``) so that the weights are comparable across terms.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._validation import (
    check_bool,
    check_nonnegative_float,
    check_nonnegative_int,
    check_option,
    check_option_or_bool,
    check_option_or_mapping,
    check_option_or_real,
    check_positive_int,
    check_random_state,
    check_real,
)
from featcf.columns import Columns
from featcf.data.dataset import Dataset
from featcf.models.base import BaseRecommender
from featcf.models.feature_cf._linalg import (
    EASE_L2_DEFAULT,
    EASE_L2_GRID,
    content_map,
    ease_from_gram,
    ease_gram,
    fit_pop_model,
    mean_item_count,
    predict_pop,
)
from featcf.models.feature_cf._neighbours import (
    drop_self_truncate,
    topk_distinct_queries,
    topk_distinct_refs,
)
from featcf.models.feature_cf._sparse import row_normalize, row_sums, spread_rows

__all__ = ["FeatureCF"]

#: largest item x item co-occurrence matrix (bound on its entries) kept for scoring
_COOCCURRENCE_MAX_NNZ = 2e7
#: history-length bands with their own learned weights: [0], [1, 2], [3, 5], [6, 20], [21, inf)
BAND_EDGES = (0, 1, 3, 6, 21)
_EPS = 1e-6
_MIN_BAND_POSITIVES = 150


def _band_of(counts: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(BAND_EDGES[1:]), counts, side="right").astype(np.int64)


def _softmax_loss(
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


def _band_ndcg(blocks: list, band: int, w: np.ndarray, n: int = 10) -> float:
    """Mean nDCG@n over the validation users of one history band, warm items only."""
    from featcf.metrics import ndcg_at_k

    values = []
    for tag, scaled, pos, blocked, cold_cols in blocks:
        rows = np.flatnonzero(tag == band)
        if not len(rows):
            continue
        cols = ~cold_cols
        z = np.matmul(w.astype(np.float32), scaled[rows][:, :, cols])
        z = np.where(blocked[rows][:, cols], -np.inf, z)
        top = np.argsort(-z, axis=1, kind="stable")[:, :n]
        values.append(ndcg_at_k(top, sp.csr_matrix(pos[rows][:, cols]), n))
    if not values:
        return 0.0
    per_user = np.concatenate(values)
    per_user = per_user[np.isfinite(per_user)]  # NaN: users without targets here
    return float(per_user.mean()) if len(per_user) else 0.0


class FeatureCF(BaseRecommender):
    """Feature-based collaborative filtering (FBCF) with learned non-negative field weights.

    For user ``u`` and item ``i``::

        score(u, i) = sum_t w_t(band(n_u)) * T_t(u, i) / scale_t

    over the terms ``t`` described in :mod:`featcf.models.feature_cf`: item-kNN, item-item
    regression (EASE) and user-kNN CF (``"cf"``, ``"ease"``, ``"user_cf"``), co-occurrence,
    a popularity prior, user activity, rating quality (rating data), demographic lifts
    (with user features), and for every item field ``f`` a field neighbourhood score
    ``"<f>"`` (user-kNN under the similarity of the users' attribute profiles ``P_u^f``) and
    a content affinity ``"content:<f>"``. The profile ``P_u^f`` is
    the distribution of the user's positives over the values of ``f``, shrunk towards a prior
    with ``profile_shrinkage`` pseudo-interactions; the prior is the global profile or, with
    user features, the mean profile of the user's feature-space neighbours -- so a customer
    with demographics only gets a borrowed profile and follows the same path. Customers
    unknown at fit time are folded in at query time (``recommend_new_users``): their
    profiles come from their few interactions and their neighbours are found among the
    fitted users.

    **Weights** (``weights="learn"``) are fitted on an internal validation split of the
    training data, separately for five history-length bands (0, 1-2, 3-5, 6-20 and 21+
    positives): ``validation_fraction`` of each user's positives are hidden (warm users),
    the same share of users lose all positives and are queried with 0, 1-2 and 3-5 of them
    revealed (fold-in, as for new customers), and a share of items lose all interactions (in
    small catalogues several such rounds, up to 40 items). The objective is a *ranking*
    objective for every kind of data (implicit feedback, counts and ratings: recommendation
    is ranking; no NNLS rating fit): a listwise softmax loss ranking each validation user's
    hidden positives among the items (cross-entropy over each positive for users with up to
    5 positives; for users with 6 or more, the likelihood of the set of positives, which,
    like top-n metrics, is satisfied once some of them lead), plus the cross-entropy ranking
    each item's hidden buyers among the users (which makes scores comparable across users,
    for audiences), minimised jointly under ``w >= 0`` by L-BFGS-B with neighbouring bands
    tied by a small penalty; a band whose validation users are ranked better by uniform
    weights (nDCG@10) keeps those.
    With rating data, the positives to rank are the *liked* interactions (rating at least
    ``positive_threshold``, by default the mean rating).

    **Items without interactions** (cold catalogue items, products added with
    :meth:`add_items`) are scored with their own learned weight vector
    (``cold_item_weights_``: content, feature-similarity CF, predicted popularity,
    demographic field lifts) and put on the warm items' scale by an affine map
    (``cold_item_affine_``) that places their mean ``new_item_shift`` standard deviations
    below the warm items' mean: an item without interactions may be new or unpopular, so by
    default it surfaces only when it fits the user well (lower ``new_item_shift`` to promote
    new products).

    **Explanations** (:meth:`explain`) list one row per term: ``part="cf"`` (``value`` =
    the history item most similar to the recommended one), ``"ease"`` (its history part;
    ``value`` = the history item with the largest regression weight towards it; the part of
    the user's features is a ``"demographics"`` row with ``field="ease"``), ``"user_cf"``,
    ``"cooccurrence"``, ``"popularity"``, ``"activity"``, ``"rating"``,
    ``"demographics"``, ``"content_level"`` (the constant of the ``"content_ridge"``
    regression), and per item field one ``part="field"`` row per value the item has (e.g.
    ``field="genre", value="Comedy"``) holding that value's share of the field's
    neighbourhood, content and content-regression terms; items without interactions add
    ``"new_item_level"``
    (the affine level). The contributions sum to :meth:`predict`.

    Parameters
    ----------
    n_neighbors : int, default 50
        Neighbours of each user per field and in user-feature space, and of each item in
        item-kNN CF.
    metric : {"cosine", "pearson"}, default "cosine"
        Similarity of attribute profiles (log-lift vectors weighted by the global profile).
    profile_shrinkage : float, default 5.0
        Pseudo-interactions pulling a profile towards its prior (0: no shrinkage).
    weights : "learn", "uniform" or dict, default "learn"
        ``"learn"`` fits them (see above). ``"uniform"`` weighs every scaled term 1 (the
        baseline the learned weights are measured against). A dict ``{term: weight}`` takes
        keys among :attr:`term_names_` (``"cf"``, ``"ease"``, ``"user_cf"``,
        ``"cooccurrence"``, ``"popularity"``, ``"activity"``, ``"rating"``,
        ``"demographics"``, ``"demographic_fields"``, ``"content_ridge"``, the item field
        names and ``"content:<field>"``); a field name also sets its ``"content:<field>"``
        weight unless that key is given. Terms not listed weigh 0.
        Weights apply to the scaled terms and are used for every band and for new items.
    implicit : bool or "auto", default "auto"
        ``True``: every stored interaction is a positive, values are ignored. ``False``: the
        values are ratings (adds the ``"rating"`` term; liked ratings are the validation
        targets). ``"auto"``: ratings when the Dataset has a weight column holding 3 to 11
        integer levels in [0, 10] with the lowest level under half of the data (ratings,
        not counts), else implicit.
    positive_threshold : float, optional
        Interactions with a value below it are not positives (they still count as seen).
        With rating data it is also the "liked" threshold (default: the mean rating).
    include_cf : bool, default True
        Include the ordinary CF terms ``"cf"``, ``"ease"`` and ``"user_cf"`` (``w_0`` of
        ALGORITHM.md).
    ease_l2 : "auto" or float, default "auto"
        L2 penalty of the item-item regression term ``"ease"``. ``"auto"`` picks it on the
        validation split (nDCG@10 of the hidden interactions of warm validation users) among
        2, 6, 20 and 60 times the mean number of positives per item; with given ``weights``
        (no validation split) ``"auto"`` is 20 times that mean.
    ease_max_items : int, default 5000
        The ``"ease"`` term needs a dense items x items matrix (a solve in ``O(items^3)``):
        it is left out of catalogues with more items than this (0 leaves it out always).
    new_item_shift : float, default 2.0
        Level of items without interactions, in warm-score standard deviations below the
        warm items' mean (see above).
    validation_fraction : float, default 0.2
        Share of positives (and of users) hidden to learn the weights.
    random_state : None, int or numpy.random.Generator
        Seeds the validation split.
    show_progress : bool, default True
        Show a progress bar over the fit stages.
    n_threads : int, optional
        numba threads for the similarity kernels (default: all).

    Attributes
    ----------
    feature_weights_ : pandas.Series
        Weights of the terms for warm users (history of 21+), indexed by term name.
    band_weights_ : numpy.ndarray of shape (5, n_terms)
        Weights per history-length band (rows follow :data:`BAND_EDGES`).
    cold_item_weights_ : numpy.ndarray of shape (n_terms,)
        Weights used for items without interactions; ``cold_item_affine_`` their level.
    ease_l2_ : float or None
        L2 penalty of the ``"ease"`` term (None when the term is left out).
    ease_matrix_ : numpy.ndarray of shape (n_items, n_items) or None
        Its item-item weights ``B`` (float32).
    ease_feature_matrix_ : numpy.ndarray of shape (n_user_columns, n_items) or None
        Its weights of the user feature columns (None without user features).
    content_map_ : numpy.ndarray of shape (n_item_columns + 1, n_items)
        The ``"content_ridge"`` map from a history to feature coefficients (last row: the
        constant).
    term_names_ : list of str
    term_scale_ : numpy.ndarray of shape (n_terms,)
    rating_data_ : bool
        Whether the interaction values were read as ratings.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=300, seed=0)
    >>> model = FeatureCF(n_neighbors=20, random_state=0, show_progress=False).fit(shop)
    >>> bool((model.feature_weights_ >= 0).all())
    True
    >>> model.recommend(shop.user_ids[:1], n=3)["rank"].tolist()
    [1, 2, 3]
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = True
    handles_new_items = True
    _demo_shrinkage: ClassVar[float] = 20.0
    _item_loss_share: ClassVar[float] = 0.5
    _cold_item_loss_share: ClassVar[float] = 0.5
    #: history bands (index into BAND_EDGES) whose users are ranked with the set likelihood
    _set_loss_min_band: ClassVar[int] = 3
    _val_max_users: ClassVar[int] = 300
    _val_max_candidates: ClassVar[int] = 400

    def __init__(
        self,
        n_neighbors: int = 50,
        metric: str = "cosine",
        profile_shrinkage: float = 5.0,
        weights: str | Mapping[str, float] = "learn",
        implicit: bool | str = "auto",
        positive_threshold: float | None = None,
        include_cf: bool = True,
        ease_l2: float | str = "auto",
        ease_max_items: int = 5000,
        new_item_shift: float = 2.0,
        validation_fraction: float = 0.2,
        random_state: Any = None,
        show_progress: bool = True,
        n_threads: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.profile_shrinkage = profile_shrinkage
        self.weights = weights
        self.implicit = implicit
        self.positive_threshold = positive_threshold
        self.include_cf = include_cf
        self.ease_l2 = ease_l2
        self.ease_max_items = ease_max_items
        self.new_item_shift = new_item_shift
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.show_progress = show_progress
        self.n_threads = n_threads

    # ================================================================== parameters
    def _check_params(self) -> None:
        check_positive_int(self.n_neighbors, "n_neighbors")
        check_option(self.metric, "metric", ("cosine", "pearson"))
        check_nonnegative_float(self.profile_shrinkage, "profile_shrinkage")
        check_real(self.new_item_shift, "new_item_shift")
        check_option_or_mapping(
            self.weights, "weights", ("learn", "uniform"), "a dict {term: weight}"
        )
        check_option_or_bool(self.implicit, "implicit", ("auto",))
        check_real(self.positive_threshold, "positive_threshold", allow_none=True)
        check_bool(self.include_cf, "include_cf")
        check_option_or_real(self.ease_l2, "ease_l2", ("auto",), low=0, low_open=True)
        check_nonnegative_int(self.ease_max_items, "ease_max_items")
        check_real(
            self.validation_fraction, "validation_fraction", low=0, high=1,
            low_open=True, high_open=True,
        )  # fmt: skip
        check_random_state(self.random_state)
        check_positive_int(self.n_threads, "n_threads", allow_none=True)
        check_bool(self.show_progress, "show_progress")

    def _term_names(self, dataset: Dataset) -> list[str]:
        fields = list(dataset.item_fields)
        names = ["cf"]
        if self._uses_ease(dataset.n_items):
            names.append("ease")
        names += ["user_cf", "cooccurrence", "popularity", "activity"]
        if self.rating_data_:
            names.append("rating")
        if dataset.user_features is not None:
            names += ["demographics", "demographic_fields"]
        names += ["content_ridge", *fields, *[f"content:{f}" for f in fields]]
        return names

    def _uses_ease(self, n_items: int) -> bool:
        return bool(self.include_cf) and 0 < n_items <= int(self.ease_max_items)

    def _given_weights(
        self, names: list[str], weights: Mapping[str, float] | None = None
    ) -> np.ndarray:
        given = dict(self.weights if weights is None else weights)
        unknown = [k for k in given if k not in names]
        if unknown:
            raise ValueError(f"weights names unknown term(s) {unknown}; known terms are {names}")
        out = np.zeros(len(names))
        for key, value in given.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"weights[{key!r}] must be a number, got {value!r}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"weights[{key!r}] must be finite and >= 0, got {value!r}")
        for key, value in given.items():
            out[names.index(key)] = float(value)
            content = f"content:{key}"
            if content in names and content not in given:
                out[names.index(content)] = float(value)
        if not self.include_cf:
            out[names.index("cf")] = 0.0
            out[names.index("user_cf")] = 0.0
        if not (out > 0).any():
            raise ValueError("weights must give at least one term a positive weight")
        return out

    # ================================================================== data preparation
    def _resolve_ratings(self, dataset: Dataset) -> bool:
        """Whether the interaction weights are ratings (``implicit=False`` or detected)."""
        if self.implicit is not True and self.implicit is not False:
            if dataset.columns.get("weight") is None or dataset.interactions.nnz == 0:
                return False
            data = dataset.interactions.data
            levels, counts = np.unique(data, return_counts=True)
            integer_like = bool(np.all(np.abs(levels - np.round(levels)) < 1e-6))
            return (
                integer_like
                and 3 <= len(levels) <= 11
                and levels.min() >= 0
                and levels.max() <= 10
                and counts[0] / len(data) < 0.5
            )
        return not bool(self.implicit)

    def _liked_threshold(self) -> float | None:
        if not self.rating_data_:
            return None
        if self.positive_threshold is not None:
            return float(self.positive_threshold)
        return float(self.dataset_.interactions.data.mean())

    def _positive_values(self, interactions: sp.csr_matrix) -> sp.csr_matrix:
        """Binary positives (float32 CSR) from the interaction weights."""
        threshold = self.positive_threshold
        values = sp.csr_matrix(interactions, dtype=np.float32, copy=True)
        if threshold is not None:
            values.data = (values.data >= threshold).astype(np.float32)
            values.eliminate_zeros()
        else:
            values.data[:] = 1.0
        return values

    def _item_blocks(self) -> sp.csr_matrix:
        """Item features with every field's block normalised to sum 1 per item (cached)."""
        cached = self.__dict__.get("_x_cache")
        n_items = self.dataset_.n_items
        if cached is not None and cached.shape[0] == n_items:
            return cached
        features = self.dataset_.item_features
        blocks = [features.field_block(name, normalize=True) for name in features.fields]
        x = sp.csr_matrix(sp.hstack(blocks), dtype=np.float32)
        x.sort_indices()
        self._x_cache = x
        return x

    def _values(self) -> sp.csr_matrix:
        cached = self.__dict__.get("_v_cache")
        if cached is not None and cached.shape == self.dataset_.interactions.shape:
            return cached
        v = self._positive_values(self.dataset_.interactions)
        self._v_cache = v
        return v

    # ================================================================== core building
    def _field_slices(self) -> list[slice]:
        return [f.columns for f in self.dataset_.item_features.fields.values()]

    def _build_core(
        self,
        values: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        x: sp.csr_matrix,
        query_users: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Everything learned from a positives matrix (used for validation and final fit).

        ``query_users`` (sorted positions), when given, limits the user-kNN and per-field
        neighbour searches to the users a validation core is asked about; the other users'
        rows stay empty. The rows that are computed equal those of a full build (a row's
        top-k does not depend on the other queries), and the searches are the quadratic
        part of a fit.
        """
        from featcf.similarity import topk_similarity, topk_similarity_between

        k = self.n_neighbors
        n_users, n_items = values.shape
        counts_u = np.diff(values.indptr)
        active = np.flatnonzero(counts_u > 0).astype(np.int64)
        item_counts = np.bincount(values.indices, minlength=n_items).astype(np.float64)
        core: dict[str, Any] = {"active": active, "values": values}

        # global profile (interaction-weighted value distribution) per field
        prof_sum = np.asarray((values @ x).sum(axis=0), dtype=np.float64).ravel()
        g = np.zeros(x.shape[1])
        for sl in self._field_slices():
            total = prof_sum[sl].sum()
            if total > 0:
                g[sl] = prof_sum[sl] / total
        core["g"] = g

        # popularity prior and its feature model (ridge on item features)
        pop = np.log1p(item_counts)
        warm_items = item_counts > 0
        core["pop_coef"] = fit_pop_model(x[warm_items], pop[warm_items])
        pop = np.where(warm_items, pop, predict_pop(core["pop_coef"], x))
        core["pop"] = pop.astype(np.float32)

        # demographic neighbours among active users
        core["demo"] = None
        if user_features is not None:
            uf = sp.csr_matrix(user_features, dtype=np.float32)
            sims = topk_distinct_queries(
                lambda q: topk_similarity_between(
                    q, uf[active], k + 1, "cosine", n_threads=self.n_threads
                ),
                uf,
            )
            self_col = np.full(n_users, -1, dtype=np.int64)
            self_col[active] = np.arange(len(active))
            core["demo"] = drop_self_truncate(sims, self_col, k)

        # rating data: each item's shrunk mean deviation from its raters' mean rating
        core["quality"] = None
        if self.rating_data_:
            raw = sp.csr_matrix(self.dataset_.interactions, dtype=np.float64)
            raw = sp.csr_matrix(raw.multiply(values > 0))
            raw.eliminate_zeros()
            n_r = np.diff(raw.indptr)
            user_mean = np.divide(
                np.asarray(raw.sum(axis=1)).ravel(), n_r, out=np.zeros(n_users), where=n_r > 0
            )
            dev = raw.copy()
            dev.data = dev.data - np.repeat(user_mean, n_r)
            dev_sum = np.bincount(dev.indices, weights=dev.data, minlength=n_items)
            core["quality"] = (dev_sum / (item_counts + 10.0)).astype(np.float32)

        # naive-Bayes demographic lift: log P(i | user value a) / P(i), shrunk towards P(i)
        core["demo_lift"] = None
        core["demo_field_lift"] = None
        if user_features is not None:
            uf_a = sp.csr_matrix(user_features[active], dtype=np.float64)
            uf_a.data[:] = 1.0
            co = np.asarray((uf_a.T @ values[active]).todense(), dtype=np.float64)
            n_a = np.asarray(uf_a.sum(axis=0), dtype=np.float64).ravel()
            p_i = item_counts / max(len(active), 1)
            lam = self._demo_shrinkage
            with np.errstate(divide="ignore", invalid="ignore"):
                lift = np.log((co + lam * p_i[None, :]) / (n_a[:, None] + lam) / p_i[None, :])
            lift[:, p_i <= 0] = 0.0
            core["demo_lift"] = lift.astype(np.float32)
            # the same at the level of item field values (serves items without interactions)
            co_v = np.asarray((uf_a.T @ (values[active] @ x)).todense(), dtype=np.float64)
            n_av = np.asarray(uf_a.T @ counts_u[active].astype(np.float64)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                lift_v = np.log((co_v + lam * g[None, :]) / (n_av[:, None] + lam) / g[None, :])
            lift_v[:, g <= 0] = 0.0
            core["demo_field_lift"] = lift_v.astype(np.float32)

        # base profiles (global prior) of active users, then profiles with the user prior
        base = self._profiles_from(values[active], g[None, :], x)
        core["base_profiles"] = base.astype(np.float32)
        prior = self._prior(core, core["demo"], n_users)
        profiles = self._profiles_from(values, prior, x)
        lift = self._lift(profiles, g)
        core["lift"] = lift.astype(np.float32)

        # field neighbourhoods among active users
        self_col = np.full(n_users, -1, dtype=np.int64)
        self_col[active] = np.arange(len(active))
        rows = slice(None) if query_users is None else np.asarray(query_users, dtype=np.int64)

        def all_rows(m: sp.csr_matrix) -> sp.csr_matrix:
            return m if query_users is None else spread_rows(m, rows, n_users)

        # user-kNN on the positives (ordinary CF, for users with a history)
        ref = sp.csr_matrix(values[active], dtype=np.float32)
        sims = topk_distinct_queries(
            lambda q: topk_similarity_between(q, ref, k + 1, "cosine", n_threads=self.n_threads),
            sp.csr_matrix(values[rows], dtype=np.float32),
        )
        core["user_nbrs"] = all_rows(drop_self_truncate(sims, self_col[rows], k))
        lift_q = lift[rows]
        core["field_nbrs"] = [
            all_rows(
                self._profile_neighbors(lift_q[:, sl], lift[active][:, sl], g[sl], self_col[rows])
            )
            for sl in self._field_slices()
        ]

        # item-kNN CF with feature-similarity links for items without interactions
        s = topk_similarity(sp.csr_matrix(values.T), k, "cosine", n_threads=self.n_threads).astype(
            np.float32
        )
        core["S"] = s
        core["item_counts"] = item_counts
        core["kappa"] = self._kappa(s, self._unit_features(x), warm_items)
        x_bin = sp.csr_matrix(x, copy=True)
        x_bin.data[:] = 1.0
        core["content_map"] = content_map(x_bin, warm_items, values)
        return core

    @staticmethod
    def _unit_features(x: sp.csr_matrix) -> sp.csr_matrix:
        """Item features with unit L2 norm (for feature cosine between items)."""
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float64).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ x, dtype=np.float32)

    @staticmethod
    def _kappa(s: sp.csr_matrix, xu: sp.csr_matrix, warm_items: np.ndarray) -> float:
        """Scale of feature cosine to CF similarity: equal mean over pairs of warm items."""
        n_warm = int(warm_items.sum())
        if n_warm < 2 or s.nnz == 0:
            return 1.0
        total = np.asarray(xu[warm_items].sum(axis=0), dtype=np.float64).ravel()
        cos_mean = (total @ total - n_warm) / (n_warm * (n_warm - 1))
        cf_mean = float(s.sum()) / (n_warm * (n_warm - 1))
        return float(cf_mean / cos_mean) if cos_mean > 0 else 1.0

    def _prior(self, core: dict[str, Any], demo: sp.csr_matrix | None, n_rows: int) -> np.ndarray:
        """Per-row profile prior: feature neighbours' mean base profile, else the global one."""
        g = core["g"]
        prior = np.broadcast_to(g, (n_rows, len(g))).copy()
        if demo is not None and demo.nnz:
            w = row_normalize(demo)
            borrowed = np.asarray(w @ core["base_profiles"], dtype=np.float64)
            has = np.diff(w.indptr) > 0
            prior[has] = borrowed[has]
        return prior

    def _profiles_from(self, values: sp.csr_matrix, prior: np.ndarray, x: sp.csr_matrix):
        from featcf._products import csr_dense_product

        lam = float(self.profile_shrinkage)
        sums = csr_dense_product(values, x, n_threads=self.n_threads)
        n = row_sums(values)[:, None]
        out = (sums + lam * prior) / np.maximum(n + lam, _EPS)
        if lam == 0:
            out = np.where(n > 0, out, prior)
        return out

    def _lift(self, profiles: np.ndarray, g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.log((profiles + _EPS) / (g[None, :] + _EPS))
        lift[:, g <= 0] = 0.0
        return lift

    def _profile_neighbors(
        self, query: np.ndarray, ref: np.ndarray, g: np.ndarray, self_col: np.ndarray
    ) -> sp.csr_matrix:
        from featcf.similarity import topk_similarity_dense_between

        k = self.n_neighbors
        no_self = not (self_col >= 0).any()
        sims = topk_distinct_queries(
            lambda q: topk_distinct_refs(
                lambda rows, kk: topk_similarity_dense_between(
                    q, rows, kk, self.metric, weights=g, n_threads=self.n_threads
                ),
                ref,
                k if no_self else k + 1,
            ),
            query,
        )
        sims.data = np.maximum(sims.data, 0.0)
        sims.eliminate_zeros()
        return sims if no_self else drop_self_truncate(sims, self_col, k)

    # ================================================================== user state and terms
    def _user_state(
        self,
        core: dict[str, Any],
        history: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        user_idx: np.ndarray | None,
        user_features_ref: sp.csr_matrix | None,
    ) -> dict[str, Any]:
        """Per-user quantities for scoring: fitted users (user_idx) or folded-in ones."""
        from featcf.similarity import topk_similarity_between

        active = core["active"]
        n = row_sums(history)
        if user_idx is not None:
            demo = None if core["demo"] is None else core["demo"][user_idx]
            lift = np.asarray(core["lift"][user_idx], dtype=np.float64)
            nbrs = [m[user_idx] for m in core["field_nbrs"]]
            user_nbrs = core["user_nbrs"][user_idx]
        else:
            demo = None
            if user_features is not None and user_features_ref is not None:
                demo = topk_similarity_between(
                    user_features,
                    user_features_ref[active],
                    self.n_neighbors,
                    "cosine",
                    n_threads=self.n_threads,
                )
            x = self._item_blocks()
            prior = self._prior(core, demo, history.shape[0])
            profiles = self._profiles_from(history, prior, x)
            lift = self._lift(profiles, core["g"])
            user_nbrs = self._fold_in_user_neighbors(core, history)
            nbrs = self._fold_in_field_neighbors(core, lift)
        features = user_features
        if user_idx is not None and self.dataset_.user_features is not None:
            features = self.dataset_.user_features.matrix[user_idx]
        return {
            "history": history,
            "n": n,
            "demo": demo,
            "lift": lift,
            "nbrs": nbrs,
            "user_nbrs": user_nbrs,
            "features": features,
        }

    def _fold_in_user_neighbors(self, core: dict[str, Any], history: sp.csr_matrix):
        """Top-k cosine neighbours (among the core's active users) of new users' positives."""
        from featcf._products import csr_dense_product

        v_active = self._core_values(core)
        derived = core["_derived"]
        if "v_norms" not in derived:
            derived["v_norms"] = np.sqrt(row_sums(v_active, power=2))
        hist = history
        if hist.format != "csr" or hist.dtype != np.float32:
            hist = sp.csr_matrix(hist, dtype=np.float32)
        n_new, n_ref = hist.shape[0], v_active.shape[0]
        k = min(self.n_neighbors, n_ref)
        if hist.nnz == 0 or k == 0:
            return sp.csr_matrix((n_new, n_ref), dtype=np.float32)
        overlap = csr_dense_product(hist, derived["v_active_t"], n_threads=self.n_threads)
        h_norm = np.sqrt(row_sums(hist, power=2))
        den = h_norm[:, None] * derived["v_norms"][None, :]
        sims = np.divide(overlap, den, out=np.zeros_like(overlap), where=den > 0)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sims, top, axis=1)
        keep = vals > 0
        indptr = np.zeros(n_new + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=indptr[1:])
        return sp.csr_matrix(
            (vals[keep].astype(np.float32), top[keep], indptr), shape=(n_new, n_ref)
        )

    def _fold_in_field_neighbors(
        self, core: dict[str, Any], lift: np.ndarray
    ) -> list[sp.csr_matrix]:
        """Per field, the top-k profile neighbours (among active users) of folded-in users.

        The same as :meth:`_profile_neighbors` without a self column; the reference side
        (the active users' profiles) is prepared once per core.
        """
        from featcf.similarity import prepare_dense, topk_prepared

        derived = core.setdefault("_derived", {})
        if "field_refs" not in derived:
            ref_lift = np.asarray(core["lift"][core["active"]], dtype=np.float64)
            derived["field_refs"] = [
                prepare_dense(np.ascontiguousarray(ref_lift[:, sl]), self.metric, core["g"][sl])
                for sl in self._field_slices()
            ]
        out = []
        for sl, ref in zip(self._field_slices(), derived["field_refs"], strict=True):
            query = prepare_dense(
                np.ascontiguousarray(lift[:, sl], dtype=np.float64), self.metric, core["g"][sl]
            )
            sims = topk_prepared(query, ref, self.n_neighbors, n_threads=self.n_threads)
            if sims.nnz and sims.data.min() <= 0:  # dissimilar profiles are no neighbours
                sims.data = np.maximum(sims.data, 0.0)
                sims.eliminate_zeros()
            out.append(sims)
        return out

    def _core_values(self, core: dict[str, Any]) -> sp.csr_matrix:
        """Positives of the core's active users (the fitted model's, or a validation core's)."""
        derived = core.setdefault("_derived", {})
        if "v_active" not in derived:
            values = core.get("values")
            if values is None:
                values = self._values()
            v_active = sp.csr_matrix(values[core["active"]], dtype=np.float32)
            derived["v_active"] = v_active
            derived["v_active_t"] = sp.csr_matrix(v_active.T)
        return derived["v_active"]

    def _terms(
        self, core: dict[str, Any], values: sp.csr_matrix, state: dict[str, Any], items: np.ndarray
    ) -> np.ndarray:
        """Raw (unscaled) terms, shape (n_terms, n_users, n_items)."""
        from featcf._products import csr_dense_product, two_hop_dense_product

        names = core["names"]
        active = core["active"]
        hist = state["history"]
        n_users = hist.shape[0]
        derived = core.setdefault("_derived", {})
        if "item_share" not in derived:  # cached per core: the same for every query
            v_all = self._core_values(core)
            derived["item_share"] = np.asarray(v_all.mean(axis=0), dtype=np.float64).ravel()
            counts = core["item_counts"]
            derived["inv_counts"] = np.divide(
                1.0, counts, out=np.zeros_like(counts), where=counts > 0
            ).astype(np.float32)
        all_items = len(items) == values.shape[1] and bool(np.all(items == np.arange(len(items))))
        cols = None if all_items else items  # output columns of the product kernels
        v_active, v_active_t = derived["v_active"], derived["v_active_t"]
        item_share = derived["item_share"][items]
        out = np.zeros((len(names), n_users, len(items)), dtype=np.float64)

        def nbr_shares(ws: list[sp.csr_matrix]) -> list[np.ndarray]:
            """Share of each row's neighbours who have each item, for several neighbour
            matrices at once (one sparse product); rows without neighbours get the global
            share."""
            wn = row_normalize(*ws)
            block = csr_dense_product(wn, v_active, cols, self.n_threads)
            empty = np.diff(wn.indptr) == 0
            if empty.any():
                block[empty] = item_share
            return [block[j * n_users : (j + 1) * n_users] for j in range(len(ws))]

        # cf: mean similarity to the history; zero-history users use the feature neighbours'
        # histories (each normalised to sum 1) as a pseudo-history
        n = state["n"]
        zero = n == 0
        if zero.any() and state["demo"] is not None:
            wn = row_normalize(state["demo"][np.flatnonzero(zero)])
            pseudo = sp.csr_matrix(wn @ row_normalize(values[active]))
            hist = sp.csr_matrix(sp.vstack([hist[np.flatnonzero(~zero)], pseudo]))
            order = np.concatenate([np.flatnonzero(~zero), np.flatnonzero(zero)])
            hist = hist[np.argsort(order)]
            n = np.where(zero, 1.0, n)
        if hist.format != "csr" or hist.dtype != np.float32:
            hist = sp.csr_matrix(hist, dtype=np.float32)
        cf = self._cf_term(core, hist, items) / np.maximum(n, 1.0)[:, None]
        if "ease" in names:
            out[names.index("ease")] = self._ease_term(core, state, items, all_items)
        # co-occurrence: mean over the history of P(i | j) = #users with j and i / #users with j
        a = sp.csr_matrix(
            (hist.data * derived["inv_counts"][hist.indices], hist.indices, hist.indptr),
            shape=hist.shape,
        )
        co_counts = self._cooccurrence_counts(core)
        if co_counts is not None:  # one hop through the item x item counts
            cooc = csr_dense_product(a, co_counts, cols, self.n_threads)
        else:  # two hops: the history's buyers, then what they have
            cooc = two_hop_dense_product(a, v_active_t, v_active, cols, self.n_threads)
        out[names.index("cooccurrence")] = cooc / np.maximum(n, 1.0)[:, None]
        out[names.index("cf")] = cf
        user_nbrs = state["user_nbrs"]
        if zero.any() and state["demo"] is not None:
            # users without a history: their neighbours in user-feature space
            z_rows = np.flatnonzero(zero)
            keep_rows = sp.diags((~zero).astype(np.float32)) @ user_nbrs
            pick = sp.csr_matrix(
                (np.ones(len(z_rows), np.float32), (z_rows, np.arange(len(z_rows)))),
                shape=(len(zero), len(z_rows)),
            )
            user_nbrs = sp.csr_matrix(keep_rows + pick @ state["demo"][z_rows])
        field_names = core["fields"]
        shares = nbr_shares([user_nbrs, *state["nbrs"]])
        out[names.index("user_cf")] = shares[0]
        for f, name in enumerate(field_names):
            out[names.index(name)] = shares[f + 1]
        out[names.index("popularity")] = core["pop"][items][None, :]
        if "rating" in names:
            out[names.index("rating")] = core["quality"][items][None, :]
        if "demographics" in names:
            uf = state.get("features")
            if uf is not None and core["demo_lift"] is not None:
                lift_items = core["demo_lift"][:, items]
                uf_bin = sp.csr_matrix(uf, dtype=np.float32)
                uf_bin.data[:] = 1.0
                out[names.index("demographics")] = np.asarray(uf_bin @ lift_items, dtype=np.float64)
                xt = self._dense_item_blocks(derived)
                xt = xt if all_items else xt[:, items]
                per_value = np.asarray(uf_bin @ core["demo_field_lift"], dtype=np.float64)
                out[names.index("demographic_fields")] = per_value @ xt
        out[names.index("activity")] = np.log1p(state["n"])[:, None]
        if "content_map_t" not in derived:
            derived["content_map_t"] = np.ascontiguousarray(core["content_map"].T)
            derived["xt_bin"] = (self._dense_item_blocks(derived) > 0).astype(np.float64)
        coef = np.asarray(hist @ derived["content_map_t"], dtype=np.float64)  # (users, cols + 1)
        state["content_coef"] = coef  # for explanations
        xt_bin = derived["xt_bin"] if all_items else derived["xt_bin"][:, items]
        out[names.index("content_ridge")] = coef[:, :-1] @ xt_bin + coef[:, -1:]
        xt_items = self._dense_item_blocks(derived)
        xt_items = xt_items if all_items else xt_items[:, items]
        lift = state["lift"]
        for name, sl in zip(core["fields"], self._field_slices(), strict=True):
            out[names.index(f"content:{name}")] = lift[:, sl] @ xt_items[sl]
        return out

    def _dense_item_blocks(self, derived: dict[str, Any]) -> np.ndarray:
        """The normalised item blocks as a dense (columns x items) array, cached per core."""
        if "xt" not in derived:
            derived["xt"] = self._item_blocks().T.toarray()
        return derived["xt"]

    def _cooccurrence_counts(self, core: dict[str, Any]) -> sp.csr_matrix | None:
        """Item x item co-occurrence counts ``V^T V`` (cached per core) when they are small.

        Used when its size bound ``sum_u n_u^2`` is at most :data:`_COOCCURRENCE_MAX_NNZ`
        (MovieLens 100k: 1.3e7); larger data go through the two-hop product instead.
        """
        derived = core.setdefault("_derived", {})
        if "co_counts" not in derived:
            v = self._core_values(core)
            bound = float(np.sum(np.diff(v.indptr).astype(np.float64) ** 2))
            counts = None
            if bound <= _COOCCURRENCE_MAX_NNZ:
                counts = sp.csr_matrix(derived["v_active_t"] @ v, dtype=np.float32)
                counts.sort_indices()
            derived["co_counts"] = counts
        return derived["co_counts"]

    @staticmethod
    def _ease_term(
        core: dict[str, Any], state: dict[str, Any], items: np.ndarray, all_items: bool
    ) -> np.ndarray:
        """``h_u B + f_u B_F``: the users' own history (no pseudo-history) and features."""
        ease = core["ease"]
        hist = state["history"]
        if hist.format != "csr" or hist.dtype != np.float32:
            hist = sp.csr_matrix(hist, dtype=np.float32)
        out = np.asarray(hist @ (ease if all_items else ease[:, items]), dtype=np.float64)
        ease_f = core.get("ease_features")
        features = state.get("features")
        if ease_f is not None and features is not None:
            f = sp.csr_matrix(features, dtype=np.float32)
            out += np.asarray(f @ (ease_f if all_items else ease_f[:, items]), dtype=np.float64)
        return out

    def _cf_term(self, core: dict[str, Any], hist: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """Sum of item similarities between the history and ``items`` (users x items).

        Pairs of items with interactions use the item-kNN similarity ``S``; a pair involving
        an item without interactions uses ``kappa_ *`` the cosine of their feature vectors
        (over every history item, not only top-k neighbours).
        """
        from featcf._products import csr_dense_product

        derived = core.setdefault("_derived", {})
        if "cold_item" not in derived:
            cold_item = core["item_counts"] == 0
            derived["cold_item"] = cold_item
            derived["cold_idx"] = np.flatnonzero(cold_item)
            xu = self._unit_features(self._item_blocks())
            derived["xu"] = xu
            derived["xu_t"] = xu.T.toarray()
            derived["xu_cold"] = sp.csr_matrix(xu[derived["cold_idx"]])
        cold_item, cold_idx = derived["cold_item"], derived["cold_idx"]
        all_items = len(items) == core["S"].shape[1] and bool(
            np.all(items == np.arange(len(items)))
        )
        cf = csr_dense_product(hist, core["S"], None if all_items else items, self.n_threads)
        if len(cold_idx) == 0:
            return cf
        cold_cols = cold_item[items]
        hist_cold = hist[:, cold_idx]
        kappa = core["kappa"]
        if cold_cols.any():
            prof = np.asarray((hist @ derived["xu"]).todense())  # (users x columns)
            cf[:, cold_cols] = kappa * (prof @ derived["xu_t"][:, items[cold_cols]])
        if hist_cold.nnz > 0:
            prof_c = np.asarray((hist_cold @ derived["xu_cold"]).todense())
            warm_cols = ~cold_cols
            cf[:, warm_cols] += kappa * (prof_c @ derived["xu_t"][:, items[warm_cols]])
        return cf

    def _combine(
        self, terms: np.ndarray, n: np.ndarray, items: np.ndarray, core: dict[str, Any]
    ) -> np.ndarray:
        scaled = terms / core["scale"][:, None, None]
        w_users = core["band_weights"][_band_of(n)]  # (n_users, n_terms)
        scores = np.einsum("tui,ut->ui", scaled, w_users)
        cold = core["item_counts"][items] == 0
        if cold.any():
            a, b = core["cold_affine"]
            scores[:, cold] = a + b * np.einsum(
                "tui,t->ui", scaled[:, :, cold], core["cold_weights"]
            )
        return scores

    # ================================================================== fitting
    def _fit(self, dataset: Dataset) -> None:
        # tqdm.auto picks a notebook widget in Jupyter (and warns when ipywidgets is
        # missing); with the bar turned off the plain class is enough and stays silent.
        if self.show_progress:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        if dataset.item_features is None or not dataset.item_fields:
            raise ValueError(
                "FeatureCF needs item features (fields); build the Dataset with item_features, "
                "or use ItemKNN for interactions only"
            )
        self.__dict__.pop("_x_cache", None)
        self.__dict__.pop("_v_cache", None)
        rng = check_random_state(self.random_state)
        self.rating_data_ = bool(self._resolve_ratings(dataset))
        names = self._term_names(dataset)
        learn = not isinstance(self.weights, Mapping) and self.weights == "learn"
        given = None
        if isinstance(self.weights, Mapping):
            given = self._given_weights(names)
        elif self.weights == "uniform":
            given = self._given_weights(names, dict.fromkeys(names, 1.0))
        x = self._item_blocks()
        values = self._values()
        if values.nnz == 0:
            raise ValueError(
                "no positive interactions (check positive_threshold against the weights)"
            )
        uf = None if dataset.user_features is None else dataset.user_features.matrix
        stages = ["final model", "validation split", "validation model", "term scales",
                  "new-item rounds", "learn weights"]  # fmt: skip
        if not learn:
            stages = ["final model", "term scales"]
        bar = tqdm(total=len(stages), desc="FeatureCF", disable=not self.show_progress)
        try:
            bar.set_postfix_str(stages[0])
            core = self._build_core(values, uf, x)
            core["names"] = names
            core["fields"] = list(dataset.item_fields)
            bar.update()
            ease_l2 = None
            if learn:
                bar.set_postfix_str(stages[1])
                liked = None
                threshold = self._liked_threshold()
                if threshold is not None:
                    raw = sp.csr_matrix(dataset.interactions)
                    liked = np.asarray(raw[values.nonzero()]).ravel() >= threshold
                split = self._validation_split(values, rng, liked)
                bar.update()
                bar.set_postfix_str(stages[2])
                asked = np.flatnonzero(np.diff(split["targets"].indptr) > 0)
                val_core = self._build_core(split["train"], uf, x, query_users=asked)
                val_core["names"] = names
                val_core["fields"] = list(dataset.item_fields)
                if "ease" in names:
                    ease_l2 = self._attach_ease(val_core, split, uf, rng)
                    self._set_ease(core, values, uf, ease_l2)
                bar.update()
                bar.set_postfix_str(stages[3])
                scale = self._default_scales(core, values, rng)
                samples = self._validation_samples(val_core, split, uf, rng)
                bar.update()
                bar.set_postfix_str(stages[4])
                samples += self._cold_item_rounds(values, liked, uf, x, names, split, rng, ease_l2)
                bar.update()
                bar.set_postfix_str(stages[5])
                band_w, cold_w = self._learn_weights(samples, names, scale)
                bar.update()
            else:
                if "ease" in names:
                    ease_l2 = self._fixed_ease_l2(values)
                    self._set_ease(core, values, uf, ease_l2)
                bar.set_postfix_str(stages[1])
                scale = self._default_scales(core, values, rng)
                bar.update()
                band_w = np.tile(given, (len(BAND_EDGES), 1))
                cold_w = given.copy()
        finally:
            bar.close()
        self._set_core(core, names, scale, band_w, cold_w)
        self.ease_l2_ = None if ease_l2 is None else float(ease_l2)

    # ------------------------------------------------------------------ ease term
    def _fixed_ease_l2(self, values: sp.csr_matrix) -> float:
        """The given ``ease_l2``, or the default multiple of the mean positives per item."""
        if isinstance(self.ease_l2, str):  # "auto" without a validation split
            return EASE_L2_DEFAULT * mean_item_count(values)
        return float(self.ease_l2)

    @staticmethod
    def _set_ease(
        core: dict[str, Any], values: sp.csr_matrix, uf: sp.csr_matrix | None, l2: float
    ) -> None:
        gram, n_features = ease_gram(values, uf)
        core["ease"], core["ease_features"] = ease_from_gram(gram, l2, n_features)

    def _attach_ease(
        self,
        core: dict[str, Any],
        split: dict[str, Any],
        uf: sp.csr_matrix | None,
        rng: np.random.Generator,
    ) -> float:
        """Put the ``"ease"`` matrix into a validation core; return its L2 penalty.

        With ``ease_l2="auto"`` every multiple of :data:`EASE_L2_GRID` is tried and the one
        whose term alone ranks the hidden interactions of (up to 1,000) warm validation
        users best by nDCG@10 is kept.
        """
        from featcf.metrics import ndcg_at_k
        from featcf.similarity import topn_dense

        train = split["train"]
        gram, n_features = ease_gram(train, uf)
        if not isinstance(self.ease_l2, str):
            core["ease"], core["ease_features"] = ease_from_gram(
                gram, float(self.ease_l2), n_features
            )
            return float(self.ease_l2)
        targets = split["targets"]
        users = np.flatnonzero(np.diff(targets.indptr) > 0)
        if len(users) > 1000:
            users = np.sort(rng.choice(users, 1000, replace=False))
        base = mean_item_count(train)
        best: tuple[float, float, Any] | None = None
        for mult in EASE_L2_GRID if len(users) else (EASE_L2_DEFAULT,):
            b = ease_from_gram(gram, mult * base, n_features)
            if not len(users):
                best = (0.0, mult * base, b)
                break
            hist = train[users]
            scores = np.asarray(hist @ b[0], dtype=np.float32)
            if b[1] is not None:
                scores += np.asarray(sp.csr_matrix(uf[users]) @ b[1], dtype=np.float32)
            ranked, _ = topn_dense(scores, 10, exclude=hist, n_threads=self.n_threads)
            quality = float(np.nanmean(ndcg_at_k(ranked, targets[users], 10)))
            if best is None or quality > best[0]:
                best = (quality, mult * base, b)
        assert best is not None
        core["ease"], core["ease_features"] = best[2]
        return best[1]

    def _set_core(self, core, names, scale, band_w, cold_w) -> None:
        n_users = self.dataset_.n_users
        self.term_names_ = list(names)
        self.term_scale_ = np.asarray(scale, dtype=np.float64)
        self.band_weights_ = np.asarray(band_w, dtype=np.float64)
        self.cold_item_weights_ = np.asarray(cold_w, dtype=np.float64)
        self.cold_item_affine_ = np.asarray(
            self.__dict__.pop("_cold_affine", (0.0, 1.0)), dtype=np.float64
        )
        self.feature_weights_ = pd.Series(
            self.band_weights_[-1], index=pd.Index(names), name="weight"
        )
        self.active_users_ = core["active"]
        self.global_profile_ = core["g"]
        self.base_profiles_ = core["base_profiles"]
        self.user_profiles_ = core["lift"]
        self.popularity_ = core["pop"]
        self.popularity_coef_ = core["pop_coef"]
        self.item_counts_ = core["item_counts"]
        self.item_similarity_ = core["S"]
        self.ease_matrix_ = core.get("ease")
        self.ease_feature_matrix_ = core.get("ease_features")
        self.kappa_ = float(core["kappa"])
        self.content_map_ = core["content_map"]
        self.user_neighbors_ = core["user_nbrs"]
        self.field_neighbors_ = sp.csr_matrix(sp.vstack(core["field_nbrs"]), dtype=np.float32)
        self.demo_neighbors_ = core["demo"]
        self.demo_lift_ = core["demo_lift"]
        self.demo_field_lift_ = core["demo_field_lift"]
        self.item_quality_ = core["quality"]
        self.n_users_fit_ = int(n_users)

    def _core(self) -> dict[str, Any]:
        """The fitted state as the dict the term functions use (cached until it changes)."""
        key = tuple(
            (name, id(value))
            for name, value in self.__dict__.items()
            if name.endswith("_") and not name.startswith("_")
        )
        cached = self.__dict__.get("_core_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        core = self._make_core()
        self._core_cache = (key, core)
        return core

    def _make_core(self) -> dict[str, Any]:
        n_users = self.n_users_fit_
        nf = len(self.dataset_.item_fields)
        stacked = self.field_neighbors_
        return {
            "names": self.term_names_,
            "fields": list(self.dataset_.item_fields),
            "active": np.asarray(self.active_users_, dtype=np.int64),
            "g": self.global_profile_,
            "base_profiles": self.base_profiles_,
            "lift": self.user_profiles_,
            "pop": self.popularity_,
            "pop_coef": self.popularity_coef_,
            "item_counts": self.item_counts_,
            "S": self.item_similarity_,
            "ease": getattr(self, "ease_matrix_", None),
            "ease_features": getattr(self, "ease_feature_matrix_", None),
            "kappa": self.kappa_,
            "content_map": self.content_map_,
            "user_nbrs": self.user_neighbors_,
            "field_nbrs": [stacked[f * n_users : (f + 1) * n_users] for f in range(nf)],
            "demo": self.demo_neighbors_,
            "demo_lift": self.demo_lift_,
            "demo_field_lift": self.demo_field_lift_,
            "quality": self.item_quality_,
            "scale": self.term_scale_,
            "band_weights": self.band_weights_,
            "cold_weights": self.cold_item_weights_,
            "cold_affine": self.cold_item_affine_,
        }

    # ------------------------------------------------------------------ validation
    def _validation_split(
        self, values: sp.csr_matrix, rng: np.random.Generator, liked: np.ndarray | None
    ) -> dict:
        """Hide interactions, users and items; targets are the hidden *liked* interactions."""
        frac = float(self.validation_fraction)
        n_users, n_items = values.shape
        coo = values.tocoo()
        if liked is None:
            liked = np.ones(coo.nnz, dtype=bool)
        else:  # align with coo order (nonzero() follows the same canonical order)
            liked = np.asarray(liked, dtype=bool)
        counts_u = np.diff(values.indptr)
        item_counts = np.bincount(coo.col, minlength=n_items)
        # cold validation items: a share of the items with interactions
        warm_items = np.flatnonzero(item_counts > 0)
        n_cold_items = (
            max(1, int(round(0.5 * frac * len(warm_items)))) if len(warm_items) >= 5 else 0
        )
        cold_items = rng.choice(warm_items, size=n_cold_items, replace=False)
        is_cold_item = np.zeros(n_items, dtype=bool)
        is_cold_item[cold_items] = True
        # cold validation users: a share of all users with interactions, so the zero-history
        # band sees customers like the real new ones (in a shop, most hold one product);
        # the bands that reveal 1-5 interactions use those who have more than that
        eligible = np.flatnonzero(counts_u >= 1)
        n_cold_users = int(round(frac * len(eligible)))
        cold_users = rng.choice(eligible, size=n_cold_users, replace=False)
        is_cold_user = np.zeros(n_users, dtype=bool)
        is_cold_user[cold_users] = True
        # warm users: hold out `frac` of each user's interactions (keep at least one)
        order = rng.permutation(coo.nnz)
        row_sorted = np.lexsort((order, coo.row))
        r = coo.row[row_sorted]
        starts = values.indptr[:-1]
        rank = np.arange(coo.nnz) - starts[r]
        n_hold = np.floor(frac * counts_u + rng.random(n_users)).astype(np.int64)
        n_hold = np.minimum(n_hold, counts_u - 1)
        held = rank < n_hold[r]
        held_entries = row_sorted[held]
        held_mask = np.zeros(coo.nnz, dtype=bool)
        held_mask[held_entries] = True
        drop = held_mask | is_cold_user[coo.row] | is_cold_item[coo.col]
        train = sp.csr_matrix(
            (coo.data[~drop], (coo.row[~drop], coo.col[~drop])), shape=values.shape
        )
        warm_target = held_mask & ~is_cold_user[coo.row] & ~is_cold_item[coo.col] & liked
        targets = sp.csr_matrix(
            (
                np.ones(int(warm_target.sum()), np.float32),
                (coo.row[warm_target], coo.col[warm_target]),
            ),
            shape=values.shape,
        )
        cold_hit = is_cold_item[coo.col] & liked
        cold_item_targets = sp.csr_matrix(
            (np.ones(int(cold_hit.sum()), np.float32), (coo.row[cold_hit], coo.col[cold_hit])),
            shape=values.shape,
        )
        marked = sp.csr_matrix(
            (1.0 + liked.astype(np.float32), (coo.row, coo.col)), shape=values.shape
        )
        return {
            "train": sp.csr_matrix(train, dtype=np.float32),
            "full": values,
            "marked": marked,
            "targets": targets,
            "cold_users": np.sort(cold_users),
            "cold_items": np.sort(cold_items),
            "cold_item_targets": cold_item_targets,
        }

    def _validation_samples(
        self, core: dict, split: dict, uf: sp.csr_matrix | None, rng: np.random.Generator
    ) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
        """Validation groups: terms of warm, cold (0, 1-2, 3-5 revealed) users and hidden items."""
        full = split["full"]
        train = split["train"]
        n_users, n_items = full.shape
        cold_items = split["cold_items"]
        is_cold_item = np.zeros(n_items, dtype=bool)
        is_cold_item[cold_items] = True
        warm_candidates = np.flatnonzero(~is_cold_item & (core["item_counts"] > 0))
        samples = []
        max_users = self._val_max_users
        max_candidates = self._val_max_candidates
        if len(warm_candidates) > max_candidates:
            warm_candidates = np.sort(rng.choice(warm_candidates, max_candidates, replace=False))
        if len(cold_items) > max_candidates // 2:
            cold_items = np.sort(rng.choice(cold_items, max_candidates // 2, replace=False))
        # warm users
        warm_users = np.flatnonzero(np.diff(split["targets"].indptr) > 0)
        if len(warm_users) > max_users:
            warm_users = np.sort(rng.choice(warm_users, max_users, replace=False))
        if len(warm_users):
            state = self._user_state(core, train[warm_users], None, warm_users, None)
            candidates = np.concatenate([warm_candidates, cold_items])
            targets = split["targets"][warm_users] + split["cold_item_targets"][warm_users]
            samples += self._pairs(
                core, train, state, warm_users, targets, full, candidates, rng, "band",
                n_cold=len(cold_items),
            )  # fmt: skip
        # cold users: reveal 0, 1-2, 3-5 interactions and fold in
        cold_users = split["cold_users"]
        if len(cold_users) > max_users // 2:
            cold_users = np.sort(rng.choice(cold_users, max_users // 2, replace=False))
        is_cold_item = np.zeros(n_items, dtype=bool)
        is_cold_item[split["cold_items"]] = True
        if len(cold_users):
            full_c = split["marked"][cold_users]
            full_c = sp.csr_matrix(full_c.multiply(~is_cold_item[None, :]), dtype=np.float32)
            full_c.eliminate_zeros()
            for k_choices in ((0,), (1, 2), (3, 4, 5)):
                ks = rng.choice(k_choices, size=len(cold_users))
                revealed, rest = self._reveal(full_c, ks, rng)
                revealed.data[:] = 1.0
                rest.data = (rest.data > 1.5).astype(np.float32)
                rest.eliminate_zeros()
                ok = np.diff(rest.indptr) > 0
                if not ok.any():
                    continue
                users = cold_users[ok]
                hist = revealed[ok]
                feats = None if uf is None else sp.csr_matrix(uf[users], dtype=np.float32)
                state = self._user_state(core, hist, feats, None, uf)
                samples += self._pairs(
                    core, train, state, users, rest[ok], full, warm_candidates, rng, "band",
                )  # fmt: skip
        return samples

    def _cold_item_rounds(self, values, liked, uf, x, names, split, rng, ease_l2=None) -> list:
        """Extra validation rounds for items without interactions in small catalogues.

        Each round hides all interactions of another group of items (disjoint from the
        groups before), rebuilds the model without them and records every user's terms, so
        the weights for new items are learned on enough items (e.g. 22 insurance products).
        """
        n_users, n_items = values.shape
        item_counts = np.bincount(values.indices, minlength=n_items)
        warm = np.flatnonzero(item_counts > 0)
        used = set(split["cold_items"].tolist())
        per_round = max(1, len(split["cold_items"]))
        target = min(len(warm), 40)
        out: list = []
        coo = values.tocoo()
        liked_mask = np.ones(coo.nnz, dtype=bool) if liked is None else np.asarray(liked)
        for _ in range(6):
            if len(used) >= target:
                break
            pool = np.array([i for i in warm if i not in used], dtype=np.int64)
            if len(pool) == 0:
                break
            group = np.sort(rng.choice(pool, min(per_round, len(pool)), replace=False))
            used.update(group.tolist())
            hidden = np.zeros(n_items, dtype=bool)
            hidden[group] = True
            drop = hidden[coo.col]
            train = sp.csr_matrix(
                (coo.data[~drop], (coo.row[~drop], coo.col[~drop])),
                shape=values.shape,
                dtype=np.float32,
            )
            hit = drop & liked_mask
            targets = sp.csr_matrix(
                (np.ones(int(hit.sum()), np.float32), (coo.row[hit], coo.col[hit])),
                shape=values.shape,
            )
            users = np.arange(n_users)
            if n_users > 1500:
                users = np.sort(rng.choice(n_users, 1500, replace=False))
            core = self._build_core(
                train, uf, x, query_users=users if len(users) < n_users else None
            )
            core["names"] = names
            core["fields"] = list(self.dataset_.item_fields)
            if ease_l2 is not None:
                self._set_ease(core, train, uf, ease_l2)
            warm_c = np.flatnonzero(~hidden & (item_counts > 0))
            if len(warm_c) > 400:
                warm_c = np.sort(rng.choice(warm_c, 400, replace=False))
            candidates = np.concatenate([warm_c, group])
            state = self._user_state(core, train[users], None, users, None)
            out += self._pairs(
                core, train, state, users, targets[users], values, candidates, rng, "band",
                n_cold=len(group),
            )  # fmt: skip
        return out

    @staticmethod
    def _reveal(
        matrix: sp.csr_matrix, ks: np.ndarray, rng: np.random.Generator
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        coo = matrix.tocoo()
        order = np.lexsort((rng.random(coo.nnz), coo.row))
        rank = np.arange(coo.nnz) - matrix.indptr[:-1][coo.row[order]]
        shown = np.zeros(coo.nnz, dtype=bool)
        shown[order] = rank < ks[coo.row[order]]

        def part(mask):
            return sp.csr_matrix(
                (coo.data[mask], (coo.row[mask], coo.col[mask])),
                shape=matrix.shape,
                dtype=np.float32,
            )

        return part(shown), part(~shown)

    def _pairs(self, core, values, state, users, targets, full, candidates, rng, kind, n_cold=0):
        """One group of validation users: their terms over the candidates, targets, seen.

        The last ``n_cold`` candidates are validation items whose interactions were hidden.
        """
        terms = self._terms(core, values, state, candidates).astype(np.float32)  # (T, U, C)
        tgt = sp.csr_matrix(sp.csr_matrix(targets)[:, candidates], dtype=np.float32)
        seen = sp.csr_matrix(sp.csr_matrix(full[users])[:, candidates], dtype=np.float32)
        if tgt.nnz == 0:
            return []
        tag = _band_of(state["n"])
        cold_cols = np.zeros(len(candidates), dtype=bool)
        if n_cold:
            cold_cols[-n_cold:] = True
        return [(tag, terms, tgt, seen, cold_cols)]

    def _learn_weights(self, samples, names, scale) -> tuple[np.ndarray, np.ndarray]:
        """Non-negative weights per history band and for items without interactions.

        Minimises, jointly over all weight vectors, two listwise softmax losses on the
        validation users: per user, ``-sum_{p in targets} log softmax_items(s_u)[p]`` over the
        items the user has not interacted with (a smooth surrogate of nDCG: ranks items for
        a user), and per item, the same over users (ranks the audience of a product, and
        makes scores comparable across users). Users whose history is in band
        ``_set_loss_min_band`` or above (6+ positives) are ranked with the set likelihood
        ``-log sum_{p in targets} softmax_items(s_u)[p]`` instead, weighted by the mean
        number of targets per user: with many hidden positives the cross-entropy spends
        the weights on lifting the hardest ones, while top-10 metrics reward putting some
        of them first (MovieLens dev splits: warm nDCG@10 +0.011, cold users unchanged).
        Items whose interactions were hidden are scored with their own weight vector.
        Neighbouring history bands are tied by a small penalty on their difference, so
        sparse bands borrow from their neighbours. Last, since the losses are surrogates,
        each band keeps uniform weights instead when they rank its validation users better
        by nDCG@10 (MovieLens dev splits: the 1-2 and 3-5 bands of new customers do, given
        3 nDCG@10 0.499 -> 0.516).
        """
        from scipy.optimize import minimize

        n_terms = len(names)
        n_bands = len(BAND_EDGES)
        if not samples:
            w = np.ones(n_terms)
            return np.tile(w, (n_bands, 1)), w
        mask = np.ones(n_terms, dtype=bool)
        if not self.include_cf:  # "ease" is not among the terms then
            mask[names.index("cf")] = False
            mask[names.index("user_cf")] = False
        n_free = int(mask.sum())
        blocks = []
        for tag, terms, tgt, seen, cold_cols in samples:
            scaled = terms[mask] / scale[mask, None, None].astype(np.float32)
            scaled = np.ascontiguousarray(scaled.transpose(1, 0, 2))  # (U, T, C)
            pos = tgt.toarray() > 0
            blocked = seen.toarray() > 0
            blocked &= ~pos
            blocks.append((tag, scaled, pos, blocked, cold_cols))
        n_pos = sum(int(pos.sum()) for _, _, pos, _, _ in blocks)
        if n_pos < _MIN_BAND_POSITIVES:
            w = np.where(mask, 1.0, 0.0)
            return np.tile(w, (n_bands, 1)), w
        n_rows_pos = sum(int((pos.sum(axis=1) > 0).sum()) for _, _, pos, _, _ in blocks)
        mean_cnt = float(n_pos / max(n_rows_pos, 1))
        item_share = self._item_loss_share
        cold_share = self._cold_item_loss_share
        band_ids = np.arange(n_bands)
        tie = 0.05

        def unpack(theta):
            w = theta.reshape(n_bands + 1, n_free)
            return w[:n_bands], w[n_bands]

        def objective(theta):
            band_w, cold_w = unpack(theta)
            total = 0.0
            g_band = np.zeros_like(band_w)
            g_cold = np.zeros_like(cold_w)
            for tag, scaled, pos, blocked, cold_cols in blocks:
                w_users = band_w[tag].astype(np.float32)  # (U, T)
                z = np.matmul(w_users[:, None, :], scaled)[:, 0, :]
                if cold_cols.any():
                    z[:, cold_cols] = np.matmul(cold_w.astype(np.float32), scaled[:, :, cold_cols])
                grad = np.zeros(z.shape, dtype=np.float32)
                # per user: warm items and hidden items ranked separately
                for cols in (~cold_cols, cold_cols):
                    if not cols.any():
                        continue
                    loss, g = _softmax_loss(
                        z[:, cols], pos[:, cols], blocked[:, cols], 1,
                        tag >= self._set_loss_min_band, mean_cnt,
                    )  # fmt: skip
                    total += loss
                    grad[:, cols] += g
                # per item: the audience over users
                for cols, share in ((~cold_cols, item_share), (cold_cols, cold_share)):
                    if not cols.any():
                        continue
                    loss, g = _softmax_loss(z[:, cols], pos[:, cols], blocked[:, cols], 0)
                    total += share * loss
                    grad[:, cols] += share * g
                g32 = grad.astype(np.float32)
                warm_g = np.where(cold_cols[None, :], np.float32(0.0), g32)
                per_user = np.matmul(scaled, warm_g[:, :, None])[:, :, 0]
                # sum per band (a one-hot product: np.add.at is slow)
                g_band += (tag[None, :] == band_ids[:, None]).astype(np.float64) @ per_user
                if cold_cols.any():
                    cold_g = np.where(cold_cols[None, :], g32, np.float32(0.0))
                    g_cold += np.matmul(scaled, cold_g[:, :, None])[:, :, 0].sum(axis=0)
            total /= n_pos
            g_band /= n_pos
            g_cold /= n_pos
            diff = band_w[1:] - band_w[:-1]
            total += tie * float((diff**2).sum()) + 1e-4 * float(theta @ theta)
            g_band[1:] += 2 * tie * diff
            g_band[:-1] -= 2 * tie * diff
            grad = np.concatenate([g_band.ravel(), g_cold]) + 2e-4 * theta
            return total, grad

        theta0 = np.full((n_bands + 1) * n_free, 0.5)
        res = minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, None)] * theta0.size,
            options={"maxiter": 100},
        )
        band_free, cold_free = unpack(np.maximum(res.x, 0.0))
        band_w = np.zeros((n_bands, n_terms))
        band_w[:, mask] = band_free
        cold_w = np.zeros(n_terms)
        cold_w[mask] = cold_free
        for w in (*band_w, cold_w):
            if not (w > 0).any():
                w[names.index("popularity")] = 1.0
        # the loss is a surrogate: per band, keep uniform weights where they rank the
        # validation users better by nDCG@10 itself
        uniform = mask.astype(np.float64)
        for b in range(n_bands):
            if _band_ndcg(blocks, b, uniform[mask]) > _band_ndcg(blocks, b, band_w[b][mask]):
                band_w[b] = uniform
        # items without interactions: an affine map puts their scores on the warm items'
        # scale, new_item_shift standard deviations below the warm mean
        warm_z, cold_z = [], []
        for tag, scaled, _pos, blocked, cold_cols in blocks:
            if not cold_cols.any():
                continue
            zw = np.matmul(band_w[tag][:, mask].astype(np.float32)[:, None, :], scaled)[:, 0, :]
            zc = np.matmul(cold_w[mask].astype(np.float32), scaled)
            warm_z.append(zw[~blocked & ~cold_cols[None, :]])
            cold_z.append(zc[~blocked & cold_cols[None, :]])
        affine = np.array([0.0, 1.0])
        if warm_z and sum(len(c) for c in cold_z):
            wz, cz = np.concatenate(warm_z), np.concatenate(cold_z)
            slope = wz.std() / cz.std() if cz.std() > 0 else 1.0
            level = wz.mean() - float(self.new_item_shift) * wz.std()
            affine = np.array([level - slope * cz.mean(), slope])
        self._cold_affine = affine
        return band_w, cold_w

    def _default_scales(self, core, values, rng) -> np.ndarray:
        """Standard deviation of every term over (a sample of) users x items."""
        n_users, n_items = values.shape
        users = np.arange(n_users)
        if n_users > 300:
            users = np.sort(rng.choice(n_users, 300, replace=False))
        items = np.arange(n_items)
        if n_items > 2000:
            items = np.sort(rng.choice(n_items, 2000, replace=False))
        state = self._user_state(core, values[users], None, users, None)
        terms = self._terms(core, values, state, items).reshape(len(core["names"]), -1)
        scale = terms.std(axis=1)
        return np.where(scale > 1e-12, scale, 1.0)

    # ================================================================== scoring hooks
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        core = self._core()
        values = self._values()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        state = self._user_state(core, values[user_idx], None, user_idx, None)
        terms = self._terms(core, values, state, np.asarray(item_idx, dtype=np.int64))
        return self._combine(terms, state["n"], item_idx, core).astype(np.float32)

    def _score_new(
        self, history: sp.csr_matrix, user_features: sp.csr_matrix | None, item_idx: np.ndarray
    ) -> np.ndarray:
        core = self._core()
        values = self._values()
        hist = self._positive_values(history)
        ref = None if self.dataset_.user_features is None else self.dataset_.user_features.matrix
        state = self._user_state(core, hist, user_features, None, ref)
        terms = self._terms(core, values, state, np.asarray(item_idx, dtype=np.int64))
        return self._combine(terms, state["n"], item_idx, core).astype(np.float32)

    def _extend_items(self, n_new: int) -> None:
        if n_new == 0:
            return
        self.__dict__.pop("_x_cache", None)
        self.__dict__.pop("_v_cache", None)
        x = self._item_blocks()
        n_items = x.shape[0]
        new = np.arange(n_items - n_new, n_items)
        pop_new = predict_pop(self.popularity_coef_, x[new]).astype(np.float32)
        self.popularity_ = np.concatenate([self.popularity_, pop_new])
        self.item_counts_ = np.concatenate([self.item_counts_, np.zeros(n_new)])
        if self.item_quality_ is not None:
            self.item_quality_ = np.concatenate([self.item_quality_, np.zeros(n_new, np.float32)])
        if self.demo_lift_ is not None:
            pad = np.zeros((self.demo_lift_.shape[0], n_new), dtype=np.float32)
            self.demo_lift_ = np.hstack([self.demo_lift_, pad])
        s = sp.csr_matrix(self.item_similarity_, dtype=np.float32, copy=True)
        s.resize((n_items, n_items))
        self.item_similarity_ = s
        if getattr(self, "ease_matrix_", None) is not None:
            self.ease_matrix_ = np.pad(self.ease_matrix_, ((0, n_new), (0, n_new)))
        if getattr(self, "ease_feature_matrix_", None) is not None:
            self.ease_feature_matrix_ = np.pad(self.ease_feature_matrix_, ((0, 0), (0, n_new)))
        self.content_map_ = np.pad(self.content_map_, ((0, 0), (0, n_new)))

    # ================================================================== explanation
    def _explain(self, user: int, item: int) -> pd.DataFrame:
        core = self._core()
        values = self._values()
        users = np.array([user], dtype=np.int64)
        items = np.array([item], dtype=np.int64)
        state = self._user_state(core, values[users], None, users, None)
        terms = self._terms(core, values, state, items)[:, 0, 0]
        n = state["n"]
        cold = core["item_counts"][item] == 0
        w = core["cold_weights"] if cold else core["band_weights"][_band_of(n)[0]]
        level, slope = core["cold_affine"] if cold else (0.0, 1.0)
        w = w * slope  # items without interactions: scores mapped by the affine level
        contrib = w * terms / core["scale"]
        names = self.term_names_
        x = self._item_blocks()
        rows: list[tuple[str, Any, Any, float]] = []
        if cold:
            rows.append(("new_item_level", None, None, float(level)))
        hist = values[user]
        top_item = None
        if hist.nnz:
            sims = np.asarray(core["S"][hist.indices][:, [item]].todense()).ravel()
            if (sims > 0).any():
                top_item = str(self.dataset_.item_ids[hist.indices[int(np.argmax(sims))]])
        rows.append(("cf", None, top_item, float(contrib[names.index("cf")])))
        if "ease" in names:
            top_ease = None
            if hist.nnz:
                weights = core["ease"][hist.indices, item]
                if (weights > 0).any():
                    top_ease = str(self.dataset_.item_ids[hist.indices[int(np.argmax(weights))]])
            # the history's share of the regression, and the user features' share
            t_ease = names.index("ease")
            feature_part = 0.0
            features = state.get("features")
            if core.get("ease_features") is not None and features is not None:
                f_row = sp.csr_matrix(features, dtype=np.float32)
                raw = float(np.asarray(f_row @ core["ease_features"][:, [item]]).ravel()[0])
                feature_part = float(w[t_ease] / core["scale"][t_ease] * raw)
            rows.append(("ease", None, top_ease, float(contrib[t_ease]) - feature_part))
            rows.append(("demographics", "ease", None, feature_part))
        rows.append(("user_cf", None, None, float(contrib[names.index("user_cf")])))
        rows.append(("cooccurrence", None, None, float(contrib[names.index("cooccurrence")])))
        rows.append(("popularity", None, None, float(contrib[names.index("popularity")])))
        if "rating" in names:
            rows.append(("rating", None, None, float(contrib[names.index("rating")])))
        rows.append(("activity", None, None, float(contrib[names.index("activity")])))
        if "demographics" in names:
            rows.append(("demographics", None, None, float(contrib[names.index("demographics")])))
            rows.append(
                (
                    "demographics",
                    "item fields",
                    None,
                    float(contrib[names.index("demographic_fields")]),
                )
            )
        lift = state["lift"][0]
        coef = state["content_coef"][0]
        t_cr = names.index("content_ridge")
        factor_cr = w[t_cr] / core["scale"][t_cr]
        rows.append(("content_level", None, None, float(factor_cr * coef[-1])))
        for name, field in self.dataset_.item_fields.items():
            sl = field.columns
            t_nb = names.index(name)
            t_ct = names.index(f"content:{name}")
            row = x[item, sl]
            if row.nnz == 0:
                rows.append(("field", name, None, float(contrib[t_nb] + contrib[t_ct])))
                continue
            factor_ct = w[t_ct] / core["scale"][t_ct]
            for col, share in zip(row.indices, row.data, strict=True):
                value = field.values[col]
                part = float(
                    contrib[t_nb] * share
                    + factor_ct * share * lift[sl][col]
                    + factor_cr * coef[sl][col]
                )
                rows.append(("field", name, value, part))
        return pd.DataFrame(rows, columns=list(Columns.EXPLANATION))
