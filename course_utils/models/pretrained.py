"""ImageNet-pretrained torchvision networks: which weights the book uses, where torch keeps
them, how to fetch them and how to load them (chapters 8, 9, 11 and 12).

The weights are torchvision's published ImageNet files. torch keeps them in its hub cache,
``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), under the file
name of their URL, e.g. ``resnet34-b627a593.pth``; the eight hex digits are the start of the
file's SHA-256. Nothing is downloaded unless asked for (:func:`fetch`, ``load(...,
download=True)``, ``python -m course_utils data prepare weights``, a chapter's ``download``
parameter); the download is torchvision's own (``Weights.get_state_dict``): a progress bar and
torchvision's SHA-256 check. A file that is already in the cache is loaded as it is, the way
torch does it (the hash is checked when a file arrives, not at each load); :func:`verified`
repeats torchvision's check on demand, which is how a chapter tells the published weights from
any other file at the same place.

With no network, fetching stops with one message naming the URL and the path to put the file
at, so the weights can be copied from a machine that has them.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import urllib.error
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Entry:
    """One set of pretrained weights: the torchvision builder, the weights' enum name, the
    chapters that use them and the network's last conv block (Grad-CAM's layer)."""

    arch: str
    weights: str
    chapters: tuple[int, ...]
    cam_layer: str


WEIGHTS = {
    "resnet34": Entry("resnet34", "ResNet34_Weights.IMAGENET1K_V1", (8, 9), "layer4"),
    "vgg19": Entry("vgg19", "VGG19_Weights.IMAGENET1K_V1", (8, 9), "features.35"),
    "resnet18": Entry("resnet18", "ResNet18_Weights.IMAGENET1K_V1", (12,), "layer4"),
    # FCN's original encoder (Long et al.): chapter 11's networks on Pascal VOC
    "vgg16": Entry("vgg16", "VGG16_Weights.IMAGENET1K_V1", (11,), "features.29"),
}


class WeightsMissingError(FileNotFoundError):
    """Pretrained weights are not in torch's cache and could not be fetched; the message says
    which URL to download and where to put the file."""


def _entry(name: str) -> Entry:
    if name not in WEIGHTS:
        raise ValueError(f"unknown pretrained network {name!r}; expected one of {sorted(WEIGHTS)}")
    return WEIGHTS[name]


def weights(name: str):
    """torchvision's weights object (an enum member: ``url``, ``meta``, ``transforms``,
    ``get_state_dict``) for ``name``."""
    import torchvision.models as tvm

    return tvm.get_weight(_entry(name).weights)


def url(name: str) -> str:
    """The address torchvision downloads ``name``'s weights from."""
    return weights(name).url


def path(name: str) -> Path:
    """Where torch looks for ``name``'s weights: ``<torch hub dir>/checkpoints/<file of the URL>``
    (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url(name))


def available(name: str) -> bool:
    """True when ``name``'s weight file is in torch's cache (no download needed)."""
    return path(name).is_file()


def cam_layer(name: str) -> str:
    """The last conv block of ``name`` (where Grad-CAM looks)."""
    return _entry(name).cam_layer


def categories(name: str) -> list[str]:
    """The 1000 ImageNet class names, in the order of the network's outputs."""
    return list(weights(name).meta["categories"])


def needed(chapters: Iterable[int] | None = None) -> list[str]:
    """The weights the chapters (numbers; None: every chapter) use when they are present."""
    chosen = None if chapters is None else {int(c) for c in chapters}
    return [n for n, e in WEIGHTS.items() if e.chapters and (chosen is None or chosen & set(e.chapters))]


_DIGESTS: dict[tuple, str] = {}


def digest(name: str) -> str | None:
    """SHA-256 (hex) of ``name``'s file in the cache, None when it is missing; remembered per
    file size and modification time, so a chapter pays for hashing once."""
    file = path(name)
    if not file.is_file():
        return None
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        sha = hashlib.sha256()
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        _DIGESTS[key] = sha.hexdigest()
    return _DIGESTS[key]


def verified(name: str) -> bool:
    """True when the file in the cache passes torchvision's check: its SHA-256 starts with the
    hex digits in its name. False when it is missing or any other file (a copy that broke, or
    random weights a test put there)."""
    sha = digest(name)
    prefix = re.search(r"-([a-f0-9]+)\.", path(name).name)
    return sha is not None and prefix is not None and sha.startswith(prefix.group(1))


def _missing_message(names: Sequence[str], why: str) -> str:
    files = "\n".join(f"  {n}: download {url(n)} and place it at {path(n)}" for n in names)
    return (f"{why}. ImageNet weights missing from torch's cache ($TORCH_HOME/hub/checkpoints, "
            f"default ~/.cache/torch/hub/checkpoints):\n{files}\nFetch them with `python -m "
            f"course_utils data prepare weights` (or `make data WEIGHTS=1`) on a machine with a "
            f"network, or copy the files to those paths.")


