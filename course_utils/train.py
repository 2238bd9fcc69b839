"""The one training loop of the book, :func:`fit`, with a per-epoch :class:`History` (chapter 1).

What one optimisation step computes is a *step* object: :class:`ClassifyStep` (cross-entropy
on logits, the default) here, the VAE and VAE-GAN steps in :mod:`course_utils.steps`. A step is
called as ``step(model, x, y) -> (loss, n, sums)`` and evaluates a test set with
``step.evaluate(model, data, device) -> dict``; ``fit`` averages ``sums`` over each epoch
into ``History.train_<name>`` and the evaluation into ``History.test_<name>``.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import config
from .data import Batches, TensorData
from .timing import timed


@dataclass
class History:
    """Per-epoch curves of one training run (chapter 1).

    ``snapshots`` maps an epoch number to a CPU copy of the weights after that epoch (only
    for the epochs asked for in ``fit(snapshot_epochs=...)``; epoch 0 is the initialisation).
    Curves a step adds beyond loss and accuracy (a VAE's ``train_kl``, ``test_psnr``...) live
    in ``extra``; ``history["name"]`` reads any curve.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """Plain-data form (no snapshots; extra curves flattened in), for JSON or a table."""
        d = asdict(self)
        d.pop("snapshots")
        d.update(d.pop("extra"))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        names = {f for f in cls.__dataclass_fields__ if f not in ("extra", "snapshots")}
        d = dict(d)
        extra = dict(d.pop("extra", {}), **{k: d.pop(k) for k in list(d) if k not in names})
        return cls(**d, extra=extra)

    def __getitem__(self, name: str) -> list:
        if name in self.extra:
            return self.extra[name]
        if name in self.__dataclass_fields__ and name not in ("extra", "snapshots"):
            return getattr(self, name)
        raise KeyError(f"no curve {name!r}; this history has {sorted(self.to_dict())}")

    def append(self, name: str, value: float) -> None:
        """Add one epoch's value to curve ``name`` (a field, or an extra curve)."""
        if name in self.__dataclass_fields__ and name not in ("extra", "snapshots"):
            getattr(self, name).append(value)
        else:
            self.extra.setdefault(name, []).append(value)

    @property
    def final(self) -> dict:
        """The last epoch's numbers."""
        return {k: v[-1] for k, v in self.to_dict().items() if v}

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc) if self.test_acc else float("nan")

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def plot(self, title: str | None = None, axes=None):
        """Loss and accuracy curves, train and test, in one figure."""
        from .plots import plot_histories
        return plot_histories({title or "model": self}, title=title, axes=axes)


def _n_targets(y: torch.Tensor) -> int:
    """How many labels a batch holds: one per example, or one per pixel for integer label
    maps (N, H, W) of segmentation (chapter 11), so accuracy is per pixel there."""
    if y.ndim > 1 and not y.is_floating_point():
        return y.numel()
    return len(y)


def _as_batches(data, batch_size: int, shuffle: bool, seed: int, device, transform=None) -> Batches:
    if isinstance(data, Batches):
        return data
    return Batches(data, batch_size, shuffle=shuffle, seed=seed, device=device, transform=transform)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``sgd``, ``momentum`` (SGD + momentum), ``nesterov``, ``adagrad``, ``adam``, ``adamw``,
    ``rmsprop`` by name (chapters 1 and 5).

    Adam and AdamW update all parameters with ``foreach`` kernels, which torch uses by default
    only on a GPU: the same arithmetic, so the same weights to the last bit, and on CPU chapter
    5's network trains an epoch in 0.83-0.99 of the time (1 and 2 threads, both kernel families;
    ``benchmarks/optimizer_foreach.py``). The other rules gain nothing from it (Adagrad loses)
    and keep torch's default."""
    name = name.lower()
    makers = {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=weight_decay),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay),
        "nesterov": lambda: torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True,
                                            weight_decay=weight_decay),
        "adagrad": lambda: torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay),
        "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay),
    }
    if name not in makers:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(makers)}")
    return makers[name]()


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up multiplier: rises from 1/warmup_steps to 1, then stays 1 (chapter 5)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


