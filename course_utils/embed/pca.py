"""PCA written from scratch, with scikit-learn's ``svd_flip`` sign rule (the largest entry of
every component is positive) so the two compare number for number (chapter 3)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..timing import timed
from .common import _as_tensor, _count


@dataclass
class PCAResult:
    """A fitted PCA: ``components`` (k x D, rows sorted by variance), ``explained_variance``
    (unbiased, n - 1), ``explained_variance_ratio``, ``mean`` and the training ``scores``
    (chapter 3)."""

    components: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor
    singular_values: torch.Tensor
    mean: torch.Tensor
    scores: torch.Tensor
    method: str

    def transform(self, X) -> torch.Tensor:
        """Coordinates of ``X`` (M x D) on the principal axes (M x k)."""
        X = _as_tensor(X, self.mean.dtype)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected {self.mean.shape[0]} features, got {X.shape[1]}")
        return (X - self.mean) @ self.components.T

    def inverse_transform(self, Z) -> torch.Tensor:
        """Back from k coordinates to the D-dimensional space (the rank-k reconstruction)."""
        Z = _as_tensor(Z, self.mean.dtype, "Z")
        if Z.shape[1] != self.components.shape[0]:
            raise ValueError(f"expected {self.components.shape[0]} coordinates, got {Z.shape[1]}")
        return Z @ self.components + self.mean


def _flip_signs(V: torch.Tensor) -> torch.Tensor:
    """scikit-learn's ``svd_flip(u_based_decision=False)``: in every row of ``V`` the entry of
    largest magnitude becomes positive."""
    idx = V.abs().argmax(dim=1)
    signs = torch.sign(V[torch.arange(V.shape[0]), idx])
    signs[signs == 0] = 1
    return V * signs[:, None]


@timed("embedding")
def pca(X, k: int | None = None, method: str = "svd", dtype=torch.float64) -> PCAResult:
    """Principal component analysis of ``X`` (N x D) keeping ``k`` components (chapter 3).

    ``method="eig"`` diagonalises the covariance matrix C = X_c^T X_c / (N - 1);
    ``method="svd"`` takes the SVD of the centred data X_c = U S V^T (then C = V S^2 V^T / (N-1),
    so both give the same axes). Signs follow scikit-learn's ``svd_flip`` rule.
    """
    X = _as_tensor(X, dtype)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"PCA needs at least 2 samples, got {n}")
    k = min(n, d) if k is None else _count(k, "k", 1, min(n, d), " = min(N, D)")
    mean = X.mean(0)
    Xc = X - mean
    if method == "eig":
        C = Xc.T @ Xc / (n - 1)
        evals, evecs = torch.linalg.eigh(C)                 # ascending order
        order = torch.argsort(evals, descending=True)
        evals, V = evals[order].clamp_min(0), evecs[:, order].T
        total = evals.sum()
        sing = torch.sqrt(evals * (n - 1))
    elif method == "svd":
        _, S, V = torch.linalg.svd(Xc, full_matrices=False)  # descending singular values
        evals = S ** 2 / (n - 1)
        total = evals.sum()
        sing = S
    else:
        raise ValueError(f"method must be 'eig' or 'svd', got {method!r}")
    V = _flip_signs(V[:k])
    ratio = evals[:k] / total if total > 0 else torch.zeros(k, dtype=dtype)
    return PCAResult(components=V, explained_variance=evals[:k], explained_variance_ratio=ratio,
                     singular_values=sing[:k], mean=mean, scores=Xc @ V.T, method=method)

