"""MovieLens loaders: the real 100k folder (skipped when absent) and a tiny 1M-layout copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featcf.datasets import load_movielens, movielens_frames
from featcf.datasets.movielens import GENRES, zip_region

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ML100K = SHARED_DATA / "ml-100k"

needs_ml100k = pytest.mark.skipif(
    not (ML100K / "u.data").is_file(),
    reason=f"MovieLens 100k not found at {ML100K} (../shared/data/ml-100k)",
)


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens(ML100K)


@needs_ml100k
@pytest.mark.realdata
class TestMovieLens100k:
    def test_counts(self, ml100k):
        assert ml100k.n_users == 943
        assert ml100k.n_items == 1682
        assert ml100k.interactions.nnz == 100_000
        assert ml100k.interactions.shape == (943, 1682)
        assert ml100k.timestamps is not None and len(ml100k.timestamps) == 100_000

    def test_fields(self, ml100k):
        assert list(ml100k.item_features.fields) == ["genre", "year"]
        assert ml100k.item_features.fields["genre"].kind == "multi"
        assert ml100k.item_features.fields["year"].kind == "numeric"
        assert ml100k.item_features.fields["year"].n_values == 5
        # "unknown" is not a genre value: 18 of the 19 flags
        assert ml100k.item_features.fields["genre"].values == tuple(sorted(GENRES))
        assert len(GENRES) == 18
        assert set(ml100k.user_features.fields) == {"age", "gender", "occupation", "zip_region"}
        assert ml100k.user_features.fields["age"].kind == "numeric"
        assert ml100k.user_features.fields["gender"].values == ("F", "M")
        assert ml100k.user_features.fields["occupation"].n_values == 21
        assert "other" in ml100k.user_features.fields["zip_region"].values
        assert "title" in ml100k.item_frame.columns
        assert "zip" in ml100k.user_frame.columns

    def test_known_rating_round_trip(self, ml100k):
        # first line of u.data: 196 242 3 881250949
        u = ml100k.user_index([196])[0]
        i = ml100k.item_index([242])[0]
        assert ml100k.interactions[u, i] == 3.0
        row = ml100k.interactions[u]
        pos = ml100k.interactions.indptr[u] + np.flatnonzero(row.indices == i)[0]
        assert ml100k.timestamps[pos] == 881250949.0

    def test_titles_and_genres_of_toy_story(self, ml100k):
        assert ml100k.item_frame.loc[1, "title"] == "Toy Story (1995)"
        genre = ml100k.item_features.fields["genre"]
        row = ml100k.item_features.matrix[ml100k.item_index([1])[0]]
        labels = {
            genre.values[c - genre.start] for c in row.indices if genre.start <= c < genre.stop
        }
        assert labels == {"Animation", "Children's", "Comedy"}

    def test_frames(self):
        ratings, items, users = movielens_frames(ML100K)
        assert ratings.shape == (100_000, 4)
        assert ratings.iloc[0].tolist() == [196, 242, 3, 881250949]
        assert ratings["rating"].between(1, 5).all()
        assert len(items) == 1682 and len(users) == 943
        unknown_title = items.set_index("item_id").loc[267]
        assert unknown_title["genre"] == [] and np.isnan(unknown_title["year"])
        assert users.set_index("user_id").loc[74, "zip_region"] == "other"  # zip T8H1N


def _write_1m(root: Path) -> None:
    root.mkdir()
    (root / "ratings.dat").write_text(
        "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n3::30::1::978300275\n",
        encoding="latin-1",
    )
    (root / "movies.dat").write_text(
        "10::Toy Story (1995)::Animation|Children's|Comedy\n"
        "20::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
        "30::Amélie (Le Fabuleux destin d'Amélie Poulain) (2001)::Comedy|Romance\n"
        "40::Never Rated: (1999)::Drama\n",
        encoding="latin-1",
    )
    (root / "users.dat").write_text(
        "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::H3Z2Y\n4::F::45::0::02460-1234\n",
        encoding="latin-1",
    )


class TestMovieLens1mLayout:
    def test_dataset(self, tmp_path):
        root = tmp_path / "ml-1m"
        _write_1m(root)
        ds = load_movielens(root)
        assert ds.interactions.nnz == 4
        assert ds.n_users == 4  # user 4 has features but no ratings: a cold user
        assert ds.n_items == 4  # movie 40 was never rated: a cold item
        assert ds.interactions[ds.user_index([1])[0], ds.item_index([20])[0]] == 3.0
        assert ds.interactions[ds.user_index([4])[0]].nnz == 0
        assert ds.item_features.fields["genre"].kind == "multi"
        assert ds.user_features.fields["age"].kind == "categorical"
        assert set(ds.user_features.fields["age"].values) == {"Under 18", "56+", "25-34", "45-49"}
        assert ds.user_features.fields["zip_region"].values == ("0", "4", "7", "other")
        assert ds.item_frame.loc[30, "title"].startswith("Amélie")
        assert sorted(ds.timestamps.tolist()) == [
            978300275.0,
            978300760.0,
            978301968.0,
            978302109.0,
        ]

    def test_frames(self, tmp_path):
        root = tmp_path / "ml-1m"
        _write_1m(root)
        ratings, items, users = movielens_frames(root)
        assert ratings.iloc[0].tolist() == [1, 10, 5, 978300760]
        items = items.set_index("item_id")
        # a title holding ':' is kept whole, and the year comes from "(YYYY)" at its end
        assert items.loc[20, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
        assert items.loc[20, "genre"] == ["Action", "Sci-Fi"]
        assert items.loc[40, "title"] == "Never Rated: (1999)"
        assert items["year"].tolist() == [1995.0, 1977.0, 2001.0, 1999.0]
        users = users.set_index("user_id")
        assert users.loc[1, "age"] == "Under 18"
        assert users.loc[1, "occupation"] == "K-12 student"
        assert users.loc[2, "occupation"] == "self-employed"
        assert users.loc[4, "occupation"] == "other"
        assert users.loc[4, "zip"] == "02460-1234"

    def test_undefined_code_is_refused(self, tmp_path):
        root = tmp_path / "ml-1m"
        _write_1m(root)
        (root / "users.dat").write_text("1::F::2::10::48067\n", encoding="latin-1")
        with pytest.raises(ValueError, match="age \\[2\\]"):
            movielens_frames(root)

    def test_malformed_line(self, tmp_path):
        root = tmp_path / "ml-1m"
        _write_1m(root)
        (root / "users.dat").write_text("1::F::1::10\n", encoding="latin-1")
        with pytest.raises(ValueError, match="line 1 has 4"):
            movielens_frames(root)


class TestLayoutErrors:
    def test_neither_layout(self, tmp_path):
        (tmp_path / "README").write_text("nothing here")
        with pytest.raises(ValueError, match="neither MovieLens layout") as info:
            load_movielens(tmp_path)
        for name in ("u.data", "u.item", "u.user", "ratings.dat", "movies.dat", "users.dat"):
            assert name in str(info.value)

    def test_partial_layout_names_missing_files(self, tmp_path):
        (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
        with pytest.raises(ValueError, match=r"lacks \['u.item', 'u.user'\]"):
            movielens_frames(tmp_path)

    def test_missing_path(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_movielens(tmp_path / "nope")

    def test_file_instead_of_folder(self, tmp_path):
        file = tmp_path / "u.data"
        file.write_text("1\t1\t5\t0\n")
        with pytest.raises(ValueError, match="folder"):
            load_movielens(file)

    def test_bad_n_bins(self, tmp_path):
        with pytest.raises(ValueError, match="n_bins"):
            load_movielens(tmp_path, n_bins=0)


def test_zip_region():
    codes = pd.Series(["85711", "T8H1N", "", " 0246", "V3N4P", "9"])
    assert zip_region(codes).tolist() == ["8", "other", "other", "0", "other", "9"]
