"""No input gets a bare crash (issue 13): random small frames through every model.

Hypothesis draws small interaction frames (ids of mixed types, NaN / inf / huge / tiny
weights) with item and user feature frames (empty and all-NaN columns, list columns with
empty lists) and runs them through ``Dataset.from_frames`` and every model's ``fit``,
``recommend``, ``predict``, ``explain``, ``recommend_new_users``, ``add_items``,
``recommend_users`` and ``featcf.save`` / ``featcf.load``. Each step either succeeds with
finite scores, or refuses with a ``ValueError`` / ``TypeError`` (featcf's own errors subclass
them) that has a message. A query a model does not serve raises its documented
:class:`~featcf.models.base.UnsupportedProtocolError`, which is accepted where the model's
flags say it does not serve that query.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import featcf
from estimators import CLASSES
from featcf import Dataset
from featcf.models import BaseRecommender, UnsupportedProtocolError

#: hyper-parameters drawn for each model (quick ones; the rest are defaults)
CONFIGS = {
    "ALS": [{"factors": 4, "iterations": 2, "random_state": 0, "show_progress": False}],
    "FeatureCF": [
        {"show_progress": False, "random_state": 0, "n_neighbors": 5},
        {"show_progress": False, "random_state": 0, "weights": "uniform", "implicit": False},
    ],
    "ItemKNN": [
        {"n_neighbors": 3},
        {"metric": "adjusted_cosine"},
        {"metric": "pearson", "shrink": 1.0},
        {"metric": "jaccard"},
    ],
    "UserKNN": [{"n_neighbors": 3}, {"metric": "adjusted_cosine"}, {"metric": "pearson"}],
    "ContentKNN": [{"n_neighbors": 3}, {}, {"metric": "jaccard"}],
    "Popularity": [{}, {"by": "weight"}],
}
#: the examples each test draws (the whole file stays well under a minute or two); more for a
#: local shake-out: FEATCF_PROPERTY_EXAMPLES=2000 pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("FEATCF_PROPERTY_EXAMPLES", "200"))

# ---------------------------------------------------------------------- strategies
ids = st.one_of(
    st.integers(0, 6),
    st.sampled_from(["a", "b", "c", "10", "sku-1", "", " "]),
    st.sampled_from([1.5, True, -3]),
)
#: weights of one frame: ordinary, all huge, all tiny, or anything (NaN, inf, 0, < 0 too)
weight_scales = {
    "ordinary": st.one_of(st.floats(0.01, 10.0), st.sampled_from([1.0, 2.0, 5.0])),
    "huge": st.sampled_from([1e19, 1e30, 1e37, 1e38, 3e38, 1e39, 1e308]),
    "tiny": st.sampled_from([1e-20, 1e-38, 1e-40, 1e-44, 1e-46, 5e-324]),
    "any": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -1.0, np.nan, np.inf, 1e308, 1e-46]),
    ),
}


@st.composite
def frames(draw: Any) -> dict[str, Any]:
    """``Dataset.from_frames`` arguments: interactions and optional feature frames."""
    n = draw(st.integers(1, 10))
    users = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    items = draw(st.lists(ids, min_size=1, max_size=5, unique=True))
    rows = {
        "user": [draw(st.sampled_from(users)) for _ in range(n)],
        "item": [draw(st.sampled_from(items)) for _ in range(n)],
    }
    out: dict[str, Any] = {"user_col": "user", "item_col": "item"}
    if draw(st.booleans()):
        weights = weight_scales[draw(st.sampled_from(sorted(weight_scales)))]
        rows["w"] = [draw(weights) for _ in range(n)]
        out["weight_col"] = "w"
    out["interactions"] = pd.DataFrame(rows)
    # feature tables listing mostly entities without interactions are refused unless allowed
    out["allow_mostly_cold_items"] = draw(st.integers(0, 4)) > 0
    out["allow_mostly_cold_users"] = draw(st.integers(0, 4)) > 0
    if draw(st.integers(0, 4)):  # item features most of the time
        extra = draw(st.lists(ids, max_size=2, unique=True))
        catalogue = list(dict.fromkeys(items + extra))
        columns = _columns(draw, len(catalogue), min_columns=1)
        out["item_features"] = pd.DataFrame({"item": catalogue, **columns})
    if draw(st.booleans()):
        out["user_features"] = pd.DataFrame({"user": users, **_columns(draw, len(users))})
    return out


def _columns(draw: Any, n: int, min_columns: int = 0) -> dict[str, list]:
    """A few feature columns of random kinds: text, lists (some empty), numbers, all-NaN."""
    columns: dict[str, list] = {}
    for j in range(draw(st.integers(min_columns, 3))):
        kind = draw(st.sampled_from(["text", "list", "number", "all_nan", "empty_text"]))
        if kind == "text":
            values = [draw(st.sampled_from(["x", "y", "z", None, "x|y"])) for _ in range(n)]
        elif kind == "list":
            values = [
                draw(st.lists(st.sampled_from(["p", "q", "r"]), max_size=2)) for _ in range(n)
            ]
        elif kind == "number":
            values = [
                draw(st.one_of(st.floats(-5, 5), st.sampled_from([np.nan, 1e300, -np.inf])))
                for _ in range(n)
            ]
        elif kind == "all_nan":
            values = [np.nan] * n
        else:
            values = [""] * n
        columns[f"f{j}_{kind}"] = values
    return columns


# ---------------------------------------------------------------------- checks
def _refusal(exc: BaseException) -> None:
    """A refusal must be a ValueError / TypeError with a message (re-raise anything else)."""
    if not isinstance(exc, (ValueError, TypeError)) or not str(exc).strip():
        raise exc


def _finite(frame: pd.DataFrame, column: str = "score") -> None:
    values = frame[column].to_numpy(dtype=np.float64)
    assert np.isfinite(values).all(), frame


def _attempt(call: Any, unsupported: bool = False) -> Any:
    """``call()``, or None when it refuses properly (``unsupported``: the model says it can't)."""
    try:
        return call()
    except UnsupportedProtocolError:
        if not unsupported:
            raise
    except Exception as exc:  # noqa: BLE001 - anything but a proper refusal is re-raised
        _refusal(exc)
    return None


def _new_item_ids(dataset: Dataset) -> list:
    kinds = {type(v) for v in dataset.item_ids.tolist()}
    return ["new-item"] if str in kinds or not kinds <= {int} else [10_000]


def _exercise(model: BaseRecommender, dataset: Dataset, frames: dict[str, Any]) -> None:
    counts = dataset.user_counts()
    users = dataset.user_ids[counts > 0][:3]
    items = dataset.item_ids[:3]
    cls = type(model)
    rec = _attempt(lambda: model.recommend(users, n=3))
    if rec is not None:
        _finite(rec)
    pairs = min(len(users), len(items))
    scores = _attempt(lambda: model.predict(users[:pairs], items[:pairs]))
    if scores is not None:
        assert np.isfinite(scores).all(), scores
    parts = _attempt(lambda: model.explain(users[0], items[0]), unsupported=True)
    if parts is not None:
        _finite(parts, "contribution")
    audience = _attempt(lambda: model.recommend_users(items[0], n=3))
    if audience is not None:
        _finite(audience)
    history = pd.DataFrame({"user": ["guest", "guest"], "item": [items[0], items[-1]]})
    if "weight_col" in frames:
        history["w"] = 1.0
    rec = _attempt(lambda: model.recommend_new_users(history, n=3), unsupported=True)
    if rec is not None:
        _finite(rec)
    if dataset.user_frame is not None:
        walk_in = dataset.user_frame.reset_index().iloc[:1].copy()
        walk_in["user"] = ["walk-in"]
        rec = _attempt(
            lambda: model.recommend_new_users(user_features=walk_in, n=3),
            unsupported=not cls.handles_new_users_with_features,
        )
        if rec is not None:
            _finite(rec)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        saved = _attempt(lambda: featcf.save(model, path))
        if saved is None and path.exists():
            loaded = featcf.load(path)
            before = _attempt(lambda: model.recommend(users, n=3))
            after = _attempt(lambda: loaded.recommend(users, n=3))
            if before is not None:
                pd.testing.assert_frame_equal(before, after)
    if dataset.item_frame is not None:
        new = dataset.item_frame.reset_index().iloc[:1].copy()
        new["item"] = _new_item_ids(dataset)
        for column in new.columns:
            if column.endswith("_all_nan"):  # a number for a field fitted without any
                new[column] = 2.0
        added = _attempt(lambda: model.add_items(new), unsupported=not cls.handles_new_items)
        if added is not None:
            audience = _attempt(lambda: model.recommend_users(new["item"].iloc[0], n=3))
            if audience is not None:
                _finite(audience)


def _build(args: dict[str, Any]) -> Dataset | None:
    try:
        return Dataset.from_frames(**args)
    except Exception as exc:  # noqa: BLE001
        _refusal(exc)
    return None


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # numba compiles on the first examples
    suppress_health_check=[HealthCheck.too_slow],  # every example fits six models
)
@given(frames(), st.data())
def test_random_frames_fit_serve_or_refuse_cleanly(args, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # encoding and cold-start warnings are expected here
        dataset = _build(args)
        event("Dataset built" if dataset is not None else "Dataset refused")
        if dataset is None:
            return
        for name in CLASSES:
            params = data.draw(st.sampled_from(CONFIGS.get(name, [{}])), label=name)
            model = getattr(featcf.models, name)(**params)
            fitted = _attempt(lambda model=model: model.fit(dataset)) is not None
            event(f"{name} {'fitted' if fitted else 'refused'}")
            if fitted:
                _exercise(model, dataset, args)
