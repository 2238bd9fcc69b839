"""Pointing game and deletion / insertion curves (chapters 8 and 9)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from course_utils.explain.metrics import deletion_insertion, peak, peak_distance, pointing_game


def test_pointing_game_hits_misses_and_tolerance():
    maps = torch.zeros(3, 10, 10)
    maps[0, 2, 3] = 1          # inside
    maps[1, 9, 9] = 1          # 3 px right of the mask, 4 below -> distance 5
    maps[2, 0, 0] = 1          # empty mask
    masks = torch.zeros(3, 10, 10, dtype=torch.bool)
    masks[0, 1:4, 1:5] = True
    masks[1, 2:6, 2:7] = True
    assert pointing_game(maps, masks).tolist() == [True, False, False]
    assert pointing_game(maps, masks, tolerance=4.9).tolist() == [True, False, False]
    assert pointing_game(maps, masks, tolerance=5).tolist() == [True, True, False]
    assert pointing_game(maps[:, None], masks).tolist() == [True, False, False]
    assert peak(maps).tolist() == [[2, 3], [9, 9], [0, 0]]
    assert peak_distance(maps, masks).tolist() == [0.0, 5.0, float("inf")]


def test_pointing_game_errors():
    with pytest.raises(ValueError, match="reduce channels"):
        pointing_game(torch.zeros(2, 3, 5, 5), torch.zeros(2, 5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="must match"):
        pointing_game(torch.zeros(2, 5, 5), torch.zeros(2, 6, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(torch.zeros(2, 5, 5), torch.zeros(2, 5, 5, dtype=torch.bool), tolerance=-1)


class PixelModel(nn.Module):
    """Class 0's logit is 10 x (sum of the top-left 2x2 pixels); class 1's is constant."""

    def forward(self, x):
        s = 10 * x[:, 0, :2, :2].sum((1, 2))
        return torch.stack([s, torch.full_like(s, 2.0)], 1)


def test_deletion_and_insertion_reward_the_right_map():
    model = PixelModel()
    x = torch.ones(2, 1, 4, 4)
    good = torch.zeros(2, 4, 4)
    good[:, :2, :2] = 1
    bad = 1 - good
    d_good, frac, p_good = deletion_insertion(model, x, good, 0, "deletion", steps=4)
    d_bad, _, p_bad = deletion_insertion(model, x, bad, 0, "deletion", steps=4)
    assert torch.allclose(frac, torch.tensor([0, .25, .5, .75, 1], dtype=frac.dtype))
    p0 = torch.softmax(torch.tensor([40.0, 2.0]), 0)[0]
    pend = torch.softmax(torch.tensor([0.0, 2.0]), 0)[0]
    assert p_good[0, 0] == pytest.approx(p0) and p_good[0, -1] == pytest.approx(pend)
    assert p_good[0, 1] == pytest.approx(pend)       # the four key pixels go first
    assert (d_good < d_bad).all()
    assert d_good[0] == pytest.approx(np.trapezoid(p_good[0].numpy(), frac.numpy()))
    i_good, _, _ = deletion_insertion(model, x, good, 0, "insertion", steps=4)
    i_bad, _, _ = deletion_insertion(model, x, bad, 0, "insertion", steps=4)
    assert (i_good > i_bad).all()


def test_ties_are_broken_by_seed_and_errors():
    model = PixelModel()
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    flat = torch.zeros(2, 4, 4)
    a = deletion_insertion(model, x, flat, 0, steps=8, seed=1)[0]
    assert torch.equal(a, deletion_insertion(model, x, flat, 0, steps=8, seed=1)[0])
    with pytest.raises(ValueError, match="mode"):
        deletion_insertion(model, x, flat, 0, mode="both")
    with pytest.raises(ValueError, match=r"maps must be"):
        deletion_insertion(model, x, torch.zeros(2, 3, 3), 0)
