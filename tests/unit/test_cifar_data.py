"""CIFAR-10 loading through torchvision on a tiny archive in the real on-disk format (chapter 5)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils.data import CIFAR10_CLASSES, DataMissingError
from course_utils.models.cifar import CifarLeNet


def write_cifar(root, per_batch: int = 20, n_test: int = 30, seed: int = 0):
    """cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta, pickled as in the
    real archive: dict with 'data' (N, 3072) uint8 rows in channel-major (R, G, B planes)
    order, 'labels' list of ints. Returns the arrays written, as (N, 32, 32, 3)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as fh:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{name}_{i}.png" for i in range(n)]}, fh)
        written[name] = (data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch,
                     "num_vis": 3072}, fh)
    return written


@pytest.fixture
def tiny_cifar(tmp_path):
    return tmp_path, write_cifar(tmp_path)


def test_colour_load_matches_the_pickled_arrays(tiny_cifar):
    root, written = tiny_cifar
    train = cu.data.load("cifar10", "train", root=root, verify=False)
    test = cu.data.load("cifar10", "test", root=root, verify=False)
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (30, 3, 32, 32)
    first = torch.from_numpy(written["data_batch_1"][0]).permute(0, 3, 1, 2)
    assert torch.equal(train.images[:20], first)
    last = torch.from_numpy(written["data_batch_5"][0]).permute(0, 3, 1, 2)
    assert torch.equal(train.images[80:], last)
    assert train.labels[:20].tolist() == written["data_batch_1"][1]
    assert test.labels.tolist() == written["test_batch"][1]
    assert train.classes == CIFAR10_CLASSES and train.name == "cifar10"


def test_grey_28_is_luminance_then_resized(tiny_cifar):
    root, written = tiny_cifar
    grey = cu.data.load("cifar10", "test", root=root, verify=False, grey=True, size=28)
    assert grey.images.shape == (30, 1, 28, 28) and grey.images.dtype == torch.uint8
    rgb = torch.from_numpy(written["test_batch"][0]).permute(0, 3, 1, 2).float()
    lum = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    expected = cu.data.resize(lum.round().clamp(0, 255).to(torch.uint8), 28)
    assert torch.equal(grey.images, expected)
    # the reports' network takes exactly this input
    assert CifarLeNet()(grey.float()).shape == (30, 10)
    assert CifarLeNet(in_channels=3, size=32)(cu.data.load(
        "cifar10", "test", root=root, verify=False).float()).shape == (30, 10)


def test_balanced_subset_with_separate_train_and_test_counts(tiny_cifar):
    root, _ = tiny_cifar
    train = cu.data.load("cifar10", "train", root=root, verify=False, subset=50, seed=3)
    counts = torch.bincount(train.labels, minlength=10)
    assert len(train) <= 50 and counts.max() <= 5
    again = cu.data.load("cifar10", "train", root=root, verify=False, subset=50, seed=3)
    assert torch.equal(train.images, again.images)


def test_real_md5_check_rejects_small_files_with_a_clear_error(tiny_cifar):
    root, _ = tiny_cifar
    assert cu.data.available("cifar10", root=root)  # all files present...
    with pytest.raises(DataMissingError, match="failed the integrity check.*verify=False"):
        cu.data.load("cifar10", "train", root=root)  # ...but they are not the real ones
    report = cu.data.check(root)["cifar10"]
    assert all(status.startswith("corrupt") for status in report.values())


def test_missing_cifar_says_how_to_get_it(tmp_path):
    with pytest.raises(DataMissingError, match="data prepare cifar10"):
        cu.data.load("cifar10", "train", root=tmp_path)


def test_chapter_data_uses_a_named_standin_when_cifar_is_absent(tmp_path, monkeypatch):
    if not cu.data.available("fashion-mnist"):
        pytest.skip("Fashion-MNIST not under the data root")
    monkeypatch.setenv("COURSE_DATA", str(cu.config.data_root()))
    train, test, banner = cu.data.cifar_or_standin(fast=True)
    if cu.data.available("cifar10"):
        assert banner is None and train.name == "cifar10"
    else:
        assert train.name == "fashion-mnist" and "stand-in" in banner and "cifar10" in banner
    assert len(train) == 400 and len(test) == 200
    assert torch.bincount(train.labels, minlength=10).tolist() == [40] * 10
    assert train.shape == (1, 28, 28)


def test_model_options_and_errors():
    x = torch.rand(4, 1, 28, 28)
    tanh = CifarLeNet(activation="tanh", dropout=0.5)
    assert not any(isinstance(m, torch.nn.ReLU) for m in tanh.modules())
    tanh.train()
    assert not torch.equal(tanh(x), tanh(x))  # dropout active in training
    tanh.eval()
    assert torch.equal(tanh(x), tanh(x))
    assert sum(isinstance(m, torch.nn.ReLU) for m in CifarLeNet().modules()) == 3
    with pytest.raises(ValueError, match="activation"):
        CifarLeNet(activation="gelu")
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        CifarLeNet()(torch.rand(2, 3, 32, 32))


def test_first_layer_kernel_and_stride():
    """The architecture comparison of chapter 6: the first convolution's size and stride change
    the map sizes (and the first linear layer) as the convolution arithmetic says."""
    x = torch.rand(3, 1, 28, 28)
    for kernel, stride, side in [(5, 1, 28), (7, 2, 14), (11, 4, 7)]:
        net = CifarLeNet(kernel1=kernel, stride1=stride)
        assert net.conv1.kernel_size == (kernel, kernel) and net.conv1.stride == (stride, stride)
        assert net.conv1(x).shape[-1] == side
        assert net.fc1.in_features == 64 * (side // 4) ** 2
        assert net(x).shape == (3, 10)
    assert CifarLeNet().fc1.in_features == 64 * 7 * 7  # the reports' network is unchanged
    with pytest.raises(ValueError, match="too small"):
        CifarLeNet(kernel1=11, stride1=10)  # a 3x3 map
    with pytest.raises(ValueError, match="integers >= 1"):
        CifarLeNet(kernel1=0)
