"""`postfix-diag watch` as a real subprocess following a file we append to: the file appears after
the watch started, is rotated by rename (and the old file written after the rename), then by
copytruncate; the captured multi-incident log goes through it in three parts. Every incident
`analyze` finds in that log is opened, every recovered one closed, no line is lost or read twice,
and SIGTERM / SIGINT end it with a summary line and exit status 0."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from postfix_diag.watch import Follower

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "sample_logs/multi-incident/maillog"
LINES = CAPTURE.read_text().splitlines(keepends=True)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}


def start(path: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "postfix_diag", "watch", str(path), "--year", "2026", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert "watching" in proc.stderr.readline().decode()
    return proc


class Output:
    """The watch's stdout read straight from the pipe (a buffered readline after select would
    leave lines in Python's buffer, unseen by the next select and by communicate)."""

    def __init__(self, proc):
        self.proc, self.fd, self.buf = proc, proc.stdout.fileno(), b""

    def line(self, deadline: float) -> bytes | None:
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def rest(self) -> list[bytes]:
        """Every line until the watch exits (after a signal)."""
        out = []
        while (line := self.line(time.monotonic() + 30)) is not None:
            out.append(line)
        self.proc.wait(timeout=30)
        return out


def events_until(out: Output, pred, timeout: float = 10.0) -> list[dict]:
    """JSON lines from the watch until ``pred(line)`` holds for the last one (or the timeout)."""
    got: list = []
    deadline = time.monotonic() + timeout
    while (line := out.line(deadline)) is not None:
        got.append(json.loads(line))
        if pred(got[-1]):
            break
    return got


def analyze_incidents() -> list[dict]:
    """The incidents of `analyze` on the capture that make a watch line (warning and above)."""
    run = subprocess.run([sys.executable, "-m", "postfix_diag", "analyze", "--year", "2026", "--format", "json",
                          str(CAPTURE)], capture_output=True, text=True, env=ENV)
    return [i for i in json.loads(run.stdout)["incidents"] if i["severity"] not in ("notice", "info")]


