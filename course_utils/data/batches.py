"""Shuffled float mini-batches from in-memory uint8 tensors, and padding (chapter 1)."""
from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from .augment import nchw
from .datasets import TensorData, to_float


class Batches:
    """Shuffled mini-batches from in-memory tensors, as float32 on ``device`` (chapter 1).

    Iterate once per epoch; with ``shuffle`` the order changes each epoch but the whole
    sequence is fixed by ``seed``. ``transform`` is applied to each float batch (e.g. random
    flips) and should use ``torch`` randomness, which ``seed_everything`` makes repeatable.
    Every batch comes out with explicit NCHW strides (:func:`course_utils.data.augment.nchw`);
    uint8 labels (compact label maps) come out as int64.
    """

    def __init__(self, data: TensorData | tuple[torch.Tensor, torch.Tensor], batch_size: int = 128,
                 shuffle: bool = True, seed: int = 0, device=None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 drop_last: bool = False):
        if isinstance(data, TensorData):
            self.x, self.y = data.images, data.labels
        else:
            self.x, self.y = data
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = to_float(self.x[idx]).to(self.device, non_blocking=True)
            y = self.y[idx]
            y = (y.long() if y.dtype == torch.uint8 else y).to(self.device, non_blocking=True)
            if self.transform is not None:
                x = self.transform(x)
            yield nchw(x), y  # explicit NCHW strides, whatever the transform did


def pad_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad square images to ``size`` x ``size`` (e.g. 28 -> 32 for LeNet-5; chapter 1)."""
    total = size - images.shape[-1]
    if total < 0:
        raise ValueError(f"cannot pad {images.shape[-1]}-pixel images to {size}")
    return F.pad(images, (total // 2, total - total // 2, total // 2, total - total // 2))
