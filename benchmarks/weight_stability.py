"""How far FeatureCF's learned band weights move with ``random_state`` alone.

On ``make_insurance_shop(n_customers=600, random_state=0)`` (one fixed data set), FeatureCF
(``n_neighbors=20``) is fitted with ``random_state`` 0-4; each band's weights are taken as
shares of the band's total, and the script prints the largest difference of a share between
any two states (and between states 0 and 1, what ``tests/models/feature_cf/
test_fcf_weights.py`` holds to ``WEIGHT_SHARE_TOLERANCE`` on a smaller shop); then the same
for the rows of the customers who state interests (``stated_weights_``) and of those who
state them without user features (``stated_only_weights_``).

Run ``python benchmarks/weight_stability.py`` (a few seconds per fit); ``--states`` and
``--customers`` change the set-up. Prints only: the figure is quoted in
``docs/user_guide/band_weights.md`` and ``FeatureCF.feature_weights_``'s documentation.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from featcf.datasets import make_insurance_shop
from featcf.models import FeatureCF
from featcf.models.feature_cf import WEIGHT_SHARE_TOLERANCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", default="0,1,2,3,4")
    parser.add_argument("--customers", type=int, default=600)
    args = parser.parse_args()
    states = [int(s) for s in args.states.split(",")]
    shop = make_insurance_shop(n_customers=args.customers, random_state=0)
    rows = ("band_weights_", "stated_weights_", "stated_only_weights_")
    shares: dict[str, dict[int, np.ndarray]] = {row: {} for row in rows}
    for state in states:
        model = FeatureCF(n_neighbors=20, random_state=state, show_progress=False).fit(shop)
        for row in rows:
            w = np.atleast_2d(getattr(model, row))
            shares[row][state] = w / w.sum(axis=1, keepdims=True)
    for row in rows:
        worst = max(
            (float(np.abs(shares[row][a] - shares[row][b]).max()), a, b)
            for a, b in itertools.combinations(states, 2)
        )
        print(
            f"{row}: largest share difference over random_state {states}: {worst[0]:.3f} "
            f"(states {worst[1]} and {worst[2]}; tolerance {WEIGHT_SHARE_TOLERANCE} for the bands)"
        )
    if len(states) > 1:
        a, b = states[:2]
        diff = np.abs(shares["band_weights_"][a] - shares["band_weights_"][b]).max()
        print(f"band_weights_ between states {a} and {b}: {diff:.3f}")


if __name__ == "__main__":
    main()
