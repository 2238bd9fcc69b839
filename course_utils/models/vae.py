"""Autoencoders and variational autoencoders for 28x28 grey images (chapter 10).

Every model here shares one interface:

- ``encode(x, y=None) -> (mu, logvar)`` (``logvar`` is ``None`` for the plain autoencoder),
- ``decode(z, y=None) -> logits`` (pixel logits, N x 1 x 28 x 28; ``sigmoid`` gives the image),
- ``forward(x, y=None, sample=None) -> VAEOutput(logits, mu, logvar, z)``: ``z`` is a
  reparameterised draw when ``sample`` is true (default: in training mode), else the mean,
- ``reconstruct(x, y=None)`` and ``sample(n, y=None)`` return images in [0, 1].

``y`` (class labels) is used only by :class:`ConditionalVAE`. :func:`vae_loss` turns a
``VAEOutput`` into the training objective and returns its parts.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28


class VAEOutput(NamedTuple):
    """What every chapter-10 model returns: decoder logits, posterior mean and log-variance
    (``None`` for a deterministic autoencoder) and the latent code that was decoded."""

    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None
    z: torch.Tensor


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(logvar / 2)``: a sample
    of ``N(mu, sigma^2)`` that is differentiable in ``mu`` and ``logvar`` (chapter 10)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def _check_images(x: torch.Tensor) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")


class _Base(nn.Module):
    """Shared forward / reconstruct / sample logic (chapter 10)."""

    conditional = False
    latent_dim: int

    def encode(self, x, y=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z, y=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None,
                sample: bool | None = None) -> VAEOutput:
        _check_images(x)
        mu, logvar = self.encode(x, y)
        sample = self.training if sample is None else sample
        z = reparameterise(mu, logvar) if (sample and logvar is not None) else mu
        return VAEOutput(self.decode(z, y), mu, logvar, z)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] decoded from the posterior mean (no sampling)."""
        return torch.sigmoid(self.forward(x, y, sample=False).logits)

    def sample(self, n: int, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from ``z ~ N(0, I)`` (the prior)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return torch.sigmoid(self.decode(z, y))


def _mlp(sizes, act=nn.ReLU) -> list[nn.Module]:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return layers


class AutoEncoder(_Base):
    """The simple fully connected autoencoder of chapter 10: one linear layer (+ ReLU) encodes
    the 784 pixels into ``latent`` numbers, one linear layer decodes them. Deterministic:
    ``logvar`` is ``None`` and the loss has no KL term."""

    def __init__(self, latent: int = 32, hidden: tuple[int, ...] = ()):
        super().__init__()
        self.latent_dim = latent
        self.encoder = nn.Sequential(nn.Flatten(), *_mlp((PIXELS, *hidden, latent)))
        self.decoder = nn.Sequential(*_mlp((latent, *hidden[::-1])),
                                     nn.Linear(hidden[0] if hidden else latent, PIXELS))

    def encode(self, x, y=None):
        return self.encoder(x), None

    def decode(self, z, y=None):
        return self.decoder(z).view(-1, *IMAGE_SHAPE)

    def sample(self, n, y=None, generator=None):
        raise NotImplementedError("a plain autoencoder has no prior to sample from; use a VAE")


class FCVAE(_Base):
    """Fully connected VAE (chapter 10): 784 -> hidden -> (mu, logvar) of size ``latent``, and the
    mirror image for the decoder. ``latent=2`` gives the VAE whose latent plane we can draw."""

    def __init__(self, latent: int = 16, hidden: tuple[int, ...] = (400,)):
        super().__init__()
        if not hidden:
            raise ValueError("FCVAE needs at least one hidden layer, e.g. hidden=(400,)")
        self.latent_dim = latent
        self.encoder = nn.Sequential(nn.Flatten(), *_mlp((PIXELS, *hidden)))
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)
        self.decoder = nn.Sequential(*_mlp((latent, *hidden[::-1])), nn.Linear(hidden[0], PIXELS))

    def encode(self, x, y=None):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z, y=None):
        return self.decoder(z).view(-1, *IMAGE_SHAPE)


