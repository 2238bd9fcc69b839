import os

import pytest
import torch
import torch.nn as nn

from course_utils import cache
from course_utils.train import History


def build():
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def train_fn(model):
    with torch.no_grad():
        model.weight.add_(1.0)
    h = History(epoch=[1], train_loss=[0.5])
    h.snapshots[1] = {k: v.clone() for k, v in model.state_dict().items()}
    return h


def test_key_changes_with_config_and_name():
    a = cache.config_key("m", {"lr": 0.1, "epochs": 2})
    assert a == cache.config_key("m", {"epochs": 2, "lr": 0.1})  # order does not matter
    assert a != cache.config_key("m", {"lr": 0.2, "epochs": 2})
    assert a != cache.config_key("n", {"lr": 0.1, "epochs": 2})


def test_train_once_then_load(tmp_course):
    calls = []

    def counted(model):
        calls.append(1)
        return train_fn(model)

    m1, h1 = cache.train_or_load("lin", {"x": 1}, build, counted)
    m2, h2 = cache.train_or_load("lin", {"x": 1}, build, counted)
    assert len(calls) == 1
    assert torch.equal(m1.weight.cpu(), m2.weight.cpu())
    assert isinstance(h2, History) and h2.train_loss == [0.5] and 1 in h2.snapshots
    cache.train_or_load("lin", {"x": 2}, build, counted)
    assert len(calls) == 2
    cache.train_or_load("lin", {"x": 1}, build, counted, force=True)
    assert len(calls) == 3


def test_interrupted_write_leaves_no_checkpoint(tmp_course, monkeypatch):
    real_save = torch.save
    path = cache.checkpoint_path("lin", {"x": 1})

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cache.train_or_load("lin", {"x": 1}, build, train_fn)
    assert not path.exists()
    assert not [f for f in os.listdir(path.parent) if f.endswith(".tmp")]
    monkeypatch.setattr(torch, "save", real_save)
    calls = []
    cache.train_or_load("lin", {"x": 1}, build, lambda m: calls.append(1) or train_fn(m))
    assert calls == [1] and path.exists()  # retrained, not loaded from a corrupt file


def test_existing_checkpoint_survives_an_interrupted_overwrite(tmp_course, monkeypatch):
    cache.train_or_load("lin", {"x": 1}, build, train_fn)
    path = cache.checkpoint_path("lin", {"x": 1})
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", lambda obj, fh: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        cache.train_or_load("lin", {"x": 1}, build, train_fn, force=True)
    assert path.read_bytes() == before


def test_load_snapshot(tmp_course):
    model, h = cache.train_or_load("lin", {"x": 3}, build, train_fn)
    fresh = cache.load_snapshot(build(), h, 1)
    assert torch.equal(fresh.weight, model.weight.cpu())
    with pytest.raises(KeyError, match="saved: \\[1\\]"):
        cache.load_snapshot(build(), h, 5)
