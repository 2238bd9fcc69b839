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
# # 3. Principal component analysis, from scratch
#
# Principal component analysis (PCA) {cite}`pearson1901lines,hotelling1933analysis` finds
# the directions along which a cloud of points varies most and keeps only the first few: a
# linear map to a low-dimensional space that loses as little variance as possible. We derive
# it, write it in a few lines (`course_utils.embed.pca`), check it against scikit-learn
# {cite}`pedregosa2011scikit`, and then use it three ways: to compress Fashion-MNIST images,
# to look at the features that [chapter 1](01_lenet_fashion.ipynb)'s LeNet-5 and MyNet
# compute layer by layer, and as a front end for k-means clustering.
#
# ```{admonition} Learning goals and prerequisites
# :class: note
#
# **You will learn** to derive PCA as the eigendecomposition of the covariance matrix and as
# the SVD of the centred data, to choose a number of components from the explained variance,
# to reconstruct data from a few components, to measure how well a 2-D projection separates
# classes, and to cluster on principal components.
#
# **You need** linear algebra (eigenvectors, orthonormal bases, the SVD), a little
# optimisation (Lagrange multipliers), and [chapter 1](01_lenet_fashion.ipynb)'s two
# networks, whose features this chapter projects.
# ```

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score

import course_utils as cu
from course_utils import embed
from course_utils.recipes import fashion_models

# %% tags=["parameters"]
from typing import Optional

fast: Optional[bool] = None  # small data, few epochs; None: from COURSE_FAST
seed: int = 0  # random seed
n_pixels: Optional[int] = None  # (≥ 1) images for the pixel PCA; None: 2,000 fast, 60,000 full
n_features: Optional[int] = None  # (≥ 1) test images whose features we project; None: 1,000 / 5,000
n_thumbnails: Optional[int] = None  # (≥ 1) images drawn as markers; None: 200 / 400

# %%
fast = cu.config.set_fast(cu.config.is_fast() if fast is None else fast)
cu.results.begin("03_pca", data="Fashion-MNIST")
cu.seed_everything(seed)
n_pixels = n_pixels or cu.config.pick(2000, 60000)
n_features = n_features or cu.config.pick(1000, 5000)
n_thumbnails = n_thumbnails or cu.config.pick(200, 400)
pixels = cu.data.load("fashion-mnist", "train", subset=n_pixels, seed=seed)
test = cu.data.load("fashion-mnist", "test", subset=n_features, seed=seed)
X_pix = pixels.float().flatten(1).double()
print(f"mode: {cu.config.mode()}, pixel PCA on {len(pixels)} training images, "
      f"features of {len(test)} test images")

# %% [markdown]
# ## The derivation
#
# Take $N$ points $x_1, \dots, x_N \in \mathbb{R}^D$, centre them, $\tilde x_n = x_n - \bar x$,
# and stack them as the rows of $X_c \in \mathbb{R}^{N \times D}$. The covariance matrix is
#
# $$C = \frac{1}{N-1} X_c^\top X_c \in \mathbb{R}^{D \times D}.$$ (eq-pca-covariance)
#
# **One direction.** Project every point on a unit vector $w$: the coordinates are $X_c w$ and
# their variance is
#
# $$\operatorname{Var}(X_c w) = \frac{1}{N-1} \lVert X_c w \rVert^2 = w^\top C w .$$
#
# We want the $w$ that maximises $w^\top C w$ subject to $w^\top w = 1$. With a Lagrange
# multiplier $\lambda$,
#
# $$\mathcal{L}(w, \lambda) = w^\top C w - \lambda (w^\top w - 1), \qquad
# \nabla_w \mathcal{L} = 2 C w - 2 \lambda w = 0 \;\Longrightarrow\; C w = \lambda w .$$ (eq-pca-eigen)
#
# So $w$ must be an eigenvector of $C$, and at such a point the variance is
# $w^\top C w = \lambda w^\top w = \lambda$: the best direction is the eigenvector with the
# **largest** eigenvalue, and the eigenvalue is the variance captured.
#
# **More directions.** The second direction maximises the variance among unit vectors
# orthogonal to the first; the same argument (with one more multiplier for the constraint
# $w_2^\top w_1 = 0$) gives the eigenvector of the second largest eigenvalue, and so on. $C$
# is symmetric, so its eigenvectors are orthonormal and the $k$ leading ones
# $W_k = [w_1, \dots, w_k]$ give the scores $Z = X_c W_k$, the reconstruction
# $\hat X = Z W_k^\top + \bar x$, and the **explained-variance ratio**
# $\lambda_i / \sum_j \lambda_j$.
#
# **Why the SVD gives the same.** Write the centred data as $X_c = U S V^\top$ (singular
# value decomposition, $U$ and $V$ with orthonormal columns, $S$ diagonal). Then
#
# $$C = \frac{1}{N-1} V S U^\top U S V^\top = V \,\frac{S^2}{N-1}\, V^\top ,$$ (eq-pca-svd)
#
# which is an eigendecomposition of $C$ in the sense of {eq}`eq-pca-eigen`: the right singular vectors are the principal axes
# and $\lambda_i = s_i^2 / (N-1)$. The SVD never forms $C$, which is better conditioned
# numerically; the eigendecomposition of the small $D \times D$ matrix is cheaper when
# $N \gg D$. Both are in `embed.pca(X, k, method="eig" | "svd")`.
#
# **Signs.** An eigenvector is only defined up to sign. To get the same numbers as
# scikit-learn we use its `svd_flip` rule: flip each axis so that its largest-magnitude
# entry is positive.

