"""A VAE's latent space: posterior means, a decoded grid, interpolation and imputation
(chapter 10)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..data import Batches, TensorData
from ..models import vae as V


@torch.no_grad()
def latent_means(model: nn.Module, data: TensorData, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means ``mu(x)`` of every image in ``data``, on the CPU (chapter 10)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model.encode(*V.model_inputs(model, x, y))[0].cpu()
               for x, y in Batches(data, batch_size, shuffle=False, device=device)]
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1] decoded from latent codes ``z`` (chapter 10), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.sigmoid(model.decode(z.to(device), None if y is None else y.to(device))).cpu()
    finally:
        model.train(was_training)


def latent_grid(n: int = 15, quantile: float = 0.95) -> torch.Tensor:
    """``n * n`` points of the 2-D latent plane, evenly spaced in probability under the prior
    (Gaussian quantiles from ``1 - quantile`` to ``quantile``), row by row from the top
    (``z_2`` large) (chapter 10)."""
    if not 0.5 < quantile < 1:
        raise ValueError(f"quantile must lie in (0.5, 1), got {quantile}")
    p = torch.linspace(1 - quantile, quantile, n, dtype=torch.float64)
    q = torch.special.ndtri(p).float()
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    return torch.stack([z1.flatten(), z2.flatten()], 1)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """``steps`` latent codes on the straight line from ``z0`` to ``z1`` (chapter 10)."""
    t = torch.linspace(0, 1, steps, device=z0.device).view(-1, 1)
    return (1 - t) * z0.view(1, -1) + t * z1.view(1, -1)


@torch.no_grad()
def impute(model: nn.Module, x: torch.Tensor, known: torch.Tensor, y: torch.Tensor | None = None,
           steps: int = 30) -> torch.Tensor:
    """Fill in the unknown pixels of ``x`` (where the boolean mask ``known``, broadcastable to
    ``x``, is False) with a trained VAE (chapter 10): start from zeros there, then ``steps``
    times reconstruct from the posterior mean and copy the reconstruction into the unknown
    pixels only, keeping the known ones. Returns the completed images in [0, 1]."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x, known = x.to(device), known.to(device).bool()
    y = None if y is None else y.to(device)
    cur = torch.where(known, x, torch.zeros_like(x))
    try:
        for _ in range(steps):
            cur = torch.where(known, x, model.reconstruct(cur, y))
    finally:
        model.train(was_training)
    return cur.cpu()
