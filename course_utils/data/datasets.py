"""Datasets as in-memory tensors, a fast batch iterator, and generated scenes (chapter 1).

Everything is loaded once through torchvision's dataset classes from the data root
(``$COURSE_DATA``, else ``<repo>/data``) and kept as ``uint8`` tensors; batches are turned
into ``float32`` in ``[0, 1]`` on the fly. Nothing is downloaded unless asked for
(``download=True`` or ``python -m course_utils data prepare NAME``).
"""
from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import config
from ..timing import timed

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

# name -> (torchvision class name, folder under the data root, class names)
DATASETS = {
    "mnist": ("MNIST", "MNIST", MNIST_CLASSES),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST", FASHION_CLASSES),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", CIFAR10_CLASSES),
}

# MD5 of the original, uncompressed files (what torchvision leaves in <root>/<folder>/raw)
# and of CIFAR-10's python batches.
CHECKSUMS = {
    "mnist": {
        "raw/train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "raw/train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "raw/t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "raw/t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "raw/train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "raw/train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "raw/t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "raw/t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
}


class DataMissingError(FileNotFoundError):
    """Raised when a dataset is not under the data root; the message says how to get it."""


@dataclass
class TensorData:
    """A labelled image set held in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    split: str = "train"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def float(self, index=slice(None)) -> torch.Tensor:
        """Images (or a selection of them) as float32 in [0, 1]."""
        return to_float(self.images[index])

    def take(self, index) -> TensorData:
        """A new TensorData with the selected rows."""
        index = torch.as_tensor(index) if not isinstance(index, slice) else index
        return TensorData(self.images[index], self.labels[index], self.classes, self.name,
                          self.split, dict(self.info))

    def subset(self, n: int | None, seed: int = 0, balanced: bool = True) -> TensorData:
        """``n`` examples drawn with a fixed seed; class-balanced (n // classes each) by default."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
            raise ValueError(f"subset size must be a positive integer or None, got {n!r}")
        if n is None or n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        if not balanced:
            return self.take(torch.randperm(len(self), generator=g)[:n].sort().values)
        per_class = max(1, n // len(self.classes))
        picks = []
        for c in range(len(self.classes)):
            idx = torch.nonzero(self.labels == c).flatten()
            picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
        return self.take(torch.cat(picks).sort().values)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] (float input is returned as float32)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def _check_name(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return key


def _missing_message(key: str, root: Path) -> str:
    folder = root / DATASETS[key][1]
    return (f"dataset {key!r} not found: looked in {folder} (data root {root}, "
            f"set by COURSE_DATA or the default ./data). Point COURSE_DATA at a folder in "
            f"torchvision's layout, or fetch it with `python -m course_utils data prepare {key}` "
            f"(needs a network).")


def _load_cifar_meta_unchecked(self) -> None:
    """torchvision's CIFAR ``_load_meta`` without its MD5 check (for ``verify=False``)."""
    import pickle

    with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as fh:
        self.classes = pickle.load(fh, encoding="latin1")[self.meta["key"]]
    self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def _torchvision_dataset(key: str, root: Path, train: bool, download: bool, verify: bool = True):
    import torchvision.datasets as tvd

    cls = getattr(tvd, DATASETS[key][0])
    if key == "cifar10" and not verify:
        cls = type("UncheckedCIFAR10", (cls,), {"_check_integrity": lambda self: True,
                                                  "_load_meta": _load_cifar_meta_unchecked})
    try:
        return cls(str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        if not download and available(key, root):  # files are there but are not the real ones
            raise DataMissingError(
                f"{key} files under {root / DATASETS[key][1]} failed the integrity check (MD5 "
                f"against the real dataset's files): they are damaged or not the original "
                f"download. Fetch them again with `python -m course_utils data prepare {key}`, "
                f"or pass verify=False for small files in the same format. [torchvision: {err}]"
            ) from None
        raise DataMissingError(_missing_message(key, root) + f" [torchvision: {err}]") from None


@timed("data")
def load(name: str, split: str = "train", subset: int | None = None, seed: int = 0,
         download: bool = False, grey: bool = False, size: int | None = None,
         root: str | Path | None = None, verify: bool = True) -> TensorData:
    """Load ``mnist``, ``fashion-mnist`` or ``cifar10`` as in-memory tensors (chapter 1).

    ``split`` is ``"train"`` or ``"test"``; ``subset`` keeps a class-balanced sample of that
    many images. For CIFAR-10, ``grey=True`` converts to luminance (ITU-R 601, as PIL's ``L``)
    and ``size`` resizes (the reports used grey 28x28). ``verify=False`` skips torchvision's
    MD5 check of the CIFAR batches (for small files in the real format).
    """
    key = _check_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
        raise ValueError(f"size must be a positive integer (pixels) or None, got {size!r}")
    root = Path(root) if root is not None else config.data_root()
    ds = _torchvision_dataset(key, root, split == "train", download, verify)
    if key == "cifar10":
        images = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    else:
        images = ds.data.unsqueeze(1).contiguous()
        labels = ds.targets.to(torch.int64)
    if grey and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    if size is not None and images.shape[-1] != size:
        images = resize(images, size)
    data = TensorData(images, labels, list(DATASETS[key][2]), key, split,
                      {"grey": grey, "size": size or images.shape[-1], "root": str(root)})
    return data.subset(subset, seed=seed)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 images to ``size`` x ``size`` (antialiased bilinear), staying uint8."""
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                        antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def available(name: str, root: str | Path | None = None) -> bool:
    """True when ``name`` can be loaded from the data root without a download (chapter 1)."""
    key = _check_name(name)
    root = Path(root) if root is not None else config.data_root()
    return all((root / DATASETS[key][1] / f).exists() for f in CHECKSUMS[key])


def load_or_standin(name: str, standin: str, **kwargs) -> tuple[TensorData, str | None]:
    """Load ``name`` or, when it is absent, ``standin`` with the same options (chapter 5).

    Returns ``(data, banner)``: ``banner`` is None when the real dataset was used, else a
    sentence the chapter must show (nothing is substituted silently).
    """
    if available(name, kwargs.get("root")):
        return load(name, **kwargs), None
    kwargs.pop("grey", None)
    data = load(standin, **kwargs)
    banner = (f"{name} is not under the data root ({config.data_root()}), so this chapter runs on "
              f"{data.name} as a stand-in. Fetch the real data with "
              f"`python -m course_utils data prepare {name}` and re-run.")
    data.info["standin_for"] = name
    return data, banner


def md5(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check(root: str | Path | None = None, names=None) -> dict[str, dict[str, str]]:
    """Verify the raw files of ``names`` (default: every known dataset) under the data root:
    ``{dataset: {file: status}}`` (chapter 1). Status is ``ok``, ``missing`` or ``corrupt (md5 ...)``.
    """
    root = Path(root) if root is not None else config.data_root()
    keys = CHECKSUMS if names is None else [_check_name(n) for n in names]
    report = {}
    for key in keys:
        files = CHECKSUMS[key]
        folder = root / DATASETS[key][1]
        report[key] = {}
        for rel, expected in files.items():
            path = folder / rel
            if not path.exists():
                report[key][rel] = "missing"
            else:
                got = md5(path)
                report[key][rel] = "ok" if got == expected else f"corrupt (md5 {got})"
    return report


def prepare(name: str, root: str | Path | None = None) -> Path:
    """Download ``name`` through torchvision into the data root and verify it (chapter 1)."""
    key = _check_name(name)
    root = Path(root) if root is not None else config.data_root()
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        _torchvision_dataset(key, root, train, download=True)
    bad = {f: s for f, s in check(root)[key].items() if s != "ok"}
    if bad:
        raise RuntimeError(f"{key} downloaded but failed verification: {bad}")
    return root / DATASETS[key][1]




def split_classes(data: TensorData, classes: Sequence[int]) -> TensorData:
    """The examples of ``classes`` only, relabelled 0..len(classes)-1 in the given order
    (chapter 12)."""
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or not all(0 <= c < len(data.classes) for c in classes):
        raise ValueError(f"classes must be distinct indices in [0, {len(data.classes)}), got {classes}")
    lut = torch.full((len(data.classes),), -1, dtype=torch.int64)
    lut[classes] = torch.arange(len(classes))
    keep = torch.nonzero(lut[data.labels] >= 0).flatten()
    return TensorData(data.images[keep], lut[data.labels[keep]], [data.classes[c] for c in classes],
                      data.name, data.split, dict(data.info, classes_kept=classes))


def label_budget(data: TensorData, per_class: int, seed: int = 0) -> TensorData:
    """``per_class`` labelled examples of every class, drawn with ``seed`` (chapter 12)."""
    counts = torch.bincount(data.labels, minlength=len(data.classes))
    if per_class < 1 or per_class > int(counts.min()):
        raise ValueError(f"per_class must be in [1, {int(counts.min())}] (the rarest class), got {per_class}")
    return data.subset(per_class * len(data.classes), seed=seed, balanced=True)


def cifar_or_standin(fast: bool, seed: int = 0, grey: bool = True, size: int = 28):
    """``(train, test, banner)`` for chapters 5 and 6: CIFAR-10 (grey 28x28 by default) with a
    class-balanced subset, or Fashion-MNIST as a named stand-in when CIFAR-10 is absent.

    Full mode uses report 003's sizes (500 training and 88 test images per class); fast mode
    40 and 20 per class. ``banner`` is None on real CIFAR-10, else the sentence to show.
    """
    n_train, n_test = (400, 200) if fast else (5000, 880)
    kw = {"grey": grey, "size": size, "seed": seed}
    train, banner = load_or_standin("cifar10", "fashion-mnist", split="train", **kw)
    test, _ = load_or_standin("cifar10", "fashion-mnist", split="test", **kw)
    return train.subset(n_train, seed=seed), test.subset(n_test, seed=seed + 1), banner


def cifar_description(banner: str | None, grey: bool = True, size: int = 28) -> str:
    """What :func:`cifar_or_standin` returned, in words, for the Results page (chapters 5, 6)."""
    if banner is None:
        return f"CIFAR-10 ({'grey' if grey else 'colour'}, {size}×{size})"
    return "Fashion-MNIST, standing in for CIFAR-10 (not available)"
