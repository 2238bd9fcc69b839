"""The training loops of autoencoders, VAEs and the VAE-GAN (chapter 10): :func:`fit_vae` and
:func:`fit_vaegan` return a per-epoch history dict. The models live in
:mod:`course_utils.models.vae`, their test-set scores in :mod:`course_utils.metrics`, their
cached recipes in :mod:`course_utils.recipes`, their latent space in
:mod:`course_utils.embed.latent`."""
from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import config
from .data import Batches, TensorData
from .data.augment import add_noise
from .metrics import evaluate_vae
from .models import vae as V


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
            xin, yin = V.model_inputs(model, add_noise(x, noise), y)
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


# ---------------------------------------------------------------- the latent space


def summarise(history: dict) -> dict:
    """Last-epoch numbers of a :func:`fit_vae` history (chapter 10)."""
    return {k: v[-1] for k, v in history.items() if isinstance(v, list) and v}


