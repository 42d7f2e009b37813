#!/usr/bin/env python3
"""Compiled core against the pure-Python parser, A/B alternating (the machine may be shared).

    python tools/bench/core_ab.py LOG [--runs 3]

Each run is a fresh process, timed by its user CPU (getrusage of the child). Cases, each with
POSTFIX_DIAG_PURE=1 (pure) and without (core):
  parse       every line to an Event (Parser().parse_source), nothing else
  parse-light Parser(select=...) with summary's fields: only those kinds become (light) events
  analyze     `postfix-diag analyze --format json LOG` end to end
Prints the median user CPU of each and the ratio pure/core, and with --pflogsumm (when it is
installed) pflogsumm's user CPU on LOG, run between them, and analyze's speed relative to it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PARSE = """
import resource, sys
from postfix_diag.inputs import resolve
from postfix_diag.parse import Parser
from postfix_diag.summary import FIELDS  # both cases import it (pandas), so start-up is alike
select = None
if sys.argv[2] == "light":
    select = {**FIELDS, "foreign": (), "warning": (), "error": (), "fatal": (), "panic": ()}
parser = Parser(select=select)
t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
n = 0
for ev in parser.parse_source(resolve([sys.argv[1]])[0]):
    n += 1
t1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
sys.stderr.write(f"loop {t1 - t0}\\n")
"""


LOOPS: dict = {}


def run(cmd: list[str], pure: bool) -> float:
    env = dict(os.environ)
    env.pop("POSTFIX_DIAG_PURE", None)
    if pure:
        env["POSTFIX_DIAG_PURE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    r = subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in r.stderr.splitlines():
        if line.startswith("loop "):
            LOOPS.setdefault((cmd[-1], pure), []).append(float(line.split()[1]))
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pflogsumm", action="store_true", help="also time pflogsumm on LOG, alternating")
    args = ap.parse_args(argv)
    py = sys.executable
    cli = str(Path(py).with_name("postfix-diag"))
    cases = {
        "parse": [py, "-c", PARSE, args.log, "full"],
        "parse-light": [py, "-c", PARSE, args.log, "light"],
        "analyze": [cli, "analyze", "--format", "json", "--year", "2025", args.log],
    }
    with open("/proc/loadavg") as fh:
        print(f"load average before: {fh.read().split()[:3]}")
    pflog = shutil.which("pflogsumm") if args.pflogsumm else None
    for name, cmd in cases.items():
        times = {True: [], False: []}
        ptimes = []
        for _ in range(args.runs):
            for pure in (True, False):  # alternating, so that load changes hit both alike
                times[pure].append(run(cmd, pure))
            if pflog and name == "analyze":
                ptimes.append(run([pflog, args.log], False))
        p, c = statistics.median(times[True]), statistics.median(times[False])
        print(f"{name:12} pure {p:7.2f} s  core {c:7.2f} s  pure/core {p / c:5.2f}x   "
              f"(user CPU, median of {args.runs}: pure {[round(t, 2) for t in times[True]]}, "
              f"core {[round(t, 2) for t in times[False]]})", flush=True)
        if ptimes:
            pf = statistics.median(ptimes)
            print(f"{'  pflogsumm':12} {pf:7.2f} s user CPU (median of {args.runs}, {[round(t, 2) for t in ptimes]}): "
                  f"analyze at {pf / p:4.2f}x pflogsumm's speed pure, {pf / c:4.2f}x with the core", flush=True)
        if (cmd[-1], True) in LOOPS:
            lp, lc = (statistics.median(LOOPS[(cmd[-1], pure)]) for pure in (True, False))
            print(f"{'  loop only':12} pure {lp:7.2f} s  core {lc:7.2f} s  pure/core {lp / lc:5.2f}x   "
                  "(user CPU of the parse loop itself, without start-up)", flush=True)
    with open("/proc/loadavg") as fh:
        print(f"load average after: {fh.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
