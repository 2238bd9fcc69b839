"""Batch execution of the chapters with papermill, and the book build (chapter 1).

``python -m course_utils run`` executes notebooks into ``<results>/executed`` and writes
``<results>/runs.json`` (status, seconds, mode, hardware per notebook); ``python -m
course_utils book`` builds the Jupyter Book from those executed notebooks.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import config

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
CELL_TIMEOUT = 1800  # seconds one cell may run (full mode trains in single cells) before it is stopped
BOOK_DIR = config.REPO_ROOT / "book"


def notebooks() -> list[Path]:
    """Every chapter notebook, in chapter order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def select(names: list[str] | None) -> list[Path]:
    """Notebooks matching ``names`` (a chapter number like ``7``/``07``, or part of the stem)."""
    every = notebooks()
    if not names:
        return every
    chosen = []
    for name in names:
        key = name.removesuffix(".ipynb").removesuffix(".py")
        hits = [p for p in every if p.stem.startswith(f"{int(key):02d}_")] if key.isdigit() else \
            [p for p in every if key in p.stem]
        if not hits:
            raise SystemExit(f"no notebook matches {name!r}; available: {[p.stem for p in every]}")
        chosen += [p for p in hits if p not in chosen]
    return chosen


def parse_parameters(pairs: list[str]) -> dict:
    """``["cell=gru", "hidden=64"]`` -> ``{"cell": "gru", "hidden": 64}`` (Python literals)."""
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"parameter {pair!r} is not key=value")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def executed_dir() -> Path:
    return config.results_dir() / "executed"


def _execute(path: str, out: str, params: dict, fast: bool) -> dict:
    import logging

    import papermill as pm

    # papermill cannot infer the type of `fast = cu.config.is_fast()` and says so for every
    # notebook; the injected value still wins, so keep only real errors
    logging.getLogger("papermill").setLevel(logging.ERROR)

    os.environ["COURSE_FAST"] = "1" if fast else "0"
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are for people, not for the book
    # the kernel must import this checkout's course_utils (so it writes to the same results
    # folder), not whatever another editable install in the environment points at
    paths = [str(config.REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # a cell that outlives its time dumps every thread's stack there (course_utils.watchdog)
    timeout = int(os.environ.get("COURSE_CELL_TIMEOUT") or CELL_TIMEOUT)
    stacks = config.results_dir() / "stacks" / f"{Path(path).stem}.txt"
    stacks.parent.mkdir(parents=True, exist_ok=True)
    stacks.write_text("")
    os.environ.update(COURSE_CELL_TIMEOUT=str(timeout), COURSE_STACK_FILE=str(stacks))
    start = time.time()
    status, error = "pass", None
    try:
        pm.execute_notebook(path, out, parameters=dict(params, fast=fast), kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False,
                            execution_timeout=timeout)
    except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
        status, error = "fail", f"{type(err).__name__}: {str(err).strip()[-2000:]}"
        dumped = stacks.read_text().strip()
        if dumped:
            error += f"\n--- stacks of the kernel when its cell timed out ({stacks}) ---\n{dumped[-6000:]}"
    return {"notebook": Path(path).stem, "status": status, "seconds": round(time.time() - start, 1),
            "mode": "fast" if fast else "full", "error": error, "parameters": params,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def _hardware() -> str:
    from .results import _hardware as hw
    return hw()


def run(names: list[str] | None = None, fast: bool = False, params: dict | None = None,
        jobs: int = 1) -> list[dict]:
    """Execute the chosen notebooks (in parallel processes when ``jobs > 1``) and record
    their status in ``<results>/runs.json``; returns one row per notebook."""
    paths = select(names)
    out_dir = executed_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [(str(p), str(out_dir / p.name), params or {}, fast) for p in paths]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(_execute, *zip(*args)))
    else:
        rows = [_execute(*a) for a in args]
    runs_file = config.results_dir() / "runs.json"
    runs = json.loads(runs_file.read_text()) if runs_file.exists() else {}
    hardware = _hardware()
    for row in rows:
        row["hardware"] = hardware
        runs[row["notebook"]] = row
    runs_file.write_text(json.dumps(runs, indent=1))
    return rows


def build_book(strict: bool = True) -> Path:
    """Copy the executed notebooks into ``book/chapters`` and build the HTML book (fails on
    warnings when ``strict``). Every chapter in the table of contents must have been executed."""
    chapters = BOOK_DIR / "chapters"
    missing = [p.stem for p in notebooks() if not (executed_dir() / p.name).exists()]
    if missing:
        raise SystemExit(f"not executed yet: {missing}; run `python -m course_utils run` first")
    if chapters.exists():
        shutil.rmtree(chapters)
    chapters.mkdir(parents=True)
    from .bookpages import book_chapter, write_generated_pages
    for p in notebooks():
        book_chapter(executed_dir() / p.name, chapters / p.name)
    write_generated_pages(BOOK_DIR)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", "--all", str(BOOK_DIR),
           "--path-output", str(BOOK_DIR)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    result = subprocess.run(cmd, env=env)
    if result.returncode != 0:
        raise SystemExit(f"book build failed (exit {result.returncode})")
    return BOOK_DIR / "_build" / "html"
