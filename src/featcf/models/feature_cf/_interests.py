"""Interests of FeatureCF's customers: read out of their attribute profiles, or stated.

**Read out** (:func:`interest_profiles`): a fitted customer's profile ``P_u^f`` over the
values of field ``f`` is the shrunk distribution of their positives over those values (see
:mod:`~featcf.models.feature_cf._profiles`); it is recomputed here for the asked customers
(float64), exactly as the fit computed it, together with the global profile ``g^f``.

**Stated** (:func:`with_stated`): a customer unknown at fit time may state values of item
fields (an onboarding form: ``category = travel``). A stated field is strong evidence: it
counts as :data:`STATED_WEIGHT` pseudo-interactions per unit of shrinkage, spread evenly
over the values stated for that field, on top of the customer's own positives and the
prior::

    P_u^f = (sum_{j in h_u} X_f[j] + lam * prior_u^f + m * e_u^f) / (n_u + lam + m)

with ``e_u^f`` the stated values of ``f`` (uniform over them, summing to 1), ``lam`` the
``profile_shrinkage`` and ``m = STATED_WEIGHT * max(lam, 1)`` (``m = 0`` for fields nothing
was stated about, which leaves them as they were). With the default ``lam = 5`` and no
interactions, the stated values hold 3/4 of the field's profile and the prior (global, or
borrowed from the customer's feature-space neighbours) the rest; every interaction the
customer adds weighs as much as one of the ``m + lam`` pseudo-interactions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf.columns import Columns
from featcf.data.features import Field
from featcf.models._reasons import STATED, readable_value
from featcf.models.feature_cf._inputs import Inputs
from featcf.models.feature_cf._profiles import profile_prior, profiles_from
from featcf.models.feature_cf._state import Scorer

__all__ = [
    "STATED_KINDS",
    "STATED_VALUES",
    "STATED_WEIGHT",
    "interest_profiles",
    "relabel_stated",
    "simulated_interests",
    "stated_label",
    "with_stated",
]

#: pseudo-interactions of a stated field, per unit of ``profile_shrinkage`` (at least 1)
STATED_WEIGHT = 3.0
#: values of one item field a simulated customer states (:func:`simulated_interests`)
STATED_VALUES = 2
#: item field kinds a simulated customer states values of (a form asks for kinds of
#: products, not bands of a number)
STATED_KINDS = ("categorical", "multi")


def interest_profiles(scorer: Scorer, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shrunk profiles (float64, users x item feature columns) of fitted users
    ``user_idx`` and the global profile ``g``, as the fit computed them."""
    core, inputs, settings = scorer.core, scorer.inputs, scorer.settings
    demo = None if core.demo_neighbors is None else core.demo_neighbors[user_idx]
    prior = profile_prior(core.global_profile, core.base_profiles, demo, len(user_idx))
    profiles = profiles_from(
        core.values[user_idx], prior, inputs.x, settings.profile_shrinkage, settings.n_threads
    )
    return profiles, core.global_profile


def with_stated(
    profiles: np.ndarray,
    stated: sp.csr_matrix | None,
    slices: tuple[slice, ...],
    n: np.ndarray,
    shrinkage: float,
) -> np.ndarray:
    """``profiles`` (users x columns, shrunk with ``shrinkage`` over ``n`` positives) with
    the stated values ``stated`` (users x columns, non-zero where stated) folded in.

    Per field with stated values: ``((n + lam) * P + m * e) / (n + lam + m)``, ``e`` the
    stated values spread evenly (see the module docstring). Other rows and fields are
    returned unchanged (a new array).
    """
    out = np.array(profiles, dtype=np.float64, copy=True)
    if stated is None or stated.nnz == 0:
        return out
    lam = float(shrinkage)
    m = STATED_WEIGHT * max(lam, 1.0)
    base = (np.asarray(n, dtype=np.float64) + lam)[:, None]
    said = (stated.toarray() != 0).astype(np.float64)
    for sl in slices:
        counts = said[:, sl].sum(axis=1)
        rows = np.flatnonzero(counts > 0)
        if rows.size:
            e = said[rows, sl] / counts[rows, None]
            out[rows, sl] = (base[rows] * out[rows, sl] + m * e) / (base[rows] + m)
    return out


