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
from course_utils import recipes
from course_utils.models.localizer import GAPNet

# %% tags=["parameters"]
from typing import Optional

fast: Optional[bool] = None  # small data, few epochs; None: from COURSE_FAST
seed: int = 0  # random seed
n_steps: int = 64  # (≥ 1) Gauss-Legendre steps for the attributions shown
n_compare: Optional[int] = None  # (≥ 1) images in the deletion / insertion comparison; None: 40 / 200
curve_steps: Optional[int] = None  # (≥ 1) points on each deletion / insertion curve; None: 14 / 28
random_baselines: int = 5  # (≥ 1) noise baselines averaged in "averaged noise"
download: bool = False  # fetch the ImageNet weights (ResNet-34, VGG-19) if missing: torchvision's download
imagenet_steps: Optional[int] = None  # (≥ 1) IG steps on the ImageNet networks; None: 8 / 32

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("09_integrated_gradients", data="Fashion-MNIST items on 56×56 canvases")
cu.seed_everything(seed)
n_compare = n_compare or cu.config.pick(40, 200)
curve_steps = curve_steps or cu.config.pick(14, 28)
step_grid = cu.config.pick([4, 8, 16, 32, 64], [4, 8, 16, 32, 64, 128, 256])
n_gap_images = cu.config.pick(3, 8)
device = cu.device()
recipe = recipes.localizer("gapnet", fast, seed)
net, history = recipes.train_or_load(recipe)          # chapter 8's network (cached)
test, _ = recipes.canvas_data(recipe.data, "test")
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
# ## Integrated Gradients, step by step
#
# The quadrature rules on $[0, 1]$ with $n$ points $\alpha_k$ and weights $w_k$ (summing to 1):
#
# | rule | points $\alpha_k$ | weights $w_k$ |
# | --- | --- | --- |
# | Riemann left / right / middle | $k/n$, $(k + 1)/n$, $(k + \frac12)/n$, $k = 0, \dots, n-1$ | $1/n$ |
# | trapezoid | $k/(n-1)$, $k = 0, \dots, n-1$ | $1/(n-1)$, halved at both ends |
# | Gauss–Legendre | the roots $t_k$ of the Legendre polynomial $P_n$, moved to $(t_k + 1)/2$ | Legendre weights, halved |
#
# and IG is then one batch of $n$ gradients along the path, weighted and summed:
#
# $$\mathrm{IG}_i(x) \approx (x_i - x'_i) \sum_{k} w_k \,
#   \frac{\partial F}{\partial x_i}\big(x' + \alpha_k (x - x')\big).$$ (eq-ig-quadrature)

# %%
def quadrature_rule(method, n):
    """Points and weights of a quadrature rule on [0, 1] with n points."""
    k = np.arange(n)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)     # on [-1, 1]
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        weights = np.full(n, 1 / (n - 1))
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    offset = {"riemann_left": 0, "riemann_right": 1, "riemann_middle": 0.5}[method]
    return (k + offset) / n, np.full(n, 1 / n)


