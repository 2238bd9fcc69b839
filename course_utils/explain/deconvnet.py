"""Zeiler & Fergus's deconvnet: project a feature map's activation back to pixels (chapter 6).

The projection runs the network backwards from one layer to the input: through max-pooling
with the *switches* recorded in the forward pass (the gradient of max-pooling routes the
signal to the position that won), through each ReLU by rectifying the signal coming back
(ignoring the forward pass's sign pattern), and through each convolution with its transposed
filters (the gradient of a convolution). Autograd already does the pooling and convolution
parts; :func:`~course_utils.explain.common.relu_backward_rule` swaps in the deconvnet's ReLU
rule. The result equals captum's ``Deconvolution``, also for a map that is all zero (a dead
channel): ``mode="max"`` then projects its first unit (row-major), as captum's argmax does,
and a ReLU layer applies its own rule to that signal, so it is not zeroed.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..timing import timed
from .common import (
    check_batch,
    check_count,
    check_indices,
    explaining,
    feature_maps,
    find_layer,
    frozen_eval,
    recorded,
    recording,
    run_model,
    target_scores,
)

MODES = ("max", "map")


def _seed(act: torch.Tensor, channel: torch.Tensor, mode: str) -> torch.Tensor:
    """The signal sent back from ``act``: the chosen channel's strongest unit or whole map."""
    rows = torch.arange(act.shape[0], device=act.device)
    chosen = act[rows, channel].detach()                 # (N, H, W)
    seed = torch.zeros_like(act)
    if mode == "max":
        flat = chosen.flatten(1)
        one_hot = torch.zeros_like(flat).scatter_(1, flat.argmax(1, keepdim=True), 1.0)
        seed[rows, channel] = one_hot.view_as(chosen)
    else:
        seed[rows, channel] = chosen
    return seed


@timed("attribution")
def deconvnet(model: nn.Module, x: torch.Tensor, layer=None, channel=None, target=None,
              mode: str = "max") -> torch.Tensor:
    """Deconvnet projection (N, C, H, W) of images ``x`` (N, C, H, W) (chapter 6).

    With ``layer`` (a name or module giving feature maps) and ``channel`` (one index or one
    per image): ``mode="max"`` projects the strongest activation of that feature map alone
    (every other unit set to zero, as in the paper's figures); ``mode="map"`` projects the
    whole feature map. Without ``layer``: projects the logit of class ``target``, which is
    captum's ``Deconvolution(model).attribute(x, target)``.

    Every ReLU of ``model`` must be an ``nn.ReLU`` module. Hooks are removed and the model's
    mode restored afterwards, also after an error; parameter ``.grad`` is left untouched.
    """
    x = check_batch(x, "deconvnet", model=model)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if (layer is None) == (target is None):
        raise ValueError("give either layer (with channel) or target (a class), not both or neither")
    if layer is not None and channel is None:
        raise ValueError("a layer needs a channel: which feature map to project")
    module = find_layer(model, layer) if layer is not None else None
    with explaining(model, "deconv"):
        x = x.detach().clone().requires_grad_(True)
        if module is None:
            scores = target_scores(run_model(model, x), target)
            grad, = torch.autograd.grad(scores.sum(), x)
            return grad.detach()
        store = feature_maps(model, x, module, layer)
        act = store["out"]
        channel = check_indices(channel, len(x), act.shape[1], "channel", f"layer {layer!r}",
                                "channels", act.device)
        seed = _seed(act, channel, mode)
        if isinstance(module, nn.ReLU):
            # the layer's own rule: start below it, or a dead map's unit would be zeroed
            act, seed = store["in"], F.relu(seed)
        grad, = torch.autograd.grad(act, x, grad_outputs=seed)
    return grad.detach()


@torch.no_grad()
@timed("attribution")
def top_activations(model: nn.Module, images: torch.Tensor, layer, channel: int, k: int = 9,
                    batch_size: int = 256):
    """The ``k`` images whose feature map ``channel`` of ``layer`` fires most strongly
    (chapter 6). Returns ``(indices, values, positions)``: image indices into ``images``,
    the maximum activation of each, and its (row, col) in the feature map."""
    images = check_batch(images, "top_activations", "images", model=model)
    if check_count(k, "k", "top_activations") > len(images):
        raise ValueError(f"top_activations: k must be in [1, {len(images)}], got {k}")
    check_count(batch_size, "batch_size", "top_activations")
    module = find_layer(model, layer)
    maxima, where = [], []
    with frozen_eval(model), recording(module) as store:
        for i in range(0, len(images), batch_size):
            run_model(model, images[i:i + batch_size], "images of shape")
            act = recorded(store, model, module)["out"]
            if act.ndim != 4:
                raise ValueError(f"top_activations: layer {layer!r} must give feature maps "
                                 f"(N, C, H, W), got {tuple(act.shape)}")
            ch = int(check_indices(channel, 1, act.shape[1], "channel", f"layer {layer!r}", "channels")[0])
            flat = act[:, ch].flatten(1)
            value, pos = flat.max(1)
            maxima.append(value)
            where.append(torch.stack([pos // act.shape[-1], pos % act.shape[-1]], 1))
    maxima, where = torch.cat(maxima), torch.cat(where)
    values, idx = maxima.topk(k)
    return idx, values, where[idx]


def receptive_field(model: nn.Module, layer, row: int, col: int, input_size: int):
    """Input window ``(top, left, bottom, right)`` (bottom/right exclusive, clipped to the
    image) seen by unit (``row``, ``col``) of ``layer``'s output (chapter 6).

    Walks the leaf modules in registration order up to ``layer``, which must be the order of
    the forward pass; understands convolutions, pooling, padding and element-wise layers.
    """
    target = find_layer(model, layer)
    jump, start, size = 1, 0.0, 1      # unit spacing, centre of unit 0, field size (in pixels)
    for module in model.modules():
        if list(module.children()) and module is not target:
            continue
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            def first(v):
                return v[0] if isinstance(v, tuple) else v
            k = first(module.kernel_size)
            s = first(module.stride) if module.stride is not None else k
            p = first(module.padding)
            d = first(getattr(module, "dilation", 1))
            if not isinstance(p, int):
                raise ValueError(f"receptive_field needs integer padding, got {p!r} in {module}")
            k_eff = d * (k - 1) + 1
            size += (k_eff - 1) * jump
            start += ((k_eff - 1) / 2 - p) * jump
            jump *= s
        elif isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d)):
            left = module.padding[0] if isinstance(module.padding, tuple) else module.padding
            start -= left * jump
        elif not isinstance(module, (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.Identity,
                                     nn.BatchNorm2d, nn.Dropout, nn.Dropout2d)):
            raise ValueError(f"receptive_field cannot pass a {type(module).__name__} "
                             f"before reaching {layer!r}")
        if module is target:
            break
    half = (size - 1) / 2
    top, left = start + row * jump - half, start + col * jump - half
    box = [int(round(top)), int(round(left)), int(round(top + size)), int(round(left + size))]
    return (max(0, box[0]), max(0, box[1]), min(input_size, box[2]), min(input_size, box[3]))
