"""Scores for embeddings: t-SNE's KL divergence, k-NN accuracy, cluster purity (chapters 3 and 4)."""
from __future__ import annotations

import numpy as np
import torch

from ..timing import timed
from .common import MACHINE_EPSILON, _as_tensor, _labels, nearest_neighbours


@timed("embedding")
def kl_divergence(P, Y, chunk: int = 4096) -> float:
    """KL(P || Q) of embedding ``Y`` under a dense joint P (zero diagonal), in float64 and in
    row blocks; Q is the Student-t similarity of ``Y`` floored at machine epsilon (chapter 4)."""
    P = torch.as_tensor(P, dtype=torch.float64)
    Y = _as_tensor(Y)
    n = Y.shape[0]
    if P.shape != (n, n):
        raise ValueError(f"P must be {n} x {n} to match Y, got {tuple(P.shape)}")
    sq = (Y * Y).sum(1)
    Z = 0.0
    for s in range(0, n, chunk):
        num = 1.0 / (1.0 + (sq[s:s + chunk, None] + sq[None, :] - 2.0 * Y[s:s + chunk] @ Y.T).clamp_min(0))
        num[torch.arange(num.shape[0]), torch.arange(s, s + num.shape[0])] = 0
        Z += float(num.sum())
    kl = 0.0
    for s in range(0, n, chunk):
        num = 1.0 / (1.0 + (sq[s:s + chunk, None] + sq[None, :] - 2.0 * Y[s:s + chunk] @ Y.T).clamp_min(0))
        p = P[s:s + chunk].clone()
        rows = torch.arange(p.shape[0])
        p[rows, torch.arange(s, s + p.shape[0])] = 0
        q = (num / Z).clamp_min(MACHINE_EPSILON)
        nz = p > 0
        kl += float((p[nz] * torch.log(p[nz].clamp_min(MACHINE_EPSILON) / q[nz])).sum())
    return kl



@timed("embedding")
def knn_accuracy(Y, labels, k: int = 10, chunk: int = 4096) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of the points ``Y`` (majority vote of the
    k nearest other points, ties to the smaller label): how well classes separate (chapters
    3 and 4)."""
    idx, _ = nearest_neighbours(_as_tensor(Y, name="Y"), k, chunk)
    labels = _labels(labels, len(idx))
    votes = labels[idx]
    n_cls = int(labels.max()) + 1
    counts = torch.zeros(len(labels), n_cls).scatter_add_(1, votes, torch.ones_like(votes, dtype=torch.float32))
    return float((counts.argmax(1) == labels).double().mean())


def purity(labels, clusters) -> float:
    """Cluster purity: every cluster is credited with its most common true label (chapter 3)."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if labels.shape != clusters.shape:
        raise ValueError(f"labels and clusters must have the same shape, got {labels.shape} "
                         f"and {clusters.shape}")
    if labels.size == 0:
        raise ValueError("purity needs at least one point, got none")
    _labels(labels, labels.size)
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(labels[clusters == c]).max()
    return total / len(labels)
