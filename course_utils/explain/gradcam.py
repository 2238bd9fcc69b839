"""Grad-CAM, written from scratch (chapter 8; "area" Grad-CAM in chapters 10 and 11).

For a conv layer with maps :math:`A^k` (k = 1..K) and a score :math:`y` (the pre-softmax
logit of a class, or any scalar function of the output), Grad-CAM weights each map by its
spatially averaged gradient and keeps the positive part of the weighted sum:

.. math:: \\alpha_k = \\frac{1}{hw} \\sum_{i,j} \\frac{\\partial y}{\\partial A^k_{ij}}, \\qquad
          L = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k A^k\\Big).

Upsampling to the input size (bilinear) and min-max normalisation are explicit options.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features import get_module, module_name
from .common import frozen_eval

Target = Union[None, int, torch.Tensor, list, Callable[[torch.Tensor], torch.Tensor]]
EPS = 1e-7  # as pytorch-grad-cam: x / (max + eps)


def check_input(x: torch.Tensor, who: str) -> torch.Tensor:
    """A float batch (N, C, H, W), or a clear error (chapters 8 and 9)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor batch (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (add a batch dimension: x[None])" if x.ndim == 3 else ""
        raise ValueError(f"{who} expects a batch of shape (N, C, H, W), got {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a float tensor (uint8 images: use data.to_float), got {x.dtype}")
    return x


def target_scores(output: torch.Tensor, target: Target) -> torch.Tensor:
    """One score per example, shape (N,), from a model's ``output`` (chapters 8-11).

    ``target`` is ``None`` (each example's top class), an int (that class for all), a sequence
    or tensor of N class indices, or a callable ``f(output)`` returning (N,) or (N, ...) (then
    summed over everything but the batch): e.g. ``lambda out: out[:, 0, 10:20, 10:20].sum((1, 2))``
    for the "area" Grad-CAM of a reconstruction. Callables must act row by row.
    """
    n = output.shape[0]
    if callable(target) and not isinstance(target, torch.Tensor):
        s = target(output)
        if not isinstance(s, torch.Tensor) or s.ndim == 0 or s.shape[0] != n:
            shape = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
            raise ValueError(f"a callable target must return one score per example, shape ({n},) "
                             f"or ({n}, ...), got {shape}")
        return s.reshape(n, -1).sum(1)
    if output.ndim != 2:
        raise ValueError(f"a class-index target needs an output of shape (N, classes), got "
                         f"{tuple(output.shape)}; pass a callable target for other outputs")
    classes = output.shape[1]
    if target is None:
        idx = output.detach().argmax(1)
    else:
        idx = torch.as_tensor(target, device=output.device)
        if idx.is_floating_point():
            raise TypeError(f"target class indices must be integers, got {idx.dtype}")
        idx = idx.long()
        if idx.ndim == 0:
            idx = idx.expand(n)
        if idx.shape != (n,):
            raise ValueError(f"target must be an int or {n} indices (one per example), got shape "
                             f"{tuple(idx.shape)}")
        if bool((idx < 0).any()) or bool((idx >= classes).any()):
            raise ValueError(f"target out of range: the model has {classes} classes (0..{classes - 1}), "
                             f"got {idx.tolist() if idx.numel() <= 10 else 'values'} ")
    return output.gather(1, idx.view(-1, 1)).squeeze(1)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Scale each map of a (N, ...) batch to [0, 1]: (m - min) / (max - min + 1e-7)."""
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(1, keepdim=True).values
    flat = flat - lo
    flat = flat / (flat.max(1, keepdim=True).values + EPS)
    return flat.view_as(maps)


def resize(maps: torch.Tensor, size, mode: str = "bilinear") -> torch.Tensor:
    """Resize (N, h, w) maps to ``size`` (H, W); bilinear uses half-pixel centres, like
    OpenCV's ``resize`` and captum (chapter 8)."""
    align = False if mode in ("bilinear", "bicubic") else None
    return F.interpolate(maps[:, None], size=tuple(size), mode=mode, align_corners=align)[:, 0]


def layer_forward(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: Target):
    """Run ``model`` on ``x`` and return ``(activations of layer, scores, output)``, with the
    activations part of the graph (chapter 8). The layer's output is cloned on the way on, so
    a following in-place op (``ReLU(inplace=True)``) cannot overwrite what we read."""
    store = {}

    def hook(_m, _inp, out):
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"layer output must be a tensor, got {type(out).__name__}")
        store["a"] = out
        return out.clone()

    handle = layer.register_forward_hook(hook)
    try:
        output = model(x)
    finally:
        handle.remove()
    if "a" not in store:
        raise ValueError(f"layer {type(layer).__name__} was not used in the forward pass")
    return store["a"], target_scores(output, target), output


class GradCAM:
    """Grad-CAM of ``model`` at ``layer`` (a module or a dotted name; any conv layer, not just
    the last) (chapter 8)::

        cam = GradCAM(net, "features.9")(x, target=3)          # (N, H, W) in [0, 1]
        raw = GradCAM(net, "features.9")(x, 3, upsample=False, normalize=False)

    The model is run in eval mode with frozen parameters (restored afterwards); gradients come
    from ``torch.autograd.grad``, so parameter ``.grad`` is left alone and no hook survives.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module):
        self.model = model
        self.layer = get_module(model, layer)
        self.layer_name = module_name(model, self.layer)

    def maps_and_grads(self, x: torch.Tensor, target: Target = None):
        """Layer activations ``A`` (N, K, h, w), gradients ``dy/dA`` and the scores ``y``."""
        x = check_input(x, "GradCAM")
        with frozen_eval(self.model), torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            acts, scores, _ = layer_forward(self.model, self.layer, x, target)
            if acts.ndim != 4:
                raise ValueError(f"Grad-CAM needs a layer with output (N, C, h, w); "
                                 f"{self.layer_name!r} gives {tuple(acts.shape)}")
            grads, = torch.autograd.grad(scores.sum(), acts)
        return acts.detach(), grads.detach(), scores.detach()

    def __call__(self, x: torch.Tensor, target: Target = None, upsample: bool = True,
                 normalize: bool = True, relu: bool = True, mode: str = "bilinear") -> torch.Tensor:
        """Grad-CAM maps, (N, H, W) when ``upsample`` else (N, h, w) at the layer's size.

        With ``normalize`` each map is min-max scaled to [0, 1]; with ``upsample`` as well the
        order is pytorch-grad-cam's: ReLU, normalise, resize, ReLU, normalise.
        """
        acts, grads, _ = self.maps_and_grads(x, target)
        weights = grads.mean(dim=(2, 3), keepdim=True)          # alpha_k
        cam = (weights * acts).sum(1)                           # sum_k alpha_k A^k
        if relu:
            cam = F.relu(cam)
        if normalize:
            cam = minmax(cam)
        if upsample:
            cam = resize(cam, x.shape[-2:], mode)
            if normalize:
                cam = minmax(F.relu(cam) if relu else cam)
        return cam

    attribute = __call__
