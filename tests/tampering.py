"""Tampered model files for ``tests/test_tampering.py`` (issue 13), and the worker loading them.

:func:`make_cases` takes a clean model file and writes one tampered copy per case: every
array member corrupted in each way that applies (out-of-range, negative and huge indices,
``indptr`` that decreases or does not start at 0 / end at nnz, another dtype including bool
data, another shape, NaN / inf / negative values, repeated ids, a missing member, a pickled
member, a broken ``.npy`` header), the metadata corrupted (relabelled class, unknown and
missing state keys, bad hyper-parameters, corrupt JSON, inconsistent descriptors, encoders
and frames), the archive corrupted (truncated, a flipped byte, foreign or repeated members)
and decompression bombs (members inflating to 1 GiB).

Run as a script (``python tampering.py cases.json``), it loads each case file and, if the
load succeeds, queries the model; it prints one JSON line when a case starts and one with the
outcome, so a crash (a signal) names the case it happened in. The parent runs the cases in a
subprocess so that a segmentation fault is seen as a signal exit, not the end of the test run.
"""

from __future__ import annotations

import copy
import io
import json
import os
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featcf.models.base import ADDED_ENTRIES

META = "__featcf__"
#: classes a file can be relabelled to
CLASSES = ("ALS", "ContentKNN", "FeatureCF", "ItemKNN", "Popularity", "UserKNN")
BOMB_BYTES = 2**30  # 1 GiB
#: members of any length (a list of positions), where a shorter copy is still a valid file
FREE_LENGTH = {"model/withdrawn_idx_"}


@dataclass
class Case:
    """One tampered file: its name, path, and a text the error message must contain."""

    name: str
    path: str
    expect: str | None = None


# ---------------------------------------------------------------------- archives
def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of a clean model file (written by featcf: trusted here)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(arrays.pop(META).tobytes().decode("utf-8"))
    return meta, arrays


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in .npy form (object arrays pickled, as a hostile writer could)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def meta_bytes(meta: dict[str, Any]) -> bytes:
    return npy_bytes(np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))


def write_members(path: str | os.PathLike[str], members: list[tuple[str, bytes]]) -> None:
    """A zip archive of ``(key, .npy bytes)`` members, as ``numpy.savez_compressed`` writes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, data in members:
            zf.writestr(key + ".npy", data)


def write_model_file(
    path: str | os.PathLike[str], meta: dict[str, Any] | bytes, arrays: dict[str, Any]
) -> None:
    """A model file from metadata (dict or raw .npy bytes) and arrays (or raw .npy bytes)."""
    members = [(META, meta if isinstance(meta, bytes) else meta_bytes(meta))]
    for key, value in arrays.items():
        members.append((key, value if isinstance(value, bytes) else npy_bytes(value)))
    write_members(path, members)


@dataclass
class RawEntry:
    """A zip member written byte for byte: deflated ``data`` and the sizes the zip declares."""

    name: str
    data: bytes
    crc: int
    file_size: int


def write_raw_zip(path: str | os.PathLike[str], entries: list[RawEntry]) -> None:
    """A zip archive whose members are given already deflated, with whatever sizes they declare."""
    out = bytearray()
    central = bytearray()
    date = 0x21  # 1980-01-01
    for entry in entries:
        name = entry.name.encode()
        offset = len(out)
        sizes = (entry.crc, len(entry.data), entry.file_size)
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, date, *sizes, len(name), 0)
        out += name + entry.data
        central += struct.pack(
            "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, date, *sizes, len(name), 0, 0, 0, 0,
            0, offset,
        )  # fmt: skip
        central += name
    start = len(out)
    out += central
    out += struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), start, 0
    )
    Path(path).write_bytes(bytes(out))


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zeros_bomb(prefix: bytes, n_zeros: int) -> tuple[bytes, int]:
    """Raw deflate of ``prefix`` then ``n_zeros`` zero bytes (a multiple of 1 MiB), and its CRC.

    Each MiB of zeros is deflated once and its blocks repeated (every block ends with a full
    flush, so the blocks do not depend on each other): about 1 KiB per MiB, in milliseconds.
    """
    mib = 2**20
    first = zlib.compressobj(6, zlib.DEFLATED, -15)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    block = c.compress(bytes(mib)) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(6, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    zeros = bytes(mib)
    for _ in range(n_zeros // mib):
        crc = zlib.crc32(zeros, crc)
    return head + block * (n_zeros // mib) + end, crc


# ---------------------------------------------------------------------- descriptors
def descriptors(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every array descriptor of the metadata by member key (a CSR under its base key)."""
    out = {}
    for desc in list(meta["state"].values()) + list(meta["dataset"].values()):
        if isinstance(desc, dict) and desc.get("type") in ("array", "csr", "series"):
            out[desc["key"]] = desc
    return out


