"""t-SNE written from scratch, exact and fast, with the perplexity search (chapter 4).

It follows scikit-learn's conventions so the two can be compared number for number:
:func:`tsne` uses scikit-learn's defaults and optimisation schedule (perplexity 30,
early exaggeration 12 for 250 iterations at momentum 0.5, then momentum 0.8, per-parameter
gains, ``learning_rate="auto"`` = max(N / 12 / 4, 50), PCA initialisation scaled so its first
column has standard deviation 1e-4).

``method="exact"`` is the O(N^2) algorithm with all N x N buffers allocated once and reused
in place. ``method="fast"`` keeps only the 3 x perplexity nearest neighbours in P and
approximates the repulsive forces by interpolating onto a regular grid and convolving there
with the FFT (the scheme of FIt-SNE, Linderman et al., 2019, with a centred 5 x 5 stencil).
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..timing import timed
from .common import MACHINE_EPSILON, _as_tensor, _count, nearest_neighbours, squared_distances
from .pca import pca


# ----------------------------------------------------------------------------- perplexity
def binary_search_perplexity(D, perplexity: float, tol: float = 1e-5, steps: int = 100,
                             exclude_self: bool = True) -> torch.Tensor:
    """Conditional probabilities p_{j|i} = exp(-beta_i d_ij) / sum_k exp(-beta_i d_ik) from
    squared distances ``D`` (N x M), with beta_i = 1 / (2 sigma_i^2) found by bisection so that
    every row's entropy equals log(perplexity) within ``tol`` (chapter 4).

    Vectorised over rows, with scikit-learn's search rule (start at beta = 1; double or halve
    until bracketed, then bisect). ``exclude_self`` drops the diagonal (square ``D`` only);
    for nearest-neighbour distances pass ``exclude_self=False``.
    """
    D = torch.as_tensor(D, dtype=torch.float64)
    n, m = D.shape
    if not perplexity > 0:   # also NaN
        raise ValueError(f"perplexity must be positive, got {perplexity}")
    if exclude_self and n != m:
        raise ValueError("exclude_self needs a square distance matrix")
    n_others = m - 1 if exclude_self else m
    if perplexity >= n_others:
        raise ValueError(f"perplexity ({perplexity}) must be smaller than the number of "
                         f"neighbours per point ({n_others})")
    target = math.log(perplexity)
    beta = torch.ones(n, dtype=torch.float64)
    lo = torch.full((n,), -math.inf, dtype=torch.float64)
    hi = torch.full((n,), math.inf, dtype=torch.float64)
    active = torch.ones(n, dtype=torch.bool)
    mask = None
    if exclude_self:
        mask = torch.eye(n, dtype=torch.bool)
    # shift every row by its smallest distance to another point: p_{j|i} and the entropy are
    # unchanged, and exp() can no longer underflow for the whole row when distances are large
    big = D.masked_fill(mask, math.inf) if mask is not None else D
    D = D - big.min(1, keepdim=True).values
    P = torch.empty_like(D)
    for _ in range(steps):
        rows = active.nonzero().flatten()
        if len(rows) == 0:
            break
        d, b = D[rows], beta[rows]
        p = torch.exp(-d * b[:, None])
        if mask is not None:
            p[mask[rows]] = 0.0
        s = p.sum(1).clamp_min(1e-8)
        p /= s[:, None]
        entropy = torch.log(s) + b * (d * p).sum(1)
        diff = entropy - target
        P[rows] = p
        done = diff.abs() <= tol
        up = diff > 0                                    # too flat: sharpen (raise beta)
        lo_r, hi_r = lo[rows], hi[rows]
        lo_r = torch.where(up, b, lo_r)
        hi_r = torch.where(up, hi_r, b)
        new_b = torch.where(up, torch.where(torch.isinf(hi_r), b * 2, (b + hi_r) / 2),
                            torch.where(torch.isinf(lo_r), b / 2, (b + lo_r) / 2))
        lo[rows], hi[rows] = lo_r, hi_r
        beta[rows] = torch.where(done, b, new_b)
        active[rows[done]] = False
    return P


def row_entropy(P: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of every row of a row-stochastic matrix."""
    P = torch.as_tensor(P, dtype=torch.float64)
    return -(P * torch.log(P.clamp_min(1e-300))).sum(1)


