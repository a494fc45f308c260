"""featcf.models.feature_cf._state: the typed fitted state, its public views, model files and
concurrent first queries."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import featcf
from featcf import NotFittedError
from featcf.data import Dataset
from featcf.models.feature_cf import FeatureCF
from featcf.models.feature_cf._state import AUDIENCE_ENTRIES, CoreArrays, Fitted

DATA = Path(__file__).resolve().parent / "data"

#: the model file's keys as FeatureCF wrote them before the typed state (603d5ce), in order
STATE_KEYS = [
    "rating_data_", "term_names_", "term_scale_", "band_weights_", "cold_item_weights_",
    "cold_item_affine_", "feature_weights_", "active_users_", "global_profile_",
    "base_profiles_", "user_profiles_", "popularity_", "popularity_coef_", "item_counts_",
    "item_similarity_", "ease_matrix_", "ease_feature_matrix_", "kappa_", "content_map_",
    "user_neighbors_", "field_neighbors_", "demo_neighbors_", "demo_lift_", "demo_field_lift_",
    "item_quality_", "n_users_fit_", "ease_l2_",
]  # fmt: skip
#: entries added since (files without them still load: ``featcf.models.base.ADDED_ENTRIES``)
STATE_KEYS_ADDED = [
    "affinity_matrix_", "band_affine_", "audience_band_weights_", "audience_cold_item_affine_",
    "audience_band_affine_", "stated_weights_", "stated_only_weights_",
    "popularity_design_",
]  # fmt: skip


def _fit(shop) -> FeatureCF:
    return FeatureCF(n_neighbors=15, random_state=0, show_progress=False).fit(shop)


def test_model_file_keys_are_those_written_before(shop):
    model = _fit(shop)
    state = model._get_state()
    assert list(state) == STATE_KEYS + STATE_KEYS_ADDED
    # issue 13: loading holds a file to the schema, which names exactly these keys
    assert list(model._state_schema(model.dataset_)) == STATE_KEYS + STATE_KEYS_ADDED


def test_fitted_attributes_are_read_only_views(tiny, make_model):
    model = make_model()
    with pytest.raises(AttributeError, match="band_weights_"):
        _ = model.band_weights_
    with pytest.raises(NotFittedError, match="fit"):
        model._get_state()
    model.fit(tiny)
    assert isinstance(model._fitted, Fitted)
    assert model.band_weights_ is model._fitted.weights.band
    with pytest.raises(AttributeError, match="read-only"):
        model.band_weights_ = np.zeros(3)


def test_queries_add_no_state(tiny, make_model):
    """Every derived array is built at fit: queries neither add nor replace anything."""
    model = make_model().fit(tiny)
    before = dict(model.__dict__)
    arrays = model._fitted.scorer.arrays
    assert isinstance(arrays, CoreArrays)
    model.recommend(tiny.user_ids, n=3)
    model.recommend_new_users(pd.DataFrame({"user": ["z"], "item": ["sku-20"]}), n=3)
    model.recommend_users(["sku-10"], n=3)
    model.explain("u1", "sku-40")
    assert model.__dict__.keys() == before.keys()
    assert all(model.__dict__[k] is v for k, v in before.items())
    assert model._fitted.scorer.arrays is arrays


def test_load_rebuilds_the_typed_state(tmp_path, tiny, make_model):
    model = make_model().fit(tiny)
    path = tmp_path / "fcf.npz"
    model.save(path)
    loaded = featcf.load(path)
    assert isinstance(loaded._fitted, Fitted)
    for name in STATE_KEYS:
        want, got = getattr(model, name), getattr(loaded, name)
        if hasattr(want, "toarray"):
            assert (want != got).nnz == 0, name
        elif isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want)
        elif isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            assert got == want, name


def test_a_model_file_written_before_the_typed_state_loads_and_scores_the_same():
    """``fcf_603d5ce.npz`` was written by featcf at 603d5ce (``data/make_old_model.py``):
    the file format and the scores did not change."""
    model = featcf.load(DATA / "fcf_603d5ce.npz")
    expected = np.load(DATA / "fcf_603d5ce_expected.npz", allow_pickle=False)
    ds = model.dataset_
    np.testing.assert_array_equal(model.score_users(np.arange(ds.n_users)), expected["scores"])
    recs = model.recommend(expected["users"], n=5)
    np.testing.assert_array_equal(recs["item_id"].to_numpy().astype(str), expected["rec_items"])
    np.testing.assert_array_equal(recs["score"].to_numpy(), expected["rec_scores"])
    folded = model.score_new_users(
        ds.interactions[: len(expected["new_scores"])], ds.user_features.matrix[:3]
    )
    np.testing.assert_array_equal(folded, expected["new_scores"])
    parts = model.explain(expected["users"][0], "launch-1")
    np.testing.assert_array_equal(parts["contribution"].to_numpy(), expected["explain"])


# --------------------------------------------------------------------------- concurrency


def _queries(model: FeatureCF, shop, audience: list | None = None) -> list:
    """The calls each thread makes (recommend is above the serial-selection size)."""
    users = shop.user_ids[:100]
    user_col, item_col = shop.columns["user"], shop.columns["item"]
    inter = pd.DataFrame(
        {user_col: ["new-1", "new-1", "new-2"], item_col: list(shop.item_ids[[0, 3, 5]])}
    )
    feats = shop.user_frame.reset_index().iloc[:3].copy()
    feats[user_col] = ["demo-1", "demo-2", "demo-3"]
    items = list(shop.item_ids[:4]) if audience is None else audience
    return [
        lambda: model.recommend(users, n=10),
        lambda: model.recommend_new_users(interactions=inter, n=10),
        lambda: model.recommend_new_users(user_features=feats, n=10),
        lambda: model.recommend_users(items, n=25),
    ]


def _concurrently(model: FeatureCF, calls: list, n_threads: int = 4) -> list[list[pd.DataFrame]]:
    """Every thread runs every query (in a different order), all starting at once."""
    results: list[list[pd.DataFrame | None]] = [[None] * len(calls) for _ in range(n_threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for j in np.roll(np.arange(len(calls)), t):
                results[t][j] = calls[j]()
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _assert_same(serial: list[pd.DataFrame], concurrent: list[list[pd.DataFrame]]) -> None:
    for per_thread in concurrent:
        for want, got in zip(serial, per_thread, strict=True):
            pd.testing.assert_frame_equal(got, want)


def test_concurrent_first_queries_equal_serial_ones(shop, tmp_path):
    """4 threads query a model that has never been queried: after fit, after load, and
    right after add_items; their results equal serial calls on an identical model."""
    reference, fresh = _fit(shop), _fit(shop)
    serial = [call() for call in _queries(reference, shop)]
    _assert_same(serial, _concurrently(fresh, _queries(fresh, shop)))

    path = tmp_path / "fcf.npz"
    reference.save(path)
    loaded_reference, loaded = featcf.load(path), featcf.load(path)
    serial = [call() for call in _queries(loaded_reference, shop)]
    _assert_same(serial, _concurrently(loaded, _queries(loaded, shop)))

    launch = shop.item_frame.reset_index().iloc[[0]].copy()
    launch[launch.columns[0]] = "launch-x"
    audience = [*shop.item_ids[:3], "launch-x"]
    reference.add_items(launch)
    fresh.add_items(launch)
    serial = [call() for call in _queries(reference, shop, audience)]
    assert "launch-x" in set(serial[-1]["item_id"])
    _assert_same(serial, _concurrently(fresh, _queries(fresh, shop, audience)))


def _tampered(model, tmp_path, change):
    """``model`` saved, ``change(meta, arrays)`` applied, written back; the path."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tampering import read_archive, write_model_file

    model.save(tmp_path / "clean.npz")
    meta, arrays = read_archive(tmp_path / "clean.npz")
    change(meta, arrays)
    write_model_file(tmp_path / "changed.npz", meta, arrays)
    return tmp_path / "changed.npz"


