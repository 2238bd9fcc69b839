"""Looking Inside Neural Networks: the shared package every chapter imports.

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
