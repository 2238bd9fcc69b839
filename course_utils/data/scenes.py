"""Generated scenes (items pasted on a canvas, with label maps) and Pascal VOC as tensors
(chapters 8 and 11)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import config
from ..timing import timed
from .datasets import DataMissingError, TensorData, load


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
                seed: int = 0, threshold: int = 40, distinct: bool = False) -> Scenes:
    """Paste 1-4 items of ``source`` at random places on a black canvas (chapters 8 and 11).

    Deterministic given ``seed``. Items may overlap; a later item lies on top: where its ink
    (value > ``threshold``) falls, both the pixel and its label are the later item's, so what
    is seen and what is labelled always agree; elsewhere faint values combine by maximum. ``distinct`` forces the items of a
    scene to have different classes (for the two-object composites of chapter 8).
    """
    lo, hi = items
    size = source.images.shape[-1]
    if not 1 <= lo <= hi or canvas < size:
        raise ValueError(f"need 1 <= items[0] <= items[1] and canvas >= {size}, got {items}, {canvas}")
    if distinct and hi > len(source.classes):
        raise ValueError("distinct classes need items[1] <= number of classes")
    rng = np.random.default_rng(seed)
    images = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    labels = torch.zeros(n, canvas, canvas, dtype=torch.int64)
    masks = torch.zeros(n, hi, canvas, canvas, dtype=torch.bool)
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
            masks[i, :j, region[0], region[1]] &= ~ink  # covered by the newer item
            masks[i, j][region] = ink
            item_classes[i, j] = int(source.labels[src])
            boxes[i, j] = torch.tensor([top, left])
    return Scenes(images, labels, item_classes, masks, boxes, list(source.classes))


IGNORE = 255


VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


@timed("data")
def scene_data(source: str = "fashion-mnist", split: str = "train", n: int = 1000,
               canvas: int = 64, items: tuple[int, int] = (1, 4), seed: int = 0,
               threshold: int = 40, source_subset: int | None = None) -> TensorData:
    """``n`` generated scenes of ``source`` items as a :class:`TensorData` whose labels are
    (N, H, W) label maps (0 = background, 1 + class), ready for ``train.fit`` (chapter 11).

    Scenes of the ``"train"`` split are pasted from the source's training images, those of
    ``"test"`` from its test images, so no item is seen in both. ``info["item_classes"]`` and
    ``info["masks"]`` keep the per-item records of :func:`course_utils.data.make_scenes`.
    """
    items_src = load(source, split, subset=source_subset, seed=seed)
    sc = make_scenes(items_src, n, canvas=canvas, items=items, seed=seed + (0 if split == "train" else 7919),
                     threshold=threshold)
    return TensorData(sc.images, sc.labels, ["background"] + list(sc.classes), f"{source}-scenes", split,
                      {"item_classes": sc.item_classes, "masks": sc.masks, "boxes": sc.boxes,
                       "canvas": canvas, "items": items})


def _voc_missing(root: Path) -> str:
    return (f"Pascal VOC 2012 was not found under {root} (expected {root}/VOCdevkit/VOC2012 with "
            "JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/). Get it with "
            "torchvision.datasets.VOCSegmentation(root, year='2012', download=True) on a machine "
            "with internet access, or pass download=True here.")


def load_voc(root: str | Path | None = None, split: str = "train", size: int = 128,
             subset: int | None = None, year: str = "2012", download: bool = False) -> TensorData:
    """Pascal VOC segmentation through ``torchvision.datasets.VOCSegmentation``, resized to
    ``size`` x ``size`` and held as tensors (chapter 11): images uint8 (N, 3, S, S), labels
    int64 (N, S, S) with 0 = background, 1..20 the classes and 255 the "void" border (use
    ``ignore_index=255`` in the loss and the metrics). Images are resized bilinearly, label
    maps by nearest neighbour. ``subset`` keeps the first ``subset`` images of the split.
    """
    from PIL import Image
    from torchvision.datasets import VOCSegmentation

    root = Path(root) if root is not None else config.data_root()
    if split not in {"train", "val", "trainval"}:
        raise ValueError(f"split must be 'train', 'val' or 'trainval', got {split!r}")
    try:
        ds = VOCSegmentation(str(root), year=year, image_set=split, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DataMissingError(_voc_missing(root)) from err
    n = len(ds) if subset is None else min(subset, len(ds))
    images = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    labels = torch.zeros(n, size, size, dtype=torch.int64)
    for i in range(n):
        img, mask = ds[i]
        img = img.convert("RGB").resize((size, size), Image.BILINEAR)
        mask = mask.resize((size, size), Image.NEAREST)
        images[i] = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
        labels[i] = torch.from_numpy(np.asarray(mask, dtype=np.int64).copy())
    return TensorData(images, labels, list(VOC_CLASSES), "voc", split, {"year": year, "size": size})
