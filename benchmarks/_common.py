"""Shared helpers for the benchmark scripts in this folder.

Everything here is plain NumPy/SciPy/stdlib so that any benchmark can import it
(``from _common import ...`` when run as ``python benchmarks/<script>.py``):

- data: :func:`load_ml100k` (MovieLens 100k from ``../shared/data``) and
  :func:`synthetic_interactions` (MovieLens-shaped random data, vectorised, deterministic);
  :func:`save_csr` / :func:`load_csr` to hand a matrix to a child process cheaply;
- timing: :func:`time_calls` (warm-up call(s), then the median of repeats);
- memory: :class:`PeakRSS` measures the peak resident-set-size increase of the current
  process around a block (``/proc/self/clear_refs`` resets the high-water mark, so the
  figure includes numba/C/BLAS allocations, which ``tracemalloc`` does not see);
  :func:`run_in_child` runs a function in a fresh ``spawn`` process so that each tool's
  peak is measured on its own;
- reporting: :func:`machine_info` and :func:`markdown_table`.
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
ML100K_PATH = SHARED_DATA / "ml-100k" / "u.data"

# MovieLens-like rating distribution (1..5 stars) used when values="ratings".
_RATING_PROBS = np.array([0.06, 0.11, 0.27, 0.35, 0.21])


# --------------------------------------------------------------------------- data


def load_ml100k(values: str = "binary", path: Path | None = None) -> sp.csr_matrix | None:
    """Return MovieLens 100k as a users x items CSR matrix (float32), or ``None`` if absent.

    Parameters
    ----------
    values : {"binary", "ratings"}
        ``"binary"``: every observed (user, item) pair is 1.0 (implicit feedback);
        ``"ratings"``: the 1..5 star rating.
    path : Path, optional
        ``u.data`` file; defaults to ``../shared/data/ml-100k/u.data`` next to the repo.
    """
    _check_values(values)
    path = ML100K_PATH if path is None else Path(path)
    if not path.is_file():
        return None
    raw = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2))
    users, items, ratings = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]
    data = np.ones(len(users), np.float32) if values == "binary" else ratings.astype(np.float32)
    X = sp.csr_matrix((data, (users, items)), shape=(users.max() + 1, items.max() + 1))
    X.sum_duplicates()
    X.sort_indices()
    return X


def synthetic_interactions(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    random_state: int = 0,
    zipf_exponent: float = 1.0,
    zipf_offset: float = 50.0,
    activity_sigma: float = 1.2,
    min_per_user: int = 20,
    max_rounds: int = 8,
    values: str = "binary",
) -> sp.csr_matrix:
    """Random MovieLens-shaped users x items interactions (CSR, float32, sorted indices).

    Item popularity follows a Zipf-Mandelbrot law ``p(rank) ~ (rank + zipf_offset) **
    -zipf_exponent`` (ranks shuffled over item ids); user activity is lognormal with
    ``activity_sigma`` (the shape of MovieLens 20M: median ~70, mean ~145 ratings a user),
    rescaled to ``n_interactions`` and clipped to ``[min_per_user, n_items // 3]``.
    Each user's items are drawn without replacement by repeated vectorised top-up rounds,
    so the result may hold slightly fewer than ``n_interactions`` pairs when the heaviest
    users saturate. Deterministic for a given ``random_state``; a 20M matrix takes seconds.

    Parameters
    ----------
    values : {"binary", "ratings"}
        1.0 for every pair, or 1..5 stars drawn from a MovieLens-like distribution.
    """
    _check_values(values)
    if min(n_users, n_items, n_interactions) < 1:
        raise ValueError("n_users, n_items and n_interactions must be positive")
    if n_interactions > n_users * n_items // 3:
        raise ValueError("n_interactions too large for n_users x n_items (max a third dense)")
    rng = np.random.default_rng(random_state)
    rank_to_item = rng.permutation(n_items).astype(np.int64)

    # Per-user target counts: lognormal, rescaled to the requested total, clipped.
    lo, hi = min(min_per_user, max(1, n_items // 10)), max(1, n_items // 3)
    target = rng.lognormal(0.0, activity_sigma, n_users)
    for _ in range(5):  # rescale after clipping so the total stays on n_interactions
        target = np.clip(target * (n_interactions / target.sum()), lo, hi)
    counts = np.floor(target).astype(np.int64)
    short = n_interactions - counts.sum()
    if short > 0:  # hand out the rounding remainder to the largest fractional parts
        room = np.flatnonzero(counts < hi)
        frac = (target - counts)[room]
        counts[room[np.argsort(-frac, kind="stable")[:short]]] += 1
    elif short < 0:  # clipping at the minimum overshot: take one from the heaviest users
        room = np.flatnonzero(counts > lo)
        counts[room[np.argsort(-counts[room], kind="stable")[:-short]]] -= 1

    keys = np.empty(0, np.int64)  # sorted unique user * n_items + item
    need = counts
    for _ in range(max_rounds):
        users = np.repeat(np.arange(n_users, dtype=np.int64), need)
        items = rank_to_item[_zipf_ranks(rng, users.size, n_items, zipf_exponent, zipf_offset)]
        new = users * n_items + items
        new.sort()
        new = new[np.r_[True, new[1:] != new[:-1]]]
        if keys.size:
            pos = np.searchsorted(keys, new)
            present = keys[np.minimum(pos, keys.size - 1)] == new
            new, pos = new[~present], pos[~present]
            keys = np.insert(keys, pos, new)
        else:
            keys = new
        need = counts - np.bincount(keys // n_items, minlength=n_users)
        if not need.any():
            break

    row_counts = np.bincount(keys // n_items, minlength=n_users)
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(row_counts, out=indptr[1:])
    indices = (keys % n_items).astype(np.int32)
    if values == "binary":
        data = np.ones(keys.size, np.float32)
    else:
        data = (rng.choice(5, size=keys.size, p=_RATING_PROBS) + 1).astype(np.float32)
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    return sp.csr_matrix((data, indices, indptr), shape=(n_users, n_items))


def _zipf_ranks(
    rng: np.random.Generator, size: int, n: int, exponent: float, offset: float
) -> np.ndarray:
    """Ranks in ``[0, n)`` with ``P(rank) ~ (rank + 1 + offset) ** -exponent`` (inverse CDF).

    Uses the continuous Zipf-Mandelbrot law on ``[1, n + 1)`` floored to integers, which
    is closed form and much faster than a ``searchsorted`` over a discrete CDF.
    """
    u = rng.random(size)
    a, lo, hi = exponent, 1.0 + offset, n + 1.0 + offset
    if abs(a - 1.0) < 1e-12:
        x = lo * (hi / lo) ** u
    else:
        e = 1.0 - a
        x = (lo**e + u * (hi**e - lo**e)) ** (1.0 / e)
    return np.clip((x - offset).astype(np.int64) - 1, 0, n - 1)


def _check_values(values: str) -> None:
    if values not in ("binary", "ratings"):
        raise ValueError(f"values must be 'binary' or 'ratings'; got {values!r}")


def save_csr(path: Path, X: sp.csr_matrix) -> Path:
    """Write ``X`` as an uncompressed ``.npz`` (fast to load, no temporary copies)."""
    path = Path(path)
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape))
    return path


def load_csr(path: Path) -> sp.csr_matrix:
    """Read a matrix written by :func:`save_csr`."""
    with np.load(path) as f:
        return sp.csr_matrix(
            (f["data"], f["indices"], f["indptr"]), shape=tuple(int(s) for s in f["shape"])
        )


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Wall-clock seconds of the warm-up call(s) and of the timed repeats."""

    warmup: list[float] = field(default_factory=list)
    repeats: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.repeats)


