"""torch's single-tensor optimizers (its CPU default) against its ``foreach`` ones, on the book's
networks with their own recipes, side by side in one run.

For each optimizer rule and network, one process per condition (threads, and torch's default
kernels through ``ATEN_CPU_CAPABILITY=default``, which must be set before torch starts) trains
one epoch through ``recipes.train_by`` (``train.fit``) both ways, twice each, alternating, from the same seed. It
prints the faster of the two seconds of each way (the sum of the epoch's steps, as ``fit``
records it), their ratio, and whether the two ways end with the same weights to the last bit.
``train.make_optimizer`` turns ``foreach`` on for the rules where this table shows a gain.

    python benchmarks/optimizer_foreach.py [--images 3000] [--networks cifar-lenet mynet]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# each network trains by its chapter's recipe (batch size, schedule, augmentation, memory format)
NETWORKS = ("cifar-lenet", "mynet", "vgg", "gapnet")
RULES = ("adam", "adamw", "adagrad", "rmsprop", "sgd", "momentum", "nesterov")
LR = {"adam": 1e-3, "adamw": 1e-3, "adagrad": 1e-2, "rmsprop": 1e-3, "sgd": 1e-2, "momentum": 1e-2,
      "nesterov": 1e-2}
CONDITIONS = {"1 thread": {"OMP_NUM_THREADS": "1"}, "2 threads": {"OMP_NUM_THREADS": "2"},
              "default kernels, 1 thread": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"}}


def recipe(network: str, rule: str, images: int):
    """The network's book recipe for one epoch with ``rule``, and its training images."""
    from course_utils import recipes
    from course_utils.data import datasets

    if network == "cifar-lenet":
        train = datasets.load("fashion-mnist", "train", subset=images, seed=0)
        r = recipes.cifar(train, False, 0, 1)
    elif network == "mynet":
        train = datasets.load("fashion-mnist", "train", subset=images, seed=0)
        r = recipes.fashion("mynet", False)
    elif network == "vgg":
        train = datasets.load("mnist", "train", subset=images, seed=0)
        r = recipes.zoo("vgg", False)
    elif network == "gapnet":
        r = recipes.localizer("gapnet", False)
        train, _ = recipes.canvas_data(dict(r.data, train_size=images), "train")
    else:
        raise ValueError(f"unknown network {network!r}; expected one of {NETWORKS}")
    return r.replace(optimizer=rule, lr=LR[rule], epochs=1, data=None, seed=0, snapshot_epochs=()), train


def measure(network: str, rule: str, images: int) -> dict:
    """In this process: one epoch each way, twice, alternating; seconds and bit-identity."""
    import torch

    from course_utils import recipes
    from course_utils import train as T

    r, data = recipe(network, rule, images)
    plain = T.make_optimizer

    def with_foreach(flag):
        def make(*args, **kwargs):
            opt = plain(*args, **kwargs)
            for group in opt.param_groups:
                group["foreach"] = flag
            return opt
        return make

    seconds, weights = {False: [], True: []}, {}
    try:
        for flag in (False, True, False, True):
            T.make_optimizer = with_foreach(flag)
            torch.manual_seed(0)
            model = recipes.build(r)
            h = recipes.train_by(r, model, data, progress=False)
            seconds[flag].append(sum(h.seconds))
            weights[flag] = model.state_dict()
    finally:
        T.make_optimizer = plain
    same = all(torch.equal(weights[False][k], weights[True][k]) for k in weights[False])
    return {"single": min(seconds[False]), "foreach": min(seconds[True]), "identical": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3000, help="training images in the epoch")
    ap.add_argument("--networks", nargs="+", default=["cifar-lenet"], choices=NETWORKS)
    ap.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--child", nargs=2, metavar=("NETWORK", "RULE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.images)))
        return
    print("| network | rule | condition | single-tensor s | foreach s | foreach / single | same weights |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for network in args.networks:
        for rule in args.rules:
            for cond in args.conditions:
                env = dict(os.environ, **CONDITIONS[cond])
                out = subprocess.run([sys.executable, __file__, "--images", str(args.images),
                                      "--child", network, rule], env=env, capture_output=True, text=True)
                if out.returncode:
                    print(f"| {network} | {rule} | {cond} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
                    continue
                m = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {network} | {rule} | {cond} | {m['single']:.2f} | {m['foreach']:.2f} | "
                      f"{m['foreach'] / m['single']:.3f} | {'yes' if m['identical'] else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
