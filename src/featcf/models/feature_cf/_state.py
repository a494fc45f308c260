"""FeatureCF's fitted state as typed, frozen parts.

:class:`Core`
    What is learned from one positives matrix (the final fit, or a validation split).
:class:`CoreArrays`
    Arrays derived from a core for scoring, built with it (:func:`make_scorer`): nothing is
    filled in at query time, so concurrent first queries cannot see a half-built cache.
:class:`Scorer`
    A core ready to score: the inputs, settings and term names it is scored with.
:class:`TermWeights`
    How the scaled terms are combined (per history band; for items without interactions).
:class:`Fitted`
    The fitted model: a scorer and its weights.

The flat persistence form (``_get_state`` / ``_set_state``: name -> array / CSR / Series /
JSON value) is :func:`state_dict` and :func:`fitted_from_state`; the public attributes
(``band_weights_``, ...) are read-only views (:class:`FittedAttribute`) of these parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import (
    Array,
    Json,
    Series,
    Sparse,
    Spec,
    json_bool,
    json_choice,
    json_float,
    json_int,
    json_strings,
)
from featcf.data.dataset import Dataset
from featcf.exceptions import NotFittedError
from featcf.models.feature_cf._inputs import Inputs, Settings
from featcf.models.feature_cf._neighbours import prepare_field_refs
from featcf.models.feature_cf._sparse import row_sums
from featcf.similarity import PreparedRows

__all__ = [
    "AUDIENCE_ENTRIES",
    "BAND_EDGES",
    "BAND_MAP_ENTRIES",
    "Core",
    "CoreArrays",
    "Fitted",
    "FittedAttribute",
    "POPULARITY_DESIGNS",
    "STATED_ONLY_TAG",
    "STATED_TAG",
    "Scorer",
    "TermWeights",
    "band_of",
    "fitted_attributes",
    "fitted_from_state",
    "fitted_or_raise",
    "make_scorer",
    "state_dict",
    "state_schema",
]

#: history-length bands with their own learned weights: [0], [1, 2], [3, 5], [6, 20], [21, inf)
BAND_EDGES = (0, 1, 3, 6, 21)
#: the item matrices the popularity regression may read (:attr:`Core.popularity_design`)
POPULARITY_DESIGNS = ("indicators", "shares")
#: the tag of validation customers without history who state interests (after the bands)
STATED_TAG = len(BAND_EDGES)
#: the tag of those who state interests and give no user features
STATED_ONLY_TAG = STATED_TAG + 1
#: largest item x item co-occurrence matrix (bound on its entries) kept for scoring
COOCCURRENCE_MAX_NNZ = 2e7


def band_of(counts: np.ndarray) -> np.ndarray:
    """The history band (row of the band weights) of each history length."""
    return np.searchsorted(np.asarray(BAND_EDGES[1:]), counts, side="right").astype(np.int64)


@dataclass(frozen=True, eq=False)
class Core:
    """What FeatureCF learns from one positives matrix ``values`` (n_users x n_items).

    Users with positives are the *active* users; neighbour matrices have one column per
    active user. Arrays are float32 unless said otherwise.
    """

    #: the positives it was built from (binary, float32 CSR)
    values: sp.csr_matrix
    #: positions of the active users (int64)
    active: np.ndarray
    #: ``g``: every field's value distribution over all positives (float64, n_columns)
    global_profile: np.ndarray
    #: the active users' profiles under the global prior (n_active x n_columns)
    base_profiles: np.ndarray
    #: every user's profile as log-lift over ``g`` (n_users x n_columns): ``user_profiles_``
    lift: np.ndarray
    #: log1p of each item's positives, predicted from features for items without any
    popularity: np.ndarray
    #: ``[intercept, coef...]`` of log-popularity on item features (float64), over the
    #: columns of :attr:`popularity_design`'s item matrix
    popularity_coef: np.ndarray
    #: positives per item (float64)
    item_counts: np.ndarray
    #: ``S``: item-kNN cosine similarities (n_items x n_items CSR)
    item_similarity: sp.csr_matrix
    #: scale of item feature cosine to ``S`` (links of items without interactions)
    kappa: float
    #: the ``"content_ridge"`` map from a history to feature coefficients (n_columns + 1, n_items)
    content_map: np.ndarray
    #: user-kNN on the positives (n_users x n_active CSR)
    user_neighbors: sp.csr_matrix
    #: per item field, neighbours under the field's profiles (n_users x n_active CSR each)
    field_neighbors: tuple[sp.csr_matrix, ...]
    #: neighbours in user-feature space (n_users x n_active CSR), None without user features
    demo_neighbors: sp.csr_matrix | None
    #: naive-Bayes lift of user feature values for items / item field values, or None
    demo_lift: np.ndarray | None
    demo_field_lift: np.ndarray | None
    #: rating data: each item's shrunk mean deviation from its raters' mean, else None
    item_quality: np.ndarray | None
    #: the ``"ease"`` regression (items x items; user feature columns x items) and its L2
    ease: np.ndarray | None = None
    ease_features: np.ndarray | None = None
    ease_l2: float | None = None
    #: the ``"affinity"`` bilinear weights (customer-side columns x (n_columns + 1)), or None
    affinity: np.ndarray | None = None
    #: the item matrix :attr:`popularity_coef` applies to: ``"indicators"`` (0/1 attribute
    #: indicators, ``Inputs.x_bin``) or ``"shares"`` (every field's block summing to 1,
    #: ``Inputs.x``: the popularity regression of files saved before it read indicators)
    popularity_design: str = "indicators"


@dataclass(frozen=True, eq=False)
class CoreArrays:
    """Arrays derived from a :class:`Core` that scoring reads (built by :func:`make_scorer`)."""

    #: positives of the active users (float32 CSR) and their transpose
    v_active: sp.csr_matrix
    v_active_t: sp.csr_matrix
    #: L2 norms of the active users' positives (fold-in user-kNN)
    v_norms: np.ndarray
    #: share of the active users who have each item (float64)
    item_share: np.ndarray
    #: 1 / positives per item, 0 for items without (float32)
    inv_counts: np.ndarray
    #: item x item co-occurrence counts ``V^T V`` when small enough, else None (two hops)
    co_counts: sp.csr_matrix | None
    #: items without interactions: mask, positions, and their unit feature rows
    cold_item: np.ndarray
    cold_idx: np.ndarray
    xu_cold: sp.csr_matrix
    #: ``content_map`` transposed (C-contiguous)
    content_map_t: np.ndarray
    #: the active users' profiles per field, prepared for fold-in searches
    field_refs: tuple[PreparedRows, ...]
    #: the active users' user features (fold-in feature neighbours), None without
    features_active: sp.csr_matrix | None


@dataclass(frozen=True, eq=False)
class Scorer:
    """A core ready to score, with the inputs, settings and term names it is scored with."""

    inputs: Inputs
    settings: Settings
    names: tuple[str, ...]
    core: Core
    arrays: CoreArrays


#: the state entries of the weights that rank customers for a product (saved together)
AUDIENCE_ENTRIES = ("audience_band_weights_", "audience_cold_item_affine_")
#: per-band score maps, held only by files saved before they were dropped (the second one
#: only beside the second weight set); such a model keeps applying them
BAND_MAP_ENTRIES = ("band_affine_", "audience_band_affine_")


@dataclass(frozen=True, eq=False)
class TermWeights:
    """How the scaled terms combine: ``score = sum_t w_t(band) * T_t / scale_t``.

    Items without interactions use ``cold`` and the affine map ``cold_affine`` (level,
    slope) that puts their scores on the warm items' scale. All float64.

    ``band_affine`` (level, slope > 0 per history band, shape (n_bands, 2)) is None but for
    a model loaded from a file saved while featcf fitted such maps: every score of a user
    in band ``b`` is then mapped by ``band_affine[b]``, as it was when the file was saved.

    ``stated`` (n_terms) weighs the customers without history who state interests; None
    (given weights, too little validation data, files saved before it) leaves them to the
    zero-history band's weights, with the customers known only by their demographics.
    ``stated_only`` (n_terms) weighs those of them who give no user features; None (the
    same cases, a model without user features, files saved before it) leaves them to
    ``stated``.
    """

    scale: np.ndarray
    band: np.ndarray
    cold: np.ndarray
    cold_affine: np.ndarray
    band_affine: np.ndarray | None = None
    stated: np.ndarray | None = None
    stated_only: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        scale: Any,
        band: Any,
        cold: Any,
        cold_affine: Any = (0.0, 1.0),
        band_affine: Any = None,
        stated: Any = None,
        stated_only: Any = None,
    ) -> TermWeights:
        """Weights from array-likes, as float64 arrays."""

        def optional(a: Any) -> np.ndarray | None:
            return None if a is None else np.asarray(a, dtype=np.float64)

        return cls(
            np.asarray(scale, dtype=np.float64),
            np.asarray(band, dtype=np.float64),
            np.asarray(cold, dtype=np.float64),
            np.asarray(cold_affine, dtype=np.float64),
            optional(band_affine),
            optional(stated),
            optional(stated_only),
        )

    def of_users(
        self,
        n: np.ndarray,
        stated: np.ndarray | None = None,
        described: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each user's weights (a copy, n_users x n_terms): their history band's, or for
        users without history who stated interests :attr:`stated`'s, :attr:`stated_only`'s
        (when set) for those of them not ``described`` by user features. ``stated`` and
        ``described``: one flag per user, or None (no one stated interests; everyone is
        described, as the fitted users are)."""
        w = self.band[band_of(n)]
        if stated is None:
            return w
        said = np.asarray(stated, dtype=bool) & (np.asarray(n) == 0)
        if self.stated is not None:
            w[said] = self.stated
        if self.stated_only is not None and described is not None:
            w[said & ~np.asarray(described, dtype=bool)] = self.stated_only
        return w


