"""ContentKNN against a dense per-field feature-similarity reference, new products and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from featcf import Dataset
from featcf.models import ContentKNN, UnsupportedProtocolError

RATINGS = [
    ("u1", "sku-10", 5), ("u1", "sku-20", 3), ("u1", "sku-30", 4),
    ("u2", "sku-10", 4), ("u2", "sku-40", 2),
    ("u3", "sku-20", 2), ("u3", "sku-40", 5), ("u3", "sku-50", 4),
    ("u4", "sku-50", 5), ("u4", "sku-60", 1),
]  # fmt: skip
# sku-70 is a cold product of the catalogue (features, no interactions); sku-60 has no tags.
ITEMS = pd.DataFrame(
    {
        "item": ["sku-10", "sku-20", "sku-30", "sku-40", "sku-50", "sku-60", "sku-70"],
        "category": ["car", "car", "home", "home", "travel", "property", "car"],
        "tags": ["young|city", "city", "family|city", "family", "young", None, "young|family"],
    }
)
NEW_ITEMS = pd.DataFrame(
    {"item": ["sku-80", "sku-90"], "category": ["travel", "home"], "tags": ["city", "young"]}
)


@pytest.fixture
def tiny() -> Dataset:
    inter = pd.DataFrame(RATINGS, columns=["user", "item", "rating"])
    users = pd.DataFrame({"user": ["u1", "u2", "u3", "u4", "u5"], "segment": list("aabba")})
    return Dataset.from_frames(
        inter,
        ITEMS,
        users,
        user_col="user",
        item_col="item",
        weight_col="rating",
        item_fields={"category": "categorical", "tags": "multi"},
    )


# ----------------------------------------------------------------------------- references


def blocks(ds: Dataset) -> dict[str, np.ndarray]:
    fm = ds.item_features
    return {name: fm.matrix[:, f.start : f.stop].toarray() for name, f in fm.fields.items()}


def ref_similarity(ds: Dataset, metric: str, weights: dict[str, float] | None = None):
    """Dense item x item feature similarity (module formulas), self pairs at 0."""
    fields = blocks(ds)
    w = {name: 1.0 for name in fields} | dict(weights or {})
    n = ds.n_items
    S = np.zeros((n, n))
    for j in range(n):
        for i in range(n):
            if i == j:
                continue
            if metric == "cosine":
                num, has_j, has_i = 0.0, 0.0, 0.0
                for name, x in fields.items():
                    nj, ni = np.linalg.norm(x[j]), np.linalg.norm(x[i])
                    has_j += w[name] * (nj > 0)
                    has_i += w[name] * (ni > 0)
                    if nj > 0 and ni > 0:
                        num += w[name] * (x[j] @ x[i]) / (nj * ni)
                S[j, i] = num / np.sqrt(has_j * has_i) if has_j * has_i > 0 else 0.0
            else:
                inter = sum(w[name] * ((x[j] > 0) & (x[i] > 0)).sum() for name, x in fields.items())
                union = sum(w[name] * ((x[j] > 0) | (x[i] > 0)).sum() for name, x in fields.items())
                S[j, i] = inter / union if union > 0 else 0.0
    return S


def truncate(S: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's top-k nonzero values (ties by column index)."""
    out = np.zeros_like(S)
    for row in range(S.shape[0]):
        order = np.lexsort((np.arange(S.shape[1]), -np.round(S[row], 6)))[:k]
        keep = order[np.abs(S[row, order]) > 1e-9]
        out[row, keep] = S[row, keep]
    return out


def ratings(ds: Dataset) -> np.ndarray:
    return ds.interactions.toarray().astype(np.float64)


WARM = np.arange(4)


# ----------------------------------------------------------------------------- scores


@pytest.mark.parametrize(
    "weights", [None, {"category": 3.0}, {"tags": 0.0}, {"category": 0.5, "tags": 2.0}]
)
def test_cosine_all_items_equals_reference(tiny, weights):
    model = ContentKNN(field_weights=weights).fit(tiny)
    assert (
        model.similarity_ is None
    )  # n_neighbors=None, cosine: factorised, no items x items matrix
    expected = ratings(tiny)[WARM] @ ref_similarity(tiny, "cosine", weights)
    np.testing.assert_allclose(model.score_users(WARM), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "jaccard"])
