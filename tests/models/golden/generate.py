"""Write the FeatureCF golden outputs that ``test_feature_cf_golden.py`` compares against.

Run from the repository root (with ``../shared/data`` beside it for the real-data cases)::

    python tests/models/golden/generate.py

The files were generated at the commit before FeatureCF became a package (issue 11) and are
kept: a restructuring must reproduce them bit for bit. Regenerate them only for a change
that is *meant* to change FeatureCF's outputs, and say so in the commit message.

Bit for bit holds for one set of floating-point kernels: OpenBLAS picks its kernels by CPU,
and another CPU's kernels round matrix products differently, which moves the learned weights
(an AMD EPYC machine, left to its own kernels, gave MovieLens band weights 0.49 apart); its
number of threads splits the sums differently too (one thread instead of two: MovieLens term
scales 2e-16 apart). The files are written, and compared, with OpenBLAS's ``SkylakeX``
kernels on two threads (:data:`BLAS_ENV`, set before numpy loads), which need a CPU with
AVX-512 (:func:`blas_pinnable`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: the OpenBLAS kernels and threads the files were written with (read when numpy loads
#: OpenBLAS; the thread count wins over ``OMP_NUM_THREADS``, which the suite may have set)
BLAS_ENV = {"OPENBLAS_CORETYPE": "SkylakeX", "OPENBLAS_NUM_THREADS": "2"}
#: the CPU flags those kernels need
BLAS_FLAGS = ("avx512f", "avx512dq", "avx512bw", "avx512vl")


def blas_pinnable() -> bool:
    """Whether this machine can run the kernels of :data:`BLAS_ENV` (a Linux x86-64 CPU
    with :data:`BLAS_FLAGS`)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    return all(flag in flags for flag in BLAS_FLAGS)


if __name__ == "__main__" and blas_pinnable():
    os.environ.update(BLAS_ENV)  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared" / "data"


def shop_dataset():
    from featcf.datasets import make_insurance_shop

    return make_insurance_shop(
        n_customers=600, n_products=24, n_new_products=2, n_new_customers=8, random_state=5
    )


def movielens_dataset(root: Path = SHARED):
    from featcf.datasets import load_movielens

    return load_movielens(root / "ml-100k")


def coil_dataset(root: Path = SHARED):
    from featcf.datasets import load_coil2000

    return load_coil2000(root / "coil2000")


CASES = {"shop": shop_dataset, "movielens": movielens_dataset, "coil": coil_dataset}


LAUNCH = "golden-launch"


def _launch_id(ds):
    """The id of the product launched after the fit, of the catalogue's kind.

    featcf refuses an id of another kind than the catalogue's (issue 13): MovieLens' integer
    catalogue gets the next integer. The files were written when it took ``LAUNCH``, which
    made the catalogue mixed and its ids text in the outputs: :func:`_frame_arrays` shows the
    ids so again, so the files stay as written.
    """
    return LAUNCH if ds.item_ids.dtype.kind not in "iu" else int(ds.item_ids.max()) + 1


def _frame_arrays(prefix: str, frame: pd.DataFrame, launch=None) -> dict[str, np.ndarray]:
    """A frame as plain arrays (ids and labels as text, numbers as they are): no pickle.

    After the launch (``launch`` given), item ids are text and the launched one is ``LAUNCH``.
    """
    out = {}
    for col in frame.columns:
        values = frame[col].to_numpy()
        if launch is not None and col == "item_id":
            values = np.asarray([LAUNCH if v == launch else str(v) for v in values], dtype=object)
        if values.dtype == object:
            values = np.asarray([str(v) for v in values])
        out[f"{prefix}/{col}"] = values
    return out


