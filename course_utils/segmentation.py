"""Segmentation: scene datasets, metrics from a confusion matrix, Pascal VOC as tensors, and
pictures of predictions (chapter 11).

Metrics follow the FCN paper. With ``n[i, j]`` the number of pixels of true class ``i``
predicted as ``j`` and ``t_i = sum_j n[i, j]``:
pixel accuracy ``sum_i n[i, i] / sum_i t_i``; mean class accuracy ``mean_i n[i, i] / t_i``;
IoU of class ``i`` ``n[i, i] / (t_i + sum_j n[j, i] - n[i, i])``; mean IoU the mean over the
classes that occur (in the truth or the prediction).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import config
from .data import DataMissingError, TensorData, load, make_scenes, to_float

IGNORE = 255

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


# --------------------------------------------------------------------------- data
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


# --------------------------------------------------------------------------- metrics
def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
              ignore_index: int | None = IGNORE) -> torch.Tensor:
    """Pixel confusion matrix (num_classes x num_classes, int64; rows = true class, columns =
    predicted) of label maps ``pred`` and ``target`` of equal shape; pixels whose target is
    ``ignore_index`` are left out (chapter 11)."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    pred, target = pred[keep], target[keep]
    bad = (target < 0) | (target >= num_classes) | (pred < 0) | (pred >= num_classes)
    if bool(bad.any()):
        raise ValueError(f"labels must lie in [0, {num_classes}) (or be ignore_index={ignore_index})")
    return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).view(
        num_classes, num_classes)


def scores(cm: torch.Tensor) -> dict:
    """Pixel accuracy, mean class accuracy, per-class IoU and mean IoU from a confusion
    matrix (chapter 11). Classes absent from both truth and prediction get IoU NaN and are
    left out of the mean; classes absent from the truth are left out of the class accuracy."""
    cm = torch.as_tensor(cm, dtype=torch.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"expected a square confusion matrix, got shape {tuple(cm.shape)}")
    tp = cm.diag()
    truth, predicted = cm.sum(1), cm.sum(0)
    union = truth + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    class_acc = torch.where(truth > 0, tp / truth.clamp(min=1), torch.full_like(tp, float("nan")))
    return {"pixel_acc": float(tp.sum() / cm.sum().clamp(min=1)),
            "mean_class_acc": float(np.nanmean(class_acc.numpy())),
            "mean_iou": float(np.nanmean(iou.numpy())),
            "iou": iou.numpy(),
            "class_acc": class_acc.numpy()}


@torch.no_grad()
def predict_labels(model: nn.Module, images: torch.Tensor, batch_size: int = 256, device=None) -> torch.Tensor:
    """Arg-max label maps (N, H, W) of a segmentation ``model`` for uint8 or float images,
    computed in eval mode in batches; the model's mode is restored (chapter 11)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model(to_float(images[i:i + batch_size]).to(device)).argmax(1).cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, data: TensorData, batch_size: int = 256,
             ignore_index: int | None = IGNORE) -> dict:
    """:func:`scores` of ``model`` on ``data`` (label maps), plus the confusion matrix
    (``"confusion"``) and the predictions (``"pred"``) (chapter 11)."""
    pred = predict_labels(model, data.images, batch_size)
    cm = confusion(pred, data.labels, len(data.classes), ignore_index)
    return dict(scores(cm), confusion=cm, pred=pred)


def stride_reference(labels: torch.Tensor, num_classes: int, stride: int) -> torch.Tensor:
    """Label maps a network with output stride ``stride`` would give if its coarse scores were
    the *true* class shares of every ``stride`` x ``stride`` cell, upsampled bilinearly as an
    FCN's upsampler starts (chapter 11). A reference for how much the output resolution alone
    costs, not a strict bound: a learned upsampler can draw some shape inside a cell."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 3:
        raise ValueError(f"expected label maps (N, H, W), got shape {tuple(labels.shape)}")
    h, w = labels.shape[-2:]
    if stride < 1 or h % stride or w % stride:
        raise ValueError(f"stride must be >= 1 and divide the map size {h}x{w}, got {stride}")
    if stride == 1:
        return labels.clone()
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).float()
    shares = torch.nn.functional.avg_pool2d(onehot, stride)
    up = torch.nn.functional.interpolate(shares, size=(h, w), mode="bilinear", align_corners=False)
    return up.argmax(1)


