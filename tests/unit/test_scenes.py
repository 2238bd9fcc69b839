"""Generated segmentation scenes (chapters 8 and 11): determinism, labels, overlaps."""
import pytest
import torch

from course_utils.data import TensorData, make_scenes


def toy_source(n=30, size=28, classes=5, seed=0):
    """Blobs of random shape: class c has ink value 60 + 40 * c, so ink identifies the item."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i in range(n):
        t, l = torch.randint(0, 10, (2,), generator=g).tolist()
        h, w = torch.randint(8, 18, (2,), generator=g).tolist()
        images[i, 0, t:t + h, l:l + w] = 60 + 40 * int(labels[i])
    return TensorData(images, labels, [f"c{c}" for c in range(classes)], "toy")


def test_deterministic_and_seed_dependent():
    src = toy_source()
    a, b = make_scenes(src, 12, canvas=48, seed=3), make_scenes(src, 12, canvas=48, seed=3)
    for name in ["images", "labels", "masks", "item_classes", "boxes"]:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    c = make_scenes(src, 12, canvas=48, seed=4)
    assert not torch.equal(a.labels, c.labels)


def test_labels_match_pasted_items():
    src = toy_source()
    sc = make_scenes(src, 20, canvas=48, items=(1, 4), seed=1)
    assert sc.images.shape == (20, 1, 48, 48) and sc.labels.shape == (20, 48, 48)
    for i in range(20):
        present = sc.item_classes[i] >= 0
        k = int(present.sum())
        assert 1 <= k <= 4 and bool(present[:k].all())
        union = torch.zeros(48, 48, dtype=torch.bool)
        for j in range(k):
            m = sc.masks[i, j]
            assert bool((sc.labels[i][m] == sc.item_classes[i, j] + 1).all())
            assert not bool((union & m).any()), "visible masks must not overlap"
            union |= m
            # the visible part of an item lies inside its pasted box
            top, left = sc.boxes[i, j].tolist()
            box = torch.zeros(48, 48, dtype=torch.bool)
            box[top:top + 28, left:left + 28] = True
            assert not bool((m & ~box).any())
        assert torch.equal(union, sc.labels[i] > 0)
        assert not bool(sc.masks[i, k:].any())
        # a labelled pixel shows exactly its item's ink (60 + 40 c): the top item is what is seen
        ink = sc.images[i, 0][union].long()
        assert bool((ink == 60 + 40 * (sc.labels[i][union] - 1)).all())
        assert bool((sc.images[i, 0][~union] <= 40).all())  # unlabelled pixels are below threshold


def test_overlaps_resolve_to_the_later_item():
    # full squares on a canvas barely larger than an item: items must overlap
    size, classes = 28, 3
    images = torch.full((classes, 1, size, size), 0, dtype=torch.uint8)
    for c in range(classes):
        images[c, 0, 4:24, 4:24] = 80 + 50 * c
    src = TensorData(images, torch.arange(classes), ["a", "b", "c"], "squares")
    sc = make_scenes(src, 15, canvas=32, items=(2, 3), seed=0)
    overlaps = 0
    for i in range(15):
        k = int((sc.item_classes[i] >= 0).sum())
        for j in range(k):
            top, left = sc.boxes[i, j].tolist()
            ink = torch.zeros(32, 32, dtype=torch.bool)
            ink[top + 4:top + 24, left + 4:left + 24] = True
            later = torch.zeros_like(ink)
            for l in range(j + 1, k):
                t2, l2 = sc.boxes[i, l].tolist()
                later[t2 + 4:t2 + 24, l2 + 4:l2 + 24] = True
            # exactly the pixels of item j not covered by a later item carry its label
            assert torch.equal(sc.masks[i, j], ink & ~later)
            overlaps += int((ink & later).sum() > 0)
        # a later square's ink covers what lies below it (image and labels agree)
        expect = torch.zeros(32, 32, dtype=torch.uint8)
        for j in range(k):
            top, left = sc.boxes[i, j].tolist()
            cls = int(sc.item_classes[i, j])
            patch, below = images[cls, 0], expect[top:top + 28, left:left + 28]
            expect[top:top + 28, left:left + 28] = torch.where(patch > 40, patch, torch.maximum(below, patch))
        assert torch.equal(sc.images[i, 0], expect)
    assert overlaps > 0, "the test needs some overlapping items"


def test_distinct_classes_and_errors():
    src = toy_source()
    sc = make_scenes(src, 10, canvas=48, items=(3, 3), seed=2, distinct=True)
    for i in range(10):
        assert len(set(sc.item_classes[i].tolist())) == 3
    with pytest.raises(ValueError):
        make_scenes(src, 2, canvas=20)
    with pytest.raises(ValueError):
        make_scenes(src, 2, items=(0, 2))
    with pytest.raises(ValueError):
        make_scenes(src, 2, items=(1, 9), distinct=True)


def test_compact_scenes_keep_the_label_maps():
    """Without records: the same images and label maps, as uint8, and no per-item masks."""
    src = toy_source()
    full, compact = make_scenes(src, 10, canvas=48, seed=5), make_scenes(src, 10, canvas=48, seed=5, records=False)
    assert compact.labels.dtype == torch.uint8 and compact.masks.shape == (10, 0, 48, 48)
    assert torch.equal(compact.images, full.images)
    assert torch.equal(compact.labels.long(), full.labels)
    assert torch.equal(compact.item_classes, full.item_classes)


def test_batches_widen_uint8_label_maps():
    from course_utils.data import Batches
    src = toy_source()
    sc = make_scenes(src, 6, canvas=32, seed=1, records=False)
    (x, y), = list(Batches((sc.images, sc.labels), batch_size=6, shuffle=False))
    assert y.dtype == torch.int64 and torch.equal(y, sc.labels.long())
    assert x.dtype == torch.float32 and x.shape == (6, 1, 32, 32)
