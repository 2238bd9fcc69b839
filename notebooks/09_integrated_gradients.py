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
# # 9. Integrated Gradients
#
# Grad-CAM ([chapter 8](08_gradcam.ipynb)) answers "where" at the coarse resolution of a conv
# layer. **Integrated Gradients** (IG; {cite:t}`sundararajan2017axiomatic`) attributes the score
# to every
# *input pixel*, and comes with a guarantee: the attributions add up to the change in the
# score between a baseline image and the input. We derive it, implement the integral with
# several quadrature rules and watch the guarantee hold as the number of steps grows, see
# how much the choice of baseline matters, and compare IG with Grad-CAM and occlusion by
# deleting and inserting pixels in the order each method ranks them.
#
# ```{admonition} Learning goals and prerequisites
# :class: note
#
# **You will learn** why plain gradients fail on a saturated score, how IG integrates
# gradients along a path and why its attributions add up to the change of the score, how the
# quadrature rule and the number of steps control the error, how the baseline changes the
# question IG answers, and how deletion and insertion curves compare attribution methods.
#
# **You need** [chapter 8](08_gradcam.ipynb) (its GAPNet, Grad-CAM, input gradients),
# occlusion from [chapter 6](06_zeiler_fergus.ipynb), and one-variable calculus (the chain
# rule, the fundamental theorem, numerical quadrature).
# ```

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import course_utils as cu
from course_utils.explain.gradcam import GradCAM
from course_utils.explain.guided import input_gradient
from course_utils.explain.ig import METHODS, IntegratedGradients, make_baseline, path_scores
from course_utils.explain.metrics import deletion_insertion
from course_utils.explain.occlusion import occlusion_heatmap
from course_utils.models.localizer import GAPNet, localizer_config, single_item_data, train_localizer

# %% tags=["parameters"]
from typing import Optional

fast: Optional[bool] = None  # small data, few epochs; None: from COURSE_FAST
seed: int = 0  # random seed
n_steps: int = 64  # (≥ 1) Gauss-Legendre steps for the attributions shown
n_compare: Optional[int] = None  # (≥ 1) images in the deletion / insertion comparison; None: 60 / 200
curve_steps: int = 28  # (≥ 1) points on each deletion / insertion curve
random_baselines: int = 5  # (≥ 1) noise baselines averaged in "averaged noise"
download: bool = False  # fetch the ImageNet weights (ResNet-34, VGG-19) if missing: torchvision's download
imagenet_steps: Optional[int] = None  # (≥ 1) IG steps on the ImageNet networks; None: 8 / 32

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("09_integrated_gradients", data="Fashion-MNIST items on 56×56 canvases")
cu.seed_everything(seed)
n_compare = n_compare or cu.config.pick(60, 200)
step_grid = cu.config.pick([4, 8, 16, 32, 64], [4, 8, 16, 32, 64, 128, 256])
n_gap_images = cu.config.pick(3, 8)
device = cu.device()
net, history = train_localizer("gapnet", fast, seed)          # chapter 8's network (cached)
cfg = localizer_config("gapnet", fast, seed)
test, _ = single_item_data(cfg, "test")
x_all = test.float().to(device)
with torch.no_grad():
    pred = net(x_all).argmax(1).cpu()
correct = torch.nonzero(pred == test.labels).flatten()
print(f"mode: {cu.config.mode()}; GAPNet from chapter 8, test accuracy on single items "
      f"{history.test_acc[-1]:.3f}; {len(correct)} correctly classified test canvases")

