"""CoIL Challenge 2000 (Insurance Company Benchmark) loader: customers x 22 insurance products.

The data (``ticdata2000.txt``, 5,822 customers) is not shipped; the loader reads a copy the
user has. What the library ships is a small attribute table of the 22 product types
(``coil2000_products.csv``, see :func:`coil2000_products`), so the products have item fields.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from featcf._validation import check_positive_int
from featcf.data import Dataset

__all__ = [
    "COLUMNS",
    "CUSTOMER_MAIN_TYPES",
    "CUSTOMER_SUBTYPES",
    "coil2000_frames",
    "coil2000_products",
    "load_coil2000",
]

#: The 86 columns of ``ticdata2000.txt`` in file order: name -> meaning.
#: 1-43 socio-demographics of the customer's zip code area, 44-64 contribution level per
#: product type, 65-85 number of policies per product type, 86 CARAVAN (0/1).
COLUMNS: dict[str, str] = {
    "MOSTYPE": "customer subtype (category 1-41, see CUSTOMER_SUBTYPES)",
    "MAANTHUI": "number of houses (1-10)",
    "MGEMOMV": "average household size (1-6)",
    "MGEMLEEF": "average age band (1: 20-30 years ... 6: 70-80 years)",
    "MOSHOOFD": "customer main type (category 1-10, see CUSTOMER_MAIN_TYPES)",
    "MGODRK": "roman catholic",
    "MGODPR": "protestant",
    "MGODOV": "other religion",
    "MGODGE": "no religion",
    "MRELGE": "married",
    "MRELSA": "living together",
    "MRELOV": "other relation",
    "MFALLEEN": "singles",
    "MFGEKIND": "household without children",
    "MFWEKIND": "household with children",
    "MOPLHOOG": "high level education",
    "MOPLMIDD": "medium level education",
    "MOPLLAAG": "lower level education",
    "MBERHOOG": "high status",
    "MBERZELF": "entrepreneur",
    "MBERBOER": "farmer",
    "MBERMIDD": "middle management",
    "MBERARBG": "skilled labourers",
    "MBERARBO": "unskilled labourers",
    "MSKA": "social class A",
    "MSKB1": "social class B1",
    "MSKB2": "social class B2",
    "MSKC": "social class C",
    "MSKD": "social class D",
    "MHHUUR": "rented house",
    "MHKOOP": "home owners",
    "MAUT1": "1 car",
    "MAUT2": "2 cars",
    "MAUT0": "no car",
    "MZFONDS": "national health service",
    "MZPART": "private health insurance",
    "MINKM30": "income < 30k",
    "MINK3045": "income 30-45k",
    "MINK4575": "income 45-75k",
    "MINK7512": "income 75-122k",
    "MINK123M": "income > 123k",
    "MINKGEM": "average income",
    "MKOOPKLA": "purchasing power class",
    "PWAPART": "contribution private third party insurance",
    "PWABEDR": "contribution third party insurance (firms)",
    "PWALAND": "contribution third party insurance (agriculture)",
    "PPERSAUT": "contribution car policies",
    "PBESAUT": "contribution delivery van policies",
    "PMOTSCO": "contribution motorcycle/scooter policies",
    "PVRAAUT": "contribution lorry policies",
    "PAANHANG": "contribution trailer policies",
    "PTRACTOR": "contribution tractor policies",
    "PWERKT": "contribution agricultural machines policies",
    "PBROM": "contribution moped policies",
    "PLEVEN": "contribution life insurances",
    "PPERSONG": "contribution private accident insurance policies",
    "PGEZONG": "contribution family accidents insurance policies",
    "PWAOREG": "contribution disability insurance policies",
    "PBRAND": "contribution fire policies",
    "PZEILPL": "contribution surfboard policies",
    "PPLEZIER": "contribution boat policies",
    "PFIETS": "contribution bicycle policies",
    "PINBOED": "contribution property insurance policies",
    "PBYSTAND": "contribution social security insurance policies",
    "AWAPART": "number of private third party insurance",
    "AWABEDR": "number of third party insurance (firms)",
    "AWALAND": "number of third party insurance (agriculture)",
    "APERSAUT": "number of car policies",
    "ABESAUT": "number of delivery van policies",
    "AMOTSCO": "number of motorcycle/scooter policies",
    "AVRAAUT": "number of lorry policies",
    "AAANHANG": "number of trailer policies",
    "ATRACTOR": "number of tractor policies",
    "AWERKT": "number of agricultural machines policies",
    "ABROM": "number of moped policies",
    "ALEVEN": "number of life insurances",
    "APERSONG": "number of private accident insurance policies",
    "AGEZONG": "number of family accidents insurance policies",
    "AWAOREG": "number of disability insurance policies",
    "ABRAND": "number of fire policies",
    "AZEILPL": "number of surfboard policies",
    "APLEZIER": "number of boat policies",
    "AFIETS": "number of bicycle policies",
    "AINBOED": "number of property insurance policies",
    "ABYSTAND": "number of social security insurance policies",
    "CARAVAN": "number of mobile home policies (0/1)",
}

_NAMES = tuple(COLUMNS)
#: The 43 socio-demographic columns (user fields).
DEMOGRAPHIC_COLUMNS = _NAMES[:43]
_CONTRIBUTION_COLUMNS = _NAMES[43:64]
_COUNT_COLUMNS = _NAMES[64:85]
_CATEGORY_COLUMNS = ("MOSTYPE", "MOSHOOFD")

#: MOSTYPE codes (table L0 of the CoIL data dictionary). Codes 5 and 32 share the name
#: "Mixed seniors" in the dictionary; the code is appended to both to keep the values apart.
#: Misspellings of the original ("Etnically", "religous") are corrected.
CUSTOMER_SUBTYPES: dict[int, str] = {
    1: "High Income, expensive child",
    2: "Very Important Provincials",
    3: "High status seniors",
    4: "Affluent senior apartments",
    5: "Mixed seniors (5)",
    6: "Career and childcare",
    7: "Dinki's (double income no kids)",
    8: "Middle class families",
    9: "Modern, complete families",
    10: "Stable family",
    11: "Family starters",
    12: "Affluent young families",
    13: "Young all american family",
    14: "Junior cosmopolitan",
    15: "Senior cosmopolitans",
    16: "Students in apartments",
    17: "Fresh masters in the city",
    18: "Single youth",
    19: "Suburban youth",
    20: "Ethnically diverse",
    21: "Young urban have-nots",
    22: "Mixed apartment dwellers",
    23: "Young and rising",
    24: "Young, low educated",
    25: "Young seniors in the city",
    26: "Own home elderly",
    27: "Seniors in apartments",
    28: "Residential elderly",
    29: "Porchless seniors: no front yard",
    30: "Religious elderly singles",
    31: "Low income catholics",
    32: "Mixed seniors (32)",
    33: "Lower class large families",
    34: "Large family, employed child",
    35: "Village families",
    36: "Couples with teens 'Married with children'",
    37: "Mixed small town dwellers",
    38: "Traditional families",
    39: "Large religious families",
    40: "Large family farms",
    41: "Mixed rurals",
}

#: MOSHOOFD codes (table L2 of the CoIL data dictionary).
CUSTOMER_MAIN_TYPES: dict[int, str] = {
    1: "Successful hedonists",
    2: "Driven Growers",
    3: "Average Family",
    4: "Career Loners",
    5: "Living well",
    6: "Cruising Seniors",
    7: "Retired and Religious",
    8: "Family with grown ups",
    9: "Conservative families",
    10: "Farmers",
}

_TRAIN_FILE = "ticdata2000.txt"


def coil2000_products() -> pd.DataFrame:
    """The shipped attribute table of the 22 CoIL 2000 product types.

    One row per product, in the order of the data file's columns (65-85, then CARAVAN).

    Columns:

    - ``product_id``: readable id (``"private_liability"``, ``"car"``, ..., ``"caravan"``);
    - ``column``: the Dutch column stem (``"WAPART"``; ``"A" + column`` is the policy count,
      ``"P" + column`` the contribution level; ``"CARAVAN"`` has only its count);
    - ``name``: English name from the data dictionary;
    - ``category``: ``vehicle`` (car, delivery van, motorcycle, lorry, trailer, tractor,
      agricultural machines -- self-propelled "werktuigen" --, moped, bicycle -- a means of
      transport in the Netherlands), ``liability`` (the three third-party policies),
      ``personal`` (life, private and family accident, disability, social security: they
      insure a person's income or life), ``property`` (fire, home contents) or ``leisure``
      (surfboard, boat, caravan);
    - ``segment``: ``private``, ``business`` (firms' liability, delivery van, lorry) or
      ``agriculture`` (agricultural liability, tractor, agricultural machines);
    - ``insured``: what the policy covers: ``object`` (a thing), ``person`` (a life or
      income) or ``liability`` (damage to others).

    Returns
    -------
    pandas.DataFrame of shape (22, 6)

    Examples
    --------
    >>> from featcf.datasets import coil2000_products
    >>> products = coil2000_products()
    >>> products.shape
    (22, 6)
    >>> products.set_index("product_id").loc["caravan", "category"]
    'leisure'
    """
    source = resources.files("featcf.datasets").joinpath("coil2000_products.csv")
    with source.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    return frame.astype(object)


def _resolve_file(path: str | os.PathLike[str]) -> Path:
    target = Path(path).expanduser()
    if not target.exists():
        raise FileNotFoundError(
            f"path {str(target)!r} does not exist; pass the CoIL 2000 folder (holding "
            f"{_TRAIN_FILE}) or a data file"
        )
    if target.is_dir():
        file = target / _TRAIN_FILE
        if not file.is_file():
            raise ValueError(
                f"{str(target)!r} holds no CoIL 2000 data: looked for {_TRAIN_FILE!r}; pass the "
                f"file path itself for another file name"
            )
        return file
    return target


def coil2000_frames(
    path: str | os.PathLike[str],
    *,
    first_id: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read a CoIL 2000 data file into interactions, customers and products frames.

    Parameters
    ----------
    path : str or path-like
        A folder holding ``ticdata2000.txt``, or a data file in the same layout:
        tab-separated integers, no header, one customer per line, 86 columns (see
        :data:`COLUMNS`) or 85 columns (the challenge's ``ticeval2000.txt``, without
        CARAVAN: the caravan product then has no interactions).
    first_id : int, default 1
        Customer id of the first line; customers are numbered by line (use e.g. 5823 for the
        evaluation file so its ids do not collide with the training customers').

    Returns
    -------
    interactions : pandas.DataFrame
        One row per customer and product held: ``user_id`` (int64), ``item_id`` (product id,
        str), ``n_policies`` (int64 >= 1, columns 65-85 and CARAVAN), ``contribution``
        (float64 contribution level 1-9 of columns 44-64; NaN for caravan, which has none).
        Sorted by customer, then product order.
    customers : pandas.DataFrame
        ``user_id`` and the 43 socio-demographic columns under their original names:
        ``MOSTYPE`` and ``MOSHOOFD`` as their labels (:data:`CUSTOMER_SUBTYPES`,
        :data:`CUSTOMER_MAIN_TYPES`), the other 41 as their int64 ordinal codes.
    products : pandas.DataFrame
        :func:`coil2000_products`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a folder lacks ``ticdata2000.txt``, or the file does not have 85 or 86 integer
        columns, or holds codes outside the data dictionary.

    Examples
    --------
    >>> interactions, customers, products = coil2000_frames(
    ...     "../shared/data/coil2000")  # doctest: +SKIP
    >>> len(customers), len(products)  # doctest: +SKIP
    (5822, 22)
    """

    first_id = check_positive_int(first_id, "first_id")
    file = _resolve_file(path)
    try:
        raw = pd.read_csv(file, sep="\t", header=None, dtype=np.int64)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(
            f"{str(file)!r} is not a CoIL 2000 data file (tab-separated integers, no header): {exc}"
        ) from None
    n_columns = raw.shape[1]
    if n_columns not in (85, 86):
        raise ValueError(
            f"{str(file)!r} has {n_columns} columns; a CoIL 2000 file has 86 (ticdata2000.txt) "
            f"or 85 (ticeval2000.txt, without CARAVAN)"
        )
    raw.columns = list(_NAMES[:n_columns])
    user_ids = np.arange(first_id, first_id + len(raw), dtype=np.int64)

    customers = raw[list(DEMOGRAPHIC_COLUMNS)].copy()
    for column, labels in (("MOSTYPE", CUSTOMER_SUBTYPES), ("MOSHOOFD", CUSTOMER_MAIN_TYPES)):
        codes = customers[column]
        unknown = sorted(set(codes.unique().tolist()) - set(labels))
        if unknown:
            raise ValueError(
                f"{str(file)!r}: column {column} holds codes {unknown} outside 1-{len(labels)}"
            )
        customers[column] = codes.map(labels).astype(object)
    customers.insert(0, "user_id", user_ids)

    products = coil2000_products()
    counts = raw[list(_COUNT_COLUMNS) + (["CARAVAN"] if n_columns == 86 else [])].to_numpy()
    contributions = raw[list(_CONTRIBUTION_COLUMNS)].to_numpy(dtype=np.float64)
    if n_columns == 86:
        contributions = np.column_stack([contributions, np.full(len(raw), np.nan)])
    if (counts < 0).any():
        raise ValueError(f"{str(file)!r} holds negative policy counts")
    rows, cols = np.nonzero(counts)  # row-major: sorted by customer, then product
    product_ids = products["product_id"].to_numpy()
    interactions = pd.DataFrame(
        {
            "user_id": user_ids[rows],
            "item_id": pd.Series(product_ids[cols], dtype=object),
            "n_policies": counts[rows, cols].astype(np.int64),
            "contribution": contributions[rows, cols],
        }
    )
    return interactions, customers, products


def load_coil2000(
    path: str | os.PathLike[str],
    *,
    n_bins: int = 10,
    first_id: int = 1,
) -> Dataset:
    """Load CoIL Challenge 2000 customers and their insurance policies as a Dataset.

    Customers are users (int ids ``first_id, first_id + 1, ...`` by line), the 22 product
    types are items (string ids from :func:`coil2000_products`, e.g. ``"car"``,
    ``"caravan"``), and each product a customer holds is an interaction weighted by the
    number of policies (columns 65-85, and CARAVAN as the 22nd product). There are no
    timestamps. The contribution levels (columns 44-64) are not used as features here (they
    mirror the interactions); :func:`coil2000_frames` returns them.

    User fields (the 43 socio-demographic columns, original names; see :data:`COLUMNS`):

    - ``MOSTYPE`` (customer subtype, 41 labels) and ``MOSHOOFD`` (customer main type,
      10 labels): categorical;
    - the other 41 (number of houses, household size, age band, and the 0-9 percentage
      bands of religion, relation, education, occupation, social class, housing, cars,
      health insurance and income, and the purchasing power class) are ordinal codes that
      already are bands: numeric fields that, with the default ``n_bins=10``, keep one band
      per code (no column has more than 10 codes). A smaller ``n_bins`` merges the codes of
      a column with more than ``n_bins`` distinct codes into quantile bands (skewed columns
      then collapse to few bands, e.g. ``MAANTHUI`` to one).

    Item fields: ``category``, ``segment`` and ``insured`` (categorical); ``column`` and
    ``name`` are kept in ``dataset.item_frame`` but not encoded.

    Parameters
    ----------
    path : str or path-like
        A folder holding ``ticdata2000.txt``, or a data file of the same layout. A file of
        85 columns (the challenge's ``ticeval2000.txt``, without CARAVAN) is accepted: the
        caravan product is then a cold item (features, no interactions) -- the challenge's
        very question.
    n_bins : int, default 10
        Number of bands of the numeric user fields; 10 keeps every ordinal code apart.
    first_id : int, default 1
        Customer id of the file's first line.

    Returns
    -------
    featcf.Dataset
        5,822 users x 22 items for ``ticdata2000.txt``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the folder lacks ``ticdata2000.txt`` or the file does not have 85 or 86 integer
        columns.

    See Also
    --------
    coil2000_frames : the raw frames.
    coil2000_products : the shipped product attribute table.

    Examples
    --------
    >>> from featcf.datasets import load_coil2000
    >>> ds = load_coil2000("../shared/data/coil2000")  # doctest: +SKIP
    >>> ds.n_users, ds.n_items  # doctest: +SKIP
    (5822, 22)
    """

    n_bins = check_positive_int(n_bins, "n_bins")
    interactions, customers, products = coil2000_frames(path, first_id=first_id)
    user_fields = {
        column: ("categorical" if column in _CATEGORY_COLUMNS else "numeric")
        for column in DEMOGRAPHIC_COLUMNS
    }
    return Dataset.from_frames(
        interactions[["user_id", "item_id", "n_policies"]],
        item_features=products.rename(columns={"product_id": "item_id"}),
        user_features=customers,
        user_col="user_id",
        item_col="item_id",
        weight_col="n_policies",
        item_fields={
            "column": "ignore",
            "name": "ignore",
            "category": "categorical",
            "segment": "categorical",
            "insured": "categorical",
        },
        user_fields=user_fields,
        duplicates="error",
        n_bins=n_bins,
        # the shipped product table and the file's customers are whole catalogues by
        # construction: a small file may leave most products unsold
        allow_mostly_cold_items=True,
        allow_mostly_cold_users=True,
    )