def item_votes(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The label most of each item's visible pixels received (N, items), -1 where an item is
    absent or fully covered (chapter 11). ``masks`` are the scene records' (N, items, H, W)."""
    pred, masks = torch.as_tensor(pred), torch.as_tensor(masks)
    if masks.ndim != 4 or masks.shape[0] != pred.shape[0] or masks.shape[-2:] != pred.shape[-2:]:
        raise ValueError(f"masks (N, items, H, W) must match predictions {tuple(pred.shape)}, "
                         f"got {tuple(masks.shape)}")
    votes = torch.full(masks.shape[:2], -1, dtype=torch.int64)
    for i in range(masks.shape[0]):
        for j in range(masks.shape[1]):
            if bool(masks[i, j].any()):
                votes[i, j] = int(torch.bincount(pred[i][masks[i, j]].long()).argmax())
    return votes


def items_named_right(votes: torch.Tensor, item_classes: torch.Tensor) -> float:
    """Share of the visible items whose vote (:func:`item_votes`) is their class, with
    ``item_classes`` the scene records' (N, items) source classes (label = class + 1) (chapter 11)."""
    votes, item_classes = torch.as_tensor(votes), torch.as_tensor(item_classes)
    if votes.shape != item_classes.shape:
        raise ValueError(f"votes {tuple(votes.shape)} and item_classes {tuple(item_classes.shape)} differ in shape")
    visible = votes >= 0
    if not bool(visible.any()):
        raise ValueError("no visible item to score")
    return float((votes[visible] == item_classes[visible] + 1).float().mean())


def paint_items(votes: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Label maps (N, H, W) with every item's true visible pixels painted with its vote, the
    rest background: the prediction a network would make if it drew every outline exactly
    and named each item as it does now (chapter 11)."""
    votes, masks = torch.as_tensor(votes), torch.as_tensor(masks)
    out = torch.zeros(masks.shape[0], *masks.shape[-2:], dtype=torch.int64)
    for j in range(masks.shape[1]):
        paint = masks[:, j] & (votes[:, j] >= 0)[:, None, None]
        out = torch.where(paint, votes[:, j, None, None].clamp(min=0), out)
    return out


# --------------------------------------------------------------------------- pictures
def palette(num_classes: int) -> np.ndarray:
    """(num_classes, 3) RGB colours in [0, 1]: black for background (class 0), then distinct
    hues from the tab20 / tab10 maps (chapter 11)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if num_classes <= 11 else "tab20"]
    colours = [(0.0, 0.0, 0.0)] + [cmap(i % cmap.N)[:3] for i in range(num_classes - 1)]
    return np.asarray(colours, dtype=np.float32)


def colorize(labels: torch.Tensor, num_classes: int, ignore_index: int | None = IGNORE) -> np.ndarray:
    """A label map (H, W) as an RGB image (H, W, 3) with :func:`palette` colours; ignored
    pixels are grey (chapter 11)."""
    lab = torch.as_tensor(labels).cpu().numpy()
    pal = palette(num_classes)
    out = np.full(lab.shape + (3,), 0.5, dtype=np.float32)
    ok = lab < num_classes if ignore_index is None else (lab != ignore_index) & (lab < num_classes)
    out[ok] = pal[lab[ok]]
    return out


def error_image(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = IGNORE) -> np.ndarray:
    """Prediction drawn against the truth, as in the course report (chapter 11): black where
    background is correctly called background, white where an object pixel gets its right
    class, red where the prediction is wrong (grey: ignored pixels). (H, W, 3) in [0, 1]."""
    pred, target = torch.as_tensor(pred).cpu(), torch.as_tensor(target).cpu()
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) label maps, got {tuple(pred.shape)} and {tuple(target.shape)}")
    out = np.zeros(tuple(pred.shape) + (3,), dtype=np.float32)
    right = (pred == target).numpy()
    obj = (target != 0).numpy()
    out[right & obj] = 1.0
    out[~right] = (1.0, 0.0, 0.0)
    if ignore_index is not None:
        out[(target == ignore_index).numpy()] = 0.5
    return out


