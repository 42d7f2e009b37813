"""Hostile and unlucky inputs, the CLI run as a subprocess the way an admin runs it: bounded memory
under an address-space limit (gzip bombs, /dev/zero on stdin, overlong lines), a clean result or a
one-line stop (never a traceback or MemoryError), unreadable files and subdirectories reported,
names escaped, and inputs that are no Postfix log named for what they are."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "healthy" / "maillog"
ADDRESS_SPACE = 512 * 1024 * 1024  # the CLI needs about 200 MB; a 1 GB line would not fit
PRLIMIT = shutil.which("prlimit")


def run(args, *, stdin=None, limit=True, timeout=180, user=None):
    cmd = [sys.executable, "-m", "postfix_diag", *map(str, args)]
    if limit:
        assert PRLIMIT, "prlimit (util-linux) is needed for the memory bound"
        cmd = [PRLIMIT, f"--as={ADDRESS_SPACE}", *cmd]
    if user is not None:
        cmd = [*user, *cmd]
    start = time.monotonic()
    r = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, cwd=tempfile.gettempdir())
    r.seconds = time.monotonic() - start
    return r


def one_line_error(r) -> str:
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, (r.returncode, err[-2000:])
    assert "Traceback" not in err and "MemoryError" not in err and "internal error" not in err, err[-2000:]
    assert err.count("\n") == 1 and err.startswith("postfix-diag: error: "), err[-2000:]
    return err


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    # gzip files of several members decompress to their members' concatenation (RFC 1952)
    zeros = d / "mail.log.1.gz"
    zeros.write_bytes(gzip.compress(bytes(1 << 20), 9) * 1024)  # 1 GiB of zeros, about 1 MB on disk
    empty = d / "mail.log.2.gz"
    empty.write_bytes(gzip.compress(b"\n" * (1 << 20), 9) * 100)  # 100M empty lines
    return {"zeros": zeros, "empty": empty}


@pytest.mark.parametrize("command", ["analyze", "summary"])
def test_gzip_bomb_of_zeros(bombs, command):
    assert bombs["zeros"].stat().st_size < 8 * 1024 * 1024
    r = run([command, bombs["zeros"]])
    err = one_line_error(r)
    assert "runs on for more than 256 MiB without a line break" in err
    assert r.seconds < 60


@pytest.mark.parametrize("command", ["analyze", "parse"])
def test_gzip_of_100m_empty_lines(bombs, command):
    r = run([command, bombs["empty"]])
    if command == "parse":
        assert r.returncode == 0 and r.stdout == b"", r.stderr  # blank lines are no records: nothing to write
    else:
        assert "no log lines" in one_line_error(r)
    assert r.seconds < 60, r.seconds


@pytest.mark.parametrize("command", ["analyze", "summary"])
def test_dev_zero_on_stdin(command):
    with open("/dev/zero", "rb") as zero:
        r = run([command, "-"], stdin=zero)
    assert "<stdin>: line 1 runs on for more than 256 MiB" in one_line_error(r)


def test_overlong_line_is_skipped_while_reading(tmp_path):
    log = tmp_path / "mail.log"
    with open(log, "wb") as fh:
        fh.write(SAMPLE.read_bytes())
        fh.write(b"Nov 25 13:40:00 mail postfix/smtpd[1]: connect from " + b"a[" * (20 * 1024 * 1024 // 2) + b"\n")
        fh.write(b"\x00" * (3 * 1024 * 1024) + SAMPLE.read_bytes().split(b"\n")[0] + b"\n")  # crash leftovers
    r = run(["analyze", "--format", "json", "--year", "2025", log])
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    doc = json.loads(r.stdout)
    total = SAMPLE.read_bytes().count(b"\n") + 2
    assert doc["lines"]["total"] == total
    assert doc["lines"]["unrecognized"] == 1
    r = run(["parse", "--kind", "unrecognized", log])
    overlong = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["reason"], e["length"]) for e in overlong] == [("overlong", 52 + 20 * 1024 * 1024)]
    assert len(overlong[0]["text"]) <= 200


def test_truncated_archive_is_one_line(tmp_path):
    data = gzip.compress(SAMPLE.read_bytes() * 50)
    log = tmp_path / "mail.log.1.gz"
    log.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in one_line_error(run(["analyze", log]))


def test_closed_stdin_is_one_line():
    r = subprocess.run(f"{sys.executable} -m postfix_diag analyze - <&-", shell=True, capture_output=True,
                       timeout=60, cwd=tempfile.gettempdir())
    assert "standard input is closed" in one_line_error(r)


# --- unreadable inputs ------------------------------------------------------------------------------
@pytest.fixture
def tree():
    """A log directory with an unreadable subdirectory and an unreadable file, readable by others
    otherwise (tests run as root run the CLI as nobody)."""
    d = Path(tempfile.mkdtemp(prefix="postfix-diag-unreadable-"))
    (d / "sub").mkdir()
    (d / "secret").mkdir()
    shutil.copy(SAMPLE, d / "mail.log")
    shutil.copy(SAMPLE, d / "sub" / "mail.log.1")
    shutil.copy(SAMPLE, d / "secret" / "mail.log.2")
    shutil.copy(SAMPLE, d / "mail.err")
    d.chmod(0o755)
    (d / "sub").chmod(0o755)
    for f in (d / "mail.log", d / "sub" / "mail.log.1", d / "secret" / "mail.log.2", d / "mail.err"):
        f.chmod(0o644)
    (d / "secret").chmod(0)
    (d / "mail.err").chmod(0)
    yield d
    (d / "secret").chmod(0o755)
    shutil.rmtree(d)


def unprivileged():
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run the CLI as nobody"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_unreadable_subdirectory_and_file_stop_the_run(tree):
    r = run(["analyze", tree], user=unprivileged(), limit=False)
    err = one_line_error(r)
    assert "permission denied" in err and "--skip-unreadable" in err and "1 more unreadable" in err
    r = run(["check", tree / "mail.err"], user=unprivileged(), limit=False)
    assert "mail.err: permission denied" in one_line_error(r)


def test_skip_unreadable(tree):
    r = run(["analyze", "--skip-unreadable", "--format", "json", "--year", "2025", tree], user=unprivileged(),
            limit=False)
    assert r.returncode == 0, r.stderr
    warnings = r.stderr.decode().splitlines()
    assert sorted(w.split(": ")[2].rsplit("/", 1)[-1] for w in warnings) == ["mail.err", "secret"]
    assert all(w.startswith("postfix-diag: warning: ") and w.endswith("skipped (--skip-unreadable)") for w in warnings)
    doc = json.loads(r.stdout)
    assert sorted(Path(s).name for s in doc["sources"]) == ["mail.log", "mail.log.1"]  # the readable two
    r = run(["check", "--skip-unreadable", tree / "mail.err"], user=unprivileged(), limit=False)
    warning, error = r.stderr.decode().splitlines()
    assert r.returncode == 2 and "mail.err: permission denied" in warning
    assert error == "postfix-diag: error: no readable input left (every one was unreadable and skipped)"


def test_file_names_are_escaped(tmp_path):
    name = tmp_path / "no\x1b]0;pwned\x07.log"
    r = run(["analyze", name], limit=False)
    assert b"\x1b" not in r.stderr and b"\x07" not in r.stderr
    assert "\\x1b]0;pwned\\x07.log: no such file or directory" in one_line_error(r)
    name.write_bytes(b"<html><body>hi</body></html>\n")
    r = run(["analyze", name], limit=False)
    assert b"\x1b" not in r.stderr and "an HTML file" in one_line_error(r)


# --- not a Postfix log -----------------------------------------------------------------------------
NOT_POSTFIX = {
    "page.html": (b"<!DOCTYPE html>\n<html><head><title>Mail</title></head>\n<body><pre>log</pre></body></html>\n",
                  "an HTML file"),
    "binary.log": (bytes(range(256)) * 40 + b"\n" + os.urandom(2000), "binary data"),
    "events.json": (b'{"time": "2025-11-25T13:29:42Z", "level": "info", "msg": "hello"}\n' * 3,
                    "JSON, but not journalctl -o json"),
    "pretty.json": (b'{\n\t"__CURSOR" : "s=1;i=2",\n\t"__REALTIME_TIMESTAMP" : "1732541382650438",\n'
                    b'\t"MESSAGE" : "connect from a[192.0.2.1]"\n}\n', "journalctl -o json-pretty output"),
    "auth.log": (b"Nov 25 13:29:42 mx sshd[1]: Accepted publickey for root\n"
                 b"Nov 25 13:29:43 mx CRON[2]: pam_unix(cron:session): session opened\n",
                 "syslog lines of other programs only (CRON, sshd)"),
    "notes.txt": (b"The mail server is down again.\nPlease look at it.\n", "no syslog envelope on any of its 2 lines"),
    "journal.txt": (b"-- No entries --\n", "only the journal's own lines"),
    "unknown.log": (b"Nov 25 13:29:42 mx postfix/smtpd[1]: a message no Postfix writes\n",
                    "1 Postfix line(s) of 1, and the grammar knows none of them"),
}


@pytest.mark.parametrize("name", list(NOT_POSTFIX))
@pytest.mark.parametrize("command", ["analyze", "check"])
def test_not_a_postfix_log_is_named(tmp_path, name, command):
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    data, what = NOT_POSTFIX[name]
    path = tmp_path / name
    path.write_bytes(data)
    r = CliRunner().invoke(app, [command, str(path)])
    assert r.exit_code == 2 and r.stdout == ""
    err = r.stderr
    assert err.count("\n") == 1 and err.startswith("postfix-diag: error: "), err
    assert f"{path}: " in err and what in err, err


def test_not_a_postfix_log_from_stdin_as_a_subprocess():
    r = subprocess.run([sys.executable, "-m", "postfix_diag", "check", "-"], input=NOT_POSTFIX["page.html"][0],
                       capture_output=True, timeout=60)
    assert "<stdin>: no Postfix line of 3: an HTML file" in one_line_error(r)

