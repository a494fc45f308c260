"""``partial_fit`` (issue 16): equivalences, the kNN rows against a refit, files, errors.

(a) A customer registered by ``partial_fit`` against ``recommend_new_users``. Exactly equal
    to the model *before* the update where the update leaves what the fold-in reads as it
    was: ALS (item factors unchanged, no new product), UserKNN (one new customer, no other
    history changed), ContentKNN (no new product), Popularity and FeatureCF (a customer
    registered by features only: no interaction, so no shared part moves; FeatureCF up to
    the float32 storage of the profile). ItemKNN and Popularity with a history read parts
    the update refreshes (the rows of the customer's items, the counts of the items), so
    they equal ``recommend_new_users`` on the *updated* model; FeatureCF with a history keeps
    the fold-in's per-customer state exactly, and its scores move with the shared parts.
(b) ItemKNN / UserKNN: the rows of the touched items / users equal those of a fit on the
    grown Dataset, indices and scores exactly (and hypothesis on random small matrices).
(c) Saved after ``partial_fit`` and loaded: identical answers and update counts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import featcf
from estimators import CLASSES, quick
from featcf import Dataset, ModelFormatError, NotFittedError, StaleModelWarning, UnknownIdError
from featcf.datasets import make_insurance_shop
from featcf.models import ALS, ContentKNN, FeatureCF, ItemKNN, Popularity, UserKNN
from featcf.models._updates import REFIT_THRESHOLD, UpdateStats
from featcf.models.feature_cf._users import folded_users
from tampering import read_archive, write_model_file

WHEN = pd.Timestamp("2024-06-01")
#: the batches register customers without a user_features row on purpose (announced by a
#: FeatureEncodingWarning, tested in tests/data/test_growth.py)
pytestmark = pytest.mark.filterwarnings("ignore::featcf.FeatureEncodingWarning")


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return make_insurance_shop(n_customers=300, random_state=0)


def sales(shop: Dataset, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """A batch of interactions in the shop's columns (weight 1, one timestamp)."""
    users, items = zip(*pairs, strict=True) if pairs else ((), ())
    return pd.DataFrame({"user_id": users, "item_id": items, "n_policies": 1.0, "timestamp": WHEN})


def fresh_pairs(shop: Dataset, n: int, seed: int, users: list) -> list[tuple]:
    """``n`` distinct (user, item) pairs of ``users`` that the shop does not store."""
    rng = np.random.default_rng(seed)
    stored = set(zip(*[shop.to_frame()[c] for c in ("user_id", "item_id")], strict=True))
    pairs: dict = {}
    while len(pairs) < n:
        pair = (users[rng.integers(len(users))], shop.item_ids[rng.integers(shop.n_items)])
        if pair not in stored:
            pairs[pair] = None
    return list(pairs)


def history_of(model, user_id, new_id: str = "probe") -> pd.DataFrame:
    """A customer's stored interactions under another id (for recommend_new_users)."""
    ds = model.dataset_
    row = ds.interactions[ds.user_index(user_id)]
    return pd.DataFrame(
        {"user_id": new_id, "item_id": ds.item_ids[row.indices], "n_policies": row.data}
    )


def same(a: pd.DataFrame, b: pd.DataFrame, scores: str = "equal") -> None:
    cols = ["item_id", "rank"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    if scores == "equal":
        np.testing.assert_array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    else:
        np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), rtol=1e-5)


# ---------------------------------------------------------------------- (a) fold-in equivalence
@pytest.mark.parametrize("name", ["ALS", "UserKNN", "ContentKNN"])
def test_a_registered_customer_gets_what_the_fold_in_gave_before_the_update(shop, name):
    model = quick(name, **({"n_neighbors": 10} if "KNN" in name else {})).fit(shop)
    batch = sales(shop, [("web-1", shop.item_ids[0]), ("web-1", shop.item_ids[3])])
    before = model.recommend_new_users(batch.assign(user_id="probe"), n=8)
    model.partial_fit(batch)
    same(model.recommend("web-1", n=8), before)


