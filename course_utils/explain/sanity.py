"""Sanity checks for attribution maps (Adebayo et al., 2018) (chapter 9).

An explanation of a network should depend on the network. *Model-parameter randomisation*
re-initialises the weights of a trained network, either cascading from the top layer down
(the head first, then the head and the last conv block, ...) or one layer at a time
(independent), and compares each method's maps before and after: a method whose maps barely
change is not explaining what the network learned. (*Data randomisation*, a network trained
on shuffled labels, is the other test; it needs only a second trained model.)

The comparisons are per example: Spearman's rank correlation of the absolute and of the
signed maps (ties get their average rank, as in ``scipy.stats.spearmanr``), and the
structural similarity index (SSIM; Wang et al., 2004) with an 11x11 Gaussian window of
sigma 1.5, as ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False)``. The given model is never modified: every randomised network
is a deep copy.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features import get_module, module_name
from .common import check_count, check_number
from .metrics import as_maps

KEYS = ("spearman_abs", "spearman", "ssim")


# --- similarity of two batches of maps ---------------------------------------------------------

def _pair(a, b, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = as_maps(a, f"{who}: a"), as_maps(b, f"{who}: b")
    if a.shape != b.shape:
        raise ValueError(f"{who}: the two batches of maps must have the same shape (N, H, W), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.detach().double(), b.detach().to(a.device).double()


def rankdata(values: torch.Tensor) -> torch.Tensor:
    """Ranks (1 = smallest) along the last dimension of a (N, D) tensor, ties sharing their
    average rank (``scipy.stats.rankdata``'s ``"average"``), as float64."""
    order = values.argsort(dim=1, stable=True)
    ordered = values.gather(1, order)
    ranks = torch.empty(values.shape, dtype=torch.float64, device=values.device)
    for i in range(values.shape[0]):
        _, inverse, counts = torch.unique_consecutive(ordered[i], return_inverse=True,
                                                      return_counts=True)
        ends = counts.cumsum(0).double()                  # 1-based position of each group's last
        ranks[i, order[i]] = (ends - (counts.double() - 1) / 2)[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor, constant: float = 0.0) -> torch.Tensor:
    """Spearman's rank correlation between each pair of maps, shape (N,) (chapter 9).

    ``a`` and ``b`` are (N, H, W) or (N, 1, H, W). A map that is constant ranks nothing; where
    either map of a pair is constant the result is ``constant`` (0: nothing shared), where
    scipy returns NaN."""
    a, b = _pair(a, b, "spearman")
    fill = check_number(constant, "constant", "spearman")
    ra, rb = rankdata(a.flatten(1)), rankdata(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    na, nb = ra.norm(dim=1), rb.norm(dim=1)
    ok = (na > 0) & (nb > 0)
    rho = (ra * rb).sum(1) / torch.where(ok, na * nb, torch.ones_like(na))
    return torch.where(ok, rho.clamp(-1, 1), torch.full_like(rho, fill))


def gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    """The normalised 2-D Gaussian window of SSIM, float64, side ``2 * int(truncate * sigma
    + 0.5) + 1`` (11 for sigma 1.5, Wang et al.'s window)."""
    sigma = check_number(sigma, "sigma", "gaussian_window")
    if sigma <= 0:
        raise ValueError(f"gaussian_window: sigma must be > 0 pixels, got {sigma}")
    r = int(check_number(truncate, "truncate", "gaussian_window") * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean structural similarity (Wang et al., 2004) of each pair of maps, shape (N,)
    (chapter 9).

    Local means, variances and covariance are Gaussian-weighted (``sigma`` pixels, truncated
    at 3.5 sigma); the SSIM map is averaged over the positions where the window fits inside
    the image. ``data_range`` is the range of the values (1 for maps scaled to [0, 1]); it
    sets the constants ``(k1 * data_range)**2`` and ``(k2 * data_range)**2``."""
    a, b = _pair(a, b, "ssim")
    data_range = check_number(data_range, "data_range", "ssim")
    if data_range <= 0:
        raise ValueError(f"ssim: data_range must be > 0 (the range of the map values), got {data_range}")
    window = gaussian_window(sigma).to(a.device)
    side = window.shape[0]
    if min(a.shape[-2:]) < side:
        raise ValueError(f"ssim: maps must be at least {side}x{side} (the Gaussian window of sigma "
                         f"{sigma}), got {tuple(a.shape[-2:])}")

    def local_mean(t):
        return F.conv2d(t[:, None], window[None, None])[:, 0]

    ux, uy = local_mean(a), local_mean(b)
    vx = local_mean(a * a) - ux * ux
    vy = local_mean(b * b) - uy * uy
    vxy = local_mean(a * b) - ux * uy
    c1, c2 = (check_number(k1, "k1", "ssim") * data_range) ** 2, (check_number(k2, "k2", "ssim") * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean((1, 2))


def scale_abs(maps: torch.Tensor) -> torch.Tensor:
    """``|m| / max |m|`` for each map of a (N, H, W) batch: values in [0, 1] (a map that is all
    zero stays zero), the way a heat map shows them."""
    m = as_maps(maps, "scale_abs").abs()
    top = m.flatten(1).max(1).values.view(-1, 1, 1)
    return m / torch.where(top > 0, top, torch.ones_like(top))


def similarity(original: torch.Tensor, randomized: torch.Tensor) -> dict[str, torch.Tensor]:
    """How alike two batches of maps are, per example (chapter 9): ``{"spearman_abs",
    "spearman", "ssim"}``, each (N,): the rank correlation of the absolute maps and of the
    signed maps, and the SSIM of the absolute maps scaled to [0, 1] (:func:`scale_abs`)."""
    a, b = _pair(original, randomized, "similarity")
    return {"spearman_abs": spearman(a.abs(), b.abs()), "spearman": spearman(a, b),
            "ssim": ssim(scale_abs(a), scale_abs(b), data_range=1.0)}


# --- model-parameter randomisation -------------------------------------------------------------

def _groups(model: nn.Module, layers) -> list[tuple[str, list[str]]]:
    """``[(label, [module names])]`` from a mapping ``{label: names}`` or a sequence of names,
    modules, or tuples of them (re-initialised together, e.g. a conv and its batch norm)."""
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if isinstance(layers, Mapping):
        items = list(layers.items())
    elif isinstance(layers, Sequence):
        items = [(None, entry) for entry in layers]
    else:
        raise TypeError(f"layers must be a sequence of layer names (or tuples of names) or a "
                        f"mapping {{label: names}}, got {type(layers).__name__}")
    if not items:
        raise ValueError("layers is empty: name at least one layer to re-initialise")
    out = []
    for label, entry in items:
        entry = list(entry) if isinstance(entry, (tuple, list)) else [entry]
        if not entry:
            raise ValueError(f"layers: group {label!r} names no layer")
        names = []
        for item in entry:
            if not isinstance(item, (str, nn.Module)):
                raise TypeError(f"layers must hold dotted module names or submodules, got "
                                f"{type(item).__name__}")
            module = get_module(model, item)
            name = module_name(model, module)
            if not any(hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))
                       for m in module.modules()):
                raise ValueError(f"layer {name!r} ({type(module).__name__}) has no parameters to "
                                 f"re-initialise; name a layer with weights (Conv2d, Linear, BatchNorm2d...)")
            names.append(name)
        out.append((str(label) if label is not None else "+".join(names), names))
    return out


def _reinitialize(copy_: nn.Module, names: list[str], seed: int) -> None:
    """Re-initialise the modules ``names`` of ``copy_`` in place with torch's default
    initialisation, drawn on the CPU from ``seed`` (the global random stream is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            module = get_module(copy_, name)
            fresh = copy.deepcopy(module).cpu()
            for m in fresh.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
            module.load_state_dict(fresh.state_dict())


def _seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def randomize(model: nn.Module, layers, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with ``layers`` re-initialised (chapter 9): names, modules or
    tuples of them (each tuple one group), or a mapping ``{label: names}``. Group ``i`` is
    drawn from seed ``(seed, i)``, the same in :func:`cascading_randomization` and
    :func:`independent_randomization`. ``model`` itself is left untouched."""
    groups = _groups(model, layers)
    seed = check_count(seed, "seed", "randomize", low=0)
    out = copy.deepcopy(model)
    for i, (_, names) in enumerate(groups):
        _reinitialize(out, names, _seed(seed, i))
    return out


def cascading_randomization(model: nn.Module, layers, seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Cascading randomisation (Adebayo et al., 2018) (chapter 9): ``layers`` given from the
    top (output) down; returns ``[(label, copy)]``, one deep copy per group, the ``k``-th with
    groups ``0..k`` re-initialised. Group ``i`` gets the same weights as in
    :func:`independent_randomization` with the same ``seed``; ``model`` is left untouched."""
    groups = _groups(model, layers)
    seed = check_count(seed, "seed", "cascading_randomization", low=0)
    out, current = [], model
    for i, (label, names) in enumerate(groups):
        current = copy.deepcopy(current)
        _reinitialize(current, names, _seed(seed, i))
        out.append((label, current))
    return out


def independent_randomization(model: nn.Module, layers, seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Independent (layer-by-layer) randomisation (chapter 9): ``[(label, copy)]``, one deep
    copy per group of ``layers`` with that group alone re-initialised (as it is in
    :func:`cascading_randomization` with the same ``seed``); ``model`` is left untouched."""
    groups = _groups(model, layers)
    seed = check_count(seed, "seed", "independent_randomization", low=0)
    out = []
    for i, (label, names) in enumerate(groups):
        current = copy.deepcopy(model)
        _reinitialize(current, names, _seed(seed, i))
        out.append((label, current))
    return out


__all__ = ("spearman", "ssim", "similarity", "scale_abs", "rankdata", "gaussian_window",
           "randomize", "cascading_randomization", "independent_randomization", "KEYS")