# %% [markdown]
# ## From gradients to integrated gradients
#
# The simplest attribution is the gradient $\partial F / \partial x_i$ of the score $F$ with
# respect to each pixel ("saliency", {cite}`simonyan2014deep`). It answers a local question: how would the score move
# if pixel $i$ changed *a little*? For a confident network the answer is often "hardly at
# all": the score has **saturated**. Take a softmax probability that is already 0.999; making
# the sneaker's sole brighter cannot raise it much more, so its gradient is near zero even
# though the sole is what the network recognised.
#
# IG asks a global question instead. Choose a **baseline** $x'$ that carries no signal (a
# black canvas), walk along the straight line $\gamma(\alpha) = x' + \alpha (x - x')$,
# $\alpha \in [0, 1]$, and add up the gradients met on the way:
#
# $$\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial F}{\partial x_i}\big(x' + \alpha (x - x')\big) \, d\alpha .$$ (eq-ig)
#
# **Completeness.** By the chain rule, $\frac{d}{d\alpha} F(\gamma(\alpha)) = \sum_i
# \frac{\partial F}{\partial x_i}(\gamma(\alpha)) \, (x_i - x'_i)$, so integrating over
# $\alpha$ (the fundamental theorem of calculus along the path) gives
#
# $$\sum_i \mathrm{IG}_i(x) = F(x) - F(x').$$ (eq-ig-completeness)
#
# The attributions split exactly the change of the score between baseline and input.
# **Sensitivity** follows: if $x$ and $x'$ differ in one pixel only and the scores differ,
# that pixel gets all of the difference — something the plain gradient, zero in a saturated
# region, fails. IG is also **implementation invariant**: it only uses gradients of the
# function, so two networks computing the same function get the same attributions.
#
# In practice the integral {eq}`eq-ig` is a quadrature with points $\alpha_k$ and weights $w_k$:
# $\mathrm{IG}_i \approx (x_i - x'_i) \sum_k w_k \, \partial_i F(\gamma(\alpha_k))$, one
# batch of gradients. The **completeness gap** $\sum_i \mathrm{IG}_i - (F(x) - F(x'))$, the
# failure of {eq}`eq-ig-completeness`, measures the quadrature error, per example.
#
# ## The straight-line path, and saturation
#
# The most confidently classified test canvas along the path, with the class logit, its
# softmax probability $p$ and the size of the plain gradient of $p$ at each $\alpha$:

# %%
with torch.no_grad():
    confidence = net(x_all[correct]).softmax(1).max(1).values
i0 = int(correct[confidence.argmax()])
x0, c0 = x_all[i0:i0 + 1], int(test.labels[i0])
black = torch.zeros_like(x0)
alphas = np.linspace(0, 1, 41)
logit = path_scores(net, x0, c0, black, alphas)[:, 0].cpu()
prob = path_scores(net, x0, lambda out: out.softmax(1)[:, c0], black, alphas)[:, 0].cpu()
prob_of = lambda out: out.softmax(1)[:, c0]
grad_norm = np.array([float(input_gradient(net, black + a * (x0 - black), prob_of).norm()) for a in alphas])
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
axes[0].plot(alphas, logit, label="logit")
axes[0].set(xlabel=r"$\alpha$", ylabel="logit", title=f"score along the path ({test.classes[c0]})")
axes[1].plot(alphas, prob, color="C1")
axes[1].set(xlabel=r"$\alpha$", ylabel="softmax probability", title="probability saturates")
axes[2].plot(alphas, grad_norm, color="C2")
axes[2].set(xlabel=r"$\alpha$", ylabel=r"$\|\nabla_x p\|$", title="gradient of the probability")
plt.tight_layout()
cu.plots.image_grid((black + torch.tensor([0, .25, .5, .75, 1.0], device=device).view(-1, 1, 1, 1) * (x0 - black)),
                    [f"α = {a}" for a in [0, .25, .5, .75, 1]], ncols=5,
                    suptitle="points on the straight path from the black baseline to the input");
saturation = float(prob[alphas >= 0.5].min())
grad_ratio = float(grad_norm[-1] / grad_norm.max())
print(f"p('{test.classes[c0]}'): {float(prob[0]):.3f} at the baseline, {saturation:.3f} at half the "
      f"path, {float(prob[-1]):.3f} at the input; the gradient of p at the input is "
      f"{grad_ratio:.1%} of its largest value along the path")

# %% [markdown]
# The probability changes over one stretch of the path and then flattens out near the
# input; there its gradient is a small fraction of its largest value (printed above and
# asserted at the end), so a gradient taken *at* the input sees little of what made the
# decision. IG collects the gradients all the way along.
#
# ## Completeness gap vs number of steps
#
# Four Riemann rules (left, right, middle, trapezoid) and Gauss–Legendre quadrature, each
# with $n$ points; the relative gap $|\sum_i \mathrm{IG}_i - (F(x) - F(x'))| / |F(x) - F(x')|$
# averaged over a few test canvases (logit score, black baseline):