def test_als_folds_in_every_touched_customer_as_recommend_new_users(shop):
    before, model = quick("ALS").fit(shop), quick("ALS").fit(shop)  # the same seed
    known = shop.user_ids[:4].tolist()
    batch = sales(shop, fresh_pairs(shop, 8, 1, [*known, "web-1", "web-2"]))
    model.partial_fit(batch)
    assert batch.user_id.nunique() >= 4
    for user in batch.user_id.unique():
        expected = before.recommend_new_users(history_of(model, user), n=6)
        same(model.recommend(user, n=6), expected)
    np.testing.assert_array_equal(model.item_factors_, before.item_factors_)


@pytest.mark.parametrize("name", ["ItemKNN", "Popularity"])
def test_a_registered_customer_gets_the_fold_in_of_the_updated_model(shop, name):
    model = quick(name, **({"n_neighbors": 10} if name == "ItemKNN" else {})).fit(shop)
    batch = sales(shop, [("web-1", shop.item_ids[0]), ("web-1", shop.item_ids[3])])
    model.partial_fit(batch)
    same(model.recommend("web-1", n=8), model.recommend_new_users(batch.assign(user_id="p"), n=8))


@pytest.mark.parametrize("name", ["Popularity", "FeatureCF"])
def test_a_customer_registered_by_features_gets_the_fold_in_before_the_update(shop, name):
    model = quick(name, **({"n_neighbors": 10} if name == "FeatureCF" else {})).fit(shop)
    signup = shop.user_frame.reset_index().iloc[[3]].assign(user_id="web-9")
    before = model.recommend_new_users(user_features=signup.assign(user_id="probe"), n=8)
    model.partial_fit(sales(shop, [])[:0], user_features=signup)
    # FeatureCF stores the profile in float32, as at a fit: the same list, scores to 1e-5
    same(model.recommend("web-9", n=8), before, "close" if name == "FeatureCF" else "equal")


def _neighbours(matrix: sp.csr_matrix, row: int, active_ids: np.ndarray) -> dict:
    m = matrix[row]
    return dict(zip(active_ids[m.indices].tolist(), m.data.tolist(), strict=True))


def test_feature_cf_keeps_the_fold_in_state_of_a_registered_customer(shop):
    model = quick("FeatureCF", n_neighbors=10).fit(shop)
    scorer = model._fitted.scorer
    signup = shop.user_frame.reset_index().iloc[[7]].assign(user_id="web-1")
    batch = sales(shop, [("web-1", shop.item_ids[0]), ("web-1", shop.item_ids[5])])
    features = shop.encode_users(signup).matrix
    history = sp.csr_matrix(
        (np.ones(2, np.float32), shop.item_index(batch.item_id.tolist()), [0, 2]),
        shape=(1, shop.n_items),
    )
    folded = folded_users(scorer, history, sp.csr_matrix(features, dtype=np.float32))
    old_ids = shop.user_ids[scorer.core.active]
    model.partial_fit(batch, user_features=signup)
    core, u = model._fitted.scorer.core, model.dataset_.user_index("web-1")
    new_ids = model.dataset_.user_ids[core.active]
    np.testing.assert_array_equal(core.lift[u], folded.lift[0].astype(np.float32))
    pairs = [(core.user_neighbors, folded.user_neighbors), (core.demo_neighbors, folded.demo)]
    pairs += list(zip(core.field_neighbors, folded.field_neighbors, strict=True))
    for stored, fold_in in pairs:
        assert _neighbours(stored, u, new_ids) == _neighbours(fold_in, 0, old_ids)
    assert core.item_counts[shop.item_index(batch.item_id[0])] == (
        scorer.core.item_counts[shop.item_index(batch.item_id[0])] + 1
    )


def test_feature_cf_refreshes_a_known_customer_as_a_fit_searches_neighbours(shop):
    model = quick("FeatureCF", n_neighbors=10).fit(shop)
    user = shop.user_ids[np.argmax(shop.user_counts())]
    model.partial_fit(sales(shop, fresh_pairs(shop, 1, 2, [user])))
    core, u = model._fitted.scorer.core, model.dataset_.user_index(user)
    row = core.user_neighbors[u]
    assert row.nnz <= 10 and u not in core.active[row.indices]  # never their own neighbour
    assert np.all(np.diff(row.data) <= 0)  # best first, as a fit stores them
    assert core.values[u].nnz == shop.user_counts()[shop.user_index(user)] + 1


