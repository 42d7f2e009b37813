"""The HTML report in a real headless Chromium (Debian's, /usr/bin/chromium, installed by .ci/run
with apt; driven by Playwright's Python package through executable_path: no browser is ever
downloaded). One browser for the module, a new page per report.

- the report of every sample log loads with no console message of level error, no page error,
  and no request but the file itself (every request is routed: any other URL fails the test);
- every chart has drawn marks (clipped SVG paths, the data, with a non-zero box);
- the report of a hostile log (tests/fixtures/hostile-report: a <script> in a non-SMTP command and
  a HELO name, onerror/onload handlers in a sender and a HELO) leaves ``window.pwned`` unset and
  shows the markup as text;
- a screenshot of the multi-incident report is not blank (more than one colour), the page has
  dark-mode colours when the system asks for them, and prints on A4.

The README's screenshot is this test's: ``POSTFIX_DIAG_SCREENSHOT=docs/report-multi-incident.png
.venv/bin/python -m pytest -q tests/test_html_browser.py -k screenshot``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag.analyze import analyze
from postfix_diag.report import render_analysis

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p.parent.name for p in (ROOT / "sample_logs").glob("*/maillog"))
HOSTILE = ROOT / "tests" / "fixtures" / "hostile-report" / "maillog"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    given = os.environ.get("POSTFIX_DIAG_CHROMIUM")
    for name in ((given,) if given else CANDIDATES):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install -e '.[dev]')")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set POSTFIX_DIAG_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Reports(dict):
    """The HTML report of a sample log (or of the hostile log), written on first use.
    multi-incident's comes from the CLI (--format html --output FILE, run from the repository with
    a relative path, as in the README's screenshot), the way a user writes it; the others from the
    same functions in this process."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def __missing__(self, name: str) -> Path:
        target = self.directory / f"{name}.html"
        log = HOSTILE if name == "hostile" else ROOT / "sample_logs" / name / "maillog"
        if name == "multi-incident":
            r = subprocess.run([sys.executable, "-m", "postfix_diag", "analyze", "--format", "html", "--year", "2025",
                                "--output", str(target), str(log.relative_to(ROOT))],
                               capture_output=True, text=True, cwd=ROOT)
            assert r.returncode == 0 and r.stdout == "", r.stderr
        else:
            target.write_text(render_analysis(analyze([str(log)], year=2025, traffic=True), "html"), encoding="utf-8")
        self[name] = target
        return target


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Reports:
    return Reports(tmp_path_factory.mktemp("html"))


def open_report(browser, path: Path, **context):
    """A page with the report loaded; (page, problems, requests): console errors and page
    errors, and every URL the page asked for (only the file itself is let through)."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    url = path.as_uri()

    def route(r):
        requests.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    return page, problems, requests


MARKS = """() => [...document.querySelectorAll('figure.chart svg')].map(svg => {
  const marks = [...svg.querySelectorAll('path[clip-path], g[clip-path] use, rect[clip-path]')]
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  return {label: svg.getAttribute('aria-label'), marks: marks.length,
          width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height};
})"""


@pytest.mark.parametrize("name", SAMPLES)
def test_report_loads_clean_and_its_charts_are_drawn(browser, reports, name):
    page, problems, requests = open_report(browser, reports[name])
    try:
        assert problems == []
        assert requests == [reports[name].as_uri()]
        assert page.title() == "Postfix incident report"
        charts = page.evaluate(MARKS)
        if not charts:  # a log without mail (process-limit: master's warnings only) says so
            assert page.locator("p.no-traffic").count() == 1
        else:
            assert charts[0]["label"] == "traffic"
        for chart in charts:
            assert chart["width"] > 300 and chart["height"] > 50, chart
            assert chart["marks"] > 0, chart
        assert page.evaluate("document.scripts.length") == 0
        findings = page.locator("section.finding").count()
        details = page.locator("section.finding details").count()
        assert findings == details  # every finding has its explain page folded under it
    finally:
        page.context.close()


def test_hostile_log_runs_nothing_and_shows_the_markup_as_text(browser, reports):
    page, problems, requests = open_report(browser, reports["hostile"])
    try:
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert problems == [] and requests == [reports["hostile"].as_uri()]
        assert page.evaluate("document.querySelectorAll('script, img, body svg:not(.chart-svg) [onload]').length") == 0
        text = page.inner_text("body")
        assert "<script>window.pwned=1</script>" in text
        assert "onerror=window.pwned=2" in text
        assert "<svg/onload=window.pwned=3>" in text
        # the hostile client names reach a chart as text, not as markup
        labels = page.evaluate("[...document.querySelectorAll('figure.chart svg text')].map(t => t.textContent)")
        assert any("unknown[192.0.2.9]" in t for t in labels)
    finally:
        page.context.close()


def test_screenshot_is_not_blank_and_dark_mode_and_print_work(browser, reports):
    from PIL import Image

    page, problems, _ = open_report(browser, reports["multi-incident"], viewport={"width": 1100, "height": 1500})
    try:
        png = page.screenshot(clip={"x": 0, "y": 0, "width": 1100, "height": 1500})
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.size == (1100, 1500)
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 50  # text, charts, badges: not one colour
        target = os.environ.get("POSTFIX_DIAG_SCREENSHOT")
        if target:
            Path(target).write_bytes(png)
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        pdf = page.pdf(prefer_css_page_size=True)
        boxes = {tuple(round(float(v)) for v in m.split()[2:])
                 for m in re.findall(rb"/MediaBox ?\[([^\]]*)\]", pdf)}
        assert boxes and all(abs(w - 595) <= 2 and abs(h - 842) <= 2 for w, h in boxes), boxes  # A4 in points
    finally:
        page.context.close()
    page, _, _ = open_report(browser, reports["multi-incident"], color_scheme="dark")
    try:
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark != light and light == "rgb(255, 255, 255)"
    finally:
        page.context.close()


def test_summary_report_loads_clean_with_charts(browser, tmp_path):
    from postfix_diag.report import writer
    from postfix_diag.summary import summary

    path = tmp_path / "summary.html"
    path.write_text(writer("summary", "html")(summary([str(ROOT / "sample_logs" / "multi-incident" / "maillog")],
                                                      year=2025, jobs=1)), encoding="utf-8")
    page, problems, requests = open_report(browser, path)
    try:
        assert problems == [] and requests == [path.as_uri()]
        charts = page.evaluate(MARKS)
        assert len(charts) >= 3 and all(c["marks"] > 0 for c in charts), charts
    finally:
        page.context.close()