@timed("embedding")
def joint_probabilities(X, perplexity: float = 30.0) -> torch.Tensor:
    """Dense symmetric P for exact t-SNE: p_ij = (p_{j|i} + p_{i|j}) / (2N), floored at machine
    epsilon off the diagonal as scikit-learn does (chapter 4)."""
    X = _as_tensor(X)
    cond = binary_search_perplexity(squared_distances(X), perplexity)
    P = cond + cond.T
    P /= P.sum().clamp_min(MACHINE_EPSILON)
    P.clamp_min_(MACHINE_EPSILON).fill_diagonal_(0)
    return P



@timed("embedding")
def sparse_joint_probabilities(X, perplexity: float = 30.0):
    """Sparse symmetric P for fast t-SNE from the ``3 * perplexity`` nearest neighbours of each
    point (as scikit-learn's Barnes-Hut mode): returns ``(rows, cols, values)`` of the upper
    triangle (i < j) of P, whose full sum is 1 (chapter 4)."""
    X = _as_tensor(X)
    n = X.shape[0]
    k = min(n - 1, int(3.0 * perplexity + 1))
    idx, dist = nearest_neighbours(X, k)
    cond = binary_search_perplexity(dist.double(), perplexity, exclude_self=False)
    rows = torch.arange(n).repeat_interleave(k)
    cols = idx.flatten()
    vals = cond.flatten()
    # p_ij = (p_{j|i} + p_{i|j}) / 2N, stored once per unordered pair (i < j)
    lo, hi = torch.minimum(rows, cols), torch.maximum(rows, cols)
    keys, where = torch.unique(lo * n + hi, return_inverse=True)     # sorted by row, then column
    v = torch.zeros(len(keys), dtype=torch.float64).index_add_(0, where, vals)
    r, c = keys // n, keys % n
    v = v / (2.0 * vals.sum())
    return r.contiguous(), c.contiguous(), v.contiguous()



# ----------------------------------------------------------------------------- t-SNE
@dataclass
class TSNEResult:
    """What :func:`tsne` returns: the ``embedding`` (N x 2 array), the KL divergence every
    ``kl_every`` iterations (``kl_iters``, ``kl_history``), the final ``kl``, the number of
    iterations run, the learning rate of the last stage, the wall time, the P it used and the
    optimisation schedule it followed (``stages``: one dict per stage with its first and last
    iteration, exaggeration, momentum and learning rate) (chapter 4)."""

    embedding: np.ndarray
    kl: float
    kl_iters: list = field(default_factory=list)
    kl_history: list = field(default_factory=list)
    n_iter: int = 0
    learning_rate: float = 0.0
    seconds: float = 0.0
    seconds_P: float = 0.0
    method: str = "exact"
    P: object = None
    stages: list = field(default_factory=list)


def pca_init(X, n_components: int = 2) -> torch.Tensor:
    """scikit-learn's t-SNE initialisation: the first PCA coordinates, rescaled so the first
    column has standard deviation 1e-4 (chapter 4)."""
    Y = pca(X, n_components).scores
    return Y / Y[:, 0].std(unbiased=False) * 1e-4


