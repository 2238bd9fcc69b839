"""Seconds to each chapter-1 and chapter-2 accuracy target: the book's recipe and a shorter
candidate, trained side by side in one run (airbench's measure: time to target).

For LeNet-5 and MyNet (chapter 1, all of Fashion-MNIST; targets 0.89 and 0.91) and chapter 2's
VGG net (all of MNIST; target 0.994), each recipe is trained afresh through
``recipes.train_or_load`` (a temporary cache, so nothing is reused) with the test set scored
after every epoch. "Seconds to target" sums the training seconds of the epochs up to the first
one whose test accuracy meets the target ("not reached" if none does); evaluation is not
counted. The candidate keeps the model, the data and the optimiser, and changes only the
budget: fewer epochs (chapter 1: 6 instead of 15; chapter 2: 2 instead of 3), twice the batch
and twice the learning rate, and for chapter 1 half an epoch of warm-up (chapter 2 has one). It is a candidate, not the book's recipe: chapters 1, 3 and 4 use the chapter-1
networks, so a switch needs their full-mode claims re-measured first.

    OMP_NUM_THREADS=2 python benchmarks/time_to_accuracy.py [--models lenet5 mynet vgg]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import torch  # noqa: E402

from course_utils import recipes  # noqa: E402

TARGETS = {"lenet5": 0.89, "mynet": 0.91, "vgg": 0.994}


def pair(model: str, fast: bool = False) -> dict:
    """The book's full-mode recipe for ``model`` and the shorter candidate (``fast``: the
    fast-mode data and epochs, for a smoke run)."""
    if model == "vgg":
        book = recipes.zoo("vgg", fast=fast)
        return {"book": book, "candidate": book.replace(epochs=max(1, book.epochs - 1),
                                                        batch_size=2 * book.batch_size, lr=2 * book.lr)}
    book = recipes.fashion(model, fast=fast)
    return {"book": book, "candidate": book.replace(epochs=max(1, book.epochs * 2 // 5), batch_size=2 * book.batch_size,
                                                    lr=2 * book.lr, warmup_epochs=0.5)}


def seconds_to(history, target: float) -> tuple[float | None, int | None]:
    """Training seconds up to the first epoch whose test accuracy meets ``target``."""
    spent = 0.0
    for epoch, (acc, s) in enumerate(zip(history.test_acc, history.seconds), 1):
        spent += s
        if acc >= target:
            return spent, epoch
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--fast", action="store_true", help="fast-mode data and epochs (a smoke run)")
    args = parser.parse_args()
    os.environ["COURSE_CACHE"] = tempfile.mkdtemp(prefix="tta-")
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    print(f"threads: {torch.get_num_threads()}; load average at start: {os.getloadavg()[0]:.1f}")
    rows = []
    for model in args.models:
        target, times = TARGETS[model], {}
        for label, recipe in pair(model, args.fast).items():
            _, h = recipes.train_or_load(recipe, progress=False, force=True)
            s, epoch = seconds_to(h, target)
            times[label] = s
            rows.append(f"| {model} | {label} | {recipe.epochs} | {recipe.batch_size} | {recipe.lr:g} | "
                        f"{h.total_seconds / recipe.epochs:.1f} | {h.test_acc[-1]:.4f} | "
                        + (f"{s:.0f} (epoch {epoch})" if s is not None else "not reached") + " | "
                        + f"{h.total_seconds:.0f} |")
            print(rows[-1], flush=True)
        if times["book"] and times["candidate"]:
            rows.append(f"| {model} | candidate / book | | | | | | {times['candidate'] / times['book']:.2f} | |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| model | recipe | epochs | batch | lr | s / epoch | final test acc | seconds to target | total s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
