"""One epoch of LeNet-5 on Fashion-MNIST, two ways, in one run (chapter 1).

1. ours: the whole dataset as a uint8 tensor in memory, batches sliced and scaled on the fly
   (`course_utils.data.Batches` + `course_utils.train.fit`);
2. the textbook loop: `torchvision.datasets.FashionMNIST(transform=ToTensor())` +
   `torch.utils.data.DataLoader`, one PIL image at a time.

Same model, optimizer, batch size and seed; prints images/second for each and the ratio.
    python benchmarks/train_throughput.py [--images N] [--batch-size B] [--workers W]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset

import course_utils as cu
from course_utils.models import LeNet5


def textbook_epoch(n: int, batch_size: int, workers: int) -> tuple[float, float]:
    cu.seed_everything(0)
    ds = torchvision.datasets.FashionMNIST(str(cu.config.data_root()), train=True, download=False,
                                           transform=torchvision.transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(n)), batch_size=batch_size, shuffle=True, num_workers=workers)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    start = time.perf_counter()
    total = 0.0
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(y)
    return time.perf_counter() - start, total / n


def ours_epoch(n: int, batch_size: int) -> tuple[float, float]:
    train = cu.data.load("fashion-mnist", "train").take(torch.arange(n))
    start = time.perf_counter()
    h = cu.train.fit(LeNet5(), train, None, epochs=1, optimizer="momentum", lr=1e-2,
                     batch_size=batch_size, seed=0, device="cpu", progress=False)
    return time.perf_counter() - start, h.train_loss[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (textbook loop)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images, "
          f"batch {args.batch_size}")
    t_ours, loss_ours = ours_epoch(args.images, args.batch_size)
    t_book, loss_book = textbook_epoch(args.images, args.batch_size, args.workers)
    print(f"{'loop':<36}{'seconds':>9}{'images/s':>11}{'loss':>8}")
    print(f"{'in-memory tensors (course_utils)':<36}{t_ours:>9.2f}{args.images / t_ours:>11.0f}{loss_ours:>8.3f}")
    print(f"{'Dataset+ToTensor+DataLoader (w=' + str(args.workers) + ')':<36}{t_book:>9.2f}"
          f"{args.images / t_book:>11.0f}{loss_book:>8.3f}")
    print(f"speed-up: {t_book / t_ours:.2f}x")


if __name__ == "__main__":
    main()
