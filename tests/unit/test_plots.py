"""Plot helpers reject mismatched inputs with a clear error (README, "Bad input")."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import plots  # noqa: E402

IMAGES = torch.rand(4, 1, 6, 6)

BAD = {
    "grid titles": (lambda: plots.image_grid(IMAGES, ["a", "b", "c"]),
                    "images and titles must have the same length, got images: 4, titles: 3"),
    "grid colours": (lambda: plots.image_grid(IMAGES, list("abcd"), title_colors=["red"]),
                     "title_colors: 1"),
    "confusion lengths": (lambda: plots.confusion_matrix([0, 1, 2], [0, 1], ["a", "b", "c"]),
                          "y_true and y_pred must have the same length, got y_true: 3, y_pred: 2"),
    "confusion class range": (lambda: plots.confusion_matrix([0, 3], [0, 1], ["a", "b", "c"]),
                              "y_true must be class indices in 0..2 (3 classes), got 0..3"),
    "scatter lengths": (lambda: plots.scatter_by_class(np.zeros((5, 2)), [0, 1], ["a", "b"]),
                        "points and labels must have the same length, got points: 5, labels: 2"),
    "scatter dims": (lambda: plots.scatter_by_class(np.zeros((2, 4)), [0, 1], ["a", "b"]),
                     "points must be (N, 2) or (N, 3)"),
    "thumbnails": (lambda: plots.thumbnail_scatter(np.zeros((3, 2)), IMAGES),
                   "points and images must have the same length, got points: 3, images: 4"),
    "thumbnail labels": (lambda: plots.thumbnail_scatter(np.zeros((4, 2)), IMAGES, labels=[0]),
                         "labels: 1"),
    "overlay size": (lambda: plots.heatmap_overlay(IMAGES[0], torch.rand(3, 3)),
                     "heat (3, 3) must match the image's (H, W) (6, 6)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_mismatched_inputs_are_rejected(case):
    call, words = BAD[case]
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
    plt.close("all")


def test_matching_inputs_still_plot():
    assert plots.image_grid(IMAGES, list("abcd"), ncols=2) is not None
    assert plots.confusion_matrix([0, 1, 2], [0, 2, 2], ["a", "b", "c"]) is not None
    assert plots.scatter_by_class(np.zeros((2, 2)), [0, 1], ["a", "b"]) is not None
    assert plots.heatmap_overlay(IMAGES[0], torch.rand(6, 6)) is not None
    plt.close("all")


def test_try_it_draws_once_and_needs_a_control():
    calls = []
    widget = plots.try_it(lambda k=3: calls.append(k), k=(1, 9, 1))
    assert calls == [3] and widget is not None
    with pytest.raises(ValueError, match="at least one control"):
        plots.try_it(lambda: None)
