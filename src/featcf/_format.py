"""The model file format: arrays plus JSON metadata in one ``.npz`` archive, never pickle.

This module sits below the models: it knows the archive layout, the Dataset and its field
encoders, but no model class. :meth:`BaseRecommender.save
<featcf.models.base.BaseRecommender.save>` writes through :func:`write_model`;
:func:`featcf.load` (in :mod:`featcf.persistence`, the floor that knows the model classes)
reads through :func:`read_model`. The layout is described in :mod:`featcf.persistence`.
"""

from __future__ import annotations

import ast
import json
import math
import os
import zipfile
import zlib
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import (
    Array,
    Dims,
    Json,
    Series,
    Sparse,
    Spec,
    check_csr_arrays,
    check_values,
    dtype_accepted,
)
from featcf._version import __version__
from featcf.data.dataset import DUPLICATE_POLICIES, Dataset
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
    "ModelFile",
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
    """Inverse of :func:`_json_value`; ``ValueError`` for a malformed type tag."""
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            if set(value) != {"__tuple__"} or not isinstance(value["__tuple__"], list):
                raise ValueError("a tagged tuple must be {'__tuple__': [...]}")
            return tuple(_from_json(v) for v in value["__tuple__"])
        if "__items__" in value:
            items = value["__items__"]
            if (
                set(value) != {"__items__"}
                or not isinstance(items, list)
                or not all(isinstance(kv, list) and len(kv) == 2 for kv in items)
            ):
                raise ValueError("a tagged mapping must be {'__items__': [[key, value], ...]}")
            out = {}
            for k, v in items:
                key = _from_json(k)
                try:
                    out[key] = _from_json(v)
                except TypeError:
                    raise ValueError(f"a mapping key must be hashable, got {key!r:.60}") from None
            return out
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


# ---------------------------------------------------------------------- writing
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


# ---------------------------------------------------------------------- reading
#: members of a model file are few (one per array); a file listing more is refused
MAX_MEMBERS = 1000
#: the metadata member may inflate to at most this many bytes ...
META_BASE_BYTES = 64 * 2**20
#: ... plus this many per user and item (it holds the raw feature frames, one row each)
META_BYTES_PER_ROW = 64 * 2**10
#: all members together may inflate to at most this many times the archive's size (featcf's
#: files inflate 1 to 12 times; deflate reaches about 1000 times on zeros, which is how a
#: decompression bomb is made), or to META_BASE_BYTES for small files
MAX_INFLATION = 200
#: longest .npy header read (numpy's own limit for untrusted files)
MAX_HEADER_BYTES = 10_000
#: bytes inflated per read while streaming a member
_CHUNK = 2**20
_INDEX_DTYPES = ("int32", "int64")
_NPY_MAGIC = b"\x93NUMPY"


def _member(key: str) -> str:
    """How messages name an archive member."""
    return f"{key} (the metadata)" if key == META_KEY else key


