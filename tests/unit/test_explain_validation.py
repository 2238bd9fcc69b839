"""Bad input to every explain method gets a clear error from our own code (README, "Bad input").

One parametrised test per category of bad input, over all methods it applies to: a clear
error is a ValueError or TypeError raised inside ``course_utils`` that names the argument.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import course_utils
from course_utils.explain.common import relu_backward_rule
from course_utils.explain.deconvnet import deconvnet, top_activations
from course_utils.explain.featviz import maximize
from course_utils.explain.gradcam import GradCAM
from course_utils.explain.guided import GuidedBackprop, GuidedGradCAM, input_gradient
from course_utils.explain.ig import IntegratedGradients, path_scores
from course_utils.explain.metrics import deletion_insertion, pointing_game
from course_utils.explain.occlusion import occlusion
from course_utils.explain.smoothgrad import SmoothGrad

PACKAGE = Path(course_utils.__file__).parent
N, C, H, W, CLASSES = 2, 1, 8, 8, 3


def tiny_net() -> nn.Module:
    """8x8 grey images, 3 classes; layer "3" is a conv and "4" a ReLU with 3 channels."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, CLASSES)).eval()


def images(n=N, dtype=torch.float32):
    return torch.rand(n, C, H, W, generator=torch.Generator().manual_seed(1)).to(dtype)


# Each method as f(model, x, target, layer) -> (result, expected shape). ``target`` is a class
# or, for the methods that project a layer's channel, a channel (3 of them, like the classes).
METHODS = {
    "gradcam": lambda m, x, t, layer="3": (GradCAM(m, layer)(x, t), (len(x), H, W)),
    "saliency": lambda m, x, t, layer=None: (input_gradient(m, x, t), x.shape),
    "guided_backprop": lambda m, x, t, layer=None: (GuidedBackprop(m)(x, t), x.shape),
    "guided_gradcam": lambda m, x, t, layer="3": (GuidedGradCAM(m, layer)(x, t), x.shape),
    "deconvnet_class": lambda m, x, t, layer=None: (deconvnet(m, x, target=t), x.shape),
    "deconvnet_channel": lambda m, x, t, layer="4": (deconvnet(m, x, layer=layer, channel=t), x.shape),
    "integrated_gradients": lambda m, x, t, layer=None: (
        IntegratedGradients(m)(x, t, n_steps=4), x.shape),
    "path_scores": lambda m, x, t, layer=None: (
        path_scores(m, x, t, 0.0, [0.0, 0.5, 1.0]), (3, len(x))),
    "top_activations": lambda m, x, t, layer="4": (
        top_activations(m, x, layer, t, k=1)[1], (1,)),
    "occlusion": lambda m, x, t, layer=None: (occlusion(m, x, t, window=4, stride=4), x.shape),
    "smoothgrad": lambda m, x, t, layer=None: (SmoothGrad(m)(x, t, n_samples=2), x.shape),
    "occlusion_channel": lambda m, x, t, layer="4": (
        occlusion(m, x, t, window=4, stride=4, layer=layer), x.shape),
    "deletion_insertion": lambda m, x, t, layer=None: (
        deletion_insertion(m, x, x[:, 0], t, steps=4)[0], (len(x),)),
    "featviz": lambda m, x, t, layer="4": (
        maximize(m, t, layer, shape=tuple(x.shape[1:]), steps=2).images,
        (torch.as_tensor(t).numel(), C, H, W)),
}
IMAGE_METHODS = [k for k in METHODS if k != "featviz"]           # those that take a batch x
PER_EXAMPLE = [k for k in IMAGE_METHODS if k != "top_activations"]  # one target per example
X_NAME = {"top_activations": "images"}                           # x under another name
TARGET_NAME = {"featviz": "units", "deconvnet_channel": "channel"}  # target under another name
LAYER_METHODS = ["gradcam", "guided_gradcam", "deconvnet_channel", "occlusion_channel", "featviz",
                 "top_activations"]


@pytest.fixture(scope="module")
def net():
    return tiny_net()


def clear_error(excinfo, *words):
    """Raised by our code (not deep inside torch) and naming ``words``."""
    assert excinfo.type in (ValueError, TypeError)
    assert Path(excinfo.traceback[-1].path).is_relative_to(PACKAGE), excinfo.traceback[-1].path
    for word in words:
        assert word in str(excinfo.value), (word, str(excinfo.value))


def call(name, model, x, target=1, **kw):
    return METHODS[name](model, x, target, **kw)