# %%
xs = x_all[correct[:n_gap_images]]
ts = test.labels[correct[:n_gap_images]].to(device)
with torch.no_grad():
    change = (net(xs).gather(1, ts[:, None]) - net(torch.zeros_like(xs)).gather(1, ts[:, None]))[:, 0].abs()
ig = IntegratedGradients(net)
gaps = {m: [] for m in METHODS}
for m in METHODS:
    for n in step_grid:
        _, gap = ig(xs, ts, baseline="black", n_steps=n, method=m, internal_batch_size=1024, return_gap=True)
        gaps[m].append(float((gap.abs() / change).mean()))
fig, ax = plt.subplots(figsize=(5.5, 3.8))
for m in METHODS:
    ax.loglog(step_grid, gaps[m], marker="o", label=m)
ax.axhline(0.01, color="gray", ls=":", label="1 %")
ax.set_xticks(step_grid, labels=[str(n) for n in step_grid])
ax.set_xticks([], minor=True)
ax.set(xlabel="number of steps n", ylabel="relative completeness gap",
       title="quadrature error of IG (GAPNet, black baseline)")
ax.legend(fontsize=7)
gap_table = pd.DataFrame(gaps, index=pd.Index(step_grid, name="steps")).T
gap_table.style.format("{:.1e}")

# %% [markdown]
# The left and right rules are first-order: their error roughly halves when $n$ doubles.
# Middle, trapezoid and Gauss–Legendre are higher-order and much more accurate for the same
# $n$. On a smooth integrand Gauss–Legendre would pull away by orders of magnitude, but a
# ReLU network is only piecewise smooth along the path — every ReLU that switches on or off
# makes a kink — so the higher-order rules end up close together. At 64 Gauss–Legendre steps
# the gap is below 1 % of the score change (asserted at the end), which is why 64 is a
# sensible default.
#
# captum's {cite}`kokhlikyan2020captum` `"riemann_trapezoid"` is *not* this trapezoid rule. Both evaluate the gradient at
# $n$ evenly spaced points $0, \frac{1}{n-1}, \dots, 1$, but captum weights them $1/n$
# (halved at the two ends) instead of the interval width $1/(n-1)$, so its weights sum to
# $(n-1)/n$ rather than 1 and its attributions are ours times $(n-1)/n$. Where the gradient
# is constant along the path (a linear model) every correct rule is exact; captum's misses
# $1/n$ of the score change. Measured on the same canvases, and on a random linear model:

# %%
import warnings

import torch.nn as nn
from captum.attr import IntegratedGradients as CaptumIG

warnings.filterwarnings("ignore", module="captum")
with torch.random.fork_rng(devices=[]):        # leave the global random stream as it was
    torch.manual_seed(seed)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(xs[0].numel(), len(test.classes))).to(device)
trap_rows = {}
for trap_name, trap_net in [("GAPNet", net), ("linear", linear)]:
    with torch.no_grad():
        moved = (trap_net(xs) - trap_net(torch.zeros_like(xs))).gather(1, ts[:, None])[:, 0].abs()
    for n_trap in (16, 64):
        ours_t, gap_o = IntegratedGradients(trap_net)(xs, ts, baseline="black", n_steps=n_trap,
                                                      method="riemann_trapezoid", return_gap=True)
        captum_t, gap_c = CaptumIG(trap_net).attribute(xs, torch.zeros_like(xs), target=ts,
                                                       n_steps=n_trap, method="riemann_trapezoid",
                                                       return_convergence_delta=True)
        trap_rows[trap_name, n_trap] = {"captum / ours": float(captum_t.sum() / ours_t.sum()),
                                        "(n - 1) / n": (n_trap - 1) / n_trap,
                                        "gap ours": float((gap_o.abs() / moved).mean()),
                                        "gap captum": float((gap_c.abs() / moved).mean())}
trap_table = pd.DataFrame(trap_rows).T.rename_axis(["model", "points"])
print(trap_table.to_string(formatters={"captum / ours": "{:.4f}".format, "(n - 1) / n": "{:.4f}".format,
                                       "gap ours": "{:.1e}".format, "gap captum": "{:.1e}".format}))

