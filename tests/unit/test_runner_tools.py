"""The batch runner's checks and tools: -j, -p keys/types/bounds, locks, SIGINT, sweeps, and the
chapters' parameters cells as papermill reads them."""
import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.book import runner
from course_utils.book.cli import main

REPO = Path(runner.__file__).resolve().parents[2]
PARAMS = ("from typing import Optional\n\nfast: Optional[bool] = None  # fast mode\n"
          "size: int = 3  # (≥ 1) a size\nsleep: float = 0.0  # (≥ 0) seconds to sleep\n"
          "sizes: list[int] = [1, 2]  # sizes\nbox: tuple[int, int] = (1, 2)  # a pair")
BODY = """\
import os, time
import course_utils as cu
cu.results.begin('96_tiny')
cu.results.claim('size_squared', size * size, '>= 1', '>= 1')
if sleep:
    open(os.environ['COURSE_RESULTS'] + '/kernel.pid', 'w').write(str(os.getpid()))
    time.sleep(sleep)
"""


@pytest.fixture
def tiny(tmp_course, tmp_path, monkeypatch):
    """A folder holding one quick notebook, 96_tiny, that the runner uses instead of the chapters."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(nb, folder / "96_tiny.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    return folder


def test_sweeps_expand_to_the_product_in_order():
    assert runner.parse_sweeps(["hidden_size=32,64", "seed=0,1", "cell=gru"]) == [
        {"hidden_size": 32, "seed": 0, "cell": "gru"}, {"hidden_size": 32, "seed": 1, "cell": "gru"},
        {"hidden_size": 64, "seed": 0, "cell": "gru"}, {"hidden_size": 64, "seed": 1, "cell": "gru"}]
    assert runner.parse_sweeps([]) == []
    assert runner.point_label({"lr": 0.01, "cell": "g/ru"}) == "lr-0.01.cell-g_ru"
    for bad in (["hidden_size"], ["=1,2"], ["hidden_size="], ["a=1", "a=2"]):
        with pytest.raises(ValueError, match="--sweep"):
            runner.parse_sweeps(bad)


@pytest.mark.parametrize("value, annotation, fits", [
    (3, "int", True), (True, "int", False), (2.5, "int", False), (2, "float", True), ("a", "str", True),
    (None, "Optional[int]", True), (3, "Optional[int]", True), ("3", "Optional[int]", False),
    ([1, 2], "list[int]", True), ((1, 2), "list[int]", True), ([1, "x"], "list[int]", False),
    ([(1, 2)], "list[tuple[int, int]]", True), ([(1, 2, 3)], "list[tuple[int, int]]", False),
    (None, "Optional[list[int]]", True), (5, "list[int]", False), (True, "bool", True), (1, "bool", False),
    (object(), "SomethingElse", True),
])
def test_values_are_checked_against_the_cells_annotations(value, annotation, fits):
    assert runner._fits(value, annotation) is fits


def test_parameters_are_checked_against_the_cell(tiny):
    nb = tiny / "96_tiny.ipynb"
    runner.check_parameters(nb, {"size": 4, "sleep": 0, "sizes": [3], "box": [1, 2], "fast": None})
    with pytest.raises(ValueError, match="no parameter 'nope'; its parameters are: fast, size, sleep, sizes, box"):
        runner.check_parameters(nb, {"nope": 1})
    with pytest.raises(ValueError, match=r"size must be int \(default 3\), got 2.5 \(float\)"):
        runner.check_parameters(nb, {"size": 2.5})
    with pytest.raises(ValueError, match="size must be ≥ 1, got 0"):
        runner.check_parameters(nb, {"size": 0})
    with pytest.raises(ValueError, match="box must be tuple"):
        runner.check_parameters(nb, {"box": [1, 2, 3]})


def test_cli_refuses_bad_jobs_and_parameters_before_running(tiny, capsys):
    for jobs in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as stop:
            main(["run", "96", "-j", jobs])
        assert stop.value.code == 2
        assert f"must be a whole number >= 1, got '{jobs}'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="jobs"):
        runner.run(["96"], jobs=0)
    assert main(["run", "96", "-p", "epochs=-3"]) == 2
    assert "96_tiny has no parameter 'epochs'" in capsys.readouterr().err
    assert main(["run", "96", "-p", "size=-3"]) == 2
    assert "size must be ≥ 1, got -3" in capsys.readouterr().err
    assert not (runner.executed_dir()).exists()  # nothing ran


def test_a_chapter_held_by_another_run_is_refused(tiny):
    with runner._lock("96_tiny"):
        with pytest.raises(ValueError, match=f"96_tiny is already being run by pid {os.getpid()}"):
            runner.run(["96"], fast=True)
    assert not (runner.executed_dir() / "96_tiny.ipynb").exists()


def _runner(folder: Path, *args: str) -> subprocess.Popen:
    """``python -m course_utils run ARGS`` in a subprocess, on the notebooks in ``folder``."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from course_utils import __main__
        from course_utils.book import runner
        runner.NOTEBOOK_DIR = Path({str(folder)!r})
        sys.exit(__main__.main(["run", *{list(args)!r}]))
    """)
    return subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(REPO)),
                            cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sweep_writes_one_notebook_per_setting_and_one_table(tiny, capsys):
    proc = _runner(tiny, "96", "--fast", "-j", "2", "--sweep", "size=2,5")
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "2 passed, 0 failed" in out
    folder = runner.sweep_dir("96_tiny")
    assert sorted(p.name for p in (folder / "executed").glob("*.ipynb")) == \
        ["96_tiny.size-2.ipynb", "96_tiny.size-5.ipynb"]
    assert not (runner.executed_dir() / "96_tiny.ipynb").exists()  # the chapter's own copy untouched
    assert main(["results", "--sweep", "96", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["size"], r["name"], r["value"], r["met"], r["status"]) for r in rows] == \
        [(2, "size_squared", 4, True, "pass"), (5, "size_squared", 25, True, "pass")]
    assert main(["results", "--sweep", "96", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "size,status,mode,name,value,target,met" and lines[2].startswith("5,pass,fast,size_squared,25")


def test_sigint_stops_the_kernel_and_leaves_results_consistent(tiny, tmp_course):
    proc = _runner(tiny, "96", "-p", "sleep=120")
    pid_file = tmp_course / "results" / "kernel.pid"
    try:
        deadline = time.monotonic() + 180
        while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert pid_file.exists(), "the notebook never started"
        time.sleep(0.5)
        kernel = int(pid_file.read_text())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT: stopped 96_tiny" in err
    runs = json.loads((tmp_course / "results" / "runs.json").read_text())
    assert runs["96_tiny"]["status"] == "interrupted"
    assert not list((tmp_course / "results" / "executed").rglob("*.ipynb"))
    deadline = time.monotonic() + 20
    while _alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(kernel), "the kernel outlived the interrupted run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def _cell_names(nb: Path) -> list[str]:
    cell = next(c for c in nbformat.read(nb, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    return [node.target.id for node in ast.parse(cell.source).body if isinstance(node, ast.AnnAssign)] + \
        [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]


@pytest.mark.parametrize("nb", runner.notebooks(), ids=lambda p: p.stem)
def test_papermill_reads_every_parameter_of_every_chapter_with_a_type(nb):
    inferred = runner.notebook_parameters(nb)
    assert list(inferred) == _cell_names(nb)  # none missed: every assignment is typed and parsed
    for name, spec in inferred.items():
        assert spec["inferred_type_name"] not in ("None", ""), f"{nb.stem}: {name} has no type"
        assert spec["help"], f"{nb.stem}: {name} has no help"
        assert runner._fits(ast.literal_eval(spec["default"]), spec["inferred_type_name"]), (nb.stem, name)
    assert inferred["fast"]["default"] == "None"


def test_papermill_help_and_the_readme_example_give_no_warnings(tmp_path):
    papermill = [sys.executable, "-m", "papermill"]
    helped = subprocess.run([*papermill, "--help-notebook", "notebooks/07_rnn.ipynb"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "Unknown type" not in helped.stdout
    for line in ("fast: Optional[bool] (default None)", "hidden_size: int (default 128)", "gru_sizes: list[int]"):
        assert line in helped.stdout
    prepared = subprocess.run([*papermill, "notebooks/07_rnn.ipynb", str(tmp_path / "ch7.ipynb"), "--prepare-only",
                               "-p", "fast", "True", "-p", "hidden_size", "64", "-y", "gru_sizes: [16, 32, 64]"],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    assert prepared.returncode == 0, prepared.stderr
    assert "WARNING" not in prepared.stderr and "Unable to parse" not in prepared.stderr, prepared.stderr


def test_phase_timers_count_the_outer_phase_only():
    from course_utils import timing

    timing.reset()
    with timing.phase("training"):
        with timing.phase("data"):      # data loaded by a recipe counts as training
            pass
    slow = timing.timed("embedding")(lambda: sum(range(200000)))
    slow()
    t = timing.totals()
    assert t["data"] == 0.0 and t["training"] >= 0.0 and set(t) == set(timing.PHASES)
    assert timing._totals["embedding"] > 0.0
    with pytest.raises(ValueError, match="unknown phase"):
        with timing.phase("thinking"):
            pass
    timing.reset()
    assert sum(timing.totals().values()) == 0.0


def test_evaluation_outside_fit_is_its_own_phase_and_inside_fit_is_training():
    import torch

    from course_utils import timing, train
    from course_utils.data import TensorData

    torch.manual_seed(0)
    data = TensorData(torch.rand(64, 1, 8, 8), torch.randint(0, 2, (64,)), ["a", "b"], "toy", "train")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    timing.reset()
    train.fit(net, data, data, epochs=2, progress=False, device="cpu")
    assert timing._totals["evaluation"] == 0.0 and timing._totals["training"] > 0.0
    train.evaluate(net, data)
    train.predict(net, data)
    assert timing._totals["evaluation"] > 0.0


def test_segmentation_and_vae_scores_count_as_evaluation():
    import torch

    from course_utils import metrics, timing
    from course_utils.data import TensorData
    from course_utils.models import vae as V

    torch.manual_seed(0)
    maps = TensorData(torch.rand(8, 1, 8, 8), torch.randint(0, 3, (8, 8, 8)), ["bg", "a", "b"], "toy", "test")
    timing.reset()
    metrics.evaluate(torch.nn.Conv2d(1, 3, 1), maps)
    after_maps = timing._totals["evaluation"]
    assert after_maps > 0.0
    digits = TensorData(torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,)), list("0123456789"), "toy", "test")
    metrics.evaluate_vae(V.FCVAE(latent=2), digits)
    assert timing._totals["evaluation"] > after_maps


def test_kernels_share_the_cores_when_chapters_run_at_once(monkeypatch):
    rn = runner
    monkeypatch.setattr(rn.os, "cpu_count", lambda: 2)
    assert rn.kernel_threads(1) is None and rn.kernel_threads(2) == 1 and rn.kernel_threads(3) == 1
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert rn._kernel_env(True, None, threads=1)["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in rn._kernel_env(True, None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")                 # the caller's own setting wins
    assert rn._kernel_env(True, None, threads=1)["OMP_NUM_THREADS"] == "2"


def test_the_longest_chain_starts_first_and_a_chapter_waits_for_the_one_it_needs(tmp_course):
    stems = ["01_a", "03_c", "08_h", "09_i", "10_j"]
    seconds = {"01_a": 30, "03_c": 10, "08_h": 20, "09_i": 25, "10_j": 44}
    # critical paths: 08+09 = 45, 10 = 44, 01+03 = 40, 09 = 25, 03 = 10
    assert runner.start_order(stems, seconds) == ["08_h", "10_j", "01_a", "09_i", "03_c"]
    assert not runner._ready("09_i", {"08_h", "10_j"}) and runner._ready("09_i", {"10_j"})
    every = [p.stem for p in runner.notebooks()]                 # no runs.json yet: the table
    assert runner.start_order(every, runner.expected_seconds(every, True))[0] == "08_gradcam"
    ci = [s for s in every if s[:2] <= "09"]                     # .ci/run's full-mode step
    assert runner.start_order(ci, runner.expected_seconds(ci, False))[:2] == ["02_cnn_zoo", "01_lenet_fashion"]
    (runner.config.results_dir()).mkdir(parents=True)
    (runner.config.results_dir() / "runs.json").write_text(json.dumps(
        {"10_autoencoders": {"status": "pass", "mode": "fast", "seconds": 500.0}}))
    assert runner.expected_seconds(every, True)["10_autoencoders"] == 500.0   # the last run wins
    assert runner.expected_seconds(every, False)["10_autoencoders"] == \
        runner.TYPICAL_SECONDS["full"]["10"]                                # not in another mode


@pytest.mark.parametrize("jobs", [1, 2])
def test_dispatch_starts_a_chapter_after_the_chapters_it_needs(monkeypatch, tmp_course, jobs):
    log, eleven_done = [], threading.Event()

    def fake(path, out, params, fast, *rest, threads=None):
        stem = Path(path).stem
        log.append(("start", stem))
        if stem == "08_h" and jobs > 1:
            eleven_done.wait(30)          # 08 outlasts 10 and 11
        if stem == "11_k":
            eleven_done.set()
        log.append(("end", stem))
        return {"notebook": stem}

    monkeypatch.setattr(runner, "_execute", fake)
    monkeypatch.setattr(runner, "TYPICAL_SECONDS", {"fast": {"08": 20, "09": 25, "10": 44, "11": 5}})
    tasks = [(Path(f"{s}.ipynb"), None, (f"{s}.ipynb", "out", {}, True))
             for s in ("08_h", "09_i", "10_j", "11_k")]
    rows = runner._dispatch(tasks, jobs, fast=True)
    assert [r["notebook"] for r in rows] == ["08_h", "09_i", "10_j", "11_k"]   # task order
    assert log.index(("start", "09_i")) > log.index(("end", "08_h"))
    starts = [stem for what, stem in log if what == "start"]
    # one job: chapter order; two: 08 (its chain with 09 is longest) and 10, then 11 before 09
    assert starts == (["08_h", "09_i", "10_j", "11_k"] if jobs == 1 else ["08_h", "10_j", "11_k", "09_i"])


@pytest.mark.parametrize("every, at_most", [(1e9, 2), (0.0, None)])
def test_the_running_notebook_is_saved_at_most_every_few_seconds_and_at_the_end(tiny, monkeypatch,
                                                                                  every, at_most):
    import papermill.engines as engines

    writes = []
    real = engines.write_ipynb
    monkeypatch.setattr(engines, "write_ipynb", lambda nb, path: (writes.append(path), real(nb, path)))
    monkeypatch.setattr(runner, "SAVE_EVERY", every)
    nb = nbformat.read(tiny / "96_tiny.ipynb", as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(f"x{i} = {i}\nprint(x{i})") for i in range(5)]
    nbformat.write(nb, tiny / "96_tiny.ipynb")
    out = runner.executed_dir() / "96_tiny.ipynb"
    row = runner._execute(str(tiny / "96_tiny.ipynb"), str(out), {}, True)
    assert row["status"] == "pass", row["error"]
    # throttled: the first save and the last; unthrottled: papermill's two per cell
    assert len(writes) == at_most if at_most else len(writes) >= 2 * 7
    done = nbformat.read(out, as_version=4)
    assert [c.outputs[0]["text"] for c in done.cells[-5:]] == [f"{i}\n" for i in range(5)]


def test_the_kernel_is_stopped_at_the_end_with_every_output_and_file_in(tiny):
    nb = nbformat.read(tiny / "96_tiny.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\nfolder = os.environ['COURSE_RESULTS']\n"
        "open(folder + '/last.pid', 'w').write(str(os.getpid()))\n"
        "open(folder + '/last.txt', 'w').write('x' * 100000)\nprint('last cell ran')"))
    nbformat.write(nb, tiny / "96_tiny.ipynb")
    out = runner.executed_dir() / "96_tiny.ipynb"
    row = runner._execute(str(tiny / "96_tiny.ipynb"), str(out), {}, True)
    assert row["status"] == "pass", row["error"]
    folder = runner.executed_dir().parent
    assert (folder / "last.txt").read_text() == "x" * 100000
    assert nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"] == "last cell ran\n"
    with pytest.raises(ProcessLookupError):
        os.kill(int((folder / "last.pid").read_text()), 0)


def test_the_runner_takes_phases_and_hardware_from_this_runs_record_and_never_imports_torch(tiny):
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from course_utils import config
        from course_utils.book import runner
        runner.NOTEBOOK_DIR = Path({str(tiny)!r})
        row = runner.run(["96"], fast=True)[0]
        print(json.dumps([row["status"], row["hardware"], sorted(row["phases"]), "torch" in sys.modules]))
    """)

    def run_once():
        out = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(REPO)),
                             cwd=REPO, text=True, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    status, hardware, phases, torch_in_runner = run_once()
    assert status == "pass" and hardware.startswith(("CPU: ", "GPU: ")) and not torch_in_runner
    assert phases == sorted(["data", "training", "evaluation", "attribution", "embedding", "plotting"])
    # the next run fails before its record starts: the last run's record is not taken for this one
    nb = nbformat.read(tiny / "96_tiny.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("raise RuntimeError('stop before begin')"))
    nbformat.write(nb, tiny / "96_tiny.ipynb")
    status, hardware, phases, _ = run_once()
    assert status == "fail" and hardware.startswith(("CPU: ", "GPU: ")) and phases == []
