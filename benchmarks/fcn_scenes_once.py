"""Chapter 11's U-Net on many scenes seen once, on the CPU: the trials behind its last network.

Pretrains the VGG encoder as a classifier of single Fashion-MNIST items (60,000 items, on a
32x32 canvas for 2 epochs, or a 64x64 canvas for 1), copies it into the half-width U-Net and
trains it for one epoch on N generated scenes (Adam 2e-3, cosine decay, batches of 32), with
the encoder trained or frozen. Prints, on the chapter's 1,000 test scenes, the mean IoU and
the share of items named right, without and with test-time flips and shifts. The README's
trial rows (24,000 and 72,000 scenes, frozen, 64x64 canvas, test-time averaging) come from
one run of each, 2 threads:

    python benchmarks/fcn_scenes_once.py --scenes 24000 72000
    python benchmarks/fcn_scenes_once.py --scenes 24000 --frozen
    python benchmarks/fcn_scenes_once.py --scenes 24000 --canvas 64 --pretrain-epochs 1
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu
from course_utils import metrics, models
from course_utils.data import scenes
from course_utils.recipes import canvas_data


@torch.inference_mode()
def averaged_pred(model, images, shifts=(0,), flip=False, size=64, batch=100):
    """Arg-max labels of ``model`` with its class probabilities averaged over the scene placed
    at each (dy, dx) shift on a ``size`` canvas, and over a horizontal flip if ``flip``."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch].float() / 255
        n, _, h, w = x.shape
        total = 0
        for dy in shifts:
            for dx in shifts:
                for fl in ((False, True) if flip else (False,)):
                    xx = x.flip(-1) if fl else x
                    big = xx.new_zeros(n, 1, size, size)
                    big[..., dy:dy + h, dx:dx + w] = xx
                    logits = model(big)[..., dy:dy + h, dx:dx + w]
                    total = total + (logits.flip(-1) if fl else logits).softmax(1)
        out.append(total.argmax(1))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, nargs="+", default=[24000])
    parser.add_argument("--frozen", action="store_true", help="keep the pretrained encoder's weights fixed")
    parser.add_argument("--canvas", type=int, default=32, help="the pretraining canvas (32 or 64)")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    args = parser.parse_args()
    cu.seed_everything(0)
    test = scenes.scene_data("fashion-mnist", "test", 1000, canvas=64, seed=0)
    spec = {"dataset": "fashion-mnist", "canvas": args.canvas, "seed": 1, "train_size": 60000, "test_size": 2000}
    t = time.perf_counter()
    torch.manual_seed(0)
    clf = models.build("encoder-classifier", encoder="vgg")
    h = cu.train.fit(clf, canvas_data(spec, "train")[0], canvas_data(spec, "test")[0], epochs=args.pretrain_epochs,
                     optimizer="adam", lr=2e-3, scheduler="cosine", warmup_epochs=0.5, batch_size=64, seed=0,
                     progress=False)
    print(f"encoder: {time.perf_counter() - t:.0f} s, {h.test_acc[-1]:.3f} of single items named right", flush=True)
    for n in args.scenes:
        train = scenes.scene_data("fashion-mnist", "train", n, canvas=64, seed=0)
        torch.manual_seed(0)
        m = models.build("unet", encoder="vgg", width=0.5)
        models.load_matching(m, clf.state_dict())
        if args.frozen:
            for p in m.encoder.parameters():
                p.requires_grad_(False)
        t = time.perf_counter()
        cu.train.fit(m, train, None, epochs=1, optimizer="adam", lr=2e-3, scheduler="cosine", batch_size=32,
                     seed=0, progress=False)
        seconds = time.perf_counter() - t
        for name, kw in [("plain", {}), ("flips", {"flip": True}), ("shifts", {"shifts": (0, 16), "size": 96}),
                         ("shifts+flips", {"shifts": (0, 16), "size": 96, "flip": True})]:
            pred = averaged_pred(m, test.images, **kw)
            iou = metrics.scores(metrics.confusion(pred, test.labels, len(test.classes)))["mean_iou"]
            named = metrics.items_named_right(metrics.item_votes(pred, test.info["masks"]), test.info["item_classes"])
            print(f"{n} scenes{' (frozen encoder)' if args.frozen else ''}, {name}: mean IoU {iou:.3f}, "
                  f"items named right {named:.3f}, training {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