def ig_quadrature(x, c, baseline, method, n):
    """eq-ig-quadrature for one image x (1, C, H, W) and class c."""
    alphas, weights = (torch.tensor(v, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
                       for v in quadrature_rule(method, n))
    path = (baseline + alphas * (x - baseline)).requires_grad_(True)   # n points on the path
    with cu.explain.frozen_eval(net):
        grads, = torch.autograd.grad(net(path)[:, c].sum(), path)   # dF/dx at every point
    return (x - baseline) * (weights * grads).sum(0, keepdim=True)


# %% [markdown]
# The most confident canvas from above, with 16 points per rule, against the package's
# `IntegratedGradients` (which later cells use) and captum's. captum's trapezoid rule is
# scaled by $n/(n-1)$ before the comparison, for a reason explained further down. The
# last column is the relative completeness gap {eq}`eq-ig-completeness` of the cells' own
# attributions, $|\sum_i \mathrm{IG}_i - (F(x) - F(x'))| / |F(x) - F(x')|$; the column before
# it checks the gap itself against the one the package returns.

# %%
import warnings

from captum.attr import IntegratedGradients as CaptumIG

with torch.no_grad():
    change0 = float(net(x0)[0, c0] - net(black)[0, c0])            # F(x) - F(x')
derivation = {}
for m in METHODS:
    ours = ig_quadrature(x0, c0, black, m, 16)
    package, package_gap = IntegratedGradients(net)(x0, c0, baseline="black", n_steps=16,
                                                    method=m, return_gap=True)
    with cu.explain.frozen_eval(net), warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # captum's notices
        by_captum = CaptumIG(net).attribute(x0, black, target=c0, n_steps=16, method=m)
    if m == "riemann_trapezoid":
        by_captum = by_captum * 16 / 15
    derivation[m] = {"vs package": float((ours - package).abs().max()),
                     "vs captum": float((ours - by_captum).abs().max()),
                     "gap vs package's gap": abs(float(ours.sum()) - change0 - float(package_gap)),
                     "relative completeness gap": abs(float(ours.sum()) - change0) / abs(change0)}
derivation = pd.DataFrame(derivation).T
derivation.style.format("{:.1e}")

# %%
# tolerance: 1e-4 of the largest attribution (logit units); measured under 1 and 2 threads
# and ATEN_CPU_CAPABILITY=default: at most 3e-8, about 1e-7 of it (float32 rounding)
ig_tolerance = 1e-4 * float(ig_quadrature(x0, c0, black, "gausslegendre", 16).abs().max())
worst = float(derivation[["vs package", "vs captum", "gap vs package's gap"]].to_numpy().max())
print(f"max |difference| = {worst:.1e} (tolerance {ig_tolerance:.1e}, logit units)")
assert worst <= ig_tolerance, derivation

# %% [markdown]
# The cells are the algorithm: the package and captum agree with them to rounding error.
# Already at 16 points the rules differ in how well they meet completeness; the next
# section measures that systematically.
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
        _, gap = ig(xs, ts, baseline="black", n_steps=n, method=m, return_gap=True)
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
# makes a kink — so the higher-order rules end up close together. On the briefly trained
# fast-mode network, 64 Gauss–Legendre steps leave a gap below 1 % of the score change (0.04 %
# to 0.23 % over the measured seeds, threads and kernels; asserted at the end). On the fully
# trained full-mode network the gap is larger: 64 steps leave about 1 % (1.02 % in one full run
# at one thread) and 128 steps about 0.4 %, so measure the gap before you trust the default of
# 64 on a network of your own.
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
    a, gap = ig(xb, tb, baseline=b, n_steps=n_steps, return_gap=True)
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
use_imagenet, box = pretrained.section(
    imagenet, "chapter 8's localisers GAPNet and GAPResNet, on test canvases", download)
if box:
    display(Markdown(box))
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
    gapresnet, _ = recipes.train_or_load(recipes.localizer("gapresnet", fast, seed))
    noisy_nets = {"GAPNet": net, "GAPResNet": gapresnet}
    noisy_steps, shown = n_steps, [x_all[i, 0].cpu() for i in pick_tv[:3]]
noisy_maps, noisy_rows = {}, {}
for name, model in noisy_nets.items():
    with torch.no_grad():
        top = model(noisy_in).argmax(1)
    noisy_attr, noisy_gap = IntegratedGradients(model)(noisy_in, top, baseline=noisy_base, n_steps=noisy_steps,
                                                       internal_batch_size=8 if use_imagenet else 64,
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
    "Integrated Gradients": ig(xc, tc, baseline="black", n_steps=32).sum(1),
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
# mode, with a briefly trained network and 40 images, IG's deletion score can land on either
# side of chance, from -0.056 to +0.016 in `benchmarks/spread_fast.md`, so there it is only
# recorded); the
# table says which does best here. They fail differently. IG ranks single pixels, positive
# ones first: it removes the pixels that *raise* the score but leaves the ones that lower
# it, or that only matter together with their neighbours, for later. Grad-CAM and occlusion
# rank whole regions: they remove the item as a block, which on a black canvas wipes out
# the evidence quickly even if they do not know which of its pixels matter most. Deletion
# and insertion measure a ranking, not the truth of an explanation: they reward maps whose
# order happens to suit the replacement value (black, blur) as much as maps that are right.

# %% [markdown]
# ## Sanity checks
#
# Every map in this chapter and in [chapter 8](08_gradcam.ipynb) looks plausible: it sits on
# the item. But would it look any different if the network had learned nothing?
# {cite:t}`adebayo2018sanity` turned that question into two tests. **Model-parameter
# randomisation** re-initialises the trained weights, **cascading** from the top (the head,
# then the head and the last conv block, and so on down to the first layer) or one layer at
# a time (**independent**), and compares each method's maps before and after. **Data
# randomisation** trains the same network on *shuffled* labels, so that it can only
# memorise, and compares its maps with the real network's. A map that survives either change
# is not explaining what the network learned; at best it shows the input, or the
# architecture.
#
# We run both tests on every attribution method in the book, and on one more:
# **SmoothGrad** {cite}`smilkov2017smoothgrad`, which averages the gradient over noisy
# copies of the input,
#
# $$\hat M(x) = \frac{1}{n} \sum_{k=1}^{n} M(x + \varepsilon_k), \qquad
# \varepsilon_k \sim \mathcal N(0, \sigma^2 I), \qquad \sigma = \text{noise level} \cdot
# (\max x - \min x),$$ (eq-smoothgrad)
#
# to wash out the pixel-to-pixel jumps of a ReLU network's gradient. Written out for a batch,
# with the package's noise (its own seeded generator), and compared with the package (which
# the unit tests check against captum's `NoiseTunnel` on the very same noise draws):

# %%
from course_utils.explain.deconvnet import deconvnet
from course_utils.explain.guided import GuidedBackprop, GuidedGradCAM
from course_utils.explain.occlusion import occlusion_heatmap as occlusion_map
from course_utils.explain.sanity import cascading_randomization, independent_randomization, scale_abs, similarity
from course_utils.explain.smoothgrad import SmoothGrad

n_sanity = cu.config.pick(4, 16)                     # test canvases in the sanity checks
sanity_ig_steps, sg_samples, sg_noise = cu.config.pick(8, 32), cu.config.pick(8, 32), 0.15
picked = correct[torch.randperm(len(correct), generator=torch.Generator().manual_seed(seed + 1))[:n_sanity]]
xq, tq = x_all[picked], test.labels[picked].to(device)

sigma = sg_noise * (xq.amax((1, 2, 3)) - xq.amin((1, 2, 3)))      # one sigma per canvas
eps = torch.randn((sg_samples, *xq.shape), generator=torch.Generator().manual_seed(seed))
eps = eps.to(device) * sigma.view(1, -1, 1, 1, 1)                  # (samples, N, 1, 56, 56)
by_hand = torch.stack([input_gradient(net, xq + eps[k], tq) for k in range(sg_samples)]).mean(0)
package_sg = SmoothGrad(net)(xq, tq, n_samples=sg_samples, noise_level=sg_noise, seed=seed)
err_sg = float((by_hand - package_sg).abs().max() / package_sg.abs().max())
assert err_sg < 1e-5, err_sg
print(f"SmoothGrad by hand vs package: {err_sg:.1e} of the largest value")

# %% [markdown]
# The nine methods, each as a function of the network that returns one map per canvas, for
# the class the trained network recognised. The five groups of weights are re-initialised
# top down (a conv layer together with its batch norm) with PyTorch's default
# initialisation, on deep copies: the trained network is never touched.

# %%
cam_layer = GAPNet.cam_layer
sanity_methods = {
    "gradient": lambda m: input_gradient(m, xq, tq)[:, 0],
    "gradient × input": lambda m: (input_gradient(m, xq, tq) * xq)[:, 0],
    "guided backprop": lambda m: GuidedBackprop(m)(xq, tq)[:, 0],
    "deconvnet": lambda m: deconvnet(m, xq, target=tq)[:, 0],
    "Grad-CAM": lambda m: GradCAM(m, cam_layer)(xq, tq),
    "Guided Grad-CAM": lambda m: GuidedGradCAM(m, cam_layer)(xq, tq)[:, 0],
    "Integrated Gradients": lambda m: IntegratedGradients(m)(xq, tq, baseline="black", n_steps=sanity_ig_steps)[:, 0],
    "occlusion": lambda m: occlusion_map(m, xq, tq, window=14, stride=7),
    "SmoothGrad": lambda m: SmoothGrad(m)(xq, tq, n_samples=sg_samples, noise_level=sg_noise, seed=seed)[:, 0],
}
groups = {"head": "head", "conv 4": ("features.10", "features.11"), "conv 3": ("features.7", "features.8"),
          "conv 2": ("features.4", "features.5"), "conv 1": ("features.0", "features.1")}


def all_maps(model):
    """Each method's maps (N, 56, 56) for the canvases xq of ``model``."""
    return {name: method(model) for name, method in sanity_methods.items()}


def compare(maps_a, maps_b):
    """Mean similarity over the canvases, per method: Spearman of |maps|, of maps, SSIM."""
    return {name: {k: float(v.mean()) for k, v in similarity(maps_a[name], maps_b[name]).items()}
            for name in sanity_methods}


trained_maps = all_maps(net)
cascade = cascading_randomization(net, groups, seed=seed)
cascade_maps = [all_maps(model) for _, model in cascade]
cascade_sim = [compare(trained_maps, maps) for maps in cascade_maps]
independent_sim = [compare(trained_maps, all_maps(model))
                   for _, model in independent_randomization(net, groups, seed=seed)]
stage_labels = ["none"] + ["head"] + [f"… {label}" for label in list(groups)[1:]]

# %% [markdown]
# The maps of one canvas as the randomisation cascades down the network (each map scaled to
# its own maximum of $|\text{map}|$, as a heat map shows it):

# %%
r0 = 0
fig, axes = plt.subplots(len(sanity_methods), len(cascade) + 2, figsize=(1.35 * (len(cascade) + 2), 1.35 * len(sanity_methods)))
for i, name in enumerate(sanity_methods):
    row = [trained_maps[name]] + [maps[name] for maps in cascade_maps]
    axes[i, 0].imshow(xq[r0, 0].cpu(), cmap="gray")
    for j, m in enumerate(row):
        axes[i, j + 1].imshow(scale_abs(m[r0:r0 + 1])[0].cpu(), cmap="magma", vmin=0, vmax=1)
    axes[i, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
for j, title in enumerate(["input", "trained"] + stage_labels[1:]):
    axes[0, j].set_title(title, fontsize=8)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.supxlabel("layers re-initialised, from the head down", fontsize=9)
fig.suptitle(f"cascading randomisation ({test.classes[int(tq[r0])]}; |map| scaled to [0, 1])")
plt.tight_layout()

# %% [markdown]
# And measured, averaged over the canvases (4 in fast mode, 16 in full): Spearman's rank correlation of the
# absolute maps and of the signed maps, and the structural similarity (SSIM, Gaussian window
# of 1.5 pixels) of the absolute maps scaled to [0, 1], between the trained network's maps
# and the randomised ones ({numref}`fig-ch9-randomisation`). Top row: cascading; bottom row:
# one layer at a time.

# %% mystnb={"figure": {"caption": "Similarity of each method's maps to the trained network's maps as layers are randomised: cascading from the top (top row) and one layer at a time (bottom row).", "name": "fig-ch9-randomisation"}}
metric_titles = {"spearman_abs": "Spearman of |map|", "spearman": "Spearman of map", "ssim": "SSIM of |map|"}
fig, axes = plt.subplots(2, 3, figsize=(13, 7.4), sharey=True)
for j, (key, title) in enumerate(metric_titles.items()):
    for name in sanity_methods:
        axes[0, j].plot(range(len(stage_labels)), [1.0] + [s[name][key] for s in cascade_sim], marker="o", label=name)
        axes[1, j].plot(range(len(groups)), [s[name][key] for s in independent_sim], marker="o", label=name)
    axes[0, j].set(title=f"cascading: {title}", xlabel="layers randomised (top down)", ylabel="similarity to trained")
    axes[0, j].set_xticks(range(len(stage_labels)), stage_labels, fontsize=8)
    axes[1, j].set(title=f"independent: {title}", xlabel="layer randomised alone", ylabel="similarity to trained")
    axes[1, j].set_xticks(range(len(groups)), list(groups), fontsize=8)
    for ax in axes[:, j]:
        ax.axhline(0, color="grey", lw=0.5)
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8)
fig.suptitle("model-parameter randomisation: how much of each map survives")
plt.tight_layout(rect=(0, 0.07, 1, 1))

# %% [markdown]
# ### Data randomisation
#
# The second test needs a second network: the same GAPNet, trained with the same recipe on
# canvases whose labels were shuffled once, at random. Nothing in a canvas predicts its new
# label, so the network can at best memorise its training set; with this short recipe it
# gets only a little way (the line below says how many of its shuffled labels it fits).
# Its maps of the same canvases, for the same classes:

# %%
shuffled_spec = dict(recipe.data, train_size=cu.config.pick(1000, 2000))
train_set, _ = recipes.canvas_data(shuffled_spec, "train")
order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))
shuffled_train = cu.data.TensorData(train_set.images, train_set.labels[order], train_set.classes,
                                    f"{train_set.name}-shuffled-labels", "train")
