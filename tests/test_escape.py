"""The one escaping policy (report/escape.py) and every writer that follows it: controls, bidi and
invisible characters made visible; no link, mention or placeholder from log text in Markdown
(rendered with GitHub's own cmark-gfm) and SARIF; qshape's table and summary JSON included."""

from __future__ import annotations

import json
import re
import unicodedata

import cmarkgfm
import pytest

from postfix_diag.model import Finding, QueueShape, Row, Sample
from postfix_diag.qshape import QueueEntry, render_qshape, render_qshape_json
from postfix_diag.report import writer
from postfix_diag.report.escape import markdown, markdown_code, sarif_message, sarif_text, terminal

# Every kind the policy names, one or more each.
INVISIBLE = (
    [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u00ad", "\u034f", "\u061c", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180b", "\u180e"]
    + [chr(c) for c in range(0x200B, 0x2010)]
    + ["\u2028", "\u2029"] + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2060, 0x2065)] + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u3164", "\ufe00", "\ufe0f", "\ufeff", "\uffa0", "\ufff9", "\ufffb", "\ufffe", "\uffff"]
    + ["\U000e0001", "\U000e0041", "\U000e007f", "\U000e0100", "\U0010fffe", "\ufdd0", "\udc80"]
)

HOSTILE = ("\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ "
           "\x1b]52;c;ZXZpbA==\x07 \x9b31m \u202egnp.exe\u202c a\rb\bc\x07 \u2066x\u2069 tag\U000e0041")


