"""Weighting the terms: given weights, term scales, the ``"ease"`` penalty, learned weights.

``fit_learned`` runs the validation flow of ``weights="learn"``: a validation split
(``_split``), a core built on it, the ``"ease"`` L2 picked on it, the term scales, the
validation samples (warm users, folded-in cold users, hidden items) and the weights that
rank them best (:func:`learn_weights`). ``fit_given`` is the path of given weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from featcf._validation import check_real
from featcf.metrics import ndcg_at_k
from featcf.models.feature_cf._core import demographic_lifts, with_demographics, with_ease
from featcf.models.feature_cf._inputs import Inputs, Learning, Settings
from featcf.models.feature_cf._linalg import (
    EASE_L2_DEFAULT,
    EASE_L2_GRID,
    ease_from_gram,
    ease_gram,
    mean_item_count,
    one_blas_thread,
)
from featcf.models.feature_cf._losses import Block, Problem, minimise
from featcf.models.feature_cf._search import band_data, search_band
from featcf.models.feature_cf._split import (
    Sample,
    Split,
    cold_item_rounds,
    liked_mask,
    search_customers,
    validation_core,
    validation_samples,
    validation_split,
)
from featcf.models.feature_cf._state import (
    BAND_EDGES,
    STATED_ONLY_TAG,
    STATED_TAG,
    Core,
    Scorer,
    TermWeights,
    make_scorer,
)
from featcf.models.feature_cf._terms import compute_terms
from featcf.models.feature_cf._users import fitted_users
from featcf.similarity import topn_dense

__all__ = [
    "WEIGHT_SHARE_TOLERANCE",
    "band_ndcg",
    "default_scales",
    "fit_given",
    "fit_learned",
    "fixed_ease_l2",
    "free_terms",
    "given_weights",
    "learn_weights",
    "select_demo_shrinkage",
    "select_ease",
]

#: history bands whose search only chooses between the loss's weights and uniform ones
#: (``search_band(free=False)``): searched freely on 600 new customers, the zero-history
#: band's weights moved with ``random_state`` alone by up to 0.59 of a share (synthetic
#: shop; 0.15 so), for gains on MovieLens 100k and CoIL 2000 within the draw's noise
CHOSEN_BANDS = (0,)
#: fewer validation positives than this: uniform weights
MIN_BAND_POSITIVES = 150
#: documented bound on how far the learned weights move with ``random_state`` alone on the
#: synthetic shop: each band's weights as shares of the band's total differ by at most this
#: between two random states (``tests/models/feature_cf/test_fcf_weights.py``; MovieLens
#: moves them more, see ``feature_weights_``)
WEIGHT_SHARE_TOLERANCE = 0.16

Stage = Callable[[str], None]


# ---------------------------------------------------------------------- the two fit paths
def fit_learned(
    core: Core,
    inputs: Inputs,
    settings: Settings,
    plan: Learning,
    names: list[str],
    rng: np.random.Generator,
    stage: Stage,
) -> tuple[Scorer, TermWeights, TermWeights]:
    """Learn the weights on a validation split; the final ``core`` gets its ``"ease"`` term.

    Returns the scorer, the weights that rank products for a customer and those that rank
    customers for a product (:func:`learn_weights`)."""
    stage("validation split")
    liked = liked_mask(inputs)
    split = validation_split(inputs.values, plan.validation_fraction, rng, liked)
    stage("validation model")
    val_core = validation_core(inputs, settings, split)
    shrinkage = None
    if inputs.user_features is not None:
        shrinkage = select_demo_shrinkage(val_core, split, inputs, settings)
        val_core = with_demographics(val_core, inputs, shrinkage)
        core = with_demographics(core, inputs, shrinkage)
    ease_l2 = None
    if "ease" in names:
        val_core = select_ease(val_core, split, inputs.user_features, rng, plan, settings)
        ease_l2 = val_core.ease_l2
        core = with_ease(core, inputs.user_features, ease_l2)
    scorer = make_scorer(inputs, settings, names, core)
    stage("term scales")
    scale = default_scales(scorer, rng)
    val_scorer = make_scorer(inputs, settings, names, val_core)
    samples, folded = validation_samples(val_scorer, split, rng, plan)
    stage("new-item rounds")
    samples += cold_item_rounds(inputs, settings, names, split, liked, rng, ease_l2)
    stage("new-customer rounds")
    more = search_customers(
        inputs, settings, names, split, val_scorer, folded, plan, rng, shrinkage, ease_l2
    )
    stage("learn weights")
    with one_blas_thread():  # small products, see _linalg.SMALL_GRAM
        return scorer, *learn_weights(samples, names, scale, plan, more)


def fit_given(
    core: Core,
    inputs: Inputs,
    settings: Settings,
    plan: Learning,
    names: list[str],
    given: np.ndarray,
    rng: np.random.Generator,
    stage: Stage,
) -> tuple[Scorer, TermWeights]:
    """Given weights (every band and new items, for both directions); only the term scales
    are measured."""
    if "ease" in names:
        core = with_ease(core, inputs.user_features, fixed_ease_l2(plan.ease_l2, inputs.values))
    stage("term scales")
    scorer = make_scorer(inputs, settings, names, core)
    scale = default_scales(scorer, rng)
    return scorer, TermWeights.of(scale, np.tile(given, (len(BAND_EDGES), 1)), given.copy())


def free_terms(names: Sequence[str], include_cf: bool, exclude: Sequence[str] = ()) -> np.ndarray:
    """Which terms may get a weight: all but ``exclude`` and, without ``include_cf``, the
    ordinary CF terms ``"cf"`` and ``"user_cf"`` (``"ease"`` is not among the terms then)."""
    held = set(exclude) | (set() if include_cf else {"cf", "user_cf"})
    return np.array([name not in held for name in names])


def given_weights(
    names: Sequence[str],
    weights: Mapping[str, float],
    include_cf: bool,
    exclude: Sequence[str] = (),
) -> np.ndarray:
    """The weight vector of a dict ``{term: weight}`` (a field name also sets its content
    term unless that is given; terms not listed, and terms in ``exclude``, weigh 0)."""
    given = dict(weights)
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ValueError(f"weights names unknown term(s) {unknown}; known terms are {list(names)}")
    for key, value in given.items():
        check_real(value, f"weights[{key!r}]", low=0)
    out = np.zeros(len(names))
    for key, value in given.items():
        out[names.index(key)] = float(value)
        content = f"content:{key}"
        if content in names and content not in given:
            out[names.index(content)] = float(value)
    out[~free_terms(names, include_cf, exclude)] = 0.0
    if not (out > 0).any():
        raise ValueError("weights must give at least one term a positive weight")
    return out


def default_scales(scorer: Scorer, rng: np.random.Generator) -> np.ndarray:
    """Standard deviation of every term over (a sample of) users x items."""
    values = scorer.core.values
    n_users, n_items = values.shape
    users = np.arange(n_users)
    if n_users > 300:
        users = np.sort(rng.choice(n_users, 300, replace=False))
    items = np.arange(n_items)
    if n_items > 2000:
        items = np.sort(rng.choice(n_items, 2000, replace=False))
    user = fitted_users(scorer, users, values[users])
    terms = compute_terms(scorer, user, items).reshape(len(scorer.names), -1)
    scale = terms.std(axis=1)
    return np.where(scale > 1e-12, scale, 1.0)


# ---------------------------------------------------------------------- the "ease" penalty
def fixed_ease_l2(ease_l2: str | float, values: sp.csr_matrix) -> float:
    """The given ``ease_l2``, or the default multiple of the mean positives per item."""
    if isinstance(ease_l2, str):  # "auto" without a validation split
        return EASE_L2_DEFAULT * mean_item_count(values)
    return float(ease_l2)


def select_ease(
    core: Core,
    split: Split,
    user_features: sp.csr_matrix | None,
    rng: np.random.Generator,
    plan: Learning,
    settings: Settings,
) -> Core:
    """The validation ``core`` (built on ``split.train``) with its ``"ease"`` term.

    With ``ease_l2="auto"`` every multiple of :data:`EASE_L2_GRID` is tried and the one
    whose term alone ranks the hidden interactions of (up to 1,000) warm validation
    users best by nDCG@10 is kept.
    """

    train = split.train
    gram, n_features = ease_gram(train, user_features)
    if not isinstance(plan.ease_l2, str):
        ease, ease_f = ease_from_gram(gram, float(plan.ease_l2), n_features)
        return replace(core, ease=ease, ease_features=ease_f, ease_l2=float(plan.ease_l2))
    targets = split.targets
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    if len(users) > 1000:
        users = np.sort(rng.choice(users, 1000, replace=False))
    base = mean_item_count(train)
    best: tuple[float, float, tuple[np.ndarray, np.ndarray | None]] | None = None
    for mult in EASE_L2_GRID if len(users) else (EASE_L2_DEFAULT,):
        b = ease_from_gram(gram, mult * base, n_features)
        if not len(users):
            best = (0.0, mult * base, b)
            break
        hist = train[users]
        scores = np.asarray(hist @ b[0], dtype=np.float32)
        if b[1] is not None:
            scores += np.asarray(sp.csr_matrix(user_features[users]) @ b[1], dtype=np.float32)
        ranked, _ = topn_dense(scores, 10, exclude=hist, n_threads=settings.n_threads)
        quality = float(np.nanmean(ndcg_at_k(ranked, targets[users], 10)))
        if best is None or quality > best[0]:
            best = (quality, mult * base, b)
    _, l2, (ease, ease_f) = best  # the grid is never empty
    return replace(core, ease=ease, ease_features=ease_f, ease_l2=l2)


# ---------------------------------------------------------------------- demographic shrinkage
#: pseudo-customers tried as the shrinkage of the demographic lifts (``"auto"``)
DEMO_SHRINKAGE_GRID = (20.0, 50.0, 100.0, 200.0, 500.0)


def select_demo_shrinkage(core: Core, split: Split, inputs: Inputs, settings: Settings) -> float:
    """The shrinkage of the demographic lifts that ranks the validation customers known
    only by their features best.

    Each value of :data:`DEMO_SHRINKAGE_GRID` gives the naive-Bayes score ``log P(i) +
    sum_a log P(i | a) / P(i)`` over the user's feature values ``a``, with ``P(i | a)``
    shrunk towards ``P(i)`` by that many pseudo-customers; the one with the best nDCG@10
    of the hidden liked positives of the validation split's cold users (``core`` is built
    without them) is kept. Few pseudo-customers trust small segments and overcount
    correlated fields (MovieLens given 0, the naive-Bayes score alone: nDCG@10 0.363 with
    20, 0.413 with 200; popularity 0.398).
    """
    uf = inputs.user_features
    users = split.cold_users
    counts = core.item_counts
    if uf is None or not len(users) or not len(core.active):
        return settings.demo_shrinkage
    targets = sp.csr_matrix(split.marked[users] > 1.5, dtype=np.float32)
    keep = np.diff(targets.indptr) > 0
    users, targets = users[keep], targets[keep]
    if not len(users):
        return settings.demo_shrinkage
    log_p = np.log(np.maximum(counts / len(core.active), 1e-12))
    log_p[counts == 0] = -np.inf  # items without interactions in the validation core
    feats = sp.csr_matrix(uf[users], dtype=np.float64)
    feats.data[:] = 1.0
    best = (-1.0, settings.demo_shrinkage)
    for shrinkage in DEMO_SHRINKAGE_GRID:
        lift, _ = demographic_lifts(
            uf, core.values, core.active, inputs.x, core.global_profile, shrinkage
        )
        scores = np.asarray(feats @ lift, dtype=np.float64) + log_p[None, :]
        ranked, _ = topn_dense(scores, 10, n_threads=settings.n_threads)
        quality = float(np.nanmean(ndcg_at_k(ranked, targets, 10)))
        if quality > best[0]:
            best = (quality, shrinkage)
    return best[1]


# ---------------------------------------------------------------------- learning the weights
def learn_weights(
    samples: list[Sample],
    names: Sequence[str],
    scale: np.ndarray,
    plan: Learning,
    search_only: Sequence[Sample] = (),
) -> tuple[TermWeights, TermWeights]:
    """Non-negative weights per history band and for items without interactions, in two
    sets: the first ranks products for a customer, the second customers for a product.

    Minimises two listwise softmax losses on the
    validation users: per user, ``-sum_{p in targets} log softmax_items(s_u)[p]`` over the
    items the user has not interacted with (a smooth surrogate of nDCG: ranks items for
    a user), and per item, the same over users (ranks the audience of a product, and
    makes scores comparable across users). Users whose history is in band
    ``set_loss_min_band`` or above (6+ positives) are ranked with the set likelihood
    ``-log sum_{p in targets} softmax_items(s_u)[p]`` instead, weighted by the mean
    number of targets per user: with many hidden positives the cross-entropy spends
    the weights on lifting the hardest ones, while top-10 metrics reward putting some
    of them first (MovieLens dev splits: warm nDCG@10 +0.011, cold users unchanged).
    Items whose interactions were hidden are scored with their own weight vector; the
    loss separates into a part in the band weights and one in that vector, minimised
    one after the other (:func:`~featcf.models.feature_cf._losses.minimise`), so the new
    items' terms do not enter the band weights' minimisation.
    Neighbouring history bands are tied by a small penalty on their difference, so
    sparse bands borrow from their neighbours. Last, since the losses are surrogates,
    each band's weights are then searched on nDCG@10 of its validation users itself
    (:func:`~featcf.models.feature_cf._search.search_band`: from the best of these
    weights, uniform weights and every term alone, on each half of the band's users, a
    move kept only when it gains on the half it did not see).

    The searched weights rank products for a customer. Customers for a product are ranked
    with the surrogate's weights, which the per-item loss fitted to that direction: a
    search on nDCG@10 follows the first direction only, and the moves it makes cost the
    audiences (CoIL caravan owners in the top 20%: 154 searched, 171 not; MovieLens given
    3 and 5: nDCG@10 -0.012 without the search). The bands of :data:`CHOSEN_BANDS` only
    choose between the loss's weights and uniform ones. Customers without history who state
    interests get a row of their own (``TermWeights.stated``), searched the same way from
    the zero-history band's surrogate weights on the ``search_only`` customers tagged
    :data:`STATED_TAG`, the same in both sets; those who give no user features another
    (``TermWeights.stated_only``), on the same customers without them
    (:data:`STATED_ONLY_TAG`). Each set puts items without interactions
    on its warm items' scale (:func:`_cold_affine`); the new-item weights are the same in
    both. Without learned weights (too few validation positives) both sets are one.
    """
    n_terms, n_bands = len(names), len(BAND_EDGES)
    if not samples:
        w = np.ones(n_terms)
        uniform = TermWeights.of(scale, np.tile(w, (n_bands, 1)), w)
        return uniform, uniform
    mask = free_terms(names, plan.include_cf, plan.exclude)
    blocks = _blocks(samples, mask, scale)
    problem = Problem.of(blocks, n_bands, plan)
    if problem.n_pos < MIN_BAND_POSITIVES:
        w = np.where(mask, 1.0, 0.0)
        uniform = TermWeights.of(scale, np.tile(w, (n_bands, 1)), w)
        return uniform, uniform
    band_free, cold_free = minimise(problem)
    band_w = np.zeros((n_bands, n_terms))
    band_w[:, mask] = band_free
    cold_w = np.zeros(n_terms)
    cold_w[mask] = cold_free * _nonzero_on_new_items(blocks)
    fallback = names.index("popularity") if mask[names.index("popularity")] else mask.argmax()
    for w in (*band_w, cold_w):
        if not (w > 0).any():
            w[fallback] = 1.0
    # the loss is a surrogate: per band, the weights searched on nDCG@10 itself
    searched = band_w.copy()
    search_blocks = blocks + _blocks(list(search_only), mask, scale)
    for b in range(n_bands):
        data = band_data(search_blocks, b)
        if data is not None:
            searched[b, mask], _ = search_band(data, band_w[b, mask], b not in CHOSEN_BANDS)
    stated = {
        "stated": _stated_weights(search_blocks, band_w[0], mask, STATED_TAG),
        "stated_only": _stated_weights(search_blocks, band_w[0], mask, STATED_ONLY_TAG),
    }
    ranking = _with_new_items(blocks, searched, cold_w, mask, scale, plan.new_item_shift)
    ranking = replace(ranking, **stated)
    if np.array_equal(searched, band_w):
        return ranking, ranking
    audience = _with_new_items(blocks, band_w, cold_w, mask, scale, plan.new_item_shift)
    return ranking, replace(audience, **stated)


def _stated_weights(
    blocks: list[Block], start: np.ndarray, mask: np.ndarray, tag: int
) -> np.ndarray | None:
    """The weights of customers without history who state interests, searched on nDCG@10 of
    the validation customers who do (tagged ``tag``: :data:`STATED_TAG` with their user
    features, :data:`STATED_ONLY_TAG` without) from ``start``, the zero-history band's
    surrogate weights; None without such customers."""
    data = band_data(blocks, tag)
    if data is None:
        return None
    stated = start.copy()
    stated[mask], _ = search_band(data, start[mask], cross_fit=False)
    return stated


def _with_new_items(
    blocks: list[Block],
    band_w: np.ndarray,
    cold_w: np.ndarray,
    mask: np.ndarray,
    scale: np.ndarray,
    new_item_shift: float,
) -> TermWeights:
    """The weights ``band_w`` and ``cold_w`` with the new-item map fitted to them on the
    validation ``blocks``."""
    affine = _cold_affine(blocks, _block_scores(blocks, band_w, mask), cold_w, mask, new_item_shift)
    return TermWeights.of(scale, band_w, cold_w, affine)


def _block_scores(
    blocks: Sequence[tuple], band_w: np.ndarray, mask: np.ndarray
) -> list[np.ndarray]:
    """Per validation block ``(tag, scaled, pos, blocked, cold_cols)``, its scores under each
    user's band weights on every column (float32, users x columns)."""
    return [
        np.matmul(band_w[tag][:, mask].astype(np.float32)[:, None, :], scaled)[:, 0, :]
        for tag, scaled, *_ in blocks
    ]


