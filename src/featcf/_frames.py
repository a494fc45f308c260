"""Checks of the pandas DataFrames given at the public boundary.

Each check raises an error whose message names the argument, says what was expected and
shows what arrived (as :mod:`featcf._validation` does for other arguments; pandas is kept
out of that module, which the kernels' Python faces import).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["require_columns", "require_frame"]


def require_frame(frame: Any, argument: str) -> pd.DataFrame:
    """``frame`` if it is a pandas DataFrame, else a TypeError naming ``argument``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{argument} must be a pandas DataFrame, got {type(frame).__name__}")
    return frame


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str | None], argument: str, why: str = ""
) -> None:
    """A ValueError naming ``argument``, the ``columns`` (None: not wanted) ``frame`` lacks,
    ``why`` they are wanted and the columns it has."""
    wanted = [c for c in columns if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument} is missing column(s) {missing}{why}; it has {list(frame.columns)}"
        )
