#!/usr/bin/env python3
"""`make bench`, watch: how soon `postfix-diag watch` prints an incident (its memory over a long
run: tools/bench/watch_memory.py).

Latency (BENCH_WATCH_ROUNDS rounds, default 5, median and worst): a `watch --format jsonl`
process follows an empty file; the captured multi-incident log is appended up to the line before
the one that opens its first incident (found by feeding the log line by line to watch.Watch in
this process), the watch is given a second to read it, then that one line is appended, and the
time until the "open" line comes out of the watch is measured. Target: under 1 s (the watch polls
every watch.POLL_INTERVAL s and evaluates at most every watch.EVAL_INTERVAL s).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ROUNDS = max(1, int(os.environ.get("BENCH_WATCH_ROUNDS", "5")))
CAPTURE = ROOT / "sample_logs/multi-incident/maillog"
EXE = str(Path(sys.executable).with_name("postfix-diag"))


def trigger_index(lines: list[str]) -> int:
    """The index of the line after which the watch's first "open" event comes."""
    from postfix_diag.watch import Watch

    w = Watch(year=2026)
    for i, line in enumerate(lines):
        w.feed([("maillog", i + 1, line.rstrip("\n"))])
        if any(ev["event"] == "open" for ev in w.events()):
            return i
    raise SystemExit("the capture opens no incident")


def start(path: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([EXE, "watch", str(path), "--year", "2026", "--format", "jsonl", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = proc.stderr.readline().decode()  # "postfix-diag: watching ..."
    if "watching" not in ready:
        raise SystemExit(f"watch did not start: {ready.strip()}")
    return proc


def read_event(proc: subprocess.Popen, want: str, timeout: float) -> dict | None:
    """The first event ``want`` on the watch's stdout, read straight from the pipe (no buffered
    readline: select would not see what such a buffer holds)."""
    fd, buf = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while True:
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            ev = json.loads(line)
            if ev["event"] == want:
                return ev
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        data = os.read(fd, 65536)
        if not data:
            return None
        buf += data


def stop(proc: subprocess.Popen) -> dict | None:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    return next((x for x in reversed(lines) if x["event"] == "summary"), None)


def latency() -> list[float]:
    lines = CAPTURE.read_text().splitlines(keepends=True)
    k = trigger_index(lines)
    out = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "mail.log"
            log.write_text("")
            proc = start(log)
            with log.open("a") as fh:
                fh.write("".join(lines[:k]))
            time.sleep(1.0)
            with log.open("a") as fh:
                t0 = time.monotonic()
                fh.write(lines[k])
            ev = read_event(proc, "open", 10.0)
            out.append(time.monotonic() - t0 if ev else float("inf"))
            stop(proc)
    return out


def main() -> int:
    print("watch: from appending a line that opens an incident to the printed line")
    times = latency()
    ms = sorted(t * 1000 for t in times)
    print(f"  {len(ms)} rounds: median {ms[len(ms) // 2]:.0f} ms, worst {ms[-1]:.0f} ms (target < 1000 ms); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
