"""Plain ``nn.Module`` definitions used across the chapters, a registry that builds them by
name (what a :class:`~course_utils.recipes.Recipe` names), and a layer-table summary."""
from __future__ import annotations

import torch
import torch.nn as nn

from . import cifar, fcn, lenet, localizer, rnn, transfer, vae, zoo
from .lenet import LeNet5, MyNet  # noqa: F401
from .rnn import RowRNN  # noqa: F401
from .zoo import SmallAlexNet, SmallResNet, VGGNet  # noqa: F401

FACTORIES = {
    "lenet5": lenet.LeNet5, "mynet": lenet.MyNet,
    "alexnet": zoo.SmallAlexNet, "vgg": zoo.VGGNet, "resnet": zoo.SmallResNet,
    "rowrnn": rnn.RowRNN, "cifar-lenet": cifar.CifarLeNet,
    "gapnet": localizer.GAPNet, "gapresnet": localizer.GAPResNet,
    "fcn": fcn.build_fcn, "unet": fcn.build_unet,
    "encoder-classifier": fcn.EncoderClassifier, "vae": vae.build, "smallcnn": transfer.SmallCNN,
    "resnet18-transfer": transfer.resnet18_net,
}


def build(name: str, **kw) -> nn.Module:
    """A network of the book by registry name (``"lenet5"``, ``"vgg"``, ``"rowrnn"``,
    ``"gapnet"``, ``"fcn"``, ``"vae"``...); keyword arguments go to its constructor."""
    if name not in FACTORIES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(FACTORIES)}")
    return FACTORIES[name](**kw)


def load_matching(model: nn.Module, state: dict, rename: dict | None = None) -> list[str]:
    """Copy into ``model`` every tensor of ``state`` whose name, after replacing the prefixes
    in ``rename`` (``{"blocks.": "encoder.stages."}``), and shape match one of the model's;
    returns the names copied. Raises when nothing matches, so a wrong map cannot pass silently."""
    own = model.state_dict()
    copied = {}
    for name, value in state.items():
        for old, new in (rename or {}).items():
            if name.startswith(old):
                name = new + name[len(old):]
                break
        if name in own and own[name].shape == value.shape:
            copied[name] = value
    if not copied:
        raise ValueError(f"no tensor of the source matches {type(model).__name__} "
                         f"(renames {dict(rename or {})}); source names start "
                         f"{sorted(state)[:3]}, the model's {sorted(own)[:3]}")
    model.load_state_dict(copied, strict=False)
    return sorted(copied)


def summary(model: nn.Module, input_shape: tuple[int, ...], device=None):
    """Layer table of ``model`` for one input of ``input_shape`` (C, H, W): name, type, output
    shape and parameter count of every leaf module, plus a total row (chapter 1)."""
    import pandas as pd

    device = device or next(model.parameters()).device
    rows, handles = [], []

    def hook(module, _inp, out, name):
        shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else "-"
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append({"layer": name, "type": type(module).__name__, "output": str(shape), "params": params})

    was_training = model.training
    try:
        for name, module in model.named_modules():
            if name and not list(module.children()):
                handles.append(module.register_forward_hook(lambda m, i, o, n=name: hook(m, i, o, n)))
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    rows.append({"layer": "total", "type": "", "output": "", "params": total})
    return pd.DataFrame(rows)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
