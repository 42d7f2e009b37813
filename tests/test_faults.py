"""Faults around the run, each through the real program (a subprocess): output that cannot be
written, a reader that goes away, closed or unreadable standard input, signals (worker processes
included), internal errors, any terminal encoding, hostile file names. Every case asserts the exact
one-line message and the exit status; none may reach exit 3 (internal error)."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import pytest
from faultlib import (
    HEALTHY,
    PROG,
    ROOT,
    alive,
    children,
    command_matrix,
    env,
    one_line,
    run,
    shell,
    write_hostile,
)

from postfix_diag.report.escape import terminal

NOSPACE = "postfix-diag: cannot write output: No space left on device"
# One of each command (the output path does not depend on the format: every writer returns text
# that goes through the same guarded stdout).
ALL_COMMANDS = [
    ["analyze", HEALTHY], ["summary", HEALTHY], ["parse", "-f", "csv", HEALTHY], ["qshape", HEALTHY],
    ["qshape", "--from-json", ROOT / "sample_logs/healthy/postqueue.json", "--now", "1764000000"],
    ["check", "-f", "sarif", HEALTHY], ["rules"], ["rules", "-f", "markdown"], ["explain", "DNS002"],
    ["grammar"], ["--help"], ["--version"],
]
IDS = [" ".join(str(a).replace(str(ROOT) + "/", "") for a in c) for c in ALL_COMMANDS]


# --- output -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", ALL_COMMANDS, ids=IDS)
def test_full_disk_is_one_line_exit_2(args):
    with open("/dev/full", "wb") as full:
        r = run(*args, stdout=full)
    assert (r.returncode, one_line(r.stderr)) == (2, NOSPACE)


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=IDS)
def test_closed_stdout_is_one_line_exit_2(args):
    r = shell('"$0" "$@" >&-', *args)
    assert (r.returncode, one_line(r.stderr)) == (2, "postfix-diag: cannot write output: standard output is closed")


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=IDS)
def test_reader_gone_is_a_quiet_exit(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away before the first byte (`| head -0`)
    try:
        r = run(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert r.stderr == b""
    assert r.returncode == (1 if args[0] == "check" and "healthy" not in str(args[-1]) else 0)


def test_reader_gone_mid_stream_keeps_checks_verdict(tmp_path):
    big = tmp_path / "maillog"
    big.write_bytes(HEALTHY.read_bytes() * 400)  # parse output well over a pipe buffer
    p = subprocess.Popen([*PROG, "parse", "--year", "2025", big], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env())
    assert p.stdout.read(100)
    p.stdout.close()
    assert p.wait(timeout=60) == 0 and p.stderr.read() == b""
    relay = ROOT / "sample_logs/relay-down/maillog"  # check fails (exit 1) on this log
    read_end, write_end = os.pipe()
    os.close(read_end)
    r = run("check", "--year", "2025", relay, stdout=write_end)
    os.close(write_end)
    assert (r.returncode, r.stderr) == (1, b"")


# --- input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["analyze", "-"], ["summary", "-"], ["parse", "-"], ["check", "-"],
                                  ["qshape", "-"], ["qshape", "--from-json", "-"]], ids=" ".join)
def test_closed_stdin_is_one_line_exit_2(args):
    r = shell('"$0" "$@" <&-', *args)
    assert (r.returncode, one_line(r.stderr)) == (
        2, "postfix-diag: error: <stdin>: standard input is closed (nothing to read for -)")


def test_unreadable_stdin_is_one_line_exit_2(tmp_path):
    r = shell('"$0" "$@" 0>"$X"', "analyze", "-", extra_env={"X": str(tmp_path / "w")})
    assert (r.returncode, one_line(r.stderr)) == (2, "postfix-diag: error: <stdin>: cannot read: Bad file descriptor")
    r = shell('"$0" "$@" 0>"$X"', "qshape", "--from-json", "-", extra_env={"X": str(tmp_path / "w")})
    assert (r.returncode, one_line(r.stderr)) == (2, "postfix-diag: error: <stdin>: cannot read: Bad file descriptor")


# --- hostile names ------------------------------------------------------------------------------

def test_file_name_with_controls_is_escaped_in_the_error(tmp_path):
    name = tmp_path / "no\x1b]0;pwned\x07.log"
    r = run("analyze", name)
    assert r.returncode == 2
    assert one_line(r.stderr) == f"postfix-diag: error: {terminal(str(name))}: no such file or directory"
    assert b"\x1b" not in r.stderr and b"\x07" not in r.stderr


def _on_a_terminal(args, timeout=60) -> tuple[int, bytes]:
    """Run with stderr on a pseudo-terminal (the progress display is on); (status, what it showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([*PROG, *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave, env=env(TERM="xterm"), cwd=ROOT)
    os.close(slave)
    shown = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return p.wait(timeout=10), shown


def test_markup_in_a_file_name_is_shown_literally_in_the_progress_display(tmp_path):
    d = tmp_path / "a[/x]b [bold]c[/bold]"  # directories "a[", "x]b [bold]c[", "bold]"
    d.mkdir(parents=True)
    log = d / "mail.log"
    log.write_bytes(HEALTHY.read_bytes() * 20)
    for command in ("analyze", "check"):
        status, shown = _on_a_terminal([command, "--year", "2025", log])
        assert status == 0, shown
        assert b"MarkupError" not in shown and b"internal error" not in shown and b"Traceback" not in shown


def test_progress_display_escapes_controls_in_file_names(tmp_path):
    d = tmp_path / "e\x1b]0;pwned\x07"
    d.mkdir()
    log = d / "mail.log"
    log.write_bytes(HEALTHY.read_bytes() * 20)
    status, shown = _on_a_terminal(["analyze", "--year", "2025", log])
    assert status == 0 and b"\x1b]0;pwned" not in shown and b"\x07" not in shown


# --- internal errors ----------------------------------------------------------------------------

BOOM = ("import sys, postfix_diag.analyze as a\n"
        "def boom(*args, **kwargs): raise RuntimeError('boom \\x1b[31m')\n"
        "a.analyze = boom\n"
        "from postfix_diag.cli import main\n"
        "sys.argv = ['postfix-diag', 'analyze', sys.argv[1]]\n"
        "main()\n")


def test_internal_error_is_one_line_exit_3():
    r = subprocess.run([sys.executable, "-c", BOOM, str(HEALTHY)], capture_output=True, env=env(), timeout=60)
    assert (r.returncode, one_line(r.stderr)) == (
        3, "postfix-diag: internal error: RuntimeError: boom \\x1b[31m "
           "(set POSTFIX_DIAG_DEBUG=1 for a traceback, and please report it)")


def test_internal_error_traceback_with_debug():
    r = subprocess.run([sys.executable, "-c", BOOM, str(HEALTHY)], capture_output=True,
                       env=env(POSTFIX_DIAG_DEBUG="1"), timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 3 and "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert err.rstrip("\n").splitlines()[-1].startswith("postfix-diag: internal error: RuntimeError")


# --- signals ------------------------------------------------------------------------------------

def _wait_for(cond, timeout=60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("command", ["analyze", "summary", "parse", "check", "qshape"])
@pytest.mark.parametrize("sig, status, message", [(signal.SIGINT, 130, "postfix-diag: interrupted"),
                                                   (signal.SIGTERM, 143, "postfix-diag: terminated")])
def test_signal_while_reading_stops_at_once(command, sig, status, message):
    """The program waits for more of its input (`tail -f mail.log | postfix-diag analyze -`)."""
    p = subprocess.Popen([*PROG, command, "--year", "2025", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env())
    try:
        p.stdin.write(HEALTHY.read_bytes())
        p.stdin.flush()
        time.sleep(2.0)  # started, read what there is, waiting for more
        assert p.poll() is None, p.stderr.read()
        t0 = time.monotonic()
        p.send_signal(sig)
        code = p.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        p.kill()
        p.stdin.close()
    assert (code, one_line(p.stderr.read())) == (status, message)
    assert took < 1.0, f"took {took:.2f} s"


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    """A log of about 30 MB, so that summary parses it with a pool of worker processes."""
    from postfix_diag import pipeline

    path = tmp_path_factory.mktemp("big") / "mail.log"
    unit = (ROOT / "sample_logs/bounce-storm/maillog").read_bytes()
    with open(path, "wb") as fh:
        for _ in range(pipeline.PARALLEL_MIN_BYTES // len(unit) + 2):
            fh.write(unit)
    return path


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker pool needs two CPUs")
@pytest.mark.parametrize("sig, to_group, status, message", [
    (signal.SIGINT, True, 130, "postfix-diag: interrupted"),  # Ctrl-C: the whole process group
    (signal.SIGTERM, False, 143, "postfix-diag: terminated"),  # kill PID: the main process only
    (signal.SIGKILL, False, -9, None),  # the workers must not outlive a killed command either
])
def test_signal_stops_the_parallel_summary_and_its_workers(big_log, sig, to_group, status, message):
    for attempt in range(1 if sig == signal.SIGKILL else 2):  # issue #18's hang came in 2 of 18 tries
        p = subprocess.Popen([*PROG, "summary", big_log], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env(), start_new_session=True)
        assert _wait_for(lambda p=p: len(children(p.pid)) >= 2), "no worker processes started"
        workers = children(p.pid)
        time.sleep(0.3 + 0.2 * attempt)  # the workers are parsing
        t0 = time.monotonic()
        if to_group:
            os.killpg(p.pid, sig)
        else:
            os.kill(p.pid, sig)
        code = p.wait(timeout=10)
        took = time.monotonic() - t0
        err = p.stderr.read()
        assert code == status
        if message is not None:
            assert one_line(err) == message
            assert took < 1.0, f"took {took:.2f} s"
        assert _wait_for(lambda ws=workers: not any(alive(w) for w in ws), timeout=2.0), \
            "a worker outlived the command"


# --- any terminal encoding ----------------------------------------------------------------------

def _latin1_locale(tmp_path_factory) -> dict | None:
    """A latin-1 locale, compiled into a private directory (LOCPATH) when the system has the
    sources (Debian: package locales); None when it cannot be had."""
    d = tmp_path_factory.mktemp("locale")
    if subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(d / "en_US.ISO-8859-1")],
                      capture_output=True).returncode not in (0, 1):
        return None
    e = {"LOCPATH": str(d), "LC_ALL": "en_US.ISO-8859-1", "LANG": "en_US.ISO-8859-1"}
    probe = subprocess.run([sys.executable, "-c", "import sys; print(sys.stdout.encoding)"], capture_output=True,
                           text=True, env=env(**e))
    return e if probe.stdout.strip().lower().replace("-", "") in ("iso88591", "latin1") else None


ENCODINGS = {"ascii": {"PYTHONIOENCODING": "ascii"}, "latin-1": {"PYTHONIOENCODING": "latin-1"},
             "C-locale": {"LC_ALL": "C", "LANG": "C"}, "latin-1-locale": None}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return write_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def latin1_env(tmp_path_factory):
    return _latin1_locale(tmp_path_factory)


def _cases():
    from pathlib import Path

    return [name for name, _ in command_matrix(Path("l"), Path("s"))]


# Every format of every command under ASCII (the strictest), a sample of them under the others.
SAMPLE_CASES = ("analyze-text", "summary-markdown", "check-github", "qshape-snapshot-text", "rules-markdown",
                "analyze-help")
MATRIX = [("ascii", c) for c in _cases()] + [(e, c) for e in ENCODINGS if e != "ascii" for c in SAMPLE_CASES]


@pytest.mark.parametrize("encoding, case", MATRIX)
def test_any_encoding_any_format_on_hostile_input(hostile, latin1_env, encoding, case):
    extra = ENCODINGS[encoding] if encoding != "latin-1-locale" else latin1_env
    if extra is None:
        pytest.skip("no latin-1 locale can be compiled here (Debian: apt-get install locales)")
    args = dict(command_matrix(*hostile))[case]
    r = run(*args, extra_env=extra)
    assert r.stderr == b"", r.stderr.decode("utf-8", "replace")
    assert r.returncode in ((0, 1) if case.startswith("check") else (0,))
    codec = {"ascii": "ascii", "C-locale": "utf-8"}.get(encoding, "latin-1")
    text = r.stdout.decode(codec)  # written in the terminal's encoding, whatever the content
    text = text.replace("\r\n", "\n")  # CSV rows end in CRLF
    bad = [line for line in text.split("\n") if terminal(line) != line]
    assert not bad, f"raw control or invisible characters in: {bad[:3]!r}"
    assert "Traceback" not in text
