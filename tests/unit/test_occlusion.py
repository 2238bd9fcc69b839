"""Occlusion sensitivity against captum's Occlusion (chapter 6)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from captum.attr import Occlusion

from course_utils.explain.occlusion import (
    occluded_scores,
    occlusion,
    occlusion_grid,
    occlusion_heatmap,
    window_positions,
)
from course_utils.models.cifar import CifarLeNet


@pytest.fixture(scope="module")
def images(grey16):
    return grey16(3)


def hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               for m in model.modules())


@pytest.mark.parametrize("window,stride", [(4, 2), (5, 3), ((3, 6), (2, 4)), (16, 1)])
def test_equals_captum_logit(net, images, window, stride):
    target = torch.tensor([0, 3, 7])
    ours = occlusion(net, images, target, window, stride, baseline=0.5, batch_size=7)
    w = (window, window) if isinstance(window, int) else window
    s = (stride, stride) if isinstance(stride, int) else stride
    ref = Occlusion(net).attribute(images, sliding_window_shapes=(1, *w), strides=(1, *s),
                                   baselines=0.5, target=target)
    assert ours.shape == images.shape
    assert (ours - ref).abs().max() <= 1e-5


def test_equals_captum_probability_and_colour():
    torch.manual_seed(0)
    net = CifarLeNet(in_channels=3, size=12).eval()
    x = torch.rand(2, 3, 12, 12)
    ours = occlusion(net, x, 4, window=4, stride=3, score="prob")
    ref = Occlusion(lambda z: net(z).softmax(1)).attribute(
        x, sliding_window_shapes=(3, 4, 4), strides=(1, 3, 3), baselines=0.0, target=4)
    assert (ours - ref).abs().max() <= 1e-5
    assert torch.equal(ours[:, 0], ours[:, 2])  # the window spans all channels


def test_feature_map_score_equals_captum(net, images):
    class MapTotal(nn.Module):  # total activation of every channel of act2
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, z):
            m = self.model
            return m.act2(m.conv2(m.pool1(m.act1(m.conv1(z))))).flatten(2).sum(2)

    ours = occlusion(net, images, [5, 9, 63], window=4, stride=2, layer="act2")
    ref = Occlusion(MapTotal(net)).attribute(images, sliding_window_shapes=(1, 4, 4),
                                             strides=(1, 2, 2), target=torch.tensor([5, 9, 63]))
    assert (ours - ref).abs().max() <= 1e-5


def test_batching_does_not_change_the_result(net, images):
    a = occlusion(net, images, 2, window=4, stride=2, batch_size=1)
    b = occlusion(net, images, 2, window=4, stride=2, batch_size=1000)
    assert torch.allclose(a, b, atol=1e-6)


def test_positions_heatmap_and_grid(net, images):
    pos = window_positions(16, 16, 5, 3)  # ceil((16 - 5) / 3) + 1 = 5 per axis, last cut off
    assert len(pos) == 25 and pos[-1] == (12, 12)
    heat = occlusion_heatmap(net, images, 1, window=4, stride=4)
    assert heat.shape == (3, 16, 16)
    grid = occlusion_grid(net, images, 1, window=4, stride=4, score="prob")
    base, occluded, _ = occluded_scores(net, images, 1, window=4, stride=4, score="prob")
    assert grid.shape == (3, 4, 4) and torch.allclose(grid.flatten(1), occluded)
    # with non-overlapping windows the map is the drop of each window, pixel by pixel
    drop = base[:, None, None] - grid
    assert torch.allclose(occlusion_heatmap(net, images, 1, 4, 4, score="prob")[:, ::4, ::4], drop,
                          atol=1e-6)


def test_mode_and_hooks_restored_also_after_an_error(net, images):
    net.train()
    before = hooks(net)
    occlusion(net, images, 0, window=4, stride=4)
    assert net.training and hooks(net) == before
    with pytest.raises(ValueError, match="channels|feature maps"):
        occlusion(net, images, 0, window=4, stride=4, layer="fc1")
    assert net.training and hooks(net) == before
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    net.eval()


def test_bad_input_is_rejected(net, images):
    with pytest.raises(ValueError, match="larger than"):
        occlusion(net, images, 0, window=20, stride=1)
    with pytest.raises(ValueError, match="one per example"):
        occlusion(net, images, [0, 1], window=4, stride=4)
    with pytest.raises(ValueError, match="score"):
        occlusion(net, images, 0, window=4, stride=4, score="softmax")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        occlusion(net, images[0], 0, window=4, stride=4)
