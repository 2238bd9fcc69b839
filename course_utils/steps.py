"""Training steps for :func:`course_utils.train.fit` beyond classification (chapter 10): the
autoencoder/VAE step and the VAE-GAN step. Each returns ``(loss, n, sums)`` for one batch and
evaluates a test set with :func:`course_utils.metrics.evaluate_vae`."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data.augment import add_noise
from .metrics import evaluate_vae
from .models import vae as V
from .train import ClassifyStep


class VAEStep:
    """One step of an autoencoder, VAE or CVAE on ``vae_loss`` (chapter 10). ``noise > 0``
    trains a denoiser: the encoder sees the image with Gaussian noise of that std, the loss
    compares the output with the clean image. Curves: ``loss``, ``recon``, ``kl``; test:
    ``neg_elbo``, ``kl``, ``mse``, ``psnr`` (with the same input noise)."""

    def __init__(self, recon: str = "bce", beta: float = 1.0, noise: float = 0.0, seed: int = 0):
        self.recon, self.beta, self.noise, self.seed = recon, beta, noise, seed

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        xin, yin = V.model_inputs(model, add_noise(x, self.noise), y)
        parts = V.vae_loss(model(xin, yin), x, self.recon, self.beta)
        n = len(x)
        return parts["loss"], n, {k: parts[k].detach() * n for k in ("loss", "recon", "kl")}

    def evaluate(self, model: nn.Module, data, device) -> dict:
        return evaluate_vae(model, data, noise=self.noise, seed=self.seed, device=device)


class VAEGANStep:
    """One step of a :class:`~course_utils.models.vae.VAEGAN` (chapter 10):

    1. the discriminator learns to tell real images (label 1) from reconstructions and prior
       samples (label 0), with its own Adam (``d_lr``, betas 0.5, 0.999);
    2. the VAE's loss, returned to :func:`fit`, is BCE + ``beta`` * KL plus ``gan_weight``
       times the adversarial loss of making the discriminator call its reconstructions and
       its samples real. ``fit``'s optimizer trains the VAE only.

    Curves: ``loss``, ``recon``, ``kl``, ``d_loss``, ``adv``.
    """

    def __init__(self, beta: float = 1.0, gan_weight: float = 5.0, d_lr: float = 2e-4, seed: int = 0):
        self.beta, self.gan_weight, self.d_lr, self.seed = beta, gan_weight, d_lr, seed
        self.opt_d = None

    def start(self, model: nn.Module) -> None:
        if not isinstance(model, V.VAEGAN):
            raise TypeError(f"VAEGANStep trains a VAEGAN, got {type(model).__name__}")
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=self.d_lr, betas=(0.5, 0.999))

    def parameters(self, model: nn.Module):
        return model.vae.parameters()

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        vae, disc, n = model.vae, model.discriminator, len(x)
        bce = F.binary_cross_entropy_with_logits
        out = vae(x)
        fake_rec = torch.sigmoid(out.logits)
        fake_gen = torch.sigmoid(vae.decode(torch.randn(n, vae.latent_dim, device=x.device)))
        ones, zeros = torch.ones(n, device=x.device), torch.zeros(n, device=x.device)
        # 1. discriminator step (fakes detached: only D learns here)
        d_loss = (bce(disc(x), ones) + 0.5 * bce(disc(fake_rec.detach()), zeros)
                  + 0.5 * bce(disc(fake_gen.detach()), zeros))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # 2. the VAE's loss: reconstruct, stay close to the prior, and fool D
        parts = V.vae_loss(out, x, "bce", self.beta)
        adv = 0.5 * (bce(disc(fake_rec), ones) + bce(disc(fake_gen), ones))
        loss = parts["loss"] + self.gan_weight * adv
        sums = {"loss": loss, "recon": parts["recon"], "kl": parts["kl"], "d_loss": d_loss, "adv": adv}
        return loss, n, {k: v.detach() * n for k, v in sums.items()}

    def evaluate(self, model: nn.Module, data, device) -> dict:
        return evaluate_vae(model, data, noise=0.0, seed=self.seed, device=device)


STEPS = {"classify": ClassifyStep, "vae": VAEStep, "vaegan": VAEGANStep}


def make(name: str, **kw):
    """A step by name: ``"classify"`` (with no options ``None``, :func:`fit`'s default),
    ``"vae"``, ``"vaegan"``; ``kw`` go to its class."""
    if name not in STEPS:
        raise ValueError(f"unknown step {name!r}; expected one of {sorted(STEPS)}")
    return None if name == "classify" and not kw else STEPS[name](**kw)
