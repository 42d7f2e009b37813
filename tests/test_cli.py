"""End-to-end tests of the command line: exit codes, formats, escaping, generated docs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from postfix_diag import __version__
from postfix_diag.cli import app
from postfix_diag.grammar import describe

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
runner = CliRunner()

# Lines written from Postfix's own message templates (smtpd.c, qmgr, smtp), not copied from logs.
HEALTHY = """\
Nov 25 10:00:00 mx postfix/smtpd[100]: connect from localhost[127.0.0.1]
Nov 25 10:00:00 mx postfix/smtpd[100]: 4A1B2C3D4E: client=localhost[127.0.0.1]
Nov 25 10:00:00 mx postfix/cleanup[101]: 4A1B2C3D4E: message-id=<1@example.org>
Nov 25 10:00:00 mx postfix/qmgr[102]: 4A1B2C3D4E: from=<a@example.org>, size=300, nrcpt=1 (queue active)
Nov 25 10:00:01 mx postfix/local[103]: 4A1B2C3D4E: to=<b@example.org>, relay=local, delay=0.1, delays=0.05/0.01/0/0.04, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 25 10:00:01 mx postfix/qmgr[102]: 4A1B2C3D4E: removed
Nov 25 10:00:01 mx postfix/smtpd[100]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_analyze_json_matches_schema_and_counts(tmp_path):
    log = write(tmp_path, "mail.log", HEALTHY + "this is not a log line\n")
    r = runner.invoke(app, ["analyze", "--format", "json", "--year", "2025", str(log)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    schema = json.loads((ROOT / "docs/report-schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["lines"] == {"total": 8, "recognized": 7, "unrecognized": 1, "foreign": 0}
    assert doc["lines"]["recognized"] + doc["lines"]["unrecognized"] == doc["lines"]["total"]
    assert doc["programs"]["postfix/smtpd"]["recognized"] == 3
    assert doc["time_span"]["first"] == "2025-11-25T10:00:00"
    assert doc["timestamp_formats"] == {"classic": 7}
    assert doc["top_unrecognized"][0]["line"] == 8
    assert doc["queued_at_end"] == 0
    assert all(f["severity"] in ("notice", "info") for f in doc["findings"])


def test_analyze_text_ends_with_coverage(tmp_path):
    log = write(tmp_path, "mail.log", HEALTHY)
    r = runner.invoke(app, ["analyze", str(log), "--year", "2025"])
    assert r.exit_code == 0, r.output
    assert r.output.rstrip().splitlines()[-1].startswith("Parse coverage: 7 lines, 7 recognized (100.00%)")


EVIL = ("Nov 25 10:00:02 mx postfix/smtpd[100]: warning: \x1b[31mred\x1b]0;title\x07 | *bold* "
        "<script>alert(1)</script> [x](http://e.example) `code`\n")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_log_content_is_escaped(tmp_path, fmt):
    log = write(tmp_path, "mail.log", HEALTHY + EVIL)
    r = runner.invoke(app, ["analyze", "--format", fmt, "--year", "2025", str(log)])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output
    if fmt == "markdown":
        # outside code blocks no raw HTML or Markdown control survives
        outside = "\n".join(part for i, part in enumerate(r.output.split("```")) if i % 2 == 0)
        assert "<script>" not in outside
        assert "*bold*" not in outside


def test_parse_jsonl_and_csv(tmp_path):
    log = write(tmp_path, "mail.log", HEALTHY)
    r = runner.invoke(app, ["parse", str(log), "--year", "2025"])
    assert r.exit_code == 0
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["connect", "client", "message_id", "qmgr_queued", "delivery",
                                          "removed", "disconnect"]
    assert events[4]["status"] == "sent" and events[4]["qid"] == "4A1B2C3D4E"
    r = runner.invoke(app, ["parse", "--format", "csv", "--kind", "delivery", str(log), "--year", "2025"])
    assert r.exit_code == 0
    rows = r.output.strip().splitlines()
    assert rows[0].startswith("kind,ts,host") and len(rows) == 2


@pytest.mark.parametrize("case", ["missing", "empty", "truncated_gz", "empty_dir"])
def test_bad_input_is_one_line_exit_2(tmp_path, case):
    if case == "missing":
        target = tmp_path / "nope.log"
    elif case == "empty":
        target = write(tmp_path, "mail.log", "")
    elif case == "truncated_gz":
        data = gzip.compress(HEALTHY.encode() * 200)
        target = tmp_path / "mail.log.1.gz"
        target.write_bytes(data[: len(data) // 2])
    else:
        target = tmp_path / "empty"
        target.mkdir()
    r = runner.invoke(app, ["analyze", str(target)])
    assert r.exit_code == 2
    err = r.stderr if hasattr(r, "stderr") else r.output
    assert len(err.strip().splitlines()) == 1 and "error:" in err
    assert "Traceback" not in r.output


def test_no_args_names_default_paths(tmp_path, monkeypatch):
    monkeypatch.setattr("postfix_diag.inputs.DEFAULT_LOGS", (str(tmp_path / "maillog"),))
    r = runner.invoke(app, ["analyze"])
    assert r.exit_code == 2 and "pass a path" in (r.stderr if hasattr(r, "stderr") else r.output)


def test_events_doc_is_current():
    current = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    assert current == describe(), "docs/events.md is stale: run `make docs`"


def test_grammar_check_command():
    r = runner.invoke(app, ["grammar", "--check"])
    assert r.exit_code == 0 and r.output.startswith("ok:")


@pytest.mark.skipif(not (SAMPLES / "healthy" / "maillog").exists(), reason="sample_logs/healthy not captured")
def test_make_run_target_on_samples():
    r = runner.invoke(app, ["analyze", str(SAMPLES), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["lines"]["total"] > 0 and doc["lines"]["unrecognized"] == 0
