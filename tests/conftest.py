"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ../shared/data beside the repository (never copied into it)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests using it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shop():
    """A small synthetic insurance shop with cold products and cold (demographics-only) users."""
    from featcf.datasets import make_insurance_shop

    return make_insurance_shop(
        n_customers=150, n_products=16, n_new_products=2, n_new_customers=6, random_state=3
    )
