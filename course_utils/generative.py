"""Training, evaluating and probing autoencoders, VAEs and the VAE-GAN (chapter 10).

The models live in :mod:`course_utils.models.vae`. Here: the training loops
(:func:`fit_vae`, :func:`fit_vaegan`) returning a per-epoch history dict, a cached
train-or-load wrapper, test-set metrics (negative ELBO, MSE, PSNR, sharpness), latent-space
helpers (means, interpolation, a decoded grid) and "area" attribution of a reconstruction.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import cache, config
from .data import Batches, TensorData
from .explain.common import frozen_eval, relu_backward_rule
from .models import vae as V


# ---------------------------------------------------------------- corruption and metrics
def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation ``std``, clipped back to [0, 1] (chapter 10)."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    if std == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp_(0.0, 1.0)


def mask_lower_half(x: torch.Tensor, rows: int = 14) -> torch.Tensor:
    """Copy of ``x`` with every row from ``rows`` down set to 0 (imputation input; chapter 10)."""
    out = x.clone()
    out[..., rows:, :] = 0.0
    return out


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


def _inputs(model: nn.Module, x, y):
    return (x, y) if getattr(model, "conditional", False) else (x, None)


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
            xin, yin = _inputs(model, add_noise(x, noise, gen), y)
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


# ---------------------------------------------------------------- training loops
def _new_history(*extra) -> dict:
    keys = ["epoch", "train_loss", "train_recon", "train_kl", *extra,
            "test_neg_elbo", "test_kl", "test_mse", "test_psnr", "seconds"]
    return {k: [] for k in keys}


def _log_test(history, model, test, noise, seed, device):
    if test is None:
        return
    m = evaluate_vae(model, test, noise=noise, seed=seed, device=device)
    history["test_neg_elbo"].append(m["neg_elbo"])
    history["test_kl"].append(m["kl"])
    history["test_mse"].append(m["mse"])
    history["test_psnr"].append(m["psnr"])


def _check_finite(loss, epoch):
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {float(loss)} in epoch {epoch}: lower the learning rate")


def fit_vae(model: nn.Module, train: TensorData, test: TensorData | None = None, epochs: int = 10,
            lr: float = 1e-3, batch_size: int = 128, recon: str = "bce", beta: float = 1.0,
            noise: float = 0.0, schedule: str | None = None, seed: int = 0, device=None,
            progress: bool = True, desc: str | None = None) -> dict:
    """Train an autoencoder/VAE/CVAE with Adam on ``vae_loss`` and return its history
    (chapter 10): a dict of per-epoch lists ``epoch``, ``train_loss``, ``train_recon``,
    ``train_kl`` (training objective and its parts, averaged over the epoch), ``test_neg_elbo``,
    ``test_kl``, ``test_mse``, ``test_psnr`` (:func:`evaluate_vae` on ``test``, with the same
    input ``noise``) and ``seconds`` (training time of the epoch).

    ``noise > 0`` trains a denoising model: the encoder sees the image with Gaussian noise of
    that std, the loss compares the output with the clean image. ``schedule="cosine"`` decays
    the learning rate from ``lr`` to zero over the run (one cosine half-period, per step).
    """
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}")
    config.seed_everything(seed)
    device = torch.device(device) if device is not None else config.device()
    model.to(device)
    batches = Batches(train, batch_size, shuffle=True, seed=seed, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(batches))
             if schedule == "cosine" else None)
    history = _new_history()
    bar = tqdm(range(1, epochs + 1), desc=desc or type(model).__name__, disable=not progress,
               leave=False, unit="epoch")
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        sums, count = {"loss": 0.0, "recon": 0.0, "kl": 0.0}, 0
        for x, y in batches:
            xin, yin = _inputs(model, add_noise(x, noise), y)
            parts = V.vae_loss(model(xin, yin), x, recon, beta)
            _check_finite(parts["loss"], epoch)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            if sched is not None:
                sched.step()
            for k in sums:
                sums[k] += float(parts[k].detach()) * len(x)
            count += len(x)
        history["epoch"].append(epoch)
        for k in sums:
            history[f"train_{k}"].append(sums[k] / count)
        history["seconds"].append(time.perf_counter() - start)
        _log_test(history, model, test, noise, seed, device)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.2f}")
    model.eval()
    return history


def fit_vaegan(model: V.VAEGAN, train: TensorData, test: TensorData | None = None, epochs: int = 10,
               lr: float = 1e-3, d_lr: float = 2e-4, batch_size: int = 128, beta: float = 1.0,
               gan_weight: float = 5.0, seed: int = 0, device=None, progress: bool = True,
               desc: str | None = None) -> dict:
    """Train a :class:`~course_utils.models.vae.VAEGAN` (chapter 10). Each step:

    1. the discriminator learns to tell real images (label 1) from reconstructions and prior
       samples (label 0);
    2. the VAE minimises its BCE + beta * KL loss plus ``gan_weight`` times the adversarial
       loss of making the discriminator call both its reconstructions and its samples real.

    Returns the :func:`fit_vae` history plus per-epoch ``train_d_loss`` and ``train_adv``.
    """
    if not isinstance(model, V.VAEGAN):
        raise TypeError(f"fit_vaegan trains a VAEGAN, got {type(model).__name__}")
    config.seed_everything(seed)
    device = torch.device(device) if device is not None else config.device()
    model.to(device)
    vae, disc = model.vae, model.discriminator
    batches = Batches(train, batch_size, shuffle=True, seed=seed, device=device)
    opt_g = torch.optim.Adam(vae.parameters(), lr=lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=d_lr, betas=(0.5, 0.999))
    bce_logits = F.binary_cross_entropy_with_logits
    history = _new_history("train_d_loss", "train_adv")
    bar = tqdm(range(1, epochs + 1), desc=desc or "VAE-GAN", disable=not progress,
               leave=False, unit="epoch")
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        sums, count = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "d_loss": 0.0, "adv": 0.0}, 0
        for x, _ in batches:
            n = len(x)
            out = vae(x)
            fake_rec = torch.sigmoid(out.logits)
            fake_gen = torch.sigmoid(vae.decode(torch.randn(n, vae.latent_dim, device=device)))
            ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)
            # 1. discriminator step (fakes detached: only D learns here)
            d_loss = (bce_logits(disc(x), ones)
                      + 0.5 * bce_logits(disc(fake_rec.detach()), zeros)
                      + 0.5 * bce_logits(disc(fake_gen.detach()), zeros))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # 2. VAE step: reconstruct, stay close to the prior, and fool D
            parts = V.vae_loss(out, x, "bce", beta)
            adv = 0.5 * (bce_logits(disc(fake_rec), ones) + bce_logits(disc(fake_gen), ones))
            loss = parts["loss"] + gan_weight * adv
            _check_finite(loss, epoch)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            for k, v in (("loss", loss), ("recon", parts["recon"]), ("kl", parts["kl"]),
                         ("d_loss", d_loss), ("adv", adv)):
                sums[k] += float(v.detach()) * n
            count += n
        history["epoch"].append(epoch)
        for k in sums:
            history[f"train_{k}"].append(sums[k] / count)
        history["seconds"].append(time.perf_counter() - start)
        _log_test(history, model, test, 0.0, seed, device)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.2f}", d=f"{history['train_d_loss'][-1]:.2f}")
    model.eval()
    return history


def data_fingerprint(data: TensorData) -> str:
    """Short hash of a dataset's images and labels, so a cache key changes with the data."""
    h = hashlib.sha1()
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return h.hexdigest()[:12]