class _Exact:
    """Exact KL gradient with preallocated N x N buffers, reused in place every step."""

    def __init__(self, P: torch.Tensor, dtype):
        self.P = P.to(dtype, copy=True)            # zero diagonal; exaggerated in place
        n = P.shape[0]
        self.num = torch.empty(n, n, dtype=dtype)
        self.W = torch.empty(n, n, dtype=dtype)
        self.A = torch.empty(n, 4, dtype=dtype)
        self.B = torch.empty(n, 4, dtype=dtype)
        self.Y1 = torch.empty(n, 3, dtype=dtype)
        self.scale = 1.0
        Pd = P.double()
        nz = Pd > 0
        self.plogp = float((Pd[nz] * torch.log(Pd[nz])).sum())

    def exaggerate(self, factor: float):
        self.P.mul_(factor / self.scale)
        self.scale = factor

    def __call__(self, Y: torch.Tensor, want_kl: bool):
        num, W = self.num, self.W
        sq = (Y * Y).sum(1)
        # 1 + |y_i - y_j|^2 as a single rank-4 product: [y, |y|^2 + 1, 1] . [-2y, 1, |y|^2]
        self.A[:, :2], self.A[:, 2], self.A[:, 3] = Y, sq + 1, 1
        self.B[:, :2], self.B[:, 2], self.B[:, 3] = -2 * Y, 1, sq
        torch.mm(self.A, self.B.T, out=num)
        num.reciprocal_()                                   # (1 + d^2)^-1
        num.fill_diagonal_(0)
        Z = float(num.sum())
        torch.add(self.P, num, alpha=-1.0 / Z, out=W)       # p_ij - q_ij
        W.mul_(num)                                         # (p_ij - q_ij)(1 + d^2)^-1
        self.Y1[:, :2], self.Y1[:, 2] = Y, 1
        WY = W @ self.Y1                                    # [sum_j W_ij y_j, sum_j W_ij]
        grad = 4.0 * (WY[:, 2:3] * Y - WY[:, :2])
        kl = None
        if want_kl:                                         # KL under the true (unexaggerated) P
            torch.log(num.fill_diagonal_(1), out=W)         # log(1 + d^2)^-1, 0 on diagonal
            plogq = float(W.mul_(self.P).sum(dtype=torch.float64)) / self.scale - math.log(Z)
            kl = self.plogp - plogq
        return grad, kl


def _fft_friendly(m: int) -> int:
    """Smallest n >= m for which 2n (the padded grid side) has no prime factor above 5."""
    n = m
    while True:
        k = 2 * n
        for f in (2, 3, 5):
            while k % f == 0:
                k //= f
        if k == 1:
            return n
        n += 1


