"""Fully convolutional networks for segmentation: FCN-32, FCN-16 and FCN-8 heads on the zoo's
encoders (chapter 11).

An FCN keeps a classifier's convolutional part (the *encoder*), turns its fully connected
layers into convolutions (``fc6``: 3x3, ``fc7``: 1x1) and scores every position with a 1x1
convolution. The coarse score map is upsampled back to the input size by transposed
convolutions initialised to bilinear interpolation. FCN-32 upsamples the deepest scores in one
step; FCN-16 first adds the scores of the stage before (VGG-16's ``pool4``), FCN-8 also those
of the stage before that (``pool3``), so finer, less abstract maps sharpen the boundaries.

The encoder is a list of stages, each ending with a 2x2 max-pool. The deepest stage plays the
role of VGG-16's ``pool5`` and the two before it play ``pool4`` and ``pool3``. With
:func:`vgg_encoder`'s default five blocks (strides 2 ... 32) the names match VGG-16 exactly:
``pool3`` is the output at stride 8 and ``pool4`` at stride 16. :func:`alexnet_encoder` splits
the small AlexNet at its three pools (strides 2, 4, 8): there ``pool5`` is at stride 8 and the
skips come from strides 4 and 2.

:class:`UNet` puts a U-Net decoder on the same encoders: it upsamples step by step and joins
every stage's features on the way up, down to the input itself, so it decides at stride 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from .zoo import SmallAlexNet, VGGNet

HEADS = {"fcn32": 0, "fcn16": 1, "fcn8": 2}


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights (channels, channels, k, k) that make a ConvTranspose2d upsample each channel
    by bilinear interpolation, channel by channel (chapter 11)."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt
    return weight


def upsampler(channels: int, factor: int, learnable: bool = True) -> nn.ConvTranspose2d:
    """Transposed convolution that enlarges maps ``factor`` times (kernel 2f, stride f,
    padding f/2), initialised to bilinear interpolation (chapter 11)."""
    if factor < 2 or factor & (factor - 1):
        raise ValueError(f"upsampling factor must be a power of two >= 2, got {factor}")
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2,
                            bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * factor))
    up.weight.requires_grad_(learnable)
    return up


class Encoder(nn.Module):
    """A stack of downsampling stages with their output strides and widths (chapter 11)."""

    def __init__(self, stages: Sequence[nn.Module], strides: Sequence[int],
                 channels: Sequence[int], in_channels: int = 1):
        super().__init__()
        if not (len(stages) == len(strides) == len(channels)) or len(stages) < 3:
            raise ValueError("an FCN encoder needs at least 3 stages, each with a stride and a width; "
                             f"got {len(stages)} stages, {len(strides)} strides, {len(channels)} widths")
        self.stages = nn.ModuleList(stages)
        self.strides = tuple(int(s) for s in strides)
        self.channels = tuple(int(c) for c in channels)
        self.in_channels = in_channels

    def check(self, x: torch.Tensor, who: str) -> None:
        """Raise a clear error unless ``x`` is (N, in_channels, H, W) with H and W divisible by
        the total stride."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{who} expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % self.strides[-1] or x.shape[-1] % self.strides[-1]:
            raise ValueError(f"{who} needs H and W divisible by its total stride {self.strides[-1]}, "
                             f"got {tuple(x.shape[-2:])}; pad or resize the images")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def vgg_encoder(widths: Sequence[int] = (32, 64, 96, 128, 128), convs_per_block: int = 1,
                in_channels: int = 1, vgg: VGGNet | None = None) -> Encoder:
    """The blocks of a :class:`~course_utils.models.zoo.VGGNet` as an FCN encoder (chapter 11).

    By default five blocks of one conv each: outputs at strides 2, 4, 8, 16, 32, so ``pool3``
    (stride 8), ``pool4`` (stride 16) and ``pool5`` (stride 32) are where VGG-16 has them. Pass
    a (trained) ``vgg`` to reuse its blocks and weights instead.
    """
    vgg = vgg if vgg is not None else VGGNet(widths=widths, convs_per_block=convs_per_block,
                                             in_channels=in_channels)
    return Encoder(list(vgg.blocks), vgg.block_strides, vgg.block_channels, vgg.in_channels)


