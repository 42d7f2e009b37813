"""`postfix-diag explain-line`: a pasted snippet, line by line (format, what was stripped, the event,
the rules that read it), on stdin and from a file, as text and JSON, with log content escaped."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from postfix_diag.cli import app
from postfix_diag.rules import REGISTRY

SNIPPET = "\n".join([
    "mailserver-1  | Nov 25 13:29:42 mx postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 "
    "5.7.1 <x@example.com>: Relay access",
    "denied; from=<a@example.org> to=<x@example.com> proto=ESMTP helo=<h>",
    "",
    "warning: hostname mx.example does not resolve to address 192.0.2.9: Name or service not known",
    "Okt 25 13:29:42 mx postfix/smtp[9]: 1A2B3C4D5E: to=<a@example.org>, relay=none, delay=1.2, "
    "delays=0.1/0/0.5/0.6, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.5]:25: Connection timed out)",
    "just a note \x1b[31mred\x1b[0m",
]) + "\n"

runner = CliRunner()


def test_text_on_stdin():
    r = runner.invoke(app, ["explain-line", "--year", "2025"], input=SNIPPET)
    assert r.exit_code == 0, r.output
    out = r.stdout
    blocks = out.strip().split("\n\n")
    assert [b.split(":", 1)[0] for b in blocks] == ["lines 1-2", "line 4", "line 5", "line 6"]
    assert "read as:  joined+compose+classic  [lenient]" in blocks[0] and "compose: 'mailserver-1  | '" in blocks[0]
    assert "kind reject" in blocks[0] and "to = x@example.com" in blocks[0]
    assert f"SEC002 ({REGISTRY['SEC002'].title})" in blocks[0]
    assert "read as:  body-only" in blocks[1] and "only smtpd logs this" in blocks[1]
    assert "kind reverse_dns" in blocks[1] and "if none claims it: GEN002" in blocks[1]
    # October after November: --year's rollover takes it for the next year's
    assert "localized-month: 'Okt = Oct'" in blocks[2] and "time 2026-10-25T13:29:42" in blocks[2]
    assert "DLV001" in blocks[2] and "its message (queue id, via the tracker):" in blocks[2]
    assert "read as:  none" in blocks[3] and "no rule" in blocks[3]
    assert "\x1b" not in out and "\\x1b[31mred" in out  # log content is escaped


def test_json_from_a_file(tmp_path):
    p = tmp_path / "snippet.txt"
    p.write_text(SNIPPET, encoding="utf-8")
    r = runner.invoke(app, ["explain-line", str(p), "--format", "json", "--year", "2025"])
    assert r.exit_code == 0, r.output
    entries = json.loads(r.stdout)
    assert [e["lines"] for e in entries] == [[1, 2], [4], [5], [6]]
    assert [e["format"] for e in entries] == ["joined+compose+classic", "body-only", "localized-month+classic", None]
    assert entries[0]["steps"][:2] == [{"step": "joined", "stripped": "lines 1-2 read as one"},
                                       {"step": "compose", "stripped": "mailserver-1  | "}]
    assert entries[0]["event"]["fields"]["helo"] == "h"
    assert "SEC002" in [rule["id"] for rule in entries[0]["rules"]]
    assert all(rule["title"] == REGISTRY[rule["id"]].title for e in entries for rule in e["rules"])
    assert entries[1]["event"]["time"] is None and entries[1]["catch_all"]
    assert entries[3]["event"]["fields"] == {"reason": "no syslog envelope"} and entries[3]["rules"] == []
    assert r.stdout.isascii()


def test_rules_are_the_engines_dispatch():
    """Every rule that declares a kind is listed for an event of that kind, and no other."""
    from postfix_diag.explain_line import Dispatch
    from postfix_diag.parse import Parser

    ev = Parser(year=2025).parse_line("Nov 25 13:29:42 mx postfix/smtpd[1]: connect from a.example[192.0.2.1]")
    got = {r["id"] for r in Dispatch().rules_for(ev)["rules"]}
    assert got == {rid for rid, cls in REGISTRY.items() if "connect" in cls.kinds}


def test_stdin_as_a_subprocess():
    r = subprocess.run([sys.executable, "-m", "postfix_diag", "explain-line"], input=SNIPPET.encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"read as:  joined+compose+classic" in r.stdout


def test_nothing_to_explain():
    r = runner.invoke(app, ["explain-line"], input="\n\n")
    assert r.exit_code == 2 and "no lines to explain" in r.stderr
