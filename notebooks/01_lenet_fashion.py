# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (looking-inside)
#     language: python
#     name: looking-inside
# ---

# %% [markdown]
# # 1. LeNet-5 and MyNet on Fashion-MNIST
#
# We train two small convolutional networks on Fashion-MNIST (70,000 grey 28×28 images of
# clothing in ten classes) with stochastic gradient descent with momentum: the classic
# **LeNet-5**, and **MyNet**, a deeper and wider variant. We follow both through training
# (loss and accuracy on the training and the test set), find where each starts to overfit, and
# look at the mistakes the better one still makes. Both trained networks are cached: later
# chapters open them up.

# %%
import numpy as np
import pandas as pd
import torch

import course_utils as cu
from course_utils.models import LeNet5, MyNet, summary

# %% tags=["parameters"]
from typing import Optional

fast: Optional[bool] = None  # small data, few epochs; None: from COURSE_FAST
seed: int = 0  # random seed
epochs: Optional[int] = None  # training epochs (≥ 1); None: 3 in fast mode, 15 in full mode
lr: float = 3e-2  # starting learning rate (> 0), decayed along a cosine
momentum: float = 0.9  # SGD momentum (≥ 0)
batch_size: Optional[int] = None  # (≥ 1) None: 32 in fast mode, 64 in full mode

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("01_lenet_fashion", data="Fashion-MNIST")
cu.seed_everything(seed)
setup = cu.models.lenet.fashion_setup(fast, epochs, batch_size)  # shared with chapters 3 and 4
epochs, batch_size = setup["epochs"], setup["batch_size"]
device = cu.device()
train = cu.data.load("fashion-mnist", "train", subset=setup["train_size"], seed=seed)
test = cu.data.load("fashion-mnist", "test", subset=setup["test_size"], seed=seed)
print(f"mode: {cu.config.mode()}, device: {device}, train: {len(train)} images, "
      f"test: {len(test)} images, epochs: {epochs}")

# %% [markdown]
# ## The data
#
# Each image is 28×28 grey levels in [0, 1]; the classes are balanced. Three examples of
# every class:

# %%
picks = torch.cat([torch.nonzero(train.labels == c).flatten()[:3] for c in range(10)])
cu.plots.image_grid(train.float(picks), [train.classes[int(train.labels[i])] for i in picks],
                    ncols=10, suptitle="Fashion-MNIST: three training images per class");

# %% [markdown]
# ## LeNet-5
#
# LeNet-5 takes a 32×32 input, so the 28×28 images are zero-padded by two pixels on every
# side. Two 5×5 convolutions (6 and 16 filters), each followed by 2×2 average pooling, turn
# the image into 16 maps of 5×5; three fully connected layers (120 → 84 → 10) classify them.
# Every hidden layer uses tanh, as in the original. The table lists each layer's output shape
# and parameter count for one image.

# %%
summary(LeNet5(), (1, 28, 28))

# %% [markdown]
# ## MyNet: deeper and wider
#
# MyNet keeps LeNet's plan but adds a third convolution and widens everything: 16, 32 and 64
# filters, ReLU instead of tanh, max-pooling instead of average pooling, and fully connected
# layers of 256 and 128 units. It has about ten times as many parameters.

# %%
summary(MyNet(), (1, 28, 28))

# %% [markdown]
# ## Training: SGD with momentum
#
# Both networks minimise the cross-entropy loss $J(\theta)$ with stochastic gradient descent
# with momentum. A velocity $v$ accumulates past gradients and the parameters follow it:
#
# $$v \leftarrow \beta v - \alpha \nabla_\theta J(\theta), \qquad \theta \leftarrow \theta + v,$$
#
# with learning rate $\alpha$ and momentum $\beta = 0.9$. Momentum averages out the noise of
# mini-batch gradients and speeds progress along directions where successive gradients agree.
# The course report used a constant $\alpha = 10^{-3}$ for 200 epochs; with our budget of 15
# epochs we start at $\alpha = 3 \cdot 10^{-2}$, which covers the same ground far sooner
# and is still stable for both networks (the loss curves below fall smoothly), and decay it to
# zero along a half cosine, $\alpha_t = \tfrac12 \alpha_0 (1 + \cos \pi t / T)$ over the $T$
# steps, so that the last epochs take small, careful steps.
#
# `cu.cache.train_or_load` trains a network once and stores it under a hash of its
# configuration, so re-running this notebook, or any later chapter that needs these
# networks, loads them instead of training again. `trained_fashion_models` wraps it with
# this chapter's configuration, so later chapters fetch exactly these checkpoints.

