"""A tampered model file never crashes the process and never loads (issue 13).

For every model class, a clean file is corrupted in every way ``tampering.make_cases`` knows
(each array member: indices out of range, negative or huge, ``indptr`` broken, another dtype
including bool data, another shape, NaN / inf / negative values, repeated ids, missing,
pickled, a broken header; the metadata: relabelled class, unknown and missing state keys, bad
hyper-parameters, corrupt JSON, inconsistent descriptors, encoders and frames; the archive:
truncated, a flipped byte, foreign or repeated members; decompression bombs of 1 GiB).
A worker subprocess loads each copy and queries the model if the load succeeds, so a
segmentation fault shows as a signal exit naming its case instead of ending the test run.
Every case must end in a clean :class:`~featcf.ModelFormatError` whose message names what is
wrong (and never suggests ``allow_pickle``); the bombs must be refused without inflating them.
"""

from __future__ import annotations

import numpy as np
import pytest

import featcf
from estimators import CLASSES, quick
from featcf._schema import Array, Series, Sparse
from featcf.models import BaseRecommender
from tampering import BOMB_BYTES, Case, make_cases, run_cases

#: small neighbourhoods, so that neighbour lists are not full (and Jaccard for UserKNN)
PARAMS = {
    "FeatureCF": {"n_neighbors": 10},
    "ItemKNN": {"n_neighbors": 3},
    "UserKNN": {"n_neighbors": 4, "metric": "jaccard"},
    "ContentKNN": {"n_neighbors": 3},
}
#: dataset members whose values must be >= 0
DATASET_NONNEGATIVE = {
    "dataset/interactions/data",
    "dataset/item_features/data",
    "dataset/user_features/data",
}


@pytest.fixture(scope="module")
def tiny_shop():
    """40 customers (42 users) x 10 products: users and items differ in number."""
    from featcf.datasets import make_insurance_shop

    return make_insurance_shop(
        n_customers=40, n_products=10, n_new_products=1, n_new_customers=2, random_state=0
    )


def _constrained_members(model: BaseRecommender) -> tuple[set[str], set[str]]:
    """Members whose values must be >= 0, and members holding positions (index arrays)."""
    nonnegative, positions = set(DATASET_NONNEGATIVE), set()
    for name, spec in model._file_schema(model.dataset_).items():
        key = f"model/{name}"
        if isinstance(spec, Sparse) and spec.low is not None:
            nonnegative.add(f"{key}/data")
        elif isinstance(spec, (Array, Series)) and spec.low is not None:
            nonnegative.add(key)
        if isinstance(spec, Array) and spec.index_of is not None:
            positions.add(key)
    return nonnegative, positions


def _problem(case: Case, record: dict | None) -> str | None:
    """Why ``case`` did not end as it must (None if it did)."""
    if record is None:
        return "no outcome recorded"
    message = record.get("message", "").replace(case.path, "<file>")
    if record["outcome"] != "ModelFormatError":
        return f"{record['outcome']}: {message[:400]}"
    if "allow_pickle" in message:
        return f"the message suggests allow_pickle: {message[:300]}"
    if case.expect and case.expect not in message:
        return f"the message does not name {case.expect!r}: {message[:300]}"
    if ":bomb:" in case.name:
        if record["seconds"] > 5 or record["max_rss_mb"] > 1024:
            return (
                f"a bomb took {record['seconds']:.1f} s and {record['max_rss_mb']:.0f} MB: it "
                f"was inflated"
            )
    return None


@pytest.mark.parametrize("name", CLASSES)
def test_tampered_files_are_refused(name, tiny_shop, tmp_path):
    model = quick(name, **PARAMS.get(name, {})).fit(tiny_shop)
    model.withdraw(tiny_shop.item_ids[[1, 4]])  # issue 16: the withdrawn set is saved too
    clean = tmp_path / "clean.npz"
    model.save(clean)
    nonnegative, positions = _constrained_members(model)
    first_array = next(
        f"model/{n}" + ("/data" if isinstance(s, Sparse) else "")
        for n, s in model._state_schema(tiny_shop).items()
        if not hasattr(s, "check")
    )
    cases = make_cases(
        clean,
        tmp_path,
        name,
        nonnegative=nonnegative,
        positions=positions,
        bomb_members=(first_array, "dataset/interactions/indices"),
    )
    sane = Case(f"{name}:clean", str(clean))
    # the bombs in a worker of their own: a worker's peak memory is a high-water mark over
    # its whole life, so a case run before a bomb in the same worker would be blamed on it
    bombs = [case for case in cases if ":bomb:" in case.name]
    outcomes = run_cases([sane, *(case for case in cases if ":bomb:" not in case.name)])
    outcomes.update(run_cases(bombs))
    assert outcomes[sane.name]["outcome"] == "loaded", outcomes[sane.name]
    assert outcomes[sane.name]["message"] == "load and queries succeeded", outcomes[sane.name]
    failures = [
        f"{case.name}: {problem}"
        for case in cases
        if (problem := _problem(case, outcomes.get(case.name))) is not None
    ]
    assert not failures, (
        f"{len(failures)} of {len(cases)} tampered {name} files were not refused cleanly:\n"
        + "\n".join(failures[:50])
    )
    assert len(cases) > 150 and BOMB_BYTES == 2**30
    seconds = sum(outcomes[c.name]["seconds"] for c in cases)
    print(f"{name}: {len(cases)} tampered files refused, {seconds:.1f} s of loading")