# %% [markdown]
# ## A toy cloud in 2-D
#
# 500 points from a correlated Gaussian. The arrows are the two principal axes, each drawn
# two standard deviations long ($2\sqrt{\lambda_i}$).

# %%
rng = np.random.default_rng(seed)
toy = rng.multivariate_normal([2.0, 1.0], [[3.0, 1.6], [1.6, 1.4]], size=500)
toy_pca = {m: embed.pca(toy, 2, method=m) for m in ("eig", "svd")}
res = toy_pca["eig"]
fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.scatter(*toy.T, s=6, alpha=0.5, label="points")
for i, colour in enumerate(["C3", "C2"]):
    axis = res.components[i].numpy() * 2 * np.sqrt(float(res.explained_variance[i]))
    ax.annotate("", xy=res.mean.numpy() + axis, xytext=res.mean.numpy(),
                arrowprops=dict(arrowstyle="->", color=colour, lw=2.5))
    ax.plot([], [], color=colour, lw=2.5,
            label=f"axis {i + 1}: {100 * float(res.explained_variance_ratio[i]):.1f}% of the variance")
ax.set_aspect("equal")
ax.set(xlabel="$x_1$", ylabel="$x_2$", title="Principal axes of a correlated 2-D Gaussian")
ax.legend(loc="upper left", fontsize=8);

# %% [markdown]
# ## PCA in a few lines
#
# The derivation, step by step, on the Fashion-MNIST pixels ($D = 784$, float64). First the
# eigendecomposition: centre the data, form the covariance {eq}`eq-pca-covariance` and
# diagonalise it as in {eq}`eq-pca-eigen`. `torch.linalg.eigh` (for symmetric matrices)
# returns the eigenvalues in ascending order, so we reverse them. Zero eigenvalues can come
# out as tiny negative numbers by round-off; a variance cannot be negative, so we clip them
# at zero.

# %%
k_check = 50
n_pix = len(X_pix)
Xc = X_pix - X_pix.mean(0)                       # centred data, N x D
C = Xc.T @ Xc / (n_pix - 1)                      # covariance, D x D
lam, vecs = torch.linalg.eigh(C)                 # ascending; vectors in the columns
order = lam.argsort(descending=True)
lam_eig = lam[order].clamp_min(0)                # variances, largest first
W_eig = vecs[:, order].T                         # rows: the principal axes

# %% [markdown]
# Then the SVD of the centred data, {eq}`eq-pca-svd`: the right singular vectors are the
# axes and $\lambda_i = s_i^2/(N-1)$, with no covariance matrix formed. Last, the sign rule
# (the largest-magnitude entry of every axis made positive) and the first $k$ axes, their
# explained-variance ratios $\lambda_i / \sum_j \lambda_j$ and the scores $Z = X_c W_k^\top$.

# %%
_, S, Vt = torch.linalg.svd(Xc, full_matrices=False)   # Xc = U diag(S) Vt
lam_svd, W_svd = S ** 2 / (n_pix - 1), Vt


def flip(W):
    """Flip each row so that its largest-magnitude entry is positive."""
    big = W.abs().argmax(1, keepdim=True)
    return W * W.gather(1, big).sign()