@dataclass(frozen=True, eq=False)
class Fitted:
    """The fitted model: the scorer of the final core and the learned weights, in two sets:
    ``weights`` rank products for a customer (``recommend``, ``predict``), ``audience``
    ranks customers for a product (``recommend_users``, ``announce``); see
    ``_weights.learn_weights``. Given weights, and files saved before the second set, use
    one set for both."""

    scorer: Scorer
    weights: TermWeights
    audience: TermWeights

    def weights_across(self, across: str) -> TermWeights:
        """The set whose scores are compared ``across`` ``"items"`` (a customer's products)
        or ``"users"`` (a product's audience)."""
        return self.audience if across == "users" else self.weights

    @property
    def term_names(self) -> list[str]:
        return list(self.scorer.names)

    @property
    def feature_weights(self) -> pd.Series:
        """The weights of warm users (history of 21+), indexed by term name."""
        return pd.Series(self.weights.band[-1], index=pd.Index(self.term_names), name="weight")

    @property
    def field_neighbors(self) -> sp.csr_matrix:
        """The per-field neighbour matrices stacked (fields one after another)."""
        return sp.csr_matrix(sp.vstack(self.scorer.core.field_neighbors), dtype=np.float32)

    @property
    def n_users(self) -> int:
        return int(self.scorer.core.values.shape[0])


