"""`grader site`: the course as a website, checked in a real headless browser (Debian's
Chromium driven by Playwright): every page loads without console errors, the maths is
MathML and no `$…$` is left raw, every internal link and anchor resolves, the search box
finds an exercise by name, and screenshots of a part and of the progress page are written
to build/site-screenshots/ for a person to look at."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from grader import website
from grader.catalog import Exercise
from grader.grade import ExerciseResult, Report
from grader.layout import Part
from grader.outcomes import Status
from grader.store import Store
from grader.tests.conftest import COURSE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = COURSE / "build" / "site-screenshots"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    store = Store(tmp / "progress.sqlite3")
    part = Part("chapter0_numpy", "part1_arrays")
    results = {
        f"{part.id}/{name}": ExerciseResult(Exercise(part, name), status, "", 0.1)
        for name, status in [("normalize_rows", Status.PASSED), ("standardize_columns", Status.FAILED)]
    }
    store.record(Report("0/1", "exercises", [], results, [], "", 0.5))
    out = tmp / "out"
    site = website.build(COURSE, out, store)
    assert site.problems == []
    return out


def test_the_site_has_a_page_per_reading_and_the_linked_files():
    pages = website.sources(COURSE)
    assert Path("chapters/chapter4_rnns/part1_rnn.md") in pages and Path("README.md") in pages


@pytest.fixture(scope="module")
def server(built: Path):
    handler = functools.partial(_Quiet, directory=str(built))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is its assertions
        pass


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium here: `apt-get install chromium` (.ci/run installs it)")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def _ids(path: Path) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', path.read_text()))


def test_every_page_loads_cleanly_with_maths_and_links_that_resolve(browser, built, server):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    broken, raw, with_maths = [], [], 0
    for html_file in sorted(built.rglob("*.html")):
        rel = html_file.relative_to(built).as_posix()
        before = len(errors)
        page.goto(server + rel)
        errors[before:] = [f"{rel}: {e}" for e in errors[before:]]
        text = page.evaluate(
            """() => { const c = document.body.cloneNode(true);
                       c.querySelectorAll('pre, code, math, script').forEach(e => e.remove());
                       return c.innerText; }"""
        )
        raw += [f"{rel}: {m}" for m in re.findall(r"\$[^$\n]{1,60}\$", text)]
        rendered = page.evaluate(
            """() => Array.from(document.querySelectorAll('math'))
                       .filter(m => m.getBoundingClientRect().width > 0).length"""
        )
        with_maths += rendered > 0
        for href in page.evaluate("() => Array.from(document.links).map(a => a.href)"):
            url = urlparse(href)
            if not href.startswith(server):
                continue
            target = built / unquote(url.path.lstrip("/"))
            if not target.is_file():
                broken.append(f"{rel} -> {url.path}")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _ids(target):
                broken.append(f"{rel} -> {url.path}#{url.fragment} (no such heading)")
    assert errors == [], "\n".join(errors[:10])
    assert raw == [], "\n".join(raw[:10])
    assert broken == [], "\n".join(broken[:10])
    assert with_maths >= 30  # the readings' maths is drawn as maths


def test_search_finds_an_exercise_by_name_with_no_server(browser, built):
    page = browser.new_page()
    page.goto((built / "index.html").as_uri())  # opened from disk
    page.fill("#q", "rnn_backward")
    page.wait_for_selector("#results li a")
    first = page.locator("#results li a").first
    assert first.inner_text().startswith("rnn_backward")
    with page.expect_navigation():
        first.click()
    assert page.url.split("#")[0].endswith("chapters/chapter4_rnns/part1_rnn.html"), page.url
    anchor = unquote(urlparse(page.url).fragment)
    assert page.locator(f"[id='{anchor}']").count() == 1


def test_screenshots_of_a_part_and_of_the_progress_page(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(server + "chapters/chapter4_rnns/part1_rnn.html")
    page.screenshot(path=str(SCREENSHOTS / "part.png"))
    page.goto(server + "progress.html")
    assert page.locator("td.passed").count() >= 1 and page.locator("img.chart").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "progress.png"), full_page=True)
    assert (SCREENSHOTS / "part.png").stat().st_size > 10_000
