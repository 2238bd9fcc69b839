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
# # 5. Inside a CNN: optimizers, filters and activations on CIFAR-10
#
# We train the course reports' variant of LeNet-5 {cite}`lecun1998gradient` on grey 28×28
# CIFAR-10 images {cite}`krizhevsky2009learning` and open it up.
# First we compare four optimizers on the same budget and seed, then sweep the learning rate of
# the best one. Then we look at what the trained network learned: the first-layer filters as
# images, the activation maps of both convolutional layers for a few test images, and the
# mean and spread of every filter's activation over the test set.
#
# CIFAR-10 cannot be downloaded on every machine. When it is missing, the chapter runs on
# Fashion-MNIST instead and says so at the top and in every figure title.
#
# ```{admonition} Learning goals and prerequisites
# :class: note
#
# **You will learn** how SGD, momentum, Adagrad and Adam differ in their updates and in
# practice, how to run a fair comparison (same seed, same batches, same budget), how to read
# a learning-rate sweep, and how to look inside a trained network: its first-layer filters,
# its activation maps, and per-filter activation statistics.
#
# **You need** [chapter 1](01_lenet_fashion.ipynb) (training a convolutional network with
# SGD, reading loss curves). The network trained here is the one
# [chapter 6](06_zeiler_fergus.ipynb) opens further.
# ```

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

import course_utils as cu
from course_utils.models import summary
from course_utils import recipes
from course_utils.models.cifar import CifarLeNet

# %% tags=["parameters"]
from typing import Optional

fast: Optional[bool] = None  # small data, few epochs; None: from COURSE_FAST
seed: int = 0  # random seed
epochs: Optional[int] = None  # (≥ 1) None: 2 in fast mode, 10 in full mode
sweep_lrs: list[float] = [1e-1, 1e-2, 1e-3, 1e-4]  # learning rates swept for the best optimizer

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("05_cifar_filters")
cu.seed_everything(seed)
epochs = epochs or cu.config.pick(2, 10)
train, test, banner = cu.data.cifar_or_standin(fast, seed)
data_name = cu.results.data_used(cu.data.cifar_description(banner))
tag = "CIFAR-10" if banner is None else "STAND-IN Fashion-MNIST (not CIFAR-10)"
if banner:
    display(Markdown(f"> **Stand-in data.** {banner}"))
print(f"mode: {cu.config.mode()}, device: {cu.device()}, data: {data_name}, "
      f"train: {len(train)}, test: {len(test)} images, epochs: {epochs}")

# %% [markdown]
# ## The data
#
# Report 003 used a class-balanced subset: 500 training and 88 test images per class, which is
# what full mode loads (fast mode: 40 and 20). The reports converted CIFAR-10 to grey and
# resized it to 28×28, so a colour picture becomes one channel of luminance,
# $Y = 0.299R + 0.587G + 0.114B$. Two training images per class:

# %%
picks = torch.cat([torch.nonzero(train.labels == c).flatten()[:2] for c in range(10)])
cu.plots.image_grid(train.float(picks), [train.classes[int(train.labels[i])] for i in picks],
                    ncols=10, suptitle=f"{tag}: two training images per class");

# %% [markdown]
# ## The network
#
# The reports' LeNet-5 variant keeps each image's size through its convolutions ("same"
# padding) and halves it at every pooling: 5×5 convolution with 32 filters, 2×2 max-pooling
# (28 → 14), 5×5 convolution with 64 filters, 2×2 max-pooling (14 → 7), a fully connected layer
# of 1024 units and the 10 outputs. Every hidden layer uses ReLU; `CifarLeNet(activation="tanh",
# dropout=0.5)` gives report 003's tanh-and-dropout variant.

# %%
summary(CifarLeNet(), (1, 28, 28))

