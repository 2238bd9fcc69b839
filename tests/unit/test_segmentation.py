"""Segmentation metrics, VOC loading and drawing (chapter 11)."""
import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion

from course_utils import metrics, plots
from course_utils.data import DataMissingError, available, scenes
from course_utils.explain import regions


def test_confusion_matches_sklearn_and_ignores_void():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (3, 9, 9), generator=g)
    pred = torch.randint(0, 4, (3, 9, 9), generator=g)
    target[0, :2] = 255
    cm = metrics.confusion(pred, target, 4)
    keep = target != 255
    expect = sk_confusion(target[keep].numpy(), pred[keep].numpy(), labels=range(4))
    np.testing.assert_array_equal(cm.numpy(), expect)
    assert int(cm.sum()) == int(keep.sum())


def test_scores_hand_computed_example():
    # truth / prediction on six pixels, three classes
    target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    cm = metrics.confusion(pred, target, 3)
    # class 0: tp 1, truth 2, predicted 2 -> IoU 1/3; class 1: tp 2, truth 2, pred 3 -> 2/3;
    # class 2: tp 1, truth 2, pred 1 -> 1/2
    s = metrics.scores(cm)
    np.testing.assert_allclose(s["iou"], [1 / 3, 2 / 3, 1 / 2])
    assert s["mean_iou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s["pixel_acc"] == pytest.approx(4 / 6)
    assert s["mean_class_acc"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)


def test_absent_class_left_out_and_bad_input():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    s = metrics.scores(metrics.confusion(pred, target, 3))
    assert np.isnan(s["iou"][2]) and s["mean_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="same shape"):
        metrics.confusion(pred, target[:3], 3)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion(torch.tensor([0, 2, 1, 1]), target, 2)
    with pytest.raises(ValueError, match="square"):
        metrics.scores(torch.zeros(2, 3))


def test_evaluate_perfect_model():
    class Oracle(torch.nn.Module):  # scores the true label map hidden in the image
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            lab = (x[:, 0] * 255).round().long()
            return torch.nn.functional.one_hot(lab, 3).permute(0, 3, 1, 2).float() * self.w

    from course_utils.data import TensorData
    labels = torch.randint(0, 3, (4, 8, 8), generator=torch.Generator().manual_seed(1))
    data = TensorData(labels.unsqueeze(1).to(torch.uint8), labels, ["bg", "a", "b"], "toy")
    r = metrics.evaluate(Oracle(), data, batch_size=3)
    assert r["mean_iou"] == 1.0 and r["pixel_acc"] == 1.0 and torch.equal(r["pred"], labels)


def test_error_image_colours():
    target = torch.tensor([[0, 0], [3, 3]])
    pred = torch.tensor([[0, 2], [3, 0]])
    img = plots.error_image(pred, target)
    assert img.shape == (2, 2, 3)
    np.testing.assert_array_equal(img[0, 0], [0, 0, 0])   # background right: black
    np.testing.assert_array_equal(img[1, 0], [1, 1, 1])   # object right: white
    np.testing.assert_array_equal(img[0, 1], [1, 0, 0])   # wrong: red
    np.testing.assert_array_equal(img[1, 1], [1, 0, 0])
    col = plots.colorize(target, 4)
    np.testing.assert_array_equal(col[0, 0], [0, 0, 0])
    assert col[1, 0].sum() > 0


def test_region_target_sums_class_score_over_mask():
    out = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1:3, 1:3] = True
    val = regions.region_target(2, mask)(out)
    np.testing.assert_allclose(val.numpy(), out[:, 2, 1:3, 1:3].sum(dim=(1, 2)).numpy())


def write_tiny_voc(root, names=("2007_000001", "2007_000002"), size=(20, 30)):
    from PIL import Image
    base = root / "VOCdevkit" / "VOC2012"
    (base / "JPEGImages").mkdir(parents=True)
    (base / "SegmentationClass").mkdir()
    (base / "ImageSets" / "Segmentation").mkdir(parents=True)
    masks = []
    for k, name in enumerate(names):
        h, w = size
        Image.fromarray(np.full((h, w, 3), 40 * (k + 1), np.uint8)).save(base / "JPEGImages" / f"{name}.jpg")
        m = np.zeros((h, w), np.uint8)
        m[:, w // 2:] = 15 if k == 0 else 12   # person / dog on the right half
        m[:, w // 2 - 1] = 255                 # void border
        pal = Image.fromarray(m, mode="P")
        pal.putpalette([v for i in range(256) for v in (i, i, i)])
        pal.save(base / "SegmentationClass" / f"{name}.png")
        masks.append(m)
    (base / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(names) + "\n")
    return masks


def test_voc_path_on_a_tiny_voc_folder(tmp_path):
    write_tiny_voc(tmp_path)
    data = scenes.load_voc(tmp_path, "train", size=16)
    assert data.images.shape == (2, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels.shape == (2, 16, 16) and data.classes[15] == "person"
    assert set(data.labels[0].unique().tolist()) <= {0, 15, 255}
    assert (data.labels[0, :, :6] == 0).all() and (data.labels[0, :, -6:] == 15).all()
    assert (data.labels[1, :, -6:] == 12).all()
    assert (data.images[1] > data.images[0]).all()
    assert len(scenes.load_voc(tmp_path, "train", size=8, subset=1)) == 1


def test_voc_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DataMissingError, match="download=True"):
        scenes.load_voc(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match="split"):
        scenes.load_voc(tmp_path, "test")


@pytest.mark.skipif(not available("fashion-mnist"), reason="Fashion-MNIST not under the data root")
def test_scene_data_train_and_test_use_different_items():
    tr = scenes.scene_data("fashion-mnist", "train", 8, canvas=64, seed=0, source_subset=500)
    te = scenes.scene_data("fashion-mnist", "test", 8, canvas=64, seed=0, source_subset=500)
    assert tr.images.shape == (8, 1, 64, 64) and tr.labels.shape == (8, 64, 64)
    assert tr.classes[0] == "background" and len(tr.classes) == 11
    assert int(tr.labels.max()) <= 10 and not torch.equal(tr.images, te.images)


def test_stride_reference_hand_example_and_errors():
    lab = torch.zeros(1, 4, 4, dtype=torch.int64)
    lab[0, :2, :2] = 1          # a 2x2 item aligned with the stride-2 cells
    lab[0, 3, 3] = 2            # a one-pixel item
    assert torch.equal(metrics.stride_reference(lab, 3, 1), lab)
    ref2 = metrics.stride_reference(lab, 3, 2)
    # bilinear upsampling of the cell shares keeps the aligned block; the lone pixel is 1/4 of
    # its cell and loses to background
    expect = lab.clone()
    expect[0, 3, 3] = 0
    assert torch.equal(ref2, expect)
    ref4 = metrics.stride_reference(lab, 3, 4)  # one cell: 4/16 item 1, 1/16 item 2 -> all background
    assert int(ref4.max()) == 0
    with pytest.raises(ValueError, match="divide"):
        metrics.stride_reference(lab, 3, 3)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        metrics.stride_reference(lab[0], 3, 2)


def test_stride_reference_gets_worse_with_stride():
    from test_scenes import toy_source

    from course_utils.data import make_scenes

    sc = make_scenes(toy_source(), 40, canvas=64, items=(1, 4), seed=0)
    ious = [metrics.scores(metrics.confusion(metrics.stride_reference(sc.labels, 6, s), sc.labels, 6))["mean_iou"]
            for s in (1, 2, 8, 32)]
    assert ious[0] == 1.0 and ious[0] > ious[1] > ious[2] > ious[3]


def test_item_votes_and_painting():
    masks = torch.zeros(1, 3, 4, 4, dtype=torch.bool)
    masks[0, 0, :2] = True       # item 0: top two rows
    masks[0, 1, 3, :2] = True    # item 1: two pixels
    pred = torch.zeros(1, 4, 4, dtype=torch.int64)
    pred[0, 0] = 3
    pred[0, 1, :3] = 3
    pred[0, 1, 3] = 2            # item 0: seven pixels say 3, one says 2
    pred[0, 3, :2] = torch.tensor([0, 0])  # item 1 is called background
    votes = metrics.item_votes(pred, masks)
    assert votes.tolist() == [[3, 0, -1]]   # item 2 absent
    painted = metrics.paint_items(votes, masks)
    expect = torch.zeros(1, 4, 4, dtype=torch.int64)
    expect[0, :2] = 3
    assert torch.equal(painted, expect)
    with pytest.raises(ValueError, match="masks"):
        metrics.item_votes(pred, masks[0])
    # item 0 (class 2, label 3) named right, item 1 (class 4) called background, item 2 absent
    assert metrics.items_named_right(votes, torch.tensor([[2, 4, -1]])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no visible item"):
        metrics.items_named_right(torch.full((1, 3), -1), torch.tensor([[2, 4, -1]]))
    with pytest.raises(ValueError, match="shape"):
        metrics.items_named_right(votes, torch.tensor([2, 4, -1]))


def test_painting_the_true_classes_gives_back_the_labels():
    from test_scenes import toy_source

    from course_utils.data import make_scenes

    sc = make_scenes(toy_source(), 20, canvas=48, items=(1, 4), seed=2)
    votes = metrics.item_votes(sc.labels, sc.masks)
    present = sc.masks.flatten(2).any(2)
    assert torch.equal(votes[present], sc.item_classes[present] + 1)
    assert torch.equal(metrics.paint_items(votes, sc.masks), sc.labels)
