"""The recipe layer: a recipe is its own checkpoint key, and one train-or-load serves all."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils import cache, models, recipes
from course_utils.data import TensorData

BASE = recipes.Recipe("toy", "lenet5", data={"dataset": "mnist", "train_size": 40, "test_size": 20, "seed": 0})
CHANGED = {"name": "toy2", "model": "mynet", "model_kw": {"num_classes": 5},
           "data": {"dataset": "fashion-mnist", "train_size": 40, "test_size": 20, "seed": 0},
           "epochs": 3, "optimizer": "adam", "lr": 0.5, "momentum": 0.5, "weight_decay": 1e-4,
           "batch_size": 7, "warmup_epochs": 0.5, "scheduler": "cosine", "max_grad_norm": 1.0,
           "augment": "hflip", "step": "vae", "step_kw": {"beta": 2.0}, "snapshot_epochs": (0, 1),
           "seed": 3, "init": BASE.replace(name="start"), "init_rename": {"a.": "b."},
           "init_skip": ("fc.",), "trainable": ("head",), "channels_last": True}


def key(recipe, **kw):
    return cache.config_key(recipe.name, recipes.key_config(recipe, **kw))


def test_every_field_changes_the_key():
    fields = {f.name for f in dataclasses.fields(recipes.Recipe)}
    assert set(CHANGED) == fields, "give every recipe field a changed value here"
    for name, value in CHANGED.items():
        assert key(BASE.replace(**{name: value})) != key(BASE), name


def test_nested_entries_change_the_key():
    assert key(BASE.with_data(train_size=41)) != key(BASE)
    wide, wider = BASE.replace(model_kw={"in_channels": 1}), BASE.replace(model_kw={"in_channels": 3})
    assert key(wide) != key(wider)
    assert key(BASE.replace(model_kw={"num_classes": 10})) == key(BASE.replace(model_kw={"num_classes": 10}))


def data(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorData((torch.rand(n, 1, 28, 28, generator=g) * 255).to(torch.uint8),
                      torch.arange(n) % 10, [str(i) for i in range(10)], "toy", "train", {})


def test_passed_data_is_fingerprinted():
    recipe = BASE.replace(data=None)
    assert key(recipe, train=data()) == key(recipe, train=data())
    assert key(recipe, train=data()) != key(recipe, train=data(seed=1))
    assert key(recipe, train=data(), test=data(8)) != key(recipe, train=data())
    with pytest.raises(ValueError, match="pass the training data"):
        recipes.key_config(recipe)


def test_bad_recipes_fail_clearly():
    with pytest.raises(ValueError, match="unknown recipe fields"):
        BASE.replace(learning_rate=1)
    with pytest.raises(ValueError, match="unknown data entries"):
        BASE.with_data(size=3)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("lenet7")
    with pytest.raises(ValueError, match="unknown augmentation"):
        recipes.augmentation("rotate:5")
    with pytest.raises(ValueError, match="split must be"):
        recipes.load_data(BASE.data, "val")


def test_augmentations_by_name():
    x = torch.rand(4, 1, 28, 28)
    assert recipes.augmentation(None) is None
    torch.manual_seed(0)
    shifted = recipes.augmentation("shift:2")(x)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    assert recipes.augmentation("hflip")(x).shape == x.shape


def test_train_or_load_trains_once_and_keeps_divergence(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    recipe = recipes.Recipe("toy", "lenet5", epochs=1, batch_size=8, lr=1e-2)
    m1, h1 = recipes.train_or_load(recipe, data(), data(8), progress=False)
    m2, h2 = recipes.train_or_load(recipe, data(), data(8), progress=False)
    assert h1.test_acc == h2.test_acc and len(list(tmp_path.glob("toy-*.pt"))) == 1
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    blown = recipe.replace(name="blown", model="mynet", lr=1e12, optimizer="sgd", epochs=3)
    with pytest.raises(FloatingPointError):
        recipes.train_or_load(blown, data(), progress=False)
    _, h = recipes.train_or_load(blown, data(), progress=False, keep_divergence=True)
    assert "diverged" in h


def test_classify_step_can_leave_void_labels_out():
    from course_utils import steps

    logits, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    y[0, 0] = 255
    step = steps.make("classify", ignore_index=255)
    loss, n, _ = step(lambda x: x, logits, y)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, y, ignore_index=255))
    assert steps.make("classify") is None and n == y.numel()


def test_init_starts_a_recipe_from_another_ones_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setattr(recipes, "load_data", lambda spec, split: data(spec[f"{split}_size"]))
    source = recipes.Recipe("source", "lenet5", epochs=1, batch_size=8, lr=1e-2,
                            data={"dataset": "toy", "train_size": 24, "test_size": 8})
    target = recipes.Recipe("target", "lenet5", epochs=1, batch_size=8, lr=1e-30, optimizer="sgd",
                            init=source, data=None)
    src, _ = recipes.train_or_load(source, progress=False)
    moved, _ = recipes.train_or_load(target, data(), progress=False)   # lr ~0: only the copy moves it
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(src.state_dict().values(), moved.state_dict().values()))
    assert key(target, train=data()) != key(target.replace(init=source.replace(epochs=2)), train=data())
    assert "init" not in BASE.config() and "init_rename" not in BASE.config()
    with pytest.raises(ValueError, match="needs a data spec"):
        BASE.replace(init=source.replace(data=None))


def test_scene_specs_load_compact_scenes_and_key_the_recipe():
    """A ``"kind": "scenes"`` spec loads chapter 11's scenes (uint8 label maps, the same maps
    as the passed-in data), and its size joins the key."""
    from course_utils.data import scenes
    spec = {"dataset": "fashion-mnist", "kind": "scenes", "canvas": 64, "train_size": 12, "test_size": 4, "seed": 0}
    tr = recipes.load_data(spec, "train")
    ref = scenes.scene_data("fashion-mnist", "train", 12, canvas=64, seed=0)
    assert tr.labels.dtype == torch.uint8 and torch.equal(tr.labels.long(), ref.labels)
    assert torch.equal(tr.images, ref.images) and tr.classes == ref.classes
    base = recipes.fcn("vgg", "unet", ref, epochs=1, data=spec)
    bigger = recipes.fcn("vgg", "unet", ref, epochs=1, data={**spec, "train_size": 24})
    assert recipes.key_config(base) != recipes.key_config(bigger)


def test_older_recipes_keep_their_keys_when_fields_are_added():
    """Fields added later (``init_skip``, ``trainable``, ``channels_last``) join a key only when
    set, at every level of ``init``: the checkpoints of recipes that do not use them stay valid."""
    nested = BASE.replace(init=BASE.replace(name="start"))
    for cfg in (BASE.config(), nested.config(), nested.config()["init"]):
        assert not {"init_skip", "trainable", "channels_last"} & set(cfg)
    assert nested.replace(trainable=("head",)).config()["trainable"] == ["head"]
    assert nested.replace(channels_last=True).config()["channels_last"] is True


def test_class_specs_load_a_label_budget_of_some_classes():
    from course_utils import data as cud
    spec = {"dataset": "fashion-mnist", "classes": [5, 7], "per_class": 6, "seed": 1}
    tr, te = recipes.load_data(spec, "train"), recipes.load_data(spec, "test")
    ref = cud.label_budget(cud.split_classes(cud.load("fashion-mnist", "train"), [5, 7]), 6, seed=1)
    assert torch.equal(tr.images, ref.images) and torch.equal(tr.labels, ref.labels)
    assert tr.classes == ["Sandal", "Sneaker"] and torch.bincount(tr.labels).tolist() == [6, 6]
    assert len(te) == 2000 and set(te.labels.tolist()) == {0, 1}


def test_transfer_recipes_copy_all_but_the_output_layer_and_freeze(tmp_path, monkeypatch):
    """Chapter 12's transferred network starts from the source's weights except its new
    output layer, and only its head trains: the blocks stay bit-identical."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setattr(recipes, "load_data", lambda spec, split: data(24 if split == "train" else 8))
    source = recipes.transfer_source("toy", range(10), 2, epochs=1).replace(model_kw={"num_classes": 10})
    frozen = recipes.transfer("transfer (frozen)", source, 10, epochs=1, batch_size=8)
    src, _ = recipes.train_or_load(source, progress=False)
    start = recipes.start(frozen, progress=False)
    for name, w in src.state_dict().items():
        same = torch.equal(start.state_dict()[name], w)
        assert same != name.startswith("head.5."), name
    trained, _ = recipes.train_or_load(frozen, data(), progress=False)
    for name, w in src.state_dict().items():
        moved = not torch.equal(trained.state_dict()[name], w)
        assert moved == name.startswith("head."), name
    tuned = recipes.transfer("fine-tune last block", source, 10, epochs=1, batch_size=8)
    assert [n for n, p in recipes.build(tuned).named_parameters() if p.requires_grad][0].startswith("block2.")
    with pytest.raises(ValueError, match="unknown variant"):
        recipes.transfer("frozen", source, 10, epochs=1, batch_size=8)


def test_resnet_recipe_copies_imagenet_weights_but_fc(monkeypatch):
    from torchvision.models import resnet18

    from course_utils.models import pretrained, transfer
    torch.manual_seed(1)
    net = resnet18(weights=None)
    monkeypatch.setattr(pretrained, "load", lambda name: net)
    recipe = recipes.resnet_transfer(True, False, 5, size=32, epochs=1, batch_size=4)
    model = recipes.start(recipe, progress=False)
    assert isinstance(model, transfer.ResNetTransfer) and model.net.fc.out_features == 5
    assert torch.equal(model.net.conv1.weight, net.conv1.weight)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["net.fc.weight", "net.fc.bias"]
    assert "init" not in recipes.resnet_transfer(False, True, 5, 32, 1, 4).config()
