"""Scores of a trained model beyond classification accuracy: segmentation from a confusion
matrix (chapter 11) and an autoencoder's test-set numbers (chapter 10).

Segmentation metrics follow the FCN paper. With ``n[i, j]`` the number of pixels of true class ``i``
predicted as ``j`` and ``t_i = sum_j n[i, j]``:
pixel accuracy ``sum_i n[i, i] / sum_i t_i``; mean class accuracy ``mean_i n[i, i] / t_i``;
IoU of class ``i`` ``n[i, i] / (t_i + sum_j n[j, i] - n[i, i])``; mean IoU the mean over the
classes that occur (in the truth or the prediction).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import Batches, TensorData, to_float
from .data.augment import add_noise
from .data.scenes import IGNORE
from .models import vae as V
from .timing import timed

# --------------------------------------------------------------------------- data


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


@timed("evaluation")
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


# --------------------------------------------------------------------------- training


# --------------------------------------------------------------------------- autoencoders
def psnr(mse, peak: float = 1.0):
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / mse)``, for a mean squared error
    on images in [0, peak] (chapter 10); a float for a number, a tensor for a tensor."""
    if isinstance(mse, torch.Tensor) and mse.ndim > 0:
        return 10.0 * torch.log10(peak ** 2 / mse)
    return 10.0 * float(np.log10(peak ** 2 / float(mse)))


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Sharpness of each image (N x 1 x H x W): the variance of its discrete Laplacian
    (chapter 10). Blurry images have small second derivatives, hence a small variance."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected grey images (N, 1, H, W), got {tuple(images.shape)}")
    kernel = _LAPLACE.to(images.device, images.dtype).view(1, 1, 3, 3)
    return F.conv2d(images, kernel).flatten(1).var(1)


@timed("evaluation")
@torch.no_grad()
def evaluate_vae(model: nn.Module, data: TensorData, batch_size: int = 1000, noise: float = 0.0,
                 seed: int = 0, device=None) -> dict:
    """Test metrics of a chapter-10 model on ``data`` (chapter 10), all per image:

    - ``neg_elbo``: BCE reconstruction (nats) + KL, with one reparameterised sample of ``z``
      per image (seeded); ``bce`` and ``kl`` are its two parts (KL = 0 for an autoencoder);
    - ``mse`` (mean squared pixel error of the reconstruction from the posterior mean) and
      ``psnr`` (dB, from that mean squared error).

    With ``noise > 0`` the inputs are corrupted (seeded) and compared with the clean images:
    the denoising error.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    sums = {"bce": 0.0, "kl": 0.0, "sq": 0.0}
    n = 0
    try:
        for x, y in Batches(data, batch_size, shuffle=False, device=device):
            xin, yin = V.model_inputs(model, add_noise(x, noise, gen), y)
            mu, logvar = model.encode(xin, yin)
            z = mu if logvar is None else V.reparameterise(mu, logvar, gen)
            sums["bce"] += float(V.reconstruction_error(model.decode(z, yin), x, "bce").sum())
            sums["kl"] += float(V.kl_divergence(mu, logvar).sum())
            sums["sq"] += float((torch.sigmoid(model.decode(mu, yin)) - x).pow(2).sum())
            n += len(x)
    finally:
        model.train(was_training)
    bce, kl, mse = sums["bce"] / n, sums["kl"] / n, sums["sq"] / (n * V.PIXELS)
    return {"neg_elbo": bce + kl, "bce": bce, "kl": kl, "mse": mse, "psnr": psnr(mse)}
