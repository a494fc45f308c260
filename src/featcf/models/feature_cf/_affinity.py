"""The ``"affinity"`` term: which kinds of customers buy which kinds of products.

A logistic regression (scikit-learn) on crossed features learns, for a (customer, product)
pair, the log-odds that the customer holds the product from

- the customer's side ``a_u``: their feature values (demographics, binary), their purchase
  profile (``log1p`` of how many of their positives have each item field value,
  ``h_u @ x``), their activity ``log1p(n_u)`` and a constant;
- the product's side ``b_i``: its item field values (``x``, every field's block summing to
  1) and a constant;

crossed (every customer-side column times every product-side column), so the model is the
bilinear form ``a_u W b_i``. It depends on the product only through its field values, so
it scores a brand-new product (features only) as well as any other: "customers like you
(family, 35-44) often choose travel cover". The crossing with the constant gives the
customer-only and product-only main effects.

The training pairs are the positives of customers who have at least two (each with the
customer's profile *leaving that positive out*, as a launched product is not in anyone's
history) and, per customer, a fixed number of items they do not have (their profile as it
is), drawn at random from the items with positives. The sample is bounded
(:data:`MAX_POSITIVES`, :data:`MAX_USERS`), so the fit costs at most a constant per core,
whatever the number of customers. Customers whose only positive is a pair's product
are left out of the positives: their empty leave-one-out profile would teach "no
purchase yet: a likely buyer", which holds for an item hidden from a customer who bought
nothing else, not for a product launched to a shop's customers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["AFFINITY_C", "affinity_scores", "customer_side", "fit_affinity", "row_kron"]

#: inverse L2 penalty of the logistic regression (picked on the synthetic shop's held-out
#: launches, the regression alone, among 0.01, 0.03, 0.1, 0.3, 1 and 10; the term's weight
#: is learned on top of it)
AFFINITY_C = 0.1
#: most positives, and most customers, a fit samples
MAX_POSITIVES = 5_000
MAX_USERS = 5_000
#: negatives per positive on average (spread evenly over the sampled customers)
NEGATIVES_PER_POSITIVE = 2
#: fixed seed of the pair sample: the term is a function of the data
_SEED = 0


def customer_side(
    history: sp.csr_matrix, features: sp.csr_matrix | None, x: sp.csr_matrix, n_features: int
) -> sp.csr_matrix:
    """The customer-side columns ``a_u`` (float64 CSR, users x (n_features + n_cols + 2)).

    ``n_features`` is the model's number of user feature columns (0 without); users
    without features (``features=None``) get zeros there.
    """
    hist = sp.csr_matrix(history, dtype=np.float64)
    n_users = hist.shape[0]
    if features is None or n_features == 0:
        feats = sp.csr_matrix((n_users, n_features), dtype=np.float64)
    else:
        feats = sp.csr_matrix(features, dtype=np.float64, copy=True)
        feats.data[:] = 1.0
    n = np.asarray(hist.sum(axis=1), dtype=np.float64).ravel()
    profile = sp.csr_matrix(hist @ sp.csr_matrix(x, dtype=np.float64))
    profile.data = np.log1p(profile.data)  # counts of hundreds (films) would stall the solver
    tail = sp.csr_matrix(np.column_stack([np.log1p(n), np.ones(n_users)]))
    return sp.csr_matrix(sp.hstack([feats, profile, tail]))


def _product_side(x: sp.csr_matrix) -> sp.csr_matrix:
    """The product-side columns ``b_i``: field values and a constant."""
    ones = sp.csr_matrix(np.ones((x.shape[0], 1)))
    return sp.csr_matrix(sp.hstack([sp.csr_matrix(x, dtype=np.float64), ones]))


def row_kron(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """Row-wise Kronecker product: row ``r`` is ``kron(a[r], b[r])`` (column ``j * b.shape[1]
    + k`` holds ``a[r, j] * b[r, k]``)."""
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    per_a, per_b = np.diff(a.indptr), np.diff(b.indptr)
    counts = per_a * per_b
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    row = np.repeat(np.arange(a.shape[0]), counts)
    k = np.arange(indptr[-1]) - indptr[row]
    ia = a.indptr[row] + k // np.maximum(per_b[row], 1)
    ib = b.indptr[row] + k % np.maximum(per_b[row], 1)
    return sp.csr_matrix(
        (a.data[ia] * b.data[ib], a.indices[ia] * b.shape[1] + b.indices[ib], indptr),
        shape=(a.shape[0], a.shape[1] * b.shape[1]),
    )


def _pairs(values: sp.csr_matrix, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The sampled training pairs: (positive users, items), (negative users, items)."""
    n_users, n_items = values.shape
    counts = np.diff(values.indptr)
    users = np.arange(n_users)
    if n_users > MAX_USERS:
        users = np.sort(rng.choice(n_users, MAX_USERS, replace=False))
    sub = values[users]
    coo = sub.tocoo()
    keep = counts[users][coo.row] >= 2
    pos_u, pos_i = users[coo.row[keep]], coo.col[keep]
    if len(pos_u) > MAX_POSITIVES:
        pick = np.sort(rng.choice(len(pos_u), MAX_POSITIVES, replace=False))
        pos_u, pos_i = pos_u[pick], pos_i[pick]
    warm = np.flatnonzero(np.bincount(values.indices, minlength=n_items) > 0)
    per_user = max(1, int(np.ceil(NEGATIVES_PER_POSITIVE * len(pos_u) / len(users))))
    neg_u = np.repeat(users, per_user)
    neg_i = warm[rng.integers(0, len(warm), size=len(neg_u))]
    held = np.asarray(values[neg_u, neg_i]).ravel() > 0
    return pos_u, pos_i, neg_u[~held], neg_i[~held]


