"""What the embedding modules share: input checks and pairwise distances (chapters 3 and 4)."""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

MACHINE_EPSILON = float(np.finfo(np.double).eps)


def _as_tensor(X, dtype=torch.float64, name: str = "X") -> torch.Tensor:
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.ascontiguousarray(X))
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x features), got shape {tuple(X.shape)}")
    if not torch.is_floating_point(X):
        X = X.to(torch.float64)
    X = X.detach().to("cpu", dtype)
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _count(value, name: str, low: int, high: int | None = None, why: str = "") -> int:
    """An integer ``value`` in [low, high], else a clear error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}{why}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _labels(labels, n: int, name: str = "labels") -> torch.Tensor:
    """Non-negative integer class labels, one per point (``n``), as a long tensor."""
    t = torch.as_tensor(np.asarray(labels))
    if t.is_floating_point() or t.dtype == torch.bool or t.ndim != 1:
        raise TypeError(f"{name} must be a 1-d array of integers, got {t.dtype} of shape {tuple(t.shape)}")
    if len(t) != n:
        raise ValueError(f"{name} must have one entry per point ({n}), got {len(t)}")
    if n and int(t.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {int(t.min())}")
    return t.long()



def squared_distances(X: torch.Tensor) -> torch.Tensor:
    """All pairwise squared Euclidean distances (N x N), diagonal exactly zero."""
    sq = (X * X).sum(1)
    D = (sq[:, None] + sq[None, :]) - 2.0 * (X @ X.T)
    D.clamp_min_(0).fill_diagonal_(0)
    return D



def nearest_neighbours(X, k: int, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row of ``X`` (itself excluded): indices and squared
    distances, both N x k, computed in blocks so memory stays O(chunk x N)."""
    X = _as_tensor(X, torch.float32)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1}, got {k}")
    sq = (X * X).sum(1)
    idx = torch.empty(n, k, dtype=torch.int64)
    dist = torch.empty(n, k, dtype=torch.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        d = torch.addmm(sq[None, :], X[s:e], X.T, alpha=-2.0).add_(sq[s:e, None])
        d[torch.arange(e - s), torch.arange(s, e)] = math.inf
        val, ind = torch.topk(d, k, dim=1, largest=False, sorted=True)
        idx[s:e], dist[s:e] = ind, val.clamp_min_(0)
    return idx, dist