def _drop(names):
    def change(meta, arrays):
        for name in names:
            entry = meta["state"].pop(name)
            if "key" in entry:  # JSON entries have no member
                del arrays[next(k for k in arrays if k.startswith(entry["key"]))]

    return change


def test_a_file_without_the_audience_weights_ranks_audiences_as_it_was_saved(fitted_shop, tmp_path):
    """Files saved before the second weight set load with one set for both directions;
    a file holding part of the set is refused."""
    path = _tampered(fitted_shop, tmp_path, _drop(AUDIENCE_ENTRIES))
    loaded = featcf.load(path)
    assert loaded._fitted.audience is loaded._fitted.weights
    np.testing.assert_array_equal(loaded.audience_band_weights_, fitted_shop.band_weights_)
    users = np.arange(fitted_shop.n_users_fit_)
    np.testing.assert_array_equal(
        loaded.score_users(users, across="users"), fitted_shop.score_users(users)
    )
    for name in AUDIENCE_ENTRIES:
        path = _tampered(fitted_shop, tmp_path, _drop([name]))
        with pytest.raises(featcf.ModelFormatError, match="must be present together"):
            featcf.load(path)


#: band maps (level, slope per history band) as files saved while featcf fitted them hold
MAPS = np.column_stack([np.linspace(-0.5, 0.5, 5), np.linspace(0.5, 1.5, 5)])


