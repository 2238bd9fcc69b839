"""Looking Inside Neural Networks: the shared package every chapter imports."""
from . import config, data, train, cache, features, plots, results  # noqa: F401
from .config import FAST, seed_everything, device  # noqa: F401
from . import watchdog as _watchdog

_watchdog.arm()  # only inside a notebook kernel with COURSE_CELL_TIMEOUT set

__version__ = "0.1.0"