steps = {}
for name, lam_, W in [("eig", lam_eig, W_eig), ("svd", lam_svd, W_svd)]:
    W_k = flip(W[:k_check])
    steps[name] = {"components": W_k, "explained variance": lam_[:k_check],
                   "explained-variance ratio": lam_[:k_check] / lam_.sum(),
                   "scores": Xc @ W_k.T}
print(f"largest eigenvalue: {lam_eig[0]:.4f} (eig), {lam_svd[0]:.4f} (svd); the first "
      f"{k_check} components keep {steps['eig']['explained-variance ratio'].sum():.1%}")

# %% [markdown]
# Both ways must give what `embed.pca` gives (the package function the rest of the chapter
# uses) and what scikit-learn's `PCA(svd_solver="full")` gives: the explained variances and
# their ratios, and the components up to sign (each row of ours is multiplied by the sign
# of its dot product with scikit-learn's row; with the same sign rule that sign is $+1$).
# Each entry of the table is the largest absolute difference over the $k = 50$ components,
# divided by the largest value compared (the components are unit vectors: absolute). The
# written-out steps run the same operations as the package and agree with it exactly; the
# tolerances against scikit-learn, which calls other LAPACK routines, sit at least 250 times
# above the largest differences we measured (one and two threads, the CPU's generic kernels
# with `ATEN_CPU_CAPABILITY=default`, three seeds: $1.0 \times 10^{-13}$ for the
# components, $4 \times 10^{-15}$ for the variances).

# %%
ref = PCA(k_check, svd_solver="full").fit(X_pix.numpy())
sklearn_of = {"components": torch.as_tensor(ref.components_),
              "explained variance": torch.as_tensor(ref.explained_variance_),
              "explained-variance ratio": torch.as_tensor(ref.explained_variance_ratio_)}
package, seconds = {}, {}
for name in ("eig", "svd"):
    t = time.perf_counter()
    package[name] = embed.pca(X_pix, k_check, method=name)
    seconds[name] = time.perf_counter() - t
rows = []
for name in ("eig", "svd"):
    package_of = {"components": package[name].components,
                  "explained variance": package[name].explained_variance,
                  "explained-variance ratio": package[name].explained_variance_ratio,
                  "scores": package[name].scores}
    for what, mine in steps[name].items():
        scale = 1.0 if what == "components" else float(mine.abs().max())
        row = {"method": name, "quantity": what,
               "vs package": float((mine - package_of[what]).abs().max()) / scale,
               "tolerance, package": 1e-12}
        if what in sklearn_of:
            theirs = sklearn_of[what]
            if what == "components":                 # up to sign, row by row
                theirs = theirs * (mine * theirs).sum(1, keepdim=True).sign()
            row["vs scikit-learn"] = float((mine - theirs).abs().max()) / scale
            row["tolerance, scikit-learn"] = 1e-10 if what == "components" else 1e-12
        rows.append(row)
pca_steps = pd.DataFrame(rows).set_index(["method", "quantity"])
assert (pca_steps["vs package"] <= pca_steps["tolerance, package"]).all()
sk = pca_steps.dropna()
assert (sk["vs scikit-learn"] <= sk["tolerance, scikit-learn"]).all()
pca_steps.style.format("{:.1e}", na_rep="–").set_caption(
    "PCA step by step against embed.pca and scikit-learn: max |difference|")

# %% [markdown]
# ## Checking against scikit-learn
#
# On the Fashion-MNIST pixels ($D = 784$), in float64, both of our methods against
# `sklearn.decomposition.PCA(svd_solver="full")`, for the first 50 components: the largest
# absolute difference in explained-variance ratio, in the components and in the scores.
# Because the sign rule is the same, the components agree as they are, not just up to sign.

# %%
ref_scores = ref.transform(X_pix.numpy())
rows = []
for method in ("eig", "svd"):
    ours = package[method]
    rows.append({"method": method,
                 "max |Δ explained-variance ratio|": float(np.abs(ours.explained_variance_ratio.numpy() - ref.explained_variance_ratio_).max()),
                 "max |Δ component|": float(np.abs(ours.components.numpy() - ref.components_).max()),
                 "max |Δ score|": float(np.abs(ours.scores.numpy() - ref_scores).max()),
                 "seconds": seconds[method]})
agreement = pd.DataFrame(rows).set_index("method")
agreement.style.format("{:.2e}")

