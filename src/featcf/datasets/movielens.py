"""MovieLens loaders: the 100k layout (``u.data``/``u.item``/``u.user``) and the 1M layout
(``ratings.dat``/``movies.dat``/``users.dat``).

Nothing is downloaded: MovieLens' terms do not allow redistribution, so the loaders read a
folder the user already has (e.g. an unpacked ``ml-100k.zip`` from grouplens.org).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from featcf._validation import check_positive_int
from featcf.data import Dataset

__all__ = ["GENRES", "load_movielens", "movielens_frames"]

#: The genre flags of ``u.item``, in file order (``u.genre``). ``"unknown"`` is not kept as a
#: genre value: a film flagged only "unknown" gets an empty genre list.
GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: The 18 genre values of both layouts (the 1M ``movies.dat`` uses the same spellings).
GENRES = GENRES_100K[1:]

#: ``users.dat`` (1M) age codes and the bands they stand for (from the 1M README).
AGE_BANDS_1M = {
    1: "Under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}

#: ``users.dat`` (1M) occupation codes and their names (from the 1M README).
OCCUPATIONS_1M = {
    0: "other",
    1: "academic/educator",
    2: "artist",
    3: "clerical/admin",
    4: "college/grad student",
    5: "customer service",
    6: "doctor/health care",
    7: "executive/managerial",
    8: "farmer",
    9: "homemaker",
    10: "K-12 student",
    11: "lawyer",
    12: "programmer",
    13: "retired",
    14: "sales/marketing",
    15: "scientist",
    16: "self-employed",
    17: "technician/engineer",
    18: "tradesman/craftsman",
    19: "unemployed",
    20: "writer",
}

_LAYOUTS = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
}

_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


def _detect_layout(path: str | os.PathLike[str]) -> tuple[str, Path]:
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"path {str(root)!r} does not exist; pass a MovieLens folder")
    if not root.is_dir():
        raise ValueError(
            f"path must be a MovieLens folder (the unpacked ml-100k or ml-1m), got the file "
            f"{str(root)!r}"
        )
    for layout, files in _LAYOUTS.items():
        present = [name for name in files if (root / name).is_file()]
        if len(present) == len(files):
            return layout, root
        if present:
            missing = [name for name in files if name not in present]
            raise ValueError(
                f"{str(root)!r} looks like the MovieLens {layout} layout (it has {present}) but "
                f"lacks {missing}; all of {list(files)} are needed"
            )
    looked_for = " or ".join(f"{{{', '.join(files)}}}" for files in _LAYOUTS.values())
    raise ValueError(
        f"{str(root)!r} holds neither MovieLens layout: looked for the 100k files {looked_for} "
        f"(100k first, then 1M)"
    )


def zip_region(zip_codes: pd.Series) -> pd.Series:
    """First digit of each zip code (a US region), ``"other"`` when it does not start with one.

    Parameters
    ----------
    zip_codes : pandas.Series of str

    Returns
    -------
    pandas.Series of str
        Same index, values ``"0"`` .. ``"9"`` or ``"other"``.

    Examples
    --------
    >>> import pandas as pd
    >>> zip_region(pd.Series(["85711", "T8H1N", ""])).tolist()
    ['8', 'other', 'other']
    """
    first = zip_codes.astype(str).str.strip().str[:1]
    return first.where(first.str.fullmatch(r"\d").fillna(False).astype(bool), "other").astype(
        object
    )


def _read_100k(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(
        root / "u.data",
        sep="\t",
        header=None,
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype=np.int64,
    )
    genre_names = GENRES_100K
    genre_file = root / "u.genre"
    if genre_file.is_file():
        listed = pd.read_csv(
            genre_file, sep="|", header=None, names=["genre", "code"], encoding="latin-1"
        ).sort_values("code")
        if len(listed) == len(GENRES_100K):
            genre_names = tuple(str(g) for g in listed["genre"])
    raw = pd.read_csv(
        root / "u.item",
        sep="|",
        header=None,
        encoding="latin-1",
        dtype=str,
        keep_default_na=False,
    )
    if raw.shape[1] != 5 + len(genre_names):
        raise ValueError(
            f"{str(root / 'u.item')!r} has {raw.shape[1]} columns; the 100k layout has "
            f"{5 + len(genre_names)} (id, title, release date, video date, url, "
            f"{len(genre_names)} genre flags)"
        )
    flags = raw.iloc[:, 5:].to_numpy() == "1"
    names = np.asarray(genre_names, dtype=object)
    keep = names != "unknown"
    genres = [list(names[keep & row]) for row in flags]
    release = pd.to_datetime(raw[2].replace("", None), format="%d-%b-%Y", errors="coerce")
    items = pd.DataFrame(
        {
            "item_id": raw[0].astype(np.int64),
            "title": raw[1].astype(object),
            "genre": genres,
            "year": release.dt.year.astype(np.float64),
        }
    )
    users = pd.read_csv(
        root / "u.user",
        sep="|",
        header=None,
        names=["user_id", "age", "gender", "occupation", "zip"],
        dtype={"user_id": np.int64, "age": np.int64, "gender": str, "occupation": str, "zip": str},
        encoding="latin-1",
        keep_default_na=False,
    )
    users["zip_region"] = zip_region(users["zip"])
    for col in ("gender", "occupation", "zip"):
        users[col] = users[col].astype(object)
    users = users[["user_id", "age", "gender", "occupation", "zip_region", "zip"]]
    return ratings, items, users


def _split_lines(file: Path, n_fields: int) -> list[list[str]]:
    rows = []
    text = file.read_text(encoding="latin-1")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if n_fields == 3:  # MovieID::Title::Genres -- a title may itself hold ':'
            head, sep1, rest = line.partition("::")
            title, sep2, tail = rest.rpartition("::")
            parts = [head, title, tail] if sep1 and sep2 else [line]
        else:
            parts = line.split("::")
        if len(parts) != n_fields:
            raise ValueError(
                f"{str(file)!r} line {number} has {len(parts)} '::'-separated fields, "
                f"expected {n_fields}: {line[:80]!r}"
            )
        rows.append(parts)
    return rows


def _read_1m(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # ratings are all integers, so '::' -> tab is safe and lets the fast C parser run
    data = (root / "ratings.dat").read_bytes().replace(b"::", b"\t")
    ratings = pd.read_csv(
        io.BytesIO(data),
        sep="\t",
        header=None,
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype=np.int64,
    )
    movies = _split_lines(root / "movies.dat", 3)
    titles = [title for _, title, _ in movies]
    years = []
    for title in titles:
        match = _YEAR_IN_TITLE.search(title)
        years.append(float(match.group(1)) if match else np.nan)
    items = pd.DataFrame(
        {
            "item_id": np.asarray([int(m[0]) for m in movies], dtype=np.int64),
            "title": pd.Series(titles, dtype=object),
            "genre": [[g for g in m[2].split("|") if g and g != "unknown"] for m in movies],
            "year": np.asarray(years, dtype=np.float64),
        }
    )
    people = _split_lines(root / "users.dat", 5)
    age_codes = [int(p[2]) for p in people]
    occupation_codes = [int(p[3]) for p in people]
    bad_age = sorted({a for a in age_codes if a not in AGE_BANDS_1M})
    bad_occupation = sorted({o for o in occupation_codes if o not in OCCUPATIONS_1M})
    if bad_age or bad_occupation:
        raise ValueError(
            f"{str(root / 'users.dat')!r} holds codes the 1M README does not define: "
            f"age {bad_age}, occupation {bad_occupation}"
        )
    users = pd.DataFrame(
        {
            "user_id": np.asarray([int(p[0]) for p in people], dtype=np.int64),
            "age": pd.Series([AGE_BANDS_1M[a] for a in age_codes], dtype=object),
            "gender": pd.Series([p[1] for p in people], dtype=object),
            "occupation": pd.Series([OCCUPATIONS_1M[o] for o in occupation_codes], dtype=object),
            "zip": pd.Series([p[4] for p in people], dtype=object),
        }
    )
    users["zip_region"] = zip_region(users["zip"])
    users = users[["user_id", "age", "gender", "occupation", "zip_region", "zip"]]
    return ratings, items, users


def movielens_frames(
    path: str | os.PathLike[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read a MovieLens folder (100k or 1M layout) into three plain DataFrames.

    Parameters
    ----------
    path : str or path-like
        A folder holding ``u.data``, ``u.item``, ``u.user`` (100k layout) or ``ratings.dat``,
        ``movies.dat``, ``users.dat`` (1M layout). The 100k layout wins if both are present.

    Returns
    -------
    ratings : pandas.DataFrame
        ``user_id``, ``item_id``, ``rating`` (1-5), ``timestamp`` (unix seconds), all int64,
        in file order.
    items : pandas.DataFrame
        ``item_id`` (int64); ``title`` (str, with the year as in the files); ``genre`` (a list
        of genre names per film, from the 18 of :data:`GENRES`; "unknown" is dropped, so a
        film flagged only "unknown" has an empty list); ``year`` (float64 release year, NaN
        when unknown: from the release date in 100k, from "Title (Year)" in 1M).
    users : pandas.DataFrame
        ``user_id`` (int64); ``age`` (int64 years in 100k; in 1M a band label such as
        ``"18-24"``, from the 1M README's age codes); ``gender`` (``"M"``/``"F"``);
        ``occupation`` (a name; 1M codes are mapped to the README's names);
        ``zip_region`` (first digit of the zip code, ``"other"`` if it is not a digit);
        ``zip`` (the raw zip code).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the folder holds neither layout (the message lists the files looked for), only
        part of one, or a file is malformed.

    See Also
    --------
    load_movielens : the same data as a :class:`featcf.Dataset`.

    Examples
    --------
    >>> ratings, items, users = movielens_frames("../shared/data/ml-100k")  # doctest: +SKIP
    >>> ratings.shape, items.shape, users.shape  # doctest: +SKIP
    ((100000, 4), (1682, 4), (943, 6))
    """
    layout, root = _detect_layout(path)
    if layout == "100k":
        return _read_100k(root)
    return _read_1m(root)


