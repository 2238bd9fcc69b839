"""Run settings shared by every chapter: one frozen :class:`Settings`, fetched with
:func:`settings` (chapter 1).

The settings are read from the environment once (and again only if a ``COURSE_*`` variable
changes); the command line and a notebook's ``fast`` parameter override them in this process
(:func:`override`, :func:`set_fast`). Nothing here writes to ``os.environ``. Every variable is
parsed one way, and a bad value is a ``ValueError`` that names the variable and what it expects:

=====================  ===================================================  ====================
variable               meaning                                              default
=====================  ===================================================  ====================
COURSE_FAST            fast mode: tiny data, few epochs (1/0, true/false)    0
COURSE_RETRAIN         retrain even when a checkpoint is cached (1/0, ...)   0
COURSE_DATA            data root, torchvision's layout                      ``<repo>/data``
COURSE_CACHE           trained-model checkpoints                            ``<repo>/.cache``
COURSE_RESULTS         recorded metrics and executed notebooks              ``<repo>/results``
COURSE_DEVICE          force a torch device (cpu, cuda, cuda:1, mps)         best available
COURSE_CELL_TIMEOUT    seconds a notebook cell may run (watchdog, runner)    unset
COURSE_STACK_FILE      where a timed-out cell's stacks go                   ``<results>/stacks``
=====================  ===================================================  ====================
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValueError(f"{name} must be 1/0 (or true/false, yes/no, on/off), got {raw!r}")


def _path(raw: str, default: Path) -> Path:
    return Path(raw).expanduser().resolve() if raw.strip() else default


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser().resolve() if raw.strip() else None


def _device(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    import torch  # here, not at the top: the command line starts without torch

    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name} must be a torch device such as cpu, cuda, cuda:1 or mps, "
                         f"got {raw!r}") from None
    return value


def _seconds(name: str, raw: str) -> float | None:
    value = raw.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not seconds > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {raw!r}")
    return seconds


@dataclass(frozen=True)
class Settings:
    """Everything a run is configured by; see the module docstring for the variables."""
    fast: bool = False
    retrain: bool = False
    data: Path = REPO_ROOT / "data"
    cache: Path = REPO_ROOT / ".cache"
    results: Path = REPO_ROOT / "results"
    device: str | None = None
    cell_timeout: float | None = None
    stack_file: Path | None = None

    @classmethod
    def from_env(cls, env=None) -> Settings:
        """Parse the ``COURSE_*`` variables of ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "")

        return cls(fast=_flag("COURSE_FAST", get("COURSE_FAST")),
                   retrain=_flag("COURSE_RETRAIN", get("COURSE_RETRAIN")),
                   data=_path(get("COURSE_DATA"), cls.data),
                   cache=_path(get("COURSE_CACHE"), cls.cache),
                   results=_path(get("COURSE_RESULTS"), cls.results),
                   device=_device("COURSE_DEVICE", get("COURSE_DEVICE")),
                   cell_timeout=_seconds("COURSE_CELL_TIMEOUT", get("COURSE_CELL_TIMEOUT")),
                   stack_file=_optional_path(get("COURSE_STACK_FILE")))


VARIABLES = ("COURSE_FAST", "COURSE_RETRAIN", "COURSE_DATA", "COURSE_CACHE", "COURSE_RESULTS",
             "COURSE_DEVICE", "COURSE_CELL_TIMEOUT", "COURSE_STACK_FILE")
_read: dict = {}       # {"env": the variables' values, "settings": Settings parsed from them}
_overrides: dict = {}  # fields set in this process (command line, a notebook's ``fast``)


def settings() -> Settings:
    """The run's settings: the environment's, with this process's overrides on top."""
    env = tuple(os.environ.get(name) for name in VARIABLES)
    if _read.get("env") != env:
        _read.update(env=env, settings=Settings.from_env())
    return dataclasses.replace(_read["settings"], **_overrides) if _overrides else _read["settings"]


def override(**fields) -> Settings:
    """Set settings for this process only (the CLI's ``--fast``, a notebook's ``fast``)."""
    unknown = set(fields) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; expected some of "
                         f"{[f.name for f in dataclasses.fields(Settings)]}")
    _overrides.update(fields)
    return settings()


def clear_overrides() -> None:
    """Forget every :func:`override`: the settings follow the environment again."""
    _overrides.clear()


def is_fast() -> bool:
    """True in fast mode (chapter 1)."""
    return settings().fast


def __getattr__(name: str):
    if name == "FAST":  # looked up each time, so it follows set_fast
        return is_fast()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mode() -> str:
    """``"fast"`` or ``"full"`` (chapter 1)."""
    return "fast" if is_fast() else "full"


def seed_everything(seed: int = 0) -> int:
    """Seed python, numpy and torch (CPU and CUDA) so reruns repeat (chapter 1)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def device() -> torch.device:
    """The best device available: cuda > mps > cpu, or ``COURSE_DEVICE`` (chapter 1)."""
    import torch

    forced = settings().device
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def data_root() -> Path:
    """Folder holding datasets in torchvision's layout (chapter 1)."""
    return settings().data


def cache_dir() -> Path:
    """Folder holding trained-model checkpoints (chapter 1)."""
    return settings().cache


def results_dir() -> Path:
    """Folder holding recorded metrics and executed notebooks (chapter 1)."""
    return settings().results


def pick(fast_value, full_value):
    """``fast_value`` in fast mode, else ``full_value`` (chapter 1)."""
    return fast_value if is_fast() else full_value


def set_fast(fast: bool) -> bool:
    """Make the mode follow a notebook parameter (papermill ``-p fast True``) in this process;
    the environment is left as it is (chapter 1)."""
    override(fast=bool(fast))
    return bool(fast)
