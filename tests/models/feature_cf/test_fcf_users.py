"""featcf.models.feature_cf._users: fitted users and users folded in at query time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from featcf.data import Dataset
from featcf.models.feature_cf._inputs import positives
from featcf.models.feature_cf._terms import compute_terms
from featcf.models.feature_cf._users import fitted_users, folded_users


def test_fold_in_matches_the_fitted_profile_part(make_model, tiny_frames):
    """Fold-in of a fitted user's own history reproduces their profile and item-side terms.

    Neighbour terms may differ (at fit a user is not their own neighbour, at fold-in the
    fitted copy of the same user is), so the invariant is the profile and the terms that do
    not depend on user neighbours. Without user features both use the global prior.
    """

    inter, items, _ = tiny_frames
    ds = Dataset.from_frames(inter, items, user_col="user", item_col="item")
    model = make_model().fit(ds)
    scorer = model._fitted.scorer
    values = scorer.inputs.values
    for user_id in ("u1", "u3", "u5"):
        user = int(ds.user_index(user_id))
        fitted = fitted_users(scorer, np.array([user]), values[[user]])
        folded = folded_users(scorer, positives(ds.interactions[[user]], None), None)
        np.testing.assert_allclose(folded.lift, fitted.lift, rtol=1e-5, atol=1e-6)
        items_all = np.arange(ds.n_items)
        t_fit = compute_terms(scorer, fitted, items_all)
        t_new = compute_terms(scorer, folded, items_all)
        names = model.term_names_
        for name in ("cf", "cooccurrence", "popularity", "content:category", "content:coverage"):
            np.testing.assert_allclose(
                t_new[names.index(name)], t_fit[names.index(name)], atol=1e-6
            )


def test_fold_in_with_features_uses_the_feature_neighbours_prior(tiny, make_model):
    """A folded-in user with no history gets the mean profile of their feature neighbours."""

    model = make_model().fit(tiny)
    feats = tiny.user_features.matrix[tiny.user_index(["u6"])]
    empty = sp.csr_matrix((1, tiny.n_items), dtype=np.float32)
    state = folded_users(model._fitted.scorer, empty, feats)
    assert state.demo.nnz > 0
    assert not np.allclose(state.lift, 0.0)  # not the global profile (log-lift 0)
