"""The FeatureCF estimator: its parameters and the orchestration of the steps.

The parameters are checked by ``_params``. Fitting reads the Dataset once (``_inputs``),
builds the core (``_core``), weighs the terms (``_weights``: one weight set ranks
products for a customer, one customers for a product) and keeps the typed result
(``_state.Fitted``); queries score through ``_users`` and ``_terms``, explanations through
``_explain``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._progress import Stages, resolve_show_progress
from featcf._schema import Spec
from featcf._validation import check_random_state
from featcf.data.dataset import Dataset
from featcf.data.features import FeatureMatrix
from featcf.models._reasons import PairQuery, item_display_names
from featcf.models._similar import ItemQuery, top_k_rows
from featcf.models.base import BaseRecommender
from featcf.models.feature_cf._core import build_core, extend_core
from featcf.models.feature_cf._explain import Vocabulary, explain_pairs
from featcf.models.feature_cf._inputs import Settings, positives, read_inputs, resolve_ratings
from featcf.models.feature_cf._interests import interest_profiles, relabel_stated
from featcf.models.feature_cf._neighbours import reference_rank
from featcf.models.feature_cf._params import check_params, given_vector, learning_of, settings_of
from featcf.models.feature_cf._similar import (
    item_parts,
    item_similarities,
    user_parts,
    user_similarities,
)
from featcf.models.feature_cf._state import (
    Fitted,
    FittedAttribute,
    check_state,
    fitted_from_state,
    fitted_or_raise,
    make_scorer,
    state_dict,
    state_schema,
)
from featcf.models.feature_cf._terms import score, term_names
from featcf.models.feature_cf._updates import updated_fitted
from featcf.models.feature_cf._users import fitted_users, folded_users
from featcf.models.feature_cf._weights import fit_given, fit_learned

__all__ = ["FeatureCF"]

#: progress-bar stages of a fit that learns the weights (see ``fit_learned``), and of one
#: with given weights (``fit_given``)
_LEARNED_STAGES = (
    "final model",
    "validation split",
    "validation model",
    "term scales",
    "new-item rounds",
    "new-customer rounds",
    "learn weights",
)
_GIVEN_STAGES = ("final model", "term scales")


class FeatureCF(BaseRecommender):
    """Feature-based collaborative filtering (FBCF) with learned non-negative field weights.

    For user ``u`` and item ``i``::

        score(u, i) = sum_t w_t(band(n_u)) * T_t(u, i) / scale_t

    over the terms ``t`` described in :mod:`featcf.models.feature_cf`: item-kNN, item-item
    regression (EASE) and user-kNN CF (``"cf"``, ``"ease"``, ``"user_cf"``), co-occurrence,
    a popularity prior, user activity, rating quality (rating data), demographic lifts
    (with user features), a learned affinity of the users' features and purchases for the
    item's field values (``"affinity"``), and for every item field ``f`` a field
    neighbourhood score ``"<f>"`` (user-kNN under the similarity of the users' attribute
    profiles ``P_u^f``) and a content affinity ``"content:<f>"``. The profile ``P_u^f`` is
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
    for audiences), minimised under ``w >= 0`` by L-BFGS-B with neighbouring bands tied by
    a small penalty (the band weights first, then the new-item weights: the loss separates,
    so the new items' terms do not enter the band weights' minimisation). Since that loss is
    a surrogate, each band's weights are then searched on nDCG@10 of its validation users
    itself (uniform weights, every term alone, and scipy's Powell search from the two best
    of these; the bands of 1-5 positives are
    searched on up to 600 new customers each where the loss folds in 150: the split's other
    cold users and, in datasets with few users, rounds that hide further ones). The search
    is cross-fitted: it runs on each half of the band's validation users, and the two
    halves' weights, averaged, replace the reference (uniform weights when they rank the
    band's validation users at least as well as the surrogate's, else the surrogate's)
    only when their paired gain on the half each did *not* see is two standard errors
    above zero. A search judged on the users it climbed finds gains in pure noise; judged
    on unseen users it does not, so weights do not follow validation noise. Every term
    alone is a candidate on each half, so a band whose single term ranks clearly better
    than the reference moves. The stated-interest rows are searched on all their
    validation customers and judged on them (cross-fitted, they ranked worse).
    With user features, the shrinkage of the demographic lifts (pseudo-customers pulling
    ``P(item | feature value)`` towards ``P(item)``) is picked on the validation customers
    known only by their features.
    With rating data, the positives to rank are the *liked* interactions (rating at least
    ``positive_threshold``, by default the mean rating).

    The search looks at one customer's products only, and its moves cost the audiences, so
    customers are ranked for a product (:meth:`recommend_users`, ``retention.announce``,
    ``score_users(..., across="users")``) with the surrogate's weights, whose per-item loss
    fits that direction (``audience_band_weights_``).

    **Items without interactions** (cold catalogue items, products added with
    :meth:`add_items`) are scored with their own learned weight vector
    (``cold_item_weights_``: content, feature-similarity CF, predicted popularity,
    demographic field lifts) and put on the warm items' scale by an affine map
    (``cold_item_affine_``) that places their mean ``new_item_shift`` standard deviations
    below the warm items' mean: an item without interactions may be new or unpopular, so by
    default it surfaces only when it fits the user well (lower ``new_item_shift`` to promote
    new products).

    **Explanations** (:meth:`explain`) list one row per term (per item field one
    ``part="field"`` row per value the item has), plus the level of the new-item map
    (``"new_item_level"``); the contributions sum to :meth:`predict`.
    Every row has a plain-language ``label``, and ``reasons=True`` on the recommendation
    calls joins the largest positive labels into one line (see the explanations guide).

    **Similar products and customers** (:meth:`similar_items`, :meth:`similar_users`)
    weigh similarities the model uses by the learned weights: per-field feature cosine plus
    item-kNN co-purchases for products (a new product is compared by its features), and
    attribute profiles, purchases and customer features for customers (see
    ``featcf.models.feature_cf._similar``).

    **partial_fit updates** (:meth:`partial_fit`): new products as :meth:`add_items` adds
    them; the positives, active customers, ``item_counts_`` and popularity; and the state
    of every touched customer, computed against the model as it was just before the update
    (a new customer exactly as the fold-in of :meth:`recommend_new_users` computes it, a
    known one as the fit does). The learned parts stay until the next fit (weights, term
    scales, item-kNN similarities, regressions, demographic models, and the neighbour rows
    of untouched customers). A customer registered with demographics only gets the items
    and order ``recommend_new_users`` gave before the update (scores equal up to float32
    rounding); one registered with interactions also moves the shared parts those
    interactions refresh (see the live-updates guide and ``feature_cf._updates``).

    The fitted attributes are read-only views of the typed fitted state (see
    ``featcf.models.feature_cf._state``), built at fit, at load and by :meth:`add_items`;
    hyper-parameters changed after a fit take effect at the next fit.

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
        keys among ``term_names_`` (``"cf"``, ``"ease"``, ``"user_cf"``, ``"cooccurrence"``,
        ``"popularity"``, ``"activity"``, ``"rating"``, ``"demographics"``,
        ``"demographic_fields"``, ``"content_ridge"``, ``"affinity"``, the item field
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
    exclude_terms : sequence of str, default ()
        Terms (names of ``term_names_``) held at weight 0 for every band and for new
        items, with learned, uniform and given weights alike: the model without them (for
        ablations). They stay in ``term_names_`` with weight 0. An unknown name raises
        ``ValueError`` at fit.
    validation_fraction : float, default 0.2
        Share of positives (and of users) hidden to learn the weights.
    random_state : None, int or numpy.random.Generator
        Seeds the validation split.
    show_progress : bool or None, default None
        A progress bar over the fit stages. None (auto) draws it when the output is a
        terminal or a Jupyter notebook and not in logs, pipes or CI output, where a bar
        becomes one long line of carriage-return updates; True always draws it, False never does.
    n_threads : int, optional
        numba threads for the similarity kernels (default: all).
    max_reference_users : int or None, default 6000
        Most users searched as neighbours at fit. Every user's neighbours (per field, in
        user-kNN CF and in user-feature space) are found among the users with positives,
        or, when there are more of those than this, among a random sample of this many
        (seeded by ``random_state``; the validation split is the same as without the
        sample): the neighbour searches then cost ``users x max_reference_users`` and the
        fit grows linearly with the customers instead of with the square of their distinct
        profiles. None searches among all (exact; quadratic). New customers folded in at
        query time search all users with positives. The accuracy cost of smaller samples on
        MovieLens and CoIL is measured in ``benchmarks/results/reference_users.md``.

    Attributes
    ----------
    feature_weights_ : pandas.Series
        Weights of the terms for warm users (history of 21+), indexed by term name. They
        apply to the scaled terms (``term / term_scale_``), so they are comparable across
        terms. They depend on the validation split, hence on ``random_state``. On the
        synthetic shop, each band's weights as shares of the band's total move by at most
        :data:`~featcf.models.feature_cf.WEIGHT_SHARE_TOLERANCE` (0.16) between random
        states (tested; measured over ``random_state`` 0-4 with 600 customers: 0.152).
        On MovieLens 100k they move much more (shares up to 0.46 apart over
        ``random_state`` 0-4, e.g. ``"ease"`` against ``"content:genre"``) while the
        accuracy barely does (given-1 nDCG@10 0.454-0.465 on one split, against
        0.465-0.497 between split seeds): several weightings rank about equally well, so
        read a single weight with that spread in mind.
    band_weights_ : numpy.ndarray of shape (5, n_terms)
        Weights per history-length band (rows follow :data:`~featcf.models.feature_cf.BAND_EDGES`).
    cold_item_weights_ : numpy.ndarray of shape (n_terms,)
        Weights of items without interactions (0 for terms that are 0 on all of them).
    cold_item_affine_ : numpy.ndarray of shape (2,)
        Level and slope that put their scores on the warm items' scale.
    band_affine_ : numpy.ndarray of shape (5, 2) or None
        None, but in a model loaded from a file saved by an earlier featcf that mapped each
        band's scores by a level and a slope (> 0): such a model keeps applying them.
    stated_weights_ : numpy.ndarray of shape (n_terms,) or None
        Weights of new customers without history who state interests
        (``recommend_new_users(interests=...)``; both directions), searched on validation
        customers who state the top two values of one categorical product field their
        hidden purchases hold, with their demographics. None
        with given weights, without a categorical product field to state, or in models
        loaded from files saved before it: such customers then get ``band_weights_[0]``,
        as customers known only by their demographics do. Searched freely, its shares move
        with ``random_state`` alone by up to 0.27 on the synthetic shop
        (``benchmarks/weight_stability.py``).
    stated_only_weights_ : numpy.ndarray of shape (n_terms,) or None
        Weights of those of them who give no user features
        (``recommend_new_users(interests=...)`` without ``user_features``), searched the
        same way on the same validation customers, folded in without their demographics.
        None in the cases above, for a model fitted without user features, or loaded from
        a file saved before it: such customers then get ``stated_weights_``. Its shares
        move with ``random_state`` alone by up to 0.22 on the synthetic shop.
    audience_band_weights_ : numpy.ndarray of shape (5, n_terms)
        The band weights that rank customers for a product: the surrogate's, before the
        search (``band_weights_`` when the search kept them or the weights were given).
    audience_cold_item_affine_ : numpy.ndarray of shape (2,)
        Their ``cold_item_affine_``.
    audience_band_affine_ : numpy.ndarray of shape (5, 2) or None
        Their ``band_affine_``.
    ease_l2_ : float or None
        L2 penalty of the ``"ease"`` term (None when the term is left out).
    ease_matrix_ : numpy.ndarray of shape (n_items, n_items) or None
        Its item-item weights ``B`` (float32).
    ease_feature_matrix_ : numpy.ndarray of shape (n_user_columns, n_items) or None
        Its weights of the user feature columns (None without user features).
    content_map_ : numpy.ndarray of shape (n_item_columns + 1, n_items)
        The ``"content_ridge"`` map from a history to feature coefficients (last row: the
        constant).
    affinity_matrix_ : numpy.ndarray or None
    popularity_ : numpy.ndarray of shape (n_items,)
        The ``"popularity"`` term: ``log1p`` of each item's positives; for items without
        any, predicted from their field values by ``popularity_coef_``.
    popularity_coef_ : numpy.ndarray of shape (n_item_columns + 1,)
        The ridge regression of ``log1p`` popularity on the items' attribute indicators
        (0/1 per field value; first entry: the constant), fitted on the items with
        positives; it also scores items added later (``add_items``).
    popularity_design_ : str
        ``"indicators"``: what ``popularity_coef_`` applies to. A model loaded from a
        file saved before featcf regressed on indicators reads ``"shares"``: its
        coefficients apply to every field's values as shares summing to 1 per item, and
        items added to it are scored that way.
    term_names_ : list of str
    term_scale_ : numpy.ndarray of shape (n_terms,)
    rating_data_ : bool
        Whether the interaction values were read as ratings.

    Examples
    --------
    >>> from featcf.datasets import make_insurance_shop
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> model = FeatureCF(n_neighbors=20, random_state=0, show_progress=False).fit(shop)
    >>> bool((model.feature_weights_ >= 0).all())
    True
    >>> model.recommend(shop.user_ids[:1], n=3)["rank"].tolist()
    [1, 2, 3]
    """

    handles_new_users_with_history = True
    handles_new_users_with_features = True
    handles_new_items = True
    handles_stated_interests = True

    # ------------------------------------------------------------------ fitted attributes
    # read-only views of the typed fitted state (``self._fitted``), in the order of the
    # model file (``_get_state``)
    rating_data_ = FittedAttribute("scorer.inputs.rating_data")
    term_names_ = FittedAttribute("term_names")
    term_scale_ = FittedAttribute("weights.scale")
    band_weights_ = FittedAttribute("weights.band")
    cold_item_weights_ = FittedAttribute("weights.cold")
    cold_item_affine_ = FittedAttribute("weights.cold_affine")
    feature_weights_ = FittedAttribute("feature_weights")
    active_users_ = FittedAttribute("scorer.core.active")
    global_profile_ = FittedAttribute("scorer.core.global_profile")
    base_profiles_ = FittedAttribute("scorer.core.base_profiles")
    user_profiles_ = FittedAttribute("scorer.core.lift")
    popularity_ = FittedAttribute("scorer.core.popularity")
    popularity_coef_ = FittedAttribute("scorer.core.popularity_coef")
    item_counts_ = FittedAttribute("scorer.core.item_counts")
    item_similarity_ = FittedAttribute("scorer.core.item_similarity")
    ease_matrix_ = FittedAttribute("scorer.core.ease")
    ease_feature_matrix_ = FittedAttribute("scorer.core.ease_features")
    kappa_ = FittedAttribute("scorer.core.kappa")
    content_map_ = FittedAttribute("scorer.core.content_map")
    user_neighbors_ = FittedAttribute("scorer.core.user_neighbors")
    field_neighbors_ = FittedAttribute("field_neighbors")
    demo_neighbors_ = FittedAttribute("scorer.core.demo_neighbors")
    demo_lift_ = FittedAttribute("scorer.core.demo_lift")
    demo_field_lift_ = FittedAttribute("scorer.core.demo_field_lift")
    item_quality_ = FittedAttribute("scorer.core.item_quality")
    n_users_fit_ = FittedAttribute("n_users")
    ease_l2_ = FittedAttribute("scorer.core.ease_l2")
    affinity_matrix_ = FittedAttribute("scorer.core.affinity")
    band_affine_ = FittedAttribute("weights.band_affine")
    audience_band_weights_ = FittedAttribute("audience.band")
    audience_cold_item_affine_ = FittedAttribute("audience.cold_affine")
    audience_band_affine_ = FittedAttribute("audience.band_affine")
    stated_weights_ = FittedAttribute("weights.stated")
    stated_only_weights_ = FittedAttribute("weights.stated_only")
    popularity_design_ = FittedAttribute("scorer.core.popularity_design")

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
        show_progress: bool | None = None,
        n_threads: int | None = None,
        exclude_terms: Sequence[str] = (),
        max_reference_users: int | None = 6_000,
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
        self.exclude_terms = exclude_terms
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.show_progress = show_progress
        self.n_threads = n_threads
        self.max_reference_users = max_reference_users

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        check_params(self)

    def _settings(self) -> Settings:
        return settings_of(self)

    # ------------------------------------------------------------------ fitting
    def _fit(self, dataset: Dataset) -> None:
        # tqdm.auto picks a notebook widget in Jupyter (and warns when ipywidgets is
        # missing); with the bar turned off the plain class is enough and stays silent.
        show_progress = resolve_show_progress(self.show_progress)
        if show_progress:
            from tqdm.auto import tqdm  # heavy: kept out of ``import featcf``
        else:
            from tqdm import tqdm  # heavy: kept out of ``import featcf``

        if dataset.item_features is None or not dataset.item_fields:
            raise ValueError(
                "FeatureCF needs item features (fields); build the Dataset with item_features, "
                "or use ItemKNN for interactions only"
            )
        self.__dict__.pop("_fitted", None)  # refitting discards the previous fit
        rng = check_random_state(self.random_state)
        rating_data = resolve_ratings(dataset, self.implicit)
        names = term_names(
            list(dataset.item_fields),
            ease=bool(self.include_cf) and 0 < dataset.n_items <= int(self.ease_max_items),
            rating=rating_data,
            demographics=dataset.user_features is not None,
        )
        unknown = [t for t in self.exclude_terms if t not in names]
        if unknown:
            raise ValueError(
                f"exclude_terms names unknown term(s) {unknown}; the terms of this model are "
                f"{names}"
            )
        given = given_vector(self, names)
        inputs = read_inputs(
            dataset, rating_data=rating_data, positive_threshold=self.positive_threshold
        )
        if inputs.values.nnz == 0:
            raise ValueError(
                "no positive interactions (check positive_threshold against the weights)"
            )
        settings, plan = self._settings(), learning_of(self)
        cap = settings.max_reference_users
        if cap is not None and np.count_nonzero(np.diff(inputs.values.indptr)) > cap:
            settings = replace(settings, reference_rank=reference_rank(rng, dataset.n_users))
        stages = _LEARNED_STAGES if given is None else _GIVEN_STAGES
        bar = tqdm(total=len(stages), desc="FeatureCF", disable=not show_progress)
        stage = Stages(bar)
        try:
            stage("final model")
            core = build_core(inputs, settings, inputs.values)
            if given is None:
                fitted = Fitted(*fit_learned(core, inputs, settings, plan, names, rng, stage))
            else:
                scorer, weights = fit_given(core, inputs, settings, plan, names, given, rng, stage)
                fitted = Fitted(scorer, weights, weights)
            stage.done()
        finally:
            bar.close()
        self._fitted = fitted

    # ------------------------------------------------------------------ scoring hooks
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self._score_across(user_idx, item_idx, "items")

    def _score_across(self, user_idx: np.ndarray, item_idx: np.ndarray, across: str) -> np.ndarray:
        fitted = fitted_or_raise(self)
        scorer = fitted.scorer
        users = np.asarray(user_idx, dtype=np.int64)
        user = fitted_users(scorer, users, scorer.inputs.values[users])
        weights = fitted.weights_across(across)
        return score(scorer, weights, user, np.asarray(item_idx, dtype=np.int64))

    def _score_new_across(
        self,
        history: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        stated: sp.csr_matrix | None,
        item_idx: np.ndarray,
        across: str,
    ) -> np.ndarray:
        fitted = fitted_or_raise(self)
        scorer = fitted.scorer
        hist = positives(history, scorer.inputs.positive_threshold)
        user = folded_users(scorer, hist, user_features, stated)
        weights = fitted.weights_across(across)
        return score(scorer, weights, user, np.asarray(item_idx, dtype=np.int64))

    def _interest_profiles(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return interest_profiles(fitted_or_raise(self).scorer, user_idx)

    def _extend_items(self, n_new: int) -> None:
        if n_new == 0:
            return
        fitted = fitted_or_raise(self)
        old = fitted.scorer
        inputs = read_inputs(
            self.dataset_,
            rating_data=old.inputs.rating_data,
            positive_threshold=old.inputs.positive_threshold,
        )
        core = extend_core(old.core, inputs, n_new)
        scorer = make_scorer(inputs, old.settings, old.names, core)
        self._fitted = Fitted(scorer, fitted.weights, fitted.audience)

    def _partial_fit(
        self, old_dataset: Dataset, new_dataset: Dataset, touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:  # fmt: skip
        fitted = fitted_or_raise(self)
        self._fitted = updated_fitted(fitted, old_dataset, new_dataset, touched_users)

    def _explain_parts(self, query: PairQuery) -> pd.DataFrame:
        fitted = fitted_or_raise(self)
        scorer = fitted.scorer
        if query.users is not None:
            user = fitted_users(scorer, query.users, scorer.inputs.values[query.users])
        else:
            hist = positives(query.history, scorer.inputs.positive_threshold)
            user = folded_users(scorer, hist, query.features, query.stated)
        dataset = self.dataset_
        vocabulary = Vocabulary(
            item_names=item_display_names(dataset),
            user_columns=_column_names(dataset.user_features),
            item_columns=_column_names(dataset.item_features),
        )
        items = np.asarray(query.items, dtype=np.int64)
        weights = fitted.weights_across(query.across)
        parts = explain_pairs(scorer, weights, user, query.rows, items, vocabulary)
        if query.stated is None:
            return parts
        return relabel_stated(parts, query.stated, query.rows, dataset.item_fields)

    # ------------------------------------------------------------------ similar
    handles_similar_items = True
    handles_similar_users = True

    def _similar_items_of(self, query: ItemQuery, candidates: np.ndarray, k: int) -> sp.csr_matrix:
        """Feature-weighted item similarity plus co-purchases (see ``_similar``)."""
        block = item_similarities(fitted_or_raise(self), self.dataset_, query, candidates)
        return top_k_rows(block, k, candidates, self.dataset_.n_items, self.n_threads)

    def _similar_item_parts(
        self, query: ItemQuery, rows: np.ndarray, items: np.ndarray
    ) -> pd.DataFrame:
        return item_parts(fitted_or_raise(self), self.dataset_, query, rows, items)

    def _similar_users_of(self, users: np.ndarray, k: int) -> sp.csr_matrix:
        """Profiles, purchases and customer features, weighted (see ``_similar``)."""
        fitted = fitted_or_raise(self)
        block = user_similarities(fitted, users)
        active = fitted.scorer.core.active
        return top_k_rows(block, k, active, self.dataset_.n_users, self.n_threads)

    def _similar_user_parts(
        self, users: np.ndarray, rows: np.ndarray, others: np.ndarray
    ) -> pd.DataFrame:
        return user_parts(fitted_or_raise(self), self.dataset_, users[rows], others)

    # ------------------------------------------------------------------ model files
    def _get_state(self) -> dict[str, Any]:
        """The public fitted attributes, as the model file holds them."""
        fitted_or_raise(self)
        return state_dict(self)

    def _state_schema(self, dataset: Dataset) -> dict[str, Spec]:
        if dataset.item_features is None or not dataset.item_fields:
            raise ValueError("FeatureCF needs item features, and this Dataset has none")
        return state_schema(dataset)

    def _check_state(self, state: dict[str, Any]) -> None:
        dataset = self.dataset_
        names = term_names(
            list(dataset.item_fields),
            ease=state["ease_matrix_"] is not None,
            rating=bool(state["rating_data_"]),
            demographics=dataset.user_features is not None,
        )
        check_state(state, positives(dataset.interactions, self.positive_threshold), names, dataset)

    def _set_state(self, state: dict[str, Any]) -> None:
        """Rebuild the typed fitted state (derived arrays included) from a model file."""
        inputs = read_inputs(
            self.dataset_,
            rating_data=bool(state["rating_data_"]),
            positive_threshold=self.positive_threshold,
        )
        self._fitted = fitted_from_state(state, inputs, self._settings())


def _column_names(features: FeatureMatrix | None) -> np.ndarray | None:
    """The ``"field = value"`` label of every column of ``features`` (None without)."""
    return None if features is None else np.asarray(features.column_names, dtype=object)
