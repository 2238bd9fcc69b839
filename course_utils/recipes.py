"""What to train, once: a :class:`Recipe` names the model, the data, the optimiser and its
schedule, the epochs, the augmentation and the training step; its checkpoint key is a hash of
the recipe itself, so changing any part of it retrains (chapter 1).

:func:`train_or_load` is the one train-or-load of the book: it fetches the checkpoint of a
recipe from :mod:`course_utils.cache`, or builds the model, trains it with
:func:`course_utils.train.fit` and saves it. The chapters' recipes follow: chapter 1's
Fashion-MNIST networks (also used by chapters 3 and 4), chapter 2's zoo (chapter 7 fetches its
VGG net), chapter 5's reference network (chapter 6 opens it up), chapter 7's recurrent nets,
the localisers of chapters 8 and 9, the autoencoders of chapter 10, the FCNs of chapter 11 and
the source, remedies and transfers of chapter 12.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import cache, config, data, models, steps
from .data import augment
from .models import pretrained
from .timing import timed
from .train import fit


# --------------------------------------------------------------------------- the recipe
@dataclass(frozen=True)
class Recipe:
    """Everything that changes a trained network (chapter 1).

    ``model`` and ``model_kw`` go to :func:`course_utils.models.build`. ``data`` is a spec for
    :func:`load_data` (``{"dataset": "mnist", "train_size": 1200, "test_size": 500, "seed": 0}``,
    or with ``"canvas"`` for single items on a larger canvas, or with ``"kind": "scenes"`` for
    chapter 11's generated scenes); ``None`` means the caller passes
    the data to :func:`train_or_load`, which then adds a fingerprint of it to the key.
    ``augment`` names an augmentation for :func:`augmentation`; ``step`` and ``step_kw`` a
    training step for :func:`course_utils.steps.make`. ``init`` is another recipe whose trained
    weights start this one (fine-tuning, a pretrained encoder), or ``"imagenet:<name>"`` for
    torchvision's ImageNet weights (:mod:`course_utils.models.pretrained`, whose file's SHA-256
    then joins the key): every tensor whose name, after the prefix renames of ``init_rename``,
    and shape match is copied before training. ``channels_last`` trains in that memory format
    (faster convolutions; it changes the order of the sums, so it is part of the key). The other
    fields are :func:`course_utils.train.fit`'s arguments.
    """

    name: str
    model: str
    model_kw: Mapping = field(default_factory=dict)
    data: Mapping | None = None
    epochs: int = 10
    optimizer: str = "momentum"
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    warmup_epochs: float = 0
    scheduler: str | None = None
    max_grad_norm: float | None = None
    augment: str | None = None
    step: str = "classify"
    step_kw: Mapping = field(default_factory=dict)
    snapshot_epochs: tuple = ()
    seed: int = 0
    init: Recipe | str | None = None
    init_rename: Mapping = field(default_factory=dict)
    init_skip: tuple = ()
    trainable: tuple | None = None
    channels_last: bool = False

    def __post_init__(self):
        if isinstance(self.init, str):
            kind, _, name = self.init.partition(":")
            if kind != "imagenet" or name not in pretrained.WEIGHTS:
                raise ValueError(f"recipe {self.name!r}: init must be a Recipe or 'imagenet:<name>' with a name "
                                 f"in {sorted(pretrained.WEIGHTS)}, got {self.init!r}")
        elif self.init is not None and self.init.data is None:
            raise ValueError(f"recipe {self.name!r}: its init recipe {self.init.name!r} needs a data "
                             "spec, since it is trained (or fetched) on its own")

    def replace(self, **changes) -> Recipe:
        """A copy with some fields changed (a clear error for a field that does not exist)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}; expected some of "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def with_data(self, **changes) -> Recipe:
        """A copy whose data spec has some entries changed (``train_size=...``)."""
        if self.data is None:
            raise ValueError(f"recipe {self.name!r} has no data spec to change")
        unknown = set(changes) - set(self.data)
        if unknown:
            raise ValueError(f"unknown data entries {sorted(unknown)}; expected some of {sorted(self.data)}")
        return self.replace(data={**self.data, **changes})

    def config(self) -> dict:
        """The recipe as plain JSON-able data: what the checkpoint key hashes (``init``,
        ``init_rename``, ``init_skip``, ``trainable`` and ``channels_last`` only when set, so
        recipes without them keep their keys)."""
        cfg = _plain(dataclasses.asdict(self))
        for name in ("init", "init_rename"):
            if not cfg[name]:
                del cfg[name]
        node = cfg
        while isinstance(node, dict):   # at every level of init, since these came later
            for name, unset in (("init_skip", []), ("trainable", None), ("channels_last", False)):
                if node.get(name, unset) == unset:
                    node.pop(name, None)
            node = node.get("init")
        return cfg


