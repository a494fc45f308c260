"""Hypothesis strategies and dense brute-force references for the similarity kernels (helpers).

The references are deliberately naive (explicit loops over pairs on dense float64 arrays) so
that they can be read against the formulas in :mod:`featcf.similarity`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

#: values that keep float64 sums exact enough for tie checks (multiples of 0.5)
POSITIVE_VALUES = (0.5, 1.0, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0)
SIGNED_VALUES = POSITIVE_VALUES + (-1.0, -2.0, -0.5)
WEIGHT_VALUES = (0.0, 0.5, 1.0, 1.0, 2.0, 3.0)

#: reference scores with |s| below this are "zero up to rounding": the kernel may drop them
ZERO_TOL = 1e-7
SCORE_TOL = 2e-5


@st.composite
def sparse_matrices(draw, max_rows=8, max_cols=7, n_cols=None, signed=False, binary=False):
    """Small CSR matrices with empty rows, duplicate rows (ties) and repeated values."""
    n_rows = draw(st.integers(0, max_rows))
    n_cols = draw(st.integers(1, max_cols)) if n_cols is None else n_cols
    values = (1.0,) if binary else (SIGNED_VALUES if signed else POSITIVE_VALUES)
    density = draw(st.sampled_from((0.2, 0.5, 0.8)))
    rows = []
    for _ in range(n_rows):
        if rows and draw(st.integers(0, 4)) == 0:
            rows.append(rows[draw(st.integers(0, len(rows) - 1))].copy())  # duplicate row
            continue
        mask = draw(st.lists(st.booleans(), min_size=n_cols, max_size=n_cols))
        vals = draw(st.lists(st.sampled_from(values), min_size=n_cols, max_size=n_cols))
        row = np.where(np.array(mask) & (draw(st.floats(0, 1)) < density + 0.3), vals, 0.0)
        rows.append(row.astype(np.float64))
    dense = np.array(rows, dtype=np.float64).reshape(n_rows, n_cols)
    return sp.csr_matrix(dense)


def column_weights(n_cols):
    """Strategy: None or a non-negative weight per column (zeros included)."""
    return st.one_of(
        st.none(),
        st.lists(st.sampled_from(WEIGHT_VALUES), min_size=n_cols, max_size=n_cols).map(
            lambda w: np.array(w, dtype=np.float64)
        ),
    )


# --------------------------------------------------------------------------- references


def _bm25(X, K1=100.0, B=0.8, stats=None):
    """Entry weights of implicit's bm25_weight; ``stats`` = the reference (N, df, mean length)."""
    X = np.asarray(X, dtype=np.float64)
    N, df, mean_len = stats
    idf = np.log(N) - np.log1p(df)
    length = (1.0 - B) + B * X.sum(axis=1) / (mean_len if mean_len > 0 else 1.0)
    out = np.zeros_like(X)
    nz = X != 0
    rows, cols = np.nonzero(nz)
    out[rows, cols] = X[rows, cols] * (K1 + 1.0) / (K1 * length[rows] + X[rows, cols]) * idf[cols]
    return out


def _tfidf(X, stats):
    N, df, _ = stats
    idf = np.log(N) - np.log1p(df)
    out = np.zeros_like(X)
    rows, cols = np.nonzero(X)
    out[rows, cols] = np.sqrt(X[rows, cols]) * idf[cols]
    return out


def _stats(Bd):
    n = max(Bd.shape[0], 1)
    df = (Bd != 0).sum(axis=0).astype(np.float64)
    mean_len = Bd.sum(axis=1).mean() if Bd.shape[0] else 0.0
    return n, df, mean_len


