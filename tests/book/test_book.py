"""The book test: run every chapter in fast mode through the batch runner, build the book, and
open each chapter page in headless Chromium (title present, no error cells, every figure an
image that loaded), and check every internal link and anchor of the built site
(pytest-check-links). ``COURSE_JOBS`` chapters run at a time (default 1)."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading

import pytest

from course_utils import config
from course_utils.book import results, runner
from course_utils.book.reports import HEADLINES

# the first test builds the book (every chapter in fast mode): more than the suite's 600 s default
pytestmark = pytest.mark.timeout(2400)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if IN_CI:
            pytest.fail("chromium and chromedriver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1600"]:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture(scope="module")
def built_book():
    env = dict(os.environ, COURSE_FAST="1")
    jobs = os.environ.get("COURSE_JOBS") or "1"
    run = subprocess.run([sys.executable, "-m", "course_utils", "run", "--fast", "-j", jobs], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, f"batch run failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    build = subprocess.run([sys.executable, "-m", "course_utils", "book"], env=env,
                           capture_output=True, text=True)
    assert build.returncode == 0, f"book build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    html = runner.BOOK_DIR / "_build" / "html"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


CHAPTERS = [p.stem for p in runner.notebooks()]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_renders(built_book, browser, chapter):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{built_book}/chapters/{chapter}.html")
    # wait (up to 60 s) until the page, its heading, every image and every formula (MathJax,
    # bundled: this browser has no network) have finished loading
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && !!document.querySelector('main h1')"
        " && [...document.images].every(i => i.complete)"
        " && [...document.querySelectorAll('main .math')].every(e => e.querySelector('mjx-container'))"))
    shots = config.results_dir() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / f"{chapter}.png"))      # for a person to look at
    text = browser.execute_script("return document.querySelector('main').innerText")
    assert "\\(" not in text and "\\[" not in text, f"{chapter}: raw LaTeX on the page"
    assert "# Parameters" not in text, f"{chapter}: papermill's injected cell is visible"
    title = browser.execute_script("return document.querySelector('main h1')?.innerText || ''")
    expected = int(chapter[:2])
    assert title.startswith(f"{expected}."), f"{chapter}: page title is {title!r}"
    errors = browser.execute_script(
        "return [...document.querySelectorAll('.output.traceback, .output.error')].length")
    assert errors == 0, f"{chapter}: {errors} error output cells"
    images = browser.execute_script("""
        return [...document.querySelectorAll('main img')].map(
            i => ({src: i.currentSrc, ok: i.complete && i.naturalWidth > 0}))""")
    assert images, f"{chapter}: no figures rendered"
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"{chapter}: images that did not load: {broken}"
    sideways = browser.execute_script("""
        return [...document.querySelectorAll('main pre, main table, main .cell_output > div')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.innerText.split('\\n')[0].slice(0, 80))""")
    assert not sideways, f"{chapter}: cells that scroll sideways: {sideways}"


def test_mathematics_renders_with_no_network(built_book, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{built_book}/chapters/03_pca.html")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "return document.querySelectorAll('mjx-container').length > 10"))
    src = browser.execute_script("return [...document.scripts].map(s => s.src).join(' ')")
    assert "_static/mathjax/tex-mml-chtml.js" in src and "cdn" not in src.lower()


def test_generated_pages(built_book, browser):
    browser.get(f"{built_book}/status.html")
    text = browser.find_element("tag name", "main").text
    for chapter in CHAPTERS:
        assert chapter in text
    assert "fail" not in text.replace("pass/fail", "").lower()
    browser.get(f"{built_book}/results.html")
    text = browser.find_element("tag name", "main").text
    assert "Headline numbers beside the course reports" in text
    for chapter in CHAPTERS:
        assert chapter in text
    recorded = {(r["notebook"], r["name"]) for r in results.load_all()}
    missing = [(h.notebook, h.metric) for h in HEADLINES if (h.notebook, h.metric) not in recorded]
    assert not missing, f"headline numbers no chapter recorded: {missing}"
    assert "not run" not in text


def test_internal_links(built_book):
    # every relative link and #anchor of the built site must resolve (external links cannot be
    # reached offline, so they are left out)
    html = runner.BOOK_DIR / "_build" / "html"
    pages = sorted(str(p) for p in html.rglob("*.html") if "_static" not in p.parts)
    check = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "--check-links", "--check-anchors", "--check-links-ignore", "https?://.*",
                            "-o", "addopts=", "--rootdir", str(html), *pages],
                           capture_output=True, text=True, cwd=html)
    assert check.returncode == 0, f"broken links:\n{check.stdout[-4000:]}"
    assert " passed" in check.stdout
