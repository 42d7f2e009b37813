"""The Markdown report is ticket-ready: rendered by a CommonMark renderer (markdown-it-py, raw
HTML allowed, as GitLab and many trackers allow it), no raw HTML from the log survives, the
commands of every fix are code spans, the prose has no character references (a plain-text view
would show ``&quot;``), and the header says the time span, the year and time zone assumed, the
tool version and the configuration's sources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from postfix_diag import __version__
from postfix_diag.analyze import analyze
from postfix_diag.config import choose
from postfix_diag.report import render_analysis
from postfix_diag.report.common import step_commands
from postfix_diag.report.escape import terminal

ROOT = Path(__file__).resolve().parents[1]
LOGS = {p.parent.name: p for p in sorted((ROOT / "sample_logs").glob("*/maillog"))}
LOGS["hostile-report"] = ROOT / "tests" / "fixtures" / "hostile-report" / "maillog"
MD = MarkdownIt("commonmark", {"html": True}).enable("table")
ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")


def tokens(tree):
    for tok in tree:
        yield tok
        if tok.children:
            yield from tokens(tok.children)


def prose(text: str) -> str:
    """The Markdown outside fenced code blocks and code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text)


@pytest.fixture(scope="module")
def reports():
    out = {}
    for name, log in LOGS.items():
        a = analyze([str(log)], year=2025)
        out[name] = (a, render_analysis(a, "markdown"))
    return out


@pytest.mark.parametrize("name", sorted(LOGS))
def test_rendered_report_has_no_raw_html_and_commands_are_code(reports, name):
    analysis, text = reports[name]
    toks = list(tokens(MD.parse(text)))
    assert not [t for t in toks if t.type in ("html_inline", "html_block")]
    html = MD.render(text)
    assert not re.search(r"<(?:script|img|svg|iframe|a )", html, re.I)
    assert not ENTITY.search(prose(text)), ENTITY.search(prose(text)).group(0)
    spans = {t.content for t in toks if t.type == "code_inline"}
    commands = [terminal(c) for f in analysis.findings for step in f.remediation for c in step_commands(step)]
    assert all(c in spans for c in commands), [c for c in commands if c not in spans]
    assert "\\`" not in text  # no escaped backtick where a code span belongs


def test_hostile_log_text_stays_text(reports):
    _, text = reports["hostile-report"]
    toks = list(tokens(MD.parse(text)))
    shown = "".join(t.content for t in toks if t.type in ("text", "code_inline", "fence"))
    assert "<script>window.pwned=1</script>" in shown
    assert "onerror=window.pwned=2" in shown
    html = MD.render(text)
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_multi_incident_commands_and_header(reports):
    analysis, text = reports["multi-incident"]
    assert "`postconf -e 'milter_default_action = accept'`" in text
    assert "nc -vz 127.0.0.1 8891" in {t.content for t in tokens(MD.parse(text)) if t.type == "code_inline"}
    head = text.split("## Summary", 1)[0]
    assert "- Time span: 2025-12-01T22:08:32 .. 2025-12-01T22:10:47" in head
    assert "- Year assumed: sample\\_logs/multi-incident/maillog: year 2025 given with --year" in head.replace(
        str(ROOT) + "/", "")
    assert "- Time zone assumed: " in head
    assert f"- Tool: postfix-diag {__version__}" in head


def test_header_names_the_configuration_sources():
    d = ROOT / "sample_logs" / "multi-incident"
    found = choose([str(d / "postconf-n.txt"), str(d / "master.cf")], enabled=True, on_server=False)
    a = analyze([str(d / "maillog")], year=2025, config=found.config, config_how=found.how)
    head = render_analysis(a, "markdown").split("## Summary", 1)[0]
    line = next(x for x in head.splitlines() if x.startswith("- Configuration sources: "))
    assert "postconf-n.txt (main.cf)" in line and "master.cf (master.cf)" in line