def golden_outputs(dataset) -> dict[str, np.ndarray]:
    """Every output the golden test pins, for one Dataset (the model is fitted here)."""
    from featcf import FeatureCF

    model = FeatureCF(random_state=0, show_progress=False).fit(dataset)
    out: dict[str, np.ndarray] = {
        "term_names": np.asarray(model.term_names_),
        "feature_weights": model.feature_weights_.to_numpy(),
        "band_weights": model.band_weights_,
        "cold_item_weights": model.cold_item_weights_,
        "cold_item_affine": model.cold_item_affine_,
        "term_scale": model.term_scale_,
    }
    ds = model.dataset_
    users = ds.user_ids[:: max(1, ds.n_users // 40)][:40]
    out.update(_frame_arrays("recommend", model.recommend(users, n=10)))
    # new customers: a few interactions of known customers under new ids, then features only
    user_col, item_col = ds.columns.get("user"), ds.columns.get("item")
    weight_col = ds.columns.get("weight")
    csr = ds.interactions
    rows, cols, vals = [], [], []
    for k, u in enumerate(range(0, ds.n_users, max(1, ds.n_users // 12))):
        lo, hi = csr.indptr[u], csr.indptr[u + 1]
        take = min(hi - lo, 1 + k % 4)
        for j in range(lo, lo + take):
            rows.append(f"new-{k}")
            cols.append(ds.item_ids[csr.indices[j]])
            vals.append(float(csr.data[j]))
    inter = pd.DataFrame({user_col: rows, item_col: cols})
    if weight_col is not None:
        inter[weight_col] = vals
    out.update(_frame_arrays("new_history", model.recommend_new_users(interactions=inter, n=10)))
    if ds.user_features is not None:
        feats = ds.user_frame.reset_index().iloc[:: max(1, ds.n_users // 10)].head(10).copy()
        feats[user_col] = [f"demo-{k}" for k in range(len(feats))]
        out.update(_frame_arrays("new_demo", model.recommend_new_users(user_features=feats, n=10)))
    pred_users = np.repeat(users[:5], 3)
    pred_items = np.tile(ds.item_ids[:3], 5)
    out["predict"] = model.predict(pred_users, pred_items)
    # a product launched after the fit: another product's features under a new id
    launch = ds.item_frame.reset_index().iloc[[0]].copy()
    new_id = _launch_id(ds)
    launch[launch.columns[0]] = new_id
    model.add_items(launch)
    audience_items = [*ds.item_ids[:3].tolist(), new_id]
    audience = model.recommend_users(audience_items, n=25)
    out.update(_frame_arrays("recommend_users", audience, new_id))
    after = model.recommend(users[:10], n=10)
    out.update(_frame_arrays("recommend_after_launch", after, new_id))
    for k, (u, i) in enumerate(
        [(users[0], ds.item_ids[1]), (users[1], ds.item_ids[-1]), (users[2], new_id)]
    ):
        # the four columns pinned before explanations gained a ``label`` column (issue 12)
        parts = model.explain(u, i)[["part", "field", "value", "contribution"]]
        out.update(_frame_arrays(f"explain{k}", parts))
    return out


def write_case(name: str, path: Path, root: Path = SHARED) -> None:
    """Compute one case's outputs and save them to ``path`` (npz)."""
    dataset = CASES[name]() if name == "shop" else CASES[name](root)
    np.savez_compressed(path, **golden_outputs(dataset))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--to"]:  # --to PATH CASE ROOT: one case into PATH (the golden test)
        write_case(argv[2], Path(argv[1]), Path(argv[3]))
        return
    if not blas_pinnable():
        print(f"refused: this CPU lacks {', '.join(BLAS_FLAGS)}, so the files would be written "
              f"with other kernels than {BLAS_ENV}")  # fmt: skip
        return
    names = argv or list(CASES)
    for name in names:
        if name != "shop" and not SHARED.is_dir():
            print(f"skip {name}: {SHARED} is absent")
            continue
        write_case(name, HERE / f"feature_cf_{name}.npz")
        print(f"wrote feature_cf_{name}.npz")


if __name__ == "__main__":
    main(sys.argv[1:])
