"""Repository-wide pytest hooks: a notebook cell that fails after its kernel's watchdog dumped
stacks (``course_utils.watchdog``) gets those stacks appended to its report."""
from __future__ import annotations

import time

import pytest

_started = time.time()


def _recent_stacks() -> str:
    from course_utils import config
    folder = config.results_dir() / "stacks"
    dumps = [p for p in sorted(folder.glob("*.txt")) if p.stat().st_mtime >= _started and p.stat().st_size]
    return "\n".join(f"--- {p} ---\n{p.read_text()[-6000:]}" for p in dumps)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.__class__.__name__ == "IPyNbCell":
        stacks = _recent_stacks()
        if stacks:
            report.sections.append(("kernel stacks (cell watchdog)", stacks))