def make_scorer(inputs: Inputs, settings: Settings, names: Any, core: Core) -> Scorer:
    """A :class:`Scorer` with every derived array of ``core`` built now."""
    v_active = sp.csr_matrix(core.values[core.active], dtype=np.float32)
    v_active_t = sp.csr_matrix(v_active.T)
    counts = core.item_counts
    cold_item = counts == 0
    cold_idx = np.flatnonzero(cold_item)
    ref_lift = np.asarray(core.lift[core.active], dtype=np.float64)
    uf = inputs.user_features
    arrays = CoreArrays(
        v_active=v_active,
        v_active_t=v_active_t,
        v_norms=np.sqrt(row_sums(v_active, power=2)),
        item_share=np.asarray(v_active.mean(axis=0), dtype=np.float64).ravel(),
        inv_counts=np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0).astype(
            np.float32
        ),
        co_counts=_cooccurrence_counts(v_active, v_active_t),
        cold_item=cold_item,
        cold_idx=cold_idx,
        xu_cold=sp.csr_matrix(inputs.xu[cold_idx]),
        content_map_t=np.ascontiguousarray(core.content_map.T),
        field_refs=prepare_field_refs(
            ref_lift, core.global_profile, inputs.field_slices, settings.metric
        ),
        features_active=None if uf is None else uf[core.active],
    )
    return Scorer(inputs, settings, tuple(names), core, arrays)


