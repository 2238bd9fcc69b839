"""The measured spread of every fast-mode claim: each chapter re-run under several seeds, 1 and 2
threads, and torch's default kernels (``ATEN_CPU_CAPABILITY=default``, the way another CPU
computes), each condition on its own empty model cache. Prints, and writes as markdown, one row
per claim: its bound, min / median / max over the conditions, and the margin (how far the worst
value sits inside the bound, as a share of the bound's scale; negative: the claim failed once).

    python benchmarks/spread.py 4 9 --seeds 0 1 2 --out results/spread
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_utils.book import results  # noqa: E402


def conditions(seeds: list[int]) -> dict[str, dict]:
    """Name -> (seed, environment overrides), the most telling first: the first seed at 2 threads,
    the same on torch's default kernels with 1 thread, the other seeds, then 1 thread alone."""
    first = seeds[0]
    conds = {f"seed {first}, 2 threads": {"seed": first, "env": {"OMP_NUM_THREADS": "2"}},
             f"seed {first}, default kernels": {
                 "seed": first, "env": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"}}}
    conds.update({f"seed {s}, 2 threads": {"seed": s, "env": {"OMP_NUM_THREADS": "2"}} for s in seeds[1:]})
    conds[f"seed {first}, 1 thread"] = {"seed": first, "env": {"OMP_NUM_THREADS": "1"}}
    return conds


def run_condition(name: str, cond: dict, chapters: list[str], out: Path) -> Path:
    folder = out / name.replace(", ", "_").replace(" ", "-")
    env = dict(os.environ, **cond["env"], COURSE_RESULTS=str(folder),
               COURSE_CACHE=str(folder / "cache"), COURSE_FAST="1", TQDM_DISABLE="1")
    cmd = [sys.executable, "-m", "course_utils", "run", "--fast", *chapters, "-p", f"seed={cond['seed']}"]
    print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, env=env, cwd=REPO, check=False)
    return folder


def margin(values: list[float], target: str) -> float:
    """How far the worst value sits inside ``target`` (e.g. ``"> 0"``), as a share of
    max(|bound|, |median|); negative when some value misses it."""
    op, bound = results.parse_target(target)
    worst = min(values) if op.startswith(">") else max(values)
    inside = worst - bound if op.startswith(">") else bound - worst
    return inside / max(abs(bound), abs(statistics.median(values)), 1e-12)


def table(folders: dict[str, Path]) -> list[dict]:
    by_claim: dict[tuple, dict] = {}
    for name, folder in folders.items():
        for row in results.load_all(folder):
            # asserted claims only (runs recorded before that flag existed: every target)
            if row["target"] is None or row.get("asserted") is False or \
                    not isinstance(row["value"], (int, float)):
                continue
            key = (row["notebook"], row["name"])
            by_claim.setdefault(key, {"target": row["target"], "values": {}})["values"][name] = row["value"]
    rows = []
    for (notebook, claim), info in sorted(by_claim.items()):
        vals = list(info["values"].values())
        rows.append({"notebook": notebook, "claim": claim, "bound": info["target"],
                     "n": len(vals), "min": min(vals), "median": statistics.median(vals),
                     "max": max(vals), "margin": margin(vals, info["target"]),
                     "values": info["values"]})
    return rows


def markdown(rows: list[dict], conds: list[str]) -> str:
    lines = [f"Conditions: {'; '.join(conds)}.", "",
             "| chapter | claim | fast-mode bound | runs | min | median | max | margin |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['notebook'][:2]} | {r['claim']} | {r['bound']} | {r['n']} | {r['min']:.4g} | "
                     f"{r['median']:.4g} | {r['max']:.4g} | {r['margin']:+.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter numbers (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "spread")
    ap.add_argument("--collect-only", action="store_true", help="only tabulate runs already in --out")
    ap.add_argument("--skip", nargs="*", default=[], help="conditions (by name) already run into --out")
    args = ap.parse_args()
    conds = conditions(args.seeds)
    folders = {}
    for name, cond in conds.items():
        folder = args.out / name.replace(", ", "_").replace(" ", "-")
        done = args.collect_only or name in args.skip
        folders[name] = folder if done else run_condition(name, cond, args.chapters, args.out)
    folders = {n: f for n, f in folders.items() if (f / "metrics").exists()}
    rows = table(folders)
    text = markdown(rows, list(folders))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "spread.md").write_text(text)
    (args.out / "spread.json").write_text(json.dumps(rows, indent=1))
    print(text)


if __name__ == "__main__":
    main()