def reference_scores(A, B, metric, weights=None, shrink=0.0, min_support=1, exclude_self=False):
    """Dense (n_a, n_b) float64 scores; NaN where (i, j) is not an admissible pair.

    Admissible: n_common >= max(min_support, 1), a defined score, j != i when exclude_self.
    """
    Ad = A.toarray().astype(np.float64)
    Bd = B.toarray().astype(np.float64)
    w = np.ones(Ad.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    active = w > 0
    Ad = Ad * active
    Bd = Bd * active
    if metric in ("bm25", "tfidf"):
        stats = _stats(Bd)
        fn = _bm25 if metric == "bm25" else _tfidf
        Ad, Bd = fn(Ad, stats=stats), fn(Bd, stats=stats)
    PA, PB = A.toarray() != 0, B.toarray() != 0
    PA &= active
    PB &= active
    if metric == "adjusted_cosine":
        for M, P in ((Ad, PA), (Bd, PB)):
            for i in range(M.shape[0]):
                sw = w[P[i]].sum()
                raw = (w * M[i] ** 2).sum()
                if sw > 0:
                    M[i, P[i]] -= (w[P[i]] * M[i, P[i]]).sum() / sw
                if (w * M[i] ** 2).sum() <= 1e-12 * raw:
                    M[i] = 0.0  # constant row: centred to (rounding noise around) zero
    S = np.full((Ad.shape[0], Bd.shape[0]), np.nan)
    for i in range(Ad.shape[0]):
        for j in range(Bd.shape[0]):
            if exclude_self and i == j:
                continue
            C = PA[i] & PB[j]
            n_common = int(C.sum())
            if n_common < max(min_support, 1):
                continue
            x, y = Ad[i], Bd[j]
            if metric == "dot":
                s = (w * x * y).sum()
            elif metric in ("cosine", "adjusted_cosine", "bm25", "tfidf"):
                den = np.sqrt((w * x * x).sum() * (w * y * y).sum())
                if den == 0:
                    continue
                s = (w * x * y).sum() / den
            elif metric == "jaccard":
                s = w[C].sum() / w[PA[i] | PB[j]].sum()
            elif metric == "pearson":
                wc, xc, yc = w[C], x[C], y[C]
                mx, my = (wc * xc).sum() / wc.sum(), (wc * yc).sum() / wc.sum()
                vx, vy = (wc * (xc - mx) ** 2).sum(), (wc * (yc - my) ** 2).sum()
                if vx <= 1e-9 * (wc * xc * xc).sum() or vy <= 1e-9 * (wc * yc * yc).sum():
                    continue
                s = (wc * (xc - mx) * (yc - my)).sum() / np.sqrt(vx * vy)
            else:
                raise AssertionError(metric)
            if shrink > 0:
                s *= n_common / (n_common + shrink)
            S[i, j] = s
    return S


def dense_reference_scores(A, B, metric, weights=None, exclude_self=False):
    """Dense (n_a, n_b) reference for the dense-row functions; NaN where no pair."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    w = np.ones(A.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if metric == "pearson":
        tot = w.sum()
        raw_a, raw_b = (w * A**2).sum(axis=1), (w * B**2).sum(axis=1)
        A = A - ((A * w).sum(axis=1) / tot)[:, None] if tot > 0 else A * 0
        B = B - ((B * w).sum(axis=1) / tot)[:, None] if tot > 0 else B * 0
        A[(w * A**2).sum(axis=1) <= 1e-12 * raw_a] = 0.0  # constant rows
        B[(w * B**2).sum(axis=1) <= 1e-12 * raw_b] = 0.0
    S = np.full((A.shape[0], B.shape[0]), np.nan)
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            if exclude_self and i == j:
                continue
            dot = (w * A[i] * B[j]).sum()
            if metric == "dot":
                S[i, j] = dot
            else:
                den = np.sqrt((w * A[i] ** 2).sum() * (w * B[j] ** 2).sum())
                if den > 0:
                    S[i, j] = dot / den
    return S


def assert_topk_matches(result, ref, k):
    """Check a top-k CSR against reference scores (NaN = inadmissible pair).

    Scores near zero (|s| < ZERO_TOL) are rounding-ambiguous and may be returned or not.
    """
    assert sp.isspmatrix_csr(result) or isinstance(result, sp.csr_matrix)
    assert result.shape == ref.shape
    assert result.dtype == np.float32
    for i in range(ref.shape[0]):
        idx = result.indices[result.indptr[i] : result.indptr[i + 1]]
        val = result.data[result.indptr[i] : result.indptr[i + 1]].astype(np.float64)
        row = ref[i]
        assert len(idx) <= k
        assert len(set(idx.tolist())) == len(idx), f"row {i}: duplicate neighbours"
        # every returned pair is admissible and scored right
        for j, s in zip(idx, val, strict=True):
            assert not np.isnan(row[j]), f"row {i}: returned inadmissible pair {j}"
            assert s != 0.0
            assert abs(s - row[j]) <= SCORE_TOL * (1 + abs(row[j])), (i, j, s, row[j])
        # sorted by score descending, ties by index ascending
        for a in range(len(idx) - 1):
            assert val[a] > val[a + 1] or (val[a] == val[a + 1] and idx[a] < idx[a + 1]), (
                f"row {i} not ordered: {list(zip(idx, val, strict=True))}"
            )
        admissible = ~np.isnan(row)
        strict = admissible & (np.abs(np.nan_to_num(row)) >= ZERO_TOL)
        n_strict, n_adm = int(strict.sum()), int(admissible.sum())
        assert min(k, n_strict) <= len(idx) <= min(k, n_adm), (i, len(idx), n_strict, n_adm)
        # nothing better was left out
        if len(idx):
            left_out = np.ones(len(row), dtype=bool)
            left_out[idx] = False
            worst = val.min()
            missed = row[left_out & strict]
            assert np.all(missed <= worst + SCORE_TOL * (1 + abs(worst))), (i, missed, worst)