# %% [markdown]
# ## Four optimizers on the same budget
#
# All four runs start from the same initial weights (same seed), see the same mini-batches of
# 50 images in the same order, flip each training image left–right with probability ½, and
# train for the same number of epochs. With gradient $g_t$ of the loss at step $t$:
#
# - **SGD**: $\theta \leftarrow \theta - \alpha g_t$.
# - **SGD + momentum**: $v \leftarrow \beta v + g_t$, $\theta \leftarrow \theta - \alpha v$
#   ($\beta = 0.9$; [chapter 1](01_lenet_fashion.ipynb) writes the same update with the
#   learning rate inside the velocity): steps build up along directions where successive
#   gradients agree.
# - **Adagrad** {cite}`duchi2011adaptive`: $G \leftarrow G + g_t^2$, $\theta \leftarrow \theta - \alpha g_t / (\sqrt{G} + \epsilon)$:
#   every parameter gets its own step size, shrinking as its squared gradients accumulate.
# - **Adam** {cite}`kingma2015adam`: running means of the gradient and of its square,
#   $m \leftarrow \beta_1 m + (1-\beta_1) g_t$, $s \leftarrow \beta_2 s + (1-\beta_2) g_t^2$,
#   bias-corrected to $\hat m, \hat s$, and $\theta \leftarrow \theta - \alpha \hat m / (\sqrt{\hat s} + \epsilon)$.
#   As in report 002 its learning rate rises linearly from $\alpha/W$ to $\alpha$ over the
#   first 3 epochs ($W$ = the number of warm-up steps): Adam's first steps, taken with poor
#   estimates of $s$, are the ones most likely to throw the weights far off.
#
# Each optimizer gets a learning rate in its usual range (SGD-type $10^{-2}$, Adagrad
# $10^{-2}$, Adam $10^{-3}$); the sweep below then tunes the winner.

# %% [markdown]
# ### The four rules, written out
#
# Before training with them, the four updates above as code: three steps of each, from the
# same initial weights and on the same 50 training images, against the optimizer that the
# training below uses (`cu.train.make_optimizer`, which builds PyTorch's `torch.optim`
# classes). Both sides are given the same gradients at each step, so any difference is in
# the update rule itself.

# %%
def update_by_hand(name, params, grads, state, t, lr, beta=0.9, b2=0.999):
    """One step of ``name`` on the tensors ``params``; ``state`` carries v, G or (m, s)."""
    new = []
    for i, (p, g) in enumerate(zip(params, grads)):
        if name == "sgd":
            step = g
        elif name == "momentum":                         # v <- beta v + g
            state[i] = beta * state.get(i, torch.zeros_like(g)) + g
            step = state[i]
        elif name == "adagrad":                          # G <- G + g^2
            state[i] = state.get(i, torch.zeros_like(g)) + g ** 2
            step = g / (state[i].sqrt() + 1e-10)
        else:                                            # Adam, bias-corrected
            m, s = state.get(i, (torch.zeros_like(g), torch.zeros_like(g)))
            m, s = beta * m + (1 - beta) * g, b2 * s + (1 - b2) * g ** 2
            state[i] = (m, s)
            step = (m / (1 - beta ** t)) / ((s / (1 - b2 ** t)).sqrt() + 1e-8)
        new.append(p - lr * step)
    return new


