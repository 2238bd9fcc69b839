import os
import random

import numpy as np
import pytest
import torch

from course_utils import config


def test_fast_mode_follows_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.is_fast() and config.mode() == "fast" and config.pick("a", "b") == "a"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not config.is_fast() and config.mode() == "full" and config.pick("a", "b") == "b"
    config.set_fast(True)
    assert config.is_fast()


def test_set_fast_overrides_in_process_and_leaves_environment_alone(monkeypatch):
    import course_utils as cu

    monkeypatch.setenv("COURSE_FAST", "0")
    before = dict(os.environ)
    assert config.set_fast(True) is True
    assert config.is_fast() and cu.FAST and config.FAST and config.settings().fast
    assert config.set_fast(False) is False
    assert not config.is_fast() and not cu.FAST  # cu.FAST does not go stale
    assert dict(os.environ) == before
    config.clear_overrides()
    monkeypatch.setenv("COURSE_FAST", "yes")
    assert cu.FAST


def test_settings_are_frozen_and_read_once(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    s = config.settings()
    assert config.settings() is s
    with pytest.raises(AttributeError):
        s.fast = False
    monkeypatch.setenv("COURSE_FAST", "0")
    assert config.settings() is not s and not config.settings().fast


def test_every_variable_parsed_from_env(tmp_path):
    s = config.Settings.from_env({
        "COURSE_FAST": "true", "COURSE_RETRAIN": "on", "COURSE_DATA": str(tmp_path / "d"),
        "COURSE_CACHE": str(tmp_path / "c"), "COURSE_RESULTS": str(tmp_path / "r"),
        "COURSE_DEVICE": "cpu", "COURSE_CELL_TIMEOUT": "30", "COURSE_STACK_FILE": str(tmp_path / "s.txt")})
    assert s == config.Settings(True, True, tmp_path / "d", tmp_path / "c", tmp_path / "r", "cpu", 30.0,
                                tmp_path / "s.txt")
    assert config.Settings.from_env({}) == config.Settings()
    assert config.Settings.from_env({"COURSE_FAST": "", "COURSE_DEVICE": " "}) == config.Settings()


@pytest.mark.parametrize("name, bad, expected", [
    ("COURSE_FAST", "maybe", "1/0"), ("COURSE_FAST", "2", "1/0"), ("COURSE_RETRAIN", "y", "1/0"),
    ("COURSE_DEVICE", "gpu0", "torch device"), ("COURSE_CELL_TIMEOUT", "soon", "number of seconds"),
    ("COURSE_CELL_TIMEOUT", "0", "> 0 seconds"), ("COURSE_CELL_TIMEOUT", "-5", "> 0 seconds")])
def test_bad_values_are_clear_errors(monkeypatch, name, bad, expected):
    with pytest.raises(ValueError, match=f"{name} must .*{expected}.*{bad!r}"):
        config.Settings.from_env({name: bad})
    monkeypatch.setenv(name, bad)
    with pytest.raises(ValueError, match=name):
        config.settings()


def test_override_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown settings"):
        config.override(fats=True)


def test_retrain_is_read_from_settings(monkeypatch):
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    assert config.settings().retrain
    monkeypatch.setenv("COURSE_RETRAIN", "0")
    assert not config.settings().retrain


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
