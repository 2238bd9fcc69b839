"""Datasets as in-memory tensors, a fast batch iterator, and generated scenes (chapter 1).

Everything is loaded once through torchvision's dataset classes from the data root
(``$COURSE_DATA``, else ``<repo>/data``) and kept as ``uint8`` tensors; batches are turned
into ``float32`` in ``[0, 1]`` on the fly. Nothing is downloaded unless asked for
(``download=True`` or ``python -m course_utils data prepare NAME``).

MNIST, Fashion-MNIST and CIFAR-10 are checked file by file against the original files' MD5s.
Pascal VOC 2012 (segmentation) and Oxford-IIIT Pets come as archives of thousands of photos:
torchvision checks the archive's MD5 when it downloads it, and :func:`check` then verifies that
the split lists hold the real number of images and that every listed file is there.
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
VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
# Oxford-IIIT Pets: the 37 breeds in the order of the annotation files' class ids 1..37, named
# as torchvision names them (file-name prefix, words capitalised); 12 cats, 25 dogs
PETS_CLASSES = [" ".join(w.title() for w in b.split("_")) for b in (
    "Abyssinian american_bulldog american_pit_bull_terrier basset_hound beagle Bengal Birman "
    "Bombay boxer British_Shorthair chihuahua Egyptian_Mau english_cocker_spaniel english_setter "
    "german_shorthaired great_pyrenees havanese japanese_chin keeshond leonberger Maine_Coon "
    "miniature_pinscher newfoundland Persian pomeranian pug Ragdoll Russian_Blue saint_bernard "
    "samoyed scottish_terrier shiba_inu Siamese Sphynx staffordshire_bull_terrier wheaten_terrier "
    "yorkshire_terrier").split()]

# name -> (torchvision class name, folder under the data root, class names)
DATASETS = {
    "mnist": ("MNIST", "MNIST", MNIST_CLASSES),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST", FASHION_CLASSES),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", CIFAR10_CLASSES),
    "voc": ("VOCSegmentation", "VOCdevkit/VOC2012", VOC_CLASSES),
    "pets": ("OxfordIIITPet", "oxford-iiit-pet", PETS_CLASSES),
}
# the photo datasets: split -> (torchvision's split name, list file under the folder, number of
# images in the real list); "train"/"test" are the book's names, the others torchvision's
SPLITS = {
    "voc": {"train": ("train", "ImageSets/Segmentation/train.txt", 1464),
            "val": ("val", "ImageSets/Segmentation/val.txt", 1449),
            "trainval": ("trainval", "ImageSets/Segmentation/trainval.txt", 2913)},
    "pets": {"trainval": ("trainval", "annotations/trainval.txt", 3680),
             "test": ("test", "annotations/test.txt", 3669)},
}
SPLIT_ALIASES = {"voc": {"test": "val"}, "pets": {"train": "trainval"}}
# side of the square canvas the photos are resized to when no size is given
DEFAULT_SIZE = {"voc": 128, "pets": 64}

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
        index = subset_index(self.labels, len(self.classes), n, seed, balanced)
        return self if index is None else self.take(index)


def subset_index(labels: torch.Tensor, num_classes: int, n: int | None, seed: int = 0,
                 balanced: bool = True) -> torch.Tensor | None:
    """The sorted indices :meth:`TensorData.subset` keeps (None: all of them), so a loader can
    pick a subset before it decodes any image (chapter 1). ``balanced`` needs one class label
    per example; label maps take ``balanced=False`` (a seeded random draw)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError(f"subset size must be a positive integer or None, got {n!r}")
    if n is None or n >= len(labels):
        return None
    g = torch.Generator().manual_seed(seed)
    if not balanced:
        return torch.randperm(len(labels), generator=g)[:n].sort().values
    per_class = max(1, n // num_classes)
    picks = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picks).sort().values


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] (float input is returned as float32)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def _check_name(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "voc2012": "voc", "pascal-voc": "voc", "oxford-iiit-pet": "pets", "oxford-pets": "pets",
           "pet": "pets"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return key


def _missing_message(key: str, root: Path) -> str:
    folder = root / DATASETS[key][1]
    return (f"dataset {key!r} not found: looked in {folder} (data root {root}, "
            f"set by COURSE_DATA or the default ./data). Point COURSE_DATA at a folder in "
            f"torchvision's layout, or fetch it with `python -m course_utils data prepare {key}` "
            f"(needs a network; download=True here does the same).")


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
    """Load ``mnist``, ``fashion-mnist``, ``cifar10``, ``voc`` or ``pets`` as in-memory tensors
    (chapter 1).

    ``split`` is ``"train"`` or ``"test"`` (for VOC also ``"val"``, the same as its
    ``"test"``; for Pets ``"trainval"``, the same as its ``"train"``); ``subset`` keeps a
    class-balanced sample of that many images (VOC: a seeded random sample, since its labels are
    maps). ``grey=True`` converts colour to luminance (ITU-R 601, as PIL's ``L``) and ``size``
    resizes (the reports used grey 28x28 CIFAR-10). VOC and Pets photos are always resized to a
    square of ``size`` pixels (default 128 and 64): see :func:`load_photos`. ``verify=False``
    skips the integrity check (for small files in the real format).
    """
    key = _check_name(name)
    if key in SPLITS:
        return load_photos(key, split, subset=subset, seed=seed, download=download, grey=grey,
                           size=size, root=root, verify=verify)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    _check_size(size)
    root = Path(root) if root is not None else config.data_root()
    ds = _torchvision_dataset(key, root, split == "train", download, verify)
    if key == "cifar10":
        images = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    else:
        images = ds.data.unsqueeze(1).contiguous()
        labels = ds.targets.to(torch.int64)
    if grey and images.shape[1] == 3:
        images = to_grey(images)
    if size is not None and images.shape[-1] != size:
        images = resize(images, size)
    data = TensorData(images, labels, list(DATASETS[key][2]), key, split,
                      {"grey": grey, "size": size or images.shape[-1], "root": str(root)})
    return data.subset(subset, seed=seed)


def _check_size(size) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
        raise ValueError(f"size must be a positive integer (pixels) or None, got {size!r}")


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB images (N, 3, H, W) -> luminance (N, 1, H, W), ITU-R 601 weights as PIL's ``L``
    (chapter 5)."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def _photo_split(key: str, split: str) -> str:
    native = SPLIT_ALIASES[key].get(split, split)
    if native not in SPLITS[key]:
        names = sorted(set(SPLITS[key]) | set(SPLIT_ALIASES[key]))
        raise ValueError(f"split of {key} must be one of {names}, got {split!r}")
    return native


def _photo_dataset(key: str, root: Path, split: str, download: bool):
    """torchvision's dataset object for one split of VOC 2012 or Pets (``split`` native)."""
    import torchvision.datasets as tvd

    tv_split = SPLITS[key][split][0]
    try:
        if key == "voc":
            return tvd.VOCSegmentation(str(root), year="2012", image_set=tv_split, download=download)
        return tvd.OxfordIIITPet(str(root), split=tv_split, target_types="category", download=download)
    except (RuntimeError, FileNotFoundError) as err:  # no folder / no split list
        raise DataMissingError(_missing_message(key, root) + f" [torchvision: {err}]") from None


def _read_photo(path, size: int, crop: bool) -> torch.Tensor:
    """One photo as uint8 (3, size, size): JPEGs are decoded at a reduced scale that is still at
    least ``size`` (PIL's ``draft``: several times faster), then centre-cropped to a square
    (``crop``) or squeezed, and resized bilinearly."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        img = img.convert("RGB")
    if crop:
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    img = img.resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def _read_label_map(path, size: int) -> torch.Tensor:
    """A VOC palette PNG as int64 (size, size) class indices (255 = void), nearest neighbour."""
    from PIL import Image

    with Image.open(path) as mask:
        if mask.mode != "P" and mask.mode != "L":
            raise ValueError(f"{path}: expected a palette (P) or grey (L) PNG of class indices, got mode {mask.mode}")
        mask = mask.resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(mask, dtype=np.int64).copy())


def load_photos(name: str, split: str = "train", subset: int | None = None, seed: int = 0,
                download: bool = False, grey: bool = False, size: int | None = None,
                root: str | Path | None = None, verify: bool = True) -> TensorData:
    """Pascal VOC 2012 segmentation or Oxford-IIIT Pets through torchvision's dataset classes
    (``VOCSegmentation``, ``OxfordIIITPet``), as in-memory tensors on a square canvas
    (chapters 10, 11 and 12).

    - ``voc``: images uint8 (N, 3, S, S) squeezed to the square as a whole; labels int64
      (N, S, S) label maps, 0 = background, 1..20 the classes, 255 = "void" (object borders;
      leave them out of the loss and the metrics), resized by nearest neighbour.
    - ``pets``: images uint8 (N, 3, S, S), the centred square of each photo; labels int64, the
      37 breeds of :data:`PETS_CLASSES`.

    ``S = size`` (default 128 for VOC, 64 for Pets); ``grey=True`` gives (N, 1, S, S). ``subset``
    is drawn before any image is decoded (Pets: class-balanced; VOC: seeded random). With
    ``verify`` the split lists must be the real ones, every listed file present (:func:`check`).
    """
    key = _check_name(name)
    if key not in SPLITS:
        raise ValueError(f"load_photos reads {sorted(SPLITS)}, got {name!r}; use load() for {key}")
    native = _photo_split(key, split)
    _check_size(size)
    size = size or DEFAULT_SIZE[key]
    root = Path(root) if root is not None else config.data_root()
    ds = _photo_dataset(key, root, native, download)
    if verify:
        bad = {f: s for f, s in check(root, [key])[key].items() if s != "ok"}
        if bad:
            raise DataMissingError(
                f"{key} under {root / DATASETS[key][1]} failed the integrity check (the real "
                f"split lists and every file they name): {bad}. Fetch it again with `python -m "
                f"course_utils data prepare {key}`, or pass verify=False for small files in the "
                f"same format.")
    if key == "voc":
        images_at, labels_at = list(ds.images), list(ds.targets)
        index = subset_index(torch.zeros(len(images_at)), 1, subset, seed, balanced=False)
    else:
        # torchvision keeps the per-image breed ids and paths (read from the annotation list)
        # in ``_labels`` and ``_images``; the breed must match its file name
        images_at, all_labels = list(ds._images), torch.as_tensor(ds._labels, dtype=torch.int64)
        for path, label in zip(images_at, all_labels.tolist()):
            breed = " ".join(w.title() for w in Path(path).stem.rsplit("_", 1)[0].split("_"))
            if not 0 <= label < len(PETS_CLASSES) or PETS_CLASSES[label] != breed:
                raise ValueError(f"{path}: the annotation list gives class id {label + 1}, which "
                                 f"is not the breed of its file name ({breed!r})")
        index = subset_index(all_labels, len(PETS_CLASSES), subset, seed, balanced=True)
    index = torch.arange(len(images_at)) if index is None else index
    from tqdm.auto import tqdm

    images = torch.zeros(len(index), 3, size, size, dtype=torch.uint8)
    labels = (torch.zeros(len(index), size, size, dtype=torch.int64) if key == "voc"
              else all_labels[index].clone())
    for k, i in enumerate(tqdm(index.tolist(), desc=f"reading {key}", leave=False, unit="image",
                               disable=len(index) < 500)):
        images[k] = _read_photo(images_at[i], size, crop=key == "pets")
        if key == "voc":
            labels[k] = _read_label_map(labels_at[i], size)
    if grey:
        images = to_grey(images)
    info = {"grey": grey, "size": size, "root": str(root), "split": native}
    if key == "voc":
        info["year"] = "2012"
    return TensorData(images, labels, list(DATASETS[key][2]), key, split, info)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 images to ``size`` x ``size`` (antialiased bilinear), staying uint8."""
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                        antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def available(name: str, root: str | Path | None = None) -> bool:
    """True when ``name`` can be loaded from the data root without a download (chapter 1)."""
    key = _check_name(name)
    root = Path(root) if root is not None else config.data_root()
    files = [rel for _, rel, _ in SPLITS[key].values()] if key in SPLITS else CHECKSUMS[key]
    return all((root / DATASETS[key][1] / f).exists() for f in files)


TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
          "voc": "Pascal VOC 2012", "pets": "Oxford-IIIT Pets"}