def _with_band_maps(**maps):
    """Write ``band_affine_`` / ``audience_band_affine_`` into a file (keyword: entry name
    without the trailing underscore)."""

    def change(meta, arrays):
        for name, value in maps.items():
            meta["state"][f"{name}_"] = {"type": "array", "key": f"model/{name}_"}
            arrays[f"model/{name}_"] = np.asarray(value, dtype=np.float64)

    return change


def test_a_file_saved_with_band_maps_scores_as_it_was_saved(fitted_shop, shop, tmp_path):
    """Fits no longer map each band's scores, but files saved while they did keep their
    maps: a customer in band b scores level_b + slope_b * the unmapped score, per set."""
    assert fitted_shop.band_affine_ is None and fitted_shop.audience_band_affine_ is None
    flipped = MAPS[::-1].copy()
    loaded = featcf.load(
        _tampered(
            fitted_shop, tmp_path, _with_band_maps(band_affine=MAPS, audience_band_affine=flipped)
        )
    )
    np.testing.assert_array_equal(loaded.band_affine_, MAPS)
    np.testing.assert_array_equal(loaded.audience_band_affine_, flipped)
    users = np.arange(shop.n_users)
    band = np.searchsorted([1, 3, 6, 21], shop.user_counts(), side="right")
    for across, maps in (("items", MAPS), ("users", flipped)):
        plain = fitted_shop.score_users(users, across=across)
        want = maps[band, 0][:, None] + maps[band, 1][:, None] * plain
        got = loaded.score_users(users, across=across)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    user = shop.user_ids[np.flatnonzero(band == 1)[0]]
    for across in ("items", "users"):
        parts = loaded.explain(user, shop.item_ids[3], across=across)
        level = parts.loc[parts["part"] == "band_level", "contribution"]
        assert level.tolist() == [pytest.approx((MAPS if across == "items" else flipped)[1, 0])]
        want = loaded.score_users(
            shop.user_index([user]), shop.item_index([shop.item_ids[3]]), across=across
        )
        assert parts["contribution"].sum() == pytest.approx(want[0, 0], rel=1e-4, abs=1e-4)
    # saved before the second weight set: one set, with the ranking maps, for both
    before = _tampered(fitted_shop, tmp_path, _drop_then(AUDIENCE_ENTRIES, band_affine=MAPS))
    loaded = featcf.load(before)
    assert loaded._fitted.audience is loaded._fitted.weights
    np.testing.assert_array_equal(loaded.audience_band_affine_, MAPS)


