"""Deconvnet projections against captum's Deconvolution (chapter 6)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from captum.attr import Deconvolution

from course_utils.explain.deconvnet import deconvnet, receptive_field, top_activations
from course_utils.models.cifar import CifarLeNet

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def images(grey16):
    return grey16(4)


class UpTo(nn.Module):
    """The first layers of a CifarLeNet, flattened: captum's target is then one unit."""

    def __init__(self, model, layer):
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, z):
        m = self.model
        z = m.act1(m.conv1(z))
        if self.layer == "act2":
            z = m.act2(m.conv2(m.pool1(z)))
        elif self.layer == "pool2":
            z = m.pool2(m.act2(m.conv2(m.pool1(z))))
        return z.flatten(1)


def hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def test_class_projection_equals_captum(net, images):
    target = torch.tensor([1, 4, 4, 9])
    ours = deconvnet(net, images, target=target)
    ref = Deconvolution(net).attribute(images, target=target)
    assert ours.shape == images.shape and ours.abs().sum() > 0
    assert (ours - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("layer,channel", [("act1", 3), ("act2", 17), ("pool2", 40)])
def test_strongest_unit_projection_equals_captum(net, images, layer, channel):
    ours = deconvnet(net, images, layer=layer, channel=channel, mode="max")
    with torch.no_grad():
        act = UpTo(net, layer)(images).view(len(images), 32 if layer == "act1" else 64, -1)
        flat_in_channel = act[:, channel].argmax(1)
        target = channel * act.shape[-1] + flat_in_channel
    ref = Deconvolution(UpTo(net, layer)).attribute(images, target=target)
    assert ours.abs().sum() > 0
    assert (ours - ref).abs().max() <= 1e-5


def test_whole_map_projection_equals_captum(net, images):
    # sending the whole map back = the gradient of sum(a * stop_grad(a)) over that map
    class MapEnergy(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.up = UpTo(model, "pool2")

        def forward(self, z):
            a = self.up(z).view(len(z), 64, -1)[:, 7]
            return (a * a.detach()).sum(1, keepdim=True)

    ours = deconvnet(net, images, layer="pool2", channel=7, mode="map")
    ref = Deconvolution(MapEnergy(net)).attribute(images, target=0)
    assert ours.abs().sum() > 0
    assert (ours - ref).abs().max() <= 1e-5


def test_switches_confine_the_projection_to_the_receptive_field(net, images):
    _, _, pos = top_activations(net, images, "act2", 5, k=4)
    proj = deconvnet(net, images, layer="act2", channel=5)
    for i in range(4):
        top, left, bottom, right = receptive_field(net, "act2", int(pos[i, 0]), int(pos[i, 1]), 16)
        outside = proj[i, 0].clone()
        outside[top:bottom, left:right] = 0
        assert outside.abs().max() == 0 and proj[i].abs().sum() > 0


def test_receptive_field_sizes(net):
    assert receptive_field(net, "conv1", 5, 5, 100) == (3, 3, 8, 8)        # 5x5, padding 2
    assert receptive_field(net, "pool1", 2, 2, 100) == (2, 2, 8, 8)        # 6x6
    top, left, bottom, right = receptive_field(net, "act2", 4, 4, 100)     # 14x14
    assert (bottom - top, right - left) == (14, 14)
    top, left, bottom, right = receptive_field(net, "pool2", 2, 2, 100)    # 16x16
    assert (bottom - top, right - left) == (16, 16)
    assert receptive_field(net, "conv1", 0, 0, 16)[:2] == (0, 0)           # clipped


def test_top_activations_are_the_largest(net, images):
    idx, values, pos = top_activations(net, images, "act1", 2, k=2)
    with torch.no_grad():
        maxima = net.act1(net.conv1(images))[:, 2].flatten(1).max(1).values
    assert torch.equal(idx, maxima.topk(2).indices) and torch.allclose(values, maxima.topk(2).values)
    assert pos.shape == (2, 2)


def test_mode_hooks_and_grads_restored_also_after_an_error(net, images):
    net.train()
    before = hooks(net)
    deconvnet(net, images, layer="act2", channel=0)
    assert net.training and hooks(net) == before
    with pytest.raises(ValueError, match="channel out of range"):
        deconvnet(net, images, layer="act2", channel=64)
    assert net.training and hooks(net) == before
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(not m.inplace for m in net.modules() if isinstance(m, nn.ReLU))
    net.eval()


def test_bad_arguments(net, images):
    with pytest.raises(ValueError, match="either layer"):
        deconvnet(net, images)
    with pytest.raises(ValueError, match="needs a channel"):
        deconvnet(net, images, layer="act2")
    with pytest.raises(ValueError, match="no layer named"):
        deconvnet(net, images, layer="conv9", channel=0)
    with pytest.raises(ValueError, match="mode"):
        deconvnet(net, images, layer="act2", channel=0, mode="mean")
    with pytest.raises(ValueError, match="nn.ReLU"):
        deconvnet(CifarLeNet(size=16, activation="tanh"), images, target=0)


def test_dead_maps_project_like_captum(net, images):
    """A map that is zero everywhere at a ReLU layer: its first unit, passed back through the
    ReLU's own deconvnet rule, as captum does (this used to come back as zeros)."""
    with torch.no_grad():
        act = UpTo(net, "act2")(images).view(len(images), 64, -1)
    dead = [(i, c) for i in range(len(images)) for c in range(64) if act[i, c].max() <= 0]
    assert dead
    for i, c in dead:
        ours = deconvnet(net, images[i:i + 1], layer="act2", channel=c, mode="max")
        ref = Deconvolution(UpTo(net, "act2")).attribute(images[i:i + 1], target=c * act.shape[-1])
        assert ref.abs().sum() > 0
        assert (ours - ref).abs().max() <= 1e-5
