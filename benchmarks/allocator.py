"""Does tuning glibc's malloc speed up training? Measured side by side in one run.

glibc serves large blocks with their own ``mmap`` and unmaps them when they are freed; its
threshold starts at 128 KB and rises to the size of the largest such block freed so far (at
most 32 MB), and it trims the free top of its heap beyond twice that. In a fresh process each
training step can therefore fault its activations' pages in again, and the kernel zero-fills
them. Each network trains one slice of real data through ``course_utils.train.fit``, in a
fresh process per run, under three settings:

- ``fresh``: glibc as it starts, as in a short script;
- ``warm``: glibc after one 31 MB block was allocated and freed, as in a chapter's kernel,
  where loading data and drawing figures have done that long before the training cells;
- ``fixed``: ``mallopt`` with a fixed 32 MB ``mmap`` threshold and no trimming (what a
  ``LD_PRELOAD``-ed caching allocator would give).

The settings alternate, ``--rounds`` times, and each ratio to ``fixed`` is the median of its
rounds' ratios. Printed per network: images/s and page faults per step under each, and whether
all runs trained the same weights (they must: only where the buffers live changes).

    python benchmarks/allocator.py [--rounds 3] [--networks LeNet-5 U-Net]
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("fresh", "warm", "fixed")
# network (chapters 1, 1, 2, 11): (registry name and keywords, dataset, images, batch size,
# channels_last), as the book trains it
NETWORKS = {"LeNet-5": (("lenet5", {}), "fashion-mnist", 20000, 64, False),
            "MyNet": (("mynet", {}), "fashion-mnist", 12000, 64, True),
            "VGG": (("vgg", {}), "mnist", 6000, 128, True),
            "U-Net": (("unet", {"encoder": "vgg", "num_classes": 11, "width": 0.5}),
                      "scenes", 1000, 32, True)}


def child(name: str, setting: str) -> dict:
    """Train ``name`` once in this process under ``setting``; seconds, page faults per step
    and a hash of the trained weights."""
    if setting == "fixed":
        libc = ctypes.CDLL("libc.so.6")
        done = libc.mallopt(-3, 32 << 20), libc.mallopt(-1, 2 ** 31 - 1)   # M_MMAP_ / M_TRIM_THRESHOLD
        if not all(done):
            sys.exit("mallopt refused the thresholds (glibc only)")
    import torch
    sys.path.insert(0, str(ROOT))
    import course_utils as cu
    if setting == "warm":
        block = torch.empty(31 << 18).fill_(0.0)   # 31 MB
        del block
    (model_name, kw), dataset, n, batch, cl = NETWORKS[name]
    if dataset == "scenes":
        train = cu.data.scenes.scene_data("fashion-mnist", "train", n, canvas=64, seed=0, records=False)
    else:
        train = cu.data.load(dataset, "train").take(torch.arange(n))
    cu.seed_everything(0)
    model = cu.models.build(model_name, **kw)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    cu.train.fit(model, train, None, epochs=1, optimizer="momentum", lr=1e-2, batch_size=batch,
                 seed=0, device="cpu", progress=False, channels_last=cl)
    seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.contiguous().numpy().tobytes())
    return {"seconds": seconds, "faults_per_step": faults / -(-n // batch), "images": n,
            "weights": digest.hexdigest()[:16]}


def run(name: str, setting: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", name, setting],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name} ({setting}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print(f"{os.environ.get('OMP_NUM_THREADS', 'all')} threads, {args.rounds} rounds, a fresh process per run")
    print("| network | images/s: fresh / warm / fixed | fixed vs fresh | fixed vs warm "
          "| page faults per step: fresh / warm / fixed | same weights |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.networks:
        runs = {s: [] for s in SETTINGS}
        for r in range(args.rounds):                     # rotate which setting goes first
            for setting in SETTINGS[r % 3:] + SETTINGS[:r % 3]:
                runs[setting].append(run(name, setting))
        rate = {s: statistics.median(x["images"] / x["seconds"] for x in runs[s]) for s in SETTINGS}
        gain = {s: statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs[s], runs["fixed"]))
                for s in ("fresh", "warm")}
        faults = {s: statistics.median(x["faults_per_step"] for x in runs[s]) for s in SETTINGS}
        same = len({x["weights"] for s in SETTINGS for x in runs[s]}) == 1
        print(f"| {name} | {' / '.join(f'{rate[s]:.0f}' for s in SETTINGS)} | {gain['fresh']:.2f} "
              f"| {gain['warm']:.2f} | {' / '.join(f'{faults[s]:.0f}' for s in SETTINGS)} "
              f"| {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
