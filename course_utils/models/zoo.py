"""A small CNN zoo for 28x28 grey images: simplified AlexNet, a VGG-style net and a small
ResNet (chapter 2). Later chapters reuse them (chapter 7 compares against the VGG net; the
segmentation chapter builds encoders from ``VGGNet.blocks``).

Every activation is an ``nn.ReLU`` module (never the functional form, and never one module used
twice), so attribution code that hooks ``nn.ReLU`` modules sees every rectification. Each net
ends its convolutional part with adaptive pooling, so it runs on any input at least as large as
its total stride (28x28 digits, 64x64 scenes...).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn


def _check_input(x: torch.Tensor, channels: int, min_size: int, who: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who} expects a batch of shape (N, {channels}, H, W), got {shape}")
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"{who} needs images of at least {min_size}x{min_size} pixels "
                         f"(its total stride), got {tuple(x.shape[-2:])}")


# --------------------------------------------------------------------------- AlexNet
class SmallAlexNet(nn.Module):
    """Simplified AlexNet (chapter 2): five convolutions (a 5x5 one, then 3x3) with ReLU and
    three 2x2 max-pools, no BatchNorm, then a dropout MLP classifier; He-initialised.

    ``features`` (nn.Sequential) maps (N, C, H, W) to (N, 64, H/8, W/8); ``pool`` adapts that
    to 3x3; ``classifier`` (nn.Sequential) flattens and maps to ``num_classes`` logits.
    """

    stride = 8

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.25):
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(),   # /1
            nn.MaxPool2d(2),                                       # /2   (28 -> 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                       # /4   (14 -> 7)
            nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(),
            nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
            nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                       # /8   (7 -> 3)
        )
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(64 * 9, 256), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, num_classes),
        )
        # He initialisation: without normalisation, PyTorch's default init shrinks the signal
        # layer after layer and plain SGD needs many steps to leave the starting plateau
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.stride, "SmallAlexNet")
        return self.classifier(self.pool(self.features(x)))


# --------------------------------------------------------------------------- VGG
class VGGNet(nn.Module):
    """VGG-style net (chapter 2): blocks of 3x3 convolutions (padding 1) + BatchNorm + ReLU,
    each block ending with a 2x2 max-pool; the filters grow with depth.

    ``widths`` are the conv widths in order, grouped ``convs_per_block`` at a time into
    ``blocks`` (nn.ModuleList of nn.Sequential). Block ``i`` outputs ``widths`` of its last conv
    at stride ``2 ** (i + 1)``: with the default ``widths=(32, 32, 64, 64)`` and two convs per
    block, ``blocks[0]`` gives 32 maps at /2 (28 -> 14) and ``blocks[1]`` 64 maps at /4
    (14 -> 7). With ``convs_per_block=1`` there are four blocks at /2, /4, /8, /16.
    ``block_strides`` and ``block_channels`` list these.

    After the blocks, ``pool`` (adaptive average pooling to ``pool_size``) makes the head
    independent of the input size; ``head`` = Flatten, Linear(-> ``hidden``), ReLU, Dropout,
    Linear(-> ``num_classes``). ``head[1]`` is the first fully connected layer.
    """

    def __init__(self, widths: Sequence[int] = (32, 32, 64, 64), num_classes: int = 10,
                 in_channels: int = 1, convs_per_block: int = 2, hidden: int = 256,
                 dropout: float = 0.5, pool_size: int = 7):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or any(w <= 0 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive ints, got {widths}")
        if convs_per_block < 1 or len(widths) % convs_per_block:
            raise ValueError(f"len(widths)={len(widths)} must be a multiple of "
                             f"convs_per_block={convs_per_block}")
        self.in_channels = in_channels
        self.widths = widths
        self.blocks = nn.ModuleList()
        c = in_channels
        for b in range(len(widths) // convs_per_block):
            layers: list[nn.Module] = []
            for w in widths[b * convs_per_block:(b + 1) * convs_per_block]:
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
            layers.append(nn.MaxPool2d(2))
            self.blocks.append(nn.Sequential(*layers))
        self.block_strides = tuple(2 ** (i + 1) for i in range(len(self.blocks)))
        self.block_channels = tuple(widths[(i + 1) * convs_per_block - 1] for i in range(len(self.blocks)))
        self.stride = self.block_strides[-1]
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * pool_size * pool_size, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every block (strides ``block_strides``), for encoders and probes."""
        _check_input(x, self.in_channels, self.stride, "VGGNet")
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.forward_features(x)[-1]))


# --------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    """Residual basic block (chapter 2): conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (identity,
    or 1x1 conv + BN when the stride or width changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        else:
            self.shortcut = nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """Small ResNet (chapter 2): a 3x3 stem (conv-BN-ReLU), then one stage of
    ``blocks_per_stage`` basic blocks per entry of ``widths``; every stage after the first
    halves the resolution (strides /1, /2, /4 with the default three stages: 28 -> 28 -> 14 -> 7).
    The default (one block per stage) has 8 weight layers: stem, 3 x 2 convs, fc.
    Global average pooling and one linear layer classify. ``stem``, ``stages`` (nn.ModuleList)
    and ``fc`` are attributes; ``stage_strides`` lists each stage's output stride.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64), blocks_per_stage: int = 1,
                 num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or any(w <= 0 for w in widths) or blocks_per_stage < 1:
            raise ValueError(f"widths must be positive ints and blocks_per_stage >= 1, "
                             f"got {widths}, {blocks_per_stage}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.stages = nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            blocks = [BasicBlock(c, w, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(w, w) for _ in range(blocks_per_stage - 1)]
            self.stages.append(nn.Sequential(*blocks))
            c = w
        self.stage_strides = tuple(2 ** i for i in range(len(widths)))
        self.stride = self.stage_strides[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.stride, "SmallResNet")
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(self.flatten(self.pool(x)))


# --------------------------------------------------------------------------- registry
MODELS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": SmallAlexNet,
    "vgg": VGGNet,
    "resnet": SmallResNet,
}


def build(name: str, **kw) -> nn.Module:
    """Build a zoo model by name: ``"alexnet"``, ``"vgg"`` or ``"resnet"`` (chapter 2);
    keyword arguments go to its constructor."""
    key = str(name).lower()
    if key not in MODELS:
        raise ValueError(f"unknown zoo model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[key](**kw)
