#!/usr/bin/env python3
"""`make bench`: start-up time, throughput and peak memory of postfix-diag against pflogsumm.

0. Start-up (tools/bench/startup.py): analyze on a 100-line log, explain, rules, from an installed
   wheel, beside pflogsumm on the same file.
1. Generates realistic logs of 1M and 5M lines with tools/bench/generate.py (into bench-out/,
   reused when present; delete the folder to regenerate).
2. Times `postfix-diag analyze --format json` and `postfix-diag summary --format json` on each,
   and pflogsumm on the same file when it is installed (apt-get install pflogsumm).
3. Prints lines/s, the ratio to pflogsumm, and peak RSS (the child's ru_maxrss).
Each command runs BENCH_RUNS times (default 3), in its own process, with output to /dev/null; the
runs of the commands alternate (A B C, A B C, ...) so that a change in the machine's load touches
them alike, and the median time of each is reported. The load average is printed with the table.
pflogsumm is installed with apt-get when it is absent and this runs as root (BENCH_INSTALL=0: never).
BENCH_SIZES= (empty) runs the start-up section only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out"
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1000000,5000000").split(",") if x.strip()]
RUNS = max(1, int(os.environ.get("BENCH_RUNS", "3")))


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Run cmd; return (seconds, peak RSS in MiB, exit status)."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    proc.stderr.close()
    if status != 0 and err:
        print(f"  ({' '.join(cmd[:3])} ...: {err.splitlines()[-1]})")
    return elapsed, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def ensure_pflogsumm() -> str | None:
    """pflogsumm's path; installed first (Debian's package) when absent and we may."""
    found = shutil.which("pflogsumm")
    if found or os.environ.get("BENCH_INSTALL") == "0" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("pflogsumm is not installed: apt-get install -y pflogsumm ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "pflogsumm"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print(f"  (apt-get failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
    return shutil.which("pflogsumm")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    exe = str(Path(sys.executable).with_name("postfix-diag"))
    pflogsumm = ensure_pflogsumm()
    sys.path.insert(0, str(ROOT / "tools" / "bench"))
    import startup

    startup.main()
    print()
    if not SIZES:
        return 0
    rows = []
    for n in SIZES:
        log = OUT / f"bench-{n}.log"
        if not log.exists():
            print(f"generating {log.name} ({n:,} lines) ...", flush=True)
            subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(n), str(log)], check=True)
        lines = sum(1 for _ in open(log, "rb"))
        commands = [("postfix-diag analyze", [exe, "analyze", "--format", "json", str(log)])]
        if "summary" in subprocess.run([exe, "--help"], capture_output=True, text=True).stdout:
            commands.append(("postfix-diag summary", [exe, "summary", "--format", "json", str(log)]))
        if pflogsumm:
            commands.append(("pflogsumm", [pflogsumm, str(log)]))
        runs: dict = {name: [] for name, _ in commands}
        for i in range(RUNS):
            for name, cmd in commands:
                print(f"run {i + 1}/{RUNS}: {name} on {lines:,} lines ...", flush=True)
                runs[name].append(measure(cmd))
        # the median time, the highest peak RSS and the highest exit status of the runs
        results = {name: (sorted(r[0] for r in rs)[len(rs) // 2], max(r[1] for r in rs), max(r[2] for r in rs))
                   for name, rs in runs.items()}
        base = results.get("pflogsumm")
        for name, (secs, rss, code) in results.items():
            rate = lines / secs
            ratio = f"{rate / (lines / base[0]):.2f}x" if base else "n/a"
            rows.append((f"{lines:,}", name, f"{secs:.2f}", f"{rate:,.0f}", ratio, f"{rss:,.0f}", code))
    print()
    print(f"median of {RUNS} run(s) each; load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'lines':>10}  {'command':<22} {'seconds':>8} {'lines/s':>10} {'vs pflogsumm':>12} {'peak RSS MiB':>12} exit")
    for r in rows:
        print(f"{r[0]:>10}  {r[1]:<22} {r[2]:>8} {r[3]:>10} {r[4]:>12} {r[5]:>12} {r[6]:>4}")
    if not pflogsumm:
        print("pflogsumm is not installed (apt-get install pflogsumm): no comparison made")
    return 0


if __name__ == "__main__":
    sys.exit(main())