# %% [markdown]
# On GAPNet the completeness gaps mix captum's $1/n$ shortfall with the ordinary quadrature
# error, which on a ReLU network can have either sign, so at a given $n$ they need not favour
# either rule; the linear model, where our gap is at float precision and captum's is exactly
# $1/n$, is what settles it.
#
# ## The baseline matters
#
# "No signal" is a choice. Black is natural for our black canvases; a **blurred** copy keeps
# the coarse shape and asks which *details* matter; **uniform noise** asks which pixels beat
# random ones; averaging IG over several noise baselines smooths out the accident of one
# draw. Each row is one test canvas; red raises the class score, blue lowers it:

# %%
show = correct[1:4]
xb, tb = x_all[show], test.labels[show].to(device)
baselines = {"black": "black", "blurred": "blur", "uniform noise": make_baseline(xb, "noise", seed),
             f"averaged noise ({random_baselines})": [make_baseline(xb, "noise", seed + k)
                                                      for k in range(random_baselines)]}
attrs, base_gaps = {}, {}
for name, b in baselines.items():
    a, gap = ig(xb, tb, baseline=b, n_steps=n_steps, internal_batch_size=1024, return_gap=True)
    attrs[name], base_gaps[name] = a[:, 0].cpu(), gap.abs().max().item()
fig, axes = plt.subplots(len(show), len(attrs) + 1, figsize=(2 * (len(attrs) + 1), 2.1 * len(show)))
for r in range(len(show)):
    axes[r, 0].imshow(xb[r, 0].cpu(), cmap="gray")
    axes[r, 0].set_title(test.classes[int(tb[r])], fontsize=8)
    for j, (name, a) in enumerate(attrs.items()):
        lim = float(a[r].abs().max())
        axes[r, j + 1].imshow(a[r], cmap="seismic", vmin=-lim, vmax=lim)
        axes[r, j + 1].set_title(name, fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"IG with four baselines ({n_steps} Gauss–Legendre steps)")
plt.tight_layout()

# %% [markdown]
# With the black baseline every attribution sits on the item's ink (elsewhere $x_i - x'_i
# = 0$, so IG is exactly zero there). The blurred baseline keeps only edges and texture. A
# noise baseline gives the black background attributions too — the background *differs*
# from noise — and averaging several draws evens out the accident of any one of them.
# Completeness holds for each of them (largest gap, logit units):

# %%
pd.Series(base_gaps, name="max |completeness gap|").to_frame().style.format("{:.1e}")

# %% [markdown]
# ## Pretrained ImageNet networks: which map is noisier?
#
# The course report ran IG on torchvision's ImageNet {cite}`deng2009imagenet` **ResNet-34**
# {cite}`he2016deep` and **VGG-19** {cite}`simonyan2015very` and found VGG-19's map clear and
# ResNet-34's "blurred with lots of scattered light pixels". We repeat it on a real
# photograph that scikit-image ships, `chelsea` (a tabby cat, resized and centre-cropped to
# 224×224), for each network's own top class, from a black baseline, and replace "noisy" by
# a number: the **total variation** of the map $m = \sum_{\text{colour}} |\mathrm{IG}|$,
# the summed absolute difference between neighbouring pixels, divided by twice the map's total,
#
# $$\mathrm{TV}(m) = \frac{\sum_{i,j} |m_{i+1,j} - m_{i,j}| + |m_{i,j+1} - m_{i,j}|}{2 \sum_{i,j} m_{i,j}}.$$ (eq-tv)
#
# It does not depend on the map's scale; it is 0 for a flat map, about $2/w$ for smooth blobs
# $w$ pixels wide and 2 for isolated single pixels, so the larger it is, the more scattered
# the map.
#
# The weights are not part of the book: `python -m course_utils data prepare weights`, or
# `download = True` in the parameters cell, fetches them once into torch's cache. Without
# them a box below says so, and the same code runs on the stand-in: the two localisers of
# [chapter 8](08_gradcam.ipynb), GAPNet (plain, like VGG) and GAPResNet (residual, like
# ResNet-34), on test canvases.

# %%
import time

import skimage.data
from IPython.display import Markdown, display

