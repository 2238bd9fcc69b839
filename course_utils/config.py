"""Run settings shared by every chapter: mode, seed, device and paths (chapter 1).

Environment overrides:
    COURSE_FAST=1      fast mode (tiny data, few epochs; a whole chapter in under a minute)
    COURSE_DATA        data root (default: ``<repo>/data``)
    COURSE_CACHE       trained-model cache (default: ``<repo>/.cache``)
    COURSE_RESULTS     recorded metrics and executed notebooks (default: ``<repo>/results``)
    COURSE_DEVICE      force a device (``cpu``, ``cuda``, ``mps``)
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def is_fast() -> bool:
    """True when ``COURSE_FAST`` asks for fast mode (chapter 1)."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in _TRUE


FAST = is_fast()


def mode() -> str:
    """``"fast"`` or ``"full"``, as read from the environment now (chapter 1)."""
    return "fast" if is_fast() else "full"


def seed_everything(seed: int = 0) -> int:
    """Seed python, numpy and torch (CPU and CUDA) so reruns repeat (chapter 1)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def device() -> torch.device:
    """The best device available: cuda > mps > cpu, or ``COURSE_DEVICE`` (chapter 1)."""
    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """Folder holding datasets in torchvision's layout (chapter 1)."""
    return _path("COURSE_DATA", REPO_ROOT / "data")


def cache_dir() -> Path:
    """Folder holding trained-model checkpoints (chapter 1)."""
    return _path("COURSE_CACHE", REPO_ROOT / ".cache")


def results_dir() -> Path:
    """Folder holding recorded metrics and executed notebooks (chapter 1)."""
    return _path("COURSE_RESULTS", REPO_ROOT / "results")


def pick(fast_value, full_value):
    """``fast_value`` in fast mode, else ``full_value`` (chapter 1)."""
    return fast_value if is_fast() else full_value


def set_fast(fast: bool) -> bool:
    """Make the mode follow a notebook parameter (papermill ``-p fast True``) (chapter 1)."""
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    return bool(fast)