# the localiser's recipe on these canvases (the data's fingerprint keys the checkpoint)
shuffled_recipe = recipe.replace(name="localizer-gapnet-shuffled-labels", data=None,
                                 epochs=cu.config.pick(2, 20), snapshot_epochs=())
shuffled_net, shuffled_history = recipes.train_or_load(shuffled_recipe, shuffled_train, progress=False)
_, shuffled_test_acc = cu.train.evaluate(shuffled_net, test)
shuffled_maps = all_maps(shuffled_net)
data_sim = compare(trained_maps, shuffled_maps)
print(f"trained on shuffled labels: {shuffled_history.train_acc[-1]:.3f} of its (shuffled) training "
      f"labels, {shuffled_test_acc:.3f} of the true test labels (chance: 0.1)")

fig, axes = plt.subplots(2, len(sanity_methods) + 1, figsize=(1.35 * (len(sanity_methods) + 1), 3.2))
for i, (label, maps) in enumerate([("true labels", trained_maps), ("shuffled labels", shuffled_maps)]):
    axes[i, 0].imshow(xq[r0, 0].cpu(), cmap="gray")
    axes[i, 0].set_ylabel(label, fontsize=8)
    for j, name in enumerate(sanity_methods):
        axes[i, j + 1].imshow(scale_abs(maps[name][r0:r0 + 1])[0].cpu(), cmap="magma", vmin=0, vmax=1)
        axes[0, j + 1].set_title(name, fontsize=7)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("data randomisation: the same canvas, network trained on true vs shuffled labels")
