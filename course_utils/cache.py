"""Train once, reuse everywhere: checkpoints keyed by a hash of the config (chapter 1).

A checkpoint holds the weights, the :class:`~course_utils.train.History` (with any epoch
snapshots) and the config. It is written to a temporary file and renamed into place, so an
interrupted run never leaves a half-written checkpoint behind; a run that failed (an error in
training, non-finite weights) saves nothing; a checkpoint that cannot be loaded is moved
aside (named in a warning) and the model retrained.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from . import config as _config
from .train import History


def config_key(name: str, cfg: dict) -> str:
    """Stable short hash of a model name and its config (any JSON-able dict)."""
    blob = json.dumps({"name": name, "config": cfg}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def checkpoint_path(name: str, cfg: dict) -> Path:
    """Where the checkpoint for ``name`` with ``cfg`` lives in the cache folder."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return _config.cache_dir() / f"{safe}-{config_key(name, cfg)}.pt"


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of ``path`` left by a process that was killed while saving."""
    for tmp in path.parent.glob(path.name + ".*.tmp"):
        pid = tmp.name[len(path.name) + 1:].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass        # alive, someone else's


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder (named with our pid), then rename over
    ``path``; temp files of killed saves are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def move_aside(path: Path) -> Path:
    """Rename a bad checkpoint to ``<name>.corrupt-<time>`` (kept for inspection); its new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, k = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while dest.exists():
        dest, k = path.with_name(f"{path.name}.corrupt-{stamp}-{k}"), k + 1
    os.replace(path, dest)
    return dest


@contextlib.contextmanager
def exclusive(path: Path, name: str):
    """Hold a lock on ``path``'s checkpoint while it is loaded or trained, so that two
    processes (two open notebooks, ``run -j 2``) never train the same network at once: the
    second waits, then loads what the first saved. The lock goes with its process, so a killed
    run leaves none behind (no lock where ``fcntl`` is missing, as on Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process that is training {name!r} ({path.name})", flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(path: Path, model: nn.Module, map_location):
    """Load the checkpoint at ``path`` into ``model``; its history."""
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    history = ckpt["history"]
    if isinstance(history, dict) and ckpt.get("history_type") == "History":
        snaps = history.pop("snapshots", {})
        history = History.from_dict(history)
        history.snapshots = snaps
    return history


def train_or_load(name: str, cfg: dict, build: Callable[[], nn.Module],
                  train_fn: Callable[[nn.Module], History | dict], force: bool | None = None,
                  map_location="cpu") -> tuple[nn.Module, History | dict]:
    """Return ``(model, history)`` for ``name`` trained with ``cfg``: from the cache when a
    checkpoint with the same config exists, else by ``build()`` + ``train_fn(model)`` and then
    saved (chapter 1). The model comes back in eval mode on :func:`config.device`.

    ``cfg`` must hold everything that changes the result (data size, epochs, lr, seed...).
    Seeds with ``cfg["seed"]`` (default 0) before ``build()``.
    ``force=True`` (or ``COURSE_RETRAIN=1``) retrains and overwrites. ``train_fn`` may return
    a :class:`History` or any picklable dict of curves. A checkpoint that fails to load is
    moved aside (:func:`move_aside`, with a warning) and the model retrained; nothing is saved
    when ``train_fn`` raises or leaves non-finite weights. A second process asking for the
    same checkpoint meanwhile waits for it (:func:`exclusive`) instead of training it again.
    """
    force = _config.settings().retrain if force is None else force
    path = checkpoint_path(name, cfg)
    with exclusive(path, name):
        return _train_or_load(name, cfg, path, build, train_fn, force, map_location)


def _train_or_load(name, cfg, path, build, train_fn, force, map_location):
    _config.seed_everything(int(cfg.get("seed", 0)))  # the initial weights depend on the seed too
    model = build()
    if path.exists() and not force:
        try:
            history = _load(path, model, map_location)
        except Exception as e:  # a truncated or foreign file: keep it aside, train afresh
            try:
                where = f"moved it to {move_aside(path)}"
            except FileNotFoundError:
                where = "another run moved it aside"
            warnings.warn(f"checkpoint {path} could not be loaded ({type(e).__name__}: "
                          f"{str(e)[:200]}); {where} and retraining {name!r}", stacklevel=2)
            _config.seed_everything(int(cfg.get("seed", 0)))
            model = build()
        else:
            return model.to(_config.device()).eval(), history
    history = train_fn(model)      # an error here propagates: nothing is saved
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise FloatingPointError(f"training {name!r} left non-finite weights in {bad[:5]}; "
                                 f"not saving a checkpoint")
    payload = history
    if isinstance(history, History):
        payload = dict(history.to_dict(), snapshots=history.snapshots)
    atomic_save({"state_dict": state, "history": payload,
                 "history_type": "History" if isinstance(history, History) else "dict",
                 "config": cfg, "name": name}, path)
    return model.to(_config.device()).eval(), history


def load_snapshot(model: nn.Module, history: History, epoch: int) -> nn.Module:
    """Load the weights saved after ``epoch`` into ``model`` (chapters 6 and 8)."""
    if epoch not in history.snapshots:
        raise KeyError(f"no snapshot for epoch {epoch}; saved: {sorted(history.snapshots)}")
    model.load_state_dict(history.snapshots[epoch])
    return model.eval()
