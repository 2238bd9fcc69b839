import os

import pytest
import torch
import torch.nn as nn

from course_utils import cache
from course_utils.train import History


def files(folder):
    """The cache folder's files but the checkpoint locks (:func:`cache.exclusive`)."""
    return [p for p in folder.iterdir() if not p.name.endswith(".lock")]

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


def counting(calls):
    return lambda model: calls.append(1) or train_fn(model)


def test_truncated_checkpoint_is_moved_aside_and_retrained(tmp_course):
    m1, _ = cache.train_or_load("lin", {"x": 1}, build, train_fn)
    path = cache.checkpoint_path("lin", {"x": 1})
    truncated = path.read_bytes()[:100]
    path.write_bytes(truncated)
    calls = []
    with pytest.warns(UserWarning, match="could not be loaded") as record:
        m2, h2 = cache.train_or_load("lin", {"x": 1}, build, counting(calls))
    assert calls == [1]                                            # retrained
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == truncated  # kept for inspection
    assert aside[0].name in str(record[0].message) and str(path) in str(record[0].message)
    assert torch.equal(m1.weight.cpu(), m2.weight.cpu()) and h2.train_loss == [0.5]
    cache.train_or_load("lin", {"x": 1}, build, counting(calls))   # the new one loads
    assert calls == [1]


def test_checkpoint_of_another_model_is_moved_aside(tmp_course):
    cache.train_or_load("lin", {"x": 1}, build, train_fn)
    calls = []
    with pytest.warns(UserWarning, match="RuntimeError"):     # state_dict does not fit
        cache.train_or_load("lin", {"x": 1}, lambda: nn.Linear(4, 2), counting(calls))
    assert calls == [1]


@pytest.mark.parametrize("failure", ["raises", "nan weights"])
def test_failed_run_saves_nothing(tmp_course, failure):
    def bad(model):
        if failure == "raises":
            raise RuntimeError("out of memory in epoch 3")
        with torch.no_grad():
            model.weight.fill_(float("nan"))
        return train_fn(model)

    path = cache.checkpoint_path("lin", {"x": 1})
    with pytest.raises((RuntimeError, FloatingPointError)):
        cache.train_or_load("lin", {"x": 1}, build, bad)
    assert not path.parent.exists() or not files(path.parent)
    calls = []
    cache.train_or_load("lin", {"x": 1}, build, counting(calls))
    assert calls == [1]


KILLED_SAVE = r"""
import sys, time, torch, torch.nn as nn
from course_utils import cache

def slow_save(obj, fh):          # half a checkpoint on disk, then stuck
    fh.write(b"PK\x03\x04 half a zip archive")
    fh.flush()
    print("saving", flush=True)
    time.sleep(120)

torch.save = slow_save
cache.train_or_load("lin", {"x": 1}, lambda: nn.Linear(3, 2), lambda m: {"loss": [1.0]})
"""


def test_run_killed_while_saving_leaves_no_checkpoint(tmp_course):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(cache.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE], stdout=subprocess.PIPE, env=env,
                             cwd=root)
    try:
        assert child.stdout.readline() == b"saving\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    path = cache.checkpoint_path("lin", {"x": 1})
    left = [p.name for p in files(path.parent)]
    assert not path.exists() and len(left) == 1 and left[0].endswith(".tmp")  # its half file
    calls = []
    cache.train_or_load("lin", {"x": 1}, build, counting(calls))
    assert calls == [1] and path.exists()
    assert [p.name for p in files(path.parent)] == [path.name]  # the dead run's temp is gone
    cache.train_or_load("lin", {"x": 1}, build, counting(calls))
    assert calls == [1]


LOCK_SCRIPT = """
import sys, time, torch
from pathlib import Path
from course_utils import cache
def train(model):
    Path(sys.argv[1]).open("a").write("trained\\n")
    for _ in range(600):                      # hold the lock until the test releases it
        if Path(sys.argv[2]).exists():
            break
        time.sleep(0.1)
    return {"loss": [0.0]}
cache.train_or_load("locked", {"seed": 0}, lambda: torch.nn.Linear(2, 2), train)
print("done", flush=True)
"""


def test_two_processes_train_a_checkpoint_once(tmp_path):
    """Two processes that want the same checkpoint at once: one trains, the other waits for it
    (and says so), then loads it."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    log, release = tmp_path / "trained.txt", tmp_path / "release"
    env = dict(os.environ, COURSE_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))

    def start():
        return subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(log), str(release)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    first = start()
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline:   # the first holds the lock
        time.sleep(0.1)
    second = start()
    said = second.stdout.readline()                          # blocks until it waits (or ends)
    release.touch()
    outs = [first.communicate(timeout=120)[0], said + second.communicate(timeout=120)[0]]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert log.read_text().splitlines() == ["trained"], outs
    assert said.startswith("waiting for another process") and "done" in outs[1], outs