def standin_banner(name: str, standin: str, part: str = "this chapter",
                   root: str | Path | None = None) -> str:
    """The sentence a chapter shows when ``name`` is absent and ``part`` runs on ``standin``
    instead (chapter 5)."""
    key = _check_name(name)
    root = Path(root) if root is not None else config.data_root()
    return (f"{TITLES[key]} ({key}) is not under the data root ({root}), so {part} runs on "
            f"{standin} as a stand-in. Fetch the real data with "
            f"`python -m course_utils data prepare {key}` and re-run.")


def load_or_standin(name: str, standin: str | TensorData, part: str = "this chapter",
                    **kwargs) -> tuple[TensorData, str | None]:
    """Load ``name`` or, when it is absent, ``standin`` with the same options (chapter 5).

    ``standin`` is a dataset name (loaded with the same options, less ``grey``) or data already
    in memory (returned as it is). Returns ``(data, banner)``: ``banner`` is None when the real
    dataset was used, else a sentence the chapter must show (nothing is substituted silently).
    """
    if available(name, kwargs.get("root")):
        return load(name, **kwargs), None
    if isinstance(standin, TensorData):
        data = standin
    else:
        kwargs.pop("grey", None)
        kwargs.pop("verify", None)
        data = load(standin, **kwargs)
    banner = standin_banner(name, data.name, part, kwargs.get("root"))
    data.info["standin_for"] = _check_name(name)
    return data, banner


