"""Classifiers that can localise: conv layers, global average pooling, one linear head
(chapters 8 and 9).

Trained on single Fashion-MNIST items pasted at a random place on a larger black canvas, such
a network has to recognise an item wherever it is; because the head only sees the spatial
average of the last feature maps, the class evidence stays tied to where it was found, which
is what Grad-CAM reads back. :func:`course_utils.recipes.localizer` is the one shared recipe,
so chapters 8 and 9 get the very same network.
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