def _cooccurrence_counts(v: sp.csr_matrix, v_t: sp.csr_matrix) -> sp.csr_matrix | None:
    """Item x item co-occurrence counts ``V^T V`` when they are small.

    Kept when its size bound ``sum_u n_u^2`` is at most :data:`COOCCURRENCE_MAX_NNZ`
    (MovieLens 100k: 1.3e7); larger data go through the two-hop product instead.
    """
    bound = float(np.sum(np.diff(v.indptr).astype(np.float64) ** 2))
    if bound > COOCCURRENCE_MAX_NNZ:
        return None
    counts = sp.csr_matrix(v_t @ v, dtype=np.float32)
    counts.sort_indices()
    return counts


# ---------------------------------------------------------------------- public views and files
class FittedAttribute:
    """A public fitted attribute (``name_``) of FeatureCF: a read-only view of :class:`Fitted`.

    ``path`` is the dotted attribute path inside :class:`Fitted`, e.g. ``"weights.band"``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._read = attrgetter(path)
        self.name = path

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        if model is None:
            return self
        fitted = model.__dict__.get("_fitted")
        if fitted is None:
            raise AttributeError(
                f"{type(model).__name__} has no {self.name} before fit (call fit(dataset) first)"
            )
        return self._read(fitted)

    def __set__(self, model: Any, value: Any) -> None:
        raise AttributeError(f"{self.name} is learned by fit and read-only (refit to change it)")


def fitted_attributes(cls: type) -> list[str]:
    """Names of the :class:`FittedAttribute` views of ``cls``, in declaration order."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, FittedAttribute):
                names[name] = None
    return list(names)


def fitted_or_raise(model: Any) -> Fitted:
    """The model's :class:`Fitted` state; :class:`~featcf.NotFittedError` if it has none."""
    fitted = model.__dict__.get("_fitted")
    if fitted is None:
        raise NotFittedError(
            f"This {type(model).__name__} is not fitted yet: call fit(dataset) first."
        )
    return fitted


def state_dict(model: Any) -> dict[str, Any]:
    """The persisted form: every public fitted attribute, by name (``_get_state``)."""
    return {name: getattr(model, name) for name in fitted_attributes(type(model))}


