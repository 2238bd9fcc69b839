"""Augmentations hand the model explicit NCHW strides (the oneDNN channels_last trap)."""
import pytest
import torch

import course_utils as cu
from course_utils.data import augment

AUGMENTATIONS = {
    "hflip": augment.random_hflip,
    "shift": augment.random_shift,
    "affine": augment.random_affine,
    "resized_crop": augment.random_resized_crop,
    "erasing": lambda x: augment.random_erasing(x, p=1.0),
    "brightness_contrast": augment.random_brightness_contrast,
    "chapter12": augment.default_augmentation(),
}


def nchw_strides(shape):
    c, h, w = shape[1:]
    return (c * h * w, h * w, w, 1)


def ambiguous_batch(n=6, c=1, size=12):
    """A batch whose strides read as channels_last (and, for one channel, as contiguous too)."""
    return torch.rand(n, size, size, c).permute(0, 3, 1, 2)


def test_the_trap_is_real():
    x = ambiguous_batch()
    assert x.stride() == (144, 1, 12, 1)
    assert x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    assert x.contiguous().stride() == (144, 1, 12, 1)           # .contiguous() keeps the trap
    assert augment.nchw(x).stride() == (144, 144, 12, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_nchw_returns_plain_strides_and_keeps_values(channels):
    x = ambiguous_batch(c=channels)
    out = augment.nchw(x)
    assert out.stride() == nchw_strides(x.shape) and torch.equal(out, x)
    assert augment.nchw(out) is out                              # already plain: no copy


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_every_augmentation_returns_nchw(name, channels, layout):
    torch.manual_seed(0)
    x = torch.rand(8, channels, 16, 16)
    if layout == "channels_last":
        x = ambiguous_batch(8, channels, 16)
    out = AUGMENTATIONS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.stride() == nchw_strides(x.shape), (name, out.stride())


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentations_reject_uint8_with_a_clear_error(name):
    with pytest.raises(ValueError, match="float batches.*to_float"):
        AUGMENTATIONS[name](torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_batches_yield_nchw_whatever_the_transform(toy_data):
    def to_channels_last(x):
        return x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)

    for x, _ in cu.data.Batches(toy_data, 32, transform=to_channels_last):
        assert x.stride() == nchw_strides(x.shape)


def test_old_import_paths_still_work():
    from course_utils.data import random_hflip
    assert random_hflip is augment.random_hflip