def train_or_load(name: str, kind: str, train: TensorData, test: TensorData | None = None,
                  arch: dict | None = None, force: bool | None = None, **fit_kwargs):
    """Build ``vae.build(kind, **arch)``, train it with :func:`fit_vae` (or :func:`fit_vaegan`
    for ``kind="vaegan"``) on ``train`` and cache it under ``name`` (chapter 10). The cache key
    holds the model kind, ``arch``, every fit argument and a fingerprint of the training data.
    Returns ``(model, history)``."""
    arch = dict(arch or {})
    fit_kwargs.setdefault("desc", name)
    fitter = fit_vaegan if kind == "vaegan" else fit_vae
    cfg = {"kind": kind, "arch": arch, "data": train.name, "train_size": len(train),
           "data_hash": data_fingerprint(train),
           "fit": {k: v for k, v in fit_kwargs.items() if k not in ("progress", "desc", "device")}}
    seed = fit_kwargs.get("seed", 0)

    def build():
        config.seed_everything(seed)  # the initial weights depend on the seed only
        return V.build(kind, **arch)

    return cache.train_or_load(name, cfg, build,
                               lambda m: fitter(m, train, test, **fit_kwargs), force=force)


# ---------------------------------------------------------------- the latent space
@torch.no_grad()
def latent_means(model: nn.Module, data: TensorData, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means ``mu(x)`` of every image in ``data``, on the CPU (chapter 10)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model.encode(*_inputs(model, x, y))[0].cpu()
               for x, y in Batches(data, batch_size, shuffle=False, device=device)]
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1] decoded from latent codes ``z`` (chapter 10), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.sigmoid(model.decode(z.to(device), None if y is None else y.to(device))).cpu()
    finally:
        model.train(was_training)


