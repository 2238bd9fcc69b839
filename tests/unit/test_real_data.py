"""Pascal VOC 2012 and Oxford-IIIT Pets (chapters 10-12): loaders on small files written in the
real on-disk layout that torchvision reads, the integrity check, the download path through a
local HTTP server serving archives in the real layout, the one message offline, the chapters'
choice between real data and a named stand-in, and claims recorded but not asserted on data
they were never measured on."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import course_utils as cu
from course_utils.book import results
from course_utils.data import PETS_CLASSES, VOC_CLASSES, DataMissingError, fetch
from course_utils.data import datasets as ds_mod


# ----------------------------------------------------------------------------- writers
def voc_palette() -> list[int]:
    """The colour map of VOC's SegmentationClass PNGs (index i -> the bits of i spread over RGB)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def write_voc(root: Path, splits=None) -> dict:
    """VOCdevkit/VOC2012 as in VOCtrainval_11-May-2012.tar: JPEGImages/<id>.jpg,
    SegmentationClass/<id>.png (palette PNGs of class indices, 255 on object borders) and
    ImageSets/Segmentation/{train,val,trainval}.txt. Image k is a flat colour, left part
    background, right part one class, a void band of 4 columns between. Returns {id: (colour, class, w)}."""
    splits = splits or {"train": ["2007_000032", "2007_000039", "2008_000001"],
                        "val": ["2007_000033", "2009_000002"]}
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    made = {}
    for k, name in enumerate(sum(splits.values(), [])):
        h, w = (30, 40) if k % 2 == 0 else (40, 30)
        colour = ((20 + 40 * k) % 256, (200 - 30 * k) % 256, 90)
        Image.fromarray(np.tile(np.array(colour, np.uint8), (h, w, 1))).save(
            base / "JPEGImages" / f"{name}.jpg", quality=95)
        cls = 1 + (3 * k) % 20
        m = np.zeros((h, w), np.uint8)
        m[:, w // 2:] = cls
        m[:, w // 2 - 4:w // 2] = 255
        png = Image.fromarray(m, mode="P")
        png.putpalette(voc_palette())
        png.save(base / "SegmentationClass" / f"{name}.png")
        made[name] = (colour, cls, w)
    for split, names in splits.items():
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    (base / "ImageSets" / "Segmentation" / "trainval.txt").write_text(
        "\n".join(splits["train"] + splits["val"]) + "\n")
    return made


PET_FILES = {  # breed file prefix -> class id in the annotation lists (1..37), species (1 cat, 2 dog)
    "Abyssinian": (1, 1), "american_bulldog": (2, 2), "Bengal": (6, 1), "yorkshire_terrier": (37, 2)}


def write_pets(root: Path, per_breed=(3, 2)) -> dict:
    """oxford-iiit-pet/ as the two archives unpack: images/<Breed_n>.jpg and annotations/ with
    trainval.txt and test.txt ("<id> <class 1-37> <species> <breed id>" per line), list.txt
    (commented header) and trimaps/<id>.png (1 pet, 2 background, 3 border). Each photo is
    landscape: a centre square of one colour between two 8-pixel bands of another.
    Returns {id: (split, label 0-36, centre colour)}."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    made, lines = {}, {"trainval": [], "test": []}
    k = 0
    for breed, (cls, species) in PET_FILES.items():
        for split, n in zip(("trainval", "test"), per_breed):
            for _ in range(n):
                k += 1
                image_id = f"{breed}_{k}"
                centre = (10 + 6 * k, 250 - 7 * k, 40 + 5 * k)
                img = np.zeros((32, 48, 3), np.uint8)
                img[:] = (255, 255, 255)
                img[:, 8:40] = centre
                Image.fromarray(img).save(base / "images" / f"{image_id}.jpg", quality=95)
                tri = np.full((32, 48), 2, np.uint8)
                tri[8:24, 16:32] = 1
                Image.fromarray(tri, mode="L").save(base / "annotations" / "trimaps" / f"{image_id}.png")
                lines[split].append(f"{image_id} {cls} {species} {k}")
                made[image_id] = (split, cls - 1, centre)
    for split, rows in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    (base / "annotations" / "list.txt").write_text(
        "#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(lines["trainval"] + lines["test"]) + "\n")
    return made


@pytest.fixture
def real_counts(monkeypatch):
    """Let the small files pass the integrity check: the expected list lengths set to theirs."""
    def set_counts(key, counts):
        for split, n in counts.items():
            tv, rel, _ = ds_mod.SPLITS[key][split]
            monkeypatch.setitem(ds_mod.SPLITS[key], split, (tv, rel, n))
    return set_counts


# ----------------------------------------------------------------------------- VOC loader
def test_voc_loads_in_the_books_format(tmp_path):
    made = write_voc(tmp_path)
    train = cu.data.load("voc", "train", size=16, root=tmp_path, verify=False)
    assert train.images.shape == (3, 3, 16, 16) and train.images.dtype == torch.uint8
    assert train.labels.shape == (3, 16, 16) and train.labels.dtype == torch.int64
    assert train.classes == VOC_CLASSES and train.name == "voc" and len(VOC_CLASSES) == 21
    for k, name in enumerate(["2007_000032", "2007_000039", "2008_000001"]):
        colour, cls, _ = made[name]
        # nearest neighbour: no label that is not in the original map, void kept as 255
        assert set(train.labels[k].unique().tolist()) == {0, cls, 255}
        assert (train.labels[k, :, :5] == 0).all() and (train.labels[k, :, -6:] == cls).all()
        # a flat JPEG stays flat (within JPEG's rounding) after the bilinear resize
        diff = (train.images[k].float() - torch.tensor(colour).view(3, 1, 1)).abs().max()
        assert diff <= 4, diff
    # "test" is VOC's "val"; the same images either way
    val = cu.data.load("voc", "test", size=16, root=tmp_path, verify=False)
    assert torch.equal(val.labels, cu.data.load("voc", "val", size=16, root=tmp_path, verify=False).labels)
    assert len(val) == 2
    with pytest.raises(ValueError, match="split of voc must be one of"):
        cu.data.load("voc", "everything", root=tmp_path, verify=False)


def test_voc_subset_is_seeded_and_drawn_before_decoding(tmp_path):
    write_voc(tmp_path, {"train": [f"2007_{i:06d}" for i in range(12)], "val": ["2008_000001"]})
    full = cu.data.load("voc", "train", size=8, root=tmp_path, verify=False)
    a = cu.data.load("voc", "train", size=8, subset=5, seed=3, root=tmp_path, verify=False)
    b = cu.data.load("voc", "train", size=8, subset=5, seed=3, root=tmp_path, verify=False)
    c = cu.data.load("voc", "train", size=8, subset=5, seed=4, root=tmp_path, verify=False)
    assert len(a) == 5 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    # the same images as loading everything and subsetting the tensors
    assert torch.equal(a.labels, full.subset(5, seed=3, balanced=False).labels)
    # scenes.load_voc is the same loader
    assert torch.equal(cu.data.load_voc(tmp_path, "train", size=8, subset=5, seed=3).images, a.images)


def test_voc_integrity_check(tmp_path, real_counts):
    write_voc(tmp_path)
    assert cu.data.available("voc", tmp_path)
    report = cu.data.check(tmp_path, ["voc"])["voc"]
    assert report["ImageSets/Segmentation/train.txt"] == "incomplete (3 images listed, the real list has 1464)"
    with pytest.raises(DataMissingError, match="failed the integrity check.*verify=False"):
        cu.data.load("voc", "train", root=tmp_path)
    real_counts("voc", {"train": 3, "val": 2, "trainval": 5})
    assert set(cu.data.check(tmp_path, ["voc"])["voc"].values()) == {"ok"}
    assert len(cu.data.load("voc", "train", size=8, root=tmp_path)) == 3
    (tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2009_000002.png").unlink()
    report = cu.data.check(tmp_path, ["voc"])["voc"]
    assert report["ImageSets/Segmentation/val.txt"].startswith("incomplete (1 listed files missing, e.g. "
                                                              "SegmentationClass/2009_000002.png")


def test_voc_missing_says_how_to_get_it(tmp_path):
    assert not cu.data.available("voc", tmp_path)
    with pytest.raises(DataMissingError, match="data prepare voc"):
        cu.data.load("voc", "train", root=tmp_path)
    assert set(cu.data.check(tmp_path, ["voc"])["voc"].values()) == {"missing"}


# ----------------------------------------------------------------------------- Pets loader
def test_pets_loads_breeds_and_centre_squares(tmp_path):
    import torchvision.datasets as tvd

    made = write_pets(tmp_path)
    train = cu.data.load("pets", "train", size=16, root=tmp_path, verify=False)
    ids = [line.split()[0] for line in
           (tmp_path / "oxford-iiit-pet/annotations/trainval.txt").read_text().splitlines()]
    assert train.images.shape == (12, 3, 16, 16) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [made[i][1] for i in ids]
    assert train.classes == PETS_CLASSES and len(PETS_CLASSES) == 37
    # our 37 names are torchvision's names for the same class ids
    tv = tvd.OxfordIIITPet(str(tmp_path), split="trainval")
    present = sorted(set(train.labels.tolist()))
    assert tv.classes == [PETS_CLASSES[c] for c in present]
    # the centre square only: the white side bands are cropped away
    for k, image_id in enumerate(ids):
        diff = (train.images[k].float() - torch.tensor(made[image_id][2]).view(3, 1, 1)).abs().max()
        assert diff <= 6, (image_id, diff)
    test = cu.data.load("pets", "test", size=16, root=tmp_path, verify=False)
    assert len(test) == 8 and torch.equal(
        test.images, cu.data.load("pets", "test", size=16, root=tmp_path, verify=False).images)
    grey = cu.data.load("pets", "trainval", size=16, grey=True, root=tmp_path, verify=False)
    assert grey.images.shape == (12, 1, 16, 16) and torch.equal(grey.images, cu.data.to_grey(train.images))


def test_pets_subset_is_class_balanced_and_matches_the_full_load(tmp_path):
    write_pets(tmp_path, per_breed=(5, 1))
    full = cu.data.load("pets", "train", size=8, root=tmp_path, verify=False)
    part = cu.data.load("pets", "train", size=8, subset=8, seed=1, root=tmp_path, verify=False)
    # 8 // 37 classes -> one of each present breed
    assert torch.bincount(part.labels, minlength=37).max() == 1 and len(part) == 4
    assert torch.equal(part.images, full.subset(8, seed=1).images)


def test_pets_annotation_that_contradicts_the_file_name_is_refused(tmp_path):
    write_pets(tmp_path)
    lists = tmp_path / "oxford-iiit-pet" / "annotations" / "trainval.txt"
    lists.write_text(lists.read_text().replace("Abyssinian_1 1 ", "Abyssinian_1 2 "))
    with pytest.raises(ValueError, match="class id 2.*'Abyssinian'"):
        cu.data.load("pets", "train", root=tmp_path, verify=False)


def test_pets_integrity_and_missing(tmp_path, real_counts):
    with pytest.raises(DataMissingError, match="data prepare pets"):
        cu.data.load("pets", "train", root=tmp_path)
    write_pets(tmp_path)
    with pytest.raises(DataMissingError, match="failed the integrity check"):
        cu.data.load("pets", "train", root=tmp_path)
    real_counts("pets", {"trainval": 12, "test": 8})
    assert set(cu.data.check(tmp_path, ["pets"])["pets"].values()) == {"ok"}
    assert len(cu.data.load("pets", "test", size=8, root=tmp_path)) == 8


# ----------------------------------------------------------------------------- download path
def _serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/{path}"


def _tar(src: Path, members: list[str], out: Path, mode: str = "w") -> str:
    with tarfile.open(out, mode) as tar:
        for m in members:
            tar.add(src / m, arcname=m)
    return hashlib.md5(out.read_bytes()).hexdigest()


@pytest.fixture
def voc_archive(tmp_path, monkeypatch, real_counts):
    """A small VOCtrainval tar in the real layout, its URL and MD5 in torchvision's table."""
    from torchvision.datasets import voc

    staging, served = tmp_path / "staging", tmp_path / "served"
    served.mkdir()
    write_voc(staging)
    entry = voc.DATASET_YEAR_DICT["2012"]
    md5 = _tar(staging, ["VOCdevkit"], served / entry["filename"])
    real_counts("voc", {"train": 3, "val": 2, "trainval": 5})
    monkeypatch.setitem(entry, "md5", md5)
    return entry, served


def test_voc_download_through_a_local_server(tmp_path, voc_archive, monkeypatch, capsys):
    entry, served = voc_archive
    server, base = _serve(served)
    try:
        monkeypatch.setitem(entry, "url", base + entry["filename"])
        root = tmp_path / "data"
        assert fetch.mirrors("voc") == [base + entry["filename"]]
        assert fetch.prepare("voc", root) == root / "VOCdevkit" / "VOC2012"
    finally:
        server.shutdown()
    assert (root / entry["filename"]).exists()       # torchvision keeps the checked archive
    assert set(cu.data.check(root, ["voc"])["voc"].values()) == {"ok"}
    data = cu.data.load("voc", "train", size=8, root=root)
    assert data.labels.shape == (3, 8, 8)
    assert fetch.prepare("voc", root) == root / "VOCdevkit" / "VOC2012"   # already there: nothing to do


def test_voc_offline_one_message_then_archive_in_place(tmp_path, voc_archive, monkeypatch):
    entry, served = voc_archive
    url = _closed_port_url(entry["filename"])
    monkeypatch.setitem(entry, "url", url)
    root = tmp_path / "data"
    with pytest.raises(DataMissingError) as err:
        fetch.prepare("voc", root, timeout=1.0)
    text = str(err.value)
    for part in [url, f"MD5 {entry['md5']}", str(root / entry["filename"]), "(not there)",
                 "data prepare voc", "VOCdevkit/VOC2012/ with JPEGImages/", "COURSE_DATA"]:
        assert part in text, part
    # a damaged archive in place is named as such
    root.mkdir()
    (root / entry["filename"]).write_bytes(b"not a tar")
    with pytest.raises(DataMissingError, match=r"in place but MD5 [0-9a-f]{32} \(damaged"):
        fetch.prepare("voc", root, timeout=1.0)
    # the right archive in place: checked and unpacked without a network
    shutil.copy(served / entry["filename"], root / entry["filename"])
    fetch.prepare("voc", root, timeout=1.0)
    assert len(cu.data.load("voc", "val", size=8, root=root)) == 2


def test_pets_download_through_a_local_server(tmp_path, monkeypatch, real_counts):
    import torchvision.datasets as tvd

    staging, served = tmp_path / "staging", tmp_path / "served"
    served.mkdir()
    write_pets(staging)
    base_dir = staging / "oxford-iiit-pet"
    md5_images = _tar(base_dir, ["images"], served / "images.tar.gz", "w:gz")
    md5_ann = _tar(base_dir, ["annotations"], served / "annotations.tar.gz", "w:gz")
    real_counts("pets", {"trainval": 12, "test": 8})
    server, base = _serve(served)
    try:
        monkeypatch.setattr(tvd.OxfordIIITPet, "_RESOURCES", (
            (base + "images.tar.gz", md5_images), (base + "annotations.tar.gz", md5_ann)))
        root = tmp_path / "data"
        assert [a["path"] for a in fetch.archives("pets", root)] == [
            root / "oxford-iiit-pet" / "images.tar.gz", root / "oxford-iiit-pet" / "annotations.tar.gz"]
        fetch.prepare("pets", root)
    finally:
        server.shutdown()
    train = cu.data.load("pets", "train", size=8, root=root)
    assert len(train) == 12 and set(train.labels.tolist()) == {0, 1, 5, 36}


def test_cli_prepare_offline_prints_the_message_and_fails(tmp_path, monkeypatch, capsys):
    import torchvision.datasets as tvd

    from course_utils.book import cli

    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    monkeypatch.setattr(tvd.OxfordIIITPet, "_RESOURCES", (
        (_closed_port_url("images.tar.gz"), "5c4f3ee8e5d25df40f4fd59a7f44e54c"),
        (_closed_port_url("annotations.tar.gz"), "95a8c909bbe2e81eed6a22bccdf3f68f")))
    assert cli.main(["data", "prepare", "pets"]) == 1
    err = capsys.readouterr().err
    assert "pets cannot be fetched" in err and "5c4f3ee8e5d25df40f4fd59a7f44e54c" in err
    assert str(tmp_path / "oxford-iiit-pet" / "annotations.tar.gz") in err
    assert cli.main(["data", "prepare", "imagenet"]) == 1
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_optional_data_of_the_chapters_is_known():
    assert fetch.CHAPTER_OPTIONAL[10] == ("cifar10", "pets")
    assert fetch.CHAPTER_OPTIONAL[11] == ("voc",) and fetch.CHAPTER_OPTIONAL[12] == ("pets",)
    assert all(n in cu.data.DATASETS for names in fetch.CHAPTER_OPTIONAL.values() for n in names)
    # the real archives, as torchvision knows them
    assert fetch.archives("voc", Path("/r"))[0]["md5"] == "6cd6e144f989b92b3379bac3b3de84fd"
    assert fetch.archives("cifar10", Path("/r"))[0]["path"] == Path("/r/cifar-10-python.tar.gz")


# ----------------------------------------------------------------------------- chapters' choice
@pytest.fixture
def data_root(tmp_path):
    """A data root holding the shared MNIST and Fashion-MNIST (links) and nothing else."""
    shared = cu.config.data_root()
    if not cu.data.available("fashion-mnist", shared) or not cu.data.available("mnist", shared):
        pytest.skip(f"MNIST / Fashion-MNIST not under {shared}")
    root = tmp_path / "root"
    root.mkdir()
    for folder in ("MNIST", "FashionMNIST"):
        (root / folder).symlink_to(shared / folder)
    return root


def test_chapter12_pets_or_the_fashion_standin(data_root, real_counts):
    standin = cu.data.choose("pets", "fashion-mnist", seed=0, root=data_root)
    assert not standin.real and standin.title == "Fashion-MNIST"
    # exactly what the chapter loaded before it knew about Pets
    assert torch.equal(standin.train.images, cu.data.load("fashion-mnist", "train").images)
    assert len(standin.test) == 10_000
    assert "data prepare pets" in standin.banner and standin.markdown().startswith("> **Stand-in data.**")
    write_pets(data_root)
    real_counts("pets", {"trainval": 12, "test": 8})
    real = cu.data.choose("pets", "fashion-mnist", seed=0, root=data_root)
    assert real.real and real.title == "Oxford-IIIT Pets (grey 28×28)"
    assert real.train.shape == (1, 28, 28) and real.train.classes == PETS_CLASSES and len(real.test) == 8
    assert "not asserted" in real.markdown() and real.markdown().startswith("> **Real data.**")
    # the chapter's source/target split works on the breeds
    part = cu.data.split_classes(real.train, [0, 1])
    assert part.classes == ["Abyssinian", "American Bulldog"] and len(part) == 6


def test_chapter10_cifar_and_pets_or_the_standins(data_root, real_counts):
    from test_cifar_data import write_cifar

    natural = cu.data.choose("cifar10", "fashion-mnist", train_size=200, test_size=100, seed=0,
                             root=data_root)
    assert not natural.real and natural.title == "Fashion-MNIST"
    assert torch.equal(natural.train.images,
                       cu.data.load("fashion-mnist", "train", subset=200, seed=0).images)
    mnist_side = cu.data.load("mnist", "train", subset=50, seed=0)
    mnist_test = cu.data.load("mnist", "test", subset=30, seed=0)
    gan = cu.data.choose("pets", (mnist_side, mnist_test), train_size=40, test_size=20, seed=0,
                         part="the VAE-GAN", root=data_root)
    assert gan.train is mnist_side and gan.test is mnist_test and gan.title == "MNIST"
    assert "so the VAE-GAN runs on MNIST as a stand-in" in gan.banner
    write_cifar(data_root)
    natural = cu.data.choose("cifar10", "fashion-mnist", train_size=40, test_size=20, seed=0,
                             root=data_root, verify=False)
    assert natural.real and natural.train.name == "cifar10" and natural.train.shape == (1, 28, 28)
    assert len(natural.train) == 40 and natural.title == "CIFAR-10 (grey 28×28)"
    write_pets(data_root)
    real_counts("pets", {"trainval": 12, "test": 8})
    gan = cu.data.choose("pets", (mnist_side, mnist_test), train_size=40, test_size=20, seed=0,
                         part="the VAE-GAN", root=data_root)
    assert gan.real and gan.train.shape == (1, 28, 28) and gan.train.name == "pets"


def test_chapter11_voc_or_the_scenes(tmp_path, real_counts):
    kw = {"train_size": 2, "test_size": None, "seed": 0, "grey": False, "size": 32, "root": tmp_path,
          "standin_title": "generated scenes of Fashion-MNIST items"}
    absent = cu.data.choose("voc", None, **kw)
    assert absent.train is None and not absent.real
    assert "so this chapter runs on generated scenes of Fashion-MNIST items" in absent.banner
    with pytest.raises(ValueError, match="standin_title"):
        cu.data.choose("voc", None, root=tmp_path)
    write_voc(tmp_path)
    real_counts("voc", {"train": 3, "val": 2, "trainval": 5})
    voc = cu.data.choose("voc", None, **kw)
    assert voc.real and voc.train.images.shape == (2, 3, 32, 32) and voc.test.labels.shape == (2, 32, 32)
    assert voc.title == "Pascal VOC 2012 (32×32)"


# ----------------------------------------------------------------------------- claims on real data
def test_claims_on_unmeasured_data_are_recorded_not_asserted(tmp_course, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    results.begin("99_demo")
    assert results.claim("gap", -0.2, "> 0", None, measured=False) == -0.2
    results.unmeasured("Oxford-IIIT Pets")
    results.claim("acc", 0.1, ">= 0.9", ">= 0.5", note="five breeds")
    stored = json.loads((tmp_course / "results" / "metrics" / "99_demo.json").read_text())["metrics"]
    assert stored["gap"]["asserted"] is False and "not asserted" in stored["gap"]["note"]
    assert stored["acc"] == {**stored["acc"], "value": 0.1, "target": ">= 0.9", "asserted": False}
    assert stored["acc"]["note"] == "five breeds; not asserted: the target was never measured on Oxford-IIIT Pets"
    results.begin("99_demo")  # a new run asserts again
    with pytest.raises(AssertionError, match="acc = 0.1 does not meet >= 0.9"):
        results.claim("acc", 0.1, ">= 0.9", ">= 0.5")
    with pytest.raises(ValueError, match="non-empty string"):
        results.unmeasured("")


def test_standin_banner_wording():
    text = cu.data.standin_banner("voc", "generated scenes", root=Path("/d"))
    assert text == ("Pascal VOC 2012 (voc) is not under the data root (/d), so this chapter runs on "
                    "generated scenes as a stand-in. Fetch the real data with "
                    "`python -m course_utils data prepare voc` and re-run.")
