"""Record a chapter's key figures so the batch runner can collect them (chapter 1).

Each notebook calls :func:`begin` once and :func:`record` for every headline number; the
records go to ``<results>/metrics/<notebook>.json`` with the mode, device and time.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from . import config

_state: dict = {"notebook": None, "start": None}


def _metrics_file(notebook: str) -> Path:
    return config.results_dir() / "metrics" / f"{notebook}.json"


def _hardware() -> str:
    if torch.cuda.is_available():
        return "GPU: " + torch.cuda.get_device_name(0)
    return f"CPU: {os.cpu_count()} cores ({platform.machine()})"


def begin(notebook: str, data: str | None = None) -> None:
    """Start a fresh record for ``notebook`` (e.g. ``"01_lenet_fashion"``); ``data`` says
    which data the chapter ran on (chapter 1)."""
    _state.update(notebook=notebook, start=time.time())
    path = _metrics_file(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": notebook, "mode": config.mode(), "hardware": _hardware(),
               "data": data, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "metrics": {}}
    path.write_text(json.dumps(payload, indent=1))


def data_used(description: str) -> str:
    """Record which data the current notebook actually ran on, e.g. a stand-in (chapter 5)."""
    path = _metrics_file(_current())
    payload = json.loads(path.read_text())
    payload["data"] = description
    path.write_text(json.dumps(payload, indent=1))
    return description


def _current() -> str:
    if _state["notebook"] is None:
        raise RuntimeError("call course_utils.results.begin('<notebook name>') first")
    return _state["notebook"]


def record(name: str, value, target: str | None = None, note: str | None = None):
    """Store ``value`` under ``name`` for the current notebook and return it (chapter 1).

    ``target`` is a human-readable goal such as ``">= 0.89"``, checked by the results table.
    """
    notebook = _current()
    if hasattr(value, "item"):
        value = value.item()
    path = _metrics_file(notebook)
    payload = json.loads(path.read_text())
    payload["metrics"][name] = {"value": value, "target": target, "note": note,
                                "seconds": round(time.time() - _state["start"], 2)}
    payload["mode"] = config.mode()
    path.write_text(json.dumps(payload, indent=1))
    return value


def meets(value: float, target: str | None) -> bool | None:
    """Whether ``value`` satisfies a target like ``">= 0.89"`` or ``"<= 100"``; None if no target."""
    if not target:
        return None
    op, _, number = target.strip().partition(" ")
    bound = float(number)
    return {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound}[op]


def load_all(root: Path | None = None) -> list[dict]:
    """Every recorded metric as rows: notebook, name, value, target, met, mode, data, seconds."""
    folder = (root or config.results_dir()) / "metrics"
    rows = []
    for path in sorted(folder.glob("*.json")):
        payload = json.loads(path.read_text())
        for name, m in payload["metrics"].items():
            value = m["value"]
            met = meets(value, m.get("target")) if isinstance(value, (int, float)) else None
            rows.append({"notebook": payload["notebook"], "name": name, "value": value,
                         "target": m.get("target"), "met": met, "mode": payload["mode"],
                         "data": payload.get("data"), "hardware": payload.get("hardware"), "seconds": m["seconds"]})
    return rows


def claim(name: str, value, target: str, fast_target: str | None = None, note: str | None = None):
    """Record ``value`` and assert the chapter's claim about it (chapter 1).

    In full mode ``value`` must meet ``target``; in fast mode (tiny data, few epochs) it must
    meet the looser ``fast_target`` (no check when that is None). A miss raises, so a notebook
    that no longer shows what its prose says fails the batch run.
    """
    active = target if config.mode() == "full" else fast_target
    record(name, value, target=active, note=note)
    if active is not None and not meets(float(value), active):
        raise AssertionError(f"{name} = {value:.4g} does not meet {active} ({config.mode()} mode)")
    return value