def stated_label(field: Field, value: str) -> str:
    """The plain-language reason of a stated value: ``"you told us you like travel"``
    (numeric bands name their field: ``"you told us you like premium 12 to 17"``)."""
    if field.kind != "numeric":
        return STATED + value
    return STATED + f"{field.name} {readable_value(value)}"


def relabel_stated(
    parts: pd.DataFrame, stated: sp.csr_matrix, rows: np.ndarray, fields: Mapping[str, Field]
) -> pd.DataFrame:
    """Explanation ``parts`` (with a ``pair`` column) of folded-in customers, each field
    value row naming a value its customer stated relabelled :func:`stated_label`.

    ``stated`` has one row per query customer over the item feature columns; pair ``p``
    belongs to customer ``rows[p]``; ``fields`` are the Dataset's item fields.
    """
    stated = sp.csr_matrix(stated)
    field_names = parts[Columns.FIELD].to_numpy(dtype=object)
    values = parts[Columns.VALUE].to_numpy(dtype=object)
    candidates = np.flatnonzero((parts[Columns.PART] == "field").to_numpy() & pd.notna(values))
    column = {(f.name, v): f.start + j for f in fields.values() for j, v in enumerate(f.values)}
    owners = np.asarray(rows, dtype=np.int64)[parts["pair"].to_numpy()[candidates]]
    keys = zip(field_names[candidates], values[candidates], strict=True)
    cols = np.asarray([column.get(key, -1) for key in keys], dtype=np.int64)
    known = np.flatnonzero(cols >= 0)
    said = np.asarray(stated[owners[known], cols[known]]).ravel() != 0
    labels = parts[Columns.LABEL].to_numpy(dtype=object).copy()
    for p in candidates[known[said]]:
        labels[p] = stated_label(fields[field_names[p]], values[p])
    out = parts.copy()
    out[Columns.LABEL] = labels
    return out


def simulated_interests(
    inputs: Inputs, values: sp.csr_matrix, hidden: sp.csr_matrix, rng: np.random.Generator
) -> sp.csr_matrix | None:
    """What each customer (a row of ``hidden``, their hidden positives) would state on a form:
    the :data:`STATED_VALUES` values of one item field, drawn per customer among the fields
    of :data:`STATED_KINDS`, that their hidden positives hold most often (a tie goes to the
    value rarer among the positives ``values``, so a customer names what sets their taste
    apart). Returns users x item feature columns, 1 where stated (a row stays empty when
    the positives hold no value of the field), or None without such a field."""
    fields = [
        f
        for f, (kind, cols) in enumerate(zip(inputs.field_kinds, inputs.field_slices, strict=True))
        if kind in STATED_KINDS and cols.stop - cols.start >= 2
    ]
    if not fields or hidden.shape[0] == 0:
        return None
    x_bin = inputs.x_bin
    held = sp.csr_matrix(hidden, dtype=np.float64, copy=True)
    held.data[:] = 1.0
    counts = (held @ x_bin).toarray()  # users x columns
    share = np.asarray((values @ x_bin).sum(axis=0), dtype=np.float64).ravel()
    chosen = rng.choice(fields, size=hidden.shape[0])
    rows, cols = [], []
    for f in fields:
        who = np.flatnonzero(chosen == f)
        block = inputs.field_slices[f]
        field_share = share[block] / max(float(share[block].sum()), 1.0)
        here = counts[who, block]
        key = np.where(here > 0, here + 0.5 * (1.0 - field_share)[None, :], -np.inf)
        top = np.argsort(-key, axis=1, kind="stable")[:, :STATED_VALUES]
        keep = np.isfinite(np.take_along_axis(key, top, axis=1))
        rows.append(np.repeat(who, top.shape[1])[keep.ravel()])
        cols.append(block.start + top.ravel()[keep.ravel()])
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix(
        (np.ones(len(r), dtype=np.float32), (r, c)), shape=(hidden.shape[0], x_bin.shape[1])
    )
