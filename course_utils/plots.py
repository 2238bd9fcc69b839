"""Figures shared by the chapters: curves, image grids, confusion matrices, scatters (chapter 1)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from .data import to_float
from .data.scenes import IGNORE
from .timing import timed


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _same_length(who: str, **named) -> int:
    """The common length of the named sequences (None ones skipped), else a clear ValueError."""
    lengths = {k: len(v) for k, v in named.items() if v is not None}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise ValueError(f"{who}: {' and '.join(lengths)} must have the same length, got {got}")
    return next(iter(lengths.values()))


@timed("plotting")
def plot_histories(histories: dict, title: str | None = None, axes=None):
    """Loss and accuracy per epoch, train (dashed) and test (solid), one colour per run."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    else:
        fig = axes[0].figure
    for i, (name, h) in enumerate(histories.items()):
        colour = f"C{i}"
        axes[0].plot(h.epoch, h.train_loss, "--", color=colour, label=f"{name} train")
        axes[1].plot(h.epoch, h.train_acc, "--", color=colour, label=f"{name} train")
        if h.test_loss:
            axes[0].plot(h.epoch, h.test_loss, "-", color=colour, label=f"{name} test")
            axes[1].plot(h.epoch, h.test_acc, "-", color=colour, label=f"{name} test")
    for ax, what in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.set_title(what if title is None else f"{title}: {what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@timed("plotting")
def image_grid(images, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.4,
               suptitle: str | None = None, vmin=None, vmax=None, title_colors=None):
    """Images (N x C x H x W or N x H x W tensors/arrays) in a grid with optional titles."""
    images = _np(images)
    if images.ndim == 4:
        images = images.transpose(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    n = _same_length("image_grid", images=images, titles=titles, title_colors=title_colors)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images[i].ndim == 2 else None, vmin=vmin, vmax=vmax)
            if titles is not None:
                color = title_colors[i] if title_colors is not None else "black"
                ax.set_title(str(titles[i]), fontsize=7, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


@timed("plotting")
def confusion_matrix(y_true, y_pred, classes, title: str = "confusion matrix", ax=None,
                     normalize: bool = True):
    """Confusion matrix heat map (rows: true class, columns: predicted), drawn with seaborn:
    shares of each true class (or counts), annotated where they are not negligible."""
    import seaborn as sns

    y_true, y_pred = _np(y_true).astype(int), _np(y_pred).astype(int)
    _same_length("confusion_matrix", y_true=y_true, y_pred=y_pred)
    k = len(classes)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"confusion_matrix: {name} must be class indices in 0..{k - 1} "
                             f"({k} classes), got {y.min()}..{y.max()}")
    cm = np.zeros((k, k))
    np.add.at(cm, (y_true, y_pred), 1)
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shown = np.where(cm >= (0.005 if normalize else 1), cm, np.nan)
    labels = np.vectorize(lambda v: "" if np.isnan(v) else (f"{v:.2f}" if normalize else f"{v:.0f}"))(shown)
    sns.heatmap(cm, ax=ax, cmap="Blues", annot=labels, fmt="", annot_kws={"fontsize": 6.5},
                xticklabels=classes, yticklabels=classes, square=True,
                cbar_kws={"fraction": 0.046, "label": "share of the true class" if normalize else "count"})
    ax.set_xticklabels(ax.get_xticklabels(), rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.figure.tight_layout()
    return ax.figure


@timed("plotting")
def scatter_by_class(points, labels, classes, ax=None, title: str | None = None, s: float = 4,
                     legend: bool = True):
    """2-D (or 3-D if ``ax`` is a 3-D axis) scatter coloured by class."""
    points, labels = _np(points), _np(labels).astype(int)
    _same_length("scatter_by_class", points=points, labels=labels)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"scatter_by_class: points must be (N, 2) or (N, 3), got {points.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(classes):
        sel = labels == c
        ax.scatter(*points[sel].T[: 3 if points.shape[1] == 3 else 2], s=s, color=cmap(c % 10),
                   label=name, alpha=0.7)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(markerscale=3, fontsize=7, loc="best")
    return ax


@timed("plotting")
def thumbnail_scatter(points, images, ax=None, zoom: float = 0.6, title: str | None = None,
                      labels=None, frame: bool = True, cmap: str = "gray_r"):
    """Scatter that draws each point as its own image (the image-marker plot)."""
    points, images = _np(points), _np(images)
    _same_length("thumbnail_scatter", points=points, images=images, labels=labels)
    if images.ndim == 4:
        images = images[:, 0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 9))
    ax.scatter(points[:, 0], points[:, 1], s=0)
    colours = plt.get_cmap("tab10")
    for i, (xy, img) in enumerate(zip(points, images)):
        box = OffsetImage(img, zoom=zoom, cmap=cmap)
        edge = colours(int(labels[i]) % 10) if (labels is not None and frame) else "none"
        ax.add_artist(AnnotationBbox(box, xy, frameon=frame and labels is not None, pad=0.05,
                                     bboxprops={"edgecolor": edge, "linewidth": 1.2}))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


@timed("plotting")
def heatmap_overlay(image, heat, ax=None, alpha: float = 0.5, cmap: str = "jet", title=None):
    """A grey image with a heat map (same H x W, any range) on top."""
    image, heat = _np(image).squeeze(), _np(heat).squeeze()
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heatmap_overlay: heat {heat.shape} must match the image's (H, W) "
                         f"{image.shape[:2]} (colour images as (H, W, 3)); upsample the map first")
    if ax is None:
        fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.imshow(heat, cmap=cmap, alpha=alpha)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def table(rows: list[dict], floatfmt: str = ".4f"):
    """A list of dicts as a pandas DataFrame with floats rounded for display."""
    import pandas as pd

    df = pd.DataFrame(rows)
    digits = int(floatfmt.strip(".f"))
    return df.round(digits)


# --------------------------------------------------------------------------- segmentation
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


@timed("plotting")
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


def try_it(draw, **controls):
    """A "try it" control for JupyterLab (chapter 3): ``ipywidgets.interact(draw, **controls)``,
    one slider per ``name=(low, high, step)`` or menu per list. The static book cannot run a
    slider, so the calling cell is tagged ``remove-output``; a figure for fixed values stands
    above it in the chapter."""
    import ipywidgets

    if not controls:
        raise ValueError("try_it needs at least one control, e.g. k=(1, 200, 1)")
    return ipywidgets.interact(draw, **controls)
