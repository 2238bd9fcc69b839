"""Command line: ``python -m course_utils run|book|results|lab|data`` (chapter 1)."""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys

from .. import config, timing


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    body = ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_run(args) -> int:
    from . import results, runner

    fast = config.is_fast()
    try:
        params = runner.parse_parameters(args.param)
        sweep = runner.parse_sweeps(args.sweep)
        rows = runner.run(args.names, fast=fast, params=params, jobs=args.jobs, sweep=sweep)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except runner.Interrupted as stop:
        rows = stop.rows
        print(_table(rows, ["notebook", "status", "seconds"]))
        print(f"\ninterrupted by {stop}", file=sys.stderr)
        return 130
    metrics = results.load_all()
    for row in rows:
        mine = [m for m in metrics if m["notebook"] == row["notebook"]]
        row["metrics"] = ", ".join(f"{m['name']}={_fmt(m['value'])}" for m in mine[:4]) + \
            (f" (+{len(mine) - 4})" if len(mine) > 4 else "")
        row["setting"] = runner.point_label(row["sweep"]) if row.get("sweep") else ""
    for row in rows:
        row.update({k: v for k, v in (row.get("phases") or {}).items()})
    phases = [p for p in timing.PHASES if any(p in r for r in rows)]
    columns = ["notebook", "setting", "status", "mode", "seconds"] if sweep else \
        ["notebook", "status", "mode", "seconds", *phases, "metrics"]
    print(_table(rows, columns))
    failed = [r for r in rows if r["status"] != "pass"]
    for r in failed:
        print(f"\nFAILED {r['notebook']} {r['setting']}:\n{r['error']}", file=sys.stderr)
    where = ", ".join(sorted({str(runner.sweep_dir(r["notebook"])) for r in rows})) if sweep \
        else runner.executed_dir()
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed "
          f"({sum(r['seconds'] for r in rows):.0f} s; executed notebooks in {where})")
    for stem in sorted({r["notebook"] for r in rows}) if sweep else []:
        print(f"\nsweep of {stem} (python -m course_utils results --sweep {stem[:2]} [--csv]):")
        table = runner.sweep_table(stem)
        print(_shown(table, _columns(table)))
    return 1 if failed else 0


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def _shown(rows: list[dict], columns: list[str]) -> str:
    """``rows`` as a text table, numbers to 4 significant digits."""
    return _table([{k: _fmt(v) for k, v in r.items()} for r in rows], columns)


def cmd_book(args) -> int:
    from . import runner

    html = runner.build_book(strict=not args.no_strict)
    print(f"book built: {html / 'index.html'}")
    return 0


def cmd_results(args) -> int:
    from . import results, runner

    try:
        rows = runner.sweep_table(args.sweep) if args.sweep else results.load_all()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=1))
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)
    elif not rows:
        print(f"no results recorded under {config.results_dir()}; run `python -m course_utils run`")
    else:
        print(_shown(rows, _columns(rows) if args.sweep else
                     ["notebook", "name", "value", "target", "met", "mode", "seconds"]))
    return 0


