"""The headline numbers of each chapter beside what the course reports give (the Results page).

Each :class:`Headline` names a metric a notebook records through :mod:`course_utils.results`,
the report's figure for the same quantity (None where a report shows only a plot or gives
nothing) and where that figure comes from. Report numbers were measured on the reports' own
data and budgets; the Results page shows the data each of our runs actually used beside them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Headline:
    notebook: str
    metric: str
    label: str
    report: float | None
    source: str


_R000 = "report 000"
_R001 = "report 001"
_R002 = "report 002"
_R003 = "report 003"
_R004 = "report 004"

HEADLINES: list[Headline] = [
    Headline("01_lenet_fashion", "lenet_test_acc", "LeNet-5 test accuracy", None,
             f"{_R000} §1.3: curves only; LeNet and MyNet about equal after 200 epochs"),
    Headline("01_lenet_fashion", "mynet_test_acc", "MyNet test accuracy", None,
             f"{_R000} §1.3: curves only"),
    Headline("02_cnn_zoo", "alexnet_test_acc", "small AlexNet test accuracy", 0.9797, f"{_R001} §2 table"),
    Headline("02_cnn_zoo", "resnet_test_acc", "small ResNet test accuracy", 0.9812, f"{_R001} §2 table"),
    Headline("02_cnn_zoo", "vgg_test_acc", "VGG-style test accuracy", 0.9955, f"{_R001} §2 table"),
    *[Headline("02_cnn_zoo", f"sweep_{w}_test_acc", f"width sweep {w}: test accuracy", acc,
               f"{_R001} Figure 3 (full MNIST; ours: a 10,000-image subset)")
      for w, acc in [("16-16-16-16", 0.9872), ("16-16-32-32", 0.9914), ("32-32-32-32", 0.9918),
                     ("32-32-64-64", 0.9943), ("64-64-64-64", 0.9941)]],
    Headline("03_pca", "pca_max_evr_error", "PCA vs scikit-learn: largest explained-variance "
             "difference", None, f"{_R000} §1.4: no comparison"),
    Headline("03_pca", "pca_components_for_90pct", "components for 90 % of pixel variance", None,
             f"{_R000} §1.4: not given"),
    Headline("04_tsne", "tsne_exact_kl_ratio_vs_sklearn", "t-SNE final KL, ours / scikit-learn's",
             None, f"{_R000} §1.5: no comparison"),
    Headline("05_cifar_filters", "best_test_acc", "LeNet-5 (grey 28×28) best test accuracy", 0.611,
             f"{_R002} §1.5 (grey CIFAR-10)"),
    Headline("05_cifar_filters", "test_acc_sgd", "optimizer comparison: SGD", None,
             f"{_R003}: curves only"),
    Headline("05_cifar_filters", "test_acc_adam", "optimizer comparison: Adam + warm-up", None,
             f"{_R003}: curves only"),
    Headline("06_zeiler_fergus", "featviz_conv2_median_ratio", "feature maximization: objective "
             "gain (median over conv2 filters)", None, f"{_R002} §2: pictures only"),
    Headline("06_zeiler_fergus", "occlusion_worst_square_on_object", "occlusion: most harmful "
             "square lies on the object (fraction)", None, f"{_R002} §2: pictures only"),
    Headline("07_rnn", "rnn_test_acc", "RNN test accuracy", 0.97, f"{_R002} §3 (≈ 97 %)"),
    Headline("07_rnn", "lstm_test_acc", "LSTM test accuracy", 0.99, f"{_R002} §3 (≈ 99 %)"),
    Headline("07_rnn", "gru_test_acc", "GRU test accuracy", 0.99, f"{_R002} §3 (close to 99 %)"),
    Headline("07_rnn", "gru32_test_acc", "GRU, 32 hidden units", 0.9694, f"{_R003} hidden-size sweep"),
    Headline("07_rnn", "gru64_test_acc", "GRU, 64 hidden units", 0.9754, f"{_R003} hidden-size sweep"),
    Headline("07_rnn", "gru128_test_acc", "GRU, 128 hidden units", 0.9324, f"{_R003} hidden-size sweep"),
    Headline("08_gradcam", "gradcam_pointing_game", "Grad-CAM pointing game", None,
             f"{_R000} §2.2, {_R004}: pictures only"),
    Headline("08_gradcam", "pointing_game_random_map", "pointing game of a random map", None,
             "baseline, not in the reports"),
    Headline("09_integrated_gradients", "ig_gl64_relative_gap", "IG completeness gap, 64 "
             "Gauss–Legendre steps (relative)", None, f"{_R000} §2.3: not measured"),
    Headline("10_autoencoders", "conv_vae_test_neg_elbo", "conv VAE test −ELBO (nats)", None,
             f"{_R001}, {_R004}: pictures only"),
    Headline("10_autoencoders", "latent16_knn_accuracy", "k-NN accuracy in a 16-D VAE latent space",
             None, "not in the reports"),
    Headline("11_segmentation", "vgg_fcn8_mean_iou", "VGG FCN-8 mean IoU", 0.767,
             f"{_R004} FCN table (Pascal VOC)"),
    Headline("11_segmentation", "vgg_fcn32_mean_iou", "VGG FCN-32 mean IoU", 0.706,
             f"{_R004} FCN table (Pascal VOC)"),
    Headline("11_segmentation", "alexnet_fcn8_mean_iou", "AlexNet FCN-8 mean IoU", 0.744,
             f"{_R004} FCN table (Pascal VOC)"),
    Headline("11_segmentation", "alexnet_fcn32_mean_iou", "AlexNet FCN-32 mean IoU", 0.700,
             f"{_R004} FCN table (Pascal VOC)"),
    Headline("11_segmentation", "vgg_fcn8_pixel_acc", "VGG FCN-8 pixel accuracy", 0.78,
             f"{_R001} §3 (Pascal VOC at 96×96)"),
    Headline("11_segmentation", "stride8_reference_mean_iou", "mean IoU of the true class shares "
             "upsampled from stride 8 (FCN-8's output stride)", None, "not in the reports"),
    Headline("11_segmentation", "vgg_fcn8_items_named_right", "VGG FCN-8: items whose pixels mostly "
             "get their class", None, "not in the reports"),
    Headline("12_transfer", "transfer_gain_smallest_budget", "transfer minus scratch accuracy, "
             "fewest labels", None, f"{_R004}: curves only"),
    Headline("12_transfer", "scratch_train_test_gap", "train–test gap trained from scratch", None,
             f"{_R004}: curves only"),
]
