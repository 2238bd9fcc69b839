"""The per-cell watchdog dumps every thread's stack when a cell outlives its time."""
import time

import pytest

from course_utils import watchdog


class FakeEvents:
    def __init__(self):
        self.callbacks = {}

    def register(self, name, fn):
        self.callbacks.setdefault(name, []).append(fn)


class FakeShell:
    def __init__(self):
        self.events = FakeEvents()


def test_a_slow_cell_dumps_stacks_and_a_quick_one_does_not(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks.txt"
    monkeypatch.setenv("COURSE_STACK_FILE", str(stacks))
    ip = FakeShell()
    assert watchdog.arm(ip, timeout=1.0)
    start, = ip.events.callbacks["pre_run_cell"]
    stop, = ip.events.callbacks["post_run_cell"]
    try:
        start(None)
        stop(None)                       # a quick cell: cancelled in time
        time.sleep(1.3)
        assert stacks.read_text() == ""
        start(None)                      # a slow cell
        time.sleep(1.5)
        text = stacks.read_text()
        assert "most recent call first" in text and "test_watchdog.py" in text
    finally:
        stop(None)
        watchdog._armed.clear()


def test_no_timeout_no_watchdog(monkeypatch):
    monkeypatch.delenv("COURSE_CELL_TIMEOUT", raising=False)
    assert watchdog.arm(FakeShell()) is False


@pytest.mark.parametrize("bad", ["soon", "0", "-5"])
def test_bad_timeout_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("COURSE_CELL_TIMEOUT", bad)
    with pytest.raises(ValueError, match="COURSE_CELL_TIMEOUT must be"):
        watchdog.cell_timeout()