def plot_predictions(images: torch.Tensor, truth: torch.Tensor, preds: dict[str, torch.Tensor],
                     classes: list[str], n: int = 6, size: float = 1.6, suptitle: str | None = None):
    """A grid with one column per scene: the image, the colour-coded truth, and for each
    model in ``preds`` (name -> label maps) its error picture (black background, white
    correct, red wrong) (chapter 11). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = min(n, len(images))
    rows = 2 + len(preds)
    fig, axes = plt.subplots(rows, n, figsize=(size * n, size * rows + 0.6), squeeze=False)
    imgs = to_float(images[:n])
    for j in range(n):
        img = imgs[j].permute(1, 2, 0).numpy()
        axes[0, j].imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(colorize(truth[j], len(classes)))
        for r, p in enumerate(preds.values(), start=2):
            axes[r, j].imshow(error_image(p[j], truth[j]))
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("truth")
    for r, name in enumerate(preds, start=2):
        axes[r, 0].set_ylabel(name)
    pal = palette(len(classes))
    handles = [Patch(color=pal[c], label=classes[c]) for c in range(1, len(classes))]
    handles += [Patch(facecolor="white", edgecolor="k", label="correct (object)"),
                Patch(color="red", label="wrong")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=7, frameon=False)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def region_target(cls: int, mask: torch.Tensor):
    """Target for area Grad-CAM (chapter 11): a function of the model output (N, K, H, W)
    that returns, per image, the sum of class ``cls``'s score over the pixels of ``mask``
    ((H, W) or (N, H, W), bool)."""
    mask = torch.as_tensor(mask)

    def target(out: torch.Tensor) -> torch.Tensor:
        m = mask.to(out.device, out.dtype)
        m = m.expand(out.shape[0], *out.shape[-2:]) if m.ndim == 2 else m
        return (out[:, cls] * m).sum(dim=(-2, -1))

    return target


# --------------------------------------------------------------------------- training
def fcn_config(encoder: str, head: str, train: TensorData, epochs: int, lr: float,
               batch_size: int, seed: int, optimizer: str = "adam", scheduler: str | None = "cosine",
               **fcn_kw) -> dict:
    """Everything that changes a trained FCN, as the cache key of :func:`train_fcn` (chapter 11)."""
    return {"encoder": encoder, "head": head, "data": train.name, "n_train": len(train),
            "canvas": train.info.get("canvas"), "items": list(train.info.get("items", ())),
            "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
            "optimizer": optimizer, "scheduler": scheduler, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in fcn_kw.items()}}


def train_fcn(encoder: str, head: str, train: TensorData, test: TensorData | None, epochs: int,
              lr: float = 2e-3, batch_size: int = 32, seed: int = 0, optimizer: str = "adam",
              scheduler: str | None = "cosine", progress: bool = True, **fcn_kw):
    """Train (or fetch from the cache) an FCN on label-map data; returns ``(model, history)``
    with per-pixel loss and accuracy curves (chapter 11)."""
    from . import cache
    from .models.fcn import build_fcn
    from .train import fit

    cfg = fcn_config(encoder, head, train, epochs, lr, batch_size, seed, optimizer, scheduler, **fcn_kw)

    def build():
        torch.manual_seed(seed)
        return build_fcn(encoder, head, num_classes=len(train.classes),
                         in_channels=train.images.shape[1], **fcn_kw)

    return cache.train_or_load(
        f"ch11-fcn-{encoder}-{head}", cfg, build,
        lambda model: fit(model, train, test, epochs=epochs, optimizer=optimizer, lr=lr,
                          scheduler=scheduler, batch_size=batch_size, seed=seed, progress=progress,
                          desc=f"{encoder} {head}"))
