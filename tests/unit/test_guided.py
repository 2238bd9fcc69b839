"""Guided backprop, deconvnet and Guided Grad-CAM (chapter 8) against captum."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from conftest import small_cnn
from course_utils.explain.guided import GuidedBackprop, GuidedGradCAM, input_gradient


def small_net(inplace: bool = False) -> nn.Module:
    return small_cnn(3, 20, hidden=16, inplace=inplace)


def inputs(n=3, dtype=torch.float64):
    return torch.rand(n, 3, 20, 20, generator=torch.Generator().manual_seed(2), dtype=dtype)


def no_hooks(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
               for m in model.modules())


def test_guided_backprop_matches_captum():
    from captum.attr import GuidedBackprop as Ref

    net = small_net().double()
    x, t = inputs(), torch.tensor([0, 3, 4])
    ours = GuidedBackprop(net)(x, t)
    ref = Ref(net).attribute(x, target=t)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0) and ours.abs().max() > 0
    assert (ours - input_gradient(net, x, t)).abs().max() > 1e-3  # it is not the plain gradient


def test_deconvnet_rule_matches_captum():
    from captum.attr import Deconvolution

    net = small_net().double()
    x = inputs()
    assert torch.allclose(input_gradient(net, x, 2, rule="deconv"),
                          Deconvolution(net).attribute(x, target=2), atol=1e-6, rtol=0)


def test_plain_gradient_matches_captum_saliency():
    from captum.attr import Saliency

    net = small_net().double()
    x = inputs()
    ref = Saliency(net).attribute(x, target=1, abs=False)
    assert torch.allclose(input_gradient(net, x, 1), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("layer", ["3", "6"])
def test_guided_gradcam_matches_captum(mode, layer):
    from captum.attr import GuidedGradCam

    net = small_net().double()
    x, t = inputs(), torch.tensor([1, 1, 2])
    ours = GuidedGradCAM(net, layer)(x, t, mode=mode)
    ref = GuidedGradCam(net, dict(net.named_modules())[layer]).attribute(
        x, target=t, interpolate_mode=mode)
    assert ours.shape == x.shape
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)


def test_inplace_relus_same_result_and_model_restored():
    a, b = small_net(False), small_net(True)
    x = inputs(dtype=torch.float32)
    assert torch.allclose(GuidedBackprop(a)(x, 1), GuidedBackprop(b)(x, 1), atol=1e-6)
    assert torch.allclose(GuidedGradCAM(a, "3")(x, 1), GuidedGradCAM(b, "3")(x, 1), atol=1e-6)
    assert all(m.inplace for m in b.modules() if isinstance(m, nn.ReLU))
    assert no_hooks(b) and all(p.grad is None for p in b.parameters())
    # the model computes exactly what it did before
    assert torch.equal(b(x), a(x))


def test_restored_after_an_error():
    net = small_net(True).train()
    with pytest.raises(ValueError, match="out of range"):
        GuidedBackprop(net)(inputs(dtype=torch.float32), 9)
    assert no_hooks(net) and net.training
    assert all(m.inplace for m in net.modules() if isinstance(m, nn.ReLU))
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        GuidedBackprop(net)(torch.rand(3, 20, 20), 0)
    with pytest.raises(ValueError, match="rule must be"):
        input_gradient(net, inputs(dtype=torch.float32), 0, rule="smooth")
