"""Three CPU speed tricks for the book's training and evaluation, measured side by side in one
run, each against plain eager PyTorch as the book runs it:

- ``channels_last``: model and batches converted together (the only safe way: see the README's
  oneDNN section), for MyNet (chapter 1) and chapter 2's VGG net;
- ``torch.compile`` (inductor) of the same models, with its compile time reported apart from
  the steady-state speed, and the number of images after which it pays for itself;
- ``torch.inference_mode`` against ``torch.no_grad`` for evaluation.

Each training row times ``--steps`` SGD steps on random 28x28 batches after warm-up steps; a
trick that fails is reported with its error, not hidden.

    python benchmarks/cpu_tricks.py [--steps 40] [--batch-size 128]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_utils.models import MyNet, VGGNet  # noqa: E402

NETWORKS = {"MyNet": MyNet, "VGG (chapter 2)": VGGNet}


def batches(n: int, size: int, channels_last: bool):
    g = torch.Generator().manual_seed(0)
    for _ in range(n):
        x = torch.rand(size, 1, 28, 28, generator=g)
        yield (x.to(memory_format=torch.channels_last) if channels_last else x.contiguous(),
               torch.randint(0, 10, (size,), generator=g))


def train_rate(make, steps: int, size: int, channels_last=False, compile_=False):
    """(images/s after warm-up, seconds of the first step, which includes any compile)."""
    torch.manual_seed(0)
    model = make()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    step_model = torch.compile(model) if compile_ else model

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(step_model(x), y).backward()
        opt.step()

    data = list(batches(steps + 3, size, channels_last))
    start = time.perf_counter()
    step(*data[0])
    first = time.perf_counter() - start
    for x, y in data[1:3]:
        step(x, y)
    start = time.perf_counter()
    for x, y in data[3:]:
        step(x, y)
    return steps * size / (time.perf_counter() - start), first


def eval_rate(make, steps: int, size: int, mode) -> float:
    model = make().eval()
    data = list(batches(steps + 2, size, False))
    with mode():
        for x, _ in data[:2]:
            model(x)
        start = time.perf_counter()
        for x, _ in data[2:]:
            model(x)
    return steps * size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} timed steps\n")
    print("| network | training | images/s | x eager | first step s | pays off after (images) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, make in NETWORKS.items():
        eager, eager_first = train_rate(make, args.steps, args.batch_size)
        print(f"| {name} | eager (the book) | {eager:.0f} | 1.00 | {eager_first:.2f} | |")
        for label, kw in (("channels_last", {"channels_last": True}), ("torch.compile", {"compile_": True})):
            try:
                rate, first = train_rate(make, args.steps, args.batch_size, **kw)
            except Exception as err:  # a trick that fails on this machine is a result too
                print(f"| {name} | {label} | failed: {type(err).__name__}: {str(err)[:80]} | | | |")
                continue
            gain = 1 / eager - 1 / rate       # seconds saved per image
            extra = first - eager_first        # one-off cost (compile)
            pays = f"{extra / gain:,.0f}" if gain > 0 and extra > 0 else ("never" if gain <= 0 else "at once")
            print(f"| {name} | {label} | {rate:.0f} | {rate / eager:.2f} | {first:.2f} | {pays} |")
    print("\n| network | evaluation | images/s | x no_grad |")
    print("| --- | --- | --- | --- |")
    for name, make in NETWORKS.items():
        base = eval_rate(make, args.steps, args.batch_size, torch.no_grad)
        fast = eval_rate(make, args.steps, args.batch_size, torch.inference_mode)
        print(f"| {name} | no_grad (the book) | {base:.0f} | 1.00 |")
        print(f"| {name} | inference_mode | {fast:.0f} | {fast / base:.2f} |")


if __name__ == "__main__":
    main()
