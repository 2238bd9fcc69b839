"""How many images an attribution pushes through the network at once, and its speed on CPU:
Integrated Gradients (32 steps, chunks of path points) and occlusion (14x14 window, stride 7,
chunks of occluded images) on chapters 8 and 9's localisers, 60 canvases of 56x56, in one run.
Prints seconds, the ratio to the fastest setting, and the largest difference from the first
setting's attributions (the result must not depend on the chunk size).

    python benchmarks/attribution_batch.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_utils import models  # noqa: E402
from course_utils.explain.ig import IntegratedGradients  # noqa: E402
from course_utils.explain.occlusion import occlusion_heatmap  # noqa: E402

SETTINGS = {"Integrated Gradients": (None, 1024, 256, 64, 32), "occlusion": (256, 64, 32)}


def attribute(method: str, net, x, t, chunk):
    if method == "Integrated Gradients":
        return IntegratedGradients(net)(x, t, baseline="black", n_steps=32, internal_batch_size=chunk)
    return occlusion_heatmap(net, x, t, window=14, stride=7, batch_size=chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (the best is kept)")
    args = parser.parse_args()
    torch.manual_seed(0)
    x, t = torch.rand(60, 1, 56, 56), torch.randint(0, 10, (60,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"| network | method | images at once | seconds (best of {args.repeats}) | x fastest | max diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arch in ("gapnet", "gapresnet"):
        net = models.build(arch).eval()
        for method, chunks in SETTINGS.items():
            rows, first = [], None
            for chunk in chunks:
                best = float("inf")
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    out = attribute(method, net, x, t, chunk)
                    best = min(best, time.perf_counter() - start)
                first = out if first is None else first
                rows.append((chunk, best, float((out - first).abs().max())))
            fastest = min(r[1] for r in rows)
            for chunk, sec, diff in rows:
                print(f"| {arch} | {method} | {chunk or 'all'} | {sec:.2f} | {sec / fastest:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
