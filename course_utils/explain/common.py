"""What every attribution method shares (chapters 6, 8 and 9): the input checks, the target
and layer lookups, and the context managers around hooks and gradients.

Every public method of ``explain/`` checks its arguments here, so a bad call gets the same
clear ``ValueError`` or ``TypeError`` everywhere, naming the argument, what it got and what
was expected (README, "Bad input").
"""
from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features import frozen_eval, get_module, module_name

Target = None | int | torch.Tensor | list | Callable[[torch.Tensor], torch.Tensor]


# --- input checks ------------------------------------------------------------------------------

def check_batch(x, who: str, arg: str = "x", dims: str = "(N, C, H, W)",
                model: nn.Module | None = None) -> torch.Tensor:
    """``x`` if it is a non-empty, finite, float batch of shape ``dims``, else a clear error
    naming ``who`` and ``arg``. With ``model``: also on the dtype and device of its parameters."""
    ndim = dims.count(",") + 1
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: {arg} must be a torch.Tensor of shape {dims}, got {type(x).__name__}")
    if x.ndim != ndim:
        hint = f" (add a batch dimension: {arg}[None])" if x.ndim == ndim - 1 else ""
        raise ValueError(f"{who}: {arg} must have shape {dims}, got {tuple(x.shape)}{hint}")
    if x.shape[0] == 0 or x.numel() == 0:
        raise ValueError(f"{who}: {arg} is empty, shape {tuple(x.shape)}; expected at least one "
                         f"example with at least one value")
    if not x.is_floating_point():
        raise TypeError(f"{who}: {arg} must be a float tensor, got {x.dtype}; convert uint8 images "
                        f"with cu.data.to_float({arg}) (values in [0, 1])")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        nan = int(torch.isnan(x).sum())
        raise ValueError(f"{who}: {arg} must be finite, got {nan} NaN and {int(bad.sum()) - nan} "
                         f"inf values")
    param = next(model.parameters(), None) if model is not None else None
    if param is not None and param.is_floating_point() and (x.dtype, x.device) != (param.dtype, param.device):
        raise TypeError(f"{who}: {arg} is {x.dtype} on {x.device} but the model's parameters are "
                        f"{param.dtype} on {param.device}; use {arg}.to(dtype={param.dtype}, "
                        f"device='{param.device}')")
    return x


check_input = check_batch  # the name chapters 8 and 9 used


def check_number(value, arg: str, who: str) -> float:
    """``value`` as a finite float, else a clear error (a baseline, a fill value...)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {arg} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{who}: {arg} must be finite, got {value}")
    return float(value)


def check_count(value, arg: str, who: str, low: int = 1) -> int:
    """``value`` as an int >= ``low`` (steps, a batch size, a window side...), else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who}: {arg} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{who}: {arg} must be >= {low}, got {value}")
    return int(value)


