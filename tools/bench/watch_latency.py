#!/usr/bin/env python3
"""`make bench`, watch: how soon `postfix-diag watch` prints an incident, and its memory over a
long run.

1. Latency (BENCH_WATCH_ROUNDS rounds, default 5, median and worst): a `watch --format jsonl`
   process follows an empty file; the captured multi-incident log is appended up to the line
   before the one that opens its first incident (found by feeding the log line by line to
   watch.Watch in this process), the watch is given a second to read it, then that one line is
   appended, and the time until the "open" line comes out of the watch is measured. Target:
   under 1 s (the watch polls every watch.POLL_INTERVAL s and evaluates at most every
   watch.EVAL_INTERVAL s).
2. Memory (BENCH_WATCH_LINES lines, default 1,000,000, of tools/bench/generate.py's log; 0
   skips it): appended to a watched file in blocks; the watch's resident memory (VmRSS) is read
   after each quarter has been read (/proc/PID/io rchar), then its peak (VmHWM), and the lines
   its summary line counted are checked against those appended (each quarter is waited for
   until the watch has used no CPU for a second, so the time includes those waits).
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
LINES = int(os.environ.get("BENCH_WATCH_LINES", "1000000"))
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


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
    return 0


def rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def cpu(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def settle(pid: int) -> None:
    """Until the process has used no CPU for a second (it has fed every line it read)."""
    last = cpu(pid)
    while True:
        time.sleep(1.0)
        now = cpu(pid)
        if now == last:
            return
        last = now


def memory() -> None:
    src = ROOT / "bench-out" / f"bench-{LINES}.log"
    if not src.exists():
        src.parent.mkdir(exist_ok=True)
        print(f"generating {src.name} ({LINES:,} lines) ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(LINES), str(src)], check=True)
    data = src.read_bytes()
    total = data.count(b"\n")
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "mail.log"
        log.write_bytes(b"")
        proc = start(log)
        base = rchar(proc.pid)
        quarters = [len(data) * q // 4 for q in (1, 2, 3, 4)]
        rss = []
        t0 = time.monotonic()
        pos = 0
        with log.open("ab") as fh:
            for q in quarters:
                while pos < q:
                    end = data.find(b"\n", min(pos + (1 << 20), q - 1)) + 1 or len(data)
                    fh.write(data[pos:end])
                    fh.flush()
                    pos = end
                while rchar(proc.pid) - base < pos and proc.poll() is None:
                    time.sleep(0.05)
                settle(proc.pid)
                rss.append(status(proc.pid, "VmRSS") / 1024)
        elapsed = time.monotonic() - t0
        peak = status(proc.pid, "VmHWM") / 1024
        summary = stop(proc)
    counted = summary["lines"] if summary else None
    print(f"  {total:,} lines streamed through watch in {elapsed:.1f} s ({total / elapsed:,.0f} lines/s)")
    print(f"  resident memory after each quarter (MiB): {', '.join(f'{x:.0f}' for x in rss)}; peak {peak:.0f} MiB")
    print(f"  lines the watch counted: {counted:,}" + ("" if counted == total else f"  (MISMATCH: appended {total:,})"))


def main() -> int:
    print("watch: from appending a line that opens an incident to the printed line")
    times = latency()
    ms = sorted(t * 1000 for t in times)
    print(f"  {len(ms)} rounds: median {ms[len(ms) // 2]:.0f} ms, worst {ms[-1]:.0f} ms (target < 1000 ms); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if LINES:
        print(f"watch: memory over {LINES:,} lines")
        memory()
    return 0


if __name__ == "__main__":
    sys.exit(main())
