"""The reports' LeNet-5 variant for CIFAR-10, and the recipe chapters 5 and 6 share (chapter 5).

Two 5x5 "same" convolutions (32 and 64 filters), each followed by 2x2 max-pooling, then a
fully connected layer of 1024 units and the 10-way output. Every non-linearity is an
``nn.ReLU`` (or ``nn.Tanh``) *module*, so the deconvnet and guided backprop of chapter 6 can
hook it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .lenet import _check_input as check_input

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class CifarLeNet(nn.Module):
    """conv 5x5x32 -> max-pool -> conv 5x5x64 -> max-pool -> FC 1024 -> FC ``num_classes``
    (chapter 5). ``size`` is the input side (28 for the reports' grey 28x28 images, 32 for
    colour CIFAR-10); ``activation`` is ``"relu"`` or ``"tanh"``; ``dropout`` is applied to
    the 1024 hidden units during training (report 003 used 0.5 with tanh). ``kernel1`` and
    ``stride1`` set the first convolution (padding ``kernel1 // 2``), for the architecture
    comparison of chapter 6; the defaults (5, 1) are the reports' network."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, size: int = 28,
                 activation: str = "relu", dropout: float = 0.0, kernel1: int = 5, stride1: int = 1):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if size % 4 != 0 or size < 8:
            raise ValueError(f"size must be a multiple of 4 and >= 8 (two 2x2 poolings), got {size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not (isinstance(kernel1, int) and isinstance(stride1, int) and kernel1 >= 1 and stride1 >= 1):
            raise ValueError(f"kernel1 and stride1 must be integers >= 1, got {kernel1!r} and {stride1!r}")
        side = (size + 2 * (kernel1 // 2) - kernel1) // stride1 + 1  # after conv1
        if side // 4 < 1:
            raise ValueError(f"a {kernel1}x{kernel1} first layer with stride {stride1} leaves a {side}x{side} "
                             f"map on {size}x{size} inputs, too small for two 2x2 poolings (need >= 4)")
        act = ACTIVATIONS[activation]
        self.in_channels, self.size = in_channels, size
        self.conv1 = nn.Conv2d(in_channels, 32, kernel1, stride=stride1, padding=kernel1 // 2)
        self.act1 = act()
        self.pool1 = nn.MaxPool2d(2)                            # -> size / 2
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.act2 = act()
        self.pool2 = nn.MaxPool2d(2)                            # -> size / 4
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * ((side // 2) // 2) ** 2, 1024)
        self.act3 = act()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, self.size, "CifarLeNet")
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.drop(self.act3(self.fc1(self.flatten(x))))
        return self.fc2(x)


# ---------------------------------------------------------------------------------------------
# The recipe chapters 5 and 6 share: same data, same trained network (cache-or-train).

REFERENCE = {"optimizer": "adam", "lr": 1e-3, "warmup_epochs": 3, "batch_size": 50,
             "hflip": True, "activation": "relu", "dropout": 0.0}


def chapter5_data(fast: bool, seed: int = 0, grey: bool = True, size: int = 28):
    """``(train, test, banner)`` for chapters 5 and 6: CIFAR-10 (grey 28x28 by default) with a
    class-balanced subset, or Fashion-MNIST as a named stand-in when CIFAR-10 is absent.

    Full mode uses report 003's sizes (500 training and 88 test images per class); fast mode
    40 and 20 per class. ``banner`` is None on real CIFAR-10, else the sentence to show.
    """
    from .. import data

    n_train, n_test = (400, 200) if fast else (5000, 880)
    kw = {"grey": grey, "size": size, "seed": seed}
    train, banner = data.load_or_standin("cifar10", "fashion-mnist", split="train", **kw)
    test, _ = data.load_or_standin("cifar10", "fashion-mnist", split="test", **kw)
    return train.subset(n_train, seed=seed), test.subset(n_test, seed=seed + 1), banner


def data_description(banner: str | None, grey: bool = True, size: int = 28) -> str:
    """What :func:`chapter5_data` returned, in words, for the Results page (chapters 5 and 6)."""
    if banner is None:
        return f"CIFAR-10 ({'grey' if grey else 'colour'}, {size}×{size})"
    return "Fashion-MNIST, standing in for CIFAR-10 (not available)"


def reference_config(train, fast: bool, seed: int = 0, epochs: int | None = None) -> dict:
    """Cache key of the reference network (everything that changes its weights)."""
    epochs = epochs or (2 if fast else 10)
    return dict(REFERENCE, data=train.name, train_size=len(train), grey=train.info.get("grey"),
                size=train.shape[-1], channels=train.shape[0], epochs=epochs, seed=seed,
                snapshots=snapshot_epochs(epochs))


def snapshot_epochs(epochs: int) -> tuple[int, ...]:
    """Epochs whose weights are kept for the feature-evolution figure of chapter 6."""
    picks = {0, 1, 2, max(1, epochs // 2), epochs}
    return tuple(sorted(e for e in picks if e <= epochs))


def reference_model(train, test, fast: bool, seed: int = 0, epochs: int | None = None,
                    progress: bool = True):
    """``(model, history)`` of the chapter 5 reference network (Adam, 3-epoch warm-up, random
    flips), from the cache or trained now; chapter 6 opens it up (chapter 5)."""
    from .. import cache, data
    from .. import train as training

    cfg = reference_config(train, fast, seed, epochs)

    def build():
        return CifarLeNet(len(train.classes), train.shape[0], train.shape[-1],
                          cfg["activation"], cfg["dropout"])

    def run(model):
        return training.fit(model, train, test, epochs=cfg["epochs"], optimizer=cfg["optimizer"],
                            lr=cfg["lr"], warmup_epochs=cfg["warmup_epochs"],
                            batch_size=cfg["batch_size"], seed=seed,
                            transform=data.random_hflip if cfg["hflip"] else None,
                            snapshot_epochs=cfg["snapshots"], progress=progress,
                            desc="reference CifarLeNet")

    return cache.train_or_load("ch05-cifar-lenet", cfg, build, run)
