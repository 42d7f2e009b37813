"""`postfix-diag report --mail-to`: a multipart/alternative message (text + HTML) handed to
``sendmail -t -i``. A stand-in sendmail (a script given with --sendmail) captures its arguments
and the message, which the email parser then takes apart; sendmail failing or missing is a
one-line error with exit status 2; the shipped systemd units and cron line are printed by
``--show`` and are valid for systemd-analyze."""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postfix_diag.cli import app

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "sample_logs" / "multi-incident" / "maillog"
HOSTILE = ROOT / "tests" / "fixtures" / "hostile-report" / "maillog"
runner = CliRunner()

STANDIN = """#!/bin/sh
# a stand-in for sendmail: keeps its arguments and the message, answers like the real one
printf '%s\\n' "$@" > "{out}/argv"
cat > "{out}/message"
if [ -n "{fail}" ]; then echo "sendmail: fatal: mail system down" >&2; exit 75; fi
exit 0
"""


def standin(directory: Path, fail: bool = False) -> Path:
    path = directory / "sendmail"
    path.write_text(STANDIN.format(out=directory, fail="yes" if fail else ""))
    path.chmod(0o755)
    return path


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


@pytest.fixture(scope="module")
def mailed(tmp_path_factory):
    """One real run of the installed command, as cron runs it: (argv sendmail got, the message)."""
    out = tmp_path_factory.mktemp("mail")
    r = subprocess.run([sys.executable, "-m", "postfix_diag", "report", "--mail-to", "postmaster@example.org",
                        "--mail-to", "ops@example.org", "--mail-from", "postfix-diag@example.org",
                        "--sendmail", str(standin(out)), "--year", "2025", str(LOG.relative_to(ROOT))],
                       capture_output=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    return (out / "argv").read_text().split(), parse((out / "message").read_bytes())


def test_sendmail_gets_t_and_i(mailed):
    argv, _ = mailed
    assert argv == ["-t", "-i"]


def test_message_is_multipart_alternative_text_then_html(mailed):
    _, msg = mailed
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parts)
    assert "MLT001" in text and "Parse coverage: 233 lines" in text
    assert html.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in html
    assert html.count("<svg") >= 3 and "<script" not in html
    assert msg.get_body(("html",)).get_content() == html  # a mail reader shows the HTML


def test_headers(mailed):
    _, msg = mailed
    assert msg["To"] == "postmaster@example.org, ops@example.org"
    assert msg["From"] == "postfix-diag@example.org"
    assert msg["Subject"] == ("postfix-diag: mail: 6 incidents (0 ongoing), 8 findings (most severe: error), "
                              "2025-12-01")
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Message-ID"] and msg["Date"]


def test_hostile_log_adds_no_header_and_no_markup(tmp_path):
    r = runner.invoke(app, ["report", "--mail-to", "a@example.org", "--sendmail", str(standin(tmp_path)),
                            "--year", "2025", str(HOSTILE)])
    assert r.exit_code == 0, r.output
    msg = parse((tmp_path / "message").read_bytes())
    assert set(msg.keys()) == {"Subject", "To", "Date", "Message-ID", "Auto-Submitted", "X-Mailer",
                               "MIME-Version", "Content-Type"}
    html = msg.get_body(("html",)).get_content()
    assert "<script" not in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_without_mail_to_the_message_goes_to_stdout():
    r = runner.invoke(app, ["report", "--year", "2025", str(LOG)])
    assert r.exit_code == 0
    msg = parse(r.stdout.encode())
    assert msg.get_content_type() == "multipart/alternative" and "To" not in msg


def test_sendmail_failing_is_one_line_and_exit_2(tmp_path):
    r = runner.invoke(app, ["report", "--mail-to", "a@example.org", "--sendmail", str(standin(tmp_path, fail=True)),
                            "--year", "2025", str(LOG)])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"postfix-diag: error: {tmp_path / 'sendmail'} -t -i exited with status 75: sendmail: fatal: mail system down"]


def test_sendmail_missing_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "no-sendmail"
    r = runner.invoke(app, ["report", "--mail-to", "a@example.org", "--sendmail", str(missing), "--year", "2025",
                            str(LOG)])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"postfix-diag: error: {missing}: cannot run sendmail: No such file or directory"]


@pytest.mark.parametrize("what", ["service", "timer", "cron"])
def test_show_prints_the_shipped_file(what):
    r = runner.invoke(app, ["report", "--show", what])
    shipped = (ROOT / "postfix_diag" / "data" / f"postfix-diag-report.{what}").read_text()
    assert r.exit_code == 0 and r.stdout == shipped
    assert what == "timer" or "report --mail-to postmaster --since yesterday --until today" in shipped
    doc = (ROOT / "docs" / "mail-report.md").read_text()
    assert shipped in doc  # the documentation shows the shipped file as it is


def test_units_are_valid_for_systemd(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    command = shutil.which("postfix-diag") or sys.executable
    for what in ("service", "timer"):
        text = (ROOT / "postfix_diag" / "data" / f"postfix-diag-report.{what}").read_text()
        (tmp_path / f"postfix-diag-report.{what}").write_text(text.replace("/usr/local/bin/postfix-diag", command))
    r = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / "postfix-diag-report.service"),
                        str(tmp_path / "postfix-diag-report.timer")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_since_until_select_the_window(tmp_path):
    """--since/--until (when.py, as on analyze): only that stretch of the log is reported."""
    r = runner.invoke(app, ["report", "--mail-to", "a@example.org", "--sendmail", str(standin(tmp_path)),
                            "--year", "2025", "--since", "2025-12-01 22:09:50", "--until", "2025-12-01 22:10:00",
                            str(LOG)])
    assert r.exit_code == 0, r.output
    msg = parse((tmp_path / "message").read_bytes())
    text = msg.get_body(("plain",)).get_content()
    assert "SEC002" in text and "DLV001" not in text  # the relay probe at 22:09:51, not the earlier deferrals
    assert "window: lines from 2025-12-01T22:09:50 until 2025-12-01T22:10:00 only (211 lines left out)" in text
    r = runner.invoke(app, ["report", "--since", "tomorrow", str(LOG)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
