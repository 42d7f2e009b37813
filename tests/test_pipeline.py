"""The one stream (pipeline.py) as the commands use it: qshape's log mode streams with memory
flat in the log's size and reads standard input twice for a --now relative to the last line;
a piece of a file read on its own numbers its lines as the whole file does."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

from typer.testing import CliRunner

from postfix_diag import pipeline
from postfix_diag import qshape as Q
from postfix_diag.cli import app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import golden  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "qshape" / "capture1" / "maillog"


def test_qshape_log_mode_memory_is_flat(tmp_path):
    """The queue is rebuilt while the log streams by: 5,000 lines of the bench log peak under
    2 MB of Python memory (keeping their events took 5.4 MB; 146 MB at 100k lines)."""
    golden.ensure_bench_log()
    with open(golden.BENCH_LOG, "rb") as fh:
        (tmp_path / "mail.log").write_bytes(b"".join(fh.readline() for _ in range(5000)))
    Q.queue_from_log([str(CAPTURE)], year=2025)  # the grammar is loaded and cached before measuring
    tracemalloc.start()
    try:
        entries, now = Q.queue_from_log([str(tmp_path / "mail.log")], year=2025)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now > 0 and isinstance(entries, list)
    assert peak < 2 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_qshape_relative_now_on_standard_input():
    """--now -30m needs the last line's time first: standard input is read twice as a file is."""
    args = ["qshape", "--year", "2025", "--now", "-30m", "deferred", "active", "incoming", "hold"]
    from_file = CliRunner().invoke(app, [*args, str(CAPTURE)])
    from_stdin = CliRunner().invoke(app, [*args, "-"], input=CAPTURE.read_bytes())
    assert from_file.exit_code == from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == from_file.stdout
    assert from_file.stdout != CliRunner().invoke(app, [*args[:3], *args[5:], str(CAPTURE)]).stdout


def test_pieces_number_their_lines_as_the_whole_file(tmp_path):
    """Byte ranges start at line starts (stamped ones) and read as the whole file reads (CRLF,
    blank lines, invalid UTF-8, a wrapped record, a last line without a newline)."""
    from postfix_diag.inputs import Source, read_numbered, read_range

    lines = []
    for i in range(1, 400):
        if i % 7 == 0:
            lines.append(b"")
        elif i % 11 == 0:
            lines.append(b"  continued text of the line before \xff")
        else:
            lines.append(b"Nov 25 10:00:%02d mx postfix/smtpd[1]: line %d\r" % (i % 60, i))
    path = tmp_path / "mail.log"
    path.write_bytes(b"\n".join(lines) + b"\nlast")
    whole = list(read_numbered(Source(str(path), "x")))
    ranges = pipeline.split(str(path), 9)
    bases = pipeline.line_bases(str(path), [start for start, _ in ranges])
    assert len(ranges) == 9 and bases[0] == 0
    pieces = [list(read_range(str(path), start, end, base + 1)) for (start, end), base in zip(ranges, bases, strict=True)]
    assert [pair for piece in pieces for pair in piece] == whole
    assert all(piece[0][1].startswith("Nov 25") for piece in pieces)  # no piece starts with a continuation