@pytest.mark.parametrize("n_neighbors", [1, 2, 3])
def test_top_k_neighbours_equal_reference(tiny, metric, n_neighbors):
    model = ContentKNN(n_neighbors=n_neighbors, metric=metric, field_weights={"category": 2.0}).fit(
        tiny
    )
    ref = ref_similarity(tiny, metric, {"category": 2.0})
    S = model.similarity_.toarray()
    stored = S != 0
    np.testing.assert_allclose(S[stored], ref[stored], rtol=1e-5)
    for row in range(tiny.n_items):  # a valid top-k (ties may pick either column)
        nonzero = np.flatnonzero(ref[row] > 1e-9)
        assert stored[row].sum() == min(n_neighbors, len(nonzero))
        if stored[row].any() and (~stored[row] & (ref[row] > 0)).any():
            assert ref[row, ~stored[row]].max() <= S[row, stored[row]].min() + 1e-6
    expected = ratings(tiny)[WARM] @ S
    np.testing.assert_allclose(model.score_users(WARM), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "jaccard"])
def test_all_neighbours_same_for_both_paths(tiny, metric):
    # n_neighbors >= n_items keeps every neighbour: the kNN path and n_neighbors=None agree
    full = ContentKNN(metric=metric).fit(tiny).score_users(WARM)
    knn = ContentKNN(n_neighbors=50, metric=metric).fit(tiny).score_users(WARM)
    np.testing.assert_allclose(full, knn, rtol=1e-5, atol=1e-6)
    expected = ratings(tiny)[WARM] @ ref_similarity(tiny, metric)
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-6)


def test_scaling_all_field_weights_changes_nothing(tiny):
    base = ContentKNN().fit(tiny).score_users(WARM)
    scaled = ContentKNN(field_weights={"category": 4.0, "tags": 4.0}).fit(tiny).score_users(WARM)
    np.testing.assert_allclose(base, scaled, rtol=1e-5, atol=1e-6)


def test_cold_catalogue_item_is_recommended(tiny):
    # u2 bought a car product with tags young|city: sku-70 (car, young|family) is close
    model = ContentKNN().fit(tiny)
    recs = model.recommend(["u2"], n=5)
    assert "sku-70" in set(recs["item_id"])
    u, i = tiny.user_index("u2"), tiny.item_index("sku-70")
    expected = ratings(tiny)[u] @ ref_similarity(tiny, "cosine")[:, i]
    assert model.predict(["u2"], ["sku-70"])[0] == pytest.approx(expected, rel=1e-5)


def test_new_users_with_history(tiny):
    model = ContentKNN(n_neighbors=2).fit(tiny)
    H = np.zeros((2, tiny.n_items))
    H[0, tiny.item_index(["sku-10", "sku-60"])] = [2.0, 5.0]
    H[1, tiny.item_index("sku-40")] = 1.0
    expected = H @ truncate(ref_similarity(tiny, "cosine"), 2)
    np.testing.assert_allclose(model.score_new_users(sp.csr_matrix(H)), expected, rtol=1e-5)
    frame = pd.DataFrame({"user": ["g1"], "item": ["sku-40"], "rating": [1.0]})
    recs = model.recommend_new_users(frame, n=3)
    assert "sku-40" not in set(recs["item_id"]) and len(recs) >= 1


# ----------------------------------------------------------------------------- new products


@pytest.mark.parametrize(
    ("n_neighbors", "metric"), [(None, "cosine"), (2, "cosine"), (3, "jaccard")]
)
def test_add_items_scores_new_products(tiny, n_neighbors, metric):
    model = ContentKNN(n_neighbors=n_neighbors, metric=metric).fit(tiny)
    model.add_items(NEW_ITEMS)
    extended = model.dataset_
    assert extended.n_items == tiny.n_items + 2
    ref = ref_similarity(extended, metric)
    if n_neighbors is not None:
        ref = truncate(ref, n_neighbors)
        np.testing.assert_allclose(model.similarity_.toarray(), ref, rtol=1e-5, atol=1e-6)
    R = extended.interactions.toarray().astype(np.float64)
    np.testing.assert_allclose(model.score_users(WARM), R[WARM] @ ref, rtol=1e-5, atol=1e-6)
    audience = model.recommend_users("sku-80", n=3)
    assert (audience["item_id"] == "sku-80").all() and len(audience) == 3
    np.testing.assert_allclose(
        audience["score"], model.predict(audience["user_id"], ["sku-80"] * 3), rtol=1e-5
    )
    # the audience is the best users by the reference scores of the new product
    column = (extended.interactions.toarray() @ ref)[:, extended.item_index("sku-80")]
    best = np.argsort(-column, kind="stable")[:3]
    np.testing.assert_allclose(audience["score"], column[best], rtol=1e-5)