def state_schema(dataset: Dataset) -> dict[str, Spec]:
    """What :func:`state_dict` saves for a model fitted on ``dataset``: name -> spec.

    Shapes are in the Dataset's users, items, item feature columns and fields, the number of
    terms (``n_terms``, bound by ``term_names_``) and of active users (``n_active``, bound by
    ``active_users_``); the neighbour matrices' column indices are positions among the active
    users. :func:`check_state` adds what ties entries together.
    """
    n_users, n_items = dataset.n_users, dataset.n_items
    n_cols, n_fields = dataset.item_features.n_columns, len(dataset.item_fields)
    n_ucols = 0 if dataset.user_features is None else dataset.user_features.n_columns
    return {
        "rating_data_": Json(json_bool()),
        "term_names_": Json(json_strings(), length="n_terms"),
        "term_scale_": Array("float64", ("n_terms",), low=1e-12),
        "band_weights_": Array("float64", (len(BAND_EDGES), "n_terms")),
        "cold_item_weights_": Array("float64", ("n_terms",)),
        "cold_item_affine_": Array("float64", (2,)),
        "feature_weights_": Series("float64", "n_terms"),
        "active_users_": Array("int64", ("n_active",), index_of=n_users, increasing=True),
        "global_profile_": Array("float64", (n_cols,), low=0.0),
        "base_profiles_": Array("float32", ("n_active", n_cols)),
        "user_profiles_": Array("float32", (n_users, n_cols)),
        "popularity_": Array("float32", (n_items,)),
        "popularity_coef_": Array("float64", (n_cols + 1,)),
        "item_counts_": Array("float64", (n_items,), low=0.0),
        "item_similarity_": Sparse((n_items, n_items), "float32", low=0.0),
        "ease_matrix_": Array("float32", (n_items, n_items), optional=True),
        "ease_feature_matrix_": Array("float32", (n_ucols, n_items), optional=True),
        "kappa_": Json(json_float(0.0)),
        "content_map_": Array("float32", (n_cols + 1, n_items)),
        "user_neighbors_": Sparse((n_users, "n_active"), "float32"),
        "field_neighbors_": Sparse((n_fields * n_users, "n_active"), "float32"),
        "demo_neighbors_": Sparse((n_users, "n_active"), "float32", optional=True),
        "demo_lift_": Array("float32", (n_ucols, n_items), optional=True),
        "demo_field_lift_": Array("float32", (n_ucols, n_cols), optional=True),
        "item_quality_": Array("float32", (n_items,), optional=True),
        "n_users_fit_": Json(json_int(equal=n_users)),
        "ease_l2_": Json(json_float(0.0, low_open=True), optional=True),
        "affinity_matrix_": Array("float32", (n_ucols + n_cols + 2, n_cols + 1), optional=True),
        "band_affine_": Array("float64", (len(BAND_EDGES), 2), optional=True),
        "audience_band_weights_": Array("float64", (len(BAND_EDGES), "n_terms"), optional=True),
        "audience_cold_item_affine_": Array("float64", (2,), optional=True),
        "audience_band_affine_": Array("float64", (len(BAND_EDGES), 2), optional=True),
        "stated_weights_": Array("float64", ("n_terms",), low=0.0, optional=True),
        "stated_only_weights_": Array("float64", ("n_terms",), low=0.0, optional=True),
        "popularity_design_": Json(json_choice(POPULARITY_DESIGNS), optional=True),
    }


