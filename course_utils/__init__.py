"""Looking Inside Neural Networks: the shared package every chapter imports.

Two paths. The library a notebook imports, lowest layer first (``tests/unit/test_layout.py``
holds the order: no import runs back up, none runs in a circle):

- ``config``     one frozen settings object from the environment (``config.settings()``); ``watchdog``
- ``data/``      datasets by name as tensors, batches, augmentations, generated scenes, fetch
- ``plots``      figures of tensors (it needs only data's helpers, so it sits low)
- ``models/``    plain ``nn.Module`` networks, built by name (``models.build``)
- ``train``, ``steps``, ``cache``, ``features``, ``metrics``: the one training loop and its
  steps (classification; VAE and VAE-GAN), checkpoints, activations through hooks, scores
- ``recipes``    what to train: a recipe is its own checkpoint key; the one train-or-load
- ``embed/``, ``explain/``: looking inside (PCA and t-SNE; attributions)

The book tooling, ``book/``: runner, results and claims, pages, the CLI (``python -m course_utils``).
It is a subpackage rather than a sibling package so that one editable install, one version and
``python -m course_utils`` keep working; the library never imports it. ``cu.results`` (what a
chapter records and claims) lives there, and is reached from here for the notebooks.

Submodules load on first use (``cu.data``, ``cu.plots``, ...), so the command line and
``make data`` start in a second instead of importing every library up front.
"""
from __future__ import annotations

import importlib
import importlib.util

from . import watchdog as _watchdog

__version__ = "0.1.0"
_FROM_CONFIG = {"seed_everything", "device"}
_MOVED = {"results": ".book.results"}  # notebooks write cu.results.record(...): the book's record


def __getattr__(name: str):
    if name == "FAST":  # looked up each time, so it follows config.set_fast
        return importlib.import_module(".config", __name__).is_fast()
    if name in _MOVED:
        return importlib.import_module(_MOVED[name], __name__)
    if name in _FROM_CONFIG:
        return getattr(importlib.import_module(".config", __name__), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)       # cu.data, cu.plots, ...
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


_watchdog.arm()  # only inside a notebook kernel with COURSE_CELL_TIMEOUT set
