"""Context managers every attribution method uses (chapters 6 and 8)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with parameters not requiring grad; restore both on exit,
    also after an error (chapter 8). Input gradients still flow; parameter ``.grad`` stays."""
    modes = {m: m.training for m in model.modules()}
    flags = {p: p.requires_grad for p in model.parameters()}
    try:
        model.eval()
        for p in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for m, training in modes.items():
            m.training = training
        for p, flag in flags.items():
            p.requires_grad_(flag)


def _guided(_module, grad_input, _grad_output):
    # grad_input already is grad_output * (input > 0); keep only its positive part
    return (F.relu(grad_input[0]),)


def _deconv(_module, _grad_input, grad_output):
    # the deconvnet ignores the forward input's sign: rectify the signal coming back
    return (F.relu(grad_output[0]),)


RULES = {"guided": _guided, "deconv": _deconv}


@contextmanager
def relu_backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Replace the backward pass of every ``nn.ReLU`` in ``model`` inside the block
    (chapters 6 and 8): ``"guided"`` (guided backprop: positive gradients where the input was
    positive) or ``"deconv"`` (Zeiler & Fergus: the rectified gradient, whatever the input).

    In-place ReLUs are switched to out-of-place while the hooks are on (in-place ops break
    full backward hooks) and switched back afterwards; hooks are always removed. ReLUs must
    be ``nn.ReLU`` modules: a functional ``F.relu`` in ``forward`` cannot be hooked.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"{type(model).__name__} has no nn.ReLU modules to modify")
    inplace = [m.inplace for m in relus]
    handles = []
    try:
        for m in relus:
            m.inplace = False
            handles.append(m.register_full_backward_hook(RULES[rule]))
        yield model
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(relus, inplace):
            m.inplace = flag


def per_example(value, n: int, what: str, device) -> torch.Tensor:
    """One index (class, channel...) per example as a long tensor of length ``n``: a single
    value is repeated; anything else must have exactly ``n`` entries (chapters 6 and 8)."""
    t = torch.as_tensor(value, device=device, dtype=torch.long).flatten()
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{what} must be one index or one per image ({n}), got {t.numel()}")
    return t
