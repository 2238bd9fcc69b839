"""Command line: ``python -m course_utils run|book|results|data`` (chapter 1)."""
from __future__ import annotations

import argparse
import json
import sys

from . import config


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    body = ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_run(args) -> int:
    from . import results, runner

    fast = args.fast or config.is_fast()
    params = runner.parse_parameters(args.param)
    rows = runner.run(args.names, fast=fast, params=params, jobs=args.jobs)
    metrics = results.load_all()
    for row in rows:
        mine = [m for m in metrics if m["notebook"] == row["notebook"]]
        row["metrics"] = ", ".join(f"{m['name']}={_fmt(m['value'])}" for m in mine[:4]) + \
            (f" (+{len(mine) - 4})" if len(mine) > 4 else "")
    print(_table(rows, ["notebook", "status", "mode", "seconds", "metrics"]))
    failed = [r for r in rows if r["status"] != "pass"]
    for r in failed:
        print(f"\nFAILED {r['notebook']}:\n{r['error']}", file=sys.stderr)
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed "
          f"({sum(r['seconds'] for r in rows):.0f} s; executed notebooks in "
          f"{runner.executed_dir()})")
    return 1 if failed else 0


def cmd_book(args) -> int:
    from . import runner

    html = runner.build_book(strict=not args.no_strict)
    print(f"book built: {html / 'index.html'}")
    return 0


def cmd_results(args) -> int:
    from . import results

    rows = results.load_all()
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print(f"no results recorded under {config.results_dir()}; run `python -m course_utils run`")
    else:
        for r in rows:
            r["value"] = _fmt(r["value"])
        print(_table(rows, ["notebook", "name", "value", "target", "met", "mode", "seconds"]))
    return 0


def cmd_data(args) -> int:
    from . import data

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
        bad = [n for n, f in report.items() if any(s.startswith("corrupt") for s in f.values())]
        return 1 if bad else 0
    if args.action == "ensure":
        from . import fetch, runner

        chapters = [int(p.stem[:2]) for p in runner.select(args.names)] if args.names else None
        try:
            names = fetch.ensure(chapters)
        except data.DataMissingError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"data ok under {config.data_root()}: {', '.join(names)} (MD5-verified)")
        return 0
    if not args.names:
        print("name a dataset to prepare: " + ", ".join(data.DATASETS), file=sys.stderr)
        return 2
    for name in args.names:
        print(f"prepared {name}: {data.prepare(name)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="Looking Inside Neural Networks: batch runner, book, data")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="execute notebooks with papermill")
    p.add_argument("names", nargs="*", help="chapters to run (number or part of the name); default all")
    p.add_argument("--fast", action="store_true", help="fast mode (also COURSE_FAST=1)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook parameter (repeatable), e.g. -p cell=gru -p hidden=64")
    p.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run in parallel processes")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("book", help="build the Jupyter Book from the executed notebooks")
    p.add_argument("--no-strict", action="store_true", help="do not fail on warnings")
    p.set_defaults(func=cmd_book)
    p = sub.add_parser("results", help="table (or --json) of every recorded metric")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser("data", help="check, ensure (check + fetch what the chapters need) or prepare datasets")
    p.add_argument("action", choices=["check", "ensure", "prepare"])
    p.add_argument("names", nargs="*", help="prepare: dataset names; ensure: chapters (default all)")
    p.set_defaults(func=cmd_data)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
