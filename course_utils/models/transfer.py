"""The networks of transfer learning and how to freeze them (chapter 12).

- :class:`SmallCNN` is the four-convolution network trained from scratch, optionally with
  BatchNorm and dropout; its ``block1``, ``block2`` and ``head`` are what transfer freezes.
- :func:`freeze` fixes parameters (``requires_grad`` off) *and* the running statistics of the
  frozen BatchNorm layers, so frozen layers stay bit-identical during training.
- :func:`resnet18_transfer` is torchvision's ResNet-18 with a new ``fc`` and the rest frozen,
  for readers who have the ImageNet weights.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import pretrained
from .pretrained import IMAGENET_MEAN, IMAGENET_STD


# --------------------------------------------------------------------------- model
class SmallCNN(nn.Module):
    """Four 3x3 convolutions in two blocks (conv-conv-pool, twice) and a two-layer head
    (chapter 12). ``batchnorm`` adds BatchNorm after every convolution, ``dropout`` adds
    dropout after each block and before each linear layer. For 28x28 inputs the blocks give
    32 maps of 14x14 and 64 maps of 7x7; ``features(x)`` is the head's 128-d hidden layer.
    ``OUTPUT`` is the name of the last linear layer (the one transfer replaces).
    """

    OUTPUT = "head.5"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths: Sequence[int] = (32, 32, 64, 64),
                 hidden: int = 128, batchnorm: bool = False, dropout: float = 0.0, size: int = 28):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"SmallCNN has four convolutions; widths must have 4 entries, got {widths}")

        def conv(c_in, c_out):
            layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            return layers + [nn.ReLU()]

        def block(c_in, c_mid, c_out):
            layers = conv(c_in, c_mid) + conv(c_mid, c_out) + [nn.MaxPool2d(2)]
            if dropout:
                layers.append(nn.Dropout2d(dropout / 2))
            return nn.Sequential(*layers)

        self.num_classes, self.in_channels = num_classes, in_channels
        self.block1 = block(in_channels, widths[0], widths[1])
        self.block2 = block(widths[1], widths[2], widths[3])
        flat = widths[3] * (size // 4) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    @property
    def last_conv_relu(self) -> nn.Module:
        """The ReLU after the fourth convolution (the layer Grad-CAM looks at)."""
        return [m for m in self.block2 if isinstance(m, nn.ReLU)][-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d hidden layer of the head (what t-SNE embeds)."""
        return self.head[:4](self.block2(self.block1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SmallCNN expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.head(self.block2(self.block1(x)))


# --------------------------------------------------------------------------- freezing
def _keep_eval(module: nn.Module, _args) -> None:
    module.training = False


def freeze(model: nn.Module, trainable: Iterable[str] = ()) -> list[str]:
    """Freeze every parameter of ``model`` except those under the module names in
    ``trainable`` (e.g. ``("head",)`` or ``("block2", "head")``) (chapter 12).

    Frozen parameters get ``requires_grad=False``; a BatchNorm layer whose parameters are
    all frozen is kept in eval mode (by a forward pre-hook), so its running statistics do
    not move either and it normalises with them. Returns the frozen parameter names.
    Calling it again first undoes the previous call.
    """
    trainable = tuple(trainable)
    names = dict(model.named_modules())
    missing = [t for t in trainable if t not in names]
    if missing:
        top = [n for n, _ in model.named_children()]
        raise ValueError(f"no module named {missing} in {type(model).__name__}; top-level modules: {top}")
    unfreeze(model)

    def is_trainable(name: str) -> bool:
        return any(name == t or name.startswith(t + ".") for t in trainable)

    frozen = []
    for name, p in model.named_parameters():
        keep = is_trainable(name)
        p.requires_grad_(keep)
        if not keep:
            frozen.append(name)
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not is_trainable(name):
            handles.append(m.register_forward_pre_hook(_keep_eval))
    model._freeze_handles = handles  # plain attribute; undone by unfreeze()
    return frozen


def unfreeze(model: nn.Module) -> nn.Module:
    """Undo :func:`freeze`: every parameter trainable, BatchNorm layers follow the model's
    train/eval mode again (chapter 12)."""
    for h in getattr(model, "_freeze_handles", []):
        h.remove()
    model._freeze_handles = []
    for p in model.parameters():
        p.requires_grad_(True)
    model.train(model.training)
    return model


def trainable_fraction(model: nn.Module) -> float:
    """Share of the parameters that will be trained (chapter 12)."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / max(total, 1)


# --------------------------------------------------------------------------- ResNet-18
class ResNetTransfer(nn.Module):
    """torchvision's ResNet-18 for small grey images (chapter 12): ``prep`` repeats the grey
    channel three times, resizes to ``size`` and applies ImageNet normalisation; ``net`` is the
    ResNet whose ``fc`` was replaced by a ``num_classes``-way layer."""

    def __init__(self, net: nn.Module, size: int = 64):
        super().__init__()
        self.net, self.size = net, size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected (N, 1 or 3, H, W) images in [0, 1], got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.prep(x))


def resnet18_net(num_classes: int, size: int = 64) -> ResNetTransfer:
    """A randomly initialised ResNet-18 with a ``num_classes``-way ``fc``, nothing frozen
    (what a recipe builds before copying the ImageNet weights in) (chapter 12)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return ResNetTransfer(net, size=size)


def resnet18_transfer(num_classes: int, weights=None, size: int = 64, train_last_block: bool = False,
                      download: bool = False) -> tuple[ResNetTransfer, str]:
    """ResNet-18 with a new ``fc`` for ``num_classes`` and everything else frozen (chapter 12).

    ``weights="IMAGENET1K_V1"`` loads torchvision's ImageNet weights from torch's cache
    (:func:`~course_utils.models.pretrained.load`; ``download=True`` fetches them when
    missing), otherwise this raises (no silent substitute). With ``weights=None`` the backbone
    is randomly initialised. Returns the model and a sentence saying which weights it holds.
    ``train_last_block`` also leaves ``layer4`` trainable (fine-tuning).
    """
    if weights is None:
        model = resnet18_net(num_classes, size)
        note = "ResNet-18 with RANDOM weights (no pretrained weights were asked for)."
    elif weights == "IMAGENET1K_V1":
        net = pretrained.load("resnet18", download=download)
        net.fc = nn.Linear(net.fc.in_features, num_classes)
        model = ResNetTransfer(net, size=size)
        note = f"ResNet-18 with the ImageNet weights IMAGENET1K_V1 from {pretrained.path('resnet18')}."
    else:
        raise ValueError(f"weights must be None (random) or 'IMAGENET1K_V1', got {weights!r}")
    freeze(model, trainable=("net.fc", "net.layer4") if train_last_block else ("net.fc",))
    return model, note