def test_add_items_keeps_loaded_model_identical(tiny, tmp_path):
    import featcf

    model = ContentKNN(n_neighbors=2).fit(tiny)
    model.add_items(NEW_ITEMS)
    model.save(tmp_path / "content.npz")
    loaded = featcf.load(tmp_path / "content.npz")
    np.testing.assert_array_equal(loaded.score_users(WARM), model.score_users(WARM))
    assert loaded.field_weights_ == model.field_weights_


# ----------------------------------------------------------------------------- explain


@pytest.mark.parametrize(
    ("n_neighbors", "metric"), [(None, "cosine"), (2, "cosine"), (None, "jaccard")]
)
def test_explain_names_matched_values_and_sums_to_predict(tiny, n_neighbors, metric):
    model = ContentKNN(n_neighbors=n_neighbors, metric=metric, field_weights={"tags": 2.0}).fit(
        tiny
    )
    for user, item in [("u1", "sku-70"), ("u3", "sku-10"), ("u4", "sku-30")]:
        parts = model.explain(user, item)
        assert list(parts.columns) == ["part", "field", "value", "contribution", "label"]
        assert (parts["part"] == "content").all()
        assert parts["contribution"].sum() == pytest.approx(
            model.predict([user], [item])[0], rel=1e-5, abs=1e-6
        )
        labels = set(parts["value"])
        assert all(label.startswith(f"{field} = ") for field, label in zip(parts["field"],
                   parts["value"], strict=True))  # fmt: skip
        # only values the target item has can match
        item_row = model.dataset_.item_features.matrix[model.dataset_.item_index(item)]
        names = model.dataset_.item_features.column_names
        assert labels <= {names[c] for c in item_row.indices}
    parts = model.explain("u1", "sku-70")
    assert "category = car" in set(parts["value"])


# ----------------------------------------------------------------------------- errors


def test_refuses_users_without_interactions_and_demographics_only(tiny):
    model = ContentKNN().fit(tiny)
    with pytest.raises(UnsupportedProtocolError, match="u5.*FeatureCF"):
        model.recommend(["u5"])
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        model.recommend_new_users(user_features=pd.DataFrame({"user": ["g"], "segment": ["a"]}))


def test_needs_item_features():
    inter = pd.DataFrame(RATINGS, columns=["user", "item", "rating"])
    plain = Dataset.from_frames(inter, user_col="user", item_col="item")
    with pytest.raises(ValueError, match="item features"):
        ContentKNN().fit(plain)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_neighbors": 0}, ValueError, "n_neighbors must be a positive integer"),
        ({"n_neighbors": 1.5}, TypeError, "n_neighbors must be a positive integer"),
        ({"metric": "pearson"}, ValueError, "metric must be one of"),
        ({"field_weights": {"colour": 1.0}}, ValueError, r"field_weights.*colour.*category"),
        ({"field_weights": {"tags": -1.0}}, ValueError, r"field_weights\['tags'\]"),
        ({"field_weights": {"tags": float("nan")}}, ValueError, r"field_weights\['tags'\]"),
        ({"field_weights": {"tags": "high"}}, TypeError, r"field_weights\['tags'\]"),
        ({"field_weights": {"tags": 0.0, "category": 0}}, ValueError, "every field weight 0"),
        ({"field_weights": [("tags", 1.0)]}, TypeError, "field_weights must be a dict"),
        ({"n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_bad_params_name_the_parameter(tiny, params, error, match):
    with pytest.raises(error, match=match):
        ContentKNN(**params).fit(tiny)