def fit_affinity(
    values: sp.csr_matrix, user_features: sp.csr_matrix | None, x: sp.csr_matrix
) -> np.ndarray | None:
    """The bilinear weights ``W`` (float32, customer-side columns x (n_cols + 1)), or None
    when there is nothing to learn from (no customer with two positives)."""
    from sklearn.linear_model import LogisticRegression  # heavy: kept out of ``import featcf``

    values = sp.csr_matrix(values, dtype=np.float64)
    n_features = 0 if user_features is None else user_features.shape[1]
    pos_u, pos_i, neg_u, neg_i = _pairs(values, np.random.default_rng(_SEED))
    if len(pos_u) == 0 or len(neg_u) == 0:
        return None
    # the positives' histories leave their own item out
    own = sp.csr_matrix(
        (np.ones(len(pos_u)), (np.arange(len(pos_u)), pos_i)), shape=(len(pos_u), values.shape[1])
    )
    hist = sp.vstack([values[pos_u] - own, values[neg_u]])
    rows = np.concatenate([pos_u, neg_u])
    feats = None if user_features is None else user_features[rows]
    a = customer_side(sp.csr_matrix(hist), feats, x, n_features)
    b = _product_side(x[np.concatenate([pos_i, neg_i])])
    y = np.concatenate([np.ones(len(pos_u)), np.zeros(len(neg_u))])
    model = LogisticRegression(C=AFFINITY_C, solver="liblinear", random_state=_SEED)
    model.fit(row_kron(a, b), y)
    w = model.coef_.reshape(a.shape[1], b.shape[1])
    w[-1, -1] += model.intercept_[0]
    return w.astype(np.float32)


def affinity_scores(
    weights: np.ndarray,
    history: sp.csr_matrix,
    features: sp.csr_matrix | None,
    inputs_x: sp.csr_matrix,
    xt: np.ndarray,
) -> np.ndarray:
    """``a_u W b_i`` (float64, users x items) for the users' ``history`` / ``features`` and
    the items whose dense field-value block (columns x items) is ``xt``."""
    n_features = weights.shape[0] - inputs_x.shape[1] - 2
    a = customer_side(history, features, inputs_x, n_features)
    aw = np.asarray(a @ weights.astype(np.float64))  # (users, n_cols + 1)
    return aw[:, :-1] @ xt + aw[:, -1:]
