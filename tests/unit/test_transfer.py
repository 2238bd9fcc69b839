"""Small-data helpers, freezing, augmentation and the ResNet-18 path (chapter 12)."""
import copy

import pytest
import torch

from course_utils import data, train
from course_utils.data import TensorData, augment
from course_utils.models import transfer


def toy(n=40, classes=4, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.randint(0, 255, (n, 1, size, size), generator=g, dtype=torch.uint8)
    return TensorData(images, labels, [f"c{c}" for c in range(classes)], "toy")


def test_split_classes_and_label_budget():
    d = toy()
    s = data.split_classes(d, [3, 1])
    assert s.classes == ["c3", "c1"] and len(s) == 20
    assert torch.equal(s.images[s.labels == 0], d.images[d.labels == 3])
    b = data.label_budget(s, 4, seed=1)
    assert torch.bincount(b.labels).tolist() == [4, 4]
    assert torch.equal(data.label_budget(s, 4, seed=1).images, b.images)
    with pytest.raises(ValueError, match="per_class"):
        data.label_budget(s, 11)
    with pytest.raises(ValueError, match="distinct"):
        data.split_classes(d, [1, 1])


@pytest.mark.parametrize("trainable", [("head",), ("block2", "head")])
def test_frozen_parameters_stay_bit_identical_after_training(trainable):
    torch.manual_seed(0)
    model = transfer.SmallCNN(4, batchnorm=True, dropout=0.2, widths=(4, 4, 8, 8), hidden=16)
    frozen = transfer.freeze(model, trainable)
    assert frozen and all(not n.startswith(trainable) for n in frozen)
    before = copy.deepcopy(model.state_dict())
    train.fit(model, toy(), epochs=1, optimizer="momentum", lr=0.1, weight_decay=1e-3,
              batch_size=16, progress=False, device="cpu")
    after = model.state_dict()
    for name, value in before.items():
        module = name.rsplit(".", 1)[0]
        if any(module == t or module.startswith(t + ".") for t in trainable):
            continue
        assert torch.equal(value, after[name]), f"{name} changed"  # weights and BN buffers
    changed = [n for n, v in before.items() if n.startswith("head.5") and not torch.equal(v, after[n])]
    assert changed, "the trainable head must learn"
    assert 0 < transfer.trainable_fraction(model) < 1


def test_unfreeze_and_bad_name():
    model = transfer.SmallCNN(3)
    transfer.freeze(model, ("head",))
    transfer.unfreeze(model)
    assert transfer.trainable_fraction(model) == 1.0 and not model._freeze_handles
    with pytest.raises(ValueError, match="top-level modules"):
        transfer.freeze(model, ("classifier",))


def test_smallcnn_shapes_and_features():
    model = transfer.SmallCNN(3)
    x = torch.rand(2, 1, 28, 28)
    assert model(x).shape == (2, 3) and model.features(x).shape == (2, 128)
    assert isinstance(model.last_conv_relu, torch.nn.ReLU)
    with pytest.raises(ValueError):
        model(torch.rand(2, 3, 28, 28))


def test_augmentations_shapes_ranges_identities_and_seeds():
    x = torch.rand(6, 1, 28, 28)
    ident = augment.random_affine(x, degrees=0, translate=0, scale=(1, 1), shear=0)
    torch.testing.assert_close(ident, x, atol=1e-5, rtol=0)
    crop = augment.random_resized_crop(x, scale=(1, 1), ratio=(1, 1))
    torch.testing.assert_close(crop, x, atol=1e-5, rtol=0)
    assert torch.equal(augment.random_erasing(x, p=0.0), x)
    erased = augment.random_erasing(x, p=1.0)
    assert bool(((erased == 0) & (x > 0)).flatten(1).any(1).all())
    aug = augment.default_augmentation()
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    assert torch.equal(a, aug(x))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, x)
    with pytest.raises(ValueError, match="float batches"):
        augment.random_affine(torch.zeros(2, 28, 28))


def test_random_affine_moves_mass_as_asked():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:18, 10:18] = 1
    torch.manual_seed(0)
    y = augment.random_affine(x, degrees=0, translate=0.2, scale=(1, 1), shear=0)
    assert abs(float(y.sum()) - float(x.sum())) < 1.0  # a shift keeps the mass
    assert not torch.allclose(y, x)


def test_resnet18_path_with_random_weights():
    torch.manual_seed(0)
    model, note = transfer.resnet18_transfer(3, weights=None, size=32)
    assert "RANDOM" in note
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["net.fc.weight", "net.fc.bias"]
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 3)
    before = copy.deepcopy(model.state_dict())
    data = TensorData((x * 255).to(torch.uint8), torch.tensor([0, 1, 2, 0]), ["a", "b", "c"], "toy")
    train.fit(model, data, epochs=1, lr=0.1, batch_size=4, progress=False, device="cpu")
    after = model.state_dict()
    for name, value in before.items():
        if not name.startswith("net.fc."):
            assert torch.equal(value, after[name]), name
    assert not torch.equal(before["net.fc.weight"], after["net.fc.weight"])
    with pytest.raises(ValueError, match="weights must be None"):
        transfer.resnet18_transfer(3, weights="NO_SUCH_WEIGHTS")