def _drop_then(names, **maps):
    def change(meta, arrays):
        _drop(names)(meta, arrays)
        _with_band_maps(**maps)(meta, arrays)

    return change


@pytest.mark.parametrize(
    "maps, match",
    [
        ({"audience_band_affine": MAPS}, "audience_band_affine_ needs band_affine_"),
        ({"band_affine": MAPS}, "band_affine_ needs audience_band_affine_"),
        ({"band_affine": np.column_stack([MAPS[:, 0], -MAPS[:, 1]]), "audience_band_affine": MAPS},
         "band_affine_ slopes"),
        ({"band_affine": MAPS, "audience_band_affine": np.column_stack([MAPS[:, 0], 0 * MAPS[:, 1]])},
         "audience_band_affine_ slopes"),
    ],
)  # fmt: skip
def test_band_maps_that_disagree_are_refused(fitted_shop, tmp_path, maps, match):
    with pytest.raises(featcf.ModelFormatError, match=match):
        featcf.load(_tampered(fitted_shop, tmp_path, _with_band_maps(**maps)))


def test_audience_band_maps_without_the_audience_weights_are_refused(fitted_shop, tmp_path):
    change = _drop_then(AUDIENCE_ENTRIES, band_affine=MAPS, audience_band_affine=MAPS)
    with pytest.raises(featcf.ModelFormatError, match="audience_band_affine_ needs audience_band"):
        featcf.load(_tampered(fitted_shop, tmp_path, change))


@pytest.fixture(scope="module")
def fitted_shop(searched_model) -> FeatureCF:
    """A fit whose two weight sets differ (the conftest's ``searched_model``)."""
    assert not np.array_equal(searched_model.band_weights_, searched_model.audience_band_weights_)
    return searched_model


def _stated_queries(shop):
    """Four new customers, each with two stated product categories, their features and
    0 or 1 interactions: (history, features, interests) as ``score_new_users`` takes them."""
    import scipy.sparse as sp

    field = shop.item_features.fields["category"]
    n_cols = shop.item_features.n_columns
    rows = np.repeat(np.arange(4), 2)
    cols = field.start + np.array([0, 1, 1, 2, 0, 2, 1, 3]) % (field.stop - field.start)
    interests = sp.csr_matrix((np.ones(8), (rows, cols)), shape=(4, n_cols))
    history = sp.csr_matrix(([1.0, 1.0], ([2, 3], [0, 5])), shape=(4, shop.n_items))
    features = sp.csr_matrix(shop.user_features.matrix[:4], dtype=np.float32)
    return history, features, interests


def _set_weights(**entries):
    def change(meta, arrays):
        for name, value in entries.items():
            key = meta["state"][f"{name}_"]["key"]
            arrays[next(k for k in arrays if k.startswith(key))] = np.asarray(value)

    return change


def _set_then_drop(names, **entries):
    def change(meta, arrays):
        _set_weights(**entries)(meta, arrays)
        _drop(names)(meta, arrays)

    return change


