"""Where a chapter's time goes: seconds spent in each phase (data, training, evaluation,
attribution, embedding, plotting), summed over the process (chapter 1).

The package's entry points are wrapped with :func:`timed`; a phase called inside another
(the data a recipe loads before training) counts for the outer one, so the phases never
overlap and their sum is at most the wall time. The results record keeps the totals beside a
chapter's numbers, and the runner's table shows them.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PHASES = ("data", "training", "evaluation", "attribution", "embedding", "plotting")
_totals = dict.fromkeys(PHASES, 0.0)
_open: list[str] = []


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time of the ``with`` block for phase ``name`` (unless a phase is already open)."""
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}; expected one of {list(PHASES)}")
    if _open:
        yield
        return
    _open.append(name)
    start = time.perf_counter()
    try:
        yield
    finally:
        _open.pop()
        _totals[name] += time.perf_counter() - start


def timed(name: str) -> Callable:
    """Decorator: every call of the function counts for phase ``name``."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with phase(name):
                return fn(*args, **kwargs)
        return inner
    return wrap


def totals() -> dict[str, float]:
    """Seconds per phase so far, rounded to 0.1 s."""
    return {k: round(v, 1) for k, v in _totals.items()}


def reset() -> None:
    """Start counting from zero (a chapter's first cell)."""
    for k in _totals:
        _totals[k] = 0.0


def watch_matplotlib() -> None:
    """Count figure rendering (the inline backend's PNGs, ``savefig``) as plotting time."""
    from matplotlib.backend_bases import FigureCanvasBase

    if not getattr(FigureCanvasBase.print_figure, "_timed", False):
        FigureCanvasBase.print_figure = timed("plotting")(FigureCanvasBase.print_figure)
        FigureCanvasBase.print_figure._timed = True
