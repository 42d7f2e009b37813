"""Print how much of the real-world corpus the parser recognizes.

    .venv/bin/python tools/corpus_coverage.py [path/to/all-lines.txt] [--top N]

Reads ../shared/corpus/all-lines.txt (relative to the repository root) by default and prints
the number of lines, how many became a specific event (kind other than `unrecognized`), the
percentage, and the most frequent unrecognized message shapes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postfix_diag.events import UNRECOGNIZED  # noqa: E402
from postfix_diag.parse import Parser  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "corpus" / "all-lines.txt"


def measure(path: Path, year: int = 2024):
    """(total, recognized, Counter of unrecognized shapes) for one file of log lines."""
    parser = Parser(year=year)
    total = recognized = 0
    shapes: Counter = Counter()
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
            ev = parser.parse_line(line, str(path), lineno)
            total += 1
            if ev.kind == UNRECOGNIZED:
                shape = re.sub(r"\d+", "N", (ev.text or "")[:60])
                shapes[(ev.program or "-", ev.f.get("reason", ""), shape)] += 1
            else:
                recognized += 1
    return total, recognized, shapes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=str(DEFAULT))
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    path = Path(args.path)
    if not path.is_file():
        print(f"{path}: corpus file not found", file=sys.stderr)
        return 2
    total, recognized, shapes = measure(path)
    pct = 100.0 * recognized / total if total else 0.0
    print(f"lines:        {total}")
    print(f"recognized:   {recognized}")
    print(f"unrecognized: {total - recognized}")
    print(f"coverage:     {pct:.2f}%")
    if shapes:
        print("\ntop unrecognized (program, reason, message start):")
        for (program, reason, shape), n in shapes.most_common(args.top):
            print(f"{n:6d}  {program:12s} {reason:20s} {shape!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