def test_customers_who_state_interests_without_history_get_the_stated_weights(
    fitted_shop, shop, tmp_path
):
    """A new customer without history who states interests is scored with
    ``stated_weights_``; one with history, or known only by demographics, with their band's.
    A file saved before the stated weights scores such a customer with band 0's, as then."""
    assert fitted_shop.stated_weights_ is not None and (fitted_shop.stated_weights_ >= 0).all()
    stated = fitted_shop.band_weights_[1]  # a row unlike band 0's, written as the stated one
    assert not np.allclose(stated, fitted_shop.band_weights_[0])
    history, features, interests = _stated_queries(shop)
    items = np.arange(shop.n_items)
    with_row = featcf.load(_tampered(fitted_shop, tmp_path, _set_weights(stated_weights=stated)))
    got = with_row.score_new_users(history, features, items, interests=interests)
    # band 0 rewritten to that row, the stated weights dropped: the same scores
    swapped = fitted_shop.band_weights_.copy()
    swapped[0] = stated
    as_band = featcf.load(
        _tampered(fitted_shop, tmp_path, _set_then_drop(["stated_weights_"], band_weights=swapped))
    )
    assert as_band.stated_weights_ is None
    np.testing.assert_allclose(
        as_band.score_new_users(history[:2], features[:2], items, interests=interests[:2]),
        got[:2],
        rtol=1e-5,
        atol=1e-5,
    )
    # customers with history, and those known only by demographics: their bands' weights
    fitted = fitted_shop.score_new_users(history, features, items, interests=interests)
    np.testing.assert_array_equal(got[2:], fitted[2:])
    np.testing.assert_array_equal(
        with_row.score_new_users(None, features, items),
        fitted_shop.score_new_users(None, features, items),
    )
    # saved before the stated weights: band 0's
    before = featcf.load(
        _tampered(fitted_shop, tmp_path, _drop(["stated_weights_", "stated_only_weights_"]))
    )
    old = before.score_new_users(history, features, items, interests=interests)
    assert not np.allclose(old[:2], got[:2])
    np.testing.assert_array_equal(old[2:], got[2:])