def _base_key(key: str) -> str:
    for part in ("/data", "/indices", "/indptr"):
        if key.endswith(part):
            return key[: -len(part)]
    return key


# ---------------------------------------------------------------------- array corruptions
def array_mutations(
    key: str, array: np.ndarray, meta: dict[str, Any], nonnegative: bool, position: bool
) -> Iterator[tuple[str, Any]]:
    """``(label, replacement)`` for each corruption of member ``key`` that applies.

    A replacement is an array, raw ``.npy`` bytes, or None (the member is dropped).
    """
    desc = descriptors(meta).get(_base_key(key), {})
    yield "missing", None
    yield "bad_header", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4}   \n" + array.tobytes()[:16]
    yield "pickled", np.array([{"evil": 1}] * max(len(array), 1), dtype=object)
    if array.ndim == 1 and array.size:
        yield "short", array[:-1]
        yield "long", np.concatenate([array, array[:1]])
        yield "2d", array.reshape(1, -1)
    elif array.ndim == 2:
        yield "short", array[:-1]
        yield "flat", array.ravel()
    kind = array.dtype.kind
    if kind == "f":
        yield "dtype", array.astype(np.float64 if array.dtype == np.float32 else np.float32)
        yield "bool", array.astype(bool)
        yield "int", array.astype(np.int64)
        if array.size:
            for label, value in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
                bad = array.copy()
                bad.flat[0] = value
                yield label, bad
            if nonnegative:
                bad = array.copy()
                bad.flat[0] = -1.0
                yield "negative", bad
    elif kind in "iu":
        yield "dtype", array.astype(np.float64)
        yield "bool", array.astype(bool)
        if key.endswith("/indices") and array.size:
            n_cols = desc["shape"][1]
            for label, value in (
                ("out_of_range", n_cols),
                ("negative_index", -1),
                ("huge_index", np.iinfo(array.dtype).max),
                ("most_negative", np.iinfo(array.dtype).min),
            ):
                bad = array.copy()
                bad[len(bad) // 2] = value
                yield label, bad
        elif key.endswith("/indptr") and array.size > 2:
            bad = array.copy()
            bad[1], bad[-2] = array[-2] + 1, array[1]
            yield "indptr_decreasing", bad
            yield "indptr_start", array + 1
            bad = array.copy()
            bad[-1] += 1
            yield "indptr_end_high", bad
            if array[-1] > 0:
                bad = array.copy()
                bad[-1] -= 1
                yield "indptr_end_low", bad
            bad = array.copy()
            bad[len(bad) // 2] = np.iinfo(array.dtype).max
            yield "indptr_huge", bad
        elif position and array.size:
            for label, value in (("negative_index", -1), ("huge_index", 2**40)):
                bad = array.copy()
                bad[-1] = value
                yield label, bad
    elif kind == "U":
        yield "bytes_dtype", array.astype("S")
    if (position or key.endswith("_ids")) and array.size > 1:
        bad = array.copy()
        bad[1] = bad[0]
        yield "repeated", bad
    if key.endswith("/indices") and array.size > 1:
        # a column twice in one row
        indptr = np.asarray(_sibling(key, "indptr"))
        rows = np.flatnonzero(np.diff(indptr) >= 2)
        if rows.size:
            start = indptr[rows[0]]
            bad = array.copy()
            bad[start + 1] = bad[start]
            yield "repeated_in_row", bad


_SIBLINGS: dict[str, np.ndarray] = {}


def _sibling(key: str, part: str) -> np.ndarray:
    return _SIBLINGS[_base_key(key) + "/" + part]


# ---------------------------------------------------------------------- metadata corruptions
def meta_mutations(meta: dict[str, Any], class_name: str) -> Iterator[tuple[str, Any, str | None]]:
    """``(label, change, expected text)``: ``change(meta, arrays)`` edits a deep copy in place."""
    for other in CLASSES:
        if other != class_name:
            yield f"relabelled_{other}", _set_class(other), None

    def unknown_json(m: dict, a: dict) -> None:
        m["state"]["evil_"] = {"type": "json", "value": 1}

    def unknown_array(m: dict, a: dict) -> None:
        m["state"]["evil_"] = {"type": "array", "key": "model/evil_"}
        a["model/evil_"] = np.zeros(3)

    def extra_member(m: dict, a: dict) -> None:
        a["model/extra"] = np.zeros(3)

    yield "state_unknown_json", unknown_json, "evil_"
    yield "state_unknown_array", unknown_array, "evil_"
    yield "extra_member", extra_member, "model/extra"
    for name in meta["state"]:
        if name in ADDED_ENTRIES:
            continue  # a file written before the entry existed lacks it: that loads (issue 16)
        yield f"state_missing_{name}", _drop_state(name), name
    for name, value in meta["params"].items():
        yield f"param_{name}_evil", _set_param(name, "evil"), "params"
        if isinstance(value, int) and not isinstance(value, bool):
            yield f"param_{name}_negative", _set_param(name, -1), "params"
        if isinstance(value, float):
            yield f"param_{name}_nan", _set_param(name, float("nan")), "params"
    yield "param_unknown", _set_param("evil", 1), "params"
    yield "param_unhashable_key", _set_params({"__items__": [[[1], 2]]}), "params"
    yield "param_tuple_tag", _set_params({"__tuple__": 5}), "params"
    yield "params_tuple_of_names", _set_params({"__tuple__": ["metric"]}), "params"
    yield "params_list", _set_top("params", [1, 2]), "params"
    yield "state_list", _set_top("state", [1, 2]), "state"
    yield "dataset_list", _set_top("dataset", [1]), "dataset"
    yield "class_not_str", _set_top("class", 5), None
    yield "format_other", _set_top("format", "other"), None
    yield "version_other", _set_top("format_version", 7), "version"

    def drop_dataset_entry(m: dict, a: dict) -> None:
        del m["dataset"]["columns"]

    yield "dataset_entry_missing", drop_dataset_entry, "dataset"
    # descriptors
    first = next(
        (n for n, d in meta["state"].items() if isinstance(d, dict) and d.get("type") != "json"),
        None,
    )
    if first is not None:
        desc = meta["state"][first]

        def redirect(m: dict, a: dict) -> None:
            m["state"][first]["key"] = "dataset/interactions"

        def unknown_type(m: dict, a: dict) -> None:
            m["state"][first]["type"] = "pickle"

        def extra_field(m: dict, a: dict) -> None:
            m["state"][first]["evil"] = 1

        def as_json(m: dict, a: dict) -> None:
            m["state"][first] = {"type": "json", "value": [1, 2, 3]}

        yield "desc_redirected", redirect, first
        yield "desc_unknown_type", unknown_type, first
        yield "desc_extra_field", extra_field, first
        yield "desc_as_json", as_json, first
        if desc["type"] == "csr":
            for label, shape in (
                ("desc_shape_bigger", [desc["shape"][0] + 1, desc["shape"][1]]),
                ("desc_shape_negative", [-1, desc["shape"][1]]),
                ("desc_shape_float", [float(desc["shape"][0]), desc["shape"][1]]),
                ("desc_shape_huge", [2**40, 2**40]),
            ):
                yield label, _set_desc_shape(first, shape), first
    # the Dataset's JSON parts
    yield "ds_columns_bad", _edit_dataset(lambda d: d["columns"].update(user=5)), "columns"
    yield (
        "ds_ids_as_json",
        _edit_dataset(lambda d: d.update(user_ids={"type": "json", "value": [1, 2]})),
        "user_ids",
    )
    yield (
        "ds_interactions_shape",
        _edit_dataset(
            lambda d: d["interactions"].update(shape=[d["interactions"]["shape"][0], 10**9])
        ),
        "interactions",
    )
    encoder = meta["dataset"].get("item_encoder")
    if encoder:
        fields = encoder["fields"]
        numeric = next((n for n, f in fields.items() if f["kind"] == "numeric"), None)
        valued = next((n for n, f in fields.items() if f["kind"] != "numeric"), None)
        if valued:
            yield "enc_labels_short", _edit_field(valued, lambda f: f["labels"].pop()), valued
            yield "enc_labels_long", _edit_field(valued, lambda f: f["labels"].append("x")), valued
            yield "enc_kind_evil", _edit_field(valued, lambda f: f.update(kind="evil")), valued
            yield (
                "enc_vocab_repeated",
                _edit_field(valued, lambda f: f["vocabulary"].__setitem__(-1, f["vocabulary"][0])),
                valued,
            )
            yield (
                "enc_vocab_unhashable",
                _edit_field(
                    valued, lambda f: f["vocabulary"].__setitem__(0, {"__items__": [[[1], 2]]})
                ),
                valued,
            )
            yield "enc_sep_empty", _edit_field(valued, lambda f: f.update(sep="")), valued
        if numeric:
            key = "edges" if fields[numeric]["distinct"] is None else "distinct"
            yield (
                "enc_edges_nan",
                _edit_field(numeric, lambda f: f[key].__setitem__(0, float("nan"))),
                numeric,
            )
            yield "enc_edges_unsorted", _edit_field(numeric, lambda f: f[key].reverse()), numeric
            yield (
                "enc_edges_text",
                _edit_field(numeric, lambda f: f[key].__setitem__(0, "x")),
                numeric,
            )
            yield "enc_bins_zero", _edit_field(numeric, lambda f: f.update(n_bins=0)), numeric
            yield (
                "enc_no_band",
                _edit_field(numeric, lambda f: f.update(edges=[1.0], distinct=None, labels=[])),
                numeric,
            )
            yield (
                "enc_edges_and_values",
                _edit_field(
                    numeric,
                    lambda f: f.update(edges=[0.0, 1.0], distinct=[0.0, 1.0], labels=["a", "b"]),
                ),
                numeric,
            )
        yield "enc_order_mismatch", _edit_encoder(lambda e: e["order"].reverse()), "item_encoder"
        yield (
            "enc_field_dropped",
            _edit_encoder(lambda e: (e["order"].pop(), e["fields"].popitem())),
            "item_encoder",
        )
        yield "enc_sep_not_str", _edit_encoder(lambda e: e.update(sep=5)), "item_encoder"
        yield "enc_missing", _edit_dataset(lambda d: d.update(item_encoder=None)), "item"
    if meta["dataset"].get("item_frame"):
        yield (
            "frame_row_dropped",
            _edit_dataset(lambda d: d["item_frame"]["data"].pop()),
            "item_frame",
        )
        yield (
            "frame_row_narrow",
            _edit_dataset(lambda d: d["item_frame"]["data"][0].pop()),
            "item_frame",
        )
        yield (
            "frame_not_split",
            _edit_dataset(lambda d: d.update(item_frame={"a": 1})),
            "item_frame",
        )


def _set_class(name: str) -> Callable[[dict, dict], None]:
    return lambda m, a: m.update({"class": name})


def _set_top(name: str, value: Any) -> Callable[[dict, dict], None]:
    return lambda m, a: m.update({name: value})


def _drop_state(name: str) -> Callable[[dict, dict], None]:
    def change(m: dict, a: dict) -> None:
        desc = m["state"].pop(name)
        if isinstance(desc, dict) and "key" in desc:
            for key in [k for k in a if _base_key(k) == desc["key"]]:
                del a[key]

    return change


def _set_param(name: str, value: Any) -> Callable[[dict, dict], None]:
    return lambda m, a: m["params"].update({name: value})


def _set_params(value: Any) -> Callable[[dict, dict], None]:
    return lambda m, a: m.update(params=value)


def _set_desc_shape(name: str, shape: list) -> Callable[[dict, dict], None]:
    return lambda m, a: m["state"][name].update(shape=shape)


def _edit_dataset(edit: Callable[[dict], Any]) -> Callable[[dict, dict], None]:
    return lambda m, a: edit(m["dataset"])


def _edit_encoder(edit: Callable[[dict], Any]) -> Callable[[dict, dict], None]:
    return lambda m, a: edit(m["dataset"]["item_encoder"])


def _edit_field(field: str, edit: Callable[[dict], Any]) -> Callable[[dict, dict], None]:
    return lambda m, a: edit(m["dataset"]["item_encoder"]["fields"][field])


# ---------------------------------------------------------------------- all cases of one file
def make_cases(
    clean: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    class_name: str,
    nonnegative: set[str],
    positions: set[str],
    bomb_members: tuple[str, ...] = (),
) -> list[Case]:
    """Write every tampered copy of ``clean`` into ``out_dir``; return the cases.

    ``nonnegative`` names the members whose values must be >= 0 (a negative value is then
    a corruption), ``positions`` the dense members holding positions (a negative or huge one
    is); ``bomb_members`` get decompression bombs.
    """
    out_dir = Path(out_dir)
    meta, arrays = read_archive(clean)
    _SIBLINGS.clear()
    _SIBLINGS.update(arrays)
    raw = Path(clean).read_bytes()
    cases: list[Case] = []

    def add(name: str, expect: str | None) -> Path:
        path = out_dir / (f"{class_name}-{name}".replace("/", "~").replace(":", "_") + ".npz")
        cases.append(Case(f"{class_name}:{name}", str(path), expect))
        return path

    for key, array in arrays.items():
        mutations = array_mutations(key, array, meta, key in nonnegative, key in positions)
        for label, replacement in mutations:
            if label == "short" and _base_key(key) in FREE_LENGTH:
                continue  # any length is valid: a shorter list is a file that holds fewer
            changed = dict(arrays)
            if replacement is None:
                del changed[key]
            else:
                changed[key] = replacement
            write_model_file(add(f"{key}:{label}", _base_key(key)), meta, changed)
    for label, change, expect in meta_mutations(meta, class_name):
        m, a = copy.deepcopy(meta), dict(arrays)
        change(m, a)
        write_model_file(add(f"meta:{label}", expect), m, a)
    text = json.dumps(meta).encode("utf-8")
    for label, payload, expect in (
        ("json_cut", text[: len(text) // 2], "metadata"),
        ("json_not_utf8", b"\xff\xfe" + text, "metadata"),
        ("json_deep", b"[" * 200_000 + b"]" * 200_000, "metadata"),
        ("json_not_object", b"[1, 2, 3]", "not a featcf model"),
        (
            "json_nan_version",
            text.replace(b'"format_version": 1', b'"format_version": NaN'),
            "version nan",
        ),
    ):
        member = npy_bytes(np.frombuffer(payload, dtype=np.uint8))
        write_model_file(add(f"meta:{label}", expect), member, arrays)
    write_model_file(
        add("meta:not_uint8", META),
        npy_bytes(np.frombuffer(text, np.uint8).astype(np.float64)),
        arrays,
    )
    # the archive itself
    for fraction in (0.1, 0.5, 0.9, 0.999):
        add(f"archive:truncated_{fraction}", None).write_bytes(raw[: int(len(raw) * fraction)])
    add("archive:empty", None).write_bytes(b"")
    add("archive:not_zip", None).write_bytes(b"hello world" * 100)
    flipped = bytearray(raw)
    with zipfile.ZipFile(clean) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
        at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    flipped[at] ^= 0xFF
    add("archive:flipped_byte", None).write_bytes(bytes(flipped))
    members = [(META, meta_bytes(meta))] + [(k, npy_bytes(v)) for k, v in arrays.items()]
    with warnings.catch_warnings():  # zipfile warns about the repeated name
        warnings.simplefilter("ignore", UserWarning)
        write_members(add("archive:repeated_member", None), members + members[1:2])
    write_members(add("archive:not_npy_member", None), members + [("evil.txt", b"x")])
    # decompression bombs: 1 GiB of zeros behind a member's own header and data
    entries = [RawEntry(k + ".npy", deflate(d), zlib.crc32(d), len(d)) for k, d in members]
    for key in bomb_members:
        position = next(p for p, (k, _) in enumerate(members) if k == key)
        prefix = members[position][1]
        data, crc = zeros_bomb(prefix, BOMB_BYTES)
        honest = list(entries)
        honest[position] = RawEntry(key + ".npy", data, crc, len(prefix) + BOMB_BYTES)
        write_raw_zip(add(f"bomb:{key}:declared", key), honest)
        lying = list(entries)
        lying[position] = RawEntry(key + ".npy", data, crc, len(prefix))
        write_raw_zip(add(f"bomb:{key}:hidden", key), lying)
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.uint8))
    header["shape"] = (BOMB_BYTES,)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    data, crc = zeros_bomb(buffer.getvalue(), BOMB_BYTES)
    bombed = [RawEntry(META + ".npy", data, crc, len(buffer.getvalue()) + BOMB_BYTES)] + entries[1:]
    write_raw_zip(add("bomb:metadata", "metadata"), bombed)
    return cases


# ---------------------------------------------------------------------- running the cases
def run_cases(cases: list[Case], timeout: float = 900.0) -> dict[str, dict[str, Any]]:
    """Outcome of every case, from worker subprocesses (a crash restarts after its case)."""
    import featcf

    env = dict(os.environ)
    src = str(Path(featcf.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    outcomes: dict[str, dict[str, Any]] = {}
    todo = list(cases)
    while todo:
        listing = Path(todo[0].path).with_name("cases.json")
        listing.write_text(json.dumps([c.__dict__ for c in todo]))
        proc = subprocess.run(
            [sys.executable, "-X", "faulthandler", __file__, str(listing)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        started = None
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record["event"] == "start":
                started = record["case"]
            else:
                outcomes[record["case"]] = record
                started = None
        if proc.returncode == 0 and started is None:
            break
        crashed = started or "(before the first case)"
        outcomes[crashed] = {
            "case": crashed,
            "outcome": f"exit {proc.returncode}",
            "message": proc.stderr[-2000:],
        }
        names = [c.name for c in todo]
        todo = todo[names.index(crashed) + 1 :] if crashed in names else []
    return outcomes


def _query(model: Any) -> None:
    """Every query method once (what a served model would be asked)."""
    import pandas as pd

    from featcf.models import UnsupportedProtocolError

    ds = model.dataset_
    users = ds.user_ids[ds.user_counts() > 0][:3]
    items = ds.item_ids[:3]
    model.recommend(users, n=3)
    if ds.item_fields:  # issue 16: the rules read the item fields and the withdrawn set
        model.recommend(users, n=3, exclude_owned_fields=list(ds.item_fields)[:1])
    model.predict(list(users) * 1, list(items[: len(users)]))
    model.recommend_users(items[0], n=3)
    cols = ds.columns
    history = pd.DataFrame({cols["user"]: ["new-1", "new-1"], cols["item"]: items[:2]})
    if cols.get("weight"):
        history[cols["weight"]] = 1.0
    for call in (
        lambda: model.explain(users[0], items[0]),
        lambda: model.recommend_new_users(history, n=3),
    ):
        try:
            call()
        except UnsupportedProtocolError:
            pass


def _main(listing: str) -> None:
    import resource
    import warnings

    import featcf

    warnings.simplefilter("ignore")
    for case in json.loads(Path(listing).read_text()):
        print(json.dumps({"event": "start", "case": case["name"]}), flush=True)
        start = time.perf_counter()
        record: dict[str, Any] = {"event": "done", "case": case["name"]}
        try:
            model = featcf.load(case["path"])
        except featcf.ModelFormatError as exc:
            record.update(outcome="ModelFormatError", message=str(exc))
        except BaseException as exc:
            record.update(outcome=type(exc).__name__, message=str(exc)[:2000])
        else:
            try:
                _query(model)
                record.update(outcome="loaded", message="load and queries succeeded")
            except BaseException as exc:
                record.update(outcome="loaded", message=f"query raised {type(exc).__name__}: {exc}")
        record["seconds"] = time.perf_counter() - start
        record["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1])
