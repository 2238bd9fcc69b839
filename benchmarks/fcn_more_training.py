"""How far FCN-8 gets on chapter 11's scenes with far more training than the chapter can afford.

The chapter trains each FCN on 2,000 scenes for 12 epochs from scratch (what fits 15 minutes
on two CPU cores). This script first pretrains the encoder as a classifier of single
Fashion-MNIST items (each pasted at a random place on a 32x32 canvas; the classifier is the
FCN itself, its coarse class scores averaged over positions, so every layer carries over), as
FCNs start from an ImageNet classifier, and then trains FCN-8 on many more scenes. It prints
the pretrained classifier's test accuracy and, on the chapter's 1,000 test scenes, the FCN's
mean IoU and the share of items whose pixels mostly get their class. The defaults are the
run quoted in chapter 11 (about 4 minutes per encoder on one H100; hours on a CPU):

    python benchmarks/fcn_more_training.py --device cuda
    python benchmarks/fcn_more_training.py --items 2000 --scenes 200 --epochs 1   # a smoke run
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu
from course_utils import metrics
from course_utils.data import TensorData, scenes
from course_utils.models.fcn import FCN, build_fcn
from course_utils.recipes import canvas_data


class PooledFCN(nn.Module):
    """An FCN as a single-item classifier: its coarse scores of the item classes (channels
    1..K-1), averaged over positions."""

    def __init__(self, fcn: FCN):
        super().__init__()
        self.fcn = fcn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fcn.score_fc(self.fcn.fc(self.fcn.encoder(x)[-1]))[:, 1:].mean((2, 3))


def run(encoder: str, args, test: TensorData, device) -> None:
    # single items on a 32x32 canvas: all training items when --items >= 60,000; the test
    # canvases are the first 2,000 drawn from all 10,000 test items
    items = {"dataset": "fashion-mnist", "canvas": 32, "seed": 1, "train_size": args.items, "test_size": 10000}
    torch.manual_seed(0)
    fcn32 = build_fcn(encoder, "fcn32", len(test.classes))
    start = time.perf_counter()
    cu.train.fit(PooledFCN(fcn32), canvas_data(items, "train")[0], None,
                 epochs=args.pretrain_epochs, optimizer="adam", lr=2e-3, scheduler="cosine",
                 batch_size=64, seed=0, device=device, progress=False)
    item_test = canvas_data(items, "test")[0].take(torch.arange(2000))
    item_acc = cu.train.evaluate(PooledFCN(fcn32), item_test, device=device)[1]
    t_pre = time.perf_counter() - start

    torch.manual_seed(0)
    fcn8 = build_fcn(encoder, "fcn8", len(test.classes))
    own = fcn8.state_dict()  # everything but the skips and the final upsampler carries over
    fcn8.load_state_dict({k: v for k, v in fcn32.state_dict().items()
                          if k in own and own[k].shape == v.shape}, strict=False)
    train = scenes.scene_data("fashion-mnist", "train", args.scenes, canvas=64, seed=0)
    start = time.perf_counter()
    cu.train.fit(fcn8, train, None, epochs=args.epochs, optimizer="adam", lr=2e-3, scheduler="cosine",
                 batch_size=32, seed=0, device=device, progress=False)
    t_fcn = time.perf_counter() - start
    r = metrics.evaluate(fcn8, test)
    named = metrics.items_named_right(metrics.item_votes(r["pred"], test.info["masks"]), test.info["item_classes"])
    print(f"{encoder:<8}{item_acc:>10.3f}{t_pre:>8.0f}{r['mean_iou']:>10.4f}{named:>8.3f}{t_fcn:>8.0f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["alexnet", "vgg"], choices=["alexnet", "vgg"])
    parser.add_argument("--items", type=int, default=60000, help="single items to pretrain on")
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--scenes", type=int, default=60000, help="training scenes (the chapter: 2000)")
    parser.add_argument("--epochs", type=int, default=12, help="FCN-8 epochs (the chapter: 12)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the course's choice)")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else cu.device()
    cu.seed_everything(0)
    test = scenes.scene_data("fashion-mnist", "test", 1000, canvas=64, seed=0)
    print(f"device {device}; pretraining on {args.items} items x {args.pretrain_epochs} epochs, "
          f"FCN-8 on {args.scenes} scenes x {args.epochs} epochs; 1,000 test scenes")
    print(f"{'encoder':<8}{'item acc':>10}{'s':>8}{'mean IoU':>10}{'named':>8}{'s':>8}")
    for encoder in args.encoders:
        run(encoder, args, test, device)


if __name__ == "__main__":
    main()
