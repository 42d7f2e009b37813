#!/usr/bin/env python3
"""`make bench`, start-up section: how long a short run takes, the way users run it.

The current tree is built into a wheel and installed into bench-out/startup-venv (tools/wheel_venv.py:
non-editable, as `pip install .` would), and timed on a generated 100-line log (tools/bench/generate.py):

    postfix-diag analyze LOG        with the compiled grammar cached (a first, untimed run writes it)
    postfix-diag analyze LOG        POSTFIX_DIAG_NO_CACHE=1: the grammar read and compiled every run
    postfix-diag explain DLV001
    postfix-diag rules
    pflogsumm LOG                   when installed
    python -c pass                  the interpreter alone, the floor under all of them

Each runs BENCH_STARTUP_RUNS times (default 21), the commands alternating so that a change of the
machine's load touches them alike; the median wall time and CPU time (user + system, of the child)
are printed with the targets of issue 11 (analyze 0.25 s, explain and rules 0.15 s) and the load
average, which says whether the figures can be trusted (a busy 2-core machine inflates wall time).
BENCH_VALGRIND=1 adds the instructions each command executes (valgrind --tool=callgrind, one run):
a count that the machine's load does not change, for comparing two trees on a busy machine.
Run alone: python tools/bench/startup.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out"
sys.path.insert(0, str(ROOT / "tools"))
import wheel_venv  # noqa: E402

RUNS = max(1, int(os.environ.get("BENCH_STARTUP_RUNS", "21")))
TARGETS = {"analyze": 0.25, "explain": 0.15, "rules": 0.15}


def _time(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit status) of one run, output to /dev/null."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=devnull, env=env, cwd=OUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def instructions(cmd: list[str], env: dict) -> int | None:
    """Instructions one run executes (valgrind --tool=callgrind), or None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd], env=env, cwd=OUT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = [line.rsplit(":", 1)[1] for line in r.stderr.splitlines() if "Collected :" in line]
    return int(found[-1].strip()) if found else None


def install() -> Path:
    """A fresh install of the current tree (bench-out/startup-venv)."""
    venv = OUT / "startup-venv"
    shutil.rmtree(venv, ignore_errors=True)
    with tempfile.TemporaryDirectory() as dist:
        wheel = wheel_venv.build(Path(dist))["wheel"]
        wheel_venv.make_venv(wheel, venv)
    return venv


def main() -> int:
    OUT.mkdir(exist_ok=True)
    log = OUT / "bench-100.log"
    if not log.exists():
        subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), "100", str(log)], check=True)
    lines = sum(1 for _ in open(log, "rb"))
    print(f"start-up: building and installing the wheel into {OUT.name}/startup-venv ...", flush=True)
    venv = install()
    exe, python = str(venv / "bin" / "postfix-diag"), str(venv / "bin" / "python")
    cache = OUT / "startup-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "POSTFIX_DIAG_"))}
    env["XDG_CACHE_HOME"] = str(cache)
    cold = dict(env, POSTFIX_DIAG_NO_CACHE="1")
    commands = [
        ("postfix-diag analyze", "analyze", [exe, "analyze", str(log)], env),
        ("  (grammar not cached)", None, [exe, "analyze", str(log)], cold),
        ("postfix-diag explain DLV001", "explain", [exe, "explain", "DLV001"], env),
        ("postfix-diag rules", "rules", [exe, "rules"], env),
    ]
    pflogsumm = shutil.which("pflogsumm")
    if pflogsumm:
        commands.append(("pflogsumm", None, [pflogsumm, str(log)], env))
    commands.append(("python -c pass", None, [python, "-c", "pass"], env))
    for _, _, cmd, e in commands:  # warm up: the grammar cache written, files in the page cache
        _time(cmd, e)
    runs: dict = {name: [] for name, *_ in commands}
    for i in range(RUNS):
        print(f"\rstart-up: run {i + 1}/{RUNS} ...", end="", flush=True)
        for name, _, cmd, e in commands:
            runs[name].append(_time(cmd, e))
    print()
    print(f"start-up on a {lines}-line log, installed wheel, median of {RUNS} runs each; "
          f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    counts = {}
    if os.environ.get("BENCH_VALGRIND") == "1":
        print("start-up: counting instructions (valgrind) ...", flush=True)
        counts = {name: instructions(cmd, e) for name, _, cmd, e in commands}
    print(f"{'command':<30} {'wall s':>7} {'CPU s':>7} {'target':>12}  exit" + ("  instructions" if counts else ""))
    for name, target_key, _, _ in commands:
        rs = runs[name]
        wall, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        target = TARGETS.get(target_key)
        mark = "" if target is None else f"{target:.2f} {'ok' if wall <= target else 'OVER'}"
        count = f"  {counts[name] / 1e6:8.0f} M" if counts.get(name) else ""
        print(f"{name:<30} {wall:7.3f} {cpu:7.3f} {mark:>12}  {max(r[2] for r in rs):>4}{count}")
    if not pflogsumm:
        print("pflogsumm is not installed (apt-get install pflogsumm): no comparison made")
    return 0


if __name__ == "__main__":
    sys.exit(main())
