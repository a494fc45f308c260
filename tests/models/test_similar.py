"""``similar_items`` and ``similar_users`` (issue 16 item 4) against brute-force references.

Every reference recomputes the model's similarity on dense float64 arrays in NumPy; a
result must hold exactly the reference's best ``n`` (scores equal at every rank, each found
product or customer scored as the reference scores it, never the query itself), and ties
must come in position order. New products are served through ``add_items`` and through
``item_features=`` alike; models that cannot answer refuse naming the ones that can.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import featcf
from featcf import ALS, ContentKNN, Dataset, FeatureCF, ItemKNN, Popularity, UserKNN
from featcf.columns import Columns
from featcf.exceptions import UnknownIdError
from featcf.models import UnsupportedProtocolError
from featcf.models._reasons import NO_REASON

#: internal words no reason may contain (besides FeatureCF's term names)
INTERNAL = ("ease", "level", "lift", "prior", "baseline", "content_ridge", "neighbour", "profile")


def _fcf(**params):
    return FeatureCF(**{"n_neighbors": 20, "random_state": 0, "show_progress": False, **params})


MODELS = {
    "ItemKNN": lambda: ItemKNN(n_neighbors=500),
    "UserKNN": lambda: UserKNN(n_neighbors=500),
    "ContentKNN": lambda: ContentKNN(),
    "ALS": lambda: ALS(factors=6, iterations=3, random_state=0, show_progress=False),
    "FeatureCF": _fcf,
}


@pytest.fixture(scope="module")
def fitted(shop):
    return {name: make().fit(shop) for name, make in MODELS.items()}


# ----------------------------------------------------------------------------- references
def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense cosine of the rows of ``a`` and ``b`` (0 for zero rows), float64."""
    na = np.linalg.norm(a, axis=1)[:, None]
    nb = np.linalg.norm(b, axis=1)[None, :]
    den = na * nb
    return np.divide(a @ b.T, den, out=np.zeros((len(a), len(b))), where=den > 0)


def _check_against(frame, query_col, found_col, ref, query_pos, found_map, n, ids):
    """``frame`` holds, per query row, the reference's best ``n`` (self and zeros left out).

    ``ref`` (n_query x n_candidates) scores the candidates of ``found_map`` (id -> column);
    ``query_pos[r]`` is the column of query row r itself (-1: not a candidate).
    """
    assert list(frame.columns[:4]) == [query_col, found_col, Columns.SCORE, Columns.RANK]
    for r, qid in enumerate(ids):
        got = frame[frame[query_col] == qid]
        scores = ref[r].astype(np.float32).astype(np.float64)
        if query_pos[r] >= 0:
            scores[query_pos[r]] = 0.0
        order = np.lexsort((np.arange(len(scores)), -scores))
        best = [c for c in order if scores[c] != 0][:n]
        assert got[Columns.RANK].tolist() == list(range(1, len(best) + 1)), qid
        np.testing.assert_allclose(got[Columns.SCORE], scores[best], rtol=2e-5, atol=1e-6)
        cols = np.asarray([found_map[f] for f in got[found_col]], dtype=np.int64)
        np.testing.assert_allclose(scores[cols], got[Columns.SCORE], rtol=2e-5, atol=1e-6)
        assert query_pos[r] not in cols
        ties = np.diff(got[Columns.SCORE].to_numpy()) == 0
        assert (np.diff(cols)[ties] > 0).all(), "ties come in position order"


def _binary(X: sp.csr_matrix) -> np.ndarray:
    return (X.toarray() != 0).astype(np.float64)


def _item_map(dataset):
    return {i: k for k, i in enumerate(dataset.item_ids)}


def _user_map(dataset):
    return {u: k for k, u in enumerate(dataset.user_ids)}


def _warm_items(dataset, count=5):
    return dataset.item_ids[dataset.item_counts() > 0][:count]


def _warm_users(dataset, count=6):
    return dataset.user_ids[dataset.user_counts() > 0][:count]


