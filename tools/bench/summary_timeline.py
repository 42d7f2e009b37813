#!/usr/bin/env python3
"""Where the wall time of `postfix-diag summary` (or analyze) goes on a big file: start-up, each
parallel piece (with its worker's CPU time), each merge, the summary tables.

Usage: .venv/bin/python tools/bench/summary_timeline.py [LOG [summary|analyze [JOBS]]]
(default: bench-out/bench-1000000.log, made by `make bench`, summary, the CPUs). Prints one line
per step to stderr: seconds since start, process id, step (a piece's end gives its worker's CPU
time and lines), and the main process's CPU time at the end.
"""

from __future__ import annotations

import os
import sys
import time

START = time.perf_counter()

import postfix_diag.pipeline as P  # noqa: E402 - the import is part of what is timed
import postfix_diag.summary as S  # noqa: E402

_piece, _merge, _summarize = P.read_piece, P.Stream.merge, S.summarize


def mark(what: str) -> None:
    print(f"{time.perf_counter() - START:7.3f} [{os.getpid()}] {what}", file=sys.stderr, flush=True)


def timed_piece(task, start_year=None):
    start, end = task[4], task[5]
    mark(f"piece {start}-{end} starts")
    cpu = time.process_time()
    stream = _piece(task, start_year)
    first = stream.consumers[0]
    lines = getattr(first, "total", None) or getattr(first, "lines", "?")
    mark(f"piece {start} ends: {time.process_time() - cpu:.3f} s CPU, {lines} lines")
    return stream


def timed_merge(self, later):
    mark(f"merge starts ({len(later.tracker.held)} held lines)")
    _merge(self, later)
    mark("merge ends")


def timed_summarize(*args, **kwargs):
    mark("tables start")
    result = _summarize(*args, **kwargs)
    mark("tables end")
    return result


def main() -> int:
    log = sys.argv[1] if len(sys.argv) > 1 else "bench-out/bench-1000000.log"
    command = sys.argv[2] if len(sys.argv) > 2 else "summary"
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else None
    mark("imported")
    P.read_piece, P.Stream.merge, S.summarize = timed_piece, timed_merge, timed_summarize
    if command == "analyze":
        from postfix_diag.analyze import analyze
        from postfix_diag.report import render_analysis

        render_analysis(analyze([log], jobs=jobs), "json")
    else:
        S.render(S.summary([log], jobs=jobs), "json")
    mark(f"done: main process {time.process_time():.3f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
