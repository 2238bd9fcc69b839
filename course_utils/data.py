"""Datasets as in-memory tensors, a fast batch iterator, and generated scenes (chapter 1).

Everything is loaded once through torchvision's dataset classes from the data root
(``$COURSE_DATA``, else ``<repo>/data``) and kept as ``uint8`` tensors; batches are turned
into ``float32`` in ``[0, 1]`` on the fly. Nothing is downloaded unless asked for
(``download=True`` or ``python -m course_utils data prepare NAME``).
"""
from __future__ import annotations

import hashlib
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import config
from .augment import nchw, random_hflip  # noqa: F401  (random_hflip kept importable here)

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


def check(root: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Verify every known raw file under the data root: ``{dataset: {file: status}}`` (chapter 1).

    Status is ``ok``, ``missing`` or ``corrupt (md5 ...)``.
    """
    root = Path(root) if root is not None else config.data_root()
    report = {}
    for key, files in CHECKSUMS.items():
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


class Batches:
    """Shuffled mini-batches from in-memory tensors, as float32 on ``device`` (chapter 1).

    Iterate once per epoch; with ``shuffle`` the order changes each epoch but the whole
    sequence is fixed by ``seed``. ``transform`` is applied to each float batch (e.g. random
    flips) and should use ``torch`` randomness, which ``seed_everything`` makes repeatable.
    Every batch comes out with explicit NCHW strides (:func:`course_utils.augment.nchw`).
    """

    def __init__(self, data: TensorData | tuple[torch.Tensor, torch.Tensor], batch_size: int = 128,
                 shuffle: bool = True, seed: int = 0, device=None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 drop_last: bool = False):
        if isinstance(data, TensorData):
            self.x, self.y = data.images, data.labels
        else:
            self.x, self.y = data
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = to_float(self.x[idx]).to(self.device, non_blocking=True)
            y = self.y[idx].to(self.device, non_blocking=True)
            if self.transform is not None:
                x = self.transform(x)
            yield nchw(x), y  # explicit NCHW strides, whatever the transform did


def pad_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad square images to ``size`` x ``size`` (e.g. 28 -> 32 for LeNet-5; chapter 1)."""
    total = size - images.shape[-1]
    if total < 0:
        raise ValueError(f"cannot pad {images.shape[-1]}-pixel images to {size}")
    return F.pad(images, (total // 2, total - total // 2, total // 2, total - total // 2))


@dataclass
class Scenes:
    """Generated scenes: ``images`` uint8 (N, 1, S, S); ``labels`` int64 (N, S, S) with 0 for
    background and ``1 + class`` for an item; per-item ``boxes`` (top, left), ``item_classes``
    and ``masks`` (bool, N x max_items x S x S; all-False for absent items)."""

    images: torch.Tensor
    labels: torch.Tensor
    item_classes: torch.Tensor
    masks: torch.Tensor
    boxes: torch.Tensor
    classes: list[str]


def make_scenes(source: TensorData, n: int, canvas: int = 64, items: tuple[int, int] = (1, 4),
                seed: int = 0, threshold: int = 40, distinct: bool = False) -> Scenes:
    """Paste 1-4 items of ``source`` at random places on a black canvas (chapters 8 and 11).

    Deterministic given ``seed``. Items may overlap; a later item lies on top: where its ink
    (value > ``threshold``) falls, both the pixel and its label are the later item's, so what
    is seen and what is labelled always agree; elsewhere faint values combine by maximum. ``distinct`` forces the items of a
    scene to have different classes (for the two-object composites of chapter 8).
    """
    lo, hi = items
    size = source.images.shape[-1]
    if not 1 <= lo <= hi or canvas < size:
        raise ValueError(f"need 1 <= items[0] <= items[1] and canvas >= {size}, got {items}, {canvas}")
    if distinct and hi > len(source.classes):
        raise ValueError("distinct classes need items[1] <= number of classes")
    rng = np.random.default_rng(seed)
    images = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    labels = torch.zeros(n, canvas, canvas, dtype=torch.int64)
    masks = torch.zeros(n, hi, canvas, canvas, dtype=torch.bool)
    item_classes = torch.full((n, hi), -1, dtype=torch.int64)
    boxes = torch.full((n, hi, 2), -1, dtype=torch.int64)
    by_class = [np.flatnonzero(source.labels.numpy() == c) for c in range(len(source.classes))]
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        if distinct:
            cls = rng.choice(len(source.classes), size=k, replace=False)
            picks = [int(rng.choice(by_class[c])) for c in cls]
        else:
            picks = [int(j) for j in rng.integers(0, len(source), size=k)]
        for j, src in enumerate(picks):
            top, left = (int(v) for v in rng.integers(0, canvas - size + 1, size=2))
            patch = source.images[src, 0]
            ink = patch > threshold
            region = (slice(top, top + size), slice(left, left + size))
            below = images[i, 0][region]
            images[i, 0][region] = torch.where(ink, patch, torch.maximum(below, patch))
            labels[i][region][ink] = int(source.labels[src]) + 1
            masks[i, :j, region[0], region[1]] &= ~ink  # covered by the newer item
            masks[i, j][region] = ink
            item_classes[i, j] = int(source.labels[src])
            boxes[i, j] = torch.tensor([top, left])
    return Scenes(images, labels, item_classes, masks, boxes, list(source.classes))