# ----------------------------------------------------------------------------- per model
@pytest.mark.parametrize("name", ["ItemKNN", "UserKNN"])
def test_knn_models_match_dense_cosine_of_the_interactions(name, fitted, shop):
    model = fitted[name]
    X = shop.interactions.toarray().astype(np.float64)
    items, users = _warm_items(shop), _warm_users(shop)
    ipos, upos = shop.item_index(items), shop.user_index(users)
    item_ref = _cosine(X.T[ipos], X.T)  # n_neighbors covers every item: the whole list
    got = model.similar_items(items, n=4)
    _check_against(got, "item_id", "similar_item_id", item_ref, ipos, _item_map(shop), 4, items)
    user_ref = _cosine(X[upos], X)
    got = model.similar_users(users, n=4)
    _check_against(got, "user_id", "similar_user_id", user_ref, upos, _user_map(shop), 4, users)


def test_item_knn_reads_its_neighbour_lists(shop):
    model = ItemKNN(n_neighbors=3).fit(shop)
    item = _warm_items(shop, 1)[0]
    got = model.similar_items(item, n=10)
    row = model.similarity_[shop.item_index(item)]
    assert len(got) == row.nnz  # the list has 3 entries: no more are invented
    assert set(got["similar_item_id"]) == set(shop.item_ids[row.indices])


def test_content_knn_matches_the_cosine_of_its_item_vectors(fitted, shop):
    model = fitted["ContentKNN"]
    E = model.item_vectors_.toarray()
    items, users = shop.item_ids[:6], _warm_users(shop)
    ipos, upos = shop.item_index(items), shop.user_index(users)
    got = model.similar_items(items, n=5)
    _check_against(
        got, "item_id", "similar_item_id", E[ipos] @ E.T, ipos, _item_map(shop), 5, items
    )
    profiles = shop.interactions.toarray() @ E
    got = model.similar_users(users, n=5)
    ref = _cosine(profiles[upos], profiles)
    _check_against(got, "user_id", "similar_user_id", ref, upos, _user_map(shop), 5, users)


def test_content_knn_jaccard_uses_the_weighted_jaccard_of_the_values(shop):
    model = ContentKNN(metric="jaccard", field_weights={"category": 3.0}).fit(shop)
    F = shop.item_features.matrix.toarray() != 0
    w = model._column_weights()
    inter = (F[:, None, :] & F[None, :, :]) @ w
    union = (F[:, None, :] | F[None, :, :]) @ w
    ref = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    items = shop.item_ids[:5]
    ipos = shop.item_index(items)
    got = model.similar_items(items, n=4)
    _check_against(got, "item_id", "similar_item_id", ref[ipos], ipos, _item_map(shop), 4, items)


def test_als_matches_factor_cosine_and_implicit(fitted, shop):
    model = fitted["ALS"]
    items, users = _warm_items(shop), _warm_users(shop)
    ipos, upos = shop.item_index(items), shop.user_index(users)
    F, U = model.item_factors_.astype(np.float64), model.user_factors_.astype(np.float64)
    got = model.similar_items(items, n=4)
    _check_against(
        got, "item_id", "similar_item_id", _cosine(F[ipos], F), ipos, _item_map(shop), 4, items
    )
    got = model.similar_users(users, n=4)
    _check_against(
        got, "user_id", "similar_user_id", _cosine(U[upos], U), upos, _user_map(shop), 4, users
    )
    # implicit's own similar_items ranks the same products (itself first, then ours)
    ids, scores = model._implicit.similar_items(int(ipos[0]), N=5)
    ours = model.similar_items(items[0], n=4)
    assert shop.item_ids[ids[1:]].tolist() == ours["similar_item_id"].tolist()
    np.testing.assert_allclose(scores[1:], ours["score"], rtol=1e-5)


def _field_units(features) -> np.ndarray:
    """Per-field unit rows of an encoded feature matrix (dense)."""
    F = features.matrix.toarray().astype(np.float64)
    out = np.zeros_like(F)
    for field in features.fields.values():
        block = F[:, field.columns]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[:, field.columns] = np.divide(block, norms, out=np.zeros_like(block), where=norms > 0)
    return out