class _Fast:
    """Sparse attractive forces + FFT-interpolated repulsive forces (FIt-SNE scheme).

    Written for speed on a CPU without leaving PyTorch: the pairs of P are visited in chunks
    that fit in the cache, into buffers allocated once; the points are visited in grid order
    when their charges are spread and their forces read back, so that consecutive points touch
    the same grid lines."""

    def __init__(self, rows, cols, vals, n, dtype, p: int = 5, min_nodes: int = 100,
                 nodes_per_unit: float = 3.0, chunk: int = 1 << 17):
        # Each unordered pair i < j is stored once. Order the pairs "by slot" (every point's
        # first pair, then every point's second pair, ...): consecutive pairs then belong to
        # different points, and the scatter-adds of a chunk do not queue on one address.
        rows, cols = torch.as_tensor(rows), torch.as_tensor(cols)
        by_row = torch.argsort(rows, stable=True)
        counts = torch.bincount(rows, minlength=n)
        slot = torch.arange(len(rows)) - (counts.cumsum(0) - counts)[rows[by_row]]
        order = by_row[torch.argsort(slot * n + rows[by_row])]
        self.rows, self.cols = rows[order].contiguous(), cols[order].contiguous()
        self.v64 = torch.as_tensor(vals).double()[order].contiguous()
        self.vals = self.v64.to(dtype)
        self.n, self.dtype, self.p, self.chunk = n, dtype, p, chunk
        self.min_nodes, self.per_unit = min_nodes, nodes_per_unit
        self.scale = 1.0
        # full P = upper + lower triangle, so each stored pair appears twice in sums
        self.plogp = float(2 * (self.v64 * torch.log(self.v64)).sum())
        self._buf = torch.empty(4, max(1, min(chunk, len(rows))), dtype=dtype)
        self._kernel_key, self._kernel, self._M = None, None, 0

    def exaggerate(self, factor: float):
        self.vals.mul_(factor / self.scale)
        self.scale = factor

    def _attractive(self, Y, want_kl: bool = False):
        """F_i = sum_j p_ij (1 + d_ij^2)^-1 (y_i - y_j), and sum_ij p_ij log (1 + d_ij^2)^-1
        over the full P when ``want_kl``; one chunk of pairs at a time."""
        x, y = Y[:, 0].contiguous(), Y[:, 1].contiguous()
        Fx, Fy = torch.zeros_like(x), torch.zeros_like(y)
        plogq = 0.0
        for s in range(0, len(self.rows), self.chunk):
            r, c = self.rows[s:s + self.chunk], self.cols[s:s + self.chunk]
            dx, dy, w, tmp = self._buf[:, :len(r)]
            torch.index_select(x, 0, r, out=dx).sub_(torch.index_select(x, 0, c, out=tmp))
            torch.index_select(y, 0, r, out=dy).sub_(torch.index_select(y, 0, c, out=tmp))
            torch.mul(dx, dx, out=w).addcmul_(dy, dy).add_(1).reciprocal_()   # (1 + d^2)^-1
            if want_kl:
                plogq += 2 * float(torch.log(w).double().dot(self.v64[s:s + self.chunk]))
            w.mul_(self.vals[s:s + self.chunk])                              # p_ij (1 + d^2)^-1
            Fx.scatter_add_(0, r, dx.mul_(w))
            Fy.scatter_add_(0, r, dy.mul_(w))
            Fx.scatter_add_(0, c, dx.neg_())
            Fy.scatter_add_(0, c, dy.neg_())
        return torch.stack([Fx, Fy], 1), plogq

    def _kernels(self, M: int, h: float):
        """Spectra of the kernels r (1 + r^2)^-2 (x and y parts, for the forces) on the 2M x 2M
        circulant grid, and of (1 + r^2)^-1 (for Z) with the weights of Parseval's sum; the last
        set is kept for reuse."""
        if self._kernel_key == (M, h):
            return self._kernel
        off = torch.arange(2 * M, dtype=torch.float64)
        off = torch.where(off < M, off, off - 2 * M) * h
        k1 = 1.0 / (1.0 + (off[:, None] ** 2 + off[None, :] ** 2))
        k2 = k1 * k1
        K = torch.fft.rfft2(torch.stack([k1, off[:, None] * k2, off[None, :] * k2]).to(self.dtype))
        # Z = <c, K1 * c> = sum over the half spectrum of |C|^2 K1, the inner columns counted twice
        parseval = K[0].real / (4 * M * M)
        parseval[:, 1:-1] *= 2                              # 2M is even: the last column is Nyquist
        self._kernel = K[1], K[2], parseval
        self._kernel_key = (M, h)
        return self._kernel

    def _grid(self, Y):
        """Node spacing h, grid side M and the grid coordinates of the points (origin at the
        first node): nodes 1 / per_unit apart, at least min_nodes across the map. M grows in
        steps of about 10 %, so the kernels are recomputed only now and then as the map grows."""
        lo = float(Y.min())
        span = max(float(Y.max()) - lo, 1e-12)
        if span * self.per_unit >= self.min_nodes:
            h = 1.0 / self.per_unit
        else:                                               # spacing on a 2 % ladder, so the
            h = 1.02 ** math.ceil(math.log(span / self.min_nodes) / math.log(1.02))  # kernels are reused
        need = int(span / h) + self.p
        if not need <= self._M <= 1.25 * need:
            self._M = _fft_friendly(int(1.1 * need))
        return h, self._M, (Y - lo) / h + (self.p - 1) // 2

    def _repulsive(self, Y):
        n, p = self.n, self.p
        h, M, t = self._grid(Y)
        # every point interpolates from the p x p nodes around it (centred stencil)
        base = t.floor() - (p - 1) // 2                     # first node of the stencil
        u = t - base                                        # in [half, half + 1)
        corner = base[:, 0].long() * (2 * M) + base[:, 1].long()
        order = torch.argsort(corner)                       # visit the points row by row of the grid
        corner, u = corner[order], u[order]
        w = torch.ones(n, 2, p, dtype=Y.dtype)              # Lagrange weights, per axis
        for l in range(p):
            for m in range(p):
                if m != l:
                    w[:, :, l] *= (u - m) / (l - m)
        wt = (w[:, 0, :, None] * w[:, 1, None, :]).reshape(n, p * p)
        offsets = (torch.arange(p)[:, None] * (2 * M) + torch.arange(p)[None, :]).flatten()
        flat = corner[:, None] + offsets                    # N x p^2 node indices
        # spread a unit charge per point onto the grid; the FFTs see it zero-padded to 2M x 2M
        # (rows M.. are zero, so only the first M rows go through the row transform)
        grid = torch.zeros(M, 2 * M, dtype=Y.dtype)
        grid.view(-1).index_add_(0, flat.flatten(), wt.flatten())
        G = torch.fft.fft(torch.fft.rfft(grid, dim=1), n=2 * M, dim=0)
        Kx, Ky, parseval = self._kernels(M, h)
        # Z = sum_ij K1(y_i - y_j) = <c, K1 * c> on the grid, by Parseval, less the N self-terms
        Z = float(torch.view_as_real(G).square().sum(-1).mul_(parseval).sum()) - n
        # the force field sum_j (y - y_j)(1 + |y - y_j|^2)^-2: one convolution per component
        # (only the first M rows of the result are needed), read back with the same weights
        rep = torch.empty(n, 2, dtype=Y.dtype)
        for d, K in enumerate((Kx, Ky)):
            field = torch.fft.irfft(torch.fft.ifft(G * K, dim=0)[:M], n=2 * M, dim=1)
            rep[order, d] = (field.view(-1)[flat] * wt).sum(1)
        return rep, Z

    def __call__(self, Y, want_kl: bool):
        attr, plogq = self._attractive(Y, want_kl)
        rep, Z = self._repulsive(Y)
        grad = 4.0 * (attr - rep / Z)
        kl = self.plogp - (plogq - math.log(Z)) if want_kl else None
        return grad, kl


