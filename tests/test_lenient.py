"""Lenient reading of pasted snippets (postfix_diag/lenient.py), tested on real lines: every line of
the captured sample logs, transformed into each prefix style a paste carries, must give the event
the original line gives; and the Postfix message templates of ../shared/reference, for header-less
bodies. Real logs must not pay for any of it: the corpus and the sample logs give the same events
with the lenient reader as without it."""

from __future__ import annotations

import calendar
import csv
import re
from pathlib import Path

import pytest

from postfix_diag.events import FOREIGN, UNRECOGNIZED
from postfix_diag.lenient import HOLD, is_lenient
from postfix_diag.locale_months import MONTHS
from postfix_diag.parse import NO_ENVELOPE, Parser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(ROOT.glob("sample_logs/*/maillog"))
CLASSIC = re.compile(r"(?P<stamp>(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<clock>\d\d:\d\d:\d\d)) (?P<host>\S+) "
                     r"(?P<tag>\S+?): (?P<body>.*)")


def sample_lines() -> list[str]:
    return [line for p in SAMPLES for line in p.read_text(encoding="utf-8").splitlines() if line]


LINES = sample_lines()
MONTH_NUMBER = {m: i for i, m in enumerate(calendar.month_abbr) if m}


def same_event(a, b, *, ts=True, host=True) -> bool:
    keys = ["kind", "instance", "service", "program", "pid", "severity", "qid", "text", "f"]
    keys += ["ts"] * ts + ["host"] * host
    return all(getattr(a, k) == getattr(b, k) for k in keys)


@pytest.fixture(scope="module")
def lenient_parser():
    return Parser(year=2025)


def originals(parser):
    return [(line, parser.parse_line(line, "<t>", 1)) for line in LINES]


def test_sample_lines_are_classic(lenient_parser):
    assert len(LINES) > 1000
    assert all(CLASSIC.fullmatch(line) for line in LINES)
    assert {ev.fmt for _, ev in originals(lenient_parser)} == {"classic"}


# Each style: (format the line must be read as, a function making the styled line from the original).
def _parts(line):
    return CLASSIC.fullmatch(line).groupdict()


STYLES = {
    "compose+classic": lambda line: "mailserver-1  | " + line,
    "compose+classic ": lambda line: "mailserver_1     | " + line,  # compose v1, wider padding
    "compose+classic  ": lambda line: "\x1b[36mmailserver-1  |\x1b[0m " + line,  # with colours
    "quote+classic": lambda line: "> " + line,
    "quote+classic ": lambda line: "| " + line,
    "quote+classic  ": lambda line: ">> " + line,
    "indent+classic": lambda line: "    " + line,
    "compose+quote+classic": lambda line: "mail  | > " + line,
}


@pytest.mark.parametrize("fmt", list(STYLES), ids=[f.strip() + str(len(f)) for f in STYLES])
def test_prefix_styles_of_sample_lines(lenient_parser, fmt):
    make = STYLES[fmt]
    for line, want in originals(lenient_parser):
        styled = make(line)
        ev = lenient_parser.parse_line(styled, "<t>", 1)
        assert ev.fmt == fmt.strip(), styled
        assert same_event(ev, want), styled
        assert ev.line == styled and is_lenient(ev.fmt)


def test_no_host(lenient_parser):
    for line, want in originals(lenient_parser):
        p = _parts(line)
        ev = lenient_parser.parse_line(f"{p['stamp']} {p['tag']}: {p['body']}", "<t>", 1)
        assert ev.fmt == "classic-stamp+no-timestamp", line
        assert same_event(ev, want, host=False) and ev.host is None


def test_container_level_prefixes(lenient_parser):
    for line, want in originals(lenient_parser):
        p = _parts(line)
        ev = lenient_parser.parse_line(f"INFO    {p['tag']}: {p['body']}", "<t>", 1)
        assert ev.fmt == "level+no-timestamp" and same_event(ev, want, ts=False, host=False), line
        assert ev.ts is None and ev.host is None
        date = f"2025-{MONTH_NUMBER[p['mon']]:02d}-{p['day'].strip():0>2}"
        for stamp in (f"{date} {p['clock']},123", f"{date}T{p['clock']}Z"):
            for level in ("INFO", "INFO   ", "[WARNING]"):
                styled = f"{stamp} {level} {p['tag']}: {p['body']}"
                ev = lenient_parser.parse_line(styled, "<t>", 1)
                assert ev.fmt == "iso-stamp+level+no-timestamp", styled
                assert same_event(ev, want, ts=False, host=False) and ev.host is None
                assert ev.ts == pytest.approx(want.ts + (0.123 if "," in stamp else 0)), styled