plt.tight_layout()

# %% [markdown]
# The similarities after the full cascade and for the network trained on shuffled labels,
# averaged over the canvases (1: the same ranking or structure as the trained network's
# map; 0: unrelated):

# %%
sanity_table = pd.DataFrame({
    ("full cascade", "Spearman |map|"): {n: cascade_sim[-1][n]["spearman_abs"] for n in sanity_methods},
    ("full cascade", "Spearman map"): {n: cascade_sim[-1][n]["spearman"] for n in sanity_methods},
    ("full cascade", "SSIM"): {n: cascade_sim[-1][n]["ssim"] for n in sanity_methods},
    ("shuffled labels", "Spearman |map|"): {n: data_sim[n]["spearman_abs"] for n in sanity_methods},
    ("shuffled labels", "Spearman map"): {n: data_sim[n]["spearman"] for n in sanity_methods},
    ("shuffled labels", "SSIM"): {n: data_sim[n]["ssim"] for n in sanity_methods},
}).rename_axis("method")
sanity_table.round(2)

# %% [markdown]
# Three kinds of behaviour show up.
#
# - **Grad-CAM and the plain gradient change completely** (SmoothGrad, an average of
#   gradients, follows them down the cascade). Re-initialising the
#   head alone gives Grad-CAM new weights $\alpha_k$ and a different map; after the full
#   cascade its rank correlation with the trained map is about zero, and for many canvases
#   the map is empty (no positive evidence for the class anywhere; an empty map shares no
#   ranking, so it counts as 0). The gradient loses most of its correlation as soon as the
#   head goes. These methods pass the test: they depend on what the network learned.
# - **Guided backprop hardly changes when the head is randomised.** Its maps keep most of
#   their rank correlation with the trained ones where the gradient's fall much lower; they
#   change only as the conv layers go too, and a network trained on shuffled labels gets
#   guided-backprop maps that keep part of their likeness to the real one's. Its pictures are made by the input
#   and the conv filters, not by the class evidence, which is what
#   {cite:t}`adebayo2018sanity` found on much deeper networks, where it survived the
#   randomisation of far more layers.
# - **Integrated Gradients, gradient × input and occlusion keep the item's silhouette.** On
#   a black canvas they are exactly zero off the ink (IG and gradient × input multiply by
#   $x - x'$, and hiding black background changes nothing), so the *absolute* maps of any
#   network rank the ink above the background and their rank correlation stays near 1. The
#   input sets that part, not the network. The *signed* maps, which say which pixels raise
#   the score and which lower it, lose their correlation: that part of the explanation did
#   come from the trained weights.
#
# The lesson is the paper's: a saliency map that looks like the object may be showing the
# object, not the network. The randomisation tests are cheap; run them before trusting a
# method on a new model.

