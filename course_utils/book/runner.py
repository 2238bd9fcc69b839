"""Batch execution of the chapters with papermill, and the book build (chapter 1).

``python -m course_utils run`` executes notebooks into ``<results>/executed`` and writes
``<results>/runs.json`` (status, seconds, mode, hardware per notebook); ``python -m
course_utils book`` builds the Jupyter Book from those executed notebooks.
"""
from __future__ import annotations

import ast
import contextlib
import fcntl
import functools
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from .. import config

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
CELL_TIMEOUT = 3600  # seconds one cell may run (full mode trains in single cells: chapter 11's last U-Net about 25 min on 2 cores) before it is stopped
SAVE_EVERY = 10.0   # seconds between saves of a notebook while it runs (and always at its end)
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
        params[key] = _literal(value)
    return params


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_sweeps(specs: list[str]) -> list[dict]:
    """``["hidden_size=32,64", "seed=0,1"]`` -> the product, one dict per setting:
    ``[{"hidden_size": 32, "seed": 0}, {"hidden_size": 32, "seed": 1}, ...]``."""
    axes = {}
    for spec in specs or []:
        key, sep, values = spec.partition("=")
        if not sep or not key or not values.strip(",").strip():
            raise ValueError(f"--sweep {spec!r} is not key=value,value,... (e.g. hidden_size=32,64,128)")
        if key in axes:
            raise ValueError(f"--sweep names {key!r} twice; give all its values in one flag")
        axes[key] = [_literal(v.strip()) for v in values.split(",") if v.strip()]
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] if axes else []


def point_label(point: dict) -> str:
    """A sweep setting as a file-name-safe label: ``{"hidden_size": 64}`` -> ``hidden_size-64``."""
    return ".".join(f"{k}-{re.sub(r'[^A-Za-z0-9_.+-]', '_', str(v))}" for k, v in point.items())


# -- parameters: the notebook's cell says which exist, their types and bounds ------------------

def notebook_parameters(path: Path) -> dict:
    """The notebook's parameters as papermill reads its ``parameters`` cell:
    ``{name: {"inferred_type_name": "Optional[int]", "default": "None", "help": "..."}}``."""
    from papermill.inspection import inspect_notebook
    return inspect_notebook(str(path))


_BOUND = re.compile(r"\((\s*(?:>=|<=|>|<|≥|≤)\s*[-+.\deE]+\s*)\)")


def _fits(value, annotation: str) -> bool:
    """Whether ``value`` has the type an annotation such as ``Optional[list[int]]`` names
    (bool, int, float, str, Optional, list and tuple; other names are not checked)."""
    annotation = annotation.replace(" ", "")
    head, _, inner = annotation.partition("[")
    inner = inner[:-1]
    if head == "Optional":
        return value is None or _fits(value, inner)
    if head in ("list", "tuple"):
        if not isinstance(value, (list, tuple)):
            return False
        parts = _split_types(inner)
        if head == "tuple" and len(parts) > 1:
            return len(value) == len(parts) and all(_fits(v, t) for v, t in zip(value, parts))
        return not parts or all(_fits(v, parts[0]) for v in value)
    kinds = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}
    if head not in kinds:
        return True
    return isinstance(value, kinds[head]) and (head == "bool" or not isinstance(value, bool))


def _split_types(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]] if text else parts


def check_parameters(path: Path, params: dict) -> None:
    """Raise ValueError unless every key of ``params`` is in the notebook's parameters cell, has
    the type the cell declares, and meets the bound its help states, e.g. ``(≥ 1)``."""
    from .results import meets

    known = notebook_parameters(path)
    for key, value in params.items():
        if key not in known:
            raise ValueError(f"{Path(path).stem} has no parameter {key!r}; its parameters are: "
                             + ", ".join(known))
        spec = known[key]
        kind = spec["inferred_type_name"]
        if kind != "None" and not _fits(value, kind):
            raise ValueError(f"{Path(path).stem}: parameter {key} must be {kind} "
                             f"(default {spec['default']}), got {value!r} ({type(value).__name__})")
        bound = _BOUND.search(spec["help"])
        if bound and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and not meets(value, bound.group(1)):
            raise ValueError(f"{Path(path).stem}: parameter {key} must be {bound.group(1).strip()}, "
                             f"got {value!r} ({spec['help']})")


def check_jobs(jobs) -> int:
    """``jobs`` if it is a whole number >= 1, else a ValueError saying so."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs (-j) must be a whole number >= 1, got {jobs!r}")
    return jobs


# -- execution --------------------------------------------------------------------------------

def executed_dir() -> Path:
    return config.results_dir() / "executed"


def sweep_dir(stem: str) -> Path:
    """Where a chapter's sweep points keep their executed notebooks, metrics and runs.json."""
    return config.results_dir() / "sweeps" / stem


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; ``rows`` holds every notebook's outcome so far."""

    def __init__(self, message: str, rows: list[dict]):
        super().__init__(message)
        self.rows = rows


