"""Customer segments: customers grouped by their attribute profiles, described in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.cluster import KMeans

from featcf._validation import check_bool, check_positive_int
from featcf.columns import Columns
from featcf.data import Dataset
from featcf.models.base import BaseRecommender
from featcf.retention._inputs import check_model, value_series

__all__ = ["SEGMENT", "Segments", "segment"]

#: column naming a customer's segment (1 is the largest)
SEGMENT = "segment"
#: a value is named in a description when its share exceeds the overall share by this much
_MIN_EXCESS = 0.05
#: KMeans runs on one thread below this many matrix cells x segments
_SMALL_WORK = 2_000_000


@dataclass(frozen=True)
class Segments:
    """Customer segments (see :func:`segment`).

    Attributes
    ----------
    assignments : pandas.DataFrame
        ``user_id, segment``: every customer of the model's Dataset, in its order.
    summary : pandas.DataFrame
        One row per segment (1 = largest): ``segment``, ``size``, ``customer_share``,
        ``value_share`` (NaN without ``value``) and ``description``, the segment in words.
    profiles : pandas.DataFrame
        Segments x ``"field = value"`` columns: for customer fields the share of the
        segment's customers with that value, for product fields the mean share of their
        purchases with it; the row ``"all"`` holds the same over every customer.
    top_items : pandas.DataFrame
        The products to serve each segment: ``segment``, ``rank``, ``item_id``, ``share``
        (of the segment's customers who have it among their top recommendations) and
        ``reason`` (the reason the model gives most often for it in the segment).
    """

    assignments: pd.DataFrame
    summary: pd.DataFrame
    profiles: pd.DataFrame
    top_items: pd.DataFrame


def _profile_matrix(dataset: Dataset) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Customers x (customer field values, purchase shares per product field value).

    Each customer field is one-hot (sums to 1 when known); each product field holds the
    shares of the customer's purchases with each of its values (sums to 1 for a buyer), so
    every field weighs the same in the distances.
    """
    blocks, names, is_item = [], [], []
    if dataset.user_features is not None:
        blocks.append(dataset.user_features.matrix)
        names += dataset.user_features.column_names
        is_item += [False] * dataset.user_features.n_columns
    if dataset.item_features is not None:
        bought = sp.csr_matrix(dataset.interactions, dtype=np.float64, copy=True)
        bought.data[:] = 1.0  # shares of products bought, whatever the weights
        for name in dataset.item_features.fields:
            counts = bought @ dataset.item_features.field_block(name)
            totals = np.asarray(counts.sum(axis=1)).ravel()
            scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
            blocks.append(sp.diags(scale) @ counts)
        names += dataset.item_features.column_names
        is_item += [True] * dataset.item_features.n_columns
    if not blocks:
        raise ValueError(
            "model's Dataset has neither customer nor product features: segments are built "
            "from attribute profiles"
        )
    matrix = sp.hstack(blocks).toarray().astype(np.float64)
    return matrix, names, np.asarray(is_item, dtype=bool)


def _cluster(
    matrix: np.ndarray, n_segments: int, random_state: int | None, n_threads: int | None
) -> np.ndarray:
    """KMeans labels (0..n_segments-1) of the rows of ``matrix``."""
    from threadpoolctl import threadpool_limits  # heavy: kept out of ``import featcf``

    if matrix.size * n_segments < _SMALL_WORK:
        n_threads = 1
    kmeans = KMeans(n_clusters=n_segments, n_init=10, random_state=random_state)
    with threadpool_limits(limits=n_threads):
        return kmeans.fit_predict(matrix)


def _describe(profiles: pd.DataFrame, is_item: np.ndarray, n_words: int) -> list[str]:
    """Each segment in words: the field values most over-represented in it."""
    overall = profiles.loc["all"]
    fields = np.asarray([name.split(" = ")[0] for name in profiles.columns], dtype=object)
    texts = []
    for seg in profiles.index.drop("all"):
        excess = profiles.loc[seg] - overall
        words = {False: [], True: []}
        for kind in (False, True):
            picked = excess[is_item == kind]
            best = picked.groupby(fields[is_item == kind], sort=False).idxmax()
            best = best[excess[best.to_numpy()].to_numpy() > _MIN_EXCESS]
            order = excess[best.to_numpy()].sort_values(ascending=False, kind="stable")
            for column in order.index[:n_words]:
                share, base = profiles.loc[seg, column], overall[column]
                words[kind].append(f"{column} {share:.0%} ({base:.0%} overall)")
        parts = []
        if words[False]:
            parts.append("customers: " + ", ".join(words[False]))
        if words[True]:
            parts.append("purchases: " + ", ".join(words[True]))
        texts.append("; ".join(parts) or "like the customers overall")
    return texts


def _top_items(
    model: BaseRecommender, labels: pd.Series, n_items: int, reasons: bool
) -> pd.DataFrame:
    """The products most often in the segment's customers' top ``n_items``."""
    dataset = model.dataset_
    served = labels.loc[(dataset.user_counts() > 0) | model.handles_new_users_with_features]
    recs = model.recommend(served.index.to_numpy(), n=n_items, reasons=reasons)
    recs[SEGMENT] = served.reindex(recs[Columns.USER]).to_numpy()
    size = served.value_counts()
    counts = recs.groupby([SEGMENT, Columns.ITEM], sort=False).size().rename("customers")
    top = counts.reset_index().sort_values(
        [SEGMENT, "customers"], ascending=[True, False], kind="stable"
    )
    top = top.groupby(SEGMENT, sort=False).head(n_items).reset_index(drop=True)
    top["share"] = top["customers"] / top[SEGMENT].map(size)
    top.insert(1, Columns.RANK, top.groupby(SEGMENT).cumcount() + 1)
    if reasons:
        common = recs.groupby([SEGMENT, Columns.ITEM])[Columns.REASON].agg(
            lambda s: s.value_counts().index[0]
        )
        top[Columns.REASON] = common.reindex(
            pd.MultiIndex.from_frame(top[[SEGMENT, Columns.ITEM]])
        ).to_numpy()
    return top.drop(columns="customers")


def segment(
    model: BaseRecommender,
    n_segments: int,
    random_state: int | None = None,
    *,
    value: Any = None,
    n_items: int = 3,
    n_words: int = 3,
    reasons: bool = True,
    n_threads: int | None = None,
) -> Segments:
    """Group customers by their attribute profiles and describe each group in words.

    A customer's profile is their customer fields, one-hot (household = family, age band,
    ...), beside the shares of their purchases over each product field's values (60 %
    vehicle, 40 % property, ...), from the model's Dataset. Every field weighs the same.
    scikit-learn's :class:`~sklearn.cluster.KMeans` groups the profiles. Each segment is
    described by the field values most over-represented in it (at most ``n_words`` customer
    values and ``n_words`` product values, each at least 5 points above its overall share),
    and served by the products the model recommends most often to its customers.

    Parameters
    ----------
    model : fitted featcf recommender
    n_segments : int
        Number of segments (at most the number of customers).
    random_state : int, optional
        Seed of KMeans' initialisation (the same seed gives the same segments).
    value : pandas.Series or pandas.DataFrame, optional
        Customer value by id, or the frame of :func:`customer_value`, for each segment's
        ``value_share``.
    n_items : int, default 3
        Products per customer asked from the model, and per segment reported.
    n_words : int, default 3
        Values named per kind in a description.
    reasons : bool, default True
        Add the ``reason`` column to ``top_items`` (models without explanations need False).
    n_threads : int, optional
        Threads of KMeans (None: all; small problems run on one, where waking the thread
        pool costs more than the work, and far more on a busy machine).

    Returns
    -------
    Segments
        Frames: ``assignments``, ``summary``, ``profiles``, ``top_items``.

    Raises
    ------
    ValueError
        If ``n_segments`` is not a positive integer up to the number of customers, or the
        Dataset has no features.

    Examples
    --------
    >>> from featcf import ContentKNN
    >>> from featcf.datasets import make_insurance_shop
    >>> from featcf.retention import segment
    >>> shop = make_insurance_shop(n_customers=300, random_state=0)
    >>> groups = segment(ContentKNN().fit(shop), 4, random_state=0)
    >>> int(groups.summary["size"].sum())
    300
    """
    dataset = check_model(model)
    n_segments = check_positive_int(n_segments, "n_segments")
    if n_segments > dataset.n_users:
        raise ValueError(
            f"n_segments must be at most the number of customers ({dataset.n_users}), "
            f"got {n_segments}"
        )
    n_items = check_positive_int(n_items, "n_items")
    n_words = check_positive_int(n_words, "n_words")
    reasons = check_bool(reasons, "reasons")
    n_threads = check_positive_int(n_threads, "n_threads", allow_none=True)
    worth = None if value is None else value_series(value, dataset.user_ids, "value")
    matrix, names, is_item = _profile_matrix(dataset)
    raw = _cluster(matrix, n_segments, random_state, n_threads)
    # segments numbered by size, largest first (equal sizes: KMeans' order)
    sizes = np.bincount(raw, minlength=n_segments)
    renumber = np.empty(n_segments, dtype=np.int64)
    renumber[np.argsort(-sizes, kind="stable")] = np.arange(1, n_segments + 1)
    labels = pd.Series(renumber[raw], index=pd.Index(dataset.user_ids, name=Columns.USER))
    profiles = pd.DataFrame(matrix, columns=names).groupby(labels.to_numpy()).mean()
    overall = pd.DataFrame([matrix.mean(axis=0)], columns=names, index=["all"])
    profiles = pd.concat([profiles.rename_axis(None), overall])
    profiles.index.name = SEGMENT
    size = labels.value_counts().sort_index()
    summary = pd.DataFrame({SEGMENT: size.index, "size": size.to_numpy()})
    summary["customer_share"] = summary["size"] / dataset.n_users
    if worth is not None and worth.sum() > 0:
        by_segment = worth.groupby(labels.to_numpy()).sum() / worth.sum()
        summary["value_share"] = by_segment.reindex(size.index).to_numpy()
    else:
        summary["value_share"] = np.nan
    summary["description"] = _describe(profiles, is_item, n_words)
    return Segments(
        assignments=labels.rename(SEGMENT).reset_index(),
        summary=summary,
        profiles=profiles,
        top_items=_top_items(model, labels, n_items, reasons),
    )