# %% [markdown]
# ## How many components do the pixels need?
#
# The scree plot shows the variance of each component (log scale), and the cumulative
# curve how much of the total the first $k$ components keep.

# %%
full_pix = embed.pca(X_pix, 784, method="eig")
ratio = full_pix.explained_variance_ratio.numpy()
cum = np.cumsum(ratio)
k_for = {q: int(np.searchsorted(cum, q) + 1) for q in (0.5, 0.8, 0.9, 0.95)}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].semilogy(np.arange(1, 201), ratio[:200])
axes[0].set(xlabel="component", ylabel="explained-variance ratio", title="Scree plot (first 200)")
axes[1].plot(np.arange(1, 785), cum)
for q, k in k_for.items():
    axes[1].axhline(q, color="grey", lw=0.6, ls=":")
    axes[1].annotate(f"{k} for {q:.0%}", (k, q), textcoords="offset points", xytext=(8, -12), fontsize=8)
axes[1].set(xscale="log", xlabel="number of components k", ylabel="cumulative explained variance",
            title="Cumulative explained variance")
fig.suptitle("PCA of raw Fashion-MNIST pixels")
fig.tight_layout()
pd.Series(k_for, name="components needed").rename_axis("share of variance").to_frame().T

# %% [markdown]
# ## Reconstructions
#
# Keep $k$ components and map back: $\hat x = W_k W_k^\top (x - \bar x) + \bar x$. Six test
# images, reconstructed from $k$ = 2, 10, 50 and 200 components (the axes were fitted on
# the training images only):

# %%
ks = [2, 10, 50, 200]
show = test.take(torch.arange(6))
x_show = show.float().flatten(1).double()
V, mean = full_pix.components, full_pix.mean          # all 784 axes, sorted by variance
recon = {k: (x_show - mean) @ V[:k].T @ V[:k] + mean for k in ks}
images = [x_show] + [recon[k] for k in ks]
grid = torch.stack(images, 1).reshape(-1, 1, 28, 28).clamp(0, 1)
titles = []
for _ in range(len(show)):
    titles += ["original"] + [f"k = {k}" for k in ks]
cu.plots.image_grid(grid, titles, ncols=5, suptitle="PCA reconstructions of test images");
recon_err = {k: float(((recon[k] - x_show) ** 2).mean()) for k in ks}
pd.Series(recon_err, name="mean squared error per pixel").rename_axis("k").to_frame().T

# %% [markdown]
# Two components give a blurry silhouette (bright or dark, wide or narrow); by ten the
# garment type is recognisable; fifty components recover the shape and most of the texture,
# and two hundred are hard to tell from the original. The error table falls accordingly.

# %% [markdown]
# **Try it.** In JupyterLab the slider below redraws the six reconstructions for any $k$
# from 1 to 200 (the static book shows the fixed values above instead).

# %% tags=["remove-output"]
def show_reconstruction(k=10):
    """The six test images (top row) and their reconstruction from k components."""
    r = ((x_show - mean) @ V[:k].T @ V[:k] + mean).clamp(0, 1)
    err = float(((r - x_show) ** 2).mean())
    cu.plots.image_grid(torch.cat([x_show, r]).reshape(-1, 1, 28, 28), ncols=len(show),
                        suptitle=f"k = {k} components: mean squared error {err:.4f} per pixel")
    plt.show()


cu.plots.try_it(show_reconstruction, k=(1, 200, 1));

# %% [markdown]
# ## What do the networks' layers look like?
#
# [Chapter 1](01_lenet_fashion.ipynb)'s two networks (fetched from the cache, or trained now
# if missing) see the test images; we record three layers of each: the output of the last convolutional block, the
# first fully connected layer after its activation, and the logits. Each is projected to
# its first two principal components.
#
# To say *how well* a 2-D picture separates the classes we use two numbers: the
# **10-nearest-neighbour accuracy** (each point is classified by a vote of its 10 nearest
# neighbours in the 2-D projection, itself left out) and the **silhouette** score (how much
# closer a point is to its own class than to the nearest other class, between −1 and 1;
# {cite}`rousseeuw1987silhouettes`).

# %%
models, histories = fashion_models(fast, seed)
layers = {"LeNet-5": {"conv block (pool2)": "pool2", "fc1 (act3)": "act3", "logits (fc3)": "fc3"},
          "MyNet": {"conv block (pool2)": "pool2", "fc1 (act4)": "act4", "logits (fc3)": "fc3"}}