def test_bare_tag(lenient_parser):
    for line, want in originals(lenient_parser):
        p = _parts(line)
        program = p["tag"].split("[")[0].rsplit("/", 1)[-1]
        if not p["tag"].startswith("postfix/") or p["tag"].count("/") != 1 or program.startswith("postfix"):
            continue  # "postfix-script[1]: ..." is a tag of its own (the no-timestamp format)
        ev = lenient_parser.parse_line(f"{program}{p['tag'][len('postfix/' + program):]}: {p['body']}", "<t>", 1)
        assert ev.fmt == "bare-tag" and same_event(ev, want, ts=False, host=False), line


@pytest.mark.parametrize("locale_month", sorted(MONTHS))
def test_localized_month_names(lenient_parser, locale_month):
    english = MONTHS[locale_month]
    line = f"{english} 25 13:29:42 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]"
    want = lenient_parser.parse_line(line, "<t>", 1)
    for name in (locale_month, locale_month.capitalize(), locale_month + "."):
        styled = line.replace(english, name, 1)
        ev = lenient_parser.parse_line(styled, "<t>", 1)
        assert ev.fmt == "localized-month+classic", styled
        assert same_event(ev, want), styled
        no_host = styled.replace(" mail ", " ", 1)
        ev = lenient_parser.parse_line(no_host, "<t>", 1)
        assert ev.fmt == "localized-month+classic-stamp+no-timestamp" and same_event(ev, want, host=False)


def test_localized_sample_lines(lenient_parser):
    """German, French and Spanish journalctl output of the sample logs (captured in November and
    December)."""
    names = {"Nov": ("Nov", "nov.", "nov"), "Dec": ("Dez", "déc.", "dic")}  # de, fr, es
    for line, want in originals(lenient_parser):
        for name in names[line[:3]]:
            ev = lenient_parser.parse_line(name + line[3:], "<t>", 1)
            if name == line[:3]:
                assert ev.fmt == "classic"
            else:
                assert ev.fmt == "localized-month+classic" and same_event(ev, want)


def test_month_table_has_no_clashes():
    assert MONTHS["okt"] == "Oct" and MONTHS["mär"] == "Mar" and MONTHS["déc"] == "Dec" and MONTHS["mai"] == "May"
    assert MONTHS["févr"] == "Feb" and MONTHS["juil"] == "Jul" and MONTHS["août"] == "Aug" and MONTHS["dez"] == "Dec"
    assert all(k == k.lower() and not k.endswith(".") for k in MONTHS)


LOCALES_DIR = Path("/usr/share/i18n/locales")


