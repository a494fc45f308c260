"""Model file format: versions, tampering, ids and the restored Dataset."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import featcf
from featcf import Dataset, ModelFormatError, Popularity
from featcf._format import FORMAT_VERSION, META_KEY, ModelFile, write_model
from featcf._schema import Series


def _rewrite_meta(path, out, change):
    archive = dict(np.load(path, allow_pickle=False))
    meta = json.loads(archive[META_KEY].tobytes().decode())
    change(meta)
    archive[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **archive)


@pytest.fixture
def saved(shop, tmp_path):
    path = tmp_path / "pop.npz"
    Popularity().fit(shop).save(path)
    return path


def test_other_format_version_is_refused(saved, tmp_path):
    out = tmp_path / "v99.npz"
    _rewrite_meta(saved, out, lambda m: m.update(format_version=FORMAT_VERSION + 98))
    with pytest.raises(ModelFormatError, match="version 99"):
        featcf.load(out)


def test_unknown_class_is_refused(saved, tmp_path):
    out = tmp_path / "evil.npz"
    _rewrite_meta(saved, out, lambda m: m.update({"class": "os.system"}))
    with pytest.raises(ModelFormatError, match="os.system"):
        featcf.load(out)


def test_file_holds_no_pickles(saved):
    with zipfile.ZipFile(saved) as zf:
        for name in zf.namelist():
            header = zf.read(name)[:128]
            assert b"'descr': '|O'" not in header and b"'descr': 'O'" not in header


def test_not_a_zip(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"hello world")
    with pytest.raises(ModelFormatError, match="not a readable featcf model"):
        featcf.load(bad)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        featcf.load(tmp_path / "nope.npz")


def test_dataset_is_restored(shop, saved):
    loaded = featcf.load(saved)
    ds = loaded.dataset_
    assert ds.user_ids.tolist() == shop.user_ids.tolist()
    assert ds.item_ids.tolist() == shop.item_ids.tolist()
    assert (ds.interactions != shop.interactions).nnz == 0
    np.testing.assert_array_equal(ds.timestamps, shop.timestamps)
    assert ds.item_fields == shop.item_fields and ds.user_fields == shop.user_fields
    new = shop.item_frame.reset_index().iloc[:3]
    assert (ds.encode_items(new).matrix != shop.encode_items(new).matrix).nnz == 0


def test_int_ids_survive(tmp_path):
    frame = pd.DataFrame({"u": [10, 20, 20], "i": [7, 7, 9]})
    ds = Dataset.from_frames(frame, user_col="u", item_col="i")
    path = tmp_path / "m.npz"
    Popularity().fit(ds).save(path)
    loaded = featcf.load(path)
    assert loaded.dataset_.user_ids.tolist() == [10, 20]
    assert loaded.recommend([10], n=1)["item_id"].tolist() == [9]


def test_mixed_id_types_cannot_be_saved(tmp_path):
    frame = pd.DataFrame({"u": [10, "b"], "i": ["x", "y"]})
    ds = Dataset.from_frames(frame, user_col="u", item_col="i")
    with pytest.raises(TypeError, match="all integers or all strings"):
        Popularity().fit(ds).save(tmp_path / "m.npz")


def test_save_to_file_object_path_like(shop, tmp_path):
    buffer = io.BytesIO()
    model = Popularity().fit(shop)
    with pytest.raises(TypeError):
        model.save(buffer)


def test_series_keep_their_names(shop, tmp_path):
    # The format keeps a Series' values, index and names (FeatureCF saves its weights so).
    # Written and read at the format level: a model saves only the state its class declares.
    series = pd.Series([1.0, 2.0], index=pd.Index(["a", "b"], name="term"), name="w")
    path = tmp_path / "m.npz"
    write_model(path, "Popularity", {}, {"ranking_": series}, shop)
    with ModelFile(path) as stored:
        stored.dataset()
        loaded = stored.state({"ranking_": Series("float64", 2)})["ranking_"]
    pd.testing.assert_series_equal(loaded, series)


def test_only_the_declared_state_is_saved(shop, tmp_path):
    # issue 13: any attribute name in a file's state used to be set on the loaded model
    model = Popularity().fit(shop)
    model.ranking_ = pd.Series([1.0, 2.0])
    model.save(tmp_path / "m.npz")
    meta, _ = _archive_content(tmp_path / "m.npz")
    assert list(meta["state"]) == ["popularity_", "withdrawn_idx_"]
    assert "ranking_" not in featcf.load(tmp_path / "m.npz").__dict__


# --------------------------------------------------------------------------- the save / load pair
def _archive_content(path):
    """Every array of a model file, and its metadata as JSON (zip timestamps left aside)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    return meta, arrays