xb, yb = train.float(slice(0, 50)), train.labels[:50]
update_gaps = {}
for name, rule_lr in {"sgd": 1e-2, "momentum": 1e-2, "adagrad": 1e-2, "adam": 1e-3}.items():
    with torch.random.fork_rng(devices=[]):      # the chapter's random stream stays as it was
        torch.manual_seed(seed)
        probe = CifarLeNet(len(train.classes), train.shape[0], train.shape[-1])
    hand, state = [p.detach().clone() for p in probe.parameters()], {}
    opt = cu.train.make_optimizer(name, probe.parameters(), rule_lr)
    for t in range(1, 4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(probe(xb), yb).backward()
        grads = [p.grad.detach().clone() for p in probe.parameters()]
        opt.step()
        hand = update_by_hand(name, hand, grads, state, t, rule_lr)
    update_gaps[name] = max(float((h - p.detach()).abs().max() / rule_lr)
                            for h, p in zip(hand, probe.parameters()))
# tolerance: 1e-4 of the learning rate. Measured: up to 1.5e-5 (Adam; its 1/(sqrt(s) + eps)
# magnifies float32 rounding), 3e-6 (Adagrad), 7e-7 (SGD, momentum) over seeds 0-3, at 1
# and 2 threads and on the default kernels
assert max(update_gaps.values()) < 1e-4, update_gaps
pd.Series(update_gaps, name="max |by hand - torch.optim| / learning rate").map("{:.1e}".format).to_frame()

# %%
START_LR = {"sgd": 1e-2, "momentum": 1e-2, "adagrad": 1e-2, "adam": 1e-3}
LABEL = {"sgd": "SGD", "momentum": "SGD + momentum", "adagrad": "Adagrad", "adam": "Adam + warm-up"}


def run(optimizer, lr):
    """Train (or load) one configuration; Adam at 1e-3 is the reference network chapter 6
    uses. A run whose loss blows up is kept as a record ("diverged") instead of crashing."""
    recipe = recipes.cifar(train, fast, seed, epochs, optimizer, lr)
    return recipes.train_or_load(recipe, train, test, keep_divergence=True)


models, histories = {}, {}
for name, lr in START_LR.items():
    models[name], histories[name] = run(name, lr)
cu.plots.plot_histories({LABEL[k]: h for k, h in histories.items()},
                        title=f"{tag}: optimizers");

# %%
opt_table = pd.DataFrame([{"optimizer": LABEL[k], "learning rate": START_LR[k],
                           "final train loss": h.train_loss[-1], "final test loss": h.test_loss[-1],
                           "final test acc": h.test_acc[-1], "best test acc": h.best_test_acc,
                           "s / epoch": np.mean(h.seconds)} for k, h in histories.items()])
best_opt = max(histories, key=lambda k: histories[k].test_acc[-1])
opt_table.round(4)

# %% [markdown]
# Plain SGD at $10^{-2}$ moves slowly: its loss is still high when the budget runs out.
# Momentum and the adaptive methods get much further in the same number of steps. The run
# with the highest final test accuracy is the one we tune next (named in the output below);
# the curves show whether its lead is steady over the epochs or a last-epoch accident.

# %%
print(f"best optimizer on this budget: {LABEL[best_opt]} "
      f"(test accuracy {histories[best_opt].test_acc[-1]:.3f})")

# %% [markdown]
# ## Learning-rate sweep for the best optimizer
#
# Same budget and seed, learning rates from $10^{-1}$ to $10^{-4}$. A rate too high makes the
# loss jump around or blow up (a run whose loss becomes infinite is stopped and marked
# *diverged*); a rate too low leaves the network barely trained when the budget ends.

# %%
sweep = {}
for lr in sweep_lrs:
    _, sweep[lr] = run(best_opt, lr)
ok = {lr: h for lr, h in sweep.items() if not isinstance(h, dict)}
cu.plots.plot_histories({f"lr = {lr:g}": h for lr, h in ok.items()},
                        title=f"{tag}: {LABEL[best_opt]}, learning rates");
sweep_table = pd.DataFrame([{"learning rate": lr,
                             "final test acc": (np.nan if isinstance(h, dict) else h.test_acc[-1]),
                             "final train loss": (np.nan if isinstance(h, dict) else h.train_loss[-1]),
                             "diverged": isinstance(h, dict)} for lr, h in sweep.items()])
best_lr = max(ok, key=lambda lr: ok[lr].test_acc[-1])
sweep_table.round(4)

# %% [markdown]
# The best learning rate is the one whose test accuracy ends highest without its test loss
# turning back up; the final choice is that optimizer at that rate (printed below). The
# network we look inside from here on is the reference run: Adam with warm-up at $10^{-3}$,
# which is the one [chapter 6](06_zeiler_fergus.ipynb) reuses. The table above shows how far it is from the best run.

# %%
model, history = recipes.train_or_load(recipes.cifar(train, fast, seed, epochs), train, test)
print(f"final choice from the plots: {LABEL[best_opt]} at lr = {best_lr:g} "
      f"(test accuracy {ok[best_lr].test_acc[-1]:.3f}); reference network (Adam, 1e-3): "
      f"{history.test_acc[-1]:.3f}")

# %% [markdown]
# ## First-layer filters
#
# Each of the 32 first-layer filters is a 5×5 grid of weights applied to the grey image. Shown
# as small images (each scaled to its own range; light = positive weight), many of them are
# oriented edge and bar detectors: a light band beside a dark one, at different angles, close
# to the Gabor-like filters that first layers of image networks tend to learn. Others are
# blob-like or respond to a bright or dark centre. After a short training they are still
# noisy; more data and epochs make them smoother.

# %%
w = model.conv1.weight.detach().cpu()
w = (w - w.amin((1, 2, 3), keepdim=True)) / (w.amax((1, 2, 3), keepdim=True) - w.amin((1, 2, 3), keepdim=True))
cu.plots.image_grid(w, [f"filter {i}" for i in range(len(w))], ncols=8, size=1.1,
                    suptitle=f"{tag}: the 32 conv1 filters (5×5)");

# %% [markdown]
# ## Activation maps
#
# The activation map of a filter is its response (after ReLU) at every position of the
# image. Layer 1 maps (28×28) still look like the image, each emphasising edges of one
# orientation or one polarity; layer 2 maps (14×14) are coarser and more selective: many are
# dark except where a particular combination of layer-1 features appears.

# %%
examples = test.float(torch.arange(3))
with cu.features.capture(model, ["act1", "act2"]) as acts:
    model(examples.to(cu.device()))
for i in range(len(examples)):
    label = test.classes[int(test.labels[i])]
    maps = torch.cat([examples[i:i + 1].cpu(), acts["act1"][i, :15, None].cpu()])
    cu.plots.image_grid(maps, ["input"] + [f"L1 map {c}" for c in range(15)], ncols=16, size=0.9,
                        suptitle=f"{tag}: layer-1 activations for a test '{label}'")
    cu.plots.image_grid(acts["act2"][i, :16, None].cpu(), [f"L2 map {c}" for c in range(16)],
                        ncols=16, size=0.9, suptitle=f"{tag}: layer-2 activations for the same image");

# %% [markdown]
# ## Activation statistics
#
# For every filter we take its activation at every position of every test image and report
# the mean and the standard deviation (report 002, Table 1). A filter with mean and spread
# near zero is almost never active ("dead" for this data); a large spread means the filter
# responds strongly to some places and not to others, which is what a useful detector does.

# %%
feats = cu.features.extract(model, test.float(), ["act1", "act2"], batch_size=500, flatten=False)
rows = []
for layer, name in [("act1", "layer 1"), ("act2", "layer 2")]:
    a = feats[layer]
    for c in range(a.shape[1]):
        rows.append({"layer": name, "filter": c, "mean": float(a[:, c].mean()),
                     "std": float(a[:, c].std()), "fraction active": float((a[:, c] > 0).float().mean())})
stats = pd.DataFrame(rows)
display(stats.groupby("layer")[["mean", "std", "fraction active"]].describe().T.round(3))
stats[stats.layer == "layer 1"].head(8).round(3)

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for name, colour in [("layer 1", "C0"), ("layer 2", "C1")]:
    s = stats[stats.layer == name]
    axes[0].hist(s["mean"], bins=20, alpha=0.6, color=colour, label=name)
    axes[1].hist(s["std"], bins=20, alpha=0.6, color=colour, label=name)
    axes[2].scatter(s["mean"], s["std"], s=12, color=colour, label=name)
axes[0].set(xlabel="activation mean", ylabel="filters", title=f"{tag}: per-filter mean")
axes[1].set(xlabel="activation std", ylabel="filters", title=f"{tag}: per-filter std")
axes[2].set(xlabel="activation mean", ylabel="activation std", title=f"{tag}: mean vs std")
for ax in axes:
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.tight_layout()

# %% [markdown]
# Mean and standard deviation rise together (their correlation across filters is printed
# below): ReLU outputs are non-negative, so a filter that fires more often also varies more.
# The "fraction active" rows of the summary table compare how often the filters of the two
# layers fire; a smaller fraction means more specific detectors.

# %%
corr = {name: float(np.corrcoef(s["mean"], s["std"])[0, 1]) for name, s in stats.groupby("layer")}
active = stats.groupby("layer")["fraction active"].median()
pd.DataFrame({"corr(mean, std)": corr, "median fraction active": active}).round(3)

# %% [markdown]
# ### Does the activation variance grow with depth?
#
# Report 003 took, in each layer, the feature map with the highest activation and found its
# variance larger in the second layer than in the first (0.073 against 0.024, for a tanh
# network), concluding that the variance grows from layer to layer. One map per layer is a
# thin basis: below we measure the variance of all activations of each layer over the test
# images (every filter, position and image), the per-filter variances behind it, and, for
# comparison, the report's own measure on our network. Our network uses ReLU, so its
# activations are non-negative and their scale is not the report's; the question is only
# whether the second layer varies more than the first.

# %%
variance = {}
for layer, name in [("act1", "layer 1"), ("act2", "layer 2")]:
    a = feats[layer]
    top = int(a.mean((0, 2, 3)).argmax())      # the map with the highest mean activation
    variance[name] = {"all activations": float(a.var()),
                      "median over filters": float(a.var((0, 2, 3)).median()),
                      "most active map (report's measure)": float(a[:, top].var())}
variance = pd.DataFrame(variance).T
per_filter = {name: feats[layer].var((0, 2, 3)).numpy() for layer, name in [("act1", "layer 1"), ("act2", "layer 2")]}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].boxplot(list(per_filter.values()), tick_labels=list(per_filter))
axes[0].set(yscale="log", xlabel="layer", ylabel="activation variance (log scale)",
            title=f"{tag}: variance of each filter's activations")
