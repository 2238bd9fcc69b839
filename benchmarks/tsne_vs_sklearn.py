"""Our t-SNE (course_utils.embed) against scikit-learn's, measured in one run (chapter 4).

For every N: MNIST images (class-balanced sample; N = 70000 is train + test), reduced to 50
dimensions with PCA, embedded by
  * exact:  ours (method="exact") vs sklearn TSNE(method="exact")         (N <= --exact-max)
  * fast:   ours (method="fast")  vs sklearn TSNE(method="barnes_hut")    (sklearn: N <= --sklearn-max)
  * openTSNE (FFT) as a third column when the package is installed.
Fair comparison: the same perplexity (30), the same scaled PCA initialisation passed to every
method, scikit-learn's schedule and learning rate; times include computing P. Every KL is
recomputed under the exact P (N <= --kl-max); trustworthiness (k = 10) is computed on at most
--trust-max points; the 10-NN accuracy of the embedding on all of them.

    OMP_NUM_THREADS=2 python benchmarks/tsne_vs_sklearn.py                # quick: N = 1000
    python benchmarks/tsne_vs_sklearn.py --n 2000 5000 70000
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import course_utils as cu
from course_utils import embed


def mnist_pca50(n: int, seed: int):
    train = cu.data.load("mnist", "train")
    if n <= len(train):
        data = train.subset(n, seed=seed) if n < len(train) else train
        images, labels = data.images, data.labels
    else:
        test = cu.data.load("mnist", "test")
        images = torch.cat([train.images, test.images])[:n]
        labels = torch.cat([train.labels, test.labels])[:n]
    X = images.flatten(1).double() / 255.0
    return embed.pca(X, 50).scores, labels.numpy()


def scores(X, Y, labels, P, args, rng):
    from sklearn.manifold import trustworthiness

    out = {"knn10": embed.knn_accuracy(Y, labels, k=10)}
    out["kl_exact_P"] = embed.kl_divergence(P, Y) if P is not None else float("nan")
    idx = np.arange(len(Y)) if len(Y) <= args.trust_max else rng.choice(len(Y), args.trust_max, replace=False)
    out["trust10"] = trustworthiness(np.asarray(X)[idx], np.asarray(Y)[idx], n_neighbors=10)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000])
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--exact-max", type=int, default=5000, help="largest N for the exact methods")
    ap.add_argument("--sklearn-max", type=int, default=20000, help="largest N for sklearn Barnes-Hut")
    ap.add_argument("--kl-max", type=int, default=10000, help="largest N for KL under the exact P")
    ap.add_argument("--trust-max", type=int, default=10000)
    ap.add_argument("--methods", nargs="+", default=["exact", "fast"], choices=["exact", "fast"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from sklearn.manifold import TSNE
    try:
        import openTSNE
    except ImportError:
        openTSNE = None

    print(f"torch threads: {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"openTSNE: {'yes' if openTSNE else 'not installed'}")
    head = (f"{'N':>6} {'method':>6} | {'ours s':>8} {'sklearn s':>9} {'ratio':>6} | {'KL ours':>8} "
            f"{'KL skl':>8} {'KL ratio':>8} | {'trust ours':>10} {'trust skl':>9} | {'10NN ours':>9} "
            f"{'10NN skl':>8}" + (f" | {'openTSNE s':>10} {'KL':>7} {'trust':>6}" if openTSNE else ""))
    print(head)
    print("-" * len(head))
    for n in args.n:
        rng = np.random.default_rng(args.seed)
        X, labels = mnist_pca50(n, args.seed)
        init = embed.pca_init(X).numpy()
        P = embed.joint_probabilities(X, 30.0) if n <= args.kl_max else None
        for method in args.methods:
            if method == "exact" and n > args.exact_max:
                continue
            t = time.perf_counter()
            ours = embed.tsne(X, method=method, init=init, max_iter=args.max_iter, seed=args.seed,
                              progress=False)
            t_ours = time.perf_counter() - t
            s_ours = scores(X, ours.embedding, labels, P, args, rng)
            t_skl, s_skl = float("nan"), {"kl_exact_P": float("nan"), "trust10": float("nan"), "knn10": float("nan")}
            if method == "exact" or n <= args.sklearn_max:
                t = time.perf_counter()
                skl = TSNE(perplexity=30.0, method="exact" if method == "exact" else "barnes_hut",
                           init=init.astype(np.float32), max_iter=args.max_iter,
                           random_state=args.seed).fit_transform(X.numpy())
                t_skl = time.perf_counter() - t
                s_skl = scores(X, skl, labels, P, args, rng)
            if s_ours["kl_exact_P"] != s_ours["kl_exact_P"]:      # no exact P: report ours under sparse P
                s_ours["kl_exact_P"] = ours.kl
            line = (f"{n:>6} {method:>6} | {t_ours:8.1f} {t_skl:9.1f} {t_ours / t_skl:6.3f} | "
                    f"{s_ours['kl_exact_P']:8.4f} {s_skl['kl_exact_P']:8.4f} "
                    f"{s_ours['kl_exact_P'] / s_skl['kl_exact_P']:8.4f} | {s_ours['trust10']:10.4f} "
                    f"{s_skl['trust10']:9.4f} | {s_ours['knn10']:9.4f} {s_skl['knn10']:8.4f}")
            if openTSNE and method == "fast":
                t = time.perf_counter()
                emb = openTSNE.TSNE(perplexity=30, n_jobs=torch.get_num_threads(),
                                    random_state=args.seed).fit(X.numpy(), initialization=init)
                t_o = time.perf_counter() - t
                s_o = scores(X, np.asarray(emb), labels, P, args, rng)
                line += f" | {t_o:10.1f} {s_o['kl_exact_P']:7.4f} {s_o['trust10']:6.4f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