def test_bomb_members_are_refused_before_inflating(tiny_shop, tmp_path):
    # In-process too: the 1 GiB member is refused in milliseconds, whichever size the zip
    # directory declares for it.
    model = featcf.Popularity().fit(tiny_shop)
    clean = tmp_path / "clean.npz"
    model.save(clean)
    cases = [
        c
        for c in make_cases(
            clean, tmp_path, "Popularity", set(), set(), bomb_members=("model/popularity_",)
        )
        if ":bomb:" in c.name
    ]
    assert len(cases) == 3
    for case in cases:
        with pytest.raises(featcf.ModelFormatError, match="refused|at most|corrupt|Bad CRC"):
            featcf.load(case.path)


def test_refusals_name_the_member_and_the_problem(tiny_shop, tmp_path):
    from tampering import read_archive, write_model_file

    model = featcf.ItemKNN(n_neighbors=3).fit(tiny_shop)
    model.save(tmp_path / "clean.npz")
    meta, arrays = read_archive(tmp_path / "clean.npz")
    bad = dict(arrays)
    bad["model/similarity_/indices"] = arrays["model/similarity_/indices"].copy()
    bad["model/similarity_/indices"][0] = tiny_shop.n_items
    write_model_file(tmp_path / "bad.npz", meta, bad)
    with pytest.raises(
        featcf.ModelFormatError,
        match=r"member model/similarity_/indices holds column indices outside \[0, 10\)",
    ):
        featcf.load(tmp_path / "bad.npz")
    # an ItemKNN file relabelled UserKNN does not fit UserKNN's schema (users x users)
    meta["class"] = "UserKNN"
    write_model_file(tmp_path / "relabelled.npz", meta, arrays)
    with pytest.raises(featcf.ModelFormatError, match=r"similarity_.*shape \(10, 10\)"):
        featcf.load(tmp_path / "relabelled.npz")
    # bool similarity data
    bad = dict(arrays)
    bad["model/similarity_/data"] = arrays["model/similarity_/data"].astype(bool)
    write_model_file(tmp_path / "bool.npz", meta | {"class": "ItemKNN"}, bad)
    with pytest.raises(featcf.ModelFormatError, match="similarity_/data has dtype bool"):
        featcf.load(tmp_path / "bool.npz")
    assert np.isfinite(model.predict(tiny_shop.user_ids[:1], tiny_shop.item_ids[:1])).all()


def test_a_member_declared_larger_than_its_header_is_refused_before_inflating(tiny_shop, tmp_path):
    import zlib

    from tampering import (
        META,
        RawEntry,
        deflate,
        meta_bytes,
        npy_bytes,
        read_archive,
        write_raw_zip,
    )

    featcf.Popularity().fit(tiny_shop).save(tmp_path / "clean.npz")
    meta, arrays = read_archive(tmp_path / "clean.npz")
    members = [(META, meta_bytes(meta))] + [(k, npy_bytes(v)) for k, v in arrays.items()]
    entries = [RawEntry(k + ".npy", deflate(d), zlib.crc32(d), len(d)) for k, d in members]
    position = [k for k, _ in members].index("model/popularity_")
    entries[position].file_size += 4000
    write_raw_zip(tmp_path / "bad.npz", entries)
    with pytest.raises(
        featcf.ModelFormatError,
        match=r"member model/popularity_ is declared as \d+ bytes in the archive but its header "
        r"gives \d+ \(shape \(10,\), float32\); refused before inflating it",
    ):
        featcf.load(tmp_path / "bad.npz")
