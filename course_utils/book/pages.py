"""Pages of the book generated from the last batch run: execution status and results (chapter 1)."""
from __future__ import annotations

from pathlib import Path

from .. import timing
from . import results
from .reports import HEADLINES

PLUMBING = ("cu.results.begin(", "cu.config.set_fast(")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def book_chapter(src: Path, dst: Path) -> None:
    """Copy an executed notebook into the book with its plumbing out of the reader's way:
    papermill's injected-parameters cell removed, the parameters cell and the set-up cell
    (mode, results, seeding) shown only on request ("hide-input" keeps their output), and
    widget state and views left out (a static page has no kernel to drive them)."""
    import nbformat

    nb = nbformat.read(str(src), as_version=4)
    # a static page cannot run a widget ("try it" sliders): drop the widgets' saved state and
    # views, or the book would load the widget manager's script from a CDN
    nb.metadata.pop("widgets", None)
    kept = []
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags:
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if WIDGET_VIEW not in o.get("data", {})]
        plumbing = cell.cell_type == "code" and any(p in cell.source for p in PLUMBING)
        if ("parameters" in tags or plumbing) and "hide-input" not in tags:
            tags.append("hide-input")
        kept.append(cell)
    nb.cells = kept
    nbformat.write(nb, str(dst))


def _md_table(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


_MET = {True: "yes", False: "**no**", None: ""}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def status_page() -> str:
    """Markdown of each notebook's last run: mode, seconds, pass/fail, hardware."""
    runs = results.last_runs()
    rows = [[f"[{nb}](chapters/{nb}.ipynb)", r["mode"], r["seconds"],
             *[(r.get("phases") or {}).get(p, "") for p in timing.PHASES],
             "✅ pass" if r["status"] == "pass" else "❌ fail", r.get("hardware", "?"), r["finished"]]
            for nb, r in sorted(runs.items())]
    body = _md_table(rows, ["notebook", "mode", "seconds", *[f"{p} (s)" for p in timing.PHASES],
                            "status", "machine", "finished"]) \
        if rows else "No notebook has been executed yet."
    total = sum(r["seconds"] for r in runs.values())
    return ("# Execution status\n\nEvery chapter of this book was executed by the batch runner "
            "(`python -m course_utils run`) before the book was built; this page lists each "
            "notebook's last run, with the seconds it spent loading data, training, evaluating "
            "trained networks, computing attributions, embedding and plotting (the rest is the chapter's own code and the "
            f"kernel's start).\n\n{body}\n\nTotal execution time: {total:.0f} s.\n")


def headline_table(rows: list[dict]) -> str:
    """Markdown table of every chapter's headline numbers beside the course reports' figures,
    with the mode and data of our run and whether our target was met ("not run" if missing)."""
    by_key = {(r["notebook"], r["name"]): r for r in rows}
    table = []
    for h in HEADLINES:
        r = by_key.get((h.notebook, h.metric))
        report = "—" if h.report is None else _fmt(h.report)
        if r is None:
            table.append([h.notebook[:2], h.label, report, "not run", "", "", "", "", h.source])
            continue
        met = _MET[r["met"]]
        table.append([h.notebook[:2], h.label, report, _fmt(r["value"]), r["mode"],
                      r.get("data") or "", r["target"] or "", met, h.source])
    return _md_table(table, ["ch.", "quantity", "report", "ours", "mode", "data we used",
                             "our target", "met", "report's source"])


def results_page() -> str:
    """Markdown of the headline numbers against the reports, then every recorded metric."""
    rows = results.load_all()
    if not rows:
        return "# Results\n\nNo metrics recorded yet.\n"
    out = ["# Results\n",
           "Every number below was recorded by a chapter during the batch run that built this "
           "book (`course_utils.results.record`). *Target* is the chapter's claim in the run's "
           "mode; *met* says whether the measured value satisfies it. In fast mode the chapters "
           "train on tiny subsets for a few epochs, so only their loose fast-mode targets apply.\n",
           "## Headline numbers beside the course reports\n",
           "*report* is the figure the course reports give for the same quantity (— where they "
           "show only a plot or nothing). Their data and budgets differ from ours where the "
           "*data we used* column says so, for instance stand-ins for CIFAR-10 and Pascal VOC, "
           "which cannot be downloaded where this book was built.\n",
           headline_table(rows) + "\n",
           "## Every recorded number\n"]
    for nb in sorted({r["notebook"] for r in rows}):
        mine = [r for r in rows if r["notebook"] == nb]
        out.append(f"### {nb}\n\nMode: {mine[0]['mode']}; data: {mine[0].get('data') or 'not recorded'}; "
                   f"machine: {mine[0]['hardware']}.\n")
        out.append(_md_table([[r["name"], _fmt(r["value"]), r["target"] or "",
                               _MET[r["met"]]] for r in mine],
                             ["metric", "value", "target", "met"]) + "\n")
    return "\n".join(out)


def write_generated_pages(book_dir: Path) -> None:
    """Write ``status.md`` and ``results.md`` into the book source folder."""
    (book_dir / "status.md").write_text(status_page())
    (book_dir / "results.md").write_text(results_page())
