"""Classifiers that can localise: conv layers, global average pooling, one linear head
(chapters 8 and 9).

Trained on single Fashion-MNIST items pasted at a random place on a larger black canvas, such
a network has to recognise an item wherever it is; because the head only sees the spatial
average of the last feature maps, the class evidence stays tied to where it was found, which
is what Grad-CAM reads back. :func:`train_localizer` is the one shared recipe (cache-or-train),
so chapters 8, 9 and 10 get the very same network.
"""
from __future__ import annotations

import torch
import torch.nn as nn

CANVAS = 56  # two 28x28 items fit side by side


def _check(x: torch.Tensor, channels: int, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels or min(x.shape[-2:]) < 8:
        raise ValueError(f"{who} expects a batch of shape (N, {channels}, H, W) with H, W >= 8, "
                         f"got {tuple(x.shape)}")


class GAPNet(nn.Module):
    """Plain VGG-style localiser: four 3x3 conv layers (16, 32, 32, 64 filters, each with batch
    norm and ReLU; one 2x2 max-pooling, after the first), global average pooling, a linear
    head (chapter 8). Any input size >= 8; a 56x56 canvas gives 28x28 maps at the last block,
    one pooling fewer than a classifier needs, so that Grad-CAM's cells are 2 pixels wide.
    ``cam_layers`` names the output (after ReLU) of each conv block, first to last."""

    blocks = ((16, True), (32, False), (32, False), (64, False))  # (filters, 2x2 max-pool after)
    cam_layers = ("features.2", "features.6", "features.9", "features.12")
    cam_layer = "features.12"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, inplace: bool = False):
        super().__init__()
        self.in_channels = in_channels
        layers, c = [], in_channels
        for width, pool in self.blocks:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace)]
            layers += [nn.MaxPool2d(2)] if pool else []
            c = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, "GAPNet")
        return self.head(self.pool(self.features(x)).flatten(1))


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, inplace: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.out = nn.ReLU(inplace)

    def forward(self, x):
        return self.out(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.short(x))


class GAPResNet(nn.Module):
    """A small residual localiser (chapter 8): a stem (3x3 conv, batch norm, ReLU, 2x2
    max-pool), three residual blocks (16, 32, 64 channels; the last two halve the resolution),
    global average pooling, a linear head. A 56x56 canvas gives 7x7 maps at ``layer3``, a
    quarter of the resolution of :class:`GAPNet`'s last maps."""

    cam_layers = ("stem", "layer1", "layer2", "layer3")
    cam_layer = "layer3"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, inplace: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(inplace), nn.MaxPool2d(2))
        self.layer1 = _Block(16, 16, 1, inplace)
        self.layer2 = _Block(16, 32, 2, inplace)
        self.layer3 = _Block(32, 64, 2, inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, "GAPResNet")
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.head(self.pool(x).flatten(1))


ARCHS = {"gapnet": GAPNet, "gapresnet": GAPResNet}


def localizer_config(arch: str = "gapnet", fast: bool | None = None, seed: int = 0) -> dict:
    """The training recipe of a localiser, as the cache key (chapters 8-10): fast mode trains
    on 2,000 single-item canvases for 3 epochs (300 to test), full mode on 12,000 for 6 epochs;
    Adam with a half-epoch warm-up and a cosine decay, which ends training on a stable model."""
    from .. import config

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")
    fast = config.is_fast() if fast is None else fast
    train_size, test_size, epochs = (2000, 300, 3) if fast else (12000, 2000, 6)
    return {"data": "fashion-mnist", "canvas": CANVAS, "items": 1, "train_size": train_size,
            "test_size": test_size, "epochs": epochs, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "warmup_epochs": 0.5, "batch_size": 64, "seed": seed,
            "arch": arch, "blocks": [list(b) for b in getattr(ARCHS[arch], "blocks", ())]}


def single_item_data(cfg: dict, split: str):
    """Single-item canvases for a localiser config, as ``(TensorData, Scenes)`` (chapter 8):
    each image holds one Fashion-MNIST item at a random place; the label is its class."""
    from .. import data

    size = cfg["train_size"] if split == "train" else cfg["test_size"]
    source = data.load(cfg["data"], split, subset=size, seed=cfg["seed"])
    scenes = data.make_scenes(source, size, canvas=cfg["canvas"], items=(1, 1),
                              seed=cfg["seed"] + (0 if split == "train" else 1))
    td = data.TensorData(scenes.images, scenes.item_classes[:, 0].clone(), list(source.classes),
                         f"{cfg['data']}-canvas{cfg['canvas']}", split)
    return td, scenes


def train_localizer(arch: str = "gapnet", fast: bool | None = None, seed: int = 0,
                    snapshot_epochs=None, progress: bool = True):
    """Cache-or-train a localiser (chapters 8-10); returns ``(model, history)`` with weight
    snapshots after every epoch (epoch 0 = initialisation) for Grad-CAM across training."""
    from .. import cache, train

    cfg = localizer_config(arch, fast, seed)
    snaps = tuple(range(cfg["epochs"] + 1)) if snapshot_epochs is None else tuple(snapshot_epochs)
    cfg = dict(cfg, snapshots=list(snaps))

    def fit(model):
        tr, _ = single_item_data(cfg, "train")
        te, _ = single_item_data(cfg, "test")
        return train.fit(model, tr, te, epochs=cfg["epochs"], optimizer=cfg["optimizer"],
                         lr=cfg["lr"], scheduler=cfg["scheduler"], warmup_epochs=cfg["warmup_epochs"],
                         batch_size=cfg["batch_size"], seed=seed,
                         snapshot_epochs=snaps, progress=progress, desc=arch)

    return cache.train_or_load(f"localizer-{arch}", cfg, ARCHS[arch], fit)

