"""Capture intermediate activations with forward hooks, always removed, and freeze a model's
mode and parameters for a look inside, always restored (chapters 1, 7 and 8)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F


def get_module(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """Resolve ``layer`` (a dotted name like ``"features.3"`` or a module) inside ``model``."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}")
        return layer
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        raise ValueError(f"no layer named {layer!r} in {type(model).__name__}; available: {names}")
    return modules[layer]


def module_name(model: nn.Module, layer: nn.Module) -> str:
    """Dotted name of ``layer`` inside ``model``."""
    for name, m in model.named_modules():
        if m is layer:
            return name
    raise ValueError(f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}")


@contextmanager
def capture(model: nn.Module, layers, detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of ``layers`` during forward passes inside the ``with`` block.

    ``layers`` is a name, a module, or a list of them. The yielded dict maps each layer's name
    to its latest output (detached unless ``detach=False``). Hooks are removed on exit, also
    when the block raises (chapter 1)::

        with capture(net, ["conv1", "fc1"]) as acts:
            net(x)
        acts["fc1"].shape
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    resolved = {}
    for layer in layers:
        module = get_module(model, layer)
        resolved[layer if isinstance(layer, str) else module_name(model, module)] = module
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name, module in resolved.items():
            def hook(_m, _inp, out, name=name):
                store[name] = out.detach() if detach else out
            handles.append(module.register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def extract(model: nn.Module, images: torch.Tensor, layers, batch_size: int = 500,
            flatten: bool = True) -> dict[str, torch.Tensor]:
    """Activations of ``layers`` for all ``images`` (float, N x C x H x W), batched, on the CPU;
    flattened to (N, features) by default (chapters 3 and 4)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    try:
        with capture(model, layers) as acts:
            for start in range(0, len(images), batch_size):
                model(images[start:start + batch_size].to(device))
                for name, value in acts.items():
                    value = value.cpu()
                    chunks.setdefault(name, []).append(value.flatten(1) if flatten else value)
    finally:
        model.train(was_training)
    return {name: torch.cat(parts) for name, parts in chunks.items()}


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


def gradient_norms_through_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the norm of dL/dh_t, the gradient of the cross-entropy loss with
    respect to the top layer's hidden state after each row t (chapter 7). Returns a tensor of
    length T. Parameter ``.grad`` and the model's train/eval mode are left as they were."""
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    with frozen_eval(model), torch.enable_grad():
        seq = model.as_sequence(x)
        h0 = seq.new_zeros(model.num_layers, seq.shape[0], model.hidden_size, requires_grad=True)
        logits, states = model.unrolled(seq, h0)
        loss = F.cross_entropy(logits, y, reduction="sum")  # per-example gradients, not / N
        grads = torch.autograd.grad(loss, states)
    return torch.stack([g.norm(dim=1).mean() for g in grads]).detach().cpu()
