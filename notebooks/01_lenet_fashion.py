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
# We train two small convolutional networks on Fashion-MNIST {cite}`xiao2017fashion` (70,000
# grey 28×28 images of clothing in ten classes) with stochastic gradient descent with momentum:
# the classic **LeNet-5** {cite}`lecun1998gradient`, and **MyNet**, a deeper and wider variant.
# We follow both through training (loss and accuracy on the training and the test set), find
# where each starts to overfit, and look at the mistakes the better one still makes. Both
# trained networks are cached: later chapters open them up ([chapter 3](03_pca.ipynb) with
# PCA, [chapter 4](04_tsne.ipynb) with t-SNE).
#
# ```{admonition} Learning goals and prerequisites
# :class: note
#
# **You will learn** to build a convolutional network in PyTorch and read its layer table,
# to train it with SGD with momentum and a cosine learning-rate schedule, to read loss and
# accuracy curves for the onset of overfitting, and to find a classifier's typical mistakes
# in its confusion matrix.
#
# **You need** Python and NumPy, the basics of PyTorch tensors, and what a convolution, a
# fully connected layer and the cross-entropy loss are. No earlier chapter is needed.
# ```

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
epochs: Optional[int] = None  # training epochs (≥ 1); None: 2 in fast mode, 15 in full mode
lr: float = 3e-2  # starting learning rate (> 0), decayed along a cosine
momentum: float = 0.9  # SGD momentum (≥ 0)
batch_size: Optional[int] = None  # (≥ 1) None: 32 in fast mode, 64 in full mode
variant_epochs: Optional[int] = None  # report 003's variant (≥ 1); None: epochs in fast mode, a third of them in full

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("01_lenet_fashion", data="Fashion-MNIST")
cu.seed_everything(seed)
setup = cu.recipes.fashion_setup(fast, epochs, batch_size)  # shared with chapters 3 and 4
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
# ## Inside a layer, step by step
#
# A convolution layer with weights $W \in \mathbb{R}^{O \times C \times k \times k}$ and bias
# $b$ computes, at every output position $(i, j)$,
#
# $$y_{o,i,j} = b_o + \sum_{c=1}^{C} \sum_{u,v=0}^{k-1} W_{o,c,u,v}\, x_{c,\, i+u,\, j+v}.$$ (eq-conv)
#
# Collect the $C k^2$ input values under the window at $(i, j)$ into one column, one column
# per position ("im2col"), and the whole layer becomes **one matrix product**: the $O \times
# Ck^2$ matrix of flattened filters times the $Ck^2 \times (\text{positions})$ matrix of
# columns. Pooling with a 2×2 window and stride 2 cuts each map into 2×2 blocks and keeps
# their mean (LeNet-5) or their maximum (MyNet).

# %%
import torch.nn.functional as F


def im2col(x, k):
    """(N, C, H, W) -> (N, C*k*k, positions): column p holds the k x k window at p."""
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    windows = [x[:, :, u:u + h, v:v + w] for u in range(k) for v in range(k)]  # C x (k*k)
    return torch.stack(windows, 2).flatten(1, 2).flatten(2)


def conv2d(x, W, b):
    """eq-conv as one matrix product."""
    k, h, w = W.shape[-1], x.shape[-2] - W.shape[-1] + 1, x.shape[-1] - W.shape[-1] + 1
    return (W.flatten(1) @ im2col(x, k) + b[:, None]).view(len(x), len(W), h, w)


