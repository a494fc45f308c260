"""Thread settings for the numba kernels, in one place.

``n_threads`` everywhere in featcf means numba's thread count for one call (None: all of
numba's threads). :func:`numba_threads` sets it for a block and restores the previous value
afterwards (numba's setting is per calling thread, so concurrent callers do not disturb each
other); tiny problems run on one thread, where waking the pool costs more than the work.

Several Python threads may call featcf's parallel kernels at once on numba's ``tbb`` and
``omp`` threading layers. The ``workqueue`` layer (numba's fallback when neither is
installed, e.g. on macOS without libomp) aborts the process on concurrent launches, so there
:func:`numba_threads` runs the blocks of concurrent callers one after another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from featcf._validation import check_positive_int

__all__ = [
    "CHUNKS_PER_THREAD",
    "SMALL_WORK",
    "check_n_threads",
    "n_chunks",
    "numba_threads",
    "parallel_launch",
]

#: work chunks handed to each thread (load balance of the parallel kernels)
CHUNKS_PER_THREAD = 16
#: problems with fewer elementary steps than this run single-threaded
SMALL_WORK = 50_000


def check_n_threads(n_threads: Any) -> int | None:
    """``n_threads`` as None or a positive int no larger than ``NUMBA_NUM_THREADS``."""
    import numba  # heavy: kept out of ``import featcf``

    n_threads = check_positive_int(n_threads, "n_threads", allow_none=True)
    limit = numba.config.NUMBA_NUM_THREADS
    if n_threads is not None and n_threads > limit:
        raise ValueError(
            f"n_threads must be at most numba's NUMBA_NUM_THREADS={limit}, got {n_threads}"
        )
    return n_threads


#: one parallel kernel launch at a time on numba's ``workqueue`` layer, which is not thread-safe
#: (a lock, not a setting: the only module-level object, taken on that layer only)
_WORKQUEUE_LAUNCH = threading.RLock()


def _launches_are_thread_safe() -> bool:
    """Whether concurrent parallel launches are safe (numba's ``tbb`` or ``omp`` layer)."""
    import numba  # heavy: kept out of ``import featcf``

    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet: the layer is still to be chosen
        return False


@contextlib.contextmanager
def parallel_launch() -> Iterator[None]:
    """Hold while parallel kernels run: concurrent callers take turns on ``workqueue`` only."""
    if _launches_are_thread_safe():
        yield
        return
    with _WORKQUEUE_LAUNCH:
        yield


@contextlib.contextmanager
def numba_threads(n_threads: int | None, work: float = np.inf) -> Iterator[int]:
    """Set numba's thread count for the block (None: all threads); restore it afterwards.

    Tiny problems (``work`` below :data:`SMALL_WORK` elementary steps) run on one thread:
    waking the thread pool costs more than the work (results never depend on the thread
    count). On numba's ``workqueue`` threading layer, blocks of concurrent callers run one at
    a time (that layer aborts on concurrent launches).
    """
    import numba  # heavy: kept out of ``import featcf``

    previous = numba.get_num_threads()
    wanted = numba.config.NUMBA_NUM_THREADS if n_threads is None else n_threads
    if work < SMALL_WORK:
        wanted = 1
    with parallel_launch():
        numba.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            numba.set_num_threads(previous)


def n_chunks(n_rows: int, n_threads: int) -> int:
    """Number of work chunks for ``n_rows`` rows on ``n_threads`` threads."""
    return max(1, min(n_rows, CHUNKS_PER_THREAD * n_threads))