@timed("evaluation")   # inside fit it counts as training
@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 64, device=None,
             loss_fn: Callable = F.cross_entropy) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data`` (TensorData or Batches) (chapter 1).
    Batches of 64 ran 1.5-2.7 times faster on CPU than 1,000 (``benchmarks/batch_size_cpu.py``)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        for x, y in _as_batches(data, batch_size, False, 0, device):
            out = model(x)
            total_loss += float(loss_fn(out, y, reduction="sum"))
            correct += int((out.argmax(1) == y).sum())
            count += _n_targets(y)
    finally:
        model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


@timed("evaluation")
@torch.no_grad()
def predict(model: nn.Module, data, batch_size: int = 64, device=None) -> torch.Tensor:
    """Logits of ``model`` for every example of ``data``, on the CPU (chapter 1)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        outs = [model(x).cpu() for x, _ in _as_batches(data, batch_size, False, 0, device)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


class ClassifyStep:
    """The default step of :func:`fit`: ``loss_fn`` (cross-entropy) on the model's logits;
    records loss and accuracy, per example or per pixel for label maps (chapter 1).
    ``ignore_index`` leaves a label (Pascal VOC's void 255) out of the loss (chapter 11)."""

    def __init__(self, loss_fn: Callable = F.cross_entropy, ignore_index: int | None = None):
        self.loss_fn = loss_fn if ignore_index is None else functools.partial(
            loss_fn, ignore_index=ignore_index)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        out = model(x)
        loss = self.loss_fn(out, y)
        n = _n_targets(y)
        return loss, n, {"loss": loss.detach() * n, "acc": (out.argmax(1) == y).sum()}

    def evaluate(self, model: nn.Module, data, device) -> dict:
        loss, acc = evaluate(model, data, device=device, loss_fn=self.loss_fn)
        return {"loss": loss, "acc": acc}


@contextlib.contextmanager
def memory_format(model: nn.Module, channels_last: bool = True):
    """Inside, ``model`` is in channels_last (its batches must be too); on leaving, even by an
    error, it is back in the default format, so what is saved and evaluated afterwards does not
    depend on it. Most of the book's networks train 1.1-1.55 times faster this way on CPU, with
    oneDNN's AVX2 and AVX-512 kernels alike (``benchmarks/cpu_tricks.py``; LeNet-5 0.94 times on
    AVX-512); ``channels_last=False`` does nothing."""
    if not channels_last:
        yield model
        return
    for name, m in model.named_modules():
        if (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1)
                and m.in_channels < 8):
            raise ValueError(
                f"{name} is a 1x1 strided convolution with {m.in_channels} input channels: its backward "
                "pass in channels_last crashes or hangs on CPUs running oneDNN's AVX2 kernels (README, "
                "Known issues); train this model with channels_last=False")
    model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)