def cmd_data(args) -> int:
    from .. import data

    if args.action == "check":
        report = data.check()
        print(f"data root: {config.data_root()} (set COURSE_DATA to change it)")
        for name, files in report.items():
            states = set(files.values())
            summary = "ok" if states == {"ok"} else ("missing" if states == {"missing"} else "PROBLEM")
            print(f"  {name:14s} {summary}")
            if summary == "PROBLEM":
                for f, s in files.items():
                    print(f"      {f}: {s}")
        bad = [n for n, f in report.items() if any(s.startswith(("corrupt", "incomplete")) for s in f.values())]
        return 1 if bad else 0
    if args.action == "ensure":
        from ..data import fetch
        from . import runner

        chapters = [int(p.stem[:2]) for p in runner.select(args.names)] if args.names else None
        try:
            names = fetch.ensure(chapters)
        except data.DataMissingError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"data ok under {config.data_root()}: {', '.join(names)} (MD5-verified)")
        return 0
    from ..models import pretrained

    if not args.names:
        print("name a dataset to prepare: " + ", ".join(data.DATASETS) + "; or `weights` (the ImageNet "
              "weights of chapters 8, 9 and 12), or one of " + ", ".join(pretrained.WEIGHTS), file=sys.stderr)
        return 2
    nets = [n for n in args.names if n in pretrained.WEIGHTS]
    nets += pretrained.needed() if "weights" in args.names else []
    if nets:
        try:
            for name, state in pretrained.fetch(list(dict.fromkeys(nets))).items():
                check = "SHA-256 ok" if pretrained.verified(name) else \
                    "FAILS torchvision's SHA-256 check: delete it and run again to fetch a fresh copy"
                print(f"{name}: {state} at {pretrained.path(name)} ({check})")
        except pretrained.WeightsMissingError as err:
            print(err, file=sys.stderr)
            return 1
    from ..data import fetch

    for name in args.names:
        if name == "weights" or name in pretrained.WEIGHTS:
            continue
        try:
            print(f"prepared {name}: {fetch.prepare(name)} (verified)")
        except (data.DataMissingError, ValueError) as err:  # offline, or an unknown name
            print(err, file=sys.stderr)
            return 1
    return 0


def _jobs(text: str) -> int:
    """``-j``: a whole number >= 1 (:func:`runner.check_jobs`), else argparse's usage error."""
    from .runner import check_jobs
    try:
        return check_jobs(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None


KERNEL_NAME, KERNEL_DISPLAY = "looking-inside", "Python (looking-inside)"  # as in the notebooks' metadata


def install_kernel(prefix: str | None = None) -> str:
    """Register this environment's Python as the ``looking-inside`` Jupyter kernel under
    ``prefix`` (default: this environment) and return the kernelspec folder."""
    from ipykernel.kernelspec import install

    return install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY, prefix=prefix or sys.prefix)


def cmd_lab(args) -> int:
    import subprocess
    from pathlib import Path

    print(f"kernel {KERNEL_NAME!r} installed in {install_kernel()}")
    lab = Path(sys.executable).with_name("jupyter-lab")
    cmd = [str(lab) if lab.exists() else "jupyter-lab", f"--notebook-dir={config.REPO_ROOT / 'notebooks'}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}"] + \
        (["--no-browser"] if args.no_browser else []) + (["--allow-root"] if os.geteuid() == 0 else [])
    print(f"starting JupyterLab on notebooks/ at http://127.0.0.1:{args.port}/lab (the next port up if taken); "
          "open the URL with the token printed below; Ctrl-C twice stops it", flush=True)
    return subprocess.call(cmd)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="Looking Inside Neural Networks: batch runner, book, data")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="execute notebooks with papermill")
    p.add_argument("names", nargs="*", help="chapters to run (number or part of the name); default all")
    p.add_argument("--fast", action="store_true", help="fast mode (also COURSE_FAST=1)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook parameter (repeatable), e.g. -p cell=gru -p hidden=64")
    p.add_argument("-j", "--jobs", type=_jobs, default=1, help="notebooks run at once (>= 1)")
    p.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="run each notebook once per value (several --sweep flags: every combination), "
                        "e.g. --sweep hidden_size=32,64,128")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("book", help="build the Jupyter Book from the executed notebooks")
    p.add_argument("--no-strict", action="store_true", help="do not fail on warnings")
    p.set_defaults(func=cmd_book)
    p = sub.add_parser("results", help="table (or --json, --csv) of every recorded metric")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV")
    p.add_argument("--sweep", metavar="CHAPTER", help="the table of a chapter's sweep instead")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser("lab", help="register the looking-inside kernel and start JupyterLab on notebooks/")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_lab)
    p = sub.add_parser("data", help="check, ensure (check + fetch what the chapters need) or prepare datasets")
    p.add_argument("action", choices=["check", "ensure", "prepare"])
    p.add_argument("names", nargs="*", help="prepare: dataset names, or weights (the ImageNet weights the "
                                            "chapters use) or a network (resnet34, ...); ensure: chapters (default all)")
    p.set_defaults(func=cmd_data)
    args = parser.parse_args(argv)
    if getattr(args, "fast", False):
        config.override(fast=True)  # the command line on top of the environment
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
