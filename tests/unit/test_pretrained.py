"""ImageNet weights (chapters 8, 9 and 12), offline: randomly initialised state dicts planted
at the exact file names torch looks for in ``$TORCH_HOME/hub/checkpoints``, the download path
through a local HTTP server (torchvision's own download, progress bar and SHA-256 check), and
the message when no server answers."""
import functools
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torchvision.models as tvm
from torchvision.models._api import Weights, WeightsEnum

from course_utils import train
from course_utils.book import cli
from course_utils.data import TensorData
from course_utils.explain.gradcam import GradCAM, resize
from course_utils.explain.guided import GuidedBackprop, GuidedGradCAM
from course_utils.explain.ig import IntegratedGradients
from course_utils.explain.metrics import mass_share, total_variation
from course_utils.models import pretrained, transfer


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache: ``$TORCH_HOME`` in a temporary folder."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    assert torch.hub.get_dir() == str(home / "hub")
    return home


def _compact_random(shape, gen) -> torch.Tensor:
    """A random tensor of ``shape`` whose rows are overlapping windows of one short random
    vector, so that VGG-19's 143 million weights take a few hundred kilobytes on disk."""
    inner = torch.Size(shape[1:])
    strides = [1] * len(inner)
    for k in range(len(inner) - 2, -1, -1):
        strides[k] = strides[k + 1] * inner[k + 1]
    row = 7                                              # each row starts 7 values after the last
    size = (shape[0] - 1) * row + max(inner.numel(), 1)
    base = torch.randn(size, generator=gen) / max(inner.numel(), 1) ** 0.5
    return base.as_strided(tuple(shape), (row, *strides))


def plant(name: str, compact: bool = False, seed: int = 0) -> dict:
    """Save a randomly initialised state dict of ``name`` at the file torch looks for; return it."""
    torch.manual_seed(seed)
    if compact:
        with torch.device("meta"):
            shapes = getattr(tvm, pretrained.WEIGHTS[name].arch)(weights=None).state_dict()
        gen = torch.Generator().manual_seed(seed)
        state = {k: _compact_random(v.shape, gen) if v.ndim >= 2 else torch.randn(v.shape, generator=gen) * 0.01
                 for k, v in shapes.items()}
    else:
        state = getattr(tvm, pretrained.WEIGHTS[name].arch)(weights=None).state_dict()
    pretrained.path(name).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, pretrained.path(name))
    return state


def test_file_names_are_torchvisions(torch_home):
    for name, entry in pretrained.WEIGHTS.items():
        url = tvm.get_weight(entry.weights).url
        assert pretrained.url(name) == url
        assert pretrained.path(name) == torch_home / "hub" / "checkpoints" / os.path.basename(url)
    assert pretrained.path("resnet34").name == "resnet34-b627a593.pth"
    assert pretrained.needed() == ["resnet34", "vgg19", "resnet18", "vgg16"]
    assert pretrained.needed([12]) == ["resnet18"] and pretrained.needed([1]) == []
    with pytest.raises(ValueError, match="unknown pretrained network 'alexnet9'"):
        pretrained.path("alexnet9")