def time_calls(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1) -> Timing:
    """Call ``fn`` ``warmup`` times, then ``repeats`` times, timing each call.

    The result of each call is dropped before the next call starts, so the calls do not
    hold each other's memory.
    """
    timing = Timing()
    for bucket, n in ((timing.warmup, warmup), (timing.repeats, repeats)):
        for _ in range(n):
            t0 = time.perf_counter()
            result = fn()
            bucket.append(time.perf_counter() - t0)
            del result
    return timing


# --------------------------------------------------------------------------- memory


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    """Current resident set size of this process in MB (0 if unknown)."""
    kib = _status_kib("VmRSS")
    return (kib or 0) / 1024.0


def peak_rss_mb() -> float:
    """High-water resident set size of this process in MB."""
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux /proc: fall back to getrusage (KiB on Linux, bytes on macOS)
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            kib //= 1024
    return kib / 1024.0


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to the current RSS (Linux >= 4.0).

    Returns False when the kernel does not allow it; the peak then still includes
    whatever happened earlier in the process.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Context manager: peak RSS increase (MB) of this process over the ``with`` block.

    ``increase_mb`` is ``peak RSS during the block - RSS at entry``. Call it in a fresh
    child process (see :func:`run_in_child`) after loading the data and warming up the
    code under test, so that neither counts. ``exact`` is False when the high-water mark
    could not be reset (then earlier peaks in the process may dominate).
    """

    def __enter__(self) -> PeakRSS:
        self.exact = reset_peak_rss()
        self.start_mb = current_rss_mb() if self.exact else peak_rss_mb()
        self.increase_mb = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.increase_mb = max(0.0, peak_rss_mb() - self.start_mb)


def _child_entry(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # report any failure to the parent instead of hanging
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_in_child(
    fn: Callable[..., Any],
    *args: Any,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a fresh ``spawn`` process and return its result.

    ``fn`` must be importable (a module-level function) and its result picklable. A
    failure in the child is raised here as ``RuntimeError`` with the child's traceback.
    ``env`` entries are set in this process's environment while the child starts (the
    child inherits them) and restored afterwards, e.g. ``{"NUMBA_CACHE_DIR": tmp}``.
    """
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        proc = ctx.Process(target=_child_entry, args=(send, fn, args, kwargs))
        proc.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    send.close()
    try:
        if not recv.poll(timeout):
            proc.kill()
            raise TimeoutError(f"{getattr(fn, '__name__', fn)} did not finish in {timeout} s")
        status, payload = recv.recv()
    except EOFError:
        status, payload = "error", "child process died without a result (out of memory?)"
    finally:
        proc.join()
        recv.close()
    if status != "ok":
        raise RuntimeError(f"child failed: {payload}")
    return payload