def _fcf_weights(model, users: bool):
    w = model.feature_weights_.clip(lower=0)
    fields = list(model.dataset_.item_fields)
    a = np.asarray([w.get(f, 0.0) + w.get(f"content:{f}", 0.0) for f in fields])
    b = sum(w.get(t, 0.0) for t in ("cf", "ease", "user_cf", "cooccurrence"))
    d = sum(w.get(t, 0.0) for t in ("demographics", "demographic_fields")) if users else 0.0
    total = a.sum() + b + d
    return a / total, b / total, d / total


def test_feature_cf_items_are_feature_weighted_plus_copurchases(fitted, shop):
    model = fitted["FeatureCF"]
    a, b, _ = _fcf_weights(model, users=False)
    Z = _field_units(shop.item_features)
    col_w = a[shop.item_features.field_of_column]
    ref = (Z * col_w) @ Z.T + b * model.item_similarity_.toarray()
    # every product, those without interactions (the shop's last two) included
    got = model.similar_items(shop.item_ids, n=5)
    everything = np.arange(shop.n_items)
    _check_against(
        got, "item_id", "similar_item_id", ref, everything, _item_map(shop), 5, shop.item_ids
    )
    assert got["score"].between(0, 1 + 1e-6).all()  # a weighted mean of cosines


def test_feature_cf_customers_are_profiles_purchases_and_demographics(fitted, shop):
    model = fitted["FeatureCF"]
    a, b, d = _fcf_weights(model, users=True)
    g = model.global_profile_
    lift = model.user_profiles_.astype(np.float64)
    active = model.active_users_
    users = np.concatenate([_warm_users(shop, 4), shop.user_ids[shop.user_counts() == 0][:2]])
    upos = shop.user_index(users)
    ref = np.zeros((len(users), len(active)))
    for f, field in enumerate(shop.item_features.fields.values()):
        sl = field.columns
        q, r = lift[upos][:, sl] * np.sqrt(g[sl]), lift[active][:, sl] * np.sqrt(g[sl])
        ref += a[f] * np.maximum(_cosine(q, r), 0.0)
    V = _binary(shop.interactions)
    ref += b * _cosine(V[upos], V[active])
    U = shop.user_features.matrix.toarray().astype(np.float64)
    ref += d * _cosine(U[upos], U[active])
    full = np.zeros((len(users), shop.n_users))
    full[:, active] = ref
    got = model.similar_users(users, n=6)
    _check_against(got, "user_id", "similar_user_id", full, upos, _user_map(shop), 6, users)
    assert set(got["user_id"]) == set(users)  # customers known by features only are served


# ----------------------------------------------------------------------------- new products
def _new_products(shop, ids=("NEW-1", "NEW-2")):
    frame = shop.item_frame.reset_index().iloc[[0, 3]].copy()
    frame[shop.columns["item"]] = list(ids)
    return frame


@pytest.mark.parametrize("name", ["ContentKNN", "FeatureCF"])
def test_new_products_by_features_equal_new_products_added(name, fitted, shop):
    model = fitted[name]
    frame = _new_products(shop)
    n_items = model.dataset_.n_items
    before = model.recommend(_warm_users(shop, 3), n=5)
    by_features = model.similar_items(
        ["NEW-2", shop.item_ids[1], "NEW-1"], n=6, item_features=frame, reasons=True
    )
    assert model.dataset_.n_items == n_items  # not added
    pd.testing.assert_frame_equal(model.recommend(_warm_users(shop, 3), n=5), before)
    assert by_features["item_id"].unique().tolist() == ["NEW-2", shop.item_ids[1], "NEW-1"]
    added = clone(model).fit(shop).add_items(frame)
    for new in ("NEW-1", "NEW-2"):
        got = by_features[by_features["item_id"] == new].reset_index(drop=True)
        want = added.similar_items(new, n=6, items=shop.item_ids, reasons=True)
        pd.testing.assert_frame_equal(got, want, rtol=1e-5)
    # a catalogue product finds the added products among its similar ones
    found = added.similar_items(shop.item_ids[0], n=shop.n_items + 2)
    assert {"NEW-1"} <= set(found["similar_item_id"])  # NEW-1 copies its features
    assert found.iloc[0]["similar_item_id"] == "NEW-1"