def _nonzero_on_new_items(blocks: list[Block]) -> np.ndarray:
    """Per free term, whether it is non-zero for some user on some hidden item (all True
    without hidden items). A term that is 0 on every item without interactions (the CF
    terms, the demographic lifts, the field neighbourhoods: they read the item's own
    interactions) cannot move a new item's score, so its new-item weight is set to 0 rather
    than left where the optimiser started it."""
    seen = None
    for block in blocks:
        if block.cold_cols.any():
            here = (block.scaled[:, :, block.cold_cols] != 0).any(axis=(0, 2))
            seen = here if seen is None else seen | here
    return np.ones(blocks[0].scaled.shape[1], dtype=bool) if seen is None else seen


def _blocks(samples: list[Sample], mask: np.ndarray, scale: np.ndarray) -> list[Block]:
    blocks = []
    for tag, terms, tgt, seen, cold_cols in samples:
        scaled = terms[mask] / scale[mask, None, None].astype(np.float32)
        scaled = np.ascontiguousarray(scaled.transpose(1, 0, 2))  # (U, T, C)
        pos = tgt.toarray() > 0
        blocked = seen.toarray() > 0
        blocked &= ~pos
        blocks.append(Block(tag, scaled, pos, blocked, cold_cols))
    return blocks


def _cold_affine(
    blocks: list[Block],
    warm: list[np.ndarray],
    cold_w: np.ndarray,
    mask: np.ndarray,
    new_item_shift: float,
) -> np.ndarray:
    """Level and slope that put the scores of items without interactions on the warm items'
    scale, ``new_item_shift`` standard deviations below the warm mean (``warm``: the blocks'
    :func:`_block_scores`)."""
    warm_z, cold_z = [], []
    for (_tag, scaled, _pos, blocked, cold_cols), zw in zip(blocks, warm, strict=True):
        if not cold_cols.any():
            continue
        zc = np.matmul(cold_w[mask].astype(np.float32), scaled)
        warm_z.append(zw[~blocked & ~cold_cols[None, :]])
        cold_z.append(zc[~blocked & cold_cols[None, :]])
    affine = np.array([0.0, 1.0])
    if warm_z and sum(len(c) for c in cold_z):
        wz, cz = np.concatenate(warm_z), np.concatenate(cold_z)
        slope = wz.std() / cz.std() if cz.std() > 0 else 1.0
        level = wz.mean() - float(new_item_shift) * wz.std()
        affine = np.array([level - slope * cz.mean(), slope])
    return affine


def band_ndcg(blocks: Sequence[tuple], band: int, w: np.ndarray, n: int = 10) -> float:
    """Mean nDCG@n over the validation users of one history band, warm items only.

    ``blocks`` hold ``(tag, scaled, pos, blocked, cold_cols)`` (see :class:`Block`).
    """
    data = band_data(blocks, band)
    return 0.0 if data is None else data.ndcg(w, n)
