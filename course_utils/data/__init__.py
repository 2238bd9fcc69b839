"""Data: datasets by name as in-memory tensors, batches, augmentations, generated scenes, and
fetching what is missing (chapter 1).

- ``datasets``  load a dataset by name (torchvision's classes, ``COURSE_DATA``) into uint8 tensors; verify; subsets;
                MNIST, Fashion-MNIST, CIFAR-10, Pascal VOC 2012 (segmentation), Oxford-IIIT Pets
- ``batches``   shuffled float mini-batches from those tensors, padding
- ``augment``   batch augmentations and corruptions, all in one place
- ``scenes``    generated scenes (items on a canvas, with label maps); ``load_voc``
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
    PETS_CLASSES,
    SPLITS,
    TITLES,
    VOC_CLASSES,
    Choice,
    DataMissingError,
    TensorData,
    available,
    check,
    choose,
    cifar_description,
    cifar_or_standin,
    label_budget,
    load,
    load_or_standin,
    load_photos,
    md5,
    prepare,
    resize,
    split_classes,
    standin_banner,
    subset_index,
    to_float,
    to_grey,
)
from .scenes import IGNORE, Scenes, load_voc, make_scenes, scene_data  # noqa: F401