BAD_BATCHES = {
    "not a tensor": (lambda: images().numpy(), TypeError, ["x", "torch.Tensor"]),
    "no batch dimension": (lambda: images()[0], ValueError, ["x", "(N, C, H, W)", "x[None]"]),
    "empty batch": (lambda: images()[:0], ValueError, ["x", "empty"]),
    "uint8": (lambda: (images() * 255).to(torch.uint8), TypeError, ["torch.uint8", "cu.data.to_float"]),
    "float64 for a float32 model": (lambda: images(dtype=torch.float64), TypeError,
                                    ["torch.float64", "torch.float32"]),
    "NaN": (lambda: images().index_put_((torch.tensor([1]),), torch.tensor(float("nan"))),
            ValueError, ["x", "finite", "64 NaN"]),
    "inf": (lambda: images().index_put_((torch.tensor([0]),), torch.tensor(float("inf"))),
            ValueError, ["x", "finite", "64 inf"]),
    "wrong image size": (lambda: torch.rand(N, C, 12, 12), ValueError, ["x", "(2, 1, 12, 12)"]),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_bad_batch(net, name, case):
    make, kind, words = BAD_BATCHES[case]
    arg = X_NAME.get(name, "x")
    words = [w.replace("x", arg) if w in ("x", "x[None]") else w for w in words]
    with pytest.raises(kind) as excinfo:
        call(name, net, make())
    clear_error(excinfo, *words)


BAD_TARGETS = {
    "float": (1.0, TypeError, ["target", "integer", "float"]),
    "bool": (True, TypeError, ["target", "integer"]),
    "string": ("cat", TypeError, ["target", "integer"]),
    "too large": (3, ValueError, ["out of range", "has 3"]),
    "negative": ([0, -1], ValueError, ["out of range", "[-1, 0]"]),
    "one too many": ([0, 1, 2], ValueError, ["one per example (2)", "got 3"]),
    "2-d": ([[0], [1]], ValueError, ["1-d"]),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
@pytest.mark.parametrize("name", PER_EXAMPLE + ["featviz"])
def test_bad_target(net, name, case):
    value, kind, words = BAD_TARGETS[case]
    if name == "featviz" and case == "one too many":
        pytest.skip("featviz makes one image per unit, any number of them")
    words = [w.replace("target", TARGET_NAME.get(name, "target")) for w in words]
    with pytest.raises(kind) as excinfo:
        call(name, net, images(), value)
    clear_error(excinfo, *words)


@pytest.mark.parametrize("name", PER_EXAMPLE)
def test_targets_one_for_all_or_one_per_example(net, name):
    one, _ = call(name, net, images(), 2)
    each, shape = call(name, net, images(), [2, 2])
    assert one.shape == shape and torch.isfinite(one).all()
    assert torch.allclose(one, each)


@pytest.mark.parametrize("name", LAYER_METHODS)
def test_bad_layer(net, name):
    with pytest.raises(ValueError) as excinfo:
        call(name, net, images(), layer="conv9")
    clear_error(excinfo, "no layer named 'conv9'", "available")
    with pytest.raises(TypeError) as excinfo:
        call(name, net, images(), layer=3)
    clear_error(excinfo, "layer", "int")


@pytest.mark.parametrize("name", list(METHODS))
def test_works_inside_no_grad(net, name):
    with torch.no_grad():
        result, shape = call(name, net, images())
    assert result.shape == shape and torch.isfinite(result).all()
    assert result.abs().sum() > 0


def hook_state(model):
    return [(m.training, m._is_full_backward_hook, len(m._forward_hooks), len(m._backward_hooks),
             len(m._forward_pre_hooks), len(m._backward_pre_hooks)) for m in model.modules()]


@pytest.mark.parametrize("name", list(METHODS))
def test_model_left_as_found_after_a_result_and_after_an_error(name):
    model = tiny_net().train()
    before = hook_state(model)
    call(name, model, images())
    assert hook_state(model) == before
    with pytest.raises(ValueError):
        call(name, model, images(), 7)
    assert hook_state(model) == before
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize("rule", ["guided", "deconv"])
def test_relu_rule_leaves_no_hook_flag(rule):
    model = tiny_net()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert all(m._is_full_backward_hook is None for m in relus)
    with relu_backward_rule(model, rule):
        model(images()).sum()
        assert all(m._is_full_backward_hook is True for m in relus)
    assert all(m._is_full_backward_hook is None for m in relus)
    # so an old-style backward hook can be registered afterwards (torch refuses to mix them)
    relus[0].register_backward_hook(lambda *a: None).remove()


FEATVIZ_BAD = {
    "NaN init": (dict(init=float("nan")), ValueError, ["init", "finite"]),
    "inf lr": (dict(lr=float("inf")), ValueError, ["lr", "finite"]),
    "shape of two": (dict(shape=(8, 8)), ValueError, ["shape", "(C, H, W)"]),
    "shape the model cannot take": (dict(shape=(3, 8, 8)), ValueError, ["(1, 3, 8, 8)"]),
    "no units": (dict(units=[]), ValueError, ["units", "at least one"]),
    "steps 0": (dict(steps=0), ValueError, ["steps", ">= 1"]),
}


@pytest.mark.parametrize("case", list(FEATVIZ_BAD))
def test_featviz_bad_arguments(net, case):
    kw, kind, words = FEATVIZ_BAD[case]
    kw = dict(dict(units=[0], layer="4", shape=(1, 8, 8), steps=2), **kw)
    with pytest.raises(kind) as excinfo:
        maximize(net, **kw)
    clear_error(excinfo, *words)


@pytest.mark.parametrize("maps,words", [
    (torch.full((2, 8, 8), float("nan")), ["maps", "finite"]),
    (torch.rand(0, 8, 8), ["maps", "empty"]),
    (torch.rand(2, 3, 8, 8), ["(N, H, W)", "reduce channels"]),
])
def test_metric_maps_checked(maps, words):
    with pytest.raises(ValueError) as excinfo:
        pointing_game(maps, torch.ones(len(maps), 8, 8, dtype=torch.bool))
    clear_error(excinfo, *words)


@pytest.mark.parametrize("baseline,kind", [(float("nan"), ValueError), ("grey", ValueError),
                                           (torch.rand(2, 1, 8, 8).fill_(float("inf")), ValueError),
                                           (object(), TypeError)])
def test_integrated_gradients_baseline_checked(net, baseline, kind):
    with pytest.raises(kind) as excinfo:
        IntegratedGradients(net)(images(), 0, baseline=baseline, n_steps=2)
    clear_error(excinfo, "baseline")


OPTION_BAD = {
    "gradcam mode": (lambda m: GradCAM(m, "3")(images(), 0, mode="cubic"), ValueError, "mode"),
    "guided gradcam mode": (lambda m: GuidedGradCAM(m, "3")(images(), 0, mode="cubic"), ValueError, "mode"),
    "ig n_steps float": (lambda m: IntegratedGradients(m)(images(), 0, n_steps=2.5), TypeError, "n_steps"),
    "ig internal_batch_size 0": (lambda m: IntegratedGradients(m)(images(), 0, internal_batch_size=0),
                                 ValueError, "internal_batch_size"),
    "occlusion window float": (lambda m: occlusion(m, images(), 0, window=2.5), TypeError, "window"),
    "occlusion stride triple": (lambda m: occlusion(m, images(), 0, stride=(1, 2, 3)), ValueError, "stride"),
    "occlusion baseline NaN": (lambda m: occlusion(m, images(), 0, baseline=float("nan")), ValueError,
                               "baseline"),
    "deletion steps 0": (lambda m: deletion_insertion(m, images(), images()[:, 0], 0, steps=0),
                         ValueError, "steps"),
    "top_activations channel": (lambda m: top_activations(m, images(), "4", 3, k=1), ValueError,
                                "channel out of range: layer '4' has 3 channels"),
    "top_activations k": (lambda m: top_activations(m, images(), "4", 0, k=3), ValueError, "k must be in"),
    "featviz jitter -1": (lambda m: maximize(m, [0], "4", shape=(1, 8, 8), steps=2, jitter=-1),
                          ValueError, "jitter"),
}


@pytest.mark.parametrize("case", list(OPTION_BAD))
def test_bad_options(net, case):
    call_, kind, word = OPTION_BAD[case]
    with pytest.raises(kind) as excinfo:
        call_(net)
    clear_error(excinfo, word)


def test_chunked_attribution_equals_one_pass():
    """Grad-CAM and guided backprop in chunks of examples (the default, for speed on CPU) give
    what one pass over the whole batch gives; callable targets are not chunked."""
    from course_utils.explain.common import chunked
    from course_utils.explain.guided import input_gradient
    from course_utils.models import transfer

    torch.manual_seed(0)
    net = transfer.SmallCNN(5).eval()
    x, t = torch.rand(70, 1, 28, 28), torch.randint(0, 5, (70,))
    cam = GradCAM(net, net.last_conv_relu)
    # tolerances: max |chunked - one pass| over seeds 0-5 and targets, measured 2026-12-04: 0 at
    # 1 thread; at 2 threads 7.2e-7 (Grad-CAM, maps in [0, 1]) and 2.3e-10 (guided, values up to
    # 1e-3), on the default kernels 1.3e-6 and 2.3e-10: bounds 1e-5 and 1e-7 sit outside both
    for target in (t, t.tolist(), 3, None):
        torch.testing.assert_close(cam(x, target, batch_size=16), cam(x, target, batch_size=None), atol=1e-5, rtol=0)
        torch.testing.assert_close(input_gradient(net, x, target, "guided", batch_size=16),
                                   input_gradient(net, x, target, "guided", batch_size=None), atol=1e-7, rtol=0)
    sizes = []
    chunked(lambda xs, ts: sizes.append(len(xs)) or xs, x, lambda out: out[:, 0], batch_size=16)
    assert sizes == [70]
    with pytest.raises(ValueError, match="entries for 70 examples"):
        chunked(lambda xs, ts: xs, x, t[:5], batch_size=16)
