"""The generated Results and Execution-status pages."""
import json

from course_utils.book import pages as bookpages
from course_utils.book import results, runner
from course_utils.book.reports import HEADLINES


def test_every_headline_names_a_chapter():
    stems = {p.stem for p in runner.notebooks()}
    assert {h.notebook for h in HEADLINES} == stems
    keys = [(h.notebook, h.metric) for h in HEADLINES]
    assert len(keys) == len(set(keys))


def test_results_page_sets_our_numbers_beside_the_reports(tmp_course, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    results.begin("02_cnn_zoo", data="MNIST")
    results.claim("vgg_test_acc", 0.9961, ">= 0.994")
    results.record("resnet_test_acc", 0.985, target=">= 0.990")
    results.begin("05_cifar_filters")
    results.data_used("Fashion-MNIST, standing in for CIFAR-10 (not available)")
    results.record("best_test_acc", 0.83)
    page = bookpages.results_page()
    lines = {line.split(" | ")[1]: line for line in page.splitlines() if line.startswith("| 0")}
    vgg = lines["VGG-style test accuracy"]
    assert "0.9955" in vgg and "0.9961" in vgg and "| MNIST |" in vgg and "| yes |" in vgg
    assert "**no**" in lines["small ResNet test accuracy"]
    cifar = lines["LeNet-5 (grey 28×28) best test accuracy"]
    assert "0.611" in cifar and "standing in for CIFAR-10" in cifar
    assert "not run" in lines["RNN test accuracy"]


def test_status_page_shows_failures(tmp_course):
    runs = {"01_lenet_fashion": {"mode": "fast", "seconds": 12.5, "status": "pass", "finished": "t",
                                 "hardware": "CPU"},
            "02_cnn_zoo": {"mode": "fast", "seconds": 3.0, "status": "fail", "finished": "t",
                           "hardware": "CPU"}}
    (tmp_course / "results").mkdir()
    (tmp_course / "results" / "runs.json").write_text(json.dumps(runs))
    page = bookpages.status_page()
    assert "✅ pass" in page and "❌ fail" in page and "Total execution time: 16 s" in page


def test_book_chapter_leaves_widgets_out(tmp_path):
    """A widget's saved state would make the page load the widget manager from a CDN."""
    import nbformat

    from course_utils.book import pages

    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cell = nbformat.v4.new_code_cell("cu.plots.try_it(draw, k=(1, 9, 1))")
    cell.outputs = [nbformat.v4.new_output("display_data", {pages.WIDGET_VIEW: {"model_id": "x"},
                                                            "text/plain": "interactive(...)"}),
                    nbformat.v4.new_output("stream", text="kept\n")]
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "in.ipynb"))
    pages.book_chapter(tmp_path / "in.ipynb", tmp_path / "out.ipynb")
    out = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    assert "widgets" not in out.metadata
    assert [o.output_type for o in out.cells[0].outputs] == ["stream"]
