"""SmoothGrad, written from scratch (chapter 9, "Sanity checks").

A gradient map is noisy: the gradient of a ReLU network jumps from pixel to pixel. SmoothGrad
(Smilkov et al., 2017) averages an attribution method :math:`M` over noisy copies of the input,

.. math:: \\hat M(x) = \\frac{1}{n} \\sum_{k=1}^{n} M(x + \\varepsilon_k), \\qquad
          \\varepsilon_k \\sim \\mathcal N(0, \\sigma^2 I), \\qquad
          \\sigma = \\text{noise\\_level} \\cdot (\\max x - \\min x),

with the noise scaled to each image's own range of values. The squared variant averages
:math:`M(x + \\varepsilon_k)^2` instead. :math:`M` is the plain input gradient unless another
method is given (guided backprop, Integrated Gradients, ...). With the same noise draws it
equals captum's ``NoiseTunnel(...)`` with ``nt_type="smoothgrad"`` / ``"smoothgrad_sq"``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from .common import (
    Target,
    check_batch,
    check_count,
    check_number,
    explaining,
    resolve_target,
    run_model,
    target_scores,
)


class SmoothGrad:
    """SmoothGrad (Smilkov et al., 2017) of ``model`` (chapter 9)::

        sg = SmoothGrad(net)                                   # around the plain gradient
        attr = sg(x, target, n_samples=50, noise_level=0.15, seed=0)
        sq = SmoothGrad(net, GuidedBackprop(net))(x, target, squared=True)

    ``method`` is any ``f(x, target) -> attributions like x`` (e.g. ``GuidedBackprop(net)``,
    ``IntegratedGradients(net)``); ``None`` means the plain input gradient. Every noisy copy
    of an example is explained for that example's class: ``target=None`` resolves to the top
    class of the *clean* input, once. The noise comes from its own generator seeded with
    ``seed``, so a call is reproducible and leaves the global random stream alone. The model's
    train/eval mode and ``requires_grad`` flags are restored; parameter ``.grad`` is untouched.
    """

    def __init__(self, model: nn.Module, method: Callable | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"SmoothGrad: model must be an nn.Module, got {type(model).__name__}")
        if method is not None and not callable(method):
            raise TypeError(f"SmoothGrad: method must be callable as method(x, target) or None "
                            f"(the plain gradient), got {type(method).__name__}")
        self.model = model
        self.method = method

    def gradient(self, x: torch.Tensor, target) -> torch.Tensor:
        """The plain input gradient d score / d x (the default ``method``)."""
        with explaining(self.model):
            x = x.detach().clone().requires_grad_(True)
            scores = target_scores(run_model(self.model, x), target)
            grad, = torch.autograd.grad(scores.sum(), x)
        return grad.detach()

    @staticmethod
    def sigma(x: torch.Tensor, noise_level: float = 0.15) -> torch.Tensor:
        """Standard deviation of the noise for each example, shape (N,):
        ``noise_level * (max - min)`` of that example's values."""
        x = check_batch(x, "SmoothGrad")
        level = check_number(noise_level, "noise_level", "SmoothGrad")
        if level < 0:
            raise ValueError(f"SmoothGrad: noise_level must be >= 0 (a fraction of the input "
                             f"range, e.g. 0.15), got {noise_level}")
        flat = x.detach().reshape(len(x), -1)
        return level * (flat.max(1).values - flat.min(1).values)

    @staticmethod
    def noise(x: torch.Tensor, n_samples: int = 50, noise_level: float = 0.15,
              seed: int = 0) -> torch.Tensor:
        """The noise added to ``x``, shape (n_samples, N, C, H, W): standard normal draws from
        a generator seeded with ``seed`` (on the CPU, so every device gets the same numbers),
        times each example's :meth:`sigma`."""
        sigma = SmoothGrad.sigma(x, noise_level)
        n = check_count(n_samples, "n_samples", "SmoothGrad")
        seed = check_count(seed, "seed", "SmoothGrad", low=0)
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn((n, *x.shape), generator=g, dtype=x.dtype).to(x.device)
        return eps * sigma.view(1, -1, *([1] * (x.ndim - 1)))

    def __call__(self, x: torch.Tensor, target: Target = None, n_samples: int = 50,
                 noise_level: float = 0.15, squared: bool = False, seed: int = 0,
                 batch_size: int | None = None) -> torch.Tensor:
        """SmoothGrad attributions like ``x``: the mean over ``n_samples`` noisy copies of the
        base method's attributions (of their squares with ``squared``). ``batch_size`` caps how
        many noisy copies go through the method at once (memory); the result does not depend
        on it."""
        x = check_batch(x, "SmoothGrad", model=self.model)
        if not isinstance(squared, bool):
            raise TypeError(f"SmoothGrad: squared must be True or False, got {squared!r}")
        if batch_size is not None:
            check_count(batch_size, "batch_size", "SmoothGrad")
        x = x.detach()
        eps = self.noise(x, n_samples, noise_level, seed)
        n, m = len(x), eps.shape[0]
        with explaining(self.model):
            with torch.no_grad():  # checked once, on the clean input
                target = resolve_target(run_model(self.model, x), target)
            method = self.method or self.gradient
            total = torch.zeros_like(x)
            per = max(1, (batch_size or n * m) // n)   # noisy copies of every example per chunk
            for start in range(0, m, per):
                k = min(per, m - start)
                noisy = (x.unsqueeze(0) + eps[start:start + k]).reshape(k * n, *x.shape[1:])
                t = target.repeat(k) if isinstance(target, torch.Tensor) else target
                attr = method(noisy, t)
                if not isinstance(attr, torch.Tensor) or attr.shape != noisy.shape:
                    got = tuple(attr.shape) if isinstance(attr, torch.Tensor) else type(attr).__name__
                    raise ValueError(f"SmoothGrad: method must return attributions shaped like its "
                                     f"input {tuple(noisy.shape)}, got {got}")
                attr = attr.detach().reshape(k, n, *x.shape[1:])
                total += (attr * attr if squared else attr).sum(0)
        return total / m

    attribute = __call__