@timed("embedding")
def tsne(X, n_components: int = 2, perplexity: float = 30.0, early_exaggeration: float = 12.0,
         learning_rate="auto", max_iter: int = 1000, exaggeration_iter: int = 250,
         momentum: tuple[float, float] = (0.5, 0.8), gains: bool = True, min_gain: float = 0.01,
         init="pca", method: str = "exact", pca_dims: int | None = None, P=None,
         n_iter_without_progress: int = 300, min_grad_norm: float = 1e-7, kl_every: int = 50,
         seed: int = 0, dtype=torch.float32, progress: bool = True, desc: str | None = None,
         interp_points: int = 5, nodes_per_unit: float = 3.0, min_nodes: int = 100,
         max_step: float | None = None, callback=None) -> TSNEResult:
    """t-SNE of ``X`` (N x D) to 2-D, from scratch, with scikit-learn's defaults and schedule
    (chapter 4).

    Steps: optional PCA pre-reduction to ``pca_dims``; conditional p_{j|i} with sigma_i from a
    binary search on the perplexity; symmetric P; gradient descent on KL(P || Q) with Student-t
    Q, early exaggeration (P x ``early_exaggeration`` for ``exaggeration_iter`` iterations at
    momentum ``momentum[0]``, then ``momentum[1]``) and per-parameter gains (+0.2 when the
    gradient changes sign, x0.8 otherwise, at least ``min_gain``).

    ``method="exact"`` (dense P, O(N^2) per step) or ``"fast"`` (sparse P from 3 x perplexity
    neighbours, FFT-interpolated repulsion). ``init="pca"`` (scaled as scikit-learn),
    ``"random"`` (N(0, 1e-4^2), seeded) or an N x 2 array. ``P`` may be passed precomputed
    (dense tensor for exact, ``(rows, cols, values)`` for fast). Set ``gains=False``,
    ``momentum=(0, 0)`` or ``early_exaggeration=1`` for the ablations of chapter 4.
    The fast method interpolates on a square grid with nodes ``1 / nodes_per_unit`` apart (at
    least ``min_nodes`` per side), each point using the ``interp_points`` x ``interp_points``
    nodes around it. FIt-SNE uses the same grid density (3 nodes per unit) with 3 x 3 nodes per
    box; centring the stencil on the point and using 5 x 5 nodes cuts the error of the
    repulsive forces about fourfold (0.9 % against openTSNE's 3.9 % on a 5,000-digit MNIST
    map) and gives a lower final KL; 3 x 3 nodes or 2 nodes per unit save 10-30 % of the time
    and cost about 2 % of KL there.

    ``learning_rate="auto"`` is scikit-learn's rule, one rate for both stages;
    ``"exaggeration"`` is openTSNE's (Belkina et al., 2019): N / (4 x the exaggeration in
    force), at least 50, so 12 times larger once the exaggeration is over. ``max_step`` caps how far a point
    moves in one step (openTSNE caps it at 5). ``callback(iteration, Y)``, if given, is called
    every ``kl_every`` iterations with the live embedding (copy it to keep it).

    The returned ``kl`` is KL(P || Q) of the final embedding (under the sparse P for "fast").
    """
    if method not in ("exact", "fast"):
        raise ValueError(f"method must be 'exact' or 'fast', got {method!r}")
    if n_components != 2 and method == "fast":
        raise ValueError("method='fast' supports n_components=2 only")
    X = _as_tensor(X)
    n = X.shape[0]
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n}")
    dims = X.shape[1] if pca_dims is None else min(_count(pca_dims, "pca_dims", 1), X.shape[1])
    _count(n_components, "n_components", 1, min(dims, n) if isinstance(init, str) and init == "pca"
           else None, " = min(N, D) for init='pca'")
    _count(max_iter, "max_iter", 1)
    if learning_rate not in ("auto", "exaggeration") and not (
            isinstance(learning_rate, numbers.Real) and learning_rate > 0):
        raise ValueError("learning_rate must be 'auto', 'exaggeration' or a positive number, "
                         f"got {learning_rate!r}")
    if max_step is not None and not (isinstance(max_step, numbers.Real) and max_step > 0):
        raise ValueError(f"max_step must be None or a positive number, got {max_step!r}")
    t0 = time.perf_counter()
    if pca_dims is not None and pca_dims < X.shape[1]:
        X = pca(X, pca_dims).scores
    if P is None:
        P = (joint_probabilities(X, perplexity) if method == "exact"
             else sparse_joint_probabilities(X, perplexity))
    seconds_P = time.perf_counter() - t0

    if isinstance(init, str):
        if init == "pca":
            Y = pca_init(X, n_components)
        elif init == "random":
            g = torch.Generator().manual_seed(seed)
            Y = 1e-4 * torch.randn(n, n_components, generator=g, dtype=torch.float64)
        else:
            raise ValueError(f"init must be 'pca', 'random' or an array, got {init!r}")
    else:
        Y = _as_tensor(init, name="init")
        if Y.shape != (n, n_components):
            raise ValueError(f"init must have shape ({n}, {n_components}), got {tuple(Y.shape)}")
    Y = Y.to(dtype).clone()

    def rate(exaggeration: float) -> float:
        if learning_rate == "auto":                        # scikit-learn: one rate throughout
            return max(n / early_exaggeration / 4, 50.0)
        if learning_rate == "exaggeration":                # openTSNE: N / exaggeration in force
            return max(n / exaggeration / 4, 50.0)        # (the 4 is in our gradient, not theirs)
        return float(learning_rate)

    if method == "exact":
        if not (isinstance(P, torch.Tensor) and P.shape == (n, n)):
            raise ValueError(f"method='exact' needs a dense {n} x {n} P")
        objective = _Exact(P, dtype)
    else:
        rows, cols, vals = P
        objective = _Fast(rows, cols, vals, n, dtype, p=interp_points, min_nodes=min_nodes,
                          nodes_per_unit=nodes_per_unit)

    update = torch.zeros_like(Y)
    gain = torch.ones_like(Y)
    kl_iters, kl_hist = [], []
    it = 0
    from tqdm.auto import tqdm
    bar = tqdm(total=max_iter, desc=desc or f"t-SNE ({method}, N={n})", disable=not progress,
               leave=False, mininterval=0.5)
    try:
        stages = [(0, min(exaggeration_iter, max_iter), early_exaggeration, momentum[0],
                   exaggeration_iter),
                  (min(exaggeration_iter, max_iter), max_iter, 1.0, momentum[1],
                   n_iter_without_progress)]
        schedule = []
        for start, stop, exag, mom, patience in stages:
            if start >= stop:
                continue
            lr = rate(exag)
            schedule.append(dict(start=start, stop=stop, exaggeration=exag, momentum=mom,
                                 learning_rate=lr))
            objective.exaggerate(exag)
            update.zero_()
            gain.fill_(1.0)
            best, best_iter = math.inf, start
            for i in range(start, stop):
                check = (i + 1) % kl_every == 0
                grad, err = objective(Y, check or i == max_iter - 1)
                if gains:
                    inc = (update * grad) < 0
                    # +0.2 or x0.8 in the embedding's own dtype (no float32 constants in a
                    # float64 run, so that it follows scikit-learn step for step)
                    gain.copy_(torch.where(inc, gain + 0.2, gain * 0.8)).clamp_(min=min_gain)
                    grad = grad * gain
                update.mul_(mom).add_(grad, alpha=-lr)
                if max_step is not None:                   # no point moves more than max_step
                    update.mul_(max_step / update.norm(dim=1, keepdim=True).clamp_min(max_step))
                Y.add_(update)
                it = i + 1
                bar.update(1)
                if err is not None:
                    kl_iters.append(it)
                    kl_hist.append(err)
                if check:
                    bar.set_postfix(kl=f"{err:.4f}")
                    if callback is not None:
                        callback(it, Y)
                    if err < best:
                        best, best_iter = err, i
                    elif i - best_iter > patience:
                        break
                    if float(grad.norm()) <= min_grad_norm:
                        break
            schedule[-1]["stop"] = it
        objective.exaggerate(1.0)
        kl = objective(Y, True)[1]
    finally:
        bar.close()
    return TSNEResult(embedding=Y.double().numpy(), kl=kl, kl_iters=kl_iters, kl_history=kl_hist,
                      n_iter=it, learning_rate=lr, seconds=time.perf_counter() - t0,
                      seconds_P=seconds_P, method=method, P=P, stages=schedule)