def _plain(v):
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def fingerprint(d) -> str:
    """Short hash of a dataset's images and labels, so a key changes with the data."""
    h = hashlib.sha1()
    h.update(d.images.numpy().tobytes())
    h.update(d.labels.numpy().tobytes())
    return h.hexdigest()[:12]


def key_config(recipe: Recipe, train=None, test=None) -> dict:
    """The dict that keys ``recipe``'s checkpoint: the recipe, plus fingerprints of the data
    passed in when the recipe has no data spec."""
    cfg = recipe.config()
    if isinstance(recipe.init, str):   # another file under the same name retrains
        cfg["init_sha256"] = pretrained.digest(recipe.init.partition(":")[2])
    if recipe.data is None:
        if train is None:
            raise ValueError(f"recipe {recipe.name!r} has no data spec: pass the training data")
        cfg["data_hash"] = fingerprint(train)
        cfg["test_hash"] = None if test is None else fingerprint(test)
    return cfg


# --------------------------------------------------------------------------- data and augmentation
def load_data(spec: Mapping, split: str):
    """The ``split`` ("train" or "test") of a recipe's data spec, as TensorData (chapter 1)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if spec.get("kind") == "scenes":   # chapter 11: label maps, compact (no per-item records)
        return data.scene_data(spec["dataset"], split, spec[f"{split}_size"], canvas=spec["canvas"],
                               seed=spec.get("seed", 0), records=False)
    if "canvas" in spec:
        return canvas_data(spec, split)[0]
    if "classes" in spec:
        return class_data(spec, split)
    return data.load(spec["dataset"], split, subset=spec.get(f"{split}_size"), seed=spec.get("seed", 0))


def class_data(spec: Mapping, split: str):
    """The examples of ``spec["classes"]`` only, relabelled 0..k-1 (chapter 12's source task):
    ``per_class`` labelled examples of each in the training split, the whole test split (or a
    ``test_size`` sample). ``grey`` and ``size`` go to :func:`course_utils.data.load` (photos)."""
    seed = spec.get("seed", 0)
    kw = {k: spec[k] for k in ("grey", "size") if k in spec}
    d = data.split_classes(data.load(spec["dataset"], split, seed=seed, **kw), spec["classes"])
    if split == "train" and spec.get("per_class") is not None:
        return data.label_budget(d, spec["per_class"], seed=seed)
    size = spec.get(f"{split}_size")
    return d if size is None else d.subset(size, seed=seed)


def canvas_data(spec: Mapping, split: str):
    """Single items at a random place on a ``spec["canvas"]``-pixel canvas, as
    ``(TensorData, Scenes)``; the label is the item's class (chapters 8-10)."""
    size, seed = spec[f"{split}_size"], spec.get("seed", 0)
    source = data.load(spec["dataset"], split, subset=size, seed=seed)
    scenes = data.make_scenes(source, size, canvas=spec["canvas"], items=(1, 1),
                              seed=seed + (0 if split == "train" else 1))
    td = data.TensorData(scenes.images, scenes.item_classes[:, 0].clone(), list(source.classes),
                         f"{spec['dataset']}-canvas{spec['canvas']}", split)
    return td, scenes


def augmentation(spec: str | None):
    """An augmentation by name: ``None``, ``"hflip"``, ``"shift:<pixels>"`` or ``"default"``
    (chapter 12's mix)."""
    if spec is None:
        return None
    name, _, arg = str(spec).partition(":")
    if name == "hflip" and not arg:
        return augment.random_hflip
    if name == "shift" and arg.isdigit():
        shift = int(arg)
        return lambda x: augment.random_shift(x, shift)
    if name == "default" and not arg:
        return augment.default_augmentation()
    raise ValueError(f"unknown augmentation {spec!r}; expected None, 'hflip', 'shift:<pixels>' or 'default'")


# --------------------------------------------------------------------------- train or load
def build(recipe: Recipe):
    """The recipe's network, untrained, with everything outside ``trainable`` frozen."""
    model = models.build(recipe.model, **recipe.model_kw)
    if recipe.trainable is not None:
        models.transfer.freeze(model, recipe.trainable)
    return model


def initialise(model, recipe: Recipe, progress: bool = True):
    """Copy the weights of ``recipe.init`` into ``model`` (trained or fetched first), as
    :class:`Recipe` says; returns the names copied (none without an init)."""
    if recipe.init is None:
        return []
    source = (pretrained.load(recipe.init.partition(":")[2]) if isinstance(recipe.init, str)
              else train_or_load(recipe.init, progress=progress)[0])
    state = {k: v for k, v in source.state_dict().items() if not k.startswith(tuple(recipe.init_skip))}
    return models.load_matching(model, state, recipe.init_rename)


def start(recipe: Recipe, progress: bool = True):
    """The network that training starts from: :func:`build`, then :func:`initialise`
    (seed first, as :func:`train_or_load` does, for the same random draw)."""
    model = build(recipe)
    initialise(model, recipe, progress)
    return model


def train_by(recipe: Recipe, model, train, test=None, progress: bool = True):
    """Train ``model`` on ``train`` with every training setting of ``recipe`` (one
    :func:`~course_utils.train.fit`, no cache); ``test`` is evaluated after each epoch."""
    kw = dict(recipe.step_kw)
    if recipe.step != "classify":
        kw.setdefault("seed", recipe.seed)
    return fit(model, train, test, epochs=recipe.epochs, optimizer=recipe.optimizer,
               lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
               batch_size=recipe.batch_size, warmup_epochs=recipe.warmup_epochs,
               scheduler=recipe.scheduler, max_grad_norm=recipe.max_grad_norm,
               transform=augmentation(recipe.augment), seed=recipe.seed,
               snapshot_epochs=tuple(recipe.snapshot_epochs), progress=progress,
               desc=recipe.name, step=steps.make(recipe.step, **kw),
               channels_last=recipe.channels_last)


@timed("training")
def train_or_load(recipe: Recipe, train=None, test=None, progress: bool = True,
                  force: bool | None = None, keep_divergence: bool = False):
    """``(model, history)`` of ``recipe``: from the cache, or trained now and saved (chapter 1).

    ``train``/``test`` may be passed to avoid reloading; with a data spec they must have its
    sizes, without one they are required (and fingerprinted into the key). With
    ``keep_divergence``, a run whose loss blows up is kept as ``{"diverged": message}``
    instead of raising.
    """
    cfg = key_config(recipe, train, test)
    if recipe.data is not None:
        for d, split in ((train, "train"), (test, "test")):
            want = recipe.data.get(f"{split}_size")
            if d is not None and want is not None and len(d) != want:
                raise ValueError(f"the recipe asks for {want} {split} images, got {len(d)}")

    def run(model):
        initialise(model, recipe, progress)
        tr = train if train is not None else load_data(recipe.data, "train")
        te = test if test is not None or recipe.data is None else load_data(recipe.data, "test")
        try:
            return train_by(recipe, model, tr, te, progress)
        except FloatingPointError as err:
            if not keep_divergence:
                raise
            return {"diverged": str(err)}

    return cache.train_or_load(recipe.name, cfg, lambda: build(recipe), run, force=force)


# --------------------------------------------------------------------------- chapter 1 (and 3, 4)
def fashion_setup(fast: bool, epochs: int | None = None, batch_size: int | None = None) -> dict:
    """Data sizes and budget of chapter 1: ``train_size``, ``test_size`` (``None`` = all),
    ``epochs``, ``batch_size`` (fast: 6,000 / 1,000 images, 2 epochs of batch 32; full: all
    images, 15 epochs of batch 64). Explicit ``epochs``/``batch_size`` win (chapters 1, 3, 4)."""
    train_size, test_size = (6000, 1000) if fast else (None, None)
    return {"train_size": train_size, "test_size": test_size,
            "epochs": epochs or (2 if fast else 15), "batch_size": batch_size or (32 if fast else 64)}


def fashion(model: str, fast: bool, seed: int = 0, epochs: int | None = None, lr: float = 3e-2,
            momentum: float = 0.9, batch_size: int | None = None) -> Recipe:
    """Chapter 1's recipe for ``"lenet5"`` or ``"mynet"`` on Fashion-MNIST: SGD + momentum,
    learning rate decayed to zero along a cosine (chapters 1, 3, 4). MyNet trains in
    channels_last (1.23 times faster on one core); LeNet-5 gains too little to (1.07)."""
    setup = fashion_setup(fast, epochs, batch_size)
    return Recipe(f"ch01-{model}", model,
                  data={"dataset": "fashion-mnist", "train_size": setup["train_size"],
                        "test_size": setup["test_size"], "seed": seed},
                  epochs=setup["epochs"], optimizer="momentum", lr=lr, momentum=momentum,
                  batch_size=setup["batch_size"], scheduler="cosine", seed=seed,
                  channels_last=model == "mynet")


FASHION_MODELS = {"LeNet-5": "lenet5", "MyNet": "mynet"}


def fashion_models(fast: bool, seed: int = 0, train=None, test=None, **kw):
    """Chapter 1's LeNet-5 and MyNet, from the cache or trained now:
    ``({name: model}, {name: History})`` (chapters 1, 3, 4). ``kw`` go to :func:`fashion`."""
    out = {name: train_or_load(fashion(key, fast, seed, **kw), train, test)
           for name, key in FASHION_MODELS.items()}
    return {n: m for n, (m, _) in out.items()}, {n: h for n, (_, h) in out.items()}


# --------------------------------------------------------------------------- chapters 2 and 7
def zoo(model: str, fast: bool | None = None, seed: int = 0, train_size="default",
        test_size="default", max_shift: int = 2, **fields) -> Recipe:
    """Chapter 2's recipe for zoo model ``model`` on MNIST (chapter 7 fetches the same VGG).

    SGD with momentum 0.9, weight decay 5e-4, half an epoch of linear warm-up then a cosine
    decay, random shifts of up to 2 pixels, trained in channels_last (1.17-1.32 times faster
    on one core, ``benchmarks/cpu_tricks.py``). Fast mode: 1,200 training and 500 test images,
    2 epochs in batches of 32; full mode: all 60,000 / 10,000 images, 3 epochs in batches of
    128. ``fields`` replace any recipe field (``model_kw={"widths": ...}``, ``epochs``...).
    """
    key = str(model).lower()
    if key not in models.zoo.MODELS:
        raise ValueError(f"unknown zoo model {model!r}; expected one of {sorted(models.zoo.MODELS)}")
    fast = config.is_fast() if fast is None else bool(fast)
    sizes = {"train_size": 1200 if fast else None, "test_size": 500 if fast else None}
    if train_size != "default":
        sizes["train_size"] = train_size
    if test_size != "default":
        sizes["test_size"] = test_size
    base = Recipe(f"ch02-{key}", key, data={"dataset": "mnist", **sizes, "seed": seed},
                  epochs=2 if fast else 3, optimizer="momentum", lr=0.05, momentum=0.9,
                  weight_decay=5e-4, batch_size=32 if fast else 128, warmup_epochs=0.5,
                  scheduler="cosine", augment=f"shift:{max_shift}" if max_shift else None, seed=seed,
                  channels_last=True)
    return base.replace(**fields)


def rnn(cell: str, hidden_size: int = 128, fast: bool | None = None, seed: int = 0,
        **fields) -> Recipe:
    """Chapter 7's recipe for a :class:`~course_utils.models.rnn.RowRNN` on MNIST: Adam at
    2e-3 with a cosine decay, gradient norm clipped at 1. Fast mode: 5,000 / 1,000 images, 2
    epochs in batches of 64; full mode: 60,000 / 10,000 images, 10 epochs of 128 (at 1e-3 it
    took 16). ``fields`` replace any recipe field."""
    key = str(cell).lower()
    if key not in models.rnn.CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(models.rnn.CELLS)}")
    fast = config.is_fast() if fast is None else bool(fast)
    base = Recipe(f"ch07-{key}-h{int(hidden_size)}", "rowrnn",
                  model_kw={"cell": key, "hidden_size": int(hidden_size), "num_layers": 1},
                  data={"dataset": "mnist", "train_size": 5000 if fast else None,
                        "test_size": 1000 if fast else None, "seed": seed},
                  epochs=2 if fast else 10, optimizer="adam", lr=2e-3,
                  batch_size=64 if fast else 128, scheduler="cosine", max_grad_norm=1.0, seed=seed)
    return base.replace(**fields)


