"""journald input: `journalctl -o json` entries and the journal's text outputs.

No journald runs where these tests run, so the entries are built the way systemd documents the
Journal JSON Format (systemd.io/JOURNAL_EXPORT_FORMATS, systemd.journal-fields(7)) around the real
Postfix lines of sample_logs/: one object per line, every field a string, MESSAGE an array of byte
values when it is not valid UTF-8, a field set twice an array of values, a field over 4096 bytes
null; and the text outputs as journalctl formats them (short-full: "%a %Y-%m-%d %H:%M:%S %Z").
"""

from __future__ import annotations

import calendar
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag.events import FOREIGN, UNRECOGNIZED
from postfix_diag.journal import decode_object
from postfix_diag.parse import Parser

ROOT = Path(__file__).resolve().parents[1]
CLASSIC = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<clock>\d\d:\d\d:\d\d) (?P<host>\S+) "
                     r"(?P<ident>[^\[:]+)(?:\[(?P<pid>\d+)\])?: (?P<body>.*)")
MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
YEAR = 2025


def sample_lines():
    for p in sorted(ROOT.glob("sample_logs/*/maillog")):
        yield from (line for line in p.read_text(encoding="utf-8").splitlines() if line)


def epoch(m) -> int:
    h, mi, s = map(int, m["clock"].split(":"))
    return calendar.timegm((YEAR, MONTHS[m["mon"]], int(m["day"]), h, mi, s))


def entry(line: str, *, binary: bool = False, seq: int = 1) -> dict:
    """The journal entry a Postfix daemon's syslog(3) call makes of this line."""
    m = CLASSIC.fullmatch(line)
    us = epoch(m) * 1_000_000 + 123456
    message = m["body"]
    e = {
        "__CURSOR": f"s=0123456789abcdef0123456789abcdef;i={seq:x};b=fedcba9876543210fedcba9876543210;m=1;t=1;x=1",
        "__REALTIME_TIMESTAMP": str(us), "__MONOTONIC_TIMESTAMP": "29082368151",
        "_BOOT_ID": "fedcba9876543210fedcba9876543210", "PRIORITY": "6", "SYSLOG_FACILITY": "2",
        "SYSLOG_IDENTIFIER": m["ident"], "_TRANSPORT": "syslog", "_HOSTNAME": m["host"], "_UID": "107",
        "_GID": "114", "_COMM": m["ident"].rsplit("/", 1)[-1], "_SYSTEMD_UNIT": "postfix@-.service",
        "_SYSTEMD_SLICE": "system-postfix.slice", "_SOURCE_REALTIME_TIMESTAMP": str(us - 20),
        "SYSLOG_TIMESTAMP": f"{m['mon']} {m['day']} {m['clock']} ",
        "MESSAGE": list(message.encode()) if binary else message,
    }
    if m["pid"]:
        e["SYSLOG_PID"] = e["_PID"] = m["pid"]
    return e


@pytest.fixture(scope="module")
def parser():
    return Parser(year=YEAR)


def test_json_entries_of_sample_lines(parser):
    n = 0
    for i, line in enumerate(sample_lines(), 1):
        want = parser.parse_line(line, "<t>", 1)
        for binary in (False, True):
            ev = parser.parse_line(json.dumps(entry(line, binary=binary, seq=i)), "<t>", 1)
            assert ev.fmt == "journal-json"
            assert (ev.kind, ev.instance, ev.service, ev.program, ev.pid, ev.severity, ev.qid, ev.text, ev.f, ev.host) \
                == (want.kind, want.instance, want.service, want.program, want.pid, want.severity, want.qid, want.text,
                    want.f, want.host), line
            assert ev.ts == pytest.approx(want.ts + 0.123456)  # __REALTIME_TIMESTAMP, microseconds
            assert ev.line.endswith(line.split(": ", 1)[1]) and ev.line.startswith(f"{YEAR}-")
            n += 1
    assert n > 2000


