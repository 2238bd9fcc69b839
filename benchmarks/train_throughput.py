"""Training throughput of the book's networks, set against what the machine can do, in one run.

For LeNet-5 and MyNet (chapter 1, Fashion-MNIST) and chapter 2's VGG net (MNIST), one epoch
slice through ``course_utils.train.fit`` (in-memory uint8 tensors, batches sliced and scaled on
the fly) reports images/second, the FLOP of one training step per image (forward + backward,
counted by ``torch.utils.flop_counter``) and the GFLOP/s that makes, beside the GFLOP/s of a
2048 x 2048 float32 matmul measured in the same run. LeNet-5 is also trained by the textbook
loop (``torchvision`` Dataset + ``ToTensor`` + ``DataLoader``), with the ratio.

    python benchmarks/train_throughput.py [--images N] [--batch-size B] [--workers W]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu
from course_utils.models import LeNet5, MyNet, VGGNet

NETWORKS = {"LeNet-5": (LeNet5, "fashion-mnist"), "MyNet": (MyNet, "fashion-mnist"),
            "VGG (chapter 2)": (VGGNet, "mnist")}


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def step_flops_per_image(make, batch: int = 64) -> float:
    """FLOP of one training step (forward + backward) per image."""
    model, x = make(), torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def ours(make, dataset: str, n: int, batch_size: int) -> float:
    """Seconds for one pass over ``n`` training images through ``train.fit``."""
    train = cu.data.load(dataset, "train").take(torch.arange(n))
    start = time.perf_counter()
    cu.train.fit(make(), train, None, epochs=1, optimizer="momentum", lr=1e-2,
                 batch_size=batch_size, seed=0, device="cpu", progress=False)
    return time.perf_counter() - start


def textbook(n: int, batch_size: int, workers: int) -> float:
    """Seconds for the same pass of LeNet-5 through the torchvision Dataset + DataLoader loop."""
    cu.seed_everything(0)
    ds = torchvision.datasets.FashionMNIST(str(cu.config.data_root()), train=True, download=False,
                                           transform=torchvision.transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(n)), batch_size=batch_size, shuffle=True, num_workers=workers)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    start = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (textbook loop)")
    args = parser.parse_args()
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images, "
          f"batch {args.batch_size}; 2048^2 float32 matmul: {peak:.0f} GFLOP/s")
    print("| network | MFLOP per image (train step) | images/s | GFLOP/s | share of matmul |")
    print("| --- | --- | --- | --- | --- |")
    for name, (make, dataset) in NETWORKS.items():
        flops = step_flops_per_image(make)
        rate = args.images / ours(make, dataset, args.images, args.batch_size)
        achieved = flops * rate / 1e9
        print(f"| {name} | {flops / 1e6:.2f} | {rate:.0f} | {achieved:.1f} | {achieved / peak:.0%} |")
    t_book = textbook(args.images, args.batch_size, args.workers)
    t_ours = ours(LeNet5, "fashion-mnist", args.images, args.batch_size)
    print(f"\nLeNet-5, textbook Dataset + ToTensor + DataLoader (workers={args.workers}): "
          f"{args.images / t_book:.0f} images/s; in-memory tensors {args.images / t_ours:.0f} images/s "
          f"({t_book / t_ours:.2f}x)")


if __name__ == "__main__":
    main()