# %% [markdown]
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
# - Sanity checks: re-initialising the weights, or training on shuffled labels, changes
#   Grad-CAM, the gradient and SmoothGrad completely, and the signed maps of IG; guided
#   backprop survives the randomisation of the top of the network, and the absolute maps of
#   IG, gradient × input and occlusion keep the item's outline whatever the weights.

# %%
gl64 = gap_table.loc["gausslegendre", 64]
# full mode: 0.0102 in one run at one thread, so the 1 % bound is asserted in fast mode only
cu.results.claim("ig_gl64_relative_gap", gl64, "<= 0.01", "<= 0.01", measured=fast)
cu.results.claim("probability_gradient_at_input_vs_max", grad_ratio, "<= 0.5", "<= 0.9")
rand_del = auc.loc["random", "deletion AUC (lower is better)"]
rand_ins = auc.loc["random", "insertion AUC (higher is better)"]
# fast mode (40 images, 14 points per curve, a briefly trained GAPNet): IG's deletion margin
# swung from -0.056 to +0.016 with the seed, so for IG it is asserted in full mode only
fast_deletion = {"Integrated Gradients": None, "Grad-CAM": "< 0", "occlusion": "< 0"}
for name in ["Integrated Gradients", "Grad-CAM", "occlusion"]:
    key = name.lower().replace(" ", "_").replace("-", "")
    cu.results.claim(f"deletion_auc_{key}_minus_random",
                     auc.loc[name, "deletion AUC (lower is better)"] - rand_del, "< 0", fast_deletion[name])
    cu.results.claim(f"insertion_auc_{key}_minus_random",
                     auc.loc[name, "insertion AUC (higher is better)"] - rand_ins, "> 0", None)