# %%
models, histories = cu.models.lenet.trained_fashion_models(
    fast, seed, epochs=epochs, lr=lr, momentum=momentum, batch_size=batch_size, train=train, test=test)

cu.plots.plot_histories(histories, title="Fashion-MNIST");

# %% [markdown]
# ## Where does each network start to overfit?
#
# A network overfits once its test loss stops falling while its training loss keeps going
# down: it is now learning details of the training images that do not carry over. We read
# the epoch of the lowest test loss off the curves, and the gap between training and test
# accuracy at the end.

# %%
rows = []
for name, h in histories.items():
    best = int(np.argmin(h.test_loss))
    rows.append({"model": name,
                 "params": cu.models.count_params(models[name]),
                 "lowest test loss at epoch": h.epoch[best],
                 "test loss then": h.test_loss[best],
                 "test loss at end": h.test_loss[-1],
                 "train acc": h.train_acc[-1], "test acc": h.test_acc[-1],
                 "train-test gap": h.train_acc[-1] - h.test_acc[-1],
                 "s / epoch": np.mean(h.seconds)})
overfit = pd.DataFrame(rows).set_index("model")
overfit.round(4)

# %% [markdown]
# When the lowest test loss falls before the last epoch, the test loss climbs back up
# afterwards even as training accuracy improves: that is the overfitting the table locates.
# The larger MyNet fits the training set faster and further than LeNet, so its train–test gap
# opens wider, while its test accuracy is still the higher of the two.

# %% [markdown]
# ## Which classes get confused?
#
# The confusion matrix of the better network on the test set (rows: true class; each row sums
# to one):

# %%
best_name = overfit["test acc"].idxmax()
logits = cu.train.predict(models[best_name], test)
pred = logits.argmax(1)
cu.plots.confusion_matrix(test.labels, pred, test.classes,
                          title=f"{best_name} on the Fashion-MNIST test set");

# %% [markdown]
# Most mistakes happen among the upper-body garments (T-shirt/top, pullover, coat and shirt):
# at 28×28 in grey they differ mainly in sleeves and collars. Some of the misclassified test
# images, with the true and the predicted label:

# %%
wrong = torch.nonzero(pred != test.labels).flatten()[:24]
cu.plots.image_grid(test.float(wrong),
                    [f"{test.classes[int(test.labels[i])]}\n→ {test.classes[int(pred[i])]}" for i in wrong],
                    ncols=8, suptitle=f"{best_name}: misclassified test images (true → predicted)");

# %% [markdown]
# ## What we saw
#
# - Both networks learn Fashion-MNIST with plain SGD + momentum; the recorded test accuracies
#   are below (full mode: all 60,000 training and 10,000 test images).
# - The bigger MyNet reaches the higher test accuracy but also the larger train–test gap: it
#   starts to overfit earlier, as the course report observed.
# - The remaining errors are concentrated in a few visually similar classes.

# %%
lenet_acc = cu.results.claim("lenet_test_acc", histories["LeNet-5"].test_acc[-1], ">= 0.89", ">= 0.65")
mynet_acc = cu.results.claim("mynet_test_acc", histories["MyNet"].test_acc[-1], ">= 0.91", ">= 0.65")
cu.results.record("lenet_train_seconds", histories["LeNet-5"].total_seconds)
cu.results.record("mynet_train_seconds", histories["MyNet"].total_seconds)
cu.results.record("lenet_best_test_loss_epoch", int(overfit.loc["LeNet-5", "lowest test loss at epoch"]))
cu.results.record("mynet_best_test_loss_epoch", int(overfit.loc["MyNet", "lowest test loss at epoch"]))
# the overfitting claim: MyNet's test loss bottoms out before the end and its gap is LeNet's or more
cu.results.claim("mynet_epochs_past_best_test_loss",
                 epochs - int(overfit.loc["MyNet", "lowest test loss at epoch"]), ">= 1", None)
cu.results.claim("mynet_minus_lenet_train_test_gap",
                 float(overfit.loc["MyNet", "train-test gap"] - overfit.loc["LeNet-5", "train-test gap"]), ">= 0", None)
cu.results.record("mynet_train_test_gap", float(overfit.loc["MyNet", "train-test gap"]))
pd.Series({"LeNet-5 test accuracy": lenet_acc, "MyNet test accuracy": mynet_acc}).round(4)