from course_utils.explain.metrics import total_variation
from course_utils.models import pretrained

imagenet = ["resnet34", "vgg19"]
imagenet_steps = imagenet_steps or cu.config.pick(8, 32)
if download:
    pretrained.fetch(imagenet)
box = pretrained.notice(imagenet, "chapter 8's localisers GAPNet and GAPResNet, on test canvases")
use_imagenet = all(pretrained.available(n) for n in imagenet)
if box:
    display(Markdown("> " + box.replace("\n\n", "\n>\n> ")))
started = time.time()
if use_imagenet:
    cat_photo = pretrained.photo(skimage.data.chelsea())[None]                # (1, 3, 224, 224) in [0, 1]
    noisy_in = pretrained.normalize(cat_photo).to(device)
    noisy_base = pretrained.normalize(torch.zeros_like(cat_photo)).to(device)  # a black image
    noisy_nets = {name: pretrained.load(name).to(device) for name in imagenet}
    noisy_steps, shown = imagenet_steps, [cat_photo[0].permute(1, 2, 0)]
    cu.results.data_used("Fashion-MNIST items on 56×56 canvases; scikit-image's chelsea photograph on "
                         + ("torchvision's ImageNet ResNet-34 and VGG-19" if box is None
                            else "ResNet-34 and VGG-19 files that fail torchvision's hash check"))
else:
    pick_tv = correct[:cu.config.pick(4, 16)]
    noisy_in, noisy_base = x_all[pick_tv], "black"
    noisy_nets = {"GAPNet": net, "GAPResNet": train_localizer("gapresnet", fast, seed)[0]}
    noisy_steps, shown = n_steps, [x_all[i, 0].cpu() for i in pick_tv[:3]]
noisy_maps, noisy_rows = {}, {}
for name, model in noisy_nets.items():
    with torch.no_grad():
        top = model(noisy_in).argmax(1)
    noisy_attr, noisy_gap = IntegratedGradients(model)(noisy_in, top, baseline=noisy_base, n_steps=noisy_steps,
                                                       internal_batch_size=8 if use_imagenet else 1024,
                                                       return_gap=True)
    with torch.no_grad():
        noisy_moved = (model(noisy_in) - model(noisy_base if use_imagenet else torch.zeros_like(noisy_in)))
    noisy_maps[name] = noisy_attr.abs().sum(1).cpu()
    tv = total_variation(noisy_maps[name])
    noisy_rows[name] = {"top class": (pretrained.categories(name)[int(top[0])] if use_imagenet
                                      else ", ".join(test.classes[int(t)] for t in top[:3]) + ", ..."),
                        "total variation (mean)": float(tv.mean()),
                        "relative completeness gap":
                            float((noisy_gap.abs() / noisy_moved.gather(1, top[:, None])[:, 0].abs()).max())}
noisiness = pd.DataFrame(noisy_rows).T
fig, axes = plt.subplots(len(shown), 1 + len(noisy_maps), figsize=(3.2 * (1 + len(noisy_maps)), 3.2 * len(shown)),
                         squeeze=False)
for r, picture in enumerate(shown):
    axes[r, 0].imshow(picture, cmap=None if use_imagenet else "gray")
    axes[r, 0].set_title("input", fontsize=9)
    for j, (name, m) in enumerate(noisy_maps.items()):
        axes[r, j + 1].imshow(m[r] / m[r].max().clamp_min(1e-12), cmap="inferno", vmax=0.5)
        axes[r, j + 1].set_title(f"{name}: |IG|, TV {float(total_variation(m[r:r + 1])):.3f}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"Integrated Gradients, {noisy_steps} Gauss–Legendre steps, black baseline"
             + ("" if use_imagenet else " (stand-in: chapter 8's localisers)"))
plt.tight_layout()
first, second = noisiness.index
tv_ratio = noisiness.loc[first, "total variation (mean)"] / noisiness.loc[second, "total variation (mean)"]
where = "imagenet" if use_imagenet else "standin"
for name in noisiness.index:
    cu.results.record(f"{where}_ig_total_variation_{name.lower()}", noisiness.loc[name, "total variation (mean)"])