def fetch(names: Sequence[str] | None = None, progress: bool = True, timeout: float = 20.0) -> dict[str, str]:
    """Download the weights that are missing from torch's cache (chapters 8, 9 and 12).

    ``names`` defaults to every set a chapter uses (:func:`needed`). The download is
    torchvision's ``get_state_dict(progress=..., check_hash=True)``: a progress bar and its
    SHA-256 check. Returns ``{name: "present" | "fetched"}``; a file already there is kept.
    Raises :class:`WeightsMissingError`, naming the URL and the path to put the file at, when a
    download fails (no network: within ``timeout`` seconds; a corrupt download is not kept).
    """
    names = needed() if names is None else list(names)
    for name in names:
        _entry(name)
    done = {n: "present" for n in names if available(n)}
    for name in names:
        if name in done:
            continue
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)   # no answer, or a stalled transfer, fails instead of hanging
        try:
            weights(name).get_state_dict(progress=progress, check_hash=True)
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            reason = getattr(err, "reason", None) or err
            raise WeightsMissingError(_missing_message(
                [n for n in names if n not in done],
                f"could not download {url(name)} ({type(err).__name__}: {reason})")) from err
        finally:
            socket.setdefaulttimeout(old)
        done[name] = "fetched"
    return done


def load(name: str, download: bool = False, progress: bool = True) -> nn.Module:
    """torchvision's ``name`` with its ImageNet weights, in eval mode (chapters 8, 9 and 12).

    The weights come from torch's cache; ``download=True`` first fetches them when missing
    (:func:`fetch`). Without them this raises :class:`WeightsMissingError` saying how to get
    them; there is no silent substitute.
    """
    import torchvision.models as tvm

    entry = _entry(name)
    if not available(name):
        if not download:
            raise WeightsMissingError(_missing_message([name], f"pretrained weights not found at {path(name)}"))
        fetch([name], progress=progress)
    state = weights(name).get_state_dict(progress=progress, check_hash=True)
    with torch.device("meta"):           # no random initialisation: the file holds every tensor
        net = getattr(tvm, entry.arch)(weights=None)
    net = net.to_empty(device="cpu")
    net.load_state_dict(state)           # strict: a file with other tensors is an error
    return net.eval()


def notice(names: Sequence[str], standin: str) -> str | None:
    """Markdown for a chapter's box: None when every one of ``names`` is in the cache and passes
    torchvision's hash check; else which file is missing (or is not the published one), what
    the section runs on instead (``standin``) and how to get the weights."""
    missing = [n for n in names if not available(n)]
    other = [n for n in names if n not in missing and not verified(n)]
    if not missing and not other:
        return None
    lines = []
    if missing:
        where = "; ".join(f"`{path(n)}`" for n in missing)
        lines.append(f"**Pretrained weights not found** ({', '.join(missing)}) at {where}. "
                     f"This section runs on {standin} instead. To get them, run "
                     "`python -m course_utils data prepare weights` (or set `download = True` in the "
                     "parameters cell); without a network, download "
                     + ", ".join(url(n) for n in missing) + " and place each file at the path above.")
    if other:
        lines.append(f"**Not the published weights:** the file(s) for {', '.join(other)} at "
                     + "; ".join(f"`{path(n)}`" for n in other)
                     + " fail torchvision's SHA-256 check (the hex digits in the file name). The "
                     "section runs on whatever they hold and asserts nothing about the results.")
    return "\n\n".join(lines)


def photo(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """An HxWx3 uint8 photograph as a float (3, size, size) tensor in [0, 1]: the shorter side
    resized to ``size`` (bilinear, antialiased), then the centre cropped."""
    if not (isinstance(image, np.ndarray | torch.Tensor) and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"expected an HxWx3 image, got {getattr(image, 'shape', type(image))}")
    x = torch.as_tensor(np.asarray(image)).permute(2, 0, 1).float()[None]
    x = x / 255.0 if x.max() > 1 else x
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))), mode="bilinear",
                      antialias=True, align_corners=False)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[0, :, top:top + size, left:left + size].clamp(0, 1).contiguous()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of (N, 3, H, W) images in [0, 1] (what the networks were trained on)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images in [0, 1], got {tuple(x.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def section(names: Sequence[str], standin: str, download: bool = False) -> tuple[bool, str | None]:
    """What a chapter's pretrained section runs on: fetch ``names`` first when ``download``;
    ``(use, box)`` where ``use`` says every file is present and ``box`` is the Markdown quote
    to show (None when the published weights are all there) (chapters 8, 9, 12)."""
    if download:
        fetch(list(names))
    box = notice(names, standin)
    use = all(available(n) for n in names)
    return use, None if box is None else "> " + box.replace("\n\n", "\n>\n> ")
