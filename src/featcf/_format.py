"""The model file format: arrays plus JSON metadata in one ``.npz`` archive, never pickle.

This module sits below the models: it knows the archive layout, the Dataset and its field
encoders, but no model class. :meth:`BaseRecommender.save
<featcf.models.base.BaseRecommender.save>` writes through :func:`write_model`;
:func:`featcf.load` (in :mod:`featcf.persistence`, the floor that knows the model classes)
reads through :func:`read_model`. The layout is described in :mod:`featcf.persistence`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._version import __version__
from featcf.data.dataset import Dataset
from featcf.data.features import (
    FeatureEncoder,
    FeatureMatrix,
    Field,
    _NumericEncoder,
    _ValueEncoder,
)
from featcf.data.idmap import IdMap
from featcf.exceptions import ModelFormatError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "META_KEY",
    "StoredModel",
    "read_model",
    "write_model",
]

FORMAT_NAME = "featcf-model"
FORMAT_VERSION = 1
META_KEY = "__featcf__"


# ---------------------------------------------------------------------- JSON-safe values
def _json_value(value: Any) -> Any:
    """Numpy scalars and tuples to plain JSON values (type-tagged where JSON would lose it)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_json_value(v) for v in value]}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"__items__": [[_json_value(k), _json_value(v)] for k, v in value.items()]}
        return {k: _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (int, float, str)):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__} ({value!r:.60})")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_from_json(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {_from_json(k): _from_json(v) for k, v in value["__items__"]}
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _id_array(ids: np.ndarray, what: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    if ids.dtype.kind == "U":
        return ids
    values = ids.tolist()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=np.str_)
    raise TypeError(f"{what} must be all integers or all strings to be saved")


# ---------------------------------------------------------------------- arrays
class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def put(self, key: str, value: Any) -> dict[str, Any]:
        """Store an array-like under ``key``; return its JSON descriptor."""
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            self.arrays[f"{key}/data"] = csr.data
            self.arrays[f"{key}/indices"] = csr.indices
            self.arrays[f"{key}/indptr"] = csr.indptr
            return {"type": "csr", "key": key, "shape": list(csr.shape)}
        if isinstance(value, pd.Series):
            self.arrays[key] = value.to_numpy()
            return {
                "type": "series",
                "key": key,
                "index": _json_value(list(value.index)),
                "index_name": _json_value(value.index.name),
                "name": _json_value(value.name),
            }
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                value = _id_array(value, key)
            self.arrays[key] = value
            return {"type": "array", "key": key}
        return {"type": "json", "value": _json_value(value)}


class _Reader:
    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays

    def get(self, desc: dict[str, Any]) -> Any:
        kind = desc["type"]
        if kind == "json":
            return _from_json(desc["value"])
        key = desc["key"]
        if kind == "csr":
            return sp.csr_matrix(
                (
                    self.arrays[f"{key}/data"],
                    self.arrays[f"{key}/indices"],
                    self.arrays[f"{key}/indptr"],
                ),
                shape=tuple(desc["shape"]),
            )
        if kind == "series":
            index = pd.Index(_from_json(desc["index"]), name=_from_json(desc.get("index_name")))
            return pd.Series(self.arrays[key], index=index, name=_from_json(desc["name"]))
        if kind == "array":
            return self.arrays[key]
        raise ModelFormatError(f"unknown stored value type {kind!r}")


# ---------------------------------------------------------------------- dataset
def _encoder_state(encoder: FeatureEncoder | None) -> dict[str, Any] | None:
    if encoder is None:
        return None
    fields = {}
    for name, enc in encoder._encoders.items():
        if isinstance(enc, _NumericEncoder):
            fields[name] = {
                "kind": "numeric",
                "n_bins": enc.n_bins,
                "edges": enc.edges.tolist(),
                "distinct": None if enc.distinct is None else enc.distinct.tolist(),
                "labels": list(enc.labels),
            }
        else:
            fields[name] = {
                "kind": enc.kind,
                "sep": enc.sep,
                "vocabulary": [_json_value(v) for v in enc.vocabulary],
                "labels": list(enc.labels),
            }
    return {
        "id_col": encoder.id_col,
        "sep": encoder.sep,
        "n_bins": encoder.n_bins,
        "argument": encoder.argument,
        "ignored": list(encoder.ignored_),
        "order": list(encoder.fields_),
        "fields": fields,
    }


def _encoder_from_state(state: dict[str, Any] | None) -> FeatureEncoder | None:
    if state is None:
        return None
    encoder = FeatureEncoder(
        state["id_col"], None, state["sep"], state["n_bins"], state["argument"]
    )
    start = 0
    for name in state["order"]:
        spec = state["fields"][name]
        if spec["kind"] == "numeric":
            enc: Any = _NumericEncoder(spec["n_bins"])
            enc.edges = np.asarray(spec["edges"], dtype=np.float64)
            enc.distinct = (
                None if spec["distinct"] is None else np.asarray(spec["distinct"], dtype=np.float64)
            )
        else:
            enc = _ValueEncoder(spec["kind"], spec["sep"])
            vocabulary = [_from_json(v) for v in spec["vocabulary"]]
            enc.vocabulary = {v: j for j, v in enumerate(vocabulary)}
        enc.labels = tuple(spec["labels"])
        encoder._encoders[name] = enc
        encoder.fields_[name] = Field(name, spec["kind"], start, start + enc.n_values, enc.labels)
        start += enc.n_values
    encoder.ignored_ = tuple(state["ignored"])
    return encoder