images_test = test.float()
feats, proj = {}, {}
for net, named in layers.items():
    out = cu.features.extract(models[net], images_test, list(named.values()))
    for label, module in named.items():
        feats[net, label] = out[module].double()
        proj[net, label] = embed.pca(feats[net, label], 3).scores
y = test.labels.numpy()

fig, axes = plt.subplots(2, 3, figsize=(15, 9.5))
sep_rows = []
for r, net in enumerate(layers):
    for c, label in enumerate(layers[net]):
        p2 = proj[net, label][:, :2]
        knn = embed.knn_accuracy(p2, y, k=10)
        sil = float(silhouette_score(p2.numpy(), y))
        sep_rows.append({"network": net, "layer": label, "dims": feats[net, label].shape[1],
                         "10-NN accuracy (2-D)": knn, "silhouette (2-D)": sil})
        cu.plots.scatter_by_class(p2, y, test.classes, ax=axes[r, c], legend=(r == 0 and c == 2),
                                  title=f"{net}: {label}\n10-NN acc {knn:.2f}, silhouette {sil:.2f}")
        axes[r, c].set(xlabel="PC 1", ylabel="PC 2")
fig.suptitle("First two principal components of three layers (Fashion-MNIST test images)")
fig.tight_layout()
separation = pd.DataFrame(sep_rows)
separation.round(3)

# %%
best = separation.loc[separation["10-NN accuracy (2-D)"].idxmax()]
acc = {net: histories[net].test_acc[-1] for net in layers}
print(f"best-separating layer in 2-D: {best['network']} {best['layer']} "
      f"(10-NN accuracy {best['10-NN accuracy (2-D)']:.3f}); test accuracy of the networks: "
      + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))

# %% [markdown]
# In both networks the classes pull apart as we go deeper: the convolutional features still
# mix most classes in their first two components, the fully connected layer less so, and in
# the logits the garments lie in distinct regions, with the upper-body garments (T-shirt,
# pullover, coat, shirt) still overlapping as in [chapter 1](01_lenet_fashion.ipynb)'s
# confusion matrix. The table gives the numbers. For LeNet-5 the logits have the highest
# 10-NN accuracy, well ahead of the convolutional block (asserted at the end of the chapter).
# MyNet's ranking moves from run to run: over six full runs (two seeds, one and two threads,
# both kernel families, two memory formats) both of its fully connected layers beat its
# convolutional block, but its logits led that block by anywhere from 0.01 to 0.16, and in some
# runs fc1 beat the logits (`benchmarks/spread_fast.md`).
#
# The same projection with the images themselves as markers, for the best-separating layer:

# %%
pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n_thumbnails]
cu.plots.thumbnail_scatter(proj[best["network"], best["layer"]][pick, :2], test.images[pick],
                           labels=test.labels[pick], zoom=0.55,
                           title=f"{best['network']} {best['layer']}: PCA with the images as markers");
plt.gca().set(xlabel="PC 1", ylabel="PC 2");

# %% [markdown]
# ## Clustering on a few principal components
#
# Can an unsupervised method recover the classes from the features? We run k-means
# {cite}`lloyd1982least` with $k = 10$ on the first two, and then the first three, principal components of the first
# fully connected layer, and compare the clusters with the true labels by
#
# - **purity**: give every cluster its most common class and count the share of points that
#   carry it (1 is perfect);
# - **adjusted Rand index (ARI)** {cite}`hubert1985comparing`: agreement of the two partitions over all pairs of points,
#   corrected for chance (0 for a random clustering, 1 for identical ones).

# %%
cluster_rows = {}
for net in layers:
    fc = [lab for lab in layers[net] if lab.startswith("fc1")][0]
    for dims in (2, 3):
        Z = proj[net, fc][:, :dims].numpy()
        clusters = KMeans(10, n_init=10, random_state=seed).fit_predict(Z)
        cluster_rows[(net, f"{dims}-D")] = {"purity": embed.purity(y, clusters),
                                            "ARI": adjusted_rand_score(y, clusters)}
        if net == "MyNet" and dims == 3:
            clusters3 = clusters
clusters_table = pd.DataFrame(cluster_rows).T.rename_axis(["network", "PCA"])

fig = plt.figure(figsize=(12, 5))
ax = fig.add_subplot(1, 2, 1, projection="3d")
cu.plots.scatter_by_class(proj["MyNet", "fc1 (act4)"], y, test.classes, ax=ax, legend=False, s=3,
                          title="MyNet fc1: first 3 PCs, true classes")
