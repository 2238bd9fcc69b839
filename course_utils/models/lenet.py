"""LeNet-5 and the deeper MyNet for 28x28 grey images (chapter 1)."""
from __future__ import annotations

import torch
import torch.nn as nn


def _check_input(x: torch.Tensor, channels: int, size: int, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels or x.shape[-2:] != (size, size):
        raise ValueError(f"{who} expects a batch of shape (N, {channels}, {size}, {size}), "
                         f"got {tuple(x.shape)}")


class LeNet5(nn.Module):
    """LeNet-5: the 28x28 image is zero-padded to 32x32, then two 5x5 convolutions each
    followed by 2x2 average pooling, and fully connected layers 120 -> 84 -> 10, all tanh."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.pad = nn.ZeroPad2d(2)
        self.conv1 = nn.Conv2d(in_channels, 6, 5)   # 32 -> 28
        self.act1 = nn.Tanh()
        self.pool1 = nn.AvgPool2d(2)                # 28 -> 14
        self.conv2 = nn.Conv2d(6, 16, 5)            # 14 -> 10
        self.act2 = nn.Tanh()
        self.pool2 = nn.AvgPool2d(2)                # 10 -> 5
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.act3 = nn.Tanh()
        self.fc2 = nn.Linear(120, 84)
        self.act4 = nn.Tanh()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 28, "LeNet5")
        x = self.pool1(self.act1(self.conv1(self.pad(x))))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act3(self.fc1(self.flatten(x)))
        x = self.act4(self.fc2(x))
        return self.fc3(x)


class MyNet(nn.Module):
    """A deeper, wider LeNet: three conv layers (16, 32, 64 filters, ReLU, max-pooling) and
    fully connected layers 256 -> 128 -> 10."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.pad = nn.ZeroPad2d(2)
        self.conv1 = nn.Conv2d(in_channels, 16, 5)          # 32 -> 28
        self.act1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)                        # 28 -> 14
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)        # 14 -> 14
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv2d(32, 64, 3)                   # 14 -> 12
        self.act3 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)                        # 12 -> 6
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 6 * 6, 256)
        self.act4 = nn.ReLU()
        self.fc2 = nn.Linear(256, 128)
        self.act5 = nn.ReLU()
        self.fc3 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 28, "MyNet")
        x = self.pool1(self.act1(self.conv1(self.pad(x))))
        x = self.act2(self.conv2(x))
        x = self.pool2(self.act3(self.conv3(x)))
        x = self.act4(self.fc1(self.flatten(x)))
        x = self.act5(self.fc2(x))
        return self.fc3(x)