def test_json_layout_variants(parser):
    line = "Nov 25 13:29:42 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]"
    e = entry(line)
    old_style = "{ " + ", ".join(f"{json.dumps(k)} : {json.dumps(v)}" for k, v in e.items()) + " }"  # systemd < 2xx
    for text in (json.dumps(e), json.dumps(e, separators=(",", ":")), old_style):
        ev = parser.parse_line(text)
        assert (ev.fmt, ev.kind, ev.pid) == ("journal-json", "connect", 30270)
    twice = dict(e, MESSAGE=[e["MESSAGE"], "second value"])  # a field set twice: an array of its values
    assert parser.parse_line(json.dumps(twice)).kind == "connect"
    bad_utf8 = dict(e, MESSAGE=list(b"connect from h\xffst[127.0.0.1]"))
    ev = parser.parse_line(json.dumps(bad_utf8))
    assert ev.kind == "connect" and ev.f["client_host"] == "h\ufffdst"
    no_syslog_pid = {k: v for k, v in e.items() if k != "SYSLOG_PID"}
    assert parser.parse_line(json.dumps(no_syslog_pid)).pid == 30270  # _PID
    no_ident = {k: v for k, v in e.items() if k != "SYSLOG_IDENTIFIER"}
    ev = parser.parse_line(json.dumps(no_ident))  # _COMM "smtpd" is no syslog name: not taken as Postfix's
    assert ev.kind == FOREIGN and ev.program == "smtpd"


def test_other_programs_and_odd_entries(parser):
    base = {"__REALTIME_TIMESTAMP": "1732541382650438", "_HOSTNAME": "mx", "_PID": "1"}
    ev = parser.parse_line(json.dumps(dict(base, SYSLOG_IDENTIFIER="systemd", MESSAGE="Started postfix@-.service.")))
    assert (ev.kind, ev.program, ev.fmt, ev.host) == (FOREIGN, "systemd", "journal-json", "mx")
    ev = parser.parse_line(json.dumps(dict(base, SYSLOG_IDENTIFIER="(sd-pam)", MESSAGE="x")))
    assert ev.kind == FOREIGN
    ev = parser.parse_line(json.dumps(dict(base, SYSLOG_IDENTIFIER="postfix/smtpd", MESSAGE=None)))
    assert ev.kind == UNRECOGNIZED and "--all" in ev.f["reason"]
    ev = parser.parse_line(json.dumps({"a": 1, "b": "x"}))
    assert ev.kind == UNRECOGNIZED and ev.f["reason"] == "JSON, not a journalctl -o json entry" and ev.fmt is None


@pytest.mark.parametrize("hostile", [
    "[" * 60_000,
    '{"MESSAGE": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"__REALTIME_TIMESTAMP": "1", "MESSAGE": "x", "n": ' + "9" * 5000 + "}",
    '{"__REALTIME_TIMESTAMP": "1", "MESSAGE": NaN}',
    '{"__REALTIME_TIMESTAMP": "1", "MESSAGE": 1e999}',
    '{"__REALTIME_TIMESTAMP": "' + "9" * 30 + '", "MESSAGE": "x"}',
    '{"__REALTIME_TIMESTAMP": "1", "SYSLOG_IDENTIFIER": "postfix/smtpd", "MESSAGE": [1, 2, 999]}',
    '{"__REALTIME_TIMESTAMP": "1", "SYSLOG_IDENTIFIER": {"a": "b"}, "MESSAGE": {"x": [1]}}',
    '{"__REALTIME_TIMESTAMP": ["1"], "MESSAGE": "connect from a[192.0.2.1]", "_PID": "9" }',
    '{"__REALTIME_TIMESTAMP": "1", "MESSAGE": "' + "\\u0000" * 10_000 + '"}',
    '{"unterminated": "' + "a" * 1000,
])
def test_hostile_json_never_crashes(parser, hostile):
    ev = parser.parse_line(hostile)
    assert ev.kind in (UNRECOGNIZED, FOREIGN, "connect")


