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
