"""Shared fixtures: isolated cache/results folders and small datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import course_utils as cu

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "COURSE_DATA" not in os.environ and SHARED.exists():
    os.environ["COURSE_DATA"] = str(SHARED)


@pytest.fixture(autouse=True)
def _settings_follow_environment():
    """A test's ``config.set_fast``/``override`` ends with the test."""
    yield
    cu.config.clear_overrides()


@pytest.fixture
def tmp_course(tmp_path, monkeypatch):
    """Point the cache and results folders at a temporary directory."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path / "results"))
    return tmp_path


@pytest.fixture(scope="session")
def fashion_small():
    """A class-balanced 1,000-image slice of Fashion-MNIST train and 500 of test."""
    if not cu.data.available("fashion-mnist"):
        pytest.fail(f"Fashion-MNIST not under {cu.config.data_root()}; set COURSE_DATA")
    return (cu.data.load("fashion-mnist", "train", subset=1000),
            cu.data.load("fashion-mnist", "test", subset=500))


@pytest.fixture
def toy_data():
    """A tiny, easily learnable 2-class image problem (bright left half vs right half)."""
    g = torch.Generator().manual_seed(0)
    n = 256
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 60, (n, 1, 28, 28), generator=g, dtype=torch.int64)
    images[labels == 0, :, :, :14] += 150
    images[labels == 1, :, :, 14:] += 150
    return cu.data.TensorData(images.clamp(0, 255).to(torch.uint8), labels, ["left", "right"], "toy")


@pytest.fixture(scope="module")
def net():
    """An untrained chapter-5 LeNet for 16x16 grey images, in eval mode (explain tests)."""
    from course_utils.models.cifar import CifarLeNet

    torch.manual_seed(0)
    return CifarLeNet(size=16).eval()


@pytest.fixture(scope="session")
def grey16():
    """``grey16(n)``: ``n`` random 16x16 grey images, the same every time (seed 1)."""
    return lambda n: torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(1))


def small_cnn(in_channels: int = 3, size: int = 32, hidden: int | None = None, classes: int = 5,
              inplace: bool = False):
    """A seeded tiny CNN for the attribution tests: three 3x3 conv + ReLU layers (the first two
    followed by a 2x2 max-pool: modules "0", "3" and "6" are the convolutions), then a linear
    head, with one hidden layer of ``hidden`` units if given."""
    import torch.nn as nn

    torch.manual_seed(0)
    side = size // 4
    head = ([nn.Linear(16 * side * side, hidden), nn.ReLU(inplace), nn.Linear(hidden, classes)]
            if hidden else [nn.Linear(16 * side * side, classes)])
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(inplace), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace),
        nn.Flatten(), *head)


def tiny_batch_losses(make_model, steps: int, lr: float) -> list[float]:
    """Adam on one fixed batch of 32 random 28x28 images with 4 labels, for the model that
    ``make_model()`` builds (after the batch is drawn, seeded): the loss after each step. A model
    that can learn at all should halve it (the sanity check of chapters 2 and 7)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28), torch.arange(32) % 4
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
