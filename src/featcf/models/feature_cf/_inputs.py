"""What every FeatureCF step reads: the Dataset's arrays and the hyper-parameters, built once.

:class:`Inputs` is built from the Dataset at fit, again at load and after ``add_items`` (the
catalogue grows), and never filled later; :class:`Settings` and :class:`Learning` hold the
validated hyper-parameters that scoring and weight learning read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from featcf.data.dataset import Dataset

__all__ = ["Inputs", "Learning", "Settings", "positives", "read_inputs", "resolve_ratings"]


@dataclass(frozen=True)
class Settings:
    """The hyper-parameters that building a core and scoring read."""

    #: neighbours per user (per field, user-kNN, feature space) and per item (item-kNN)
    n_neighbors: int
    #: similarity of attribute profiles: "cosine" or "pearson"
    metric: str
    #: pseudo-interactions pulling a profile towards its prior
    profile_shrinkage: float
    #: numba threads for the kernels (None: all)
    n_threads: int | None
    #: pseudo-users pulling a demographic lift towards the item's overall share
    demo_shrinkage: float = 20.0
    #: most active users searched as neighbours (None: all; ``max_reference_users``)
    max_reference_users: int | None = None
    #: per user, their place in the seeded order that picks the reference users when there
    #: are more active users than ``max_reference_users`` (drawn at fit; None: not needed)
    reference_rank: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Learning:
    """The hyper-parameters of the validation split and the weight learning."""

    #: share of positives (and of users) hidden to learn the weights
    validation_fraction: float
    #: level of items without interactions, in warm-score standard deviations below the mean
    new_item_shift: float
    #: whether the ordinary CF terms ("cf", "ease", "user_cf") may get a weight
    include_cf: bool
    #: the "ease" L2 penalty: "auto" (picked on the validation split) or a number
    ease_l2: str | float
    #: terms whose weight is held at 0 (never learned): ``exclude_terms``
    exclude: tuple[str, ...] = ()
    #: validation users per group, and candidate items they are ranked over
    max_users: int = 300
    max_candidates: int = 400
    #: new customers the band search ranks with 0, 1-2 and 3-5 positives revealed, and
    #: stating interests: the loss's ``max_users // 2`` and more (``_split.search_customers``)
    max_cold_users: int = 600
    #: weight of the per-item (audience) losses, for warm and for hidden items
    item_loss_share: float = 0.5
    cold_item_loss_share: float = 0.5
    #: history bands (index into BAND_EDGES) whose users are ranked with the set likelihood
    set_loss_min_band: int = 3


@dataclass(frozen=True, eq=False)
class Inputs:
    """The training data as the steps read it.

    Attributes
    ----------
    interactions : csr_matrix of shape (n_users, n_items)
        The Dataset's interaction values (ratings, counts, 1.0).
    values : csr_matrix of shape (n_users, n_items), float32
        The binary positives (see :func:`positives`).
    x : csr_matrix of shape (n_items, n_columns), float32
        Item features with every field's block normalised to sum 1 per item (sorted indices).
    x_bin : csr_matrix, float32
        ``x`` with its stored values set to 1 (attribute indicators).
    xt, xt_bin : ndarray of shape (n_columns, n_items)
        ``x`` transposed and dense (float32), and its 0/1 pattern (float64).
    xu, xu_t : csr_matrix of shape (n_items, n_columns) and its dense transpose, float32
        ``x`` with unit L2 rows (for feature cosine between items).
    user_features : csr_matrix of shape (n_users, n_user_columns) or None
    field_names, field_slices, field_labels, field_kinds : tuples, one entry per item field
        The field's name, its columns in ``x``, a label per column and its kind
        (``"categorical"``, ``"multi"`` or ``"numeric"``).
    item_ids : ndarray
        External item ids in internal order.
    rating_data : bool
        Whether the interaction values are read as ratings.
    positive_threshold : float or None
        Values below it are not positives (the hyper-parameter as given).
    liked_threshold : float or None
        Rating data: ratings at least this are the "liked" validation targets.
    """

    interactions: sp.csr_matrix
    values: sp.csr_matrix
    x: sp.csr_matrix
    x_bin: sp.csr_matrix
    xt: np.ndarray
    xt_bin: np.ndarray
    xu: sp.csr_matrix
    xu_t: np.ndarray
    user_features: sp.csr_matrix | None
    field_names: tuple[str, ...]
    field_slices: tuple[slice, ...]
    field_labels: tuple[tuple[str, ...], ...]
    field_kinds: tuple[str, ...]
    item_ids: np.ndarray
    rating_data: bool
    positive_threshold: float | None
    liked_threshold: float | None


def read_inputs(dataset: Dataset, *, rating_data: bool, positive_threshold: float | None) -> Inputs:
    """Build :class:`Inputs` from a Dataset with item features."""
    features = dataset.item_features
    blocks = [features.field_block(name, normalize=True) for name in features.fields]
    x = sp.csr_matrix(sp.hstack(blocks), dtype=np.float32)
    x.sort_indices()
    x_bin = sp.csr_matrix(x, copy=True)
    x_bin.data[:] = 1.0
    xt = x.T.toarray()
    xu = _unit_rows(x)
    fields = dataset.item_fields
    liked = None
    if rating_data:
        liked = (
            float(positive_threshold)
            if positive_threshold is not None
            else float(dataset.interactions.data.mean())
        )
    return Inputs(
        interactions=dataset.interactions,
        values=positives(dataset.interactions, positive_threshold),
        x=x,
        x_bin=x_bin,
        xt=xt,
        xt_bin=(xt > 0).astype(np.float64),
        xu=xu,
        xu_t=xu.T.toarray(),
        user_features=None if dataset.user_features is None else dataset.user_features.matrix,
        field_names=tuple(fields),
        field_slices=tuple(f.columns for f in features.fields.values()),
        field_labels=tuple(tuple(f.values) for f in fields.values()),
        field_kinds=tuple(f.kind for f in fields.values()),
        item_ids=dataset.item_ids,
        rating_data=bool(rating_data),
        positive_threshold=positive_threshold,
        liked_threshold=liked,
    )


def positives(interactions: sp.csr_matrix, threshold: float | None) -> sp.csr_matrix:
    """Binary positives (float32 CSR) from the interaction weights (a new matrix)."""
    values = sp.csr_matrix(interactions, dtype=np.float32, copy=True)
    if threshold is not None:
        values.data = (values.data >= threshold).astype(np.float32)
        values.eliminate_zeros()
    else:
        values.data[:] = 1.0
    return values


def resolve_ratings(dataset: Dataset, implicit: bool | str) -> bool:
    """Whether the interaction weights are ratings (``implicit=False``, or detected by "auto").

    "auto": ratings when the Dataset has a weight column holding 3 to 11 integer levels in
    [0, 10] with the lowest level under half of the data (ratings, not counts).
    """
    if isinstance(implicit, (bool, np.bool_)):
        return not bool(implicit)
    if dataset.columns.get("weight") is None or dataset.interactions.nnz == 0:
        return False
    data = dataset.interactions.data
    levels, counts = np.unique(data, return_counts=True)
    integer_like = bool(np.all(np.abs(levels - np.round(levels)) < 1e-6))
    return bool(
        integer_like
        and 3 <= len(levels) <= 11
        and levels.min() >= 0
        and levels.max() <= 10
        and counts[0] / len(data) < 0.5
    )


def _unit_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    """Rows of ``x`` scaled to unit L2 norm (empty rows stay empty), float32."""
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float64).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ x, dtype=np.float32)
