"""How good is an attribution map? The pointing game and deletion / insertion curves
(chapters 8 and 9).

- Pointing game (Zhang et al., 2016): a map scores a hit when its maximum falls inside the
  object's mask, or within ``tolerance`` pixels of it.
- Deletion / insertion (Petsiuk et al., 2018): remove (or reveal) pixels from the most to the
  least important and follow the class probability; a good map makes the deletion curve
  fall fast (low area) and the insertion curve rise fast (high area).
- Mass share and total variation: how much of a map lies on an object, and how noisy it is.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..timing import timed
from .common import Target, check_batch, check_count, frozen_eval, resolve_target, run_model, target_scores


def as_maps(maps: torch.Tensor, who: str = "maps") -> torch.Tensor:
    """(N, H, W) maps from (N, H, W) or (N, 1, H, W); multi-channel attributions must be
    reduced first (e.g. ``attr.abs().sum(1)``)."""
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(maps)
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{who} must be a tensor or array (N, H, W), got {type(maps).__name__}")
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise ValueError(f"{who} must be (N, H, W) or (N, 1, H, W), got {tuple(maps.shape)}; "
                         f"reduce channels first, e.g. attr.abs().sum(1)")
    return check_batch(maps.float() if not maps.is_floating_point() else maps, "metrics", who,
                       "(N, H, W)")


def peak(maps: torch.Tensor) -> torch.Tensor:
    """(row, col) of each map's maximum, shape (N, 2); ties go to the first in row-major order."""
    maps = as_maps(maps)
    idx = maps.reshape(len(maps), -1).argmax(1)
    return torch.stack([idx // maps.shape[-1], idx % maps.shape[-1]], 1)


def peak_distance(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Euclidean distance in pixels (float, N) from each map's maximum to the nearest pixel of
    its mask: 0 inside the mask, ``inf`` for an empty mask (chapter 8). ``masks`` (N, H, W)
    bool, the maps' size (upsample Grad-CAM first)."""
    maps = as_maps(maps)
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a tensor or array (N, H, W), got {type(masks).__name__}")
    masks = masks.bool()
    if masks.shape != maps.shape:
        raise ValueError(f"masks {tuple(masks.shape)} must match the maps {tuple(maps.shape)}")
    points = peak(maps).cpu()
    dist = torch.full((len(maps),), float("inf"))
    for i, (r, c) in enumerate(points.tolist()):
        where = torch.nonzero(masks[i].cpu())
        if len(where):
            dist[i] = ((where[:, 0] - r) ** 2 + (where[:, 1] - c) ** 2).min().float().sqrt()
    return dist


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0) -> torch.Tensor:
    """Hits (bool, N): is the maximum of each map inside its object's mask, or at most
    ``tolerance`` pixels (Euclidean) away from a mask pixel? (chapter 8). ``masks`` (N, H, W)
    bool; maps the same size (upsample Grad-CAM first). Empty masks count as misses."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    return peak_distance(maps, masks) <= tolerance



def mass_share(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (float, N) of each non-negative map's total inside its mask (chapter 8): 1 when
    all of it lies on the object, the mask's share of the image for a flat map. ``masks``
    (N, H, W) bool, the maps' size; a map that is zero everywhere gives NaN."""
    maps = as_maps(maps)
    if (maps < 0).any():
        raise ValueError("mass_share needs non-negative maps (take .abs() or a ReLU first)")
    masks = torch.as_tensor(masks).bool().to(maps.device)
    if masks.shape != maps.shape:
        raise ValueError(f"masks {tuple(masks.shape)} must match the maps {tuple(maps.shape)}")
    total = maps.sum((1, 2))
    return (maps * masks).sum((1, 2)) / torch.where(total > 0, total, torch.nan)


def total_variation(maps: torch.Tensor) -> torch.Tensor:
    """Noisiness (float, N) of non-negative maps, e.g. ``attr.abs().sum(1)`` (chapter 9): the
    total variation, the sum of absolute differences between horizontal and vertical
    neighbours, divided by twice the map's total. Scale-free, 0 for a flat map, about
    ``2 / w`` for smooth blobs ``w`` pixels wide and up to 2 for isolated single pixels."""
    maps = as_maps(maps)
    if (maps < 0).any():
        raise ValueError("total_variation needs non-negative maps (take .abs() first)")
    tv = (maps.diff(dim=1).abs().sum((1, 2)) + maps.diff(dim=2).abs().sum((1, 2)))
    total = maps.sum((1, 2))
    return tv / torch.where(total > 0, 2 * total, torch.nan)

def _order(maps: torch.Tensor, seed: int) -> torch.Tensor:
    """Pixel indices from most to least important; ties broken at random (seeded), so a flat
    region is not removed in reading order."""
    flat = maps.reshape(len(maps), -1).float()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(flat.shape[1], generator=g).to(flat.device)
    ranks = torch.argsort(flat[:, perm], dim=1, descending=True, stable=True)
    return perm[ranks]


@timed("attribution")
def deletion_insertion(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: Target,
                       mode: str = "deletion", steps: int = 28, baseline=0.0,
                       batch_size: int = 256, seed: int = 0):
    """Deletion or insertion curve and its area (chapter 9).

    Pixels (all channels of a location) are ranked by ``maps`` (N, H, W); at step k of
    ``steps`` the top k/steps of them are replaced by ``baseline`` (deletion) or copied from
    ``x`` into the baseline image (insertion). ``baseline``: a number or a tensor like ``x``
    (e.g. a blurred copy for insertion). Returns ``(auc (N,), fractions (steps + 1,),
    probabilities (N, steps + 1))``; the curve is the softmax probability of ``target`` and
    the area uses the trapezoid rule over the fraction of pixels in [0, 1].
    """
    x = check_batch(x, "deletion_insertion", model=model)
    maps = as_maps(maps)
    if maps.shape != (x.shape[0], *x.shape[-2:]):
        raise ValueError(f"maps must be (N, H, W) = {(x.shape[0], *x.shape[-2:])}, got {tuple(maps.shape)}")
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    check_count(steps, "steps", "deletion_insertion")
    check_count(batch_size, "batch_size", "deletion_insertion")
    n, c, h, w = x.shape
    x = x.detach()
    try:
        base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"deletion_insertion: baseline must be a number or a tensor like x "
                         f"{tuple(x.shape)}, got {baseline!r:.60}") from None
    check_batch(base, "deletion_insertion", "baseline")
    order = _order(maps.to(x.device), seed)
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(int)
    with frozen_eval(model), torch.no_grad():
        target = resolve_target(run_model(model, x), target)
    probs = torch.zeros(n, steps + 1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=x.device).expand(n, -1))
    with frozen_eval(model), torch.no_grad():
        for i in range(n):
            # images at every step for example i: pixel is "changed" if its rank < count
            changed = rank[i][None, :] < torch.as_tensor(counts, device=x.device)[:, None]
            changed = changed.view(steps + 1, 1, h, w)
            if mode == "deletion":
                imgs = torch.where(changed, base[i][None], x[i][None])
            else:
                imgs = torch.where(changed, x[i][None], base[i][None])
            out = torch.cat([run_model(model, imgs[s:s + batch_size])
                             for s in range(0, steps + 1, batch_size)])
            p = out.softmax(1)
            t = target if callable(target) else target[i].expand(steps + 1)
            probs[i] = target_scores(p, t).cpu()
    frac = counts / (h * w)
    auc = torch.as_tensor(np.trapezoid(probs.numpy(), frac, axis=1), dtype=torch.float32)
    return auc, torch.as_tensor(frac), probs
