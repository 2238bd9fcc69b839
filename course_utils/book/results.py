"""Record a chapter's key figures so the batch runner can collect them (chapter 1).

Each notebook calls :func:`begin` once and :func:`record` for every headline number; the
records go to ``<results>/metrics/<notebook>.json`` with the mode, device and time.
"""
from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

from .. import config, timing

_state: dict = {"notebook": None, "start": None, "unmeasured": None}


def _metrics_file(notebook: str) -> Path:
    return config.results_dir() / "metrics" / f"{notebook}.json"


def _hardware() -> str:
    import torch  # here, not at the top: the runner and the book build start without torch

    if torch.cuda.is_available():
        return "GPU: " + torch.cuda.get_device_name(0)
    return f"CPU: {os.cpu_count()} cores ({platform.machine()})"


def begin(notebook: str, data: str | None = None) -> None:
    """Start a fresh record for ``notebook`` (e.g. ``"01_lenet_fashion"``); ``data`` says
    which data the chapter ran on (chapter 1)."""
    _state.update(notebook=notebook, start=time.time(), unmeasured=None)
    timing.reset()
    timing.watch_matplotlib()
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


def record(name: str, value, target: str | None = None, note: str | None = None,
           asserted: bool = False):
    """Store ``value`` under ``name`` for the current notebook and return it (chapter 1).

    ``target`` is a goal such as ``">= 0.89"`` (see :func:`parse_target`), checked by the
    results table; ``asserted`` marks a target that :func:`claim` also asserts.
    """
    notebook = _current()
    target = None if target is None else _target_text(target)
    if hasattr(value, "item"):
        value = value.item()
    path = _metrics_file(notebook)
    payload = json.loads(path.read_text())
    payload["metrics"][name] = {"value": value, "target": target, "note": note, "asserted": asserted,
                                "seconds": round(time.time() - _state["start"], 2)}
    payload["mode"] = config.mode()
    payload["phases"] = timing.totals()
    path.write_text(json.dumps(payload, indent=1))
    return value


OPERATORS = {">=": float.__ge__, "<=": float.__le__, ">": float.__gt__, "<": float.__lt__,
             "==": float.__eq__}
_ALIASES = {"≥": ">=", "≤": "<="}
_TARGET = re.compile(r"\s*(>=|<=|==|≥|≤|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")
_EXPECTED = ("a comparison (>=, ≥, >, <=, ≤, <, ==) and a number, e.g. '>= 0.9', '≥0.9' "
             "or ('>=', 0.9)")


def parse_target(op, number=None) -> tuple[str, float]:
    """``(">=", 0.9)`` from ``">= 0.9"``, ``"≥0.9"``, ``(">=", 0.9)`` or ``op=">=", number=0.9``;
    anything else raises a ValueError that says what is expected (chapter 1)."""
    if isinstance(op, tuple) and number is None and len(op) == 2:
        op, number = op
    if number is None:
        match = _TARGET.fullmatch(op) if isinstance(op, str) else None
        if match is None:
            raise ValueError(f"target {op!r} is not {_EXPECTED}")
        op, number = match.group(1), match.group(2)
    op = _ALIASES.get(op, op)
    if op not in OPERATORS:
        raise ValueError(f"comparison {op!r} is not one of {', '.join(OPERATORS)}, ≥, ≤ (target: {_EXPECTED})")
    if isinstance(number, bool) or not isinstance(number, (int, float, str)):
        raise ValueError(f"target number {number!r} is not a number (target: {_EXPECTED})")
    try:
        bound = float(number)
    except ValueError:
        raise ValueError(f"target number {number!r} is not a number (target: {_EXPECTED})") from None
    if bound != bound:
        raise ValueError(f"target number is NaN (target: {_EXPECTED})")
    return op, bound


def _target_text(target) -> str:
    """A target as stored and shown: ``">= 0.9"`` (the number as written when given as text)."""
    op, bound = parse_target(target)
    number = _TARGET.fullmatch(target).group(2) if isinstance(target, str) else f"{bound:g}"
    return f"{op} {number}"


def meets(value: float, target) -> bool | None:
    """Whether ``value`` satisfies a target like ``">= 0.89"``, ``"≤100"`` or ``("<", 2)``; None if
    no target."""
    if target is None or target == "":
        return None
    op, bound = parse_target(target)
    return OPERATORS[op](float(value), bound)


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
                         "asserted": m.get("asserted"),
                         "data": payload.get("data"), "hardware": payload.get("hardware"), "seconds": m["seconds"]})
    return rows


def unmeasured(data: str | None) -> None:
    """From here on, the current notebook's claims are recorded with their targets but not
    asserted: the chapter runs on ``data`` (say, a real dataset found under the data root), on
    which its targets were never measured. ``None`` asserts them again; :func:`begin` resets it
    (chapter 5)."""
    _current()
    if data is not None and not (isinstance(data, str) and data.strip()):
        raise ValueError(f"unmeasured takes the name of the data (a non-empty string) or None, got {data!r}")
    _state["unmeasured"] = data


def last_runs() -> dict[str, dict]:
    """``<results>/runs.json``, written by the batch runner: each notebook's last run (status,
    mode, seconds, phases, ...); empty before the first run or when the file cannot be read."""
    try:
        return json.loads((config.results_dir() / "runs.json").read_text())
    except (OSError, ValueError):
        return {}


def claim(name: str, value, op, target=None, fast=None, note: str | None = None,
          measured: bool = True):
    """Record ``value`` and assert the chapter's claim about it (chapter 1).

    Typed form: ``claim("acc", acc, ">=", 0.89, fast=(">=", 0.65))``. Short form, as the
    notebooks write it: ``claim("acc", acc, ">= 0.89", ">= 0.65")``, the second target being the
    fast mode's. In full mode ``value`` must meet the target; in fast mode (tiny data, few epochs)
    the fast target (no check when that is None). A miss raises AssertionError, so a notebook that
    no longer shows what its prose says fails the batch run; a malformed target raises ValueError.
    ``measured=False`` (or :func:`unmeasured`) records the value and the target without asserting
    it, with a note saying so: for data on which the target was never measured.
    """
    if target is None or isinstance(target, str):  # short form: op is the whole target
        if fast is not None:
            raise TypeError("claim(name, value, '>= 0.9', '>= 0.5') takes the fast target as its "
                            "fourth argument; pass fast= only with claim(name, value, '>=', 0.9)")
        full, fast = _target_text(op), target
    else:
        full = _target_text((op, target))
    fast = None if fast is None else _target_text(fast)
    active = full if config.mode() == "full" else fast
    other = _state["unmeasured"] or (None if measured else "data other than the one it was set on")
    if other is not None:
        why = f"not asserted: the target was never measured on {other}"
        return record(name, value, target=active, note=f"{note}; {why}" if note else why, asserted=False)
    record(name, value, target=active, note=note, asserted=active is not None)
    if active is not None and not meets(float(value), active):
        raise AssertionError(f"{name} = {value:.4g} does not meet {active} ({config.mode()} mode)")
    return value
