"""featcf.models.feature_cf._calibrate: one level and slope per history band."""

from __future__ import annotations

import copy
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import featcf
from featcf.models.feature_cf._calibrate import (
    Audience,
    audience_loss,
    band_affine,
    block_scores,
)
from featcf.models.feature_cf._state import identity_affine


def _audiences(seed: int, n_bands: int = 3) -> list[Audience]:
    rng = np.random.default_rng(seed)
    out = []
    for n_users, n_cols in ((9, 5), (6, 4)):
        z = rng.normal(size=(n_users, n_cols))
        pos = rng.random((n_users, n_cols)) < 0.3
        pos[:, 0] = False  # a column without positives adds nothing
        blocked = (rng.random((n_users, n_cols)) < 0.2) & ~pos
        out.append(Audience(rng.integers(0, n_bands, n_users), z, pos, blocked))
    return out


def _brute_loss(theta: np.ndarray, blocks: list[Audience]) -> float:
    n_bands = len(theta) // 2
    total = 0.0
    for block in blocks:
        mapped = theta[block.tag, None] + theta[n_bands + block.tag, None] * block.z
        for col in range(mapped.shape[1]):
            pos, keep = block.pos[:, col], ~block.blocked[:, col]
            if not pos.any():
                continue
            log_soft = mapped[:, col] - np.log(np.exp(mapped[keep, col]).sum())
            total -= log_soft[pos].sum()
    return total


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_audience_loss_and_gradient_match_brute_force(seed):
    blocks = _audiences(seed)
    rng = np.random.default_rng(seed + 1)
    theta = np.concatenate([rng.normal(size=3), rng.uniform(0.2, 2.0, size=3)])
    loss, grad = audience_loss(theta, blocks)
    assert loss == pytest.approx(_brute_loss(theta, blocks), rel=1e-9)
    step = 1e-6
    for j in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        numeric = (_brute_loss(up, blocks) - _brute_loss(down, blocks)) / (2 * step)
        assert grad[j] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def _blocks_of(tag, z, pos):
    """``_weights.Block``-like tuples for one free term whose scaled value is ``z``."""
    return [
        (tag, z[:, None, :].astype(np.float32), pos, np.zeros_like(pos), np.zeros(z.shape[1], bool))
    ]


def _maps(blocks):
    """Two bands' maps for blocks of one free term weighing 1 (new items too, identity
    new-item map)."""
    mask = np.ones(1, bool)
    warm = block_scores(blocks, np.ones((2, 1)), mask)
    return band_affine(blocks, warm, np.ones(1), np.array([0.0, 1.0]), mask, 2)


def test_band_maps_undo_a_band_put_on_another_scale():
    """Band 1's scores are ``4 t + 3`` where band 0's are ``t``: the maps put them back on
    one scale (slope ratio near 1/4), and the audiences are ranked better than unmapped."""
    rng = np.random.default_rng(0)
    n_users, n_cols = 600, 40
    tag = rng.integers(0, 2, n_users)
    truth = rng.normal(size=(n_users, n_cols))
    pos = rng.random((n_users, n_cols)) < 1 / (1 + np.exp(-(2 * truth - 3)))
    z = np.where(tag[:, None] == 1, 4 * truth + 3, truth)
    affine = _maps(_blocks_of(tag, z, pos))
    assert affine.shape == (2, 2) and (affine[:, 1] > 0).all()
    assert affine[1, 1] / affine[0, 1] == pytest.approx(0.25, rel=0.25)
    audience = [Audience(tag, z, pos, np.zeros_like(pos))]
    fitted, _ = audience_loss(affine.T.ravel(), audience)
    unmapped, _ = audience_loss(identity_affine(2).T.ravel(), audience)
    assert fitted < unmapped


def test_without_positives_the_maps_are_the_identity():
    tag = np.array([0, 1, 1])
    z = np.arange(6.0).reshape(3, 2)
    pos = np.zeros((3, 2), dtype=bool)
    out = _maps(_blocks_of(tag, z, pos))
    np.testing.assert_array_equal(out, identity_affine(2))


def test_a_customers_ranking_of_products_is_that_of_the_identity_maps(shop_model, shop):
    """The maps change how customers compare, never how one customer's products rank."""
    fitted = shop_model._fitted
    affine = shop_model.band_affine_
    assert affine.shape == (5, 2) and (affine[:, 1] > 0).all()
    assert not np.array_equal(affine, identity_affine(5))  # learned, not the default
    plain = copy.copy(shop_model)
    plain.__dict__["_fitted"] = replace(
        fitted, weights=replace(fitted.weights, band_affine=identity_affine(5))
    )
    users = shop.user_ids[:60]
    got = shop_model.recommend(users, n=8)
    want = plain.recommend(users, n=8)
    assert got["item_id"].tolist() == want["item_id"].tolist()
    # scores: the user's band map applied to the unmapped ones
    idx = np.arange(60)
    band = np.searchsorted([1, 3, 6, 21], shop.interactions[idx].getnnz(axis=1), side="right")
    mapped = affine[band, 0][:, None] + affine[band, 1][:, None] * plain.score_users(idx)
    np.testing.assert_allclose(shop_model.score_users(idx), mapped, rtol=1e-5, atol=1e-5)


def test_explanations_still_sum_to_the_scores(shop_model, shop):
    user = shop.user_ids[5]
    for item in shop.item_ids[:6]:
        parts = shop_model.explain(user, item)
        assert "band_level" in set(parts["part"])
        score = shop_model.predict([user], [item])[0]
        assert parts["contribution"].sum() == pytest.approx(score, rel=1e-4, abs=1e-4)


def test_a_file_with_a_non_positive_band_slope_is_refused(shop_model, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tampering import read_archive, write_model_file

    shop_model.save(tmp_path / "clean.npz")
    meta, arrays = read_archive(tmp_path / "clean.npz")
    key = next(k for k in arrays if k.endswith("band_affine_"))
    bad = dict(arrays)
    bad[key] = arrays[key].copy()
    bad[key][2, 1] = 0.0
    write_model_file(tmp_path / "bad.npz", meta, bad)
    with pytest.raises(featcf.ModelFormatError, match="band_affine_"):
        featcf.load(tmp_path / "bad.npz")


def test_customers_left_without_history_by_a_round_are_not_its_audience():
    """A new-item round leaves the customers who bought only the hidden items without
    history, every one of them a buyer, and (once those are no targets) every other
    customer without history a non-buyer: the zero-history band must learn neither that
    customers without purchases buy new products nor that they never do."""
    rng = np.random.default_rng(1)
    n_users, n_cols = 400, 6
    tag = np.where(np.arange(n_users) < 100, 0, 1)
    z = rng.normal(size=(n_users, n_cols))
    pos = rng.random((n_users, n_cols)) < 0.1
    for share in (0.9, 0.0):  # the round's buyers without history, or none
        pos[tag == 0] = rng.random(((tag == 0).sum(), n_cols)) < share
        blocks = [
            (tag, z[:, None, :].astype(np.float32), pos, np.zeros_like(pos), np.ones(n_cols, bool))
        ]
        affine = _maps(blocks)
        assert abs(affine[0, 0] - affine[1, 0]) < 0.05  # the zero-history band not moved
    pos[tag == 0] = rng.random(((tag == 0).sum(), n_cols)) < 0.9
    # the same customers on warm items (not a round) do count
    warm = [(tag, blocks[0][1], pos, np.zeros_like(pos), np.zeros(n_cols, bool))]
    affine = _maps(warm)
    assert affine[0, 0] > affine[1, 0] + 0.5
