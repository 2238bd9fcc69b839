"""Input gradients with a modified ReLU backward: guided backprop, deconvnet, and Guided
Grad-CAM (chapters 6 and 8).

Guided backprop lets a gradient pass a ReLU only where the forward input was positive *and*
the gradient itself is positive; the result is a sharp, high-resolution picture of the input
pixels that raise the score. Guided Grad-CAM multiplies it by the (upsampled) Grad-CAM map,
keeping the sharp detail only where Grad-CAM says the class evidence is.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..timing import timed
from .common import CHUNK, Target, check_batch, chunked, explaining, run_model, target_scores
from .gradcam import GradCAM, resize


@timed("attribution")
def input_gradient(model: nn.Module, x: torch.Tensor, target: Target = None,
                   rule: str | None = None, batch_size: int | None = CHUNK) -> torch.Tensor:
    """d score / d input, shape of ``x`` (chapters 6, 8, 9). ``rule``: ``None`` (the plain
    gradient, "saliency"), ``"guided"`` (guided backprop) or ``"deconv"`` (deconvnet).
    Works with in-place ReLUs; the model is restored exactly afterwards. Examples go through
    the model ``batch_size`` at a time (:func:`~.common.chunked`)."""
    x = check_batch(x, "input_gradient", model=model)
    return chunked(lambda xs, ts: _input_gradient(model, xs, ts, rule), x, target, batch_size)


def _input_gradient(model, x, target, rule):
    with explaining(model, rule):
        x = x.detach().clone().requires_grad_(True)
        scores = target_scores(run_model(model, x), target)
        grad, = torch.autograd.grad(scores.sum(), x)
    return grad.detach()


class GuidedBackprop:
    """Guided backprop (Springenberg et al., 2015) (chapter 8): ``GuidedBackprop(net)(x, t)``
    is the input gradient with every ``nn.ReLU`` passing only positive gradients where its
    input was positive."""

    def __init__(self, model: nn.Module):
        self.model = model

    @timed("attribution")
    def __call__(self, x: torch.Tensor, target: Target = None) -> torch.Tensor:
        return input_gradient(self.model, x, target, rule="guided")

    attribute = __call__


class GuidedGradCAM:
    """Guided Grad-CAM (chapter 8): guided backprop times the raw (ReLU'd, unnormalised)
    Grad-CAM of ``layer`` resized to the input (``mode``: ``"bilinear"`` or ``"nearest"``,
    captum's default); the map is broadcast over the input channels."""

    def __init__(self, model: nn.Module, layer: str | nn.Module):
        self.model = model
        self.gradcam = GradCAM(model, layer)

    @timed("attribution")
    def __call__(self, x: torch.Tensor, target: Target = None, mode: str = "bilinear") -> torch.Tensor:
        cam = self.gradcam(x, target, upsample=False, normalize=False, relu=True)
        cam = resize(cam, x.shape[-2:], mode)
        return input_gradient(self.model, x, target, rule="guided") * cam[:, None]

    attribute = __call__
