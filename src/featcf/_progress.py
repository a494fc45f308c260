"""Whether a model's progress bar is drawn: ``show_progress`` True, False or None (auto)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["Stages", "resolve_show_progress"]


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel, where ``tqdm.auto`` draws a notebook widget.

    The test ``tqdm.autonotebook`` makes: IPython is imported and runs an ``IPKernelApp``.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def resolve_show_progress(value: Any, name: str = "show_progress") -> bool:
    """``value`` as a bool, resolving None (auto) for the output the bar would go to.

    None draws the bar when ``sys.stderr`` (where tqdm writes) is a terminal or inside a
    Jupyter notebook, and not in logs, pipes or CI output, where a bar becomes one long line
    of ``\\r`` updates (tqdm's ``disable=None`` rule, plus notebooks). True always draws it,
    False never does.

    Raises
    ------
    TypeError
        If ``value`` is not True, False or None; the message names ``name``.
    """
    if value is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(callable(isatty) and isatty()) or _in_jupyter()
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be True, False or None (auto: a bar in a terminal or a notebook, "
            f"none in logs), got {value!r} ({type(value).__name__})"
        )
    return bool(value)


class Stages:
    """Names the stage a progress bar is in; each new stage completes the one before."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.started = False

    def __call__(self, label: str) -> None:
        if self.started:
            self.bar.update()
        self.started = True
        self.bar.set_postfix_str(label)

    def done(self) -> None:
        self.bar.update()
