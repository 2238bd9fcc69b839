"""How many images go through the network at once, and the speed on CPU, in one run:
Integrated Gradients (32 steps, chunks of path points) and occlusion (14x14 window, stride 7,
chunks of occluded images) on chapters 8 and 9's localisers for 60 canvases of 56x56, and
``train.evaluate`` (batches) of chapter 1's MyNet and chapter 2's VGG on 10,000 images of 28x28
and of the localiser on 2,000 canvases. Prints seconds, the ratio to the fastest setting, and
the largest difference from the first setting's result (which must not depend on the chunk).

    python benchmarks/batch_size_cpu.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_utils import models, train  # noqa: E402
from course_utils.data import TensorData  # noqa: E402
from course_utils.explain.ig import IntegratedGradients  # noqa: E402
from course_utils.explain.occlusion import occlusion_heatmap  # noqa: E402

SETTINGS = {"Integrated Gradients": (None, 1024, 256, 64, 32), "occlusion": (256, 64, 32),
            "evaluate": (1000, 256, 64)}
CASES = {"gapnet": ("Integrated Gradients", "occlusion", "evaluate"),
         "gapresnet": ("Integrated Gradients", "occlusion"), "mynet": ("evaluate",), "vgg": ("evaluate",)}


def run(method: str, net, x, t, chunk):
    if method == "Integrated Gradients":
        return IntegratedGradients(net)(x, t, baseline="black", n_steps=32, internal_batch_size=chunk)
    if method == "occlusion":
        return occlusion_heatmap(net, x, t, window=14, stride=7, batch_size=chunk)
    data = TensorData((x * 255).to(torch.uint8), t, [str(i) for i in range(10)], "random", "test", {})
    return torch.tensor(train.evaluate(net, data, batch_size=chunk))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (the best is kept)")
    args = parser.parse_args()
    torch.manual_seed(0)
    sizes = {"gapnet": 56, "gapresnet": 56, "mynet": 28, "vgg": 28}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"| network | method | images at once | seconds (best of {args.repeats}) | x fastest | max diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arch, methods in CASES.items():
        net = models.build(arch).eval()
        for method in methods:
            n = 60 if method != "evaluate" else (2000 if sizes[arch] == 56 else 10000)
            x, t = torch.rand(n, 1, sizes[arch], sizes[arch]), torch.randint(0, 10, (n,))
            rows, first, chunks = [], None, SETTINGS[method]
            for chunk in chunks:
                best = float("inf")
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    out = run(method, net, x, t, chunk)
                    best = min(best, time.perf_counter() - start)
                first = out if first is None else first
                rows.append((chunk, best, float((out - first).abs().max())))
            fastest = min(r[1] for r in rows)
            for chunk, sec, diff in rows:
                print(f"| {arch} | {method} | {chunk or 'all'} | {sec:.2f} | {sec / fastest:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
