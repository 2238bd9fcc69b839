"""Batch augmentations on float images (N, C, H, W), all in one place (chapters 2, 5 and 12).

Every function takes and returns a float batch with torch randomness (so ``seed_everything``
makes it repeatable) and hands the model **NCHW strides**, made explicit by :func:`nchw`.
Why explicit: a 1-channel batch can have strides ``(784, 1, 28, 1)``, which are "contiguous"
and channels_last at once, so ``.contiguous()`` keeps them and torch then runs the whole network
in channels_last. On CPUs whose oneDNN picks its AVX2 kernels, the backward pass of a 1x1
stride-2 convolution with fewer than 8 input channels in channels_last crashes or hangs (see the
README's known issues and ``benchmarks/onednn_hang.py``).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor], torch.Tensor]


def nchw(x: torch.Tensor) -> torch.Tensor:
    """``x`` with the plain row-major (NCHW) strides of its shape: returned as is when it has
    them, else copied. Unlike ``.contiguous()``, this also fixes 1-channel batches whose strides
    read as channels_last."""
    want = torch.empty(0).new_empty(x.shape).stride() if x.ndim else ()
    if x.stride() == want:
        return x
    return x.clone(memory_format=torch.contiguous_format)


def check_batch(x: torch.Tensor, who: str = "augmentations") -> None:
    """Raise a clear error unless ``x`` is a float batch (N, C, H, W)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        got = (f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor)
               else type(x).__name__)
        raise ValueError(f"{who} take float batches (N, C, H, W), got {got}; convert uint8 "
                         f"images with course_utils.data.to_float")


def random_hflip(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p`` (chapter 5)."""
    check_batch(x, "random_hflip")
    flip = torch.rand(x.shape[0], device=x.device) < p
    return nchw(torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x))


def random_shift(x: torch.Tensor, max_shift: int = 2) -> torch.Tensor:
    """Shift each image by its own random whole number of pixels in [-max_shift, max_shift]
    along each axis, filling with zeros (chapter 2)."""
    check_batch(x, "random_shift")
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    s = int(max_shift)
    padded = F.pad(x, (s, s, s, s))
    dy = torch.randint(0, 2 * s + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * s + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]      # N, H, 1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]      # N, 1, W
    batch = torch.arange(n, device=x.device)[:, None, None]
    # gathering N, H, W, C then permuting back gives channels_last strides: make NCHW explicit
    return nchw(padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2))


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return nchw(F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False))


def random_affine(x: torch.Tensor, degrees: float = 10.0, translate: float = 0.1,
                  scale: tuple[float, float] = (0.9, 1.1), shear: float = 5.0) -> torch.Tensor:
    """Rotate (+-``degrees``), shift (+-``translate`` of the side), scale and shear (+-``shear``
    degrees) every image independently; empty borders are black (chapter 12)."""
    check_batch(x, "random_affine")
    n, dev = x.shape[0], x.device

    def u(lo, hi):
        return torch.empty(n, device=dev).uniform_(lo, hi)

    angle = u(-degrees, degrees) * math.pi / 180
    sh = u(-shear, shear) * math.pi / 180
    s = u(*scale)
    tx, ty = u(-translate, translate) * 2, u(-translate, translate) * 2
    # output -> input sampling matrix: inverse of rotate(angle) * shear * scale
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(sh)
    a = torch.stack([torch.stack([cos, -sin + cos * tan], -1),
                     torch.stack([sin, cos + sin * tan], -1)], -2) * s.view(-1, 1, 1)
    inv = torch.linalg.inv(a)
    t = torch.stack([tx, ty], -1).unsqueeze(-1)
    return _warp(x, torch.cat([inv, -inv @ t], -1))


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float] = (0.6, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Cut a random box covering ``scale`` of the area with aspect ``ratio`` from every image
    and resize it back to full size (chapter 12)."""
    check_batch(x, "random_resized_crop")
    n, dev = x.shape[0], x.device
    area = torch.empty(n, device=dev).uniform_(*scale)
    logr = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
    cx = (torch.rand(n, device=dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, device=dev) * 2 - 1) * (1 - h)
    zero = torch.zeros(n, device=dev)
    theta = torch.stack([torch.stack([w, zero, cx], -1), torch.stack([zero, h, cy], -1)], -2)
    return _warp(x, theta)


def random_erasing(x: torch.Tensor, p: float = 0.5,
                   area: tuple[float, float] = (0.02, 0.15)) -> torch.Tensor:
    """Black out one random rectangle (``area`` of the image) in each image with probability
    ``p`` (chapter 12)."""
    check_batch(x, "random_erasing")
    n, _, hgt, wid = x.shape
    dev = x.device
    a = torch.empty(n, device=dev).uniform_(*area)
    r = torch.exp(torch.empty(n, device=dev).uniform_(math.log(0.5), math.log(2.0)))
    h = (torch.sqrt(a * r) * hgt).clamp(1, hgt).long()
    w = (torch.sqrt(a / r) * wid).clamp(1, wid).long()
    top = (torch.rand(n, device=dev) * (hgt - h + 1)).long()
    left = (torch.rand(n, device=dev) * (wid - w + 1)).long()
    rows = torch.arange(hgt, device=dev).view(1, -1, 1)
    cols = torch.arange(wid, device=dev).view(1, 1, -1)
    box = ((rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1))
           & (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)))
    apply = (torch.rand(n, device=dev) < p).view(-1, 1, 1)
    return nchw(x.masked_fill((box & apply).unsqueeze(1), 0.0))


def random_brightness_contrast(x: torch.Tensor, brightness: float = 0.2,
                               contrast: float = 0.2) -> torch.Tensor:
    """Grey-level jitter: scale the contrast about each image's mean by 1 +- ``contrast`` and
    shift by +- ``brightness``, clipped to [0, 1] (chapter 12)."""
    check_batch(x, "random_brightness_contrast")
    n = x.shape[0]
    c = torch.empty(n, 1, 1, 1, device=x.device).uniform_(1 - contrast, 1 + contrast)
    b = torch.empty(n, 1, 1, 1, device=x.device).uniform_(-brightness, brightness)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return nchw(((x - mean) * c + mean + b).clamp(0, 1))


def compose(*transforms: Transform) -> Transform:
    """Apply batch transforms one after the other (chapter 12)."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        for t in transforms:
            x = t(x)
        return x
    return apply


# --------------------------------------------------------------------------- chapter recipes
def default_augmentation() -> Callable[[torch.Tensor], torch.Tensor]:
    """The chapter's augmentation, mild enough for 28x28 items: left-right flip, a small
    affine warp (+-8 degrees, +-8 % shift, scale 0.92-1.08, +-4 degrees shear), a resized crop
    of 80-100 % of the area and +-10 % grey-level jitter (chapter 12)."""
    return compose(random_hflip,
                   lambda x: random_affine(x, degrees=8, translate=0.08, scale=(0.92, 1.08), shear=4),
                   lambda x: random_resized_crop(x, scale=(0.8, 1.0)),
                   lambda x: random_brightness_contrast(x, 0.1, 0.1))


# --------------------------------------------------------------------------- corruptions
def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation ``std``, clipped back to [0, 1] (chapter 10)."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    if std == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp_(0.0, 1.0)


def mask_lower_half(x: torch.Tensor, rows: int = 14) -> torch.Tensor:
    """Copy of ``x`` with every row from ``rows`` down set to 0 (imputation input; chapter 10)."""
    out = x.clone()
    out[..., rows:, :] = 0.0
    return out