def load_movielens(
    path: str | os.PathLike[str],
    *,
    n_bins: int = 5,
) -> Dataset:
    """Load a MovieLens folder (100k or 1M layout) as a :class:`featcf.Dataset`.

    Users and items keep their MovieLens ids (ints). The interaction weight is the rating
    (1-5) and the timestamp the file's unix time. Films and users present in the feature
    files but without ratings (the 1M data has such films) become cold items / users.

    Item fields:

    - ``genre`` (multi): the film's genres, 18 values ("unknown" is not a genre value);
    - ``year`` (numeric): release year in ``n_bins`` quantile bands (missing -> no band);
    - ``title`` (ignore): kept in ``dataset.item_frame`` for display, not encoded.

    User fields:

    - ``age``: numeric years in ``n_bins`` quantile bands (100k); in the 1M layout the file
      only gives age codes, mapped to band labels (``"Under 18"``, ``"18-24"``, ...,
      ``"56+"``) as a categorical field;
    - ``gender`` (categorical), ``occupation`` (categorical, names);
    - ``zip_region`` (categorical): first digit of the zip code, ``"other"`` for non-US codes;
    - ``zip`` (ignore): the raw code, kept in ``dataset.user_frame``.

    Parameters
    ----------
    path : str or path-like
        The MovieLens folder (required: the library ships no data). The 100k layout is
        ``u.data`` (tab: user, item, rating, timestamp), ``u.item`` (pipe, latin-1: id, title,
        release date, video date, url, 19 genre flags) and ``u.user`` (pipe: id, age, gender,
        occupation, zip); the 1M layout is ``ratings.dat``, ``movies.dat`` and ``users.dat``
        (``::``-separated, latin-1).
    n_bins : int, default 5
        Number of quantile bands of the numeric fields (``year``, 100k ``age``).

    Returns
    -------
    featcf.Dataset

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the folder holds neither layout (the message lists the files looked for).

    See Also
    --------
    movielens_frames : the raw frames, for notebooks and custom field choices.

    Examples
    --------
    >>> from featcf.datasets import load_movielens
    >>> ds = load_movielens("../shared/data/ml-100k")  # doctest: +SKIP
    >>> ds.n_users, ds.n_items, ds.interactions.nnz  # doctest: +SKIP
    (943, 1682, 100000)
    >>> sorted(ds.item_features.fields)  # doctest: +SKIP
    ['genre', 'year']
    """

    n_bins = check_positive_int(n_bins, "n_bins")
    ratings, items, users = movielens_frames(path)
    age_kind = "numeric" if pd.api.types.is_numeric_dtype(users["age"].dtype) else "categorical"
    return Dataset.from_frames(
        ratings,
        item_features=items,
        user_features=users,
        user_col="user_id",
        item_col="item_id",
        weight_col="rating",
        timestamp_col="timestamp",
        item_fields={"title": "ignore", "genre": "multi", "year": "numeric"},
        user_fields={
            "age": age_kind,
            "gender": "categorical",
            "occupation": "categorical",
            "zip_region": "categorical",
            "zip": "ignore",
        },
        duplicates="error",
        n_bins=n_bins,
        # u.item / u.user list every movie and user of the files, whose ids the ratings share by
        # construction: a subset of the ratings may leave most of them unrated
        allow_mostly_cold_items=True,
        allow_mostly_cold_users=True,
    )