def check_state(
    state: dict[str, Any], values: sp.csr_matrix, names: list[str], dataset: Dataset
) -> None:
    """Refuse a loaded state whose entries disagree (``ValueError`` naming them).

    ``values`` are the positives the Dataset and the hyper-parameters give, ``names`` the
    term names a model with this state's parts would have.
    """
    demographics = dataset.user_features is not None
    user_columns = demographics and dataset.user_features.n_columns > 0
    if "affinity" not in state["term_names_"] and state["affinity_matrix_"] is None:
        names = [name for name in names if name != "affinity"]  # saved before the term
    if state["term_names_"] != names:
        raise ValueError(f"term_names_ must be {names} for this model, got {state['term_names_']}")
    weights = state["feature_weights_"]
    if weights.index.tolist() != names or not np.array_equal(
        weights.to_numpy(), state["band_weights_"][-1]
    ):
        raise ValueError("feature_weights_ must be the last row of band_weights_, by term name")
    active = np.flatnonzero(np.diff(values.indptr) > 0)
    if not np.array_equal(state["active_users_"], active):
        raise ValueError("active_users_ must be the users with positives in the Dataset")
    counts = np.bincount(values.indices, minlength=values.shape[1])
    if not np.array_equal(state["item_counts_"], counts):
        raise ValueError("item_counts_ must count each item's positives in the Dataset")
    together = {
        "ease_matrix_": ("ease_l2_",) + (("ease_feature_matrix_",) if user_columns else ()),
        "rating_data_": ("item_quality_",),
    }
    for name, partners in together.items():
        present = bool(state[name]) if name == "rating_data_" else state[name] is not None
        for partner in partners:
            if (state[partner] is not None) != present:
                raise ValueError(f"{partner} must be present exactly when {name} is")
    for name in ("demo_neighbors_", "demo_lift_", "demo_field_lift_"):
        if (state[name] is not None) != demographics:
            raise ValueError(f"{name} must be present exactly when the Dataset has user features")
    if not user_columns and state["ease_feature_matrix_"] is not None:
        raise ValueError("ease_feature_matrix_ must be absent without user feature columns")
    present = [state.get(name) is not None for name in AUDIENCE_ENTRIES]
    if any(present) and not all(present):
        raise ValueError(f"{', '.join(AUDIENCE_ENTRIES)} must be present together or not at all")
    maps = [state.get(name) is not None for name in BAND_MAP_ENTRIES]
    if maps[1] and not maps[0]:
        raise ValueError("audience_band_affine_ needs band_affine_: a file has both or neither")
    if maps[0] and all(present) and not maps[1]:
        raise ValueError("band_affine_ needs audience_band_affine_ beside the audience weights")
    if maps[1] and not all(present):
        raise ValueError(f"audience_band_affine_ needs {', '.join(AUDIENCE_ENTRIES)}")
    for name in BAND_MAP_ENTRIES:
        affine = state.get(name)
        if affine is not None and not (affine[:, 1] > 0).all():
            raise ValueError(f"{name} slopes (second column) must be positive")


def fitted_from_state(state: dict[str, Any], inputs: Inputs, settings: Settings) -> Fitted:
    """Rebuild :class:`Fitted` (derived arrays included) from :func:`state_dict`'s form."""
    n_users = int(state["n_users_fit_"])
    stacked = state["field_neighbors_"]
    core = Core(
        values=inputs.values,
        active=np.asarray(state["active_users_"], dtype=np.int64),
        global_profile=state["global_profile_"],
        base_profiles=state["base_profiles_"],
        lift=state["user_profiles_"],
        popularity=state["popularity_"],
        popularity_coef=state["popularity_coef_"],
        item_counts=state["item_counts_"],
        item_similarity=state["item_similarity_"],
        kappa=state["kappa_"],
        content_map=state["content_map_"],
        user_neighbors=state["user_neighbors_"],
        field_neighbors=tuple(
            stacked[f * n_users : (f + 1) * n_users] for f in range(len(inputs.field_names))
        ),
        demo_neighbors=state["demo_neighbors_"],
        demo_lift=state["demo_lift_"],
        demo_field_lift=state["demo_field_lift_"],
        item_quality=state["item_quality_"],
        ease=state.get("ease_matrix_"),
        ease_features=state.get("ease_feature_matrix_"),
        ease_l2=state.get("ease_l2_"),
        affinity=state.get("affinity_matrix_"),
        # files saved before the entry regressed popularity on the field shares
        popularity_design=state.get("popularity_design_") or "shares",
    )
    weights = _term_weights(state, "")
    # files saved before the second set: one set for both
    has_audience = state.get("audience_band_weights_") is not None
    audience = _term_weights(state, "audience_") if has_audience else weights
    return Fitted(make_scorer(inputs, settings, state["term_names_"], core), weights, audience)


def _term_weights(state: dict[str, Any], prefix: str) -> TermWeights:
    """One weight set of a loaded state: ``prefix`` "" for the set that ranks products,
    "audience_" for the one that ranks customers (the scales and new-item weights are
    shared; ``band_affine_`` is present only in files saved while band maps were fitted)."""
    return TermWeights.of(
        state["term_scale_"],
        state[f"{prefix}band_weights_"],
        state["cold_item_weights_"],
        state[f"{prefix}cold_item_affine_"],
        state.get(f"{prefix}band_affine_"),
        state.get("stated_weights_"),  # one row for both sets
        state.get("stated_only_weights_"),
    )
