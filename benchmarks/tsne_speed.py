"""Our fast t-SNE against openTSNE and scikit-learn, side by side in one run (chapter 4).

Needs openTSNE, a benchmark-only dependency:  python -m pip install -r benchmarks/requirements.txt

For every N: MNIST digits (a class-balanced sample of the training set; N = 70000 is training
+ test), reduced to 50 dimensions by PCA, the same scaled PCA initialisation for every method,
perplexity 30, and the same number of threads (--threads) for all three:
  * ours:         embed.tsne(method="fast") with openTSNE's schedule (250 iterations at
                  exaggeration 12, 500 at 1; momentum 0.8; learning rate N / exaggeration in
                  openTSNE's units; steps capped at 5), exact kNN for P
  * openTSNE:     openTSNE.TSNE() with its defaults (Annoy kNN; Barnes-Hut below N = 10,000,
                  FFT interpolation above)
  * scikit-learn: TSNE(method="barnes_hut") with its defaults (N <= --sklearn-max)
Times include the nearest neighbours and P. Scores: KL under the exact P (N <= --kl-max), else
under the sparse P from our 90 nearest neighbours (the same P for all three, with the exact
normaliser Z); trustworthiness (k = 10) on one fixed sample of 10,000 points (all if fewer); the
leave-one-out 10-NN accuracy of the map on all points. Then, from snapshots taken every 50
iterations, the quality each method had reached after fixed time budgets; and a log-log plot of
our time against N (--scaling adds N for the plot only).

    OMP_NUM_THREADS=2 python benchmarks/tsne_speed.py --n 5000 20000 70000 --scaling 1000 2000 10000
"""
from __future__ import annotations

import os

# On a shared machine a spinning OpenMP thread that loses its core stalls every parallel region
# (torch took 74 s instead of 5 s for one small run here); all three libraries get passive waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone

import course_utils as cu  # noqa: E402
from course_utils import embed  # noqa: E402

HERE = Path(__file__).resolve().parent
OURS = dict(method="fast", learning_rate="exaggeration", max_iter=750, exaggeration_iter=250,
            momentum=(0.8, 0.8), max_step=5.0)


def mnist_pca50(n: int, seed: int):
    """N MNIST digits as PCA-50 scores (float64) and their labels."""
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


def sparse_kl(P, Y, chunk: int = 2048) -> float:
    """KL(P || Q) for a sparse symmetric P given as its upper triangle (rows, cols, values),
    with Q's normaliser Z summed exactly over all pairs, in blocks."""
    rows, cols, vals = P
    Y = torch.as_tensor(np.asarray(Y), dtype=torch.float64)
    Yf = Y.float()
    sq = (Yf * Yf).sum(1)
    Z = 0.0
    for s in range(0, len(Y), chunk):
        d = torch.addmm(sq[None, :], Yf[s:s + chunk], Yf.T, alpha=-2.0).add_(sq[s:s + chunk, None])
        Z += float(d.clamp_min_(0).add_(1).reciprocal_().sum(dtype=torch.float64)) - len(d)
    d2 = ((Y[rows] - Y[cols]) ** 2).sum(1)
    return float(2 * (vals * (torch.log(vals) + torch.log1p(d2))).sum()) + math.log(Z)


class Scorer:
    """KL, trustworthiness on a fixed sample, and 10-NN accuracy of a map of X."""

    def __init__(self, X, labels, P_sparse, kl_max: int, trust_max: int, seed: int):
        self.X, self.labels, self.P_sparse = X, labels, P_sparse
        self.P = embed.joint_probabilities(X, 30.0) if len(X) <= kl_max else None
        rng = np.random.default_rng(seed)
        self.idx = np.arange(len(X)) if len(X) <= trust_max else np.sort(rng.choice(len(X), trust_max, replace=False))

    def __call__(self, Y) -> dict:
        from sklearn.manifold import trustworthiness

        Y = np.asarray(Y, dtype=np.float64)
        kl = embed.kl_divergence(self.P, Y) if self.P is not None else sparse_kl(self.P_sparse, Y)
        return {"kl": kl, "trust": trustworthiness(self.X.numpy()[self.idx], Y[self.idx], n_neighbors=10),
                "knn": embed.knn_accuracy(Y, self.labels, k=10)}


def run_ours(X, init, seed):
    snaps, t0 = [], time.perf_counter()
    res = embed.tsne(X, init=init, seed=seed, progress=False,
                     callback=lambda it, Y: snaps.append((time.perf_counter() - t0, it, Y.double().numpy().copy())),
                     **OURS)
    return time.perf_counter() - t0, res.embedding, snaps, res.seconds_P


def run_opentsne(X, init, seed, threads):
    import openTSNE

    snaps, t0 = [], time.perf_counter()

    def cb(it, err, Y):
        snaps.append((time.perf_counter() - t0, it, np.array(Y)))
        return False

    emb = openTSNE.TSNE(perplexity=30, n_jobs=threads, random_state=seed, callbacks=cb,
                        callbacks_every_iters=50).fit(X.numpy(), initialization=init)
    # the callbacks of the second stage count iterations from 1 again
    snaps = [(t, i + (250 if k >= 5 else 0), Y) for k, (t, i, Y) in enumerate(snaps)]
    return time.perf_counter() - t0, np.asarray(emb), snaps


def run_sklearn(X, init, seed):
    from sklearn.manifold import TSNE

    t0 = time.perf_counter()
    Y = TSNE(perplexity=30.0, method="barnes_hut", init=init.astype(np.float32),
             random_state=seed).fit_transform(X.numpy())
    return time.perf_counter() - t0, Y


