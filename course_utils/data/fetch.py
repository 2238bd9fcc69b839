"""Which datasets each chapter needs, checked in seconds, and fetched on request (chapter 1).

:func:`ensure` verifies (MD5) the datasets the chosen chapters need under the data root. What is
missing is downloaded through torchvision (its mirrors, its progress bar, its checksums of the
archives), then verified against the original files' MD5s. With no network it stops within
seconds with one message: what is missing, where it looked, and how to get it.

:func:`prepare` fetches one dataset by name, including those a chapter only uses when present
(CIFAR-10, Pascal VOC 2012, Oxford-IIIT Pets). Offline it says which archives to download, their
MD5s and where to put them; archives already in place are checked and unpacked without a network.
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
CHAPTER_OPTIONAL = {5: ("cifar10",), 6: ("cifar10",), 10: ("cifar10", "pets"), 11: ("voc",),
                    12: ("pets",)}


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


def archives(name: str, root: str | Path | None = None) -> list[dict]:
    """What torchvision downloads for ``name``: one ``{"url", "md5", "path"}`` per archive, with
    ``path`` where it must lie under the data root for torchvision to use it without a download
    (it checks the MD5 first). Read from torchvision's own tables, so they stay in step with it."""
    import torchvision.datasets as tvd

    key = data._check_name(name)
    root = Path(root) if root is not None else config.data_root()
    cls = getattr(tvd, data.DATASETS[key][0])
    if key in ("mnist", "fashion-mnist"):
        base = cls.mirrors[0]
        return [{"url": base + f, "md5": m, "path": root / data.DATASETS[key][1] / "raw" / f}
                for f, m in cls.resources]
    if key == "cifar10":
        return [{"url": cls.url, "md5": cls.tgz_md5, "path": root / cls.filename}]
    if key == "voc":
        from torchvision.datasets.voc import DATASET_YEAR_DICT

        entry = DATASET_YEAR_DICT["2012"]
        return [{"url": entry["url"], "md5": entry["md5"], "path": root / entry["filename"]}]
    return [{"url": url, "md5": m, "path": root / data.DATASETS[key][1] / url.rsplit("/", 1)[-1]}
            for url, m in cls._RESOURCES]


def mirrors(name: str) -> list[str]:
    """The addresses torchvision downloads ``name`` from."""
    import torchvision.datasets as tvd

    key = data._check_name(name)
    cls = getattr(tvd, data.DATASETS[key][0])
    if getattr(cls, "mirrors", None):
        return list(cls.mirrors)
    return list(dict.fromkeys(a["url"] for a in archives(key)))


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


LAYOUT = {"mnist": "MNIST/raw/ with the four *-ubyte files",
          "fashion-mnist": "FashionMNIST/raw/ with the four *-ubyte files",
          "cifar10": "cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta",
          "voc": "VOCdevkit/VOC2012/ with JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/",
          "pets": "oxford-iiit-pet/ with images/ and annotations/ (trainval.txt, test.txt, trimaps/)"}


def _archive_state(archive: dict) -> str:
    path = archive["path"]
    if not path.exists():
        return "not there"
    got = data.md5(path)
    return "in place, MD5 ok" if got == archive["md5"] else f"in place but MD5 {got} (damaged: replace it)"


def prepare(name: str, root: str | Path | None = None, timeout: float = 3.0) -> Path:
    """Fetch one dataset by name and verify it; return its folder (chapter 1).

    Already verified: nothing to do. Otherwise torchvision downloads and checks the archives (a
    progress bar; an archive already at its place with the right MD5 is used as it is, so this
    also works offline). When an archive is missing and no download address answers within
    ``timeout`` seconds, :class:`~course_utils.data.DataMissingError` says, in one message, which
    archives to download (address and MD5) and where to put them.
    """
    key = data._check_name(name)
    root = Path(root) if root is not None else config.data_root()
    if not problems(key, root):
        return root / data.DATASETS[key][1]
    wanted = archives(key, root)
    states = {a["url"]: _archive_state(a) for a in wanted}
    local = all(state == "in place, MD5 ok" for state in states.values())
    if not local and not reachable(mirrors(key), timeout):
        lines = "\n".join(f"  {a['url']}\n    MD5 {a['md5']}; put it at {a['path']} ({states[a['url']]})"
                          for a in wanted)
        raise data.DataMissingError(
            f"{key} cannot be fetched: no download address answered within {timeout:g} s (no "
            f"network?). On a machine with a network, download\n{lines}\nthen run `python -m "
            f"course_utils data prepare {key}` again: it checks the MD5s and unpacks the archives "
            f"without a network. Or unpack them yourself so that the data root {root} (COURSE_DATA, "
            f"default ./data) holds {LAYOUT[key]}.")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 30.0))   # a stalled mirror fails instead of hanging
    try:
        return data.prepare(key, root)
    finally:
        socket.setdefaulttimeout(old)


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