def test_watch_follows_rotations_and_a_late_file(tmp_path):
    log = tmp_path / "mail.log"
    proc = start(log, "--format", "jsonl")  # the file does not exist yet
    out = Output(proc)
    try:
        a, b, c = len(LINES) // 3, 2 * len(LINES) // 3, len(LINES)
        time.sleep(0.5)
        log.write_text("".join(LINES[:a]))  # the file appears
        got = events_until(out, lambda e: e["event"] == "open", timeout=60)
        assert got and got[-1]["event"] == "open"
        # rotation by rename: the old file gets one more line after the rename
        log.rename(tmp_path / "mail.log.1")
        with (tmp_path / "mail.log.1").open("a") as fh:
            fh.write(LINES[a])
        log.write_text("".join(LINES[a + 1:b]))
        time.sleep(1.0)
        # copytruncate: copied, truncated in place, written again
        shutil.copyfile(log, tmp_path / "mail.log.2")
        with log.open("r+") as fh:
            fh.truncate(0)
        time.sleep(1.0)
        with log.open("a") as fh:
            fh.write("".join(LINES[b:c]))
        # the capture's last incident (the smtp service at its process limit) closes near its end
        got += events_until(out, lambda e: e["event"] == "close" and e["rule"] == "PRC001", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = out.rest()
    assert proc.returncode == 0, proc.stderr.read()
    got += [json.loads(x) for x in rest]
    summary = got[-1]
    assert summary["event"] == "summary" and summary["lines"] == len(LINES)  # none lost, none twice
    # (an incident's start may move while it is open: a client's earlier rejects join it)
    opened = {(e["rule"], e["key"]) for e in got if e["event"] == "open"}
    closed = {(e["rule"], e["key"]) for e in got if e["event"] == "close"}
    expected = analyze_incidents()
    assert expected
    for inc in expected:
        key = (inc["findings"][0], inc["key"])
        assert key in opened, (key, opened)
        if inc["state"] == "recovered":
            assert key in closed, (key, closed)
    assert summary["opened"] == len([e for e in got if e["event"] == "open"])
    # the capture's incidents all recovered: each opened once and closed once, nothing left open
    # (DLV001 may open too: a warning while its messages are deferred, a notice in the end)
    assert summary["opened"] == summary["closed"] and summary["ongoing"] == 0
    assert len(expected) <= summary["opened"] <= len(expected) + 1


def test_text_output_and_sigint(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("".join(LINES[:5]))  # present lines are not read (the watch starts at the end)
    proc = start(log)
    out = Output(proc)
    try:
        time.sleep(0.5)
        with log.open("a") as fh:
            fh.write("".join(LINES[5:]))
        first = out.line(time.monotonic() + 60) or b""
    finally:
        proc.send_signal(signal.SIGINT)
        rest = out.rest()
    assert b"  OPEN     W1 " in first
    assert proc.returncode == 0, proc.stderr.read()
    last = rest[-1].decode()
    assert last.startswith(f"watch stopped: {len(LINES) - 5} lines read, ")


def test_follower_keeps_every_line_across_rotations(tmp_path):
    """The follower alone, step by step: a partial line waits for its end; the old file's last
    lines after a rename come before the new file's; a truncated file is read from its start."""
    log = tmp_path / "mail.log"
    f = Follower(str(log))
    assert f.poll() == []
    log.write_text("a1\na2\npart")
    assert [x[1:] for x in f.poll()] == [(1, "a1"), (2, "a2")]
    with log.open("a") as fh:
        fh.write("ial\n")
    assert [x[1:] for x in f.poll()] == [(3, "partial")]
    log.rename(tmp_path / "mail.log.1")
    with (tmp_path / "mail.log.1").open("a") as fh:
        fh.write("late\n")
    log.write_text("b1\n")
    assert [x[1:] for x in f.poll()] == [(4, "late"), (1, "b1")] and f.rotations == 1
    with log.open("r+") as fh:
        fh.truncate(0)
    assert f.poll() == []
    with log.open("a") as fh:
        fh.write("c1\n")
    assert [x[1:] for x in f.poll()] == [(1, "c1")] and f.truncations == 1
    with log.open("a") as fh:
        fh.write("tail without end")
    late = Follower(str(log))  # started at the end, in the middle of a line: its rest is skipped
    with log.open("a") as fh:
        fh.write(" still\nc3\n")
    assert [x[1:] for x in late.poll()] == [(3, "c3")]


def test_journal_runs_journalctl_and_reads_its_json(tmp_path):
    """--journal with a journalctl on PATH that records how it was called and writes the capture's
    lines as the journal entries Postfix's syslog(3) calls make (test_journal.entry)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_journal import entry

    feed = tmp_path / "entries.jsonl"
    feed.write_text("".join(json.dumps(entry(line.rstrip("\n"), seq=i)) + "\n" for i, line in enumerate(LINES, 1)))
    fake = tmp_path / "journalctl"
    fake.write_text(f"#!{sys.executable}\nimport sys, time\nopen({str(tmp_path / 'argv')!r}, 'w').write(' '.join(sys.argv[1:]))\n"
                    f"sys.stdout.write(open({str(feed)!r}).read())\nsys.stdout.flush()\ntime.sleep(60)\n")
    fake.chmod(0o755)
    env = {**ENV, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "postfix_diag", "watch", "--journal", "--no-config", "--format", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = Output(proc)
    try:
        assert "configuration not read" in proc.stderr.readline().decode()
        assert "watching the journal" in proc.stderr.readline().decode()
        # the capture's last incident (the smtp service at its process limit) closes near its end
        got = events_until(out, lambda e: e["event"] == "close" and e["rule"] == "PRC001", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = out.rest()
    assert proc.returncode == 0, proc.stderr.read()
    assert (tmp_path / "argv").read_text() == "-f -o json -n 0 -u postfix@* -u postfix"
    assert got and got[-1]["event"] == "close"
    assert {(e["rule"], e["key"]) for e in got if e["event"] == "open"} >= {
        (inc["findings"][0], inc["key"]) for inc in analyze_incidents()}
    summary = json.loads(rest[-1])
    assert summary["event"] == "summary" and summary["lines"] == len(LINES)