def test_feature_cf_renumbers_the_neighbours_when_a_registered_customer_buys(tmp_path):
    shop = make_insurance_shop(n_customers=300, n_new_customers=6, random_state=2)
    model = quick("FeatureCF", n_neighbors=10).fit(shop)
    counts = shop.user_counts()
    waiting = shop.user_ids[np.flatnonzero(counts == 0)[0]]  # features, no purchase yet
    core = model._fitted.scorer.core
    before = {u: _neighbours(core.user_neighbors, u, shop.user_ids[core.active]) for u in (0, 1)}
    model.partial_fit(sales(shop, [(waiting, shop.item_ids[0])]))
    core = model._fitted.scorer.core
    ids = model.dataset_.user_ids[core.active]
    assert waiting in ids  # active now, a column in the middle of the neighbour matrices
    for u, neighbours in before.items():  # untouched rows name the same customers
        assert _neighbours(core.user_neighbors, u, ids) == neighbours
    model.save(tmp_path / "m.npz")  # the loader checks active_users_ and item_counts_
    users = [waiting, *shop.user_ids[:3].tolist()]
    pd.testing.assert_frame_equal(
        featcf.load(tmp_path / "m.npz").recommend(users, n=5), model.recommend(users, n=5)
    )


# ---------------------------------------------------------------------- (b) kNN rows = a refit
def _rows_equal(updated: sp.csr_matrix, refit: sp.csr_matrix, rows: np.ndarray) -> None:
    for r in rows:
        a, b = updated[r], refit[r]
        np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"row {r}")
        np.testing.assert_array_equal(a.data, b.data, err_msg=f"row {r}")


def _graded(shop: Dataset) -> Dataset:
    """The shop with ratings 1-5 (the centred metrics need graded weights)."""
    rng = np.random.default_rng(4)
    frame = shop.to_frame().assign(n_policies=lambda f: rng.integers(1, 6, len(f)).astype(float))
    return Dataset.from_frames(
        frame, shop.item_frame.reset_index(), user_col="user_id", item_col="item_id",
        weight_col="n_policies", timestamp_col="timestamp",
    )  # fmt: skip


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize(
    "params",
    [
        {"metric": "cosine"},
        {"metric": "jaccard", "shrink": 2.0},
        {"metric": "cosine", "min_support": 2},
        {"metric": "adjusted_cosine"},
        {"metric": "pearson"},
    ],
)
def test_touched_rows_equal_those_of_a_refit(shop, cls, params):
    data = _graded(shop) if params["metric"] in ("adjusted_cosine", "pearson") else shop
    model = cls(n_neighbors=8, **params).fit(data)
    users = [*data.user_ids[:40].tolist(), "web-1", "web-2"]
    launch = data.item_frame.reset_index().iloc[[1]].assign(item_id="P-NEW")
    pairs = fresh_pairs(data, 60, 3, users) + [("web-1", "P-NEW"), (users[0], "P-NEW")]
    batch = sales(data, pairs).assign(n_policies=np.arange(len(pairs)) % 5 + 1.0)
    model.partial_fit(batch, item_features=launch)
    grown = model.dataset_
    refit = cls(n_neighbors=8, **params).fit(grown)
    axis = grown.item_index if cls is ItemKNN else grown.user_index
    touched = np.unique(axis(batch["item_id" if cls is ItemKNN else "user_id"].tolist()))
    _rows_equal(model.similarity_, refit.similarity_, touched)
    assert model.similarity_.shape == refit.similarity_.shape


@st.composite
def _split_matrix(draw):
    n_users, n_items = draw(st.integers(3, 9)), draw(st.integers(2, 7))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1), st.integers(1, 4)),
            min_size=2, max_size=40, unique_by=lambda c: c[:2],
        )
    )  # fmt: skip
    n_old = draw(st.integers(1, len(cells) - 1))
    return cells[:n_old], cells[n_old:]