@pytest.mark.parametrize("ch", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_terminal_makes_every_invisible_character_visible(ch):
    out = terminal(f"a{ch}b")
    assert ch not in out
    code = ord(ch)
    expected = f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    assert out == f"a{expected}b"


def test_terminal_leaves_ordinary_text_alone():
    text = "mx.example.org[192.0.2.1] → Grüße, 日本語, emoji 😀, tab-free"
    assert terminal(text) == text


def test_no_format_or_control_character_is_left_out():
    """Every Cc, Cf, Zl, Zp, Cs code point of the Basic Multilingual Plane and the tag block is
    escaped (unicodedata's categories of this Python, a check on the hand-written class)."""
    for code in list(range(0x10000)) + list(range(0xE0000, 0xE0080)):
        ch = chr(code)
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            # U+0600-0605, U+06DD, U+070F, U+0890/1, U+08E2 (Arabic signs that show a glyph) are visible
            if code in (0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x6DD, 0x70F, 0x890, 0x891, 0x8E2):
                continue
            assert terminal(ch) != ch, f"U+{code:04X} ({unicodedata.category(ch)}) passes through"


# --- Markdown ------------------------------------------------------------------------------------

def gfm(text: str) -> str:
    """HTML as GitHub renders Markdown (cmark-gfm with autolink, table, tagfilter extensions)."""
    return cmarkgfm.github_flavored_markdown_to_html(text)


LINKISH = ["https://evil.example/x", "http://evil/x", "victim@evil.example", "www.evil.example",
           "mailto:victim@evil.example", "xmpp:victim@evil.example", "(https://evil/x)", "<https://evil/x>",
           "[click](https://evil/x)", "![img](https://evil/i.png)", "@admin", "#123", "ftp://evil/x",
           "HTTPS://EVIL/X", "foo:https://evil/x", "*https://evil/x*", "~~www.evil.example~~"]


@pytest.mark.parametrize("text", LINKISH)
def test_markdown_never_becomes_a_link(text):
    for form in (text, f"see {text} now", f"| {text} |"):
        html = gfm(markdown(form))
        assert "<a " not in html and "<img" not in html, (form, markdown(form), html)
    # in a table cell too
    html = gfm(f"| a | b |\n|---|---|\n| {markdown(text)} | x |\n")
    assert "<a " not in html and "<table>" in html
    assert html.count("<td>") == 2  # the cell did not split


def test_markdown_shows_the_text_itself():
    html = gfm(markdown("to victim@evil.example via https://evil.example/x done"))
    assert "<code>victim@evil.example</code>" in html and "<code>https://evil.example/x</code>" in html
    assert "to " in html and " done" in html


def test_markdown_ordinary_words_are_unchanged():
    assert markdown("relay.example.com[192.0.2.1]:25 said *no*") == \
        "relay\\.example\\.com\\[192\\.0\\.2\\.1\\]:25 said \\*no\\*"


def test_markdown_code_span_cannot_be_closed_or_split():
    for text in ["a`b@evil.example`c", "x|y@evil.example|z", "`https://evil/x`", "``www.evil.example``"]:
        html = gfm(f"| h |\n|---|\n| {markdown(text)} |\n")
        assert "<a " not in html and html.count("<td>") == 1, (text, markdown(text), html)


def test_markdown_hostile_controls_and_html():
    out = markdown(HOSTILE + " <script>alert(1)</script>")
    assert not any(ch in out for ch in "\x1b\x07\r\b\x9b\u202e\u202c\u2066\u2069\U000e0041")
    assert "<script>" not in gfm(out)


def test_markdown_code_fence_cannot_be_closed():
    assert "```" not in markdown_code("a ``` b")
    assert "\x1b" not in markdown_code("\x1b[31m")


# --- SARIF ---------------------------------------------------------------------------------------

def _unescaped_bracket(s: str) -> bool:
    """A [ or ] not preceded by an odd number of backslashes (SARIF §3.11.6 link syntax)."""
    return bool(re.search(r"(?<!\\)(?:\\\\)*[\[\]]", s))


def test_sarif_embedded_link_syntax_is_escaped():
    s = sarif_text("reject: [click](https://evil.example/x) and [0](1)")
    assert "](" in s and not _unescaped_bracket(s)
    assert s == "reject: \\[click\\](https://evil.example/x) and \\[0\\](1)"


def test_sarif_placeholders_are_doubled_and_brackets_left_when_no_link():
    assert sarif_text("smtpd[123]: {0} {1}") == "smtpd[123]: {{0}} {{1}}"
    assert sarif_message(["a\x1b[31m", "b\nc"]) == "a\\x1b[31m\nb\\x0ac"


def _check_result(text: str):
    from postfix_diag.check import evaluate

    f = Finding(id="SEC003", category="security", severity="error", title="t " + text, count=1, key=text,
                summary=text, samples=[Sample("mail.log", 3, text)], remediation=[text])
    return evaluate([f])


def test_sarif_report_has_no_link_or_placeholder_from_the_log():
    doc = json.loads(writer("check", "sarif")(_check_result("[click](https://evil.example/x) {0} " + HOSTILE)))
    msg = doc["runs"][0]["results"][0]["message"]["text"]
    assert not _unescaped_bracket(msg)
    assert not re.search(r"(?<!\{)\{\d+\}(?!\})", msg)
    assert not any(ch in msg for ch in "\x1b\x07\r\b\x9b\u202e")


# --- every check and analysis format -------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "junit", "github", "sarif"])
def test_check_formats_show_no_invisible_character(fmt):
    out = writer("check", fmt)(_check_result("".join(INVISIBLE) + HOSTILE))
    bad = [ch for ch in INVISIBLE if ch not in "\n" and ch in out]
    assert not bad, [f"U+{ord(c):04X}" for c in bad]


# --- qshape --------------------------------------------------------------------------------------

NOW = 1_764_000_000


def _entries(domain: str):
    return [QueueEntry("active", "A1", NOW - 60, "s@example.org", [f"u@{domain}"]),
            QueueEntry("active", "A2", NOW - 60, "s@example.org", ["u@plain.example"])]


@pytest.mark.parametrize("domain", ["evil\x1b[31m.example", "\x1b]0;pwned\x07.example", "\x1b]8;;http://x\x07.ex",
                                    "\x1b]52;c;ZXZpbA==\x07.ex", "\x9bevil.example", "\u202eelpmaxe.live",
                                    "a\rb.example", "a\bb.example", "bell\x07.example", "ta\U000e0041g.example",
                                    "zw\u200bj.example", "soft\u00adhy.example"])
def test_qshape_text_table_escapes_domains(domain):
    out = render_qshape(_entries(domain), now=NOW)
    assert not any(ch in out for ch in INVISIBLE if ch != "\n")
    lines = out.splitlines()
    assert len(lines) == 4  # heading, TOTAL, two domains: no line was split or overwritten
    assert any(terminal(domain).lower() in line.lower() or line.lstrip().startswith("+") for line in lines)
    widths = {len(line) for line in lines}
    assert len(widths) == 1  # the escapes are counted in the column width


def test_qshape_json_is_ascii_escaped():
    out = render_qshape_json(_entries("\x1b[31m\u202eevil.example"), now=NOW)
    assert out.isascii() and "\\u001b" in out and "\\u202e" in out
    assert "\x1b[31m\u202eevil.example" in [r["domain"] for r in json.loads(out)["rows"]]


def test_qshape_text_is_byte_identical_for_ordinary_names():
    shape = QueueShape(now=NOW, queues=["active"], senders=False, parents=False, min_subdomains=5,
                       bucket_count=2, bucket_time=5, linear=False, width=80, headings=["T", "5", "5+"],
                       rows=[Row("TOTAL", [1, 1, 0]), Row("gr\xc3\xbc\xc3\x9fe.example", [1, 1, 0])])
    out = writer("qshape", "text")(shape)
    lines = out.splitlines()
    # qshape counts bytes, as Perl does: the UTF-8 name is as wide as TOTAL in bytes
    assert "grüße.example" in out and len(lines[1].encode()) == len(lines[2].encode())


# --- summary JSON --------------------------------------------------------------------------------

def test_summary_json_is_ascii_escaped():
    out = writer("summary", "json")({"cause": "\x85\x9b\u202e\u2066\u2069 → …"})
    assert out.isascii()
    assert json.loads(out) == {"cause": "\x85\x9b\u202e\u2066\u2069 → …"}
