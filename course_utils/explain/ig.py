"""Integrated Gradients, written from scratch (chapter 9).

For an input :math:`x`, a baseline :math:`x'` and a score :math:`F`,

.. math:: \\mathrm{IG}_i(x) = (x_i - x'_i) \\int_0^1
          \\frac{\\partial F}{\\partial x_i}\\big(x' + \\alpha (x - x')\\big)\\, d\\alpha,

approximated by a quadrature :math:`\\sum_k w_k \\, \\partial_i F(x' + \\alpha_k (x - x'))`.
Completeness says :math:`\\sum_i \\mathrm{IG}_i = F(x) - F(x')`; the gap between the two
sides measures the quadrature error and is returned per example.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn as nn

from ..timing import timed
from .common import (
    Target,
    check_batch,
    check_count,
    check_number,
    explaining,
    frozen_eval,
    resolve_target,
    run_model,
    target_scores,
)

METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alphas`` in [0, 1] and weights (summing to 1) of a rule with ``n_steps``
    points (chapter 9): Riemann left / right / middle, trapezoid (n points, n - 1 intervals
    between them) or Gauss-Legendre (exact for polynomials of degree < 2n)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = check_count(n_steps, "n_steps", f"quadrature({method!r})", 2 if method == "riemann_trapezoid" else 1)
    k = np.arange(n, dtype=np.float64)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    if method == "riemann_trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] /= 2
        return k / (n - 1), w
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / n, np.full(n, 1.0 / n)


def make_baseline(x: torch.Tensor, kind: str = "black", seed: int = 0, sigma: float = 3.0) -> torch.Tensor:
    """A baseline for each image of ``x`` (chapter 9): ``"black"`` (zeros), ``"blur"`` (a
    Gaussian blur of ``sigma`` pixels) or ``"noise"`` (uniform in [0, 1], seeded)."""
    x = check_batch(x, "make_baseline")
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        from torchvision.transforms.functional import gaussian_blur

        size = 2 * int(math.ceil(3 * sigma)) + 1
        return gaussian_blur(x, [size, size], [sigma, sigma])
    if kind == "noise":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(x.shape, generator=g, dtype=x.dtype).to(x.device)
    raise ValueError(f"baseline kind must be 'black', 'blur' or 'noise', got {kind!r}")


def baselines(x: torch.Tensor, baseline, who: str = "IntegratedGradients") -> list[torch.Tensor]:
    """The baseline images for ``x``, each checked: one per item of a list, else one."""
    items = baseline if isinstance(baseline, (list, tuple)) else [baseline]
    if not items:
        raise ValueError(f"{who}: baseline list is empty")
    out = []
    for b in items:
        if b is None:
            b = torch.zeros_like(x)
        elif isinstance(b, str):
            b = make_baseline(x, b)
        elif isinstance(b, numbers.Real) and not isinstance(b, bool):
            b = torch.full_like(x, check_number(b, "baseline", who))
        else:
            if isinstance(b, np.ndarray):
                b = torch.from_numpy(b)
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"{who}: baseline must be a tensor, a number or "
                                f"'black' / 'blur' / 'noise', got {type(b).__name__}")
            try:
                b = b.to(dtype=x.dtype, device=x.device).expand_as(x)
            except RuntimeError:
                raise ValueError(f"{who}: baseline of shape {tuple(b.shape)} does not match the "
                                 f"input {tuple(x.shape)}") from None
        out.append(check_batch(b, who, "baseline"))
    return out


class IntegratedGradients:
    """Integrated Gradients (Sundararajan et al., 2017) (chapter 9)::

        ig = IntegratedGradients(net)
        attr, gap = ig(x, target, baseline="black", n_steps=64, return_gap=True)

    ``baseline``: a tensor like ``x`` (or one image, broadcast), a number, ``"black"`` /
    ``"blur"`` / ``"noise"``, or a list of those, whose attributions are averaged (e.g.
    several random baselines). ``internal_batch_size`` caps how many path points go through
    the model at once (None: all at once); the result does not depend on it, the speed does:
    on CPU, chunks of 64 ran 2-3 times faster than 1,024 or all at once
    (``benchmarks/batch_size_cpu.py``).
    """

    def __init__(self, model: nn.Module):
        self.model = model

    def _scores(self, x: torch.Tensor, target, rows: torch.Tensor) -> torch.Tensor:
        """Scores of path points ``x``; ``target`` is one class per example (rows pick them)
        or a callable."""
        if isinstance(target, torch.Tensor):
            target = target[rows.to(target.device)]
        return target_scores(run_model(self.model, x), target)

    def _one(self, x, target, base, alphas, weights, internal_batch_size):
        n, steps = x.shape[0], len(alphas)
        delta = x - base
        total = torch.zeros_like(x)
        # path points step-major: row r is step r // n of example r % n
        rows_all = torch.arange(n * steps)
        chunk = internal_batch_size or n * steps
        a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)
        w = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
        for start in range(0, n * steps, chunk):
            rows = rows_all[start:start + chunk]
            ex, st = rows % n, rows // n
            pts = (base[ex] + a[st].view(-1, 1, 1, 1) * delta[ex]).requires_grad_(True)
            grads, = torch.autograd.grad(self._scores(pts, target, ex).sum(), pts)
            total.index_add_(0, ex.to(x.device), grads * w[st].view(-1, 1, 1, 1))
        return delta * total

    @timed("attribution")
    def __call__(self, x: torch.Tensor, target: Target = None, baseline="black", n_steps: int = 50,
                 method: str = "gausslegendre", internal_batch_size: int | None = 64,
                 return_gap: bool = False):
        """Attributions like ``x``; with ``return_gap`` also the completeness gap per example,
        sum(attributions) - (F(x) - F(x')) (averaged over the baselines of a list)."""
        x = check_batch(x, "IntegratedGradients", model=self.model)
        if internal_batch_size is not None:
            check_count(internal_batch_size, "internal_batch_size", "IntegratedGradients")
        alphas, weights = quadrature(method, n_steps)
        x = x.detach()
        with explaining(self.model):
            rows = torch.arange(x.shape[0])
            with torch.no_grad():   # checked once; None: each example's top class at x itself
                target = resolve_target(run_model(self.model, x), target)
            bases = baselines(x, baseline)
            attr = sum(self._one(x, target, b, alphas, weights, internal_batch_size)
                       for b in bases) / len(bases)
            if not return_gap:
                return attr.detach()
            with torch.no_grad():
                fx = self._scores(x, target, rows)
                fb = sum(self._scores(b, target, rows) for b in bases) / len(bases)
        gap = attr.reshape(len(x), -1).sum(1) - (fx - fb)
        return attr.detach(), gap.detach()

    attribute = __call__


def path_scores(model: nn.Module, x: torch.Tensor, target: Target, baseline: torch.Tensor,
                alphas) -> torch.Tensor:
    """Scores F(x' + alpha (x - x')) along the straight path, shape (len(alphas), N)
    (chapter 9: where along the path the score changes, and where the gradient saturates)."""
    x = check_batch(x, "path_scores", model=model)
    bases = baselines(x, baseline, "path_scores")
    if len(bases) != 1:
        raise ValueError(f"path_scores: baseline must be one baseline, got a list of {len(bases)}")
    baseline = bases[0]
    out = []
    with frozen_eval(model), torch.no_grad():
        for a in alphas:
            out.append(target_scores(run_model(model, baseline + float(a) * (x - baseline)), target))
    return torch.stack(out)
