"""Attribution of a region of a dense output: a segmentation's class over an area
(Grad-CAM target, chapter 11) and a reconstruction's pixels in a box (guided backprop,
chapter 10)."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from ..models.vae import MeanReconstruction
from .common import frozen_eval, relu_backward_rule


def region_target(cls: int, mask: torch.Tensor):
    """Target for area Grad-CAM (chapter 11): a function of the model output (N, K, H, W)
    that returns, per image, the sum of class ``cls``'s score over the pixels of ``mask``
    ((H, W) or (N, H, W), bool)."""
    mask = torch.as_tensor(mask)

    def target(out: torch.Tensor) -> torch.Tensor:
        m = mask.to(out.device, out.dtype)
        m = m.expand(out.shape[0], *out.shape[-2:]) if m.ndim == 2 else m
        return (out[:, cls] * m).sum(dim=(-2, -1))

    return target


def box_mask(box: tuple[int, int, int], shape=(28, 28)) -> torch.Tensor:
    """Boolean H x W mask of the square ``box = (row, col, size)`` (top-left corner) (chapter 10)."""
    r, c, s = box
    h, w = shape
    if s < 1 or r < 0 or c < 0 or r + s > h or c + s > w:
        raise ValueError(f"box (row={r}, col={c}, size={s}) does not fit in an image of {h}x{w}")
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[r:r + s, c:c + s] = True
    return mask


def area_target(box: tuple[int, int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Callable mapping output images (N x 1 x H x W) to the sum of each one's ``box`` region:
    the scalar whose gradient area attribution explains (chapter 10)."""
    r, c, s = box
    return lambda out: out[:, :, r:r + s, c:c + s].flatten(1).sum(1)


def area_guided_backprop(vae: nn.Module, x: torch.Tensor, box: tuple[int, int, int]) -> torch.Tensor:
    """Area guided backprop (chapter 10): the gradient of the sum of the reconstruction over the
    square ``box`` with respect to the input, with every ``nn.ReLU`` of the model passing only
    positive gradients. ``x``: N x 1 x 28 x 28; returns N x 28 x 28."""
    net = MeanReconstruction(vae)
    box_mask(box, tuple(x.shape[-2:]))
    with frozen_eval(net), relu_backward_rule(net, "guided"):
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(area_target(box)(net(xg)).sum(), xg)
    return grad[:, 0].detach()


def mass_outside(attribution: torch.Tensor, box: tuple[int, int, int]) -> torch.Tensor:
    """Share of the absolute attribution of each map (N x H x W, or H x W) that lies outside
    ``box`` (chapter 10): 0 for a purely local explanation."""
    a = attribution.abs()
    a = a.unsqueeze(0) if a.ndim == 2 else a
    mask = box_mask(box, tuple(a.shape[-2:])).to(a.device)
    total = a.flatten(1).sum(1).clamp_min(1e-12)
    return a[:, ~mask].sum(1) / total
