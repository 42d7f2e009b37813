"""The HTML reports outside a browser (tests/test_html_browser.py opens them in Chromium): the
page's policy and structure, the escaping of log text, --output through safewrite, the summary's
HTML, and matplotlib loaded only for the HTML format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postfix_diag.analyze import analyze
from postfix_diag.cli import app
from postfix_diag.report import render_analysis
from postfix_diag.report.escape import html
from postfix_diag.report.html_page import CSP

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "sample_logs" / "multi-incident" / "maillog"
HOSTILE = ROOT / "tests" / "fixtures" / "hostile-report" / "maillog"
runner = CliRunner()


@pytest.fixture(scope="module")
def page() -> str:
    return render_analysis(analyze([str(LOG)], year=2025, traffic=True), "html")


def test_escape_html():
    assert html('<a href="x" onclick=\'y\'>&amp;</a>\x1b[31m\u202e') == (
        "&lt;a href=&quot;x&quot; onclick=&#x27;y&#x27;&gt;&amp;amp;&lt;/a&gt;\\x1b[31m\\u202e")
    assert html(None) == ""


def test_page_policy_and_parts(page):
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP and "script-src" not in CSP  # no script from anywhere
    assert "<script" not in page and not re.search(r"\son[a-z]+=", page)
    # nothing the page could fetch: no src, no href but the SVG's references inside the document
    assert not re.search(r"\ssrc=", page)
    assert set(re.findall(r'href="([^"]*)"', page)) <= {h for h in re.findall(r'href="(#[^"]*)"', page)}
    assert "@media (prefers-color-scheme: dark)" in page and "@page { size: A4;" in page
    for part in ('id="timeline"', 'id="charts"', 'id="findings"', 'id="coverage"', "<details>"):
        assert part in page
    assert page.count('<figure class="chart">') == 4  # traffic, deferrals, rejects, clients
    # a fix's command in a copyable block, the explain page folded under its finding
    assert "<pre><code>postconf -e &#x27;milter_default_action = accept&#x27;</code></pre>" in page
    assert "<summary>postfix-diag explain MLT001</summary>" in page
    assert "sample_logs/multi-incident/maillog:161: Dec 01 22:09:56" in page


def test_hostile_text_is_escaped_everywhere():
    out = render_analysis(analyze([str(HOSTILE)], year=2025, traffic=True), "html")
    assert "<script" not in out and "<img" not in out and "<svg/" not in out
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in out
    assert "onerror=window.pwned=2" in out  # as text: inside an escaped sample line
    assert not re.search(r"<[^>]*\sonerror=", out)


def test_output_file_and_stdout(tmp_path):
    target = tmp_path / "report.html"
    r = runner.invoke(app, ["analyze", "--format", "html", "--year", "2025", "--output", str(target), str(LOG)])
    assert r.exit_code == 0 and r.stdout == ""
    assert target.read_text().startswith("<!DOCTYPE html>")
    link = tmp_path / "link.html"
    os.symlink(target, link)
    r = runner.invoke(app, ["analyze", "--format", "html", "--year", "2025", "-o", str(link), str(LOG)])
    assert r.exit_code == 2 and "is a symbolic link" in r.stderr and r.stderr.count("\n") == 1
    r = runner.invoke(app, ["analyze", "--format", "text", "--year", "2025", "-o", "-", str(LOG)])
    assert r.exit_code == 0 and "Parse coverage: 233 lines" in r.stdout


def test_summary_html(tmp_path):
    target = tmp_path / "summary.html"
    r = runner.invoke(app, ["summary", "--format", "html", "--year", "2025", "-o", str(target), str(LOG)])
    assert r.exit_code == 0, r.output
    out = target.read_text()
    assert f'content="{CSP}"' in out and "<script" not in out
    assert "<title>Postfix traffic summary</title>" in out and out.count('<figure class="chart">') >= 3
    assert "Relay access denied" in out


PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["postfix-diag", *json.loads(sys.argv[1])]
from postfix_diag.cli import main
main()
"""


def _loaded(*args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stderr.rsplit("MODULES ", 1)[1]))


def test_matplotlib_only_for_html(tmp_path):
    """summary loads pandas but not matplotlib; the HTML format loads it (the probe sees it).
    tests/test_startup.py keeps analyze's other formats free of numpy, and so of matplotlib."""
    assert "matplotlib" not in _loaded("summary", "--format", "json", "--year", "2025", str(LOG))
    assert "matplotlib" in _loaded("analyze", "--format", "html", "--year", "2025", "-o", str(tmp_path / "r.html"),
                                   str(LOG))