_live_kernels: set = set()   # kernel managers of running notebooks, killed on interrupt
_stop = threading.Event()     # set by the signal handler


def _kernel_manager(env: dict, cwd: str):
    """A kernel manager class that starts the python3 kernel with ``env`` in ``cwd`` and
    registers itself so that an interrupt can kill the kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            kw.update(env=env, cwd=cwd)
            _live_kernels.add(self)
            return await super()._async_pre_start_kernel(**kw)

    return RunKernelManager


def _kill_kernels() -> list[int]:
    killed = []
    for km in list(_live_kernels):
        provisioner = getattr(km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            try:
                os.killpg(getattr(provisioner, "pgid", None) or pid, signal.SIGKILL)
                killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def cell_timeout() -> int:
    """Seconds one cell may run: ``COURSE_CELL_TIMEOUT``, else :data:`CELL_TIMEOUT`."""
    return int(config.settings().cell_timeout or CELL_TIMEOUT)


# chapters that load another chapter's networks from the model cache: with -j > 1 they start
# after it, so that no kernel sits idle on a checkpoint lock (the locks keep them right anyway)
NEEDS = {"03": ("01",), "04": ("01",), "06": ("05",), "07": ("02",), "09": ("08",)}
# seconds per chapter, only used to start the longest work first when no earlier run in this
# results folder says better: fast mode on 2 cores, two at a time (a fresh clone, 2026-12-04);
# full mode at one thread, two at a time on an empty model cache (one make book on a fresh clone
# of 9c9e8ec, 2026-12-07, 2 cores of a Zen 3; the README's table)
TYPICAL_SECONDS = {
    "fast": {"01": 24, "02": 23, "03": 12, "04": 23, "05": 20, "06": 22, "07": 17,
             "08": 48, "09": 38, "10": 42, "11": 19, "12": 24},
    "full": {"01": 1584, "02": 1673, "03": 104, "04": 304, "05": 965, "06": 191, "07": 917,
             "08": 846, "09": 462, "10": 1799, "11": 4340, "12": 1448},
}


def expected_seconds(stems: list[str], fast: bool) -> dict[str, float]:
    """Each chapter's seconds in its last run in this mode (:func:`~course_utils.book.results.last_runs`), else
    :data:`TYPICAL_SECONDS`."""
    from .results import last_runs

    mode = "fast" if fast else "full"
    last, typical, out = last_runs(), TYPICAL_SECONDS[mode], {}
    for stem in stems:
        row = last.get(stem) or {}
        ok = row.get("status") == "pass" and row.get("mode") == mode
        out[stem] = float(row["seconds"]) if ok else float(typical.get(stem[:2], 30))
    return out


def start_order(stems: list[str], seconds: dict[str, float]) -> list[str]:
    """``stems`` longest critical path first: a chapter's own seconds plus the longest chain of
    chapters in ``stems`` that need it (:data:`NEEDS`); ties keep chapter order."""
    def path(stem: str) -> float:
        after = [path(s) for s in stems if stem[:2] in NEEDS.get(s[:2], ())]
        return seconds[stem] + max(after, default=0.0)

    return sorted(stems, key=lambda s: -path(s))


def _ready(stem: str, unfinished: set[str]) -> bool:
    """Whether none of the chapters ``stem`` needs is among the ``unfinished`` stems."""
    waiting_on = {s[:2] for s in unfinished}
    return not any(need in waiting_on for need in NEEDS.get(stem[:2], ()))


def kernel_threads(jobs: int) -> int | None:
    """Threads for each kernel when ``jobs`` run at once: the machine's cores shared out (at
    least 1), so that two kernels do not each start a thread per core; None for one job
    (torch's own default). An ``OMP_NUM_THREADS`` already set wins."""
    return None if jobs <= 1 else max(1, (os.cpu_count() or 1) // jobs)


def _kernel_env(fast: bool, results: Path | None, stacks: Path | None = None,
                threads: int | None = None) -> dict:
    env = dict(os.environ, COURSE_FAST="1" if fast else "0")
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    # a cell that outlives its time dumps every thread's stack to ``stacks`` (course_utils.watchdog)
    env["COURSE_CELL_TIMEOUT"] = str(cell_timeout())
    if stacks is not None:
        env["COURSE_STACK_FILE"] = str(stacks)
    env.setdefault("TQDM_DISABLE", "1")  # progress bars are for people, not for the book
    # the kernel must import this checkout's course_utils (so it writes to the same results
    # folder), not whatever another editable install in the environment points at
    paths = [str(config.REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if results is not None:
        env["COURSE_RESULTS"] = str(results)
    return env


@functools.cache
def _engine() -> str:
    """Register, once, and name papermill's nbclient engine with fewer saves: papermill writes
    the whole executed notebook before and after every cell (1-2 s per chapter for notebooks of
    a few MB); this one writes it at most every :data:`SAVE_EVERY` seconds, and at the end."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class Manager(NotebookExecutionManager):
        saved_at = float("-inf")

        def save(self, **kwargs):
            if time.monotonic() - self.saved_at >= SAVE_EVERY:
                super().save(**kwargs)
                self.saved_at = time.monotonic()

        def notebook_complete(self, **kwargs):
            self.saved_at = float("-inf")         # the last save always happens
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=30, **kwargs):
            manager = Manager(nb, output_path=output_path, progress_bar=progress_bar,
                              log_output=log_output, autosave_cell_every=autosave_cell_every)
            manager.notebook_start()
            try:
                cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
            finally:
                manager.cleanup_pbar()
                manager.notebook_complete()
            return manager.nb

    papermill_engines.register("course", Engine)
    return "course"


def _execute(path: str, out: str, params: dict, fast: bool, results: str | None = None,
             threads: int | None = None) -> dict:
    """Run one notebook into ``out`` (written under a temporary name and renamed when the run
    ends, so an interrupted run leaves no executed notebook); ``results`` redirects its metrics.
    The kernel is stopped at once when the last cell has run: every output is in by then, and
    a graceful stop of a kernel that imported torch took 1.1 s more per chapter."""
    import logging

    import papermill as pm

    logging.getLogger("papermill").setLevel(logging.ERROR)
    out = Path(out)
    partial = out.parent / ".partial" / out.name
    partial.parent.mkdir(parents=True, exist_ok=True)
    row = {"notebook": Path(path).stem, "status": "pass", "seconds": 0.0,
           "mode": "fast" if fast else "full", "error": None, "parameters": params}
    stacks = Path(results or config.results_dir()) / "stacks" / f"{Path(path).stem}.txt"
    stacks.parent.mkdir(parents=True, exist_ok=True)
    stacks.write_text("")
    start = time.time()
    try:
        if _stop.is_set():
            raise RuntimeError("not started: the run was interrupted")
        env = _kernel_env(fast, Path(results) if results else None, stacks, threads)
        km_class = _kernel_manager(env, str(NOTEBOOK_DIR))
        pm.execute_notebook(path, str(partial), parameters=dict(params, fast=fast), kernel_name="python3",
                            engine_name=_engine(), kernel_manager_class=km_class, progress_bar=False,
                            log_output=False, execution_timeout=cell_timeout(),
                            shutdown_kernel="immediate")
    except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
        row.update(status="fail", error=f"{type(err).__name__}: {str(err).strip()[-2000:]}")
        dumped = stacks.read_text().strip()
        if dumped:
            row["error"] += f"\n--- the kernel's stacks when its cell timed out ({stacks}) ---\n{dumped[-6000:]}"
    if _stop.is_set() and row["status"] != "pass":
        row.update(status="interrupted", error="stopped by a signal before it finished")
        partial.unlink(missing_ok=True)
    elif partial.exists():
        os.replace(partial, out)
    record = _record(Path(results or config.results_dir()), Path(path).stem, since=start)
    row.update(seconds=round(time.time() - start, 1), finished=time.strftime("%Y-%m-%d %H:%M:%S"),
               phases=record.get("phases", {}), hardware=record.get("hardware"))
    return row


def _record(results: Path, stem: str, since: float) -> dict:
    """What the notebook's own record kept (seconds per phase, the hardware it ran on), if this
    run wrote it (at or after ``since``); else nothing."""
    path = results / "metrics" / f"{stem}.json"
    try:
        if path.stat().st_mtime < since - 1:   # an older run's record: this run failed before begin
            return {}
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _hardware() -> str:
    """The hardware, for a notebook that recorded none (one that failed before ``begin``).
    The notebooks record it themselves, so a run where all of them did never imports torch here."""
    from .results import _hardware as hw
    return hw()


@contextlib.contextmanager
def _lock(name: str, wait: bool = False):
    """Hold ``<results>/locks/<name>.lock``; if another process holds it, say who (or wait)."""
    folder = config.results_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise ValueError(f"{name} is already being run by {holder} (lock {path}); wait for that "
                             f"run to finish, or stop it, then try again") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}")
        fh.flush()
        try:
            yield path
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_json(path: Path, update: dict) -> None:
    """Merge ``update`` into the JSON object in ``path``, atomically and under a lock."""
    with _lock(path.stem + "-file", wait=True):
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(update)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(current, indent=1))
        os.replace(tmp, path)


@contextlib.contextmanager
def _signals_stop_the_run():
    """While running, SIGINT and SIGTERM kill the notebooks' kernels and mark the run stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()

    def handler(signum, frame):
        _stop.signame = signal.Signals(signum).name
        _stop.set()
        _kill_kernels()

    before = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def run(names: list[str] | None = None, fast: bool = False, params: dict | None = None,
        jobs: int = 1, sweep: list[dict] | None = None) -> list[dict]:
    """Execute the chosen notebooks, ``jobs`` at a time, and record their status in
    ``<results>/runs.json``; returns one row per notebook. With ``sweep`` (settings from
    :func:`parse_sweeps`) each notebook runs once per setting, into ``sweep_dir(notebook)``.

    Parameters are checked against each notebook's parameters cell first; a chapter that another
    run holds is refused; SIGINT or SIGTERM stops the kernels and raises :class:`Interrupted`."""
    check_jobs(jobs)
    paths = select(names)
    params = params or {}
    tasks = []
    for p in paths:
        for point in sweep or [None]:
            setting = dict(params, **(point or {}))
            check_parameters(p, setting)
            if point is None:
                tasks.append((p, None, (str(p), str(executed_dir() / p.name), setting, fast)))
            else:
                folder, label = sweep_dir(p.stem), point_label(point)
                tasks.append((p, point, (str(p), str(folder / "executed" / f"{p.stem}.{label}.ipynb"),
                                         setting, fast, str(folder / label))))
    with contextlib.ExitStack() as held:
        for p in paths:
            held.enter_context(_lock(p.stem))
        for _, _, args in tasks:
            Path(args[1]).parent.mkdir(parents=True, exist_ok=True)
        with _signals_stop_the_run():
            rows = _dispatch(tasks, jobs, fast)
        main, sweeps = {}, {}
        for (p, point, _), row in zip(tasks, rows):
            row["hardware"] = row.get("hardware") or _hardware()
            if point is None:
                main[row["notebook"]] = row
            else:
                row["sweep"] = point
                sweeps.setdefault(p.stem, {})[point_label(point)] = row
        if main:
            _write_json(config.results_dir() / "runs.json", main)
        for stem, points in sweeps.items():
            _write_json(sweep_dir(stem) / "runs.json", points)
    if _stop.is_set():
        stopped = [r["notebook"] + (f" [{point_label(r['sweep'])}]" if r.get("sweep") else "")
                   for r in rows if r["status"] == "interrupted"]
        raise Interrupted(f"{getattr(_stop, 'signame', 'signal')}: stopped {', '.join(stopped) or 'nothing'}"
                          f" (kernels killed; no executed notebook written for them; recorded as "
                          f"'interrupted' in runs.json)", rows)
    return rows


def _dispatch(tasks: list, jobs: int, fast: bool) -> list[dict]:
    """Execute ``tasks`` (notebook, sweep point, arguments), ``jobs`` at a time, and return
    their rows in task order. One job: chapter order. More: a chapter starts once the chapters
    it needs (:data:`NEEDS`) have finished, the longest critical path first (:func:`start_order`)."""
    stems = [Path(p).stem for p, _, _ in tasks]
    if jobs > 1:
        rank = {s: i for i, s in enumerate(start_order(list(dict.fromkeys(stems)),
                                                       expected_seconds(stems, fast)))}
        pending = sorted(range(len(tasks)), key=lambda i: rank[stems[i]])
    else:
        pending = list(range(len(tasks)))
    rows, running = [None] * len(tasks), {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            unfinished = {stems[i] for i in pending} | {stems[i] for i in running.values()}
            while pending and len(running) < jobs:
                ready = [i for i in pending if _ready(stems[i], unfinished - {stems[i]})]
                if not ready and running:
                    break
                i = (ready or pending)[0]
                pending.remove(i)
                running[pool.submit(_execute, *tasks[i][2], threads=kernel_threads(jobs))] = i
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                rows[running.pop(future)] = future.result()
    return rows


def sweep_table(name: str) -> list[dict]:
    """One row per sweep setting and metric of a chapter's sweeps: the swept values as columns,
    then status, name, value, target, met (chapter 1)."""
    from .results import load_all

    stem = select([name])[0].stem
    runs_file = sweep_dir(stem) / "runs.json"
    if not runs_file.exists():
        raise ValueError(f"no sweep recorded for {stem}; run `python -m course_utils run {stem[:2]} "
                         f"--sweep key=v1,v2`")
    rows = []
    for label, run_row in json.loads(runs_file.read_text()).items():
        point = run_row["sweep"]
        metrics = load_all(sweep_dir(stem) / label) or [{}]
        for m in metrics:
            rows.append({**point, "status": run_row["status"], "mode": run_row["mode"],
                         **{k: m.get(k) for k in ("name", "value", "target", "met")}})
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
    from .pages import book_chapter, write_generated_pages
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
