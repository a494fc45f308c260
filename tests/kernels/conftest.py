"""Fixtures for the kernel tests (strategies and references live in ``simref.py``)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fixed-seed generator for the non-hypothesis tests."""
    return np.random.default_rng(12345)