def test_customers_who_state_interests_without_features_get_the_stated_only_weights(
    fitted_shop, shop, tmp_path
):
    """A new customer without history who states interests but gives no user features (or
    an empty row) is scored with ``stated_only_weights_``; one who gives features with
    ``stated_weights_``. A file saved before the second row scores both with the first."""
    assert fitted_shop.stated_only_weights_ is not None
    assert (fitted_shop.stated_only_weights_ >= 0).all()
    history, features, interests = _stated_queries(shop)
    blank = features.copy()
    blank.data[:] = 0.0  # rows that give nothing: as no features at all
    items = np.arange(shop.n_items)
    only = fitted_shop.band_weights_[1]  # a row unlike the stated one, written as stated-only
    assert not np.allclose(only, fitted_shop.stated_weights_)
    with_row = featcf.load(_tampered(fitted_shop, tmp_path, _set_weights(stated_only_weights=only)))
    # the same scores from a file whose stated row is that row and has no stated-only one
    as_stated = featcf.load(
        _tampered(
            fitted_shop, tmp_path, _set_then_drop(["stated_only_weights_"], stated_weights=only)
        )
    )
    assert as_stated.stated_only_weights_ is None
    for given in (None, blank):
        np.testing.assert_allclose(
            with_row.score_new_users(history, given, items, interests=interests)[:2],
            as_stated.score_new_users(history, given, items, interests=interests)[:2],
            rtol=1e-5,
            atol=1e-5,
        )
    none = with_row.score_new_users(history, None, items, interests=interests)
    # with features: the stated row, whatever the stated-only row is
    np.testing.assert_array_equal(
        with_row.score_new_users(history, features, items, interests=interests),
        fitted_shop.score_new_users(history, features, items, interests=interests),
    )
    # customers with history keep their band's weights
    fitted = fitted_shop.score_new_users(history, None, items, interests=interests)
    assert not np.allclose(fitted[:2], none[:2])
    np.testing.assert_array_equal(fitted[2:], none[2:])
    # saved before the second row: the stated row for both
    before = featcf.load(_tampered(fitted_shop, tmp_path, _drop(["stated_only_weights_"])))
    same = _set_weights(stated_only_weights=fitted_shop.stated_weights_)
    np.testing.assert_array_equal(
        before.score_new_users(history, None, items, interests=interests),
        featcf.load(_tampered(fitted_shop, tmp_path, same)).score_new_users(
            history, None, items, interests=interests
        ),
    )
    # an explanation without features adds up to the score the stated-only row gives
    values = shop.item_features.fields["category"].values
    form = pd.DataFrame({"user_id": ["n1", "n1"], "field": "category", "value": values[:2]})
    item = shop.item_ids[0]
    parts = with_row.explain_new_user(item, interests=form)
    want = with_row.score_new_users(None, None, shop.item_index([item]), interests=interests[:1])
    assert parts["contribution"].sum() == pytest.approx(float(want[0, 0]), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("entry", ["stated_weights_", "stated_only_weights_"])
def test_negative_stated_weights_are_refused(fitted_shop, tmp_path, entry):
    bad = -np.ones_like(fitted_shop.stated_weights_)
    with pytest.raises(featcf.ModelFormatError, match=entry):
        featcf.load(_tampered(fitted_shop, tmp_path, _set_weights(**{entry[:-1]: bad})))


# ------------------------------------------------------------------ popularity regression


def _covers_shop() -> Dataset:
    """40 products with 1-3 covers each (a multi-valued field) and a category; customers
    buy products with more covers more often, so popularity follows the number of covers."""
    rng = np.random.default_rng(0)
    covers = ["fire", "theft", "glass", "travel"]
    n_covers = rng.integers(1, 4, 40)
    items = pd.DataFrame(
        {
            "item": [f"p{i}" for i in range(40)],
            "covers": [list(rng.choice(covers, k, replace=False)) for k in n_covers],
            "category": rng.choice(["home", "car"], 40),
        }
    )
    buys = rng.random((120, 40)) < 0.04 * n_covers**2
    users, products = np.nonzero(buys)
    inter = pd.DataFrame(
        {"user": [f"c{u}" for u in users], "item": items["item"].to_numpy()[products]}
    )
    return Dataset.from_frames(inter, items, user_col="user", item_col="item")


def test_popularity_is_regressed_on_indicators_and_old_files_keep_the_shares(tmp_path):
    """New products' popularity comes from the 0/1 indicators of their field values (a
    product with more covers is predicted more popular); a file saved before
    ``popularity_design_`` applies its coefficients to the field shares, as it was fitted;
    an unknown design is refused."""
    ds = _covers_shop()
    model = FeatureCF(n_neighbors=5, random_state=0, show_progress=False).fit(ds)
    assert model.popularity_design_ == "indicators"
    coef = model.popularity_coef_
    cover_cols = ds.item_features.fields["covers"]
    assert (coef[1 + cover_cols.start : 1 + cover_cols.stop] > 0).all()
    new = pd.DataFrame(
        {"item": ["one", "three"], "covers": [["fire"], ["fire", "theft", "glass"]],
         "category": ["home", "home"]}
    )  # fmt: skip
    added = featcf.load(_tampered(model, tmp_path, lambda meta, arrays: None)).add_items(new)
    x_bin = added._fitted.scorer.inputs.x_bin[-2:]
    predicted = coef[0] + np.asarray(x_bin @ coef[1:]).ravel()
    np.testing.assert_allclose(added.popularity_[-2:], predicted, rtol=1e-6)
    assert added.popularity_[-1] > added.popularity_[-2]
    np.testing.assert_array_equal(added.popularity_[:-2], model.popularity_)
    # a file from before: the same coefficients over the shares
    old = featcf.load(_tampered(model, tmp_path, _drop(["popularity_design_"])))
    assert old.popularity_design_ == "shares"
    np.testing.assert_array_equal(old.score_users(np.arange(5)), model.score_users(np.arange(5)))
    old.add_items(new)
    x = old._fitted.scorer.inputs.x[-2:]
    np.testing.assert_allclose(
        old.popularity_[-2:], coef[0] + np.asarray(x @ coef[1:]).ravel(), rtol=1e-6
    )
    assert not np.allclose(old.popularity_[-2:], added.popularity_[-2:])

    def bogus(meta, arrays):
        meta["state"]["popularity_design_"]["value"] = "counts"

    with pytest.raises(featcf.ModelFormatError, match="popularity_design_"):
        featcf.load(_tampered(model, tmp_path, bogus))
