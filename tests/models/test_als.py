"""ALS: implicit's CPU ALS behind the featcf interface (fit, fold-in, persistence, refusals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import featcf
from featcf import Dataset
from featcf.models import ALS, UnsupportedProtocolError

RATINGS = [
    ("u1", "sku-10", 5), ("u1", "sku-20", 3), ("u1", "sku-30", 4),
    ("u2", "sku-10", 4), ("u2", "sku-30", 5), ("u2", "sku-40", 2),
    ("u3", "sku-20", 2), ("u3", "sku-40", 5), ("u3", "sku-50", 4),
    ("u4", "sku-10", 3), ("u4", "sku-50", 5), ("u4", "sku-60", 1),
    ("u5", "sku-30", 4), ("u5", "sku-60", 5), ("u5", "sku-20", 1),
]  # fmt: skip
FAST = {"factors": 4, "iterations": 5, "random_state": 7, "show_progress": False, "n_threads": 1}


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    inter = pd.DataFrame(RATINGS, columns=["user", "item", "rating"])
    users = pd.DataFrame({"user": ["u1", "u2", "u3", "u4", "u5", "u6"], "segment": list("aabbab")})
    items = pd.DataFrame(
        {"item": [f"sku-{10 * i}" for i in range(1, 7)], "category": list("aabbcc")}
    )
    return Dataset.from_frames(inter, items, users, user_col="user", item_col="item",
                               weight_col="rating")  # fmt: skip


@pytest.fixture(scope="module")
def fitted(tiny) -> ALS:
    return ALS(**FAST).fit(tiny)


def ref_fold_in(Y: np.ndarray, items: np.ndarray, conf: np.ndarray, reg: float) -> np.ndarray:
    """Hu-Koren-Volinsky user solve: (Y'Y + Y'(C - I)Y + reg I) x = Y'C p."""
    A = Y.T @ Y + reg * np.eye(Y.shape[1])
    b = np.zeros(Y.shape[1])
    for i, c in zip(items, conf, strict=True):
        A += (c - 1.0) * np.outer(Y[i], Y[i])
        b += c * Y[i]
    return np.linalg.solve(A, b)


def test_fit_shapes_and_scores_are_factor_products(fitted, tiny):
    assert fitted.user_factors_.shape == (tiny.n_users, 4)
    assert fitted.item_factors_.shape == (tiny.n_items, 4)
    assert fitted.user_factors_.dtype == np.float32
    warm = np.arange(5)
    np.testing.assert_allclose(
        fitted.score_users(warm), fitted.user_factors_[warm] @ fitted.item_factors_.T, rtol=1e-6
    )
    recs = fitted.recommend(["u1", "u3"], n=3)
    assert recs.groupby("user_id").size().tolist() == [3, 3]
    for user, group in recs.groupby("user_id"):
        seen = set(tiny.item_ids[tiny.interactions[tiny.user_index(user)].indices])
        assert not seen & set(group["item_id"])


def test_fit_learns_the_interactions(tiny):
    # enough factors and iterations to reproduce the training pattern: seen items outrank unseen
    model = ALS(factors=6, iterations=30, regularization=0.01, random_state=0,
                show_progress=False).fit(tiny)  # fmt: skip
    scores = model.score_users(np.arange(5))
    seen = tiny.interactions[:5].toarray() > 0
    for u in range(5):
        assert scores[u, seen[u]].min() > scores[u, ~seen[u]].max()