def test_featcf_save_writes_what_model_save_writes(shop, tmp_path):
    model = Popularity().fit(shop)
    featcf.save(model, tmp_path / "a.npz")
    model.save(tmp_path / "b.npz")
    meta_a, arrays_a = _archive_content(tmp_path / "a.npz")
    meta_b, arrays_b = _archive_content(tmp_path / "b.npz")
    assert meta_a == meta_b
    assert list(arrays_a) == list(arrays_b)
    for key, value in arrays_a.items():
        np.testing.assert_array_equal(value, arrays_b[key])
        assert value.dtype == arrays_b[key].dtype


def test_saved_with_the_model_loads_with_featcf_load(shop, tmp_path):
    model = Popularity(by="weight").fit(shop)
    model.save(tmp_path / "m.npz")
    loaded = featcf.load(tmp_path / "m.npz")
    assert type(loaded) is Popularity and loaded.by == "weight"
    users = shop.user_ids[:5]
    pd.testing.assert_frame_equal(loaded.recommend(users, n=3), model.recommend(users, n=3))


def test_featcf_save_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(TypeError, match="featcf model"):
        featcf.save(object(), tmp_path / "m.npz")


def test_featcf_save_of_an_unfitted_model(tmp_path):
    with pytest.raises(featcf.NotFittedError):
        featcf.save(Popularity(), tmp_path / "m.npz")


# Files written by featcf at 603d5ce (format version 1, before issue 11 renamed the kNN models'
# ``k`` to ``n_neighbors``), on make_insurance_shop(n_customers=40, n_products=10,
# n_new_products=1, n_new_customers=2, seed 0), with their recommendations then.
FORMAT_V1 = Path(__file__).parent / "data" / "format_v1"


@pytest.mark.parametrize("name", ["item_knn", "user_knn", "content_knn", "popularity", "als"])
def test_files_of_format_version_1_still_load(name):
    expected = json.loads((FORMAT_V1 / "expected.json").read_text())
    loaded = featcf.load(FORMAT_V1 / f"{name}.npz")
    rec = loaded.recommend(expected["users"], n=3)
    want = expected["recommend_n3"][name]
    assert rec["user_id"].tolist() == want["user_id"]
    assert rec["item_id"].tolist() == want["item_id"]
    np.testing.assert_allclose(rec["score"], want["score"], atol=1e-6)


def test_files_older_than_withdraw_load_with_nothing_withdrawn(tmp_path):
    # issue 16: format-1 files written before withdraw() lack the withdrawn_idx_ entry
    loaded = featcf.load(FORMAT_V1 / "item_knn.npz")
    assert loaded.withdrawn_items_.size == 0
    users = loaded.user_ids_[:3]
    before = loaded.recommend(users, n=3)
    withdrawn = before["item_id"].iloc[0]
    loaded.withdraw(withdrawn).save(tmp_path / "m.npz")
    again = featcf.load(tmp_path / "m.npz")
    assert again.withdrawn_items_.tolist() == [withdrawn]
    pd.testing.assert_frame_equal(again.recommend(users, n=3), loaded.recommend(users, n=3))
    assert withdrawn not in again.recommend(users, n=3)["item_id"].tolist()


@pytest.mark.parametrize(
    ("name", "n_neighbors"), [("item_knn", 3), ("user_knn", 4), ("content_knn", 3)]
)
def test_old_hyper_parameter_name_k_is_read_as_n_neighbors(name, n_neighbors):
    loaded = featcf.load(FORMAT_V1 / f"{name}.npz")
    params = loaded.get_params()
    assert params["n_neighbors"] == n_neighbors and "k" not in params
