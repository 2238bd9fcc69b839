"""A per-cell watchdog for notebook kernels: a cell that runs too long dumps every thread's
Python stack before the executor (papermill, nbval) kills it, so a hang shows where it hung.

Armed on import of ``course_utils`` inside an IPython kernel when ``COURSE_CELL_TIMEOUT``
(seconds) is set, as the batch runner and ``make test`` do; a student's JupyterLab session,
where it is not set, gets no watchdog. The stacks go to ``COURSE_STACK_FILE`` if set, else to
``<results>/stacks/kernel-<pid>.txt``.
"""
from __future__ import annotations

import faulthandler
import os
from pathlib import Path

_armed: dict = {}


def cell_timeout() -> float | None:
    """``COURSE_CELL_TIMEOUT`` in seconds, or None when unset (:func:`config.settings`)."""
    from . import config
    return config.settings().cell_timeout


def stack_file() -> Path:
    """Where a timed-out cell's stacks are written."""
    from . import config
    path = config.settings().stack_file
    return path or config.results_dir() / "stacks" / f"kernel-{os.getpid()}.txt"


def arm(ip=None, timeout: float | None = None) -> bool:
    """Dump all stacks when a cell outlives ``timeout`` minus a 10 % margin (at least 5 s
    before the executor's own timeout). Returns True when armed."""
    if ip is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        ip = get_ipython()
    timeout = cell_timeout() if timeout is None else timeout
    if ip is None or timeout is None or _armed.get("ip") is ip:
        return False
    path = stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    out = open(path, "a")  # kept open for the kernel's life: faulthandler writes to its fd
    after = max(1.0, min(timeout * 0.9, timeout - 5))

    def start(*_):
        faulthandler.dump_traceback_later(after, repeat=False, file=out, exit=False)

    def stop(*_):
        faulthandler.cancel_dump_traceback_later()

    ip.events.register("pre_run_cell", start)
    ip.events.register("post_run_cell", stop)
    _armed.update(ip=ip, file=out, path=path)
    return True