def check_indices(value, n: int | None, size: int | None, arg: str = "target",
                  owner: str = "the model", unit: str = "classes", device=None) -> torch.Tensor:
    """Integer indices (a class, a channel...), one for all ``n`` examples or one per example,
    each in ``[0, size)``: a long tensor of shape (n,), else a clear error that names ``arg``
    and says what ``owner`` has (``"target out of range: the model has 10 classes"``).
    ``n=None`` takes as many as given (at least one); ``size=None`` only rules out negatives."""
    try:
        t = torch.as_tensor(value, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{arg} must be an integer or a sequence of integers, got {value!r}") from None
    if t.numel() == 0:
        t = t.long()   # [] is float32 to torch
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{arg} must hold integer indices, got {t.dtype}")
    if t.ndim > 1:
        raise ValueError(f"{arg} must be one integer or a 1-d sequence, got shape {tuple(t.shape)}")
    t = t.long().reshape(-1)
    if t.numel() == 1 and n is not None:
        t = t.expand(n)
    if t.numel() != n and (n is not None or t.numel() == 0):
        want = "at least one" if n is None else f"one integer for all or one per example ({n})"
        raise ValueError(f"{arg} must be {want}, got {t.numel()} values")
    if bool((t < 0).any()) or (size is not None and bool((t >= size).any())):
        shown = t.unique().tolist()[:10]
        have = "expected non-negative indices" if size is None else \
            f"{owner} has {size} {unit} (0..{size - 1})"
        raise ValueError(f"{arg} out of range: {have}, got {shown}")
    return t


def find_layer(model: nn.Module, layer, arg: str = "layer") -> nn.Module:
    """The module ``layer`` (a dotted name or a submodule) of ``model``, else a clear error."""
    if not isinstance(layer, (str, nn.Module)):
        raise TypeError(f"{arg} must be a dotted module name or a submodule, got {type(layer).__name__}")
    return get_module(model, layer)


# --- targets -----------------------------------------------------------------------------------

def resolve_target(output: torch.Tensor, target: Target):
    """Class indices (N,) for ``target`` on ``output`` (N, classes), or the callable itself:
    ``None`` means each example's top class."""
    if callable(target) and not isinstance(target, torch.Tensor):
        return target
    if output.ndim != 2:
        raise ValueError(f"a class-index target needs an output of shape (N, classes), got "
                         f"{tuple(output.shape)}; pass a callable target for other outputs")
    if target is None:
        return output.detach().argmax(1)
    return check_indices(target, output.shape[0], output.shape[1], "target", device=output.device)


def target_scores(output: torch.Tensor, target: Target) -> torch.Tensor:
    """One score per example, shape (N,), from a model's ``output`` (chapters 8-11).

    ``target`` is ``None`` (each example's top class), an int (that class for all), a sequence
    or tensor of N class indices, or a callable ``f(output)`` returning (N,) or (N, ...) (then
    summed over everything but the batch): e.g. ``lambda out: out[:, 0, 10:20, 10:20].sum((1, 2))``
    for the "area" Grad-CAM of a reconstruction. Callables must act row by row.
    """
    n = output.shape[0]
    t = resolve_target(output, target)
    if isinstance(t, torch.Tensor):
        return output.gather(1, t.view(-1, 1)).squeeze(1)
    s = t(output)
    if not isinstance(s, torch.Tensor) or s.ndim == 0 or s.shape[0] != n:
        shape = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
        raise ValueError(f"a callable target must return one score per example, shape ({n},) "
                         f"or ({n}, ...), got {shape}")
    return s.reshape(n, -1).sum(1)


# CPU attribution runs 2-3 times faster in chunks of 64 images than thousands at once, with the
# same result (benchmarks/batch_size_cpu.py)
CHUNK = 64


def chunked(fn: Callable, x: torch.Tensor, target: Target, batch_size: int | None = CHUNK) -> torch.Tensor:
    """``fn(x_part, target_part)`` over chunks of ``batch_size`` examples, concatenated (None:
    all at once). A target of one class per example is sliced with ``x``; a callable target
    is not chunked, since it may hold one entry per example of the whole batch."""
    per_example = isinstance(target, (list, tuple)) or (isinstance(target, torch.Tensor) and target.ndim > 0)
    if batch_size is None or len(x) <= batch_size or (callable(target) and not isinstance(target, torch.Tensor)):
        return fn(x, target)
    check_count(batch_size, "batch_size", "chunked")
    if per_example and len(target) != len(x):
        raise ValueError(f"target has {len(target)} entries for {len(x)} examples")
    return torch.cat([fn(x[s:s + batch_size], target[s:s + batch_size] if per_example else target)
                      for s in range(0, len(x), batch_size)])


# --- running the model -------------------------------------------------------------------------

def run_model(model: nn.Module, x: torch.Tensor, arg: str = "x of shape") -> torch.Tensor:
    """``model(x)``; a shape the model cannot take becomes a ``ValueError`` naming ``arg``."""
    try:
        return model(x)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as e:
        raise ValueError(f"the model cannot take {arg} {tuple(x.shape)}: {e}") from e


@contextmanager
def recording(layer: nn.Module) -> Iterator[dict]:
    """Inside the block, ``store["in"]`` and ``store["out"]`` are ``layer``'s latest first input
    and output, part of the graph. The output is cloned on the way on, so a following in-place
    op (``ReLU(inplace=True)``) cannot overwrite what we read. The hook is removed on exit,
    also after an error."""
    store: dict = {}

    def hook(_m, inp, out):
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"layer {type(layer).__name__} must output a tensor, got {type(out).__name__}")
        store["in"], store["out"] = (inp[0] if inp else None), out
        return out.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def recorded(store: dict, model: nn.Module, layer: nn.Module) -> dict:
    """``store`` of :func:`recording` after a forward pass, or an error if ``layer`` was not used."""
    if "out" not in store:
        raise ValueError(f"layer {module_name(model, layer)!r} was not used in the forward pass")
    return store


def feature_maps(model: nn.Module, x: torch.Tensor, layer: nn.Module, name) -> dict:
    """Input and output (``{"in", "out"}``) of ``layer`` (called ``name``) when ``model`` runs on
    ``x``, the output checked to be feature maps (N, C, ...)."""
    with recording(layer) as store:
        run_model(model, x)
    out = recorded(store, model, layer)["out"]
    if out.ndim < 3:
        raise ValueError(f"layer {name!r} must give feature maps (N, C, H, W), got {tuple(out.shape)}")
    return store


def layer_forward(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: Target = None):
    """Run ``model`` on ``x``: ``(activations of layer, scores, output)``, the activations part
    of the graph (chapter 8)."""
    with recording(layer) as store:
        output = run_model(model, x)
    return recorded(store, model, layer)["out"], target_scores(output, target), output


# --- model state, gradients and hooks ----------------------------------------------------------

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
    full backward hooks) and switched back afterwards; hooks are always removed, and so is the
    mark torch leaves on a module that had a full backward hook. ReLUs must be ``nn.ReLU``
    modules: a functional ``F.relu`` in ``forward`` cannot be hooked.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"{type(model).__name__} has no nn.ReLU modules to modify")
    saved = [(m.inplace, m._is_full_backward_hook) for m in relus]
    handles = []
    try:
        for m in relus:
            m.inplace = False
            handles.append(m.register_full_backward_hook(RULES[rule]))
        yield model
    finally:
        for h in handles:
            h.remove()
        for m, (inplace, full_hook) in zip(relus, saved):
            m.inplace = inplace
            m._is_full_backward_hook = full_hook


@contextmanager
def explaining(model: nn.Module, rule: str | None = None) -> Iterator[nn.Module]:
    """What a gradient-based method runs inside: :func:`frozen_eval`, gradients on (also
    inside ``torch.no_grad()``) and, with ``rule``, :func:`relu_backward_rule`."""
    rules = contextlib.nullcontext() if rule is None else relu_backward_rule(model, rule)
    with frozen_eval(model), rules, torch.enable_grad():
        yield model