@dataclass
class Choice:
    """What a chapter runs on (chapters 10-12): ``train`` and ``test`` of the real dataset
    ``name`` when it was found (``banner`` None), else of the stand-in, with the ``banner`` to
    show. ``title`` names the data actually used; ``part`` is what of the chapter uses it."""

    name: str
    train: TensorData | None
    test: TensorData | None
    banner: str | None
    title: str
    part: str = "this chapter"

    @property
    def real(self) -> bool:
        """True when the real dataset is used."""
        return self.banner is None

    def markdown(self) -> str:
        """The visible box: "Stand-in data" with the banner, or "Real data" saying that the
        text was written for the stand-in run and the claims are recorded, not asserted."""
        if not self.real:
            return f"> **Stand-in data.** {self.banner}"
        return (f"> **Real data.** {self.title} was found under the data root, and {self.part} "
                f"runs on it. The text around the figures describes the stand-in run the book was "
                f"built with; on this data every claim is recorded with its target but not asserted.")


def choose(name: str, standin: str | tuple[TensorData, TensorData] | None, *,
           train_size: int | None = None, test_size: int | None = None, seed: int = 0,
           grey: bool = True, size: int | None = 28, part: str = "this chapter",
           standin_title: str | None = None, root: str | Path | None = None,
           verify: bool = True) -> Choice:
    """The real dataset ``name`` when it is under the data root, else a named stand-in
    (chapters 10, 11 and 12).

    ``standin`` is a dataset name (loaded with the same sizes and seed), a ``(train, test)``
    pair already in memory (used as it is), or None when the chapter has its own substitute,
    described by ``standin_title`` (``train``/``test`` are then None). The real data are
    loaded with ``grey`` and ``size`` (grey 28x28 by default, what the book's small networks
    take), ``train_size``/``test_size`` examples drawn with ``seed``.
    """
    key = _check_name(name)
    if available(key, root):
        kw = {"seed": seed, "grey": grey, "size": size, "root": root, "verify": verify}
        train = load(key, "train", subset=train_size, **kw)
        test = load(key, "test", subset=test_size, **kw)
        title = TITLES[key] + (f" ({'grey ' if grey else ''}{train.shape[-1]}×{train.shape[-1]})")
        return Choice(key, train, test, None, title, part)
    if standin is None:
        if not standin_title:
            raise ValueError("choose: without a stand-in dataset, standin_title must say what runs instead")
        return Choice(key, None, None, standin_banner(key, standin_title, part, root), standin_title, part)
    if isinstance(standin, tuple):
        train, test = standin
    else:
        kw = {"seed": seed, "size": size, "root": root}
        train = load(standin, "train", subset=train_size, **kw)
        test = load(standin, "test", subset=test_size, **kw)
        for d in (train, test):
            d.info["standin_for"] = key
    title = standin_title or TITLES.get(train.name, train.name)
    return Choice(key, train, test, standin_banner(key, title, part, root), title, part)