cu.results.record(f"{where}_ig_tv_ratio_{first.lower()}_over_{second.lower()}", float(tv_ratio),
                  "> 1" if box is None else None,
                  note="the report: ResNet-34's IG map is the noisier; recorded, not asserted (no measured spread)"
                  if box is None else "no claim: not the published weights")
cu.results.record(f"seconds_{where}_section", time.time() - started)
noisiness.style.format({"total variation (mean)": "{:.3f}", "relative completeness gap": "{:.1e}"})

# %% [markdown]
# With the published weights, a ratio above 1 in the record `imagenet_ig_tv_ratio_resnet34_over_vgg19`
# says that ResNet-34's map is the more scattered, as the report saw; it is recorded against
# that target but not asserted, because the book was built without the weights and so has no
# spread over seeds and machines to set a bound from. With fewer steps (8 in fast mode) the
# completeness gap in the table shows how far the sum of the map is from the score change.
# With random weights (or any file that fails torchvision's hash check) the comparison means
# nothing and no target is set. On the stand-in the table compares the chapter's plain and
# residual localisers with the same measure.

# %% [markdown]
# ## IG vs Grad-CAM vs occlusion: deleting and inserting pixels
#
# Which map ranks pixels best? **Deletion** {cite}`petsiuk2018rise` blacks out pixels from
# the most to the least important and follows the softmax probability of the class: the
# faster it drops, the better the ranking (lower area under the curve). **Insertion** starts
# from a blurred copy and puts the original pixels back in the same order: the faster the
# probability rises, the better (higher area). A random ranking is the reference.

# %%
pick = correct[torch.randperm(len(correct), generator=torch.Generator().manual_seed(seed))[:n_compare]]
xc, tc = x_all[pick], test.labels[pick].to(device)
blurred = make_baseline(xc, "blur")
g = torch.Generator().manual_seed(seed)
rank_maps = {
    "Integrated Gradients": ig(xc, tc, baseline="black", n_steps=32, internal_batch_size=1024).sum(1),
    "Grad-CAM": GradCAM(net, GAPNet.cam_layer)(xc, tc),
    "occlusion": occlusion_heatmap(net, xc, tc, window=14, stride=7),
    "random": torch.rand(len(xc), 56, 56, generator=g),
}
rows, curves = [], {}
for name, m in rank_maps.items():
    d_auc, frac, d_curve = deletion_insertion(net, xc, m, tc, "deletion", steps=curve_steps, seed=seed)
    i_auc, _, i_curve = deletion_insertion(net, xc, m, tc, "insertion", steps=curve_steps,
                                           baseline=blurred, seed=seed)
    curves[name] = (d_curve.mean(0), i_curve.mean(0))
    rows.append({"method": name, "deletion AUC (lower is better)": float(d_auc.mean()),
                 "insertion AUC (higher is better)": float(i_auc.mean())})
auc = pd.DataFrame(rows).set_index("method")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, (d, i) in curves.items():
    axes[0].plot(frac, d, label=name)
    axes[1].plot(frac, i, label=name)
axes[0].set(xlabel="fraction of pixels blacked out", ylabel="class probability", title="deletion")
axes[1].set(xlabel="fraction of pixels restored", ylabel="class probability", title="insertion (from blurred)")
axes[1].legend(fontsize=8)
plt.tight_layout()
auc.round(3)

# %%
fig, axes = plt.subplots(3, 4, figsize=(8, 6.2))
for r in range(3):
    axes[r, 0].imshow(xc[r, 0].cpu(), cmap="gray")
    axes[r, 0].set_title(test.classes[int(tc[r])], fontsize=8)
    axes[r, 0].axis("off")
    for j, name in enumerate(["Integrated Gradients", "Grad-CAM", "occlusion"]):
        cu.plots.heatmap_overlay(xc[r, 0], rank_maps[name][r], ax=axes[r, j + 1], title=name)
fig.suptitle("three attributions of the same predictions")
plt.tight_layout()