@pytest.mark.filterwarnings("ignore::featcf.StaleModelWarning")
@settings(max_examples=30, deadline=None)
@given(
    split=_split_matrix(),
    cls=st.sampled_from([ItemKNN, UserKNN]),
    metric=st.sampled_from(["cosine", "jaccard", "pearson"]),
    k=st.integers(1, 4),
)
def test_touched_rows_equal_a_refit_on_random_matrices(split, cls, metric, k):
    def frame(cells):
        return pd.DataFrame(
            {"user": [f"u{u}" for u, _, _ in cells], "item": [f"i{i}" for _, i, _ in cells],
             "r": [float(r) for _, _, r in cells]}
        )  # fmt: skip

    old, new = split
    data = Dataset.from_frames(frame(old), user_col="user", item_col="item", weight_col="r")
    known_items = set(data.item_ids)
    new = [c for c in new if f"i{c[1]}" in known_items]  # new products need features
    try:
        model = cls(n_neighbors=k, metric=metric).fit(data)
    except ValueError:  # pearson on constant weights: refused at fit, nothing to update
        return
    model.partial_fit(frame(new))
    refit = cls(n_neighbors=k, metric=metric).fit(model.dataset_)
    grown = model.dataset_
    if cls is ItemKNN:
        touched = grown.item_index([f"i{i}" for _, i, _ in new])
    else:
        touched = grown.user_index([f"u{u}" for u, _, _ in new])
    _rows_equal(model.similarity_, refit.similarity_, np.unique(np.asarray(touched, np.int64)))


# ---------------------------------------------------------------------- (c) files
@pytest.mark.parametrize("name", CLASSES)
def test_a_model_saved_after_partial_fit_loads_with_identical_answers(shop, name, tmp_path):
    model = quick(name).fit(shop)
    launch = shop.item_frame.reset_index().iloc[[2]].assign(item_id="P-NEW")
    signup = shop.user_frame.reset_index().iloc[[0, 1]].assign(user_id=["web-1", "web-2"])
    pairs = fresh_pairs(shop, 8, 5, [*shop.user_ids[:5].tolist(), "web-1"])
    batch = sales(shop, [*pairs, ("web-1", "P-NEW")])
    model.partial_fit(batch, user_features=signup, item_features=launch)
    path = tmp_path / "live.npz"
    featcf.save(model, path)
    loaded = featcf.load(path)
    users = ["web-1", *shop.user_ids[:3].tolist()]
    pd.testing.assert_frame_equal(loaded.recommend(users, n=5), model.recommend(users, n=5))
    items = ["P-NEW", shop.item_ids[0]]
    np.testing.assert_array_equal(loaded.predict(users[:2], items), model.predict(users[:2], items))
    pd.testing.assert_frame_equal(
        loaded.recommend_users(shop.item_ids[0], n=5), model.recommend_users(shop.item_ids[0], n=5)
    )
    assert loaded.update_stats_ == model.update_stats_
    assert loaded.update_stats_.users_added == 2 and loaded.update_stats_.items_added == 1
    if name != "ALS":  # no readable parts
        # labels left out: a loaded item frame reads its text columns as pandas strings, so
        # the display names fall back to ids after any load (with or without an update)
        parts = [c for c in model.explain("web-1", items[1]).columns if c != "label"]
        pd.testing.assert_frame_equal(
            loaded.explain("web-1", items[1])[parts], model.explain("web-1", items[1])[parts]
        )