def md5(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _check_lists(key: str, folder: Path) -> dict[str, str]:
    """VOC and Pets: each split list must hold the real number of images, and every file it
    names must be there (``ok``, ``missing`` or ``incomplete (...)``)."""
    report = {}
    for _, rel, expected in SPLITS[key].values():
        path = folder / rel
        if not path.exists():
            report[rel] = "missing"
            continue
        ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
        if len(ids) != expected:
            report[rel] = f"incomplete ({len(ids)} images listed, the real list has {expected})"
            continue
        needed = ([f"JPEGImages/{i}.jpg" for i in ids] + [f"SegmentationClass/{i}.png" for i in ids]
                  if key == "voc" else [f"images/{i}.jpg" for i in ids])
        absent = [f for f in needed if not (folder / f).exists()]
        report[rel] = "ok" if not absent else f"incomplete ({len(absent)} listed files missing, e.g. {absent[0]})"
    return report


def check(root: str | Path | None = None, names=None) -> dict[str, dict[str, str]]:
    """Verify the files of ``names`` (default: every known dataset) under the data root:
    ``{dataset: {file: status}}`` (chapter 1). Status is ``ok``, ``missing``, ``corrupt (md5 ...)``
    (MNIST, Fashion-MNIST, CIFAR-10: every file's MD5) or ``incomplete (...)`` (VOC, Pets: the
    split lists' lengths and the files they name; torchvision checked the archive's MD5).
    """
    root = Path(root) if root is not None else config.data_root()
    keys = DATASETS if names is None else [_check_name(n) for n in names]
    report = {}
    for key in keys:
        if key in SPLITS:
            report[key] = _check_lists(key, root / DATASETS[key][1])
            continue
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
    """Download ``name`` through torchvision into the data root and verify it (chapter 1).

    torchvision shows a progress bar and checks the archive's MD5 (an archive already in place
    with the right MD5 is not downloaded again); the files are then verified with :func:`check`.
    Nothing is done when they are already there. Without a network use
    :func:`course_utils.data.fetch.prepare`, which says what to download and where to put it.
    """
    key = _check_name(name)
    root = Path(root) if root is not None else config.data_root()
    if all(s == "ok" for s in check(root, [key])[key].values()):
        return root / DATASETS[key][1]
    root.mkdir(parents=True, exist_ok=True)
    if key in SPLITS:  # one archive (set) holds every split: fetch and extract it once
        first, *rest = SPLITS[key]
        _photo_dataset(key, root, first, download=True)
        for split in rest:
            _photo_dataset(key, root, split, download=False)
    else:
        for train in (True, False):
            _torchvision_dataset(key, root, train, download=True)
    bad = {f: s for f, s in check(root, [key])[key].items() if s != "ok"}
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
