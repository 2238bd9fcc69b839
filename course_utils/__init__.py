"""Looking Inside Neural Networks: the shared package every chapter imports."""
from . import config, data, train, cache, features, plots, results  # noqa: F401
from .config import FAST, seed_everything, device  # noqa: F401

__version__ = "0.1.0"
