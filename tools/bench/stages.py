#!/usr/bin/env python3
"""CPU time per log line of each pipeline stage, cumulatively: parse, + coverage, + tracker, + rules.

Usage: .venv/bin/python tools/bench/stages.py [LOG]   (default: bench-out/bench-1000000.log, made by
`make bench`). Each stage runs over the whole log again, so the differences are what a stage costs.
"""

from __future__ import annotations

import sys
import time

from postfix_diag import analyze
from postfix_diag.coverage import Coverage
from postfix_diag.inputs import resolve
from postfix_diag.parse import Parser
from postfix_diag.pipeline import Stream


class _Count:
    n = 0

    def feed(self, ev):
        self.n += 1

    def merge(self, later):
        self.n += later.n


def main() -> int:
    source = resolve([sys.argv[1] if len(sys.argv) > 1 else "bench-out/bench-1000000.log"])[0]
    for stage in ("parse", "+coverage", "+tracker", "+rules"):
        count = _Count()
        if stage == "parse":
            stream = Stream([count], track=False)
        elif stage == "+coverage":
            stream = Stream([count, Coverage()], track=False)
        elif stage == "+tracker":
            stream = Stream([count, Coverage()])
        else:
            stream = Stream([count, *analyze.stream().consumers])
        start = time.process_time()
        stream.feed_all(Parser().parse_source(source))
        n = count.n
        secs = time.process_time() - start
        print(f"{stage:<10} {secs / n * 1e6:6.2f} us/line  {n / secs:>10,.0f} lines/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
