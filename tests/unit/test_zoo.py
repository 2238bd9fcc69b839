"""Tests of the chapter-2 CNN zoo (course_utils.models.zoo)."""
import pytest
import torch
import torch.nn as nn

from conftest import tiny_batch_losses
from course_utils import recipes
from course_utils.data import augment
from course_utils.models import SmallAlexNet, SmallResNet, VGGNet, count_params, summary, zoo

NAMES = ["alexnet", "vgg", "resnet"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [28, 64])
def test_output_shape(name, size):
    torch.manual_seed(0)
    model = zoo.build(name, num_classes=7).eval()
    assert model(torch.rand(3, 1, size, size)).shape == (3, 7)


def test_build_by_name_and_unknown_name():
    assert isinstance(zoo.build("VGG"), VGGNet)
    assert isinstance(zoo.build("alexnet"), SmallAlexNet)
    assert isinstance(zoo.build("resnet", blocks_per_stage=2), SmallResNet)
    with pytest.raises(ValueError, match="unknown zoo model 'lenet'.*alexnet"):
        zoo.build("lenet")


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_shape_is_rejected(name):
    model = zoo.build(name)
    with pytest.raises(ValueError, match=r"expects a batch of shape \(N, 1, H, W\)"):
        model(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="expects a batch"):
        model(torch.rand(28, 28))
    with pytest.raises(ValueError, match="at least"):
        model(torch.rand(2, 1, 2, 2))


def test_vgg_blocks_strides_and_widths():
    model = VGGNet(widths=(8, 8, 16, 16))
    assert isinstance(model.blocks, nn.ModuleList) and len(model.blocks) == 2
    outs = model.forward_features(torch.rand(2, 1, 64, 64))
    assert [o.shape[1:] for o in outs] == [(8, 32, 32), (16, 16, 16)]
    assert model.block_strides == (2, 4) and model.block_channels == (8, 16)
    four = VGGNet(widths=(8, 8, 16, 16), convs_per_block=1)
    assert four.block_strides == (2, 4, 8, 16)
    assert [o.shape[-1] for o in four.forward_features(torch.rand(1, 1, 64, 64))] == [32, 16, 8, 4]
    with pytest.raises(ValueError, match="multiple of convs_per_block"):
        VGGNet(widths=(8, 8, 16))
    # every block: 3x3 convs (padding 1) + BatchNorm + ReLU modules, ending with a max-pool
    for block in model.blocks:
        kinds = [type(m) for m in block]
        assert kinds[-1] is nn.MaxPool2d
        assert kinds[:-1] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2
        assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in block if isinstance(m, nn.Conv2d))


def test_wider_vgg_has_more_parameters():
    counts = [count_params(VGGNet(widths=w)) for w in [(16,) * 4, (16, 16, 32, 32), (32, 32, 64, 64)]]
    assert counts == sorted(counts) and len(set(counts)) == 3


@pytest.mark.parametrize("name", NAMES)
def test_relus_are_distinct_modules(name):
    model = zoo.build(name)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    seen = []
    model.eval()
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(id(m))) for m in relus]
    try:
        model(torch.rand(1, 1, 28, 28))
    finally:
        for h in handles:
            h.remove()
    assert relus and len(seen) == len(relus) == len(set(seen))  # each used exactly once


def test_resnet_shortcuts():
    model = SmallResNet(widths=(8, 16), blocks_per_stage=2)
    first, down = model.stages[0][0], model.stages[1][0]
    assert isinstance(first.shortcut, nn.Identity)
    conv = down.shortcut[0]
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.stride == (2, 2)
    assert isinstance(model.stages[1][1].shortcut, nn.Identity)


def test_summary_total_matches_count():
    model = VGGNet()
    table = summary(model, (1, 28, 28))
    assert table.iloc[-1]["params"] == count_params(model)


@pytest.mark.parametrize("name", NAMES)
def test_learns_a_tiny_subset(name):
    losses = tiny_batch_losses(lambda: zoo.build(name, num_classes=4), steps=15, lr=1e-3)
    assert losses[-1] < 0.5 * losses[0]


def test_random_shift_moves_whole_images():
    torch.manual_seed(0)
    x = torch.zeros(50, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = augment.random_shift(x, 2)
    assert out.shape == x.shape and torch.all(out.sum((1, 2, 3)) == 1)   # nothing lost at shift <= 2
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(pos.tolist())) > 5                                     # shifts differ per image
    torch.manual_seed(0)
    assert torch.equal(augment.random_shift(x, 2), out)                      # repeatable
    assert augment.random_shift(x, 0) is x
    with pytest.raises(ValueError, match="N, C, H, W"):
        augment.random_shift(torch.zeros(9, 9))


def test_zoo_recipe():
    fast = recipes.zoo("vgg", fast=True)
    full = recipes.zoo("vgg", fast=False)
    assert fast.data["train_size"] < 60000 and full.data["train_size"] is None
    assert full.epochs > fast.epochs and fast.augment == "shift:2" and fast.name == "ch02-vgg"
    wide = recipes.zoo("vgg", fast=True, model_kw={"widths": (16, 16, 32, 32)})
    assert wide.config()["model_kw"] == {"widths": [16, 16, 32, 32]}
    assert recipes.cache.config_key(wide.name, wide.config()) != recipes.cache.config_key(
        fast.name, fast.config())
    with pytest.raises(ValueError, match="unknown recipe fields"):
        recipes.zoo("vgg", learning_rate=0.1)
    with pytest.raises(ValueError, match="unknown zoo model"):
        recipes.zoo("lenet")


def test_train_or_load_mnist_caches(tmp_path, monkeypatch):
    from course_utils.data import TensorData
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    g = torch.Generator().manual_seed(0)
    data = TensorData((torch.rand(40, 1, 28, 28, generator=g) * 255).to(torch.uint8),
                      torch.arange(40) % 10, [str(i) for i in range(10)], "mnist", "train", {})
    cfg = recipes.zoo("resnet", fast=True, train_size=40, test_size=40, epochs=1,
                      model_kw={"widths": [8, 8]})
    model, h = recipes.train_or_load(cfg, data, data, progress=False)
    assert len(list(tmp_path.glob("ch02-resnet-*.pt"))) == 1 and h.epoch == [1]
    again, h2 = recipes.train_or_load(cfg, data, data, progress=False)
    assert h2.test_acc == h.test_acc
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="asks for 41 train images"):
        recipes.train_or_load(cfg.with_data(train_size=41), data, data, progress=False)
    # the recipe trains in channels_last: a 1x1 stride-2 shortcut on 4 channels is refused, not run
    with pytest.raises(ValueError, match="channels_last=False"):
        recipes.train_or_load(cfg.replace(model_kw={"widths": [4, 8]}), data, data, progress=False)
    assert len(list(tmp_path.glob("ch02-resnet-*.pt"))) == 1
