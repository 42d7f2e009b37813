#!/usr/bin/env python3
"""`make bench`: start-up time, throughput at --jobs 1 and 2, and peak memory of postfix-diag,
side by side with pflogsumm in one run.

0. Start-up (tools/bench/startup.py): analyze on a 100-line log, explain, rules, from an installed
   wheel, beside pflogsumm on the same file.
1. Throughput: generates realistic logs of 1M and 5M lines (BENCH_SIZES) with
   tools/bench/generate.py (into bench-out/, reused when present; delete the folder to
   regenerate), and times `analyze --format json` and `summary --format json` at `--jobs 1` and
   `--jobs 2`, and pflogsumm on the same file. Prints seconds, lines/s, the ratio to pflogsumm's
   throughput, the scaling ratio (time at --jobs 1 / time at --jobs 2) and the targets of issue 17
   (analyze >= 1.5x pflogsumm at --jobs 2 and >= 0.8x at --jobs 1, summary >= 2x at --jobs 2).
   Each command runs BENCH_RUNS times (default 3), in its own process, with output to /dev/null;
   the runs of the commands alternate (A B C, A B C, ...) so that a change in the machine's load
   touches them alike, and the median time of each is reported, with the load average.
2. Peak memory at 1M, 5M and 10M lines (BENCH_RSS_SIZES) of every command that reads a log:
   analyze, summary, check, qshape (log mode), parse (JSON lines), one run each at the default
   --jobs (the CPUs of the machine). Two figures: the largest resident set of any one process
   (the kernel's ru_maxrss of the command and its workers), and the largest sum over the
   command's processes at once of their proportional set sizes (/proc/PID/smaps_rollup sampled
   every 20 ms; a page that k processes share, as forked workers share the main process's,
   counts 1/k in each, so the sum is what the command takes from the machine), against the
   target of 250 MB.

pflogsumm is installed with apt-get when it is absent and this runs as root (BENCH_INSTALL=0: never).
BENCH_SIZES= (empty) and BENCH_RSS_SIZES= skip their sections; BENCH_STARTUP=0 skips start-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out"


def _sizes(name: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(name, default).split(",") if x.strip()]


SIZES = _sizes("BENCH_SIZES", "1000000,5000000")
RSS_SIZES = _sizes("BENCH_RSS_SIZES", "1000000,5000000,10000000")
RUNS = max(1, int(os.environ.get("BENCH_RUNS", "3")))
TARGETS = {  # issue 17: throughput as a multiple of pflogsumm's
    "analyze --jobs 1": 0.8, "analyze --jobs 2": 1.5, "summary --jobs 2": 2.0,
}
RSS_TARGET_MB = 250


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (a page shared by k processes counts 1/k in
    each: a forked worker's pages it still shares with the main process count once in all)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_pss(root: int) -> int:
    """The proportional set size of ``root`` and its descendants now (0 when gone)."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))  # field 4: ppid
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss(pid)
        todo.extend(children.get(pid, ()))
    return total


def measure(cmd: list[str], sample: bool = False) -> tuple[float, float, int, float]:
    """Run cmd; (seconds, peak RSS of one process in MiB, exit status, peak sum of the process
    tree's proportional set size in MiB when ``sample``, else 0)."""
    start = time.perf_counter()
    peak = [0]
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=subprocess.PIPE)
        done = threading.Event()

        def watch():
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_pss(proc.pid))

        watcher = threading.Thread(target=watch, daemon=True) if sample else None
        if watcher is not None:
            watcher.start()
        err = proc.stderr.read()  # (until the command closes it: it ends)
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        if watcher is not None:
            watcher.join()
    elapsed = time.perf_counter() - start
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    text = err.decode(errors="replace").strip()
    if code not in (0, 1) and text:
        print(f"  ({' '.join(cmd[:3])} ...: {text.splitlines()[-1]})")
    return elapsed, usage.ru_maxrss / 1024.0, code, peak[0] / (1024.0 * 1024.0)


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


