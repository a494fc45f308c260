"""CoIL 2000 loader: the real training file (skipped when absent) and tiny written copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from featcf.datasets import coil2000_frames, coil2000_products, load_coil2000
from featcf.datasets.coil2000 import COLUMNS, CUSTOMER_MAIN_TYPES, CUSTOMER_SUBTYPES

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
COIL = SHARED_DATA / "coil2000"

needs_coil = pytest.mark.skipif(
    not (COIL / "ticdata2000.txt").is_file(),
    reason=f"CoIL 2000 not found at {COIL} (../shared/data/coil2000)",
)


def test_columns_table():
    assert len(COLUMNS) == 86
    assert list(COLUMNS)[0] == "MOSTYPE" and list(COLUMNS)[-1] == "CARAVAN"
    assert len(CUSTOMER_SUBTYPES) == 41 and len(set(CUSTOMER_SUBTYPES.values())) == 41
    assert len(CUSTOMER_MAIN_TYPES) == 10


def test_products_table():
    products = coil2000_products()
    assert products.shape == (22, 6)
    assert products["product_id"].is_unique
    # product order follows the count columns 65-85, then CARAVAN
    assert [f"A{c}" for c in products["column"].iloc[:21]] == list(COLUMNS)[64:85]
    assert products["column"].iloc[21] == "CARAVAN"
    assert set(products["category"]) == {"vehicle", "liability", "personal", "property", "leisure"}
    assert set(products["segment"]) == {"private", "business", "agriculture"}
    assert set(products["insured"]) == {"object", "person", "liability"}
    assert (products["name"] != "").all()


@pytest.fixture(scope="module")
def ds():
    return load_coil2000(COIL)


@needs_coil
@pytest.mark.realdata
class TestCoilTraining:
    def test_counts(self, ds):
        assert ds.n_users == 5822
        assert ds.n_items == 22
        assert ds.timestamps is None
        assert ds.interactions.sum() > ds.interactions.nnz  # some customers hold 2+ policies

    def test_caravan_owners(self, ds):
        # CARAVAN is 0/1 and 348 of the 5,822 training customers own one (5.98%)
        column = ds.interactions[:, ds.item_index(["caravan"])[0]]
        assert column.nnz == 348
        assert set(column.data.tolist()) == {1.0}

    def test_fields(self, ds):
        assert set(ds.item_features.fields) == {"category", "segment", "insured"}
        assert len(ds.user_features.fields) == 43
        assert ds.user_features.fields["MOSTYPE"].kind == "categorical"
        assert ds.user_features.fields["MOSHOOFD"].kind == "categorical"
        assert ds.user_features.fields["MGODPR"].kind == "numeric"
        # default n_bins=10 keeps every 0-9 code apart
        frame = ds.user_frame
        for name in ("MGODPR", "MKOOPKLA", "MAANTHUI"):
            assert ds.user_features.fields[name].n_values == frame[name].nunique()
        assert "name" in ds.item_frame.columns

    def test_customers_without_policies_are_cold_users(self, ds):
        per_user = np.diff(ds.interactions.indptr)
        assert (per_user == 0).sum() > 0
        assert ds.user_features.matrix.getnnz(axis=1).min() == 43  # every customer has features

    def test_first_customer_round_trip(self, ds):
        interactions, customers, _ = coil2000_frames(COIL)
        first = interactions[interactions["user_id"] == 1]
        row = ds.interactions[ds.user_index([1])[0]]
        got = {ds.item_ids[j]: w for j, w in zip(row.indices, row.data, strict=True)}
        assert got == dict(zip(first["item_id"], first["n_policies"].astype(float), strict=True))
        assert customers.loc[0, "user_id"] == 1

    def test_coarser_bands(self):
        ds = load_coil2000(COIL, n_bins=3)
        assert ds.user_features.fields["MGODPR"].n_values <= 3


def _line(demo: list[int], counts: list[int], caravan: int | None) -> str:
    contrib = [min(c * 3, 9) for c in counts]
    values = demo + contrib + counts + ([] if caravan is None else [caravan])
    return "\t".join(str(v) for v in values)


def _demo(subtype: int, main_type: int) -> list[int]:
    demo = [subtype] + [1] * 3 + [main_type] + [0] * 38
    assert len(demo) == 43
    return demo


class TestWrittenFiles:
    def test_86_columns(self, tmp_path):
        counts_a = [0] * 21
        counts_a[3] = 2  # two car policies
        counts_b = [0] * 21
        counts_b[15] = 1  # fire
        file = tmp_path / "tic.txt"
        file.write_text(
            "\r\n".join([_line(_demo(33, 8), counts_a, 1), _line(_demo(5, 6), counts_b, 0)])
            + "\r\n"
        )
        interactions, customers, products = coil2000_frames(file, first_id=100)
        assert interactions["user_id"].tolist() == [100, 100, 101]
        assert interactions["item_id"].tolist() == ["car", "caravan", "fire"]
        assert interactions["n_policies"].tolist() == [2, 1, 1]
        assert interactions["contribution"].iloc[0] == 6.0
        assert np.isnan(interactions["contribution"].iloc[1])  # caravan has no contribution column
        assert customers["MOSTYPE"].tolist() == ["Lower class large families", "Mixed seniors (5)"]
        assert customers["MOSHOOFD"].tolist() == ["Family with grown ups", "Cruising Seniors"]
        ds = load_coil2000(file, first_id=100)
        assert ds.n_users == 2 and ds.n_items == 22
        assert ds.interactions[ds.user_index([100])[0], ds.item_index(["car"])[0]] == 2.0

    def test_85_columns_make_caravan_cold(self, tmp_path):
        counts = [0] * 21
        counts[0] = 1
        file = tmp_path / "ticeval2000.txt"
        file.write_text(_line(_demo(1, 1), counts, None) + "\n")
        ds = load_coil2000(file)
        assert ds.n_items == 22
        caravan = ds.item_index(["caravan"])[0]
        assert ds.interactions[:, caravan].nnz == 0
        assert ds.item_features.matrix[caravan].nnz == 3  # features but no interactions

    def test_wrong_column_count(self, tmp_path):
        file = tmp_path / "bad.txt"
        file.write_text("\t".join(["1"] * 80) + "\n")
        with pytest.raises(ValueError, match="80 columns"):
            coil2000_frames(file)

    def test_unknown_subtype(self, tmp_path):
        file = tmp_path / "bad.txt"
        file.write_text(_line(_demo(42, 1), [1] + [0] * 20, 0) + "\n")
        with pytest.raises(ValueError, match="MOSTYPE holds codes \\[42\\]"):
            coil2000_frames(file)

    def test_non_integer_file(self, tmp_path):
        file = tmp_path / "bad.txt"
        file.write_text("a\tb\n")
        with pytest.raises(ValueError, match="not a CoIL 2000 data file"):
            coil2000_frames(file)

    def test_folder_without_training_file(self, tmp_path):
        with pytest.raises(ValueError, match="ticdata2000.txt"):
            load_coil2000(tmp_path)

    def test_missing_path(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_coil2000(tmp_path / "nope")