ax.set(xlabel="PC 1", ylabel="PC 2", zlabel="PC 3")
ax = fig.add_subplot(1, 2, 2, projection="3d")
cu.plots.scatter_by_class(proj["MyNet", "fc1 (act4)"], clusters3, [f"cluster {i}" for i in range(10)],
                          ax=ax, legend=False, s=3, title="k-means (k = 10) clusters on the same 3 PCs")
ax.set(xlabel="PC 1", ylabel="PC 2", zlabel="PC 3")
fig.tight_layout()
clusters_table.round(3)

# %% [markdown]
# For LeNet-5 the third component adds information that two do not have: k-means on three
# components agrees better with the true classes than on two (compare the rows of the table;
# in full mode the ARI rose by 0.06 to 0.14 over three seeds and one or two threads). For
# MyNet the gain is small and not reliable: from −0.07 to +0.05 over the same runs. Clusters
# of k-means are convex blobs of similar size, so classes that form an elongated or split
# region, and the overlapping upper-body garments, stay hard to recover without labels.

# %% [markdown]
# ## What we saw
#
# - PCA is the eigendecomposition of the covariance matrix, or equivalently the SVD of the
#   centred data; our implementation agrees with scikit-learn to float64 round-off (table
#   above, asserted below).
# - On raw pixels the variance is concentrated: a few dozen components keep most of it, and
#   50 components reconstruct a recognisable garment.
# - Deeper layers separate the classes better in a 2-D PCA view: clearly for LeNet-5, whose
#   logits score the highest 10-NN accuracy, and less reliably for MyNet, whose order of fc1
#   and logits changes from run to run.
# - k-means on three principal components of LeNet-5's fc1 features recovers the classes
#   better than on two; for MyNet the third component does not reliably help.

# %%
cu.results.claim("pca_max_evr_error", float(agreement["max |Δ explained-variance ratio|"].max()), "<= 1e-6", "<= 1e-6")
cu.results.claim("pca_max_component_error", float(agreement["max |Δ component|"].max()), "<= 1e-6", "<= 1e-6")
cu.results.record("pca_components_for_90pct", k_for[0.9])
cu.results.record("pca_recon_mse_k50", recon_err[50])
for _, r in separation.iterrows():
    cu.results.record(f"knn2d_{r['network']}_{r['layer'].split()[0]}", r["10-NN accuracy (2-D)"])
for net in layers:
    s = separation[separation.network == net].set_index("layer")["10-NN accuracy (2-D)"]
    if net == "MyNet" and not fast:   # full mode: 0.013 to 0.159 over six runs (benchmarks/spread_fast.md)
        cu.results.record(f"{net}_logits_minus_conv_knn2d", s.iloc[2] - s.iloc[0],
                          note="not asserted in full mode: 0.013 to 0.159 over six runs")
    else:
        cu.results.claim(f"{net}_logits_minus_conv_knn2d", s.iloc[2] - s.iloc[0], "> 0.05", "> 0")
for (net, dims), r in cluster_rows.items():
    cu.results.record(f"kmeans_{net}_{dims}_purity", r["purity"])
    cu.results.record(f"kmeans_{net}_{dims}_ari", r["ARI"])
# full mode, seeds 0-2 at 1 and 2 threads: LeNet-5 +0.056..+0.143; MyNet -0.069..+0.054 (recorded)
cu.results.claim("kmeans_3d_minus_2d_ari_lenet",
                 cluster_rows["LeNet-5", "3-D"]["ARI"] - cluster_rows["LeNet-5", "2-D"]["ARI"], "> 0", None)
cu.results.record("kmeans_3d_minus_2d_ari_mynet",
                  cluster_rows["MyNet", "3-D"]["ARI"] - cluster_rows["MyNet", "2-D"]["ARI"])