class _ConvBase(_Base):
    """Encoder ``features`` -> ``fc`` -> (``mu``, ``logvar``); decoder ``decoder_fc`` -> 7x7 maps
    of ``_c2`` channels -> ``decoder`` (shared by the conv VAEs of chapter 10)."""

    def _latent_heads(self, latent: int, hidden: int, c2: int) -> None:
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder_fc = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                                        nn.Linear(hidden, c2 * 49), nn.ReLU())

    def encode(self, x, y=None):
        h = self.fc(self.features(x))
        return self.mu(h), self.logvar(h)

    def decode(self, z, y=None):
        return self.decoder(self.decoder_fc(z).view(-1, self._c2, 7, 7))


class ConvVAE(_ConvBase):
    """Convolutional VAE with batch normalisation (chapter 10).

    Encoder ``features``: two stride-2 4x4 convolutions (28 -> 14 -> 7) with BatchNorm and
    ``nn.ReLU`` modules (so guided backprop can hook them), then a fully connected layer to
    ``hidden`` units and the heads ``mu`` and ``logvar``. The decoder mirrors it with
    transposed convolutions.
    """

    def __init__(self, latent: int = 32, channels: tuple[int, int] = (32, 64), hidden: int = 256):
        super().__init__()
        c1, c2 = channels
        self.latent_dim = latent
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, c1, 4, 2, 1)), ("bn1", nn.BatchNorm2d(c1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(c1, c2, 4, 2, 1)), ("bn2", nn.BatchNorm2d(c2)), ("relu2", nn.ReLU()),
        ]))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 49, hidden), nn.ReLU())
        self._latent_heads(latent, hidden, c2)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1))
        self._c2 = c2


class ModifiedVAE(_ConvBase):
    """The deeper "modified" VAE of chapter 10: four 3x3 convolutions in the encoder
    (28 -> 28 -> 14 -> 14 -> 7), each with BatchNorm and LeakyReLU(0.2), and a decoder of
    two transposed convolutions (7 -> 14 -> 28) with BatchNorm and ReLU and a final 3x3
    convolution. Narrower than :class:`ConvVAE` by default, so it costs about the same."""

    def __init__(self, latent: int = 32, channels: tuple[int, int] = (16, 32), hidden: int = 256):
        super().__init__()
        c1, c2 = channels
        self.latent_dim = latent

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]

        self.features = nn.Sequential(*block(1, c1, 1), *block(c1, c1, 2),
                                      *block(c1, c2, 1), *block(c2, c2, 2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 49, hidden), nn.LeakyReLU(0.2))
        self._latent_heads(latent, hidden, c2)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, 1, 3, 1, 1))
        self._c2 = c2


