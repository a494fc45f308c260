"""Saving and loading fitted models safely: arrays plus JSON, never pickle.

:func:`save` and :func:`load` (also ``featcf.save`` / ``featcf.load``) are the pair to use;
``model.save(path)`` writes the same file. This module stands above the models: loading
needs the model classes, and the models never import it (they write through
``featcf._format``, the format below them).

File format (version 1)
-----------------------
A model file is a NumPy ``.npz`` archive of plain arrays: loading reads them member by member
and refuses any that would hold Python objects, so loading a file never runs code. It holds:

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

Ids must be all integers or all strings to be saved. Hyper-parameters saved under a name
featcf has renamed since (``k`` of the kNN models, now ``n_neighbors``) are read under their
new name (:data:`RENAMED_PARAMS`).

A model file is untrusted input
-------------------------------
Loading checks everything before any of it reaches a model (``featcf._format.ModelFile``):
the format name and version; the class, among featcf's own; the hyper-parameters, through
the class's own checks; every member's dtype and shape against the metadata and against the
state schema the class declares (``_state_schema``: exactly the names it saves, with dtype,
shape and value constraints, plus ``withdrawn_idx_``, the sorted positions of the items
taken off the shelf by ``withdraw``, which every model saves and files written before it
existed lack), read with a size limit derived from those shapes; the
structure of every sparse matrix (``indptr`` starts at 0, never decreases and ends at nnz;
column indices in range); finiteness and signs where the model needs them; and the Dataset's
ids, interactions, field encoders and frames. Any violation raises
:class:`~featcf.ModelFormatError` naming the file, the member or metadata entry and the
problem; nothing else escapes.
"""

from __future__ import annotations

import os
from typing import Any

from featcf import models
from featcf._format import FORMAT_VERSION, ModelFile
from featcf.exceptions import ModelFormatError
from featcf.models.base import ADDED_ENTRIES, BaseRecommender

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
        format version, names a class featcf does not have, or holds anything that class
        would not have saved (the message names the member or metadata entry and the
        problem; see "A model file is untrusted input" above).
    """
    path = os.fspath(path)
    with ModelFile(path) as stored:
        model = _model_with_params(stored)
        dataset = stored.dataset()
        try:
            schema = {
                **model._file_schema(dataset),
                **model._updates_schema(stored.meta["state"]),
            }
        except (TypeError, ValueError) as exc:
            raise stored.error("metadata['dataset']", f"cannot serve this model ({exc})") from None
        state = stored.state(schema, type(model).__name__, may_lack=ADDED_ENTRIES)
    model.dataset_ = dataset
    try:
        model._check_state(state)
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: metadata['state'] is inconsistent: {exc}") from None
    try:
        model._restore_state(state)
        model._set_updates_state(state)
    except Exception as exc:  # the last net: checked state that still fails to restore
        raise ModelFormatError(
            f"{path}: the model state could not be restored ({type(exc).__name__}: {exc})"
        ) from exc
    return model


def _model_with_params(stored: ModelFile) -> BaseRecommender:
    """A model of the file's class with its hyper-parameters, checked by the class itself."""
    classes = _model_classes()
    cls = classes.get(stored.class_name)
    if cls is None:
        raise ModelFormatError(
            f"{stored.path} names model class {stored.class_name!r:.80}, which featcf does not "
            f"have (known: {sorted(classes)})"
        )
    params = _current_params(stored.class_name, stored.params)
    where = "metadata['params']"
    known = set(cls._get_param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        raise stored.error(where, f"names parameter(s) {unknown} that {cls.__name__} does not have")
    model = cls(**params)
    try:
        model._check_params()
    except (TypeError, ValueError) as exc:
        raise stored.error(where, f"holds an invalid hyper-parameter: {exc}") from None
    return model
