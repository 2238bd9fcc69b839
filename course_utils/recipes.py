"""What to train, once: a recipe's config is its checkpoint key, and train-or-load runs through
:func:`course_utils.cache.train_or_load` (chapters 10 and 11)."""
from __future__ import annotations

import hashlib

import torch

from . import cache, config
from .data import TensorData
from .models import vae as V
from .models.fcn import build_fcn
from .train import fit
from .train_vae import fit_vae, fit_vaegan


def fcn_config(encoder: str, head: str, train: TensorData, epochs: int, lr: float,
               batch_size: int, seed: int, optimizer: str = "adam", scheduler: str | None = "cosine",
               **fcn_kw) -> dict:
    """Everything that changes a trained FCN, as the cache key of :func:`train_fcn` (chapter 11)."""
    return {"encoder": encoder, "head": head, "data": train.name, "n_train": len(train),
            "canvas": train.info.get("canvas"), "items": list(train.info.get("items", ())),
            "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
            "optimizer": optimizer, "scheduler": scheduler, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in fcn_kw.items()}}


def train_fcn(encoder: str, head: str, train: TensorData, test: TensorData | None, epochs: int,
              lr: float = 2e-3, batch_size: int = 32, seed: int = 0, optimizer: str = "adam",
              scheduler: str | None = "cosine", progress: bool = True, **fcn_kw):
    """Train (or fetch from the cache) an FCN on label-map data; returns ``(model, history)``
    with per-pixel loss and accuracy curves (chapter 11)."""
    cfg = fcn_config(encoder, head, train, epochs, lr, batch_size, seed, optimizer, scheduler, **fcn_kw)

    def build():
        torch.manual_seed(seed)
        return build_fcn(encoder, head, num_classes=len(train.classes),
                         in_channels=train.images.shape[1], **fcn_kw)

    return cache.train_or_load(
        f"ch11-fcn-{encoder}-{head}", cfg, build,
        lambda model: fit(model, train, test, epochs=epochs, optimizer=optimizer, lr=lr,
                          scheduler=scheduler, batch_size=batch_size, seed=seed, progress=progress,
                          desc=f"{encoder} {head}"))


def data_fingerprint(data: TensorData) -> str:
    """Short hash of a dataset's images and labels, so a cache key changes with the data."""
    h = hashlib.sha1()
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return h.hexdigest()[:12]


def train_or_load_vae(name: str, kind: str, train: TensorData, test: TensorData | None = None,
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