def test_items_restricts_the_candidates(fitted, shop):
    model = fitted["FeatureCF"]
    allowed = list(shop.item_ids[3:9])
    got = model.similar_items(shop.item_ids[:3], n=4, items=allowed)
    assert set(got["similar_item_id"]) <= set(allowed)
    assert got.groupby("item_id").size().max() == 4


@pytest.mark.parametrize("name", list(MODELS))
def test_a_loaded_model_answers_the_same(name, fitted, shop, tmp_path):
    model = fitted[name]
    model.save(tmp_path / "model.npz")
    loaded = featcf.load(tmp_path / "model.npz")
    items, users = _warm_items(shop), _warm_users(shop)
    pd.testing.assert_frame_equal(loaded.similar_items(items), model.similar_items(items))
    pd.testing.assert_frame_equal(loaded.similar_users(users), model.similar_users(users))


# ----------------------------------------------------------------------------- refusals
def test_popularity_refuses_both(shop):
    model = Popularity().fit(shop)
    for call in (
        lambda: model.similar_items(shop.item_ids[0]),
        lambda: model.similar_users(shop.user_ids[0]),
    ):
        with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
            call()


@pytest.mark.parametrize("name", ["ItemKNN", "UserKNN", "ALS"])
def test_interaction_models_refuse_products_without_interactions(name, fitted, shop):
    model = fitted[name]
    cold = shop.item_ids[shop.item_counts() == 0][0]
    with pytest.raises(UnsupportedProtocolError, match="ContentKNN"):
        model.similar_items(cold)
    with pytest.raises(UnsupportedProtocolError, match="item_features"):
        model.similar_items(item_features=_new_products(shop))
    no_history = shop.user_ids[shop.user_counts() == 0][0]
    with pytest.raises(UnsupportedProtocolError, match="FeatureCF"):
        model.similar_users(no_history)


def test_als_refuses_reasons(fitted, shop):
    model = fitted["ALS"]
    with pytest.raises(UnsupportedProtocolError, match="latent factors"):
        model.similar_items(shop.item_ids[0], reasons=True)
    with pytest.raises(UnsupportedProtocolError, match="latent factors"):
        model.similar_users(shop.user_ids[0], reasons=True)


def test_bad_input_names_the_argument(fitted, shop):
    model = fitted["FeatureCF"]
    with pytest.raises(UnknownIdError, match="item_ids") as info:
        model.similar_items(["nope", shop.item_ids[0]])
    assert info.value.unknown_ids == ["nope"]
    with pytest.raises(UnknownIdError, match="items"):
        model.similar_items(shop.item_ids[0], items=["nope"])
    with pytest.raises(UnknownIdError, match="user_ids"):
        model.similar_users(["nobody"])
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            model.similar_items(shop.item_ids[0], n=bad)
        with pytest.raises(ValueError, match="n must be a positive integer"):
            model.similar_users(shop.user_ids[0], n=bad)
    with pytest.raises(ValueError, match="item_ids and/or item_features"):
        model.similar_items()
    in_catalogue = shop.item_frame.reset_index().head(1)
    with pytest.raises(ValueError, match="in the catalogue"):
        model.similar_items(item_features=in_catalogue)


# ----------------------------------------------------------------------------- by hand
def test_hand_checked_on_tiny(tiny):
    model = ItemKNN().fit(tiny)
    got = model.similar_items("sku-10", n=5, reasons=True)
    # sku-10 is held by u1, u2, u5; sku-20 by u1, u2; sku-30 by u1
    assert got["similar_item_id"].tolist() == ["sku-20", "sku-30"]
    np.testing.assert_allclose(got["score"], [2 / np.sqrt(6), 1 / np.sqrt(3)], rtol=1e-6)
    assert got["reason"].tolist() == [
        "also bought by 2 customers who bought sku-10",
        "also bought by 1 customer who bought sku-10",
    ]
    users = UserKNN().fit(tiny).similar_users("u1", n=5, reasons=True)
    assert users["similar_user_id"].tolist() == ["u2", "u5"]
    assert users["reason"].tolist() == ["both bought sku-10 and sku-20", "both bought sku-10"]
    content = ContentKNN().fit(tiny).similar_items("sku-60", n=2, reasons=True)
    # sku-60 (home, premium): sku-30 shares home, sku-20 and sku-40 share premium
    assert content["similar_item_id"].tolist() == ["sku-20", "sku-30"]
    assert content["reason"].tolist() == ["same coverage (premium)", "same category (home)"]