clusters_table.round(3)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then run.** Set `n_pixels = 200` in the parameters cell. Before running: will
#    the number of components needed for 90 % of the pixel variance go up or down? Will our
#    PCA still agree with scikit-learn to round-off? (Hint: how many non-zero eigenvalues can
#    a covariance matrix of 200 centred points have?)
# 2. **Precision.** Repeat both ways of "PCA in a few lines" in float32 (`Xc.float()`).
#    Predict first: which of the two loses the small eigenvalues, and why? (Hint: what
#    happens to the ratio of the largest to the smallest eigenvalue when you form
#    $X_c^\top X_c$ from $X_c$?) Plot the relative error of every eigenvalue against the
#    float64 values.
# 3. **Power iteration.** Find the first principal axis without any decomposition: start from
#    a random unit vector and repeat $w \leftarrow C w / \lVert C w \rVert$ with the
#    covariance {eq}`eq-pca-covariance`. Compare with the first component, and the Rayleigh
#    quotient $w^\top C w$ with the first eigenvalue.
# 4. **Uncorrelated scores.** Show that the scores $Z = X_c W_k$ of the pixel PCA are
#    uncorrelated and that their variances are the eigenvalues.
# 5. **More components for k-means.** Extend the clustering cell: run k-means on 5 and on 10
#    principal components of MyNet's fc1 features. Does the ARI keep rising past three?

# %% [markdown]
# ```{dropdown} Answer to exercise 1
# With $N$ centred points the covariance has rank at most $N - 1$, so 200 images give at most
# 199 non-zero eigenvalues, and the variance is spread over fewer directions than with
# thousands of images: fewer components reach 90 % (the small sample cannot show the many
# small directions of variation the full set has). The agreement with scikit-learn stays at
# round-off: both compute the same decomposition exactly, whatever $N$.
# ```

# %% tags=["hide-cell"]
# Exercise 2: float32. Forming C squares the singular values, so the ratio of the largest
# to the smallest grows from s_1/s_i to (s_1/s_i)², and float32 round-off (about 1e-7 of
# the largest entry) swamps the small eigenvalues of C first.
X32 = Xc.float()
lam32 = {"eig": torch.linalg.eigvalsh(X32.T @ X32 / (n_pix - 1)).flip(0),
         "svd": torch.linalg.svdvals(X32) ** 2 / (n_pix - 1)}
keep = lam_svd > 1e-6 * lam_svd[0]            # leave out the (numerically) zero variances
rel_err = {m: ((lam.double() - lam_svd).abs() / lam_svd)[keep] for m, lam in lam32.items()}
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for m, e in rel_err.items():
    ax.semilogy(np.arange(1, len(e) + 1), e.numpy(), lw=0.8, label=m)
ax.set(xlabel="component i", ylabel="relative error of λ_i",
       title="PCA in float32: eigendecomposition of C against SVD of X_c")
ax.legend()
small = slice(len(rel_err["eig"]) // 2, None)   # the smaller half of the variances
medians = {m: float(e[small].median()) for m, e in rel_err.items()}
assert medians["eig"] > medians["svd"], medians
print("median relative error on the smaller half: "
      + ", ".join(f"{m} {v:.1e}" for m, v in medians.items()))

# %% tags=["hide-cell"]
# Exercise 3: power iteration for the first axis
w = torch.randn(784, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
w /= w.norm()
for _ in range(300):
    w = C @ w
    w /= w.norm()
cosine = float((w @ full_pix.components[0]).abs())
rayleigh = float(w @ C @ w)
print(f"|cos| to the first component: {cosine:.6f}; Rayleigh quotient {rayleigh:.4f} "
      f"against λ1 = {float(full_pix.explained_variance[0]):.4f}")

# %% tags=["hide-cell"]
# Exercise 4: the scores' covariance is diagonal, with the eigenvalues on it
Z = Xc @ full_pix.components[:5].T
cov_Z = Z.T @ Z / (len(Z) - 1)
off_diagonal = float((cov_Z - torch.diag(torch.diag(cov_Z))).abs().max())
print(f"largest off-diagonal covariance: {off_diagonal:.1e}")
pd.DataFrame({"variance of scores": torch.diag(cov_Z).numpy(),
              "eigenvalue": full_pix.explained_variance[:5].numpy()},
             index=[f"PC {i + 1}" for i in range(5)]).round(5)

# %% tags=["hide-cell"]
# Exercise 5: k-means on more principal components of MyNet's fc1 features
more = {}
for dims in (2, 3, 5, 10):
    Z_fc = embed.pca(feats["MyNet", "fc1 (act4)"], dims).scores.numpy()
    clusters = KMeans(10, n_init=10, random_state=seed).fit_predict(Z_fc)
    more[f"{dims}-D"] = adjusted_rand_score(y, clusters)
pd.Series(more, name="ARI, MyNet fc1").round(3)
