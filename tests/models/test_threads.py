"""Query methods are safe from several threads at once (issue 13).

Four threads call ``recommend``, ``recommend_new_users``, ``recommend_users``, ``predict``,
``explain``, ``similar_items`` and ``similar_users`` at the same moment on a freshly loaded
model of every class (no query has run on it yet, so nothing can have been filled in by an
earlier call) and must get exactly what serial calls on another copy of the file give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import featcf
from estimators import CLASSES, quick
from featcf.models import BaseRecommender, UnsupportedProtocolError

N_THREADS = 4


def _queries(model: BaseRecommender, shop) -> dict:
    """Every query method once; the results (or the refusal's type) by query."""
    users = shop.user_ids[shop.user_counts() > 0][:20]
    items = shop.item_ids[:4]
    cols = shop.columns
    history = pd.DataFrame(
        {cols["user"]: ["guest-1", "guest-1", "guest-2"], cols["item"]: shop.item_ids[[0, 1, 2]]}
    )
    if cols.get("weight"):
        history[cols["weight"]] = 1.0
    calls = {
        "recommend": lambda: model.recommend(users, n=5),
        # issue 16: business rules are parsed per query and read the model only
        "recommend_rules": lambda: model.recommend(
            users,
            n=5,
            where=np.arange(shop.n_items) % 2 == 0,
            exclude_owned_fields=list(shop.item_fields)[:1] or None,
        ),
        "recommend_new_users": lambda: model.recommend_new_users(history, n=5),
        "recommend_users": lambda: model.recommend_users(items, n=10),
        "predict": lambda: model.predict(users[:4], items),
        "explain": lambda: model.explain(users[0], items[1]),
        "similar_items": lambda: model.similar_items(items, n=5),
        "similar_users": lambda: model.similar_users(users[:5], n=5),
    }
    out = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except UnsupportedProtocolError as exc:
            out[name] = type(exc)
    return out


def _same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def _at_once(query: Callable[[], Any]) -> list[Any]:
    """``query()`` from :data:`N_THREADS` threads started together: results (or errors)."""
    start = threading.Barrier(N_THREADS)
    results: list[Any] = [None] * N_THREADS

    def work(k: int) -> None:
        try:
            start.wait()
            results[k] = query()
        except BaseException as exc:  # reported by the caller
            results[k] = exc

    threads = [threading.Thread(target=work, args=(k,)) for k in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
    return results


@pytest.mark.parametrize("name", CLASSES)
def test_concurrent_queries_on_a_freshly_loaded_model_equal_serial_ones(name, shop, tmp_path):
    path = tmp_path / "model.npz"
    quick(name).fit(shop).save(path)
    serial = _queries(featcf.load(path), shop)
    fresh = featcf.load(path)
    for result in _at_once(lambda: _queries(fresh, shop)):
        assert result.keys() == serial.keys()
        for query, value in result.items():
            _same(value, serial[query])


@pytest.mark.parametrize("name", ["ContentKNN", "FeatureCF"])
def test_concurrent_queries_right_after_add_items(name, shop):
    # the catalogue grows: the first queries after add_items run concurrently too
    new = shop.item_frame.reset_index().iloc[:2].copy()
    new[shop.columns["item"]] = ["P-NEW-1", "P-NEW-2"]
    users = shop.user_ids[shop.user_counts() > 0][:20]

    def queries(model: BaseRecommender) -> tuple[pd.DataFrame, pd.DataFrame]:
        return model.recommend(users, n=5), model.recommend_users(["P-NEW-1", "P-NEW-2"], n=10)

    serial = queries(quick(name).fit(shop).add_items(new))
    fresh = quick(name).fit(shop).add_items(new)
    for result in _at_once(lambda: queries(fresh)):
        for got, want in zip(result, serial, strict=True):
            pd.testing.assert_frame_equal(got, want)


WORKQUEUE_SCRIPT = """
import threading
from collections.abc import Callable
from typing import Any
import featcf
from featcf.datasets import make_insurance_shop

shop = make_insurance_shop(n_customers=150, random_state=0)
model = featcf.ItemKNN().fit(shop)
users = shop.user_ids[shop.user_counts() > 0]
serial = model.recommend(users, n=5)
start = threading.Barrier(4)
same = []

def work():
    start.wait()
    same.extend(model.recommend(users, n=5).equals(serial) for _ in range(20))

threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
import numba
print(numba.threading_layer(), len(same), all(same))
"""


def test_concurrent_queries_on_numbas_workqueue_layer():
    # numba's fallback threading layer aborts the process on concurrent parallel launches
    # ("Concurrent access has been detected"): featcf takes turns on that layer
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    src = str(Path(featcf.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", WORKQUEUE_SCRIPT], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["workqueue", "80", "True"]