def _header(handle: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the start of a .npy stream (``ValueError`` if bad).

    Only plain dtypes (booleans, numbers, strings) are accepted: an object dtype would hold
    pickled data, which featcf never writes.
    """
    magic = handle.read(8)
    if len(magic) != 8 or magic[:6] != _NPY_MAGIC:
        raise ValueError("it does not start with the .npy magic string")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy version {version}")
    size_bytes = 2 if version == (1, 0) else 4
    raw = handle.read(size_bytes)
    if len(raw) != size_bytes:
        raise ValueError("its header is cut short")
    length = int.from_bytes(raw, "little")
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"its header is {length} bytes long (at most {MAX_HEADER_BYTES})")
    text = handle.read(length)
    if len(text) != length:
        raise ValueError("its header is cut short")
    try:
        header = ast.literal_eval(text.decode("latin1"))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise ValueError("its header is not a Python literal") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("its header is not a dict of descr, fortran_order and shape")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"its header has an invalid shape {shape!r:.60}")
    if not isinstance(fortran, bool):
        raise ValueError("its header has an invalid fortran_order")
    if not isinstance(descr, str):
        raise ValueError(f"its dtype {descr!r:.60} is not a plain dtype")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise ValueError(f"its dtype {descr!r:.60} is not a dtype") from None
    if dtype.hasobject or dtype.kind not in "biufU" or dtype.itemsize == 0:
        raise ValueError(
            f"its dtype {descr!r:.60} is not a plain number, boolean or string dtype (featcf "
            f"never writes Python objects)"
        )
    return shape, fortran, dtype


class ModelFile:
    """An opened model file: the metadata read and checked, the arrays read on demand.

    Every value is checked before it is returned: the format and version; each member's
    ``.npy`` header (dtype and shape against the metadata and the spec, so a member never
    inflates beyond the size its declared shape gives: the member is refused before it is
    inflated); the structure and values of every array; the Dataset's ids, interactions,
    encoders and frames; and the model's state against the schema its class declares. Any
    violation raises :class:`~featcf.ModelFormatError` naming the file, the member (or the
    metadata entry) and the problem.

    Use as a context manager; read :meth:`dataset` first, then :meth:`state` (which also
    refuses members left unread).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFormatError
        If the file is not a featcf model of this format version, or is corrupt.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise ModelFormatError(
                f"{self.path} is not a readable featcf model file ({exc})"
            ) from None
        self._read: set[str] = set()
        self._dims = Dims(prefix=f"{self.path}: ")
        try:
            self._members = self._inventory()
            self.meta = self._read_meta()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> ModelFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()

    # ------------------------------------------------------------------ errors
    def error(self, where: str, problem: str) -> ModelFormatError:
        """A ModelFormatError naming the file, the member or metadata entry, and the problem."""
        return ModelFormatError(f"{self.path}: {where} {problem}")

    # ------------------------------------------------------------------ members
    def _inventory(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self.error("the archive", f"has {len(infos)} members (at most {MAX_MEMBERS})")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or info.is_dir():
                raise self.error(f"member {name!r}", "is not a .npy array")
            if info.flag_bits & 0x1:
                raise self.error(f"member {name!r}", "is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"member {name!r}", "uses a compression featcf never writes")
            key = name[: -len(".npy")]
            if key in members:
                raise self.error(f"member {name!r}", "appears twice in the archive")
            members[key] = info
        declared = sum(info.file_size for info in infos)
        allowed = max(META_BASE_BYTES, MAX_INFLATION * os.path.getsize(self.path))
        if declared > allowed:
            largest = max(members, key=lambda key: members[key].file_size)
            raise self.error(
                "the archive",
                f"declares {declared} bytes once inflated, more than {MAX_INFLATION} times its "
                f"size (member {_member(largest)} alone {members[largest].file_size}); refused before "
                f"inflating it",
            )
        if META_KEY not in members:
            raise ModelFormatError(
                f"{self.path} is an npz archive but not a featcf model (no metadata)"
            )
        return members

    def _open(self, key: str) -> tuple[Any, tuple[int, ...], bool, np.dtype]:
        """Open member ``key`` and read its .npy header (nothing more is inflated)."""
        info = self._members.get(key)
        if info is None:
            raise self.error(f"member {key}", "is missing from the archive")
        try:
            handle = self._zip.open(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, zlib.error) as exc:
            raise self.error(f"member {key}", f"cannot be read ({exc})") from None
        try:
            shape, fortran, dtype = _header(handle)
        except (ValueError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            handle.close()
            raise self.error(f"member {key}", f"is not a valid .npy array: {exc}") from None
        return handle, shape, fortran, dtype

    def _shape_of(self, key: str) -> tuple[int, ...] | None:
        """The shape declared by member ``key``'s header (None when absent or unreadable)."""
        if key not in self._members:
            return None
        try:
            handle, shape, _, _ = self._open(key)
        except ModelFormatError:
            return None
        handle.close()
        return shape

    def _array(
        self,
        key: str,
        dtype: str | tuple[str, ...],
        shape: tuple[Any, ...],
        max_size: int | None = None,
        bound: str = "",
    ) -> np.ndarray:
        """Member ``key`` as an array of an accepted ``dtype`` and a ``shape`` fitting the spec.

        The header is checked first; the member is then inflated in chunks and refused as
        soon as it holds more bytes than its shape declares (a zip directory that declares
        another size is refused before anything is inflated).
        """
        where = f"member {_member(key)}"
        handle, actual, fortran, dt = self._open(key)
        with handle:
            if not dtype_accepted(dt.newbyteorder("="), dtype):
                raise self.error(where, f"has dtype {dt}, expected {dtype}")
            self._dims.check_shape(shape, actual, where)
            count = math.prod(actual)
            if max_size is not None and count > max_size:
                raise self.error(
                    where,
                    f"declares {count} values, at most {max_size} fit {bound}; refused before "
                    f"inflating it",
                )
            nbytes = count * dt.itemsize
            declared = self._members[key].file_size
            if declared != handle.tell() + nbytes:
                raise self.error(
                    where,
                    f"is declared as {declared} bytes in the archive but its header gives "
                    f"{handle.tell() + nbytes} (shape {actual}, {dt}); refused before inflating it",
                )
            buffer = bytearray(nbytes)
            view = memoryview(buffer)
            done = 0
            try:
                while done < nbytes:
                    chunk = handle.read(min(_CHUNK, nbytes - done))
                    if not chunk:
                        raise self.error(where, f"is cut short ({done} of {nbytes} bytes)")
                    view[done : done + len(chunk)] = chunk
                    done += len(chunk)
                if handle.read(1):
                    raise self.error(
                        where, "holds more data than its header declares (refused, not inflated)"
                    )
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise self.error(where, f"is corrupt ({exc})") from None
        self._read.add(key)
        array = np.frombuffer(buffer, dtype=dt)
        array = array.reshape(actual[::-1]).T if fortran else array.reshape(actual)
        if not dt.isnative:
            array = array.astype(dt.newbyteorder("="))
        return array

    # ------------------------------------------------------------------ metadata
    def _read_meta(self) -> dict[str, Any]:
        rows = sum(
            shape[0] if shape and len(shape) == 1 else 0
            for shape in (self._shape_of("dataset/user_ids"), self._shape_of("dataset/item_ids"))
        )
        limit = META_BASE_BYTES + META_BYTES_PER_ROW * rows
        raw = self._array(
            META_KEY,
            "uint8",
            (None,),
            max_size=limit,
            bound=f"the metadata of a model of {rows} users and items",
        )
        where = "metadata"
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self.error(where, f"is corrupt (not UTF-8 JSON: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ModelFormatError(f"{self.path} is not a featcf model file")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFormatError(
                f"{self.path} uses featcf model format version {version!r:.40} (written by "
                f"featcf {meta.get('featcf_version')!r:.40}); this featcf ({__version__}) reads "
                f"version {FORMAT_VERSION}. Refit the model, or load it with the featcf that "
                f"wrote it."
            )
        for name, kind in (("class", str), ("params", dict), ("state", dict), ("dataset", dict)):
            if not isinstance(meta.get(name), kind):
                raise self.error(
                    f"metadata[{name!r}]",
                    f"must be a JSON {kind.__name__}, got {meta.get(name)!r:.60}",
                )
        return meta

    @property
    def class_name(self) -> str:
        """The model class named by the file (not checked against featcf's classes here)."""
        return self.meta["class"]

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters as saved (names of the featcf that wrote them)."""
        params = self._json(self.meta["params"], "metadata['params']")
        if not isinstance(params, dict) or not all(isinstance(name, str) for name in params):
            raise self.error("metadata['params']", "must map parameter names to values")
        return params

    def _json(self, value: Any, where: str) -> Any:
        try:
            return _from_json(value)
        except (ValueError, RecursionError) as exc:
            raise self.error(where, f"is malformed ({exc})") from None

    # ------------------------------------------------------------------ values
    def value(self, desc: Any, spec: Spec, key: str, where: str) -> Any:
        """The value a metadata descriptor ``desc`` describes, read and checked against ``spec``.

        ``key`` is the member name the descriptor must use (a descriptor cannot point at
        another entry's arrays).
        """
        if desc is None or (isinstance(desc, dict) and desc == {"type": "json", "value": None}):
            if spec.optional:
                return None
            raise self.error(where, "is missing (None)")
        if not isinstance(desc, dict):
            raise self.error(where, f"must be a value descriptor, got {desc!r:.60}")
        kind = {Array: "array", Sparse: "csr", Series: "series", Json: "json"}[type(spec)]
        fields = {
            "array": {"type", "key"},
            "csr": {"type", "key", "shape"},
            "series": {"type", "key", "index", "index_name", "name"},
            "json": {"type", "value"},
        }[kind]
        if desc.get("type") != kind or set(desc) != fields:
            raise self.error(
                where, f"must be stored as {kind} with fields {sorted(fields)}, got {desc!r:.80}"
            )
        if kind != "json" and desc["key"] != key:
            raise self.error(where, f"must be stored under member {key}, got {desc['key']!r:.60}")
        if isinstance(spec, Json):
            value = self._json(desc["value"], where)
            try:
                value = spec.check(value)
            except (ValueError, TypeError) as exc:
                raise self.error(where, str(exc)) from None
            if spec.length is not None:
                self._dims.check_length(spec.length, len(value), where)
            return value
        if isinstance(spec, Array):
            array = self._array(key, spec.dtype, spec.shape)
            index_of = self._dims.size(spec.index_of)
            check_values(
                array,
                finite=spec.finite,
                low=spec.low,
                index_of=index_of,
                increasing=spec.increasing,
                where=f"{self.path}: member {key}",
            )
            return array
        if isinstance(spec, Sparse):
            return self._csr(desc, spec, key, where)
        return self._series(desc, spec, key, where)

    def _csr(self, desc: dict[str, Any], spec: Sparse, key: str, where: str) -> sp.csr_matrix:
        shape = desc["shape"]
        if not (
            isinstance(shape, list)
            and len(shape) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise self.error(where, f"has an invalid shape {shape!r:.60}")
        self._dims.check_shape(spec.shape, shape, where)
        n_rows, n_cols = shape
        indptr = self._array(f"{key}/indptr", _INDEX_DTYPES, (n_rows + 1,))
        indices = self._array(
            f"{key}/indices",
            _INDEX_DTYPES,
            (None,),
            max_size=n_rows * n_cols,
            bound=f"a {n_rows} x {n_cols} matrix",
        )
        data = self._array(f"{key}/data", spec.dtype, (len(indices),))
        check_csr_arrays(
            indptr, indices, data, (n_rows, n_cols), spec, f"{self.path}: member {key}"
        )
        return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))

    def _series(self, desc: dict[str, Any], spec: Series, key: str, where: str) -> pd.Series:
        values = self._array(key, spec.dtype, (spec.length,))
        check_values(values, finite=spec.finite, low=spec.low, where=f"{self.path}: member {key}")
        index = self._json(desc["index"], f"{where}['index']")
        if not isinstance(index, list) or len(index) != len(values):
            raise self.error(where, f"must have an index of {len(values)} labels")
        try:
            return pd.Series(
                values,
                index=pd.Index(index, name=self._json(desc["index_name"], where)),
                name=self._json(desc["name"], where),
            )
        except (TypeError, ValueError) as exc:
            raise self.error(where, f"has an invalid index or name ({exc})") from None

    # ------------------------------------------------------------------ dataset
    def dataset(self) -> Dataset:
        """The training Dataset, every part checked (ids, interactions, encoders, frames)."""
        state = self.meta["dataset"]
        where = "metadata['dataset']"
        if set(state) != set(_DATASET_KEYS):
            raise self.error(
                where, f"must have exactly the entries {list(_DATASET_KEYS)}, got {list(state)}"
            )
        ids = Array(("int64", "unicode"), ("n_users",))
        user_ids = self.value(state["user_ids"], ids, "dataset/user_ids", f"{where}['user_ids']")
        ids = Array(("int64", "unicode"), ("n_items",))
        item_ids = self.value(state["item_ids"], ids, "dataset/item_ids", f"{where}['item_ids']")
        n_users, n_items = len(user_ids), len(item_ids)
        maps = []
        for kind, values in (("user", user_ids), ("item", item_ids)):
            try:
                maps.append(IdMap(values, kind=kind))
            except ValueError as exc:
                raise self.error(f"member dataset/{kind}_ids", f"is invalid: {exc}") from None
        user_map, item_map = maps
        interactions = self.value(
            state["interactions"],
            Sparse(("n_users", "n_items"), "float32", low=0.0, canonical=True),
            "dataset/interactions",
            f"{where}['interactions']",
        )
        timestamps = self.value(
            state["timestamps"],
            Array("float64", (interactions.nnz,), optional=True),
            "dataset/timestamps",
            f"{where}['timestamps']",
        )
        columns = self._columns(state["columns"], f"{where}['columns']")
        sides = {}
        for side, n_rows in (("item", n_items), ("user", n_users)):
            encoder = _checked_encoder(
                state[f"{side}_encoder"], f"{side}_features", self, f"{where}['{side}_encoder']"
            )
            where_encoder = f"{where}['{side}_encoder']"
            n_columns = 0 if encoder is None else encoder.n_columns
            self._dims.check_length(f"n_{side}_columns", n_columns, where_encoder)
            spec = Sparse(
                (f"n_{side}s", f"n_{side}_columns"),
                "float32",
                low=0.0,
                canonical=True,
                optional=True,
            )
            matrix = self.value(
                state[f"{side}_features"],
                spec,
                f"dataset/{side}_features",
                f"{where}['{side}_features']",
            )
            frame = self._frame(state[f"{side}_frame"], n_rows, f"{where}['{side}_frame']")
            present = {encoder is not None, matrix is not None, frame is not None}
            if len(present) != 1:
                raise self.error(
                    where,
                    f"must hold all of {side}_encoder, {side}_features and {side}_frame, or none",
                )
            ids_ = item_map.ids if side == "item" else user_map.ids
            features = (
                None
                if encoder is None
                else FeatureMatrix(matrix=matrix, fields=dict(encoder.fields_), ids=ids_)
            )
            sides[side] = (encoder, features, frame)
        try:
            return self._new_dataset(user_map, item_map, interactions, timestamps, columns, sides)
        except (TypeError, ValueError) as exc:  # the checks above leave nothing for it to refuse
            raise self.error(where, f"is inconsistent ({exc})") from None

    @staticmethod
    def _new_dataset(
        user_map: IdMap,
        item_map: IdMap,
        interactions: sp.csr_matrix,
        timestamps: np.ndarray | None,
        columns: dict[str, Any],
        sides: dict[str, Any],
    ) -> Dataset:
        return Dataset(
            user_map=user_map,
            item_map=item_map,
            interactions=interactions,
            timestamps=timestamps,
            item_features=sides["item"][1],
            user_features=sides["user"][1],
            item_encoder=sides["item"][0],
            user_encoder=sides["user"][0],
            item_frame=sides["item"][2],
            user_frame=sides["user"][2],
            columns=columns,
        )

    def _columns(self, columns: Any, where: str) -> dict[str, Any]:
        if not isinstance(columns, dict) or not set(columns) <= set(_COLUMN_KEYS):
            raise self.error(where, f"must map some of {list(_COLUMN_KEYS)} to names")
        for name, value in columns.items():
            ok = (
                isinstance(value, bool)
                if name == "timestamp_is_datetime"
                else value in DUPLICATE_POLICIES
                if name == "duplicates"
                else (value is None or isinstance(value, str))
            )
            if not ok:
                raise self.error(f"{where}[{name!r}]", f"has an invalid value {value!r:.60}")
        return columns

    def _frame(self, split: Any, n_rows: int, where: str) -> pd.DataFrame | None:
        if split is None:
            return None
        if not isinstance(split, dict) or set(split) != {"columns", "index", "data"}:
            raise self.error(where, "must be a frame in split form (columns, index, data)")
        columns, data = split["columns"], split["data"]
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, (str, int, float)) for c in columns)
        ):
            raise self.error(where, "must name its columns (the id column first)")
        if not isinstance(data, list) or len(data) != n_rows:
            raise self.error(where, f"must have {n_rows} rows, one per id")
        if not all(isinstance(row, list) and len(row) == len(columns) for row in data):
            raise self.error(where, f"must have {len(columns)} values in every row")
        try:
            out = pd.DataFrame(data, columns=columns)
            return out.set_index(out.columns[0])
        except (TypeError, ValueError, KeyError) as exc:
            raise self.error(where, f"is not a valid frame ({exc})") from None

    # ------------------------------------------------------------------ model state
    def state(
        self,
        schema: Mapping[str, Spec],
        class_name: str | None = None,
        may_lack: Collection[str] = (),
    ) -> dict[str, Any]:
        """The model's fitted state, exactly the names of ``schema``, each checked by its spec.

        Call after :meth:`dataset`. Members of the archive left unread are refused. Names in
        ``may_lack`` (entries added to the format after files were first written) may be
        absent: they are then None.
        """
        state = self.meta["state"]
        owner = class_name or self.class_name
        unknown = [name for name in state if name not in schema]
        missing = [name for name in schema if name not in state and name not in may_lack]
        if unknown or missing:
            raise self.error(
                "metadata['state']",
                f"does not match what {owner} saves: unknown {unknown}, missing {missing} "
                f"(it saves {list(schema)})",
            )
        out = {
            name: self.value(state[name], spec, f"model/{name}", f"metadata['state'][{name!r}]")
            if name in state
            else None
            for name, spec in schema.items()
        }
        unread = sorted(set(self._members) - self._read - {META_KEY})
        if unread:
            raise self.error("the archive", f"holds member(s) no entry describes: {unread[:5]}")
        return out


_DATASET_KEYS = (
    "user_ids",
    "item_ids",
    "interactions",
    "timestamps",
    "columns",
    "item_encoder",
    "user_encoder",
    "item_features",
    "user_features",
    "item_frame",
    "user_frame",
)
_COLUMN_KEYS = ("user", "item", "weight", "timestamp", "timestamp_is_datetime", "duplicates")


def _checked_encoder(
    state: Any, argument: str, file: ModelFile, where: str
) -> FeatureEncoder | None:
    """Rebuild a field encoder from its saved state, every entry checked (ModelFormatError)."""
    if state is None:
        return None

    def fail(problem: str, at: str = "") -> ModelFormatError:
        return file.error(where + at, problem)

    keys = {"id_col", "sep", "n_bins", "argument", "ignored", "order", "fields"}
    if not isinstance(state, dict) or set(state) != keys:
        raise fail(f"must have exactly the entries {sorted(keys)}")
    if not isinstance(state["id_col"], str) or not isinstance(state["argument"], str):
        raise fail("must name its id column and argument")
    if not isinstance(state["sep"], str) or not state["sep"]:
        raise fail("must have a non-empty separator")
    if (
        isinstance(state["n_bins"], bool)
        or not isinstance(state["n_bins"], int)
        or state["n_bins"] < 1
    ):
        raise fail("must have a positive number of bands")
    for name in ("ignored", "order"):
        if not isinstance(state[name], list) or not all(isinstance(v, str) for v in state[name]):
            raise fail("must be a list of column names", f"[{name!r}]")
    order, fields = state["order"], state["fields"]
    if not isinstance(fields, dict) or list(fields) != order or len(set(order)) != len(order):
        raise fail("must describe each field of 'order' once, in that order", "['fields']")
    encoder = FeatureEncoder(state["id_col"], None, state["sep"], state["n_bins"], argument)
    start = 0
    for name in order:
        at = f"['fields'][{name!r}]"
        spec = fields[name]
        if not isinstance(spec, dict) or spec.get("kind") not in (
            "numeric",
            "categorical",
            "multi",
        ):
            raise fail("must be a numeric, categorical or multi field", at)
        labels = spec.get("labels")
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise fail("must have a list of value labels", at)
        if spec["kind"] == "numeric":
            if set(spec) != {"kind", "n_bins", "edges", "distinct", "labels"}:
                raise fail("must have exactly kind, n_bins, edges, distinct and labels", at)
            n_bins = spec["n_bins"]
            if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
                raise fail("must have a positive number of bands", at)
            edges = _float_list(spec["edges"])
            distinct = None if spec["distinct"] is None else _float_list(spec["distinct"])
            if edges is None or (spec["distinct"] is not None and distinct is None):
                raise fail("must have finite numeric band edges / values", at)
            if (distinct is None and len(edges) < 2) or (distinct is not None and len(edges)):
                raise fail("must have either two band edges or more, or distinct values", at)
            values = edges if distinct is None else distinct
            if values.size > 1 and not bool(np.all(values[1:] > values[:-1])):
                raise fail("must have strictly increasing band edges / values", at)
            n_values = len(distinct) if distinct is not None else len(edges) - 1
            if len(labels) != n_values:
                raise fail(f"must have one label per band ({n_values}), got {len(labels)}", at)
            enc: Any = _NumericEncoder(n_bins)
            enc.edges = edges
            enc.distinct = distinct
        else:
            if set(spec) != {"kind", "sep", "vocabulary", "labels"}:
                raise fail("must have exactly kind, sep, vocabulary and labels", at)
            if not isinstance(spec["sep"], str) or not spec["sep"]:
                raise fail("must have a non-empty separator", at)
            vocabulary = file._json(spec["vocabulary"], where + at)
            if not isinstance(vocabulary, list) or len(vocabulary) != len(labels):
                raise fail("must have one label per vocabulary value", at)
            try:
                mapping = {v: j for j, v in enumerate(vocabulary)}
            except TypeError:
                raise fail("must have hashable vocabulary values", at) from None
            if len(mapping) != len(vocabulary):
                raise fail("must not repeat a vocabulary value", at)
            enc = _ValueEncoder(spec["kind"], spec["sep"])
            enc.vocabulary = mapping
        enc.labels = tuple(labels)
        encoder._encoders[name] = enc
        encoder.fields_[name] = Field(name, spec["kind"], start, start + enc.n_values, enc.labels)
        start += enc.n_values
    encoder.ignored_ = tuple(state["ignored"])
    return encoder


def _float_list(values: Any) -> np.ndarray | None:
    """``values`` as a float64 array if it is a list of finite numbers, else None."""
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        return None
    out = np.asarray(values, dtype=np.float64)
    return out if bool(np.isfinite(out).all()) else None