def bench_log(n: int) -> Path:
    log = OUT / f"bench-{n}.log"
    if not log.exists():
        print(f"generating {log.name} ({n:,} lines) ...", flush=True)
        tmp = log.with_suffix(".tmp")
        subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(n), str(tmp)], check=True)
        tmp.rename(log)
    return log


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def throughput(exe: str, pflogsumm: str | None) -> None:
    rows = []
    for n in SIZES:
        log = bench_log(n)
        lines = sum(1 for _ in open(log, "rb"))
        commands = [(f"{what} --jobs {j}", [exe, what, "--format", "json", "--jobs", str(j), str(log)])
                    for what in ("analyze", "summary") for j in (1, 2)]
        if pflogsumm:
            commands.append(("pflogsumm", [pflogsumm, str(log)]))
        runs: dict = {name: [] for name, _ in commands}
        for i in range(RUNS):
            for name, cmd in commands:
                print(f"run {i + 1}/{RUNS}: {name} on {lines:,} lines ...", flush=True)
                runs[name].append(measure(cmd))
        median = {name: sorted(r[0] for r in rs)[len(rs) // 2] for name, rs in runs.items()}
        base = median.get("pflogsumm")
        for name, rs in runs.items():
            secs = median[name]
            ratio = f"{base / secs:.2f}x" if base else "n/a"
            target = TARGETS.get(name)
            verdict = "" if target is None or not base else (" ok" if base / secs >= target else " below")
            scaling = ""
            if name.endswith("--jobs 2"):
                scaling = f"{median[name.replace('--jobs 2', '--jobs 1')] / secs:.2f}"
            rows.append((f"{lines:,}", name, f"{secs:.2f}", f"{lines / secs:,.0f}", ratio,
                         f"{target:.1f}x{verdict}" if target else "", scaling, max(r[2] for r in rs)))
    print()
    print(f"throughput: median of {RUNS} run(s) each, alternating; load average now: {_load()}")
    print(f"{'lines':>10}  {'command':<18} {'seconds':>8} {'lines/s':>10} {'vs pflogsumm':>12} "
          f"{'target':>10} {'jobs 1/2':>8} exit")
    for r in rows:
        print(f"{r[0]:>10}  {r[1]:<18} {r[2]:>8} {r[3]:>10} {r[4]:>12} {r[5]:>10} {r[6]:>8} {r[7]:>4}")
    if not pflogsumm:
        print("pflogsumm is not installed (apt-get install pflogsumm): no comparison made")


def memory(exe: str) -> None:
    rows = []
    for n in RSS_SIZES:
        log = bench_log(n)
        lines = sum(1 for _ in open(log, "rb"))
        commands = [
            ("analyze", [exe, "analyze", "--format", "json", str(log)]),
            ("summary", [exe, "summary", "--format", "json", str(log)]),
            ("check", [exe, "check", str(log)]),
            ("qshape (log)", [exe, "qshape", str(log)]),
            ("parse", [exe, "parse", str(log)]),
        ]
        for name, cmd in commands:
            print(f"memory: {name} on {n:,} lines ...", flush=True)
            secs, one, code, tree = measure(cmd, sample=True)
            verdict = "ok" if max(one, tree) <= RSS_TARGET_MB * 1e6 / 2**20 else "over"
            rows.append((f"{lines:,}", name, f"{secs:.1f}", f"{one:,.0f}", f"{tree:,.0f}", verdict, code))
    print()
    print(f"peak memory, one run each at the default --jobs ({len(os.sched_getaffinity(0))}); "
          f"target {RSS_TARGET_MB} MB; load average now: {_load()}")
    print(f"{'lines':>10}  {'command':<14} {'seconds':>8} {'one process MiB':>16} {'all processes (PSS) MiB':>24} "
          f"{'target':>7} exit")
    for r in rows:
        print(f"{r[0]:>10}  {r[1]:<14} {r[2]:>8} {r[3]:>16} {r[4]:>24} {r[5]:>7} {r[6]:>4}")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    exe = str(Path(sys.executable).with_name("postfix-diag"))
    pflogsumm = ensure_pflogsumm()
    print(f"load average at the start: {_load()} (figures are worth something only on a quiet machine)")
    if os.environ.get("BENCH_STARTUP", "1") != "0":
        sys.path.insert(0, str(ROOT / "tools" / "bench"))
        import startup

        startup.main()
        print()
    if SIZES:
        throughput(exe, pflogsumm)
        print()
    if RSS_SIZES:
        memory(exe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