def test_random_state_and_threads_are_passed_to_implicit(tiny):
    a = ALS(**FAST).fit(tiny)
    b = ALS(**FAST).fit(tiny)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert a._implicit.num_threads == 1 and a._implicit.factors == 4
    c = ALS(**{**FAST, "random_state": 8}).fit(tiny)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_fold_in_is_implicits_least_squares_solve(tiny, alpha):
    model = ALS(**{**FAST, "alpha": alpha}).fit(tiny)
    H = np.zeros((2, tiny.n_items), dtype=np.float32)
    H[0, tiny.item_index(["sku-10", "sku-60", "sku-40"])] = [5.0, 1.0, 3.0]
    H[1, tiny.item_index("sku-20")] = 4.0
    scores = model.score_new_users(sp.csr_matrix(H))
    Y = model.item_factors_.astype(np.float64)
    for row in range(2):
        items = np.flatnonzero(H[row])
        x = ref_fold_in(Y, items, alpha * H[row, items].astype(np.float64), model.regularization)
        np.testing.assert_allclose(scores[row], Y @ x, rtol=1e-3, atol=1e-4)
    # the public path: recommendations for a guest exclude their items and match the scores
    frame = pd.DataFrame({"user": ["g"] * 3, "item": ["sku-10", "sku-60", "sku-40"],
                          "rating": [5.0, 1.0, 3.0]})  # fmt: skip
    recs = model.recommend_new_users(frame, n=3)
    assert not {"sku-10", "sku-60", "sku-40"} & set(recs["item_id"])
    by_item = dict(zip(tiny.item_ids, scores[0], strict=True))
    np.testing.assert_allclose(recs["score"], [by_item[i] for i in recs["item_id"]], rtol=1e-6)


def test_save_load_identical_including_fold_in(fitted, tiny, tmp_path):
    path = tmp_path / "als.npz"
    fitted.save(path)
    loaded = featcf.load(path)
    assert isinstance(loaded, ALS) and loaded.get_params() == fitted.get_params()
    warm = np.arange(5)
    np.testing.assert_array_equal(loaded.score_users(warm), fitted.score_users(warm))
    H = sp.csr_matrix(tiny.interactions[:3])
    np.testing.assert_array_equal(loaded.score_new_users(H), fitted.score_new_users(H))
    pd.testing.assert_frame_equal(loaded.recommend(["u2"], n=4), fitted.recommend(["u2"], n=4))


def test_state_is_arrays_only(fitted):
    state = fitted._get_state()
    assert set(state) == {"user_factors_", "item_factors_"}
    assert all(isinstance(v, np.ndarray) for v in state.values())


def test_refusals_name_the_alternative(fitted, tiny):
    with pytest.raises(UnsupportedProtocolError, match="latent factors.*FeatureCF"):
        fitted.explain("u1", "sku-40")
    new = pd.DataFrame({"item": ["sku-70"], "category": ["a"]})
    with pytest.raises(UnsupportedProtocolError, match="ContentKNN or FeatureCF"):
        fitted.add_items(new)
    with pytest.raises(UnsupportedProtocolError, match="u6.*FeatureCF"):
        fitted.recommend(["u6"])
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        fitted.recommend_new_users(user_features=pd.DataFrame({"user": ["g"], "segment": ["a"]}))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"factors": 0}, ValueError, "factors must be a positive integer"),
        ({"factors": 4.5}, TypeError, "factors must be a positive integer"),
        ({"iterations": 0}, ValueError, "iterations must be a positive integer"),
        ({"regularization": -0.1}, ValueError, "regularization"),
        ({"alpha": 0.0}, ValueError, "alpha must be a positive number"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"n_threads": 0}, ValueError, "n_threads"),
        ({"show_progress": "yes"}, TypeError, "show_progress"),
    ],
)
def test_bad_params_name_the_parameter(tiny, params, error, match):
    with pytest.raises(error, match=match):
        ALS(**{**FAST, **params}).fit(tiny)


def test_divergence_is_a_clear_error():
    # issue 13: huge confidences gave NaN factors and implicit's bare ModelFitError
    frame = pd.DataFrame({"u": ["a"] * 9 + ["b"], "i": ["x"] * 10, "w": [1.0] * 9 + [1e30]})
    dataset = Dataset.from_frames(frame, user_col="u", item_col="i", weight_col="w")
    with pytest.raises(ValueError, match="ALS diverged.*rescale the weight column"):
        ALS(factors=4, iterations=2, random_state=0, show_progress=False).fit(dataset)