def _dataset_state(dataset: Dataset, writer: _Writer) -> dict[str, Any]:
    state: dict[str, Any] = {
        "user_ids": writer.put("dataset/user_ids", _id_array(dataset.user_ids, "user ids")),
        "item_ids": writer.put("dataset/item_ids", _id_array(dataset.item_ids, "item ids")),
        "interactions": writer.put("dataset/interactions", dataset.interactions),
        "timestamps": None
        if dataset.timestamps is None
        else writer.put("dataset/timestamps", dataset.timestamps),
        "columns": dataset.columns,
        "item_encoder": _encoder_state(dataset.item_encoder),
        "user_encoder": _encoder_state(dataset.user_encoder),
    }
    for side, fm in (("item", dataset.item_features), ("user", dataset.user_features)):
        state[f"{side}_features"] = (
            None if fm is None else writer.put(f"dataset/{side}_features", fm.matrix)
        )
    for side, frame in (("item", dataset.item_frame), ("user", dataset.user_frame)):
        state[f"{side}_frame"] = (
            None
            if frame is None
            else json.loads(frame.reset_index().to_json(orient="split", date_format="iso"))
        )
    return state


def _dataset_from_state(state: dict[str, Any], reader: _Reader) -> Dataset:
    user_map = IdMap(reader.get(state["user_ids"]), kind="user")
    item_map = IdMap(reader.get(state["item_ids"]), kind="item")
    item_encoder = _encoder_from_state(state["item_encoder"])
    user_encoder = _encoder_from_state(state["user_encoder"])

    def features(side: str, encoder: FeatureEncoder | None, ids: np.ndarray) -> Any:
        if state[f"{side}_features"] is None or encoder is None:
            return None
        matrix = sp.csr_matrix(reader.get(state[f"{side}_features"]), dtype=np.float32)
        return FeatureMatrix(matrix=matrix, fields=dict(encoder.fields_), ids=ids)

    def frame(side: str) -> pd.DataFrame | None:
        split = state[f"{side}_frame"]
        if split is None:
            return None
        out = pd.DataFrame(split["data"], columns=split["columns"])
        return out.set_index(out.columns[0])

    timestamps = None if state["timestamps"] is None else reader.get(state["timestamps"])
    return Dataset(
        user_map=user_map,
        item_map=item_map,
        interactions=sp.csr_matrix(reader.get(state["interactions"]), dtype=np.float32),
        timestamps=timestamps,
        item_features=features("item", item_encoder, item_map.ids),
        user_features=features("user", user_encoder, user_map.ids),
        item_encoder=item_encoder,
        user_encoder=user_encoder,
        item_frame=frame("item"),
        user_frame=frame("user"),
        columns=state["columns"],
    )


# ---------------------------------------------------------------------- models
@dataclass(frozen=True)
class StoredModel:
    """What a model file holds, decoded: enough to rebuild the model without pickle.

    Attributes
    ----------
    class_name : str or None
        The name of the model class as written (checked by the reader of the classes).
    params : dict
        The constructor's hyper-parameters, as saved (names of the featcf that wrote them).
    state : dict
        The fitted attributes (``model._get_state()`` at save time).
    dataset : Dataset
        The training Dataset.
    """

    class_name: Any
    params: dict[str, Any]
    state: dict[str, Any]
    dataset: Dataset


def write_model(
    path: str | os.PathLike[str],
    class_name: str,
    params: Mapping[str, Any],
    state: Mapping[str, Any],
    dataset: Dataset,
) -> None:
    """Write one model file: hyper-parameters, fitted attributes and the training Dataset.

    Raises
    ------
    TypeError
        If the ids are of mixed types, or a value has a type that cannot be saved.
    """
    writer = _Writer()
    state_desc = {name: writer.put(f"model/{name}", value) for name, value in state.items()}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "featcf_version": __version__,
        "class": class_name,
        "params": _json_value(dict(params)),
        "state": state_desc,
        "dataset": _dataset_state(dataset, writer),
    }
    payload = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(os.fspath(path), "wb") as handle:
        np.savez_compressed(handle, **{META_KEY: payload}, **writer.arrays)


def _read_meta(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checked metadata and the arrays of a model file (format name and version)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
        arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFormatError(f"{path} is not a readable featcf model file ({exc})") from None
    if META_KEY not in arrays:
        raise ModelFormatError(f"{path} is an npz archive but not a featcf model (no metadata)")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: corrupt model metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"{path} is not a featcf model file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} uses featcf model format version {version!r} (written by featcf "
            f"{meta.get('featcf_version')}); this featcf ({__version__}) reads version "
            f"{FORMAT_VERSION}. Refit the model, or load it with the featcf that wrote it."
        )
    return meta, arrays


def read_model(path: str | os.PathLike[str]) -> StoredModel:
    """Read and decode one model file (arrays and JSON only: nothing is unpickled).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFormatError
        If the file is not a featcf model, is corrupt, truncated or incomplete, or was
        written in another format version.
    """
    path = os.fspath(path)
    meta, arrays = _read_meta(path)
    reader = _Reader(arrays)
    try:
        return StoredModel(
            class_name=meta.get("class"),
            params=_from_json(meta["params"]),
            state={name: reader.get(desc) for name, desc in meta["state"].items()},
            dataset=_dataset_from_state(meta["dataset"], reader),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: incomplete or inconsistent model file ({exc})") from None
