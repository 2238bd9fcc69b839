"""One training step of every network the book trains, each with its chapter's augmentation,
fed through ``data.Batches`` as ``train.fit`` feeds it, in the memory format its recipe trains
it in. Run in a subprocess by
``tests/unit/test_onednn_guard.py`` under several thread counts and kernel families: a crash or
hang in a convolution's backward pass (the oneDNN channels_last trap) then fails the test
instead of the whole suite. Prints one ``ok <name>`` line per network."""
from __future__ import annotations

import faulthandler
import sys

import torch

from course_utils import data, train
from course_utils.data import augment
from course_utils.models import build, fcn, localizer, rnn, transfer, vae, zoo
from course_utils.models.cifar import CifarLeNet
from course_utils.models.lenet import LeNet5, MyNet

faulthandler.enable(all_threads=True)
faulthandler.dump_traceback_later(200, exit=True)  # a hang prints every thread's stack, then exits

# name: (model factory, (C, H, W) of the input, augmentation)
NETWORKS = {
    "ch01 LeNet-5": (LeNet5, (1, 28, 28), None),
    "ch01 MyNet": (MyNet, (1, 28, 28), None),
    "ch02 AlexNet": (zoo.SmallAlexNet, (1, 28, 28), augment.random_shift),
    "ch02 VGG": (zoo.VGGNet, (1, 28, 28), augment.random_shift),
    "ch02 ResNet": (zoo.SmallResNet, (1, 28, 28), augment.random_shift),
    "ch02 ResNet(4, 8)": (lambda: zoo.SmallResNet(widths=(4, 8)), (1, 28, 28), augment.random_shift),
    "ch05 LeNet (CIFAR, grey)": (CifarLeNet, (1, 28, 28), augment.random_hflip),
    "ch01 tanh+dropout variant": (lambda: CifarLeNet(activation="tanh", dropout=0.5), (1, 28, 28),
                                  augment.random_hflip),
    "ch06 LeNet 11x11 s4": (lambda: CifarLeNet(kernel1=11, stride1=4), (1, 28, 28), augment.random_hflip),
    "ch06 LeNet 7x7 s2": (lambda: CifarLeNet(kernel1=7, stride1=2), (1, 28, 28), augment.random_hflip),
    "ch07 LSTM": (lambda: rnn.RowRNN("lstm", 32), (1, 28, 28), None),
    "ch07 GRU": (lambda: rnn.RowRNN("gru", 32), (1, 28, 28), None),
    "ch07 RNN": (lambda: rnn.RowRNN("rnn", 32), (1, 28, 28), None),
    "ch08 GAPNet": (localizer.GAPNet, (1, 56, 56), None),
    "ch08 GAPResNet": (localizer.GAPResNet, (1, 56, 56), None),
    "ch11 FCN-8 VGG": (lambda: fcn.build_fcn("vgg", "fcn8"), (1, 64, 64), None),
    "ch11 FCN-32 AlexNet": (lambda: fcn.build_fcn("alexnet", "fcn32"), (1, 64, 64), None),
    "ch11 FCN-8 AlexNet": (lambda: fcn.build_fcn("alexnet", "fcn8"), (1, 64, 64), None),
    "ch11 U-Net VGG": (lambda: build("unet", encoder="vgg", num_classes=11, in_channels=1, width=0.5),
                       (1, 64, 64), None),
    "ch11 encoder VGG": (lambda: build("encoder-classifier", encoder="vgg"), (1, 32, 32), None),
    "ch12 SmallCNN": (lambda: transfer.SmallCNN(num_classes=5), (1, 28, 28),
                      augment.default_augmentation()),
    "ch12 ResNet-18": (lambda: transfer.resnet18_transfer(5, train_last_block=True)[0], (1, 28, 28),
                       augment.default_augmentation()),
    **{f"ch10 {kind}": (lambda kind=kind: vae.build(kind), (1, 28, 28), None) for kind in vae.MODELS},
}


# chapter 1's MyNet and chapter 2's and 11's networks train in channels_last (recipes.fashion,
# recipes.zoo, recipes.fcn, recipes.seg_encoder): so here too; ResNet(4, 8), the trap itself,
# is guarded in NCHW only
CHANNELS_LAST = ({name for name in NETWORKS if name.startswith(("ch02 ", "ch11 "))} - {"ch02 ResNet(4, 8)"}
                 | {"ch01 MyNet", "ch08 GAPNet", "ch08 GAPResNet", "ch12 SmallCNN"})


def scalar(out) -> torch.Tensor:
    """A loss that touches every float tensor a model returns (logits, VAE outputs, FCN maps)."""
    if isinstance(out, torch.Tensor):
        return out.float().pow(2).mean() if out.is_floating_point() else out.sum() * 0.0
    return sum(scalar(o) for o in out if o is not None)


def step(name: str) -> None:
    make, shape, transform = NETWORKS[name]
    torch.manual_seed(0)
    model = make().train()
    images = torch.randint(0, 256, (16, *shape), dtype=torch.uint8)
    labels = torch.randint(0, 5, (16,))
    x, y = next(iter(data.Batches((images, labels), 16, transform=transform)))
    channels_last = name in CHANNELS_LAST
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with train.memory_format(model, channels_last):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.01)
        for _ in range(2):
            out = model(x, y) if name.endswith("cvae") else model(x)
            loss = scalar(out)
            opt.zero_grad()
            loss.backward()
            opt.step()
    print("ok", name, "(channels_last)" if channels_last else "", flush=True)


if __name__ == "__main__":
    for name in sys.argv[1:] or NETWORKS:
        step(name)