@pytest.mark.parametrize(
    "edit",
    [{"users_added": -3}, {"n_updates": 1.5}, {"drift": 0}],
    ids=["negative", "float", "key"],
)
def test_a_tampered_update_record_is_refused(shop, tmp_path, edit):
    model = Popularity().fit(shop).partial_fit(sales(shop, [("web-1", shop.item_ids[0])]))
    model.save(tmp_path / "m.npz")
    meta, arrays = read_archive(tmp_path / "m.npz")
    meta["state"]["update_stats_"]["value"].update(edit)
    write_model_file(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(ModelFormatError, match="update_stats_"):
        featcf.load(tmp_path / "bad.npz")


def test_a_model_without_updates_saves_no_update_record(shop, tmp_path):
    model = Popularity().fit(shop)
    model.save(tmp_path / "m.npz")
    loaded = featcf.load(tmp_path / "m.npz")
    assert loaded.update_stats_ == UpdateStats.baseline(shop)


# ---------------------------------------------------------------------- new ids are known
def test_registered_ids_are_known_to_every_query(shop):
    model = FeatureCF(n_neighbors=10, random_state=0, show_progress=False).fit(shop)
    launch = shop.item_frame.reset_index().iloc[[4]].assign(item_id="P-NEW")
    model.partial_fit(sales(shop, [("web-1", "P-NEW"), ("web-1", shop.item_ids[2])]),
                      item_features=launch)  # fmt: skip
    assert "web-1" in model.recommend_users("P-NEW", n=None, exclude_seen=False)["user_id"].values
    assert model.explain("web-1", shop.item_ids[0])["contribution"].notna().all()
    assert np.isfinite(model.predict(["web-1"], ["P-NEW"])).all()
    recs = model.recommend("web-1", n=50)
    assert not set(recs["item_id"]) & {"P-NEW", shop.item_ids[2]}  # seen items left out


# ---------------------------------------------------------------------- refresh policy
def test_needs_refit_and_the_warning_follow_the_share_of_new_data(shop):
    model = ItemKNN(n_neighbors=5).fit(shop)
    assert not model.needs_refit() and model.update_stats_.drift == 0.0
    few = sales(shop, fresh_pairs(shop, 5, 6, shop.user_ids[:20].tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", StaleModelWarning)
        model.partial_fit(few)
    stats = model.update_stats_
    assert stats.interactions_added == 5 and stats.interaction_share == 5 / shop.n_interactions
    assert not model.needs_refit() and model.needs_refit(threshold=stats.drift)
    many = int(REFIT_THRESHOLD * shop.n_interactions) + 1
    batch = sales(shop, fresh_pairs(shop, many, 7, shop.user_ids[20:].tolist()))
    with pytest.warns(StaleModelWarning, match="fit the model again"):
        model.partial_fit(batch)
    assert model.needs_refit()
    with warnings.catch_warnings():  # warned once, when the threshold was crossed
        warnings.simplefilter("error", StaleModelWarning)
        model.partial_fit(sales(shop, [("web-5", shop.item_ids[0])]))
    assert model.update_stats_.n_updates == 3
    assert model.update_stats_.to_frame()["drift"].iloc[0] == model.update_stats_.drift
    model.fit(model.dataset_)  # a fit starts the counts again
    assert model.update_stats_ == UpdateStats.baseline(model.dataset_)
    with pytest.raises(ValueError, match="threshold"):
        model.needs_refit(threshold=0)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", CLASSES)
def test_partial_fit_before_fit_is_refused(shop, name):
    with pytest.raises(NotFittedError, match="fit"):
        quick(name).partial_fit(sales(shop, [("web-1", shop.item_ids[0])]))


def test_unknown_products_without_features_are_refused_and_leave_the_model(shop):
    model = UserKNN(n_neighbors=5).fit(shop)
    similarity, dataset = model.similarity_, model.dataset_
    with pytest.raises(UnknownIdError, match="item_features") as caught:
        model.partial_fit(sales(shop, [("web-1", "P-404"), ("web-1", shop.item_ids[0])]))
    assert caught.value.unknown_ids == ["P-404"]
    assert model.similarity_ is similarity and model.dataset_ is dataset
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        model.partial_fit({"user_id": ["web-1"]})


@pytest.mark.parametrize("cls", [ItemKNN, ALS, ContentKNN])
def test_customers_registered_without_interactions_are_refused_by_history_models(shop, cls):
    model = quick(cls.__name__).fit(shop)
    signup = shop.user_frame.reset_index().iloc[[0]].assign(user_id="web-3")
    model.partial_fit(sales(shop, [])[:0], user_features=signup)
    with pytest.raises(featcf.UnsupportedProtocolError, match="without interactions"):
        model.recommend("web-3")


@pytest.mark.parametrize("name", ["Popularity", "ItemKNN", "FeatureCF"])
def test_interactions_with_withdrawn_products_are_refused_until_reinstated(shop, name):
    model = quick(name).fit(shop)
    gone, kept = shop.item_ids[0], shop.item_ids[1]
    model.withdraw(gone)
    dataset = model.dataset_
    with pytest.raises(ValueError, match=r"withdrawn product.*reinstate") as caught:
        model.partial_fit(sales(shop, [("web-1", kept), ("web-1", gone)]))
    assert str(gone) in str(caught.value)
    assert model.dataset_ is dataset  # nothing registered
    model.partial_fit(sales(shop, [("web-1", kept)]))  # the other products still update
    model.reinstate(gone).partial_fit(sales(shop, [("web-2", gone)]))
    assert {"web-1", "web-2"} <= set(model.user_ids_)
