"""Saving and loading fitted models safely: arrays plus JSON, never pickle.

:func:`save` and :func:`load` (also ``featcf.save`` / ``featcf.load``) are the pair to use;
``model.save(path)`` writes the same file. This module stands above the models: loading
needs the model classes, and the models never import it (they write through
``featcf._format``, the format below them).

File format (version 1)
-----------------------
A model file is a NumPy ``.npz`` archive read with ``allow_pickle=False``, so loading a file
never runs code. It holds:

``__featcf__``
    UTF-8 JSON as a ``uint8`` array: ``{"format": "featcf-model", "format_version": 1,
    "featcf_version": ..., "class": "FeatureCF", "params": {...}, "state": {...},
    "dataset": {...}}``. ``class`` must name one of featcf's own model classes; ``params`` are
    the constructor's hyper-parameters; ``state`` describes each fitted attribute.
``model/<name>``, ``model/<name>/data|indices|indptr``
    The fitted arrays (dense, or the three arrays of a CSR matrix).
``dataset/...``
    The training Dataset: ids, interactions, timestamps, encoded features; the field
    encoders (vocabularies and band edges) are in the JSON.

Ids must be all integers or all strings to be saved. Loading checks the format name and
version and the class, and raises :class:`~featcf.ModelFormatError` with the reason
otherwise (a truncated or foreign file, another format version, a tampered class name).
Hyper-parameters saved under a name featcf has renamed since (``k`` of the kNN models, now
``n_neighbors``) are read under their new name (:data:`RENAMED_PARAMS`).
"""

from __future__ import annotations

import os
from typing import Any

from featcf import models
from featcf._format import FORMAT_VERSION, read_model
from featcf.exceptions import ModelFormatError
from featcf.models.base import BaseRecommender

__all__ = ["FORMAT_VERSION", "RENAMED_PARAMS", "load", "save"]

#: Hyper-parameters renamed since files of this format were first written, read under their
#: new name: class name -> {name in the file: name today}.
RENAMED_PARAMS: dict[str, dict[str, str]] = {
    "ItemKNN": {"k": "n_neighbors"},
    "UserKNN": {"k": "n_neighbors"},
    "ContentKNN": {"k": "n_neighbors"},
}


def _model_classes() -> dict[str, type[BaseRecommender]]:
    return {
        name: getattr(models, name)
        for name in models.__all__
        if isinstance(getattr(models, name), type)
    }


def _current_params(class_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` under today's names (a file may hold a name renamed since it was written)."""
    renamed = RENAMED_PARAMS.get(class_name, {})
    return {renamed.get(name, name): value for name, value in params.items()}


def save(model: BaseRecommender, path: str | os.PathLike[str]) -> None:
    """Write a fitted model to ``path`` (see the module docstring for the format).

    The same as ``model.save(path)``; read the file back with :func:`load`.

    Parameters
    ----------
    model : BaseRecommender
        A fitted featcf model.
    path : str or path-like

    Raises
    ------
    TypeError
        If ``model`` is not a featcf model, its ids are of mixed types, or a fitted attribute
        has a type that cannot be saved.
    NotFittedError
        If the model is not fitted.
    """
    if not isinstance(model, BaseRecommender):
        raise TypeError(f"model must be a featcf model, got {type(model).__name__}")
    model.save(path)


def load(path: str | os.PathLike[str]) -> BaseRecommender:
    """Load a model saved with :func:`save` (or ``model.save(path)``).

    Loading never unpickles: the file holds plain arrays and JSON only.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    BaseRecommender
        A fitted model that gives the same scores as the one saved.

    Raises
    ------
    ModelFormatError
        If the file is not a featcf model, is corrupt or truncated, was written by another
        format version, or names a class featcf does not have.
    """
    path = os.fspath(path)
    stored = read_model(path)
    classes = _model_classes()
    cls = classes.get(stored.class_name)
    if cls is None:
        raise ModelFormatError(
            f"{path} names model class {stored.class_name!r}, which featcf does not have "
            f"(known: {sorted(classes)})"
        )
    try:
        model = cls(**_current_params(stored.class_name, stored.params))
        model.dataset_ = stored.dataset
        model._set_state(stored.state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: incomplete or inconsistent model file ({exc})") from None
    return model