class ConditionalVAE(_Base):
    """Conditional VAE (chapter 10): the one-hot class label is appended to the flattened image
    at the encoder's input and to ``z`` at the decoder's input, so ``z`` is free to carry the
    style (slant, thickness) while the label carries the class."""

    conditional = True

    def __init__(self, latent: int = 16, n_classes: int = 10, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        if not hidden:
            raise ValueError("ConditionalVAE needs at least one hidden layer")
        self.latent_dim, self.n_classes = latent, n_classes
        self.encoder = nn.Sequential(*_mlp((PIXELS + n_classes, *hidden)))
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)
        self.decoder = nn.Sequential(*_mlp((latent + n_classes, *hidden[::-1])),
                                     nn.Linear(hidden[0], PIXELS))

    def one_hot(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """Check ``y`` (``n`` integer labels in ``[0, n_classes)``) and one-hot encode it."""
        if y is None:
            raise ValueError("ConditionalVAE needs class labels y (a LongTensor of shape (N,))")
        y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.ndim != 1 or len(y) != n:
            raise ValueError(f"labels must be {n} integers in a 1-D tensor, got dtype {y.dtype} "
                             f"and shape {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ValueError(f"label out of range: ConditionalVAE has {self.n_classes} classes "
                             f"(labels 0..{self.n_classes - 1}), got min {int(y.min())}, "
                             f"max {int(y.max())}")
        return F.one_hot(y.long(), self.n_classes).float()

    def encode(self, x, y=None):
        h = self.encoder(torch.cat([x.flatten(1), self.one_hot(y, len(x)).to(x.device)], 1))
        return self.mu(h), self.logvar(h)

    def decode(self, z, y=None):
        h = torch.cat([z, self.one_hot(y, len(z)).to(z.device)], 1)
        return self.decoder(h).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """Small convolutional critic for the VAE-GAN (chapter 10): image -> one logit
    ("real" > 0)."""

    def __init__(self, channels: tuple[int, int] = (32, 64)):
        super().__init__()
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(c2 * 49, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        return self.net(images).squeeze(1)


class VAEGAN(_Base):
    """A conv VAE plus a discriminator that judges its reconstructions and prior samples
    (chapter 10). ``forward``/``encode``/``decode`` are the VAE's; ``discriminator`` is trained
    by :class:`course_utils.steps.VAEGANStep`."""

    def __init__(self, latent: int = 32, channels: tuple[int, int] = (32, 64), hidden: int = 256,
                 disc_channels: tuple[int, int] = (32, 64)):
        super().__init__()
        self.vae = ConvVAE(latent, channels, hidden)
        self.discriminator = Discriminator(disc_channels)
        self.latent_dim = latent

    def encode(self, x, y=None):
        return self.vae.encode(x)

    def decode(self, z, y=None):
        return self.vae.decode(z)


MODELS = {"ae": AutoEncoder, "fcvae": FCVAE, "convvae": ConvVAE, "modifiedvae": ModifiedVAE,
          "cvae": ConditionalVAE, "vaegan": VAEGAN}


def build(kind: str, **kwargs) -> nn.Module:
    """A chapter-10 model by name: ``ae``, ``fcvae``, ``convvae``, ``modifiedvae``, ``cvae``,
    ``vaegan``; keyword arguments go to its constructor (chapter 10)."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
    return MODELS[kind](**kwargs)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, I))`` per example, summed over latent dimensions
    (chapter 10); zeros when ``logvar`` is ``None`` (plain autoencoder)."""
    if logvar is None:
        return mu.new_zeros(len(mu))
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def reconstruction_error(logits: torch.Tensor, target: torch.Tensor, recon: str = "bce") -> torch.Tensor:
    """Per-example reconstruction term summed over pixels (chapter 10): ``bce`` is the Bernoulli
    negative log-likelihood (cross-entropy, in nats) of ``target`` under ``sigmoid(logits)``;
    ``mse`` is the summed squared error of ``sigmoid(logits)``."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    if recon == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif recon == "mse":
        per_pixel = (torch.sigmoid(logits) - target).pow(2)
    else:
        raise ValueError(f"recon must be 'bce' or 'mse', got {recon!r}")
    return per_pixel.flatten(1).sum(1)


def vae_loss(out: VAEOutput, target: torch.Tensor, recon: str = "bce", beta: float = 1.0) -> dict:
    """The (beta-)VAE objective, averaged over the batch (chapter 10).

    Returns ``{"loss", "recon", "kl"}`` with ``loss = recon + beta * kl``; ``recon`` is the
    per-image reconstruction term (:func:`reconstruction_error`) and ``kl`` the per-image KL
    divergence to the prior. With ``recon="bce"`` and ``beta=1`` the loss is the negative ELBO
    in nats per image.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    r = reconstruction_error(out.logits, target, recon).mean()
    kl = kl_divergence(out.mu, out.logvar).mean()
    return {"loss": r + beta * kl, "recon": r, "kl": kl}


class MeanReconstruction(nn.Module):
    """Wrap a VAE as ``x -> sigmoid(decode(mu(x)))``: a deterministic image-to-image network
    that attribution methods can treat like any model (chapter 10)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.vae.encode(x)
        return torch.sigmoid(self.vae.decode(mu))


def model_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None):
    """``(x, y)`` for a conditional model, ``(x, None)`` for any other (chapter 10)."""
    return (x, y) if getattr(model, "conditional", False) else (x, None)
