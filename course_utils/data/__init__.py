"""Data: datasets by name as in-memory tensors, batches, augmentations, generated scenes, and
fetching what is missing (chapter 1).

- ``datasets``  load a dataset by name (torchvision's classes, ``COURSE_DATA``) into uint8 tensors; verify; subsets
- ``batches``   shuffled float mini-batches from those tensors, padding
- ``augment``   batch augmentations and corruptions, all in one place
- ``scenes``    generated scenes (items on a canvas, with label maps) and Pascal VOC
- ``fetch``     download + MD5-verify what the chapters need, with one clear message offline
"""
from . import augment, fetch  # noqa: F401
from .augment import nchw, random_hflip  # noqa: F401  (cu.data.random_hflip in the notebooks)
from .batches import Batches, pad_to  # noqa: F401
from .datasets import (  # noqa: F401
    CHECKSUMS,
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_CLASSES,
    MNIST_CLASSES,
    DataMissingError,
    TensorData,
    available,
    check,
    cifar_description,
    cifar_or_standin,
    label_budget,
    load,
    load_or_standin,
    md5,
    prepare,
    resize,
    split_classes,
    to_float,
)
from .scenes import IGNORE, VOC_CLASSES, Scenes, load_voc, make_scenes, scene_data  # noqa: F401
