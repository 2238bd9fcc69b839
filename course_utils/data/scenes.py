"""Generated scenes (items pasted on a canvas, with label maps) and Pascal VOC as tensors
(chapters 8 and 11)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..timing import timed
from .datasets import VOC_CLASSES, TensorData, load, load_photos  # noqa: F401  (VOC_CLASSES: re-exported)


@dataclass
class Scenes:
    """Generated scenes: ``images`` uint8 (N, 1, S, S); ``labels`` int64 (N, S, S) with 0 for
    background and ``1 + class`` for an item; per-item ``boxes`` (top, left), ``item_classes``
    and ``masks`` (bool, N x max_items x S x S; all-False for absent items)."""

    images: torch.Tensor
    labels: torch.Tensor
    item_classes: torch.Tensor
    masks: torch.Tensor
    boxes: torch.Tensor
    classes: list[str]


@timed("data")
def make_scenes(source: TensorData, n: int, canvas: int = 64, items: tuple[int, int] = (1, 4),
                seed: int = 0, threshold: int = 40, distinct: bool = False, records: bool = True) -> Scenes:
    """Paste 1-4 items of ``source`` at random places on a black canvas (chapters 8 and 11).

    Deterministic given ``seed``. Items may overlap; a later item lies on top: where its ink
    (value > ``threshold``) falls, both the pixel and its label are the later item's, so what
    is seen and what is labelled always agree; elsewhere faint values combine by maximum. ``distinct`` forces the items of a
    scene to have different classes (for the two-object composites of chapter 8). Without
    ``records`` the per-item ``masks`` are left empty (shape (N, 0, S, S)) and the label maps
    are uint8: 2 bytes a pixel instead of 13, for large training sets.
    """
    lo, hi = items
    size = source.images.shape[-1]
    if not 1 <= lo <= hi or canvas < size:
        raise ValueError(f"need 1 <= items[0] <= items[1] and canvas >= {size}, got {items}, {canvas}")
    if distinct and hi > len(source.classes):
        raise ValueError("distinct classes need items[1] <= number of classes")
    rng = np.random.default_rng(seed)
    images = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    labels = torch.zeros(n, canvas, canvas, dtype=torch.int64 if records else torch.uint8)
    masks = torch.zeros(n, hi if records else 0, canvas, canvas, dtype=torch.bool)
    item_classes = torch.full((n, hi), -1, dtype=torch.int64)
    boxes = torch.full((n, hi, 2), -1, dtype=torch.int64)
    by_class = [np.flatnonzero(source.labels.numpy() == c) for c in range(len(source.classes))]
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        if distinct:
            cls = rng.choice(len(source.classes), size=k, replace=False)
            picks = [int(rng.choice(by_class[c])) for c in cls]
        else:
            picks = [int(j) for j in rng.integers(0, len(source), size=k)]
        for j, src in enumerate(picks):
            top, left = (int(v) for v in rng.integers(0, canvas - size + 1, size=2))
            patch = source.images[src, 0]
            ink = patch > threshold
            region = (slice(top, top + size), slice(left, left + size))
            below = images[i, 0][region]
            images[i, 0][region] = torch.where(ink, patch, torch.maximum(below, patch))
            labels[i][region][ink] = int(source.labels[src]) + 1
            if records:
                masks[i, :j, region[0], region[1]] &= ~ink  # covered by the newer item
                masks[i, j][region] = ink
            item_classes[i, j] = int(source.labels[src])
            boxes[i, j] = torch.tensor([top, left])
    return Scenes(images, labels, item_classes, masks, boxes, list(source.classes))


IGNORE = 255  # the "void" label of Pascal VOC's maps: left out of the loss and the metrics


@timed("data")
def scene_data(source: str = "fashion-mnist", split: str = "train", n: int = 1000,
               canvas: int = 64, items: tuple[int, int] = (1, 4), seed: int = 0,
               threshold: int = 40, source_subset: int | None = None, records: bool = True) -> TensorData:
    """``n`` generated scenes of ``source`` items as a :class:`TensorData` whose labels are
    (N, H, W) label maps (0 = background, 1 + class), ready for ``train.fit`` (chapter 11).

    Scenes of the ``"train"`` split are pasted from the source's training images, those of
    ``"test"`` from its test images, so no item is seen in both. ``info["item_classes"]`` and
    ``info["masks"]`` keep the per-item records of :func:`course_utils.data.make_scenes`;
    ``records=False`` leaves the masks out and stores the label maps as uint8 (a training set
    of 100,000 scenes then takes 0.8 GB instead of 5 GB).
    """
    items_src = load(source, split, subset=source_subset, seed=seed)
    sc = make_scenes(items_src, n, canvas=canvas, items=items, seed=seed + (0 if split == "train" else 7919),
                     threshold=threshold, records=records)
    return TensorData(sc.images, sc.labels, ["background"] + list(sc.classes), f"{source}-scenes", split,
                      {"item_classes": sc.item_classes, "masks": sc.masks, "boxes": sc.boxes,
                       "canvas": canvas, "items": items})


def load_voc(root: str | Path | None = None, split: str = "train", size: int = 128,
             subset: int | None = None, year: str = "2012", download: bool = False,
             seed: int = 0, verify: bool = False) -> TensorData:
    """Pascal VOC 2012 segmentation as tensors (chapter 11): ``load("voc", ...)`` with the
    arguments in this order and without the integrity check by default (any folder in VOC's
    layout is read). Images uint8 (N, 3, S, S), labels int64 (N, S, S) with 0 = background,
    1..20 the classes and 255 the "void" border (use ``ignore_index=255``); images are resized
    bilinearly, label maps by nearest neighbour (:func:`course_utils.data.load_photos`).
    """
    if year != "2012":
        raise ValueError(f"only Pascal VOC 2012 is supported, got year={year!r}")
    if split not in {"train", "val", "trainval"}:
        raise ValueError(f"split must be 'train', 'val' or 'trainval', got {split!r}")
    return load_photos("voc", split, subset=subset, seed=seed, download=download, size=size,
                       root=root, verify=verify)