def test_decoding_is_bounded():
    assert decode_object('{"F": [[104, 105], "x"]}') == {"F": [[104, 105], "x"]}  # depth 3: a journal's deepest
    assert decode_object('{"F": [[[1]]]}') is None
    assert decode_object('{"a": "[[[[[[[[[[[["}') == {"a": "[[[[[[[[[[[["}  # brackets in strings do not count


def test_journal_text_outputs(parser):
    line = "Nov 25 13:29:42 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]"
    want = parser.parse_line(line)
    cases = {
        "Tue 2025-11-25 13:29:42 UTC mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "journal-short-full",
        "Di 2025-11-25 13:29:42 CET mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "journal-short-full",
        "mar. 2025-11-25 13:29:42 +03 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "journal-short-full",
        "Nov 25 13:29:42.123456 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "classic",  # short-precise
        "2025-11-25T13:29:42+0000 mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "journal-short-iso",
        "[  12345.678901] mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]": "journal-short-monotonic",
        "[  12345.678901 <    0.000123>] mail postfix/smtpd[30270]: connect from localhost[127.0.0.1]":
            "journal-short-monotonic",  # short-delta
    }
    for text, fmt in cases.items():
        ev = parser.parse_line(text)
        assert (ev.fmt, ev.kind, ev.f, ev.program, ev.pid, ev.host) == (fmt, want.kind, want.f, "smtpd", 30270, "mail")
        if fmt == "journal-short-monotonic":
            assert ev.ts is None
        else:
            assert int(ev.ts) == int(want.ts)


@pytest.mark.parametrize("marker", [
    "-- Journal begins at Mon 2025-11-17 10:00:01 UTC, ends at Tue 2025-11-25 13:29:42 UTC. --",
    "-- Logs begin at Mon 2025-11-17 10:00:01 UTC, end at Tue 2025-11-25 13:29:42 UTC. --",
    "-- No entries --",
    "-- Boot 0123456789abcdef0123456789abcdef --",
    "-- Reboot --",
    "-- Subject: A start job for unit postfix@-.service has finished successfully",
    "\u2591\u2591 Subject: A start job for unit postfix@-.service has finished successfully",
    "--",
])
def test_journal_markers_are_counted_apart(parser, marker):
    ev = parser.parse_line(marker)
    assert (ev.kind, ev.fmt, ev.program) == (FOREIGN, "journal-marker", None)


def run_cli(*args, stdin: bytes = b""):
    return subprocess.run([sys.executable, "-m", "postfix_diag", *args], input=stdin, capture_output=True,
                          timeout=120)


def test_analyze_journal_json_from_stdin():
    lines = list(sample_lines())
    text = "-- Journal begins at Mon 2025-11-17 10:00:01 UTC. --\n"
    text += "".join(json.dumps(entry(line, seq=i)) + "\n" for i, line in enumerate(lines, 1))
    r = run_cli("analyze", "--format", "json", "-", stdin=text.encode())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["lines"]["total"] == len(lines) + 1
    assert doc["lines"]["unrecognized"] < len(lines) // 20
    assert doc["timestamp_formats"] == {"journal-json": len(lines), "journal-marker": 1}
    assert doc["findings"]


def test_journal_without_postfix_is_exit_2():
    text = json.dumps({"__REALTIME_TIMESTAMP": "1732541382650438", "SYSLOG_IDENTIFIER": "sshd", "_PID": "1",
                       "MESSAGE": "Accepted publickey for root"}) + "\n"
    r = run_cli("analyze", "-", stdin=text.encode())
    assert r.returncode == 2
    assert r.stderr.decode().count("\n") == 1 and "journalctl -o json output without a Postfix entry" in r.stderr.decode()
    pretty = json.dumps({"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1", "MESSAGE": "x"}, indent=8).replace('":', '" :')
    r = run_cli("check", "-", stdin=pretty.encode() + b"\n")
    assert r.returncode == 2 and "json-pretty" in r.stderr.decode(), r.stderr
