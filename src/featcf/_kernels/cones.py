"""Exact dense cosine top-k that skips whole groups ("cones") of reference rows (numba).

The reference rows are grouped by direction (the caller clusters their unit vectors): group
``c`` holds rows ``ptr[c]:ptr[c+1]`` of ``b`` (reordered, ``b_orig`` maps them back), has a
unit centre and an angular radius ``theta_c`` (every member within ``theta_c`` of the
centre; ``cos_rad``/``sin_rad`` hold its cosine and sine). For a query at angle ``alpha``
from the centre, no member is closer than ``alpha - theta_c`` (triangle inequality on the
sphere), so no member's cosine exceeds ``bound = cos(max(0, alpha - theta_c))``. Groups are
visited by decreasing bound; once the query's heap is full and a group's bound (plus
``margin``, which covers rounding) is below the worst kept score, that group and all later
ones are skipped. Inside a visited group the members are sorted by their angle ``beta`` from
the centre, and a member is no closer to the query than ``|alpha - beta|``: only the members
with ``beta`` within ``phi`` of ``alpha`` (``cos(phi)`` = the worst kept score, less
``margin``) can enter, and they form one run found by binary search.

Every visited pair is scored exactly as :func:`featcf._kernels.similarity.dense_topk` scores
it (the dot product summed over c = 0..d-1 in order, the same division, float32 rounding and
heap), and a skipped pair could not have entered the heap; the heap keeps the top-k under
the total order (score, then lower index) whatever order the candidates come in. So the
output is bit for bit that of ``dense_topk`` in ``MODE_COSINE``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from featcf._kernels.similarity import MODE_COSINE, _below_dense, _offer_dense
from featcf._kernels.topk import heap_sorted, topk_outputs

#: radians added to the half-width of a group's run, above the rounding of the angles
#: (``arccos`` near 1 turns an error of 1e-16 into about 1.5e-8)
ANGLE_SLACK = 1e-6


@njit(cache=True, parallel=True)
def cone_topk(
    a, norm_a, b, norm_b, b_orig, beta, ptr, centres, cos_rad, sin_rad, k, exclude_self,
    margin, n_chunks,
):  # fmt: skip
    """Top-k of every row of ``a`` among the grouped rows of ``b`` (see the module).

    ``exclude_self`` skips ``b_orig[j] == i``. Output as
    :func:`featcf._kernels.similarity.dense_topk` (indices are original rows of ``b``).
    Rows go in ``n_chunks`` strided chunks to :func:`cone_topk_chunk`, in parallel.
    """
    out_i, out_s, out_n = topk_outputs(a.shape[0], k)
    for chunk in prange(n_chunks):
        cone_topk_chunk(
            a, norm_a, b, norm_b, b_orig, beta, ptr, centres, cos_rad, sin_rad, k,
            exclude_self, margin, out_i, out_s, out_n, np.int64(chunk), n_chunks,
        )  # fmt: skip
    return out_i, out_s, out_n


@njit(cache=True)
def cone_topk_chunk(
    a, norm_a, b, norm_b, b_orig, beta, ptr, centres, cos_rad, sin_rad, k, exclude_self,
    margin, out_i, out_s, out_n, chunk, n_chunks,
):  # fmt: skip
    """Rows ``chunk, chunk + n_chunks, ...`` of :func:`cone_topk` into ``out_*``."""
    n_a, d = a.shape
    n_c = centres.shape[0]
    heap_s = np.empty(k, np.float32)
    heap_i = np.empty(k, np.int32)
    bound = np.empty(n_c, np.float64)
    cos_q = np.empty(n_c, np.float64)
    for i in range(chunk, n_a, n_chunks):
        na = norm_a[i]
        if na == 0.0:  # a zero row has no cosine neighbours
            continue
        for c in range(n_c):
            ca = 0.0
            for t in range(d):
                ca += a[i, t] * centres[c, t]
            ca /= na
            cos_q[c] = ca
            if ca >= cos_rad[c]:
                bound[c] = 1.0
            else:
                ca = max(ca, -1.0)
                bound[c] = ca * cos_rad[c] + np.sqrt(max(0.0, 1.0 - ca * ca)) * sin_rad[c]
        size = 0
        thr = -np.inf
        for _ in range(n_c):
            c = 0  # the unvisited group with the highest bound (visited ones hold -2)
            for cc in range(1, n_c):
                if bound[cc] > bound[c]:
                    c = cc
            top = bound[c]
            bound[c] = -2.0
            lo, hi = ptr[c], ptr[c + 1]
            if size == k:
                worst = heap_s[0] - margin
                if top < worst:
                    break  # this group and every later one (lower bounds) cannot enter
                if worst > -1.0:  # only members with |alpha - beta| <= phi can enter
                    alpha = np.arccos(min(1.0, max(-1.0, cos_q[c])))
                    phi = np.arccos(min(1.0, worst)) + ANGLE_SLACK
                    lo = lo + np.searchsorted(beta[lo:hi], alpha - phi)
                    hi = lo + np.searchsorted(beta[lo:hi], alpha + phi, side="right")
            for j in range(lo, hi):
                jo = b_orig[j]
                if exclude_self and jo == i:
                    continue
                dot = 0.0
                for t in range(d):
                    dot += a[i, t] * b[j, t]
                nb = norm_b[j]
                if _below_dense(dot, na, nb, MODE_COSINE, thr):
                    continue
                size, thr = _offer_dense(dot, na, nb, MODE_COSINE, jo, k, heap_s, heap_i, size, thr)
        heap_sorted(heap_s, heap_i, size, out_s[i], out_i[i])
        out_n[i] = size
