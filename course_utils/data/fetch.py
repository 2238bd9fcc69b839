"""Which datasets each chapter needs, checked in seconds, and fetched on request (chapter 1).

:func:`ensure` verifies (MD5) the datasets the chosen chapters need under the data root. What is
missing is downloaded through torchvision (its mirrors, its progress bar, its checksums of the
archives), then verified against the original files' MD5s. With no network it stops within
seconds with one message: what is missing, where it looked, and how to get it.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlparse

from .. import config
from . import datasets as data

# chapter -> datasets it cannot run without
CHAPTER_DATA = {1: ("fashion-mnist",), 2: ("mnist",), 3: ("fashion-mnist",), 4: ("fashion-mnist",),
                5: ("fashion-mnist",), 6: ("fashion-mnist",), 7: ("mnist",), 8: ("fashion-mnist",),
                9: ("fashion-mnist",), 10: ("fashion-mnist", "mnist"), 11: ("fashion-mnist", "mnist"),
                12: ("fashion-mnist",)}
# chapter -> datasets it uses when present, else it runs on a stand-in and says so
CHAPTER_OPTIONAL = {5: ("cifar10",), 6: ("cifar10",)}


def needed(chapters=None) -> list[str]:
    """The datasets the chapters (numbers; None: all) cannot run without."""
    chosen = sorted(CHAPTER_DATA) if not chapters else [int(c) for c in chapters]
    unknown = [c for c in chosen if c not in CHAPTER_DATA]
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; expected numbers in 1-{max(CHAPTER_DATA)}")
    return sorted({name for c in chosen for name in CHAPTER_DATA[c]})


def problems(name: str, root: Path) -> dict[str, str]:
    """``{file: "missing" | "corrupt (md5 ...)"}`` for one dataset; empty when it is all there."""
    key = data._check_name(name)
    folder = root / data.DATASETS[key][1]
    return {str(folder / rel): state for rel, state in data.check(root, [key])[key].items()
            if state != "ok"}


def mirrors(name: str) -> list[str]:
    """The addresses torchvision downloads ``name`` from."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, data.DATASETS[data._check_name(name)][0])
    return list(getattr(cls, "mirrors", None) or [cls.url])


def reachable(urls, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the host of any of ``urls`` opens within ``timeout``."""
    for url in urls:
        parts = urlparse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def _message(missing: dict[str, dict[str, str]], root: Path, why: str) -> str:
    files = "\n".join(f"  {f}: {state}" for probs in missing.values() for f, state in probs.items())
    names = " ".join(missing)
    return (f"{why}. Missing or damaged under the data root {root} (COURSE_DATA, default ./data):\n"
            f"{files}\nFetch them on a machine with a network: `make data` or `python -m "
            f"course_utils data prepare {names}`; or point COURSE_DATA at a folder that holds "
            f"them in torchvision's layout.")


def ensure(chapters=None, root: str | Path | None = None, download: bool = True,
           timeout: float = 3.0) -> list[str]:
    """Verify the datasets the chapters need and download what is missing (chapter 1).

    Returns the names checked. Raises :class:`~course_utils.data.DataMissingError` with one
    message when something is missing and cannot be fetched (``download=False``, or no mirror
    answers within ``timeout`` seconds).
    """
    root = Path(root) if root is not None else config.data_root()
    names = needed(chapters)
    missing = {n: p for n in names if (p := problems(n, root))}
    if not missing:
        return names
    if not download:
        raise data.DataMissingError(_message(missing, root, "datasets are missing"))
    unreachable = [n for n in missing if not reachable(mirrors(n), timeout)]
    if unreachable:
        raise data.DataMissingError(_message(
            missing, root, f"no download mirror of {', '.join(unreachable)} answered within "
                           f"{timeout:g} s (no network?)"))
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 30.0))   # a stalled mirror fails instead of hanging
    try:
        for name in missing:
            start = time.time()
            data.prepare(name, root)
            print(f"fetched and verified {name} in {time.time() - start:.0f} s")
    finally:
        socket.setdefaulttimeout(old)
    return names
