"""Grad-CAM (chapter 8) against captum's LayerGradCam and pytorch-grad-cam's GradCAM."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import small_cnn
from course_utils.explain.gradcam import GradCAM, minmax, target_scores
from course_utils.models.localizer import GAPNet, GAPResNet


def small_net(inplace: bool = False) -> nn.Module:
    return small_cnn(3, 32, inplace=inplace)


def inputs(n=4, dtype=torch.float32):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=dtype)


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
               for m in model.modules())


@pytest.mark.parametrize("layer", ["0", "3", "6", "7"])
def test_raw_matches_captum_layer_gradcam(layer):
    from captum.attr import LayerGradCam

    net = small_net().double()
    x = inputs(dtype=torch.float64)
    target = torch.tensor([0, 1, 4, 2])
    ours = GradCAM(net, layer)(x, target, upsample=False, normalize=False)
    ref = LayerGradCam(net, dict(net.named_modules())[layer]).attribute(
        x, target=target, relu_attributions=True)
    assert ours.shape == ref[:, 0].shape
    assert torch.allclose(ours, ref[:, 0], atol=1e-6, rtol=0)
    assert ours.abs().max() > 0


def test_normalised_upsampled_matches_pytorch_grad_cam():
    from pytorch_grad_cam import GradCAM as RefCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = small_net()
    x = inputs()
    target = [3, 1, 0, 4]
    ours = GradCAM(net, "3")(x, target)            # 16x16 maps -> 32x32
    with RefCAM(model=net, target_layers=[net[3]]) as cam:
        ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in target])
    assert ours.shape == (4, 32, 32)
    assert np.abs(ours.numpy() - ref).max() < 1e-5
    assert float(ours.min()) >= 0 and float(ours.max()) == pytest.approx(1, abs=1e-6)


def test_targets_int_per_example_and_callable_agree():
    net = small_net()
    x = inputs()
    cam = GradCAM(net, net[6])
    per = cam(x, torch.tensor([2, 2, 2, 2]), upsample=False, normalize=False)
    assert torch.allclose(cam(x, 2, upsample=False, normalize=False), per)
    assert torch.allclose(cam(x, lambda out: out[:, 2], upsample=False, normalize=False), per)
    # each example's map depends only on its own target
    mixed = cam(x, [2, 0, 2, 0], upsample=False, normalize=False)
    assert torch.allclose(mixed[0], per[0]) and torch.allclose(mixed[2], per[2])
    assert not torch.allclose(mixed[1], per[1])
    top = cam(x, None, upsample=False, normalize=False)
    assert torch.allclose(top, cam(x, net(x).argmax(1), upsample=False, normalize=False))


def test_area_target_on_a_map_output():
    torch.manual_seed(0)
    seg = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    x = torch.rand(2, 1, 12, 12)
    cam = GradCAM(seg, "0")(x, lambda out: out[:, 1, 2:6, 2:6], upsample=True)
    assert cam.shape == (2, 12, 12) and torch.isfinite(cam).all()
    with pytest.raises(ValueError, match="callable"):
        GradCAM(seg, "0")(x, 1)


def test_options_relu_normalise_upsample():
    net = small_net()
    x = inputs()
    g = GradCAM(net, "3")
    raw = g(x, 1, upsample=False, normalize=False, relu=False)
    assert torch.allclose(g(x, 1, upsample=False, normalize=False), raw.clamp(min=0))
    assert torch.allclose(g(x, 1, upsample=False), minmax(raw.clamp(min=0)))
    assert g(x, 1, upsample=True, normalize=False).shape == (4, 32, 32)


def test_inplace_relus_give_the_same_maps_and_model_is_restored():
    a, b = small_net(False), small_net(True)
    x = inputs()
    for layer in ["0", "3", "4"]:
        assert torch.allclose(GradCAM(a, layer)(x, 1), GradCAM(b, layer)(x, 1), atol=1e-6)
    assert all(m.inplace for m in b.modules() if isinstance(m, nn.ReLU))


def test_state_restored_no_hooks_no_param_grad():
    net = small_net().train()
    net[0].weight.requires_grad_(False)
    GradCAM(net, "3")(inputs(), 0)
    assert net.training and all(m.training for m in net.modules())
    assert not net[0].weight.requires_grad and net[3].weight.requires_grad
    assert all(p.grad is None for p in net.parameters())
    assert no_hooks(net)
    with pytest.raises(ValueError, match="out of range"):
        GradCAM(net, "3")(inputs(), 7)
    assert no_hooks(net) and net.training


def test_clear_errors():
    net = small_net()
    with pytest.raises(ValueError, match="no layer named"):
        GradCAM(net, "conv99")
    with pytest.raises(ValueError, match="not a submodule"):
        GradCAM(net, nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        GradCAM(net, "3")(torch.rand(3, 32, 32), 0)
    with pytest.raises(ValueError, match="out of range"):
        GradCAM(net, "3")(inputs(), -1)
    with pytest.raises(ValueError, match="one per example"):
        GradCAM(net, "3")(inputs(), [0, 1])
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        GradCAM(net, "9")(inputs(), 0)
    with pytest.raises(TypeError, match="float"):
        GradCAM(net, "3")(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), 0)
    with pytest.raises(ValueError, match="one score per example"):
        target_scores(torch.zeros(3, 5), lambda out: out.sum())


@pytest.mark.parametrize("arch", [GAPNet, GAPResNet])
def test_localizers_every_conv_layer(arch):
    torch.manual_seed(0)
    net = arch().eval()
    x = torch.rand(2, 1, 56, 56)
    for layer in arch.cam_layers:
        cam = GradCAM(net, layer)(x, [1, 2])
        assert cam.shape == (2, 56, 56) and torch.isfinite(cam).all()
    assert arch(inplace=True)(x).shape == (2, 10)


@pytest.mark.parametrize("name,layer", [("resnet34", "layer4"), ("vgg19", "features.35")])
def test_imagenet_architectures_with_random_weights(name, layer):
    import torchvision.models as tvm

    torch.manual_seed(0)
    net = getattr(tvm, name)(weights=None).eval()
    x = torch.rand(1, 3, 64, 64)
    cam = GradCAM(net, layer)(x, 281)                 # ImageNet "tabby cat"
    assert cam.shape == (1, 64, 64) and torch.isfinite(cam).all()
    with pytest.raises(ValueError, match="1000 classes"):
        GradCAM(net, layer)(x, 1000)
