import pytest
import torch

import course_utils as cu
from course_utils import data


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_full_datasets_shapes_dtypes_ranges(name):
    train, test = data.load(name, "train"), data.load(name, "test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert set(train.labels.unique().tolist()) == set(range(10)) and len(train.classes) == 10
    x = train.float(slice(0, 100))
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.max()) > 0.99  # real images use the whole range


def test_names_are_normalised_and_unknown_rejected():
    assert data.load("FashionMNIST", "test", subset=20).name == "fashion-mnist"
    with pytest.raises(ValueError, match="unknown dataset 'svhn'.*expected one of"):
        data.load("svhn")
    with pytest.raises(ValueError, match="split must be"):
        data.load("mnist", "val")


def test_missing_dataset_error_names_folder_env_and_command(tmp_path):
    with pytest.raises(data.DataMissingError) as err:
        data.load("mnist", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "MNIST") in msg
    assert "COURSE_DATA" in msg
    assert "python -m course_utils data prepare mnist" in msg


def test_subset_is_balanced_and_seeded():
    a = data.load("mnist", "train", subset=500, seed=1)
    b = data.load("mnist", "train", subset=500, seed=1)
    c = data.load("mnist", "train", subset=500, seed=2)
    assert len(a) == 500 and torch.equal(a.labels.bincount(), torch.full((10,), 50))
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_batches_cover_every_example_once_and_repeat_with_seed(toy_data):
    batches = data.Batches(toy_data, batch_size=50, shuffle=True, seed=0)
    assert len(batches) == 6
    seen = torch.cat([y for _, y in batches])
    assert len(seen) == len(toy_data) and torch.equal(seen.sort().values, toy_data.labels.sort().values)
    first = [y for _, y in data.Batches(toy_data, 50, seed=0)]
    again = [y for _, y in data.Batches(toy_data, 50, seed=0)]
    assert all(torch.equal(p, q) for p, q in zip(first, again))
    x, _ = next(iter(batches))
    assert x.dtype == torch.float32 and x.max() <= 1


def test_check_reports_ok_missing_and_corrupt(tmp_path):
    report = data.check()
    assert set(report["mnist"].values()) == {"ok"}
    assert set(report["fashion-mnist"].values()) == {"ok"}
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"not mnist")
    bad = data.check(tmp_path)
    assert bad["mnist"]["raw/train-images-idx3-ubyte"].startswith("corrupt")
    assert bad["mnist"]["raw/t10k-images-idx3-ubyte"] == "missing"


def test_standin_is_announced(tmp_path):
    # CIFAR-10 is absent here: the stand-in comes with a banner naming both datasets
    got, banner = data.load_or_standin("cifar10", "fashion-mnist", split="test", subset=100,
                                       root=cu.config.data_root())
    if data.available("cifar10"):
        assert banner is None
    else:
        assert got.name == "fashion-mnist" and "cifar10" in banner and "stand-in" in banner


def test_pad_and_hflip():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    assert data.pad_to(x, 4).shape == (1, 1, 4, 4)
    torch.manual_seed(0)
    flipped = data.random_hflip(x.repeat(64, 1, 1, 1))
    n_flipped = int((flipped[:, 0, 0, 0] == 1).sum())
    assert 10 < n_flipped < 54
    with pytest.raises(ValueError):
        data.pad_to(x, 1)


@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_subset_size_must_be_a_positive_integer(toy_data, n):
    with pytest.raises(ValueError, match=f"subset size must be a positive integer or None, got {n!r}"):
        toy_data.subset(n)


@pytest.mark.parametrize("size", [0, -28, 28.0])
def test_load_size_must_be_a_positive_integer(size):
    with pytest.raises(ValueError, match=f"size must be a positive integer .pixels. or None, got {size!r}"):
        data.load("fashion-mnist", "test", size=size)


def test_batches_reject_bad_batch_size_and_mismatched_lengths(toy_data):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 2.5"):
        data.Batches(toy_data, batch_size=2.5)
    with pytest.raises(ValueError, match="256 images but 10 labels"):
        data.Batches((toy_data.images, toy_data.labels[:10]))