variance.T.plot.bar(ax=axes[1], rot=0, color=["C0", "C1"])
axes[1].set(xlabel="measure", ylabel="activation variance", title=f"{tag}: layer 1 against layer 2")
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
var_ratio = cu.results.claim("activation_variance_layer2_over_layer1",
                             variance.loc["layer 2", "all activations"] / variance.loc["layer 1", "all activations"],
                             "> 1", "> 1.1", note="report 003: the variance grows with depth",
                 measured=fast)  # full-mode bound not yet measured over seeds: recorded
cu.results.record("filter_variance_median_layer2_over_layer1",
                  variance.loc["layer 2", "median over filters"] / variance.loc["layer 1", "median over filters"])
cu.results.record("most_active_map_variance_layer2_over_layer1",
                  variance.loc["layer 2", "most active map (report's measure)"]
                  / variance.loc["layer 1", "most active map (report's measure)"])
variance.round(4)

# %% [markdown]
# Over all its activations the second layer varies more than the first (the claim above), as
# report 003 said; the typical filter's ratio is recorded beside it. The report's own measure,
# one most active map per layer, cannot carry the conclusion alone: it depends on which map
# happens to be the most active, and in our runs with other seeds its ratio fell on either side
# of 1 (it is recorded, not asserted).

# %% [markdown]
# ## What we saw
#
# - On the same budget and seed, plain SGD learns slowest; momentum and the adaptive
#   optimizers reach far higher accuracy. The learning-rate sweep shows the usual U shape:
#   too high is unstable, too low is too slow.
# - The first-layer filters include oriented edge detectors. How often each layer's filters
#   fire is measured, not assumed: the median fraction active per layer is in the table above.
# - Report 002 reached 0.611 test accuracy on grey CIFAR-10 with the full 50,000 training
#   images; our numbers below use report 003's smaller subset (and, when CIFAR-10 is absent,
#   Fashion-MNIST, which is much easier, so the target is higher).

