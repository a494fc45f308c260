"""Write ``fcf_603d5ce.npz`` (a FeatureCF model file) and what it must give when loaded.

Run once with featcf at commit 603d5ce (before FeatureCF became a package with a typed state)
on the path, from the repository root::

    git archive 603d5ce src | tar -x -C /tmp/featcf-603d5ce
    PYTHONPATH=/tmp/featcf-603d5ce/src python tests/models/feature_cf/data/make_old_model.py

``test_fcf_state.py`` loads the file with the current featcf and compares. Do not regenerate
it with a later featcf: it stands for the files users saved before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    from featcf import FeatureCF
    from featcf.datasets import make_insurance_shop

    shop = make_insurance_shop(
        n_customers=120, n_products=12, n_new_products=2, n_new_customers=4, seed=1
    )
    model = FeatureCF(n_neighbors=10, random_state=0, show_progress=False).fit(shop)
    launch = shop.item_frame.reset_index().iloc[[2]].copy()
    launch[launch.columns[0]] = "launch-1"
    model.add_items(launch)
    model.save(HERE / "fcf_603d5ce.npz")
    ds = model.dataset_
    users = ds.user_ids[::12][:10]
    recs = model.recommend(users, n=5)
    expected = {
        "scores": model.score_users(np.arange(ds.n_users)),
        "users": np.asarray(users).astype(str),
        "rec_items": recs["item_id"].to_numpy().astype(str),
        "rec_scores": recs["score"].to_numpy(),
        "new_scores": model.score_new_users(ds.interactions[:3], ds.user_features.matrix[:3]),
        "explain": model.explain(users[0], "launch-1")["contribution"].to_numpy(),
    }
    assert isinstance(expected["scores"], np.ndarray) and not pd.isna(expected["scores"]).any()
    np.savez_compressed(HERE / "fcf_603d5ce_expected.npz", **expected)


if __name__ == "__main__":
    main()