def at_budget(snaps, budget):
    """The last snapshot taken within ``budget`` seconds (None if none was)."""
    inside = [s for s in snaps if s[0] <= budget]
    return inside[-1] if inside else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[5000])
    ap.add_argument("--scaling", type=int, nargs="*", default=[], help="extra N for the plot (ours only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sklearn-max", type=int, default=20000, help="largest N for scikit-learn")
    ap.add_argument("--kl-max", type=int, default=10000, help="largest N for KL under the exact P")
    ap.add_argument("--trust-max", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "tsne_speed.png"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    print(f"threads: {args.threads} (torch {torch.get_num_threads()}, openTSNE n_jobs, OpenMP/BLAS limit), "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
          f"CPUs: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}")
    rows, budget_rows, times = [], [], {}
    for n in sorted(set(args.n) | set(args.scaling)):
        X, labels = mnist_pca50(n, args.seed)
        init = embed.pca_init(X).numpy()
        load0 = os.getloadavg()[0]
        t_ours, Y_ours, snaps_ours, t_P = run_ours(X, init, args.seed)
        times[n] = t_ours
        if n not in args.n:
            print(f"N={n:>6}: ours {t_ours:.1f} s (P {t_P:.1f} s), load {load0:.1f}", flush=True)
            continue
        t_o, Y_o, snaps_o = run_opentsne(X, init, args.seed, args.threads)
        skl = run_sklearn(X, init, args.seed) if n <= args.sklearn_max else None
        load1 = os.getloadavg()[0]
        score = Scorer(X, labels, embed.sparse_joint_probabilities(X, 30.0), args.kl_max, args.trust_max, args.seed)
        kl_kind = "exact P" if score.P is not None else "sparse P"
        s_ours, s_o = score(Y_ours), score(Y_o)
        row = dict(n=n, kl_kind=kl_kind, load=(load0, load1), ours=(t_ours, s_ours), opentsne=(t_o, s_o),
                   sklearn=(skl[0], score(skl[1])) if skl else None)
        rows.append(row)
        print(f"N={n:>6} ({kl_kind}, load {load0:.1f} -> {load1:.1f}): ours {t_ours:.1f} s (P {t_P:.1f} s) "
              f"KL {s_ours['kl']:.4f} trust {s_ours['trust']:.4f} 10-NN {s_ours['knn']:.4f} | openTSNE {t_o:.1f} s "
              f"KL {s_o['kl']:.4f} trust {s_o['trust']:.4f} 10-NN {s_o['knn']:.4f} | "
              + (f"sklearn {skl[0]:.1f} s KL {row['sklearn'][1]['kl']:.4f} trust {row['sklearn'][1]['trust']:.4f}"
                 if skl else f"sklearn skipped (N > {args.sklearn_max})"), flush=True)
        for frac in (0.25, 0.5):
            budget = frac * t_o
            got = {}
            for name, snaps, t_end, Y_end in (("ours", snaps_ours, t_ours, Y_ours), ("openTSNE", snaps_o, t_o, Y_o)):
                snap = (t_end, "done", Y_end) if t_end <= budget else at_budget(snaps, budget)
                got[name] = (snap[1], score(snap[2])) if snap else ("-", None)
            budget_rows.append((n, frac, budget, got))
    report(rows, budget_rows, times, args)


def report(rows, budget_rows, times, args):
    lines = ["| N | method | time (s) | ours / openTSNE | KL | trustworthiness | 10-NN accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        for name, key in (("ours (fast)", "ours"), ("openTSNE", "opentsne"), ("scikit-learn (Barnes–Hut)", "sklearn")):
            if r[key] is None:
                lines.append(f"| {r['n']:,} | {name} | not run (N > {args.sklearn_max:,}) | | | | |")
                continue
            t, s = r[key]
            ratio = f"{r['ours'][0] / r['opentsne'][0]:.2f}" if key == "ours" else ""
            lines.append(f"| {r['n']:,} | {name} | {t:.1f} | {ratio} | {s['kl']:.4f} ({r['kl_kind']}) | "
                         f"{s['trust']:.4f} | {s['knn']:.4f} |")
    lines += ["", "Quality reached within a time budget (a fraction of openTSNE's full run; the last "
              "snapshot taken within it, every 50 iterations; 'done' = finished):", "",
              "| N | budget (s) | ours: iteration, KL, trustworthiness | openTSNE: iteration, KL, trustworthiness |",
              "| --- | --- | --- | --- |"]
    for n, frac, budget, got in budget_rows:
        cells = [f"{it}, {s['kl']:.4f}, {s['trust']:.4f}" if s else "no snapshot yet" for it, s in got.values()]
        lines.append(f"| {n:,} | {budget:.1f} ({frac:.0%} of openTSNE's) | {cells[0]} | {cells[1]} |")
    loads = ", ".join(f"N={r['n']:,}: {r['load'][0]:.1f} -> {r['load'][1]:.1f}" for r in rows)
    lines += ["", f"Threads: {args.threads}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; load average (1 min) before and after each N: {loads}; "
              f"peak resident memory of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB."]
    print("\n".join(lines))
    if len(times) >= 2:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ns = np.array(sorted(times))
        ts = np.array([times[n] for n in ns])
        slope = np.polyfit(np.log(ns), np.log(ts), 1)[0]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.loglog(ns, ts, "o-", label=f"ours (fast), slope {slope:.2f}")
        ax.loglog(ns, ts[0] * ns / ns[0], "--", color="grey", label="proportional to N")
        ax.set(xlabel="N (MNIST digits)", ylabel="time (s), P and 750 iterations",
               title=f"Fast t-SNE: time against N ({args.threads} threads)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"\nplot: {args.out}; times: " + ", ".join(f"{n:,}: {t:.1f} s" for n, t in zip(ns, ts)))


if __name__ == "__main__":
    main()
