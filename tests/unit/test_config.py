import random

import numpy as np
import torch

from course_utils import config


def test_fast_mode_follows_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.is_fast() and config.mode() == "fast" and config.pick("a", "b") == "a"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not config.is_fast() and config.mode() == "full" and config.pick("a", "b") == "b"
    config.set_fast(True)
    assert config.is_fast()


def test_paths_have_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path / "r"))
    assert config.data_root() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c"
    assert config.results_dir() == tmp_path / "r"
    monkeypatch.delenv("COURSE_CACHE")
    assert config.cache_dir() == config.REPO_ROOT / ".cache"


def test_seed_everything_repeats_all_generators():
    config.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    config.seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_device_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    monkeypatch.delenv("COURSE_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert config.device().type == "cuda"
    else:
        assert config.device().type in {"cpu", "mps"}