# --------------------------------------------------------------------------- chapters 5 and 6
CIFAR_REFERENCE = {"optimizer": "adam", "lr": 1e-3, "warmup_epochs": 3, "batch_size": 50,
                   "augment": "hflip"}


def cifar_snapshot_epochs(epochs: int) -> tuple[int, ...]:
    """Epochs whose weights are kept for the feature-evolution figure of chapter 6."""
    picks = {0, 1, 2, max(1, epochs // 2), epochs}
    return tuple(sorted(e for e in picks if e <= epochs))


def cifar(train, fast: bool, seed: int = 0, epochs: int | None = None, optimizer: str = "adam",
          lr: float = 1e-3) -> Recipe:
    """Chapter 5's recipe for a :class:`~course_utils.models.cifar.CifarLeNet` on ``train``
    (CIFAR-10 or its stand-in, passed in): batches of 50, random flips, 3 epochs of warm-up
    for Adam. Adam at 1e-3 is the reference network, with snapshots, that chapter 6 opens up."""
    epochs = epochs or (2 if fast else 10)
    reference = (optimizer, lr) == (CIFAR_REFERENCE["optimizer"], CIFAR_REFERENCE["lr"])
    return Recipe("ch05-cifar-lenet" if reference else f"ch05-{optimizer}", "cifar-lenet",
                  model_kw={"num_classes": len(train.classes), "in_channels": train.shape[0],
                            "size": train.shape[-1]},
                  epochs=epochs, optimizer=optimizer, lr=lr, batch_size=50,
                  warmup_epochs=3 if optimizer == "adam" else 0, augment="hflip",
                  snapshot_epochs=cifar_snapshot_epochs(epochs) if reference else (), seed=seed)


# --------------------------------------------------------------------------- chapters 8-10
def localizer(arch: str = "gapnet", fast: bool | None = None, seed: int = 0) -> Recipe:
    """A localiser (chapters 8 and 9): fast mode trains on 2,000 single-item canvases for 3
    epochs (300 to test), full mode on 12,000 for 6 epochs; Adam with a half-epoch warm-up and
    a cosine decay, which ends training on a stable model, in channels_last (GAPResNet 1.5 and
    GAPNet 1.13 times faster per step at one thread). Weights are kept after every epoch (epoch
    0 = initialisation) for Grad-CAM across training."""
    if arch not in models.localizer.ARCHS:
        raise ValueError(f"arch must be one of {sorted(models.localizer.ARCHS)}, got {arch!r}")
    fast = config.is_fast() if fast is None else fast
    train_size, test_size, epochs = (2000, 300, 3) if fast else (12000, 2000, 6)
    return Recipe(f"localizer-{arch}", arch,
                  data={"dataset": "fashion-mnist", "canvas": models.localizer.CANVAS,
                        "train_size": train_size, "test_size": test_size, "seed": seed},
                  epochs=epochs, optimizer="adam", lr=2e-3, batch_size=64, warmup_epochs=0.5,
                  scheduler="cosine", snapshot_epochs=tuple(range(epochs + 1)), seed=seed,
                  channels_last=True)


def vae(name: str, kind: str, arch: Mapping | None = None, epochs: int = 10, lr: float = 1e-3,
        batch_size: int = 128, recon: str = "bce", beta: float = 1.0, noise: float = 0.0,
        schedule: str | None = None, seed: int = 0, gan_weight: float = 5.0,
        d_lr: float = 2e-4) -> Recipe:
    """An autoencoder, VAE, CVAE or VAE-GAN of chapter 10 (``kind`` as in
    :func:`course_utils.models.vae.build`), trained with Adam on data passed to
    :func:`train_or_load`. ``noise > 0`` trains a denoiser; ``schedule="cosine"`` decays the
    learning rate to zero over the run."""
    step, step_kw = (("vaegan", {"beta": beta, "gan_weight": gan_weight, "d_lr": d_lr})
                     if kind == "vaegan" else ("vae", {"recon": recon, "beta": beta, "noise": noise}))
    return Recipe(name, "vae", model_kw={"kind": kind, **dict(arch or {})}, epochs=epochs,
                  optimizer="adam", lr=lr, batch_size=batch_size, scheduler=schedule,
                  step=step, step_kw=step_kw, seed=seed)


# --------------------------------------------------------------------------- chapter 11
def fcn(encoder: str, head: str, train, epochs: int, lr: float = 2e-3, batch_size: int = 32,
        seed: int = 0, optimizer: str = "adam", scheduler: str | None = "cosine",
        warmup_epochs: float = 0, init: Recipe | str | None = None, data: Mapping | None = None,
        **net_kw) -> Recipe:
    """A segmentation network of chapter 11 on label-map data passed to :func:`train_or_load`:
    ``head`` ``"fcn32"``, ``"fcn16"``, ``"fcn8"`` or ``"unet"`` on ``encoder``; per-pixel
    cross-entropy, Adam with a cosine decay (after ``warmup_epochs`` of linear warm-up) by
    default, trained in channels_last (1.07-1.54 times faster for these networks,
    ``benchmarks/cpu_tricks.py``). ``init``: a recipe whose encoder starts this one
    (:func:`seg_encoder`), or ``"imagenet:vgg16"`` with ``encoder="vgg16"`` for torchvision's
    ImageNet VGG-16 (renamed onto the encoder's stages). ``data``: a data spec
    (``{"kind": "scenes", ...}``, :func:`load_data`) instead of data passed in; ``train`` then
    only gives the classes and channels."""
    model, kw = ("unet", {}) if head == "unet" else ("fcn", {"head": head})
    rename = models.fcn.vgg16_rename() if init == "imagenet:vgg16" else {}
    return Recipe(f"ch11-{model}-{encoder}" + ("" if head == "unet" else f"-{head}"), model,
                  model_kw={"encoder": encoder, **kw, "num_classes": len(train.classes),
                            "in_channels": train.images.shape[1], **net_kw},
                  data=data, epochs=epochs, optimizer=optimizer, lr=lr, batch_size=batch_size,
                  warmup_epochs=warmup_epochs, scheduler=scheduler, seed=seed, init=init,
                  init_rename=rename, channels_last=True)


def seg_encoder(encoder: str, fast: bool | None = None, seed: int = 0) -> Recipe:
    """Chapter 11's encoder pretrained as a classifier of single Fashion-MNIST items on a 32x32
    canvas (:class:`~course_utils.models.fcn.EncoderClassifier`), the book's stand-in for an
    ImageNet start: fast mode 2,000 items for 1 epoch, full mode all 60,000 for 2; Adam with a
    half-epoch warm-up and a cosine decay, in channels_last like :func:`fcn`."""
    fast = config.is_fast() if fast is None else fast
    train_size, test_size, epochs = (2000, 500, 1) if fast else (60000, 2000, 2)
    return Recipe(f"ch11-encoder-{encoder}", "encoder-classifier", model_kw={"encoder": encoder},
                  data={"dataset": "fashion-mnist", "canvas": 32, "train_size": train_size,
                        "test_size": test_size, "seed": seed + 1},
                  epochs=epochs, optimizer="adam", lr=2e-3, batch_size=64, warmup_epochs=0.5,
                  scheduler="cosine", seed=seed, channels_last=True)


# --------------------------------------------------------------------------- chapter 12
TRANSFER_VARIANTS = ("scratch", "dropout + BatchNorm", "augmentation", "transfer (frozen)",
                     "fine-tune last block")


def transfer_source(dataset: str, classes, per_class: int, epochs: int, lr: float = 1e-3,
                    seed: int = 0, **load_kw) -> Recipe:
    """Chapter 12's source network: a :class:`~course_utils.models.transfer.SmallCNN` trained
    with Adam in batches of 64 on ``per_class`` labelled images of each of ``classes``
    (``load_kw``: ``grey``/``size`` for photos), in channels_last (1.15 times faster per step at
    one thread), like every SmallCNN of :func:`transfer`."""
    return Recipe("ch12-source", "smallcnn", model_kw={"num_classes": len(classes)},
                  data={"dataset": dataset, "classes": [int(c) for c in classes], "per_class": per_class,
                        "seed": seed, **load_kw},
                  epochs=epochs, optimizer="adam", lr=lr, batch_size=64, seed=seed, channels_last=True)


def transfer(variant: str, source: Recipe, num_classes: int, epochs: int, batch_size: int,
             lr: float = 1e-3, seed: int = 0, snapshot_epochs=()) -> Recipe:
    """A chapter-12 network for few labels (data passed to :func:`train_or_load`), trained
    with Adam: ``variant`` one of :data:`TRANSFER_VARIANTS`. The two transfers start from
    ``source``'s trained weights with a new output layer, and train the head (frozen) or the
    second block and the head (fine-tune)."""
    if variant not in TRANSFER_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {list(TRANSFER_VARIANTS)}")
    base = Recipe(f"ch12-{variant.replace(' ', '_')}", "smallcnn", model_kw={"num_classes": num_classes},
                  epochs=epochs, optimizer="adam", lr=lr, batch_size=batch_size,
                  snapshot_epochs=tuple(snapshot_epochs), seed=seed, channels_last=True)
    if variant == "dropout + BatchNorm":
        return base.replace(model_kw={"num_classes": num_classes, "batchnorm": True, "dropout": 0.3})
    if variant == "augmentation":
        return base.replace(augment="default")
    if variant == "scratch":
        return base
    trainable = ("head",) if variant == "transfer (frozen)" else ("block2", "head")
    return base.replace(init=source, init_skip=(models.transfer.SmallCNN.OUTPUT + ".",), trainable=trainable)


def resnet_transfer(imagenet: bool, fine_tune: bool, num_classes: int, size: int, epochs: int,
                    batch_size: int, lr: float = 1e-3, seed: int = 0) -> Recipe:
    """Chapter 12's ResNet-18 (:func:`~course_utils.models.transfer.resnet18_net`) with a new
    ``fc``: ImageNet weights when ``imagenet`` (else random), ``fc`` trained, and ``layer4`` too
    when ``fine_tune``; Adam on data passed to :func:`train_or_load`."""
    init = {"init": "imagenet:resnet18", "init_rename": {"": "net."}, "init_skip": ("fc.",)} if imagenet else {}
    return Recipe(f"ch12-resnet18-{'fine-tuned' if fine_tune else 'frozen'}", "resnet18-transfer",
                  model_kw={"num_classes": num_classes, "size": size}, epochs=epochs, optimizer="adam",
                  lr=lr, batch_size=batch_size, seed=seed,
                  trainable=("net.fc", "net.layer4") if fine_tune else ("net.fc",), **init)
