"""FeatureCF's hyper-parameters: their checks, and what they give the fit.

:func:`check_params` validates the constructor's arguments (at ``fit`` and when a model
file is loaded), naming the one that is wrong; :func:`settings_of` and :func:`learning_of`
turn them into the typed settings of the core and of the weight learning
(``_inputs.Settings``, ``_inputs.Learning``); :func:`given_vector` reads ``weights`` when it
gives the weights rather than asking for them to be learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from featcf._progress import resolve_show_progress
from featcf._validation import (
    check_bool,
    check_nonnegative_float,
    check_nonnegative_int,
    check_option,
    check_option_or_bool,
    check_option_or_mapping,
    check_option_or_real,
    check_positive_int,
    check_random_state,
    check_real,
)
from featcf.models.feature_cf._inputs import Learning, Settings
from featcf.models.feature_cf._weights import given_weights

__all__ = ["check_params", "given_vector", "learning_of", "settings_of"]


def check_params(model: Any) -> None:
    """Raise ``ValueError`` or ``TypeError`` naming the first bad hyper-parameter of ``model``."""
    check_positive_int(model.n_neighbors, "n_neighbors")
    check_option(model.metric, "metric", ("cosine", "pearson"))
    check_nonnegative_float(model.profile_shrinkage, "profile_shrinkage")
    check_real(model.new_item_shift, "new_item_shift")
    if isinstance(model.exclude_terms, str) or not all(
        isinstance(t, str) for t in model.exclude_terms
    ):
        raise TypeError(
            f"exclude_terms must be a sequence of term names, got {model.exclude_terms!r}"
        )
    check_option_or_mapping(model.weights, "weights", ("learn", "uniform"), "a dict {term: weight}")
    check_option_or_bool(model.implicit, "implicit", ("auto",))
    check_real(model.positive_threshold, "positive_threshold", allow_none=True)
    check_bool(model.include_cf, "include_cf")
    check_option_or_real(model.ease_l2, "ease_l2", ("auto",), low=0, low_open=True)
    check_nonnegative_int(model.ease_max_items, "ease_max_items")
    check_real(
        model.validation_fraction, "validation_fraction", low=0, high=1,
        low_open=True, high_open=True,
    )  # fmt: skip
    check_random_state(model.random_state)
    check_positive_int(model.n_threads, "n_threads", allow_none=True)
    check_positive_int(model.max_reference_users, "max_reference_users", allow_none=True)
    resolve_show_progress(model.show_progress)


def settings_of(model: Any) -> Settings:
    """The settings of the core (neighbours, profiles, threads) from checked parameters."""
    return Settings(
        n_neighbors=model.n_neighbors,
        metric=model.metric,
        profile_shrinkage=float(model.profile_shrinkage),
        n_threads=model.n_threads,
        max_reference_users=model.max_reference_users,
    )


def learning_of(model: Any) -> Learning:
    """The settings of the weight learning from checked parameters."""
    return Learning(
        validation_fraction=float(model.validation_fraction),
        new_item_shift=float(model.new_item_shift),
        include_cf=bool(model.include_cf),
        ease_l2=model.ease_l2,
        exclude=tuple(model.exclude_terms),
    )


def given_vector(model: Any, names: list[str]) -> np.ndarray | None:
    """The given weights as a vector over ``names`` (None for ``weights="learn"``)."""
    exclude = tuple(model.exclude_terms)
    if isinstance(model.weights, Mapping):
        return given_weights(names, model.weights, bool(model.include_cf), exclude)
    if model.weights == "uniform":
        return given_weights(names, dict.fromkeys(names, 1.0), bool(model.include_cf), exclude)
    return None