cu.results.claim("ig_left_rule_gap_over_gauss_legendre_64",
                 gap_table.loc["riemann_left", 64] / max(gl64, 1e-12), ">= 1", ">= 1")
# sanity checks; fast mode, seeds 0-4 (1 and 2 threads, ATEN_CPU_CAPABILITY=default):
# Grad-CAM -0.08..0.38, |IG signed| 0.01..0.13, guided backprop 0.68..0.78, minus gradient
# 0.21..0.65, shuffled-label accuracy 0.08..0.12; full mode (seed 0, NCHW): -0.11, 0.03, 0.66, 0.28,
# 0.07; full mode with the localisers in channels_last (seeds 0-2 at one thread, seed 0 on the
# default kernels and at two threads): 0.00..0.20, 0.03..0.08, 0.56..0.70, 0.18..0.28, 0.06..0.17,
# so guided backprop's full-mode bound sits at 0.5, below its lowest run (0.557)
full_cascade, head_only = cascade_sim[-1], cascade_sim[0]
cu.results.claim("sanity_gradcam_spearman_abs_full_cascade", full_cascade["Grad-CAM"]["spearman_abs"],
                 "<= 0.6", "<= 0.6")
cu.results.claim("sanity_ig_signed_spearman_full_cascade_abs", abs(full_cascade["Integrated Gradients"]["spearman"]),
                 "<= 0.35", "<= 0.35")
cu.results.claim("sanity_guided_backprop_spearman_abs_head_randomised",
                 head_only["guided backprop"]["spearman_abs"], ">= 0.5", ">= 0.55")
cu.results.claim("sanity_guided_backprop_minus_gradient_head_randomised",
                 head_only["guided backprop"]["spearman_abs"] - head_only["gradient"]["spearman_abs"],
                 ">= 0.05", ">= 0.05")
cu.results.claim("shuffled_labels_test_accuracy", shuffled_test_acc, "<= 0.2", "<= 0.2")
for name in sanity_methods:
    key = name.lower().replace(" × ", "_x_").replace(" ", "_").replace("-", "")
    for metric in ("spearman_abs", "spearman", "ssim"):
        cu.results.record(f"sanity_{key}_{metric}_full_cascade", full_cascade[name][metric])
        cu.results.record(f"sanity_{key}_{metric}_shuffled_labels", data_sim[name][metric])
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