def kl_gradient(P, Y) -> torch.Tensor:
    """Analytic gradient of KL(P || Q) with respect to the embedding ``Y`` (float64, dense):
    4 sum_j (p_ij - q_ij)(y_i - y_j)(1 + |y_i - y_j|^2)^-1 (chapter 4)."""
    P = torch.as_tensor(P, dtype=torch.float64)
    Y = _as_tensor(Y)
    grad, _ = _Exact(P, torch.float64)(Y, False)
    return grad


def repulsive_forces(Y, method: str = "exact", interp_points: int = 5, nodes_per_unit: float = 3.0,
                     min_nodes: int = 100) -> torch.Tensor:
    """The repulsive half of the t-SNE gradient, -4 sum_j q_ij (1 + |y_i - y_j|^2)^-1 (y_i - y_j),
    computed exactly (dense, O(N^2)) or by the fast method's FFT interpolation, to see how
    much the approximation changes the forces (chapter 4)."""
    Y = _as_tensor(Y, name="Y")
    n = Y.shape[0]
    if method == "exact":
        d = squared_distances(Y)
        w = 1.0 / (1.0 + d)
        w.fill_diagonal_(0)
        Z = w.sum()
        w2 = w * w
        rep, Z = Y * w2.sum(1, keepdim=True) - w2 @ Y, float(Z)
    elif method == "fast":
        empty = torch.zeros(0, dtype=torch.int64)
        rep, Z = _Fast(empty, empty, torch.zeros(0, dtype=torch.float64), n, torch.float64,
                       p=interp_points, min_nodes=min_nodes,
                       nodes_per_unit=nodes_per_unit)._repulsive(Y)
    else:
        raise ValueError(f"method must be 'exact' or 'fast', got {method!r}")
    return -4.0 * rep / Z

