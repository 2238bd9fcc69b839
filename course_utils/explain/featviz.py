"""Feature maximization: synthesise the input a unit likes best (chapter 6).

Gradient ascent on the image to maximise the mean activation of one feature map (or one
class logit). Unregularised ascent produces high-frequency noise; three regularisers, in
the spirit of Yosinski et al. (2015), make the images readable:

* **L2 decay** pulls every pixel a little towards mid-grey after each step;
* **jitter** shifts the image by a random few pixels before each step, so the pattern must
  work at every nearby position;
* **blur** smooths the image with a small Gaussian every few steps, removing the highest
  frequencies.

The image stays in the valid input range (clamped after every step).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..timing import timed
from .common import (
    check_count,
    check_indices,
    check_number,
    explaining,
    find_layer,
    recorded,
    recording,
    run_model,
)


@dataclass
class FeatVizResult:
    """Images (N, C, H, W) and the objective of each per step, (steps + 1, N) (chapter 6)."""

    images: torch.Tensor
    objective: torch.Tensor

    @property
    def initial(self) -> torch.Tensor:
        return self.objective[0]

    @property
    def final(self) -> torch.Tensor:
        return self.objective[-1]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of a batch with a Gaussian of std ``sigma`` pixels (reflect padding)."""
    if sigma <= 0:
        return x
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


REDUCE = ("mean", "center")


def _objective(model: nn.Module, x: torch.Tensor, layer, units, reduce: str = "mean") -> torch.Tensor:
    """Per-image objective: the mean (or centre unit) of feature map ``units[i]`` of ``layer``,
    or logit ``units[i]`` when ``layer`` is None."""
    rows = torch.arange(len(units), device=x.device)
    if layer is None:
        out = run_model(model, x, "images of shape")
        if out.ndim != 2:
            raise ValueError(f"maximize: the model output must be (N, classes) to maximise a class, "
                             f"got {tuple(out.shape)}; pass a layer")
        units = check_indices(units, len(x), out.shape[1], "units", device=x.device)
        return out[rows, units]
    module = find_layer(model, layer)
    with recording(module) as store:
        run_model(model, x, "images of shape")
    act = recorded(store, model, module)["out"]
    units = check_indices(units, len(x), act.shape[1] if act.ndim > 1 else 0, "units",
                          f"layer {layer!r}", "channels", x.device)
    chosen = act[rows, units]
    if chosen.ndim == 1:
        return chosen
    if reduce == "center":
        return chosen[:, chosen.shape[1] // 2, chosen.shape[2] // 2] if chosen.ndim == 3 else \
            chosen.flatten(1)[:, chosen.flatten(1).shape[1] // 2]
    return chosen.flatten(1).mean(1)


@timed("attribution")
def maximize(model: nn.Module, units, layer=None, shape: tuple[int, int, int] = (1, 28, 28),
             steps: int = 200, lr: float = 0.05, l2: float = 0.0, jitter: int = 0,
             blur_sigma: float = 0.0, blur_every: int = 4, value_range=(0.0, 1.0),
             init: float | None = None, init_std: float = 0.01, reduce: str = "mean", seed: int = 0,
             device=None) -> FeatVizResult:
    """Gradient ascent on the input to maximise each unit in ``units`` (chapter 6).

    ``units`` are channels of ``layer`` (objective: that feature map's mean activation, or
    with ``reduce="center"`` the activation of its centre unit) or, with ``layer=None``,
    class indices (objective: the logit). One image per unit, optimised
    together. Each step moves every image by ``lr`` times its gradient divided by the
    gradient's RMS (so ``lr`` is a step size in pixel units), then applies ``l2`` decay
    towards the middle of ``value_range``, every ``blur_every`` steps a Gaussian blur of
    ``blur_sigma`` pixels, and clamps to ``value_range``. ``jitter`` shifts the image by up to
    that many pixels (random, seeded) for each gradient evaluation. Starts from ``init``
    (default: mid-grey) plus noise of std ``init_std``. Model mode and parameters are restored
    afterwards; works inside ``torch.no_grad()`` too.
    """
    lo, hi = (check_number(v, "value_range", "maximize") for v in value_range)
    if not lo < hi:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    if reduce not in REDUCE:
        raise ValueError(f"reduce must be one of {REDUCE}, got {reduce!r}")
    check_count(steps, "steps", "maximize")
    check_count(jitter, "jitter", "maximize", 0)
    check_count(blur_every, "blur_every", "maximize")
    shape = tuple(shape) if isinstance(shape, (tuple, list, torch.Size)) else (shape,)
    if len(shape) != 3:
        raise ValueError(f"maximize: shape must be three positive ints (C, H, W), got {shape}")
    shape = tuple(check_count(v, "shape", "maximize") for v in shape)
    for arg, v in (("lr", lr), ("l2", l2), ("init_std", init_std), ("blur_sigma", blur_sigma)):
        check_number(v, arg, "maximize")
    if init is not None:
        check_number(init, "init", "maximize")
    if layer is not None:
        find_layer(model, layer)
    param = next(model.parameters())
    device = torch.device(device) if device is not None else param.device
    units = check_indices(units, None, None, "units", device=device)
    g = torch.Generator().manual_seed(seed)
    mid = (lo + hi) / 2
    start = mid if init is None else float(init)
    x = (start + init_std * (hi - lo) * torch.randn(len(units), *shape, generator=g)).to(device, param.dtype)
    x = x.clamp(lo, hi)
    history = []
    with explaining(model):
        for step in range(steps + 1):
            x_in = x.detach().requires_grad_(True)
            if jitter and step < steps:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
                shifted = torch.roll(x_in, shifts=(dy, dx), dims=(-2, -1))
            else:
                shifted = x_in
            obj = _objective(model, shifted, layer, units, reduce)
            if step == steps or jitter == 0:
                history.append(obj.detach().cpu())
            if step == steps:
                break
            grad, = torch.autograd.grad(obj.sum(), x_in)
            rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12)
            with torch.no_grad():
                x = x + lr * (hi - lo) * grad / rms.view(-1, 1, 1, 1)
                if l2:
                    x = mid + (1 - l2) * (x - mid)
                if blur_sigma and (step + 1) % blur_every == 0:
                    x = gaussian_blur(x, blur_sigma)
                x = x.clamp(lo, hi)
            if jitter:  # objective of the unshifted image, for a comparable curve
                with torch.no_grad():
                    history.append(_objective(model, x_in.detach(), layer, units, reduce).cpu())
    return FeatVizResult(x.detach(), torch.stack(history))
