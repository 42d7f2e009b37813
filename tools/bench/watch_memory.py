#!/usr/bin/env python3
"""`make bench`, watch: the memory of `postfix-diag watch` over a long run.

BENCH_WATCH_MEMORY_LINES lines (default 10,000,000; 0 skips it) of tools/bench/generate.py's log
(bench-out/bench-N.log, made when missing; run.py makes the 10M one) are appended, in blocks of
about 1 MB, to a file a `watch --format jsonl` process follows. After each million lines (and at
the end) the watch is given the time to read them (its /proc/PID/io rchar has reached the bytes
appended) and its resident memory (VmRSS) is read; at the end its peak (VmHWM), and the lines its
summary line counted are checked against those appended. Target (issue 17): peak under 250 MB,
and flat: the stream the watch concludes is replaced every watch.HORIZON of log time (docs/watch.md,
Memory), so what it holds stops growing after twice that (the generated log: about 0.025 s of log
time a line, so 6 h in about 860,000 lines: flat from about 2M lines on).

The lines are appended as fast as the watch reads them (it evaluates while it catches up at most
every watch.IDLE_EVAL s): lines/s is the watch's throughput on this machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINES = int(os.environ.get("BENCH_WATCH_MEMORY_LINES", "10000000"))
STEP = 1_000_000
TARGET_MB = 250
EXE = str(Path(sys.executable).with_name("postfix-diag"))


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


def source(lines: int) -> Path:
    src = ROOT / "bench-out" / f"bench-{lines}.log"
    if not src.exists():
        src.parent.mkdir(exist_ok=True)
        print(f"generating {src.name} ({lines:,} lines) ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(lines), str(src)], check=True)
    return src


def run(lines: int) -> dict:
    """Stream the log through a watch; {"rss": [(lines, MiB)], "peak", "seconds", "counted"}."""
    src = source(lines)
    with tempfile.TemporaryDirectory() as d, src.open("rb") as inp:
        log = Path(d) / "mail.log"
        log.write_bytes(b"")
        proc = subprocess.Popen([EXE, "watch", str(log), "--year", "2026", "--format", "jsonl"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if "watching" not in proc.stderr.readline().decode():
                raise SystemExit("watch did not start")
            # its stdout is read as it goes (a full pipe would stop it)
            out: list[bytes] = []
            import threading

            reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
            reader.start()
            base = rchar(proc.pid)
            rss: list[tuple[int, float]] = []
            done = written = 0
            t0 = time.monotonic()
            with log.open("ab") as fh:
                while True:
                    block = inp.read(1 << 20)
                    if block:
                        block += inp.readline()  # whole lines
                        fh.write(block)
                        fh.flush()
                        written += len(block)
                        done += block.count(b"\n")
                    if done >= (len(rss) + 1) * STEP or (not block and (not rss or rss[-1][0] != done)):
                        while rchar(proc.pid) - base < written and proc.poll() is None:
                            time.sleep(0.05)
                        rss.append((done, status(proc.pid, "VmRSS") / 1024))
                        print(f"  {done:>11,} lines  {rss[-1][1]:6.0f} MiB  ({time.monotonic() - t0:.0f} s)", flush=True)
                    if not block:
                        break
            elapsed = time.monotonic() - t0
            time.sleep(2 * 5.0)  # an evaluation of everything read (watch.IDLE_EVAL)
            peak = status(proc.pid, "VmHWM") / 1024
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        reader.join(timeout=10)
    events = [json.loads(x) for x in out if x.strip()]
    summary = next((x for x in reversed(events) if x["event"] == "summary"), None)
    return {"rss": rss, "peak": peak, "seconds": elapsed, "counted": summary["lines"] if summary else None,
            "lines": done}


def main() -> int:
    if not LINES:
        return 0
    print(f"watch: memory over {LINES:,} lines (resident memory after each {STEP:,}; target: peak < {TARGET_MB} MB)")
    r = run(LINES)
    mb = r["peak"] * 1.048576
    print(f"  {r['lines']:,} lines streamed through watch in {r['seconds']:.0f} s "
          f"({r['lines'] / r['seconds']:,.0f} lines/s); peak {r['peak']:.0f} MiB = {mb:.0f} MB "
          f"({'under' if mb < TARGET_MB else 'OVER'} the {TARGET_MB} MB target); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    counted = r["counted"]
    print(f"  lines the watch counted: {counted:,}" if counted == r["lines"]
          else f"  lines the watch counted: {counted}  (MISMATCH: appended {r['lines']:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
