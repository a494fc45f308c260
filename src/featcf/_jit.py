"""First use of the numba kernels: one line when they are about to compile.

featcf's kernels compile on first use and numba caches them on disk, so only the first run
after an install (or after the cache was cleared) waits for the compiler. The faces that
call kernels (:mod:`featcf.similarity`, :mod:`featcf._products`, :mod:`featcf.metrics`) call
:func:`notice_if_cold` first; when numba's cache folder for the kernels holds no index file
yet, it logs :data:`COMPILE_NOTICE` as a warning of the ``"featcf"`` logger. With logging
not configured, Python prints that warning as the bare line on stderr. Silence it with
``logging.getLogger("featcf").setLevel(logging.ERROR)`` (or any logging configuration that
drops it).

Nothing is remembered in featcf: the cache folder itself says whether kernels were compiled
before. The first kernel that compiles writes its index file, so a process says the line at
most once, and a process that finds the cache filled says nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["COMPILE_NOTICE", "COMPILE_SECONDS", "notice_if_cold"]

#: compile time of the kernels a first ``featcf demo`` uses (a FeatureCF fit, recommendations
#: and an evaluation): 8.0 s of CPU, median of 3 cold runs on a 2-core machine (the first run
#: took 6.6 s of CPU more than the second); see benchmarks/results/compile_times.md
COMPILE_SECONDS = 8
COMPILE_NOTICE = (
    f"featcf: compiling kernels on first use, about {COMPILE_SECONDS} s; later runs start at once"
)


def notice_if_cold(*kernels: Any) -> None:
    """Log :data:`COMPILE_NOTICE` when no featcf kernel has been compiled into the cache yet.

    ``kernels`` are the numba dispatchers the caller is about to run. When any of them has
    been compiled or loaded in this process the cache is warm and nothing else is checked
    (an attribute read: cheap on hot paths); otherwise the cache folder is listed once.
    """
    if any(getattr(kernel, "signatures", True) for kernel in kernels):
        return  # ran in this process already (or the JIT is disabled: plain functions)
    if not _cache_holds_kernels(kernels[0]):
        logging.getLogger("featcf").warning(COMPILE_NOTICE)


def _cache_holds_kernels(kernel: Any) -> bool:
    """Whether numba's cache folder of ``kernel`` (shared by all of featcf's kernel modules)
    holds an index file, i.e. whether any kernel was compiled there before."""
    try:
        folder = kernel._cache._cache_path  # numba's FunctionCache: where it reads and writes
    except AttributeError:  # caching off or another numba layout: say nothing
        return True
    try:
        return any(name.endswith(".nbi") for name in os.listdir(folder))
    except OSError:  # no folder yet: nothing was ever compiled there
        return False