def _split_at_pools(layers: Sequence[nn.Module], in_channels: int):
    """Stages of ``layers``, each ending with a max-pool (layers after the last pool join the
    deepest stage): ``(stages, channels, starts)``, ``starts`` being each stage's first index."""
    stages, current, channels, starts, c = [], [], [], [0], in_channels
    for i, layer in enumerate(layers):
        current.append(layer)
        if isinstance(layer, nn.Conv2d):
            c = layer.out_channels
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            channels.append(c)
            starts.append(i + 1)
            current = []
    if current:
        stages[-1] = nn.Sequential(*stages[-1], *current)
    return stages, channels, starts[:len(stages)]


def alexnet_encoder(in_channels: int = 1, alexnet: SmallAlexNet | None = None) -> Encoder:
    """:class:`~course_utils.models.zoo.SmallAlexNet`'s ``features`` split after each max-pool
    into three stages at strides 2, 4 and 8, as an FCN encoder (chapter 11)."""
    net = alexnet if alexnet is not None else SmallAlexNet(in_channels=in_channels)
    stages, channels, _ = _split_at_pools(list(net.features), net.in_channels)
    strides = [2 ** (i + 1) for i in range(len(stages))]
    return Encoder(stages, strides, channels, net.in_channels)


def vgg16_encoder(in_channels: int = 3) -> Encoder:
    """torchvision's VGG-16 ``features`` (FCN's original encoder) split at its five pools,
    strides 2 ... 32, randomly initialised: :func:`vgg16_rename` maps the ImageNet weights'
    names onto it, for a recipe's ``init="imagenet:vgg16"`` (chapter 11)."""
    import torchvision

    if in_channels != 3:
        raise ValueError(f"the VGG-16 encoder takes RGB images (in_channels=3), got in_channels={in_channels}")
    stages, channels, _ = _split_at_pools(list(torchvision.models.vgg16(weights=None).features), 3)
    return Encoder(stages, [2 ** (i + 1) for i in range(5)], channels, 3)


def vgg16_rename() -> dict[str, str]:
    """Prefix renames from torchvision's VGG-16 (``features.<j>.``) to :func:`vgg16_encoder`'s
    stages (``encoder.stages.<i>.<j - first>.``)."""
    import torchvision

    with torch.device("meta"):
        layers = list(torchvision.models.vgg16(weights=None).features)
    _, _, starts = _split_at_pools(layers, 3)
    ends = starts[1:] + [len(layers)]
    return {f"features.{j}.": f"encoder.stages.{i}.{j - a}."
            for i, (a, b) in enumerate(zip(starts, ends)) for j in range(a, b)}


ENCODERS = {"vgg": vgg_encoder, "alexnet": alexnet_encoder, "vgg16": vgg16_encoder}


def make_encoder(name: str, in_channels: int = 1, **kw) -> Encoder:
    """An encoder by name: ``"vgg"``, ``"alexnet"`` or ``"vgg16"`` (chapter 11)."""
    key = name.lower()
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; expected one of {sorted(ENCODERS)}")
    return ENCODERS[key](in_channels=in_channels, **kw)


