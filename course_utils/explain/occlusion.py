"""Occlusion sensitivity (Zeiler & Fergus; chapter 6, reused by the pointing game of chapter 8).

A window filled with ``baseline`` slides over the image; for every position the drop of a
score (a class logit or probability, or the total activation of one feature map) is added to
the pixels under the window, and each pixel's sum is divided by the number of windows that
covered it. As in captum's ``Occlusion``, the last window along an axis may hang over the
edge (it is cut off there), so every pixel is covered.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from ..timing import timed
from .common import (
    check_batch,
    check_count,
    check_indices,
    check_number,
    feature_maps,
    find_layer,
    frozen_eval,
    run_model,
)

SCORES = ("logit", "prob", "logprob")


def _pair(v, what: str) -> tuple[int, int]:
    pair = (v, v) if not isinstance(v, (tuple, list)) else tuple(v)
    if len(pair) != 2:
        raise ValueError(f"occlusion: {what} must be a positive int or a pair (height, width), got {v!r}")
    return tuple(check_count(a, what, "occlusion") for a in pair)


def window_positions(height: int, width: int, window, stride) -> list[tuple[int, int]]:
    """Top-left corners of the occluding windows, row-major (captum's order and count)."""
    (wh, ww), (sh, sw) = _pair(window, "window"), _pair(stride, "stride")
    if wh > height or ww > width:
        raise ValueError(f"window {wh}x{ww} is larger than the {height}x{width} image")
    rows = [k * sh for k in range(math.ceil((height - wh) / sh) + 1)]
    cols = [k * sw for k in range(math.ceil((width - ww) / sw) + 1)]
    return [(r, c) for r in rows for c in cols]


def _outputs(model: nn.Module, score: str, layer):
    """``f(batch)``: what ``target`` indexes, (N, classes) or, with ``layer``, each channel's
    total activation (N, channels)."""
    module = find_layer(model, layer) if layer is not None else None

    def outputs(batch: torch.Tensor) -> torch.Tensor:
        if module is None:
            out = run_model(model, batch)
            if out.ndim != 2:
                raise ValueError(f"model output must be (N, classes), got {tuple(out.shape)}")
            if score == "prob":
                out = out.softmax(1)
            elif score == "logprob":
                out = out.log_softmax(1)
            return out
        return feature_maps(model, batch, module, layer)["out"].flatten(2).sum(2)
    return outputs


@timed("attribution")
def occluded_scores(model: nn.Module, x: torch.Tensor, target, window=8, stride=4,
                    baseline: float = 0.0, score: str = "logit", layer=None,
                    batch_size: int = 64):
    """Scores of the clean images (N,) and of every occluded copy (N, positions), with the
    window positions (top, left): the raw material of :func:`occlusion` and the map Zeiler &
    Fergus plot ("probability of the true class as the grey square moves") (chapter 6).
    Arguments as for :func:`occlusion`."""
    x = check_batch(x, "occlusion", model=model)
    baseline = check_number(baseline, "baseline", "occlusion")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    check_count(batch_size, "batch_size", "occlusion")
    n, _, h, w = x.shape
    wh, ww = _pair(window, "window")
    positions = window_positions(h, w, window, stride)
    x = x.detach()
    with frozen_eval(model), torch.no_grad():
        outputs = _outputs(model, score, layer)
        clean = torch.cat([outputs(x[i:i + batch_size]) for i in range(0, n, batch_size)])
        t = check_indices(target, n, clean.shape[1], "target",
                          "the model" if layer is None else f"layer {layer!r}",
                          "classes" if layer is None else "channels", x.device)
        base = clean.gather(1, t[:, None])[:, 0]
        flat = torch.empty(n * len(positions), device=x.device)
        for start in range(0, len(flat), batch_size):   # (image, position) pairs in chunks
            ids = range(start, min(start + batch_size, len(flat)))
            img = torch.tensor([k // len(positions) for k in ids], device=x.device)
            batch = x[img].clone()
            for j, k in enumerate(ids):
                r, col = positions[k % len(positions)]
                batch[j, :, r:r + wh, col:col + ww] = baseline
            flat[start:start + len(ids)] = outputs(batch).gather(1, t[img, None])[:, 0]
    return base, flat.view(n, len(positions)), positions


def occlusion(model: nn.Module, x: torch.Tensor, target, window=8, stride=4,
              baseline: float = 0.0, score: str = "logit", layer=None,
              batch_size: int = 64) -> torch.Tensor:
    """Occlusion map (N, C, H, W) of ``model`` for images ``x`` (N, C, H, W) (chapter 6).

    ``target`` is one index or one per image: a class (``score`` = ``"logit"``, ``"prob"`` or
    ``"logprob"`` of it) or, when ``layer`` is given, a channel of that layer whose total
    activation is the score. ``window`` and ``stride`` are ints or (height, width) pairs; the
    window spans all channels and is filled with ``baseline``. Each value is the mean, over
    the windows covering that pixel, of ``score(x) - score(occluded x)``: positive where
    hiding the pixel lowers the score. Equals captum's ``Occlusion`` with
    ``sliding_window_shapes=(C, *window)`` and ``strides=(1, *stride)``. The occluded copies
    are evaluated ``batch_size`` at a time; the model's mode and hooks are restored.
    """
    base, occluded, positions = occluded_scores(model, x, target, window, stride, baseline,
                                                score, layer, batch_size)
    n, c, h, w = x.shape
    wh, ww = _pair(window, "window")
    drop = base[:, None] - occluded
    total = torch.zeros(n, h, w, dtype=torch.float32, device=x.device)
    counts = torch.zeros(h, w, dtype=torch.float32, device=x.device)
    for p, (r, col) in enumerate(positions):
        total[:, r:r + wh, col:col + ww] += drop[:, p, None, None]
        counts[r:r + wh, col:col + ww] += 1
    return (total / counts)[:, None].expand(n, c, h, w).contiguous()


def occlusion_heatmap(model: nn.Module, x: torch.Tensor, target, window=8, stride=4,
                      baseline: float = 0.0, score: str = "logit", layer=None,
                      batch_size: int = 64) -> torch.Tensor:
    """Per-pixel occlusion heat map (N, H, W): :func:`occlusion` with the channels merged
    (they are equal, as the window spans them all) (chapters 6 and 8)."""
    return occlusion(model, x, target, window, stride, baseline, score, layer, batch_size)[:, 0]


def occlusion_grid(model: nn.Module, x: torch.Tensor, target, window=8, stride=4,
                   baseline: float = 0.0, score: str = "logit", layer=None,
                   batch_size: int = 64) -> torch.Tensor:
    """The score with the window at each position, as a (N, rows, cols) grid (chapter 6)."""
    _, occluded, positions = occluded_scores(model, x, target, window, stride, baseline,
                                             score, layer, batch_size)
    rows = len({r for r, _ in positions})
    return occluded.view(len(x), rows, -1)


__all__: Sequence[str] = ("occlusion", "occlusion_heatmap", "occlusion_grid", "occluded_scores",
                          "window_positions")