# %% [markdown]
# All three rank pixels better than chance on both measures (asserted at the end; in fast
# mode, with a briefly trained network and 60 images, IG's deletion score can land on either
# side of chance, from -0.033 to +0.028 in `benchmarks/spread_fast.md`, so there it is only
# recorded); the
# table says which does best here. They fail differently. IG ranks single pixels, positive
# ones first: it removes the pixels that *raise* the score but leaves the ones that lower
# it, or that only matter together with their neighbours, for later. Grad-CAM and occlusion
# rank whole regions: they remove the item as a block, which on a black canvas wipes out
# the evidence quickly even if they do not know which of its pixels matter most. Deletion
# and insertion measure a ranking, not the truth of an explanation: they reward maps whose
# order happens to suit the replacement value (black, blur) as much as maps that are right.
#
# ## What we saw
#
# - IG integrates gradients along a path from a baseline; the attributions add up to
#   $F(x) - F(x')$ (completeness), which the plain gradient at a saturated input misses.
# - Our implementation equals captum's for Gauss–Legendre and the left, right and middle
#   rules (unit tests, float64, 1e-6); captum's trapezoid weights sum to $(n-1)/n$, so its
#   trapezoid attributions are ours times $(n-1)/n$ (measured above). The completeness gap
#   shrinks with the number of steps for every rule, fastest for Gauss–Legendre, and is
#   well below 1 % at 64 steps.
# - The baseline decides the question IG answers: black attributes the ink, blur the
#   details, noise also the background.
# - By deletion and insertion all three methods beat a random ranking; the table compares
#   them, pixel-wise IG against region-wise Grad-CAM and occlusion.

# %%
gl64 = gap_table.loc["gausslegendre", 64]
cu.results.claim("ig_gl64_relative_gap", gl64, "<= 0.01", "<= 0.01")
cu.results.claim("probability_gradient_at_input_vs_max", grad_ratio, "<= 0.5", "<= 0.9")
rand_del = auc.loc["random", "deletion AUC (lower is better)"]
rand_ins = auc.loc["random", "insertion AUC (higher is better)"]
# fast mode (60 images, a briefly trained GAPNet): IG's deletion margin swung from -0.033 to
# +0.028 with the seed, so for IG it is asserted in full mode only
fast_deletion = {"Integrated Gradients": None, "Grad-CAM": "< 0", "occlusion": "< 0"}
for name in ["Integrated Gradients", "Grad-CAM", "occlusion"]:
    key = name.lower().replace(" ", "_").replace("-", "")
    cu.results.claim(f"deletion_auc_{key}_minus_random",
                     auc.loc[name, "deletion AUC (lower is better)"] - rand_del, "< 0", fast_deletion[name])
    cu.results.claim(f"insertion_auc_{key}_minus_random",
                     auc.loc[name, "insertion AUC (higher is better)"] - rand_ins, "> 0", None)
cu.results.claim("ig_left_rule_gap_over_gauss_legendre_64",
                 gap_table.loc["riemann_left", 64] / max(gl64, 1e-12), ">= 1", ">= 1")
for name in rank_maps:
    key = name.lower().replace(" ", "_").replace("-", "")
    cu.results.record(f"deletion_auc_{key}", auc.loc[name, "deletion AUC (lower is better)"])
    cu.results.record(f"insertion_auc_{key}", auc.loc[name, "insertion AUC (higher is better)"])
for m in METHODS:
    cu.results.record(f"relative_gap_{m}_{step_grid[-1]}", gaps[m][-1])