@pytest.mark.skipif(not (LOCALES_DIR / "de_DE").is_file(), reason="glibc locale sources not installed")
def test_month_table_is_glibcs():
    """locale_months.py is what tools/locale_months.py makes from glibc's locale sources."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "tools" / "locale_months.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out == (ROOT / "postfix_diag" / "locale_months.py").read_text(encoding="utf-8")


# --- header-less bodies ------------------------------------------------------------------------
def test_header_less_bodies_of_sample_lines(lenient_parser):
    """A body without any header is read as the event its full line gives, with the program when
    only one daemon's rules match it, else without one; never as another daemon's."""
    told = without_program = unread = 0
    for line, want in originals(lenient_parser):
        body = _parts(line)["body"]
        ev = lenient_parser.parse_line(body, "<t>", 1)
        assert ev.ts is None and ev.host is None
        if ev.kind == UNRECOGNIZED or want.kind in HOLD:  # no rule of its own daemon claims it: not compared
            unread += 1
            continue
        assert ev.fmt == "body-only", body
        assert (ev.kind, ev.f, ev.qid, ev.severity) == (want.kind, want.f, want.qid, want.severity), body
        if ev.program is None:
            without_program += 1
        else:
            assert ev.program == want.program, body
            told += 1
    assert told > 300 and without_program > 300, (told, without_program, unread)
    assert unread < len(LINES) // 5, unread


def test_header_less_body_examples(lenient_parser):
    ev = lenient_parser.parse_line("NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <x@example.com>: Relay "
                                   "access denied; from=<a@example.org> to=<x@example.com> proto=ESMTP helo=<h>")
    assert (ev.fmt, ev.kind, ev.program, ev.ts, ev.qid) == ("body-only", "reject", "smtpd", None, "NOQUEUE")
    ev = lenient_parser.parse_line("warning: hostname mx.example does not resolve to address 192.0.2.9: Name or "
                                   "service not known")
    assert (ev.kind, ev.program, ev.severity) == ("reverse_dns", "smtpd", "warning")
    ev = lenient_parser.parse_line("PASS NEW [192.0.2.1]:1234")
    assert (ev.kind, ev.program) == ("postscreen", "postscreen")
    ev = lenient_parser.parse_line("1A2B3C4D5E: removed")  # qmgr's, but any daemon's rules read it
    assert (ev.kind, ev.qid, ev.program, ev.instance) == ("removed", "1A2B3C4D5E", None, None)
    trace = []
    ev = lenient_parser.lenient.read("table /etc/postfix/x has changed -- restarting", "<t>", 1, None, trace)
    assert ev.kind == UNRECOGNIZED and trace[0][0] == "body-only"  # cleanup's own rule vs. every daemon's


SPEC = re.compile(r"%[-#0 +']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z|j|t)?([sdiuoxXcfgeEpm%])")
FILL = {"s": "example", "d": "1", "i": "1", "u": "1", "o": "1", "x": "1f", "X": "1F", "c": "x", "f": "1.0",
        "g": "1", "e": "1.0", "E": "1.0", "p": "0x1", "m": "No such file or directory", "%": "%"}


@pytest.fixture(scope="module")
def templates(corpus):
    path = corpus.parent / "reference" / "postfix-message-templates.tsv"
    if not path.is_file():
        pytest.skip(f"Postfix message templates not found at {path}")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for r in rows:
        body = SPEC.sub(lambda m: FILL[m.group(1)], r["template"])
        out.append((r["program"], body if r["severity"] == "info" else f"{r['severity']}: {body}"))
    return out


def test_templates_in_every_prefix_style(lenient_parser, templates):
    """Every Postfix message template, in a classic line of its daemon, and that line in each style."""
    n = 0
    for program, text in templates:
        if program.startswith("shared:"):
            program = "smtpd"
        line = f"Nov 25 13:29:42 mx postfix/{program}[1]: {text}"
        want = lenient_parser.parse_line(line, "<t>", 1)
        assert want.fmt == "classic", line
        for fmt, make in STYLES.items():
            ev = lenient_parser.parse_line(make(line), "<t>", 1)
            assert ev.fmt == fmt.strip() and same_event(ev, want), make(line)
        ev = lenient_parser.parse_line(f"INFO    postfix/{program}[1]: {text}", "<t>", 1)
        assert ev.fmt == "level+no-timestamp" and same_event(ev, want, ts=False, host=False), line
        n += 1
    assert n > 5000


def test_templates_as_header_less_bodies(lenient_parser, templates):
    """A template's body alone is never read as another daemon's event."""
    told = 0
    for program, text in templates:
        if program.startswith("shared:") or program not in lenient_parser.grammar.programs:
            continue
        want = lenient_parser.parse_line(f"Nov 25 13:29:42 mx postfix/{program}[1]: {text}", "<t>", 1)
        if want.kind in (UNRECOGNIZED, FOREIGN, "warning", "error", "fatal", "panic", "debug"):
            continue
        ev = lenient_parser.parse_line(text, "<t>", 1)
        if ev.kind == UNRECOGNIZED:
            continue
        assert ev.program in (None, program), (program, text, ev)
        assert ev.kind == want.kind, (program, text, ev)
        told += ev.program == program
    assert told >= 15, told


# --- wrapped lines ---------------------------------------------------------------------------------
def _terminal_wrap(line: str, width: int = 80) -> list[str]:
    return [line[i:i + width] for i in range(0, len(line), width)]


def _mail_wrap(line: str, width: int = 72) -> list[str]:
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*out, current]


@pytest.mark.parametrize("wrap", [_terminal_wrap, _mail_wrap, lambda line: ["> " + p for p in _mail_wrap(line)]],
                         ids=["terminal", "mail", "quoted-mail"])
def test_wrapped_sample_lines_are_rejoined(wrap):
    """The sample logs, every line longer than the width wrapped. A wrapped line is read as one, on
    its first part's line number, whenever that is unambiguous: a rule claims the whole line, and
    no later part reads as a line of its own, and its first part alone is no event a rule claims,
    or is the same kind of event with fewer fields, or was cut inside <>, () or []. Otherwise (a free-text tail cut short) the first part
    stays an event of the same kind and the rest an unrecognized line."""
    from postfix_diag.lenient import _cut_inside_brackets

    parser = Parser(year=2025)
    rejoined = apart = 0
    for line in LINES:
        parts = wrap(line)
        if len(parts) == 1:
            continue
        want = parser.parse_line(line)
        first = parser.parse_line(parts[0])
        got = list(parser.parse_lines(parts, "<t>"))
        alone = all(parser.parse_line(p).fmt is None for p in parts[1:])  # no part reads as a line of its own
        must_join = alone and want.kind not in HOLD and (first.kind in HOLD or (first.kind == want.kind and (
            len(first.f) < len(want.f) or _cut_inside_brackets(first.line))))
        if len(got) == 1:
            ev = got[0]
            assert ev.fmt.startswith("joined+") and ev.lineno == 1, parts
            assert same_event(ev, want), parts  # the join puts back what the wrap took
            rejoined += 1
        else:
            assert not must_join, parts
            assert (got[0].kind, got[0].f) == (first.kind, first.f), parts
            assert all(ev.kind == UNRECOGNIZED and ev.fmt is None for ev in got[1:]) or not alone, parts
            apart += 1
    assert rejoined > 3 * apart, (rejoined, apart)


def test_continuation_is_joined_only_when_unambiguous():
    parser = Parser(year=2025)
    lines = ["Nov 25 13:29:42 mx postfix/smtpd[1]: connect from a.example[192.0.2.1]",
             "this is a note the admin typed, not part of the log",
             "Nov 25 13:29:43 mx postfix/smtpd[1]: disconnect from a.example[192.0.2.1]"]
    evs = list(parser.parse_lines(lines))
    assert [ev.kind for ev in evs] == ["connect", UNRECOGNIZED, "disconnect"]
    assert evs[1].f == {"reason": NO_ENVELOPE}


# --- real logs pay nothing -----------------------------------------------------------------------
def _strict_events(parser, lines):
    from postfix_diag.parse import YearGuesser

    years = YearGuesser(parser.year, None)
    return [parser.parse_strict(line, "<t>", n, years) for n, line in enumerate(lines, 1)]


def _attrs(ev):
    return (ev.kind, ev.ts, ev.host, ev.instance, ev.service, ev.program, ev.pid, ev.severity, ev.qid,
            ev.text, ev.f, ev.lineno, ev.line, ev.fmt)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.parent.name for p in SAMPLES])
def test_sample_logs_read_the_same_without_the_lenient_reader(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    parser = Parser(year=2025)
    assert [_attrs(e) for e in parser.parse_lines(lines, "<t>")] == [_attrs(e) for e in _strict_events(parser, lines)]


def test_corpus_reads_the_same_without_the_lenient_reader(corpus):
    """Every corpus line a strict format matches gives the same event through the full reader;
    only lines no strict format matches may change (and they are few)."""
    parser = Parser(year=2024)
    with open(corpus / "all-lines.txt", "rb") as fh:
        lines = [raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r") for raw in fh]
    changed = 0
    for n, line in enumerate(lines, 1):
        strict = parser.parse_strict(line, "c", n, None)
        full = parser.parse_line(line, "c", n)
        if strict.fmt is not None:
            assert _attrs(full) == _attrs(strict), line
        elif _attrs(full) != _attrs(strict):
            changed += 1
            assert is_lenient(full.fmt), line
    assert changed <= 5, changed
