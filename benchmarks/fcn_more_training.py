"""How far chapter 11's networks get on its scenes with more training: scenes, epochs, decoder width.

The chapter trains each network on 2,000 scenes for 12 epochs, and its last U-Net on 200,000
scenes seen once. This script pretrains the encoder as a classifier of single Fashion-MNIST items (all
60,000 training items on a 32x32 canvas, 2 epochs; ``EncoderClassifier``), copies it into U-Nets
(full-width and half-width decoders) and an FCN-8, and trains them on more scenes. It prints,
on the chapter's 1,000 test scenes, each network's mean IoU, the share of items whose pixels
mostly get their class, its forward GFLOP per scene and the training seconds. The README's
table comes from one run on a GPU (minutes; hours on two CPU cores):

    python benchmarks/fcn_more_training.py --device cuda
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu
from course_utils import metrics, models
from course_utils.data import scenes
from course_utils.recipes import canvas_data

SCENES = (4000, 8000, 16000, 30000)


def runs() -> list[tuple]:
    """(encoder, network, decoder width, scenes, epochs, learning rate), in the order run."""
    out = []
    for enc in ("alexnet", "vgg"):
        for w in (1.0, 0.5):
            for n, ep in ((4000, 6), (8000, 6), (16000, 4), (16000, 6), (30000, 4)):
                if w == 0.5 and (n, ep) not in ((8000, 6), (16000, 4), (30000, 4)):
                    continue
                out.append((enc, "unet", w, n, ep, 2e-3))
        out.append((enc, "fcn8", 1.0, 16000, 4, 2e-3))
        out.append((enc, "unet", 1.0, 8000, 6, 4e-3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the course's choice)")
    args = parser.parse_args()
    dev = torch.device(args.device) if args.device else cu.device()
    cu.seed_everything(0)
    test = scenes.scene_data("fashion-mnist", "test", 1000, canvas=64, seed=0)
    trains = {n: scenes.scene_data("fashion-mnist", "train", n, canvas=64, seed=0) for n in SCENES}
    pre = {}
    for enc in ("vgg", "alexnet"):
        spec = {"dataset": "fashion-mnist", "canvas": 32, "seed": 1, "train_size": 60000, "test_size": 2000}
        torch.manual_seed(0)
        clf = models.build("encoder-classifier", encoder=enc)
        cu.train.fit(clf, canvas_data(spec, "train")[0], None, epochs=2, optimizer="adam", lr=2e-3,
                     scheduler="cosine", warmup_epochs=0.5, batch_size=64, seed=0, device=dev, progress=False)
        pre[enc] = clf.cpu().state_dict()
    print(f"{'enc':8}{'net':6}{'w':>5}{'scenes':>7}{'ep':>4}{'lr':>7}{'mIoU':>8}{'named':>7}"
          f"{'GFLOP/img fwd':>14}{'s':>6}")
    for enc, net, w, n, ep, lr in runs():
        torch.manual_seed(0)
        m = (models.build("unet", encoder=enc, width=w) if net == "unet"
             else models.build("fcn", encoder=enc, head=net))
        with FlopCounterMode(display=False) as fc:
            m(torch.zeros(1, 1, 64, 64))
        models.load_matching(m, pre[enc])
        t = time.perf_counter()
        cu.train.fit(m, trains[n], None, epochs=ep, optimizer="adam", lr=lr, scheduler="cosine",
                     batch_size=32, seed=0, device=dev, progress=False)
        s = time.perf_counter() - t
        r = metrics.evaluate(m, test)
        named = metrics.items_named_right(metrics.item_votes(r["pred"], test.info["masks"]),
                                          test.info["item_classes"])
        print(f"{enc:8}{net:6}{w:>5}{n:>7}{ep:>4}{lr:>7}{r['mean_iou']:>8.3f}{named:>7.3f}"
              f"{fc.get_total_flops() / 1e9:>14.3f}{s:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
