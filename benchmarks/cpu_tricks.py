"""CPU speed tricks for the book's training and evaluation, measured side by side in one run,
each against plain eager PyTorch as the book runs it:

- ``channels_last``: model and batches converted together (the only safe way: see the README's
  oneDNN section), for MyNet (chapter 1), chapter 2's VGG net and chapter 11's U-Net;
- ``torch.compile`` (inductor) of the same models, with its compile time reported apart from
  the steady-state speed, and the number of images after which it pays for itself;
- bfloat16 autocast (``torch.autocast("cpu", torch.bfloat16)``), alone and with
  ``channels_last``: fast only where the CPU computes bfloat16 natively (AVX512-BF16 or AMX,
  printed first), and it changes every number the networks learn, so its speed alone says
  nothing about the accuracy it reaches;
- ``torch.inference_mode`` against ``torch.no_grad`` for evaluation.

Each training row times ``--steps`` SGD steps on random batches (28x28 images with class
labels; 64x64 scenes with per-pixel labels for the U-Net) after warm-up steps; a trick that
fails is reported with its error, not hidden.

    python benchmarks/cpu_tricks.py [--steps 40] [--batch-size 128] [--networks MyNet U-Net] [--tricks bf16] [--no-eval]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_utils.models import LeNet5, MyNet, SmallAlexNet, SmallResNet, VGGNet, build  # noqa: E402
from course_utils.models.cifar import CifarLeNet  # noqa: E402
from course_utils.models.localizer import CANVAS, GAPNet, GAPResNet  # noqa: E402


class Net:
    """A network to time: its factory, the side of its square input and its channels, and
    whether its labels are per pixel (segmentation) or per image."""

    def __init__(self, make, side: int = 28, dense: bool = False, classes: int = 10, channels: int = 1):
        self.make, self.side, self.dense, self.classes, self.channels = make, side, dense, classes, channels

    def __call__(self):
        return self.make()


NETWORKS = {"MyNet": Net(MyNet), "VGG (chapter 2)": Net(VGGNet),
            "U-Net (chapter 11)": Net(lambda: build("unet", encoder="vgg", num_classes=11, in_channels=1,
                                                    width=0.5), side=64, dense=True, classes=11),
            # the rest of the book's convolutional networks (--networks picks them)
            "LeNet-5": Net(LeNet5), "AlexNet (chapter 2)": Net(SmallAlexNet),
            "ResNet (chapter 2)": Net(SmallResNet),
            "LeNet (chapter 5, colour)": Net(lambda: CifarLeNet(in_channels=3, size=32), side=32, channels=3),
            "GAPNet (chapter 8)": Net(GAPNet, side=CANVAS), "GAPResNet (chapter 8)": Net(GAPResNet, side=CANVAS),
            **{f"FCN-{head[3:]}, {enc} (chapter 11)": Net(
                lambda enc=enc, head=head: build("fcn", encoder=enc.lower(), head=head, num_classes=11,
                                                 in_channels=1), side=64, dense=True, classes=11)
               for enc in ("VGG", "AlexNet") for head in ("fcn32", "fcn16", "fcn8")},
            "encoder (chapter 11)": Net(lambda: build("encoder-classifier", encoder="vgg"), side=32)}
TRICKS = {"channels_last": {"channels_last": True}, "torch.compile": {"compile_": True},
          "bf16 autocast": {"bf16": True}, "bf16 autocast + channels_last": {"bf16": True, "channels_last": True}}


def native_bf16() -> str:
    """The CPU flags that give bfloat16 arithmetic in hardware (empty: emulated or absent)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown (no /proc/cpuinfo)"
    have = [f for f in ("avx512_bf16", "amx_bf16") if f in flags.split()]
    return ", ".join(have) or "none"


def batches(net: Net, n: int, size: int, channels_last: bool):
    g = torch.Generator().manual_seed(0)
    for _ in range(n):
        x = torch.rand(size, net.channels, net.side, net.side, generator=g)
        y = torch.randint(0, net.classes, (size, net.side, net.side) if net.dense else (size,), generator=g)
        yield x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format), y


def train_rate(net: Net, steps: int, size: int, channels_last=False, compile_=False, bf16=False):
    """(images/s after warm-up, seconds of the first step, which includes any compile)."""
    torch.manual_seed(0)
    model = net()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    step_model = torch.compile(model) if compile_ else model

    def step(x, y):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = step_model(x)
        F.cross_entropy(out.float(), y).backward()
        opt.step()

    data = list(batches(net, steps + 3, size, channels_last))
    start = time.perf_counter()
    step(*data[0])
    first = time.perf_counter() - start
    for x, y in data[1:3]:
        step(x, y)
    start = time.perf_counter()
    for x, y in data[3:]:
        step(x, y)
    return steps * size / (time.perf_counter() - start), first


def eval_rate(net: Net, steps: int, size: int, mode) -> float:
    model = net().eval()
    data = list(batches(net, steps + 2, size, False))
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
    parser.add_argument("--networks", nargs="*", default=[], help="names to run (a word of each is enough); MyNet, VGG and the U-Net by default")
    parser.add_argument("--tricks", nargs="*", default=[], help="tricks to run, like --networks (a full name: that one alone); all by default")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation table")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} timed steps; kernels {torch.backends.cpu.get_cpu_capability()}; "
          f"bfloat16 in hardware: {native_bf16()}\n")
    print("| network | training | images/s | x eager | first step s | pays off after (images) |")
    print("| --- | --- | --- | --- | --- | --- |")
    default = list(NETWORKS)[:3]
    chosen = {k: v for k, v in NETWORKS.items()
              if (not args.networks and k in default) or any(w.lower() in k.lower() for w in args.networks)}
    for name, net in chosen.items():
        eager, eager_first = train_rate(net, args.steps, args.batch_size)
        print(f"| {name} | eager (the book) | {eager:.0f} | 1.00 | {eager_first:.2f} | |")
        for label, kw in TRICKS.items():
            exact = [w for w in args.tricks if w in TRICKS]   # a full name picks that trick alone
            if (exact and label not in exact) or (args.tricks and not any(w.lower() in label.lower() for w in args.tricks)):
                continue
            try:
                rate, first = train_rate(net, args.steps, args.batch_size, **kw)
            except Exception as err:  # a trick that fails on this machine is a result too
                print(f"| {name} | {label} | failed: {type(err).__name__}: {str(err)[:80]} | | | |")
                continue
            gain = 1 / eager - 1 / rate       # seconds saved per image
            extra = first - eager_first        # one-off cost (compile)
            pays = f"{extra / gain:,.0f}" if gain > 0 and extra > 0 else ("never" if gain <= 0 else "at once")
            print(f"| {name} | {label} | {rate:.0f} | {rate / eager:.2f} | {first:.2f} | {pays} |")
    if args.no_eval:
        return
    print("\n| network | evaluation | images/s | x no_grad |")
    print("| --- | --- | --- | --- |")
    for name, net in chosen.items():
        base = eval_rate(net, args.steps, args.batch_size, torch.no_grad)
        fast = eval_rate(net, args.steps, args.batch_size, torch.inference_mode)
        print(f"| {name} | no_grad (the book) | {base:.0f} | 1.00 |")
        print(f"| {name} | inference_mode | {fast:.0f} | {fast / base:.2f} |")


if __name__ == "__main__":
    main()