def test_missing_weights_say_where_and_how(torch_home):
    assert not pretrained.available("resnet34") and not pretrained.verified("resnet34")
    with pytest.raises(pretrained.WeightsMissingError) as err:
        pretrained.load("resnet34")
    for part in [str(pretrained.path("resnet34")), pretrained.url("resnet34"), "data prepare weights"]:
        assert part in str(err.value), part
    box = pretrained.notice(["resnet34", "vgg19"], "the stand-in")
    for part in ["not found", str(pretrained.path("vgg19")), "the stand-in", "data prepare weights",
                 "download = True", pretrained.url("resnet34")]:
        assert part in box, part
    with pytest.raises(pretrained.WeightsMissingError, match="resnet18-f37072fd.pth"):
        transfer.resnet18_transfer(5, weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        transfer.resnet18_transfer(5, weights="IMAGENET1K_V2")


def test_planted_weights_load_as_they_are(torch_home, monkeypatch):
    state = plant("resnet18")
    model = pretrained.load("resnet18")
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    # the planted file is not the published one: torchvision's check (name vs SHA-256) says so
    assert pretrained.available("resnet18") and not pretrained.verified("resnet18")
    assert "fail torchvision's SHA-256 check" in pretrained.notice(["resnet18"], "x")
    # the same file under the name its own SHA-256 gives it passes
    digest = hashlib.sha256(pretrained.path("resnet18").read_bytes()).hexdigest()
    real = pretrained.path("resnet18")
    monkeypatch.setattr(pretrained, "path", lambda name: real.with_name(f"resnet18-{digest[:8]}.pth"))
    os.replace(real, pretrained.path("resnet18"))
    assert pretrained.verified("resnet18") and pretrained.notice(["resnet18"], "x") is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights_at(base: str, names=None, file_names=None):
    """``pretrained.weights`` with each URL moved to ``base`` (file name kept unless given)."""
    real = pretrained.weights

    def fake(name):
        w = real(name)
        file = (file_names or {}).get(name, os.path.basename(w.url))
        enum = WeightsEnum("Fake", {"IMAGENET1K_V1": Weights(url=f"{base}/{file}", transforms=w.transforms,
                                                             meta=w.meta)})
        return enum.IMAGENET1K_V1
    return fake


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over ``tmp_path / "served"``; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_download_through_a_local_server(torch_home, server, monkeypatch, capfd):
    served, base = server
    torch.manual_seed(1)
    state = tvm.resnet18(weights=None).state_dict()
    torch.save(state, served / "tmp.pth")
    digest = hashlib.sha256((served / "tmp.pth").read_bytes()).hexdigest()
    file = f"resnet18-{digest[:8]}.pth"           # a name torchvision's hash check accepts
    os.replace(served / "tmp.pth", served / file)
    monkeypatch.setattr(pretrained, "weights", _weights_at(base, file_names={"resnet18": file}))
    assert pretrained.path("resnet18") == torch_home / "hub" / "checkpoints" / file
    assert pretrained.fetch(["resnet18"]) == {"resnet18": "fetched"}
    err = capfd.readouterr().err
    assert "100%" in err and file in err                      # torch's progress bar and its notice
    assert pretrained.path("resnet18").read_bytes() == (served / file).read_bytes()
    assert pretrained.verified("resnet18")
    assert pretrained.fetch(["resnet18"]) == {"resnet18": "present"}
    model = pretrained.load("resnet18")
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_a_download_that_fails_the_hash_check_is_not_kept(torch_home, server, monkeypatch):
    served, base = server
    torch.manual_seed(2)
    torch.save(tvm.resnet18(weights=None).state_dict(), served / "resnet18-00000000.pth")
    monkeypatch.setattr(pretrained, "weights", _weights_at(base, file_names={"resnet18": "resnet18-00000000.pth"}))
    with pytest.raises(pretrained.WeightsMissingError) as err:
        pretrained.fetch(["resnet18"], progress=False)
    text = str(err.value)
    assert "invalid hash value" in text and f"{base}/resnet18-00000000.pth" in text
    assert str(pretrained.path("resnet18")) in text
    assert not pretrained.path("resnet18").exists()
    assert not list(pretrained.path("resnet18").parent.iterdir())    # no partial file left behind


def test_offline_stops_with_one_message(torch_home, monkeypatch, capsys):
    base = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(pretrained, "weights", _weights_at(base))
    with pytest.raises(pretrained.WeightsMissingError) as err:    # a hang is caught by the test's timeout
        pretrained.fetch(progress=False)
    text = str(err.value)
    for name in ["resnet34", "vgg19", "resnet18", "vgg16"]:
        assert f"{base}/{os.path.basename(tvm.get_weight(pretrained.WEIGHTS[name].weights).url)}" in text
        assert str(pretrained.path(name)) in text
    assert "data prepare weights" in text and "make data WEIGHTS=1" in text
    # the command line: exit status 1, the same message on stderr, nothing half-written
    assert cli.main(["data", "prepare", "weights"]) == 1
    assert str(pretrained.path("vgg19")) in capsys.readouterr().err
    assert not pretrained.path("resnet34").parent.exists() or not list(pretrained.path("resnet34").parent.iterdir())


def test_command_line_reports_planted_files(torch_home, capsys):
    plant("resnet18")
    assert cli.main(["data", "prepare", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "resnet18: present at" in out and "FAILS torchvision's SHA-256 check" in out


def test_chapter_code_runs_on_planted_weights(torch_home):
    """The cells of chapters 8, 9 and 12 on planted random weights, with tiny pictures."""
    planted = {"resnet34": plant("resnet34"), "vgg19": plant("vgg19", compact=True), "resnet18": plant("resnet18")}
    assert pretrained.notice(["resnet34", "vgg19"], "x").startswith("**Not the published weights:**")
    size = 32
    halves = [pretrained.photo(skimage.data.chelsea(), size), pretrained.photo(skimage.data.coffee(), size)]
    assert halves[0].shape == (3, size, size) and 0 <= float(halves[0].min()) and float(halves[0].max()) <= 1
    picture = torch.cat(halves, dim=-1)
    regions = torch.zeros(2, size, 2 * size, dtype=torch.bool)
    regions[0, :, :size], regions[1, :, size:] = True, True
    for name in ["resnet34", "vgg19"]:
        model = pretrained.load(name)
        assert all(torch.equal(v, planted[name][k]) for k, v in model.state_dict().items())
        # chapter 8: two classes on one picture, Grad-CAM and Guided Grad-CAM written out
        with torch.no_grad():
            pair = model(pretrained.normalize(torch.stack(halves))).argmax(1).tolist()
        xb = pretrained.normalize(picture[None]).expand(2, -1, -1, -1).contiguous()
        tb = torch.tensor(pair)
        raw = resize(GradCAM(model, pretrained.cam_layer(name))(xb, tb, upsample=False, normalize=False),
                     xb.shape[-2:], "bilinear")
        ours = GuidedBackprop(model)(xb, tb) * raw[:, None]
        package = GuidedGradCAM(model, pretrained.cam_layer(name))(xb, tb)
        assert torch.allclose(ours, package, rtol=1e-4, atol=1e-6 * float(package.abs().max()))
        share = mass_share(raw, regions)
        assert share.shape == (2,) and ((0 <= share) & (share <= 1)).all()
        # chapter 9: IG from a black image and its total variation
        x = pretrained.normalize(halves[0][None])
        attr, gap = IntegratedGradients(model)(x, None, baseline=pretrained.normalize(torch.zeros_like(halves[0][None])),
                                               n_steps=2, return_gap=True)
        tv = total_variation(attr.abs().sum(1))
        assert attr.shape == x.shape and torch.isfinite(gap).all() and 0 < float(tv) <= 2
        assert len(pretrained.categories(name)) == 1000
    # chapter 12: ResNet-18 transfer, fine-tuning layer4: only layer4 and the new fc move
    model, note = transfer.resnet18_transfer(3, weights="IMAGENET1K_V1", size=32, train_last_block=True)
    assert "ImageNet" in note and str(pretrained.path("resnet18")) in note
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for k, v in planted["resnet18"].items():
        if not k.startswith("fc."):
            assert torch.equal(before[f"net.{k}"], v), k
    trainable = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    x = torch.rand(6, 1, 28, 28)
    data = TensorData((x * 255).to(torch.uint8), torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], "toy")
    train.fit(model, data, epochs=1, lr=1e-2, batch_size=6, progress=False, device="cpu", optimizer="adam")
    after = model.state_dict()
    for k, v in before.items():
        moved = not torch.equal(v, after[k])
        if k.startswith(("net.layer4.", "net.fc.")) and k.endswith("weight"):
            assert moved, k
        elif not k.startswith(("net.layer4.", "net.fc.")):
            assert not moved, k


def test_photo_and_normalize_reject_bad_input():
    with pytest.raises(ValueError, match="HxWx3"):
        pretrained.photo(np.zeros((10, 10)))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        pretrained.normalize(torch.zeros(1, 1, 8, 8))
    x = pretrained.photo(skimage.data.astronaut(), 48)           # 512x512 -> 48x48
    assert x.shape == (3, 48, 48)
    mean = pretrained.normalize(torch.tensor(pretrained.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 4, 4))
    assert float(mean.abs().max()) < 1e-6


def test_section_says_what_the_chapter_runs_on(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    use, box = pretrained.section(["resnet34"], "a stand-in")
    assert use is False and box.startswith("> ") and "a stand-in" in box and "data prepare weights" in box


def test_segmentation_starts_from_planted_vgg16_weights(torch_home, monkeypatch, tmp_path):
    """Chapter 11's VOC networks on ImageNet's VGG-16: the recipe copies every encoder tensor
    from the file, and another file under the same name changes the key."""
    from course_utils import cache, recipes
    from course_utils.models import fcn

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    planted = plant("vgg16", compact=True)
    g = torch.Generator().manual_seed(0)
    photos = TensorData((torch.rand(4, 3, 32, 32, generator=g) * 255).to(torch.uint8),
                        torch.randint(0, 21, (4, 32, 32), generator=g), [str(i) for i in range(21)],
                        "voc", "train", {})
    keys = []
    for head in ("fcn8", "unet"):
        recipe = recipes.fcn("vgg16", head, photos, epochs=1, lr=1e-30, optimizer="sgd", batch_size=4,
                             init="imagenet:vgg16")
        model, _ = recipes.train_or_load(recipe, photos, progress=False)
        for old, new in fcn.vgg16_rename().items():
            for leaf in ("weight", "bias"):
                if old + leaf in planted:
                    assert torch.allclose(model.state_dict()[new + leaf], planted[old + leaf], atol=1e-12)
        keys.append(cache.config_key(recipe.name, recipes.key_config(recipe, photos)))
    plant("vgg16", compact=True, seed=1)
    pretrained._DIGESTS.clear()
    assert cache.config_key(recipe.name, recipes.key_config(recipe, photos)) != keys[-1]
    with pytest.raises(ValueError, match="init must be a Recipe or 'imagenet:<name>'"):
        recipe.replace(init="imagenet:alexnet")
    with pytest.raises(ValueError, match="takes RGB images"):
        fcn.build_fcn("vgg16", in_channels=1)


def test_chapter11_voc_cell_runs_on_planted_voc_and_vgg16(torch_home, monkeypatch, tmp_path):
    """Chapter 11's Pascal VOC cell, as written in the chapter, on planted VOC photos and planted
    VGG-16 weights: the scratch VGG FCNs and the ImageNet VGG-16 FCN-8 and U-Net all train and
    are scored, and the weights' box says the file is not the published one."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from test_real_data import write_voc

    import course_utils as cu
    from course_utils import metrics, recipes
    from course_utils.data import scenes

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    plant("vgg16", compact=True)
    write_voc(tmp_path / "data")
    voc = cu.data.choose("voc", None, seed=0, grey=False, size=32, root=tmp_path / "data", verify=False,
                         standin_title="scenes")
    assert voc.real and voc.train.images.shape[1:] == (3, 32, 32)
    source = Path(__file__).resolve().parents[2] / "notebooks" / "11_segmentation.py"
    cells = source.read_text().split("\n# %%")
    cell = next(c for c in cells if c.startswith("\nif voc.real:"))
    shown, recorded = [], {}
    monkeypatch.setattr(cu.results, "record", lambda name, value, **kw: recorded.setdefault(name, value))
    namespace = {"voc": voc, "recipes": recipes, "metrics": metrics, "pretrained": pretrained, "scenes": scenes,
                 "cu": cu, "pd": pd, "display": shown.append, "Markdown": str, "epochs": 1, "lr": 2e-3,
                 "batch_size": 2, "seed": 0}
    exec(compile(cell, str(source), "exec"), namespace)
    assert set(namespace["voc_evals"]) == {"VGG FCN32", "VGG FCN8", "ImageNet VGG-16 FCN-8", "ImageNet VGG-16 U-Net"}
    assert {"voc_imagenet_vgg16_unet_mean_iou", "voc_vgg_fcn8_pixel_acc"} <= set(recorded)
    assert all(0 <= v <= 1 for v in recorded.values())
    assert any("Not the published weights" in str(s) for s in shown)