# --------------------------------------------------------------------------- reporting


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info(packages: Sequence[str] = ("numpy", "scipy", "numba")) -> dict[str, str]:
    """Machine facts for a results file: CPU, cores, memory, Python, package versions."""
    info = {
        "CPU": cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "usable cores (sched_getaffinity)": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
        ),
    }
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages * page / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    info["OS"] = f"{platform.system()} {platform.release()}"
    info["Python"] = platform.python_version()
    for name in packages:
        info[name] = package_version(name)
    return info


def command_line() -> str:
    """The command that started this process, as one would type it."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(REPO_ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def results_header(
    title: str, packages: Sequence[str], load_before: tuple[float, ...]
) -> list[str]:
    """The opening lines of a results file: title, command, machine and load average.

    ``load_before`` is :func:`os.getloadavg` taken when the run started; the load at the
    end is read here.
    """
    info = machine_info(packages)
    load_after = os.getloadavg()
    info["load average (1 min) before / after"] = f"{load_before[0]:.2f} / {load_after[0]:.2f}"
    return [
        f"# {title}",
        "",
        f"Command: `{command_line()}`",
        "",
        "Machine:",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
    ]


def write_results(path: Path, lines: Sequence[str]) -> None:
    """Write a results file (creating its folder) and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table with columns padded for plain-text reading."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])
