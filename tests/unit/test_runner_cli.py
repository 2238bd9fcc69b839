import json

import pytest

from course_utils.book import results, runner
from course_utils.book.cli import main

# pre-commit (.pre-commit-config.yaml) runs the same command on every commit
STRIP = ".venv/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb"


def test_parse_parameters_reads_literals():
    assert runner.parse_parameters(["cell=gru", "hidden=64", "lr=1e-3", "fast=True"]) == \
        {"cell": "gru", "hidden": 64, "lr": 1e-3, "fast": True}
    with pytest.raises(SystemExit, match="not key=value"):
        runner.parse_parameters(["oops"])


def test_select_by_number_or_name():
    assert [p.stem for p in runner.select(["1"])] == ["01_lenet_fashion"]
    assert [p.stem for p in runner.select(["lenet_fashion"])] == ["01_lenet_fashion"]
    with pytest.raises(SystemExit, match="no notebook matches 'nope'"):
        runner.select(["nope"])


def test_every_notebook_is_in_the_book_and_paired():
    toc = (runner.BOOK_DIR / "_toc.yml").read_text()
    for nb in runner.notebooks():
        assert f"chapters/{nb.stem}" in toc, f"{nb.stem} missing from book/_toc.yml"
        assert nb.with_suffix(".py").exists(), f"{nb.stem} has no paired .py"
        cells = json.loads(nb.read_text())["cells"]
        assert all(not c.get("outputs") for c in cells), \
            f"{nb.name} is committed with outputs; strip them with one command: {STRIP}"
        tags = [t for c in cells for t in c.get("metadata", {}).get("tags", [])]
        assert "parameters" in tags, f"{nb.name} has no cell tagged 'parameters'"


def test_data_check_cli(capsys):
    assert main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "fashion-mnist" in out


def test_results_cli_json(tmp_course, monkeypatch, capsys):
    from course_utils.book import results
    results.begin("98_cli")
    results.record("x", 1.5)
    assert main(["results", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["notebook"] == "98_cli" and rows[0]["value"] == 1.5


def test_run_reports_failure_with_nonzero_exit(tmp_course, tmp_path, monkeypatch):
    # a notebook that raises must make the runner exit non-zero and record "fail"
    import nbformat
    bad = nbformat.v4.new_notebook()
    bad.cells = [nbformat.v4.new_code_cell("fast = False", metadata={"tags": ["parameters"]}),
                 nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    bad.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(bad, folder / "99_bad.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    rows = runner.run(["99"], fast=True)
    assert rows[0]["status"] == "fail" and "boom" in rows[0]["error"]
    runs = json.loads((tmp_course / "results" / "runs.json").read_text())
    assert runs["99_bad"]["status"] == "fail"


def test_run_kernel_imports_this_checkout(tmp_course, tmp_path, monkeypatch):
    # the kernel papermill starts must import the same course_utils (and so write metrics to
    # the same results folder) as the runner, whatever the venv's own install points at
    import nbformat

    import course_utils
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fast = False", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import course_utils as cu\ncu.results.begin('97_where')\n"
                                          "cu.results.record('file', cu.__file__)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(nb, folder / "97_where.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    assert runner.run(["97"], fast=True)[0]["status"] == "pass"
    rows = results.load_all()
    assert [r["value"] for r in rows if r["notebook"] == "97_where"] == [course_utils.__file__]
