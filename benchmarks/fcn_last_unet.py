"""Chapter 11's last U-Net, three ways to make it cheaper, each against the chapter's own run.

The chapter trains its last network, the half-width U-Net on the pretrained VGG encoder, for
one epoch on scenes seen once (it was 200,000 scenes in batches of 32 at Adam 2e-3, about
2,000 s at one thread). This benchmark takes the chapter's recipes through the model cache
(`COURSE_CACHE`), so after a full run of chapter 11 it reuses that run's encoder and U-Net,
and trains them (as the chapter would) when they are missing. Three trials, each printed as
mean IoU and items named right on the chapter's 1,000 test scenes, with the training seconds:

- ``--steps N``: the chapter's recipe on N scenes with the batch, Adam learning rate and
  warm-up of ``--batch-size``, ``--lr`` and ``--warmup`` (a share of the one epoch); run once
  per setting, two settings at a time, to compare batches and learning rates at one budget;

- ``--warm N``: continue the chapter's U-Net trained on 2,000 scenes for 12 epochs with one
  epoch on N scenes seen once (the same Adam 2e-3 and cosine decay), instead of starting again
  from the pretrained encoder;
- ``--bf16 N``: the chapter's own recipe on N scenes, with the forward pass under bfloat16
  autocast and model and batches in channels_last (fast only where the CPU computes bfloat16
  natively; see ``benchmarks/cpu_tricks.py``).

    COURSE_CACHE=... OMP_NUM_THREADS=1 python benchmarks/fcn_last_unet.py --steps 48000 --batch-size 8 --lr 4e-3
    COURSE_CACHE=... OMP_NUM_THREADS=1 python benchmarks/fcn_last_unet.py --warm 60000 100000
    COURSE_CACHE=... OMP_NUM_THREADS=1 python benchmarks/fcn_last_unet.py --bf16 200000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu  # noqa: E402
from course_utils import metrics, recipes  # noqa: E402
from course_utils.data import scenes  # noqa: E402
from course_utils.train import ClassifyStep, fit  # noqa: E402


class BF16Step(ClassifyStep):
    """The classify step with its forward pass under bfloat16 autocast, in channels_last."""

    def __call__(self, model, x, y):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x.contiguous(memory_format=torch.channels_last))
        out = out.float()
        loss = self.loss_fn(out, y)
        return loss, y.numel(), {"loss": loss.detach() * y.numel(), "acc": (out.argmax(1) == y).sum()}


def report(label: str, model, test, seconds: float) -> None:
    r = metrics.evaluate(model, test)
    named = metrics.items_named_right(metrics.item_votes(r["pred"], test.info["masks"]), test.info["item_classes"])
    print(f"{label}: mean IoU {r['mean_iou']:.3f}, items named right {named:.3f}, training {seconds:.0f} s",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, nargs="*", default=[], help="scene counts for the warm start")
    parser.add_argument("--bf16", type=int, nargs="*", default=[], help="scene counts for bfloat16 autocast")
    parser.add_argument("--steps", type=int, nargs="*", default=[], help="scene counts for --batch-size/--lr/--warmup")
    parser.add_argument("--batch-size", type=int, default=32, help="with --steps")
    parser.add_argument("--lr", type=float, default=2e-3, help="with --steps")
    parser.add_argument("--warmup", type=float, default=0.0, help="with --steps: warm-up, a share of the epoch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cu.config.set_fast(False)
    seed, source, canvas = args.seed, "fashion-mnist", 64
    train = scenes.scene_data(source, "train", 2000, canvas=canvas, seed=seed)
    test = scenes.scene_data(source, "test", 1000, canvas=canvas, seed=seed)
    encoder = recipes.seg_encoder("vgg", seed=seed)
    unet = recipes.fcn("vgg", "unet", train, epochs=12, lr=2e-3, batch_size=32, seed=seed, width=0.5, init=encoder)

    def spec(n):
        return {"dataset": source, "kind": "scenes", "canvas": canvas, "train_size": n, "test_size": len(test),
                "seed": seed}

    for n in args.steps:
        recipe = recipes.fcn("vgg", "unet", train, epochs=1, lr=args.lr, batch_size=args.batch_size,
                             warmup_epochs=args.warmup, seed=seed, width=0.5, init=encoder, data=spec(n))
        model, history = recipes.train_or_load(recipe, test=test, progress=False)
        report(f"{n:,} scenes once, batch {args.batch_size}, lr {args.lr:g}, warm-up {args.warmup:g}", model, test,
               sum(history.seconds))
    for n in args.warm:
        model, _ = recipes.train_or_load(unet, train, test)
        report("2,000-scene U-Net (12 epochs), before", model, test, 0)
        data = recipes.load_data(spec(n), "train")
        t = time.perf_counter()
        fit(model, data, None, epochs=1, optimizer="adam", lr=2e-3, batch_size=32, scheduler="cosine", seed=seed,
            progress=False)
        report(f"then {n:,} scenes once (warm start)", model, test, time.perf_counter() - t)
    for n in args.bf16:
        recipe = recipes.fcn("vgg", "unet", train, epochs=1, lr=2e-3, batch_size=32, seed=seed, width=0.5,
                             init=encoder, data=spec(n))
        cu.seed_everything(seed)
        model = recipes.start(recipe, progress=False).to(memory_format=torch.channels_last)
        data = recipes.load_data(spec(n), "train")
        t = time.perf_counter()
        fit(model, data, None, epochs=1, optimizer="adam", lr=2e-3, batch_size=32, scheduler="cosine", seed=seed,
            progress=False, step=BF16Step())
        report(f"{n:,} scenes once from the encoder, bfloat16 autocast + channels_last", model, test,
               time.perf_counter() - t)


if __name__ == "__main__":
    main()