def _weights(model: nn.Module) -> dict:
    """A CPU copy of ``model``'s weights in the default memory format, whatever it trains in."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


@timed("training")
def fit(model: nn.Module, train: TensorData | Batches, test: TensorData | Batches | None = None,
        epochs: int = 10, optimizer: str | torch.optim.Optimizer = "momentum", lr: float = 1e-2,
        momentum: float = 0.9, weight_decay: float = 0.0, batch_size: int = 128,
        warmup_epochs: float = 0, scheduler: str | None = None, seed: int = 0,
        transform: Callable | None = None, loss_fn: Callable = F.cross_entropy,
        device=None, snapshot_epochs=(), progress: bool = True,
        max_grad_norm: float | None = None, desc: str | None = None, step=None,
        channels_last: bool = False) -> History:
    """Train ``model`` and return its per-epoch :class:`History` (chapter 1).

    ``step`` says what one step computes (default :class:`ClassifyStep` with ``loss_fn``);
    it may name the parameters the optimizer trains (``step.parameters(model)``) and keep
    optimizers of its own (the VAE-GAN's discriminator), created in ``step.start(model)``.

    ``optimizer`` is a name for :func:`make_optimizer` or a ready optimizer. ``warmup_epochs``
    ramps the learning rate linearly over that many epochs; ``scheduler="cosine"`` then decays
    it to zero. ``transform`` augments each training batch. The loss is checked every step:
    a non-finite loss stops training with a clear error rather than producing NaN curves.
    Bad settings (``epochs`` < 1, ``batch_size`` < 1, ``lr`` <= 0, no training data) raise a
    ``ValueError`` before any training.
    """
    import numbers  # bad settings fail here, before anything is trained or saved

    def whole(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    for arg, value, ok, want in (
            ("epochs", epochs, whole(epochs) and epochs >= 1, "an integer >= 1"),
            ("batch_size", batch_size, whole(batch_size) and batch_size >= 1, "an integer >= 1"),
            ("lr", lr, isinstance(optimizer, torch.optim.Optimizer) or (
                isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0), "a finite number > 0"),
            ("warmup_epochs", warmup_epochs, isinstance(warmup_epochs, numbers.Real)
             and warmup_epochs >= 0, "a number >= 0"),
            ("train", f"{len(train)} examples", len(train) > 0, "at least one example")):
        if not ok:
            raise ValueError(f"fit: {arg} must be {want}, got {value!r}")
    step_fn = ClassifyStep(loss_fn) if step is None else step
    config.seed_everything(seed)
    device = torch.device(device) if device is not None else config.device()
    model.to(device)
    with memory_format(model, channels_last):
        if hasattr(step_fn, "start"):
            step_fn.start(model)
        train_batches = _as_batches(train, batch_size, True, seed, device, transform)
        params = list(step_fn.parameters(model) if hasattr(step_fn, "parameters") else model.parameters())
        opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else make_optimizer(
            optimizer, params, lr, momentum, weight_decay)
        trained = [p for g in opt.param_groups for p in g["params"]]
        base_lrs = [g["lr"] for g in opt.param_groups]
        steps_per_epoch = len(train_batches)
        warmup_steps = int(round(warmup_epochs * steps_per_epoch))
        total_steps = epochs * steps_per_epoch
        if scheduler not in (None, "cosine"):
            raise ValueError(f"scheduler must be None or 'cosine', got {scheduler!r}")
        history = History()
        if 0 in snapshot_epochs:
            history.snapshots[0] = _weights(model)
        t = 0   # optimisation steps so far
        bar = tqdm(range(1, epochs + 1), desc=desc or type(model).__name__, disable=not progress,
                   leave=False, unit="epoch")
        for epoch in bar:
            model.train()
            start = time.perf_counter()
            sums, count = {}, 0   # running sums stay on the device: no host sync per step on a GPU
            for x, y in train_batches:
                factor = warmup_factor(t, warmup_steps)
                if scheduler == "cosine" and t >= warmup_steps:
                    progress_frac = (t - warmup_steps) / max(1, total_steps - warmup_steps)
                    factor *= 0.5 * (1 + math.cos(math.pi * progress_frac))
                for g, base in zip(opt.param_groups, base_lrs):
                    g["lr"] = base * factor
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss, n, parts = step_fn(model, x, y)
                if (device.type == "cpu" or t % 50 == 0) and not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {float(loss.detach())} at epoch {epoch}, step {t}: the learning "
                        f"rate ({opt.param_groups[0]['lr']:.3g}) is probably too high")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(trained, max_grad_norm)
                opt.step()
                t += 1
                for k, v in parts.items():
                    sums[k] = sums[k] + v if k in sums else v
                count += n
            history.epoch.append(epoch)
            if not all(bool(torch.isfinite(torch.as_tensor(v))) for v in sums.values()):
                raise FloatingPointError(f"loss became {float(sums['loss'])} during epoch {epoch}: the "
                                         f"learning rate ({opt.param_groups[0]['lr']:.3g}) is probably too high")
            for k, v in sums.items():
                history.append(f"train_{k}", float(v) / count)
            history.lr.append(opt.param_groups[0]["lr"])
            history.seconds.append(time.perf_counter() - start)
            if test is not None:
                for k, v in step_fn.evaluate(model, test, device).items():
                    history.append(f"test_{k}", v)
            if epoch in snapshot_epochs:
                history.snapshots[epoch] = _weights(model)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}",
                            acc=f"{history.test_acc[-1]:.3f}" if history.test_acc else "-")
    model.eval()
    return history