class FCN(nn.Module):
    """FCN-32 / FCN-16 / FCN-8 (``head``) on an :class:`Encoder` (chapter 11).

    ``fc6`` (3x3 conv, ``fc_width``) and ``fc7`` (1x1 conv) with ReLU and dropout sit on the
    deepest stage; ``score_fc`` (1x1) gives ``num_classes`` scores there. FCN-16 adds
    ``score_pool4`` (1x1 on the stage before) after a 2x upsampling, FCN-8 then also
    ``score_pool3``; a last transposed convolution upsamples to the input size. Every
    upsampler starts as bilinear interpolation; the new score layers of the skips start at
    zero, so training begins from the coarser net's prediction, as in the FCN paper.
    The output has shape (N, num_classes, H, W) for an input (N, C, H, W) whose sides are
    multiples of the encoder's total stride.
    """

    def __init__(self, encoder: Encoder, num_classes: int, head: str = "fcn8",
                 fc_width: int = 256, dropout: float = 0.2):
        super().__init__()
        head = head.lower().replace("-", "")
        if head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {head!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + classes), got {num_classes}")
        self.encoder, self.head, self.num_classes = encoder, head, num_classes
        self.skips = HEADS[head]
        c_deep = encoder.channels[-1]
        self.fc = nn.Sequential(
            nn.Conv2d(c_deep, fc_width, 3, padding=1), nn.ReLU(), nn.Dropout2d(dropout),  # fc6
            nn.Conv2d(fc_width, fc_width, 1), nn.ReLU(), nn.Dropout2d(dropout),            # fc7
        )
        self.score_fc = nn.Conv2d(fc_width, num_classes, 1)
        self.score_skips = nn.ModuleList()
        self.up_skips = nn.ModuleList()
        for k in range(self.skips):  # k = 0: pool4 (one stage up), k = 1: pool3
            conv = nn.Conv2d(encoder.channels[-2 - k], num_classes, 1)
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
            self.score_skips.append(conv)
            ratio = encoder.strides[-1 - k] // encoder.strides[-2 - k]
            self.up_skips.append(upsampler(num_classes, ratio))
        self.out_stride = encoder.strides[-1 - self.skips]
        self.upsample = upsampler(num_classes, self.out_stride)
        self.stride = encoder.strides[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.encoder.check(x, "FCN")
        feats = self.encoder(x)
        score = self.score_fc(self.fc(feats[-1]))
        for k in range(self.skips):
            score = self.up_skips[k](score) + self.score_skips[k](feats[-2 - k])
        return self.upsample(score)


def build_fcn(encoder: str = "vgg", head: str = "fcn8", num_classes: int = 11,
              in_channels: int = 1, fc_width: int = 256, dropout: float = 0.2, **encoder_kw) -> FCN:
    """An FCN by names: ``encoder`` ``"vgg"`` or ``"alexnet"``, ``head`` ``"fcn32"``,
    ``"fcn16"`` or ``"fcn8"`` (chapter 11). Extra keywords go to the encoder builder."""
    return FCN(make_encoder(encoder, in_channels, **encoder_kw), num_classes, head=head,
               fc_width=fc_width, dropout=dropout)


class EncoderClassifier(nn.Module):
    """An FCN encoder as a classifier (chapter 11): the encoder, global average pooling of its
    deepest stage and a linear layer. Trained on single items, it gives the segmentation
    networks a pretrained start, as FCNs start from an ImageNet classifier; its parameters are
    named ``encoder.*`` like theirs, so they carry over by name."""

    def __init__(self, encoder: str = "vgg", num_classes: int = 10, in_channels: int = 1, **encoder_kw):
        super().__init__()
        self.encoder = make_encoder(encoder, in_channels, **encoder_kw)
        self.head = nn.Linear(self.encoder.channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)[-1].mean((2, 3)))


class _Up(nn.Module):
    """Bilinear upsampling by ``factor``, the skip's features joined on, then 3x3 conv,
    batch norm, ReLU (one decoder step of :class:`UNet`)."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, factor: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False)
        self.conv = nn.Sequential(nn.Conv2d(c_in + c_skip, c_out, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_out), nn.ReLU())

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], 1))


class UNet(nn.Module):
    """A U-Net on an :class:`Encoder` (chapter 11): from the deepest stage up, each decoder
    step upsamples bilinearly, joins the features of the stage before (the skip) and mixes
    them with a 3x3 convolution; the last step joins the input image itself, so the scores
    come at full resolution (``out_stride = 1``), where FCN-8 stops at stride 8. The decoder
    step that joins stage ``i`` has ``width`` times as many channels as that stage
    (``first_width`` where it joins the input)."""

    def __init__(self, encoder: Encoder, num_classes: int, first_width: int = 16, width: float = 1.0):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + classes), got {num_classes}")
        self.encoder, self.num_classes = encoder, num_classes
        skips = list(encoder.channels[:-1][::-1]) + [encoder.in_channels]   # deepest-but-one .. input
        strides = list(encoder.strides[::-1]) + [1]
        widths = [max(1, round(width * c)) for c in encoder.channels[:-1][::-1]] + [first_width]
        self.ups, c = nn.ModuleList(), encoder.channels[-1]
        for k, (c_skip, width) in enumerate(zip(skips, widths)):
            self.ups.append(_Up(c, c_skip, width, strides[k] // strides[k + 1]))
            c = width
        self.score = nn.Conv2d(c, num_classes, 1)
        self.out_stride, self.stride = 1, encoder.strides[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.encoder.check(x, "UNet")
        feats = self.encoder(x)
        skips = feats[:-1][::-1] + [x]
        y = feats[-1]
        for up, skip in zip(self.ups, skips):
            y = up(y, skip)
        return self.score(y)


def build_unet(encoder: str = "vgg", num_classes: int = 11, in_channels: int = 1,
               first_width: int = 16, width: float = 1.0, **encoder_kw) -> UNet:
    """A U-Net by encoder name (``"vgg"`` or ``"alexnet"``), like :func:`build_fcn`."""
    return UNet(make_encoder(encoder, in_channels, **encoder_kw), num_classes, first_width, width)
