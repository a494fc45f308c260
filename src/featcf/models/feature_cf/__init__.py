"""FeatureCF: feature-based collaborative filtering, the core model of featcf.

See ``ALGORITHM.md`` and the :class:`FeatureCF` docstring. A score is a weighted sum of
*terms*, each a dense (users x items) block computed with sparse products. With ``h_u`` the user's positives, ``n_u = |h_u|``, ``X_f`` the items x values
block of item field ``f`` (rows summing to 1) and ``P_u^f`` the user's attribute profile over
the values of ``f``:

``cf``
    Item-kNN collaborative filtering, ``sum_{j in h_u} S[j, i] / n_u`` (top-k cosine item
    neighbours). Pairs involving an item without interactions use ``kappa_ * cos(x_j, x_i)``
    of the feature vectors instead (the feature-weighted item similarity of new products).
``ease`` (catalogues of at most ``ease_max_items`` items)
    Linear regression of each item on the user's other items and (when there are user
    features) their features: ``sum_{j in h_u} B[j, i] + f_u . B_F[:, i]``, the closed form
    of EASE (Steck 2019) on ``Z = [user features | positives]`` with a zero item diagonal
    (see ``_linalg.ease_from_gram``). The strongest plain CF
    signal for warm users, and a discriminative demographic model for customers without a
    history (it uses their own empty history, not a borrowed one); ``l2`` is picked on the
    validation split.
``user_cf``
    User-kNN collaborative filtering: share of the user's top-k neighbours (cosine of the
    positives; for users without a history, their neighbours in user-feature space) who
    have the item.
``cooccurrence``
    ``mean_{j in h_u} P(i | j)``, the share of the buyers of ``j`` who also have ``i``
    ("customers who bought j also bought i"): strong for histories of 1-5 items.
``popularity``
    ``log1p(#users with the item)``; for items without interactions it is predicted from
    their features by ridge regression on the other items' 0/1 attribute indicators.
    Popularity is a strong signal for cold users, so it is blended in as a term with its own
    learned weight.
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
``affinity``
    Which kinds of customers buy which kinds of products: ``a_u W b_i``, a logistic
    regression (scikit-learn) of holding the item on crossed features, with ``a_u`` the
    user's feature values, ``log1p`` of their profile counts ``h_u X`` (all fields), ``log1p(n_u)`` and
    a constant, and ``b_i`` the item's field values and a constant. Fitted on each core's
    positives (leave-one-out profiles) against sampled non-positives, it depends on the
    item only through its field values, so a brand-new product is scored like any other
    (``_affinity``).

Users without interactions (demographics only) use, for ``cf``, ``ease`` and ``cooccurrence``,
the histories of their top-k neighbours in user-feature space as a pseudo-history, and their
profile is the mean profile of those neighbours. Terms are divided by fixed scales
(``term_scale_``) so that the weights are comparable across terms.

The model is a package of private modules, one per concern: ``_inputs`` (what the steps read
from the Dataset), ``_profiles``, ``_neighbours``, ``_linalg`` (EASE and ridge algebra),
``_core`` and ``_state`` (the typed fitted state), ``_users``, ``_terms`` (the term registry),
``_affinity`` (the customer x product field affinity), ``_split``, ``_weights`` and ``_search``
(the validation split, the weight learning and its search on nDCG@10), ``_explain``,
``_similar`` (similar products and customers), ``_interests`` (interests read and stated),
``_updates`` (``partial_fit``) and ``_model`` (the estimator, which only orchestrates).
"""

from featcf.models.feature_cf._linalg import CONTENT_RIDGE_ALPHAS, EASE_L2_GRID, POP_RIDGE_ALPHAS
from featcf.models.feature_cf._model import FeatureCF
from featcf.models.feature_cf._state import BAND_EDGES
from featcf.models.feature_cf._weights import WEIGHT_SHARE_TOLERANCE

__all__ = [
    "BAND_EDGES",
    "CONTENT_RIDGE_ALPHAS",
    "EASE_L2_GRID",
    "POP_RIDGE_ALPHAS",
    "WEIGHT_SHARE_TOLERANCE",
    "FeatureCF",
]