def latent_grid(n: int = 15, quantile: float = 0.95) -> torch.Tensor:
    """``n * n`` points of the 2-D latent plane, evenly spaced in probability under the prior
    (Gaussian quantiles from ``1 - quantile`` to ``quantile``), row by row from the top
    (``z_2`` large) (chapter 10)."""
    if not 0.5 < quantile < 1:
        raise ValueError(f"quantile must lie in (0.5, 1), got {quantile}")
    p = torch.linspace(1 - quantile, quantile, n, dtype=torch.float64)
    q = torch.special.ndtri(p).float()
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    return torch.stack([z1.flatten(), z2.flatten()], 1)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """``steps`` latent codes on the straight line from ``z0`` to ``z1`` (chapter 10)."""
    t = torch.linspace(0, 1, steps, device=z0.device).view(-1, 1)
    return (1 - t) * z0.view(1, -1) + t * z1.view(1, -1)


@torch.no_grad()
def impute(model: nn.Module, x: torch.Tensor, known: torch.Tensor, y: torch.Tensor | None = None,
           steps: int = 30) -> torch.Tensor:
    """Fill in the unknown pixels of ``x`` (where the boolean mask ``known``, broadcastable to
    ``x``, is False) with a trained VAE (chapter 10): start from zeros there, then ``steps``
    times reconstruct from the posterior mean and copy the reconstruction into the unknown
    pixels only, keeping the known ones. Returns the completed images in [0, 1]."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x, known = x.to(device), known.to(device).bool()
    y = None if y is None else y.to(device)
    cur = torch.where(known, x, torch.zeros_like(x))
    try:
        for _ in range(steps):
            cur = torch.where(known, x, model.reconstruct(cur, y))
    finally:
        model.train(was_training)
    return cur.cpu()


# ---------------------------------------------------------------- area attribution
class MeanReconstruction(nn.Module):
    """Wrap a VAE as ``x -> sigmoid(decode(mu(x)))``: a deterministic image-to-image network
    that attribution methods can treat like any model (chapter 10)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.vae.encode(x)
        return torch.sigmoid(self.vae.decode(mu))


def box_mask(box: tuple[int, int, int], shape=(28, 28)) -> torch.Tensor:
    """Boolean H x W mask of the square ``box = (row, col, size)`` (top-left corner) (chapter 10)."""
    r, c, s = box
    h, w = shape
    if s < 1 or r < 0 or c < 0 or r + s > h or c + s > w:
        raise ValueError(f"box (row={r}, col={c}, size={s}) does not fit in an image of {h}x{w}")
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[r:r + s, c:c + s] = True
    return mask


def area_target(box: tuple[int, int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Callable mapping output images (N x 1 x H x W) to the sum of each one's ``box`` region:
    the scalar whose gradient area attribution explains (chapter 10)."""
    r, c, s = box
    return lambda out: out[:, :, r:r + s, c:c + s].flatten(1).sum(1)


def area_guided_backprop(vae: nn.Module, x: torch.Tensor, box: tuple[int, int, int]) -> torch.Tensor:
    """Area guided backprop (chapter 10): the gradient of the sum of the reconstruction over the
    square ``box`` with respect to the input, with every ``nn.ReLU`` of the model passing only
    positive gradients. ``x``: N x 1 x 28 x 28; returns N x 28 x 28."""
    net = MeanReconstruction(vae)
    box_mask(box, tuple(x.shape[-2:]))
    with frozen_eval(net), relu_backward_rule(net, "guided"):
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(area_target(box)(net(xg)).sum(), xg)
    return grad[:, 0].detach()


def mass_outside(attribution: torch.Tensor, box: tuple[int, int, int]) -> torch.Tensor:
    """Share of the absolute attribution of each map (N x H x W, or H x W) that lies outside
    ``box`` (chapter 10): 0 for a purely local explanation."""
    a = attribution.abs()
    a = a.unsqueeze(0) if a.ndim == 2 else a
    mask = box_mask(box, tuple(a.shape[-2:])).to(a.device)
    total = a.flatten(1).sum(1).clamp_min(1e-12)
    return a[:, ~mask].sum(1) / total


def summarise(history: dict) -> dict:
    """Last-epoch numbers of a :func:`fit_vae` history (chapter 10)."""
    return {k: v[-1] for k, v in history.items() if isinstance(v, list) and v}


__all__ = ["add_noise", "mask_lower_half", "psnr", "laplacian_variance", "evaluate_vae", "fit_vae",
           "fit_vaegan", "train_or_load", "latent_means", "decode", "latent_grid", "interpolate", "impute",
           "MeanReconstruction", "box_mask", "area_target", "area_guided_backprop", "mass_outside",
           "summarise", "data_fingerprint"]