def pool2x2(a, reduce):
    """2x2 blocks, stride 2: reduce is torch.mean (average) or torch.amax (max)."""
    n, c, h, w = a.shape
    return reduce(a.view(n, c, h // 2, 2, w // 2, 2), dim=(3, 5))


# %% [markdown]
# LeNet-5's whole convolutional part by hand (pad by 2, conv1, tanh, average pooling,
# conv2, tanh, average pooling) and MyNet's first stage (conv1, ReLU, max-pooling), on eight
# training images with freshly initialised networks, against the outputs the package's
# layers give (read with a hook, `cu.features.capture`) and against PyTorch's `F.unfold`,
# `F.conv2d`, `F.avg_pool2d` and `F.max_pool2d`:

# %%
with torch.random.fork_rng(devices=[]):     # leave the chapter's random stream as it was
    torch.manual_seed(seed)
    lenet, mynet = LeNet5().eval(), MyNet().eval()
x_pad = F.pad(train.float(slice(0, 8)), (2, 2, 2, 2))       # 28x28 -> 32x32
with torch.no_grad():
    conv1 = conv2d(x_pad, lenet.conv1.weight, lenet.conv1.bias)         # (N, 6, 28, 28)
    pool1 = pool2x2(torch.tanh(conv1), torch.mean)                       # (N, 6, 14, 14)
    conv2 = conv2d(pool1, lenet.conv2.weight, lenet.conv2.bias)         # (N, 16, 10, 10)
    pool2 = pool2x2(torch.tanh(conv2), torch.mean)                       # (N, 16, 5, 5)
    my_conv1 = conv2d(x_pad, mynet.conv1.weight, mynet.conv1.bias)      # (N, 16, 28, 28)
    my_pool1 = pool2x2(torch.relu(my_conv1), torch.amax)                 # (N, 16, 14, 14)
    with cu.features.capture(lenet, ["conv1", "pool1", "pool2"]) as acts:
        lenet(x_pad[..., 2:-2, 2:-2])                        # the package pads by itself
    with cu.features.capture(mynet, "pool1") as my_acts:
        mynet(x_pad[..., 2:-2, 2:-2])
    torch_conv1 = F.conv2d(x_pad, lenet.conv1.weight, lenet.conv1.bias)
    layer_checks = pd.DataFrame({
        "vs package layer": {"im2col": float("nan"),
                             "LeNet conv1": (conv1 - acts["conv1"]).abs().max(),
                             "LeNet pool1": (pool1 - acts["pool1"]).abs().max(),
                             "LeNet pool2": (pool2 - acts["pool2"]).abs().max(),
                             "MyNet pool1": (my_pool1 - my_acts["pool1"]).abs().max()},
        "vs torch.nn.functional": {
            "im2col": (im2col(x_pad, 5) - F.unfold(x_pad, 5)).abs().max(),
            "LeNet conv1": (conv1 - torch_conv1).abs().max(),
            "LeNet pool1": (pool1 - F.avg_pool2d(torch.tanh(torch_conv1), 2)).abs().max(),
            "LeNet pool2": float("nan"),
            "MyNet pool1": (my_pool1 - F.max_pool2d(torch.relu(
                F.conv2d(x_pad, mynet.conv1.weight, mynet.conv1.bias)), 2)).abs().max()},
    }).map(float)
layer_checks.style.format("{:.1e}", na_rep="")

# %%
# tolerance 1e-5: the activations are of order 1; measured under 1 and 2 threads and
# ATEN_CPU_CAPABILITY=default: at most 2.4e-7 (float32 sums in another order)
layer_tolerance = 1e-5
worst = float(layer_checks.max().max())
print(f"max |difference| = {worst:.1e} (tolerance {layer_tolerance:.0e})")
assert worst <= layer_tolerance, layer_checks

# %% [markdown]
# ## Training: SGD with momentum
#
# Both networks minimise the cross-entropy loss $J(\theta)$ with stochastic gradient descent
# with momentum. A velocity $v$ accumulates past gradients and the parameters follow it:
#
# $$v \leftarrow \beta v - \alpha \nabla_\theta J(\theta), \qquad \theta \leftarrow \theta + v,$$ (eq-sgd-momentum)
#
# with learning rate $\alpha$ and momentum $\beta = 0.9$ {cite}`polyak1964some,sutskever2013importance`. Momentum averages out the noise of
# mini-batch gradients and speeds progress along directions where successive gradients agree.
# The course report used a constant $\alpha = 10^{-3}$ for 200 epochs; with our budget of 15
# epochs we start at $\alpha = 3 \cdot 10^{-2}$, which covers the same ground far sooner
# and is still stable for both networks (the loss curves below fall smoothly), and decay it to
# zero along a half cosine {cite}`loshchilov2017sgdr`,
#
# $$\alpha_t = \tfrac12 \alpha_0 \left(1 + \cos \frac{\pi t}{T}\right)$$ (eq-cosine-lr)
#
# over the $T$ steps, so that the last epochs take small, careful steps.
#
# A *recipe* (`cu.recipes.fashion`) names everything that changes a trained network: the
# model, the data, the optimiser and its schedule, the epochs. `cu.recipes.train_or_load`
# trains a network once and stores it under a hash of its recipe, so re-running this notebook,
# or any later chapter that needs these networks, loads them instead of training again, and
# changing any part of the recipe trains afresh. `fashion_models` trains (or loads) this
# chapter's two networks, so later chapters fetch exactly these checkpoints. MyNet's recipe
# also asks for the channels_last memory format, in which the values of one pixel's channels
# sit side by side: the CPU's convolution and pooling kernels train MyNet about 1.2 times
# faster that way, and only the order of the sums changes. LeNet-5, with its 6 and 16
# channels, gains too little from it to bother.

# %% mystnb={"figure": {"caption": "Loss and accuracy of LeNet-5 and MyNet per epoch on Fashion-MNIST, training (dashed) and test (solid).", "name": "fig-ch1-curves"}}
models, histories = cu.recipes.fashion_models(
    fast, seed, train, test, epochs=epochs, lr=lr, momentum=momentum, batch_size=batch_size)

cu.plots.plot_histories(histories, title="Fashion-MNIST");

# %% [markdown]
# ## Where does each network start to overfit?
#
# A network overfits once its test loss stops falling while its training loss keeps going
# down: it is now learning details of the training images that do not carry over. We read
# the epoch of the lowest test loss off the curves of {numref}`fig-ch1-curves`, and the gap
# between training and test accuracy at the end.

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
# ## Report 003's variant: wider, with tanh and dropout
#
# Report 003 trained a wider LeNet: two 5×5 convolutions with 32 and 64 filters that keep the
# image size, each followed by 2×2 max-pooling, one fully connected layer of 1024 units and
# the output layer, tanh after every hidden layer, and **dropout** on the 1024 hidden units
# {cite}`srivastava2014dropout`. During training dropout zeroes each of those units with
# probability $p = 0.5$ and scales the survivors by $1/(1-p)$, so the next layer receives the
# same input on average; at test time every unit is kept. No unit can count on a particular
# partner being present, which is meant to keep the network from memorising the training set.
#
# `CifarLeNet(activation="tanh", dropout=0.5)` is that network ([chapter 5](05_cifar_filters.ipynb)
# trains its ReLU version). We train it beside LeNet-5 with the same recipe: SGD with momentum,
# the same cosine schedule and batch size. It has about 3.3 million parameters, 53 times as
# many as LeNet-5, and each of its epochs costs about six and a half times as much in full mode
# (the table's last column), so it sees a third of LeNet-5's image passes: in fast mode 2,000
# of the 6,000 training images for the same epochs, in full mode all 60,000 images for a third
# of the epochs (5 of 15, the cosine schedule compressed to fit them).
#
# The training accuracy in the curves is measured while dropout is on, with half the hidden
# units missing; the table measures it again after training with dropout off, the way the
# test accuracy is measured, and the train–test gap uses that number.

# %%
variant_train = train.subset(cu.config.pick(2000, None), seed=seed)
# chapter 1's recipe with the other network, on the images passed in (fingerprinted into the key)
variant_epochs = variant_epochs or cu.config.pick(epochs, max(1, epochs // 3))
variant_recipe = cu.recipes.fashion("lenet5", fast, seed, epochs=variant_epochs, lr=lr, momentum=momentum,
                                    batch_size=batch_size).replace(
    name="ch01-tanh-dropout", model="cifar-lenet", model_kw={"activation": "tanh", "dropout": 0.5},
    data=None)
variant, variant_history = cu.recipes.train_or_load(variant_recipe, variant_train, test)
cu.plots.plot_histories({"LeNet-5": histories["LeNet-5"], "tanh + dropout (report 003)": variant_history},
                        title="LeNet-5 and report 003's variant");

# %%
variant_rows = []
for name, net, h, data in [("LeNet-5", models["LeNet-5"], histories["LeNet-5"], train),
                           ("tanh + dropout", variant, variant_history, variant_train)]:
    after = cu.train.evaluate(net, data)[1]      # eval mode: dropout off
    variant_rows.append({"model": name, "params": cu.models.count_params(net), "training images": len(data),
                         "epochs": len(h.test_acc),
                         "train acc during training": h.train_acc[-1], "train acc after, dropout off": after,
                         "test acc": h.test_acc[-1], "train-test gap": after - h.test_acc[-1],
                         "s / epoch": np.mean(h.seconds)})
variant_table = pd.DataFrame(variant_rows).set_index("model")
variant_minus_lenet = cu.results.claim(
    "tanh_dropout_minus_lenet_test_acc",
    float(variant_table.loc["tanh + dropout", "test acc"] - variant_table.loc["LeNet-5", "test acc"]),
    ">= 0", ">= -0.03", note="a third of LeNet-5's image passes: fast mode a third of the images, full mode of the epochs")
cu.results.record("tanh_dropout_test_acc", float(variant_table.loc["tanh + dropout", "test acc"]))
cu.results.record("tanh_dropout_train_test_gap", float(variant_table.loc["tanh + dropout", "train-test gap"]))
cu.results.record("lenet_train_test_gap_dropout_off", float(variant_table.loc["LeNet-5", "train-test gap"]))
cu.results.record("tanh_dropout_train_seconds", variant_history.total_seconds)
variant_table.round(4)

# %% [markdown]
# The curves and the table compare the two. With dropout on, the variant's training accuracy
# during an epoch sits below what it reaches on the same images once dropout is off: half of
# its hidden units were missing when it was measured. In full mode, in a third of LeNet-5's
# epochs, the wider variant reaches at least LeNet-5's test accuracy (the claim above: 0.911 to
# 0.912 against 0.903 to 0.906, over three seeds, one and two threads and torch's default
# kernels), and its train–test gap with dropout off, 0.037 to 0.039, is about LeNet-5's (0.036
# to 0.038), with 53 times the parameters. In fast mode, with a third of the images, it stays
# within a few points of LeNet-5.

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

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then run.** Set `momentum = 0.0` in the parameters cell and run the chapter
#    again (the networks are retrained under a new cache key). Before you run it: will the
#    final test accuracy of LeNet-5 go up or down, and by a little or a lot? Think of
#    {eq}`eq-sgd-momentum` with $\beta = 0$ and of how many steps the budget allows.
# 2. **Count by hand.** How many parameters does LeNet-5's first convolution have (6 filters
#    of 5×5 on one input channel, each with a bias)? And its first fully connected layer?
#    Check your answers against the layer table.
# 3. **Per-class accuracy.** The confusion matrix shows rates; write the cell that lists the
#    test accuracy of each class for the better network, sorted from worst to best, from the
#    `pred` and `test.labels` tensors computed above.
# 4. **Momentum by hand.** Write one step of {eq}`eq-sgd-momentum` yourself for a small
#    linear layer and check it against `torch.optim.SGD`. PyTorch writes the update as
#    $v \leftarrow \beta v + g$, $\theta \leftarrow \theta - \alpha v$: show that with a
#    constant $\alpha$ the two forms give the same parameters.
# 5. **The schedule.** Plot {eq}`eq-cosine-lr` over the steps of a run. What is the learning
#    rate halfway through? What fraction of the steps is taken at less than a tenth of
#    $\alpha_0$?

# %% [markdown]
# ```{dropdown} Answer to exercise 1
# Without momentum each step moves only $\alpha$ times the current gradient, so over the
# same small budget the network travels much less far: expect a clearly lower test accuracy,
# several points below the run with momentum, and a training loss that is still falling
# steeply at the end. Momentum with $\beta = 0.9$ makes the effective step along a steady
# gradient direction about $1/(1-\beta) = 10$ times larger.
# ```

# %% tags=["hide-cell"]
# Exercise 2: weights plus biases
conv1_params = 6 * (1 * 5 * 5) + 6          # 156
fc1_params = (16 * 5 * 5) * 120 + 120       # 48,120
lenet = LeNet5()
assert conv1_params == sum(p.numel() for p in lenet.conv1.parameters())
assert fc1_params == sum(p.numel() for p in lenet.fc1.parameters())
print(f"conv1: {conv1_params} parameters, fc1: {fc1_params} parameters")

# %% tags=["hide-cell"]
# Exercise 3: accuracy of each class, worst first
per_class = pd.Series({test.classes[c]: float((pred[test.labels == c] == c).float().mean())
                       for c in range(10)}, name=f"{best_name} test accuracy")
per_class.sort_values().round(3)

# %% tags=["hide-cell"]
# Exercise 4: one step of SGD with momentum by hand against torch.optim.SGD
g = torch.Generator().manual_seed(0)
layer = torch.nn.Linear(4, 3)
x, target = torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
theta0 = [p.detach().clone() for p in layer.parameters()]
opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
v = [torch.zeros_like(p) for p in theta0]
theta = [p.clone() for p in theta0]
for _ in range(3):                            # three steps, so the velocity matters
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(layer(x), target)
    loss.backward()
    grads = [p.grad.detach().clone() for p in layer.parameters()]
    opt.step()
    v = [0.9 * vi - 0.1 * gi for vi, gi in zip(v, grads)]      # the book's form
    theta = [ti + vi for ti, vi in zip(theta, v)]
assert all(torch.allclose(t, p.detach(), atol=1e-6) for t, p in zip(theta, layer.parameters()))
print("three steps by hand match torch.optim.SGD")

# %% tags=["hide-cell"]
# Exercise 5: the cosine schedule
T = 1000
t = np.arange(T + 1)
alpha = 0.5 * lr * (1 + np.cos(np.pi * t / T))
print(f"halfway: {alpha[T // 2] / lr:.2f} of the starting rate; "
      f"steps below a tenth of it: {np.mean(alpha < lr / 10):.1%}")