# ----------------------------------------------------------------------------- reasons
def _internal_words(model) -> set[str]:
    words = set(INTERNAL)
    if isinstance(model, FeatureCF):
        fields = set(model.dataset_.item_fields)
        words |= {t for t in model.term_names_ if t not in fields}
    return words


@pytest.mark.parametrize("name", ["ItemKNN", "UserKNN", "ContentKNN", "FeatureCF"])
def test_every_reason_is_plain_language(name, fitted, shop):
    model = fitted[name]
    words = _internal_words(model)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words)) + r")\b")
    frames = [
        model.similar_items(_warm_items(shop, 8), n=6, reasons=True),
        model.similar_users(_warm_users(shop, 20), n=6, reasons=True),
    ]
    if model.handles_new_items:
        frames.append(model.similar_items(item_features=_new_products(shop), n=6, reasons=True))
    if model.handles_new_users_with_features:
        frames.append(
            model.similar_users(shop.user_ids[shop.user_counts() == 0], n=6, reasons=True)
        )
    for frame in frames:
        reasons = frame["reason"]
        assert len(reasons) and reasons.map(lambda r: isinstance(r, str) and r.strip() != "").all()
        assert not reasons.str.contains(pattern).any(), reasons[
            reasons.str.contains(pattern)
        ].tolist()
        assert (reasons != NO_REASON).mean() > 0.9


# ----------------------------------------------------------------------------- property
@st.composite
def interactions(draw):
    n_users = draw(st.integers(2, 9))
    n_items = draw(st.integers(2, 8))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1,
            max_size=40,
        )
    )
    return n_users, n_items, sorted(set(cells))


@settings(max_examples=30, deadline=None)
@given(data=interactions(), n=st.integers(1, 6))
def test_knn_similar_lists_equal_brute_force(data, n):
    n_users, n_items, cells = data
    frame = pd.DataFrame(
        {"user": [f"u{u}" for u, _ in cells], "item": [f"sku-{i}" for _, i in cells]}
    )
    dataset = Dataset.from_frames(frame, user_col="user", item_col="item")
    X = dataset.interactions.toarray().astype(np.float64)
    items, users = dataset.item_ids, dataset.user_ids
    ipos, upos = np.arange(len(items)), np.arange(len(users))
    item_model = ItemKNN(n_neighbors=20).fit(dataset)
    got = item_model.similar_items(items, n=n)
    _check_against(
        got, "item_id", "similar_item_id", _cosine(X.T, X.T), ipos, _item_map(dataset), n, items
    )
    user_model = UserKNN(n_neighbors=20).fit(dataset)
    got = user_model.similar_users(users, n=n)
    _check_against(
        got, "user_id", "similar_user_id", _cosine(X, X), upos, _user_map(dataset), n, users
    )
    assert (got.groupby("user_id").size() <= n).all()


@pytest.mark.parametrize("name", ["ItemKNN", "FeatureCF"])
def test_withdrawn_products_are_never_similar_but_may_be_asked_about(name, shop):
    model = MODELS[name]().fit(shop)
    before = model.similar_items(shop.item_ids[:3], n=5)
    gone = before["similar_item_id"].iloc[0]
    model.withdraw(gone)
    after = model.similar_items(shop.item_ids[:3], n=5)
    assert gone not in set(after["similar_item_id"])
    # the others keep their order: the unfiltered lists with the withdrawn product left out
    for qid, rows in after.groupby("item_id", sort=False):
        expected = [i for i in before.loc[before["item_id"] == qid, "similar_item_id"] if i != gone]
        assert rows["similar_item_id"].tolist()[: len(expected)] == expected
    assert len(model.similar_items(gone, n=3)) > 0
    model.reinstate(gone)
    assert model.similar_items(shop.item_ids[:3], n=5).equals(before)