# %%
for k, h in histories.items():
    cu.results.record(f"test_acc_{k}", h.test_acc[-1])
for lr, h in sweep.items():
    cu.results.record(f"sweep_{best_opt}_lr{lr:g}_test_acc", np.nan if isinstance(h, dict) else h.test_acc[-1])
on_cifar = banner is None
best_acc = cu.results.claim("best_test_acc", max(h.test_acc[-1] for h in ok.values()),
                            ">= 0.45" if on_cifar else ">= 0.85", ">= 0.3",
                            note="CIFAR-10 grey 28x28" if on_cifar else "Fashion-MNIST stand-in")
sgd_gap = cu.results.claim("adaptive_minus_sgd_acc",
                           max(histories[k].test_acc[-1] for k in ("momentum", "adagrad", "adam"))
                           - histories["sgd"].test_acc[-1], ">= 0.02", ">= 0.0")
cu.results.record("reference_test_acc", history.test_acc[-1])
sec_per_epoch = float(np.mean([np.mean(h.seconds) for h in histories.values()]))
cu.results.record("seconds_per_epoch", sec_per_epoch)
cu.results.claim("mean_std_correlation_layer1", corr["layer 1"], ">= 0.5", ">= 0.0")
cu.results.record("median_fraction_active_layer1", float(active["layer 1"]))
cu.results.record("median_fraction_active_layer2", float(active["layer 2"]))
cu.results.record("dead_filters_layer1", int((stats[stats.layer == "layer 1"]["fraction active"] == 0).sum()))
cu.results.record("dead_filters_layer2", int((stats[stats.layer == "layer 2"]["fraction active"] == 0).sum()))
pd.Series({"best test accuracy": best_acc, "best minus SGD": sgd_gap,
           "s / epoch": sec_per_epoch}).round(4)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then run.** Add `1.0` at the front of `sweep_lrs` in the parameters cell. Before
