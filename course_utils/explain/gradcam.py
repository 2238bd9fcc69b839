"""Grad-CAM, written from scratch (chapter 8; "area" Grad-CAM in chapters 10 and 11).

For a conv layer with maps :math:`A^k` (k = 1..K) and a score :math:`y` (the pre-softmax
logit of a class, or any scalar function of the output), Grad-CAM weights each map by its
spatially averaged gradient and keeps the positive part of the weighted sum:

.. math:: \\alpha_k = \\frac{1}{hw} \\sum_{i,j} \\frac{\\partial y}{\\partial A^k_{ij}}, \\qquad
          L = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k A^k\\Big).

Upsampling to the input size (bilinear) and min-max normalisation are explicit options.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features import module_name
from ..timing import timed

# check_input, target_scores, layer_forward and Target live in common; re-exported here
from .common import (  # noqa: F401
    CHUNK,
    Target,
    check_batch,
    check_input,
    chunked,
    explaining,
    find_layer,
    layer_forward,
    target_scores,
)

EPS = 1e-7  # as pytorch-grad-cam: x / (max + eps)
RESIZE_MODES = ("bilinear", "nearest", "nearest-exact", "bicubic", "area")


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
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    align = False if mode in ("bilinear", "bicubic") else None
    return F.interpolate(maps[:, None], size=tuple(size), mode=mode, align_corners=align)[:, 0]


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
        self.layer = find_layer(model, layer)
        self.layer_name = module_name(model, self.layer)

    def maps_and_grads(self, x: torch.Tensor, target: Target = None):
        """Layer activations ``A`` (N, K, h, w), gradients ``dy/dA`` and the scores ``y``."""
        x = check_batch(x, "GradCAM", model=self.model)
        with explaining(self.model):
            x = x.detach().clone().requires_grad_(True)
            acts, scores, _ = layer_forward(self.model, self.layer, x, target)
            if acts.ndim != 4:
                raise ValueError(f"Grad-CAM needs a layer with output (N, C, h, w); "
                                 f"{self.layer_name!r} gives {tuple(acts.shape)}")
            grads, = torch.autograd.grad(scores.sum(), acts)
        return acts.detach(), grads.detach(), scores.detach()

    @timed("attribution")
    def __call__(self, x: torch.Tensor, target: Target = None, upsample: bool = True,
                 normalize: bool = True, relu: bool = True, mode: str = "bilinear",
                 batch_size: int | None = CHUNK) -> torch.Tensor:
        """Grad-CAM maps, (N, H, W) when ``upsample`` else (N, h, w) at the layer's size.

        With ``normalize`` each map is min-max scaled to [0, 1]; with ``upsample`` as well the
        order is pytorch-grad-cam's: ReLU, normalise, resize, ReLU, normalise. Examples go
        through the model ``batch_size`` at a time (:func:`~.common.chunked`).
        """
        x = check_batch(x, "GradCAM", model=self.model)
        return chunked(lambda xs, ts: self._maps(xs, ts, upsample, normalize, relu, mode), x, target, batch_size)

    def _maps(self, x, target, upsample, normalize, relu, mode):
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
