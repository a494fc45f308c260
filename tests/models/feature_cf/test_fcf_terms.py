"""featcf.models.feature_cf._terms: the term registry and the terms against direct formulas."""

from __future__ import annotations

import numpy as np


def test_ease_term_scores_the_history_through_the_regression(tiny, make_model):
    model = make_model(weights={"ease": 1.0}, ease_l2=1.0).fit(tiny)
    u = tiny.user_index(["u2"])
    seen = tiny.interactions[u].indices
    features = tiny.user_features.matrix[u].toarray()[0]
    expected = model.ease_matrix_[seen].sum(axis=0) + features @ model.ease_feature_matrix_
    scores = model.score_users(u)[0]
    scale = model.term_scale_[model.term_names_.index("ease")]
    band_w = model.band_weights_[0, model.term_names_.index("ease")]
    warm = model.item_counts_ > 0
    np.testing.assert_allclose(scores[warm], (band_w * expected / scale)[warm], rtol=1e-4)