#    running: will that run diverge, crawl, or train? What will its test accuracy be? (The
#    chapter stops a run whose loss becomes infinite and marks it *diverged*.)
# 2. **Adam by hand.** Write three Adam steps yourself (running means, bias correction,
#    update) for a small linear layer and check them against `torch.optim.Adam` with the same
#    hyper-parameters.
# 3. **Dead filters.** From the `stats` table, count the filters of each layer that are active
#    (above zero) at less than 1 % of the positions of the test images. Would you prune them?
# 4. **Flip invariance.** The networks were trained on images flipped left–right at random.
#    Extend the chapter: on the test images, how often does the reference network give the
#    same class to an image and to its mirror image, and how does its accuracy on the
#    mirrored images compare?

# %% [markdown]
# ```{dropdown} Answer to exercise 1
# For Adam, a learning rate of 1.0 is three orders of magnitude above its usual $10^{-3}$:
# the first steps throw the weights far off, and the loss either becomes infinite (the run
# is marked *diverged*) or the network ends up stuck predicting one class, at chance
# accuracy (about 0.1). The warm-up delays the damage by a few hundred steps but does not
# prevent it. For plain SGD the threshold would be far higher, since its step is scaled by the
# gradient itself.
# ```

# %% tags=["hide-cell"]
# Exercise 2: three Adam steps by hand against torch.optim.Adam
g = torch.Generator().manual_seed(0)
layer = torch.nn.Linear(5, 3)
x, target = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
lr_, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
theta = [p.detach().clone() for p in layer.parameters()]
m = [torch.zeros_like(p) for p in theta]
v = [torch.zeros_like(p) for p in theta]
opt = torch.optim.Adam(layer.parameters(), lr=lr_, betas=(b1, b2), eps=eps)
for t in range(1, 4):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(layer(x), target).backward()
    grads = [p.grad.detach().clone() for p in layer.parameters()]
    opt.step()
    m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, grads)]
    v = [b2 * vi + (1 - b2) * gi ** 2 for vi, gi in zip(v, grads)]
    theta = [ti - lr_ * (mi / (1 - b1 ** t)) / ((vi / (1 - b2 ** t)).sqrt() + eps)
             for ti, mi, vi in zip(theta, m, v)]
assert all(torch.allclose(ti, p.detach(), atol=1e-6) for ti, p in zip(theta, layer.parameters()))
print("three Adam steps by hand match torch.optim.Adam")

# %% tags=["hide-cell"]
# Exercise 3: filters that almost never fire
dead = stats[stats["fraction active"] < 0.01]
print(dead.groupby("layer").size().reindex(["layer 1", "layer 2"], fill_value=0).to_dict(),
      "filters active at less than 1 % of positions, of",
      stats.groupby("layer").size().to_dict())

# %% tags=["hide-cell"]
# Exercise 4: the same class for an image and its mirror image?
model.eval()
with torch.no_grad():
    x_test = test.float().to(cu.device())
    pred_orig = model(x_test).argmax(1).cpu()
    pred_flip = model(x_test.flip(-1)).argmax(1).cpu()
pd.Series({"same class for image and mirror": float((pred_orig == pred_flip).float().mean()),
           "accuracy, original": float((pred_orig == test.labels).float().mean()),
           "accuracy, mirrored": float((pred_flip == test.labels).float().mean())}).round(3)