cu.results.record("probability_at_half_path", saturation)
auc.round(3)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then run.** Set `n_steps = 4` in the parameters cell (it sets the steps of the
#    attributions drawn for the four baselines). Before running: will the pictures change
#    visibly? How large will the largest completeness gap in the baseline table be, compared
#    with the gap table's Gauss–Legendre column?
# 2. **IG by hand, middle rule.** Write {eq}`eq-ig` with the Riemann middle rule yourself:
#    build the batch of points $x' + \alpha_k (x - x')$ with $\alpha_k = (k + \tfrac12)/n$,
#    take one batch of gradients, average and multiply by $x - x'$. Compare with the package's
#    `method="riemann_middle"` on the most confident canvas.
# 3. **Gauss–Legendre by hand.** `numpy.polynomial.legendre.leggauss(n)` gives nodes and
#    weights on $[-1, 1]$. Map them to $[0, 1]$, repeat exercise 2 with them, and compare with
#    `method="gausslegendre"`.
# 4. **Sensitivity, in one dimension.** For $F(x) = 1 - \mathrm{ReLU}(1 - x)$, baseline
#    $x' = 0$ and input $x = 2$: what is the gradient at the input, and what does IG give?
#    Check {eq}`eq-ig-completeness` numerically.
# 5. **IG of the probability.** Extend your code from exercise 3 to attribute the softmax
#    probability instead of the logit. Check completeness, $\sum_i \mathrm{IG}_i = p(x) -
#    p(x')$. Why does the saturation seen at the start of the chapter not break it?

# %% [markdown]
# ```{dropdown} Answer to exercise 1
# With four Gauss–Legendre points the maps look much the same: the attributions are
# dominated by where the ink is, which the factor $x - x'$ fixes whatever the quadrature.
# The completeness gap, though, grows by orders of magnitude, to the size the gap table shows
# for four points: the sum of the attributions no longer splits the score change exactly.
# Completeness is the check to run; the picture is not.
# ```

# %% tags=["hide-cell"]
# Exercise 2: the middle rule by hand
def ig_by_hand(model, x, target, alphas, weights, score=None):
    """(x - x') · Σ_k w_k ∂F/∂x(x' + α_k (x - x')) with a black baseline, for one image."""
    path = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1) * x
    grads = input_gradient(model, path, target if score is None else score)
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    return x * (w * grads).sum(0, keepdim=True)


n_hand = 64
mid = ig_by_hand(net, x0, c0, (np.arange(n_hand) + 0.5) / n_hand, np.full(n_hand, 1 / n_hand))
package_mid = ig(x0, torch.tensor([c0], device=device), baseline="black", n_steps=n_hand,
                 method="riemann_middle")
err_mid = float((mid - package_mid).abs().max() / package_mid.abs().max())
assert err_mid < 1e-4, err_mid
print(f"middle rule by hand vs package: {err_mid:.1e} of the largest attribution")

# %% tags=["hide-cell"]
# Exercise 3: Gauss–Legendre nodes and weights mapped from [-1, 1] to [0, 1]
nodes, weights = np.polynomial.legendre.leggauss(n_hand)
gl = ig_by_hand(net, x0, c0, (nodes + 1) / 2, weights / 2)
package_gl = ig(x0, torch.tensor([c0], device=device), baseline="black", n_steps=n_hand,
                method="gausslegendre")
err_gl = float((gl - package_gl).abs().max() / package_gl.abs().max())
assert err_gl < 1e-4, err_gl
with torch.no_grad():
    moved_logit = float(net(x0)[0, c0] - net(black)[0, c0])
print(f"Gauss–Legendre by hand vs package: {err_gl:.1e}; sum of IG {float(gl.sum()):.4f} "
      f"against F(x) - F(x') = {moved_logit:.4f}")

# %% tags=["hide-cell"]
# Exercise 4: the gradient is 0 at x = 2, but IG gives the whole change F(2) - F(0) = 1
def F_toy(v):
    return 1 - torch.relu(1 - v)


x_toy = torch.tensor(2.0, requires_grad=True)
grad_at_input, = torch.autograd.grad(F_toy(x_toy), x_toy)
a = torch.linspace(0, 1, 1001)[1:] - 0.0005          # middle rule, 1000 points
pts = (a * 2.0).requires_grad_(True)
path_grads, = torch.autograd.grad(F_toy(pts).sum(), pts)
ig_toy = float(2.0 * path_grads.mean())
print(f"gradient at the input: {float(grad_at_input)}; IG: {ig_toy:.4f}; "
      f"F(x) - F(x') = {float(F_toy(torch.tensor(2.0)) - F_toy(torch.tensor(0.0))):.4f}")

# %% tags=["hide-cell"]
# Exercise 5: IG of the probability still adds up to p(x) - p(x')
ig_prob = ig_by_hand(net, x0, None, (nodes + 1) / 2, weights / 2, score=prob_of)
with torch.no_grad():
    moved_prob = float(prob_of(net(x0))[0] - prob_of(net(black))[0])
print(f"sum of IG of p: {float(ig_prob.sum()):.4f}; p(x) - p(x') = {moved_prob:.4f}")
